"""Shared helpers: points drawn from the sampling domains of the derivative table,
the references (Dual partials, central differences, PyTorch) the rows are checked against,
and the devices the GPU tests run on."""

import shutil
import zlib

import numpy as np
import pytest

import dualgrad as dg
from dualgrad.gpu import loader
from dualgrad.testing import sample_rule, sample_union  # noqa: F401  (for the tests)
from gpu import emulated_cupy       # tests/gpu: the CuPy emulator


def integer_operands(rule):
    """Indices of a rule's integer parameters (e.g. the order of polygamma)."""
    return tuple(getattr(rule, "integer", ()))


def rng_for(rule, salt):
    """A random generator reproducible per rule name and salt."""
    return np.random.default_rng([zlib.crc32(rule.name.encode()), salt])


def continuous_operands(rule):
    """Indices of the operands that are differentiated."""
    return [i for i in range(rule.arity) if i not in integer_operands(rule)]


@pytest.fixture
def rule_points():
    """``rule_points(rule, n=20, seed=0)``: points of a rule's domain, as tuples of floats."""

    def points(rule, n=20, seed=0):
        return [tuple(float(v) for v in row) for row in sample_rule(rule, n, seed)]

    return points


# ---------------------------------------------------------------------------
# References for the derivatives of a row


def dual_partials(rule, point):
    """dg's forward-mode partial derivatives of a row at a point, one Dual operand at a
    time (the others floats)."""
    f = getattr(dg, rule.name)
    return [f(*[dg.Dual(v, 1.0) if j == i else v for j, v in enumerate(point)]).tangent
            for i in range(rule.arity)]


def five_point(f, x, h):
    """The five-point central difference of f at x with step h (error O(h**4))."""
    return (-f(x + 2 * h) + 8 * f(x + h) - 8 * f(x - h) + f(x - 2 * h)) / (12 * h)


def has_object_loop(ufunc):
    """Whether NumPy can run ``ufunc`` on object arrays (it cannot for logaddexp,
    copysign or float_power)."""
    return any(t.split("->")[0] == "O" * ufunc.nin for t in ufunc.types)


# PyTorch's trigamma (torch.polygamma(1, x): the derivative of digamma, and a value of
# polygamma) is accurate to about 1e-10 only: torch.polygamma(1, 0.1) is
# 101.43329914989455, the exact value 101.43329915079275.
# beta and betaln are references through torch.lgamma, whose second derivative is trigamma.
# torch.sinc's derivative, (cos(pi x) - sinc x) / x, cancels near 0 (1e-13 at x = 0.016).
TORCH_RTOL = {"digamma": 1e-9, "polygamma": 1e-9, "beta": 1e-9, "betaln": 1e-9, "sinc": 1e-11}


def torch_function(torch, rule):
    """The row's PyTorch reference as a function of tensors (``rule.torch`` is the name of
    a torch function or a callable ``(torch, *tensors)``)."""
    if isinstance(rule.torch, str):
        return getattr(torch, rule.torch)

    def f(*args):
        return rule.torch(torch, *args)

    return f


def torch_value_and_grads(torch, rule, point):
    """The row's value and partials at a point by PyTorch float64 autograd."""
    xs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in point]
    out = torch_function(torch, rule)(*xs)
    grads = torch.autograd.grad(out, xs, allow_unused=True)
    return out.item(), [0.0 if g is None else g.item() for g in grads]


# ---------------------------------------------------------------------------
# The devices of the GPU tests (tests/gpu): each test runs twice, on a CUDA GPU
# with CuPy (skipped, saying why, where there is none) and on the CuPy
# emulator (tests/gpu/emulated_cupy.py), which runs the same kernel sources
# compiled by g++ on the CPU, so that the GPU code path runs on every machine.

def _real_cupy():
    try:
        import cupy
    except ImportError:
        pytest.skip("no CUDA GPU here: CuPy is not installed (pip install 'dualgrad[gpu]')")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:      # no driver: CuPy raises its runtime's error
        pytest.skip(f"no CUDA GPU here: CuPy cannot reach a device ({e})")
    if count == 0:
        pytest.skip("no CUDA GPU here: CuPy sees no device")
    return cupy


@pytest.fixture(params=["cuda", "emulated"])
def cp(request):
    """The array module of the device under test, installed as dualgrad's CuPy."""
    if request.param == "cuda":
        module = _real_cupy()
    else:
        if shutil.which("g++") is None:
            pytest.skip("the CuPy emulator compiles the kernels with g++, which is not installed")
        module = emulated_cupy
    old = dg.gpu._cupy
    dg.gpu._cupy = module
    loader.clear()
    yield module
    dg.gpu._cupy = old
    loader.clear()


@pytest.fixture
def forced_plan(monkeypatch):
    """``forced_plan.update(tier=..., mode=...)``: the transforms called next run
    on that tier in that mode, whatever the planner would choose."""
    from dualgrad import functional
    real = functional._planner.choose
    chosen = {}

    def forced(*args, **kwargs):
        plan = real(*args, **kwargs)
        plan.tier, plan.mode = chosen["tier"], chosen["mode"]
        return plan
    monkeypatch.setattr(functional._planner, "choose", forced)
    functional._planner._cache.clear()
    yield chosen
    functional._planner._cache.clear()
