"""The benchmark workloads, each written once per library that runs it.

``python -m dualgrad bench`` and the asv suite (``asv_bench/``) both time these.
Every variant of a workload computes the same numbers; :meth:`Workload.check`
verifies that against the analytic answer before anything is timed.

Workload S (scalar forward mode), timed on floats and as a gradient in (x, y)::

    f(x, y) = sum over i < 200 of sin(x*i)*exp(-y) + x*y/(1+i) + log(1+x*x)

Workload R (scalar reverse mode), the chained Rosenbrock function of a Python
list of n floats, timed on floats, as a gradient and as a Hessian-vector product::

    f(x) = sum over i < n-1 of 100*(x[i+1] - x[i]**2)**2 + (1 - x[i])**2

Workload A (array reverse mode), 50 elementwise residual tanh layers on a
float64 vector x of n elements (n in ``A_SIZES``), and the gradient of the loss
with respect to x::

    for k in range(50): x = tanh(x * W[k] + B[k]) * 0.5 + x
    loss = sum(x**2)

W (scaled by 0.5), B (scaled by 0.1) of shape (50, n) and x0 are standard
normal draws from ``numpy.random.default_rng(n)``, the same arrays for every
library. Timed as the forward pass on plain NumPy (the baseline) and as the
gradient: by dualgrad's Tensor (W[k] and B[k] plain ndarrays), by PyTorch eager
(W and B through ``torch.from_numpy``), by HIPS autograd (the same function on
``autograd.numpy``), and by JAX eager and JAX ``jit``, as for S (W and B are
arguments, not closure constants, so that ``jit`` does not fold 2 x 50 x n
numbers into the compiled program). JAX eager at n = 1000000 takes seconds
per call and, like R's peers at n = 100000, gets the three rounds of a slow
variant. Every gradient is checked against a hand-written NumPy backward pass
and against dualgrad's (rtol 1e-9: NumPy's and PyTorch's tanh differ in the
last bits, which 50 layers amplify), and the NumPy forward value against
dualgrad's loss.

The tiny op: the overhead of one small operation, ``z = x * y`` on 3-element
float64 tensors that require gradients, forward and backward: one product then
``z.backward(ones)``, and a chain of ``TINY_CHAIN`` products then one backward
(reported per product), by dualgrad and PyTorch eager, beside ``x * y`` on
NumPy ndarrays (no gradient). The gradients are checked against the analytic
ones (y and x; y**k and k*x*y**(k-1)).

The Jacobian grids: f = tanh(A @ x) from R^n to R^m for n, m in ``J_SIZES``,
written on arrays and as a scalar loop over A's entries, by ``dg.jacobian`` in
each mode beside PyTorch's and JAX's (eager) Jacobians, checked against
(1 - tanh(A x)**2)[:, None] * A (rtol 1e-10); the target is auto's time over the
faster of forward and reverse. The functional API's Hessian-vector products:
``dg.grad`` and ``dg.hvp`` of workload A's loss (checked against
``a_hvp_exact``) beside ``torch.func``, and of workload R on an ndarray.

PyTorch runs on one thread (``torch.set_num_threads(1)``, set when a workload
first imports it), as NumPy does under ``OPENBLAS_NUM_THREADS=1``.
"""

import importlib
import itertools
import math
from dataclasses import dataclass, field

import numpy as np

import dualgrad as dg

S_POINT = (0.3, 0.7)
S_TERMS = 200
R_SIZES = (10, 1000, 100000)
A_SIZES = (10, 1000, 1000000)
A_LAYERS = 50
A_TORCH_TARGETS = {10: 0.5, 1000: 1.0, 1000000: 1.5}   # dualgrad / PyTorch eager, at most
A_NUMPY_TARGET = 3.0                                   # dualgrad / f on NumPy, at most
TINY_CHAIN = 100


@dataclass
class Workload:
    name: str
    description: str
    baseline: str                       # the variant others are divided by (plain floats)
    reference: str                      # dualgrad's gradient, the one peers are compared with
    variants: dict                      # name -> (kind, callable), or None when not installed
    expected: dict = field(default_factory=dict)   # kind -> the analytic answer, or a callable
    baseline_label: str = "f on floats"            # the ratio column's heading
    check_against_reference: bool = False          # also compare results with the reference's
    group: str = None                   # a group (A at each n) also gets a summary table
    size: int = None                    # n, within the group
    max_rounds: int = None              # at most this many rounds (for the biggest sizes)
    targets: list = field(default_factory=list)    # (numerator, denominator, at most)
    ops_per_call: dict = None           # name -> operations per call: tables show time per op
    rtol: object = 1e-9                 # the check's tolerances: a number, or kind -> number
    atol: float = 1e-9
    skipped: dict = field(default_factory=dict)    # name -> why it is not run ("too slow")
    plan: object = None                 # dualgrad's Plan (or label -> Plan), printed with the table
    grid: bool = False                  # one row of its group's grid table, no table of its own

    def tolerance(self, kind):
        return self.rtol.get(kind, 1e-9) if isinstance(self.rtol, dict) else self.rtol

    def check(self, results):
        """Raise if any variant's result disagrees with the analytic answer."""
        for name, got in results.items():
            kind = self.variants[name][0]
            want = self.expected[kind]
            if callable(want):
                want = self.expected[kind] = want()
            if not np.allclose(np.asarray(got, dtype=np.float64), want,
                               rtol=self.tolerance(kind), atol=self.atol):
                raise AssertionError(f"workload {self.name}, {name}: got {got}, expected {want}")
        if self.check_against_reference and self.reference in results:
            kind, ref = self.variants[self.reference][0], np.asarray(results[self.reference])
            for name, got in results.items():
                if self.variants[name][0] == kind and not np.allclose(
                        np.asarray(got, dtype=np.float64), ref, rtol=1e-9, atol=1e-9):
                    raise AssertionError(f"workload {self.name}, {name}: got {got}, "
                                         f"{self.reference} got {ref}")


def _peer(name):
    try:
        module = importlib.import_module(name)
    except ImportError:
        return None
    if name == "torch":
        module.set_num_threads(1)       # one thread, like NumPy under OPENBLAS_NUM_THREADS=1
    return module


# ---------------------------------------------------------------------------
# Workload S

def workload_s(sin, exp, log):
    """Workload S written against the given sin, exp and log."""

    def f(x, y):
        s = 0.0
        for i in range(S_TERMS):
            s = s + sin(x * i) * exp(-y) + x * y / (1 + i) + log(1 + x * x)
        return s

    return f


def s_gradient_exact(x, y):
    """The analytic gradient of workload S."""
    i = np.arange(S_TERMS)
    dx = np.sum(i * np.cos(x * i) * np.exp(-y) + y / (1 + i) + 2 * x / (1 + x * x))
    dy = np.sum(-np.sin(x * i) * np.exp(-y) + x / (1 + i))
    return np.array([dx, dy])


def s_workload(peers=True):
    x0, y0 = S_POINT
    f_dg = workload_s(dg.math.sin, dg.math.exp, dg.math.log)
    f_math = workload_s(math.sin, math.exp, math.log)
    v = {
        "f on floats, dualgrad.math": ("value", lambda: f_dg(x0, y0)),
        "f on floats, math": ("value", lambda: f_math(x0, y0)),
        "gradient, dualgrad Dual (2 directions)":
            ("gradient", lambda: f_dg(dg.Dual(x0, [1.0, 0.0]), dg.Dual(y0, [0.0, 1.0])).tangent),
    }
    torch = _peer("torch") if peers else None
    v["gradient, PyTorch eager"] = None
    if torch is not None:
        f_torch = workload_s(torch.sin, torch.exp, torch.log)

        def torch_grad():
            x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
            y = torch.tensor(y0, dtype=torch.float64, requires_grad=True)
            f_torch(x, y).backward()
            return (x.grad.item(), y.grad.item())

        v["gradient, PyTorch eager"] = ("gradient", torch_grad)
    v["gradient, HIPS autograd"] = None
    if peers and _peer("autograd") is not None:
        anp = importlib.import_module("autograd.numpy")
        f_ag = workload_s(anp.sin, anp.exp, anp.log)
        g_ag = importlib.import_module("autograd").grad(lambda xy: f_ag(xy[0], xy[1]))
        xy0 = np.array(S_POINT)
        v["gradient, HIPS autograd"] = ("gradient", lambda: g_ag(xy0))
    jax = _peer("jax") if peers else None
    v["gradient, JAX eager"] = v["gradient, JAX jit (compiled)"] = None
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
        jnp = importlib.import_module("jax.numpy")
        g_jax = jax.grad(workload_s(jnp.sin, jnp.exp, jnp.log), argnums=(0, 1))
        g_jit = jax.jit(g_jax)
        v["gradient, JAX eager"] = ("gradient", lambda: [float(g) for g in g_jax(x0, y0)])
        v["gradient, JAX jit (compiled)"] = ("gradient", lambda: [float(g) for g in g_jit(x0, y0)])
    return Workload(
        "S", "f(x, y) = sum_{i<200} sin(x*i)*exp(-y) + x*y/(1+i) + log(1+x*x), at (0.3, 0.7)",
        "f on floats, dualgrad.math", "gradient, dualgrad Dual (2 directions)", v,
        {"value": f_math(x0, y0), "gradient": s_gradient_exact(x0, y0)})


# ---------------------------------------------------------------------------
# Workload R

def rosenbrock(x):
    """Workload R on a list (of floats, Vars, tensors, ...)."""
    s = 0.0
    for i in range(len(x) - 1):
        s = s + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
    return s


def r_gradient_exact(x):
    x = np.asarray(x)
    a = x[1:] - x[:-1] ** 2
    g = np.zeros_like(x)
    g[:-1] += -400.0 * x[:-1] * a - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * a
    return g


def r_hvp_exact(x, v):
    x, v = np.asarray(x), np.asarray(v)
    hv = np.zeros_like(x)
    hv[:-1] += (1200.0 * x[:-1] ** 2 - 400.0 * x[1:] + 2.0) * v[:-1] - 400.0 * x[:-1] * v[1:]
    hv[1:] += -400.0 * x[:-1] * v[:-1] + 200.0 * v[1:]
    return hv


def r_point(n):
    return np.random.default_rng(n).uniform(-1.0, 1.0, n)


def r_workload(n, peers=True):
    """Workload R at size n. Replay alternates between two points (both are
    checked against the analytic answer), so every call really replays."""
    x0 = r_point(n)
    xl = x0.tolist()
    v = np.ones(n)
    rec = dg.record(rosenbrock, xl)
    points = [x0 + 1e-3, x0 - 1e-3]
    cycle = itertools.cycle(points)

    def tape_gradient():
        with dg.Tape() as tape:
            x = tape.var(xl)
            y = rosenbrock(x)
        return tape.gradient(y, x)

    def tape_hvp():
        with dg.Tape() as tape:
            x = tape.var(xl)
            y = rosenbrock(x)
        return tape.hvp(y, x, v)

    variants = {
        "f on floats": ("value", lambda: rosenbrock(xl)),
        "gradient, dualgrad Tape (record + sweep)": ("gradient", tape_gradient),
        "value and gradient, dualgrad replay": ("replay", lambda: rec.value_and_grad(next(cycle))[1]),
        "hvp, dualgrad Tape (record + forward over reverse)": ("hvp", tape_hvp),
        "hvp, dualgrad replay": ("replay hvp", lambda: rec.hvp(next(cycle), v)),
    }
    torch = _peer("torch") if peers else None
    variants["gradient, PyTorch eager (0-d tensors)"] = None
    if torch is not None:
        def torch_grad():
            x = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in xl]
            rosenbrock(x).backward()
            return [a.grad.item() for a in x]

        variants["gradient, PyTorch eager (0-d tensors)"] = ("gradient", torch_grad)
    autograd = _peer("autograd") if peers else None
    variants["gradient, HIPS autograd"] = None
    if autograd is not None:
        g_ag = autograd.grad(lambda x: rosenbrock([x[i] for i in range(n)]))
        variants["gradient, HIPS autograd"] = ("gradient", lambda: g_ag(x0))
    replay_grads = [r_gradient_exact(p) for p in points]
    return Workload(
        f"R, n={n}", f"chained Rosenbrock on a list of {n} floats",
        "f on floats", "gradient, dualgrad Tape (record + sweep)", variants,
        {"value": float(np.sum(100.0 * (x0[1:] - x0[:-1] ** 2) ** 2 + (1 - x0[:-1]) ** 2)),
         "gradient": r_gradient_exact(x0), "hvp": r_hvp_exact(x0, v),
         # the first call replays at points[0]; check() sees that first call
         "replay": replay_grads[0], "replay hvp": r_hvp_exact(points[1], v)}, size=n)


# ---------------------------------------------------------------------------
# Workload A

def a_function(x, tanh, W, B):
    """Workload A's loss, written against the given tanh (x, W and B of any array type)."""
    for k in range(A_LAYERS):
        x = tanh(x * W[k] + B[k]) * 0.5 + x
    return (x ** 2).sum()


def a_data(n):
    """x0, W and B of workload A at size n: the same arrays for every library."""
    rng = np.random.default_rng(n)
    x0 = rng.standard_normal(n)
    W = rng.standard_normal((A_LAYERS, n))
    W *= 0.5                            # in place: no temporary of 50 x n (asv's peakmem)
    B = rng.standard_normal((A_LAYERS, n))
    B *= 0.1
    return x0, W, B


def a_gradient_exact(x0, W, B, chunk=1 << 16):
    """The gradient of workload A by a hand-written backward pass in NumPy:
    d x_{k+1} / d x_k = 1 + 0.5 * (1 - t_k**2) * W[k] with t_k = tanh(x_k W[k] + B[k]).
    Every element evolves on its own, so it runs in chunks of elements (little memory)."""
    grad = np.empty_like(x0)
    for s in range(0, len(x0), chunk):
        e = s + chunk
        x, ts = x0[s:e], []
        for k in range(A_LAYERS):
            t = np.tanh(x * W[k, s:e] + B[k, s:e])
            ts.append(t)
            x = t * 0.5 + x
        g = 2.0 * x
        for k in reversed(range(A_LAYERS)):
            g = g * (1.0 + 0.5 * (1.0 - ts[k] ** 2) * W[k, s:e])
        grad[s:e] = g
    return grad


def a_workload(n, peers=True, max_rounds=None):
    """Workload A at size n (peers=False: NumPy and dualgrad only, for asv)."""
    x0, W, B = a_data(n)

    def dg_grad():
        x = dg.tensor(x0, requires_grad=True)
        a_function(x, dg.tanh, W, B).backward()
        return x.grad.numpy()

    variants = {
        "f on NumPy": ("value", lambda: a_function(x0, np.tanh, W, B)),
        "gradient, dualgrad Tensor": ("gradient", dg_grad),
    }
    torch = _peer("torch") if peers else None
    variants["gradient, PyTorch eager"] = None
    if torch is not None:
        Wt, Bt = torch.from_numpy(W), torch.from_numpy(B)

        def torch_grad():
            x = torch.tensor(x0, requires_grad=True)
            a_function(x, torch.tanh, Wt, Bt).backward()
            return x.grad.numpy()

        variants["gradient, PyTorch eager"] = ("gradient", torch_grad)
    autograd = _peer("autograd") if peers else None
    variants["gradient, HIPS autograd"] = None
    if autograd is not None:
        anp = importlib.import_module("autograd.numpy")
        g_ag = autograd.grad(lambda x: a_function(x, anp.tanh, W, B))
        variants["gradient, HIPS autograd"] = ("gradient", lambda: g_ag(x0))
    jax = _peer("jax") if peers else None
    variants["gradient, JAX eager"] = variants["gradient, JAX jit (compiled)"] = None
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
        jnp = importlib.import_module("jax.numpy")
        Wj, Bj = jnp.asarray(W), jnp.asarray(B)
        g_jax = jax.grad(lambda x, W, B: a_function(x, jnp.tanh, W, B))
        g_jit = jax.jit(g_jax)
        variants["gradient, JAX eager"] = ("gradient", lambda: np.asarray(g_jax(x0, Wj, Bj)))
        variants["gradient, JAX jit (compiled)"] = ("gradient",
                                                    lambda: np.asarray(g_jit(x0, Wj, Bj)))
    return Workload(
        f"A, n={n}", f"{A_LAYERS} residual tanh layers on {n} float64s, gradient of sum(x**2)",
        "f on NumPy", "gradient, dualgrad Tensor", variants,
        {"value": lambda: float(a_function(dg.tensor(x0), dg.tanh, W, B)),   # dualgrad's loss
         "gradient": lambda: a_gradient_exact(x0, W, B)},
        baseline_label="f on NumPy", check_against_reference=True, group="A", size=n,
        max_rounds=max_rounds,
        targets=[("gradient, dualgrad Tensor", "f on NumPy", A_NUMPY_TARGET)]
        + ([("gradient, dualgrad Tensor", "gradient, PyTorch eager", A_TORCH_TARGETS[n])]
           if n in A_TORCH_TARGETS else []))


# ---------------------------------------------------------------------------
# The tiny op

TINY_X = (0.5, -1.25, 2.0)
TINY_Y = (0.99, 1.0, 1.01)             # near 1, so that y**TINY_CHAIN stays moderate


def tiny_op_workload(peers=True):
    """z = x * y on 3-element float64 tensors, forward and backward; the variants are
    named "<mode>, <library>" and report time per product (ops_per_call)."""
    a, b, k = np.array(TINY_X), np.array(TINY_Y), TINY_CHAIN
    one, chain = "z = x * y; z.backward(ones)", f"chain of {k} products, one backward"
    x, y, ones = dg.tensor(a, requires_grad=True), dg.tensor(b, requires_grad=True), dg.ones(3)

    def dg_one():
        x.grad = y.grad = None
        (x * y).backward(ones)
        return x.grad, y.grad

    def dg_chain():
        x.grad = y.grad = None
        z = x
        for _ in range(k):
            z = z * y
        z.backward(ones)
        return x.grad, y.grad

    variants = {
        "x * y, NumPy (no gradient)": ("product", lambda: a * b),
        f"{one}, dualgrad": ("gradient", dg_one),
        f"{chain}, dualgrad": ("chain gradient", dg_chain),
    }
    torch = _peer("torch") if peers else None
    variants[f"{one}, PyTorch eager"] = variants[f"{chain}, PyTorch eager"] = None
    if torch is not None:
        xt = torch.tensor(a, requires_grad=True)
        yt = torch.tensor(b, requires_grad=True)
        ones_t = torch.ones(3, dtype=torch.float64)

        def torch_one():
            xt.grad = yt.grad = None
            (xt * yt).backward(ones_t)
            return xt.grad, yt.grad

        def torch_chain():
            xt.grad = yt.grad = None
            z = xt
            for _ in range(k):
                z = z * yt
            z.backward(ones_t)
            return xt.grad, yt.grad

        variants[f"{one}, PyTorch eager"] = ("gradient", torch_one)
        variants[f"{chain}, PyTorch eager"] = ("chain gradient", torch_chain)
    return Workload(
        "tiny op", "z = x * y on 3-element float64 tensors that require gradients, "
        "forward and backward", "x * y, NumPy (no gradient)", f"{one}, dualgrad", variants,
        {"product": a * b, "gradient": np.stack([b, a]),
         "chain gradient": np.stack([b ** k, k * a * b ** (k - 1)])},
        baseline_label="NumPy",
        ops_per_call={name: (k if name.startswith("chain") else 1) for name in variants})


# ---------------------------------------------------------------------------
# Jacobians: the functional API's planner over a grid of shapes

J_SIZES = (1, 10, 100, 1000)            # n and m, every pair
J_PEER_LIMITS = {"torch": 10000, "jax": 100}   # loop cells with n*m above: that peer skipped
J_QUICK_LIMIT = 100                     # cells with n*m above: left out of --quick
J_MODES = ("auto", "forward", "reverse")
J_TARGET = 1.2                          # auto / min(forward, reverse), at most
J_MAX_ROUNDS = 7


def j_data(n, m):
    """A (m, n), scaled by 1/sqrt(n), and the point x (n,) of the Jacobian cell (n, m)."""
    rng = np.random.default_rng(1000 * n + m)
    A = rng.standard_normal((m, n)) / math.sqrt(n)
    return A, rng.standard_normal(n)


def j_loop(x, rows, tanh, stack):
    """The scalar-loop twin of tanh(A @ x): ``rows`` is A as lists of floats."""
    out = []
    for row in rows:
        s = 0.0
        for j in range(len(row)):
            s = s + row[j] * x[j]
        out.append(tanh(s))
    return stack(out)


def j_function(kind, A, tanh=None, stack=np.stack, asarray=np.asarray):
    """f = tanh(A @ x) on arrays (kind "array") or as a loop over A's entries
    ("loop"), with a library's tanh, stack and arrays: NumPy's (np.tanh on
    arrays, dg.tanh in the loop) unless given."""
    if kind == "array":
        tanh, A = tanh or np.tanh, asarray(A)

        def f(x):
            return tanh(A @ x)
    else:
        tanh, rows = tanh or dg.tanh, A.tolist()

        def f(x):
            return j_loop(x, rows, tanh, stack)
    return f


def j_jacobian_exact(A, x):
    return (1.0 - np.tanh(A @ x) ** 2)[:, None] * A


def jacobian_workload(kind, n, m, peers=True):
    """The Jacobian of f: R^n -> R^m at one cell, f = tanh(A @ x) written on arrays
    (kind "array") or as a scalar loop over A's entries (kind "loop"). Variants:
    f on NumPy (the baseline), dg.jacobian in each mode, and the peers' Jacobians:
    PyTorch's torch.autograd.functional.jacobian(vectorize=True), JAX's jacfwd and
    jacrev without jit. On loop cells with n*m above J_PEER_LIMITS a peer is skipped:
    JAX eager's jacrev takes 8 s at n*m = 1000 and a minute at 10000, PyTorch's
    Jacobian 1 s at 10000. Plans are made (and cached) here, outside the timing."""
    A, x0 = j_data(n, m)
    f = j_function(kind, A)
    variants = {"f on NumPy": ("value", lambda: f(x0))}
    for mode in J_MODES:
        jac = dg.jacobian(f, mode=mode)
        variants[f"jacobian, dualgrad {mode}"] = ("jacobian", lambda jac=jac: jac(x0))
    plan = dg.plan(f, x0, kind="jacobian")
    names = ("jacobian, PyTorch (vectorize=True)", "jacfwd, JAX eager", "jacrev, JAX eager")
    for name in names:
        variants[name] = None
    too_slow = {lib for lib, limit in J_PEER_LIMITS.items() if kind == "loop" and n * m > limit}
    skipped = {name: "too slow" for name, lib in zip(names, ("torch", "jax", "jax"))
               if lib in too_slow}
    torch = _peer("torch") if peers and "torch" not in too_slow else None
    if torch is not None:
        xt = torch.from_numpy(x0)
        f_torch = j_function(kind, A, torch.tanh, torch.stack, torch.from_numpy)
        jac_torch = torch.autograd.functional.jacobian
        variants[names[0]] = ("jacobian",
                              lambda: jac_torch(f_torch, xt, vectorize=True).numpy())
    jax = _peer("jax") if peers and "jax" not in too_slow else None
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
        jnp = importlib.import_module("jax.numpy")
        xj = jnp.asarray(x0)
        f_jax = j_function(kind, A, jnp.tanh, jnp.stack, jnp.asarray)
        fwd, rev = jax.jacfwd(f_jax), jax.jacrev(f_jax)
        variants[names[1]] = ("jacobian", lambda: np.asarray(fwd(xj)))
        variants[names[2]] = ("jacobian", lambda: np.asarray(rev(xj)))
    what = "tanh(A @ x)" if kind == "array" else "a loop over A's entries, tanh of each sum"
    return Workload(
        f"J {kind}, n={n}, m={m}", f"Jacobian of f: R^{n} -> R^{m}, {what}",
        "f on NumPy", "jacobian, dualgrad auto", variants,
        {"value": np.tanh(A @ x0), "jacobian": j_jacobian_exact(A, x0)},
        baseline_label="f on NumPy", group=f"Jacobian, {kind} f", size=(n, m),
        # Cells of microseconds get every round: there the noise of a shared
        # machine is largest against the time measured.
        max_rounds=J_MAX_ROUNDS if n * m > 1000 else None,
        targets=[("jacobian, dualgrad auto",
                  ("jacobian, dualgrad forward", "jacobian, dualgrad reverse"), J_TARGET)],
        rtol=1e-10, atol=1e-12, skipped=skipped, plan=plan, grid=True)


def jacobian_workloads(kind, quick=False):
    """Every cell of the grid for ``kind``, n outer, m inner."""
    for n in J_SIZES:
        for m in J_SIZES:
            if quick and n * m > J_QUICK_LIMIT:
                continue
            yield jacobian_workload(kind, n, m)


# ---------------------------------------------------------------------------
# Hessian-vector products by the functional API: workloads A and R

HVP_A_SIZES = (1000, 1000000)
HVP_R_SIZE = 1000
HVP_TARGET = 4.0                        # hvp / gradient, at most


def a_hvp_exact(x0, W, B, v, chunk=1 << 16):
    """H @ v of workload A by hand, forward over the hand-written backward pass:
    every element evolves on its own, so H is diagonal and H @ v = (d g_i / d x_i) v_i,
    carried as tangents dx, dt, dc of x_k, t_k and the factors c_k of the gradient."""
    hv = np.empty_like(x0)
    for s in range(0, len(x0), chunk):
        e = s + chunk
        x, dx, ts, dts = x0[s:e], np.ones_like(x0[s:e]), [], []
        for k in range(A_LAYERS):
            t = np.tanh(x * W[k, s:e] + B[k, s:e])
            dt = (1.0 - t ** 2) * W[k, s:e] * dx
            ts.append(t)
            dts.append(dt)
            x, dx = t * 0.5 + x, dt * 0.5 + dx
        g, dg_ = 2.0 * x, 2.0 * dx
        for k in reversed(range(A_LAYERS)):
            c = 1.0 + 0.5 * (1.0 - ts[k] ** 2) * W[k, s:e]
            dc = -ts[k] * dts[k] * W[k, s:e]
            g, dg_ = g * c, dg_ * c + g * dc
        hv[s:e] = dg_ * v[s:e]
    return hv


def hvp_a_workload(n, peers=True, max_rounds=None):
    """dg.grad and dg.hvp of workload A's loss, a NumPy function of x, and
    PyTorch's torch.func forward over reverse. The hvp is checked against
    a_hvp_exact (a central difference of the gradient is not enough: at n = 1000000
    some elements' third derivatives put its error above 1e-3 at any step)."""
    x0, W, B = a_data(n)
    v = np.random.default_rng(n + 1).standard_normal(n)

    def f(x):
        return a_function(x, np.tanh, W, B)

    grad = dg.grad(f)
    variants = {
        "f on NumPy": ("value", lambda: f(x0)),
        "gradient, dualgrad": ("gradient", lambda: grad(x0)),
        "hvp, dualgrad": ("hvp", lambda: dg.hvp(f, x0, v)),
    }
    plans = {"gradient": dg.plan(f, x0, kind="grad"), "hvp": dg.plan(f, x0, kind="hvp")}
    torch = _peer("torch") if peers else None
    variants["gradient, PyTorch torch.func"] = variants["hvp, PyTorch torch.func"] = None
    if torch is not None:
        Wt, Bt, xt, vt = (torch.from_numpy(a) for a in (W, B, x0, v))

        def f_torch(x):
            return a_function(x, torch.tanh, Wt, Bt)

        g_torch = torch.func.grad(f_torch)
        variants["gradient, PyTorch torch.func"] = ("gradient", lambda: g_torch(xt).numpy())
        variants["hvp, PyTorch torch.func"] = (
            "hvp", lambda: torch.func.jvp(g_torch, (xt,), (vt,))[1].numpy())

    return Workload(
        f"HVP A, n={n}", f"workload A's loss as a NumPy function of {n} float64s: "
        "gradient and Hessian-vector product", "f on NumPy", "hvp, dualgrad", variants,
        {"value": lambda: float(a_function(dg.tensor(x0), dg.tanh, W, B)),
         "gradient": lambda: a_gradient_exact(x0, W, B), "hvp": lambda: a_hvp_exact(x0, W, B, v)},
        baseline_label="f on NumPy", group="HVP A", size=n, max_rounds=max_rounds,
        targets=[("hvp, dualgrad", "gradient, dualgrad", HVP_TARGET)],
        plan=plans)


def hvp_r_workload(n=HVP_R_SIZE):
    """dg.grad and dg.hvp of workload R on an ndarray of n floats (f indexes it)."""
    x0 = r_point(n)
    v = np.random.default_rng(n + 1).standard_normal(n)
    grad = dg.grad(rosenbrock)
    variants = {
        "f on floats": ("value", lambda: rosenbrock(x0)),
        "gradient, dualgrad": ("gradient", lambda: grad(x0)),
        "hvp, dualgrad": ("hvp", lambda: dg.hvp(rosenbrock, x0, v)),
    }
    plans = {"gradient": dg.plan(rosenbrock, x0, kind="grad"),
             "hvp": dg.plan(rosenbrock, x0, kind="hvp")}
    return Workload(
        f"HVP R, n={n}", f"chained Rosenbrock on an ndarray of {n} floats: gradient and "
        "Hessian-vector product", "f on floats", "hvp, dualgrad", variants,
        {"value": float(rosenbrock(x0)), "gradient": r_gradient_exact(x0),
         "hvp": r_hvp_exact(x0, v)},
        size=n,
        targets=[("hvp, dualgrad", "gradient, dualgrad", HVP_TARGET)], plan=plans)


def hvp_workloads(quick=False):
    for n in HVP_A_SIZES:
        if quick and n > 1000:
            continue
        yield hvp_a_workload(n, max_rounds=5 if n >= 1000000 else None)
    yield hvp_r_workload()


def workloads(quick=False):
    """Every workload, in the order the tables print (quick: small sizes only)."""
    yield s_workload()
    for n in R_SIZES:
        if quick and n > 1000:
            continue
        yield r_workload(n)
    for n in A_SIZES:
        if quick and n > 1000:
            continue
        yield a_workload(n, max_rounds=5 if n >= 1000000 else None)
    yield tiny_op_workload()
    yield from jacobian_workloads("array", quick)
    yield from jacobian_workloads("loop", quick)
    yield from hvp_workloads(quick)
