"""The benchmark workloads, each written once per library that runs it.

``python -m dualgrad bench`` and the asv suite (``asv_bench/``) both time these.
Every variant of a workload computes the same numbers; :meth:`Workload.check`
verifies that against the analytic answer before anything is timed.

Workload S (scalar forward mode), timed on floats and as a gradient in (x, y)::

    f(x, y) = sum over i < 200 of sin(x*i)*exp(-y) + x*y/(1+i) + log(1+x*x)

Workload R (scalar reverse mode), the chained Rosenbrock function of a Python
list of n floats, timed on floats, as a gradient and as a Hessian-vector product::

    f(x) = sum over i < n-1 of 100*(x[i+1] - x[i]**2)**2 + (1 - x[i])**2
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


@dataclass
class Workload:
    name: str
    description: str
    baseline: str                       # the variant others are divided by (plain floats)
    reference: str                      # dualgrad's gradient, the one peers are compared with
    variants: dict                      # name -> (kind, callable), or None when not installed
    expected: dict = field(default_factory=dict)   # kind -> the analytic answer

    def check(self, results):
        """Raise if any variant's result disagrees with the analytic answer."""
        for name, got in results.items():
            kind = self.variants[name][0]
            want = self.expected[kind]
            if not np.allclose(np.asarray(got, dtype=np.float64), want, rtol=1e-9, atol=1e-9):
                raise AssertionError(f"workload {self.name}, {name}: got {got}, expected {want}")


def _peer(name):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


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


def s_workload():
    x0, y0 = S_POINT
    f_dg = workload_s(dg.math.sin, dg.math.exp, dg.math.log)
    f_math = workload_s(math.sin, math.exp, math.log)
    v = {
        "f on floats, dualgrad.math": ("value", lambda: f_dg(x0, y0)),
        "f on floats, math": ("value", lambda: f_math(x0, y0)),
        "gradient, dualgrad Dual (2 directions)":
            ("gradient", lambda: f_dg(dg.Dual(x0, [1.0, 0.0]), dg.Dual(y0, [0.0, 1.0])).tangent),
    }
    torch = _peer("torch")
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
    if _peer("autograd") is not None:
        anp = importlib.import_module("autograd.numpy")
        f_ag = workload_s(anp.sin, anp.exp, anp.log)
        g_ag = importlib.import_module("autograd").grad(lambda xy: f_ag(xy[0], xy[1]))
        xy0 = np.array(S_POINT)
        v["gradient, HIPS autograd"] = ("gradient", lambda: g_ag(xy0))
    jax = _peer("jax")
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
         "replay": replay_grads[0], "replay hvp": r_hvp_exact(points[1], v)})


def workloads(quick=False):
    """Every workload, in the order the tables print (quick: small sizes only)."""
    yield s_workload()
    for n in R_SIZES:
        if quick and n > 1000:
            continue
        yield r_workload(n)
