"""The array tier's operations beyond the table's elementwise rows.

Each operation computes its value with NumPy and records, beside it, its
backward rule ``fn(ns, g, *saved)``. Rules are written against the namespace
``ns`` (below: :class:`NumpyNS` over ndarrays, :class:`TensorNS` over Tensors),
never against NumPy directly, so that the same rule runs fast on arrays and,
under ``create_graph=True``, records itself for higher derivatives. Operations
that are compositions of others (mean, var, log_softmax, ...) need no rule.

Internal functions use NumPy's conventions (``axis``, ``keepdims``); the public
functions take PyTorch's (``dim``, ``keepdim``) and convert.
"""

import builtins
import functools
import threading

import numpy as np

from dualgrad import gpu
from dualgrad._array import dualops as _dualops, engine
from dualgrad._array.dualarray import (DualArray, chain as _chain, chain_both as _chain_both,
                                       level_of, make as _dual)
from dualgrad._array.dualops import extreme_hits, kron
from dualgrad._array import tensor as _tensor
from dualgrad._array.engine import (TensorBase, alias, bump_version, is_grad_enabled,
                                    keep_values, rebase, record, share_version)
from dualgrad._array.tensor import ROW_FUNCTIONS, Tensor, apply_row
from dualgrad._rules.table import BY_NAME, RULES
from dualgrad._scalar.ufuncs import UFUNC_OPS, VALUE_UFUNCS

OUT = engine.out(0)  # in ``saved``: the operation's output (its values, not the Tensor)

# ---------------------------------------------------------------------------
# dtypes

float16 = half = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = double = np.dtype(np.float64)
int64 = long = np.dtype(np.int64)
int32 = np.dtype(np.int32)
bool = np.dtype(np.bool_)  # noqa: A001  (torch.bool)

_default_dtype = [float64]


def set_default_dtype(d):
    """The dtype of tensors made from Python floats (float64 unless changed)."""
    d = np.dtype(d)
    if d.kind != "f":
        raise TypeError(f"the default dtype must be floating point, not {d.name}")
    _default_dtype[0] = d


def get_default_dtype():
    """The dtype of tensors made from Python floats."""
    return _default_dtype[0]


def _dtype(d):
    if d is None:
        return None
    if isinstance(d, str) and d.startswith("dualgrad."):
        d = d[len("dualgrad."):]
    try:
        return np.dtype(d)
    except TypeError:
        raise TypeError(f"not a dtype: {d!r}; use dualgrad.float64, float32, float16, "
                        f"int64 or bool") from None


# ---------------------------------------------------------------------------
# Making tensors

def _values(data, dtype):
    """An ndarray of ``data`` with PyTorch's dtype inference (Python floats take
    the default dtype)."""
    if isinstance(data, TensorBase):
        a = data._a
    elif gpu.is_device_array(data):
        a = data
    else:
        a = np.asarray(data)
        if a.dtype == object:
            raise TypeError("can't make a tensor from these values: they are not all numbers "
                            "(Tensors of several elements inside a list? use dualgrad.stack)")
        if not isinstance(data, (np.ndarray, np.generic)):
            # Python numbers: floats take the default dtype, ints int64 (arrays keep theirs).
            if a.dtype.kind == "f":
                a = a.astype(_default_dtype[0])
            elif a.dtype.kind in "iu":
                a = a.astype(np.int64)
    if dtype is not None:
        a = a.astype(_dtype(dtype))
    return a


def _leaf(a, requires_grad):
    t = engine_wrap(a)
    if requires_grad:
        t.requires_grad_(True)
    return t


engine_wrap = engine.tensor_of


def _sharing(a):
    """A tensor over the caller's array ``a``, sharing its memory. It holds a view
    of its own: the caller may still change the shape of ``a`` in place."""
    return engine_wrap(a.view() if isinstance(a, np.ndarray) else a)


def tensor(data, dtype=None, requires_grad=False, device=None):
    """A new leaf tensor holding a copy of ``data`` (a number, nested sequences or
    an array, NumPy's or CuPy's). Python floats become the default dtype
    (float64), ints int64. ``device="cuda"`` puts it on the GPU; by default it
    stays where ``data`` is.
    """
    device = _check_device(device)
    a = _values(data, dtype)
    if device is not None and device != gpu.device_of(a):
        return _leaf(gpu.to_device(a, device), requires_grad)    # the move copies
    return _leaf(a.copy() if gpu.is_device_array(a) else np.array(a, copy=True), requires_grad)


def as_tensor(data, dtype=None, device=None):
    """``data`` as a tensor, sharing memory where possible."""
    device = _check_device(device)
    if isinstance(data, TensorBase) and (dtype is None or data._a.dtype == _dtype(dtype)):
        return data if device is None else to(data, device)
    return _sharing(_on(_values(data, dtype), device))


def as_input(value, level):
    """A tensor for an argument of a functional transform at ``level``: a new
    leaf that requires grad over ``value`` (an ndarray, or a DualArray for
    forward over reverse); for a tensor, a view that stays in its graph, so that
    an enclosing transform differentiates through it."""
    if isinstance(value, TensorBase):
        t = value.view_as(value) if value.requires_grad else value.detach().requires_grad_()
    else:
        t = _sharing(value).requires_grad_()
    t._level = level
    return t


def from_numpy(array):
    """A tensor sharing ``array``'s memory (and dtype)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects an ndarray, not {type(array).__name__}")
    return _sharing(array)


def _check_device(device):
    """``device`` as a :class:`dualgrad.device` (None stays None); a GPU device
    needs CuPy."""
    if device is None:
        return None
    device = gpu.device(device)
    if device.type == "cuda":
        gpu.cupy()
    return device


def _on(a, device):
    """Array ``a`` on ``device`` (None: where it is)."""
    return a if device is None else gpu.to_device(a, device)


def _shape(size):
    """A size given as separate ints, one sequence, or a 1-d tensor, as a tuple of ints."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    if len(size) == 1 and isinstance(size[0], TensorBase):
        size = tuple(size[0].tolist())
    return tuple(int(s) for s in size)


def _factory(fill):
    def make(*size, dtype=None, requires_grad=False, device=None):
        device = _check_device(device)
        return _leaf(_on(fill(_shape(size), _dtype(dtype) or _default_dtype[0]), device),
                     requires_grad)
    return make


zeros = _factory(np.zeros)
ones = _factory(np.ones)
empty = _factory(np.empty)
zeros.__name__, ones.__name__, empty.__name__ = "zeros", "ones", "empty"
zeros.__doc__ = "A tensor of zeros of the given size (default dtype unless ``dtype``)."
ones.__doc__ = "A tensor of ones of the given size (default dtype unless ``dtype``)."
empty.__doc__ = "An uninitialised tensor of the given size."


def full(size, fill_value, dtype=None, requires_grad=False, device=None):
    """A tensor of the given size filled with ``fill_value``."""
    device = _check_device(device)
    if dtype is None:
        dtype = _values(fill_value, None).dtype
    return _leaf(_on(np.full(_shape((size,)), fill_value, dtype=_dtype(dtype)), device),
                 requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad=False, device=None):
    """Values from ``start`` to ``end`` (exclusive) by ``step``; int64 for integer
    arguments, else the default dtype."""
    device = _check_device(device)
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = builtins.all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = int64 if ints else _default_dtype[0]
    return _leaf(_on(np.arange(start, end, step, dtype=_dtype(dtype)), device), requires_grad)


def linspace(start, end, steps, dtype=None, requires_grad=False, device=None):
    """``steps`` values evenly spaced from ``start`` to ``end`` inclusive."""
    device = _check_device(device)
    return _leaf(_on(np.linspace(start, end, steps, dtype=_dtype(dtype) or _default_dtype[0]),
                     device), requires_grad)


def eye(n, m=None, dtype=None, requires_grad=False, device=None):
    """The identity matrix (n x m)."""
    device = _check_device(device)
    return _leaf(_on(np.eye(n, m, dtype=_dtype(dtype) or _default_dtype[0]), device),
                 requires_grad)


_rng = threading.local()


def _generator():
    g = getattr(_rng, "g", None)
    if g is None:
        g = _rng.g = np.random.default_rng()
    return g


def manual_seed(seed):
    """Seed the generator of ``rand``, ``randn`` and their ``_like`` forms (per thread)."""
    _rng.g = np.random.default_rng(seed)


def rand(*size, dtype=None, requires_grad=False, device=None):
    """Uniform samples on [0, 1) (drawn on the CPU: one seed, the same values on
    every device)."""
    device = _check_device(device)
    dt = _dtype(dtype) or _default_dtype[0]
    return _leaf(_on(_generator().random(_shape(size)).astype(dt), device), requires_grad)


def randn(*size, dtype=None, requires_grad=False, device=None):
    """Standard normal samples (drawn on the CPU, as ``rand``)."""
    device = _check_device(device)
    dt = _dtype(dtype) or _default_dtype[0]
    return _leaf(_on(_generator().standard_normal(_shape(size)).astype(dt), device),
                 requires_grad)


def _like(make):
    def make_like(input, dtype=None, requires_grad=False, device=None):
        a = _arr(input)
        if type(a) is DualArray:
            # Forward over reverse (dg.hessian): a DualArray of zero tangents,
            # so that values written into it later keep their tangents.
            values = make_like(a.value, dtype, False, device)._a
            out = engine_wrap(_dual(values, np.zeros((a.tangent.shape[0],) + a.shape), a.level))
            return out.requires_grad_(True) if requires_grad else out
        return make(*a.shape, dtype=dtype or a.dtype, requires_grad=requires_grad,
                    device=device or gpu.device_of(a))
    make_like.__name__ = make.__name__ + "_like"
    make_like.__doc__ = f"``{make.__name__}`` with the shape and dtype of ``input``."
    return make_like


zeros_like, ones_like, empty_like = _like(zeros), _like(ones), _like(empty)
rand_like, randn_like = _like(rand), _like(randn)


def full_like(input, fill_value, dtype=None, requires_grad=False, device=None):
    """``full`` with the shape (and dtype) of ``input``."""
    a = _arr(input)
    return full(a.shape, fill_value, dtype=dtype or a.dtype, requires_grad=requires_grad,
                device=device or gpu.device_of(a))


# ---------------------------------------------------------------------------
# Helpers

def _arr(x):
    if isinstance(x, TensorBase):
        return x._a
    return x if isinstance(x, DualArray) or gpu.is_device_array(x) else np.asarray(x)


def _value(x):
    """The values of an operand for NumPy's functions: numbers stay numbers, so
    that they combine with arrays on any device (CuPy takes no NumPy arrays,
    0-d ones included)."""
    if isinstance(x, (int, float, complex, np.generic)):    # (bool is an int)
        return x
    return _arr(x)


def _ten(x):
    if isinstance(x, TensorBase):
        return x
    return engine_wrap(_arr(x))


def _zeros(shape, dtype, like):
    """Zeros on the device of the values ``like``."""
    if gpu.is_device_array(like):
        return np.zeros_like(like, shape=shape, dtype=dtype)
    return np.zeros(shape, dtype=dtype)


def _copy(a):
    """A copy of values ``a``, NumPy's, a GPU array or a DualArray (forward over reverse)."""
    return a.copy() if type(a) is DualArray or gpu.is_device_array(a) else np.array(a, copy=True)


def _axis(axis, ndim):
    """A normalized axis argument: None, or a tuple of non-negative ints."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        a = int(a)
        if not -builtins.max(ndim, 1) <= a < builtins.max(ndim, 1):
            raise IndexError(f"dimension out of range: got {a} for a tensor of {ndim} "
                             f"dimensions")
        out.append(a % builtins.max(ndim, 1))
    return tuple(out)


def _view(out, x, step):
    """``out`` views ``x``'s memory, made from it by ``step`` (a (kind, argument)
    pair for _apply_steps): they share one version counter, and an in-place
    change of ``out`` is recorded on the tensor owning the memory."""
    # (DualArray values are never changed in place; GPU arrays have views too.)
    a, b = out._a, x._a
    if (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
            or gpu.is_device_array(a) and gpu.is_device_array(b)) and np.shares_memory(a, b):
        share_version(out, x, step)
    return out


def _apply_steps(ns, x, steps):
    """Make a view's values from its base's: the steps recorded by _view, on
    arrays or (recorded) on tensors."""
    for kind, arg in steps:
        if kind == "getitem":
            x = ns.getitem(x, arg)
        elif kind == "reshape":
            x = ns.reshape(x, arg)
        elif kind == "transpose":
            x = ns.transpose(x, arg)
        else:
            x = ns.broadcast_to(x, arg)
    return x


# ---------------------------------------------------------------------------
# The namespaces backward rules run against. Both provide the table's rows by
# name, ``where``, ``chain`` (the chain rule's NaN-safe product partial * g,
# exactly 0 where g is 0), ``chain_both`` (exactly 0 where either factor is 0)
# and the functions below with NumPy's signatures.

class NumpyNS:
    """Backward rules over ndarrays (an ordinary backward pass)."""

    where = staticmethod(np.where)
    chain = staticmethod(_chain)
    chain_both = staticmethod(_chain_both)
    sum = staticmethod(lambda x, axis=None, keepdims=False: np.sum(x, axis=axis,
                                                                   keepdims=keepdims))
    broadcast_to = staticmethod(np.broadcast_to)
    reshape = staticmethod(np.reshape)
    transpose = staticmethod(np.transpose)
    swapaxes = staticmethod(np.swapaxes)
    expand_dims = staticmethod(np.expand_dims)
    squeeze = staticmethod(np.squeeze)
    matmul = staticmethod(np.matmul)
    einsum = staticmethod(lambda subscripts, *ops: np.einsum(subscripts, *ops, optimize=True))
    concatenate = staticmethod(lambda xs, axis: np.concatenate(xs, axis=axis))
    cumsum = staticmethod(lambda x, axis: np.cumsum(x, axis=axis))
    flip = staticmethod(np.flip)
    tril = staticmethod(lambda x, k: np.tril(x, k))
    triu = staticmethod(lambda x, k: np.triu(x, k))
    diagonal = staticmethod(lambda x, offset, a1, a2: np.diagonal(x, offset, a1, a2))
    solve = staticmethod(np.linalg.solve)
    inv = staticmethod(np.linalg.inv)
    astype = staticmethod(lambda x, dtype: x.astype(dtype) if isinstance(x, DualArray)
                          else np.asarray(x).astype(dtype))
    getitem = staticmethod(lambda x, index: x[index])
    to_device = staticmethod(gpu.to_device)

    @staticmethod
    def sum_axes(g, axes, shape):
        return np.sum(g, axis=axes).reshape(shape)

    # The two rules below write g into zeros. A DualArray g (forward over
    # reverse) is written value and tangent alike, the tangent's direction axis
    # in front.

    @staticmethod
    def index_add(shape, dtype, index, g):
        if isinstance(g, DualArray):
            lead = (slice(None),) + (index if isinstance(index, tuple) else (index,))
            return _dual(N.index_add(shape, dtype, index, g.value),
                         N.index_add((g.k,) + tuple(shape), dtype, lead, g.tangent), g.level)
        z = _zeros(shape, dtype, g)
        index = _index_on(index, g)
        if _basic(index):
            z[index] = g
        else:
            np.add.at(z, index, g)
        return z

    @staticmethod
    def put_diagonal(g, shape, offset, a1, a2):
        if isinstance(g, DualArray):
            shift = [a + 1 if a >= 0 else a for a in (a1, a2)]
            return _dual(N.put_diagonal(g.value, shape, offset, a1, a2),
                         N.put_diagonal(g.tangent, (g.k,) + tuple(shape), offset, *shift),
                         g.level)
        z = _zeros(shape, g.dtype, g)
        # np.diagonal puts the diagonal last, after the other axes in order.
        zt = np.moveaxis(z, (a1, a2), (-2, -1))
        i = gpu.beside(np.arange(g.shape[-1]), g)
        zt[..., i + builtins.max(-offset, 0), i + builtins.max(offset, 0)] = g
        return z


class TensorNS:
    """Backward rules over Tensors: what they do is recorded (create_graph)."""

    where = staticmethod(lambda c, a, b: _where(c, a, b))
    chain = staticmethod(_chain)
    chain_both = staticmethod(_chain_both)
    sum = staticmethod(lambda x, axis=None, keepdims=False: _sum(_ten(x), axis, keepdims))
    broadcast_to = staticmethod(lambda x, shape: _broadcast_to(_ten(x), shape))
    reshape = staticmethod(lambda x, shape: _reshape(_ten(x), shape))
    transpose = staticmethod(lambda x, axes=None: _transpose(_ten(x), axes))
    swapaxes = staticmethod(lambda x, a, b: _swapaxes(_ten(x), a, b))
    expand_dims = staticmethod(lambda x, axis: _expand_dims(_ten(x), axis))
    squeeze = staticmethod(lambda x, axis=None: _squeeze(_ten(x), axis))
    matmul = staticmethod(lambda a, b: matmul(a, b))
    einsum = staticmethod(lambda subscripts, *ops: einsum(subscripts, *ops))
    concatenate = staticmethod(lambda xs, axis: _concatenate(xs, axis))
    cumsum = staticmethod(lambda x, axis: _cumsum(_ten(x), axis))
    flip = staticmethod(lambda x, axis: _flip(_ten(x), axis))
    tril = staticmethod(lambda x, k: _tri(_ten(x), k, np.tril))
    triu = staticmethod(lambda x, k: _tri(_ten(x), k, np.triu))
    diagonal = staticmethod(lambda x, offset, a1, a2: _diagonal(_ten(x), offset, a1, a2))
    solve = staticmethod(lambda a, b: _solve(_ten(a), _ten(b)))
    inv = staticmethod(lambda a: _inv(_ten(a)))
    astype = staticmethod(lambda x, dtype: _astype(_ten(x), dtype))
    getitem = staticmethod(lambda x, index: getitem(_ten(x), index))
    sum_axes = staticmethod(lambda g, axes, shape: _reshape(_sum(g, axes, False), shape))
    index_add = staticmethod(lambda shape, dtype, index, g: _index_add(shape, dtype, index,
                                                                       _ten(g)))
    put_diagonal = staticmethod(lambda g, shape, offset, a1, a2: _put_diagonal(
        _ten(g), shape, offset, a1, a2))
    view_of = staticmethod(lambda base, steps: _apply_steps(T, base, steps))
    to_device = staticmethod(lambda g, device: to(_ten(g), device))


for _r in RULES:
    setattr(NumpyNS, _r.name, staticmethod(
        getattr(np, _r.ufuncs[0]) if _r.ufuncs
        else functools.partial(_tensor.array_function, _r.opcode)))
    setattr(TensorNS, _r.name, staticmethod(ROW_FUNCTIONS[_r.name]))

N, T = NumpyNS(), TensorNS()


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
        return g * (_prod_others(x, axis) if ns is N else _prod_others_recorded(x, axis))
    return g * ans / x


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
    return record(np.sqrt(np.sum(a * a, axis=axis, keepdims=keepdims)), (x,), "NormBackward",
                  _norm2_bwd, (x, OUT, axis, keepdims))


def _norm2_bwd(ns, g, x, ans, axis, keepdims):
    if axis is not None and not keepdims and np.ndim(x):
        g, ans = ns.expand_dims(g, axis), ns.expand_dims(ans, axis)
    # The subgradient 0 at x = 0, as PyTorch, rather than 0/0.
    safe = ns.where(_arr(ans) == 0, 1.0, ans)
    return ns.where(_arr(ans) == 0, 0.0, g * x / safe)


def _logsumexp(x, axis=None, keepdims=False):
    a = x._a
    axis = _axis(axis, a.ndim)
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
    e = np.exp(a - np.max(a, axis=axis, keepdims=True))
    return record(e / np.sum(e, axis=axis, keepdims=True), (x,), "SoftmaxBackward",
                  _softmax_bwd, (OUT, axis))


def _softmax_bwd(ns, g, y, axis):
    return y * (g - ns.sum(g * y, axis, True))


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


def _astype(x, dtype):
    a = x._a
    dtype = _dtype(dtype)
    if a.dtype == dtype:
        return x
    if x.requires_grad and dtype.kind != "f":
        return engine_wrap(a.astype(dtype))  # an integer copy carries no gradient
    return record(a.astype(dtype), (x,), "ToCopyBackward", _astype_bwd, (a.dtype,))


def _astype_bwd(ns, g, dtype):
    return ns.astype(g, dtype)


def _clone(x):
    return record(_copy(x._a), (x,), "CloneBackward", _identity_bwd)


def _identity_bwd(ns, g):
    return g


def _cumsum(x, axis):
    a = x._a
    axis = _axis(axis, a.ndim)[0] if a.ndim else None
    out = np.cumsum(a, axis=axis) if a.ndim else a.copy()
    return record(out, (x,), "CumsumBackward", _cumsum_bwd, (axis,))


def _cumsum_bwd(ns, g, axis):
    if axis is None:
        return g
    return ns.flip(ns.cumsum(ns.flip(g, axis), axis), axis)


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

def _basic(index):
    """True for an index of ints, slices, None and Ellipsis only (a view)."""
    items = index if isinstance(index, tuple) else (index,)
    return builtins.all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis
               for i in items) and not builtins.any(isinstance(i, builtins.bool) for i in items)


def _index(index):
    """Tensors inside an index become their arrays."""
    if isinstance(index, tuple):
        return tuple(_index(i) for i in index)
    if isinstance(index, TensorBase):
        return index._a
    if isinstance(index, list):
        return np.asarray([i._a if isinstance(i, TensorBase) else i for i in index])
    return index


def _index_on(index, a):
    """An index for values ``a``: its arrays moved to the device of GPU values."""
    if isinstance(index, tuple):
        return tuple(_index_on(i, a) for i in index)
    return gpu.beside(index, a) if isinstance(index, np.ndarray) and index.ndim else index


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


def _write(t, change, name):
    """Change ``t``'s memory with no graph involved (nothing requires grad)."""
    _check_inplace(t, name)
    try:
        change(t._a)
    except ValueError as e:
        if "read-only" in str(e):
            raise RuntimeError(f"{name}: this tensor's memory is read-only (an expand()ed or "
                               f"broadcast view); clone() it first") from None
        raise
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
        if "read-only" in str(e):
            raise RuntimeError(f"{name}: this tensor's memory is read-only (an expand()ed or "
                               f"broadcast view); clone() it first") from None
        raise
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


# ---------------------------------------------------------------------------
# Selection and piecewise functions

def _where(cond, a, b):
    c = _arr(cond).astype(np.bool_, copy=False)
    return record(np.where(c, _value(a), _value(b)), (a, b), "WhereBackward", _where_bwd, (c,))


def _where_bwd(ns, g, c):
    return ns.where(c, g, 0.0), ns.where(c, 0.0, g)


def where(condition, input=None, other=None):
    """``input`` where ``condition`` holds, else ``other`` (differentiable in both).
    With only a condition: the indices where it holds, as NumPy."""
    if input is None and other is None:
        return tuple(engine_wrap(i) for i in np.nonzero(_arr(condition)))
    return _where(condition, input, other)


def clamp(input, min=None, max=None):
    """Values limited to [min, max]; the gradient is 1 inside, 0 outside."""
    x = _ten(input)
    a = x._a
    if min is None and max is None:
        raise RuntimeError("clamp: at least one of min and max must be given")
    if isinstance(min, TensorBase) or isinstance(max, TensorBase):
        # Tensor bounds get the gradient where they bind, as in PyTorch.
        if min is not None:
            x = _where(a < _arr(min), min, x)
        if max is not None:
            x = _where(x._a > _arr(max), max, x)
        return x
    lo = -np.inf if min is None else _value(min)
    hi = np.inf if max is None else _value(max)
    inside = (a >= lo) & (a <= hi)
    out = np.minimum(np.maximum(a, lo), hi).astype(a.dtype, copy=False)
    return record(out, (x,), "ClampBackward", _mask_bwd, (inside,))


clip = clamp


def _mask_bwd(ns, g, mask):
    return ns.where(mask, g, 0.0)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    """NaN and infinities replaced by numbers (as numpy.nan_to_num): derivative
    1 where x is finite, 0 where it was replaced by a constant."""
    x = _ten(input)
    a = x._a
    return record(np.nan_to_num(a, nan=nan, posinf=posinf, neginf=neginf), (x,),
                  "NanToNumBackward", _mask_bwd, (np.isfinite(a),))


def relu(input):
    """max(x, 0), with gradient 0 at 0 (as PyTorch)."""
    x = _ten(input)
    a = x._a
    pos = a > 0
    return record(np.where(pos, a, 0).astype(a.dtype, copy=False), (x,), "ReluBackward",
                  _mask_bwd, (pos,))


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta, linear above ``threshold`` (as PyTorch)."""
    x = _ten(input)
    a = x._a
    z = a * beta
    out = np.where(z > threshold, a, (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / beta)
    return record(out.astype(a.dtype, copy=False), (x,), "SoftplusBackward", _softplus_bwd,
                  (x, beta, threshold))


def _softplus_bwd(ns, g, x, beta, threshold):
    return ns.where(_arr(x) * beta > threshold, g, g * ns.sigmoid(x * beta))


# ---------------------------------------------------------------------------
# Products

def matmul(input, other):
    """Matrix product with NumPy's (and PyTorch's) broadcasting rules."""
    a, b = _arr(input), _arr(other)
    if a.dtype.kind not in "biufc" or b.dtype.kind not in "biufc":
        raise TypeError(f"matmul: unsupported operand types {type(input).__name__} and "
                        f"{type(other).__name__}")
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError("matmul: both arguments need at least one dimension (use * for "
                           "scalars)")
    try:
        out = np.matmul(a, b)
    except ValueError as e:
        raise RuntimeError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied "
                           f"({e})") from None
    # Only the gradients needed are computed: the one of a constant matrix
    # against a batch of cotangents (a Jacobian's rows) is a big outer product.
    need = (isinstance(input, TensorBase) and input.requires_grad,
            isinstance(other, TensorBase) and other.requires_grad)
    return record(out, (input, other), "MmBackward", _matmul_bwd, (input, other, need))


def _matmul_bwd(ns, g, a, b, need=(True, True)):
    a1, b1 = np.ndim(a) == 1, np.ndim(b) == 1
    if a1 and b1:
        return g * b if need[0] else None, g * a if need[1] else None
    if a1:
        a, g = ns.expand_dims(a, 0), ns.expand_dims(g, -2)
    if b1:
        b, g = ns.expand_dims(b, -1), ns.expand_dims(g, -1)
    ga = gb = None
    if need[0]:
        ga = ns.matmul(g, ns.swapaxes(b, -1, -2))
        if a1:
            ga = ns.squeeze(ga, -2)
    if need[1]:
        gb = ns.matmul(ns.swapaxes(a, -1, -2), g)
        if b1:
            gb = ns.squeeze(gb, -1)
    return ga, gb


def dot(input, other):
    """Inner product of two 1-d tensors."""
    if np.ndim(_arr(input)) != 1 or np.ndim(_arr(other)) != 1:
        raise RuntimeError("dot expects two 1-d tensors; use matmul for matrices")
    return matmul(input, other)


def outer(input, vec2):
    """Outer product of two 1-d tensors."""
    return _ten(input).reshape(-1, 1) * _ten(vec2).reshape(1, -1)


def _parse_einsum(subscripts, shapes):
    """Explicit subscripts (``ab,bc->ac``) with any ``...`` spelled out in letters."""
    subscripts = subscripts.replace(" ", "")
    if "->" in subscripts:
        ins, out = subscripts.split("->")
    else:
        ins, out = subscripts, None
    ins = ins.split(",")
    if len(ins) != len(shapes):
        raise RuntimeError(f"einsum: {len(ins)} operands in {subscripts!r}, {len(shapes)} given")
    used = set("".join(ins)) | set(out or "")
    free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used]
    nell = builtins.max([len(s) - len(t.replace("...", "")) for t, s in zip(ins, shapes)
                         if "..." in t] or [0])
    ell = "".join(free[:nell])
    spelled = []
    for t, s in zip(ins, shapes):
        if "..." in t:
            k = len(s) - len(t.replace("...", ""))
            t = t.replace("...", ell[nell - k:])
        spelled.append(t)
    if out is None:
        counts = {}
        for c in "".join(spelled):
            counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c in counts if counts[c] == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
    return spelled, out


def einsum(subscripts, *operands):
    """Einstein summation over tensors (and arrays), differentiable in each operand."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    ins, out = _parse_einsum(subscripts, [np.shape(_arr(o)) for o in operands])
    # A letter repeated within an operand takes its diagonal: that is taken
    # first (a recorded op), leaving an einsum whose operands repeat no letter.
    operands = list(operands)
    for i, t in enumerate(ins):
        while len(set(t)) != len(t):
            c = next(c for c in t if t.count(c) > 1)
            p = t.index(c)
            q = t.index(c, p + 1)
            shape = np.shape(_arr(operands[i]))
            if shape[p] != shape[q]:
                raise ValueError(f"einsum: dimensions in operand {i} for collapsing index "
                                 f"{c!r} don't match ({shape[p]} != {shape[q]})")
            operands[i] = _diagonal(_ten(operands[i]), 0, p, q)
            t = t[:p] + t[p + 1:q] + t[q + 1:] + c
        ins[i] = t
    arrays = [_arr(o) for o in operands]
    value = np.einsum(",".join(ins) + "->" + out, *arrays, optimize=len(arrays) > 2)
    return record(value, tuple(operands), "EinsumBackward", _einsum_bwd,
                  (ins, out, [a.shape for a in arrays], *operands))


def _einsum_bwd(ns, g, ins, out, shapes, *ops):
    grads = []
    for i, t in enumerate(ins):
        others = [(ins[j], ops[j]) for j in range(len(ops)) if j != i]
        have = set(out).union(*[set(s) for s, _ in others])
        kept = "".join(c for c in t if c in have)
        spec = ",".join([out] + [s for s, _ in others]) + "->" + kept
        gi = ns.einsum(spec, g, *[o for _, o in others])
        if kept != t:
            # Indices only operand i had were summed: broadcast back over them.
            for axis, c in enumerate(t):
                if c not in have:
                    gi = ns.expand_dims(gi, axis)
            gi = ns.broadcast_to(gi, shapes[i])
        grads.append(gi)
    return tuple(grads)


def tensordot(a, b, dims=2):
    """Sum of products over ``dims`` (an int: the last dims of a and the first of
    b; or two lists of axes), as torch.tensordot."""
    na, nb = np.ndim(_arr(a)), np.ndim(_arr(b))
    if isinstance(dims, (int, np.integer)):
        da, db = list(range(na - dims, na)), list(range(dims))
    else:
        da, db = dims
        da = [da] if isinstance(da, int) else list(da)
        db = [db] if isinstance(db, int) else list(db)
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    sa = [next(letters) for _ in range(na)]
    sb = [next(letters) for _ in range(nb)]
    for i, j in zip(da, db):
        sb[j % nb] = sa[i % na]
    out = [c for i, c in enumerate(sa) if i not in [d % na for d in da]] + [
        c for j, c in enumerate(sb) if j not in [d % nb for d in db]]
    return einsum("".join(sa) + "," + "".join(sb) + "->" + "".join(out), a, b)


def trace(input):
    """Sum of the main diagonal of a matrix."""
    return _sum(_diagonal(_ten(input), 0, -2, -1), -1)


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


# ---------------------------------------------------------------------------
# Linear algebra

def _solve(a, b):
    A, B = a._a, b._a
    vector = B.ndim == 1
    try:
        x = np.linalg.solve(A, B)
    except np.linalg.LinAlgError as e:
        raise RuntimeError(f"linalg.solve: {e}; the matrix must be square and invertible") from None
    return record(x, (a, b), "LinalgSolveBackward", _solve_bwd, (a, OUT, vector))


def _solve_bwd(ns, g, a, x, vector):
    gb = ns.solve(ns.swapaxes(a, -1, -2), g)
    if vector:
        ga = -(ns.expand_dims(gb, -1) * ns.expand_dims(x, -2))
    else:
        ga = -ns.matmul(gb, ns.swapaxes(x, -1, -2))
    return ga, gb


def _inv(a):
    try:
        y = np.linalg.inv(a._a)
    except np.linalg.LinAlgError as e:
        raise RuntimeError(f"linalg.inv: {e}; the matrix must be square and invertible") from None
    return record(y, (a,), "LinalgInvBackward", _inv_bwd, (OUT,))


def _inv_bwd(ns, g, y):
    yt = ns.swapaxes(y, -1, -2)
    return -ns.matmul(ns.matmul(yt, g), yt)


def _det(a):
    return record(np.linalg.det(a._a), (a,), "LinalgDetBackward", _det_bwd, (a, OUT))


def _det_bwd(ns, g, a, d):
    scale = ns.expand_dims(ns.expand_dims(g * d, -1), -1)
    return scale * ns.swapaxes(ns.inv(a), -1, -2)


def _slogdet(a):
    sign, logdet = np.linalg.slogdet(a._a)
    return record((sign, logdet), (a,), "LinalgSlogdetBackward", _slogdet_bwd, (a,))


def _slogdet_bwd(ns, gs, a):
    scale = ns.expand_dims(ns.expand_dims(gs[1], -1), -1)
    return scale * ns.swapaxes(ns.inv(a), -1, -2)


def _cholesky(a):
    try:
        L = np.linalg.cholesky(a._a)
    except np.linalg.LinAlgError as e:
        raise RuntimeError(f"linalg.cholesky: {e}; the matrix must be symmetric positive "
                           f"definite") from None
    return record(L, (a,), "LinalgCholeskyBackward", _cholesky_bwd, (OUT,))


def _cholesky_bwd(ns, g, L):
    # Murray (2016): S = L^-T Phi(L^T G) L^-1, symmetrised; Phi keeps the lower
    # triangle and halves the diagonal.
    n = np.shape(L)[-1]
    P = ns.matmul(ns.swapaxes(L, -1, -2), g)
    P = ns.tril(P, 0) - 0.5 * P * gpu.beside(np.eye(n), _arr(P))
    Lt = ns.swapaxes(L, -1, -2)
    S = ns.swapaxes(ns.solve(Lt, ns.swapaxes(ns.solve(Lt, P), -1, -2)), -1, -2)
    return 0.5 * (S + ns.swapaxes(S, -1, -2))


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
    return _sum(centred * centred, dim, keepdim) / builtins.max(n - correction, 0)


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


def squeeze(input, dim=None):
    """Dimensions of size 1 removed (all, or those in ``dim``)."""
    return _squeeze(_ten(input), dim)


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


def repeat(input, *sizes):
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


def astype(input, dtype, order="K", casting="unsafe", subok=True, copy=True):
    """A copy of another dtype, as ``ndarray.astype`` (``to(dtype)``)."""
    x = _ten(input)
    out = _astype(x, dtype)
    return clone(out) if out is x and copy else out


def _c_order(name, order):
    if order not in ("C", "K", "A"):
        raise NotImplementedError(f"{name}(order={order!r}): Tensors are in C order only")


def contiguous(input):
    x = _ten(input)
    return x if x._a.flags.c_contiguous else _clone(x)


def mm(input, mat2):
    """Matrix product (``matmul``)."""
    return matmul(input, mat2)


# ---------------------------------------------------------------------------
# dtype conversions and properties

def to(input, *args, **kwargs):
    """``to(dtype)``, ``to("cpu")``, ``to(other)``: a copy of another dtype
    (differentiable), or the tensor itself when nothing changes."""
    x = _ten(input)
    dtype = kwargs.pop("dtype", None)
    device = kwargs.pop("device", None)
    kwargs.pop("copy", None)
    kwargs.pop("non_blocking", None)
    if kwargs:
        raise TypeError(f"to() got unexpected arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, TensorBase):
            dtype, device = a._a.dtype, gpu.device_of(a._a)
        elif isinstance(a, gpu.device) or isinstance(a, str) and not a.startswith(
                ("float", "int", "bool", "dualgrad.")):
            device = a
        else:
            dtype = a
    device = _check_device(device)
    if dtype is not None:
        x = _astype(x, dtype)
    if device is not None and device != gpu.device_of(x._a):
        x = _to_device(x, device)
    return x


def _to_device(x, device):
    return record(gpu.to_device(x._a, device), (x,), "ToCopyBackward", _to_device_bwd,
                  (gpu.device_of(x._a),))


def _to_device_bwd(ns, g, device):
    return ns.to_device(g, device)


def to_float(input):
    return _astype(_ten(input), float32)


def to_double(input):
    return _astype(_ten(input), float64)


def to_half(input):
    return _astype(_ten(input), float16)


def to_long(input):
    return _astype(_ten(input), int64)


def to_int(input):
    return _astype(_ten(input), int32)


def to_bool(input):
    return _astype(_ten(input), np.bool_)


def type_as(input, other):
    return _astype(_ten(input), _arr(other).dtype)


def cpu(input):
    """The tensor on the CPU: itself if it is there, else a copy (differentiable)."""
    return to(input, "cpu")


def cuda(input, device=None):
    """The tensor on GPU ``device`` (default: the current one): itself if it is
    there, else a copy (differentiable)."""
    if device is None or isinstance(device, int):
        return to(input, gpu.device("cuda", device))
    return to(input, device)


def prop_shape(x):
    return x._a.shape


def prop_dtype(x):
    return x._a.dtype


def prop_ndim(x):
    return x._a.ndim


def prop_T(x):
    return _transpose(x)


def prop_mT(x):
    return _swapaxes(x, -2, -1)


def prop_device(x):
    return gpu.device_of(x._a)


def size(input, dim=None):
    s = _arr(input).shape
    return s if dim is None else s[dim]


def dim(input):
    return _arr(input).ndim


ndimension = dim


def numel(input):
    """The number of elements."""
    return _arr(input).size


nelement = numel


def is_floating_point(input):
    return _arr(input).dtype.kind == "f"


def element_size(input):
    return _arr(input).itemsize


def scalar_value(x):
    a = x._a
    if a.size != 1:
        raise RuntimeError(f"a Tensor with {a.size} elements cannot be converted to a Python "
                           f"number")
    return a.reshape(())[()]


def item(input):
    """The value of a one-element tensor as a Python number."""
    return scalar_value(_ten(input)).item()


def tolist(input):
    return _arr(input).tolist()


def numpy(input, force=False):
    """The values as an ndarray sharing memory. Raises for a tensor that requires
    grad (use ``detach().numpy()``), as PyTorch."""
    x = _ten(input)
    if x.requires_grad and not force:
        raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                           "tensor.detach().numpy() instead.")
    if gpu.is_device_array(x._a):
        raise TypeError(f"can't convert a {gpu.device_of(x._a)} tensor to a NumPy array: use "
                        f"tensor.cpu() to copy it to host memory first")
    return x._a


def new_zeros(input, *size, dtype=None, requires_grad=False, device=None):
    a = _arr(input)
    return zeros(*size, dtype=dtype or a.dtype, requires_grad=requires_grad,
                 device=device or gpu.device_of(a))


def new_ones(input, *size, dtype=None, requires_grad=False, device=None):
    a = _arr(input)
    return ones(*size, dtype=dtype or a.dtype, requires_grad=requires_grad,
                device=device or gpu.device_of(a))


def new_tensor(input, data, dtype=None, requires_grad=False, device=None):
    a = _arr(input)
    return tensor(data, dtype=dtype or a.dtype, requires_grad=requires_grad,
                  device=device or gpu.device_of(a))


def masked_fill(input, mask, value):
    return _where(_arr(mask), value, _ten(input))


def logical(fn, *args):
    return engine_wrap(fn(*[_arr(a) for a in args]))


def rebuild(array, requires_grad):
    return _leaf(_copy(array), requires_grad)


def deepcopy(x, memo):
    if not x.is_leaf:
        raise RuntimeError("Only tensors created explicitly by the user (graph leaves) support "
                           "the deepcopy protocol; deepcopy x.detach() instead")
    new = _leaf(_copy(x._a), x.requires_grad)
    if x.grad is not None:
        new.grad = _leaf(_copy(x.grad._a), False)
    memo[id(x)] = new
    return new


# ---------------------------------------------------------------------------
# repr, as PyTorch

def _format(a):
    """The values as PyTorch prints them: ``2.`` for whole numbers, else four
    decimals (or scientific notation for very large or small magnitudes),
    right-aligned to one width."""
    if a.dtype.kind != "f" or not a.size:
        return np.array2string(a, separator=", ", prefix="tensor(", threshold=1000, edgeitems=3)
    finite = a[np.isfinite(a)].astype(np.float64)
    big = finite.size and np.max(np.abs(finite)) >= 1e8
    tiny = finite.size and 0 < np.min(np.abs(finite[finite != 0]), initial=np.inf) < 1e-4
    if finite.size and not big and np.all(finite == np.round(finite)):
        def fmt(v):
            return f"{v:.0f}." if np.isfinite(v) else str(v)
    elif big or tiny:
        def fmt(v):
            return f"{v:.4e}" if np.isfinite(v) else str(v)
    else:
        def fmt(v):
            return f"{v:.4f}" if np.isfinite(v) else str(v)
    # The widest strings are those of the extremes (and of nan/inf).
    probes = list(finite[[np.argmin(finite), np.argmax(finite)]]) if finite.size else []
    probes += [v for v in (np.nan, np.inf, -np.inf) if np.any(np.isnan(a) if v != v else a == v)]
    width = builtins.max(len(fmt(v)) for v in probes)
    return np.array2string(a, separator=", ", formatter={"float_kind": lambda v: fmt(v).rjust(
        width)}, prefix="tensor(", threshold=1000, edgeitems=3)


def tensor_repr(x):
    a = x._a
    extra = []
    if gpu.is_device_array(a):
        extra.append(f"device='{gpu.device_of(a)}'")
        a = a.get()
    body = _format(a)
    if a.dtype not in (_default_dtype[0], np.dtype(np.int64), np.dtype(np.bool_)):
        extra.append(f"dtype=dualgrad.{a.dtype.name}")
    if a.size == 0 and a.ndim != 1:
        extra.append(f"size={a.shape}")
    if x.grad_fn is not None:
        extra.append(f"grad_fn=<{x.grad_fn.name()}>")
    elif x.requires_grad:
        extra.append("requires_grad=True")
    return "tensor(" + ", ".join([body] + extra) + ")"


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


# ---------------------------------------------------------------------------

engine.configure(Tensor, N, T)
_tensor.install(__import__(__name__, fromlist=["_"]))
