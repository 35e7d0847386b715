"""The GPU path: the array tier on CuPy arrays.

A :class:`~dualgrad.Tensor` or a :class:`~dualgrad.DualArray` may hold CuPy
arrays instead of NumPy arrays; everything the array tier does then runs on the
GPU. The table's elementwise rows run in CUDA kernels compiled from the ``.cu``
files beside this module, which include the one derivative table
(``_rules/rules.h``), so the GPU computes the formulas the CPU tests check:

- a Tensor operation's value (``kernels/value.cu``),
- a DualArray operation's value and tangents, fused (``kernels/dual.cu``),
- a backward rule's ``g * derivative``, fused (``kernels/grad.cu``).

Reductions, matrix products, indexing and the rest are CuPy's own functions,
reached through NumPy's dispatch (``__array_function__``).

CuPy is optional (``pip install "dualgrad[gpu]"``): importing dualgrad never
imports it, and a CuPy array exists only once its user imported CuPy.
"""

import sys

import numpy as np

from dualgrad._array.dualarray import DualArray
from dualgrad._array.engine import TensorBase

_cupy = None  # the CuPy module, once used (tests may install a stand-in)


def cupy():
    """The CuPy module, imported on first use."""
    global _cupy
    if _cupy is None:
        try:
            import cupy as cp
        except ImportError as e:
            raise RuntimeError(
                "the 'cuda' device needs CuPy, which is not installed: "
                "pip install \"dualgrad[gpu]\" (or the cupy-cuda1Nx wheel of your CUDA)") from e
        _cupy = cp
    return _cupy


def is_available():
    """Whether a CUDA device can be used: CuPy imports and sees at least one GPU."""
    try:
        return cupy().cuda.runtime.getDeviceCount() > 0
    except Exception:       # no CuPy, no driver, no device: all mean "no"
        return False


def device_count():
    """The number of GPUs CuPy sees (0 without CuPy or a driver)."""
    return cupy().cuda.runtime.getDeviceCount() if is_available() else 0


def synchronize():
    """Wait for the current GPU to finish its work (kernels run asynchronously),
    as ``torch.cuda.synchronize``: for timing."""
    cupy().cuda.Device().synchronize()


def is_device_array(a):
    """Whether ``a`` is a GPU array (a CuPy ndarray)."""
    cp = _cupy if _cupy is not None else sys.modules.get("cupy")
    return cp is not None and isinstance(a, cp.ndarray)


# ---------------------------------------------------------------------------
# Devices

class device:
    """Where an array lives, as ``torch.device``: ``device("cpu")``,
    ``device("cuda")`` (the current GPU), ``device("cuda:1")`` or
    ``device("cuda", 1)``. Compares equal to its string (``"cuda:0"``); the
    current GPU without an index equals its numbered form."""

    __slots__ = ("type", "index")

    def __init__(self, type, index=None):
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        type = str(type)
        if ":" in type:
            type, _, number = type.partition(":")
            if index is not None or not number.isdigit():
                raise RuntimeError(f"invalid device string: {type}:{number}")
            index = int(number)
        if type not in ("cpu", "cuda"):
            raise RuntimeError(f"expected a device of type cpu or cuda, not {type!r}")
        if type == "cpu" and index not in (None, 0):
            raise RuntimeError(f"there is one cpu device, not cpu:{index}")
        self.type = type
        self.index = None if type == "cpu" else index

    def resolved(self):
        """This device with the current GPU's number in place of None."""
        if self.type == "cuda" and self.index is None:
            return device("cuda", cupy().cuda.Device().id)
        return self

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except RuntimeError:
                return False
        if not isinstance(other, device):
            return NotImplemented
        if self.type != other.type:
            return False
        return self.index == other.index or self.resolved().index == other.resolved().index

    def __hash__(self):
        return hash(str(self.resolved()))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        if self.index is None:
            return f"device(type={self.type!r})"
        return f"device(type={self.type!r}, index={self.index})"


CPU = device("cpu")


def device_of(a):
    """The device of an array, a DualArray or a Tensor's values."""
    while isinstance(a, (DualArray, TensorBase)):
        a = a.value if isinstance(a, DualArray) else a._a
    if is_device_array(a):
        return device("cuda", a.device.id)
    return CPU


def to_device(a, where):
    """Array ``a`` (NumPy or CuPy) on device ``where``: itself if it is there,
    else a copy."""
    where = device(where).resolved()
    if where.type == "cpu":
        return a.get() if is_device_array(a) else a
    cp = cupy()
    if is_device_array(a) and a.device.id == where.index:
        return a
    with cp.cuda.Device(where.index):
        return cp.asarray(a) if not is_device_array(a) else a.copy()


def beside(array, like):
    """A NumPy ``array`` that the library made (zeros, a mask, indices) on the
    device of ``like`` (an array, a DualArray or a Tensor's values)."""
    where = device_of(like)
    return array if where.type == "cpu" else to_device(array, where)


def check_same_device(*arrays):
    """Raise a clear error if array operands of one operation live on different
    devices (numbers and 0-d NumPy values go anywhere, as in PyTorch)."""
    first = None
    for a in arrays:
        if a is None or isinstance(a, (int, float, complex, np.generic)):
            continue
        if isinstance(a, np.ndarray) and a.ndim == 0:
            continue
        d = device_of(a)
        if first is None:
            first = d
        elif d != first:
            raise RuntimeError(
                f"Expected all tensors to be on the same device, but found at least two "
                f"devices, {first} and {d}: move one with .to({str(first)!r}) (or .cuda(), "
                f".cpu()) before combining them")
    return first if first is not None else CPU


# The array tier reaches the kernels through these hooks (the compiled modules
# cannot import this package, which imports them).
from dualgrad._array import dualarray as _dualarray, tensor as _tensor  # noqa: E402
from dualgrad.gpu import rows as _rows  # noqa: E402

_tensor.install_gpu(_rows, is_device_array, check_same_device)
_dualarray.install_gpu(_rows, is_device_array)
