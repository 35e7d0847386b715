"""Conversions and introspection: dtype and device (``astype``, ``to``,
``x.float()``, ``cpu``, ``cuda``), the properties Tensor exposes (``shape``,
``T``, ``device``, ...), sizes, Python values (``item``, ``tolist``,
``numpy``), pickling and deepcopy, and repr as PyTorch prints it.
"""

import builtins
import operator

import numpy as np

from dualgrad import gpu
from dualgrad._array.composites import values_of as _values_of
from dualgrad._array.engine import TensorBase, record
from dualgrad._array.ops._base import (_arr, _check_device, _copy, _default_dtype, _dtype, _leaf,
                                       _ten, engine_wrap, float16, float32, float64, int32, int64)
from dualgrad._array.dualarray import DualArray
from dualgrad._array.ops import elementwise as _elementwise
from dualgrad._array.ops.shapes import _reshape, _swapaxes, _transpose, clone, getitem
from dualgrad._levels import frames


# ---------------------------------------------------------------------------
# dtype conversions and properties

def _astype(x, dtype):
    a = x._a
    dtype = _dtype(dtype)
    if a.dtype == dtype:
        return x
    if x.requires_grad and dtype.kind not in "fc":
        return engine_wrap(a.astype(dtype))  # an integer copy carries no gradient
    return record(a.astype(dtype), (x,), "ToCopyBackward", _astype_bwd, (a.dtype,))


def _astype_bwd(ns, g, dtype):
    if dtype.kind != "c":
        g = ns.real(g)      # real values made complex: the gradient's real part
    return ns.astype(g, dtype)


def astype(input, dtype, order="K", casting="unsafe", subok=True, copy=True):
    """A copy of another dtype, as ``ndarray.astype`` (``to(dtype)``)."""
    x = _ten(input)
    out = _astype(x, dtype)
    return clone(out) if out is x and copy else out


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


def prop_real(x):
    return _elementwise.real(x)


def prop_imag(x):
    return _elementwise.imag(x)


def prop_nbytes(x):
    return _values_of(x).nbytes


def prop_itemsize(x):
    return _values_of(x).itemsize


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


def _traced(x):
    """Whether ``x`` carries derivatives of a dualgrad transform running now: NumPy
    code under dg.grad and the like, whose numbers must keep them (as on DualArrays)."""
    return bool(frames()) and (x.requires_grad or type(x._a) is DualArray)


def item(input, *args):
    """The value of a one-element tensor as a Python number (NumPy's ``a.item(i)``
    picks one element). Inside a dualgrad transform, a tensor that carries its
    derivatives gives a 0-d tensor instead, as a DualArray does: a Python
    number would drop them."""
    x = _ten(input)
    if not _traced(x):
        return scalar_value(x).item() if not args else _arr(x).item(*args)
    if not args:
        scalar_value(x)         # one element, or its error
        return _reshape(x, ())
    if len(args) == 1 and not isinstance(args[0], tuple):
        return getitem(_reshape(x, (-1,)), operator.index(args[0]))
    return getitem(x, args[0] if len(args) == 1 else args)


def tolist(input):
    """Nested lists of Python numbers; inside a dualgrad transform, of 0-d tensors
    for a tensor that carries its derivatives (see :func:`item`)."""
    x = _ten(input)
    if not _traced(x):
        return _arr(x).tolist()
    if x._a.ndim == 0:
        return x
    return [tolist(getitem(x, i)) for i in range(x._a.shape[0])]


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
