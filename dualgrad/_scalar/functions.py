"""The array-level ``dualgrad.<name>`` functions (relu, clamp, where, sum, ...)
given the scalar tier's numbers: Duals and Vars, object arrays of them (what
the transforms' scalar tier passes to f), or lists of them.

The Tensor versions would wrap such values in an object Tensor, whose
arithmetic silently leaves the scalar tier; so every public array function is
wrapped once here (:func:`scalar_tier`). The functions that have a scalar
meaning run on the numbers themselves, element by element, so derivatives flow
through the Duals' and Vars' own operations (comparisons on a Var are guards
replay checks); the others raise, naming what to write instead.
"""

import builtins
import functools

import numpy as np

from dualgrad._scalar.dual import Dual
from dualgrad._scalar.tape import Var

_SCALAR = (Dual, Var)


def holds_scalar_tier(x):
    """Whether ``x`` is a Dual or Var, or a list, tuple or object array holding one."""
    if isinstance(x, _SCALAR):
        return True
    if isinstance(x, np.ndarray):
        return x.dtype == object and builtins.any(isinstance(e, _SCALAR) for e in x.flat)
    if isinstance(x, (list, tuple)):
        return builtins.any(holds_scalar_tier(e) for e in x)
    return False


def _elementwise(fn):
    """``fn`` of numbers applied to a number or to each element of an object array."""
    @functools.wraps(fn)
    def apply(x, *args):
        if isinstance(x, np.ndarray):
            return np.frompyfunc(lambda e: fn(e, *args), 1, 1)(x)
        return fn(x, *args)
    return apply


@_elementwise
def relu(x):
    # The comparison picks the branch (0 at 0, as PyTorch); x * 0.0 keeps the type.
    return x if x > 0 else x * 0.0


@_elementwise
def _clamp(x, lo, hi):
    if lo is not None and x < lo:
        return lo
    if hi is not None and x > hi:
        return hi
    return x


def clamp(x, min=None, max=None):
    if min is None and max is None:
        raise RuntimeError("clamp: at least one of min and max must be given")
    return _clamp(x, min, max)


def where(condition, input=None, other=None):
    if input is None and other is None:
        return np.nonzero(condition)
    if isinstance(condition, np.ndarray) or builtins.any(
            isinstance(a, np.ndarray) for a in (input, other)):
        return np.where(condition, input, other)     # selects the objects themselves
    return input if condition else other


def _reduction(numpy_fn):
    def reduce(x, dim=None, keepdim=False):
        return numpy_fn(np.asarray(x, dtype=object) if isinstance(x, (list, tuple)) else x,
                        axis=dim, keepdims=keepdim)
    return reduce


# The array functions with a scalar meaning: dualgrad's name -> the scalar version.
# The reductions take a list of values too (dg.sum([a, b])); the elementwise
# functions take a value or an object array, as their array versions do.
REDUCTIONS = {"sum": _reduction(np.sum), "mean": _reduction(np.mean),
              "prod": _reduction(np.prod), "amax": _reduction(np.max),
              "amin": _reduction(np.min)}
SCALAR_VERSIONS = {"relu": relu, "clamp": clamp, "clip": clamp, "where": where, **REDUCTIONS}


def scalar_tier(name, ops):
    """dualgrad's array function ``name`` of the op library ``ops``, taking the
    scalar tier's numbers too: their scalar version, or a TypeError naming the
    way. (The array function is looked up at each call, so that the profiler's
    timing wrapper in ``ops`` sees calls made through ``dualgrad.<name>``.)"""
    scalar_fn = SCALAR_VERSIONS.get(name)

    @functools.wraps(getattr(ops, name))
    def fn(*args, **kwargs):
        for a in args[:3]:
            if holds_scalar_tier(a):
                break
        else:
            return getattr(ops, name)(*args, **kwargs)
        if scalar_fn is not None and (name in REDUCTIONS or name == "where"
                                      or not isinstance(args[0], (list, tuple))):
            return scalar_fn(*args, **kwargs)
        kind = next(type(e).__name__ for e in _scalars(args))
        hint = (f"apply it to each value, [dg.{name}(v) for v in x]" if scalar_fn is not None
                else "write the computation with Python arithmetic and the elementwise "
                     "functions (dualgrad.math, dg.exp, ...), or run it on the array tier: "
                     "arrays of floats or dg.tensor")
        raise TypeError(f"dg.{name} is an array function and got {kind} values of the scalar "
                        f"tier; {hint}")
    return fn


def _scalars(args):
    for a in args:
        if isinstance(a, _SCALAR):
            yield a
        elif isinstance(a, (list, tuple)):
            yield from _scalars(a)
        elif isinstance(a, np.ndarray) and a.dtype == object:
            yield from _scalars(a.flat)
