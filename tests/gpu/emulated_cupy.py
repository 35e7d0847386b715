"""A CPU emulation of the part of CuPy that dualgrad's GPU backend uses.

What it is for: running the GPU code path, and the real CUDA kernel sources
(``.cu``) it launches, on a machine without a GPU, e.g. in CI. Substitute it
for CuPy (tests/conftest.py's ``cp`` fixture installs it as ``dualgrad.gpu``'s
CuPy) and the backend runs unchanged: arrays are NumPy arrays behind a CuPy-like
:class:`ndarray`, and ``RawModule``/``RawKernel`` compile the kernel sources
with g++ (``emulation.h`` is force-included to define the CUDA keywords) and
call them through ctypes. Each launch is a single call, a grid of one block of
one thread: the project's kernels are grid-stride loops, so that one thread
computes every element.

What it checks:

* the conversions CuPy refuses: ``np.asarray`` of a device array, mixing
  device arrays with NumPy arrays (0-d ones too; NumPy scalars are fine) in
  ufuncs, NumPy functions, indices, assignments and kernel arguments; CuPy's
  messages;
* that reductions give 0-d arrays, not scalars, as on a GPU;
* the kernels' C++ syntax, their arguments' types (arrays become pointers,
  None a NULL pointer, NumPy scalars their C types) and their arithmetic.

What it cannot check: CUDA-specific semantics (the device's math library
may differ from glibc's in the last bit, as FMA contraction may unless
``--fmad=false``; shared memory and warp intrinsics are not emulated), races
and other consequences of real concurrency (the single thread makes every
kernel sequential, atomics included), asynchronous launches, and performance.
"""

import atexit
import ctypes
import functools
import hashlib
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types

import numpy as np

__version__ = "emulated"
EMULATED = True

_HEADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "emulation.h")
_IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. "
             "Please use `.get()` to construct a NumPy array explicitly.")
# Functions whose result describes arrays rather than being one: left as NumPy returns them.
_PLAIN = {np.shape, np.ndim, np.size, np.result_type, np.may_share_memory, np.shares_memory,
          np.array_equal, np.allclose, np.isscalar}


def _unsupported(x):
    return TypeError(f"Unsupported type {type(x)}")


def _unwrap(x, host_ok=False):
    """NumPy's view of an argument, emulated arrays unwrapped inside lists, tuples and dicts too.

    A NumPy array with dimensions would be host memory on a GPU: refused unless
    host_ok (the transfers asarray and array)."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, np.ndarray) and not host_ok:
        raise _unsupported(x)
    if type(x) in (list, tuple):
        return type(x)(_unwrap(v, host_ok) for v in x)
    if isinstance(x, dict):
        return {k: _unwrap(v, host_ok) for k, v in x.items()}
    return x


def _new(a):
    """An emulated array around the NumPy array a (shared, not copied)."""
    obj = object.__new__(ndarray)
    obj._a = a
    return obj


def _wrap(x, keep=()):
    """Device arrays for NumPy's results; NumPy scalars become 0-d arrays, as CuPy returns.

    A result that is the buffer of an array in keep (an out= argument, or self for
    astype(copy=False)) is that array itself, so identity is kept as CuPy keeps it."""
    for k in keep:
        if isinstance(k, ndarray) and x is k._a:
            return k
    if isinstance(x, np.ndarray):
        return _new(x)
    if isinstance(x, np.generic):
        return _new(np.asarray(x))
    if isinstance(x, list):
        return [_wrap(v, keep) for v in x]
    if isinstance(x, tuple):
        items = [_wrap(v, keep) for v in x]
        return type(x)(*items) if hasattr(x, "_fields") else tuple(items)
    if isinstance(x, (np.random.Generator, np.random.RandomState)):
        return _Namespace(x)
    return x


def _outs(kwargs):
    out = kwargs.get("out")
    return out if isinstance(out, tuple) else (out,)


def _call(func, args, kwargs):
    res = func(*_unwrap(args), **_unwrap(kwargs))
    return res if func in _PLAIN else _wrap(res, _outs(kwargs))


def _function(func):
    return functools.wraps(func)(lambda *args, **kwargs: _call(func, args, kwargs))


def _apply_ufunc(ufunc, method, inputs, kwargs):
    if method == "__call__":
        # CuPy's ufuncs take device arrays and scalars only: no lists, no host arrays.
        for x in inputs:
            if not isinstance(x, (ndarray, bool, int, float, complex, np.generic)):
                raise _unsupported(x)
    res = getattr(ufunc, method)(*_unwrap(inputs), **_unwrap(kwargs))
    return _wrap(res, _outs(kwargs))


class _Ufunc:
    """A NumPy ufunc seen from the emulator: cupy.exp, cupy.add.reduce, ..."""

    def __init__(self, ufunc):
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *args, **kwargs):
        return _apply_ufunc(self._ufunc, "__call__", args, kwargs)

    def __getattr__(self, name):
        if name in ("reduce", "accumulate", "reduceat", "outer", "at"):
            return lambda *args, **kwargs: _apply_ufunc(self._ufunc, name, args, kwargs)
        return getattr(self._ufunc, name)


class _Namespace:
    """A NumPy submodule or random generator whose functions return emulated arrays."""

    def __init__(self, target):
        self._target = target

    def __getattr__(self, name):
        attr = getattr(self._target, name)
        return _function(attr) if callable(attr) and not isinstance(attr, type) else attr

    def __repr__(self):
        return f"<emulated {self._target!r}>"


def _plain(name):
    return property(lambda self: getattr(self._a, name))


def _view(name):
    return property(lambda self: _new(getattr(self._a, name)))


def _method(name):
    def method(self, *args, **kwargs):
        return _wrap(getattr(self._a, name)(*_unwrap(args), **_unwrap(kwargs)), (self,))
    method.__name__ = name
    return method


def _defer(other):
    """Whether a binary operator leaves the operation to other's reflected method, as CuPy does."""
    return (getattr(other, "__array_ufunc__", 0) is None
            or getattr(other, "__array_priority__", 0) > ndarray.__array_priority__)


def _binary(ufunc):
    def op(self, other):
        return NotImplemented if _defer(other) else ufunc(self, other)

    def rop(self, other):
        return NotImplemented if _defer(other) else ufunc(other, self)

    def iop(self, other):
        return NotImplemented if _defer(other) else ufunc(self, other, out=(self,))
    return op, rop, iop


def _equality(ufunc, equal):
    op = _binary(ufunc)[0]

    def compare(self, other):
        # As CuPy: objects without their own equality (None, Ellipsis, ...) compare
        # elementwise by identity, which no element has with them.
        if other is None or type(other).__eq__ is object.__eq__:
            return _new(np.full(self.shape, not equal))
        return op(self, other)
    return compare


def _unary(ufunc):
    return lambda self: ufunc(self)


def _forward(name):
    return lambda self, *args: getattr(self._a, name)(*args)


class ndarray:
    """A device array: a NumPy array that refuses to mix with NumPy arrays, as CuPy's does."""

    __slots__ = ("_a",)
    __array_priority__ = 100
    __hash__ = None

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        if memptr is not None or strides is not None:
            raise NotImplementedError("the emulator allocates its own arrays: no memptr, no strides")
        self._a = np.empty(shape, dtype, order)

    def __array__(self, dtype=None, copy=None):
        raise TypeError(_IMPLICIT)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # Another library's array type (with its own __array_ufunc__) gets its turn.
        if any(hasattr(type(x), "__array_ufunc__") and not isinstance(x, (ndarray, np.ndarray, np.generic))
               for x in inputs):
            return NotImplemented
        return _apply_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if not all(issubclass(t, (ndarray, np.ndarray)) for t in types):
            return NotImplemented
        return _call(func, args, kwargs)

    shape, dtype, ndim, size, itemsize, nbytes, strides, flags = map(
        _plain, ("shape", "dtype", "ndim", "size", "itemsize", "nbytes", "strides", "flags"))
    T, mT, real, imag = map(_view, ("T", "mT", "real", "imag"))

    @property
    def device(self):
        return _Device(0)

    @property
    def data(self):
        return types.SimpleNamespace(ptr=self._a.ctypes.data)

    @property
    def __cuda_array_interface__(self):
        return {"shape": self.shape, "typestr": self.dtype.str, "data": (self._a.ctypes.data, False),
                "strides": None if self.flags.c_contiguous else self.strides, "version": 3}

    def get(self, stream=None, order="C"):
        """A NumPy copy (the device-to-host transfer)."""
        return self._a.copy(order=order)

    def set(self, arr, stream=None):
        """Overwrite with the host array arr (the host-to-device transfer)."""
        self._a[...] = arr

    def __copy__(self, memo=None):
        return _new(self._a.copy())

    __deepcopy__ = __copy__

    def __getitem__(self, key):
        key = _unwrap(key)
        res = self._a[key]
        if isinstance(res, np.generic):
            # CuPy gives a 0-d view where NumPy gives a scalar; a trailing Ellipsis makes NumPy do so too.
            res = self._a[(key if isinstance(key, tuple) else (key,)) + (Ellipsis,)]
        return _new(res)

    def __setitem__(self, key, value):
        self._a[_unwrap(key)] = _unwrap(value)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self)))

    __bool__, __float__, __int__, __complex__, __index__, __repr__, __str__, __format__ = map(
        _forward, ("__bool__", "__float__", "__int__", "__complex__", "__index__", "__repr__", "__str__",
                   "__format__"))

    def __getattr__(self, name):
        # The long tail of methods, forwarded to NumPy; never dunders (NumPy's
        # __array_interface__ would open the implicit conversion CuPy refuses).
        if name.startswith("_") or not callable(getattr(np.ndarray, name, None)):
            raise AttributeError(f"'ndarray' object has no attribute {name!r}")
        return types.MethodType(_method(name), self)

    __add__, __radd__, __iadd__ = _binary(np.add)
    __sub__, __rsub__, __isub__ = _binary(np.subtract)
    __mul__, __rmul__, __imul__ = _binary(np.multiply)
    __truediv__, __rtruediv__, __itruediv__ = _binary(np.true_divide)
    __floordiv__, __rfloordiv__, __ifloordiv__ = _binary(np.floor_divide)
    __mod__, __rmod__, __imod__ = _binary(np.remainder)
    __pow__, __rpow__, __ipow__ = _binary(np.power)
    __matmul__, __rmatmul__, __imatmul__ = _binary(np.matmul)
    __lshift__, __rlshift__, __ilshift__ = _binary(np.left_shift)
    __rshift__, __rrshift__, __irshift__ = _binary(np.right_shift)
    __and__, __rand__, __iand__ = _binary(np.bitwise_and)
    __or__, __ror__, __ior__ = _binary(np.bitwise_or)
    __xor__, __rxor__, __ixor__ = _binary(np.bitwise_xor)
    __divmod__, __rdivmod__ = _binary(np.divmod)[:2]
    __eq__, __ne__ = _equality(np.equal, True), _equality(np.not_equal, False)
    __lt__, __le__, __gt__, __ge__ = (
        _binary(u)[0] for u in (np.less, np.less_equal, np.greater, np.greater_equal))
    __neg__, __pos__, __abs__, __invert__ = map(_unary, (np.negative, np.positive, np.absolute, np.invert))


for _name in ("astype", "copy", "reshape", "ravel", "flatten", "transpose", "swapaxes", "squeeze",
              "sum", "prod", "mean", "var", "std", "max", "min", "any", "all", "argmax", "argmin",
              "cumsum", "cumprod", "dot", "clip", "conj", "conjugate", "fill", "item", "tolist", "view",
              "diagonal", "repeat", "take", "nonzero", "round", "sort", "argsort"):
    setattr(ndarray, _name, _method(_name))


def asarray(a, dtype=None, order=None):
    """An emulated array of a; a itself when it is one already and dtype does not change."""
    if isinstance(a, ndarray):
        return _wrap(a._a.astype(dtype or a.dtype, order=order or "K", copy=False), (a,))
    # From the host, always a copy: the transfer puts the data in device memory.
    return _new(np.array(_unwrap(a, host_ok=True), dtype=dtype, order=order or "K"))


asanyarray = asarray


def array(a, dtype=None, copy=True, order="K", ndmin=0):
    """A copy of a on the device (for an emulated a with copy=False, only if needed)."""
    if isinstance(a, ndarray):
        return _wrap(np.array(a._a, dtype=dtype, copy=copy or None, order=order, ndmin=ndmin), (a,))
    return _new(np.array(_unwrap(a, host_ok=True), dtype=dtype, order=order, ndmin=ndmin))


def ascontiguousarray(a, dtype=None):
    a = asarray(a, dtype)
    return _wrap(np.ascontiguousarray(a._a), (a,))


def asnumpy(a, stream=None):
    """A NumPy copy of an emulated array; anything else goes through np.asarray."""
    return a.get() if isinstance(a, ndarray) else np.asarray(a)


def get_array_module(*args):
    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in args) else np


def __getattr__(name):
    """NumPy's other names: functions wrapped to take and return emulated arrays, types as they are."""
    if name.startswith("_") or not hasattr(np, name):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    attr = getattr(np, name)
    if isinstance(attr, np.ufunc):
        attr = _Ufunc(attr)
    elif isinstance(attr, types.ModuleType):
        attr = _Namespace(attr)
    elif callable(attr) and not isinstance(attr, type):
        attr = _function(attr)
    globals()[name] = attr
    return attr


linalg = _Namespace(np.linalg)
random = _Namespace(np.random)


class _Synchronous:
    """Launches and copies complete before they return: there is never anything to wait for."""

    def synchronize(self):
        pass

    def use(self):
        return self

    __enter__ = use

    def __exit__(self, *exc):
        pass


class _Device(_Synchronous):
    """The one emulated device, number 0."""

    compute_capability = "90"

    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)
        if self.id != 0:
            raise ValueError(f"the emulator has one device, 0; got {self.id}")

    def __eq__(self, other):
        return isinstance(other, _Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


class _Stream(_Synchronous):
    def __init__(self, null=False, non_blocking=False):
        self.ptr = 0


_Stream.null = _Stream(null=True)


class _Event(_Synchronous):
    """A point in time, for cuda.get_elapsed_time."""

    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self._t = None

    def record(self, stream=None):
        self._t = time.perf_counter()


def _get_elapsed_time(start, end):
    """Milliseconds between two recorded events."""
    if start._t is None or end._t is None:
        raise RuntimeError("both events must be recorded")
    return (end._t - start._t) * 1e3


class CompileException(Exception):
    """g++ rejected a kernel source; the message holds its diagnostics."""

    def __init__(self, msg, source, options):
        super().__init__(msg)
        self.source = source
        self.options = options

    def get_message(self):
        return self.args[0]


def _module(name, **attrs):
    module = types.ModuleType(f"{__name__}.{name}")
    module.__dict__.update(attrs)
    return module


cuda = _module(
    "cuda", Device=_Device, Stream=_Stream, Event=_Event, get_elapsed_time=_get_elapsed_time,
    get_current_stream=lambda device_id=-1: _Stream.null, is_available=lambda: True,
    runtime=_module("cuda.runtime", getDeviceCount=lambda: 1,
                    getDeviceProperties=lambda device: {"name": b"CuPy emulator (CPU)"}),
    compiler=_module("cuda.compiler", CompileException=CompileException))

_LIBS = {}     # compiled libraries, by hash of (header, code, flags)
_BUILD = []    # the per-process build directory, once made


def _compiler_flags(options):
    """The NVRTC options that mean the same to g++ (include paths, macros); the rest are NVRTC's own."""
    long_forms = {"--include-path": "-I", "--define-macro": "-D"}
    flags = []
    for opt in options:
        name, _, value = opt.partition("=")
        if opt.startswith(("-I", "-D")):
            flags.append(opt)
        elif name in long_forms:
            flags.append(long_forms[name] + value)
    return flags


def _load(code, options):
    flags = _compiler_flags(options)
    with open(_HEADER, "rb") as f:
        header = f.read()
    key = hashlib.sha256(b"\0".join([header, code.encode(), *(flag.encode() for flag in flags)])).hexdigest()[:32]
    if key not in _LIBS:
        cxx = shutil.which("g++")
        if cxx is None:
            raise RuntimeError("the CuPy emulator compiles kernels with g++, which is not on PATH")
        if not _BUILD:
            _BUILD.append(tempfile.mkdtemp(prefix="emulated-cupy-"))
            atexit.register(shutil.rmtree, _BUILD[0], True)
        src, lib = (os.path.join(_BUILD[0], key + ext) for ext in (".cu", ".so"))
        with open(src, "w", encoding="utf-8") as f:
            f.write(code)
        proc = subprocess.run([cxx, "-O1", "-shared", "-fPIC", "-x", "c++", "-include", _HEADER, *flags,
                               src, "-o", lib], capture_output=True, text=True)
        if proc.returncode:
            raise CompileException(f"g++ could not compile the kernel source:\n{proc.stderr}", code, options)
        _LIBS[key] = ctypes.CDLL(lib)
    return _LIBS[key]


_C_TYPES = {np.dtype(t): c for t, c in [
    (np.float64, ctypes.c_double), (np.float32, ctypes.c_float), (np.int64, ctypes.c_longlong),
    (np.int32, ctypes.c_int), (np.int16, ctypes.c_short), (np.int8, ctypes.c_byte),
    (np.uint64, ctypes.c_ulonglong), (np.uint32, ctypes.c_uint), (np.uint16, ctypes.c_ushort),
    (np.uint8, ctypes.c_ubyte), (np.bool_, ctypes.c_bool)]}
# Per dimension: the most blocks in a grid, the most threads in a block.
_LIMITS = {"grid": (2**31 - 1, 65535, 65535), "block": (1024, 1024, 64)}


def _kernel_arg(a):
    """A kernel argument as C sees it: arrays by pointer, scalars by value (Python's as CuPy maps them)."""
    if isinstance(a, ndarray):
        return ctypes.c_void_p(a._a.ctypes.data)
    if a is None:
        return ctypes.c_void_p(None)    # NULL, as CuPy passes None
    if isinstance(a, bool):
        return ctypes.c_bool(a)
    if isinstance(a, int):
        return ctypes.c_longlong(np.int64(a))
    if isinstance(a, float):
        return ctypes.c_double(a)
    if isinstance(a, np.generic) and a.dtype in _C_TYPES:
        return _C_TYPES[a.dtype](a.item())
    raise _unsupported(a)


class _Function:
    """A compiled kernel; a launch runs it once, as a single thread, on the CPU."""

    def __init__(self, lib, name):
        try:
            self._fn = lib[name]
        except AttributeError:
            raise AttributeError(f'no kernel named {name!r} (kernels must be declared extern "C")') from None
        self._fn.restype = None

    def __call__(self, grid, block, args, *, shared_mem=0, stream=None):
        for what, dims in (("grid", grid), ("block", block)):
            if not (isinstance(dims, tuple) and 1 <= len(dims) <= 3 and all(
                    isinstance(d, (int, np.integer)) and 0 < d <= m for d, m in zip(dims, _LIMITS[what]))):
                raise ValueError(f"{what} must be a tuple of 1 to 3 positive ints within {_LIMITS[what]}, "
                                 f"got {dims!r}")
        if math.prod(block) > 1024:
            raise ValueError(f"a block has at most 1024 threads, got {block!r}")
        cargs = [_kernel_arg(a) for a in args]
        self._fn.argtypes = [type(c) for c in cargs]
        self._fn(*cargs)


class RawModule:
    """CUDA source compiled with g++ (on first use); get_function gives its extern "C" kernels."""

    def __init__(self, code, *, options=(), backend="nvrtc", name_expressions=None):
        self.code, self.options, self.backend = code, tuple(options), backend
        self.name_expressions = name_expressions
        self._lib = None

    def get_function(self, name):
        if "<" in name:
            raise NotImplementedError('the emulator finds kernels by their extern "C" names, not templates')
        if self._lib is None:
            self._lib = _load(self.code, self.options)
        return _Function(self._lib, name)


class RawKernel:
    """One kernel of a CUDA source, compiled on its first launch."""

    def __init__(self, code, name, options=(), backend="nvrtc"):
        self.code, self.name, self.options, self.backend = code, name, tuple(options), backend
        self._fn = None

    def __call__(self, grid, block, args, *, shared_mem=0, stream=None):
        if self._fn is None:
            self._fn = RawModule(self.code, options=self.options).get_function(self.name)
        self._fn(grid, block, args, shared_mem=shared_mem, stream=stream)
