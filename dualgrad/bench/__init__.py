"""``python -m dualgrad bench``: time the workloads against every installed peer.

Variants are timed interleaved (round after round, each variant once per round)
so that a noisy neighbour slows all of them alike; the tables report medians
over rounds and ratios between medians of the same run. Variants slower than
a second per call get at most three rounds, and a workload may cap its rounds
(workload A at n = 1000000 takes five).

Workload A prints one table per n, like R, with its targets below it, then a
summary with one column per n; the tiny op prints nanoseconds per operation.
The Jacobian grids print one row per cell (n, m): the medians, auto's time over
the faster of forward and reverse, and the plan auto chose. The functional
API's Hessian-vector products print a table per workload with the plans.
"""

import argparse
import gc
import importlib.metadata
import json
import platform
import statistics
import sys
import time

from . import workloads as _workloads

PEERS = ("numpy", "torch", "autograd", "jax")
SLOW = 1.0                              # seconds per call beyond which a variant gets 3 rounds


def _per_call(fn, number):
    # As timeit: no garbage collection inside a sample, whose timing would then
    # depend on what the variants before it left behind.
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - t0) / number
    finally:
        gc.enable()


def first_calls(workload):
    """Result and duration of each installed variant's first call (for JAX jit: compilation)."""
    results, seconds = {}, {}
    for name, v in workload.variants.items():
        if v is not None:
            t0 = time.perf_counter()
            results[name] = v[1]()
            seconds[name] = time.perf_counter() - t0
    return results, seconds


def measure(workload, first, rounds, sample_seconds, log):
    """Median seconds per call of each variant (None where not installed).

    Calls per sample and the slow-variant cap come from the first call, unless the
    first round's per-call time is under a quarter of it (the first call paid a
    one-time cost: JAX jit's compilation, PyTorch's first backward): then from that."""
    active = {name: v[1] for name, v in workload.variants.items() if v is not None}
    typical = dict(first)
    numbers = {name: max(1, int(sample_seconds / max(first[name], 1e-9))) for name in active}
    samples = {name: [] for name in active}
    order = list(active.items())
    for r in range(rounds):
        log(f"  {workload.name}: round {r + 1}/{rounds}")
        # Each round starts one variant later: none always runs right after another.
        for name, fn in order[r % len(order):] + order[:r % len(order)]:
            if r < 3 or typical[name] < SLOW:
                t = _per_call(fn, numbers[name])
                samples[name].append(t)
                if r == 0 and t < first[name] / 4:
                    typical[name] = t
                    numbers[name] = max(1, int(sample_seconds / max(t, 1e-9)))
    return {name: (statistics.median(samples[name]) if name in samples else None)
            for name in workload.variants}


def environment():
    versions = {"python": platform.python_version()}
    for mod in ("dualgrad",) + PEERS:
        try:
            versions[mod] = importlib.metadata.version(mod)
        except importlib.metadata.PackageNotFoundError:
            versions[mod] = None
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "versions": versions}


def _fmt_time(t):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if t >= scale:
            return f"{t / scale:8.2f} {unit}"
    return f"{t / 1e-9:8.2f} ns"


def _label(workload, name):
    """A variant's name in a ratio: "dualgrad" for the reference, no "gradient, " prefix."""
    return "dualgrad" if name == workload.reference else name.removeprefix("gradient, ")


def _fmt_ratio(v):
    return f"{v:.2f}x" if v >= 0.1 else f"{v:.2g}x"


def targets(workload, times):
    """[{ratio, value, at_most, met}] for the workload's targets (value None: not measured).
    A denominator may be a tuple of variants: the fastest of them."""
    out = []
    for num, den, limit in workload.targets:
        dens = den if isinstance(den, tuple) else (den,)
        best = [times[d] for d in dens if times.get(d) is not None]
        value = (times[num] / min(best)
                 if times.get(num) is not None and len(best) == len(dens) else None)
        both_ours = "dualgrad" in num and all("dualgrad" in d for d in dens)
        name = ((lambda v: v.removeprefix("jacobian, dualgrad ")) if workload.grid else
                (lambda v: v.removesuffix(", dualgrad")) if both_ours else
                (lambda v: _label(workload, v)))
        label = name(den) if len(dens) == 1 else "min(" + ", ".join(map(name, dens)) + ")"
        out.append({"ratio": f"{name(num)} / {label}", "value": value,
                    "at_most": limit, "met": None if value is None else value <= limit})
    return out


def _verdict(t):
    return f"<= {t['at_most']:g}: " + ("not measured" if t["met"] is None
                                       else "met" if t["met"] else "MISSED")


def ratios(workload, times):
    """Each variant's median / the baseline's, and dualgrad's / each peer's."""
    base = times[workload.baseline]
    return {f"/ {workload.baseline}": {name: t / base for name, t in times.items()
                                       if t is not None},
            "dualgrad / peer": {name: times[_ours(workload, name)] / t
                                for name, t in times.items() if t is not None and _is_peer(name)}}


def _ours(workload, name):
    """The dualgrad variant a peer's variant is compared with: the first computing
    the same kind of result (a Hessian-vector product with one), else the reference."""
    kind = workload.variants[name][0]
    return next((other for other, v in workload.variants.items()
                 if v is not None and v[0] == kind and "dualgrad" in other
                 and not _is_peer(other)), workload.reference)


def _is_peer(name):
    return "dualgrad" not in name and not name.startswith("f on")


def table(workload, times, first):
    if workload.ops_per_call:
        return per_op_table(workload, times)
    base = times[workload.baseline]
    width = max(len(name) for name in times) + 2
    heading = f"/ {workload.baseline_label}"
    lines = [f"Workload {workload.name}: {workload.description}",
             f"{'variant':{width}s} {'median/call':>12s} {heading:>14s} {'dualgrad faster':>16s}"]
    for name, t in times.items():
        if t is None:
            why = f"skipped ({workload.skipped.get(name, 'not installed')})"
            lines.append(f"{name:{width}s} {why:>44s}")
            continue
        speedup = f"{t / times[_ours(workload, name)]:15.1f}x" if _is_peer(name) else ""
        lines.append(f"{name:{width}s} {_fmt_time(t):>12s} {t / base:13.2f}x {speedup:>16s}")
    for name, t in times.items():
        if t is not None and "jit" in name:
            lines.append(f"  ({name}: compilation, excluded above, {first[name]:.2f} s)")
    for t in targets(workload, times):
        value = "n/a" if t["value"] is None else _fmt_ratio(t["value"])
        lines.append(f"  target: {t['ratio']} = {value}, {_verdict(t)}")
    for label, plan in _plans(workload).items():
        lines.append(f"  plan{' (' + label + ')' if label else ''}: " + str(plan).replace(
            "\n", "\n    "))
    return "\n".join(lines)


def _plans(workload):
    """{label: Plan} of the workload ("" for a single plan)."""
    if workload.plan is None:
        return {}
    return dict(workload.plan) if isinstance(workload.plan, dict) else {"": workload.plan}


def _plan_brief(plan):
    return f"{plan.tier} {plan.mode}" + (f", chunk {plan.chunk}" if "forward" in plan.mode else "")


def grid_table(group, entries):
    """One row per cell (n, m): each variant's median, the targets and the plan.
    entries: [(workload, times)] of one group; the variants' names are the first's."""
    names = list(entries[0][1])
    short = {name: name.removeprefix("jacobian, ").removeprefix("dualgrad ") for name in names}
    cols = [max(10, len(short[name]) + 2) for name in names]
    lines = [f"{group}: {entries[0][0].description.split(', ', 1)[1]} "
             f"(median per call; plan: auto's tier, mode, directions per pass)",
             f"{'n':>5s} {'m':>5s}" + "".join(f"{short[nm]:>{c}s}" for nm, c in zip(names, cols))
             + f"{'auto/best':>11s}  {'plan':s}"]
    missed = []
    for workload, times in entries:
        n, m = workload.size
        cells = []
        for name, c in zip(names, cols):
            t = times.get(name)
            cell = (_fmt_time(t).strip() if t is not None else
                    workload.skipped.get(name, "n/a") if workload.variants.get(name) is None
                    and name in workload.skipped else "n/a")
            cells.append(f"{cell:>{c}s}")
        tg = targets(workload, times)[0]
        ratio = "n/a" if tg["value"] is None else _fmt_ratio(tg["value"])
        if tg["met"] is False:
            ratio += " !"
            missed.append(f"n={n}, m={m}")
        lines.append(f"{n:5d} {m:5d}" + "".join(cells) + f"{ratio:>11s}  "
                     + _plan_brief(workload.plan))
    tg = targets(entries[0][0], entries[0][1])[0]
    lines.append(f"  target: {tg['ratio']} <= {tg['at_most']:g}: "
                 + (f"MISSED at {'; '.join(missed)} (!)" if missed else "met in every cell"))
    return "\n".join(lines)


def summary_table(group, entries):
    """One column per size: each variant's ratio to the baseline, dualgrad's to each
    peer, and the targets. entries: [(workload, times)] of one group."""
    rows = {}                               # label -> {n: cell}
    for workload, times in entries:
        r = ratios(workload, times)
        for name, t in times.items():
            if name != workload.baseline:
                v = r[f"/ {workload.baseline}"].get(name)
                rows.setdefault(f"{_label(workload, name)} / {workload.baseline_label}", {})[
                    workload.size] = "skipped" if v is None else _fmt_ratio(v)
        for name in times:
            if _is_peer(name):
                v = r["dualgrad / peer"].get(name)
                rows.setdefault(f"dualgrad / {_label(workload, name)}", {})[workload.size] = (
                    "skipped" if v is None else _fmt_ratio(v))
        for t in targets(workload, times):
            rows.setdefault(f"target: {t['ratio']}", {})[workload.size] = _verdict(t)
    sizes = [wl.size for wl, _ in entries]
    width = max(len(label) for label in rows) + 2
    cell = max(14, max(len(c) for cells in rows.values() for c in cells.values()) + 2)
    lines = [f"Workload {group}, every n: ratios of medians "
             f"(dualgrad = {entries[0][0].reference}; below 1: dualgrad takes less time)",
             f"{'ratio':{width}s}" + "".join(f"{'n=' + str(n):>{cell}s}" for n in sizes)]
    for label, cells in rows.items():
        lines.append(f"{label:{width}s}" + "".join(f"{cells.get(n, ''):>{cell}s}" for n in sizes))
    return "\n".join(lines)


def per_op(workload, times):
    """Seconds per operation of each variant (None where not installed)."""
    return {name: (None if t is None else t / workload.ops_per_call[name])
            for name, t in times.items()}


def per_op_modes(workload, times):
    """{mode: {library: seconds per op}} from variant names "<mode>, <library>"
    (the baseline left out), and the peers' names."""
    per = per_op(workload, times)
    modes, libraries = {}, []
    for name in times:
        if name == workload.baseline:
            continue
        mode, library = name.rsplit(", ", 1)
        modes.setdefault(mode, {})[library] = per[name]
        if library not in libraries:
            libraries.append(library)
    return modes, [lib for lib in libraries if lib != "dualgrad"]


def per_op_table(workload, times):
    """Rows: modes; columns: dualgrad, each peer and the peer's time over dualgrad's.
    Variant names are "<mode>, <library>"; the baseline is a footnote."""
    per = per_op(workload, times)
    modes, peers = per_op_modes(workload, times)
    width = max(len(m) for m in modes) + 2
    cols = ["dualgrad"] + peers + (["dualgrad faster"] if len(peers) == 1 else
                                   [f"dualgrad faster than {p}" for p in peers])
    widths = [max(14, len(c) + 2) for c in cols]
    lines = [f"Tiny op: {workload.description} (median time per product)",
             f"{'mode':{width}s}" + "".join(f"{c:>{w}s}" for c, w in zip(cols, widths))]
    for mode, libs in modes.items():
        cells = [_fmt_time(libs["dualgrad"])]
        for p in peers:
            cells.append("skipped" if libs.get(p) is None else _fmt_time(libs[p]))
        for p in peers:
            cells.append("" if libs.get(p) is None else f"{libs[p] / libs['dualgrad']:.1f}x")
        lines.append(f"{mode:{width}s}" + "".join(f"{c:>{w}s}" for c, w in zip(cells, widths)))
    base = _fmt_time(per[workload.baseline]).strip()
    lines.append(f"  ({workload.baseline}: {base} per product)")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dualgrad bench",
                                     description="Time dualgrad's workloads against installed peers.")
    parser.add_argument("--quick", action="store_true",
                        help="few rounds, short samples, small sizes (a smoke run)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--plot", metavar="PATH",
                        help="also draw time against problem size per workload (PNG; needs "
                             "matplotlib)")
    parser.add_argument("--only", metavar="PREFIX", action="append",
                        help="run only the workloads whose names start with PREFIX (repeat "
                             "for several: --only J --only HVP runs the Jacobian grids and "
                             "the Hessian-vector products)")
    args = parser.parse_args(argv)
    rounds, sample = (3, 0.005) if args.quick else (15, 0.05)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    env = environment()
    print(f"medians of {rounds} interleaved rounds (at most 3 for variants over {SLOW:g} s); "
          f"{env['cpu']}; " + ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v))
    from .._scalar.dual import Dual
    size = sys.getsizeof(Dual(0.3, 1.0))
    print(f"sys.getsizeof of a one-direction Dual: {size} bytes")
    report = {"environment": env, "rounds": rounds, "dual_sizeof_bytes": size, "workloads": {}}
    group = []                              # (workload, times) of the group being printed
    measured = []                           # (workload, times) of every workload, to plot

    def end_group():
        if group:
            print()
            print((grid_table if group[0][0].grid else summary_table)(group[0][0].group, group),
                  flush=True)
            group.clear()

    prefixes = tuple(args.only or ("",))
    for workload in _workloads.workloads(quick=args.quick):
        if not workload.name.startswith(prefixes):
            continue
        if group and workload.group != group[0][0].group:
            end_group()
        log(f"workload {workload.name}: checking every variant against the analytic answer")
        for name, v in workload.variants.items():
            if v is None:
                log(f"  {name}: skipped, {workload.skipped.get(name, 'not installed')}")
        results, first = first_calls(workload)
        workload.check(results)
        del results                         # (workload A at n = 1000000: 8 MB each)
        n_rounds = min(rounds, workload.max_rounds or rounds)
        times = measure(workload, first, n_rounds, sample, log)
        if not workload.grid:
            print()
            print(table(workload, times, first), flush=True)
        entry = {"seconds_per_call": times, "first_call_seconds": first, "rounds": n_rounds}
        if workload.skipped:
            entry["skipped"] = workload.skipped
        plans = _plans(workload)
        if plans:
            entry["plans"] = {label or "auto": {"tier": p.tier, "mode": p.mode, "chunk": p.chunk}
                              for label, p in plans.items()}
        if workload.ops_per_call:
            modes, peers = per_op_modes(workload, times)
            entry["ops_per_call"] = workload.ops_per_call
            entry["ns_per_op"] = {name: (None if t is None else t * 1e9)
                                  for name, t in per_op(workload, times).items()}
            entry["dualgrad / peer, per op"] = {
                mode: {p: libs["dualgrad"] / libs[p] for p in peers if libs.get(p) is not None}
                for mode, libs in modes.items()}
        else:
            entry["ratios"] = ratios(workload, times)
        if workload.targets:
            entry["targets"] = targets(workload, times)
        report["workloads"][workload.name] = entry
        measured.append((workload, times))
        if workload.group:
            group.append((workload, times))
    end_group()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    if args.plot:
        plot(measured, args.plot, env)
        log(f"plot written to {args.plot}")
    return 0


def _series(measured):
    """{group: {variant: [(size, seconds)]}} of the workloads measured at several
    sizes; a Jacobian grid contributes its square cells (n = m)."""
    out = {}
    for workload, times in measured:
        size = workload.size
        if isinstance(size, tuple):
            if size[0] != size[1]:
                continue
            size = size[0]
        if size is None:
            continue
        panel = workload.group or workload.name.split(",")[0]     # "R, n=1000": "R"
        for name, t in times.items():
            if t is not None:
                out.setdefault(panel, {}).setdefault(name, []).append((size, t))
    return {g: v for g, v in out.items() if any(len(pts) > 1 for pts in v.values())}


def plot(measured, path, env):
    """Time per call against problem size, one panel per workload, log-log."""
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("--plot needs matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    series = _series(measured)
    baselines = {workload.baseline for workload, _ in measured}
    if not series:
        raise SystemExit("--plot: no workload was measured at more than one size")
    cols = min(3, len(series))
    rows = -(-len(series) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 4.2 * rows), squeeze=False)
    for ax, (group, variants) in zip(axes.flat, series.items()):
        for name, points in variants.items():
            points.sort()
            # dualgrad solid, the plain evaluation dotted grey, the peers dashed
            style = (dict(linestyle=":", color="grey") if name in baselines else
                     dict(linestyle="-") if "dualgrad" in name else dict(linestyle="--"))
            ax.loglog(*zip(*points), marker="o", markersize=3, label=name, **style)
        ax.set_title(f"workload {group}" + (" (n = m)" if group.startswith("Jacobian") else ""))
        ax.set_xlabel("n")
        ax.set_ylabel("seconds per call")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(series):]:
        ax.set_visible(False)
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v)
    fig.suptitle(f"python -m dualgrad bench: medians per call; {env['cpu']}; {versions}",
                 fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
