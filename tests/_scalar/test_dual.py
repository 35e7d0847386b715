"""The Dual number: construction, arithmetic with every kind of number, errors, edge conventions, memory."""

import copy
import gc
import math
import operator
import pickle
import sys
import tracemalloc
from fractions import Fraction

import numpy as np
import pytest

import dualgrad as dg
from dualgrad import Dual

X, T = 0.7, 1.3
NUMBERS = [2, 2.5, True, np.float64(2.5), np.float32(2.5), np.int64(3), Fraction(1, 3)]
number_ids = [f"{type(o).__name__}({o})" for o in NUMBERS]


def assert_dual(d, value, tangent, rel=1e-15):
    assert type(d) is Dual
    assert d.value == pytest.approx(value, rel=rel, abs=0)
    np.testing.assert_allclose(d.tangent, tangent, rtol=rel, atol=0)


# ---------------------------------------------------------------------------
# Construction


def test_value_and_scalar_tangent():
    d = Dual(0.3, 2.0)
    assert d.value == 0.3 and type(d.value) is float
    assert d.tangent == 2.0 and type(d.tangent) is float


def test_default_tangent_is_one():
    assert Dual(0.3).tangent == 1.0
    assert Dual(2).value == 2.0 and type(Dual(2).value) is float


@pytest.mark.parametrize("tangent", [[1.0, 2.0, 3.0], (1, 2, 3), np.array([1.0, 2.0, 3.0]),
                                     np.array([1, 2, 3], dtype=np.int64),
                                     np.array([1, 2, 3], dtype=np.float32), range(1, 4)])
def test_sequence_tangents_read_back_as_arrays(tangent):
    d = Dual(0.5, tangent)
    assert isinstance(d.tangent, np.ndarray)
    assert d.tangent.dtype == np.float64 and d.tangent.shape == (3,)
    assert d.tangent.tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("k", [1, 2, 3, 7])
def test_one_element_and_long_sequences_stay_arrays(k):
    d = Dual(0.5, list(range(k)))
    assert d.tangent.shape == (k,)
    assert d.tangent.tolist() == [float(j) for j in range(k)]


def test_numpy_scalar_and_fraction_values():
    assert Dual(np.float32(0.5)).value == 0.5
    assert Dual(np.int64(3)).value == 3.0
    assert Dual(Fraction(1, 4)).value == 0.25
    assert Dual(True).value == 1.0
    assert Dual(0.5, np.float64(2.0)).tangent == 2.0
    assert Dual(0.5, Fraction(1, 2)).tangent == 0.5


def test_tangent_array_is_a_copy():
    src = np.array([1.0, 2.0, 3.0])
    d = Dual(0.5, src)
    src[0] = 99.0
    assert d.tangent[0] == 1.0
    d.tangent[1] = 99.0
    assert d.tangent[1] == 2.0


def test_results_inherit_the_tangent_form():
    scalar, seq1 = Dual(0.5, 2.0), Dual(0.5, [2.0])
    assert type((scalar * 3).tangent) is float
    assert type(dg.sin(scalar).tangent) is float
    assert (seq1 * 3).tangent.shape == (1,)
    assert dg.sin(seq1).tangent.shape == (1,)
    assert (scalar + seq1).tangent.shape == (1,)
    assert (seq1 + scalar).tangent.shape == (1,)
    assert dg.hypot(scalar, seq1).tangent.shape == (1,)
    assert type((scalar + scalar).tangent) is float


def test_repr():
    assert repr(Dual(0.3, 1.0)) == "Dual(0.3, 1.0)"
    assert repr(Dual(0.3, [1, 2])) == "Dual(0.3, [1.0, 2.0])"
    assert repr(Dual(0.3, [1, 2, 3])) == "Dual(0.3, [1.0, 2.0, 3.0])"
    assert repr(Dual(math.nan, math.inf)) == "Dual(nan, inf)"
    d = Dual(0.1 + 0.2, [0.1, 0.7])
    assert eval(repr(d), {"Dual": Dual, "nan": math.nan, "inf": math.inf}) == d
    assert eval(repr(d), {"Dual": Dual}).tangent.tolist() == d.tangent.tolist()


@pytest.mark.parametrize("d", [Dual(0.3, 1.5), Dual(0.3, [1.5]), Dual(-2.0, [1, 2]),
                               Dual(0.1, [1, 2, 3, 4, 5]), Dual(math.nan, math.inf)],
                         ids=["scalar", "k1", "k2", "k5", "nan"])
@pytest.mark.parametrize("roundtrip", [lambda d: pickle.loads(pickle.dumps(d)), copy.copy,
                                       copy.deepcopy], ids=["pickle", "copy", "deepcopy"])
def test_pickle_and_copy_round_trip(d, roundtrip):
    e = roundtrip(d)
    assert type(e) is Dual
    assert repr(e) == repr(d)
    assert type(e.tangent) is type(d.tangent)


def test_size_of_one_direction():
    assert sys.getsizeof(Dual(0.3, 1.0)) <= 48
    assert sys.getsizeof(Dual(0.3, [1.0, 2.0])) == sys.getsizeof(Dual(0.3, 1.0))


@pytest.mark.parametrize("k", [3, 7, 100])
def test_size_counts_the_heap_block(k):
    assert sys.getsizeof(Dual(0.3, [1.0] * k)) >= sys.getsizeof(Dual(0.3, 1.0)) + 8 * k


def test_type_name():
    d = Dual(0.3)
    assert type(d).__name__ == "Dual"
    assert "dualgrad.Dual" in str(type(d))
    assert dg.Dual is Dual


def test_cannot_subclass():
    with pytest.raises(TypeError):
        type("Sub", (Dual,), {})


def test_reinit_replaces_the_tangent_block():
    d = Dual(0.3, [1, 2, 3])
    d.__init__(0.5, [4, 5, 6, 7])
    assert d.value == 0.5 and d.tangent.tolist() == [4, 5, 6, 7]
    d.__init__(0.25, 2.0)
    assert d.tangent == 2.0


# ---------------------------------------------------------------------------
# Bad inputs


@pytest.mark.parametrize("value, match", [("a", "str"), (None, "NoneType"), (1j, "complex"),
                                          ([1.0], "list"), (Dual(1.0), "do not nest")])
def test_bad_value(value, match):
    with pytest.raises(TypeError, match=match):
        Dual(value)


def test_nested_dual_tangent():
    with pytest.raises(TypeError, match="do not nest"):
        Dual(1.0, Dual(1.0))


@pytest.mark.parametrize("tangent, match", [("a", "str"), (None, "NoneType"), (1j, "complex")])
def test_non_numeric_tangent_is_a_type_error_naming_the_type(tangent, match):
    with pytest.raises(TypeError, match=match):
        Dual(1.0, tangent)


@pytest.mark.parametrize("tangent", [[], np.array([])])
def test_empty_tangent(tangent):
    with pytest.raises(ValueError, match="at least one tangent direction"):
        Dual(1.0, tangent)


@pytest.mark.parametrize("tangent", [[[1.0, 2.0]], np.zeros((2, 2)), np.zeros((1, 1, 1))])
def test_two_dimensional_tangent(tangent):
    with pytest.raises(ValueError, match=r"1-d sequence.*shape \(" + ", ".join(
            str(n) for n in np.shape(tangent))):
        Dual(1.0, tangent)


def test_string_elements_in_tangent():
    with pytest.raises((TypeError, ValueError), match="'a'"):
        Dual(1.0, ["a", "b"])


def test_huge_int_value_overflows_like_float():
    with pytest.raises(OverflowError):
        Dual(10 ** 400)
    with pytest.raises(OverflowError):
        Dual(1.0) + 10 ** 400


@pytest.mark.parametrize("other", ["a", None, [1.0], {}], ids=repr)
@pytest.mark.parametrize("op", [operator.add, operator.sub, operator.mul, operator.truediv,
                                operator.pow, operator.mod, operator.floordiv, divmod],
                         ids=lambda f: f.__name__)
def test_non_real_operands_raise_type_error(op, other):
    with pytest.raises(TypeError):
        op(Dual(X, T), other)
    with pytest.raises(TypeError):
        op(other, Dual(X, T))


@pytest.mark.parametrize("op", [operator.add, operator.sub, operator.mul, operator.truediv,
                                operator.pow], ids=lambda f: f.__name__)
def test_complex_operands_make_complex_duals(op):
    """(tests/_scalar/test_complex_dual.py checks the values and derivatives)"""
    for out in (op(Dual(X, T), 1j), op(1j, Dual(X, T))):
        assert type(out) is dg.ComplexDual


@pytest.mark.parametrize("op", [operator.mod, operator.floordiv, divmod],
                         ids=lambda f: f.__name__)
def test_complex_operands_of_real_only_operators_raise_type_error(op):
    with pytest.raises(TypeError):
        op(Dual(X, T), 1j)
    with pytest.raises(TypeError):
        op(1j, Dual(X, T))


def test_three_argument_pow_is_unsupported():
    with pytest.raises(TypeError):
        pow(Dual(2.0), 2, 3)


@pytest.mark.parametrize("k1, k2", [(1, 2), (2, 3), (3, 7)])
def test_mixing_direction_counts_names_both(k1, k2):
    a = Dual(0.5, [1.0] * k1 if k1 > 1 else 1.0)
    b = Dual(0.5, [1.0] * k2)
    pattern = rf"{k1}\D.*\D{k2}\b"
    for f in (operator.add, operator.mul, operator.truediv, operator.pow, dg.hypot, dg.maximum,
              dg.logaddexp):
        with pytest.raises(ValueError, match=pattern):
            f(a, b)
    with pytest.raises(ValueError, match=rf"{k2}\D.*\D{k1}\b"):
        b - a


def test_one_direction_scalar_and_sequence_mix():
    out = Dual(0.5, 2.0) * Dual(0.25, [4.0])
    assert out.tangent.tolist() == [2.0 * 0.25 + 0.5 * 4.0]


# ---------------------------------------------------------------------------
# Conversions that would drop the derivative


@pytest.mark.parametrize("convert, advice", [
    (int, r"int\(d\.value\)"), (complex, r"\.value"),
    # float() is what the standard library's math calls: point to dualgrad.math,
    # never to float(d.value), which would drop the derivative.
    (float, r"use dualgrad\.math \(a drop-in for math\)"),
    (math.sin, r"use dualgrad\.math \(a drop-in for math\)")], ids=["int", "complex", "float", "math.sin"])
def test_conversions_raise_and_say_what_to_use(convert, advice):
    with pytest.raises(TypeError, match=advice) as info:
        convert(Dual(0.3))
    assert "float(d.value)" not in str(info.value)


def test_not_an_index():
    with pytest.raises(TypeError):
        operator.index(Dual(1.0))
    with pytest.raises(TypeError):
        [1, 2][Dual(1.0)]


@pytest.mark.parametrize("f, x, want", [(math.floor, 2.7, 2), (math.floor, -2.3, -3),
                                        (math.ceil, 2.3, 3), (math.ceil, -2.7, -2),
                                        (math.trunc, -2.7, -2), (round, 2.5, 2), (round, 3.5, 4),
                                        (round, -0.6, -1)])
def test_integer_results_are_ints(f, x, want):
    out = f(Dual(x, 5.0))
    assert type(out) is int and out == want


def test_round_to_digits_is_a_dual_with_zero_tangent():
    out = round(Dual(0.123456, 5.0), 2)
    assert type(out) is Dual and out.value == round(0.123456, 2) and out.tangent == 0.0
    out = round(Dual(1234.5, [1.0, 2.0, 3.0]), -2)
    assert out.value == 1200.0 and out.tangent.tolist() == [0.0, 0.0, 0.0]


def test_floor_of_nonfinite_raises_like_math():
    with pytest.raises(ValueError):
        math.floor(Dual(math.nan))
    with pytest.raises(OverflowError):
        math.ceil(Dual(math.inf))


# ---------------------------------------------------------------------------
# Arithmetic with numbers on either side: values as float arithmetic, tangents by hand


BINARY_FORMULAS = {
    # op: (value(x, c), d/dx at (x, c), d/dc at (c, x) for c op x)
    "add": (operator.add, lambda x, c: 1.0, lambda c, x: 1.0),
    "sub": (operator.sub, lambda x, c: 1.0, lambda c, x: -1.0),
    "mul": (operator.mul, lambda x, c: c, lambda c, x: c),
    "truediv": (operator.truediv, lambda x, c: 1 / c, lambda c, x: -c / (x * x)),
    "pow": (operator.pow, lambda x, c: c * x ** (c - 1),
            lambda c, x: c ** x * math.log(c) if c > 0 else 0.0),
    "mod": (operator.mod, lambda x, c: 1.0, lambda c, x: -math.floor(c / x)),
    "floordiv": (operator.floordiv, lambda x, c: 0.0, lambda c, x: 0.0),
}


@pytest.mark.parametrize("other", NUMBERS, ids=number_ids)
@pytest.mark.parametrize("name", list(BINARY_FORMULAS))
def test_dual_op_number(name, other):
    op, d_left, _ = BINARY_FORMULAS[name]
    c = float(other)
    assert_dual(op(Dual(X, T), other), op(X, c), T * d_left(X, c))


@pytest.mark.parametrize("other", NUMBERS, ids=number_ids)
@pytest.mark.parametrize("name", list(BINARY_FORMULAS))
def test_number_op_dual(name, other):
    op, _, d_right = BINARY_FORMULAS[name]
    c = float(other)
    assert_dual(op(other, Dual(X, T)), op(c, X), T * d_right(c, X))


@pytest.mark.parametrize("other", NUMBERS, ids=number_ids)
def test_divmod_dual_number(other):
    c = float(other)
    q, r = divmod(Dual(X, T), other)
    assert (q.value, r.value) == divmod(X, c)
    assert q.tangent == 0.0 and r.tangent == T


@pytest.mark.parametrize("other", NUMBERS, ids=number_ids)
def test_divmod_number_dual(other):
    c = float(other)
    q, r = divmod(other, Dual(X, T))
    assert (q.value, r.value) == divmod(c, X)
    assert q.tangent == 0.0 and r.tangent == pytest.approx(-math.floor(c / X) * T)


def test_dual_op_dual():
    x, y = Dual(0.7, [1.0, 0.0]), Dual(2.5, [0.0, 1.0])
    assert_dual(x + y, 3.2, [1, 1])
    assert_dual(x - y, 0.7 - 2.5, [1, -1])
    assert_dual(x * y, 0.7 * 2.5, [2.5, 0.7])
    assert_dual(x / y, 0.7 / 2.5, [1 / 2.5, -0.7 / 2.5 ** 2])
    assert_dual(y % x, 2.5 % 0.7, [-math.floor(2.5 / 0.7), 1])
    assert_dual(y // x, 2.5 // 0.7, [0, 0])
    q, r = divmod(y, x)
    assert (q.value, r.value) == divmod(2.5, 0.7)


def test_dual_exponent_and_dual_base():
    x, y = Dual(0.7, [1.0, 0.0]), Dual(2.5, [0.0, 1.0])
    assert_dual(x ** y, 0.7 ** 2.5, [2.5 * 0.7 ** 1.5, 0.7 ** 2.5 * math.log(0.7)])
    assert_dual(y ** x, 2.5 ** 0.7, [2.5 ** 0.7 * math.log(2.5), 0.7 * 2.5 ** -0.3])
    assert_dual(x ** x, 0.7 ** 0.7, [0.7 ** 0.7 * (math.log(0.7) + 1), 0.0])
    assert_dual(Dual(-2.0, 1.0) ** 3, -8.0, 12.0)
    assert_dual(Dual(-2.0, 1.0) ** 2.0, 4.0, -4.0)


@pytest.mark.parametrize("x", [0.7, -2.5, 0.0])
def test_unary_operators(x):
    assert_dual(-Dual(x, T), -x, -T)
    assert_dual(+Dual(x, T), x, T)
    assert_dual(abs(Dual(x, T)), abs(x), T * np.sign(x))


def test_bool_operands_are_numbers():
    assert_dual(Dual(X, T) * True, X, T)
    assert_dual(False + Dual(X, T), X, T)
    assert_dual(True ** Dual(X, T), 1.0, 0.0)


def test_dual_with_ndarray_makes_object_array():
    out = Dual(X, T) + np.array([1.0, 2.0])
    assert out.dtype == object and out.shape == (2,)
    assert_dual(out[1], X + 2.0, T)
    out = np.array([1.0, 2.0]) * Dual(X, T)
    assert_dual(out[1], 2.0 * X, 2.0 * T)


# ---------------------------------------------------------------------------
# Comparisons, hashing, truth


@pytest.mark.parametrize("other", [0.7, 0.5, 1, Dual(0.7, 99.0), np.float64(0.7), np.int64(1),
                                   Fraction(1, 2), True], ids=repr)
def test_comparisons_look_at_values(other):
    d = Dual(0.7, 5.0)
    o = other.value if isinstance(other, Dual) else float(other)
    for op in (operator.lt, operator.le, operator.eq, operator.ne, operator.gt, operator.ge):
        assert bool(op(d, other)) == op(0.7, o), op
        assert bool(op(other, d)) == op(o, 0.7), op


def test_equality_with_non_numbers():
    d = Dual(0.7)
    assert (d == "a") is False and (d != "a") is True
    assert (d == None) is False  # noqa: E711
    with pytest.raises(TypeError):
        d < "a"


def test_nan_compares_unequal():
    d = Dual(math.nan)
    assert d != d and not (d == d) and not (d < 1.0) and not (d >= 1.0)


def test_hash_is_the_value_hash():
    for v in (0.3, -2.0, 0.0, 1e300, math.inf):
        assert hash(Dual(v, 7.0)) == hash(v)
    assert hash(Dual(2.0)) == hash(2)
    table = {Dual(0.5): "a"}
    assert table[0.5] == "a"


def test_bool():
    assert bool(Dual(0.3)) and bool(Dual(-1.0)) and bool(Dual(math.nan))
    assert not bool(Dual(0.0, 5.0)) and not bool(Dual(-0.0))


# ---------------------------------------------------------------------------
# Edge conventions (table.py's docstring, NumPy's float64 semantics)


def test_sqrt_and_log_at_zero():
    assert_dual(dg.sqrt(Dual(0.0)), 0.0, math.inf)
    assert dg.log(Dual(0.0)).value == -math.inf and dg.log(Dual(0.0)).tangent == math.inf


@pytest.mark.parametrize("x", [0.0, -0.0])
def test_abs_and_sign_at_zero(x):
    assert abs(Dual(x, 3.0)).tangent == 0.0 and abs(Dual(x, 3.0)).value == 0.0
    assert dg.abs(Dual(x, 3.0)).tangent == 0.0
    assert dg.sign(Dual(x, 3.0)).tangent == 0.0 and dg.sign(Dual(x, 3.0)).value == 0.0


@pytest.mark.parametrize("x", [1.0, -1.0])
def test_arcsin_at_the_ends(x):
    out = dg.arcsin(Dual(x))
    assert out.value == math.asin(x) and out.tangent == math.inf
    assert dg.arccos(Dual(x)).tangent == -math.inf


@pytest.mark.parametrize("f", [dg.maximum, dg.minimum])
def test_ties_split_the_derivative(f):
    assert f(Dual(1.5, [1.0, 0.0]), Dual(1.5, [0.0, 1.0])).tangent.tolist() == [0.5, 0.5]
    x = Dual(1.5, 2.0)
    assert f(x, x).tangent == 2.0
    assert f(x, 1.5).tangent == 1.0 and f(1.5, x).tangent == 1.0


def test_division_by_zero_follows_numpy():
    assert_dual(Dual(1.0) / 0, math.inf, math.inf)
    assert (Dual(-1.0) / 0.0).value == -math.inf
    assert math.isnan((Dual(0.0) / 0).value)
    assert (Dual(1.0) / Dual(0.0, 0.0)).value == math.inf
    assert (Dual(1.0) // 0).value == math.inf
    assert math.isnan((Dual(1.0) % 0).value)
    q, r = divmod(Dual(1.0), 0)
    assert q.value == math.inf and math.isnan(r.value)
    assert (1 / Dual(0.0)).value == math.inf


def test_negative_base_to_fractional_power_is_nan():
    out = Dual(-8.0) ** (1 / 3)
    assert math.isnan(out.value) and math.isnan(out.tangent)
    assert math.isnan((Dual(-8.0) ** Dual(0.5)).value)


def test_zero_to_powers():
    assert_dual(Dual(0.0) ** 2, 0.0, 0.0)
    assert_dual(Dual(0.0) ** 0, 1.0, 0.0)
    assert_dual(0.0 ** Dual(2.0), 0.0, 0.0)
    assert (Dual(0.0) ** -1).value == math.inf


@pytest.mark.parametrize("v", [math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324])
def test_nonfinite_inputs_never_crash(v):
    d = Dual(v, [1.0, math.nan, math.inf])
    for op in (operator.add, operator.sub, operator.mul, operator.truediv, operator.pow,
               operator.mod, operator.floordiv):
        assert type(op(d, d)) is Dual
        assert type(op(d, 2.0)) is Dual
        assert type(op(2.0, d)) is Dual
    for name in ("sin", "exp", "log", "sqrt", "tanh", "arcsin", "sigmoid", "erf"):
        assert type(getattr(dg, name)(d)) is Dual


# ---------------------------------------------------------------------------
# NumPy interplay on single Duals


def test_numpy_value_ufuncs_on_duals():
    d = Dual(0.7, 5.0)
    assert np.isnan(Dual(math.nan)) and not np.isnan(d)
    assert np.isinf(Dual(math.inf)) and np.isfinite(d)
    assert np.signbit(Dual(-0.0))
    assert np.less(d, 1.0) and np.greater(1.0, d) and np.equal(d, 0.7)


# ---------------------------------------------------------------------------
# Memory


def _churn(n):
    x = Dual(0.5, [1.0, 2.0, 3.0, 4.0, 5.0])
    for i in range(n):
        d = Dual(float(i), [1.0, 2.0, 3.0, 4.0, 5.0])
        e = dg.sin(d * x + 1.0) / (d + 2.0)
        del d, e


def test_many_heap_duals_do_not_leak():
    _churn(2000)
    tracemalloc.start()
    try:
        _churn(1000)
        before = tracemalloc.get_traced_memory()[0]
        _churn(100_000)
        after = tracemalloc.get_traced_memory()[0]
        held = [Dual(float(i), [1.0, 2.0, 3.0, 4.0, 5.0]) for i in range(10_000)]
        holding = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert holding - after >= len(held) * (48 + 40), "tracemalloc must see Duals and their blocks"
    # A leaked 40-byte tangent block per Dual would be megabytes.
    assert after - before < 200_000


def test_recycled_duals_do_not_disturb_live_ones():
    keep = [Dual(float(i), [float(i)] * (i % 5 + 1)) for i in range(3000)]
    _churn(5000)
    gc.collect()
    for i, d in enumerate(keep):
        assert d.value == float(i)
        assert d.tangent.tolist() == [float(i)] * (i % 5 + 1)


def test_dual_survives_as_last_reference_in_containers():
    box = {"d": [Dual(0.5, [1.0, 2.0, 3.0])], "t": (dg.exp(Dual(0.0, [1.0, 2.0, 3.0])),)}
    gc.collect()
    _churn(2000)
    assert box["d"][0].tangent.tolist() == [1.0, 2.0, 3.0]
    assert box["t"][0].value == 1.0 and box["t"][0].tangent.tolist() == [1.0, 2.0, 3.0]
    arr = np.array([Dual(0.25, [4.0, 5.0, 6.0])], dtype=object)
    del box
    gc.collect()
    assert arr[0].tangent.tolist() == [4.0, 5.0, 6.0]


# ---------------------------------------------------------------------------
# Arguments that are neither numbers, Duals, Vars nor arrays of them

def _table_functions():
    from dualgrad._rules.table import RULES
    return [(getattr(dg, r.name), r.arity) for r in RULES if hasattr(dg, r.name)]


@pytest.mark.parametrize("bad", [None, object(), "1.5", b"x"],
                         ids=["None", "object", "str", "bytes"])
def test_every_table_function_refuses_other_types_at_once(bad):
    import sys
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(3000)   # an endless recursion crashed the interpreter here
    try:
        for fn, arity in _table_functions():
            argsets = [(bad,)] if arity == 1 else [(bad, 1.0), (1.0, bad), (bad, 1)]
            for args in argsets:
                with pytest.raises(TypeError, match=type(bad).__name__):
                    fn(*args)
            with pytest.raises(TypeError, match="NoneType"):   # inside an object array
                fn(*([np.array([1.0, None], dtype=object)] * arity))
    finally:
        sys.setrecursionlimit(old)


def test_table_functions_take_other_real_numbers():
    assert dg.sin(Fraction(1, 3)) == pytest.approx(math.sin(1 / 3))
    assert dg.add(Fraction(1, 2), 1) == 1.5


# ---------------------------------------------------------------------------
# The array-level dg functions on the scalar tier's numbers

@pytest.mark.parametrize("kind", ["dual", "var"])
def test_relu_clip_where_sum_on_the_scalar_tier(kind):
    for v, relu_d in ((0.5, 1.0), (-0.5, 0.0)):
        tape = dg.Tape()
        with tape:
            x = Dual(v, 1.0) if kind == "dual" else tape.var(v)
            outs = {"relu": dg.relu(x), "clip": dg.clip(x, -0.2, 0.3),
                    "clamp": dg.clamp(x, min=0.0), "where": dg.where(x > 0, x * 3.0, 2.0),
                    "sum": dg.sum([x, x * 2.0, 1.0])}

        def read(out):
            if isinstance(out, Dual):
                return out.value, out.tangent
            if isinstance(out, dg.Var):
                return out.value, float(tape.gradient(out, x))
            assert isinstance(out, float)
            return out, 0.0
        assert read(outs["relu"]) == (max(v, 0.0), relu_d)
        assert read(outs["clip"]) == (min(max(v, -0.2), 0.3), 0.0)
        assert read(outs["clamp"]) == (max(v, 0.0), relu_d)
        assert read(outs["where"]) == ((3 * v, 3.0) if v > 0 else (2.0, 0.0))
        assert read(outs["sum"]) == (3 * v + 1.0, 3.0)


def test_relu_clip_sum_on_object_arrays_of_duals():
    """What the transforms' scalar tier passes to f: object arrays of Duals."""
    x = np.array([Dual(0.5, 1.0), Dual(-0.5, 2.0)], dtype=object)
    r = dg.relu(x)
    assert r.dtype == object and [(e.value, e.tangent) for e in r] == [(0.5, 1.0), (0.0, 0.0)]
    c = dg.clip(x, -0.2, 1.0)
    assert [(float(e) if not isinstance(e, Dual) else (e.value, e.tangent)) for e in c] == [
        (0.5, 1.0), -0.2]
    s = dg.sum(x * x)
    assert isinstance(s, Dual) and (s.value, s.tangent) == (0.5, 2 * 0.5 - 2 * 0.5 * 2.0)
    np.testing.assert_allclose(dg.grad(lambda v: dg.sum(dg.relu(v) ** 2))(np.array([0.5, -1.0])),
                               [1.0, 0.0])
