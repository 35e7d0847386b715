"""Joining and splitting tensors: ``cat``, ``stack``, ``split``, ``chunk`` and
``unbind``.
"""

import builtins

import numpy as np

from dualgrad._array.engine import record
from dualgrad._array.ops._base import _arr, _axis, _ten, _view
from dualgrad._array.ops.shapes import _expand_dims, _squeeze


# ---------------------------------------------------------------------------
# Joining and splitting

def _concatenate(tensors, axis=0):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("cat expects a non-empty sequence of tensors")
    arrays = [_arr(t) for t in tensors]
    axis = _axis(axis, arrays[0].ndim)[0]
    sizes = [a.shape[axis] for a in arrays]
    return record(np.concatenate(arrays, axis=axis), tuple(tensors), "CatBackward", _cat_bwd,
                  (axis, sizes))


def _cat_bwd(ns, g, axis, sizes):
    grads, start = [], 0
    for s in sizes:
        index = (slice(None),) * axis + (slice(start, start + s),)
        grads.append(ns.getitem(g, index))
        start += s
    return tuple(grads)


def cat(tensors, dim=0):
    """Join tensors along an existing dimension."""
    return _concatenate(tensors, dim)


concatenate = concat = cat


def stack(tensors, dim=0):
    """Join tensors along a new dimension."""
    tensors = [_ten(t) for t in tensors]
    if not tensors:
        raise RuntimeError("stack expects a non-empty sequence of tensors")
    shapes = {t._a.shape for t in tensors}
    if len(shapes) != 1:
        raise RuntimeError(f"stack expects tensors of equal shape, got {sorted(shapes)}")
    nd = tensors[0]._a.ndim + 1
    dim = _axis(dim, nd)[0]
    return _concatenate([_expand_dims(t, dim) for t in tensors], dim)


def split(tensor, split_size_or_sections, dim=0):
    """Pieces of ``split_size`` along ``dim`` (the last may be smaller), or pieces
    of the listed sizes."""
    x = _ten(tensor)
    a = x._a
    dim = _axis(dim, a.ndim)[0]
    n = a.shape[dim]
    if isinstance(split_size_or_sections, (int, np.integer)):
        step = int(split_size_or_sections)
        sizes = [builtins.min(step, n - i) for i in range(0, n, step)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if builtins.sum(sizes) != n:
            raise RuntimeError(f"split: sizes {sizes} don't add up to {n}, the size of "
                               f"dimension {dim}")
    bounds = np.cumsum(sizes)[:-1]
    pieces = tuple(np.split(a, bounds.tolist(), axis=dim))
    outs = record(pieces, (x,), "SplitBackward", _split_bwd, (dim,))
    start = 0
    for o, size in zip(outs, sizes):
        _view(o, x, ("getitem", (slice(None),) * dim + (slice(start, start + size),)))
        start += size
    return outs


def _split_bwd(ns, gs, dim):
    return ns.concatenate(list(gs), dim)


def chunk(input, chunks, dim=0):
    """``chunks`` pieces of (nearly) equal size along ``dim``."""
    n = _arr(input).shape[dim]
    return split(input, -(-n // chunks), dim)


def unbind(input, dim=0):
    """The slices along ``dim``, as a tuple of tensors without that dimension."""
    return tuple(_squeeze(p, dim) for p in split(input, 1, dim))
