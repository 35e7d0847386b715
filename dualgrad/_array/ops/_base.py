"""What every part of the op library shares: dtypes and the default dtype, the
helpers that make tensors and take operands apart, and :class:`NumpyNS`, the
namespace backward rules run against on ndarrays (its recorded twin,
:class:`TensorNS`, is in ``tensor_ns.py``, above the operations it records).
"""

import builtins
import functools

import numpy as np

from dualgrad import gpu
from dualgrad._array import engine
from dualgrad._array.dualarray import (DualArray, any_complex as _any_complex, chain as _chain,
                                      chain_both as _chain_both,
                                       make as _dual)
from dualgrad._array import tensor as _tensor
from dualgrad._array.engine import TensorBase, share_version
from dualgrad._rules.table import RULES

OUT = engine.out(0)  # in ``saved``: the operation's output (its values, not the Tensor)

# ---------------------------------------------------------------------------
# dtypes

float16 = half = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = double = np.dtype(np.float64)
int64 = long = np.dtype(np.int64)
int32 = np.dtype(np.int32)
complex64 = cfloat = np.dtype(np.complex64)
complex128 = cdouble = np.dtype(np.complex128)
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
                        f"complex128, complex64, int64 or bool") from None


# ---------------------------------------------------------------------------
# Making tensors (the helpers; the functions are in creation.py)

def _leaf(a, requires_grad):
    t = engine_wrap(a)
    if requires_grad:
        t.requires_grad_(True)
    return t


engine_wrap = engine.tensor_of


def _check_device(device):
    """``device`` as a :class:`dualgrad.device` (None stays None); a GPU device
    needs CuPy."""
    if device is None:
        return None
    device = gpu.device(device)
    if device.type == "cuda":
        gpu.cupy()
    return device


def _shape(size):
    """A size given as separate ints, one sequence, or a 1-d tensor, as a tuple of ints."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    if len(size) == 1 and isinstance(size[0], TensorBase):
        size = tuple(size[0].tolist())
    return tuple(int(s) for s in size)


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
    if type(x) is np.ndarray and x.dtype == object:
        # np.array([...]) of 0-d traced numbers, which NumPy holds as objects
        from dualgrad._array.composites import from_objects
        c = from_objects(x)
        if c is not None:
            return c if isinstance(c, TensorBase) else engine_wrap(c)
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
# Indexing (the helpers; x[index] is in shapes.py)

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


# ---------------------------------------------------------------------------
# The namespaces backward rules run against: NumpyNS here, TensorNS in
# tensor_ns.py. Both provide the table's rows by name, ``where``, ``chain`` (the
# chain rule's NaN-safe product partial * g, exactly 0 where g is 0),
# ``chain_both`` (exactly 0 where either factor is 0) and the functions listed
# in them with NumPy's signatures.

def _conj_if_complex(a):
    """The conjugate of complex values; real values as they are (no copy): the
    backward rules of products conjugate their saved operands, PyTorch's
    gradient of a holomorphic map being g * conj(f'(z))."""
    if type(a) is np.ndarray:
        return np.conjugate(a) if a.dtype.kind == "c" else a
    return np.conjugate(a) if _any_complex(a) else a


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
    real = staticmethod(np.real)
    imag = staticmethod(np.imag)
    conj = staticmethod(_conj_if_complex)

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


for _r in RULES:
    setattr(NumpyNS, _r.name, staticmethod(
        getattr(np, _r.ufuncs[0]) if _r.ufuncs
        else functools.partial(_tensor.array_function, _r.opcode)))

N = NumpyNS()
