"""Shapes, views and indexing: reshape, transpose, squeeze, broadcast, flip,
diagonal and triangles; ``x[index]`` and ``x[index] = value``; the in-place
operations (``fill_``, ``copy_``, ``clamp_``, ...) and how a change made in
place is recorded; and the public shape functions with PyTorch's signatures.
"""

import builtins

import numpy as np

from dualgrad import gpu
from dualgrad._array import dualops as _dualops
from dualgrad._array.dualarray import DualArray
from dualgrad._array.engine import (TensorBase, alias, bump_version, is_grad_enabled, keep_values,
                                    rebase, record)
from dualgrad._array.ops._base import (N, _apply_steps, _arr, _axis, _basic, _copy, _index,
                                       _index_on, _shape, _ten, _value, _view, _zeros)
from dualgrad._array.ops.elementwise import _where, clamp


# ---------------------------------------------------------------------------
# Shapes and views

def _reshape(x, shape):
    a = x._a
    out = record(np.reshape(a, shape), (x,), "ReshapeBackward", _reshape_bwd, (a.shape,))
    return _view(out, x, ("reshape", out._a.shape))


def _reshape_bwd(ns, g, shape):
    return ns.reshape(g, shape)


def _transpose(x, axes=None):
    a = x._a
    axes = tuple(range(a.ndim))[::-1] if axes is None else tuple(int(i) % builtins.max(
        a.ndim, 1) for i in axes)
    if sorted(axes) != list(range(a.ndim)):
        raise RuntimeError(f"permute: {axes} is not a permutation of the {a.ndim} dimensions")
    out = record(np.transpose(a, axes), (x,), "PermuteBackward", _transpose_bwd,
                 (tuple(np.argsort(axes)),))
    return _view(out, x, ("transpose", axes))


def _transpose_bwd(ns, g, inverse):
    return ns.transpose(g, inverse)


def _swapaxes(x, a1, a2):
    axes = list(range(x._a.ndim))
    if axes:
        axes[a1], axes[a2] = axes[a2], axes[a1]
    return _transpose(x, axes)


def _expand_dims(x, axis):
    a = x._a
    out = record(np.expand_dims(a, axis), (x,), "UnsqueezeBackward", _reshape_bwd, (a.shape,))
    return _view(out, x, ("reshape", out._a.shape))


def _squeeze(x, axis=None):
    a = x._a
    if axis is not None:
        axis = tuple(i for i in _axis(axis, a.ndim) if a.ndim and a.shape[i] == 1)
    out = record(np.squeeze(a, axis) if a.ndim else a, (x,), "SqueezeBackward", _reshape_bwd,
                 (a.shape,))
    return _view(out, x, ("reshape", out._a.shape))


def _broadcast_to(x, shape):
    a = x._a
    out = record(np.broadcast_to(a, shape), (x,), "ExpandBackward", _expand_bwd, (a.shape,))
    return _view(out, x, ("broadcast_to", out._a.shape))


def _expand_bwd(ns, g, shape):
    return g  # the engine sums it over the broadcast axes, down to the input's shape


def _flip(x, axis):
    a = x._a
    axis = _axis(axis, a.ndim)
    return record(np.flip(a, axis).copy(), (x,), "FlipBackward", _flip_bwd, (axis,))


def _flip_bwd(ns, g, axis):
    return ns.flip(g, axis)


def _clone(x):
    return record(_copy(x._a), (x,), "CloneBackward", _identity_bwd)


def _identity_bwd(ns, g):
    return g


def _tri(x, k, fn):
    name = "TrilBackward" if fn is np.tril else "TriuBackward"
    return record(fn(x._a, k), (x,), name, _tri_bwd, (k, fn is np.tril))


def _tri_bwd(ns, g, k, lower):
    return ns.tril(g, k) if lower else ns.triu(g, k)


def _diagonal(x, offset=0, a1=0, a2=1):
    a = x._a
    a1, a2 = _axis((a1, a2), a.ndim)
    out = np.diagonal(a, offset, a1, a2).copy()
    return record(out, (x,), "DiagonalBackward", _diagonal_bwd, (a.shape, offset, a1, a2))


def _diagonal_bwd(ns, g, shape, offset, a1, a2):
    return ns.put_diagonal(g, shape, offset, a1, a2)


def _put_diagonal(g, shape, offset, a1, a2):
    return record(N.put_diagonal(g._a, shape, offset, a1, a2), (g,), "DiagonalBackwardBackward",
                  _put_diagonal_bwd, (offset, a1, a2))


def _put_diagonal_bwd(ns, g, offset, a1, a2):
    return ns.diagonal(g, offset, a1, a2)


# ---------------------------------------------------------------------------
# Indexing

def getitem(x, index):
    a = x._a
    index = _index_on(_index(index), a)
    if _basic(index):
        # A trailing Ellipsis makes NumPy return a 0-d view, not a copied scalar,
        # when every dimension is indexed by an int (a view, as in PyTorch).
        items = index if isinstance(index, tuple) else (index,)
        if not builtins.any(i is Ellipsis for i in items):
            index = items + (Ellipsis,)
    out = record(a[index], (x,), "IndexBackward", _getitem_bwd, (a.shape, a.dtype, index))
    return _view(out, x, ("getitem", index)) if _basic(index) else out


def _getitem_bwd(ns, g, shape, dtype, index):
    return ns.index_add(shape, dtype, index, g)


def _index_add(shape, dtype, index, g):
    return record(N.index_add(shape, dtype, index, g._a), (g,), "IndexAddBackward",
                  _index_add_bwd, (index,))


def _index_add_bwd(ns, g, index):
    return ns.getitem(g, index)


def _index_put(old, index, value):
    """``old`` with ``value`` written at ``index``, out of place."""
    a = old._a
    v = _value(value)
    gpu.check_same_device(a, v)
    index = _index_on(index, a)
    if type(a) is DualArray or type(v) is DualArray:     # forward over reverse
        out = _dualops.index_put(a, index, v)
    else:
        out = _copy(a)
        out[index] = v
    written = _zeros(a.shape, np.bool_, a)
    written[index] = True
    return record(out, (old, value), "IndexPutBackward", _index_put_bwd,
                  (~written, index, tuple(getattr(v, "shape", ()))))


def _index_put_bwd(ns, g, kept, index, vshape):
    gv = ns.getitem(g, index)
    return g * kept, gv


def setitem(t, index, value):
    index = _index(index)
    if isinstance(value, TensorBase) or is_grad_enabled() and t.requires_grad:
        inplace(t, _index_put, index, value, name="index assignment")
    else:
        _write(t, lambda a: a.__setitem__(index, _value(value)), "index assignment")


def _refuse_read_only(error, name):
    """Re-raise NumPy's ValueError from writing to memory, saying what to do if
    the memory is read-only."""
    if "read-only" in str(error):
        raise RuntimeError(f"{name}: this tensor's memory is read-only (an expand()ed or "
                           f"broadcast view); clone() it first") from None
    raise error


def _write(t, change, name):
    """Change ``t``'s memory with no graph involved (nothing requires grad)."""
    _check_inplace(t, name)
    try:
        change(t._a)
    except ValueError as e:
        _refuse_read_only(e, name)
    bump_version(t)


# ---------------------------------------------------------------------------
# In place

def _check_inplace(t, name):
    if not is_grad_enabled():
        return
    if t.is_leaf and t.requires_grad:
        raise RuntimeError(
            f"a leaf Variable that requires grad is being used in an in-place operation "
            f"({name}). Changing it would lose the values the gradient is taken at: compute "
            f"out of place (y = x * 2), or change the leaf under `with dualgrad.no_grad():`.")
    base = t._base
    if base is not None and base.is_leaf and base.requires_grad:
        raise RuntimeError(
            f"a view of a leaf Variable that requires grad is being used in an in-place "
            f"operation ({name}); compute out of place, or under dualgrad.no_grad().")


def inplace(t, fn, *args, name=None):
    """Apply ``fn(t, *args)`` to ``t`` in place: the values are written into t's
    memory, its version counter moves, and t takes the result's place in the
    graph. If t views another tensor's memory, that tensor's place in the graph
    moves too (PyTorch's CopySlices)."""
    name = name or getattr(fn, "__name__", "in-place operation") + "_"
    _check_inplace(t, name)
    old = alias(t)
    res = fn(old, *args)
    if res._a.shape != t._a.shape:
        raise RuntimeError(f"{name}: the result has shape {res._a.shape}, which can't be "
                           f"written into a tensor of shape {t._a.shape}")
    keep_values(old, res)
    base = t._base
    if base is not None and is_grad_enabled() and (base.requires_grad or res.requires_grad):
        before = alias(base)  # base's place in the graph before the change
    else:
        before = None
    try:
        np.copyto(t._a, res._a, casting="same_kind")
    except TypeError as e:
        if type(t._a) is DualArray or type(res._a) is DualArray:
            # A forward transform's tangents (dg.hessian runs f on such tensors).
            raise RuntimeError(f"{name}: {e}. Compute out of place (v = v / x), or make v "
                               f"from the inputs so that it holds their derivatives") from None
        raise RuntimeError(f"{name}: result type {res._a.dtype.name} can't be cast to the "
                           f"desired output type {t._a.dtype.name}") from None
    except ValueError as e:
        _refuse_read_only(e, name)
    bump_version(t)
    if before is not None:
        rebase(base, _copy_slices(before, res, t._view_steps))
    rebase(t, res)
    return t


def _copy_slices(before, res, steps):
    """The base of a view after an in-place change of the view: ``before`` with
    the viewed elements replaced by ``res`` (the values are already in memory)."""
    a = before._a
    # Which elements of the base the view covers: the steps applied to their indices.
    covered = np.zeros(a.size, dtype=np.bool_)
    covered[np.ravel(_apply_steps(N, np.arange(a.size).reshape(a.shape), steps))] = True
    return record(a, (before, res), "CopySlices", _copy_slices_bwd,
                  (gpu.beside(~covered.reshape(a.shape), a), steps))


def _copy_slices_bwd(ns, g, kept, steps):
    return g * kept, _apply_steps(ns, g, steps)


def _replace(old, value):
    """``value`` broadcast to ``old``'s shape, with a zero gradient for ``old``."""
    return _where(gpu.beside(np.ones(old._a.shape, dtype=np.bool_), old._a), value, old)


def fill_(t, value):
    return inplace(t, _replace, value, name="fill_")


def zero_(t):
    return inplace(t, _replace, 0.0, name="zero_")


def copy_(t, src):
    return inplace(t, _replace, src, name="copy_")


def clamp_(t, min=None, max=None):
    return inplace(t, clamp, min, max, name="clamp_")


clip_ = clamp_


def masked_fill_(t, mask, value):
    return inplace(t, lambda old: _where(_arr(mask), value, old), name="masked_fill_")


def masked_fill(input, mask, value):
    return _where(_arr(mask), value, _ten(input))


# ---------------------------------------------------------------------------
# The public shape functions

def reshape(input, *shape):
    """The values in a new shape (a view where NumPy can make one)."""
    return _reshape(_ten(input), _shape(shape))


def view(input, *shape):
    """``reshape`` that must not copy: the result shares memory with the input."""
    x = _ten(input)
    if len(shape) == 1 and isinstance(shape[0], (np.dtype, type, str)):
        raise NotImplementedError("view(dtype) is not supported; use .to(dtype)")
    shape = _shape(shape)
    try:
        np.reshape(x._a, shape, copy=False)
    except ValueError:
        raise RuntimeError("view size is not compatible with input tensor's size and stride; "
                           "use .reshape(...) instead") from None
    return _reshape(x, shape)


def view_as(input, other):
    return view(input, _arr(other).shape)


def reshape_as(input, other):
    return reshape(input, _arr(other).shape)


def flatten(input, start_dim=0, end_dim=-1):
    """Dimensions ``start_dim`` to ``end_dim`` merged into one."""
    x = _ten(input)
    s = x._a.shape
    if not s:
        return _reshape(x, (1,))
    a, b = _axis((start_dim, end_dim), len(s))
    return _reshape(x, s[:a] + (-1,) + s[b + 1:])


def squeeze(input, dim=None, *, axis=None):
    """Dimensions of size 1 removed (all, or those in ``dim``; NumPy's ``axis`` too)."""
    return _squeeze(_ten(input), dim if axis is None else axis)


def unsqueeze(input, dim):
    """A dimension of size 1 inserted at ``dim``."""
    x = _ten(input)
    return _expand_dims(x, _axis(dim, x._a.ndim + 1)[0])


def transpose(input, dim0=None, dim1=None):
    """Dimensions ``dim0`` and ``dim1`` swapped (a view)."""
    x = _ten(input)
    if dim0 is None and dim1 is None:
        return _transpose(x) if x._a.ndim <= 2 else _swapaxes(x, -2, -1)
    return _swapaxes(x, dim0, dim1)


swapaxes = swapdims = transpose


def t(input):
    x = _ten(input)
    if x._a.ndim > 2:
        raise RuntimeError("t() expects a tensor with <= 2 dimensions; use transpose(a, b)")
    return _transpose(x)


def permute(input, *dims):
    """The dimensions reordered as ``dims`` (a view)."""
    return _transpose(_ten(input), _shape(dims))


def expand(input, *sizes):
    """A broadcast view of the tensor at a larger size (-1 keeps a dimension)."""
    x = _ten(input)
    sizes = _shape(sizes)
    shape = x._a.shape
    lead = len(sizes) - len(shape)
    target = tuple(shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    return _broadcast_to(x, target)


def expand_as(input, other):
    return _broadcast_to(_ten(input), _arr(other).shape)


def broadcast_to(input, shape):
    return _broadcast_to(_ten(input), tuple(shape))


def flip(input, dims):
    """The values in reverse order along ``dims``."""
    return _flip(_ten(input), dims)


def repeat(input, *sizes, axis=None):
    if axis is not None:        # NumPy's a.repeat(repeats, axis): elements repeated in place
        return np.repeat(input, *sizes, axis=axis)
    x = _ten(input)
    sizes = _shape(sizes)
    a = x._a
    lead = len(sizes) - a.ndim
    if lead < 0:
        raise RuntimeError("repeat: give at least as many sizes as the tensor has dimensions")
    x = _reshape(x, (1,) * lead + a.shape)
    # repeat = broadcast over new axes interleaved with the old ones, then reshape
    inter = []
    for s in x._a.shape:
        inter += [1, s]
    y = _reshape(x, tuple(inter))
    target = []
    for r, s in zip(sizes, x._a.shape):
        target += [r, s]
    return _reshape(_broadcast_to(y, tuple(target)),
                    tuple(r * s for r, s in zip(sizes, x._a.shape)))


def diagonal(input, offset=0, dim1=0, dim2=1):
    """The diagonal ``offset`` of the (dim1, dim2) planes, as the last dimension."""
    return _diagonal(_ten(input), offset, dim1, dim2)


def tril(input, diagonal=0):
    """The lower triangle (on and below diagonal ``diagonal``); zeros elsewhere."""
    return _tri(_ten(input), diagonal, np.tril)


def triu(input, diagonal=0):
    """The upper triangle (on and above diagonal ``diagonal``); zeros elsewhere."""
    return _tri(_ten(input), diagonal, np.triu)


def clone(input):
    """A copy that stays in the graph (its gradient flows to the input)."""
    return _clone(_ten(input))


# NumPy's names for the same operations: code written with NumPy calls them as
# methods, and the transforms run it on Tensors (dg.hessian, jacrev).

def ravel(input, order="C"):
    """The elements in one dimension, as ``ndarray.ravel`` (``flatten``)."""
    _c_order("ravel", order)
    return _reshape(_ten(input), (-1,))


def copy(input, order="C"):
    """A copy that stays in the graph, as ``ndarray.copy`` (``clone``)."""
    _c_order("copy", order)
    return clone(input)


def _c_order(name, order):
    if order not in ("C", "K", "A"):
        raise NotImplementedError(f"{name}(order={order!r}): Tensors are in C order only")


def contiguous(input):
    x = _ten(input)
    return x if x._a.flags.c_contiguous else _clone(x)
