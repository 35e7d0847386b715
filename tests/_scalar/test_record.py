"""Record once, replay many: dualgrad.record against fresh recordings and PyTorch, guards
on comparisons and roundings, BranchChangedError, retape, and the shapes of results."""

import inspect
import math
import types

import numpy as np
import pytest

import dualgrad as dg
import dualgrad.math as dm

torch = pytest.importorskip("torch")


# ---------------------------------------------------------------------------
# Functions written once over a namespace of elementwise functions: dualgrad's
# (on Vars) or PyTorch's (on float64 tensors), so PyTorch gives the reference.

TORCH = types.SimpleNamespace(sin=torch.sin, cos=torch.cos, exp=torch.exp, log=torch.log,
                              log1p=torch.log1p, sqrt=torch.sqrt, tanh=torch.tanh,
                              arctan2=torch.atan2, hypot=torch.hypot, sigmoid=torch.sigmoid,
                              erf=torch.erf, arcsinh=torch.asinh)


def rosenbrock(x, m):
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


def kernel(x, m):
    return (m.exp(-x[0] * x[1]) * m.sin(x[2]) + m.log1p(x[0] ** 2) / m.sqrt(1 + x[1] ** 2)
            + m.tanh(x[2] - x[0]) ** 3 + x[0] / x[2] - 2.5 ** x[1])


def special(x, m):
    return (m.arctan2(x[0], x[1]) * m.hypot(x[0], x[2]) + m.sigmoid(x[1]) * m.erf(x[2])
            + m.arcsinh(x[0] * x[2]) ** 2 - m.cos(x[1]) / (2 + x[0] ** 2))


def outputs(x, m):
    return [x[0] * x[1] * x[2], m.sin(x[0]) + x[2] ** 2, m.exp(x[1]) / x[2], x[1]]


SCALAR_FUNCTIONS = [rosenbrock, kernel, special]
by_function = pytest.mark.parametrize("f", SCALAR_FUNCTIONS, ids=lambda f: f.__name__)
X0 = [0.7, -0.4, 1.3]


def points(n=20, seed=0, x0=X0, spread=0.3):
    rng = np.random.default_rng(seed)
    return [np.asarray(x0) + spread * rng.uniform(-1, 1, size=len(x0)) for _ in range(n)]


def fresh(f, x):
    """Everything a Recording answers, from a new tape recorded at x."""
    with dg.Tape() as tape:
        xs = tape.var(list(x))
        y = f(xs, dg)
    v = np.ones(len(x))
    return dict(value=y.value, gradient=tape.gradient(y, xs), hessian=tape.hessian(y, xs),
                hvp=tape.hvp(y, xs, v))


def torch_reference(f, x):
    t = torch.tensor(np.asarray(x), dtype=torch.float64)

    def g(t):
        return f(list(t), TORCH)

    value = g(t).item()
    grad = torch.autograd.functional.jacobian(g, t).numpy()
    h = torch.autograd.functional.hessian(g, t).numpy()
    return dict(value=value, gradient=grad, hessian=h, hvp=h @ np.ones(len(x)))


def assert_close(got, want, rtol=1e-12):
    scale = max(1.0, np.abs(want).max())
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


# ---------------------------------------------------------------------------
# Replay equals a fresh recording (bit for bit) and PyTorch


@by_function
def test_replay_equals_fresh_recording_and_torch(f):
    rec = dg.record(lambda x: f(x, dg), X0)
    n = len(rec)
    for x in points():
        want = fresh(f, x)
        assert rec(x) == want["value"]
        assert rec.gradient(x).tolist() == want["gradient"].tolist()
        value, grad = rec.value_and_grad(x)
        assert value == want["value"] and grad.tolist() == want["gradient"].tolist()
        assert rec.hessian(x).tolist() == want["hessian"].tolist()
        assert rec.hvp(x, np.ones(3)).tolist() == want["hvp"].tolist()
        assert rec.jacobian(x).tolist() == [want["gradient"].tolist()]
        assert rec.vjp(x, [2.0]).tolist() == (2.0 * want["gradient"]).tolist()
        ref = torch_reference(f, x)
        for key in ref:
            assert_close({"value": rec(x), "gradient": rec.gradient(x), "hessian": rec.hessian(x),
                          "hvp": rec.hvp(x, np.ones(3))}[key], ref[key])
    assert len(rec) == n


@by_function
def test_calls_in_any_order_at_alternating_points(f):
    # Each call replays where needed: results never leak from the previous point.
    rec = dg.record(lambda x: f(x, dg), X0)
    pts = points(6, seed=1)
    wants = [fresh(f, x) for x in pts]
    for k in [0, 1, 0, 2, 2, 5, 3, 0, 4, 1]:
        assert rec.hessian(pts[k]).tolist() == wants[k]["hessian"].tolist()
        assert rec.gradient(pts[k]).tolist() == wants[k]["gradient"].tolist()
        assert rec(pts[(k + 1) % 6]) == wants[(k + 1) % 6]["value"]


def test_results_are_new_arrays():
    rec = dg.record(lambda x: kernel(x, dg), X0)
    a, b = points(2, seed=4)
    wa, wb = fresh(kernel, a), fresh(kernel, b)
    ga, ha, hva = rec.gradient(a), rec.hessian(a), rec.hvp(a, np.ones(3))
    gb, hb, hvb = rec.gradient(b), rec.hessian(b), rec.hvp(b, np.ones(3))
    assert ga.tolist() == wa["gradient"].tolist() and gb.tolist() == wb["gradient"].tolist()
    assert ha.tolist() == wa["hessian"].tolist() and hb.tolist() == wb["hessian"].tolist()
    assert hva.tolist() == wa["hvp"].tolist() and hvb.tolist() == wb["hvp"].tolist()


def test_inputs_may_be_lists_tuples_arrays_and_ints():
    rec = dg.record(lambda x: x[0] ** 2 * x[1], [1.0, 2.0])
    for x in ([3, 4], (3.0, 4.0), np.array([3.0, 4.0]), np.array([3, 4], dtype=np.int32),
              np.array([3.0, 0.0, 4.0])[::2], np.float32([3.0, 4.0])):
        assert rec(x) == 36.0 and rec.gradient(x).tolist() == [24.0, 9.0]


def test_dualgrad_math_and_numpy_replay():
    def f(x):
        return dm.sin(x[0]) * np.exp(x[1]) + dm.hypot(x[0], x[1], 2.0) + dm.pow(x[0], 2) \
            + dm.fsum([x[0], x[1], 1.0]) + dm.log(x[1], 2.0) + dm.atan2(x[1], x[0])

    rec = dg.record(f, [0.5, 1.5])
    for x in points(10, x0=[0.5, 1.5], spread=0.2):
        with dg.Tape() as tape:
            xs = tape.var(list(x))
            y = f(xs)
        assert rec(x) == y.value
        assert rec.gradient(x).tolist() == tape.gradient(y, xs).tolist()
        assert rec.hessian(x).tolist() == tape.hessian(y, xs).tolist()


def test_math_gamma_and_lgamma_replay_within_rounding():
    # dualgrad.math.gamma and lgamma record CPython's values, which replay recomputes with
    # the table's C functions: equal to a fresh recording to the last bits only.
    def f(x):
        return dm.lgamma(x[0]) * dm.gamma(x[1])

    rec = dg.record(f, [1.3, 2.2])
    for x in points(10, x0=[2.5, 3.0], spread=1.5):
        with dg.Tape() as tape:
            xs = tape.var(list(x))
            y = f(xs)
        # Absolute tolerances for the zeros of lgamma (1, 2), where it loses relative accuracy.
        np.testing.assert_allclose(rec(x), y.value, rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(rec.gradient(x), tape.gradient(y, xs), rtol=1e-14, atol=1e-14)


def test_vector_output_replay_equals_fresh_and_torch():
    rec = dg.record(lambda x: outputs(x, dg), X0)
    assert isinstance(rec(X0), np.ndarray) and rec(X0).shape == (4,)
    rng = np.random.default_rng(3)
    for x in points(10):
        with dg.Tape() as tape:
            xs = tape.var(list(x))
            ys = outputs(xs, dg)
        jac = tape.jacobian(ys, xs)
        assert rec(x).tolist() == [y.value for y in ys]
        assert rec.jacobian(x).tolist() == jac.tolist()
        v = rng.standard_normal(4)
        assert rec.vjp(x, v).tolist() == tape.vjp(ys, xs, v).tolist()
        np.testing.assert_allclose(rec.vjp(x, v), v @ jac, rtol=1e-13, atol=1e-13)
        t = torch.tensor(x, dtype=torch.float64)
        want = torch.autograd.functional.jacobian(lambda t: torch.stack(outputs(list(t), TORCH)), t)
        assert_close(rec.jacobian(x), want.numpy())


# ---------------------------------------------------------------------------
# Guards: comparisons, bool, roundings, min/max, loops


def line_of(func, marker):
    """The line of ``func``'s source that holds ``marker``."""
    lines, start = inspect.getsourcelines(func)
    matches = [start + k for k, line in enumerate(lines) if marker in line]
    assert len(matches) == 1, (marker, matches)
    return matches[0]


def assert_branch_changed(rec, x, func, marker, comparison):
    """rec(x) raises BranchChangedError naming the comparison at ``marker`` in ``func``."""
    with pytest.raises(dg.BranchChangedError) as info:
        rec(x)
    err = info.value
    line = line_of(func, marker)
    assert isinstance(err, RuntimeError)
    assert err.place == (__file__, line, func.__name__)
    assert err.comparison == comparison
    message = str(err)
    assert f"{__file__}:{line}" in message and func.__name__ in message and comparison in message
    assert "retape=True" in message


def branch(x):
    if x[0] > 0:                                    # guard: branch
        return x[0] * dg.sin(x[1])
    return x[0] ** 2 - x[1]


def truth(x):
    if x[0] - 1.0:                                  # guard: truth
        return x[0] * x[1]
    return x[1]


COEFFS = [1.0, -2.0, 3.0, -4.0, 5.0]


def floor_index(x):
    return COEFFS[math.floor(x[0])] * x[1] + x[0] ** 2  # guard: floor


def ceil_index(x):
    return COEFFS[math.ceil(x[0])] * x[1] * x[0]    # guard: ceil


def trunc_index(x):
    return COEFFS[math.trunc(x[0])] * dg.exp(x[1] * x[0])  # guard: trunc


def round_index(x):
    return COEFFS[round(x[0])] * x[1] / x[0]        # guard: round


def builtin_min(x):
    return min(x[0], x[1]) * x[0] + x[1]            # guard: min


def builtin_max(x):
    return max(x[0], x[1]) ** 2 * x[1]              # guard: max


def counting_loop(x):
    acc, t = 1.0, 0.0
    while t < x[0]:                                 # guard: while
        acc = acc * x[1] + t
        t = t + 1.0
    return acc


def less_equal(x):
    return x[0] * x[1] if x[0] <= x[1] else x[0] + x[1]  # guard: le


def equal(x):
    return x[1] ** 2 if x[0] == 1.0 else x[0] * x[1]  # guard: eq


# (function, marker, comparison, recorded at, points keeping the branches, a point flipping one)
GUARDS = [
    (branch, "guard: branch", ">", [0.5, 1.0], [[0.1, -2.0], [3.0, 0.4]], [-0.5, 1.0]),
    (truth, "guard: truth", "bool()", [2.0, 1.5], [[0.5, 1.0], [-3.0, 2.0]], [1.0, 1.5]),
    (floor_index, "guard: floor", "math.floor()", [1.5, 2.0], [[1.0, 0.5], [1.99, -1.0]],
     [2.0, 2.0]),
    (ceil_index, "guard: ceil", "math.ceil()", [1.5, 2.0], [[1.01, 0.5], [2.0, -1.0]], [0.9, 2.0]),
    (trunc_index, "guard: trunc", "math.trunc()", [-1.5, 0.3], [[-1.01, 0.5], [-1.99, -1.0]],
     [-0.5, 0.3]),
    (round_index, "guard: round", "round()", [1.2, 2.0], [[0.6, 0.5], [1.45, -1.0]], [1.6, 2.0]),
    (builtin_min, "guard: min", "<", [1.0, 2.0], [[0.5, 0.6], [-3.0, 2.0]], [2.5, 2.0]),
    (builtin_max, "guard: max", ">", [1.0, 2.0], [[0.5, 0.6], [-3.0, 2.0]], [2.5, 2.0]),
    # t is a float: Python evaluates t < x[0] as x[0] > t.
    (counting_loop, "guard: while", ">", [2.5, 0.7], [[2.01, 1.3], [3.0, -0.5]], [3.5, 0.7]),
    (less_equal, "guard: le", "<=", [1.0, 2.0], [[2.0, 2.0], [-1.0, 0.0]], [2.5, 2.0]),
    (equal, "guard: eq", "==", [1.0, 2.0], [[1.0, -3.0]], [1.5, 2.0]),
]
by_guard = pytest.mark.parametrize("f, marker, comparison, x0, same, flipped", GUARDS,
                                   ids=[g[1][7:] for g in GUARDS])


def fresh_record(f, x):
    """(value, gradient, hessian) of f from a new tape recorded at x."""
    with dg.Tape() as tape:
        xs = tape.var(list(x))
        y = f(xs)
    return y.value, tape.gradient(y, xs), tape.hessian(y, xs)


def assert_same_as_fresh(rec, f, x):
    value, grad, hess = fresh_record(f, x)
    assert rec(x) == value
    assert rec.gradient(x).tolist() == grad.tolist()
    assert rec.hessian(x).tolist() == hess.tolist()


@by_guard
def test_replay_keeping_the_branches_is_exact(f, marker, comparison, x0, same, flipped):
    rec = dg.record(f, x0)
    for x in same + [x0]:
        assert_same_as_fresh(rec, f, x)


@by_guard
def test_replay_flipping_a_branch_raises(f, marker, comparison, x0, same, flipped):
    rec = dg.record(f, x0)
    assert_branch_changed(rec, flipped, f, marker, comparison)
    for method in ("gradient", "value_and_grad", "hessian", "jacobian"):
        with pytest.raises(dg.BranchChangedError):
            getattr(rec, method)(flipped)
    with pytest.raises(dg.BranchChangedError):
        rec.hvp(flipped, [1.0, 1.0])
    with pytest.raises(dg.BranchChangedError):
        rec.vjp(flipped, [1.0])


@by_guard
def test_after_branch_changed_the_next_valid_call_works(f, marker, comparison, x0, same, flipped):
    rec = dg.record(f, x0)
    for x in same + [x0]:
        with pytest.raises(dg.BranchChangedError):
            rec.gradient(flipped)
        # The tape holds a half-replayed state now: the recording point itself must replay.
        assert_same_as_fresh(rec, f, x)
        with pytest.raises(dg.BranchChangedError):
            rec(flipped)
        value, grad = rec.value_and_grad(x)
        want_value, want_grad, _ = fresh_record(f, x)
        assert value == want_value and grad.tolist() == want_grad.tolist()


@by_guard
def test_retape_records_again_on_the_other_side(f, marker, comparison, x0, same, flipped):
    rec = dg.record(f, x0, retape=True)
    assert rec.retape
    for x in [flipped, x0, *same, flipped, flipped, x0]:
        assert_same_as_fresh(rec, f, x)
        value, grad = rec.value_and_grad(x)
        want_value, want_grad, _ = fresh_record(f, x)
        assert value == want_value and grad.tolist() == want_grad.tolist()


def test_loop_trip_count_changes_the_recording_length():
    rec = dg.record(counting_loop, [2.5, 0.7], retape=True)
    n = len(rec)
    assert rec([4.5, 0.7]) == fresh_record(counting_loop, [4.5, 0.7])[0]
    assert len(rec) > n
    assert rec([2.5, 0.7]) == fresh_record(counting_loop, [2.5, 0.7])[0] and len(rec) == n


def test_the_first_guard_that_changes_is_reported():
    def f(x):
        a = x[0] > 0                                # guard: first
        b = x[0] > 1                                # guard: second
        return x[0] * (2.0 if a else 3.0) * (5.0 if b else 7.0)

    rec = dg.record(f, [2.0])
    assert_branch_changed(rec, [0.5], f, "guard: second", ">")
    assert_branch_changed(rec, [-0.5], f, "guard: first", ">")
    assert rec([3.0]) == 30.0


def test_guard_in_a_helper_names_the_helper():
    def helper(v):
        return v if v >= 0 else -v                  # guard: helper

    rec = dg.record(lambda x: helper(x[0]) * x[1], [1.0, 2.0])
    assert_branch_changed(rec, [-1.0, 2.0], helper, "guard: helper", ">=")


def test_guards_on_a_comparison_with_a_constant_on_either_side():
    def f(x):
        return x[0] * 2 if 0.5 < x[0] else x[0] * 3  # guard: reflected

    rec = dg.record(f, [1.0])
    assert rec([0.75]) == 1.5
    # 0.5 < x is evaluated as x > 0.5.
    assert_branch_changed(rec, [0.25], f, "guard: reflected", ">")


def test_comparisons_on_values_alone_are_not_guards():
    # Comparing .value is a float comparison, frozen at recording (documented).
    rec = dg.record(lambda x: x[0] * 2 if x[0].value > 0 else x[0] * 3, [1.0])
    assert rec([-1.0]) == -2.0


# ---------------------------------------------------------------------------
# Inputs, outputs and shapes


def test_wrong_number_of_inputs_raises_value_error():
    rec = dg.record(lambda x: x[0] * x[1], [1.0, 2.0])
    for bad in ([1.0], [1.0, 2.0, 3.0], [], 1.0):
        for call in (rec, rec.gradient, rec.hessian, rec.jacobian, rec.value_and_grad):
            with pytest.raises(ValueError, match="2 input"):
                call(bad)
    with pytest.raises(ValueError, match="2 input"):
        rec.hvp([1.0], [1.0])
    with pytest.raises(ValueError):
        rec.hvp([1.0, 2.0], [1.0])                  # v of the wrong length
    with pytest.raises(ValueError):
        rec.vjp([1.0, 2.0], [1.0, 1.0])             # one weight per output
    scalar = dg.record(lambda x: x * x, 1.0)
    with pytest.raises(ValueError, match="1 input"):
        scalar([1.0, 2.0])
    assert rec([3.0, 4.0]) == 12.0                  # still usable


def test_scalar_x0_gives_one_var_and_floats():
    seen = []

    def f(x):
        seen.append(type(x))
        return dg.sin(x) * x ** 2

    rec = dg.record(f, 0.5)
    assert seen == [dg.Var]
    for x in (0.7, 1, np.float64(0.3), [0.9], np.array(1.1)):
        v = float(np.asarray(x).reshape(-1)[0])
        want = (math.sin(v) * v * v, math.cos(v) * v * v + 2 * v * math.sin(v),
                -math.sin(v) * v * v + 4 * v * math.cos(v) + 2 * math.sin(v))
        assert isinstance(rec(x), float) and rec(x) == pytest.approx(want[0], rel=1e-15)
        g = rec.gradient(x)
        assert isinstance(g, float) and g == pytest.approx(want[1], rel=1e-14)
        value, grad = rec.value_and_grad(x)
        assert isinstance(value, float) and isinstance(grad, float) and grad == g
        h = rec.hessian(x)
        assert isinstance(h, float) and h == pytest.approx(want[2], rel=1e-13)
        hv = rec.hvp(x, 2.0)
        assert isinstance(hv, float) and hv == pytest.approx(2.0 * h, rel=1e-15)
        w = rec.vjp(x, [3.0])
        assert isinstance(w, float) and w == pytest.approx(3.0 * g, rel=1e-15)
        assert rec.jacobian(x).shape == (1, 1) and rec.jacobian(x)[0, 0] == g
    assert seen == [dg.Var]                         # f ran once


def test_vector_outputs_need_jacobian_or_vjp():
    rec = dg.record(lambda x: [x[0] * x[1], dg.sin(x[0])], [1.0, 2.0])
    out = rec([1.0, 3.0])
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    assert out.tolist() == [3.0, math.sin(1.0)]
    for method, args in (("gradient", ()), ("value_and_grad", ()), ("hessian", ()),
                         ("hvp", ([1.0, 1.0],))):
        with pytest.raises(ValueError, match="jacobian") as info:
            getattr(rec, method)([1.0, 3.0], *args)
        assert "vjp" in str(info.value)
    np.testing.assert_array_equal(rec.jacobian([1.0, 3.0]), [[3.0, 1.0], [math.cos(1.0), 0.0]])
    np.testing.assert_array_equal(rec.vjp([1.0, 3.0], [1.0, 2.0]), [3.0 + 2 * math.cos(1.0), 1.0])


@pytest.mark.parametrize("make", [list, tuple, lambda ys: np.array(ys, dtype=object)],
                         ids=["list", "tuple", "object-array"])
def test_vector_outputs_of_any_sequence(make):
    rec = dg.record(lambda x: make([x[0] * x[1], x[1], 2.0]), [1.0, 2.0])
    assert rec([2.0, 5.0]).tolist() == [10.0, 5.0, 2.0]
    assert rec.jacobian([2.0, 5.0]).tolist() == [[5.0, 2.0], [0.0, 1.0], [0.0, 0.0]]


def test_outputs_that_are_inputs():
    rec = dg.record(lambda x: x, [1.0, 2.0, 3.0])
    assert rec([4.0, 5.0, 6.0]).tolist() == [4.0, 5.0, 6.0]
    assert rec.jacobian([4.0, 5.0, 6.0]).tolist() == np.eye(3).tolist()
    one = dg.record(lambda x: x[1], [1.0, 2.0])
    assert one([4.0, 5.0]) == 5.0 and one.gradient([4.0, 5.0]).tolist() == [0.0, 1.0]
    assert one.hessian([4.0, 5.0]).tolist() == [[0.0, 0.0], [0.0, 0.0]]


@pytest.mark.parametrize("constant", [2.5, 3, np.float64(-1.5)], ids=["float", "int", "float64"])
def test_f_returning_a_constant(constant):
    rec = dg.record(lambda x: constant, [1.0, 2.0])
    for x in ([1.0, 2.0], [3.0, -4.0]):
        assert rec(x) == float(constant) and isinstance(rec(x), float)
        assert rec.gradient(x).tolist() == [0.0, 0.0]
        value, grad = rec.value_and_grad(x)
        assert value == float(constant) and grad.tolist() == [0.0, 0.0]
        assert rec.hvp(x, [1.0, 1.0]).tolist() == [0.0, 0.0]
        assert rec.hessian(x).tolist() == [[0.0, 0.0], [0.0, 0.0]]
        assert rec.jacobian(x).tolist() == [[0.0, 0.0]]
    scalar = dg.record(lambda x: constant, 1.0)
    assert scalar(4.0) == float(constant) and scalar.gradient(4.0) == 0.0
    assert scalar.hessian(4.0) == 0.0 and scalar.hvp(4.0, 1.0) == 0.0
    assert len(scalar) == 1                         # the input alone


def test_f_returning_constants_among_outputs():
    rec = dg.record(lambda x: [x[0] * x[1], 7, x[0] * 0.0], [1.0, 2.0])
    assert rec([3.0, 4.0]).tolist() == [12.0, 7.0, 0.0]
    assert rec.jacobian([3.0, 4.0]).tolist() == [[4.0, 3.0], [0.0, 0.0], [0.0, 0.0]]
    assert rec.vjp([3.0, 4.0], [1.0, 1.0, 1.0]).tolist() == [4.0, 3.0]


def test_len_is_the_number_of_recorded_operations():
    rec = dg.record(lambda x: x[0] * x[1] + dg.sin(x[0]), [1.0, 2.0])
    assert len(rec) == 2 + 3
    rec([5.0, 6.0])
    assert len(rec) == 5


def test_side_effects_happen_once_at_recording():
    calls = []
    rec = dg.record(lambda x: calls.append(1) or x * 2.0, 1.0)
    for x in range(5):
        assert rec(float(x)) == 2.0 * x
    assert calls == [1]


# ---------------------------------------------------------------------------
# Library bugs found by these tests


def test_signed_zero_is_a_different_point():
    # Replay is skipped when the input compares == to the last point, but -0.0 == 0.0
    # while atan2(-0.0, -1) = -pi and atan2(0.0, -1) = pi: a fresh recording at -0.0
    # gives -pi.
    rec = dg.record(lambda x: dg.arctan2(x, -1.0), 0.0)
    assert rec(0.0) == math.pi
    assert rec(-0.0) == -math.pi
    assert rec(1.0) == math.atan2(1.0, -1.0)
    assert rec(-0.0) == -math.pi
    assert rec(0.0) == math.pi


def test_a_failed_retape_leaves_a_usable_recording():
    # With retape=True, a point that takes the other branch records f again there; when
    # f raises during that recording, the Recording must still answer at valid points
    # (the old recording, or a new one), not from a half-built tape.
    def f(x):
        if x > 0:
            return x * x
        return dm.sqrt(x * 10.0)                    # ValueError for x < 0, as math.sqrt

    rec = dg.record(f, 2.0, retape=True)
    with pytest.raises(ValueError, match="math domain error"):
        rec(-1.0)
    assert rec(2.0) == 4.0
    assert rec.gradient(2.0) == 4.0
    assert rec.hvp(2.0, 1.0) == 2.0
    assert rec(3.0) == 9.0 and rec.gradient(3.0) == 6.0
