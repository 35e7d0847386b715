"""The functional API as JAX users expect: keyword arguments pass through to f
undifferentiated, and has_aux=True on grad, value_and_grad, jacobian (jacfwd,
jacrev), jvp and vjp, with JAX's result shapes."""

import numpy as np
import pytest

import dualgrad as dg

X = np.array([1.0, 2.0, -0.5])
TIERS = [("scalar", "forward"), ("scalar", "reverse"), ("array", "forward"),
         ("array", "reverse")]


def scaled(x, scale=1.0, shift=0.0):
    return np.sum(np.sin(x) * x) * scale + shift


def with_aux(x):
    return np.sum(np.sin(x) * x), {"doubled": 2 * x, "first": x[0] ** 2, "label": "s"}


def grad_of(x):
    return np.sin(x) + x * np.cos(x)


@pytest.mark.parametrize("tier_mode", TIERS)
def test_keyword_arguments_pass_through(tier_mode, forced_plan):
    forced_plan.update(tier=tier_mode[0], mode=tier_mode[1])
    np.testing.assert_allclose(dg.grad(scaled)(X, scale=3.0, shift=1.0), 3 * grad_of(X))
    value, g = dg.value_and_grad(scaled)(X, scale=2.0, shift=1.0)
    np.testing.assert_allclose(value, 2 * scaled(X) + 1.0)
    np.testing.assert_allclose(g, 2 * grad_of(X))
    np.testing.assert_allclose(dg.jacobian(scaled, mode=tier_mode[1])(X, scale=-1.0),
                               -grad_of(X))
    # a later call without them is not served a plan made for other ones
    np.testing.assert_allclose(dg.grad(scaled)(X), grad_of(X))


def test_keyword_arguments_to_hessian():
    h = dg.hessian(lambda x, c: np.sum(x ** 3) * c)(X, c=2.0)
    np.testing.assert_allclose(h, np.diag(12 * X))


@pytest.mark.parametrize("tier_mode", TIERS)
def test_has_aux(tier_mode, forced_plan):
    forced_plan.update(tier=tier_mode[0], mode=tier_mode[1])
    want_aux = {"doubled": 2 * X, "first": X[0] ** 2, "label": "s"}

    def check_aux(aux):
        assert set(aux) == set(want_aux) and aux["label"] == "s"
        # values, not this transform's derivative-carrying objects
        assert isinstance(aux["doubled"], np.ndarray) and aux["doubled"].dtype == np.float64
        np.testing.assert_array_equal(aux["doubled"], want_aux["doubled"])
        assert float(aux["first"]) == want_aux["first"]

    g, aux = dg.grad(with_aux, has_aux=True)(X)
    np.testing.assert_allclose(g, grad_of(X))
    check_aux(aux)
    (value, aux), g = dg.value_and_grad(with_aux, has_aux=True)(X)
    assert value == pytest.approx(with_aux(X)[0])
    np.testing.assert_allclose(g, grad_of(X))
    check_aux(aux)
    jac, aux = dg.jacobian(with_aux, has_aux=True, mode=tier_mode[1])(X)
    np.testing.assert_allclose(jac, grad_of(X))
    check_aux(aux)


@pytest.mark.parametrize("transform", [dg.jacfwd, dg.jacrev])
def test_jacfwd_jacrev_has_aux(transform):
    jac, aux = transform(lambda x: (np.tanh(x), x.sum()), has_aux=True)(X)
    np.testing.assert_allclose(jac, np.diag(1 - np.tanh(X) ** 2))
    assert float(aux) == X.sum()


def test_jvp_and_vjp_has_aux():
    v = np.array([1.0, 0.0, 2.0])
    out, tangent, aux = dg.jvp(with_aux, (X,), (v,), has_aux=True)
    assert out == pytest.approx(with_aux(X)[0])
    assert tangent == pytest.approx(grad_of(X) @ v)
    np.testing.assert_array_equal(aux["doubled"], 2 * X)
    out, vjp_fn, aux = dg.vjp(with_aux, X, has_aux=True)
    np.testing.assert_allclose(vjp_fn(2.0)[0], 2 * grad_of(X))
    np.testing.assert_array_equal(aux["doubled"], 2 * X)


def test_has_aux_inside_another_transform():
    """The inner gradient's aux is taken off its own derivatives only: the outer
    Jacobian still differentiates through what the inner one returns."""
    def inner(x):
        g, aux = dg.grad(with_aux, has_aux=True)(x)
        return g + aux["doubled"]
    h = dg.jacfwd(inner)(X)
    want = np.diag(2 * np.cos(X) - X * np.sin(X) + 2.0)
    np.testing.assert_allclose(h, want, atol=1e-12)


@pytest.mark.parametrize("returned, said", [(1.0, "one value"), ((1.0, 2.0, 3.0), "a tuple of 3"),
                                            ([1.0, 2.0], "one list")])
def test_has_aux_needs_a_pair(returned, said):
    with pytest.raises(TypeError, match=f"must return a pair \\(output, aux\\); it returned {said}"):
        dg.grad(lambda x: returned if not isinstance(returned, float) else x * returned,
                has_aux=True)(1.0)


@pytest.mark.parametrize("tier_mode", [("scalar", "forward"), ("scalar", "reverse")])
def test_traced_numbers_have_array_shape_attributes(tier_mode, forced_plan):
    """Code that asks its values for shape, ndim or size runs on the scalar tier."""
    forced_plan.update(tier=tier_mode[0], mode=tier_mode[1])

    def f(x):
        e = x[0]
        assert (e.shape, e.ndim, e.size, e.dtype) == ((), 0, 1, np.dtype(object))
        g = np.zeros(2, dtype=e.dtype)      # an array that holds traced numbers
        g[0], g[1] = e, x[1] ** 2
        return e * np.ones(e.shape).sum() + np.mean(g) * 2 - e
    np.testing.assert_array_equal(dg.grad(f)(np.array([1.0, 2.0])), [1.0, 4.0])
