"""The benchmark workloads, each written once per library that runs it.

``python -m dualgrad bench`` and the asv suite (``asv_bench/``) both time these.
Every variant of a workload computes the same numbers; :func:`check` verifies
that before anything is timed.

Workload S (scalar forward mode)::

    f(x, y) = sum over i < 200 of sin(x*i)*exp(-y) + x*y/(1+i) + log(1+x*x)

timed on plain floats and as a gradient with respect to (x, y).
"""

import importlib
import math

import numpy as np

import dualgrad as dg

S_POINT = (0.3, 0.7)
S_TERMS = 200


def workload_s(sin, exp, log):
    """Workload S written against the given sin, exp and log."""

    def f(x, y):
        s = 0.0
        for i in range(S_TERMS):
            s = s + sin(x * i) * exp(-y) + x * y / (1 + i) + log(1 + x * x)
        return s

    return f


def s_gradient_exact(x, y):
    """The analytic gradient of workload S, for checking every variant."""
    i = np.arange(S_TERMS)
    dx = np.sum(i * np.cos(x * i) * np.exp(-y) + y / (1 + i) + 2 * x / (1 + x * x))
    dy = np.sum(-np.sin(x * i) * np.exp(-y) + x / (1 + i))
    return np.array([dx, dy])


def _peer(name):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def s_variants():
    """Workload S for every library installed: {name: (kind, callable)}.

    kind is "value" (f on floats) or "gradient" (returns (df/dx, df/dy)).
    Peers that are not installed map to None.
    """
    x0, y0 = S_POINT
    f_dg = workload_s(dg.math.sin, dg.math.exp, dg.math.log)
    f_math = workload_s(math.sin, math.exp, math.log)
    out = {
        "f on floats, dualgrad.math": ("value", lambda: f_dg(x0, y0)),
        "f on floats, math": ("value", lambda: f_math(x0, y0)),
        "gradient, dualgrad Dual (2 directions)":
            ("gradient", lambda: f_dg(dg.Dual(x0, [1.0, 0.0]), dg.Dual(y0, [0.0, 1.0])).tangent),
    }

    torch = _peer("torch")
    if torch is not None:
        f_torch = workload_s(torch.sin, torch.exp, torch.log)

        def torch_grad():
            x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
            y = torch.tensor(y0, dtype=torch.float64, requires_grad=True)
            f_torch(x, y).backward()
            return (x.grad.item(), y.grad.item())

        out["gradient, PyTorch eager"] = ("gradient", torch_grad)
    else:
        out["gradient, PyTorch eager"] = None

    autograd = _peer("autograd")
    if autograd is not None:
        anp = importlib.import_module("autograd.numpy")
        f_ag = workload_s(anp.sin, anp.exp, anp.log)
        g_ag = autograd.grad(lambda xy: f_ag(xy[0], xy[1]))
        xy0 = np.array(S_POINT)
        out["gradient, HIPS autograd"] = ("gradient", lambda: g_ag(xy0))
    else:
        out["gradient, HIPS autograd"] = None

    jax = _peer("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
        jnp = importlib.import_module("jax.numpy")
        f_jax = workload_s(jnp.sin, jnp.exp, jnp.log)
        g_jax = jax.grad(f_jax, argnums=(0, 1))
        out["gradient, JAX eager"] = ("gradient", lambda: [float(g) for g in g_jax(x0, y0)])
        g_jit = jax.jit(g_jax)
        out["gradient, JAX jit (compiled)"] = ("gradient",
                                               lambda: [float(g) for g in g_jit(x0, y0)])
    else:
        out["gradient, JAX eager"] = None
        out["gradient, JAX jit (compiled)"] = None
    return out


def check(variants, results):
    """Raise if any variant's result disagrees with the analytic answer."""
    x0, y0 = S_POINT
    exact_g = s_gradient_exact(x0, y0)
    exact_f = workload_s(math.sin, math.exp, math.log)(x0, y0)
    for name, got in results.items():
        kind = variants[name][0]
        got = np.asarray(got, dtype=np.float64)
        want = exact_g if kind == "gradient" else exact_f
        if not np.allclose(got, want, rtol=1e-9, atol=1e-9):
            raise AssertionError(f"workload S, {name}: got {got}, expected {want}")
