"""The array tier's operations beyond the table's elementwise rows.

Each operation computes its value with NumPy and records, beside it, its
backward rule ``fn(ns, g, *saved)``. Rules are written against the namespace
``ns`` (:class:`NumpyNS` over ndarrays, :class:`TensorNS` over Tensors),
never against NumPy directly, so that the same rule runs fast on arrays and,
under ``create_graph=True``, records itself for higher derivatives. Operations
that are compositions of others (mean, var, log_softmax, ...) need no rule.

Internal functions use NumPy's conventions (``axis``, ``keepdims``); the public
functions take PyTorch's (``dim``, ``keepdim``) and convert.

The library is split by subject, each module importing from the ones below it:

* ``_base``: dtypes, the helpers shared by all, and ``NumpyNS``;
* ``creation``: making tensors;
* ``elementwise``: selection and piecewise functions, logical operators;
* ``reductions``: sums, extremes, statistics, norms, softmax, cumulative sums;
* ``shapes``: shapes, views, indexing and the in-place operations;
* ``joining``: cat, stack, split and the like;
* ``products``: products and linear algebra;
* ``conversions``: dtype and device, properties, Python values, repr;
* ``tensor_ns``: ``TensorNS``, the recorded namespace (above the operations it calls);
* ``numpy_api``: NumPy's ufuncs and functions applied to Tensors.

This package's namespace holds every public operation (and the few private
ones used elsewhere): Tensor methods look them up here by name at call time
(``tensor.install``), and the profiler puts its timing wrappers here.
"""

import sys

from dualgrad._array import engine, tensor as _tensor
from dualgrad._array.tensor import Tensor, apply_row  # noqa: F401  (dualgrad registers apply_row)

from dualgrad._array.ops._base import (  # noqa: F401
    _arr, _ten, OUT, float16, half, float32, double, float64, int64, long, int32, bool,
    complex64, cfloat, complex128, cdouble,
    set_default_dtype, get_default_dtype, engine_wrap, NumpyNS, N)
from dualgrad._array.ops.creation import (  # noqa: F401
    tensor, as_tensor, as_input, from_numpy, zeros, ones, empty, full, arange, linspace, eye,
    manual_seed, rand, randn, empty_like, ones_like, zeros_like, rand_like, randn_like, full_like,
    new_zeros, new_ones, new_tensor)
from dualgrad._array.ops.elementwise import (  # noqa: F401
    where, clamp, clip, nan_to_num, relu, softplus, logical)
from dualgrad._array.ops.reductions import (  # noqa: F401
    _ValuesIndices, _norm2, sum, mean, prod, amax, amin, getitem_along, max, min, argmax, argmin,
    var, std, norm, logsumexp, softmax, log_softmax, cumsum, all, any)
from dualgrad._array.ops.shapes import (  # noqa: F401
    getitem, setitem, inplace, fill_, zero_, copy_, clamp_, clip_, masked_fill_, reshape, view,
    view_as, reshape_as, flatten, squeeze, unsqueeze, transpose, swapaxes, swapdims, t, permute,
    expand, expand_as, broadcast_to, flip, repeat, diagonal, tril, triu, clone, ravel, copy,
    contiguous, masked_fill)
from dualgrad._array.ops.joining import (  # noqa: F401
    cat, concat, concatenate, stack, split, chunk, unbind)
from dualgrad._array.ops.products import (  # noqa: F401
    _cholesky, _det, _inv, _slogdet, _solve, matmul, dot, outer, einsum, tensordot, trace, mm)
from dualgrad._array.ops.conversions import (  # noqa: F401
    astype, to, to_float, to_double, to_half, to_long, to_int, to_bool, type_as, cpu, cuda,
    prop_shape, prop_dtype, prop_ndim, prop_T, prop_mT, prop_device, prop_real, prop_imag,
    prop_nbytes, prop_itemsize, size, dim, ndimension, numel,
    nelement, is_floating_point, element_size, scalar_value, item, tolist, numpy, rebuild,
    deepcopy, tensor_repr)
from dualgrad._array.ops.tensor_ns import TensorNS, T  # noqa: F401
from dualgrad._array.composites import (  # noqa: F401  (np.array([...]) of tensors)
    as_objects, from_objects, numpy_builds_arrays)
from dualgrad._array.ops.numpy_api import (  # noqa: F401
    array_ufunc, HANDLED, array_function, argsort, argpartition, cumprod, take, compress, choose,
    searchsorted, conj)

# ---------------------------------------------------------------------------

engine.configure(Tensor, N, T)
# The package itself, not a submodule: Tensor methods find every operation here.
_tensor.install(sys.modules[__name__])
