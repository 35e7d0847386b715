"""Every error a PyTorch user can run into with the array tier, with its message."""

import numpy as np
import pytest

import dualgrad as dg


def test_backward_twice_without_retain_graph():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"retain_graph=True"):
        y.backward()


def test_backward_twice_through_a_saved_output_without_retain_graph():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp().sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"second time.*retain_graph=True|retain_graph=True"):
        y.backward()


def test_non_scalar_backward_without_gradient():
    x = dg.ones((2, 3), requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar"):
        (x * 2).backward()


def test_autograd_grad_of_a_non_scalar_without_grad_outputs():
    x = dg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar"):
        dg.autograd.grad(x * 2, x)


def test_gradient_of_the_wrong_shape():
    x = dg.ones(3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="shape"):
        y.backward(dg.ones(4))
    assert x.grad is None


def test_grad_outputs_of_the_wrong_shape():
    x = dg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="shape"):
        dg.autograd.grad(x * 2, x, grad_outputs=dg.ones((3, 1)))


def test_gradient_of_integer_dtype():
    x = dg.ones(3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="floating"):
        y.backward(dg.tensor([1, 1, 1]))
    assert x.grad is None


def test_in_place_change_of_a_leaf_that_requires_grad():
    x = dg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        x.add_(1.0)
    with pytest.raises(RuntimeError, match="leaf"):
        x += 1
    with pytest.raises(RuntimeError, match="leaf"):
        x[0] = 2.0
    with pytest.raises(RuntimeError, match="leaf"):
        x.zero_()
    np.testing.assert_allclose(x.detach().numpy(), [1.0, 1.0, 1.0])
    assert x._version == 0


def test_in_place_change_of_a_tensor_saved_for_backward():
    leaf = dg.tensor([0.5, 1.5], requires_grad=True)
    x = leaf * 1
    y = x.cos()
    x.add_(1.0)
    with pytest.raises(RuntimeError, match="in-place") as info:
        y.sum().backward()
    assert "version" in str(info.value)
    assert "CosBackward" in str(info.value)


def test_requires_grad_on_an_integer_dtype():
    with pytest.raises(RuntimeError, match="floating point"):
        dg.tensor([1, 2, 3], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        dg.tensor([1, 2, 3]).requires_grad_()
    with pytest.raises(RuntimeError, match="floating point"):
        dg.tensor([True, False]).requires_grad = True


def test_backward_of_a_tensor_that_does_not_require_grad():
    x = dg.ones(3)
    with pytest.raises(RuntimeError, match="does not require grad"):
        (x * 2).sum().backward()


def test_autograd_grad_of_a_tensor_that_does_not_require_grad():
    x = dg.ones(3, requires_grad=True)
    c = dg.ones(3).sum()
    with pytest.raises(RuntimeError, match="does not require grad"):
        dg.autograd.grad(c, x)


def test_autograd_grad_with_an_unused_input():
    x = dg.ones(3, requires_grad=True)
    unused = dg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="allow_unused"):
        dg.autograd.grad((x * 2).sum(), [x, unused])


def test_numpy_on_a_tensor_that_requires_grad():
    x = dg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    with pytest.raises(RuntimeError, match="detach"):
        (x * 2).numpy()


def test_np_asarray_on_a_tensor_that_requires_grad():
    x = dg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        np.asarray(x)
    with pytest.raises(RuntimeError):
        np.array(x * 2)


def test_numpy_function_without_a_rule_names_the_function():
    x = dg.tensor([3.0, 1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="unique"):
        np.unique(x)
    with pytest.raises(TypeError, match="numpy.linalg.tensorsolve"):
        np.linalg.tensorsolve(x.reshape(1, 3) * x.reshape(3, 1), x)


def test_numpy_ufunc_without_a_rule_names_the_ufunc():
    x = dg.tensor([3.0, 1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="add.*accumulate|accumulate"):
        np.add.accumulate(x)


def test_shape_mismatch_in_addition():
    a = dg.ones(3, requires_grad=True)
    b = dg.ones(4)
    with pytest.raises((ValueError, RuntimeError)):
        a + b
    with pytest.raises((ValueError, RuntimeError)):
        dg.ones((2, 3)) * dg.ones((3, 2))


def test_matmul_shape_mismatch():
    a = dg.ones((2, 3), requires_grad=True)
    b = dg.ones((4, 5))
    with pytest.raises(RuntimeError, match="shape|multiplied"):
        a @ b
    with pytest.raises(RuntimeError):
        dg.matmul(dg.ones(3), dg.ones(4))


def test_float_of_a_multi_element_tensor():
    with pytest.raises(RuntimeError, match="elements"):
        float(dg.ones(3))
    with pytest.raises(RuntimeError):
        dg.ones(2).item()


def test_bool_of_a_multi_element_tensor_is_ambiguous():
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(dg.ones(3))
    with pytest.raises(RuntimeError, match="ambiguous"):
        if dg.tensor([1.0, 2.0]) > 0:
            pass


def test_single_element_conversions_work():
    assert float(dg.tensor([2.5])) == 2.5
    assert bool(dg.tensor([1.0])) is True
    assert dg.tensor(3.0, requires_grad=True).item() == 3.0


def test_assigning_a_grad_of_the_wrong_shape():
    x = dg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="shape"):
        x.grad = dg.ones(4)


def test_assigning_a_non_tensor_grad():
    x = dg.ones(3, requires_grad=True)
    with pytest.raises(TypeError):
        x.grad = [1.0, 1.0, 1.0]


def test_requires_grad_false_on_a_non_leaf():
    x = dg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        (x * 2).requires_grad_(False)


def test_retain_grad_on_a_tensor_that_does_not_require_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        dg.ones(3).retain_grad()


def test_saved_tensors_after_the_graph_was_freed():
    class Square(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    x = dg.tensor(3.0, requires_grad=True)
    y = Square.apply(x)
    y.backward()
    np.testing.assert_allclose(np.asarray(x.grad), 6.0)
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_save_for_backward_of_a_non_tensor():
    class Bad(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(3.0)
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    with pytest.raises(TypeError, match="save_for_backward"):
        Bad.apply(dg.ones(2, requires_grad=True))


def test_function_forward_returning_a_non_tensor():
    class Bad(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return 3.0

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(TypeError, match="Tensor"):
        Bad.apply(dg.ones(2, requires_grad=True))


def test_function_returning_the_wrong_number_of_gradients():
    class Bad(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g

    a = dg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        Bad.apply(a, a).sum().backward()


def test_function_returning_a_gradient_of_the_wrong_shape():
    class Bad(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return dg.ones((2, 2))

    a = dg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="invalid gradient"):
        Bad.apply(a).sum().backward()


def test_function_without_backward():
    class NoBackward(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

    a = dg.ones(3, requires_grad=True)
    y = NoBackward.apply(a).sum()
    with pytest.raises(NotImplementedError, match="backward"):
        y.backward()


def test_deepcopy_of_a_non_leaf():
    import copy
    x = dg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaves|leaf"):
        copy.deepcopy(x * 2)


def test_ufunc_with_out_argument():
    x = dg.ones(3, requires_grad=True)
    out = np.empty(3)
    with pytest.raises(TypeError, match=r"np\.zeros_like\(x\)"):
        np.sin(x, out=out)
    with pytest.raises(TypeError, match="out"):
        np.sin(x, out=dg.zeros(3))


def test_len_and_iteration_of_a_0d_tensor():
    t = dg.tensor(1.0)
    with pytest.raises(TypeError):
        len(t)
    with pytest.raises(TypeError):
        iter(t)


def test_unknown_device():
    with pytest.raises(RuntimeError, match="device"):
        dg.ones(3, device="cuda")


def test_numpy_function_with_out_raises():
    t = dg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"np\.zeros_like\(x\)"):     # into a plain array
        np.sum(t, out=np.zeros(()))
