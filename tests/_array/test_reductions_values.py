"""Values that were wrong at edges: max/min with NaN, std at zero variance,
nan_to_num; on Tensor, DualArray and through the transforms on every tier."""

import numpy as np
import pytest
import torch

import dualgrad as dg

NAN = np.nan


# ---------------------------------------------------------------------------
# max and min with NaN: the gradient goes to the NaN elements, as torch.max

@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("x", [[1.0, NAN, 3.0], [1.0, NAN, 3.0, NAN], [[1.0, NAN, 3.0],
                                                                      [2.0, 5.0, 5.0]]])
def test_tensor_max_min_with_nan_as_torch(name, x):
    t = dg.tensor(x, requires_grad=True)
    getattr(dg, name)(t).backward()
    ref = torch.tensor(x, requires_grad=True)
    getattr(torch, name)(ref).backward()
    np.testing.assert_array_equal(t.grad.numpy(), ref.grad.numpy())


@pytest.mark.parametrize("name", ["max", "min"])
def test_tensor_max_min_along_dim_with_nan_as_torch(name):
    x = [[1.0, NAN, 3.0], [2.0, 5.0, 5.0], [NAN, 0.0, NAN]]
    t = dg.tensor(x, requires_grad=True)
    getattr(dg, name)(t, 1)[0].sum().backward()
    ref = torch.tensor(x, requires_grad=True)
    getattr(torch, name)(ref, 1)[0].sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), ref.grad.numpy())


@pytest.mark.parametrize("name", ["amax", "amin"])
def test_amax_amin_with_nan_give_the_nans_the_gradient(name):
    # torch.amax gives NaN everywhere here; dualgrad shares the gradient among
    # the NaNs that made the result, as torch.max does, and ties share as usual.
    x = np.array([[1.0, NAN, 3.0, NAN], [2.0, 5.0, 5.0, 0.0]])
    t = dg.tensor(x, requires_grad=True)
    getattr(dg, name)(t, 1).sum().backward()
    want = {"amax": [[0, 0.5, 0, 0.5], [0, 0.5, 0.5, 0]],
            "amin": [[0, 0.5, 0, 0.5], [0, 0, 0, 1.0]]}[name]
    np.testing.assert_array_equal(t.grad.numpy(), want)
    t = dg.tensor(x, requires_grad=True)
    getattr(dg, name)(t).backward()
    np.testing.assert_array_equal(t.grad.numpy(), [[0, 0.5, 0, 0.5], [0, 0, 0, 0]])


@pytest.mark.parametrize("fn", [np.max, np.min, np.amax, np.amin])
def test_dualarray_max_min_with_nan(fn):
    d = fn(dg.DualArray(np.array([1.0, NAN, 3.0]), np.eye(3)))
    assert np.isnan(d.value)
    np.testing.assert_array_equal(d.tangent, [0.0, 1.0, 0.0])


# ---------------------------------------------------------------------------
# std where the variance is 0: derivative 0, as var's (and PyTorch's)

def test_tensor_std_at_zero_variance():
    t = dg.tensor(np.ones((1, 3)), requires_grad=True)
    np.std(t, axis=0).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), np.zeros((1, 3)))
    t = dg.tensor([[2.0, 2.0], [1.0, 3.0]], requires_grad=True)
    dg.std(t, 1).sum().backward()
    ref = torch.tensor([[2.0, 2.0], [1.0, 3.0]], dtype=torch.float64, requires_grad=True)
    torch.std(ref, 1).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), ref.grad.numpy(), rtol=1e-15)


def test_tensor_std_second_derivative_away_from_zero():
    x = dg.tensor([1.0, 2.0, 4.0], requires_grad=True)
    (g,) = dg.autograd.grad(dg.std(x), x, create_graph=True)
    (h,) = dg.autograd.grad(g[0], x)
    xt = torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64, requires_grad=True)
    (gt,) = torch.autograd.grad(torch.std(xt), xt, create_graph=True)
    (ht,) = torch.autograd.grad(gt[0], xt)
    np.testing.assert_allclose(h.numpy(), ht.numpy(), rtol=1e-12)


def test_dualarray_std_at_zero_variance():
    d = np.std(dg.DualArray(np.ones((1, 3)), np.ones((2, 1, 3))), axis=0)
    np.testing.assert_array_equal(d.value, np.zeros(3))
    np.testing.assert_array_equal(d.tangent, np.zeros((2, 3)))


# ---------------------------------------------------------------------------
# The three through the transforms, on every tier they run on

C = np.array([NAN, np.inf, -np.inf, 1.0])

FUNCTIONS = {
    "nan_to_num": (lambda x: np.nan_to_num(x + C), np.ones(4), np.diag([0.0, 0, 0, 1])),
    "std": (lambda x: np.std(x, axis=0), np.ones((1, 3)), np.zeros((3, 1, 3))),
    "max": (lambda x: np.max(x + C[:2]), np.ones(2), np.array([1.0, 0.0])),
}


# The array tier only: on object arrays (the scalar tier) numpy.nan_to_num
# returns its input unchanged, numpy.max compares elements as Python objects,
# and numpy.std is sqrt(var) through sqrt's own rule, none of which dualgrad
# can intercept; the planner runs such code on the array tier.
@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_through_transforms(name, mode, forced_plan):
    f, x, want = FUNCTIONS[name]
    forced_plan.update(tier="array", mode=mode)
    np.testing.assert_array_equal(dg.jacobian(f, mode=mode)(x), want)


def test_grad_of_nan_to_num_and_std():
    np.testing.assert_array_equal(
        dg.grad(lambda x: np.sum(np.nan_to_num(x + C)))(np.ones(4)), [0.0, 0, 0, 1])
    np.testing.assert_array_equal(
        dg.grad(lambda x: np.sum(np.std(x, axis=0)))(np.ones((1, 3))), np.zeros((1, 3)))


# NumPy's nan_to_num returns an object array unchanged, and its std and norm of
# object arrays give nan in reverse at zero (sqrt's infinite adjoint): code that
# calls them stays off the scalar tier, whose object arrays NumPy cannot hand
# back to dualgrad. Element-wise code with a builtin sum went there and gave a
# gradient of ones for nan_to_num, nan for std and norm.

@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
@pytest.mark.parametrize("f, x, want", [
    (lambda x: sum(np.nan_to_num(x + C)), np.ones(4), [0.0, 0, 0, 1]),
    (lambda x: sum(np.nan_to_num(x[i] + C[i]) for i in range(4)), np.ones(4), [0.0, 0, 0, 1]),
    (lambda x: np.std(x) + 0 * x[0], np.full(3, 2.0), [0.0, 0, 0]),
    (lambda x: np.linalg.norm(x - 2.0), np.full(3, 2.0), [0.0, 0, 0]),
], ids=["nan_to_num", "nan_to_num of elements", "std", "norm"])
def test_functions_numpy_gets_wrong_on_object_arrays(f, x, want, mode):
    np.testing.assert_array_equal(dg.jacobian(f, mode=mode)(x), want)
    plan = dg.plan(f, x)
    assert plan.tier == "array" and "object arrays" in plan.reasons[0]


@pytest.mark.parametrize("kind", ["Dual", "Var"])
def test_functions_numpy_gets_wrong_on_a_lone_dual_or_var(kind):
    tape = dg.Tape()
    make = (lambda v: dg.Dual(v, 1.0)) if kind == "Dual" else tape.var
    big = np.finfo(np.float64).max
    with tape:
        assert np.nan_to_num(make(np.nan)) == 0.0
        assert np.nan_to_num(make(np.inf)) == big
        assert np.nan_to_num(make(-np.inf), neginf=-3) == -3
        assert np.nan_to_num(make(np.nan), nan=5.0) == 5.0
        x = make(-2.0)
        assert np.nan_to_num(x) is x and np.std(x) == 0.0
        assert np.linalg.norm(x).value == 2.0


@pytest.mark.parametrize("tier", ["scalar", "array"])
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_mean_var_std_of_one_number(tier, mode, forced_plan):
    """np.var of one Dual or Var raised AttributeError ('no attribute dtype')."""
    forced_plan.update(tier=tier, mode=mode)
    f = lambda x: np.mean(x[0]) + np.var(x[1]) + np.std(x[2]) + np.var(x[1:2])
    np.testing.assert_array_equal(dg.jacobian(f, mode=mode)(np.array([1.0, 2.0, 4.0])),
                                  [1.0, 0.0, 0.0])


def test_lone_dual_tangents_of_those_functions():
    assert np.nan_to_num(dg.Dual(2.0, 1.0)).tangent == 1.0
    assert np.linalg.norm(dg.Dual(-2.0, 1.0)).tangent == -1.0
    assert np.sum(dg.Dual(2.0, 1.0)).tangent == 1.0          # others: NumPy's own


def test_array_error_when_the_scalar_tier_would_be_wrong():
    f = lambda x: np.sum(np.linalg.tensorinv(np.diag(np.nan_to_num(x)), ind=1))
    with pytest.raises(TypeError, match="tensorinv") as e:
        dg.grad(f)(np.array([1.0, 2.0]))
    assert "scalar tier cannot take f" in "".join(e.value.__notes__)


@pytest.mark.parametrize("tier", ["scalar", "array"])
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_var_and_std_on_every_tier_away_from_zero_variance(tier, mode, forced_plan):
    # numpy.var of an object array multiplies by the elements' conjugate:
    # Duals and Vars are real, their conjugate is themselves.
    forced_plan.update(tier=tier, mode=mode)
    x = np.array([1.0, 2.0, 4.0])
    n, dev = x.size, x - x.mean()
    seen = []

    def traced(fn):
        return lambda x: seen.append(x.dtype) or fn(x)
    np.testing.assert_allclose(dg.jacobian(traced(np.var), mode=mode)(x), 2 * dev / n,
                               rtol=1e-14)
    np.testing.assert_allclose(dg.jacobian(traced(np.std), mode=mode)(x), dev / (n * x.std()),
                               rtol=1e-14)
    # the last evaluation ran on the tier asked for (object arrays: the scalar tier)
    assert (seen[-1] == object) == (tier == "scalar")
