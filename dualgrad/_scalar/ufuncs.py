"""How NumPy ufuncs map onto the derivative table, for the scalar types.

Dual and Var both answer ``__array_ufunc__`` from these tables: a ufunc of a
table row runs that row (by its opcode, the row's index in the table and its
``DG_OP_`` value in rules.h); the ufuncs in ``VALUE_UFUNCS`` look at values only.
"""

import numpy as np

from dualgrad._rules.table import RULES

UFUNC_OPS = {getattr(np, u): r.opcode for r in RULES for u in r.ufuncs}

VALUE_UFUNCS = {u: u for u in (np.equal, np.not_equal, np.less, np.less_equal, np.greater,
                               np.greater_equal, np.isnan, np.isinf, np.isfinite, np.signbit)}


def object_scalar(a):
    """A Dual or Var as a 0-d object array, so that NumPy runs its object loop over it."""
    if isinstance(a, np.ndarray) or np.ndim(a) != 0 or isinstance(a, (int, float, np.generic)):
        return a
    o = np.empty((), dtype=object)
    o[()] = a
    return o
