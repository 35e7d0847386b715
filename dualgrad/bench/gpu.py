"""``python -m dualgrad.bench.gpu``: the GPU path against the CPU, and its speed.

Run by ``.ci/gpu`` on a machine with an NVIDIA GPU, CuPy and (for the
comparison) PyTorch built with CUDA. Three parts, each printed as a table:

1. GPU against CPU, float64, on large inputs: every row of the derivative
   table (a Tensor's value and gradient, a DualArray's value and two tangents)
   and Workload A's gradient at n = 1e6; the largest relative difference
   (see ``rel_error``) must be at most 1e-12.
2. Effective bandwidth of the fused DualArray kernels (bytes read and written
   per second: x, y and their k tangents in, the value and k tangents out)
   against a device-to-device copy of one array of the same total size; the
   target is at least 80% of the copy's.
3. Workload A's gradient on the GPU by dualgrad's Tensor and by PyTorch's CUDA
   tensors, at n = 1e6 and 1e8; the target is at most 1.5 times PyTorch's time
   at 1e8. Workload A's W and B have 2 x 50 rows of n numbers: 80 GB at 1e8 in
   float64, more than fits beside the graph, so at 1e8 every layer uses the
   same row of W and of B (read from memory at every layer all the same: the
   traffic, and so the time, is that of 50 distinct rows).

Times are medians of CUDA-event timings over repeats after warm-up runs.
Exits with status 1 if a comparison or a target fails.
"""

import argparse
import json
import statistics
import sys
import time

import numpy as np

import dualgrad as dg
from dualgrad import gpu
from dualgrad._rules.table import RULES
from dualgrad.bench.workloads import A_LAYERS, a_data, a_function, a_gradient_exact
from dualgrad.gpu import rows
from dualgrad.testing import sample_rule

RTOL = 1e-12
RULES_BY = {r.name: r.opcode for r in RULES}
BANDWIDTH_TARGET = 0.8
A_TARGET = 1.5


def _xp():
    return gpu.cupy()


def sync():
    _xp().cuda.get_current_stream().synchronize()


def median_time(fn, repeats, warmup=2):
    """The median over ``repeats`` of fn's time in seconds, by CUDA events."""
    cp = _xp()
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start, end = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, end) / 1e3)
    return statistics.median(times)


def rel_error(got, want):
    """The largest difference relative to the element, or to a thousandth of
    the largest element where the element is smaller (sums that cancel)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    finite = np.isfinite(want)
    if not np.array_equal(finite, np.isfinite(got)):
        return np.inf
    scale = np.max(np.abs(want[finite]), initial=0.0)
    floor = max(scale * 1e-3, np.finfo(np.float64).tiny)
    err = np.abs(got[finite] - want[finite]) / np.maximum(np.abs(want[finite]), floor)
    return float(np.max(err, initial=0.0))


def _host(a):
    if isinstance(a, dg.Tensor):
        a = a.detach().cpu()._a
    return a.get() if gpu.is_device_array(a) else np.asarray(a)


# ---------------------------------------------------------------------------
# 1. GPU against CPU

def compare_rows(n):
    """Per row: the largest relative difference of the GPU's results from the CPU's."""
    cp = _xp()
    rng = np.random.default_rng(0)
    out = []
    for r in RULES:
        xs = list(sample_rule(r, n).T)
        ints = getattr(r, "integer", ())
        g = rng.standard_normal(n)
        tan = [None if i in ints else rng.standard_normal((2, n)) for i in range(r.arity)]
        res = {}
        for dev in ("cpu", "cuda"):      # a Tensor: value and gradient
            ts = [dg.tensor(x, device=dev, requires_grad=i not in ints) for i, x in enumerate(xs)]
            y = getattr(dg, r.name)(*ts)
            (y * dg.tensor(g, device=dev)).sum().backward()
            res[dev] = (y, [t.grad for t in ts if t.requires_grad])
        (yc, gc), (yg, gg) = res["cpu"], res["cuda"]
        errs = [rel_error(_host(yg), _host(yc))]
        errs += [rel_error(_host(b), _host(a)) for a, b in zip(gc, gg)]
        # a DualArray: value and tangents, by the fused kernel
        ops_c = [x if t is None else dg.DualArray(x, t) for x, t in zip(xs, tan)]
        ops_g = [cp.asarray(x) if t is None else dg.DualArray(cp.asarray(x), cp.asarray(t))
                 for x, t in zip(xs, tan)]
        fn = getattr(np, r.ufuncs[0]) if r.ufuncs else getattr(dg, r.name)
        dc = fn(*ops_c)
        dgpu = rows.dual(r.opcode, tuple(ops_g))
        if dgpu is None:
            raise AssertionError(f"row {r.name}: the fused kernel did not run")
        errs += [rel_error(_host(dgpu.value), dc.value), rel_error(_host(dgpu.tangent), dc.tangent)]
        out.append((r.name, max(errs)))
    return out


def compare_workload_a(n):
    x0, W, B = a_data(n)
    cp = _xp()
    x = dg.tensor(x0, device="cuda", requires_grad=True)
    a_function(x, dg.tanh, cp.asarray(W), cp.asarray(B)).backward()
    y = dg.tensor(x0, requires_grad=True)
    a_function(y, dg.tanh, W, B).backward()
    return (rel_error(_host(x.grad), y.grad.numpy()),
            rel_error(_host(x.grad), a_gradient_exact(x0, W, B)))


# ---------------------------------------------------------------------------
# 2. Bandwidth of the fused DualArray kernels

def bandwidth(n, k, repeats):
    """Rows (name, GB/s fused, GB/s copy, ratio) for a few rows at n elements, k tangents."""
    cp = _xp()
    x = dg.DualArray(cp.random.random(n) + 0.5, cp.random.random((k, n)))
    y = dg.DualArray(cp.random.random(n) + 0.5, cp.random.random((k, n)))
    cases = {
        "tanh": (lambda: rows.dual(RULES_BY["tanh"], (x,)), 8 * n * 2 * (1 + k)),
        "exp": (lambda: rows.dual(RULES_BY["exp"], (x,)), 8 * n * 2 * (1 + k)),
        "multiply": (lambda: rows.dual(RULES_BY["multiply"], (x, y)), 8 * n * (3 + 3 * k)),
        "divide": (lambda: rows.dual(RULES_BY["divide"], (x, y)), 8 * n * (3 + 3 * k)),
    }
    out = []
    for name, (fn, nbytes) in cases.items():
        src = cp.empty(nbytes // 16, dtype=np.float64)      # a copy moving the same bytes
        dst = cp.empty_like(src)
        src.fill(1.0)
        t_copy = median_time(lambda: cp.copyto(dst, src), repeats)
        t = median_time(fn, repeats)
        out.append((name, nbytes / t / 1e9, nbytes / t_copy / 1e9, t_copy / t))
    return out


# ---------------------------------------------------------------------------
# 3. Workload A against PyTorch on CUDA

def workload_a(n, repeats, torch):
    """(dualgrad seconds, PyTorch seconds or None, max relative difference)."""
    cp = _xp()
    rng = np.random.default_rng(n)
    x0 = rng.standard_normal(n)
    shared = n > 10_000_000     # one row of W and of B for all layers (the docstring says why)
    if shared:
        w, b = cp.asarray(rng.standard_normal(n) * 0.5), cp.asarray(rng.standard_normal(n) * 0.1)
        W, B = cp.broadcast_to(w, (A_LAYERS, n)), cp.broadcast_to(b, (A_LAYERS, n))
    else:
        _, W, B = a_data(n)
        W, B = cp.asarray(W), cp.asarray(B)
    xd = cp.asarray(x0)

    def ours():
        x = dg.tensor(xd, requires_grad=True)
        a_function(x, dg.tanh, W, B).backward()
        return x.grad

    t_ours = median_time(ours, repeats)
    g_ours = _host(ours())
    if torch is None:
        return t_ours, None, None
    if shared:
        Wt = torch.from_dlpack(w).expand(A_LAYERS, n)
        Bt = torch.from_dlpack(b).expand(A_LAYERS, n)
    else:
        Wt, Bt = torch.from_dlpack(W), torch.from_dlpack(B)
    xt = torch.from_dlpack(xd)

    def theirs():
        x = xt.detach().clone().requires_grad_(True)
        a_function(x, torch.tanh, Wt, Bt).backward()
        return x.grad

    t_torch = median_time(theirs, repeats)
    return t_ours, t_torch, rel_error(g_ours, theirs().cpu().numpy())


def _torch_cuda():
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m dualgrad.bench.gpu", description=__doc__.split(
        "\n\n")[0])
    ap.add_argument("--compare-size", type=int, default=100_000,
                    help="elements per row in the GPU-CPU comparison")
    ap.add_argument("--bandwidth-size", type=int, default=1 << 26)
    ap.add_argument("--tangents", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--a-sizes", type=int, nargs="+", default=[1_000_000, 100_000_000])
    ap.add_argument("--repeats", type=int, default=11)
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)

    cp = _xp()
    props = cp.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    torch = _torch_cuda()
    print(f"GPU: {name}; CuPy {cp.__version__}; PyTorch "
          f"{torch.__version__ if torch is not None else 'with CUDA: not installed'}; "
          f"NumPy {np.__version__}")
    results = {"gpu": name, "cupy": cp.__version__,
               "torch": None if torch is None else torch.__version__}
    ok = True

    t0 = time.perf_counter()
    rows_err = compare_rows(args.compare_size)
    worst = max(rows_err, key=lambda r: r[1])
    a_err = compare_workload_a(1_000_000)
    print(f"\n1. GPU against CPU, float64 ({args.compare_size} points per row; "
          f"{time.perf_counter() - t0:.1f} s)")
    print(f"   every table row (Tensor value and gradient, DualArray value and 2 tangents): "
          f"largest relative difference {worst[1]:.2e} ({worst[0]})")
    print(f"   Workload A gradient, n=1e6: {a_err[0]:.2e} from the CPU's, "
          f"{a_err[1]:.2e} from the hand-written NumPy backward pass")
    bad = [(r, e) for r, e in rows_err if not e <= RTOL]
    if bad or not a_err[0] <= RTOL:
        ok = False
        print(f"   FAILED: above {RTOL}: {bad or 'workload A'}")
    results["compare"] = {"rows": dict(rows_err), "workload_a": a_err[0]}

    print(f"\n2. Fused DualArray kernels: effective bandwidth, n={args.bandwidth_size} "
          f"(median of {args.repeats})")
    print(f"   {'row':<10} {'k':>2} {'fused GB/s':>11} {'copy GB/s':>10} {'fused/copy':>11}")
    results["bandwidth"] = []
    for k in args.tangents:
        for row, fused, copy, ratio in bandwidth(args.bandwidth_size, k, args.repeats):
            print(f"   {row:<10} {k:>2} {fused:>11.0f} {copy:>10.0f} {ratio:>10.0%}")
            results["bandwidth"].append({"row": row, "k": k, "fused": fused, "copy": copy})
            ok &= ratio >= BANDWIDTH_TARGET
    print(f"   target: fused/copy >= {BANDWIDTH_TARGET:.0%}")

    print(f"\n3. Workload A gradient ({A_LAYERS} layers), dualgrad Tensor vs PyTorch on CUDA "
          f"(median of {args.repeats})")
    print(f"   {'n':>11} {'dualgrad':>11} {'PyTorch':>11} {'ratio':>7} {'max rel diff':>13}")
    results["workload_a"] = []
    for n in args.a_sizes:
        t_ours, t_torch, diff = workload_a(n, args.repeats, torch)
        ratio = None if t_torch is None else t_ours / t_torch
        print(f"   {n:>11} {t_ours * 1e3:>9.2f}ms " + (
            f"{t_torch * 1e3:>9.2f}ms {ratio:>6.2f}x {diff:>13.2e}" if t_torch is not None
            else "  (no PyTorch with CUDA)"))
        results["workload_a"].append({"n": n, "dualgrad": t_ours, "torch": t_torch})
        if n >= 100_000_000 and ratio is not None:
            ok &= ratio <= A_TARGET
    print(f"   target: dualgrad / PyTorch <= {A_TARGET} at n = 1e8")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print("\nall targets met" if ok else "\nSOME CHECKS OR TARGETS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
