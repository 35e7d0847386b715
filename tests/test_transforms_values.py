"""Transforms that returned wrong values: argnums naming an argument twice,
outputs that are not real numbers, and the dtype of results."""

import numpy as np
import pytest

import dualgrad as dg

A = np.array([1.0, 2.0])


def f_ab(a, b):
    return np.sum(a ** 2) * b


# ---------------------------------------------------------------------------
# argnums naming an argument twice: its derivative at both places, as JAX

@pytest.mark.parametrize("tier", ["scalar", "array"])
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_grad_with_an_argument_named_twice(tier, mode, forced_plan):
    forced_plan.update(tier=tier, mode=mode)
    ga, ga2 = dg.grad(f_ab, argnums=(0, 0))(A, 3.0)
    np.testing.assert_array_equal(ga, [6.0, 12.0])
    np.testing.assert_array_equal(ga2, [6.0, 12.0])
    assert ga is not ga2             # each place its own array
    g = dg.grad(f_ab, argnums=(1, 0, 1))(A, 3.0)
    assert g[0] == g[2] == 5.0
    np.testing.assert_array_equal(g[1], [6.0, 12.0])


def test_other_transforms_with_an_argument_named_twice():
    (ja, ja2) = dg.jacobian(lambda a, b: a * b, argnums=(0, 0))(A, 3.0)
    np.testing.assert_array_equal(ja, 3.0 * np.eye(2))
    np.testing.assert_array_equal(ja2, 3.0 * np.eye(2))
    value, (gb, gb2) = dg.value_and_grad(f_ab, argnums=(1, 1))(A, 3.0)
    assert (value, gb, gb2) == (15.0, 5.0, 5.0)
    h = dg.hessian(f_ab, argnums=(0, 0))(A, 3.0)
    for row in h:
        for block in row:
            np.testing.assert_array_equal(block, 6.0 * np.eye(2))


# ---------------------------------------------------------------------------
# f returning what is not real numbers: a TypeError naming it

def _gen(x):
    return (t for t in [x])


TRANSFORMS = {
    "grad": lambda f: dg.grad(f)(1.5),
    "value_and_grad": lambda f: dg.value_and_grad(f)(1.5),
    "jacfwd": lambda f: dg.jacfwd(f)(1.5),
    "jacrev": lambda f: dg.jacrev(f)(1.5),
    "jacobian": lambda f: dg.jacobian(f)(np.ones(2)),
    "hessian": lambda f: dg.hessian(f)(1.5),
    "hvp": lambda f: dg.hvp(f, 1.5, 1.0),
    "jvp": lambda f: dg.jvp(f, (1.5,), (1.0,)),
    "vjp": lambda f: dg.vjp(f, 1.5),
}
BAD = {
    "generator": (_gen, "generator"),
    "set": (lambda x: {1.0}, "set"),
    "object": (lambda x: object(), "object"),
    "None": (lambda x: None, "None"),
    "string": (lambda x: "1.0", "str"),
    "nested": (lambda x: (x, {"a": object()}), "object"),
    "array of None": (lambda x: np.array([None, 1.0], dtype=object), "None"),
    "object array of complex": (lambda x: np.array([1j], dtype=object), "complex"),
}


@pytest.mark.parametrize("returns", sorted(BAD))
@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
def test_outputs_that_are_not_real_numbers_are_refused(transform, returns):
    f, named = BAD[returns]
    with pytest.raises(TypeError, match=named):
        TRANSFORMS[transform](f)


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
def test_complex_outputs_of_real_arguments(transform):
    """As JAX: grad, jacrev and the second-order transforms need real outputs
    (unless f is declared holomorphic); forward mode and vjp take complex ones."""
    f = lambda x: x * (1 + 2j)  # noqa: E731
    if transform in ("grad", "value_and_grad", "jacrev", "hessian", "hvp"):
        with pytest.raises(TypeError, match="real-valued outputs"):
            TRANSFORMS[transform](f)
        return
    out = TRANSFORMS[transform](f)
    if transform == "jacobian":
        np.testing.assert_allclose(out, np.eye(2) * (1 + 2j))
    elif transform == "jvp":
        assert out == (1.5 * (1 + 2j), 1 + 2j)
    elif transform == "vjp":
        value, vjp_fn = out
        # JAX's cotangent convention: ct * df/dx for real x, the real part
        assert value == 1.5 * (1 + 2j) and vjp_fn(1 - 1j) == (3.0,)
    else:
        assert out == 1 + 2j


# ---------------------------------------------------------------------------
# dtypes: derivatives come back in the argument's floating dtype

def sq(x):
    return np.sum(x ** 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_results_follow_the_input_dtype(dtype):
    x = np.arange(1, 4).astype(dtype)
    v = np.ones(3, dtype)
    assert dg.grad(sq)(x).dtype == dtype
    value, g = dg.value_and_grad(sq)(x)
    assert np.asarray(value).dtype == dtype and g.dtype == dtype
    for jac in (dg.jacfwd, dg.jacrev, dg.jacobian):
        assert jac(np.sin)(x).dtype == dtype
    assert dg.hessian(sq)(x).dtype == dtype
    assert dg.hvp(sq, x, v).dtype == dtype
    out, tangent = dg.jvp(np.sin, (x,), (v,))
    assert out.dtype == dtype and tangent.dtype == dtype
    out, vjp_fn = dg.vjp(np.sin, x)
    assert out.dtype == dtype and vjp_fn(v)[0].dtype == dtype
    np.testing.assert_allclose(dg.grad(sq)(x), 2 * x)
    g = dg.grad(lambda a: a * a)(dtype(3.0))
    assert type(g) is dtype and g == 6.0


def test_mixed_dtypes_numbers_and_integers():
    g32, g64 = dg.grad(lambda a, b: np.sum(a * b), argnums=(0, 1))(np.ones(2, np.float32),
                                                                   np.ones(2))
    assert g32.dtype == np.float32 and g64.dtype == np.float64
    assert type(dg.grad(lambda a: a * a)(3.0)) is float
    # Integers are read as float64 (JAX refuses them; dualgrad differentiates
    # there as NumPy would compute, in float64).
    assert dg.grad(lambda a: a * a)(3) == 6.0
    assert dg.grad(sq)(np.arange(3)).dtype == np.float64


def test_tensor_grad_keeps_the_tensor_dtype():
    for dtype in (dg.float32, dg.float16):
        t = dg.tensor([1.0, 2.0], dtype=dtype, requires_grad=True)
        (t * t).sum().backward()
        assert t.grad.dtype == dtype
