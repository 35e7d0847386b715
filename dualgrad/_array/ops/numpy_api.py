"""NumPy interop: ufuncs (``array_ufunc``) and NumPy functions
(``array_function``, through the ``HANDLED`` table, filled by the registry of
NumPy functions, ``dualgrad._array.registry``) applied to Tensors are recorded.
The ``np_*`` functions take NumPy's arguments to the Tensor operations.
"""

import builtins

import numpy as np

from dualgrad import _preallocation
from dualgrad._array.composites import objects_converted
from dualgrad._array.dualarray import DualArray, level_of
from dualgrad._array.engine import TensorBase
from dualgrad._array.tensor import apply_row
from dualgrad._scalar.ufuncs import UFUNC_OPS, VALUE_UFUNCS
from dualgrad._array.ops._base import _arr, _ten, engine_wrap
from dualgrad._array.ops.conversions import _astype
from dualgrad._array.ops.elementwise import clamp, imag, nan_to_num, real, where
from dualgrad._array.ops.joining import _concatenate, split, stack
from dualgrad._array.ops.products import (_cholesky, _det, _inv, _slogdet, _solve, einsum, matmul,
                                          outer, tensordot)
from dualgrad._array.ops.reductions import (_cumsum, _norm2, _prod, _sum, amax, amin, mean, norm,
                                            std, var)
from dualgrad._array.ops.shapes import (_broadcast_to, _diagonal, _expand_dims, _flip, _reshape,
                                        _squeeze, _swapaxes, _transpose, _tri, clone)


# ---------------------------------------------------------------------------
# NumPy interop: ufuncs and functions applied to Tensors are recorded.

_MATMUL = np.matmul
# Ufuncs of values only (masks, tests): their results carry no gradient.
_LOGICAL_UFUNCS = frozenset((np.logical_and, np.logical_or, np.logical_not, np.logical_xor,
                             np.bitwise_and, np.bitwise_or, np.bitwise_xor, np.invert,
                             np.isnan, np.isinf, np.isfinite, np.signbit))


def array_ufunc(ufunc, method, inputs, kwargs):
    inputs = objects_converted(inputs)
    if _inner_forward(inputs):
        return NotImplemented
    name = f"numpy.{ufunc.__name__}"
    if kwargs.get("out") is not None:
        raise TypeError(f"{name}(..., out=...) on a Tensor is not supported: it would write "
                        f"around the graph; assign the result instead")
    kwargs.pop("out", None)
    if method == "__call__":
        if kwargs:
            raise TypeError(f"{name} on Tensors takes no keyword arguments (got "
                            f"{sorted(kwargs)})")
        op = UFUNC_OPS.get(ufunc)
        if op is not None:
            return apply_row(op, inputs)
        if ufunc is _MATMUL:
            return matmul(*inputs)
        if ufunc in VALUE_UFUNCS or ufunc in _LOGICAL_UFUNCS:
            return engine_wrap(ufunc(*[_arr(a) for a in inputs]))
    elif method == "reduce" and len(inputs) == 1:
        axis = kwargs.get("axis", 0)
        keepdims = kwargs.get("keepdims", False)
        if ufunc is np.add:
            return _sum(_ten(inputs[0]), axis, keepdims)
        if ufunc is np.multiply:
            return _prod(_ten(inputs[0]), axis, keepdims)
        if ufunc is np.maximum:
            return amax(inputs[0], axis, keepdims)
        if ufunc is np.minimum:
            return amin(inputs[0], axis, keepdims)
    raise TypeError(f"{name} ({method}) has no derivative rule in dualgrad; apply it to "
                    f"t.detach().numpy() if no gradient is needed")


def np_sum(a, axis=None, dtype=None, out=None, keepdims=False, **kw):
    return _sum(_ten(a) if dtype is None else _astype(_ten(a), dtype), axis, keepdims)


def np_mean(a, axis=None, dtype=None, out=None, keepdims=False, **kw):
    return mean(a, axis, keepdims, dtype)


def np_var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw):
    return var(a, axis, keepdim=keepdims, correction=ddof)


def np_std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw):
    return std(a, axis, keepdim=keepdims, correction=ddof)


def np_prod(a, axis=None, keepdims=False, **kw):
    return _prod(_ten(a), axis, keepdims)


def np_amax(a, axis=None, keepdims=False, **kw):
    return amax(a, axis, keepdims)


def np_amin(a, axis=None, keepdims=False, **kw):
    return amin(a, axis, keepdims)


def np_cumsum(a, axis=None, **kw):
    if axis is None:
        return _cumsum(_reshape(_ten(a), (-1,)), 0)
    return _cumsum(_ten(a), axis)


def np_norm(x, ord=None, axis=None, keepdims=False):
    x = _ten(x)
    if ord is None or ord == "fro":
        return _norm2(x, axis, keepdims)
    if axis is None and x._a.ndim != 1:
        # The matrix orders are dualgrad._array.linalg.matrix_norm's, where the
        # registry's np.linalg.norm sends them.
        raise RuntimeError(f"the matrix norm of order {ord!r} is np.linalg.norm's (through the "
                           f"registry), not this vector norm's")
    return norm(x, ord, axis, keepdims)


def np_dot(a, b, out=None):
    # numpy.dot is matmul only up to 2-d: beyond, it sums a's last axis with
    # b's second-to-last and keeps all the other axes of both (no broadcasting).
    if not np.ndim(_arr(a)) or not np.ndim(_arr(b)):
        return _ten(a) * b
    if np.ndim(_arr(b)) <= 2:
        return matmul(a, b)
    return tensordot(a, b, ([-1], [-2]))


def np_inner(a, b):
    if not np.ndim(_arr(a)) or not np.ndim(_arr(b)):
        return _ten(a) * b
    return tensordot(a, b, ([-1], [-1]))


def np_outer(a, b, out=None):
    return outer(_reshape(_ten(a), (-1,)), _reshape(_ten(b), (-1,)))


def np_vdot(a, b):
    a = _ten(a)
    if a._a.dtype.kind == "c":
        a = np.conjugate(a)         # np.vdot conjugates its first argument
    return _sum(_reshape(a, (-1,)) * _reshape(_ten(b), (-1,)))


def np_matmul(a, b, **kw):
    return matmul(a, b)


def np_tensordot(a, b, axes=2):
    return tensordot(a, b, axes)


def np_einsum(subscripts, *operands, **kw):
    return einsum(subscripts, *operands)


def np_transpose(a, axes=None):
    return _transpose(_ten(a), axes)


def np_reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    return _reshape(_ten(a), shape if shape is not None else newshape)


def np_ravel(a, order="C"):
    return _reshape(_ten(a), (-1,))


def np_swapaxes(a, axis1, axis2):
    return _swapaxes(_ten(a), axis1, axis2)


def np_squeeze(a, axis=None):
    return _squeeze(_ten(a), axis)


def np_expand_dims(a, axis):
    return _expand_dims(_ten(a), axis)


def np_broadcast_to(a, shape, subok=False):
    return _broadcast_to(_ten(a), tuple(shape) if np.ndim(shape) else (shape,))


def np_flip(m, axis=None):
    return _flip(_ten(m), axis)


def np_diagonal(a, offset=0, axis1=0, axis2=1):
    return _diagonal(_ten(a), offset, axis1, axis2)


def np_trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    return _sum(_diagonal(_ten(a), offset, axis1, axis2), -1)


def np_tril(m, k=0):
    return _tri(_ten(m), k, np.tril)


def np_triu(m, k=0):
    return _tri(_ten(m), k, np.triu)


def np_copy(a, order="K", subok=False):
    return clone(a)


def np_concatenate(arrays, axis=0, dtype=None, casting="same_kind"):
    return _concatenate(arrays, axis)


def np_stack(arrays, axis=0, dtype=None, casting="same_kind"):
    return stack(arrays, axis)


def np_where(condition, x=None, y=None):
    return where(condition, x, y)


def np_clip(a, a_min=None, a_max=None, **kw):
    return clamp(a, a_min, a_max)


def np_nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    return nan_to_num(x, nan, posinf, neginf)


def np_split(ary, indices_or_sections, axis=0):
    x = _ten(ary)
    n = x._a.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        if n % indices_or_sections:
            raise ValueError("array split does not result in an equal division")
        return list(split(x, n // indices_or_sections, axis))
    bounds = [0] + list(indices_or_sections) + [n]
    return list(split(x, [b - a for a, b in zip(bounds[:-1], bounds[1:])], axis))


def np_solve(a, b):
    return _solve(_ten(a), _ten(b))


def np_inv(a):
    return _inv(_ten(a))


def np_det(a):
    return _det(_ten(a))


def np_slogdet(a):
    return _slogdet(_ten(a))


def np_cholesky(a, /, *, upper=False):
    L = _cholesky(_ten(a))
    if not upper:
        return L
    U = L.transpose(-1, -2)         # NumPy's upper factor is L^H
    return np.conjugate(U) if U._a.dtype.kind == "c" else U


# ndarray methods that PyTorch's Tensor lacks (or has with NumPy's meaning):
# t.argsort() is np.argsort(t), through the registry.
def _numpy_method(fn):
    def method(t, *args, **kwargs):
        return fn(t, *args, **kwargs)
    method.__name__ = fn.__name__
    method.__doc__ = f"``np.{fn.__name__}`` of the tensor."
    return method


argsort, argpartition, cumprod, take, choose, searchsorted = (
    _numpy_method(f) for f in (np.argsort, np.argpartition, np.cumprod, np.take, np.choose,
                               np.searchsorted))


def compress(t, condition, axis=None, out=None):
    """``np.compress(condition, t, axis)``."""
    return np.compress(condition, t, axis, out)


def np_real(val):
    return real(val)


def np_imag(val):
    return imag(val)


def conj(t):
    """The complex conjugate (the table's row ``conjugate``; real values: themselves)."""
    return np.conjugate(t)


# The NumPy functions on Tensors, filled by the registry (dualgrad._array.registry),
# and those of them reached through like= (NEP 35), which get the Tensor as like.
HANDLED = {}
TAKES_LIKE = set()


def _inner_forward(operands):
    """Whether a DualArray among ``operands`` (or in a list or tuple of them) is of
    a higher level than every Tensor there: a forward transform inside this reverse
    one (reverse over forward), whose values are Tensors. It takes the operation,
    as in the operators (tensor.binary_op), and the Tensors are its constants."""
    dual = tensor = 0
    for o in operands:
        for a in (o if isinstance(o, (list, tuple)) else (o,)):
            if type(a) is DualArray:
                dual = builtins.max(dual, a.level)
            elif isinstance(a, TensorBase):
                tensor = builtins.max(tensor, level_of(a))
    return dual > tensor


def array_function(func, types, args, kwargs, like=None):
    args = objects_converted(args)
    if DualArray in types and _inner_forward(args):
        return NotImplemented
    if func is np.copyto and isinstance(args[0], np.ndarray) and args[0].dtype != object:
        raise _preallocation.error("a Tensor")
    out = kwargs.pop("out", None) if kwargs else None
    if isinstance(out, np.ndarray) and out.dtype != object:
        raise _preallocation.error("a Tensor")
    if out is not None:
        raise TypeError(f"numpy.{func.__name__}(..., out=...) on a Tensor is not supported: it "
                        f"would write around the graph; assign the result instead")
    impl = HANDLED.get(func)
    if impl is None:
        name = getattr(func, "__module__", "numpy").replace("numpy._core", "numpy")
        raise TypeError(
            f"{name}.{func.__name__} has no derivative rule in dualgrad yet. Use the "
            f"dualgrad function of the same meaning, or apply it to t.detach().numpy() if no "
            f"gradient is needed.")
    if func in TAKES_LIKE:
        kwargs["like"] = like
    return impl(*args, **kwargs)
