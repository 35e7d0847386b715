"""The Python array API standard (revision 2023.12) over dualgrad's arrays.

``x.__array_namespace__()`` of a :class:`~dualgrad.DualArray` or a
:class:`~dualgrad.Tensor` is this module, so code written against the standard
(``xp = array_namespace(x)``, as SciPy's array-API-aware functions do)
differentiates unchanged. Each function here is the NumPy function of the same
meaning, which dispatches on its operands: traced arrays go to dualgrad's
forward- or reverse-mode version, plain ndarrays to NumPy itself. So a function
returns a traced array where one of its operands is traced and a plain ndarray
otherwise (0-d arrays where NumPy would give a scalar, as the standard wants).
What the standard spells differently from NumPy (``concat``, ``permute_dims``,
``correction=``, ``copy=``, ``device=``, ``descending=``) is translated here.

Arrays made from shapes and numbers (``zeros``, ``ones``, ``full``, ``arange``,
``linspace``, ``eye``, ``empty``) are plain arrays: constants. The ``*_like``
functions follow NumPy's on traced arrays: an array of x's kind holding
zero derivatives, so that values written into it later keep theirs. Functions
of values only (comparisons, ``argsort``, ``argmax``, ``searchsorted``,
``nonzero``, the counts and indices of the set functions) give constants;
``sort`` and the values of ``unique_*`` are selections of x's elements and
carry their derivatives.

Extensions: ``linalg`` maps to :mod:`numpy.linalg`; on traced arrays it has
what dualgrad has rules for (``cholesky``, ``det``, ``inv``, ``slogdet``,
``solve``, the norms, and the products), and the rest raise dualgrad's
``TypeError`` for a function without a derivative rule. There is no ``fft``.
"""

import builtins
import math
import sys
from collections import namedtuple

import numpy as np

from dualgrad import gpu
from dualgrad._array.composites import assemble, traced, values_of
from dualgrad._array.dualarray import DualArray

__array_api_version__ = "2023.12"

# Revisions whose functions this namespace has (each adds to the one before).
_VERSIONS = ("2021.12", "2022.12", "2023.12")


def _namespace(api_version=None):
    """This module, for ``x.__array_namespace__(api_version=...)``."""
    if api_version is not None and api_version not in _VERSIONS:
        raise ValueError(f"dualgrad's array API namespace implements revision "
                         f"{__array_api_version__} (and the earlier {', '.join(_VERSIONS[:-1])}); "
                         f"got api_version={api_version!r}: pass one of these, or None")
    return sys.modules[__name__]


def _array(out):
    """NumPy's scalar results as 0-d arrays, as the standard returns."""
    if isinstance(out, np.generic):
        return np.asarray(out)
    return out


def _placed(a, device):
    """Plain array ``a`` on ``device`` (None: where it is)."""
    if device is None:
        return a
    return gpu.to_device(a, _device(device))


def _device(device):
    try:
        return gpu.device(device)
    except (RuntimeError, TypeError) as e:
        devices = ", ".join(repr(str(d)) for d in __array_namespace_info__().devices())
        raise ValueError(f"unknown device {device!r} ({e}); dualgrad's devices here are "
                         f"{devices}") from None


def _to_device(x, device, stream=None):
    """``x.to_device(device)`` of a DualArray or a Tensor: itself where it is
    already there, else a copy (values and derivatives) on that device."""
    if stream is not None:
        raise ValueError("dualgrad arrays take no stream in to_device: pass stream=None")
    where = _device(device)
    if gpu.device_of(x) == where:
        return x
    if type(x) is DualArray:
        return DualArray(_to_device(x.value, where) if traced(x.value)
                         else gpu.to_device(x.value, where),
                         _to_device(x.tangent, where) if traced(x.tangent)
                         else gpu.to_device(x.tangent, where), x.level)
    return x.to(where)


# ---------------------------------------------------------------------------
# Data types: NumPy's dtype objects, which compare equal to NumPy's scalar types.

bool = np.dtype(np.bool_)  # noqa: A001  (the standard's name)
int8, int16, int32, int64 = (np.dtype(t) for t in ("int8", "int16", "int32", "int64"))
uint8, uint16, uint32, uint64 = (np.dtype(t) for t in ("uint8", "uint16", "uint32", "uint64"))
float32, float64 = np.dtype("float32"), np.dtype("float64")
complex64, complex128 = np.dtype("complex64"), np.dtype("complex128")

_DTYPES = {"bool": bool, "int8": int8, "int16": int16, "int32": int32, "int64": int64,
           "uint8": uint8, "uint16": uint16, "uint32": uint32, "uint64": uint64,
           "float32": float32, "float64": float64, "complex64": complex64,
           "complex128": complex128}

# The kinds of isdtype, as NumPy's dtype.kind letters.
_KINDS = {"bool": "b", "signed integer": "i", "unsigned integer": "u", "integral": "iu",
          "real floating": "f", "complex floating": "c", "numeric": "iufc"}

e, inf, nan, pi = math.e, math.inf, math.nan, math.pi
newaxis = None


def _dtype_of(x):
    """The dtype of a dtype, a scalar type (np.float64, whose class attribute
    ``dtype`` is no dtype) or an array."""
    if isinstance(x, (np.dtype, type, str)):
        return np.dtype(x)
    return np.dtype(getattr(x, "dtype", x))


def isdtype(dtype, kind):
    """Whether ``dtype`` is ``kind``: a dtype, a kind's name ("real floating",
    "integral", ...), or a tuple of them (any)."""
    if isinstance(kind, tuple):
        return builtins.any(isdtype(dtype, k) for k in kind)
    if isinstance(kind, str):
        if kind not in _KINDS:
            raise ValueError(f"isdtype: unknown kind {kind!r}; the kinds are "
                             f"{', '.join(map(repr, _KINDS))}")
        return np.dtype(dtype).kind in _KINDS[kind]
    return np.dtype(dtype) == np.dtype(kind)


def astype(x, dtype, /, *, copy=True, device=None):
    """``x`` as ``dtype``. A traced array keeps its derivatives in another
    floating dtype; a DualArray refuses a conversion that drops them."""
    if traced(x):
        if not copy and x.dtype == np.dtype(dtype):
            out = x
        else:
            out = x.astype(dtype)
        return out if device is None else _to_device(out, device)
    return _placed(np.asarray(x).astype(dtype, copy=copy), device)


def can_cast(from_, to, /):
    """Whether NumPy's safe casting takes ``from_`` (a dtype or an array) to ``to``."""
    return np.can_cast(_dtype_of(from_), to)


def finfo(type, /):  # noqa: A002  (the standard's name)
    """:func:`numpy.finfo` of a floating dtype or of an array's dtype."""
    return np.finfo(_dtype_of(type))


def iinfo(type, /):  # noqa: A002
    """:func:`numpy.iinfo` of an integer dtype or of an array's dtype."""
    return np.iinfo(_dtype_of(type))


def result_type(*arrays_and_dtypes):
    """NumPy's promotion of the arrays' dtypes and the dtypes given."""
    return np.result_type(*[a if isinstance(a, (builtins.int, builtins.float, builtins.complex))
                            else _dtype_of(a) for a in arrays_and_dtypes])


# ---------------------------------------------------------------------------
# Inspection

class _Info:
    """What ``__array_namespace_info__()`` tells of this namespace."""

    __module__ = "dualgrad.array_api"

    def capabilities(self):
        return {"boolean indexing": True, "data-dependent shapes": True,
                "max dimensions": 64}

    def default_device(self):
        return gpu.CPU

    def devices(self):
        gpus = [gpu.device("cuda", i) for i in range(gpu.device_count())] \
            if gpu.is_available() else []
        return [gpu.CPU, *gpus]

    def default_dtypes(self, *, device=None):
        return {"real floating": float64, "complex floating": complex128,
                "integral": int64, "indexing": int64}

    def dtypes(self, *, device=None, kind=None):
        if kind is None:
            return dict(_DTYPES)
        return {name: d for name, d in _DTYPES.items() if isdtype(d, kind)}


def __array_namespace_info__():
    """The inspection object: capabilities, devices and data types."""
    return _Info()


# ---------------------------------------------------------------------------
# Creation: plain arrays (constants), except the *_like of traced arrays.

def asarray(obj, /, *, dtype=None, device=None, copy=None):
    """``obj`` as an array: a traced array itself (converted to ``dtype``),
    nested lists holding traced values stacked into one, anything else NumPy's."""
    if traced(obj):
        a = assemble(obj) if isinstance(obj, (list, tuple)) else obj
        if dtype is not None and a.dtype != np.dtype(dtype):
            if copy is False:
                raise ValueError(f"asarray: {a.dtype} to {np.dtype(dtype)} needs a copy, "
                                 f"and copy=False was given; pass copy=None")
            a = a.astype(dtype)
        elif copy and a is obj:
            a = np.copy(a)
        return a if device is None else _to_device(a, device)
    if isinstance(obj, np.ndarray) and device is not None and _device(device) != gpu.CPU:
        return _placed(obj.astype(dtype) if dtype is not None else obj, device)
    if gpu.is_device_array(obj):
        out = obj if dtype is None else obj.astype(dtype, copy=builtins.bool(copy))
        return out.copy() if copy and out is obj else _placed(out, device)
    if copy:
        return _placed(np.array(obj, dtype=dtype, copy=True), device)
    out = np.asarray(obj, dtype=dtype)
    if copy is False and not (isinstance(obj, np.ndarray) and np.shares_memory(out, obj)):
        raise ValueError("asarray: this conversion needs a copy, and copy=False was given; "
                         "pass copy=None")
    return _placed(out, device)


def arange(start, /, stop=None, step=1, *, dtype=None, device=None):
    """Evenly spaced values in [start, stop), as :func:`numpy.arange`."""
    if stop is None:
        start, stop = 0, start
    return _placed(np.arange(start, stop, step, dtype=dtype), device)


def empty(shape, *, dtype=None, device=None):
    """An array of ``shape`` (zeros: its values are not to be read)."""
    return _placed(np.zeros(shape, dtype=dtype or float64), device)


def zeros(shape, *, dtype=None, device=None):
    return _placed(np.zeros(shape, dtype=dtype or float64), device)


def ones(shape, *, dtype=None, device=None):
    return _placed(np.ones(shape, dtype=dtype or float64), device)


def full(shape, fill_value, *, dtype=None, device=None):
    return _placed(np.full(shape, fill_value, dtype=dtype), device)


def eye(n_rows, n_cols=None, /, *, k=0, dtype=None, device=None):
    return _placed(np.eye(n_rows, n_cols, k=k, dtype=dtype or float64), device)


def linspace(start, stop, /, num, *, dtype=None, device=None, endpoint=True):
    return _placed(np.linspace(start, stop, num, dtype=dtype, endpoint=endpoint), device)


def _like(fn, name, what):
    def like(x, /, *, dtype=None, device=None):
        out = fn(x, dtype=dtype)
        if device is None:
            return out
        return _to_device(out, device) if traced(out) else _placed(out, device)
    like.__name__ = like.__qualname__ = name
    like.__doc__ = (f"An array of {what} of x's shape: of x's kind where x is traced (zero "
                    f"derivatives, which values written into it later keep), else plain.")
    return like


zeros_like = _like(np.zeros_like, "zeros_like", "zeros")
ones_like = _like(np.ones_like, "ones_like", "ones")
empty_like = _like(np.zeros_like, "empty_like", "zeros (empty values are not to be read)")


def full_like(x, /, fill_value, *, dtype=None, device=None):
    """An array of ``fill_value`` of x's shape, as ``zeros_like``."""
    out = np.full_like(x, fill_value, dtype=dtype)
    if device is None:
        return out
    return _to_device(out, device) if traced(out) else _placed(out, device)


def from_dlpack(x, /, *, device=None, copy=None):
    """A plain array from a DLPack capsule's producer (NumPy's)."""
    return _placed(np.from_dlpack(x, copy=copy) if copy is not None else np.from_dlpack(x),
                   device)


def meshgrid(*arrays, indexing="xy"):
    """Coordinate arrays of 1-d arrays (traced ones keep their derivatives)."""
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', not {indexing!r}")
    n = len(arrays)
    sizes = [np.shape(a)[0] if np.ndim(a) else 1 for a in arrays]
    order = list(range(n))
    if indexing == "xy" and n > 1:
        order[0], order[1] = 1, 0       # x varies along columns: the first two axes swap
    shape = tuple(sizes[order[i]] for i in range(n))
    out = []
    for i, a in enumerate(arrays):
        where = [1] * n
        where[order.index(i)] = -1
        out.append(np.broadcast_to(np.reshape(a, where), shape))
    return out


def tril(x, /, *, k=0):
    return np.tril(x, k)


def triu(x, /, *, k=0):
    return np.triu(x, k)


# ---------------------------------------------------------------------------
# Elementwise functions: NumPy's ufuncs, which dispatch.

def _unary(name, fn):
    def f(x, /):
        return _array(fn(x))
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"Elementwise ``{name}``: :func:`numpy.{fn.__name__}`."
    return f


def _binary(name, fn):
    def f(x1, x2, /):
        return _array(fn(x1, x2))
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"Elementwise ``{name}``: :func:`numpy.{fn.__name__}`."
    return f


abs = _unary("abs", np.abs)  # noqa: A001
acos = _unary("acos", np.arccos)
acosh = _unary("acosh", np.arccosh)
asin = _unary("asin", np.arcsin)
asinh = _unary("asinh", np.arcsinh)
atan = _unary("atan", np.arctan)
atanh = _unary("atanh", np.arctanh)
bitwise_invert = _unary("bitwise_invert", np.invert)
ceil = _unary("ceil", np.ceil)
conj = _unary("conj", np.conj)
cos = _unary("cos", np.cos)
cosh = _unary("cosh", np.cosh)
exp = _unary("exp", np.exp)
expm1 = _unary("expm1", np.expm1)
floor = _unary("floor", np.floor)
imag = _unary("imag", np.imag)
isfinite = _unary("isfinite", np.isfinite)
isinf = _unary("isinf", np.isinf)
isnan = _unary("isnan", np.isnan)
log = _unary("log", np.log)
log1p = _unary("log1p", np.log1p)
log2 = _unary("log2", np.log2)
log10 = _unary("log10", np.log10)
logical_not = _unary("logical_not", np.logical_not)
negative = _unary("negative", np.negative)
positive = _unary("positive", np.positive)
real = _unary("real", np.real)
round = _unary("round", np.round)  # noqa: A001
sign = _unary("sign", np.sign)
signbit = _unary("signbit", np.signbit)
sin = _unary("sin", np.sin)
sinh = _unary("sinh", np.sinh)
square = _unary("square", np.square)
sqrt = _unary("sqrt", np.sqrt)
tan = _unary("tan", np.tan)
tanh = _unary("tanh", np.tanh)
trunc = _unary("trunc", np.trunc)

add = _binary("add", np.add)
atan2 = _binary("atan2", np.arctan2)
bitwise_and = _binary("bitwise_and", np.bitwise_and)
bitwise_left_shift = _binary("bitwise_left_shift", np.left_shift)
bitwise_or = _binary("bitwise_or", np.bitwise_or)
bitwise_right_shift = _binary("bitwise_right_shift", np.right_shift)
bitwise_xor = _binary("bitwise_xor", np.bitwise_xor)
copysign = _binary("copysign", np.copysign)
divide = _binary("divide", np.divide)
equal = _binary("equal", np.equal)
floor_divide = _binary("floor_divide", np.floor_divide)
greater = _binary("greater", np.greater)
greater_equal = _binary("greater_equal", np.greater_equal)
hypot = _binary("hypot", np.hypot)
less = _binary("less", np.less)
less_equal = _binary("less_equal", np.less_equal)
logaddexp = _binary("logaddexp", np.logaddexp)
logical_and = _binary("logical_and", np.logical_and)
logical_or = _binary("logical_or", np.logical_or)
logical_xor = _binary("logical_xor", np.logical_xor)
maximum = _binary("maximum", np.maximum)
minimum = _binary("minimum", np.minimum)
multiply = _binary("multiply", np.multiply)
not_equal = _binary("not_equal", np.not_equal)
pow = _binary("pow", np.power)  # noqa: A001
remainder = _binary("remainder", np.remainder)
subtract = _binary("subtract", np.subtract)


def clip(x, /, min=None, max=None):  # noqa: A002
    """x limited to [min, max] (either may be None: no limit on that side)."""
    if min is None and max is None:
        return x
    return _array(np.clip(x, min, max))


# ---------------------------------------------------------------------------
# Reductions and statistics

def _reduce(fn, x, axis, keepdims, **kw):
    return _array(fn(x, axis=axis, keepdims=keepdims, **kw))


def sum(x, /, *, axis=None, dtype=None, keepdims=False):  # noqa: A001
    return _reduce(np.sum, x if dtype is None else astype(x, dtype, copy=False),
                   axis, keepdims)


def prod(x, /, *, axis=None, dtype=None, keepdims=False):
    return _reduce(np.prod, x if dtype is None else astype(x, dtype, copy=False),
                   axis, keepdims)


def mean(x, /, *, axis=None, keepdims=False):
    return _reduce(np.mean, x, axis, keepdims)


def max(x, /, *, axis=None, keepdims=False):  # noqa: A001
    return _reduce(np.max, x, axis, keepdims)


def min(x, /, *, axis=None, keepdims=False):  # noqa: A001
    return _reduce(np.min, x, axis, keepdims)


def std(x, /, *, axis=None, correction=0.0, keepdims=False):
    return _reduce(np.std, x, axis, keepdims, ddof=correction)


def var(x, /, *, axis=None, correction=0.0, keepdims=False):
    return _reduce(np.var, x, axis, keepdims, ddof=correction)


def all(x, /, *, axis=None, keepdims=False):  # noqa: A001
    return _reduce(np.all, x, axis, keepdims)


def any(x, /, *, axis=None, keepdims=False):  # noqa: A001
    return _reduce(np.any, x, axis, keepdims)


def _one_axis(x, axis, name):
    if axis is None:
        if np.ndim(x) != 1:
            raise ValueError(f"{name}: axis=None is for 1-d arrays only; give the axis of a "
                             f"{np.ndim(x)}-d array")
        return 0
    return axis


def _with_initial(out, axis, value):
    """``out`` with ``value`` put before its first element along ``axis``."""
    index = [builtins.slice(None)] * np.ndim(out)
    index[axis] = builtins.slice(0, 1)
    first = np.full_like(out[tuple(index)], value)
    return np.concatenate([first, out], axis=axis)


def cumulative_sum(x, /, *, axis=None, dtype=None, include_initial=False):
    axis = _one_axis(x, axis, "cumulative_sum")
    out = np.cumsum(x if dtype is None else astype(x, dtype, copy=False), axis=axis)
    return _with_initial(out, axis, 0) if include_initial else out


def cumulative_prod(x, /, *, axis=None, dtype=None, include_initial=False):
    axis = _one_axis(x, axis, "cumulative_prod")
    out = np.cumprod(x if dtype is None else astype(x, dtype, copy=False), axis=axis)
    return _with_initial(out, axis, 1) if include_initial else out


def diff(x, /, *, axis=-1, n=1, prepend=None, append=None):
    kw = {k: v for k, v in (("prepend", prepend), ("append", append)) if v is not None}
    return np.diff(x, n=n, axis=axis, **kw)


def count_nonzero(x, /, *, axis=None, keepdims=False):
    return _array(np.count_nonzero(values_of(x), axis=axis, keepdims=keepdims))


# ---------------------------------------------------------------------------
# Searching, sorting and sets

def argmax(x, /, *, axis=None, keepdims=False):
    return _array(np.argmax(values_of(x), axis=axis, keepdims=keepdims))


def argmin(x, /, *, axis=None, keepdims=False):
    return _array(np.argmin(values_of(x), axis=axis, keepdims=keepdims))


def nonzero(x, /):
    if np.ndim(x) == 0:
        raise ValueError("nonzero: x is 0-d; the standard asks for at least one dimension "
                         "(use reshape(x, (1,)))")
    return np.nonzero(values_of(x))


def searchsorted(x1, x2, /, *, side="left", sorter=None):
    return _array(np.searchsorted(values_of(x1), values_of(x2), side=side, sorter=sorter))


def isin(x1, x2, /, *, invert=False):
    """Whether each element of x1 is in x2 (a constant)."""
    return _array(np.isin(values_of(x1), values_of(x2), invert=invert))


def where(condition, x1, x2, /):
    return _array(np.where(values_of(condition), x1, x2))


def argsort(x, /, *, axis=-1, descending=False, stable=True):
    """Indices that sort x along ``axis`` (a constant)."""
    v = np.asarray(values_of(x))
    if not descending:
        return np.argsort(v, axis=axis, kind="stable" if stable else None)
    # Stable descending: sort the reversed array ascending and map the indices
    # back, so that equal elements keep their order (a plain reversal would
    # reverse it).
    n = v.shape[axis]
    return np.flip(n - 1 - np.argsort(np.flip(v, axis), axis=axis, kind="stable"), axis)


def sort(x, /, *, axis=-1, descending=False, stable=True):
    """x sorted along ``axis``: a permutation of its elements, with their derivatives."""
    out = np.sort(x, axis=axis, kind="stable" if stable else None)
    return np.flip(out, axis) if descending else out


_UniqueAllResult = namedtuple("UniqueAllResult", "values indices inverse_indices counts")
_UniqueCountsResult = namedtuple("UniqueCountsResult", "values counts")
_UniqueInverseResult = namedtuple("UniqueInverseResult", "values inverse_indices")


def _unique(x):
    """The unique values of x, as a selection of x's elements (first occurrences,
    which carry their derivatives), and NumPy's indices and counts (constants)."""
    v = np.asarray(values_of(x))
    _, index, inverse, counts = np.unique(v.reshape(-1), return_index=True,
                                          return_inverse=True, return_counts=True)
    values = np.reshape(x, (-1,))[index] if traced(x) else v.reshape(-1)[index]
    return values, index, inverse.reshape(v.shape), counts


def unique_all(x, /):
    return _UniqueAllResult(*_unique(x))


def unique_counts(x, /):
    values, _, _, counts = _unique(x)
    return _UniqueCountsResult(values, counts)


def unique_inverse(x, /):
    values, _, inverse, _ = _unique(x)
    return _UniqueInverseResult(values, inverse)


def unique_values(x, /):
    return _unique(x)[0]


# ---------------------------------------------------------------------------
# Manipulation and indexing

def broadcast_arrays(*arrays):
    shape = np.broadcast_shapes(*[np.shape(a) for a in arrays])
    return [np.broadcast_to(a, shape) for a in arrays]


def broadcast_shapes(*shapes):
    return np.broadcast_shapes(*shapes)


def broadcast_to(x, /, shape):
    return np.broadcast_to(x, shape)


def concat(arrays, /, *, axis=0):
    """The arrays joined along ``axis`` (None: flattened first)."""
    if axis is None:
        return np.concatenate([np.reshape(a, (-1,)) for a in arrays])
    return np.concatenate(list(arrays), axis=axis)


def expand_dims(x, /, axis=0):
    return np.expand_dims(x, axis)


def flip(x, /, *, axis=None):
    return np.flip(x, axis)


def moveaxis(x, source, destination, /):
    return np.moveaxis(x, source, destination)


def permute_dims(x, /, axes):
    return np.transpose(x, axes)


def repeat(x, repeats, /, *, axis=None):
    return np.repeat(x, values_of(repeats), axis=axis)


def reshape(x, /, shape, *, copy=None):
    if copy is False and not traced(x):
        try:
            return np.reshape(x, shape, copy=False)
        except ValueError:
            raise ValueError("reshape: this reshape needs a copy, and copy=False was given; "
                             "pass copy=None") from None
    out = np.reshape(x, shape)
    return np.copy(out) if copy else out


def roll(x, /, shift, *, axis=None):
    return np.roll(x, shift, axis)


def squeeze(x, /, axis):
    return np.squeeze(x, axis)


def stack(arrays, /, *, axis=0):
    return np.stack(list(arrays), axis=axis)


def tile(x, repetitions, /):
    return np.tile(x, repetitions)


def unstack(x, /, *, axis=0):
    """The slices of x along ``axis``, as a tuple."""
    moved = np.moveaxis(x, axis, 0)
    return tuple(moved[i] for i in range(np.shape(moved)[0]))


def take(x, indices, /, *, axis=None):
    if axis is None and np.ndim(x) != 1:
        raise ValueError("take: axis=None is for 1-d arrays only; give the axis")
    return np.take(x, values_of(indices), axis=axis)


def take_along_axis(x, indices, /, *, axis=-1):
    return np.take_along_axis(x, values_of(indices), axis)


def reciprocal(x, /):
    return _array(np.divide(1.0, x))


# ---------------------------------------------------------------------------
# Linear algebra (in the main namespace)

def matmul(x1, x2, /):
    return _array(np.matmul(x1, x2))


def matrix_transpose(x, /):
    if np.ndim(x) < 2:
        raise ValueError(f"matrix_transpose: x has {np.ndim(x)} dimension(s); it needs "
                         f"at least 2")
    return np.swapaxes(x, -1, -2)


def tensordot(x1, x2, /, *, axes=2):
    return _array(np.tensordot(x1, x2, axes))


def vecdot(x1, x2, /, *, axis=-1):
    """The dot products of x1 and x2 along ``axis`` (conjugating x1), broadcast
    over the other axes."""
    if np.shape(x1)[axis] != np.shape(x2)[axis]:
        raise ValueError(f"vecdot: the arrays' lengths along axis {axis} differ "
                         f"({np.shape(x1)[axis]} and {np.shape(x2)[axis]})")
    return _array(np.sum(np.conj(x1) * x2, axis=axis))


# ---------------------------------------------------------------------------
# The linalg extension

class _Linalg:
    """``xp.linalg``: :mod:`numpy.linalg`, dispatching as the rest."""

    __module__ = "dualgrad.array_api"

    def cholesky(self, x, /, *, upper=False):
        L = np.linalg.cholesky(x)
        return matrix_transpose(np.conj(L)) if upper else L

    def cross(self, x1, x2, /, *, axis=-1):
        return np.cross(x1, x2, axis=axis)

    def det(self, x, /):
        return _array(np.linalg.det(x))

    def diagonal(self, x, /, *, offset=0):
        return np.diagonal(x, offset, -2, -1)

    def eigh(self, x, /):
        return np.linalg.eigh(x)

    def eigvalsh(self, x, /):
        return np.linalg.eigvalsh(x)

    def inv(self, x, /):
        return np.linalg.inv(x)

    def matmul(self, x1, x2, /):
        return matmul(x1, x2)

    def matrix_norm(self, x, /, *, keepdims=False, ord="fro"):
        return _array(np.linalg.norm(x, ord, axis=(-2, -1), keepdims=keepdims))

    def matrix_power(self, x, n, /):
        """x to the integer power n by repeated squaring (n < 0: of the inverse)."""
        if n < 0:
            x, n = np.linalg.inv(x), -n
        out = None
        while n:
            if n & 1:
                out = x if out is None else np.matmul(out, x)
            n >>= 1
            if n:
                x = np.matmul(x, x)
        if out is None:     # n == 0: identities, constants
            shape = np.shape(x)
            return np.broadcast_to(np.eye(shape[-1], dtype=x.dtype), shape).copy()
        return out

    def matrix_rank(self, x, /, *, rtol=None):
        return _array(np.linalg.matrix_rank(values_of(x), rtol=rtol))

    def matrix_transpose(self, x, /):
        return matrix_transpose(x)

    def outer(self, x1, x2, /):
        return np.outer(x1, x2)

    def pinv(self, x, /, *, rtol=None):
        return np.linalg.pinv(x, rtol=rtol)

    def qr(self, x, /, *, mode="reduced"):
        return np.linalg.qr(x, mode=mode)

    def slogdet(self, x, /):
        return np.linalg.slogdet(x)

    def solve(self, x1, x2, /):
        return np.linalg.solve(x1, x2)

    def svd(self, x, /, *, full_matrices=True):
        return np.linalg.svd(x, full_matrices=full_matrices)

    def svdvals(self, x, /):
        return np.linalg.svd(x, compute_uv=False)

    def tensordot(self, x1, x2, /, *, axes=2):
        return tensordot(x1, x2, axes=axes)

    def trace(self, x, /, *, offset=0, dtype=None):
        x = x if dtype is None else astype(x, dtype, copy=False)
        return _array(np.trace(x, offset, -2, -1))

    def vecdot(self, x1, x2, /, *, axis=-1):
        return vecdot(x1, x2, axis=axis)

    def vector_norm(self, x, /, *, axis=None, keepdims=False, ord=2):
        if axis is None:
            x, axis = np.reshape(x, (-1,)), 0
            if keepdims:
                raise ValueError("vector_norm: keepdims with axis=None: give axis="
                                 "tuple(range(x.ndim)) to keep the dimensions")
        if isinstance(axis, tuple) and len(axis) > 1:
            # NumPy's norm takes two axes as a matrix norm: move them to the end
            # and flatten them into one.
            moved = np.moveaxis(x, axis, tuple(range(-len(axis), 0)))
            flat = np.reshape(moved, np.shape(moved)[:-len(axis)] + (-1,))
            out = np.linalg.norm(flat, ord, axis=-1)
            if keepdims:
                out = np.reshape(out, tuple(1 if i in {a % np.ndim(x) for a in axis} else n
                                            for i, n in enumerate(np.shape(x))))
            return _array(out)
        return _array(np.linalg.norm(x, ord, axis=axis, keepdims=keepdims))


linalg = _Linalg()


__all__ = sorted(n for n in dir() if not n.startswith("_") and n not in (
    "builtins", "math", "sys", "namedtuple", "np", "gpu", "assemble", "traced", "values_of",
    "DualArray")) + ["__array_api_version__", "__array_namespace_info__"]
