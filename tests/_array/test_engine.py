"""Semantics of the array tier's autograd engine, checked against analytic derivatives
and PyTorch's documented behaviour."""

import threading

import numpy as np
import pytest

import dualgrad as dg
from dualgrad.autograd import Function


def values(t):
    return t.detach().numpy()


def grad_of(t):
    return np.asarray(t.grad)


# ---------------------------------------------------------------------------
# Accumulation and graph shapes

def test_gradients_accumulate_across_backward_calls():
    x = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(grad_of(x), [2.0, 4.0, 6.0])
    (x * 3).sum().backward()
    np.testing.assert_allclose(grad_of(x), [5.0, 7.0, 9.0])
    x.sin().sum().backward()
    np.testing.assert_allclose(grad_of(x), [5.0, 7.0, 9.0] + np.cos([1.0, 2.0, 3.0]))


def test_accumulation_keeps_the_grad_tensor_identity():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    x.sum().backward()
    g = x.grad
    (2 * x).sum().backward()
    assert x.grad is g
    np.testing.assert_allclose(grad_of(x), [3.0, 3.0])


def test_leaf_used_twice_in_one_op_gets_both_contributions():
    x = dg.tensor([3.0, -1.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(grad_of(x), [6.0, -2.0])


def test_diamond_with_shared_subexpression():
    xv = np.array([0.5, -1.5, 2.0])
    x = dg.tensor(xv, requires_grad=True)
    y = x * x
    z = y + y * y
    z.sum().backward()
    # z = x^2 + x^4
    np.testing.assert_allclose(grad_of(x), 2 * xv + 4 * xv ** 3, rtol=1e-14)


def test_deep_diamond_lattice():
    # Each level uses the previous level twice: y_{k+1} = y_k * 0.5 + y_k * 0.5.
    x = dg.tensor(2.0, requires_grad=True)
    y = x
    for _ in range(40):
        y = y * 0.5 + y * 0.5
    y = y * y
    y.backward()
    np.testing.assert_allclose(grad_of(x), 4.0)


def test_wide_fan_out_and_fan_in():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    parts = [x * float(k) for k in range(100)]
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    total.sum().backward()
    np.testing.assert_allclose(grad_of(x), [4950.0, 4950.0])


def test_broadcasting_reduces_gradients_to_the_input_shapes():
    a = dg.ones((3, 1), requires_grad=True)
    b = dg.ones((4,), requires_grad=True)
    c = dg.ones((), requires_grad=True)
    (a * b + c).sum().backward()
    assert a.grad.shape == (3, 1) and b.grad.shape == (4,) and c.grad.shape == ()
    np.testing.assert_allclose(grad_of(a), np.full((3, 1), 4.0))
    np.testing.assert_allclose(grad_of(b), np.full(4, 3.0))
    np.testing.assert_allclose(grad_of(c), 12.0)


def test_a_million_operation_chain_backpropagates_without_recursion_error():
    x = dg.tensor(0.0, requires_grad=True)
    y = x
    for _ in range(10 ** 6):
        y = y + 1.0
    np.testing.assert_allclose(values(y), 1e6)
    y.backward()
    np.testing.assert_allclose(grad_of(x), 1.0)
    del y  # releasing the million nodes must not overflow the C stack either


def test_a_long_chain_works_with_autograd_grad_too():
    x = dg.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    (g,) = dg.autograd.grad(y.sum(), x)
    np.testing.assert_allclose(np.asarray(g), [1.0])


# ---------------------------------------------------------------------------
# retain_graph

def test_backward_twice_with_retain_graph_accumulates():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp()).sum()
    y.backward(retain_graph=True)
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(grad_of(x), 3 * np.exp([1.0, 2.0]))


def test_backward_through_a_freed_graph_raises():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_freed_shared_subgraph_raises_for_a_second_output():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    a = h.sum()
    b = (h * 2).sum()
    a.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        b.backward()


def test_retained_shared_subgraph_serves_a_second_output():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    a = h.sum()
    b = (h * 2).sum()
    a.backward(retain_graph=True)
    b.backward()
    np.testing.assert_allclose(grad_of(x), 3 * np.exp([1.0, 2.0]))


def test_autograd_grad_frees_the_graph_unless_retained():
    x = dg.tensor(1.5, requires_grad=True)
    y = x.sin()
    dg.autograd.grad(y, x)
    with pytest.raises(RuntimeError, match="retain_graph"):
        dg.autograd.grad(y, x)


def test_autograd_grad_with_retain_graph_can_be_repeated():
    x = dg.tensor(1.5, requires_grad=True)
    y = x.sin()
    g1 = dg.autograd.grad(y, x, retain_graph=True)[0]
    g2 = dg.autograd.grad(y, x)[0]
    np.testing.assert_allclose(np.asarray(g1), np.cos(1.5))
    np.testing.assert_allclose(np.asarray(g2), np.cos(1.5))


def test_graph_without_saved_values_can_be_run_twice():
    # PyTorch allows this: add and sum save nothing, so nothing was freed.
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = (x + 1.0).sum()
    y.backward()
    y.backward()
    np.testing.assert_allclose(grad_of(x), [2.0, 2.0])


# ---------------------------------------------------------------------------
# autograd.grad

def test_autograd_grad_does_not_touch_grad_attributes():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    h.retain_grad()
    y = (h * h).sum()
    (g,) = dg.autograd.grad(y, x)
    np.testing.assert_allclose(np.asarray(g), [18.0, 36.0])
    assert x.grad is None
    assert h.grad is None
    assert not g.requires_grad


def test_autograd_grad_leaves_an_existing_grad_unchanged():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    x.sum().backward()
    before = grad_of(x).copy()
    dg.autograd.grad((x * x).sum(), x)
    np.testing.assert_allclose(grad_of(x), before)


def test_autograd_grad_with_respect_to_an_intermediate():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    y = (h ** 2).sum()
    gh, gx = dg.autograd.grad(y, [h, x])
    np.testing.assert_allclose(np.asarray(gh), [4.0, 8.0])
    np.testing.assert_allclose(np.asarray(gx), [8.0, 16.0])


def test_autograd_grad_unused_input_raises_without_allow_unused():
    x = dg.tensor(1.0, requires_grad=True)
    z = dg.tensor(2.0, requires_grad=True)
    y = x * 3
    with pytest.raises(RuntimeError, match="allow_unused"):
        dg.autograd.grad(y, [x, z])


def test_autograd_grad_allow_unused_returns_none():
    x = dg.tensor(1.0, requires_grad=True)
    z = dg.tensor(2.0, requires_grad=True)
    y = x * 3
    gx, gz = dg.autograd.grad(y, [x, z], allow_unused=True)
    np.testing.assert_allclose(np.asarray(gx), 3.0)
    assert gz is None


def test_autograd_grad_materialize_grads_returns_zeros():
    x = dg.tensor(1.0, requires_grad=True)
    z = dg.tensor([2.0, 3.0], requires_grad=True)
    gx, gz = dg.autograd.grad(x * 3, [x, z], materialize_grads=True)
    np.testing.assert_allclose(np.asarray(gz), [0.0, 0.0])


def test_autograd_grad_with_grad_outputs():
    x = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    v = dg.tensor([1.0, 0.5, -2.0])
    (g,) = dg.autograd.grad(y, x, grad_outputs=v)
    np.testing.assert_allclose(np.asarray(g), 2 * np.array([1.0, 2.0, 3.0]) * [1.0, 0.5, -2.0])


def test_autograd_grad_of_several_outputs_sums_their_contributions():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y1 = (x * x).sum()
    y2 = (x * 3).sum()
    (g,) = dg.autograd.grad([y1, y2], x)
    np.testing.assert_allclose(np.asarray(g), [5.0, 7.0])


def test_autograd_grad_of_several_outputs_with_grad_outputs():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y1 = x * x
    y2 = x.sum()
    (g,) = dg.autograd.grad([y1, y2], [x], grad_outputs=[dg.tensor([1.0, 1.0]),
                                                           dg.tensor(10.0)])
    np.testing.assert_allclose(np.asarray(g), [12.0, 14.0])


def test_autograd_grad_several_inputs_are_in_order():
    a = dg.tensor(2.0, requires_grad=True)
    b = dg.tensor(5.0, requires_grad=True)
    y = a * a * b
    gb, ga = dg.autograd.grad(y, [b, a])
    np.testing.assert_allclose(np.asarray(ga), 20.0)
    np.testing.assert_allclose(np.asarray(gb), 4.0)


def test_autograd_backward_of_several_tensors():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y1 = x * x
    y2 = (x * 3).sum()
    dg.autograd.backward([y1, y2], [dg.tensor([1.0, 2.0]), None])
    np.testing.assert_allclose(grad_of(x), [2.0 * 1 + 3, 4.0 * 2 + 3])


def test_autograd_backward_with_inputs_accumulates_only_into_those():
    a = dg.tensor(2.0, requires_grad=True)
    b = dg.tensor(3.0, requires_grad=True)
    dg.autograd.backward(a * b, inputs=[a])
    np.testing.assert_allclose(grad_of(a), 3.0)
    assert b.grad is None


def test_tensor_backward_with_inputs():
    a = dg.tensor(2.0, requires_grad=True)
    b = dg.tensor(3.0, requires_grad=True)
    (a * b).backward(inputs=[b])
    assert a.grad is None
    np.testing.assert_allclose(grad_of(b), 2.0)


# ---------------------------------------------------------------------------
# Higher derivatives with create_graph

def nth_derivatives(f, x0, n):
    x = dg.tensor(x0, requires_grad=True)
    y = f(x)
    out = []
    for _ in range(n):
        (y,) = dg.autograd.grad(y.sum(), x, create_graph=True)
        out.append(values(y).copy())
    return out


XS = np.array([-1.3, -0.2, 0.4, 1.7])


def test_second_and_third_derivatives_of_sin():
    d1, d2, d3 = nth_derivatives(lambda x: x.sin(), XS, 3)
    np.testing.assert_allclose(d1, np.cos(XS), rtol=1e-13)
    np.testing.assert_allclose(d2, -np.sin(XS), rtol=1e-13)
    np.testing.assert_allclose(d3, -np.cos(XS), rtol=1e-13)


def test_second_and_third_derivatives_of_exp():
    d1, d2, d3 = nth_derivatives(lambda x: x.exp(), XS, 3)
    for d in (d1, d2, d3):
        np.testing.assert_allclose(d, np.exp(XS), rtol=1e-13)


def test_second_and_third_derivatives_of_tanh():
    d1, d2, d3 = nth_derivatives(lambda x: x.tanh(), XS, 3)
    t = np.tanh(XS)
    np.testing.assert_allclose(d1, 1 - t ** 2, rtol=1e-12)
    np.testing.assert_allclose(d2, -2 * t * (1 - t ** 2), rtol=1e-12)
    np.testing.assert_allclose(d3, (1 - t ** 2) * (6 * t ** 2 - 2), rtol=1e-12)


def test_second_derivative_of_a_product_by_backward_create_graph():
    x = dg.tensor(1.5, requires_grad=True)
    y = x ** 3 * x.sin()
    (g,) = dg.autograd.grad(y, x, create_graph=True)
    g.backward()
    xv = 1.5
    # y'' = 6x sin x + 6x^2 cos x - x^3 sin x
    np.testing.assert_allclose(grad_of(x), 6 * xv * np.sin(xv) + 6 * xv ** 2 * np.cos(xv)
                               - xv ** 3 * np.sin(xv), rtol=1e-13)


def test_mixed_second_derivative():
    a = dg.tensor(0.7, requires_grad=True)
    b = dg.tensor(-1.2, requires_grad=True)
    y = (a * b).exp()
    (ga,) = dg.autograd.grad(y, a, create_graph=True)
    (gab,) = dg.autograd.grad(ga, b)
    av, bv = 0.7, -1.2
    np.testing.assert_allclose(np.asarray(gab), np.exp(av * bv) * (1 + av * bv), rtol=1e-13)


def test_backward_with_create_graph_makes_grad_differentiable():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    (x ** 3).sum().backward(create_graph=True)
    g = x.grad
    assert g.requires_grad and g.grad_fn is not None
    np.testing.assert_allclose(values(g), [3.0, 12.0])
    (h,) = dg.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(np.asarray(h), [6.0, 12.0])


def test_grad_without_create_graph_does_not_require_grad():
    x = dg.tensor(1.0, requires_grad=True)
    (g,) = dg.autograd.grad(x ** 2, x)
    assert not g.requires_grad and g.grad_fn is None


# ---------------------------------------------------------------------------
# Grad modes

def test_no_grad_as_a_decorator():
    @dg.no_grad()
    def f(x):
        return x * 2

    x = dg.ones(2, requires_grad=True)
    assert not f(x).requires_grad
    assert dg.is_grad_enabled()
    assert (x * 2).requires_grad


def test_enable_grad_inside_no_grad_and_as_a_decorator():
    @dg.enable_grad()
    def f(x):
        return x * 2

    x = dg.ones(2, requires_grad=True)
    with dg.no_grad():
        assert not dg.is_grad_enabled()
        assert f(x).requires_grad
        with dg.enable_grad():
            assert dg.is_grad_enabled()
            assert (x * 3).requires_grad
        assert not dg.is_grad_enabled()
    assert dg.is_grad_enabled()


def test_set_grad_enabled_as_a_decorator_does_not_switch_now():
    @dg.set_grad_enabled(False)
    def f(x):
        return x * 2

    assert dg.is_grad_enabled()
    x = dg.ones(2, requires_grad=True)
    assert not f(x).requires_grad
    assert dg.is_grad_enabled()


def test_set_grad_enabled_as_a_call_switches_immediately():
    try:
        dg.set_grad_enabled(False)
        assert not dg.is_grad_enabled()
        x = dg.ones(2, requires_grad=True)
        assert not (x * 2).requires_grad
        dg.set_grad_enabled(True)
        assert dg.is_grad_enabled()
        assert (x * 2).requires_grad
    finally:
        dg.set_grad_enabled(True)


def test_set_grad_enabled_as_a_context_manager_restores_the_mode():
    x = dg.ones(2, requires_grad=True)
    with dg.set_grad_enabled(False):
        assert not dg.is_grad_enabled()
        assert not (x * 2).requires_grad
    assert dg.is_grad_enabled()
    with dg.no_grad():
        with dg.set_grad_enabled(True):
            assert (x * 2).requires_grad
        assert not dg.is_grad_enabled()
    assert dg.is_grad_enabled()


def test_grad_mode_is_restored_after_an_exception():
    with pytest.raises(ValueError):
        with dg.no_grad():
            raise ValueError("boom")
    assert dg.is_grad_enabled()


def test_grad_mode_is_thread_local():
    seen = {}
    x = dg.ones(2, requires_grad=True)

    def worker():
        seen["enabled"] = dg.is_grad_enabled()
        seen["requires_grad"] = (x * 2).requires_grad
        with dg.no_grad():
            seen["inner"] = dg.is_grad_enabled()

    with dg.no_grad():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert not dg.is_grad_enabled()  # the thread's no_grad did not leak either way
    assert seen == {"enabled": True, "requires_grad": True, "inner": False}
    assert dg.is_grad_enabled()


def test_no_grad_in_another_thread_does_not_affect_this_one():
    entered = threading.Event()
    release = threading.Event()

    def worker():
        with dg.no_grad():
            entered.set()
            release.wait(5)

    t = threading.Thread(target=worker)
    t.start()
    try:
        assert entered.wait(5)
        assert dg.is_grad_enabled()
        x = dg.ones(2, requires_grad=True)
        assert (x * 2).requires_grad
    finally:
        release.set()
        t.join()


# ---------------------------------------------------------------------------
# requires_grad, leaves, detach

def test_requires_grad_on_an_integer_tensor_raises():
    t = dg.tensor([1, 2, 3])
    assert t.dtype == dg.int64
    with pytest.raises(RuntimeError, match="floating point"):
        t.requires_grad_()
    assert not t.requires_grad


def test_requires_grad_false_on_an_integer_tensor_is_fine():
    t = dg.tensor([1, 2, 3])
    assert t.requires_grad_(False) is t


def test_requires_grad_flag_and_leaf_status():
    x = dg.tensor([1.0, 2.0])
    assert x.is_leaf and not x.requires_grad
    assert x.requires_grad_() is x
    assert x.is_leaf and x.requires_grad
    y = x * 2
    assert not y.is_leaf and y.requires_grad
    z = dg.tensor([1.0]) * 2  # made from constants only
    assert z.is_leaf and not z.requires_grad


def test_requires_grad_cannot_be_switched_off_on_a_non_leaf():
    x = dg.ones(2, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError):
        y.requires_grad_(False)


def test_detach_shares_memory_but_not_the_graph():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    assert np.shares_memory(d.numpy(), y.detach().numpy())
    with dg.no_grad():
        y.mul_(10)
    np.testing.assert_allclose(d.numpy(), [20.0, 40.0])


def test_detach_shares_the_version_counter():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    d = y.detach()
    v = y._version
    d.add_(1.0)
    assert y._version == v + 1 == d._version
    np.testing.assert_allclose(values(y), [2.0, 3.0])


def test_in_place_on_a_detached_tensor_is_seen_by_backward():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    z = y.sin()           # SinBackward saved y
    y.detach().mul_(2)
    with pytest.raises(RuntimeError, match="SinBackward"):
        z.sum().backward()


def test_in_place_on_a_detached_leaf_is_seen_by_backward():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    z = x.exp() * x       # MulBackward saved x
    x.detach().zero_()
    np.testing.assert_allclose(values(x), [0.0, 0.0])
    with pytest.raises(RuntimeError, match="in-place"):
        z.sum().backward()


def test_detach_in_place_makes_a_leaf():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    assert y.detach_() is y
    assert y.is_leaf and not y.requires_grad and y.grad_fn is None
    np.testing.assert_allclose(y.numpy(), [2.0, 4.0])


def test_data_gives_values_outside_the_graph():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    d = x.data
    assert not d.requires_grad
    d.mul_(3)  # allowed, as in PyTorch: .data is not tracked
    np.testing.assert_allclose(values(x), [3.0, 6.0])


# ---------------------------------------------------------------------------
# Version counter

def test_version_counter_moves_with_in_place_ops():
    x = dg.tensor([1.0, 2.0])
    assert x._version == 0
    x.add_(1.0)
    assert x._version == 1
    x[0] = 5.0
    assert x._version == 2
    x += 1
    assert x._version == 3
    x.zero_()
    assert x._version == 4


def test_modifying_a_saved_input_in_place_makes_backward_raise():
    leaf = dg.tensor([0.1, 0.2], requires_grad=True)
    x = leaf * 1
    y = x.sin()
    x.add_(1.0)
    with pytest.raises(RuntimeError, match="in-place") as info:
        y.sum().backward()
    assert "SinBackward" in str(info.value)
    assert leaf.grad is None


def test_modifying_a_saved_input_by_index_assignment_makes_backward_raise():
    leaf = dg.tensor([0.1, 0.2], requires_grad=True)
    x = leaf * 1
    y = x * x
    x[0] = 3.0
    with pytest.raises(RuntimeError, match="in-place") as info:
        y.sum().backward()
    assert "MulBackward" in str(info.value)


def test_modifying_the_saved_output_of_exp_makes_backward_raise():
    leaf = dg.tensor([0.1, 0.2], requires_grad=True)
    y = leaf.exp()
    y.mul_(2)
    with pytest.raises(RuntimeError, match="in-place") as info:
        y.sum().backward()
    assert "ExpBackward" in str(info.value)


def test_modifying_a_saved_leaf_under_no_grad_makes_backward_raise():
    leaf = dg.tensor([0.1, 0.2], requires_grad=True)
    y = leaf.sin()
    with dg.no_grad():
        leaf.mul_(2)
    with pytest.raises(RuntimeError, match="in-place"):
        y.sum().backward()


def test_retained_grad_after_an_in_place_op_is_the_grad_of_the_new_value():
    # As PyTorch: y.grad is the gradient with respect to y's current value.
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    y.retain_grad()
    y.mul_(3)
    y.sum().backward()
    np.testing.assert_allclose(grad_of(x), [3.0, 3.0])
    np.testing.assert_allclose(grad_of(y), [1.0, 1.0])


def test_modifying_a_tensor_not_saved_is_fine():
    leaf = dg.tensor([0.1, 0.2], requires_grad=True)
    x = leaf * 1
    y = x + 2.0        # addition saves nothing
    x.mul_(5)
    y.sum().backward()
    np.testing.assert_allclose(grad_of(leaf), [1.0, 1.0])


def test_in_place_op_whose_rule_needs_the_old_value_is_correct():
    # sin_ needs the input's old values for its gradient: cos(x_old)
    leaf = dg.tensor([0.3, 1.1], requires_grad=True)
    x = leaf * 1
    x.sin_()
    x.exp_()
    x.sum().backward()
    lv = np.array([0.3, 1.1])
    np.testing.assert_allclose(grad_of(leaf), np.exp(np.sin(lv)) * np.cos(lv), rtol=1e-14)


# ---------------------------------------------------------------------------
# .grad assignment

def test_grad_can_be_set_to_none():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    assert x.grad is not None
    x.grad = None
    assert x.grad is None
    (x * 3).sum().backward()
    np.testing.assert_allclose(grad_of(x), [3.0, 3.0])


def test_grad_can_be_assigned_and_backward_accumulates_into_it():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    x.grad = dg.tensor([10.0, 20.0])
    (x * 2).sum().backward()
    np.testing.assert_allclose(grad_of(x), [12.0, 22.0])


def test_assigning_a_grad_of_the_wrong_shape_raises():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="shape"):
        x.grad = dg.tensor([1.0, 2.0, 3.0])
    assert x.grad is None


# ---------------------------------------------------------------------------
# grad_fn and next_functions

def test_grad_fn_next_functions_structure():
    a = dg.tensor([1.0, 2.0], requires_grad=True)
    b = dg.tensor([3.0, 4.0], requires_grad=True)
    c = a * b
    d = c + 1.0
    e = d.sin()
    assert e.grad_fn.name() == "SinBackward"
    (sin_next,) = e.grad_fn.next_functions
    assert sin_next[0] is d.grad_fn and sin_next[1] == 0
    add_next = d.grad_fn.next_functions
    assert len(add_next) == 2
    assert add_next[0][0] is c.grad_fn
    assert add_next[1] == (None, 0)   # the constant
    mul_next = c.grad_fn.next_functions
    assert [f.name() for f, _ in mul_next] == ["AccumulateGrad", "AccumulateGrad"]
    assert mul_next[0][0].variable is a
    assert mul_next[1][0].variable is b
    assert mul_next[0][0].next_functions == ()


def test_next_functions_for_a_constant_tensor_operand():
    a = dg.tensor([1.0, 2.0], requires_grad=True)
    k = dg.tensor([3.0, 4.0])
    c = k * a
    assert c.grad_fn.next_functions[0] == (None, 0)
    assert c.grad_fn.next_functions[1][0].variable is a


def test_output_nr_of_multi_output_ops():
    x = dg.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    p, q = x.split(2)
    assert p.grad_fn is q.grad_fn
    assert p.output_nr == 0 and q.output_nr == 1
    (p.sum() * 2 + q.sum() * 3).backward()
    np.testing.assert_allclose(grad_of(x), [2.0, 2.0, 3.0, 3.0])


# ---------------------------------------------------------------------------
# dtypes

def test_float32_plus_float64_promotes_and_grads_keep_each_leaf_dtype():
    a = dg.tensor([1.0, 2.0], dtype=dg.float32, requires_grad=True)
    b = dg.tensor([3.0, 4.0], dtype=dg.float64, requires_grad=True)
    c = a * b + a
    assert c.dtype == dg.float64
    c.sum().backward()
    assert a.grad.dtype == dg.float32
    assert b.grad.dtype == dg.float64
    np.testing.assert_allclose(grad_of(a), [4.0, 5.0])
    np.testing.assert_allclose(grad_of(b), [1.0, 2.0])


def test_float32_with_python_scalar_stays_float32():
    a = dg.tensor([1.0, 2.0], dtype=dg.float32, requires_grad=True)
    y = a * 2.5
    assert y.dtype == dg.float32
    y.sum().backward()
    assert a.grad.dtype == dg.float32
    np.testing.assert_allclose(grad_of(a), [2.5, 2.5])


def test_to_float32_is_differentiable():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = x.to(dg.float32)
    assert y.dtype == dg.float32 and y.requires_grad
    (y * y).sum().backward()
    assert x.grad.dtype == dg.float64
    np.testing.assert_allclose(grad_of(x), [2.0, 4.0])


def test_double_and_half_are_differentiable():
    x = dg.tensor([1.0, 2.0], dtype=dg.float32, requires_grad=True)
    d = x.double()
    h = x.half()
    assert d.dtype == dg.float64 and h.dtype == dg.float16
    (d * 3).sum().backward()
    (h.float() * 2).sum().backward()
    assert x.grad.dtype == dg.float32
    np.testing.assert_allclose(grad_of(x), [5.0, 5.0])


def test_to_same_dtype_returns_the_tensor_itself():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    assert x.to(dg.float64) is x


def test_integer_cast_cuts_the_gradient():
    x = dg.tensor([1.5, 2.5], requires_grad=True)
    y = x.long()
    assert y.dtype == dg.int64
    assert not y.requires_grad


# ---------------------------------------------------------------------------
# Custom Functions

class SinCos(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sin(), x.cos()

    @staticmethod
    def backward(ctx, gs, gc):
        (x,) = ctx.saved_tensors
        return gs * x.cos() - gc * x.sin()


def test_function_with_two_outputs():
    xv = np.array([0.3, -1.2])
    x = dg.tensor(xv, requires_grad=True)
    s, c = SinCos.apply(x)
    np.testing.assert_allclose(values(s), np.sin(xv))
    np.testing.assert_allclose(values(c), np.cos(xv))
    assert s.grad_fn is c.grad_fn
    (s * 2 + c * 3).sum().backward()
    np.testing.assert_allclose(grad_of(x), 2 * np.cos(xv) - 3 * np.sin(xv), rtol=1e-14)


def test_function_with_two_outputs_one_unused_gets_zeros():
    xv = np.array([0.3, -1.2])
    x = dg.tensor(xv, requires_grad=True)
    s, c = SinCos.apply(x)
    c.sum().backward()
    np.testing.assert_allclose(grad_of(x), -np.sin(xv), rtol=1e-14)


class SortWithIndices(Function):
    @staticmethod
    def forward(ctx, x):
        xv = x.detach().numpy()
        idx = np.argsort(xv)
        ctx.idx = idx
        out = dg.tensor(xv[idx])
        ind = dg.tensor(idx)
        ctx.mark_non_differentiable(ind)
        return out, ind

    @staticmethod
    def backward(ctx, g, g_ind):
        gx = np.zeros(g.shape)
        gx[ctx.idx] = g.numpy()
        return dg.tensor(gx)


def test_function_mark_non_differentiable():
    x = dg.tensor([3.0, 1.0, 2.0], requires_grad=True)
    out, ind = SortWithIndices.apply(x)
    assert out.requires_grad
    assert not ind.requires_grad
    assert ind.tolist() == [1, 2, 0]
    (out * dg.tensor([1.0, 10.0, 100.0])).sum().backward()
    np.testing.assert_allclose(grad_of(x), [100.0, 1.0, 10.0])


class ScaledAdd(Function):
    seen = None

    @staticmethod
    def forward(ctx, a, b, k):
        ScaledAdd.seen = ctx.needs_input_grad
        ctx.k = k
        return a + b * k

    @staticmethod
    def backward(ctx, g):
        ga = g if ctx.needs_input_grad[0] else None
        gb = g * ctx.k if ctx.needs_input_grad[1] else None
        return ga, gb, None


def test_function_needs_input_grad():
    a = dg.tensor([1.0, 2.0], requires_grad=True)
    b = dg.tensor([3.0, 4.0])
    y = ScaledAdd.apply(a, b, 5.0)
    assert ScaledAdd.seen == (True, False, False)
    y.sum().backward()
    np.testing.assert_allclose(grad_of(a), [1.0, 1.0])
    assert b.grad is None
    b.requires_grad_()
    y = ScaledAdd.apply(a, b, 5.0)
    assert ScaledAdd.seen == (True, True, False)
    y.sum().backward()
    np.testing.assert_allclose(grad_of(a), [2.0, 2.0])
    np.testing.assert_allclose(grad_of(b), [5.0, 5.0])


def test_function_without_inputs_needing_grad_records_nothing():
    a = dg.tensor([1.0, 2.0])
    y = ScaledAdd.apply(a, a, 2.0)
    assert not y.requires_grad and y.grad_fn is None
    np.testing.assert_allclose(y.numpy(), [3.0, 6.0])


class WrongCount(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a * b

    @staticmethod
    def backward(ctx, g):
        return g


def test_function_returning_the_wrong_number_of_gradients_raises():
    a = dg.tensor(1.0, requires_grad=True)
    b = dg.tensor(2.0, requires_grad=True)
    y = WrongCount.apply(a, b)
    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        y.backward()


class WrongShape(Function):
    @staticmethod
    def forward(ctx, a):
        return a * 2

    @staticmethod
    def backward(ctx, g):
        return dg.ones(5)


def test_function_returning_a_gradient_of_the_wrong_shape_raises():
    a = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = WrongShape.apply(a)
    with pytest.raises(RuntimeError, match="invalid gradient"):
        y.sum().backward()


class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x ** 2


def test_function_with_create_graph_gives_second_and_third_derivatives():
    x = dg.tensor([0.5, -2.0], requires_grad=True)
    y = Cube.apply(x)
    (g1,) = dg.autograd.grad(y.sum(), x, create_graph=True)
    np.testing.assert_allclose(values(g1), 3 * np.array([0.5, -2.0]) ** 2)
    (g2,) = dg.autograd.grad(g1.sum(), x, create_graph=True)
    np.testing.assert_allclose(values(g2), 6 * np.array([0.5, -2.0]))
    (g3,) = dg.autograd.grad(g2.sum(), x)
    np.testing.assert_allclose(np.asarray(g3), [6.0, 6.0])


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


def test_function_saving_its_output_with_create_graph():
    xv = np.array([0.1, 0.7])
    x = dg.tensor(xv, requires_grad=True)
    y = Exp.apply(x)
    (g1,) = dg.autograd.grad(y.sum(), x, create_graph=True)
    (g2,) = dg.autograd.grad(g1.sum(), x)
    np.testing.assert_allclose(values(g1), np.exp(xv), rtol=1e-14)
    np.testing.assert_allclose(np.asarray(g2), np.exp(xv), rtol=1e-14)


def test_function_saved_output_modified_in_place_raises():
    x = dg.tensor([0.1, 0.7], requires_grad=True)
    y = Exp.apply(x)
    y.add_(1.0)
    with pytest.raises(RuntimeError, match="in-place"):
        y.sum().backward()


class AddOneInPlace(Function):
    @staticmethod
    def forward(ctx, x):
        x.add_(1.0)
        ctx.mark_dirty(x)
        return x

    @staticmethod
    def backward(ctx, g):
        return g


def test_function_mark_dirty():
    leaf = dg.tensor([1.0, 2.0], requires_grad=True)
    x = leaf * 2
    v = x._version
    y = AddOneInPlace.apply(x)
    assert y is x
    assert x._version > v
    np.testing.assert_allclose(values(x), [3.0, 5.0])
    assert x.grad_fn.name() == "AddOneInPlaceBackward"
    (x * x).sum().backward()
    np.testing.assert_allclose(grad_of(leaf), 2 * 2 * np.array([3.0, 5.0]))


def test_function_mark_dirty_on_a_leaf_that_requires_grad_raises():
    leaf = dg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        AddOneInPlace.apply(leaf)


def test_function_backward_sees_tensors_not_arrays():
    seen = {}

    class Probe(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            seen["type"] = type(g)
            return g * 2

    x = dg.tensor([1.0], requires_grad=True)
    Probe.apply(x).sum().backward()
    assert seen["type"] is dg.Tensor
    np.testing.assert_allclose(grad_of(x), [2.0])


# -- regressions -------------------------------------------------------------

def test_operand_not_needed_by_a_derivative_is_not_saved():
    # c = b * 2 needs only the constant 2 for b's gradient: changing b in place
    # afterwards must not invalidate the graph (as in PyTorch).
    a = dg.tensor([1.0, 2.0], requires_grad=True)
    b = a * 1
    c = b * 2
    b.add_(1)
    c.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 2.0])


def test_slice_assignment_from_a_product_of_the_same_slice():
    x = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1
    y[1:] = y[1:] * 2
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0, 2.0])


def test_no_grad_works_as_a_bare_decorator():
    x = dg.tensor([1.0], requires_grad=True)

    @dg.no_grad
    def double(t):
        return t * 2

    assert not double(x).requires_grad
    assert dg.is_grad_enabled()


def test_integer_arrays_keep_their_dtype():
    assert dg.tensor(np.arange(3, dtype=np.int32)).dtype == np.int32
    assert dg.tensor([1, 2]).dtype == np.int64
    assert dg.tensor([1.0, 2.0]).dtype == np.float64


def test_zero_dim_float_does_not_widen_an_array_as_in_pytorch():
    import torch
    a = dg.tensor([1.0, 2.0], dtype=dg.float32, requires_grad=True)
    s = dg.tensor(3.0, requires_grad=True)
    y = a * s
    ta = torch.tensor([1.0, 2.0], dtype=torch.float32, requires_grad=True)
    ts = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    ty = ta * ts
    assert str(y.dtype) == str(ty.dtype).removeprefix("torch.")
    y.sum().backward()
    ty.sum().backward()
    assert a.grad.dtype == np.float32 and s.grad.dtype == np.float64
    np.testing.assert_allclose(s.grad.numpy(), ts.grad.numpy())
    assert (dg.tensor(1.0) * dg.tensor([1.0], dtype=dg.float16)).dtype == np.float16


def test_integer_operands_take_the_floating_dtype_as_in_pytorch():
    ints = dg.tensor([1, 2])
    assert (ints * dg.tensor([1.5], dtype=dg.float32)).dtype == np.float32
    assert (dg.tensor(2) * dg.tensor([1.5], dtype=dg.float16)).dtype == np.float16
    assert (ints * dg.tensor(1.5, dtype=dg.float32)).dtype == dg.get_default_dtype()
    x = dg.tensor([1.0, 2.0], dtype=dg.float32)
    assert (x * np.float64(2.0)).dtype == np.float32


def test_tensor_constructor_makes_a_floating_copy():
    data = np.array([1, 2])
    t = dg.Tensor(data)
    assert t.dtype == dg.get_default_dtype() and t.tolist() == [1.0, 2.0]
    data[0] = 5
    assert t.tolist() == [1.0, 2.0]
    assert dg.Tensor().shape == (0,)
    assert dg.Tensor([1.0], requires_grad=True).requires_grad


# -- in-place changes through views (PyTorch's CopySlices) ---------------------

W_VIEWS = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]


def _views_scalar_row(lib, x):
    y = x * 1
    y[0] += 1
    y[1] *= 3
    return y


def _views_columns(lib, x):
    y = x * 2
    y[:, 1:].mul_(x[:, :2])
    return y


def _views_transposed(lib, x):
    y = x.sin()
    y.T[0].mul_(3)
    return y


def _views_plain_base(lib, x):
    b = lib.zeros(2, 3, dtype=lib.float64)
    b[:, :2].add_(x[:, 1:] ** 2)
    return b


def _views_of_views(lib, x):
    y = x * 1
    v = y.reshape(-1)[1:4]
    v.mul_(v.clone())
    return y


def _views_stale_view(lib, x):
    y = x * 2
    old = y[1]                 # made before the change below, which it overlaps
    y[:, 0].mul_(x[:, 2])
    return old * 10 + y.sum()


def _views_long_chain(lib, x):
    y = x * 1
    v = y
    for i in range(300):
        v = v[:] if i % 3 else v.T
    v[1:].mul_(v[:-1] * 2)      # through 300 chained views (200 of them changing nothing)
    return y


@pytest.mark.parametrize("fn", [_views_scalar_row, _views_columns, _views_transposed,
                                _views_plain_base, _views_of_views, _views_stale_view,
                                _views_long_chain],
                         ids=lambda f: f.__name__.removeprefix("_views_"))
def test_in_place_through_views_matches_pytorch(fn):
    import torch
    results = []
    for lib in (dg, torch):
        x = lib.tensor(W_VIEWS, dtype=lib.float64, requires_grad=True)
        y = fn(lib, x)
        (y * lib.tensor(W_VIEWS, dtype=lib.float64)).sum().backward()
        results.append((y.detach().numpy().copy(), x.grad.numpy().copy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-13)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-13)


def test_view_chains_cost_the_same_per_view_however_long():
    # Each view used to copy its base's whole list of steps: y = y[:] repeated
    # 1e5 times took 44 s. Now a view links to its base's steps (and a step that
    # changes nothing is not stored), so the work per view is constant.
    import time
    import tracemalloc
    x = dg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x * 1
    t0 = time.perf_counter()
    for _ in range(100_000):
        y = y[:]
    assert time.perf_counter() - t0 < 10.0
    assert len(y._view_steps) == 1

    deep = x * 1
    for _ in range(5000):
        deep = deep.T                    # every step here changes the strides
    assert len(deep._view_steps) == 5000
    more = []
    tracemalloc.start()
    try:
        for _ in range(200):
            deep = deep.T
            more.append(deep)
        per_view = tracemalloc.get_traced_memory()[0] / 200
    finally:
        tracemalloc.stop()
    assert per_view < 8000               # a copy of the steps alone was 40 kB
    y.mul_(2)                            # in place through the 1e5-deep chain
    deep.add_(1)                         # and through 5200 steps
    (y.sum() + deep.sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[3.0, 3.0], [3.0, 3.0]])
    np.testing.assert_array_equal(deep.detach().numpy(), [[2.0, 3.0], [4.0, 5.0]])


def test_integer_index_is_a_view():
    y = dg.tensor([1.0, 2.0, 3.0]) * 1
    v = y[1]
    y.mul_(2)
    assert v.item() == 4.0 and v._base is y
