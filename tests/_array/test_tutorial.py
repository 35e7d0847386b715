"""The scenarios of the PyTorch autograd tutorial, with ``torch`` replaced by ``dualgrad``.

The expected values follow the mathematics (the tutorial's errata), not its printed
comments.
"""

import numpy as np
import pytest

import dualgrad as dg


def values(t):
    return t.detach().numpy()


# (a) a vector-Jacobian product through y = 2x

def test_backward_with_explicit_gradient_gives_the_vector_jacobian_product():
    x = dg.randn(3, requires_grad=True)
    y = x * 2
    y.backward(dg.tensor([1.0, 1.0, 1.0]))
    np.testing.assert_allclose(np.asarray(x.grad), [2.0, 2.0, 2.0])
    assert x.grad.dtype == dg.float64
    assert x.grad.shape == (3,)


def test_backward_with_a_weighted_gradient_scales_the_result():
    x = dg.randn(3, requires_grad=True)
    (x * 2).backward(dg.tensor([0.1, 1.0, 10.0]))
    np.testing.assert_allclose(np.asarray(x.grad), [0.2, 2.0, 20.0])


# (b) a small graph in float32

def make_ab():
    a = dg.tensor([1, 2, 3], dtype=dg.float32, requires_grad=True)
    b = dg.tensor([4, 5, 6], dtype=dg.float32, requires_grad=True)
    return a, b


def test_gradients_of_a_small_graph_in_float32():
    a, b = make_ab()
    c = a + b
    d = b * c
    d.sum().backward()
    # d = b*(a+b): dd/da = b, dd/db = a + 2b
    np.testing.assert_allclose(np.asarray(a.grad), [4.0, 5.0, 6.0])
    np.testing.assert_allclose(np.asarray(b.grad), [9.0, 12.0, 15.0])
    assert a.grad.dtype == dg.float32
    assert b.grad.dtype == dg.float32
    assert d.dtype == dg.float32


def test_intermediate_tensors_are_not_leaves_and_have_no_grad():
    a, b = make_ab()
    c = a + b
    d = b * c
    assert a.is_leaf and b.is_leaf
    assert not c.is_leaf and not d.is_leaf
    assert c.requires_grad and d.requires_grad
    assert a.grad_fn is None
    assert c.grad_fn.name() == "AddBackward"
    assert d.grad_fn.name() == "MulBackward"
    d.sum().backward()
    assert c.grad is None and d.grad is None


# (c) in-place operations

def test_in_place_change_of_a_leaf_that_requires_grad_raises():
    x = dg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError) as info:
        x.mul_(2)
    msg = str(info.value)
    assert "leaf" in msg and "in-place" in msg
    np.testing.assert_allclose(values(x), [1.0, 1.0, 1.0])  # unchanged


def test_in_place_mul_on_a_non_leaf_is_differentiated():
    x = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1
    y.mul_(2)
    np.testing.assert_allclose(values(y), [2.0, 4.0, 6.0])
    assert y.grad_fn.name() == "MulBackward"
    y.sum().backward()
    np.testing.assert_allclose(np.asarray(x.grad), [2.0, 2.0, 2.0])


def test_index_assignment_on_a_clone_cuts_the_gradient_of_the_overwritten_element():
    x = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.clone()
    y[0] = 5.0
    np.testing.assert_allclose(values(y), [5.0, 2.0, 3.0])
    np.testing.assert_allclose(values(x), [1.0, 2.0, 3.0])
    (y * y).sum().backward()
    np.testing.assert_allclose(np.asarray(x.grad), [0.0, 4.0, 6.0])


def test_index_assignment_of_a_tensor_that_requires_grad_routes_its_gradient():
    x = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = dg.tensor(7.0, requires_grad=True)
    y = x.clone()
    y[1] = w * 2
    (y * dg.tensor([1.0, 10.0, 100.0])).sum().backward()
    np.testing.assert_allclose(np.asarray(x.grad), [1.0, 0.0, 100.0])
    np.testing.assert_allclose(np.asarray(w.grad), 20.0)


def test_augmented_assignment_on_a_non_leaf_is_differentiated():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y += x * x
    np.testing.assert_allclose(values(y), [4.0, 10.0])
    y.sum().backward()
    np.testing.assert_allclose(np.asarray(x.grad), [5.0, 7.0])  # 3 + 2x


def test_in_place_clamp_on_a_non_leaf_is_differentiated():
    x = dg.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    y = x * 2
    y.clamp_(min=0.0, max=3.0)
    np.testing.assert_allclose(values(y), [0.0, 1.0, 3.0])
    y.sum().backward()
    np.testing.assert_allclose(np.asarray(x.grad), [0.0, 2.0, 0.0])


def test_chain_of_in_place_ops_on_a_non_leaf():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    y.add_(1.0)
    y.mul_(x)        # y = (x + 1) * x
    y.sum().backward()
    np.testing.assert_allclose(np.asarray(x.grad), [3.0, 5.0])  # 2x + 1


def test_in_place_on_a_leaf_is_allowed_under_no_grad():
    x = dg.ones(3, requires_grad=True)
    with dg.no_grad():
        x.mul_(2)
    np.testing.assert_allclose(values(x), [2.0, 2.0, 2.0])
    assert x.is_leaf and x.requires_grad
    (x * x).sum().backward()
    np.testing.assert_allclose(np.asarray(x.grad), [4.0, 4.0, 4.0])


# (d) evaluation mode

def test_no_grad_operations_do_not_require_grad_and_leave_grad_none():
    x = dg.randn(3, requires_grad=True)
    with dg.no_grad():
        y = x * 2
    assert y.requires_grad is False
    assert y.grad_fn is None
    assert x.grad is None
    assert x.requires_grad  # the leaf is unaffected


def test_backward_of_a_result_computed_under_no_grad_raises():
    x = dg.randn(3, requires_grad=True)
    with dg.no_grad():
        y = (x * 2).sum()
    with pytest.raises(RuntimeError):
        y.backward()
    assert x.grad is None


# (e) mixed precision

def test_mixed_precision_gradient_lands_in_the_leaf_dtype():
    x = dg.tensor([1.0, 2.0, 3.0], dtype=dg.float16, requires_grad=True)
    xf = x.float()
    assert xf.dtype == dg.float32
    y = (xf * 2).sum()
    assert y.dtype == dg.float32
    y.backward()
    assert x.grad.dtype == dg.float16
    np.testing.assert_allclose(np.asarray(x.grad).astype(np.float64), [2.0, 2.0, 2.0])


# (f) retain_graph

def test_retain_graph_allows_a_second_backward_and_the_third_raises():
    z = dg.tensor(1.0, requires_grad=True)
    y = z ** 2
    y.backward(retain_graph=True)
    np.testing.assert_allclose(np.asarray(z.grad), 2.0)
    y.backward()
    np.testing.assert_allclose(np.asarray(z.grad), 4.0)
    with pytest.raises(RuntimeError, match=r"retain_graph=True"):
        y.backward()
    np.testing.assert_allclose(np.asarray(z.grad), 4.0)  # the failed call changed nothing


# (g) zeroing gradients

def test_grad_zero_resets_the_accumulated_gradient_in_place():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    g = x.grad
    x.grad.zero_()
    assert x.grad is g
    np.testing.assert_allclose(np.asarray(x.grad), [0.0, 0.0])
    (x * 3).sum().backward()
    assert x.grad is g  # accumulation is in place
    np.testing.assert_allclose(np.asarray(x.grad), [3.0, 3.0])


# (h) detach

def test_detach_stops_the_gradient():
    a, b = make_ab()
    c = a + b
    d = b * c.detach()
    assert not c.detach().requires_grad
    d.sum().backward()
    assert a.grad is None
    np.testing.assert_allclose(np.asarray(b.grad), [5.0, 7.0, 9.0])
    assert b.grad.dtype == dg.float32


# (i) retain_grad

def test_retain_grad_keeps_the_gradient_of_a_non_leaf():
    a = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = a + 3
    b.retain_grad()
    assert b.retains_grad is True
    assert a.retains_grad is False
    c = b.mean()
    c.backward()
    np.testing.assert_allclose(np.asarray(a.grad), [1 / 3] * 3)
    np.testing.assert_allclose(np.asarray(b.grad), [1 / 3] * 3)
    assert c.grad is None  # not retained


# (j) editing the gradient in place

def test_assigning_into_grad_slices_keeps_its_identity():
    x = dg.tensor([1.0, -2.0, 3.0, -4.0], requires_grad=True)
    (x * x).sum().backward()
    g = x.grad
    x.grad[:] = x.grad.clamp(min=0)
    assert x.grad is g
    assert (np.asarray(x.grad) >= 0).all()
    np.testing.assert_allclose(np.asarray(x.grad), [2.0, 0.0, 6.0, 0.0])


# (k) higher-order derivatives

def test_grad_with_create_graph_gives_a_differentiable_first_derivative():
    x = dg.tensor(1.0, requires_grad=True)
    y = x ** 2
    g = dg.autograd.grad(y, x, create_graph=True)
    assert isinstance(g, tuple) and len(g) == 1
    np.testing.assert_allclose(g[0].detach().numpy(), 2.0)
    assert g[0].grad_fn is not None
    assert g[0].requires_grad
    assert repr(g).startswith("(tensor(2., grad_fn=<")
    assert x.grad is None  # autograd.grad does not accumulate
    (g[0] ** 3).backward()
    # d/dx (2x)^3 = 24 x^2 = 24
    np.testing.assert_allclose(np.asarray(x.grad), 24.0)


# (l) a Jacobian, one row at a time

def jacobian(y, x):
    jac = []
    flat_y = y.reshape(-1)
    grad_y = dg.zeros_like(flat_y)
    for i in range(len(flat_y)):
        grad_y.reshape(-1)[i] = 1.0
        (grad_x,) = dg.autograd.grad(flat_y, x, grad_y, retain_graph=True, allow_unused=True)
        jac.append(grad_x.reshape(x.shape) if grad_x is not None else dg.zeros_like(x))
        grad_y.reshape(-1)[i] = 0.0
    return dg.stack(jac).reshape(y.shape + x.shape)


def test_jacobian_helper_gives_twice_the_identity():
    x = dg.randn(3, requires_grad=True)
    y = x * 2
    jac = jacobian(y, x)
    assert jac.shape == (3, 3)
    np.testing.assert_allclose(values(jac), 2 * np.eye(3))


def test_jacobian_helper_of_a_nonlinear_function():
    x = dg.tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = x.sin() * x[0]
    jac = jacobian(y, x)
    xv = np.array([0.5, -1.0, 2.0])
    expected = np.diag(np.cos(xv) * xv[0])
    expected[:, 0] += np.sin(xv)
    np.testing.assert_allclose(values(jac), expected, rtol=1e-12)


# (m) a custom Function

class MyReLU(dg.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return input.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        grad_input = grad_output.clone()
        grad_input[input < 0] = 0
        return grad_input


def test_custom_relu_function():
    x = dg.tensor([-1.5, 0.0, 1.5], requires_grad=True)
    y = MyReLU.apply(x)
    np.testing.assert_allclose(values(y), [0.0, 0.0, 1.5])
    assert y.grad_fn.name() == "MyReLUBackward"
    y.sum().backward()
    np.testing.assert_allclose(np.asarray(x.grad), [0.0, 1.0, 1.0])


def test_custom_relu_function_inside_a_larger_graph():
    x = dg.tensor([-1.5, 0.5, 1.5], requires_grad=True)
    y = (MyReLU.apply(x * 2) ** 2).sum()
    y.backward()
    # d/dx (2x)^2 = 8x where 2x > 0
    np.testing.assert_allclose(np.asarray(x.grad), [0.0, 4.0, 12.0])


# (n) non-scalar outputs

def test_backward_of_a_non_scalar_output_without_gradient_raises():
    x = dg.randn(3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="scalar"):
        y.backward()
    assert x.grad is None


# (o) the profiler

def test_profiler_records_the_pow_operation():
    x = dg.randn((1, 1), requires_grad=True)
    with dg.autograd.profiler.profile() as prof:
        y = x ** 2
        y.backward()
    assert "pow" in str(prof).lower()
    np.testing.assert_allclose(np.asarray(x.grad), 2 * values(x))


# reprs

def test_repr_of_a_plain_tensor():
    assert repr(dg.tensor([2.0, 2.0]) * 1) == "tensor([2., 2.])"


def test_repr_of_a_leaf_that_requires_grad():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "tensor([1., 2.], requires_grad=True)"


def test_repr_of_a_result_shows_its_grad_fn():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x * 2) == "tensor([2., 4.], grad_fn=<MulBackward>)"
    assert "grad_fn=<MulBackward>" in repr(dg.randn(3, requires_grad=True) * 2)
