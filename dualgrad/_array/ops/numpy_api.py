"""NumPy interop: ufuncs (``array_ufunc``) and NumPy functions
(``array_function``, through the ``HANDLED`` table of NumPy's names) applied to
Tensors are recorded.
"""

import builtins

import numpy as np

from dualgrad._array.dualarray import DualArray, level_of
from dualgrad._array.dualops import kron
from dualgrad._array.engine import TensorBase
from dualgrad._array.tensor import apply_row
from dualgrad._scalar.ufuncs import UFUNC_OPS, VALUE_UFUNCS
from dualgrad._array.ops._base import _arr, _ten, engine_wrap
from dualgrad._array.ops.conversions import _astype
from dualgrad._array.ops.creation import ones_like, zeros_like
from dualgrad._array.ops.elementwise import clamp, nan_to_num, where
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


def _np_sum(a, axis=None, dtype=None, out=None, keepdims=False, **kw):
    return _sum(_ten(a) if dtype is None else _astype(_ten(a), dtype), axis, keepdims)


def _np_mean(a, axis=None, dtype=None, out=None, keepdims=False, **kw):
    return mean(a, axis, keepdims, dtype)


def _np_var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw):
    return var(a, axis, keepdim=keepdims, correction=ddof)


def _np_std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw):
    return std(a, axis, keepdim=keepdims, correction=ddof)


def _np_norm(x, ord=None, axis=None, keepdims=False):
    x = _ten(x)
    if ord is None or ord == "fro":
        return _norm2(x, axis, keepdims)
    if axis is None and x._a.ndim != 1:
        raise RuntimeError(f"numpy.linalg.norm with ord={ord!r} of a matrix has no derivative "
                           f"rule in dualgrad; use the default (Frobenius) norm")
    return norm(x, ord, axis, keepdims)


def _np_dot(a, b):
    # numpy.dot is matmul only up to 2-d: beyond, it sums a's last axis with
    # b's second-to-last and keeps all the other axes of both (no broadcasting).
    if not np.ndim(_arr(a)) or not np.ndim(_arr(b)):
        return _ten(a) * b
    if np.ndim(_arr(b)) <= 2:
        return matmul(a, b)
    return tensordot(a, b, ([-1], [-2]))


def _np_inner(a, b):
    if not np.ndim(_arr(a)) or not np.ndim(_arr(b)):
        return _ten(a) * b
    return tensordot(a, b, ([-1], [-1]))


def _np_transpose(a, axes=None):
    return _transpose(_ten(a), axes)


def _np_split(ary, indices_or_sections, axis=0):
    x = _ten(ary)
    n = x._a.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        if n % indices_or_sections:
            raise ValueError("array split does not result in an equal division")
        return list(split(x, n // indices_or_sections, axis))
    bounds = [0] + list(indices_or_sections) + [n]
    return list(split(x, [b - a for a, b in zip(bounds[:-1], bounds[1:])], axis))


HANDLED = {
    np.sum: _np_sum,
    np.mean: _np_mean,
    np.prod: lambda a, axis=None, keepdims=False, **kw: _prod(_ten(a), axis, keepdims),
    np.max: lambda a, axis=None, keepdims=False, **kw: amax(a, axis, keepdims),
    np.amax: lambda a, axis=None, keepdims=False, **kw: amax(a, axis, keepdims),
    np.min: lambda a, axis=None, keepdims=False, **kw: amin(a, axis, keepdims),
    np.amin: lambda a, axis=None, keepdims=False, **kw: amin(a, axis, keepdims),
    np.var: _np_var,
    np.std: _np_std,
    np.cumsum: lambda a, axis=None, **kw: _cumsum(_reshape(_ten(a), (-1,)) if axis is None
                                                  else _ten(a), 0 if axis is None else axis),
    np.reshape: lambda a, shape=None, **kw: _reshape(_ten(a), shape if shape is not None
                                                     else kw["newshape"]),
    np.ravel: lambda a, **kw: _reshape(_ten(a), (-1,)),
    np.transpose: _np_transpose,
    np.swapaxes: lambda a, axis1, axis2: _swapaxes(_ten(a), axis1, axis2),
    np.squeeze: lambda a, axis=None: _squeeze(_ten(a), axis),
    np.expand_dims: lambda a, axis: _expand_dims(_ten(a), axis),
    np.broadcast_to: lambda a, shape, **kw: _broadcast_to(_ten(a), tuple(shape)),
    np.concatenate: lambda arrays, axis=0, **kw: _concatenate(arrays, axis),
    np.stack: lambda arrays, axis=0, **kw: stack(arrays, axis),
    np.split: _np_split,
    np.where: lambda c, x=None, y=None: where(c, x, y),
    np.dot: lambda a, b, **kw: _np_dot(a, b),
    np.matmul: lambda a, b, **kw: matmul(a, b),
    np.einsum: lambda subscripts, *ops, **kw: einsum(subscripts, *ops),
    np.tensordot: lambda a, b, axes=2: tensordot(a, b, axes),
    np.outer: lambda a, b, **kw: outer(_reshape(_ten(a), (-1,)), _reshape(_ten(b), (-1,))),
    np.inner: lambda a, b: _np_inner(a, b),
    np.vdot: lambda a, b: _sum(_reshape(_ten(a), (-1,)) * _reshape(_ten(b), (-1,))),
    np.kron: kron,
    np.trace: lambda a, offset=0, axis1=0, axis2=1, **kw: _sum(_diagonal(_ten(a), offset,
                                                                         axis1, axis2), -1),
    np.diagonal: lambda a, offset=0, axis1=0, axis2=1: _diagonal(_ten(a), offset, axis1,
                                                                  axis2),
    np.tril: lambda m, k=0: _tri(_ten(m), k, np.tril),
    np.triu: lambda m, k=0: _tri(_ten(m), k, np.triu),
    np.clip: lambda a, a_min=None, a_max=None, **kw: clamp(a, a_min, a_max),
    np.nan_to_num: lambda x, copy=True, nan=0.0, posinf=None, neginf=None: nan_to_num(
        x, nan, posinf, neginf),
    np.flip: lambda m, axis=None: _flip(_ten(m), axis),
    np.linalg.solve: lambda a, b: _solve(_ten(a), _ten(b)),
    np.linalg.inv: lambda a: _inv(_ten(a)),
    np.linalg.det: lambda a: _det(_ten(a)),
    np.linalg.slogdet: lambda a: _slogdet(_ten(a)),
    np.linalg.cholesky: lambda a, **kw: _cholesky(_ten(a)),
    np.linalg.norm: _np_norm,
    np.shape: lambda a: _arr(a).shape,
    np.ndim: lambda a: _arr(a).ndim,
    np.size: lambda a, axis=None: _arr(a).size if axis is None else _arr(a).shape[axis],
    np.result_type: lambda *a: np.result_type(*[_arr(x) if isinstance(x, TensorBase) else x
                                                 for x in a]),
    np.zeros_like: lambda a, dtype=None, **kw: zeros_like(a, dtype=dtype),
    np.ones_like: lambda a, dtype=None, **kw: ones_like(a, dtype=dtype),
    np.copy: lambda a, **kw: clone(a),
    np.atleast_1d: lambda a: a if np.ndim(_arr(a)) >= 1 else _reshape(_ten(a), (1,)),
    np.logaddexp: None,  # a ufunc: handled by array_ufunc
}
del HANDLED[np.logaddexp]


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


def array_function(func, types, args, kwargs):
    if DualArray in types and _inner_forward(args):
        return NotImplemented
    if kwargs.get("out") is not None:
        raise TypeError(f"numpy.{func.__name__}(..., out=...) on a Tensor is not supported: it "
                        f"would write around the graph; assign the result instead")
    kwargs.pop("out", None)
    impl = HANDLED.get(func)
    if impl is None:
        name = getattr(func, "__module__", "numpy").replace("numpy._core", "numpy")
        raise TypeError(
            f"{name}.{func.__name__} has no derivative rule in dualgrad yet. Use the "
            f"dualgrad function of the same meaning, or apply it to t.detach().numpy() if no "
            f"gradient is needed.")
    return impl(*args, **kwargs)
