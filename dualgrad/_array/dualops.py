"""Forward mode on arrays beyond the elementwise rows: reductions, shapes,
indexing, products and linear algebra of :class:`DualArray`.

Each operation computes its value with the NumPy function of the same name on
the operands' values and, beside it, the tangent: linear operations apply
themselves to the tangent (with the axes shifted past the leading direction
axis), the others follow their JVP rule. Values and tangents are only ever
touched through NumPy's functions and operators, which dispatch, so that they
may be lower-level DualArrays or Tensors (nested differentiation) as well as
ndarrays. Operations made of others (``mean`` of arrays, ``clip``, ``norm``
with an ``ord``) need no rule of their own.

``numpy`` reaches these through ``DualArray.__array_function__`` and
``__array_ufunc__`` (:data:`HANDLED`, filled by the registry of NumPy
functions, ``dualgrad._array.registry``, and :func:`array_ufunc`).
"""

import builtins
import math
import operator

import numpy as np

from dualgrad import _preallocation, gpu
from dualgrad._array import dualarray as _core
from dualgrad._array.dualarray import (DualArray, any_complex, apply_row, count_flops, lift,
                                      make, pad)
from dualgrad._array.engine import TensorBase, tensor_of as _tensor_of
from dualgrad import planner as _planner
from dualgrad._array.composites import (  # noqa: F401  (as_objects ...: for DualArray)
    as_objects, from_objects, numpy_builds_arrays, objects_converted, values_of)
from dualgrad._scalar.ufuncs import UFUNC_OPS, VALUE_UFUNCS, NOT_ON_OBJECTS


class _Defer(Exception):
    """A Tensor of a higher level is among the operands: it takes the operation."""


def _lift(*operands):
    lifted = lift(operands)
    if lifted is None:
        raise _Defer
    return lifted


def _zeros_for(k, v):
    return gpu.beside(np.zeros((k,) + tuple(v.shape if hasattr(v, "shape") else ())), v)


def _tangents(k, values, tangents):
    """Tangents with zeros for the constants (operations that need one per operand)."""
    return [_zeros_for(k, v) if t is None else t for v, t in zip(values, tangents)]


def _axes(axis, ndim):
    """``axis`` (None, an int or a tuple, negative allowed) as a tuple of axes >= 0."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        return tuple(_axis(a, ndim) for a in axis)
    return (_axis(axis, ndim),)


def _axis(a, ndim):
    a = operator.index(a)
    if not -ndim <= a < ndim:
        raise np.exceptions.AxisError(a, ndim)
    return a % ndim


def _shift(axes):
    """Axes of the values as axes of the tangents (past the direction axis)."""
    return tuple(a + 1 for a in axes)


def _no(name, **unsupported):
    for key, value in unsupported.items():
        if value is not None:
            raise TypeError(f"np.{name}(..., {key}=...) is not supported on DualArray")


# ---------------------------------------------------------------------------
# Reductions

def sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    _no("sum", dtype=dtype, initial=initial, where=where)
    axes = _axes(axis, a.ndim)
    return make(np.sum(a.value, axis=axes, keepdims=keepdims),
                np.sum(a.tangent, axis=_shift(axes), keepdims=keepdims), a.level)


def mean(a, axis=None, dtype=None, out=None, keepdims=False, where=None):
    _no("mean", dtype=dtype, where=where)
    axes = _axes(axis, a.ndim)
    return make(np.mean(a.value, axis=axes, keepdims=keepdims),
                np.mean(a.tangent, axis=_shift(axes), keepdims=keepdims), a.level)


def _count(shape, axes):
    return math.prod(shape[i] for i in axes)


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=None, mean=None,
        correction=None):
    _no("var", dtype=dtype, where=where, mean=mean)
    if correction is not None:
        ddof = correction
    axes = _axes(axis, a.ndim)
    v = a.value
    deviation = v - np.mean(v, axis=axes, keepdims=True)
    n = _count(a.shape, axes) - ddof
    scale = 2.0 / n if n > 0 else np.nan  # NumPy's variance is nan there too
    if any_complex(v):
        # NumPy's variance of complex numbers is the mean of |deviation|^2:
        # d|e|^2 = 2 Re(conj(e) de)
        deviation = np.conjugate(deviation)
        t = np.real(np.sum(deviation * a.tangent, axis=_shift(axes), keepdims=keepdims)) * scale
    else:
        t = np.sum(deviation * a.tangent, axis=_shift(axes), keepdims=keepdims) * scale
    return make(np.var(v, axis=axes, ddof=ddof, keepdims=keepdims), t, a.level)


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=None, mean=None,
        correction=None):
    v = var(a, axis, dtype, out, ddof, keepdims, where, mean, correction)
    ans = np.sqrt(v.value)
    # d std = d var / (2 std); where std is 0 every deviation is 0, so d var is
    # exactly 0 and so is d std (sqrt's own rule would give 0 * inf = nan).
    zero = ans == 0
    t = np.where(zero, 0.0, v.tangent / (2.0 * np.where(zero, 1.0, ans)))
    return make(ans, t, a.level)


def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    _no("prod", dtype=dtype, initial=initial, where=where)
    axes = _axes(axis, a.ndim)
    v = a.value
    ans = np.prod(v, axis=axes, keepdims=True)
    # d ans / d x_i is the product of the others: ans / x_i, except at zeros. With
    # one zero, its own factor is the product of the rest; with two, all are 0.
    zero = v == 0
    zeros = np.sum(zero, axis=axes, keepdims=True)
    safe = np.where(zero, 1.0, v)
    others = np.where(zero, np.where(zeros == 1, np.prod(safe, axis=axes, keepdims=True), 0.0),
                      ans / safe)
    t = np.sum(others * a.tangent, axis=_shift(axes), keepdims=keepdims)
    return make(ans if keepdims else np.squeeze(ans, axes), t, a.level)


def _extreme(fn, a, axis, keepdims):
    """max or min: the derivative goes to the elements equal to the result, shared
    equally between ties (as JAX; the table's maximum splits ties the same way)."""
    axes = _axes(axis, a.ndim)
    v = a.value
    _no_order(fn.__name__, v)
    ans = fn(v, axis=axes, keepdims=True)
    hit = extreme_hits(v, ans)
    weight = hit / np.sum(hit, axis=axes, keepdims=True)
    t = np.sum(weight * a.tangent, axis=_shift(axes), keepdims=keepdims)
    return make(ans if keepdims else np.squeeze(ans, axes), t, a.level)


def extreme_hits(v, ans):
    """The elements a max or min came from: those equal to it, or, where it is
    NaN, the NaNs that made it (as torch.max); never none, whose 0/0 share
    would make every derivative NaN. Shared with the Tensor rule (ops/reductions.py)."""
    return (v == ans) | (np.isnan(v) & np.isnan(ans))


def amax(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    _no("max", initial=initial, where=where)
    return _extreme(np.max, a, axis, keepdims)


def amin(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    _no("min", initial=initial, where=where)
    return _extreme(np.min, a, axis, keepdims)


def cumsum(a, axis=None, dtype=None, out=None):
    _no("cumsum", dtype=dtype)
    if axis is None:
        a, axis = reshape(a, -1), 0
    ax = _axis(axis, a.ndim)
    return make(np.cumsum(a.value, axis=ax), np.cumsum(a.tangent, axis=ax + 1), a.level)


# ---------------------------------------------------------------------------
# Shapes and indexing: linear, the same operation on the tangent

def reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    if order != "C":
        raise TypeError(f"np.reshape(..., order={order!r}) is not supported on DualArray")
    shape = newshape if shape is None else shape
    v = np.reshape(a.value, shape, copy=copy)
    return make(v, np.reshape(a.tangent, (a.k,) + tuple(np.shape(v)), copy=copy), a.level)


def ravel(a, order="C"):
    return reshape(a, -1, order)


def transpose(a, axes=None):
    axes = tuple(reversed(range(a.ndim))) if axes is None else _axes(axes, a.ndim)
    return make(np.transpose(a.value, axes), np.transpose(a.tangent, (0,) + _shift(axes)),
                a.level)


def swapaxes(a, axis1, axis2):
    a1, a2 = _axis(axis1, a.ndim), _axis(axis2, a.ndim)
    return make(np.swapaxes(a.value, a1, a2), np.swapaxes(a.tangent, a1 + 1, a2 + 1), a.level)


def moveaxis(a, source, destination):
    src, dst = _axes(source, a.ndim), _axes(destination, a.ndim)
    return make(np.moveaxis(a.value, src, dst),
                np.moveaxis(a.tangent, _shift(src), _shift(dst)), a.level)


def squeeze(a, axis=None):
    if axis is None:
        axes = tuple(i for i, n in enumerate(a.shape) if n == 1)
    else:
        axes = _axes(axis, a.ndim)
    return make(np.squeeze(a.value, axes), np.squeeze(a.tangent, _shift(axes)), a.level)


def expand_dims(a, axis):
    axes = _axes(axis, a.ndim + (len(axis) if isinstance(axis, (tuple, list)) else 1))
    return make(np.expand_dims(a.value, axes), np.expand_dims(a.tangent, _shift(axes)),
                a.level)


def broadcast_to(array, shape, subok=False):
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return make(np.broadcast_to(array.value, shape),
                np.broadcast_to(pad(array.tangent, len(shape)), (array.k,) + shape),
                array.level)


def flip(m, axis=None):
    axes = _axes(axis, m.ndim)
    return make(np.flip(m.value, axes), np.flip(m.tangent, _shift(axes)), m.level)


def tril(m, k=0):
    return make(np.tril(m.value, k), np.tril(m.tangent, k), m.level)


def triu(m, k=0):
    return make(np.triu(m.value, k), np.triu(m.tangent, k), m.level)


def diagonal(a, offset=0, axis1=0, axis2=1):
    a1, a2 = _axis(axis1, a.ndim), _axis(axis2, a.ndim)
    return make(np.diagonal(a.value, offset, a1, a2),
                np.diagonal(a.tangent, offset, a1 + 1, a2 + 1), a.level)


def diag(v, k=0):
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ValueError("np.diag takes a 1-d or a 2-d array")
    # A 1-d v goes on the k-th diagonal: a linear map, applied as a 0/1 matrix
    # so that values and tangents of any array type take the same route.
    n = v.shape[0]
    size = n + builtins.abs(k)
    place = np.zeros((size * size, n))
    place[(np.arange(n) + builtins.max(-k, 0)) * size + np.arange(n) + builtins.max(k, 0),
          np.arange(n)] = 1.0
    place = gpu.beside(place, v)
    return make((place @ v.value).reshape(size, size),
                (v.tangent @ place.T).reshape(v.k, size, size), v.level)


def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    _no("trace", dtype=dtype)
    return sum(diagonal(a, offset, axis1, axis2), -1)


def copy(a, order="K", subok=False):
    return make(np.copy(a.value), np.copy(a.tangent), a.level)


def copyto(dst, src, casting="same_kind", where=True):
    """np.copyto into a DualArray: its values and tangents overwritten in place
    where both are NumPy arrays of this level, so that views of the same memory
    see the change (in-place arithmetic on Tensors holding DualArrays, as forward
    over reverse runs it); otherwise out of place, as ``dst[...] = src``."""
    if type(dst) is not DualArray:
        raise _preallocation.error("a DualArray")
    if where is not True:
        src = np.where(values_of(where), src, dst)
    k = dst.tangent.shape[0]
    value = src.value if type(src) is DualArray and src.level == dst.level else src
    tangent = _core.tangent_at(src, dst.level, k)
    if (_writable(dst.value) and _writable(dst.tangent) and _core.level_of(value) == 0
            and _core.level_of(tangent) == 0 and _core.level_of(src) <= dst.level):
        np.copyto(dst.value, value, casting=casting)
        np.copyto(dst.tangent, tangent, casting=casting)
    else:
        dst[...] = src


def _writable(a):
    return isinstance(a, np.ndarray) and a.flags.writeable


def index_put(a, index, v):
    """``a`` with ``v`` written at ``index``, out of place, values and tangents
    (index assignment on Tensors holding DualArrays, as forward over reverse
    runs it). Either may be a constant; the higher level's tangents are written."""
    if type(a) is not DualArray and type(v) is not DualArray:
        if isinstance(v, TensorBase) and not isinstance(a, TensorBase):
            a = _tensor_of(a)       # a constant, written into: a Tensor records the write
        out = a.clone() if isinstance(a, TensorBase) else a.copy()
        out[index] = v
        return out
    level = builtins.max(a.level if type(a) is DualArray else 0,
                         v.level if type(v) is DualArray else 0)
    carrier = a if type(a) is DualArray and a.level == level else v
    k = carrier.tangent.shape[0]

    def at_level(x):
        return x.value if type(x) is DualArray and x.level == level else x
    value = index_put(at_level(a), index, at_level(v))
    selected = np.ndim(at_level(a)[index])
    tv = _core.tangent_at(v, level, k)
    # v broadcasts against the selection: align its tangent's dimensions after k.
    tv = tv.reshape((k,) + (1,) * (selected - np.ndim(at_level(v))) + tuple(tv.shape[1:]))
    ta = _core.tangent_at(a, level, k)
    tangent = index_put(ta if type(ta) is DualArray else
                        np.broadcast_to(ta, (k,) + np.shape(value)), (slice(None),) + (
                            index if isinstance(index, tuple) else (index,)), tv)
    return make(value, tangent, level)


def setitem(a, index, v):
    """``a`` with ``v`` written at ``index``, out of place, for
    DualArray.__setitem__: the DualArray ``a`` then holds the result."""
    if type(v) is not DualArray and _core.level_of(v) > a.level:
        raise TypeError("a value with derivatives of an outer reverse-mode transform (a "
                        "Tensor) cannot be written into this DualArray; build the array with "
                        "np.where or np.concatenate instead")
    out = index_put(a, index, v)
    if type(out) is not DualArray:
        out = make(out, _zeros_for(a.tangent.shape[0], out), a.level)
    return out


def _is_array_index(e):
    return (isinstance(e, (list, np.ndarray)) or gpu.is_device_array(e)
            or (isinstance(e, np.generic) and e.dtype == bool))


def getitem(x, index):
    """``x[index]``: the tangent is indexed as ``tangent[(slice(None),) + index]``."""
    idx = index if isinstance(index, tuple) else (index,)
    if not isinstance(x.value, np.ndarray) and gpu.device_of(x).type == "cuda":
        # index arrays made on the CPU go to the values' GPU
        idx = tuple(gpu.beside(np.asarray(e), x) if isinstance(e, (list, np.ndarray)) else e
                    for e in idx)
        index = idx if isinstance(index, tuple) else idx[0]
    v = x.value[index]
    t = x.tangent[(slice(None),) + idx]
    arrays = [i for i, e in enumerate(idx) if _is_array_index(e)]
    if arrays:
        # Advanced indices that are not next to each other put their dimensions
        # first: ahead of the direction axis too, which must come back to the front.
        ints = [i for i, e in enumerate(idx)
                if isinstance(e, (int, np.integer)) and not isinstance(e, (bool, np.bool_))]
        where = sorted(arrays + ints)
        if where != list(range(where[0], where[-1] + 1)):
            t = np.moveaxis(t, _advanced_ndim(idx, x.ndim, np.ndim(v)), 0)
    return make(v, t, x.level)


def _dtype_of(e):
    return e.dtype if hasattr(e, "dtype") else np.asarray(e).dtype


def _advanced_ndim(idx, ndim, out_ndim):
    """How many result dimensions the advanced indices of ``idx`` make."""
    consumed = builtins.sum(
        (np.ndim(e) if _dtype_of(e) == bool else 1) if _is_array_index(e)
        else 0 if e is None or e is Ellipsis else 1 for e in idx)
    basic = builtins.sum(1 for e in idx if isinstance(e, slice) or e is None)
    if builtins.any(e is Ellipsis for e in idx):
        basic += ndim - consumed
    return out_ndim - basic


# ---------------------------------------------------------------------------
# Joining and selecting

def concatenate(arrays, axis=0, out=None, dtype=None, casting=None):
    _no("concatenate", dtype=dtype, casting=casting)
    arrays = list(arrays)
    if axis is None:
        arrays = [np.ravel(a) for a in arrays]
        axis = 0
    L, k, values, tangents = _lift(*arrays)
    v = np.concatenate(values, axis=axis)
    ax = _axis(axis, np.ndim(v))
    return make(v, np.concatenate(_tangents(k, values, tangents), axis=ax + 1), L)


def stack(arrays, axis=0, out=None, dtype=None, casting=None):
    _no("stack", dtype=dtype, casting=casting)
    L, k, values, tangents = _lift(*arrays)
    v = np.stack(values, axis=axis)
    ax = _axis(axis, np.ndim(v))
    return make(v, np.stack(_tangents(k, values, tangents), axis=ax + 1), L)


def _no_order(name, v):
    """max, min and sorts of complex numbers order them lexicographically
    (NumPy): a piecewise choice with no derivative users would expect."""
    if any_complex(v):
        raise TypeError(f"{name} of complex numbers has no derivative (NumPy orders them "
                        f"lexicographically); apply it to np.abs(z) or np.real(z)")


def _primal(a):
    while type(a) is DualArray:
        a = a.value
    return a


def where(condition, x=None, y=None):
    condition = _primal(condition)
    if x is None and y is None:
        return np.where(condition)
    L, k, values, tangents = _lift(x, y)
    if L == 0:
        return np.where(condition, *values)
    v = np.where(condition, *values)
    nd = np.ndim(v)
    tx, ty = (0.0 if t is None else pad(t, nd) for t in tangents)
    return make(v, _core.full(np.where(condition, tx, ty), (k,) + tuple(np.shape(v))), L)


def clip(a, a_min=np._NoValue, a_max=np._NoValue, out=None, *, min=np._NoValue,
         max=np._NoValue, **kwargs):
    if kwargs:
        raise TypeError(f"np.clip on DualArrays takes no {sorted(kwargs)}")
    lo = a_min if min is np._NoValue else min
    hi = a_max if max is np._NoValue else max
    if lo is not np._NoValue and lo is not None:
        a = np.maximum(a, lo)
    if hi is not np._NoValue and hi is not None:
        a = np.minimum(a, hi)
    return a


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    # The replaced entries are constants: derivative 0 there, 1 elsewhere.
    v = x.value
    return make(np.nan_to_num(v, nan=nan, posinf=posinf, neginf=neginf),
                np.where(np.isfinite(v), x.tangent, 0.0), x.level)


# ---------------------------------------------------------------------------
# Products

def matmul(a, b):
    lifted = lift((a, b))
    if lifted is None:
        return NotImplemented
    L, k, (va, vb), (ta, tb) = lifted
    ans = np.matmul(va, vb)
    count_flops(np.size(ans) * np.shape(va)[-1])
    full = (k,) + tuple(np.shape(ans))
    na, nb = np.ndim(va), np.ndim(vb)
    out_batch = builtins.max(na, nb, 2) - 2
    t = None
    if ta is not None:
        # (k, ..., m, n) @ b; a vector a is the row (1, n), its batch padded to the result's
        left = np.reshape(ta, (k,) + (1,) * (out_batch - builtins.max(na - 2, 0))
                          + ((1,) if na == 1 else ()) + tuple(np.shape(va)))
        right = vb if nb >= 2 else np.reshape(vb, (-1, 1))
        t = np.reshape(np.matmul(left, right), full)
    if tb is not None:
        left = va if na >= 2 else np.reshape(va, (1, -1))
        right = np.reshape(tb, (k,) + (1,) * (out_batch - builtins.max(nb - 2, 0))
                           + tuple(np.shape(vb)) + ((1,) if nb == 1 else ()))
        c = np.reshape(np.matmul(left, right), full)
        t = c if t is None else t + c
    return make(ans, t, L)


def tensordot(a, b, axes=2):
    L, k, (va, vb), (ta, tb) = _lift(a, b)
    na, nb = np.ndim(va), np.ndim(vb)
    if isinstance(axes, (int, np.integer)):
        axa, axb = list(range(na - axes, na)), list(range(axes))
    else:
        axa, axb = ([x] if isinstance(x, (int, np.integer)) else list(x) for x in axes)
        axa, axb = [_axis(x, na) for x in axa], [_axis(x, nb) for x in axb]
    ans = np.tensordot(va, vb, (axa, axb))
    count_flops(np.size(ans) * math.prod(np.shape(va)[i] for i in axa))
    t = None
    if ta is not None:
        t = np.tensordot(ta, vb, (list(_shift(axa)), axb))
    if tb is not None:
        # a's free axes come first: move the direction axis ahead of them
        c = np.moveaxis(np.tensordot(va, tb, (axa, list(_shift(axb)))), na - len(axa), 0)
        t = c if t is None else t + c
    return make(ans, t, L)


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def einsum(subscripts, *operands, out=None, **kwargs):
    if not isinstance(subscripts, str):
        raise TypeError("np.einsum on DualArrays takes its subscripts as a string")
    _no("einsum", dtype=kwargs.get("dtype"))
    L, k, values, tangents = _lift(*operands)
    subscripts = subscripts.replace(" ", "")
    if "->" in subscripts:
        ins, res = subscripts.split("->")
    else:  # implicit mode: the indices seen once, in order, after any ellipsis
        ins = subscripts
        letters = [c for c in ins if c.isalpha()]
        res = ("..." if "..." in ins else "") + "".join(
            sorted(c for c in set(letters) if letters.count(c) == 1))
    ins = ins.split(",")
    d = next(c for c in _LETTERS if c not in subscripts)  # the direction index
    ans = np.einsum(subscripts, *values, **kwargs)
    sizes = {}      # the loop nest's size: every index letter's extent, once
    for spec, v in zip(ins, values):
        letters = spec.replace("...", "")
        for c, extent in zip(letters, np.shape(v)[np.ndim(v) - len(letters):]):
            sizes[c] = extent
    count_flops(math.prod(sizes.values()) * builtins.max(1, np.size(ans) // builtins.max(
        1, math.prod(sizes[c] for c in res if c in sizes))))
    t = None
    for i, ti in enumerate(tangents):
        if ti is not None:
            spec = ",".join(d + s if j == i else s for j, s in enumerate(ins)) + "->" + d + res
            c = np.einsum(spec, *values[:i], ti, *values[i + 1:], **kwargs)
            t = c if t is None else t + c
    return make(ans, t, L)


def outer(a, b, out=None):
    return np.multiply(np.reshape(a, (-1, 1)), np.reshape(b, (1, -1)))


def vdot(a, b):
    if any_complex(a):
        a = np.conjugate(a)         # np.vdot conjugates its first argument
    return np.dot(np.ravel(a), np.ravel(b))


def kron(a, b):
    """np.kron as a broadcast product: ``a``'s axis i interleaved with ``b``'s.
    Made of reshape and multiply only, so it serves Tensors too (ops/numpy_api.py)."""
    nd = builtins.max(np.ndim(a), np.ndim(b))
    sa = (1,) * (nd - np.ndim(a)) + tuple(np.shape(a))
    sb = (1,) * (nd - np.ndim(b)) + tuple(np.shape(b))
    spread_a = np.reshape(a, tuple(x for n in sa for x in (n, 1)))
    spread_b = np.reshape(b, tuple(x for n in sb for x in (1, n)))
    return np.reshape(spread_a * spread_b, tuple(m * n for m, n in zip(sa, sb)))


def dot(a, b, out=None):
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return np.multiply(a, b)
    if np.ndim(b) <= 2:
        return np.matmul(a, b)
    return tensordot(a, b, ([-1], [-2]))


def inner(a, b):
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return np.multiply(a, b)
    return tensordot(a, b, ([-1], [-1]))


# ---------------------------------------------------------------------------
# Complex numbers: the parts of a value carry the parts of its tangents (both
# maps are real-linear)

def real(val):
    if not any_complex(val.value):
        return val                      # real values: NumPy's a.real is a itself
    return make(np.real(val.value), np.real(val.tangent), val.level)


def imag(val):
    if not any_complex(val.value):
        return np.zeros_like(values_of(val))      # real values: zeros, a constant
    return make(np.imag(val.value), np.imag(val.tangent), val.level)


# ---------------------------------------------------------------------------
# Linear algebra: the JVP rules, with the direction axis as one more batch axis

def _mT(x):
    return np.swapaxes(x, -1, -2)


def solve(a, b):
    L, k, (A, B), (tA, tB) = _lift(a, b)
    X = np.linalg.solve(A, B)
    n = np.shape(A)[-1]
    count_flops(np.size(A) * n // 3 + np.size(X) * n)     # factor, then substitute
    vector = np.ndim(B) == 1
    full = (k,) + tuple(np.shape(X))
    # A dX + dA X = dB
    rhs = 0.0 if tB is None else pad(tB, len(full) - 1)
    if tA is not None:
        rhs = rhs - np.einsum("z...ij,...j->z...i" if vector else "z...ij,...jl->z...il", tA, X)
    rhs = _core.full(rhs, full) if np.ndim(rhs) else gpu.beside(np.zeros(full), X)
    if vector:  # NumPy solves for a stack of vectors as the columns of a matrix
        t = np.moveaxis(np.linalg.solve(A, np.moveaxis(rhs, 0, -1)), -1, 0)
    else:
        t = np.linalg.solve(A, rhs)
    return make(X, t, L)


def inv(a):
    Y = np.linalg.inv(a.value)
    count_flops(np.size(Y) * np.shape(Y)[-1])
    return make(Y, -np.matmul(np.matmul(Y, a.tangent), Y), a.level)


def _logdet_tangent(a):
    """d log|det A| = tr(A^-1 dA), per direction."""
    return np.trace(np.linalg.solve(a.value, a.tangent), axis1=-2, axis2=-1)


def det(a):
    d = np.linalg.det(a.value)
    return make(d, d * _logdet_tangent(a), a.level)


_SlogdetResult = type(np.linalg.slogdet(np.eye(1)))


def slogdet(a):
    """The sign of a real matrix is a constant (its derivative is zero where it
    is defined): it comes back as computed from the values; the log-determinant
    carries the tangent. A complex matrix's sign moves: with tau = tr(A^-1 dA),
    d log|det A| = Re(tau) and d sign = i Im(tau) sign."""
    sign, logdet = np.linalg.slogdet(a.value)
    tau = _logdet_tangent(a)
    if not any_complex(a.value):
        return _SlogdetResult(sign, make(logdet, tau, a.level))
    return _SlogdetResult(make(sign, 1j * np.imag(tau) * sign, a.level),
                          make(logdet, np.real(tau), a.level))


def cholesky(a, /, *, upper=False):
    # Murray (2016): dL = L Phi(L^-1 dA L^-H), Phi keeping the lower triangle and
    # halving the diagonal; dA is taken as given (Hermitian, as any dA of a
    # Hermitian matrix is). NumPy's upper factor is L^H.
    Lc = np.linalg.cholesky(a.value)
    n = np.shape(Lc)[-1]
    Li = np.linalg.inv(Lc)
    LiH = np.conjugate(_mT(Li)) if any_complex(Lc) else _mT(Li)
    phi = gpu.beside(np.tril(np.ones((n, n))) - 0.5 * np.eye(n), Lc)
    t = np.matmul(Lc, np.matmul(np.matmul(Li, a.tangent), LiH) * phi)
    out = make(Lc, t, a.level)
    if upper:
        out = swapaxes(out, -1, -2)
        return np.conjugate(out) if any_complex(Lc) else out
    return out


def norm(x, ord=None, axis=None, keepdims=False):
    nd = x.ndim
    if axis is None and (ord is None or nd == 1):
        axes = tuple(range(nd))
    elif axis is None:
        axes = (0, 1) if nd == 2 else None
        if axes is None:
            raise ValueError("Improper number of dimensions to norm.")
    else:
        axes = _axes(axis, nd)
    matrix = len(axes) == 2 and (axis is not None or nd == 2)
    if ord is None or ord == "fro" or (ord == 2 and not matrix):
        if ord == "fro" and not matrix:
            raise ValueError("Invalid norm order 'fro' for vectors")
        return _norm2(x, axes, keepdims)
    if not matrix:
        a = np.abs(x)
        if ord == np.inf:
            return np.max(a, axis=axes, keepdims=keepdims)
        if ord == -np.inf:
            return np.min(a, axis=axes, keepdims=keepdims)
        if ord == 0:
            return np.sum(_primal(x) != 0, axis=axes, keepdims=keepdims).astype(np.float64)
        if ord == 1:
            return np.sum(a, axis=axes, keepdims=keepdims)
        return np.sum(a ** ord, axis=axes, keepdims=keepdims) ** (1.0 / ord)
    # The other matrix orders are dualgrad._array.linalg.matrix_norm's, where
    # the registry's np.linalg.norm sends them.
    raise TypeError(f"the matrix norm of order {ord!r} is np.linalg.norm's (through the "
                    f"registry), not this vector norm's")


def _norm2(x, axes, keepdims):
    v = x.value
    cplx = any_complex(v)
    vc = np.conjugate(v) if cplx else v
    n = np.sqrt(np.sum(np.real(vc * v) if cplx else v * v, axis=axes, keepdims=True))
    # At 0 the derivative is taken as 0 (a subgradient), as PyTorch: not nan.
    unit = vc / np.where(n == 0, 1.0, n)
    t = np.sum(unit * x.tangent, axis=_shift(axes), keepdims=keepdims)
    if cplx:
        t = np.real(t)              # d|v| = Re(conj(v) dv) / |v|
    return make(n if keepdims else np.squeeze(n, axes), t, x.level)


# ---------------------------------------------------------------------------
# Methods of DualArray (``d.sum(...)``) beyond what NumPy dispatches

sum_method = sum
mean_method = mean
prod_method = prod
var_method = var
std_method = std
cumsum_method = cumsum
ravel_method = ravel
swapaxes_method = swapaxes
diagonal_method = diagonal
trace_method = trace
clip_method = clip


def max_method(a, axis=None, out=None, keepdims=False, **kwargs):
    return amax(a, axis, out, keepdims, **kwargs)


def min_method(a, axis=None, out=None, keepdims=False, **kwargs):
    return amin(a, axis, out, keepdims, **kwargs)


def _shape_args(args):
    if len(args) == 1 and (args[0] is None or isinstance(args[0], (tuple, list))):
        return args[0]
    return args


def reshape_method(a, *shape, order="C", copy=None):
    return reshape(a, _shape_args(shape), order, copy=copy)


def transpose_method(a, *axes):
    return transpose(a, _shape_args(axes) or None)


def squeeze_method(a, axis=None):
    return squeeze(a, axis)


def flatten_method(a, order="C"):
    return copy(reshape(a, -1, order))


def item_method(a, *args):
    """One element, as ndarray.item picks it (none: the only one; one int: by
    flat index; several: by position), as a 0-d DualArray: ndarray.item's
    Python float would drop the derivative."""
    if not args:
        if a.size != 1:
            raise ValueError(f"can only convert a DualArray of size 1 to one element (this one "
                             f"has {a.size}); give its index, as in x.item(i)")
        return reshape(a, ())
    if len(args) == 1 and not isinstance(args[0], tuple):
        return getitem(reshape(a, -1), operator.index(args[0]))
    return getitem(a, args[0] if len(args) == 1 else args)


def tolist_method(a):
    """Nested lists of 0-d DualArrays, as ndarray.tolist nests floats (which
    would drop the derivatives)."""
    if a.ndim == 0:
        return a
    return [tolist_method(getitem(a, i)) for i in range(a.shape[0])]


def dot_method(a, b, out=None):
    return dot(a, b, out)


def copy_method(a, order="C"):
    return copy(a)


def astype_method(a, dtype, order="K", casting="unsafe", subok=True, copy=True):
    dtype = np.dtype(dtype)
    if dtype.kind not in "fc":
        raise TypeError(f"a DualArray holds floating values; astype({dtype}) would drop "
                        f"the tangent (use d.value.astype)")
    if dtype.kind == "f" and any_complex(a.value):
        a = real(a)     # NumPy's cast drops the imaginary parts
    return make(a.value.astype(dtype), a.tangent.astype(dtype), a.level)


# ---------------------------------------------------------------------------
# NumPy interoperation

# Ufuncs of values only (masks, tests): their results carry no tangent.
_VALUE_UFUNCS = VALUE_UFUNCS | {np.logical_and, np.logical_or, np.logical_not, np.logical_xor}


def _name(fn):
    module = getattr(fn, "__module__", None) or "numpy"
    module = module.replace("numpy._core", "numpy").replace("numpy.linalg._linalg", "numpy.linalg")
    return module.replace("numpy", "np", 1) + "." + fn.__name__


def _refuse_out(name, kwargs):
    out = kwargs.pop("out", None)
    if out is None:
        return
    if isinstance(out, tuple) and len(out) == 1:
        out = out[0]
    if isinstance(out, np.ndarray) and out.dtype != object:
        raise _preallocation.error("a DualArray")
    raise TypeError(f"{name}(..., out=...) is not supported on DualArray: a DualArray "
                    f"cannot be written into; assign the result instead")


def array_ufunc(ufunc, method, inputs, kwargs):
    inputs = objects_converted(inputs)
    name = f"np.{ufunc.__name__}"
    _refuse_out(name, kwargs)
    levels = [_core.level_of(a) for a in inputs]
    if builtins.max(levels) > builtins.max(
            (lv for a, lv in zip(inputs, levels) if type(a) is DualArray), default=0):
        return NotImplemented  # a Tensor of a higher level takes it
    if method == "__call__":
        if kwargs:
            raise TypeError(f"{name} on DualArrays takes no keyword arguments "
                            f"(got {sorted(kwargs)})")
        op = UFUNC_OPS.get(ufunc)
        if op is not None:
            return apply_row(op, tuple(inputs))
        if ufunc is np.matmul:
            return matmul(*inputs)
        if ufunc is np.divmod:
            return np.floor_divide(*inputs), np.remainder(*inputs)
        if ufunc in _VALUE_UFUNCS:
            return ufunc(*[a.value if type(a) is DualArray else a for a in inputs])
    elif len(inputs) == 1 and method in ("reduce", "accumulate"):
        axis = kwargs.pop("axis", 0)
        keepdims = kwargs.pop("keepdims", False)
        if kwargs:
            raise TypeError(f"{name}.{method} on DualArrays takes only axis and keepdims")
        if method == "accumulate" and ufunc is np.add:
            return cumsum(inputs[0], axis)
        reduce = {np.add: sum, np.multiply: prod, np.maximum: amax, np.minimum: amin}.get(ufunc)
        if method == "reduce" and reduce is not None:
            return reduce(inputs[0], axis, keepdims=keepdims)
    suffix = "" if method == "__call__" else f".{method}"
    raise TypeError(f"{name}{suffix} has no forward-mode rule for DualArray")


# The NumPy functions on DualArrays, filled by the registry (dualgrad._array.registry),
# and those of them reached through like= (NEP 35), which get the DualArray as like.
HANDLED = {}
TAKES_LIKE = set()


def array_function(func, types, args, kwargs, like=None):
    impl = HANDLED.get(func)
    if impl is None:
        raise TypeError(f"{_name(func)} has no forward-mode rule for DualArray; apply it to "
                        f"d.value if no derivative is needed")
    if kwargs:
        _refuse_out(_name(func), kwargs)
    args = objects_converted(args)
    if func in NOT_ON_OBJECTS:
        _planner.note_not_on_objects(NOT_ON_OBJECTS[func])
    if func in TAKES_LIKE:
        kwargs["like"] = like
    try:
        return impl(*args, **kwargs)
    except _Defer:
        return NotImplemented


_core.install(__import__(__name__, fromlist=["_"]))
