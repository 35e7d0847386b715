"""gradcheck and gradgradcheck: they pass where PyTorch's pass (the same
functions, float64), catch wrong backward rules with a message that locates
them, and follow PyTorch's conventions for inputs, outputs and options."""

import warnings

import numpy as np
import pytest

import dualgrad as dg
from dualgrad.autograd import gradcheck, gradgradcheck
from dualgrad.autograd.gradcheck import GradcheckError

torch = pytest.importorskip("torch")


def values(t):
    return t.detach().numpy()


def leaves(lib, arrays):
    return tuple(lib.tensor(a, requires_grad=True) for a in arrays)


# ---------------------------------------------------------------------------
# The same function in both libraries, checked by both

rng = np.random.default_rng(7)


def normal(*shape):
    return rng.standard_normal(shape)


SPD = normal(3, 3)
SPD = SPD @ SPD.T + 3 * np.eye(3)

# name -> (lib -> function, input arrays, marks of gradcheck, marks of gradgradcheck):
CASES = {
    "sum_dim": (lambda lib: lambda x: x.sum(1), (normal(2, 3),), (), ()),
    "mean_keepdim": (lambda lib: lambda x: x.mean(0, keepdim=True), (normal(2, 3),), (), ()),
    "var_std": (lambda lib: lambda x: (x.var(1), x.std()), (normal(2, 3),), (), ()),
    "max_dim": (lambda lib: lambda x: x.max(1).values, (normal(2, 3),), (), ()),
    "cumsum": (lambda lib: lambda x: x.cumsum(1), (normal(2, 3),), (), ()),
    "norm_p3": (lambda lib: lambda x: x.norm(3), (normal(4),), (), ()),
    "prod": (lambda lib: lambda x: x.prod(1), (normal(2, 3),), (), ()),
    "amax": (lambda lib: lambda x: x.amax(1), (normal(2, 3),), (), ()),
    "norm": (lambda lib: lambda x: x.norm(), (normal(2, 3),), (), ()),
    "logsumexp": (lambda lib: lambda x: x.logsumexp(1), (normal(2, 3),), (), ()),
    "softmax": (lambda lib: lambda x: (x.softmax(1), x.log_softmax(0)), (normal(2, 3),), (),
                ()),
    "matmul_mm": (lambda lib: lambda a, b: a @ b, (normal(2, 3), normal(3, 2)), (), ()),
    "matmul_mv": (lambda lib: lambda a, b: a @ b, (normal(2, 3), normal(3)), (), ()),
    "matmul_vm": (lambda lib: lambda a, b: a @ b, (normal(3), normal(3, 2)), (), ()),
    "matmul_batched": (lambda lib: lambda a, b: a @ b, (normal(2, 2, 3), normal(3, 2)), (),
                       ()),
    "dot_outer": (lambda lib: lambda a, b: (lib.dot(a, b), lib.outer(a, b)),
                  (normal(3), normal(3)), (), ()),
    "einsum": (lambda lib: lambda a, b: lib.einsum("ij,jk->ik", a, b),
               (normal(2, 3), normal(3, 2)), (), ()),
    "tensordot": (lambda lib: lambda a, b: lib.tensordot(a, b, 1),
                  (normal(2, 3), normal(3, 2)), (), ()),
    "trace_tril": (lambda lib: lambda a: (lib.trace(a), a.tril()), (normal(3, 3),), (), ()),
    "diagonal_offset": (lambda lib: lambda a: a.diagonal(1), (normal(3, 3),),
                        (), ()),
    "cat_stack": (lambda lib: lambda a, b: (lib.cat([a, b], 1), lib.stack([a, a * b], 1)),
                  (normal(2, 3), normal(2, 3)), (), ()),
    "split_unbind": (lambda lib: lambda a: a.split([1, 2], 1) + a.unbind(0),
                     (normal(2, 3),), (), ()),
    "indexing": (lambda lib: lambda a: (a[1:, ::2], a[[0, 2, 0]], a[a.detach() > 0]),
                 (normal(3, 3),), (), ()),
    "where_clamp_relu": (lambda lib: lambda a, b: (lib.where(a.detach() > 0, a, b),
                                                   a.clamp(-0.5, 0.5), b.relu()),
                         (normal(2, 3), normal(2, 3)), (), ()),
    "masked_fill": (lambda lib: lambda a: a.masked_fill(a.detach() > 0, 0.0), (normal(5),), (),
                    ()),
    "views": (lambda lib: lambda a: (a.reshape(3, 2).permute(1, 0).flip(0), a.T * 2,
                                     a.unsqueeze(0).squeeze(), a[:1].expand(2, 3).repeat(2, 1)),
              (normal(2, 3),), (), ()),
    "elementwise": (lambda lib: lambda a, b: (a.sin() * b.exp() / (1 + a ** 2)).atan2(b)
                    + (a * b).tanh().sqrt(), (np.abs(normal(3)) + 0.5, np.abs(normal(3)) + 0.5),
                    (), ()),
    "broadcast": (lambda lib: lambda a, b: a * b - b / (a.abs() + 1), (normal(2, 3), normal(3)),
                  (), ()),
    "zero_dim": (lambda lib: lambda a, b: (a * b).exp() + a.log(), (np.array(0.7),
                                                                    np.array(-0.3)), (), ()),
    "setitem": (lambda lib: _setitem, (normal(2, 3), normal(3)), (), ()),
    "constant_base_power": (lambda lib: lambda a: 2.0 ** a + a ** 3.0, (normal(3),), (), ()),
    "inplace": (lambda lib: _inplace, (normal(3), normal(3)), (), ()),
    "linalg": (lambda lib: lambda a, b: (lib.linalg.solve(a, b),
                                         lib.linalg.solve(a, b[:, None] * b),
                                         lib.linalg.inv(a), lib.linalg.det(a)),
               (SPD, normal(3)), (), ()),
    "linalg_cholesky": (lambda lib: lambda a: lib.linalg.cholesky(a @ a.T), (SPD,),
                        (), ()),
    "linalg_slogdet": (lambda lib: lambda a: lib.linalg.slogdet(a)[1], (SPD,), (), ()),
}


def _setitem(a, b):
    c = a.clone()
    c[0] = b
    return c * 2


def _inplace(a, b):
    c = a * 1
    c += b
    c.mul_(b)
    return c


def case_params(order):
    return [pytest.param(name, marks=case[1 + order], id=name) for name, case in CASES.items()]


@pytest.mark.parametrize("name", case_params(1))
def test_gradcheck_passes_where_torch_passes(name):
    make, arrays, _, _ = CASES[name]
    assert torch.autograd.gradcheck(make(torch), leaves(torch, arrays), fast_mode=True)
    assert gradcheck(make(dg), leaves(dg, arrays))


@pytest.mark.parametrize("name", case_params(2))
def test_gradgradcheck_passes_where_torch_passes(name):
    make, arrays, _, _ = CASES[name]
    assert torch.autograd.gradgradcheck(make(torch), leaves(torch, arrays), fast_mode=True)
    assert gradgradcheck(make(dg), leaves(dg, arrays))


# ---------------------------------------------------------------------------
# Wrong backward rules are caught, and located

def square_with_backward(lib, backward):
    """x ** 2 as a custom Function of ``lib`` with the given backward(x, g)."""
    base = dg.autograd.Function if lib is dg else torch.autograd.Function

    class Square(base):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return backward(x, g)

    return Square.apply


def wrong_backward(x, g):
    return 3 * x * g  # d(x**2)/dx is 2x


def test_a_wrong_backward_fails_in_both_libraries():
    x = normal(4)
    with pytest.raises(RuntimeError):  # torch's GradcheckError
        torch.autograd.gradcheck(square_with_backward(torch, wrong_backward),
                                 leaves(torch, (x,)))
    with pytest.raises(GradcheckError) as info:
        gradcheck(square_with_backward(dg, wrong_backward), leaves(dg, (x,)))
    assert isinstance(info.value, RuntimeError)
    msg = str(info.value)
    assert "Jacobian mismatch for output 0 with respect to input 0" in msg
    assert "numerical:tensor(" in msg and "analytical:tensor(" in msg
    # The Jacobians are diagonal, 2x numerically and 3x analytically.
    k = int(np.argmax(np.abs(x)))
    assert f"input element ({k},) and output element ({k},)" in msg
    assert repr(float(3 * x[k])) in msg


def test_raise_exception_false_returns_false():
    f = square_with_backward(dg, wrong_backward)
    assert gradcheck(f, leaves(dg, (normal(3),)), raise_exception=False) is False
    assert torch.autograd.gradcheck(square_with_backward(torch, wrong_backward),
                                    leaves(torch, (normal(3),)), raise_exception=False) is False


def test_the_mismatch_names_the_input_and_output():
    class Mul(dg.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a * b

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            return g * b, g * b  # the second should be g * a

    a, b = leaves(dg, (normal(2), normal(2)))
    with pytest.raises(GradcheckError, match="output 1 with respect to input 2"):
        gradcheck(lambda s, a, b: (a + b, Mul.apply(a, b)), ("not a tensor", a, b))
    with pytest.raises(GradcheckError, match="output 1 with respect to input 2"):
        gradcheck(lambda s, a, b: (a + b, Mul.apply(a, b)), ("not a tensor", a, b),
                  fast_mode=True)


def test_fast_mode_passes_and_fails_like_the_full_check():
    x, y = leaves(dg, (normal(3), normal(3)))
    assert gradcheck(lambda x, y: (x.sin() * y, (x @ y).exp()), (x, y), fast_mode=True)
    with pytest.raises(GradcheckError, match="fast mode") as info:
        gradcheck(square_with_backward(dg, wrong_backward), (x,), fast_mode=True)
    assert "numerical:tensor(" in str(info.value)
    assert gradgradcheck(lambda x, y: (x.sin() * y).sum(), (x, y), fast_mode=True)


def test_gradgradcheck_catches_a_backward_that_is_right_only_to_first_order():
    # backward's value is right, but it is computed from a detached x, so its own
    # derivative with respect to x is lost.
    def detached(x, g):
        return 2 * x.detach() * g

    x = normal(3)
    assert gradcheck(square_with_backward(dg, detached), leaves(dg, (x,)))
    assert torch.autograd.gradcheck(square_with_backward(torch, detached), leaves(torch, (x,)))
    with pytest.raises(RuntimeError):
        torch.autograd.gradgradcheck(square_with_backward(torch, detached),
                                     leaves(torch, (x,)))
    with pytest.raises(GradcheckError, match="with respect to input 0"):
        gradgradcheck(square_with_backward(dg, detached), leaves(dg, (x,)))
    assert gradgradcheck(square_with_backward(dg, lambda x, g: 2 * x * g), leaves(dg, (x,)))


def test_gradgradcheck_with_given_grad_outputs():
    x = dg.tensor(normal(2, 3), requires_grad=True)
    go = dg.tensor(normal(2), requires_grad=True)
    assert gradgradcheck(lambda x: (x ** 3).sum(1), (x,), (go,))
    # grad_outputs that do not require grad are not checked, only used
    assert gradgradcheck(lambda x: (x ** 3).sum(1), x, dg.tensor(normal(2)))
    assert gradgradcheck(lambda x: x.exp(), x, gen_non_contig_grad_outputs=True)


def test_backward_must_scale_with_the_output_gradient():
    class SumOfSquares(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return (x * x).sum()

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return 2 * x  # right for g = 1 only

    with pytest.raises(GradcheckError, match="backward not multiplied by grad_output"):
        gradcheck(SumOfSquares.apply, leaves(dg, (normal(3),)))


def test_a_nondeterministic_backward_is_reported():
    noise = np.random.default_rng(0)

    def noisy(x, g):
        return g * (2 * x + dg.tensor(noise.standard_normal(3) * 1e-12))

    x = leaves(dg, (normal(3),))
    with pytest.raises(GradcheckError, match="not reentrant"):
        gradcheck(square_with_backward(dg, noisy), x)
    assert gradcheck(square_with_backward(dg, noisy), x, nondet_tol=1e-9)


def test_outputs_that_do_not_require_grad_must_not_change():
    x = leaves(dg, (normal(3),))
    assert gradcheck(lambda x: (x.detach() * 0 + 1, x.argmax()), x)
    with pytest.raises(GradcheckError, match="expected to be zero"):
        gradcheck(lambda x: x.detach() * 2, x)


def test_unused_inputs_have_zero_gradients():
    x, y = leaves(dg, (normal(3), normal(2)))
    assert gradcheck(lambda x, y: x.sin(), (x, y))


# ---------------------------------------------------------------------------
# Inputs, outputs and options

def test_inputs_are_restored_and_grads_untouched():
    x = dg.tensor(normal(2, 3), requires_grad=True)
    before = values(x).copy()
    gradcheck(lambda x: (x ** 2).sum(0), x)
    gradgradcheck(lambda x: (x ** 2).sum(0), x)
    np.testing.assert_array_equal(values(x), before)
    assert x.grad is None


def test_inputs_are_restored_when_the_function_raises():
    x = dg.tensor(normal(3), requires_grad=True)
    before = values(x).copy()
    calls = []

    def f(x):
        calls.append(1)
        if len(calls) > 2:
            raise ValueError("boom")
        return x * 2

    with pytest.raises(ValueError, match="boom"):
        gradcheck(f, x)
    np.testing.assert_array_equal(values(x), before)


def test_a_closure_sees_the_perturbation_as_in_torch():
    x = dg.tensor(normal(3), requires_grad=True)
    assert gradcheck(lambda _: x.sin(), (x,))


def test_no_input_requiring_grad_is_an_error():
    with pytest.raises(ValueError, match="at least one input tensor to require gradient"):
        gradcheck(lambda x: x * 2, dg.tensor(normal(3)))


def test_non_float64_inputs_warn():
    x = dg.tensor(normal(3), dtype=dg.float32, requires_grad=True)
    with pytest.warns(UserWarning, match="Input #0 requires gradient and is not a double"):
        gradcheck(lambda x: x * 2, x, raise_exception=False)


def test_float64_inputs_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gradcheck(lambda x: x * 2, leaves(dg, (normal(3),)))


def test_inputs_without_own_memory_per_element_are_rejected():
    x = dg.tensor(normal(1, 3), requires_grad=True)
    with pytest.raises(RuntimeError, match="stride 0"):
        gradcheck(lambda x: x * 2, x.detach().expand(2, 3).requires_grad_())


def test_the_function_must_return_tensors():
    with pytest.raises(TypeError, match="output 0 is a float"):
        gradcheck(lambda x: 1.0, leaves(dg, (normal(3),)))


def test_unsupported_options():
    x = leaves(dg, (normal(3),))
    for option in ("check_forward_ad", "check_batched_grad"):
        with pytest.raises(NotImplementedError, match=option):
            gradcheck(lambda x: x * 2, x, **{option: True})
    with pytest.raises(NotImplementedError, match="check_fwd_over_rev"):
        gradgradcheck(lambda x: x * 2, x, check_fwd_over_rev=True)
    with pytest.raises(ValueError, match="check_backward_ad"):
        gradcheck(lambda x: x * 2, x, check_backward_ad=False)


def test_check_grad_dtypes():
    class WrongDtype(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return (g * 2).float()

    x = leaves(dg, (normal(3),))
    # The engine converts the gradient to the input's dtype; the check looks at the result.
    assert gradcheck(WrongDtype.apply, x, atol=1e-5, rtol=1e-5, check_grad_dtypes=True)
