"""dualgrad: exact derivatives of ordinary Python and NumPy code.

Scalar code: forward mode with :class:`Dual`, reverse mode with :class:`Tape`
and its :class:`Var` handles, and :func:`record` to replay a recorded tape at
new inputs in C. Array code: :class:`Tensor` and :mod:`dualgrad.autograd`,
PyTorch's autograd on NumPy arrays, and :class:`DualArray`, forward mode on
NumPy arrays. Every elementwise function of the
derivative table is ``dualgrad.<name>`` (NumPy semantics) and
:mod:`dualgrad.math` is a drop-in for Python's :mod:`math`.
"""

try:
    from ._scalar import dual as _dual
except ImportError as e:  # a source checkout without built extensions
    raise ImportError(
        f"dualgrad's compiled extensions are missing ({e}). Build them with "
        f"`pip install -e .` in the source tree, or run from outside it after `pip install .`."
    ) from e

from ._scalar.dual import *  # noqa: F401,F403  Dual and one function per table row
from ._scalar.tape import BranchChangedError, Recording, Tape, Var, record
from ._scalar.complex import ComplexDual
from . import math  # noqa: E402

# The array tier: Tensor and the autograd engine.
from ._array.tensor import Tensor  # noqa: E402
from ._array import ops as _ops  # noqa: E402  (connects Tensor to its operations)
from ._array.ops import (  # noqa: E402
    float16, half, float32, float64, double, int32, int64, long, bool,
    complex64, cfloat, complex128, cdouble,
    set_default_dtype, get_default_dtype, manual_seed,
    tensor, as_tensor, from_numpy, zeros, ones, full, empty, arange, linspace, eye, rand, randn,
    zeros_like, ones_like, full_like, empty_like, rand_like, randn_like,
    sum, mean, prod, max, min, amax, amin, argmax, argmin, var, std, norm, logsumexp,
    softmax, log_softmax, cumsum, relu, softplus, clamp, clip, where,
    matmul, mm, dot, outer, einsum, tensordot, trace, diagonal, tril, triu,
    reshape, flatten, squeeze, unsqueeze, transpose, permute, flip, clone, cat, concat, stack,
    split, chunk, unbind, numel)
from ._scalar import functions as _scalar_functions  # noqa: E402

# The array functions above take the scalar tier's Duals and Vars too (or say
# what to write instead), rather than wrapping them in an object Tensor.
for _name in ("sum", "mean", "prod", "max", "min", "amax", "amin", "argmax", "argmin", "var",
              "std", "norm", "logsumexp", "softmax", "log_softmax", "cumsum", "relu", "softplus",
              "clamp", "clip", "where", "matmul", "mm", "dot", "outer", "einsum", "tensordot",
              "trace", "diagonal", "tril", "triu", "reshape", "flatten", "squeeze", "unsqueeze",
              "transpose", "permute", "flip", "clone", "cat", "concat", "stack", "split", "chunk",
              "unbind"):
    globals()[_name] = _scalar_functions.scalar_tier(_name, _ops)
del _name

from . import autograd, linalg  # noqa: E402
import sys as _sys  # noqa: E402
from ._array import fft as _fft  # noqa: E402
# As torch.fft; in sys.modules too, so that `import dualgrad.fft` finds it.
fft = _sys.modules[__name__ + ".fft"] = _fft.torch_module()
from . import array_api  # noqa: E402  (the array API standard's namespace)
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402

_dual.register_array_type(Tensor, _ops.apply_row)

# The array tier, forward mode: DualArray and its operations.
from ._array.dualarray import DualArray  # noqa: E402
from ._array import dualops as _dualops  # noqa: E402  (connects DualArray to its operations)

_dual.register_array_type(DualArray, _dualops.apply_row)
from ._array import registry as _registry  # noqa: E402,F401  (fills the NumPy function tables)

# Functional transforms and the planner that picks a tier and a mode for each call.
from .functional import (grad, value_and_grad, jvp, vjp, jacfwd, jacrev, jacobian,  # noqa: E402
                         hessian, hvp, plan)
from .planner import Plan  # noqa: E402
from .custom import custom_jvp, custom_vjp  # noqa: E402

# SciPy functions on traced values: registered ones are patched now, or when
# SciPy is imported (SciPy stays optional; it is not imported here).
from . import scipy_functions as _scipy_functions  # noqa: E402
_scipy_functions.install()

# The GPU path: CuPy arrays in the array tier (CuPy is imported only when used).
from . import gpu  # noqa: E402
from . import gpu as cuda  # noqa: E402  (as torch.cuda: dualgrad.cuda.is_available())
from .gpu import device  # noqa: E402


def is_tensor(obj):
    """True for a dualgrad Tensor."""
    return isinstance(obj, Tensor)


__version__ = "0.1.0"
__all__ = ["Dual", "ComplexDual", "Tape", "Var", "record", "Recording", "BranchChangedError", "math",
           *[n for n in _dual.__all__ if n != "Dual"],
           "Tensor", "is_tensor", "DualArray", "grad", "value_and_grad", "jvp", "vjp",
           "jacfwd", "jacrev", "jacobian", "hessian", "hvp", "plan", "Plan", "custom_jvp",
           "custom_vjp", "autograd", "linalg", "fft", "array_api",
           "gpu", "cuda", "device",
           "no_grad", "enable_grad",
           "set_grad_enabled", "is_grad_enabled",
           "float16", "half", "float32", "float64", "double", "int32", "int64", "long",
           "complex64", "cfloat", "complex128", "cdouble",
           "set_default_dtype", "get_default_dtype", "manual_seed", "tensor", "as_tensor",
           "from_numpy", "zeros", "ones", "full", "empty", "arange", "linspace", "eye", "rand",
           "randn", "zeros_like", "ones_like", "full_like", "empty_like", "rand_like",
           "randn_like", "mean", "prod", "amax", "amin", "argmax", "argmin",
           "var", "std", "norm", "logsumexp", "softmax", "log_softmax", "cumsum", "relu",
           "softplus", "clamp", "clip", "where", "matmul", "mm", "dot", "outer", "einsum",
           "tensordot", "trace", "diagonal", "tril", "triu", "reshape", "flatten", "squeeze",
           "unsqueeze", "transpose", "permute", "flip", "clone", "cat", "concat", "stack",
           "split", "chunk", "unbind", "numel"]
# dualgrad.sum, max, min and bool exist (as torch's) but stay out of __all__:
# `from dualgrad import *` should not shadow Python's builtins of those names.
