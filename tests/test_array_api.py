"""The array API namespace (dualgrad.array_api): the standard's signatures, the
functions' values on DualArrays and Tensors against plain arrays, derivatives
against central differences, and SciPy's array-API-aware functions
differentiated through it (in a subprocess with SCIPY_ARRAY_API=1, which SciPy
reads when it is imported)."""

import inspect
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import dualgrad as dg
import dualgrad.array_api as xp
from dualgrad._array.dualarray import DualArray


# ---------------------------------------------------------------------------
# The standard's signatures (revision 2023.12, and the few 2024.12 functions
# the namespace has too): parameter names in order, "/" after the positional-only
# ones, "*" before the keyword-only ones.

SIGNATURES = {
    "abs": "x, /", "acos": "x, /", "acosh": "x, /", "asin": "x, /", "asinh": "x, /",
    "atan": "x, /", "atanh": "x, /", "bitwise_invert": "x, /", "ceil": "x, /",
    "conj": "x, /", "cos": "x, /", "cosh": "x, /", "exp": "x, /", "expm1": "x, /",
    "floor": "x, /", "imag": "x, /", "isfinite": "x, /", "isinf": "x, /", "isnan": "x, /",
    "log": "x, /", "log1p": "x, /", "log2": "x, /", "log10": "x, /", "logical_not": "x, /",
    "negative": "x, /", "positive": "x, /", "real": "x, /", "round": "x, /", "sign": "x, /",
    "signbit": "x, /", "sin": "x, /", "sinh": "x, /", "square": "x, /", "sqrt": "x, /",
    "tan": "x, /", "tanh": "x, /", "trunc": "x, /", "reciprocal": "x, /",
    "add": "x1, x2, /", "atan2": "x1, x2, /", "bitwise_and": "x1, x2, /",
    "bitwise_left_shift": "x1, x2, /", "bitwise_or": "x1, x2, /",
    "bitwise_right_shift": "x1, x2, /", "bitwise_xor": "x1, x2, /", "copysign": "x1, x2, /",
    "divide": "x1, x2, /", "equal": "x1, x2, /", "floor_divide": "x1, x2, /",
    "greater": "x1, x2, /", "greater_equal": "x1, x2, /", "hypot": "x1, x2, /",
    "less": "x1, x2, /", "less_equal": "x1, x2, /", "logaddexp": "x1, x2, /",
    "logical_and": "x1, x2, /", "logical_or": "x1, x2, /", "logical_xor": "x1, x2, /",
    "maximum": "x1, x2, /", "minimum": "x1, x2, /", "multiply": "x1, x2, /",
    "not_equal": "x1, x2, /", "pow": "x1, x2, /", "remainder": "x1, x2, /",
    "subtract": "x1, x2, /",
    "clip": "x, /, min, max",
    # creation
    "arange": "start, /, stop, step, *, dtype, device",
    "asarray": "obj, /, *, dtype, device, copy",
    "empty": "shape, *, dtype, device", "empty_like": "x, /, *, dtype, device",
    "eye": "n_rows, n_cols, /, *, k, dtype, device",
    "from_dlpack": "x, /, *, device, copy",
    "full": "shape, fill_value, *, dtype, device",
    "full_like": "x, /, fill_value, *, dtype, device",
    "linspace": "start, stop, /, num, *, dtype, device, endpoint",
    "meshgrid": "*arrays, indexing",
    "ones": "shape, *, dtype, device", "ones_like": "x, /, *, dtype, device",
    "tril": "x, /, *, k", "triu": "x, /, *, k",
    "zeros": "shape, *, dtype, device", "zeros_like": "x, /, *, dtype, device",
    # data types
    "astype": "x, dtype, /, *, copy, device", "can_cast": "from_, to, /",
    "finfo": "type, /", "iinfo": "type, /", "isdtype": "dtype, kind",
    "result_type": "*arrays_and_dtypes",
    # reductions and statistics
    "all": "x, /, *, axis, keepdims", "any": "x, /, *, axis, keepdims",
    "max": "x, /, *, axis, keepdims", "min": "x, /, *, axis, keepdims",
    "mean": "x, /, *, axis, keepdims",
    "prod": "x, /, *, axis, dtype, keepdims", "sum": "x, /, *, axis, dtype, keepdims",
    "std": "x, /, *, axis, correction, keepdims", "var": "x, /, *, axis, correction, keepdims",
    "cumulative_sum": "x, /, *, axis, dtype, include_initial",
    "cumulative_prod": "x, /, *, axis, dtype, include_initial",
    "diff": "x, /, *, axis, n, prepend, append",
    "count_nonzero": "x, /, *, axis, keepdims",
    # searching, sorting, sets
    "argmax": "x, /, *, axis, keepdims", "argmin": "x, /, *, axis, keepdims",
    "nonzero": "x, /", "searchsorted": "x1, x2, /, *, side, sorter",
    "where": "condition, x1, x2, /", "isin": "x1, x2, /, *, invert",
    "argsort": "x, /, *, axis, descending, stable",
    "sort": "x, /, *, axis, descending, stable",
    "unique_all": "x, /", "unique_counts": "x, /", "unique_inverse": "x, /",
    "unique_values": "x, /",
    # manipulation and indexing
    "broadcast_arrays": "*arrays", "broadcast_shapes": "*shapes",
    "broadcast_to": "x, /, shape",
    "concat": "arrays, /, *, axis", "expand_dims": "x, /, axis", "flip": "x, /, *, axis",
    "moveaxis": "x, source, destination, /", "permute_dims": "x, /, axes",
    "repeat": "x, repeats, /, *, axis", "reshape": "x, /, shape, *, copy",
    "roll": "x, /, shift, *, axis", "squeeze": "x, /, axis", "stack": "arrays, /, *, axis",
    "tile": "x, repetitions, /", "unstack": "x, /, *, axis",
    "take": "x, indices, /, *, axis", "take_along_axis": "x, indices, /, *, axis",
    # linear algebra
    "matmul": "x1, x2, /", "matrix_transpose": "x, /", "tensordot": "x1, x2, /, *, axes",
    "vecdot": "x1, x2, /, *, axis",
    "__array_namespace_info__": "",
}

LINALG_SIGNATURES = {
    "cholesky": "x, /, *, upper", "cross": "x1, x2, /, *, axis", "det": "x, /",
    "diagonal": "x, /, *, offset", "eigh": "x, /", "eigvalsh": "x, /", "inv": "x, /",
    "matmul": "x1, x2, /", "matrix_norm": "x, /, *, keepdims, ord",
    "matrix_power": "x, n, /", "matrix_rank": "x, /, *, rtol", "matrix_transpose": "x, /",
    "outer": "x1, x2, /", "pinv": "x, /, *, rtol", "qr": "x, /, *, mode",
    "slogdet": "x, /", "solve": "x1, x2, /", "svd": "x, /, *, full_matrices",
    "svdvals": "x, /", "tensordot": "x1, x2, /, *, axes", "trace": "x, /, *, offset, dtype",
    "vecdot": "x1, x2, /, *, axis", "vector_norm": "x, /, *, axis, keepdims, ord",
}

DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float32", "float64", "complex64", "complex128")
CONSTANTS = {"e": math.e, "pi": math.pi, "inf": math.inf}


def signature_text(f):
    """``f``'s parameters as the tables write them."""
    out, star = [], False
    params = list(inspect.signature(f).parameters.values())
    for i, p in enumerate(params):
        if p.kind is p.VAR_POSITIONAL:
            out.append("*" + p.name)
            star = True
            continue
        if p.kind is p.KEYWORD_ONLY and not star:
            out.append("*")
            star = True
        out.append(p.name)
        if p.kind is p.POSITIONAL_ONLY and (
                i + 1 == len(params) or params[i + 1].kind is not p.POSITIONAL_ONLY):
            out.append("/")
    return ", ".join(out)


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_function_has_the_standard_signature(name):
    assert signature_text(getattr(xp, name)) == SIGNATURES[name]


@pytest.mark.parametrize("name", sorted(LINALG_SIGNATURES))
def test_linalg_function_has_the_standard_signature(name):
    assert signature_text(getattr(xp.linalg, name)) == LINALG_SIGNATURES[name]


def test_every_exported_function_is_in_the_table():
    functions = {n for n in xp.__all__ if callable(getattr(xp, n))
                 and not isinstance(getattr(xp, n), np.dtype)}
    assert functions - set(SIGNATURES) == set()
    linalg = {n for n in dir(xp.linalg) if not n.startswith("_")}
    assert linalg == set(LINALG_SIGNATURES)


def test_the_table_matches_array_api_strict():
    """The reference implementation's signatures, where it has the function."""
    strict = pytest.importorskip("array_api_strict")
    # Every function of the reference is here, but nextafter (revision 2024.12).
    functions = {n for n in dir(strict) if inspect.isfunction(getattr(strict, n))
                 and not n.startswith("_") and "array_api_strict" not in n}
    assert functions - set(SIGNATURES) <= {"nextafter"}
    for table, space in ((SIGNATURES, strict), (LINALG_SIGNATURES, strict.linalg)):
        for name, text in table.items():
            ref = getattr(space, name, None)
            if ref is not None and not name.startswith("__"):
                assert signature_text(ref) == text, name


def test_dtypes_constants_and_version():
    assert xp.__array_api_version__ == "2023.12"
    for name in DTYPES:
        assert getattr(xp, name) == np.dtype(name)
    for name, value in CONSTANTS.items():
        assert getattr(xp, name) == value
    assert math.isnan(xp.nan) and xp.newaxis is None
    assert xp.isdtype(xp.float64, "real floating") and xp.isdtype(xp.int8, "integral")
    assert xp.isdtype(xp.uint8, ("bool", "unsigned integer"))
    assert not xp.isdtype(xp.float32, "integral") and xp.isdtype(xp.float32, xp.float32)
    with pytest.raises(ValueError, match="unknown kind 'floating'"):
        xp.isdtype(xp.float64, "floating")
    x = dg.DualArray(np.ones(2, np.float32), np.ones((1, 2), np.float32))
    assert xp.result_type(x, xp.float64) == xp.float64
    assert xp.result_type(np.ones(2, np.int32), xp.int64) == xp.int64
    assert xp.can_cast(x, xp.float64) and not xp.can_cast(xp.float64, xp.int32)
    assert xp.finfo(x).eps == np.finfo(np.float32).eps and xp.iinfo(xp.int8).max == 127


def test_namespace_info():
    info = xp.__array_namespace_info__()
    caps = info.capabilities()
    assert caps["boolean indexing"] and caps["data-dependent shapes"]
    assert info.default_device() == "cpu" and "cpu" in info.devices()
    assert info.default_dtypes() == {"real floating": xp.float64,
                                     "complex floating": xp.complex128,
                                     "integral": xp.int64, "indexing": xp.int64}
    assert set(info.dtypes()) == set(DTYPES)
    assert set(info.dtypes(kind="real floating")) == {"float32", "float64"}
    assert set(info.dtypes(kind=("bool", "signed integer"))) == {
        "bool", "int8", "int16", "int32", "int64"}


# ---------------------------------------------------------------------------
# The arrays' side of the standard

def dual(value, seed=0, k=1):
    value = np.asarray(value, dtype=float)
    tangent = np.random.default_rng(seed).standard_normal((k,) + value.shape)
    return DualArray(value, tangent)


def test_arrays_give_the_namespace():
    d, t = dual([1.0, 2.0]), dg.tensor([1.0, 2.0], requires_grad=True)
    for a in (d, t):
        assert a.__array_namespace__() is xp
        assert a.__array_namespace__(api_version="2023.12") is xp
        assert a.__array_namespace__(api_version="2022.12") is xp
        with pytest.raises(ValueError, match="revision 2023.12"):
            a.__array_namespace__(api_version="2099.12")
        assert a.device == "cpu" and a.device == xp.__array_namespace_info__().default_device()
        assert a.to_device("cpu") is a and a.to_device(a.device) is a
        with pytest.raises(ValueError, match="unknown device 'tpu'"):
            a.to_device("tpu")
        with pytest.raises(ValueError, match="stream"):
            a.to_device("cpu", stream=1)
        assert type(a.shape) is tuple and a.shape == (2,)
        assert a.dtype == xp.float64 and xp.isdtype(a.dtype, "real floating")


def test_array_attributes_of_matrices():
    v = np.arange(6.0).reshape(2, 3)
    d, t = dual(v), dg.tensor(v)
    np.testing.assert_array_equal(d.mT.value, v.T)
    np.testing.assert_array_equal(t.mT.detach().numpy(), v.T)
    np.testing.assert_array_equal(xp.matrix_transpose(d).tangent, np.swapaxes(d.tangent, -1, -2))


def test_conversions_that_drop_derivatives_keep_raising():
    """The standard's float() and bool() of a 0-d array: a traced one refuses,
    as everywhere in dualgrad (they would drop the derivative)."""
    with pytest.raises(TypeError, match="drop the tangent"):
        float(dual(2.0))
    with pytest.raises(TypeError, match="ambiguous"):
        bool(dual(2.0))

    def f(x):
        xp_ = x.__array_namespace__()
        return float(xp_.sum(x))
    with pytest.raises(TypeError, match="would drop"):
        dg.grad(f)(np.array([1.0, 2.0]))


# ---------------------------------------------------------------------------
# Values: each function on a DualArray and on a Tensor gives what it gives on
# the plain array, and the DualArray's tangent matches central differences.

def plain(a):
    """The values of a result, as plain arrays (and tuples of them)."""
    if isinstance(a, (tuple, list)):
        return type(a)(plain(e) for e in a)
    if isinstance(a, DualArray):
        return a.value
    if isinstance(a, dg.Tensor):
        return a.detach().numpy()
    return a


def central(f, x, v, h=1e-6):
    """The central difference of f at x along v (f of plain arrays)."""
    return (np.asarray(f(x + h * v), float) - np.asarray(f(x - h * v), float)) / (2 * h)


def check(f, *values, grad=True, atol=1e-6, rtol=1e-6):
    """f of plain arrays, of DualArrays and of Tensors agree; the DualArray's
    tangent and the Tensor's gradient agree with central differences."""
    values = [np.asarray(v, float) for v in values]
    want = f(*values)
    rng = np.random.default_rng(1)
    directions = [rng.standard_normal(v.shape) for v in values]
    duals = [DualArray(v, d[None]) for v, d in zip(values, directions)]
    tensors = [dg.tensor(v, requires_grad=True) for v in values]
    got_dual, got_tensor = f(*duals), f(*tensors)
    for got in (got_dual, got_tensor):
        np.testing.assert_allclose(plain(got), want, rtol=1e-12, atol=1e-12)
        if isinstance(want, np.ndarray):
            assert type(plain(got)) is np.ndarray and plain(got).dtype == want.dtype
    if not grad:
        return

    def along(t):
        return f(*[v + t * d for v, d in zip(values, directions)])
    fd = (np.asarray(along(1e-6), float) - np.asarray(along(-1e-6), float)) / 2e-6
    if not isinstance(got_dual, DualArray):
        # A constant (np.round and the like): right only where the derivative is zero.
        np.testing.assert_array_equal(fd, 0.0)
        return
    np.testing.assert_allclose(got_dual.tangent[0], fd, atol=atol, rtol=rtol)
    # Reverse mode: <u, J v> = <J^T u, v> for a random output weight u.
    u = rng.standard_normal(np.shape(want))
    (xp.sum(got_tensor * u)).backward()
    vjp = builtins_sum(float(np.sum(t.grad.numpy() * d)) for t, d in zip(tensors, directions)
                       if t.grad is not None)      # None: f does not use that input
    np.testing.assert_allclose(vjp, float(np.sum(u * fd)), atol=atol, rtol=rtol)


builtins_sum = sum

POINT = np.array([[0.3, -0.7, 0.55], [0.2, 0.9, -0.45]])
POSITIVE = np.abs(POINT) + 0.5
IN_UNIT = np.clip(POINT, -0.9, 0.9)

UNARY = {"abs": POINT, "acos": IN_UNIT, "acosh": POSITIVE + 1, "asin": IN_UNIT,
         "asinh": POINT, "atan": POINT, "atanh": IN_UNIT, "cos": POINT, "cosh": POINT,
         "exp": POINT, "expm1": POINT, "log": POSITIVE, "log1p": POSITIVE, "log2": POSITIVE,
         "log10": POSITIVE, "negative": POINT, "positive": POINT, "sin": POINT,
         "sinh": POINT, "square": POINT, "sqrt": POSITIVE, "tan": POINT, "tanh": POINT,
         "reciprocal": POSITIVE, "conj": POINT, "real": POINT}
ROUNDING = ("ceil", "floor", "round", "trunc", "sign")
TESTS = ("isfinite", "isinf", "isnan", "signbit")
BINARY = ("add", "subtract", "multiply", "divide", "atan2", "hypot", "logaddexp",
          "maximum", "minimum", "pow", "copysign")
COMPARISONS = ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal")


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name):
    check(getattr(xp, name), UNARY[name])


@pytest.mark.parametrize("name", ROUNDING)
def test_rounding_has_zero_derivative(name):
    check(getattr(xp, name), POINT * 3)


@pytest.mark.parametrize("name", TESTS)
def test_value_tests_are_plain(name):
    for x in (dual(POINT), dg.tensor(POINT, requires_grad=True)):
        np.testing.assert_array_equal(plain(getattr(xp, name)(x)),
                                      getattr(xp, name)(POINT))


@pytest.mark.parametrize("name", BINARY)
def test_binary(name):
    check(getattr(xp, name), POSITIVE, POSITIVE[::-1] * 0.8)


@pytest.mark.parametrize("name", COMPARISONS)
def test_comparisons(name):
    a = dual(POINT)
    np.testing.assert_array_equal(plain(getattr(xp, name)(a, 0.2)),
                                  getattr(xp, name)(POINT, 0.2))


def test_clip_and_where():
    check(lambda x: xp.clip(x, -0.5, 0.5), POINT)
    check(lambda x: xp.clip(x, min=0.0), POINT)
    check(lambda x: xp.clip(x), POINT)
    check(lambda x, y: xp.where(x > 0, x * y, y), POINT, POSITIVE)


@pytest.mark.parametrize("name", ["sum", "prod", "mean", "max", "min", "std", "var"])
@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
def test_reductions(name, axis):
    check(lambda x: getattr(xp, name)(x, axis=axis), POINT)
    check(lambda x: getattr(xp, name)(x, axis=axis, keepdims=True), POINT)


def test_reduction_keywords():
    check(lambda x: xp.std(x, axis=1, correction=1), POINT)
    check(lambda x: xp.var(x, correction=1.0), POINT)
    check(lambda x: xp.sum(x, dtype=xp.float64), POINT)
    check(lambda x: xp.cumulative_sum(x, axis=1), POINT)
    check(lambda x: xp.cumulative_sum(x[0], include_initial=True), POINT)
    check(lambda x: xp.cumulative_prod(x, axis=0, include_initial=True), POINT)
    check(lambda x: xp.diff(x, axis=1), POINT)
    with pytest.raises(ValueError, match="axis=None is for 1-d"):
        xp.cumulative_sum(dual(POINT))


def test_reductions_of_plain_arrays_are_0d_arrays():
    for f in (xp.sum, xp.max, xp.mean, xp.argmax, xp.all):
        out = f(POINT)
        assert type(out) is np.ndarray and out.ndim == 0


def test_searching_and_sets_are_constants():
    x = np.array([0.3, -0.7, 0.3, 2.0, -0.7, 1.0])
    d, t = dual(x), dg.tensor(x, requires_grad=True)
    for a in (d, t):
        for f in (xp.argmax, xp.argmin, xp.nonzero, xp.count_nonzero,
                  lambda a: xp.argsort(a, descending=True),
                  lambda a: xp.searchsorted(xp.sort(a), a),
                  lambda a: xp.isin(a, np.array([0.3, 1.0]))):
            got, want = f(a), f(x)
            assert not isinstance(got, (DualArray, dg.Tensor))
            np.testing.assert_array_equal(got, want)
        u, ref = xp.unique_all(a), np.unique_all(x)
        for field in ("values", "indices", "inverse_indices", "counts"):
            np.testing.assert_array_equal(plain(getattr(u, field)), getattr(ref, field))
        np.testing.assert_array_equal(plain(xp.unique_values(a)), np.unique(x))
        np.testing.assert_array_equal(plain(xp.unique_counts(a).counts),
                                      np.unique_counts(x).counts)
        np.testing.assert_array_equal(plain(xp.unique_inverse(a).inverse_indices),
                                      np.unique_inverse(x).inverse_indices)


def test_stable_descending_argsort_keeps_ties_in_order():
    x = np.array([1.0, 3.0, 1.0, 3.0, 2.0])
    np.testing.assert_array_equal(xp.argsort(x, descending=True), [1, 3, 4, 0, 2])
    np.testing.assert_array_equal(xp.argsort(dual(x), descending=True), [1, 3, 4, 0, 2])


def test_sort_and_unique_values_keep_derivatives():
    x = np.array([0.3, -0.7, 2.0, 1.0])
    check(lambda a: xp.sort(a), x)
    check(lambda a: xp.sort(a, descending=True), x)
    check(lambda a: xp.unique_values(a), x)
    check(lambda a: xp.unique_all(a).values * 2, x)


MANIPULATIONS = {
    "broadcast_to": lambda x: xp.broadcast_to(x[0], (4, 3)),
    "broadcast_arrays": lambda x: xp.stack(xp.broadcast_arrays(x, x[0])),
    "concat": lambda x: xp.concat([x, x * 2], axis=1),
    "concat None": lambda x: xp.concat((x, x[0]), axis=None),
    "expand_dims": lambda x: xp.expand_dims(x, axis=1),
    "flip": lambda x: xp.flip(x, axis=0),
    "flip all": lambda x: xp.flip(x),
    "moveaxis": lambda x: xp.moveaxis(x[None], 0, 2),
    "permute_dims": lambda x: xp.permute_dims(x[None], (2, 0, 1)),
    "repeat": lambda x: xp.repeat(x, 2, axis=1),
    "repeat array": lambda x: xp.repeat(x[0], np.array([1, 0, 3])),
    "reshape": lambda x: xp.reshape(x, (3, 2)),
    "reshape copy": lambda x: xp.reshape(x, (-1,), copy=True),
    "roll": lambda x: xp.roll(x, 1, axis=1),
    "roll flat": lambda x: xp.roll(x, -2),
    "squeeze": lambda x: xp.squeeze(x[:1], axis=0),
    "stack": lambda x: xp.stack([x, x * x], axis=1),
    "tile": lambda x: xp.tile(x, (2, 1)),
    "unstack": lambda x: xp.stack(xp.unstack(x, axis=1)[::-1]),
    "take": lambda x: xp.take(x, np.array([2, 0]), axis=1),
    "take_along_axis": lambda x: xp.take_along_axis(x, np.array([[2, 0], [1, 1]]), axis=1),
    "tril": lambda x: xp.tril(x, k=1),
    "triu": lambda x: xp.triu(x),
    "meshgrid xy": lambda x: xp.stack(xp.meshgrid(x[0], x[1, :2])),
    "meshgrid ij": lambda x: xp.stack(xp.meshgrid(x[0], x[1, :2], indexing="ij")),
    "zeros_like": lambda x: xp.zeros_like(x) + x,
    "full_like": lambda x: xp.full_like(x, 2.0) * x,
    "asarray": lambda x: xp.asarray(x, dtype=xp.float64) + xp.asarray([1.0, 2.0, 3.0]),
    "asarray list": lambda x: xp.asarray([x[0, 0], x[1, 1]]),
}


@pytest.mark.parametrize("name", sorted(MANIPULATIONS))
def test_manipulations(name):
    check(MANIPULATIONS[name], POINT)


def test_astype_keeps_derivatives_in_another_float_dtype():
    d, t = dual(POINT), dg.tensor(POINT, requires_grad=True)
    out = xp.astype(d, xp.float32)
    assert out.dtype == xp.float32 and out.tangent.dtype == np.float32
    np.testing.assert_array_equal(out.tangent, d.tangent.astype(np.float32))
    xp.sum(xp.astype(t, xp.float32)).backward()
    np.testing.assert_array_equal(t.grad.numpy(), np.ones_like(POINT))


def test_float32_stays_float32():
    """The standard keeps an array's floating dtype through its functions."""
    v = np.array([0.5, 1.0, 2.0], np.float32)
    for a in (DualArray(v, v[None]), dg.tensor(v, requires_grad=True)):
        for f in (xp.exp, xp.sum, xp.mean, xp.sort, lambda a: xp.concat([a, a]),
                  lambda a: a * 2.0, xp.linalg.vector_norm, lambda a: xp.where(a > 1, a, 0.0)):
            assert f(a).dtype == xp.float32


def test_meshgrid_matches_numpy():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0])
    for indexing in ("xy", "ij"):
        for got, want in zip(xp.meshgrid(dual(a), b, indexing=indexing),
                             np.meshgrid(a, b, indexing=indexing)):
            np.testing.assert_array_equal(plain(got), want)


A = np.array([[2.0, 0.3, -0.2], [0.3, 1.5, 0.4], [-0.2, 0.4, 1.8]])   # symmetric positive definite
B = np.array([[0.5, -1.0], [0.2, 0.3], [1.1, 0.7]])

LINALG = {
    "matmul": lambda a, b: xp.matmul(a, b),
    "tensordot": lambda a, b: xp.tensordot(a, b, axes=1),
    "tensordot pairs": lambda a, b: xp.tensordot(a, a, axes=([0], [1])) + b[0, 0],
    "vecdot": lambda a, b: xp.vecdot(a, b[:, :1] * a, axis=0),
    "linalg.matmul": lambda a, b: xp.linalg.matmul(a, b),
    "linalg.solve": lambda a, b: xp.linalg.solve(a, b),
    "linalg.inv": lambda a, b: xp.linalg.inv(a) @ b,
    "linalg.det": lambda a, b: xp.linalg.det(a * b[0, 0]),
    "linalg.slogdet": lambda a, b: xp.linalg.slogdet(a + b[0, 0])[1],
    # Cholesky reads one triangle: its derivative is taken along symmetric directions.
    "linalg.cholesky": lambda a, b: xp.linalg.cholesky((a + a.mT) / 2),
    "linalg.cholesky upper": lambda a, b: xp.linalg.cholesky((a + a.mT) / 2, upper=True),
    "linalg.matrix_norm": lambda a, b: xp.linalg.matrix_norm(a @ b),
    "linalg.matrix_power": lambda a, b: xp.linalg.matrix_power(a, 3),
    "linalg.matrix_power -2": lambda a, b: xp.linalg.matrix_power(a, -2),
    "linalg.vector_norm": lambda a, b: xp.linalg.vector_norm(b),
    "linalg.vector_norm axis": lambda a, b: xp.linalg.vector_norm(b, axis=0, ord=1),
    "linalg.vector_norm axes": lambda a, b: xp.linalg.vector_norm(a[None] * b[0, 0],
                                                                  axis=(0, 2), keepdims=True),
    "linalg.trace": lambda a, b: xp.linalg.trace(a * b[0, 0], offset=1),
    "linalg.diagonal": lambda a, b: xp.linalg.diagonal(a * b[1, 1]),
    "linalg.outer": lambda a, b: xp.linalg.outer(a[0], b[:, 1]),
    "linalg.cross": lambda a, b: xp.linalg.cross(a, a[::-1] * b[0, 0]),
    "linalg.vecdot": lambda a, b: xp.linalg.vecdot(a, a * b[0, 1]),
    "linalg.tensordot": lambda a, b: xp.linalg.tensordot(a, b, axes=1),
    "linalg.matrix_transpose": lambda a, b: xp.linalg.matrix_transpose(a @ b),
}


@pytest.mark.parametrize("name", sorted(LINALG))
def test_linear_algebra(name):
    check(LINALG[name], A, B)


def test_linalg_decompositions():
    S = A + A.T
    np.testing.assert_allclose(xp.linalg.eigvalsh(S), np.linalg.eigvalsh(S))
    for name in ("eigh", "svd", "qr"):
        ours, theirs = getattr(xp.linalg, name)(dual(S)), getattr(np.linalg, name)(S)
        for o, t in zip(ours, theirs):
            np.testing.assert_allclose(o.value, t, atol=1e-12)
    np.testing.assert_allclose(xp.linalg.pinv(dual(A)).value, np.linalg.pinv(A), atol=1e-12)


def test_creation_gives_plain_arrays():
    for out, want in ((xp.zeros((2, 3)), np.zeros((2, 3))), (xp.ones(2), np.ones(2)),
                      (xp.empty((2,)), np.zeros(2)), (xp.full((2,), 3.0), np.full(2, 3.0)),
                      (xp.arange(5), np.arange(5)), (xp.arange(1, 5, 2), np.arange(1, 5, 2)),
                      (xp.linspace(0, 1, 5, endpoint=False), np.linspace(0, 1, 5, endpoint=False)),
                      (xp.eye(3, 4, k=1), np.eye(3, 4, k=1)),
                      (xp.asarray(2.0), np.asarray(2.0)),
                      (xp.asarray([1, 2], dtype=xp.float32), np.array([1, 2], np.float32)),
                      (xp.zeros_like(POINT), np.zeros_like(POINT)),
                      (xp.full_like(POINT, 2, dtype=xp.int64), np.full_like(POINT, 2, int))):
        assert type(out) is np.ndarray
        np.testing.assert_array_equal(out, want)
        assert out.dtype == want.dtype
    assert xp.zeros(2, device="cpu").dtype == xp.float64
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        xp.zeros(2, device="tpu")


def test_copy_keywords_of_plain_arrays():
    a = np.arange(6.0).reshape(2, 3)
    assert np.shares_memory(xp.reshape(a, (3, 2), copy=False), a)
    assert not np.shares_memory(xp.reshape(a, (3, 2), copy=True), a)
    with pytest.raises(ValueError, match="needs a copy"):
        xp.reshape(a.T, (6,), copy=False)
    assert xp.asarray(a, copy=False) is a and xp.asarray(a, copy=True) is not a
    with pytest.raises(ValueError, match="needs a copy"):
        xp.asarray([1.0, 2.0], copy=False)
    assert xp.astype(a, xp.float64, copy=False) is a
    assert xp.astype(a, xp.float32).dtype == xp.float32
    assert xp.finfo(np.float64).eps == np.finfo(np.float64).eps    # a scalar type, too
    assert xp.can_cast(np.float32, xp.float64) and xp.result_type(np.float32, 1.0) == xp.float32


def test_asarray_of_traced_arrays():
    d, t = dual(POINT), dg.tensor(POINT, requires_grad=True)
    for a in (d, t):
        assert xp.asarray(a) is a
        assert xp.asarray(a, dtype=xp.float64, copy=False) is a
        c = xp.asarray(a, copy=True)
        assert c is not a
        np.testing.assert_array_equal(plain(c), POINT)
        with pytest.raises(ValueError, match="copy=False"):
            xp.asarray(a, dtype=xp.float32, copy=False)
        assert xp.astype(a, xp.float64, copy=False) is a
    # zeros_like of a traced array holds derivatives written into it later.
    z = xp.zeros_like(d)
    z[0] = d[1]
    np.testing.assert_array_equal(z.tangent[0, 0], d.tangent[0, 1])
    with pytest.raises(TypeError, match="drop the tangent"):
        xp.astype(d, xp.int64)


def test_nested_transforms_through_the_namespace():
    """A function written against the standard, differentiated twice."""
    def f(x):
        xp_ = x.__array_namespace__()
        return xp_.sum(xp_.exp(x) * xp_.sin(x)) / xp_.linalg.vector_norm(x)
    x = np.array([0.3, -0.4, 1.2])
    g = dg.grad(f)
    fd = np.stack([(g(x + 1e-5 * e) - g(x - 1e-5 * e)) / 2e-5 for e in np.eye(3)])
    for h in (dg.hessian(f)(x), dg.jacfwd(dg.jacrev(f))(x), dg.jacrev(dg.jacfwd(f))(x)):
        np.testing.assert_allclose(h, fd, atol=1e-6, rtol=1e-6)


# ---------------------------------------------------------------------------
# SciPy's array-API-aware functions, differentiated unchanged. SciPy reads
# SCIPY_ARRAY_API when it is imported: the checks (scipy_array_api_checks.py,
# not collected on its own) run in a subprocess that sets it.

SCIPY_CHECKS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "scipy_array_api_checks.py")


def test_scipy_in_a_subprocess():
    scipy = pytest.importorskip("scipy")
    if tuple(int(p) for p in scipy.__version__.split(".")[:2]) < (1, 15):
        pytest.skip("SciPy's array API support (logsumexp, stats) as checked here is 1.15's")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n0", "-p", "no:cacheprovider",
         "-p", "no:warnings", SCIPY_CHECKS],
        env=dict(os.environ, SCIPY_ARRAY_API="1"), cwd=root, capture_output=True, text=True,
        timeout=900)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert " passed" in run.stdout and "skipped" not in run.stdout, run.stdout[-3000:]
