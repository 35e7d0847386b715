"""Random straight-line scalar programs on a tape: gradients and Hessian-vector products
against PyTorch, and replay at a nearby point against a fresh recording (Hypothesis)."""

import operator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dualgrad as dg
from dualgrad._rules.table import BY_NAME

torch = pytest.importorskip("torch")

SETTINGS = settings(deadline=None, derandomize=True, max_examples=60)

BINARY = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
# A handful of smooth rows, applied only where the operand lies inside the row's domain.
UNARY = ["sin", "cos", "tanh", "exp", "log", "sqrt", "arctan", "sigmoid", "log1p", "arcsinh"]
TORCH_NAMES = {"arctan": "atan", "arcsinh": "asinh"}
LIMIT = 1e3                 # results stay below this magnitude: no overflow, no cancellation


def inside(name, v):
    """v lies inside the row's sampling domain, 1% away from its ends."""
    return any(lo + 0.01 * (hi - lo) < v < hi - 0.01 * (hi - lo)
               for lo, hi in BY_NAME[name].domain[0])


def step(op, args, ns):
    if op in BINARY:
        return BINARY[op](*args)
    return getattr(ns, op)(*args)


def run(program, xs, ns):
    """Run a program over inputs xs with the unary functions of namespace ns."""
    registers = list(xs)
    for op, *operands in program:
        registers.append(step(op, [registers[k] for k in operands], ns))
    return registers[-1]


@st.composite
def programs(draw):
    """(program, x): 1-4 inputs in [-2, 2] and 5-30 operations whose every intermediate
    value is finite, below LIMIT and inside the domain of the row applied to it."""
    n = draw(st.integers(1, 4))
    x = draw(st.lists(st.floats(-2.0, 2.0), min_size=n, max_size=n))
    values, program = list(x), []
    for _ in range(draw(st.integers(5, 30))):
        i = draw(st.integers(0, len(values) - 1))
        j = draw(st.integers(0, len(values) - 1))
        u, v = values[i], values[j]
        candidates = [(name, i) for name in UNARY if inside(name, u)]
        candidates += [(op, i, j) for op in BINARY
                       if not (op == "/" and abs(v) < 0.1) and abs(BINARY[op](u, v)) < LIMIT]
        instruction = draw(st.sampled_from(candidates))
        values.append(step(instruction[0], [values[k] for k in instruction[1:]], dg))
        program.append(instruction)
    return program, x


def torch_namespace():
    return type("TorchNamespace", (), {n: staticmethod(getattr(torch, TORCH_NAMES.get(n, n)))
                                       for n in UNARY})


def recorded(program, x):
    with dg.Tape() as tape:
        xs = tape.var(list(x))
        y = run(program, xs, dg)
    assert isinstance(y, dg.Var) and len(tape) == len(x) + len(program)
    return tape, xs, y


def torch_function(program):
    ns = torch_namespace()
    return lambda t: run(program, list(t), ns)


def assert_close(got, want, rtol=1e-10):
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


@SETTINGS
@given(programs())
def test_gradient_matches_torch(case):
    program, x = case
    tape, xs, y = recorded(program, x)
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    out = torch_function(program)(t)
    (grad,) = torch.autograd.grad(out, t, allow_unused=True)
    assert_close(y.value, out.item())
    assert_close(tape.gradient(y, xs), np.zeros(len(x)) if grad is None else grad.numpy())


@SETTINGS
@given(programs(), st.lists(st.floats(-1e-3, 1e-3), min_size=4, max_size=4))
def test_replay_at_a_nearby_point_equals_a_fresh_recording(case, shift):
    program, x = case
    rec = dg.record(lambda xs: run(program, xs, dg), x)
    nearby = [a + d for a, d in zip(x, shift)]
    tape, xs, y = recorded(program, nearby)
    np.testing.assert_array_equal(rec(nearby), y.value)
    np.testing.assert_array_equal(rec.gradient(nearby), tape.gradient(y, xs))
    v = np.ones(len(x))
    np.testing.assert_array_equal(rec.hvp(nearby, v), tape.hvp(y, xs, v))
    # And back at the recording point.
    tape, xs, y = recorded(program, x)
    np.testing.assert_array_equal(rec.gradient(x), tape.gradient(y, xs))


@SETTINGS
@given(programs(), st.lists(st.floats(-1.0, 1.0), min_size=4, max_size=4))
def test_hvp_matches_torch(case, v):
    program, x = case
    v = np.array(v[:len(x)])
    tape, xs, y = recorded(program, x)
    t = torch.tensor(x, dtype=torch.float64)
    _, want = torch.autograd.functional.hvp(torch_function(program), t,
                                            torch.tensor(v, dtype=torch.float64))
    h = tape.hessian(y, xs)
    assert_close(tape.hvp(y, xs, v), want.numpy())
    np.testing.assert_allclose(h, h.T, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(h).max()))
