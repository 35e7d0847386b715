"""dualgrad.testing.check_grads: passes correct derivatives, reports wrong ones, validates its options."""

import numpy as np
import pytest

import dualgrad as dg
from dualgrad import Dual
from dualgrad.testing import check_grads


def value_only(x):
    return x.value if isinstance(x, Dual) else x


def wrong_square(x):
    """x**2 whose derivative drops one factor: dualgrad would report x instead of 2x."""
    return x * value_only(x)


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("f, args", [
    (lambda x: dg.sin(x) * x, (0.3,)),
    (lambda x, y: dg.exp(x) / (1 + y * y), (0.5, -1.2)),
    (lambda x, y: dg.sin(x) * y ** 2, (0.3, 1.5)),
    (lambda x: x ** 3 - 2 * x, (-1.7,)),
    (lambda a: (a * a).sum(), (np.array([1.0, -2.0, 0.5]),)),
    (lambda a: dg.tanh(a), (np.array([[0.1, 0.2], [0.3, -0.4]]),)),
    (lambda a, s: a * s + dg.sin(s), (np.array([1.0, 2.0]), 0.7)),
    (lambda x: [x, dg.exp(x), (x * x, 3.0)], (0.25,)),
    (lambda x: 3.0, (0.25,)),
], ids=["sin", "quotient", "docstring", "cubic", "array-sum", "array-out", "mixed", "nested",
        "constant"])
def test_passes_correct_derivatives(f, args, order):
    check_grads(f, args, order=order, seed=0)


@pytest.mark.parametrize("seed", [0, 1, None])
def test_passes_every_table_function(seed):
    check_grads(lambda x: dg.sigmoid(dg.arcsinh(x)) + dg.log1p(x * x), (0.9,), order=2, seed=seed)


@pytest.mark.parametrize("order", [1, 2])
def test_reports_a_wrong_derivative(order):
    with pytest.raises(AssertionError) as info:
        check_grads(wrong_square, (1.5,), order=order, seed=3)
    msg = str(info.value)
    assert "wrong_square" in msg
    assert "forward-mode derivative" in msg
    assert "dualgrad gives" in msg and "central differences" in msg
    assert "1.5" in msg and "seed=3" in msg


def test_reported_values_are_the_two_derivatives():
    pattern = r"dualgrad gives -?1\.5, central differences .* give -?2\.99"
    with pytest.raises(AssertionError, match=pattern):
        check_grads(wrong_square, (1.5,), seed=0)


def test_names_the_wrong_output():
    with pytest.raises(AssertionError, match=r"output 1"):
        check_grads(lambda x: [2 * x, wrong_square(x), dg.sin(x)], (0.8,), seed=0)


def test_wrong_derivative_in_an_array_argument():
    def f(a):
        return a[0] * a[1] + wrong_square(a[2])

    with pytest.raises(AssertionError, match="check_grads"):
        check_grads(f, (np.array([0.5, 1.5, 2.5]),), seed=0)


def test_same_seed_same_report():
    messages = []
    for _ in range(2):
        with pytest.raises(AssertionError) as info:
            check_grads(lambda x, y: wrong_square(x) * y, (1.1, 2.2), seed=7)
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_tolerances_are_honoured():
    check_grads(wrong_square, (1.5,), atol=10.0, seed=0)
    with pytest.raises(AssertionError):
        check_grads(lambda x: dg.sin(x), (0.3,), eps=1e-2, atol=1e-12, rtol=1e-12, seed=0)


@pytest.mark.parametrize("order", [0, 3, "1", 1.5, None])
def test_invalid_order(order):
    with pytest.raises(ValueError, match="order"):
        check_grads(dg.sin, (0.3,), order=order)


@pytest.mark.parametrize("modes", [("hvp",), ("fwd", "reverse"), ["backward"]])
def test_invalid_modes(modes):
    with pytest.raises(ValueError, match="mode"):
        check_grads(dg.sin, (0.3,), modes=modes)


@pytest.mark.parametrize("modes", [("fwd",), ("rev",), ("fwd", "rev")])
@pytest.mark.parametrize("order", [1, 2])
def test_each_mode_passes_on_correct_derivatives(modes, order):
    check_grads(lambda x, y: [dg.sin(x) * y ** 2, dg.math.hypot(x, y)], (0.3, 1.5),
                order=order, modes=modes)


def _uses_value(x):
    # x * x.value: both modes see derivative x instead of 2x.
    return x * (x.value if isinstance(x, (dg.Dual, dg.Var)) else x)


@pytest.mark.parametrize("modes, what", [(("fwd",), "forward-mode"), (("rev",), "reverse-mode")])
def test_each_mode_catches_a_wrong_derivative(modes, what):
    with pytest.raises(AssertionError, match=what):
        check_grads(_uses_value, (0.7,), modes=modes)


def _wrong_curvature(x):
    # The gradient at a point is right, but taken as a float it has no curvature.
    if isinstance(x, dg.Var):
        return dg.Var.__mul__(x, 0.0) + x.value ** 2 + 2 * x.value * (x - x.value)
    return x ** 2


def test_reverse_mode_order_2_catches_a_wrong_hessian():
    with pytest.raises(AssertionError, match="Hessian-vector product"):
        check_grads(_wrong_curvature, (0.7,), order=2, modes=("rev",))


def test_needs_an_input():
    with pytest.raises(ValueError):
        check_grads(lambda: 1.0, ())


def test_rejects_multi_direction_results():
    with pytest.raises(TypeError, match="direction"):
        check_grads(lambda x: Dual(1.0, [1.0, 2.0]) * x, (0.3,))
