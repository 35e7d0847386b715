"""The NaN-safe chain rule (strong zero), in every tier.

A zero tangent or a zero adjoint contributes exactly zero to the chain rule,
whatever the local partial is (inf or nan): a value the output does not use,
or a direction that does not move an input, cannot poison a derivative. A nan
tangent or adjoint still propagates, and values are never changed.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import dualgrad as dg
from dualgrad._rules.table import RULES

COS1 = math.cos(1.0)
MODES = ("forward", "reverse")


# ---------------------------------------------------------------------------
# A recorded value the output does not use

def _branchy(x):
    a = dg.sqrt(x)
    return a if x > 0 else -x


def test_tape_unused_value_does_not_poison_gradient():
    with dg.Tape() as t:
        x = t.var(-4.0)
        y = _branchy(x)
    assert t.gradient(y, x) == -1.0


def test_record_unused_value_does_not_poison_gradient():
    rec = dg.record(lambda x: _branchy(x[0]), [-4.0])
    assert rec.gradient([-4.0]).tolist() == [-1.0]
    assert rec.gradient([-9.0]).tolist() == [-1.0]   # and on replay


@pytest.mark.parametrize("mode", ("reverse", "forward", "auto"))
def test_jacobian_unused_value(mode):
    jac = dg.jacobian(lambda v: [_branchy(v[0])], mode=mode)([-4.0])
    assert np.asarray(jac).ravel().tolist() == [-1.0]


def test_logs_used_only_where_positive():
    def f(v):
        logs = [dg.log(t) for t in v]
        return sum(lg for lg, t in zip(logs, v) if t > 0)

    for mode in ("reverse", "forward"):
        g = dg.jacobian(lambda v: [f(v)], mode=mode)(np.array([2.0, -1.0, 0.0, 4.0]))
        assert np.asarray(g).ravel().tolist() == [0.5, 0.0, 0.0, 0.25]
    with dg.Tape() as t:
        xs = [t.var(v) for v in (2.0, -1.0, 0.0)]
        y = f(xs)
    assert t.gradient(y, xs).tolist() == [0.5, 0.0, 0.0]


# ---------------------------------------------------------------------------
# A nan in one input does not spread to the derivatives of the others

def _sum_sin(a):
    return np.sum(np.sin(a))


def _check_nan_then_cos1(g):
    g = np.asarray(g, dtype=float).ravel()
    assert np.isnan(g[0]) and g[1] == COS1, g


def test_grad_nan_input():
    _check_nan_then_cos1(dg.grad(_sum_sin)(np.array([np.nan, 1.0])))


@pytest.mark.parametrize("mode", MODES + ("auto",))
def test_jacobian_nan_input(mode):
    _check_nan_then_cos1(dg.jacobian(lambda a: [_sum_sin(a)], mode=mode)(np.array([np.nan, 1.0])))


@pytest.mark.parametrize("transform", (dg.jacfwd, dg.jacrev))
def test_jacfwd_jacrev_nan_input(transform):
    _check_nan_then_cos1(transform(_sum_sin)(np.array([np.nan, 1.0])))


def test_nan_input_scalar_tier():
    d = dg.sin(dg.Dual(np.nan, [1.0, 0.0]))
    t = d.tangent
    assert np.isnan(t[0]) and t[1] == 0.0
    z = dg.Dual(1.0, [0.0, 1.0])
    _check_nan_then_cos1((d + dg.sin(z)).tangent)
    with dg.Tape() as tape:
        xs = [tape.var(np.nan), tape.var(1.0)]
        y = dg.sin(xs[0]) + dg.sin(xs[1])
    _check_nan_then_cos1(tape.gradient(y, xs))


def test_nan_input_array_tier():
    x = dg.DualArray(np.array([np.nan, 1.0]), np.eye(2))
    _check_nan_then_cos1(np.sum(np.sin(x)).tangent)
    # the NumPy-expression fallback (a broadcast operand, no fused loop)
    x = dg.DualArray(np.array([[np.nan], [1.0]]), np.eye(2).reshape(2, 2, 1))
    _check_nan_then_cos1(np.sum(np.sin(x) * np.ones(3)).tangent / 3)
    t = dg.tensor([np.nan, 1.0], requires_grad=True)
    dg.sin(t).sum().backward()
    _check_nan_then_cos1(t.grad.numpy())


# ---------------------------------------------------------------------------
# x ** y at a negative base with an integer exponent

def _pow01(v):
    return v[0] ** v[1]


@pytest.mark.parametrize("mode", MODES + ("auto",))
def test_negative_base_power(mode):
    jac = np.asarray(dg.jacobian(lambda v: [_pow01(v)], mode=mode)(np.array([-2.0, 2.0])))
    assert jac.ravel()[0] == -4.0


def test_negative_base_power_grad_every_tier():
    assert dg.grad(_pow01)(np.array([-2.0, 2.0]))[0] == -4.0
    d = dg.Dual(-2.0, [1.0, 0.0]) ** dg.Dual(2.0, [0.0, 1.0])
    assert d.tangent[0] == -4.0 and np.isnan(d.tangent[1])
    x = dg.DualArray(np.array([-2.0]), np.array([[1.0]]))
    assert (x ** np.array([2.0])).tangent.tolist() == [[-4.0]]
    x = dg.DualArray(np.array([-2.0, 2.0]), np.eye(2))
    with np.errstate(invalid="ignore"):      # log(-2) in the exponent's partial
        assert (x[0] ** x[1]).tangent[0] == -4.0
    t = dg.tensor([-2.0, 2.0], requires_grad=True)
    (t[0] ** t[1]).backward()
    assert t.grad[0].item() == -4.0


# ---------------------------------------------------------------------------
# where: the branch not taken contributes nothing

def _where_sqrt(x):
    return np.sum(np.where(x > 0, np.sqrt(x), 0.0))


def test_where_sqrt_grad():
    x = np.array([-1.0, 0.0, 4.0])
    with np.errstate(invalid="ignore", divide="ignore"):
        for mode in MODES:
            g = dg.jacobian(lambda a: [_where_sqrt(a)], mode=mode)(x)
            assert np.asarray(g).ravel().tolist() == [0.0, 0.0, 0.25]
        assert dg.grad(_where_sqrt)(x).tolist() == [0.0, 0.0, 0.25]


def test_where_sqrt_tensor():
    t = dg.tensor([-1.0, 0.0, 4.0], requires_grad=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        dg.where(t > 0, dg.sqrt(t), 0.0).sum().backward()
    assert t.grad.tolist() == [0.0, 0.0, 0.25]


def test_where_sqrt_tensor_create_graph():
    t = dg.tensor([-1.0, 0.0, 4.0], requires_grad=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = dg.where(t > 0, dg.sqrt(t), 0.0).sum()
        (g,) = dg.autograd.grad(y, t, create_graph=True)
        assert g.tolist() == [0.0, 0.0, 0.25]
        (h,) = dg.autograd.grad(g.sum(), t)
    assert h.tolist() == [0.0, 0.0, -0.25 / 8]


def test_where_sqrt_broadcast_fallback():
    # a (3, 1) operand against (1, 2): the NumPy-expression rules, not the fused loops
    t = dg.tensor([[-1.0], [0.0], [4.0]], requires_grad=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        (dg.where(t > 0, dg.sqrt(t), 0.0) * dg.tensor([[1.0, 1.0]])).sum().backward()
        (dg.where(t > 0, t ** 0.5, 0.0) * dg.tensor([[1.0, 1.0]])).sum().backward()
    assert t.grad.numpy().ravel().tolist() == [0.0, 0.0, 1.0]


# ---------------------------------------------------------------------------
# Second order: forward over reverse and reverse over forward

@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # log(0) in partials not used
def test_reverse_over_forward_power_zero_base():
    f = lambda y: np.power(0.0, y)
    inner = lambda y: dg.jvp(f, (y,), (np.ones_like(y),))[1]
    y = np.array([0.14])
    assert dg.jacrev(inner)(y).ravel().tolist() == [0.0]
    assert np.asarray(dg.jacrev(dg.jacfwd(f))(y)).ravel().tolist() == [0.0]
    assert np.asarray(dg.jacfwd(dg.jacrev(f))(y)).ravel().tolist() == [0.0]
    assert np.asarray(dg.hessian(lambda y: np.sum(f(y)))(y)).ravel().tolist() == [0.0]


def test_hessian_unused_sqrt():
    f = lambda v: np.sum(np.where(v > 0, np.sqrt(v), v * v))
    with np.errstate(invalid="ignore", divide="ignore"):
        h = np.asarray(dg.hessian(f)(np.array([-1.0, 4.0])))
    assert h.tolist() == [[2.0, 0.0], [0.0, -0.25 / 8 * 2 / 2]]


def test_hvp_tape_unused_value():
    with dg.Tape() as t:
        x = t.var(-4.0)
        y = _branchy(x) * x
    assert t.hvp(y, [x], [1.0]).tolist() == [-2.0]


def test_hessian_zero_adjoint_value_with_tangent():
    # the adjoint of sin's output is sin(x), 0 at x = 0, while its tangent is not:
    # the strong zero must not drop that tangent (d2/dx2 sin(x)^2/2 = 1 at 0)
    f = lambda v: np.sum(np.sin(v) ** 2) / 2
    h = np.asarray(dg.hessian(f)(np.array([0.0])))
    assert h.ravel().tolist() == [1.0]
    t = dg.tensor([0.0], requires_grad=True)
    (g,) = dg.autograd.grad((dg.sin(t) ** 2).sum() / 2, t, create_graph=True)
    (h,) = dg.autograd.grad(g.sum(), t)
    assert h.tolist() == [1.0]


def _neg_square(x):
    return np.sum((-x) ** 2) * 0.5


@pytest.mark.parametrize("tier", ("scalar", "array"))
def test_constant_partial_beside_a_nan_adjoint(tier, forced_plan):
    """s = sum((-x)**2) / 2 at x = [nan, -0.92]: the Hessian is the identity, as
    PyTorch's (the partial of -x is -1 whatever x). The second-order term (the
    partial's tangent, 0, times the adjoint, nan at x0) is exactly 0: dg_chain_both."""
    forced_plan.update(tier=tier, mode="forward-over-reverse")
    h = dg.hessian(_neg_square)(np.array([np.nan, -0.92]))
    assert np.asarray(h).tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_constant_partial_beside_a_nan_adjoint_reverse_outer():
    x = np.array([np.nan, -0.92])
    assert np.asarray(dg.jacrev(dg.jacfwd(_neg_square))(x)).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    t = dg.tensor(x, requires_grad=True)
    (g,) = dg.autograd.grad(_neg_square(t), t, create_graph=True)
    rows = [dg.autograd.grad(g[j], t, retain_graph=True)[0].numpy().tolist() for j in range(2)]
    assert rows == [[1.0, 0.0], [0.0, 1.0]]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_tensor_backward_loops_by_pairs(n):
    """The backward loops take elements by pairs (dg_chain_pair), the last odd
    one alone: every lane keeps the strong zero, and a nan adjoint."""
    x = np.where(np.arange(n) % 2 == 0, 0.0, 4.0)          # sqrt'(0) = inf
    g = np.where(np.arange(n) % 2 == 0, 0.0, 1.0)
    g[n // 2] = np.nan if n > 2 else g[n // 2]
    t = dg.tensor(x, requires_grad=True)
    dg.sqrt(t).backward(dg.tensor(g))
    s = dg.tensor(x, requires_grad=True)
    (s * dg.tensor(1 / np.sqrt(x))).backward(dg.tensor(g))  # the binary loop: dx = y = inf
    want = np.where(g == 0, 0.0, g * 0.25)
    want_mul = np.where(g == 0, 0.0, g * 0.5)
    np.testing.assert_array_equal(t.grad.numpy(), want)
    np.testing.assert_array_equal(s.grad.numpy(), want_mul)


def test_chain_both():
    from dualgrad._array.dualarray import chain_both
    a = np.array([0.0, 0.0, 2.0, np.nan, 3.0])
    b = np.array([np.nan, np.inf, 0.0, 1.0, 2.0])
    out = chain_both(a, b)
    assert out[:3].tolist() == [0.0, 0.0, 0.0] and math.isnan(out[3]) and out[4] == 6.0


# ---------------------------------------------------------------------------
# nan still propagates; values are untouched

def test_nan_tangent_and_adjoint_propagate():
    assert math.isnan((dg.Dual(1.0, np.nan) * 0.0).tangent)
    assert math.isnan(dg.sin(dg.Dual(0.0, np.nan)).tangent)
    with dg.Tape() as t:
        x = t.var(1.0)
        y = dg.sin(x)
    assert math.isnan(t.vjp([y], [x], [np.nan])[0])
    x = dg.DualArray(np.array([1.0, 2.0]), np.array([[np.nan, 0.0]]))
    assert np.isnan(np.sin(x).tangent[0, 0]) and np.sin(x).tangent[0, 1] == 0.0
    t = dg.tensor([1.0, 2.0], requires_grad=True)
    dg.sin(t).backward(dg.tensor([np.nan, 0.0]))
    assert np.isnan(t.grad[0].item()) and t.grad[1].item() == 0.0


def test_values_untouched():
    assert math.isnan((dg.Dual(0.0) * np.inf).value)
    with np.errstate(invalid="ignore"):
        x = dg.DualArray(np.array([0.0, -1.0]), np.zeros((1, 2)))
        v = (x * np.inf).value
        assert np.isnan(v[0]) and np.isnan(np.sqrt(x).value[1])
        t = dg.tensor([0.0], requires_grad=True)
        assert np.isnan((t * np.inf).item())


def test_zero_times_inf_partial_is_zero():
    # 0 * inf in a product's own value stays nan, its derivative in the
    # direction that does not move is 0
    d = dg.Dual(np.inf, [1.0, 0.0]) * dg.Dual(2.0, [0.0, 0.0])
    assert d.tangent.tolist() == [2.0, 0.0]
    assert dg.sqrt(dg.Dual(0.0, [1.0, 0.0])).tangent.tolist() == [np.inf, 0.0]


# ---------------------------------------------------------------------------
# Every row, every tier: a zero seed gives an exactly zero tangent

def _special():
    return st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, np.inf, -np.inf, np.nan,
                            1e308, -1e-310])


def _primal():
    return st.one_of(_special(), st.floats(allow_nan=True, allow_infinity=True))


@settings(max_examples=25, deadline=None)
@given(x=_primal(), y=_primal())
def test_zero_seed_gives_zero_tangent_every_row(x, y):
    with np.errstate(all="ignore"):
        for r in RULES:
            if r.name == "polygamma":
                args = (2.0, y)
            else:
                args = (x, y)[: r.arity]
            fn = getattr(dg, r.name)
            # scalar forward: one moving direction of nan, one of zero
            ds = [dg.Dual(a, [np.nan, 0.0]) for a in args]
            out = fn(*ds)
            assert out.tangent[1] == 0.0, (r.name, args)
            # a zero tangent on one operand only
            if r.arity == 2:
                out = fn(dg.Dual(args[0], 0.0), args[1])
                assert out.tangent == 0.0, (r.name, args)
            # tape: an adjoint of 0 gives zero gradients
            with dg.Tape() as t:
                vs = [t.var(a) for a in args]
                y_ = fn(*vs)
                unused = y_ * 0.0 + 1.0
            if isinstance(y_, dg.Var):
                assert t.vjp([y_], vs, [0.0]).tolist() == [0.0] * r.arity, (r.name, args)
                hv = t.hvp(unused, vs, [1.0] * r.arity)
                assert hv.tolist() == [0.0] * r.arity, (r.name, args, hv)
            # array tier: fused loop and fallback, forward and reverse
            vals = [np.array([a, a]) for a in args]
            das = [dg.DualArray(v, np.zeros((2, 2))) for v in vals]
            assert not np.asarray(fn(*das).tangent).any(), (r.name, args)
            das = [dg.DualArray(v.reshape(2, 1), np.zeros((1, 2, 1))) for v in vals]
            assert not np.asarray(fn(*das).tangent).any(), (r.name, args)
            ts = [dg.tensor(v, requires_grad=True) for v in vals]
            out = fn(*ts)
            if out.requires_grad:
                gs = dg.autograd.grad(out, ts, grad_outputs=dg.tensor([0.0, 0.0]),
                                      allow_unused=True, retain_graph=True)
                for g in gs:
                    assert g is None or not np.asarray(g.numpy()).any(), (r.name, args)
                gs = dg.autograd.grad(out, ts, grad_outputs=dg.tensor([0.0, 0.0]),
                                      allow_unused=True, create_graph=True)
                for g in gs:
                    assert g is None or not np.asarray(g.detach().numpy()).any(), (r.name, args)


def test_math_hypot_zero_tangent_at_origin():
    import dualgrad.math as dm
    r = dm.hypot(dg.Dual(0.0, [1.0, 0.0]), 0.0, dg.Dual(0.0, [0.0, 0.0]))
    assert r.tangent[1] == 0.0


def test_jacrev_batched_cotangents_through_scalar_products():
    # jacrev seeds a DualArray of zeros whose tangents are identity rows: the
    # chain rule products of 0-d values must stay DualArrays of arrays
    m = np.array([[2.0, 0.3, -0.4], [0.3, 1.5, 0.2], [-0.4, 0.2, 1.2]])
    f = lambda x: np.linalg.norm(x) * np.sum(m @ x)
    v = np.array([0.3, -1.2, 0.8])
    np.testing.assert_allclose(dg.jacrev(f)(v), dg.jacfwd(f)(v), rtol=1e-14)
    np.testing.assert_allclose(dg.jacrev(lambda x: np.linalg.norm(x) * 2.0)(v), 2 * v / np.linalg.norm(v),
                               rtol=1e-14)
