"""How NumPy ufuncs and functions map onto the scalar types.

Dual and Var both answer ``__array_ufunc__`` with :func:`array_ufunc`: a ufunc
of a table row runs that row (by its opcode, the row's index in the table and
its ``DG_OP_`` value in rules.h); the ufuncs in ``VALUE_UFUNCS`` look at values
only. They answer ``__array_function__`` with :func:`array_function`: NumPy's
own implementation, except for the functions in ``LONE`` (filled by the
registry of NumPy functions, dualgrad._array.registry).
"""

import math

import numpy as np

from dualgrad import _preallocation
from dualgrad._rules.table import BY_NAME, RULES

UFUNC_OPS = {getattr(np, u): r.opcode for r in RULES for u in r.ufuncs}


# ---------------------------------------------------------------------------
# SciPy's special functions: the ufuncs of scipy.special that a row computes
# (the table's ``scipy`` names) join UFUNC_OPS, so that every tier's
# __array_ufunc__ runs the row: scipy.special.erfcx(x) is dualgrad.erfcx(x) on
# a Dual, a Var, a DualArray or a Tensor. SciPy is optional, so the map is
# filled only where it imports; it is imported here, with dualgrad, because a
# ufunc must be in the map before the first call that passes it.

def _scipy_special():
    try:
        import scipy.special
    except ImportError:
        return None
    return scipy.special


SCIPY_UFUNCS = {}           # scipy.special ufunc: the row's name
_special = _scipy_special()
if _special is not None:
    for _r in RULES:
        for _u in _r.scipy:
            _f = getattr(_special, _u, None)
            if isinstance(_f, np.ufunc):
                UFUNC_OPS[_f] = _r.opcode
                SCIPY_UFUNCS[_f] = _r.name
del _special


def scipy_missing(name):
    """The error of a row whose values need SciPy's C functions, where SciPy is missing."""
    return ImportError(f"dualgrad.{name} computes its values with SciPy's C implementation, and "
                       f"SciPy is not installed (or lacks {name}): install it with "
                       f"`pip install scipy`")

VALUE_UFUNCS = frozenset((np.equal, np.not_equal, np.less, np.less_equal, np.greater,
                          np.greater_equal, np.isnan, np.isinf, np.isfinite, np.signbit))

# The scalar tier's complex type (dualgrad._scalar.complex registers it).
COMPLEX_SCALARS = ()

FLOOR_DIVIDE, REMAINDER = BY_NAME["floor_divide"].opcode, BY_NAME["remainder"].opcode


def array_ufunc(ufunc, method, inputs, kwargs, apply, value):
    """``__array_ufunc__`` of a scalar type whose ``apply(opcode, inputs)`` runs a
    table row (NotImplemented for unsupported operands) and ``value(a)`` reads a value.

    With an ndarray among the inputs the scalars join NumPy's object loops, which
    call back into their operators and methods element by element. So do the
    ufunc methods (``np.sum(d)`` is ``np.add.reduce``): a lone scalar is a 0-d array.
    """
    if (kwargs or method != "__call__") and _preallocation.ufunc_writes_plain(method, inputs,
                                                                              kwargs):
        # g += d: NumPy would run its object loop and fail on the output's cast
        traced = next(a for a in inputs if not isinstance(a, (np.ndarray, np.generic, int, float)))
        raise _preallocation.error(f"a {type(traced).__name__}")
    if method != "__call__":
        return getattr(ufunc, method)(*[object_scalar(a) for a in inputs], **kwargs)
    if any(isinstance(a, np.ndarray) for a in inputs):
        name = SCIPY_UFUNCS.get(ufunc)
        if name is not None and not kwargs:
            # SciPy's ufuncs have no object loop: dualgrad.<name> maps object arrays
            from dualgrad._scalar import dual
            return getattr(dual, name)(*[object_scalar(a) for a in inputs])
        return ufunc(*[object_scalar(a) for a in inputs], **kwargs)
    if kwargs:
        return NotImplemented
    if ufunc is np.conjugate and not isinstance(inputs[0], COMPLEX_SCALARS):
        return inputs[0]            # Duals and Vars are real: their own conjugates
    op = UFUNC_OPS.get(ufunc)
    if op is not None:
        return apply(op, inputs)
    if ufunc is np.divmod:
        q = apply(FLOOR_DIVIDE, inputs)
        return q if q is NotImplemented else (q, apply(REMAINDER, inputs))
    if ufunc in VALUE_UFUNCS:
        return ufunc(*[value(a) for a in inputs])
    return NotImplemented


def object_scalar(a):
    """A Dual or Var as a 0-d object array, so that NumPy runs its object loop over it."""
    if isinstance(a, np.ndarray) or np.ndim(a) != 0 or isinstance(a, (int, float, np.generic)):
        return a
    o = np.empty((), dtype=object)
    o[()] = a
    return o


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """numpy.nan_to_num of one Dual or Var: a replaced value is a constant
    (derivative 0), any other value is x itself (derivative 1). On a Var the
    comparisons are guards, which a replay checks."""
    if x != x:
        return float(nan)
    if x == math.inf:
        return float(np.finfo(np.float64).max if posinf is None else posinf)
    if x == -math.inf:
        return float(-np.finfo(np.float64).max if neginf is None else neginf)
    return x


def lone_std(x, *args, **kwargs):
    """numpy.std of one number: a constant (0, or nan for ddof >= 1)."""
    return np.std(x.value, *args, **kwargs)


def lone_norm(x, *args, **kwargs):
    """numpy.linalg.norm of one number: |x| whatever the order."""
    return abs(x)


def lone_var(x, *args, **kwargs):
    """numpy.var of one number: a constant (0, or nan for ddof >= 1)."""
    return np.var(x.value, *args, **kwargs)


# The versions above stand in for NumPy's where its implementation on objects
# (Duals, Vars, object arrays of them) gives a wrong value or derivative, or
# fails on one lone number:
# - nan_to_num returns any array not of a float dtype unchanged;
# - std and norm are a square root of a sum of squares: at zero its reverse
#   sweep meets an infinite adjoint and gives nan, where the array tier's rules
#   (and PyTorch's) give 0;
# - var of one number asks its mean for a dtype.
# An object array cannot be caught on its way into NumPy, so the planner keeps
# f off the scalar tier when its probe sees one of the functions that are wrong
# on objects, or that NumPy cannot run on them (dualops.array_function). Both
# tables are filled by the registry.
LONE = {}                   # NumPy function: its version for one Dual or Var
NOT_ON_OBJECTS = {}         # NumPy function: its name, for the planner's note


def array_function(func, args, kwargs):
    """``__array_function__`` of a scalar type (a lone Dual or Var is a 0-d
    object array to NumPy's implementation)."""
    fn = LONE.get(func) or func._implementation
    return fn(*args, **kwargs)
