"""How NumPy ufuncs map onto the derivative table, for the scalar types.

Dual and Var both answer ``__array_ufunc__`` with :func:`array_ufunc`: a ufunc
of a table row runs that row (by its opcode, the row's index in the table and
its ``DG_OP_`` value in rules.h); the ufuncs in ``VALUE_UFUNCS`` look at values
only.
"""

import numpy as np

from dualgrad._rules.table import BY_NAME, RULES

UFUNC_OPS = {getattr(np, u): r.opcode for r in RULES for u in r.ufuncs}

VALUE_UFUNCS = frozenset((np.equal, np.not_equal, np.less, np.less_equal, np.greater,
                          np.greater_equal, np.isnan, np.isinf, np.isfinite, np.signbit))

FLOOR_DIVIDE, REMAINDER = BY_NAME["floor_divide"].opcode, BY_NAME["remainder"].opcode


def array_ufunc(ufunc, method, inputs, kwargs, apply, value):
    """``__array_ufunc__`` of a scalar type whose ``apply(opcode, inputs)`` runs a
    table row (NotImplemented for unsupported operands) and ``value(a)`` reads a value.

    With an ndarray among the inputs the scalars join NumPy's object loops, which
    call back into their operators and methods element by element. So do the
    ufunc methods (``np.sum(d)`` is ``np.add.reduce``): a lone scalar is a 0-d array.
    """
    if method != "__call__":
        return getattr(ufunc, method)(*[object_scalar(a) for a in inputs], **kwargs)
    if any(isinstance(a, np.ndarray) for a in inputs):
        return ufunc(*[object_scalar(a) for a in inputs], **kwargs)
    if kwargs:
        return NotImplemented
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
