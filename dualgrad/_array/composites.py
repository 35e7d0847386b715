"""NumPy functions made of others, written once for every array type.

Each function here calls only NumPy's functions, operators and indexing on its
operands, which dispatch: on DualArrays (forward), Tensors (reverse), either
nested in the other, or plain ndarrays. So one definition serves every tier,
mode and nesting, and its derivative is that of the operations it is made of:
none of these has a rule of its own to get wrong.

Most of them only move, copy or drop elements (``roll``, ``tile``, ``pad``,
``sort``, ``split``, ...). Those run NumPy's own function on the *positions* of
the elements, ``arange(size).reshape(shape)``, and gather the operand's
elements by the positions that come out (:func:`_moves`): the same result as
NumPy's, element for element, with NumPy's argument handling and errors, and a
gather's derivative (exact, and NaN-safe: no arithmetic).
"""

import builtins
import functools
import operator
import sys

import numpy as np

from dualgrad._array.dualarray import DualArray, make
from dualgrad._array.engine import TensorBase, tensor_of as engine_wrap


def values_of(a):
    """The plain values under any nesting of DualArrays and Tensors (for what
    looks at values only: comparisons, sorting orders, indices)."""
    while True:
        if type(a) is DualArray:
            a = a.value
        elif isinstance(a, TensorBase):
            a = a._a
        elif isinstance(a, (list, tuple)):
            return type(a)(values_of(e) for e in a)
        else:
            return a


def on_values(fn):
    """``fn`` (argsort, searchsorted, isclose, ...) applied to the values: its
    result is a constant, with no derivative."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        if len(args) == 1 and not kwargs:       # np.ndim(x), np.shape(x), ...
            return fn(values_of(args[0]))
        return fn(*[values_of(a) for a in args], **{k: values_of(v) for k, v in kwargs.items()})
    return run


def shape(a):
    return a.shape


def ndim(a):
    return a.ndim


def size(a, axis=None):
    shape = a.shape         # (Tensor.size is PyTorch's method)
    return int(np.prod(shape, dtype=np.int64)) if axis is None else shape[axis]


# ---------------------------------------------------------------------------
# Moving elements: NumPy's function on the positions, then a gather

def _flat(arrays):
    """The elements of all ``arrays``, one after the other in one flat array,
    and the positions of each operand's elements in it (shaped as the operand)."""
    parts, positions, offset = [], [], 0
    for a in arrays:
        shape = np.shape(a)
        n = int(np.prod(shape, dtype=np.int64))
        parts.append(np.reshape(a, (n,)))
        positions.append(np.arange(offset, offset + n).reshape(shape))
        offset += n
    return (np.concatenate(parts) if len(parts) > 1 else parts[0]), positions


def _take(flat, index):
    if isinstance(index, (list, tuple)):
        return type(index)(_take(flat, i) for i in index)
    return flat[index]


def _moves(fn):
    """A NumPy function that moves, copies or drops the elements of its first
    argument (the others are integers, shapes or axes)."""
    @functools.wraps(fn)
    def run(a, *args, **kwargs):
        flat, (pos,) = _flat([a])
        return _take(flat, fn(pos, *args, **kwargs))
    return run


roll = _moves(np.roll)
tile = _moves(np.tile)
fliplr = _moves(np.fliplr)
flipud = _moves(np.flipud)
rot90 = _moves(np.rot90)
moveaxis = _moves(np.moveaxis)
rollaxis = _moves(np.rollaxis)
delete = _moves(np.delete)
take_along_axis = _moves(np.take_along_axis)
split = _moves(np.split)
array_split = _moves(np.array_split)
hsplit = _moves(np.hsplit)
vsplit = _moves(np.vsplit)
dsplit = _moves(np.dsplit)
resize = _moves(np.resize)


def repeat(a, repeats, axis=None):
    return _moves(np.repeat)(a, values_of(repeats), axis)


def take(a, indices, axis=None, out=None, mode="raise"):
    _no_out("take", out)
    return _moves(np.take)(a, values_of(indices), axis, mode=mode)


def compress(condition, a, axis=None, out=None):
    _no_out("compress", out)
    flat, (pos,) = _flat([a])
    return flat[np.compress(values_of(condition), pos, axis)]


def extract(condition, arr):
    flat, (pos,) = _flat([arr])
    return flat[np.extract(values_of(condition), pos)]


def _atleast(fn):
    @functools.wraps(fn)
    def run(*arys):
        out = [_moves(fn)(a) for a in arys]
        return out[0] if len(out) == 1 else tuple(out)
    return run


atleast_1d = _atleast(np.atleast_1d)
atleast_2d = _atleast(np.atleast_2d)
atleast_3d = _atleast(np.atleast_3d)


def _moves_or_zero(flat, index):
    """``flat`` gathered at ``index``, and 0 where the index is -1 (a place that
    holds no element of the operand)."""
    inside = index >= 0
    return np.where(inside, flat[np.where(inside, index, 0)], 0.0)


def diag(v, k=0):
    flat, (pos,) = _flat([v])
    if np.ndim(pos) == 1:
        return _moves_or_zero(flat, np.diag(pos + 1, k) - 1)
    return flat[np.diag(pos, k)]


def diagflat(v, k=0):
    flat, (pos,) = _flat([v])
    return _moves_or_zero(flat, np.diagflat(pos + 1, k) - 1)


_PAD_MOVES = ("edge", "reflect", "symmetric", "wrap")


def pad(array, pad_width, mode="constant", **kwargs):
    flat, (pos,) = _flat([array])
    pad_width = values_of(pad_width)
    if mode == "constant" or mode == "empty":
        # The padding holds constants (constant_values; 0 for "empty", whose
        # values NumPy leaves undefined): the elements where the mask is set.
        constants = np.pad(np.zeros(np.shape(pos)), pad_width,
                           constant_values=values_of(kwargs.get("constant_values", 0)))
        inside = np.pad(np.ones(np.shape(pos), dtype=bool), pad_width)
        index = np.pad(pos, pad_width)
        return np.where(inside, flat[index], constants)
    if mode in _PAD_MOVES and kwargs.get("reflect_type", "even") == "even":
        return flat[np.pad(pos, pad_width, mode=mode, **kwargs)]
    if mode in ("maximum", "minimum", "mean", "median", "linear_ramp") or callable(mode):
        raise TypeError(f"np.pad(mode={mode!r}) has no derivative rule in dualgrad; the modes "
                        f"that differentiate are 'constant', 'empty', {_PAD_MOVES} (reflect_type "
                        f"'even'); pad with one of them, or build the border with np.concatenate")
    return np.pad(values_of(array), pad_width, mode=mode, **kwargs)  # NumPy's error


def _gather_sorted(a, order, axis):
    flat, (pos,) = _flat([a])
    if axis is None:
        return flat[np.ravel(pos)[order]]
    return flat[np.take_along_axis(pos, order, axis)]


def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    order_ = np.argsort(values_of(a), axis=axis, kind=kind, order=order, stable=stable)
    return _gather_sorted(a, order_, axis)


def partition(a, kth, axis=-1, kind="introselect", order=None):
    order_ = np.argpartition(values_of(a), values_of(kth), axis=axis, kind=kind, order=order)
    return _gather_sorted(a, order_, axis)


def copyto(dst, src, casting="same_kind", where=True):
    dst[...] = src if where is True else np.where(values_of(where), src, dst)


def put(a, ind, v, mode="raise"):
    """In place, as NumPy's: ``a.flat[ind] = v``, v repeated to ind's length."""
    ind = np.ravel(values_of(ind))
    shape = np.shape(values_of(a))
    n = int(np.prod(shape, dtype=np.int64))
    if mode == "wrap":
        ind = ind % n
    elif mode == "clip":
        ind = np.clip(ind, 0, n - 1)
    flat, (pos,) = _flat([v])
    a[np.unravel_index(ind, shape)] = flat[np.resize(np.ravel(pos), ind.shape)]


def angle(z, deg=False):
    """NumPy's angle: arctan2 of the imaginary and real parts (of real numbers:
    0 or pi, a constant)."""
    a = np.arctan2(np.imag(z), np.real(z))
    return a * (180.0 / np.pi) if deg else a


def real_if_close(a, tol=100):
    """NumPy's real_if_close: the real part where every imaginary part is
    within ``tol`` machine epsilons of zero (decided on the values)."""
    v = values_of(a)
    if not np.iscomplexobj(v):
        return a
    if tol > 1:
        tol = np.finfo(v.dtype).eps * tol
    return np.real(a) if np.all(np.abs(v.imag) < tol) else a


def put_along_axis(arr, indices, values, axis):
    # NumPy's own: the write is a setitem, which records on arrays that hold
    # derivatives (np.zeros_like(x), or x itself).
    np.put_along_axis._implementation(arr, values_of(indices), values, axis)


# ---------------------------------------------------------------------------
# Joining

def _joins(fn):
    """A NumPy function that joins several arrays (the first argument, a
    sequence), moving their elements."""
    @functools.wraps(fn)
    def run(tup, *args, **kwargs):
        flat, positions = _flat(list(tup))
        return flat[fn(positions, *args, **kwargs)]
    return run


hstack = _joins(np.hstack)
vstack = _joins(np.vstack)
dstack = _joins(np.dstack)
column_stack = _joins(np.column_stack)


def block(arrays):
    leaves = []

    def leaf_numbers(a):        # the nested lists, with each array's number in leaves
        if isinstance(a, list):
            return [leaf_numbers(e) for e in a]
        leaves.append(a)
        return len(leaves) - 1

    numbers = leaf_numbers(arrays)
    flat, positions = _flat(leaves)

    def placed(t):
        return [placed(e) for e in t] if isinstance(t, list) else positions[t]
    return flat[np.block(placed(numbers))]


def append(arr, values, axis=None):
    flat, (pa, pv) = _flat([arr, values])
    return flat[np.append(pa, pv, axis)]


def insert(arr, obj, values, axis=None):
    flat, (pa, pv) = _flat([arr, values])
    return flat[np.insert(pa, values_of(obj), pv, axis)]


# ---------------------------------------------------------------------------
# Differences, sums and integrals

def _along(a, axis, start, stop):
    index = [slice(None)] * np.ndim(a)
    index[axis] = slice(start, stop)
    return a[tuple(index)]


def diff(a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    if n < 0:
        raise ValueError(f"order must be non-negative but got {n!r}")
    if np.ndim(a) == 0:
        raise ValueError("diff requires input that is at least one dimensional")
    axis = _axis(axis, np.ndim(a))
    parts = []
    for extra in (prepend, append):
        if extra is not np._NoValue:
            if np.ndim(extra) == 0:
                shape = list(np.shape(a))
                shape[axis] = 1
                extra = np.broadcast_to(extra, tuple(shape))
            parts.append(extra)
    if parts:
        joined = ([parts.pop(0)] if prepend is not np._NoValue else []) + [a] + parts
        a = np.concatenate(joined, axis)
    for _ in range(n):
        a = _along(a, axis, 1, None) - _along(a, axis, None, -1)
    return a


def ediff1d(ary, to_end=None, to_begin=None):
    d = diff(np.ravel(ary))
    parts = (([np.ravel(to_begin)] if to_begin is not None else []) + [d]
             + ([np.ravel(to_end)] if to_end is not None else []))
    return np.concatenate(parts) if len(parts) > 1 else d


def _axis(axis, ndim):
    axis = operator.index(axis)
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(axis, ndim)
    return axis % ndim


def gradient(f, *varargs, axis=None, edge_order=1):
    """NumPy's second-order central differences inside, first- or second-order
    one-sided ones at the edges, for uniform and for coordinate spacings."""
    nd = np.ndim(f)
    axes = tuple(range(nd)) if axis is None else tuple(
        _axis(a, nd) for a in (axis if isinstance(axis, (tuple, list)) else (axis,)))
    if len(varargs) == 0:
        spacing = [1.0] * len(axes)
    elif len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        spacing = list(varargs) * len(axes)
    elif len(varargs) == len(axes):
        spacing = list(varargs)
    else:
        raise TypeError("invalid number of arguments")
    if edge_order not in (1, 2):
        raise ValueError("'edge_order' greater than 2 not supported")
    out = []
    for ax, h in zip(axes, spacing):
        n = np.shape(f)[ax]
        if n < edge_order + 1:
            raise ValueError("Shape of array too small to calculate a numerical gradient, "
                             "at least (edge_order + 1) elements are required.")
        out.append(_gradient_1(f, ax, h, edge_order))
    return out[0] if len(out) == 1 else tuple(out)


def _gradient_1(f, ax, h, edge_order):
    def at(i, j=None):
        return _along(f, ax, i, j)

    nd = np.ndim(f)

    def along(v):       # a 1-d spacing array along axis ax
        shape = [1] * nd
        shape[ax] = -1
        return np.reshape(v, shape)

    if isinstance(h, (list, tuple)):
        h = np.asarray(h, dtype=np.float64)
    if np.ndim(h) == 0:
        inner = (at(2, None) - at(None, -2)) / (2.0 * h)
        if edge_order == 1:
            first = (at(1, 2) - at(0, 1)) / h
            last = (at(-1, None) - at(-2, -1)) / h
        else:
            first = (-1.5 * at(0, 1) + 2.0 * at(1, 2) - 0.5 * at(2, 3)) / h
            last = (0.5 * at(-3, -2) - 2.0 * at(-2, -1) + 1.5 * at(-1, None)) / h
        return np.concatenate([first, inner, last], ax)
    if np.ndim(h) != 1 or np.shape(h)[0] != np.shape(f)[ax]:
        raise ValueError("when 1d, distances must match the length of the corresponding "
                         "dimension")
    dx = diff(h)
    dx1, dx2 = along(dx[:-1]), along(dx[1:])
    a = -dx2 / (dx1 * (dx1 + dx2))
    b = (dx2 - dx1) / (dx1 * dx2)
    c = dx1 / (dx2 * (dx1 + dx2))
    inner = a * at(None, -2) + b * at(1, -1) + c * at(2, None)
    if edge_order == 1:
        first = (at(1, 2) - at(0, 1)) / dx[0]
        last = (at(-1, None) - at(-2, -1)) / dx[-1]
    else:
        d1, d2 = dx[0], dx[1]
        first = (-(2.0 * d1 + d2) / (d1 * (d1 + d2)) * at(0, 1)
                 + (d1 + d2) / (d1 * d2) * at(1, 2) - d1 / (d2 * (d1 + d2)) * at(2, 3))
        d1, d2 = dx[-2], dx[-1]
        last = (d2 / (d1 * (d1 + d2)) * at(-3, -2) - (d2 + d1) / (d1 * d2) * at(-2, -1)
                + (2.0 * d2 + d1) / (d2 * (d1 + d2)) * at(-1, None))
    return np.concatenate([first, inner, last], ax)


def cumprod(a, axis=None, dtype=None, out=None):
    """By doubling (Hillis and Steele): log2(n) products of shifted copies, each
    an ordinary product, so the derivative is exact at zeros too."""
    _no_out("cumprod", out)
    if dtype is not None:
        a = a.astype(dtype)
    if axis is None:
        a, axis = np.ravel(a), 0
    axis = _axis(axis, np.ndim(a))
    n, shift = np.shape(a)[axis], 1
    while shift < n:
        a = np.concatenate([_along(a, axis, None, shift),
                            _along(a, axis, shift, None) * _along(a, axis, None, n - shift)], axis)
        shift *= 2
    return a


def trapezoid(y, x=None, dx=1.0, axis=-1):
    axis = _axis(axis, np.ndim(y))
    if x is None:
        d = dx
    else:
        d = diff(x)
        if np.ndim(x) == 1:
            shape = [1] * np.ndim(y)
            shape[axis] = -1
            d = np.reshape(d, shape)
        else:
            d = diff(x, axis=axis)
    return np.sum(d * (_along(y, axis, 1, None) + _along(y, axis, None, -1)) / 2.0, axis=axis)


def interp(x, xp, fp, left=None, right=None, period=None):
    """Piecewise linear, differentiable in ``fp`` and, between the knots, in
    ``x`` and ``xp`` (at a knot the derivative is that of the segment to its right)."""
    if period is not None:
        raise TypeError("np.interp(period=...) has no derivative rule in dualgrad; reduce x "
                        "into one period (np.mod) and extend xp, fp by one point on each side")
    xp, fp = (a if traced(a) else np.asarray(a, dtype=np.float64) for a in (xp, fp))
    xv, xpv = values_of(x), values_of(xp)
    if xpv.ndim != 1 or np.ndim(values_of(fp)) != 1:
        raise ValueError("np.interp: xp and fp must be 1-d sequences")
    n = xpv.shape[0]
    if n == 1:
        i = np.zeros(np.shape(xv), dtype=np.intp)
        return np.where(xv < xpv[0], fp[0] if left is None else left,
                        np.where(xv > xpv[0], fp[0] if right is None else right, fp[i]))
    i = np.clip(np.searchsorted(xpv, xv, side="right") - 1, 0, n - 2)
    x0, x1, f0, f1 = xp[i], xp[i + 1], fp[i], fp[i + 1]
    y = f0 + (x - x0) * ((f1 - f0) / (x1 - x0))
    y = np.where(xv < xpv[0], fp[0] if left is None else left, y)
    return np.where(xv > xpv[-1], fp[n - 1] if right is None else right, y)


# ---------------------------------------------------------------------------
# Reductions

def _no_out(name, out):
    if out is not None:
        raise TypeError(f"np.{name}(..., out=...) cannot hold derivatives; assign the "
                        f"result instead")


def _nan_filled(a, fill):
    return np.where(np.isnan(values_of(a)), fill, a)


def nansum(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    _no_out("nansum", out)
    return np.sum(_nan_filled(a, 0.0), axis=axis, dtype=dtype, keepdims=keepdims)


def nanprod(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    _no_out("nanprod", out)
    return np.prod(_nan_filled(a, 1.0), axis=axis, dtype=dtype, keepdims=keepdims)


def _count(a, axis, keepdims):
    return np.sum(~np.isnan(values_of(a)), axis=axis, keepdims=keepdims)


def nanmean(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    _no_out("nanmean", out)
    return nansum(a, axis, dtype, keepdims=keepdims) / _count(a, axis, keepdims)


def nanvar(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kwargs):
    _no_out("nanvar", out)
    centred = _nan_filled(a - nanmean(a, axis, dtype, keepdims=True), 0.0)
    return (np.sum(centred * centred, axis=axis, keepdims=keepdims)
            / (_count(a, axis, keepdims) - ddof))


def nanstd(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kwargs):
    _no_out("nanstd", out)
    return np.sqrt(nanvar(a, axis, dtype, ddof=ddof, keepdims=keepdims))


def nanmax(a, axis=None, out=None, keepdims=False, **kwargs):
    _no_out("nanmax", out)
    return np.max(_nan_filled(a, -np.inf), axis=axis, keepdims=keepdims)


def nanmin(a, axis=None, out=None, keepdims=False, **kwargs):
    _no_out("nanmin", out)
    return np.min(_nan_filled(a, np.inf), axis=axis, keepdims=keepdims)


def ptp(a, axis=None, out=None, keepdims=False):
    _no_out("ptp", out)
    return np.max(a, axis=axis, keepdims=keepdims) - np.min(a, axis=axis, keepdims=keepdims)


def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    if weights is None:
        avg = np.mean(a, axis=axis, keepdims=keepdims)
        scale = np.size(values_of(a)) // builtins.max(np.size(values_of(avg)), 1)
        return (avg, np.full(np.shape(values_of(avg)), float(scale))) if returned else avg
    nd = np.ndim(a)
    if np.shape(weights) != np.shape(a):
        if axis is None:
            raise TypeError("Axis must be specified when shapes of a and weights differ.")
        if np.ndim(weights) != 1:
            raise TypeError("1D weights expected when shapes of a and weights differ.")
        ax = _axis(axis, nd)
        shape = [1] * nd
        shape[ax] = -1
        weights = np.reshape(weights, shape)
    wsum = np.sum(np.broadcast_to(weights, np.shape(a)) if np.shape(weights) != np.shape(a)
                  else weights, axis=axis, keepdims=keepdims)
    avg = np.sum(a * weights, axis=axis, keepdims=keepdims) / wsum
    return (avg, wsum) if returned else avg


_QUANTILE_METHODS = ("linear", "lower", "higher", "nearest", "midpoint")


def quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
             keepdims=False, *, weights=None, interpolation=None):
    _no_out("quantile", out)
    method = interpolation or method
    if method not in _QUANTILE_METHODS or weights is not None:
        raise TypeError(f"np.quantile(method={method!r}{', weights' if weights is not None else ''}"
                        f") has no derivative rule in dualgrad; the methods that differentiate "
                        f"are {_QUANTILE_METHODS}")
    q = np.asarray(values_of(q), dtype=np.float64)
    if np.any((q < 0) | (q > 1)):
        raise ValueError("Quantiles must be in the range [0, 1]")
    nd = np.ndim(a)
    if axis is None:
        s, ax = sort(np.ravel(a)), 0
    else:
        ax = _axis(axis, nd)
        s = sort(a, axis=ax)
    n = np.shape(s)[ax]
    virtual = q * (n - 1)
    lo = np.floor(virtual).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    t = virtual - lo
    if method == "lower":
        hi, t = lo, np.zeros_like(t)
    elif method == "higher":
        lo, t = np.ceil(virtual).astype(np.intp), np.zeros_like(t)
    elif method == "nearest":
        lo, t = np.around(virtual).astype(np.intp), np.zeros_like(t)
    elif method == "midpoint":
        t = np.where(lo == virtual, 0.0, 0.5)
    below = moveaxis(np.take(s, lo, axis=ax), list(range(ax, ax + q.ndim)),
                     list(range(q.ndim))) if q.ndim else np.take(s, lo, axis=ax)
    above = moveaxis(np.take(s, hi, axis=ax), list(range(ax, ax + q.ndim)),
                     list(range(q.ndim))) if q.ndim else np.take(s, hi, axis=ax)
    t = np.reshape(t, np.shape(t) + (1,) * (np.ndim(values_of(below)) - q.ndim))
    # NumPy's lerp: from below for t < 0.5, from above otherwise (the same value
    # up to rounding, and exact at t = 0 and t = 1).
    r = np.where(t >= 0.5, above - (above - below) * (1 - t), below + (above - below) * t)
    if keepdims:
        shape = list(np.shape(values_of(a)))
        for i in (range(nd) if axis is None else (ax,)):
            shape[i] = 1
        r = np.reshape(r, q.shape + tuple(shape))
    return r


def percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
               keepdims=False, *, weights=None, interpolation=None):
    return quantile(a, np.asarray(values_of(q), dtype=np.float64) / 100.0, axis, out,
                    overwrite_input, method, keepdims, weights=weights,
                    interpolation=interpolation)


def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    return quantile(a, 0.5, axis, out, keepdims=keepdims)


# ---------------------------------------------------------------------------
# Selection

def select(condlist, choicelist, default=0):
    if len(condlist) != len(choicelist):
        raise ValueError("list of cases must be same length as list of conditions")
    result = default
    for c, choice in zip(reversed(condlist), reversed(choicelist)):
        result = np.where(values_of(c), choice, result)
    return np.broadcast_to(result, np.broadcast_shapes(
        *[np.shape(values_of(x)) for x in list(condlist) + list(choicelist) + [default]]))


def choose(a, choices, out=None, mode="raise"):
    _no_out("choose", out)
    a = np.asarray(values_of(a))
    n = len(choices)
    if mode == "wrap":
        a = a % n
    elif mode == "clip":
        a = np.clip(a, 0, n - 1)
    elif np.any((a < 0) | (a >= n)):
        raise ValueError("invalid entry in choice array")
    return select([a == i for i in range(n)], list(choices))


# ---------------------------------------------------------------------------
# Products

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def einsum_subscripts(operands):
    """NumPy's interleaved form ``einsum(a, [0, 1], b, [1, 2], [0, 2])`` as
    ``("ab,bc->ac", [a, b])``."""
    def letters(sub):
        return "".join("..." if s is Ellipsis else _LETTERS[operator.index(s)] for s in sub)
    operands = list(operands)
    out = letters(operands.pop()) if len(operands) % 2 else None
    ins = ",".join(letters(s) for s in operands[1::2])
    return ins + ("" if out is None else "->" + out), operands[0::2]


# ---------------------------------------------------------------------------
# Arrays that derivatives can be written into: np.zeros_like(x), and NumPy's
# like= (NEP 35), np.zeros(n, like=x)

def traced(a):
    """Whether ``a`` (or an element of a list or tuple) carries derivatives."""
    if isinstance(a, (list, tuple)):
        return builtins.any(traced(e) for e in a)
    return type(a) is DualArray or isinstance(a, TensorBase)


def holder(values, like):
    """The constant ``values`` as an array of ``like``'s kind (a DualArray of
    zero tangents at like's level, or a Tensor), so that derivatives written
    into it later are kept. Values that are not floating point are indices or
    masks: they stay plain."""
    if np.dtype(values.dtype).kind not in "fc":
        return values
    if type(like) is DualArray:
        return make(values, np.zeros_like(values, shape=(like.k,) + tuple(values.shape)),
                    like.level)
    # A Tensor holding DualArrays (forward over reverse): the values it holds
    # carry the outer tangents too.
    return engine_wrap(holder(values, like._a) if type(like._a) is DualArray else values)


def _filled(fill):
    def like_fn(a, dtype=None, order="K", subok=True, shape=None, **kwargs):
        return holder(np.full_like(values_of(a), fill, dtype=dtype, shape=shape), a)
    return like_fn


zeros_like, ones_like, empty_like = _filled(0.0), _filled(1.0), _filled(0.0)


def full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, **kwargs):
    if not traced(fill_value):
        return holder(np.full_like(values_of(a), fill_value, dtype=dtype, shape=shape), a)
    return zeros_like(a, dtype, shape=shape) + fill_value


def _made(fn):
    """``np.zeros(n, like=x)`` and the like: NumPy's values, held as x's kind."""
    def run(*args, like, **kwargs):
        return holder(fn(*args, **kwargs), like)
    return run


zeros, ones, empty, eye, identity = (_made(np.zeros), _made(np.ones), _made(np.zeros),
                                     _made(np.eye), _made(np.identity))


def arange(*args, like, **kwargs):
    return holder(np.arange(*values_of(args), **kwargs), like)


def full(shape, fill_value, dtype=None, order="C", *, like, **kwargs):
    if not traced(fill_value):
        return holder(np.full(shape, fill_value, dtype=dtype, order=order), like)
    return zeros(shape, dtype=dtype, like=like) + fill_value


def as_objects(a):
    """A traced array as an object array of its 0-d elements, as NumPy holds the
    scalar tier's Duals: what ``__array__`` gives for one traced number in a
    list (np.array([x[0] * x[1], x[2]])), and for the items of np.r_ and np.c_."""
    o = np.empty(a.shape, dtype=object)
    for index in np.ndindex(*a.shape):
        o[index] = a[index]
    return o


def numpy_builds_arrays():
    """Whether the conversion asked of a traced array (its ``__array__``, which
    runs without a Python frame of its own) comes from np.r_ or np.c_: they
    make each item an array before joining the items, whose result then holds
    the elements as objects."""
    return sys._getframe(1).f_code.co_filename.endswith("_index_tricks_impl.py")


def from_objects(a):
    """An object array holding traced numbers -- np.array([x[0] * x[1], x[2]]) on
    the array tier, whose 0-d DualArrays and Tensors NumPy stores as objects --
    as one traced array; None where it holds none."""
    items = a.ravel().tolist()
    if not builtins.any(traced(e) for e in items):
        return None
    return np.reshape(np.stack(items), a.shape)


def _is_objects(a):
    return type(a) is np.ndarray and a.dtype.kind == "O"


def objects_converted(args):
    """``args`` with each object array of traced numbers (also inside a list or
    tuple argument) as one traced array: for the dispatchers, before a NumPy
    function or ufunc runs on the array tier."""
    for a in args:          # a plain loop: this runs at every NumPy call on the array tier
        if type(a) is np.ndarray:
            if a.dtype.kind == "O":
                break
        elif (type(a) is list or type(a) is tuple) and builtins.any(_is_objects(e) for e in a):
            break
    else:
        return args
    out = []
    for a in args:
        if isinstance(a, (list, tuple)):
            a = type(a)(objects_converted(a))
        elif _is_objects(a):
            c = from_objects(a)
            a = a if c is None else c
        out.append(a)
    return tuple(out)


def assemble(data):
    """Nested lists of traced values and numbers as one array, stacked level by level."""
    if not isinstance(data, (list, tuple)):
        return data
    parts = [assemble(e) for e in data]
    if not builtins.any(traced(p) for p in parts):
        return np.asarray(parts)
    return np.stack(parts)


def array(object, dtype=None, *, copy=True, order="K", subok=False, ndmin=0, like):  # noqa: A002
    a = assemble(object)
    if traced(a):
        if dtype is not None:
            a = a.astype(dtype)
        elif copy and a is object:
            a = np.copy(a)
    else:
        a = holder(np.array(a, dtype=dtype, copy=copy, order=order, ndmin=ndmin), like)
        ndmin = 0
    return np.reshape(a, (1,) * (ndmin - np.ndim(a)) + np.shape(a)) if ndmin > np.ndim(a) else a


def asarray(a, dtype=None, order=None, *, like, **kwargs):
    return array(a, dtype, copy=False, like=like)


# ---------------------------------------------------------------------------
# Polynomials, cross products, convolutions

def polyval(p, x):
    """Horner's scheme, as NumPy's."""
    y = 0.0
    for c in (p if traced(p) else np.asarray(p)):
        y = y * x + c
    return y


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = np.moveaxis(a, axisa, -1), np.moveaxis(b, axisb, -1)
    na, nb = np.shape(a)[-1], np.shape(b)[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError("incompatible dimensions for cross product\n"
                         "(dimension must be 2 or 3)")
    a0, a1, b0, b1 = a[..., 0], a[..., 1], b[..., 0], b[..., 1]
    if na == nb == 2:
        return a0 * b1 - a1 * b0
    a2 = a[..., 2] if na == 3 else 0.0
    b2 = b[..., 2] if nb == 3 else 0.0
    c = np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    return np.moveaxis(c, -1, axisc)


def convolve(a, v, mode="full"):
    """Sums of the outer product along its anti-diagonals: linear in each operand."""
    a, v = np.ravel(a), np.ravel(v)
    n, m = np.shape(a)[0], np.shape(v)[0]
    if n == 0 or m == 0:
        raise ValueError("a cannot be empty" if n == 0 else "v cannot be empty")
    products = np.reshape(np.outer(a, v), (-1,))
    i, k = np.arange(n)[:, None], np.arange(n + m - 1)[None, :]
    j = k - i
    full = np.sum(_moves_or_zero(products, np.where((j >= 0) & (j < m), i * m + j, -1)), axis=0)
    if mode == "full":
        return full
    if mode == "same":
        size = builtins.max(n, m)
        start = (n + m - 1 - size) // 2
        return full[start:start + size]
    if mode == "valid":
        return full[builtins.min(n, m) - 1:builtins.max(n, m)]
    raise ValueError(f"mode must be one of 'full', 'same' or 'valid', not {mode!r}")


def correlate(a, v, mode="valid"):
    return convolve(a, np.ravel(v)[::-1], mode)
