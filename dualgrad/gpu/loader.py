"""The kernel loader: CUDA sources of ``kernels/`` compiled once per device and dtype.

Each source is read from its ``.cu`` file with a ``#line`` directive in front,
so that a compiler message names the file and line, and compiled by CuPy's
``RawModule`` (NVRTC) with the derivative table's folder on the include path.
Kernels have full names, ``dualgrad_<row>``, ``dualgrad_dual_<row>`` and
``dualgrad_grad_<row>[_dx|_dy]``.
"""

import os

import numpy as np

from dualgrad import gpu

KERNELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernels")
RULES = os.path.join(os.path.dirname(KERNELS), os.pardir, "_rules")
SOURCES = ("value", "dual", "grad")

# The element types the kernels are compiled for; the arithmetic is double.
DTYPES = {np.dtype(np.float64): "double", np.dtype(np.float32): "float"}

# fmad=false: no fused multiply-adds, so that d * t + e * s rounds as the CPU
# loops round it and the two paths agree to the last bits the formulas allow.
OPTIONS = ("--std=c++11", "--fmad=false")

_modules = {}    # (source, device number, dtype) -> RawModule
_functions = {}  # (source, kernel name, device number, dtype) -> RawKernel


def source(name):
    """The text of ``kernels/<name>.cu``, with a ``#line`` directive for messages."""
    path = os.path.normpath(os.path.join(KERNELS, name + ".cu"))
    with open(path, encoding="utf-8") as f:
        return f'#line 1 "{path}"\n' + f.read()


def options(dtype):
    """The compiler options for kernels over arrays of ``dtype``."""
    return OPTIONS + (f"-DDG_REAL={DTYPES[np.dtype(dtype)]}",
                      "-I" + os.path.normpath(RULES), "-I" + KERNELS)


def module(name, dtype, device):
    """The compiled module of source ``name`` for ``dtype`` on device number ``device``."""
    key = (name, device, np.dtype(dtype))
    m = _modules.get(key)
    if m is None:
        cp = gpu.cupy()
        with cp.cuda.Device(device):
            m = _modules[key] = cp.RawModule(code=source(name), options=options(dtype))
    return m


def function(name, kernel, dtype, device):
    """Kernel ``kernel`` of source ``name`` for ``dtype`` on device number ``device``."""
    key = (name, kernel, device, np.dtype(dtype))
    f = _functions.get(key)
    if f is None:
        f = _functions[key] = module(name, dtype, device).get_function(kernel)
    return f


def clear():
    """Forget every compiled module (for tests that change the backend)."""
    _modules.clear()
    _functions.clear()
