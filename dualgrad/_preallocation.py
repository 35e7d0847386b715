"""Writing a value that carries derivatives into a plain NumPy array: the one error.

Scientific code preallocates: ``g = np.zeros(n); g[i] = ...``. Such an array
holds plain numbers, so NumPy converts what is written into it -- ``float(v)``
for one element, ``v.__array__()`` for several, an output cast for
``g[1:] += v`` -- and never asks the value's type to take the write over. Every
traced type (Dual, Var, DualArray, a Tensor that requires grad) therefore
refuses the conversion, and where the conversion is asked for by a write into
such an array it raises :func:`error`, which names the fixes.
"""

import dis
import sys

import numpy as np

# The opcodes of ``g[i] = v`` (Python 3.12 gave ``g[a:b] = v`` its own).
_STORES = frozenset(dis.opmap[name] for name in ("STORE_SUBSCR", "STORE_SLICE")
                    if name in dis.opmap)

_MESSAGE = (
    "{what} cannot be written into a NumPy array of plain numbers (as in g = np.zeros(n); "
    "g[i] = ...): such an array holds values alone, and dualgrad cannot intercept writes "
    "into it, so the derivatives would be lost. Make the array from the input instead: "
    "g = np.zeros_like(x) (or np.empty_like(x)), or g = np.zeros(n, like=x) for another "
    "shape; writes into that array keep the derivatives. Or collect the values in a list "
    "and join them with np.stack")

# A fragment of the message that only this error has, to recognise it.
_MARK = "cannot intercept writes"


def error(what):
    """The error for ``what`` (e.g. ``"a Dual"``) written into a plain array."""
    return TypeError(_MESSAGE.format(what=what))


def is_error(e):
    """Whether ``e`` is that error."""
    return isinstance(e, TypeError) and _MARK in str(e)


def storing():
    """Whether the conversion being asked of a traced value comes from ``g[i] = v``.

    Called from a conversion method of a Cython type (``__float__``,
    ``__array__``, ...): those run without a Python frame of their own, as does
    NumPy's item assignment, so the caller's frame is the code that wrote
    ``g[i] = v``, stopped at its store. Any other caller (``float(v)``,
    ``math.sin(v)``, ``np.asarray(v)``) is stopped at a call."""
    frame = sys._getframe(1)
    return frame.f_lasti >= 0 and frame.f_code.co_code[frame.f_lasti] in _STORES


def ufunc_writes_plain(method, inputs, kwargs):
    """Whether a ufunc call writes into a plain NumPy array of numbers: its
    ``out=`` (``g += v`` is ``np.add(g, v, out=g)``), or the operand that
    ``ufunc.at`` changes in place."""
    targets = kwargs.get("out") or ()
    if not isinstance(targets, tuple):
        targets = (targets,)
    if method == "at" and inputs:
        targets += (inputs[0],)
    return any(isinstance(t, np.ndarray) and t.dtype != object for t in targets)


def object_cast(e):
    """Whether ``e`` is NumPy refusing to cast an object array (the scalar
    tier's Duals or Vars) into a plain array's dtype: ``g[1:] += x[1:]`` with x
    an object array, which no Dual or Var is asked about."""
    return isinstance(e, TypeError) and "output from dtype('O')" in str(e)


def refuse_for_scipy():
    """Raise the error of a SciPy function without a dualgrad rule if the
    conversion being asked of a traced value (from its ``__array__``, which
    runs without a Python frame of its own) comes from SciPy's code.

    The transforms may still run f on the scalar tier, whose object arrays
    pass through np.asarray unchanged: where SciPy's code is NumPy arithmetic
    (scipy.optimize.rosen) it differentiates there, and elsewhere it fails and
    this error is the one shown."""
    frame = sys._getframe(1)
    if not frame.f_globals.get("__name__", "").startswith(("scipy.", "numpy")):
        return      # the usual case: the user's code, answered by the caller's own error
    from dualgrad.scipy_functions import no_rule_error, scipy_caller
    name = scipy_caller(frame)
    if name is not None:
        raise no_rule_error(name)
