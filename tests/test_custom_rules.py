"""custom_jvp and custom_vjp: the rule replaces the function's own derivatives
on every tier and mode, nested transforms differentiate the rule, and the
semantics are JAX's (checked by hand where JAX is not at hand)."""

import numpy as np
import pytest

import dualgrad as dg
from dualgrad import functional


# ---------------------------------------------------------------------------
# The functions

@dg.custom_jvp
def log1pexp(x):
    """log(1 + e^x); its own derivative is inf / inf for large x."""
    return np.log1p(np.exp(x))


@log1pexp.defjvp
def _log1pexp_jvp(primals, tangents):
    x, = primals
    t, = tangents
    # sigmoid(x) without overflow: 1 - 1 / (1 + e^x) stays finite.
    return log1pexp(x), t * (1 - 1 / (1 + np.exp(x)))


@dg.custom_jvp
def softmax(x):
    e = np.exp(x - np.max(x))
    return e / np.sum(e)


@softmax.defjvp
def _softmax_jvp(primals, tangents):
    x, = primals
    t, = tangents
    y = softmax(x)
    return y, y * (t - np.sum(y * t))


@dg.custom_jvp
def round_through(x):
    """round, with the straight-through rule: a derivative of 1 where autodiff gives 0."""
    return np.round(x)


@round_through.defjvp
def _round_through_jvp(primals, tangents):
    return round_through(primals[0]), tangents[0]


@dg.custom_vjp
def sin_vjp(x):
    return np.sin(x)


def _sin_fwd(x):
    return sin_vjp(x), np.cos(x)


def _sin_bwd(cos_x, g):
    return (cos_x * g,)


sin_vjp.defvjp(_sin_fwd, _sin_bwd)


@dg.custom_vjp
def clip_gradient(x, lo, hi):
    return x


def _clip_fwd(x, lo, hi):
    return x, (lo, hi)


def _clip_bwd(res, g):
    lo, hi = res
    return (np.clip(g, lo, hi), None, None)


clip_gradient.defvjp(_clip_fwd, _clip_bwd)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def central(f, x, h=1e-6):
    """The Jacobian of f at x (an array) by central differences: out_shape + in_shape."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(f(x))
    jac = np.zeros(y.shape + x.shape)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        jac[(...,) + i] = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h)
    return jac


X = np.array([0.3, -1.2, 2.0])


# ---------------------------------------------------------------------------
# Plain values: the function just runs

def test_plain_values_run_the_function_only():
    calls = []

    @dg.custom_jvp
    def f(x):
        return 2 * x

    @f.defjvp
    def f_jvp(p, t):
        calls.append(1)
        return f(p[0]), 2 * t[0]

    assert f(3.0) == 6.0
    np.testing.assert_array_equal(f(np.ones(2)), [2.0, 2.0])
    assert calls == []
    assert dg.grad(f)(3.0) == 2.0 and calls


def test_stable_rule_where_autodiff_overflows():
    assert dg.grad(log1pexp)(1000.0) == 1.0
    assert dg.jvp(log1pexp, (1000.0,), (1.0,))[1] == 1.0
    # The second derivative is autodiff of the rule (as in JAX): finite where it is.
    assert dg.grad(dg.grad(log1pexp))(30.0) == pytest.approx(sigmoid(30) * sigmoid(-30))


# ---------------------------------------------------------------------------
# Every tier and mode, forced

TIER_TYPES = {("scalar", "forward"): dg.Dual, ("scalar", "reverse"): dg.Var,
              ("array", "forward"): dg.DualArray, ("array", "reverse"): dg.Tensor}
TIERS_AND_MODES = list(TIER_TYPES)


def forced(forced_plan, tier, mode):
    forced_plan.update(tier=tier, mode=mode)
    functional._planner._cache.clear()


def seen_by(seen):
    def kind(x):
        return type(x.flat[0]) if isinstance(x, np.ndarray) and x.dtype == object else type(x)

    def wrap(f):
        def g(x):
            seen.append(kind(x))
            return f(x)
        return g
    return wrap


@pytest.mark.parametrize("tier,mode", TIERS_AND_MODES)
def test_custom_jvp_every_tier_and_mode(forced_plan, tier, mode):
    forced(forced_plan, tier, mode)
    seen = []
    on = seen_by(seen)
    got = dg.jacobian(on(lambda x: log1pexp(x) * x[0]), mode=mode)(X)
    assert seen[-1] is TIER_TYPES[tier, mode]
    want = np.diag(sigmoid(X)) * X[0]
    want[:, 0] += np.log1p(np.exp(X))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(got, central(lambda x: np.log1p(np.exp(x)) * x[0], X),
                               rtol=1e-7)
    # The vector rule, and the rule that differs from autodiff (proving it is used).
    np.testing.assert_allclose(dg.jacobian(softmax, mode=mode)(X), central(softmax, X),
                               rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(dg.jacobian(lambda x: round_through(x) * 3, mode=mode)(X),
                               3 * np.eye(3))
    assert dg.grad(lambda x: np.sum(round_through(x)))(X).tolist() == [1.0, 1.0, 1.0]


@dg.custom_vjp
def half_gradient(x):
    return x


half_gradient.defvjp(lambda x: (x, None), lambda _, g: (0.5 * g,))


@pytest.mark.parametrize("tier,mode", TIERS_AND_MODES)
def test_custom_vjp_every_tier_and_mode(forced_plan, tier, mode):
    forced(forced_plan, tier, mode)

    def f(x):
        return 4.0 * half_gradient(x) + sin_vjp(x)
    if mode == "forward":
        with pytest.raises(TypeError, match="custom_jvp"):
            dg.jacobian(f, mode=mode)(X)
        return
    seen = []
    got = dg.jacobian(seen_by(seen)(f), mode=mode)(X)
    assert seen[-1] is TIER_TYPES[tier, mode]
    # 4 halved: the rule, not the identity's derivative.
    np.testing.assert_allclose(got, np.diag(2.0 + np.cos(X)), rtol=1e-12)


def test_a_bwd_not_linear_in_g_sees_each_cotangent_as_in_jax():
    # JAX's clip_gradient example: the cotangent 5 is clipped to 1. The
    # batched reverse sweeps of jacrev run bwd once per row, as JAX's vmap.
    # (The tape's sweeps multiply partials: they take bwd as linear in g.)
    def f(x):
        return 5.0 * clip_gradient(x, -1.0, 1.0)
    assert dg.grad(f)(2.0) == 1.0
    np.testing.assert_array_equal(dg.jacrev(f)(X), np.eye(3))
    x = dg.tensor(X, requires_grad=True)
    f(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0, 1.0])


def test_custom_vjp_forward_mode_is_a_type_error():
    for call in (lambda: dg.jvp(sin_vjp, (0.3,), (1.0,)), lambda: dg.jacfwd(sin_vjp)(X),
                 lambda: sin_vjp(dg.Dual(0.3, 1.0)),
                 lambda: sin_vjp(dg.DualArray(X, np.ones((1, 3))))):
        with pytest.raises(TypeError, match="custom_vjp.*dg.custom_jvp"):
            call()


def test_planner_keeps_custom_vjp_functions_in_reverse_mode():
    def f(x):
        return np.sum(sin_vjp(x) ** 2)
    p = dg.plan(f, np.ones(30))
    assert p.mode == "reverse" and "custom_vjp" in str(p)
    y = np.linspace(0.1, 1, 30)
    np.testing.assert_allclose(dg.grad(f)(y), 2 * np.sin(y) * np.cos(y), rtol=1e-12)
    np.testing.assert_allclose(dg.jacobian(f)(y), 2 * np.sin(y) * np.cos(y), rtol=1e-12)


# ---------------------------------------------------------------------------
# Nesting: second derivatives in both orders

def test_custom_jvp_second_derivatives_in_both_orders():
    def f(x):
        return np.sum(log1pexp(x) * softmax(x))

    def g_plain(x):
        e = np.exp(x - np.max(x))
        return np.log1p(np.exp(x)) * e / np.sum(e)
    grad = lambda x: np.sum(central(g_plain, x), axis=0)  # noqa: E731
    np.testing.assert_allclose(dg.grad(f)(X), grad(X), rtol=1e-7)
    h_ref = central(dg.grad(f), X)
    for name, hess in [("jacfwd(jacrev)", dg.jacfwd(dg.jacrev(f))),
                       ("jacrev(jacfwd)", dg.jacrev(dg.jacfwd(f))),
                       ("jacrev(jacrev)", dg.jacrev(dg.jacrev(f))),
                       ("jacfwd(jacfwd)", dg.jacfwd(dg.jacfwd(f))),
                       ("hessian", dg.hessian(f))]:
        np.testing.assert_allclose(hess(X), h_ref, rtol=1e-6, atol=1e-9, err_msg=name)
    v = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(dg.hvp(f, X, v), h_ref @ v, rtol=1e-5, atol=1e-7)


def test_second_derivative_of_the_rule_not_of_the_function():
    # The rule says d/dx round_through = 1: its second derivative is 0, and the
    # derivative of x * round_through(x) is round(x) + x.
    def f(x):
        return x * round_through(x)
    for d2 in (dg.grad(dg.grad(f)), dg.jacfwd(dg.jacrev(f)), dg.jacrev(dg.jacfwd(f))):
        assert d2(1.3) == 2.0


def test_custom_vjp_reverse_over_reverse():
    def f(x):
        return np.sum(sin_vjp(x) * x)
    h = dg.jacrev(dg.grad(f))(X)
    np.testing.assert_allclose(h, np.diag(2 * np.cos(X) - X * np.sin(X)), rtol=1e-12)
    np.testing.assert_allclose(h, central(dg.grad(f), X), rtol=1e-7, atol=1e-9)
    assert dg.grad(dg.grad(sin_vjp))(0.3) == pytest.approx(-np.sin(0.3), rel=1e-14)


def test_custom_vjp_forward_over_reverse_refused_with_the_fix():
    for hess in (dg.jacfwd(dg.grad(lambda x: np.sum(sin_vjp(x)))),
                 dg.hessian(lambda x: np.sum(sin_vjp(x)))):
        with pytest.raises(TypeError, match=r"dg.jacrev\(dg.grad\(f\)\)"):
            hess(X)


def test_reverse_over_forward_of_custom_jvp():
    # d/dx of (J v): the jvp rule's tangent differentiated in reverse mode.
    def jv(x):
        return dg.jvp(softmax, (x,), (np.array([1.0, 0.0, -1.0]),))[1]
    np.testing.assert_allclose(dg.jacrev(jv)(X), central(jv, X), rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------
# The tiers' own objects

def test_dual_with_several_directions():
    d = log1pexp(dg.Dual(0.3, [1.0, 2.0]))
    assert d.value == pytest.approx(np.log1p(np.exp(0.3)))
    np.testing.assert_allclose(d.tangent, sigmoid(0.3) * np.array([1.0, 2.0]))
    x = np.array([dg.Dual(0.3, [1.0, 0.0]), dg.Dual(-1.0, [0.0, 1.0])], dtype=object)
    y = softmax(x)
    tan = np.array([e.tangent for e in y]).T
    np.testing.assert_allclose(tan, central(softmax, np.array([0.3, -1.0])).T, rtol=1e-7)


def test_dualarray_with_several_directions_and_levels():
    t = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 1.0]])
    y = softmax(dg.DualArray(X, t))
    np.testing.assert_allclose(y.tangent, t @ central(softmax, X).T, rtol=1e-7)
    y = round_through(dg.DualArray(X, t, level=3))
    assert y.level == 3
    np.testing.assert_array_equal(y.tangent, t)


def test_tensor_backward_and_double_backward_against_torch():
    torch = pytest.importorskip("torch")
    x = dg.tensor(X, requires_grad=True)
    y = (log1pexp(x) * softmax(x)).sum()
    g, = dg.autograd.grad(y, x, create_graph=True)
    (g ** 2).sum().backward()
    tx = torch.tensor(X, requires_grad=True)
    ty = (torch.nn.functional.softplus(tx) * torch.softmax(tx, 0)).sum()
    tg, = torch.autograd.grad(ty, tx, create_graph=True)
    (tg ** 2).sum().backward()
    np.testing.assert_allclose(g.detach().numpy(), tg.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10)
    assert log1pexp(x).grad_fn.name() == "log1pexpBackward"


def test_tensor_custom_vjp_double_backward_against_torch():
    torch = pytest.importorskip("torch")
    x = dg.tensor(X, requires_grad=True)
    y = (sin_vjp(x) ** 3).sum()
    g, = dg.autograd.grad(y, x, create_graph=True)
    g.sum().backward()
    tx = torch.tensor(X, requires_grad=True)
    tg, = torch.autograd.grad((torch.sin(tx) ** 3).sum(), tx, create_graph=True)
    tg.sum().backward()
    np.testing.assert_allclose(g.detach().numpy(), tg.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_tape_gradient_and_hessian():
    def f(x0, x1):
        return log1pexp(x0 * x1) + sin_vjp(x0) * x1
    with dg.Tape() as tape:
        v = tape.var([0.3, -0.7])
        y = f(v[0], v[1])
    assert y.value == pytest.approx(f(0.3, -0.7), rel=1e-15)
    plain = lambda x: f(x[0], x[1])  # noqa: E731
    x0 = np.array([0.3, -0.7])
    np.testing.assert_allclose(tape.gradient(y, v), central(plain, x0), rtol=1e-8)
    h = central(lambda x: np.array(dg.grad(f, argnums=(0, 1))(x[0], x[1])), x0)
    np.testing.assert_allclose(tape.hessian(y, v), h, rtol=1e-7)
    np.testing.assert_allclose(tape.hvp(y, v, np.array([1.0, 2.0])), h @ [1.0, 2.0], rtol=1e-7)


def test_recorded_tape_records_again_elsewhere():
    rec = dg.record(lambda x: log1pexp(x[0]) * x[1], np.array([0.3, 2.0]), retape=True)
    np.testing.assert_allclose(rec.gradient(np.array([1.5, -1.0])),
                               [-sigmoid(1.5), np.log1p(np.exp(1.5))], rtol=1e-12)
    rec = dg.record(lambda x: log1pexp(x[0]) * x[1], np.array([0.3, 2.0]))
    with pytest.raises(dg.BranchChangedError):
        rec.gradient(np.array([1.5, -1.0]))


# ---------------------------------------------------------------------------
# Pytrees, nondiff_argnums, keyword arguments

def test_pytrees_in_and_out():
    @dg.custom_jvp
    def f(pair, d):
        a, b = pair
        return {"s": a * b, "t": (d["c"] * a, b)}

    @f.defjvp
    def f_jvp(primals, tangents):
        (a, b), d = primals
        (ta, tb), td = tangents
        return f((a, b), d), {"s": ta * b + a * tb,
                              "t": (td["c"] * a + d["c"] * ta, tb)}

    def flat(x):
        out = f((x[0], x[1:3]), {"c": x[3]})
        return np.concatenate([np.ravel(out["s"]), np.ravel(out["t"][0]), out["t"][1]])
    x = np.array([0.5, 1.0, -2.0, 3.0])
    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(dg.jacobian(flat, mode=mode)(x), central(flat, x),
                                   rtol=1e-8, atol=1e-10)


def test_nondiff_argnums_both_kinds():
    def power(n, x):
        return x ** n

    p_jvp = dg.custom_jvp(power, nondiff_argnums=(0,))
    p_jvp.defjvp(lambda n, primals, tangents: (power(n, primals[0]),
                                                n * primals[0] ** (n - 1) * tangents[0]))
    p_vjp = dg.custom_vjp(power, nondiff_argnums=(0,))
    p_vjp.defvjp(lambda n, x: (power(n, x), x),
                 lambda n, x, g: (n * x ** (n - 1) * g,))
    for f in (p_jvp, p_vjp):
        assert dg.grad(lambda x: f(3, x))(2.0) == 12.0
        assert dg.grad(dg.grad(lambda x: f(3, x)))(2.0) == 12.0
    with pytest.raises(TypeError, match="nondiff_argnums"):
        dg.grad(lambda x: p_jvp(x, 2.0))(1.0)


def test_keyword_arguments_resolved_to_positions():
    @dg.custom_jvp
    def f(x, scale=2.0):
        return scale * x

    @f.defjvp
    def f_jvp(primals, tangents):
        (x, scale), (tx, ts) = primals, tangents
        return f(x, scale), scale * tx + x * ts
    assert dg.grad(lambda x: f(x, scale=3.0))(1.0) == 3.0
    assert dg.grad(lambda s: f(1.5, scale=s))(3.0) == 1.5


# ---------------------------------------------------------------------------
# Errors

def test_errors_name_the_problem_and_the_fix():
    @dg.custom_jvp
    def no_rule(x):
        return x
    with pytest.raises(TypeError, match="defjvp"):
        dg.grad(no_rule)(1.0)

    @dg.custom_jvp
    def bad_shape(x):
        return x

    @bad_shape.defjvp
    def _(p, t):
        return p[0], np.zeros(2)
    with pytest.raises(ValueError, match="shape"):
        dg.jacfwd(bad_shape)(np.ones(3))

    @dg.custom_vjp
    def bad_bwd(x, y):
        return x * y
    bad_bwd.defvjp(lambda x, y: (x * y, (x, y)), lambda r, g: g * r[1])
    with pytest.raises(TypeError, match="one cotangent per differentiated argument"):
        dg.grad(bad_bwd)(1.0, 2.0)


def test_autograd_functional_against_torch():
    torch = pytest.importorskip("torch")
    af, tf = dg.autograd.functional, torch.autograd.functional

    def ours(x):
        return (log1pexp(x) * softmax(x)).sum()

    def theirs(x):
        return (torch.nn.functional.softplus(x) * torch.softmax(x, 0)).sum()
    np.testing.assert_allclose(af.hessian(ours, dg.tensor(X)).numpy(),
                               tf.hessian(theirs, torch.tensor(X)).numpy(), rtol=1e-12)
    np.testing.assert_allclose(af.jacobian(sin_vjp, dg.tensor(X)).numpy(),
                               tf.jacobian(torch.sin, torch.tensor(X)).numpy(), rtol=1e-12)
