"""Elementwise operations beyond the table's rows: selection (``where``),
piecewise functions (``clamp``, ``relu``, ``softplus``, ``nan_to_num``) and
the logical operators, whose results carry no gradient.
"""

import numpy as np

from dualgrad._array.engine import TensorBase, record
from dualgrad._array.ops._base import _arr, _ten, _value, engine_wrap


# ---------------------------------------------------------------------------
# Selection and piecewise functions

def _where(cond, a, b):
    c = _arr(cond).astype(np.bool_, copy=False)
    return record(np.where(c, _value(a), _value(b)), (a, b), "WhereBackward", _where_bwd, (c,))


def _where_bwd(ns, g, c):
    return ns.where(c, g, 0.0), ns.where(c, 0.0, g)


def where(condition, input=None, other=None):
    """``input`` where ``condition`` holds, else ``other`` (differentiable in both).
    With only a condition: the indices where it holds, as NumPy."""
    if input is None and other is None:
        return tuple(engine_wrap(i) for i in np.nonzero(_arr(condition)))
    return _where(condition, input, other)


def clamp(input, min=None, max=None):
    """Values limited to [min, max]; the gradient is 1 inside, 0 outside."""
    x = _ten(input)
    a = x._a
    if min is None and max is None:
        raise RuntimeError("clamp: at least one of min and max must be given")
    if isinstance(min, TensorBase) or isinstance(max, TensorBase):
        # Tensor bounds get the gradient where they bind, as in PyTorch.
        if min is not None:
            x = _where(a < _arr(min), min, x)
        if max is not None:
            x = _where(x._a > _arr(max), max, x)
        return x
    lo = -np.inf if min is None else _value(min)
    hi = np.inf if max is None else _value(max)
    inside = (a >= lo) & (a <= hi)
    out = np.minimum(np.maximum(a, lo), hi).astype(a.dtype, copy=False)
    return record(out, (x,), "ClampBackward", _mask_bwd, (inside,))


clip = clamp


def _mask_bwd(ns, g, mask):
    return ns.where(mask, g, 0.0)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    """NaN and infinities replaced by numbers (as numpy.nan_to_num): derivative
    1 where x is finite, 0 where it was replaced by a constant."""
    x = _ten(input)
    a = x._a
    return record(np.nan_to_num(a, nan=nan, posinf=posinf, neginf=neginf), (x,),
                  "NanToNumBackward", _mask_bwd, (np.isfinite(a),))


def relu(input):
    """max(x, 0), with gradient 0 at 0 (as PyTorch)."""
    x = _ten(input)
    a = x._a
    pos = a > 0
    return record(np.where(pos, a, 0).astype(a.dtype, copy=False), (x,), "ReluBackward",
                  _mask_bwd, (pos,))


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta, linear above ``threshold`` (as PyTorch)."""
    x = _ten(input)
    a = x._a
    z = a * beta
    out = np.where(z > threshold, a, (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / beta)
    return record(out.astype(a.dtype, copy=False), (x,), "SoftplusBackward", _softplus_bwd,
                  (x, beta, threshold))


def _softplus_bwd(ns, g, x, beta, threshold):
    return ns.where(_arr(x) * beta > threshold, g, g * ns.sigmoid(x * beta))


# ---------------------------------------------------------------------------
# Complex numbers: the real and imaginary parts. The gradients follow
# PyTorch's convention, g = dL/dx + i dL/dy for z = x + iy (docs/conventions.rst):
# the real part passes g on, the imaginary part gives i g; a real g becomes
# complex in the engine's cast to z's dtype.

def _complex(x):
    return x._a.dtype.kind == "c"


def real(input):
    """The real part (a real tensor: itself, as NumPy's ``a.real``)."""
    x = _ten(input)
    if not _complex(x):
        return x
    return record(np.real(x._a).copy(), (x,), "RealBackward", _real_bwd, ())


def _real_bwd(ns, g):
    return g


def imag(input):
    """The imaginary part (a real tensor: zeros, a constant)."""
    x = _ten(input)
    if not _complex(x):
        return engine_wrap(np.zeros_like(x._a))
    return record(np.imag(x._a).copy(), (x,), "ImagBackward", _imag_bwd, ())


def _imag_bwd(ns, g):
    return g * 1j


def logical(fn, *args):
    return engine_wrap(fn(*[_arr(a) for a in args]))
