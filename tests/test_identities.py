"""Calculus identities that forward mode must satisfy, checked with Hypothesis on 1 and 3 directions."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import dualgrad as dg
from dualgrad import Dual
from dualgrad._rules.table import BY_NAME, RULES

# Derandomized, so the examples are the same every run. The chain-rule tests
# reject the points outside a row's domain (assume), many for the narrow
# domains: that is expected, so neither that nor slowness fails a test.
SETTINGS = settings(deadline=None, derandomize=True, max_examples=150,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
UNARY = [r for r in RULES if r.arity == 1 and r.smooth]
BINARY = [r for r in RULES if r.arity == 2 and r.smooth and not getattr(r, "integer", ())]
directions = pytest.mark.parametrize("k", [1, 3])


def in_union(union, margin=0.02):
    """Floats inside a union of intervals, away from its ends."""
    return st.sampled_from(union).flatmap(
        lambda iv: st.floats(iv[0] + margin * (iv[1] - iv[0]), iv[1] - margin * (iv[1] - iv[0])))


def inside(rule, x, i=0):
    return any(lo < x < hi for lo, hi in rule.domain[i])


def unary_at_point():
    return st.sampled_from(UNARY).flatmap(lambda r: st.tuples(st.just(r), in_union(r.domain[0])))


def seeds(k):
    t = st.floats(-2.0, 2.0).filter(lambda v: abs(v) > 1e-3)
    return t if k == 1 else st.lists(t, min_size=k, max_size=k).map(np.array)


def seed_arg(t):
    return t.tolist() if isinstance(t, np.ndarray) else t


def fn(rule):
    return getattr(dg, rule.name)


def derivative(rule, x):
    return fn(rule)(Dual(x, 1.0)).tangent


def assert_close(got, want, scale, rtol=1e-12):
    # The absolute floor is one subnormal step: among subnormals (hypothesis
    # draws them) rtol * scale underflows below the spacing of the numbers.
    atol = np.max(rtol * np.abs(scale)) + 5e-324
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------
# Product, quotient and chain rules


@directions
def test_product_rule(k):
    @SETTINGS
    @given(unary_at_point(), st.sampled_from(UNARY), seeds(k))
    def check(fx, g, t):
        f, x = fx
        assume(inside(g, x))
        X = Dual(x, seed_arg(t))
        out = fn(f)(X) * fn(g)(X)
        fv, gv, df, dgv = fn(f)(x), fn(g)(x), derivative(f, x), derivative(g, x)
        assert out.value == fv * gv
        assert_close(out.tangent, (df * gv + fv * dgv) * t, (abs(df * gv) + abs(fv * dgv)) * t)

    check()


@directions
def test_quotient_rule(k):
    @SETTINGS
    @given(unary_at_point(), st.sampled_from(UNARY), seeds(k))
    def check(fx, g, t):
        f, x = fx
        assume(inside(g, x))
        gv = fn(g)(x)
        assume(abs(gv) > 1e-3)
        X = Dual(x, seed_arg(t))
        out = fn(f)(X) / fn(g)(X)
        fv, df, dgv = fn(f)(x), derivative(f, x), derivative(g, x)
        assert out.value == fv / gv
        want = (df * gv - fv * dgv) / (gv * gv)
        assert_close(out.tangent, want * t, (abs(df * gv) + abs(fv * dgv)) / (gv * gv) * t)

    check()


@directions
def test_chain_rule(k):
    @SETTINGS
    @given(unary_at_point(), st.sampled_from(UNARY), seeds(k))
    def check(gx, f, t):
        g, x = gx
        inner = fn(g)(x)
        assume(inside(f, inner))
        out = fn(f)(fn(g)(Dual(x, seed_arg(t))))
        assert out.value == fn(f)(inner)
        want = derivative(f, inner) * derivative(g, x)
        assert_close(out.tangent, want * t, want * t)

    check()


@directions
def test_binary_chain_rule(k):
    """A binary row of two unary rows: the total derivative is the sum over both paths."""

    @SETTINGS
    @given(st.sampled_from(BINARY), unary_at_point(), st.sampled_from(UNARY), seeds(k))
    def check(h, fx, g, t):
        f, x = fx
        assume(inside(g, x))
        u, v = fn(f)(x), fn(g)(x)
        assume(inside(h, u, 0) and inside(h, v, 1))
        X = Dual(x, seed_arg(t))
        out = fn(h)(fn(f)(X), fn(g)(X))
        hx = fn(h)(Dual(u, 1.0), v).tangent
        hy = fn(h)(u, Dual(v, 1.0)).tangent
        paths = np.array([hx * derivative(f, x), hy * derivative(g, x)])
        assert_close(out.tangent, paths.sum() * t, np.abs(paths).sum() * t)

    check()


# ---------------------------------------------------------------------------
# Inverse pairs: outer(inner(x)) == x, so the tangent comes back unchanged

INVERSE_PAIRS = [
    ("exp", "log", -4.0, 4.0),
    ("log", "exp", 0.05, 50.0),
    ("tan", "arctan", -1.3, 1.3),
    ("arctan", "tan", -10.0, 10.0),
    ("sinh", "arcsinh", -4.0, 4.0),
    ("arcsinh", "sinh", -20.0, 20.0),
    ("tanh", "arctanh", -3.0, 3.0),
    ("arctanh", "tanh", -0.95, 0.95),
    ("sin", "arcsin", -1.5, 1.5),
    ("arcsin", "sin", -0.95, 0.95),
    ("square", "sqrt", 0.01, 100.0),
    ("sqrt", "square", 0.01, 100.0),
    ("expm1", "log1p", -4.0, 4.0),
    ("log1p", "expm1", -0.9, 10.0),
    ("exp2", "log2", -10.0, 10.0),
    ("log2", "exp2", 0.01, 100.0),
    ("cosh", "arccosh", 0.5, 4.0),
    ("reciprocal", "reciprocal", 0.05, 20.0),
    ("negative", "negative", -10.0, 10.0),
    ("deg2rad", "rad2deg", -360.0, 360.0),
]


@directions
@pytest.mark.parametrize("inner, outer, lo, hi", INVERSE_PAIRS,
                         ids=[f"{o}({i})" for i, o, _, _ in INVERSE_PAIRS])
def test_inverse_pairs_return_the_seed(inner, outer, lo, hi, k):
    @SETTINGS
    @given(st.floats(lo, hi), seeds(k))
    def check(x, t):
        assume(abs(x) > 1e-3)
        out = getattr(dg, outer)(getattr(dg, inner)(Dual(x, seed_arg(t))))
        assert out.value == pytest.approx(x, rel=1e-12)
        assert_close(out.tangent, t, t)

    check()


@directions
def test_cbrt_cubed_returns_the_seed(k):
    @SETTINGS
    @given(st.floats(-100.0, 100.0).filter(lambda v: abs(v) > 1e-3), seeds(k))
    def check(x, t):
        c = dg.cbrt(Dual(x, seed_arg(t)))
        for out in (c * c * c, c ** 3):
            assert out.value == pytest.approx(x, rel=1e-14)
            assert_close(out.tangent, t, t)

    check()


# ---------------------------------------------------------------------------
# The tangent is linear in the seed


def row_at_point():
    def point(r):
        return st.tuples(st.just(r), st.tuples(*[in_union(u) for u in r.domain]))

    return st.sampled_from([r for r in RULES if r.smooth]).flatmap(point)


@SETTINGS
@given(row_at_point(), st.floats(-3.0, 3.0), st.floats(-3.0, 3.0),
       st.lists(st.floats(-2.0, 2.0), min_size=4, max_size=4))
def test_tangent_is_linear_in_the_seed(rp, a, b, ts):
    rule, point = rp
    point = [float(round(v)) if i in getattr(rule, "integer", ()) else v for i, v in enumerate(point)]
    # an order is a constant (along a Bessel function's order the derivative is nan)
    t1, t2 = [[0.0 if i in rule.integer else s for i, s in enumerate(t)]
              for t in (ts[: rule.arity], ts[2: 2 + rule.arity])]

    def run(seed):
        return fn(rule)(*[Dual(v, s) for v, s in zip(point, seed)]).tangent

    combined = run([a * u + b * w for u, w in zip(t1, t2)])
    parts = np.array([a * run(t1), b * run(t2)])
    # The combined seed a*u + b*w is rounded: that error, times each operand's
    # partial, is in the tangent however the two parts cancel.
    seeded = [sum(abs(a * u) + abs(b * w) for u, w in zip(t1, t2)) * abs(
        run([1.0 if j == i else 0.0 for j in range(rule.arity)]))
        for i in range(rule.arity) if i not in rule.integer]
    assert_close(combined, parts.sum(), np.abs(parts).sum() + sum(seeded) + 1e-300)
    many = fn(rule)(*[Dual(v, [u, w, a * u + b * w]) for v, u, w in zip(point, t1, t2)]).tangent
    assert many[0] == run(t1) and many[1] == run(t2)
    assert_close(many[2], a * many[0] + b * many[1],
                 abs(a * many[0]) + abs(b * many[1]) + sum(seeded) + 1e-300)


# ---------------------------------------------------------------------------
# Random straight-line programs against PyTorch


PROGRAM_UNARY = ["sin", "cos", "tanh", "arctan", "sigmoid", "exp", "log", "sqrt", "square",
                 "erf", "arcsinh"]
PROGRAM_BINARY = ["add", "subtract", "multiply", "divide", "hypot", "maximum"]
OPS = PROGRAM_UNARY + PROGRAM_BINARY


def torch_fn(torch, name):
    spec = BY_NAME[name].torch
    return getattr(torch, spec) if isinstance(spec, str) else (lambda *a: spec(torch, *a))


def run_program(program, inputs, apply):
    regs = list(inputs)
    for op, i, j in program:
        a, b = regs[i % len(regs)], regs[j % len(regs)]
        regs.append(apply(op, a, b))
    return regs


def guard(op, a, b, value):
    """Keep programs where every row is smooth: away from poles, branch cuts and ties."""
    if op in ("log", "sqrt"):
        return value(a) > 0.1
    if op == "divide":
        return abs(value(b)) > 0.1
    if op == "maximum":
        return abs(value(a) - value(b)) > 1e-3
    if op == "hypot":
        return abs(value(a)) + abs(value(b)) > 0.1
    return True


programs = st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 50), st.integers(0, 50)),
                    min_size=1, max_size=10)


@directions
def test_straight_line_programs_match_torch(k):
    torch = pytest.importorskip("torch")

    @SETTINGS
    @given(programs, st.lists(st.floats(0.2, 2.0), min_size=3, max_size=3), seeds(k))
    def check(program, x, t):
        def apply_float(op, a, b):
            assume(guard(op, a, b, lambda v: v))
            out = fn(BY_NAME[op])(a) if op in PROGRAM_UNARY else fn(BY_NAME[op])(a, b)
            assume(math.isfinite(out) and abs(out) < 1e6)
            return out

        run_program(program, x, apply_float)

        def apply_dual(op, a, b):
            return fn(BY_NAME[op])(a) if op in PROGRAM_UNARY else fn(BY_NAME[op])(a, b)

        if k == 1:
            direction = np.array([t, -0.5 * t, 0.25])
            duals = [Dual(v, float(d)) for v, d in zip(x, direction)]
        else:
            duals = [Dual(v, row.tolist()) for v, row in zip(x, np.eye(3))]
        out = run_program(program, duals, apply_dual)[-1]

        xs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in x]

        def apply_torch(op, a, b):
            return torch_fn(torch, op)(a) if op in PROGRAM_UNARY else torch_fn(torch, op)(a, b)

        y = run_program(program, xs, apply_torch)[-1]
        grads = torch.autograd.grad(y, xs, allow_unused=True)
        grad = np.array([0.0 if g is None else g.item() for g in grads])
        assert out.value == pytest.approx(y.item(), rel=1e-12, abs=1e-12)
        want = grad @ direction if k == 1 else grad
        assert_close(out.tangent, want, np.abs(grad).sum() + 1.0, rtol=1e-10)

    check()
