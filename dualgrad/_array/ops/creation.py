"""Making tensors: from data (``tensor``, ``as_tensor``, ``from_numpy``), filled
(``zeros``, ``full``, ``arange``, ``eye``, ...), random (``rand``, ``randn``),
shaped like another (``zeros_like``, ...) and ``x.new_zeros``; the arguments a
functional transform differentiates (``as_input``).
"""

import builtins
import threading

import numpy as np

from dualgrad import gpu
from dualgrad._array.dualarray import DualArray, make as _dual
from dualgrad._array.engine import TensorBase
from dualgrad._array.ops._base import (_arr, _check_device, _default_dtype, _dtype, _leaf, _shape,
                                       engine_wrap, int64)
from dualgrad._array.ops.conversions import to


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


def _on(a, device):
    """Array ``a`` on ``device`` (None: where it is)."""
    return a if device is None else gpu.to_device(a, device)


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
