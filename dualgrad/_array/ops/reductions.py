"""Reductions: sum, prod, mean, max and min (with their indices), var, std,
norms, logsumexp, softmax and log_softmax, cumulative sums, all and any; the
internal functions take NumPy's conventions, the public ones PyTorch's.
"""

import builtins
import functools

import numpy as np

from dualgrad import gpu
from dualgrad._array.dualops import extreme_hits
from dualgrad._array.engine import TensorBase, record
from dualgrad._array.tensor import apply_row
from dualgrad._rules.table import BY_NAME
from dualgrad._array.ops._base import N, OUT, _arr, _axis, _ten, engine_wrap, int64
from dualgrad._array.ops.conversions import _astype
from dualgrad._array.ops.joining import stack
from dualgrad._array.ops.shapes import _reshape, _squeeze, _transpose, getitem


# ---------------------------------------------------------------------------
# Reductions

def _sum(x, axis=None, keepdims=False):
    a = x._a
    axis = _axis(axis, a.ndim)
    return record(np.sum(a, axis=axis, keepdims=keepdims), (x,), "SumBackward", _sum_bwd,
                  (a.shape, axis, keepdims))


def _sum_bwd(ns, g, shape, axis, keepdims):
    if axis is not None and not keepdims and len(shape):
        g = ns.expand_dims(g, axis)
    return ns.broadcast_to(g, shape)


def _count(a, axis):
    if axis is None:
        return a.size
    return int(np.prod([a.shape[i] for i in axis]))


def _prod(x, axis=None, keepdims=False):
    a = x._a
    axis = _axis(axis, a.ndim)
    return record(np.prod(a, axis=axis, keepdims=keepdims), (x,), "ProdBackward", _prod_bwd,
                  (x, OUT, axis, keepdims))


def _prod_bwd(ns, g, x, ans, axis, keepdims):
    if axis is not None and not keepdims and np.ndim(x):
        g, ans = ns.expand_dims(g, axis), ns.expand_dims(ans, axis)
    if not np.all(_arr(x) != 0):
        # Zeros: the product of the other elements, not ans / x.
        return g * ns.conj(_prod_others(x, axis) if ns is N else _prod_others_recorded(x, axis))
    return g * ns.conj(ans / x)


def _prod_others(x, axis):
    axes = range(x.ndim) if axis is None else axis
    moved = np.moveaxis(x, list(axes), list(range(-len(axes), 0)))
    flat = moved.reshape(moved.shape[:moved.ndim - len(axes)] + (-1,))
    left = np.cumprod(np.concatenate([np.ones_like(flat[..., :1]), flat[..., :-1]], -1), -1)
    right = np.flip(np.cumprod(np.flip(np.concatenate(
        [flat[..., 1:], np.ones_like(flat[..., :1])], -1), -1), -1), -1)
    return np.moveaxis((left * right).reshape(moved.shape), list(range(-len(axes), 0)),
                       list(axes))


def _prod_others_recorded(x, axis):
    """``_prod_others`` with tensor operations (prefix and suffix products along
    the reduced axes), so that it is differentiated again under create_graph."""
    nd = x._a.ndim
    axes = list(range(nd)) if axis is None else list(axis)
    moved = _transpose(x, [i for i in range(nd) if i not in axes] + axes)
    lead = moved._a.shape[:nd - len(axes)]
    flat = _reshape(moved, lead + (-1,))
    m = flat._a.shape[-1]
    cols = [getitem(flat, (Ellipsis, k)) for k in range(m)]
    prefix, suffix = [None] * m, [None] * m
    for k in range(1, m):
        prefix[k] = cols[k - 1] if k == 1 else prefix[k - 1] * cols[k - 1]
    for k in range(m - 2, -1, -1):
        suffix[k] = cols[k + 1] if k == m - 2 else suffix[k + 1] * cols[k + 1]
    ones = gpu.beside(np.ones(lead, dtype=x._a.dtype), x._a)
    others = [p * q if p is not None and q is not None else (p if p is not None else (
        q if q is not None else engine_wrap(ones))) for p, q in zip(prefix, suffix)]
    out = _reshape(stack(others, -1), moved._a.shape)
    order = [i for i in range(nd) if i not in axes] + axes
    return _transpose(out, tuple(np.argsort(order)))


def _extreme(x, axis, keepdims, fn, name):
    """amax / amin: the gradient is shared equally by ties, as in PyTorch."""
    a = x._a
    axis = _axis(axis, a.ndim)
    if a.size == 0:
        raise RuntimeError(f"{name}(): expected a non-empty tensor")
    _no_complex(name, a)
    return record(fn(a, axis=axis, keepdims=keepdims), (x,), name.title() + "Backward",
                  _extreme_bwd, (x, OUT, axis, keepdims))


def _extreme_bwd(ns, g, x, ans, axis, keepdims):
    if axis is not None and not keepdims and np.ndim(x):
        g, ans = ns.expand_dims(g, axis), ns.expand_dims(ans, axis)
    hit = extreme_hits(_arr(x), _arr(ans))
    share = hit / np.sum(hit, axis=axis, keepdims=True)
    return g * share


def _norm2(x, axis=None, keepdims=False):
    a = x._a
    axis = _axis(axis, a.ndim)
    # |z|^2 of complex numbers; the gradient g z / |z| holds for both kinds.
    squares = (a * np.conjugate(a)).real if a.dtype.kind == "c" else a * a
    return record(np.sqrt(np.sum(squares, axis=axis, keepdims=keepdims)), (x,), "NormBackward",
                  _norm2_bwd, (x, OUT, axis, keepdims))


def _norm2_bwd(ns, g, x, ans, axis, keepdims):
    if axis is not None and not keepdims and np.ndim(x):
        g, ans = ns.expand_dims(g, axis), ns.expand_dims(ans, axis)
    # The subgradient 0 at x = 0, as PyTorch, rather than 0/0.
    safe = ns.where(_arr(ans) == 0, 1.0, ans)
    return ns.where(_arr(ans) == 0, 0.0, g * x / safe)


def _no_complex(name, a):
    if a.dtype.kind == "c":
        raise TypeError(f"{name} of complex numbers is not supported (it orders or compares "
                        f"values); apply it to the absolute values or the real parts")


def _logsumexp(x, axis=None, keepdims=False):
    a = x._a
    axis = _axis(axis, a.ndim)
    _no_complex("logsumexp", a)
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)  # all -inf rows give -inf, not nan
    out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    if not keepdims:
        out = np.squeeze(out, axis=axis) if axis is not None else out.reshape(())
    return record(out, (x,), "LogsumexpBackward", _logsumexp_bwd, (x, OUT, axis, keepdims))


def _logsumexp_bwd(ns, g, x, ans, axis, keepdims):
    if not keepdims and np.ndim(x):
        ax = axis if axis is not None else tuple(range(np.ndim(x)))
        g, ans = ns.expand_dims(g, ax), ns.expand_dims(ans, ax)
    return g * ns.exp(x - ans)


def _softmax(x, axis):
    a = x._a
    _no_complex("softmax", a)
    e = np.exp(a - np.max(a, axis=axis, keepdims=True))
    return record(e / np.sum(e, axis=axis, keepdims=True), (x,), "SoftmaxBackward",
                  _softmax_bwd, (OUT, axis))


def _softmax_bwd(ns, g, y, axis):
    return y * (g - ns.sum(g * y, axis, True))


def _cumsum(x, axis):
    a = x._a
    axis = _axis(axis, a.ndim)[0] if a.ndim else None
    out = np.cumsum(a, axis=axis) if a.ndim else a.copy()
    return record(out, (x,), "CumsumBackward", _cumsum_bwd, (axis,))


def _cumsum_bwd(ns, g, axis):
    if axis is None:
        return g
    return ns.flip(ns.cumsum(ns.flip(g, axis), axis), axis)


# ---------------------------------------------------------------------------
# The public reductions (PyTorch's signatures)

def sum(input, dim=None, keepdim=False, dtype=None):
    """Sum over ``dim`` (all dimensions by default)."""
    x = _ten(input)
    if dtype is not None:
        x = _astype(x, dtype)
    elif x._a.dtype.kind in "biu":
        x = _astype(x, int64)
    return _sum(x, dim, keepdim)


def mean(input, dim=None, keepdim=False, dtype=None):
    """Mean over ``dim`` (all dimensions by default)."""
    x = _ten(input)
    if dtype is not None:
        x = _astype(x, dtype)
    if x._a.dtype.kind not in "fc":
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be "
                           f"floating point, got {x._a.dtype.name}; use .double() first")
    n = _count(x._a, _axis(dim, x._a.ndim))
    return _sum(x, dim, keepdim) / n


def prod(input, dim=None, keepdim=False, dtype=None):
    """Product over ``dim`` (all dimensions by default); exact gradients at zeros too."""
    x = _ten(input)
    if dtype is not None:
        x = _astype(x, dtype)
    return _prod(x, dim, keepdim)


def amax(input, dim=None, keepdim=False):
    """Largest values over ``dim``; ties share the gradient equally, and a NaN
    result's gradient goes to the NaNs (as torch.max; torch.amax gives NaN)."""
    return _extreme(_ten(input), dim, keepdim, np.max, "amax")


def amin(input, dim=None, keepdim=False):
    """Smallest values over ``dim``; ties share the gradient equally, and a NaN
    result's gradient goes to the NaNs (as torch.min; torch.amin gives NaN)."""
    return _extreme(_ten(input), dim, keepdim, np.min, "amin")


class _ValuesIndices(tuple):
    """A pair with names, as torch.return_types: (values, indices) of max and
    min, (sign, logabsdet) of slogdet."""

    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        return self[1]

    sign = values
    logabsdet = indices


def _max_min(input, dim, keepdim, other, pick, arg, row):
    if other is not None:
        return apply_row(BY_NAME[row].opcode, (input, other))
    x = _ten(input)
    if dim is None:
        return _extreme(x, None, False, pick, "max" if row == "maximum" else "min")
    a = x._a
    d = _axis(dim, a.ndim)[0]
    idx = np.expand_dims(arg(a, axis=d), d)
    values = getitem_along(x, idx, d)
    if not keepdim:
        values = _squeeze(values, d)
        idx = np.squeeze(idx, d)
    return _ValuesIndices((values, engine_wrap(idx)))


def getitem_along(x, idx, axis):
    """``take_along_axis``: one element per position along ``axis``."""
    a = x._a
    return record(np.take_along_axis(a, idx, axis), (x,), "GatherBackward", _gather_bwd,
                  (a.shape, a.dtype, _along_index(idx, axis)))


def _along_index(idx, axis):
    grids = list(np.indices(idx.shape, sparse=True))
    grids[axis] = idx
    return tuple(grids)


def _gather_bwd(ns, g, shape, dtype, index):
    return ns.index_add(shape, dtype, index, g)


def max(input, dim=None, keepdim=False, *, other=None):
    """The largest value; with ``dim``, (values, indices) along it; with a tensor
    as second argument, the elementwise maximum."""
    if isinstance(dim, (TensorBase, np.ndarray)):
        dim, other = None, dim
    return _max_min(input, dim, keepdim, other, np.max, np.argmax, "maximum")


def min(input, dim=None, keepdim=False, *, other=None):
    """The smallest value; with ``dim``, (values, indices); with a tensor, elementwise."""
    if isinstance(dim, (TensorBase, np.ndarray)):
        dim, other = None, dim
    return _max_min(input, dim, keepdim, other, np.min, np.argmin, "minimum")


def argmax(input, dim=None, keepdim=False):
    """Index of the largest value (of the flattened tensor without ``dim``); no gradient."""
    a = _arr(input)
    r = np.argmax(a, axis=dim, keepdims=keepdim) if dim is not None else np.argmax(a)
    return engine_wrap(_int64(r))


def argmin(input, dim=None, keepdim=False):
    """Index of the smallest value (of the flattened tensor without ``dim``); no gradient."""
    a = _arr(input)
    r = np.argmin(a, axis=dim, keepdims=keepdim) if dim is not None else np.argmin(a)
    return engine_wrap(_int64(r))


def _int64(r):
    return r.astype(np.int64) if gpu.is_device_array(r) else np.asarray(r, dtype=np.int64)


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance over ``dim`` with Bessel's correction by default (as PyTorch)."""
    x = _ten(input)
    if correction is None:
        correction = 0 if unbiased is False else 1
    n = _count(x._a, _axis(dim, x._a.ndim))
    centred = x - mean(x, dim, True)
    # |c|^2 for complex values: the variance is real, as NumPy's and PyTorch's
    squares = (centred * np.conjugate(centred)).real if x._a.dtype.kind == "c" else (
        centred * centred)
    return _sum(squares, dim, keepdim) / builtins.max(n - correction, 0)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Standard deviation: sqrt(var), of derivative 0 where it is 0 (as PyTorch)."""
    v = var(input, dim, unbiased, keepdim, correction=correction)
    return record(np.sqrt(v._a), (v,), "StdBackward", _std_bwd, (OUT,))


def _std_bwd(ns, g, ans):
    # d std = d var / (2 std). Where std is 0 every deviation is 0, so d var is
    # exactly 0 there and so is d std; sqrt's own rule would give 0 * inf = nan.
    zero = _arr(ans) == 0
    return ns.where(zero, 0.0, g / (2.0 * ns.where(zero, 1.0, ans)))


def norm(input, p="fro", dim=None, keepdim=False):
    """The p-norm over ``dim`` (the 2-norm of all elements by default)."""
    x = _ten(input)
    if p in ("fro", 2, 2.0, None):
        return _norm2(x, dim, keepdim)
    if p in (np.inf, float("inf")):
        return amax(x.abs(), dim, keepdim)
    if p in (-np.inf, float("-inf")):
        return amin(x.abs(), dim, keepdim)
    if p == 1:
        return _sum(x.abs(), dim, keepdim)
    if isinstance(p, (int, float)) and p > 0:
        return _sum(x.abs() ** p, dim, keepdim) ** (1.0 / p)
    raise RuntimeError(f"norm: p={p!r} is not supported; use 'fro', a positive number or inf")


def logsumexp(input, dim=None, keepdim=False):
    """log(sum(exp(x))) over ``dim``, without overflow."""
    return _logsumexp(_ten(input), dim, keepdim)


def _dim_required(dim, name):
    if dim is None:
        raise TypeError(f"{name}() missing the dimension to normalise over: pass dim=...")
    return dim


def softmax(input, dim=None, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim``."""
    x = _ten(input) if dtype is None else _astype(_ten(input), dtype)
    return _softmax(x, _axis(_dim_required(dim, "softmax"), x._a.ndim)[0])


def log_softmax(input, dim=None, dtype=None):
    """x - logsumexp(x) along ``dim``."""
    x = _ten(input) if dtype is None else _astype(_ten(input), dtype)
    return x - _logsumexp(x, _dim_required(dim, "log_softmax"), True)


def cumsum(input, dim, dtype=None):
    """Cumulative sum along ``dim``."""
    x = _ten(input) if dtype is None else _astype(_ten(input), dtype)
    return _cumsum(x, dim)


def all(input, dim=None, keepdim=False):
    return engine_wrap(np.all(_arr(input), axis=dim, keepdims=keepdim))


def any(input, dim=None, keepdim=False):
    return engine_wrap(np.any(_arr(input), axis=dim, keepdims=keepdim))


# ---------------------------------------------------------------------------
# NumPy's keywords, as PyTorch takes them (torch.sum(x, axis=0, keepdims=True)):
# NumPy code calls these methods on the Tensors of the reverse array tier. Given
# NumPy's keywords, var and std take NumPy's default ddof=0 (PyTorch's is 1).

_GIVEN = object()


def _numpy_keywords(fn):
    @functools.wraps(fn)
    def with_numpy_keywords(input, *args, axis=_GIVEN, keepdims=_GIVEN, ddof=_GIVEN, out=None,
                            **kwargs):
        if out is not None:
            raise TypeError(f"{fn.__name__}(..., out=...) on a Tensor is not supported: assign "
                            f"the result instead")
        if axis is not _GIVEN:
            kwargs["dim"] = tuple(axis) if isinstance(axis, list) else axis
        if keepdims is not _GIVEN:
            kwargs["keepdim"] = keepdims
        if ddof is not _GIVEN:
            kwargs["correction"] = ddof
        elif (axis is not _GIVEN or keepdims is not _GIVEN) and fn.__name__ in ("var", "std") \
                and "unbiased" not in kwargs and "correction" not in kwargs:
            kwargs["correction"] = 0        # NumPy's default, for NumPy's keywords
        r = fn(input, *args, **kwargs)
        # With NumPy's axis, max and min give NumPy's result: the values alone.
        return r[0] if axis is not _GIVEN and type(r) is _ValuesIndices else r
    return with_numpy_keywords


(sum, mean, prod, amax, amin, max, min, argmax, argmin, var, std, logsumexp, softmax,
 log_softmax, cumsum, all, any) = (
    _numpy_keywords(f) for f in (sum, mean, prod, amax, amin, max, min, argmax, argmin, var,
                                 std, logsumexp, softmax, log_softmax, cumsum, all, any))
