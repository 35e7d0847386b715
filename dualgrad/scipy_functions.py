"""SciPy functions on traced values: the one registry of SciPy functions.

SciPy's functions that are not ufuncs are Python code that begins with
``np.asarray(x)``: no NumPy protocol lets a traced value (DualArray, Tensor,
Dual, Var, or an object array of them) take such a call over, so
``scipy.special.logsumexp(x)`` would only see the traced value's conversion,
which must refuse to drop the derivatives. Each function registered here
therefore gets a *trampoline*:

* The registered function object keeps its identity, its ``__defaults__``,
  ``__kwdefaults__``, closure and attributes; only its ``__code__`` is replaced,
  by code of the same parameters and the same number of free variables (so the
  function's closure still fits). That code calls :func:`_dispatch`, which
  runs the registered dualgrad implementation when an argument (positional or
  keyword, or an item of a list or tuple argument) is traced, and otherwise a
  copy of the original function: ``types.FunctionType(original code, globals,
  name, defaults, closure)``. Since the object is the same, every reference to
  it sees the change: ``from scipy.special import logsumexp`` made before
  ``import dualgrad``, SciPy's own internal calls, bound methods of
  distributions. Patching module attributes would miss all of those.
* The trampoline finds :func:`_dispatch` as a global of the function's own
  module (``__dualgrad_scipy_dispatch__``, added to it at patching time): a
  code object cannot bring globals of its own, and the function's closure
  cannot grow.
* Plain calls cost one extra Python call and a type check per argument, and
  run SciPy's own code: results are SciPy's, bit for bit.
* :func:`install` patches the registered functions of the SciPy modules
  already imported (at ``import dualgrad``), and an import hook patches those
  imported later; :func:`restore` puts the original code back.

``scipy.fft``'s transforms are uarray multimethods, objects of a compiled
type whose code cannot be replaced; they are reached through a uarray backend
registered for their domain instead, which SciPy asks before its own.

Methods of SciPy's distributions are one function for many distributions
(``scipy.stats.norm.logpdf`` is ``rv_continuous.logpdf`` bound to the
``norm_gen`` instance), so those are keyed by ``(function, distribution
class)``. A traced value reaching an unregistered SciPy function is refused by
its conversion (``__array__``), with :func:`no_rule_error` naming the SciPy
function (:func:`scipy_caller`).

The implementations are composites of NumPy functions, operators and dualgrad's
own rows (``erf``, ``erfc``, ``lgamma``), which dispatch on every tier, mode
and nesting; constants (maxima subtracted for stability, support masks) are
read from the values. The regularized incomplete gamma and beta functions
(cdfs of t, gamma and beta) are custom_jvp functions whose derivative in x is
the density; they have none in their shape parameters, and say so.

SciPy stays optional: nothing here imports it until it is imported.
"""

import builtins
import gc
import math
import sys
import types
from typing import Callable, NamedTuple

import numpy as np

from dualgrad import planner as _planner
from dualgrad._array import composites as C, fft as _FFT, linalg as _linalg
from dualgrad._array.dualarray import DualArray
from dualgrad._array.engine import TensorBase
from dualgrad._scalar import dual as _rows
from dualgrad._scalar.dual import Dual
from dualgrad._scalar.tape import Var
from dualgrad.custom import custom_jvp

__all__ = ["ROWS", "REGISTRY", "install", "restore", "patched", "no_rule_error",
           "scipy_caller", "NoScipyRuleError"]


# ---------------------------------------------------------------------------
# The error for a SciPy function without a rule

class NoScipyRuleError(TypeError, RuntimeError):
    """A traced value given to a SciPy function that dualgrad has no rule for.

    A TypeError, and a RuntimeError too: converting a Tensor that requires grad
    raised RuntimeError before, and code catching that keeps working."""


def no_rule_error(name):
    """The error for a traced value given to the SciPy function ``name``."""
    return NoScipyRuleError(
        f"{name} has no dualgrad rule: SciPy converts its arguments with np.asarray, and "
        f"the derivatives would be lost. Write the function with NumPy functions (they "
        f"differentiate), give it a rule with dg.custom_jvp, or call it on the values "
        f"alone (x.value, t.detach()) where no derivative is needed. The SciPy functions "
        f"that have rules are listed in dualgrad's documentation, 'Supported NumPy functions', "
        f"section 'SciPy functions'.")


def _function_of(frame):
    """The function object that ``frame`` runs, where one can be found: among the
    functions sharing its code (the wrappers of one decorator), the one whose
    closure holds the frame's free variables."""
    code = frame.f_code
    found = [f for f in gc.get_referrers(code)
             if isinstance(f, types.FunctionType) and f.__code__ is code]
    if len(found) > 1 and code.co_freevars:
        cells = [frame.f_locals.get(n) for n in code.co_freevars]
        found = [f for f in found
                 if all(c.cell_contents is v for c, v in zip(f.__closure__ or (), cells))] or found
    return found[0] if len(found) == 1 else None


def _public_name(fn, module, qualname):
    """``scipy.stats.skew`` rather than ``scipy.stats._stats_py.skew`` where the
    public module holds the function."""
    parts = module.split(".")
    for i in range(2, len(parts) + 1):
        prefix = ".".join(parts[:i])
        if any(p.startswith("_") for p in parts[1:i]):
            break
        owner = sys.modules.get(prefix)
        if fn is not None and getattr(owner, qualname, None) is fn:
            return f"{prefix}.{qualname}"
    return f"{module}.{qualname}"


def scipy_caller(frame):
    """The SciPy function (its name) whose code converts a traced value, when the
    conversion was asked from ``frame`` outward by SciPy, else None.

    NumPy's own Python frames (np.atleast_1d, ...) are skipped; the first other
    frame must be SciPy's, so that a user's function called back by SciPy
    (scipy.optimize) is not taken for SciPy. The name is that of the outermost
    SciPy frame of the run: the function the user called, not its helpers."""
    while frame is not None and frame.f_globals.get("__name__", "").startswith("numpy"):
        frame = frame.f_back
    if frame is None or not frame.f_globals.get("__name__", "").startswith("scipy."):
        return None
    outer = frame
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith("scipy."):
            outer = frame
        elif not module.startswith("numpy"):
            break
        frame = frame.f_back
    fn = _function_of(outer)
    module = outer.f_globals.get("__name__", "scipy")
    if fn is not None:
        return _public_name(fn, getattr(fn, "__module__", None) or module,
                            getattr(fn, "__qualname__", fn.__name__))
    return f"{module}.{outer.f_code.co_qualname}"


# ---------------------------------------------------------------------------
# Values and traced values

def _traced_tensor(t):
    return t.requires_grad or type(t._a) is DualArray


def _traced_leaf(a):
    t = type(a)
    if t is DualArray or t is Dual or t is Var:
        return True
    if isinstance(a, TensorBase):
        return _traced_tensor(a)
    if t is np.ndarray:
        return a.dtype.kind == "O" and builtins.any(_traced_leaf(e) for e in a.flat)
    return False


def _traced(a):
    """Whether ``a``, or an item of a list or tuple ``a`` (one level), is traced."""
    t = type(a)
    if t is list or t is tuple:
        return builtins.any(_traced_leaf(e) for e in a)
    return _traced_leaf(a)


def _value(a):
    """The plain values of a traced value or of an object array of Duals or Vars."""
    if isinstance(a, (list, tuple)):
        return np.asarray([_value(e) for e in a])
    if type(a) is Dual or type(a) is Var:
        return a.value
    if type(a) is np.ndarray and a.dtype.kind == "O":
        return np.array([_value(e) for e in a.flat], dtype=np.float64).reshape(a.shape)
    return C.values_of(a)


def _array(a):
    """A list or tuple of traced values as one array (SciPy takes lists)."""
    if isinstance(a, (list, tuple)):
        return C.assemble(list(a))
    return a


def _finish(out):
    """A 0-d object array (the scalar tier's result for one number) as its item,
    as SciPy returns a scalar for 0-d results."""
    if type(out) is np.ndarray and out.ndim == 0:
        return out[()]
    return out


def _where(mask, a, b):
    """np.where for a mask of values: the operand itself where the mask holds everywhere."""
    if np.all(mask):
        return a
    return np.where(mask, a, b)


def _shape_constant(name, param, *values):
    """Shape parameters that the functions below cannot differentiate in."""
    if builtins.any(_traced(v) for v in values):
        raise TypeError(f"{name}: the derivative with respect to {param} has no closed form, "
                        f"and dualgrad has no rule for it; derivatives in x, loc and scale are "
                        f"supported. Pass {param} as a plain number (its value, e.g. "
                        f"float(p.value)), or write a rule with dg.custom_jvp.")


# ---------------------------------------------------------------------------
# dualgrad's rows, which take every tier and nesting

# NumPy's ufuncs on object arrays call a method of each element, which the
# plain numbers among the scalar tier's Duals (np.array([x, 0.5])) lack;
# dualgrad's rows take every element, and every tier.
_exp, _log, _log1p, _expm1 = _rows.exp, _rows.log, _rows.log1p, _rows.expm1

erfc, lgamma = _rows.erfc, _rows.lgamma


# ---------------------------------------------------------------------------
# scipy.special

def _reduce_axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _max_constant(a, axis):
    """The maximum of the values along ``axis`` (kept), 0 where not finite: the
    constant subtracted for stability. Its derivative would cancel anyway."""
    m = np.max(_value(a), axis=axis, keepdims=True)
    return np.where(np.isfinite(m), m, 0.0)


def multigammaln(a, d):
    """log Gamma_d(a) = d(d-1)/4 log(pi) + sum_{j<d} gammaln(a - j/2), as SciPy's."""
    d = int(d)
    if d != d or d < 1:
        raise ValueError("d should be a positive integer (dimension)")
    if np.any(_value(a) <= 0.5 * (d - 1)):
        raise ValueError(f"condition a ({np.min(_value(a))}) > 0.5 * (d-1) ({0.5 * (d - 1)}) "
                         f"not met")
    out = d * (d - 1) / 4.0 * math.log(math.pi)
    for j in range(d):
        out = out + lgamma(a - 0.5 * j)
    return _finish(out)


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    a = _array(a)
    axis = _reduce_axis(axis)
    if b is not None:
        b = _array(b)
        shape = np.broadcast_shapes(np.shape(_value(a)), np.shape(_value(b)))
        if np.shape(_value(a)) != shape:
            a = np.broadcast_to(a, shape)
    m = _max_constant(a, axis)
    e = _exp(a - m)
    if b is not None:
        e = b * e
    s = np.sum(e, axis=axis, keepdims=True)
    if return_sign:
        sign = np.sign(_value(s))
        out = _log(np.abs(s)) + m
    else:
        out = _log(s) + m
    if not keepdims:
        out = np.squeeze(out, axis=axis)
        if return_sign:
            sign = np.squeeze(sign, axis=axis)
    out = _finish(out)
    if return_sign:
        return out, (sign[()] if np.ndim(sign) == 0 else sign)
    return out


def softmax(x, axis=None):
    x = _array(x)
    axis = _reduce_axis(axis)
    e = _exp(x - _max_constant(x, axis))
    return _finish(e / np.sum(e, axis=axis, keepdims=True))


def log_softmax(x, axis=None):
    x = _array(x)
    axis = _reduce_axis(axis)
    shifted = x - _max_constant(x, axis)
    return _finish(shifted - _log(np.sum(_exp(shifted), axis=axis, keepdims=True)))


# ---------------------------------------------------------------------------
# Regularized incomplete gamma and beta functions: their derivative in x is a
# density; in the shape parameters it has no closed form (dualgrad has none).

def _special():
    import scipy.special
    return scipy.special


def _incomplete(name, value, density):
    """A custom_jvp function of (shape parameters..., x) differentiable in x: its
    value is ``value(*shapes, x)`` on the values, its derivative ``density``."""
    def fn(shapes, x):
        return value(*shapes, x)
    fn.__name__ = fn.__qualname__ = name
    fn = custom_jvp(fn, nondiff_argnums=(0,))

    @fn.defjvp
    def rule(shapes, primals, tangents):
        (x,), (dx,) = primals, tangents
        return fn(shapes, x), density(*shapes, x) * dx
    return fn


def _gamma_density(a, x):
    return _exp((a - 1) * _log(x) - x - lgamma(a))


def _beta_density(a, b, x):
    return _exp((a - 1) * _log(x) + (b - 1) * _log1p(-x)
                  - (lgamma(a) + lgamma(b) - lgamma(a + b)))


def _t_density(df, x):
    return _exp(_t_logpdf(x, df))


_gammainc = _incomplete("gammainc", lambda a, x: _special().gammainc(a, x), _gamma_density)
_gammaincc = _incomplete("gammaincc", lambda a, x: _special().gammaincc(a, x),
                         lambda a, x: -_gamma_density(a, x))
_betainc = _incomplete("betainc", lambda a, b, x: _special().betainc(a, b, x), _beta_density)
_betaincc = _incomplete("betaincc", lambda a, b, x: _special().betaincc(a, b, x),
                        lambda a, b, x: -_beta_density(a, b, x))
_stdtr = _incomplete("stdtr", lambda df, x: _special().stdtr(df, x), _t_density)


# The discrete cdfs are differentiable in their continuous parameter (k is a
# count): d/dmu Q(k + 1, mu) = -pmf(k; mu), d/dp bdtr(k, n, p) = -n pmf(k; n - 1, p).
def _pdtr_value(k, mu):
    return _special().pdtr(k, mu)


_pdtr = custom_jvp(lambda k, mu: _pdtr_value(k, mu), nondiff_argnums=(0,))


@_pdtr.defjvp
def _pdtr_rule(k, primals, tangents):
    (mu,), (dmu,) = primals, tangents
    return _pdtr(k, mu), -_exp(_poisson_logpmf(k, mu)) * dmu


_bdtr = custom_jvp(lambda kn, p: _special().bdtr(kn[0], kn[1], p), nondiff_argnums=(0,))


@_bdtr.defjvp
def _bdtr_rule(kn, primals, tangents):
    (p,), (dp,) = primals, tangents
    k, n = kn
    return _bdtr(kn, p), -n * _exp(_binom_logpmf(k, n - 1, p)) * dp


# ---------------------------------------------------------------------------
# scipy.stats: continuous distributions, in the standardized variable
# z = (x - loc) / scale. Each model gives the methods on z (the shape
# parameters after it) and a point inside the support, which stands in for z
# where the result is SciPy's constant (outside the support, invalid parameters)
# so that no branch that is not taken computes a nan that a derivative could
# carry.

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_SQRT2 = math.sqrt(2.0)


def _t_logpdf(z, df):
    return (lgamma((df + 1) / 2) - lgamma(df / 2) - 0.5 * _log(df * np.pi)
            - (df + 1) / 2 * _log1p(z * z / df))


class _Model(NamedTuple):
    inside: float                   # a point inside the support
    logpdf: Callable
    cdf: Callable = None
    sf: Callable = None
    logcdf: Callable = None         # default: log(cdf)
    logsf: Callable = None          # default: log(sf)
    fixed_cdf: tuple = ()           # the shape parameters that cdf and sf cannot differentiate in


_CONTINUOUS = {
    "norm": _Model(
        0.0, lambda z: -0.5 * z * z - _LOG_SQRT_2PI,
        cdf=lambda z: 0.5 * erfc(-z / _SQRT2),
        sf=lambda z: 0.5 * erfc(z / _SQRT2)),
    "expon": _Model(
        1.0, lambda z: -z,
        cdf=lambda z: -_expm1(-z), sf=lambda z: _exp(-z),
        logsf=lambda z: -z),
    "t": _Model(
        0.0, _t_logpdf,
        cdf=lambda z, df: _stdtr((df,), z), sf=lambda z, df: _stdtr((df,), -z),
        fixed_cdf=("df",)),
    "gamma": _Model(
        1.0, lambda z, a: (a - 1) * _log(z) - z - lgamma(a),
        cdf=lambda z, a: _gammainc((a,), z), sf=lambda z, a: _gammaincc((a,), z),
        fixed_cdf=("a",)),
    "beta": _Model(
        0.5, lambda z, a, b: ((a - 1) * _log(z) + (b - 1) * _log1p(-z)
                              - (lgamma(a) + lgamma(b) - lgamma(a + b))),
        cdf=lambda z, a, b: _betainc((a, b), z), sf=lambda z, a, b: _betaincc((a, b), z),
        fixed_cdf=("a", "b")),
}


def _continuous(method):
    """The implementation of ``rv_continuous.<method>`` for the models above."""
    def run(dist, x, *args, **kwds):
        model = _CONTINUOUS[dist.name]
        shapes, loc, scale = dist._parse_args(*args, **kwds)
        x, loc, scale = _array(x), _array(loc), _array(scale)
        shapes = tuple(_array(s) for s in shapes)
        name = f"scipy.stats.{dist.name}.{method}"
        if method not in ("logpdf", "pdf") and model.fixed_cdf:
            for param, s in zip(model.fixed_cdf, shapes):
                _shape_constant(name, param, s)
        # SciPy's result on the values: kept where the formula does not hold
        # (outside the open support, invalid parameters), as a constant.
        vals = [_value(v) for v in (x, loc, scale, *shapes)]
        ref = getattr(dist, method)(vals[0], *vals[3:], loc=vals[1], scale=vals[2])
        z_val = (vals[0] - vals[1]) / np.where(vals[2] > 0, vals[2], 1.0)
        lo, hi = dist._get_support(*vals[3:])
        good = (np.asarray(dist._argcheck(*vals[3:]), dtype=bool) & (vals[2] > 0)
                & (lo < z_val) & (z_val < hi))
        safe = [_where(good, v, fill) for v, fill in
                zip((x, loc, scale), (model.inside, 0.0, 1.0))]
        if not np.all(good):
            # Invalid shape parameters get a harmless stand-in, as z does.
            shapes = tuple(_where(good, s, 1.0) for s in shapes)
        x, loc, scale = safe
        z = (x - loc) / scale
        if method in ("logpdf", "pdf"):
            out = model.logpdf(z, *shapes) - _log(scale)
            if method == "pdf":
                out = _exp(out)
        elif method in ("cdf", "sf"):
            out = getattr(model, method)(z, *shapes)
        elif method == "logcdf":
            out = (model.logcdf or (lambda *a: _log(model.cdf(*a))))(z, *shapes)
        else:
            out = (model.logsf or (lambda *a: _log(model.sf(*a))))(z, *shapes)
        return _finish(_where(good, out, ref))
    run.__name__ = method
    return run


# ---------------------------------------------------------------------------
# scipy.stats: discrete distributions, differentiable in their continuous
# parameters (poisson's mu, binom's p); k and binom's n are counts.

def _poisson_logpmf(k, mu):
    return k * _log(mu) - mu - lgamma(k + 1.0)


def _binom_logpmf(k, n, p):
    return (lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0)
            + k * _log(p) + (n - k) * _log1p(-p))


_DISCRETE = {"poisson": (("mu",), 1.0), "binom": (("n", "p"), 0.5)}


def _discrete(method):
    def run(dist, k, *args, **kwds):
        params, inside = _DISCRETE[dist.name]
        shapes, loc = dist._parse_args(*args, **kwds)[:2]
        name = f"scipy.stats.{dist.name}.{method}"
        _shape_constant(name, "k (a count)", k)
        _shape_constant(name, "loc (an integer shift)", loc)
        if dist.name == "binom":
            _shape_constant(name, "n (a count)", shapes[0])
        k = np.asarray(_value(k), dtype=np.float64) - _value(loc)
        shapes = tuple(_array(s) for s in shapes)
        vals = [_value(s) for s in shapes]
        ref = getattr(dist, method)(k, *vals)
        lo, hi = dist._get_support(*vals)
        cont = vals[-1]     # mu or p: inside (0, inf) or (0, 1), where log is finite
        good = (np.asarray(dist._argcheck(*vals), dtype=bool) & (cont > 0)
                & (k == np.floor(k)) & (lo <= k) & (k <= hi))
        if dist.name == "binom":
            good &= cont < 1
        if method == "cdf":     # the cdf is 1 above the support, a constant there
            good = (np.asarray(dist._argcheck(*vals), dtype=bool) & (cont > 0)
                    & (k >= lo) & (np.floor(k) < hi))
            if dist.name == "binom":
                good &= cont < 1
        p = _where(good, shapes[-1], inside)
        k = np.where(good, np.floor(k) if method == "cdf" else k, 0.0)
        if dist.name == "poisson":
            out = (_pdtr(k, p) if method == "cdf" else _poisson_logpmf(k, p))
        else:
            n = np.where(good, vals[0], 1.0)
            out = (_bdtr((k, n), p) if method == "cdf" else _binom_logpmf(k, n, p))
        if method == "pmf":
            out = _exp(out)
        return _finish(_where(good, out, ref))
    run.__name__ = method
    return run


# ---------------------------------------------------------------------------
# scipy.stats.multivariate_normal

def _mvn_logpdf(x, mean=None, cov=1, allow_singular=False):
    x, cov = _array(x), _array(cov)
    mean = None if mean is None else _array(mean)
    cv = np.asarray(_value(cov))
    # The dimension as SciPy reads it (_process_parameters), and its errors.
    if mean is not None:
        dim = int(np.size(_value(mean)))
    else:
        dim = 1 if cv.ndim < 2 else cv.shape[0]
    if mean is None:
        mean = np.zeros(dim)
    mean = np.reshape(mean, (dim,))
    if cv.ndim == 0:
        cov = cov * np.eye(dim)
    elif cv.ndim == 1:
        cov = np.diag(cov)
    if np.shape(_value(cov)) != (dim, dim):
        raise ValueError(f"Array 'cov' must be of shape ({dim}, {dim}) for a mean of "
                         f"{dim} element(s); it has shape {cv.shape}")
    xv = np.asarray(_value(x))
    if xv.ndim == 0:
        x = np.reshape(x, (1,))
    elif xv.ndim == 1 and dim == 1:
        x = np.reshape(x, (-1, 1))
    dev = x - mean
    batch = np.shape(_value(dev))[:-1]
    L = np.linalg.cholesky(cov)
    y = np.linalg.solve(L, np.reshape(dev, (-1, dim)).T)
    maha = np.reshape(np.sum(y * y, axis=0), batch)
    logdet = 2 * np.sum(_log(np.diagonal(L)))
    out = -0.5 * (dim * 2 * _LOG_SQRT_2PI + logdet + maha)
    return _finish(np.squeeze(out))


def _mvn(method):
    def run(dist, x, mean=None, cov=1, allow_singular=False, *args, **kwargs):
        out = _mvn_logpdf(x, mean, cov, allow_singular)
        return _finish(_exp(out)) if method == "pdf" else out
    run.__name__ = method
    return run


def _mvn_frozen(method):
    def run(frozen, x):
        return _mvn(method)(None, x, frozen.mean, frozen.cov)
    run.__name__ = method
    return run


# ---------------------------------------------------------------------------
# scipy.signal

def _centered(a, shape):
    full = np.shape(_value(a))
    start = [(f - s) // 2 for f, s in zip(full, shape)]
    return a[tuple(slice(b, b + s) for b, s in zip(start, shape))]


def convolve(in1, in2, mode="full", method="auto"):
    in1, in2 = _array(in1), _array(in2)
    s1, s2 = np.shape(_value(in1)), np.shape(_value(in2))
    if len(s1) != len(s2):
        raise ValueError("in1 and in2 should have the same dimensionality")
    if len(s1) == 0:
        return _finish(in1 * in2)
    if mode not in ("full", "same", "valid"):
        raise ValueError("acceptable mode flags are 'valid', 'same', or 'full'")
    if mode == "valid":
        if all(a >= b for a, b in zip(s2, s1)) and s1 != s2:
            in1, in2, s1, s2 = in2, in1, s2, s1     # as SciPy: the larger one first
        elif not all(a >= b for a, b in zip(s1, s2)):
            raise ValueError("For 'valid' mode, one must be at least as large as the other "
                             "in every dimension")
    full_shape = tuple(a + b - 1 for a, b in zip(s1, s2))
    if 0 in s1 or 0 in s2:
        return np.zeros(0)
    # One shifted copy of the larger operand per element of the smaller one
    # (convolution commutes): a sum of products, whose derivative is exact in
    # both arguments.
    big, small, sb, ss = ((in1, in2, s1, s2) if math.prod(s1) >= math.prod(s2)
                          else (in2, in1, s2, s1))
    terms = []
    for j in np.ndindex(*ss):
        widths = [(i, f - s - i) for i, f, s in zip(j, full_shape, sb)]
        terms.append(np.pad(big * small[j], widths))
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    if mode == "same":
        out = _centered(out, s1)
    elif mode == "valid":
        out = _centered(out, tuple(a - b + 1 for a, b in zip(s1, s2)))
    return out


def correlate(in1, in2, mode="full", method="auto"):
    in2 = _array(in2)
    if np.ndim(_value(in2)) == 0:
        return convolve(in1, in2, mode)
    return convolve(in1, np.flip(in2), mode)


# ---------------------------------------------------------------------------
# scipy.integrate

def trapezoid(y, x=None, dx=1.0, axis=-1):
    y = _array(y)
    x = None if x is None else _array(x)
    return _finish(C.trapezoid(y, x, dx, axis))


def simpson(y, x=None, *, dx=1.0, axis=-1):
    # Simpson's rule (SciPy's, with Cartwright's correction for an even number
    # of samples) is linear in y at given x: its weights are SciPy's own
    # simpson of the unit vectors.
    _shape_constant("scipy.integrate.simpson", "the sample points x", x, dx)
    y = _array(y)
    n = np.shape(_value(y))[axis]
    if x is not None and np.ndim(x) != 1:
        raise TypeError("scipy.integrate.simpson on traced values takes x of one dimension "
                        "(or dx); for x of y's shape, integrate each line separately")
    import scipy.integrate
    weights = scipy.integrate.simpson(np.eye(n), x=x, dx=dx, axis=-1)
    return _finish(np.tensordot(np.moveaxis(y, axis, -1), weights, axes=([-1], [0])))


# ---------------------------------------------------------------------------
# scipy.linalg: NumPy's implementations (linalg rules), with SciPy's signatures.
# SciPy's structured solvers read one triangle of a (LAPACK's uplo): the same
# matrix is made explicit here, so that values and derivatives are of the
# function SciPy computes.

def _swap(a):
    return np.swapaxes(a, -1, -2)


def _from_triangle(a, lower):
    if lower:
        return np.tril(a) + _swap(np.tril(a, -1))
    return np.triu(a) + _swap(np.triu(a, 1))


_SYMMETRIC = {"sym", "her", "pos", "symmetric", "hermitian", "positive definite"}


def _structured(name, a, assume_a, lower):
    if assume_a in (None, "gen", "general"):
        return a
    if assume_a in _SYMMETRIC:
        return _from_triangle(a, lower)
    if assume_a == "upper triangular":
        return np.triu(a)
    if assume_a == "lower triangular":
        return np.tril(a)
    if assume_a in ("diagonal",):
        return a * np.eye(np.shape(_value(a))[-1])
    raise TypeError(f"scipy.linalg.{name} on traced values takes assume_a of 'gen', 'sym', "
                    f"'her', 'pos', 'diagonal', 'upper triangular' or 'lower triangular', not "
                    f"{assume_a!r}")


def inv(a, overwrite_a=False, check_finite=True, *, assume_a=None, lower=False):
    return np.linalg.inv(_structured("inv", _array(a), assume_a, lower))


def det(a, overwrite_a=False, check_finite=True):
    return _finish(np.linalg.det(_array(a)))


def solve(a, b, lower=False, overwrite_a=False, overwrite_b=False, check_finite=True,
          assume_a=None, transposed=False):
    a = _structured("solve", _array(a), assume_a, lower)
    if transposed:
        a = _swap(a)
    return np.linalg.solve(a, _array(b))


def cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    L = np.linalg.cholesky(_from_triangle(_array(a), lower))
    return L if lower else _swap(L)


# The decompositions and matrix functions: dualgrad._array.linalg's rules, under
# SciPy's names and arguments (its own where they are SciPy's already).

def _not_supported(name, **options):
    for option, given in options.items():
        if given:
            raise TypeError(f"scipy.linalg.{name} on traced values does not take {option}; "
                            f"call it without, or on the values alone")


def svd(a, full_matrices=True, compute_uv=True, overwrite_a=False, check_finite=True,
        lapack_driver="gesdd"):
    out = _linalg.svd(_array(a), full_matrices=full_matrices, compute_uv=compute_uv)
    return tuple(out) if compute_uv else out


def eigh(a, b=None, *, lower=True, eigvals_only=False, overwrite_a=False, overwrite_b=False,
         type=1, check_finite=True, subset_by_index=None, subset_by_value=None, driver=None):
    _not_supported("eigh", b=b is not None, subset_by_index=subset_by_index is not None,
                   subset_by_value=subset_by_value is not None)
    uplo = "L" if lower else "U"
    if eigvals_only:
        return _linalg.eigvalsh(_array(a), uplo)
    return tuple(_linalg.eigh(_array(a), uplo))


def eigvalsh(a, b=None, *, lower=True, overwrite_a=False, overwrite_b=False, type=1,
             check_finite=True, subset_by_index=None, subset_by_value=None, driver=None):
    return eigh(a, b, lower=lower, eigvals_only=True, subset_by_index=subset_by_index,
                subset_by_value=subset_by_value)


_QR_MODES = {"full": "complete", "economic": "reduced"}


def qr(a, overwrite_a=False, lwork=None, mode="full", pivoting=False, check_finite=True):
    _not_supported("qr", pivoting=pivoting, **{"mode='raw'": mode == "raw"})
    if mode == "r":
        return (_linalg.qr(_array(a), mode="r"),)   # SciPy's mode 'r' gives a tuple
    return tuple(_linalg.qr(_array(a), mode=_QR_MODES.get(mode, mode)))


def pinv(a, *, atol=None, rtol=None, return_rank=False, check_finite=True):
    _not_supported("pinv", atol=atol is not None)
    a = _array(a)
    out = (_linalg.pinv(a) if rtol is None else _linalg.pinv(a, rtol=rtol))
    if return_rank:
        return out, _linalg.matrix_rank(a, rtol=rtol)
    return out


def lstsq(a, b, cond=None, overwrite_a=False, overwrite_b=False, check_finite=True,
          lapack_driver=None):
    return tuple(_linalg.lstsq(_array(a), _array(b), rcond=cond))


def norm(a, ord=None, axis=None, keepdims=False, check_finite=True):
    return _finish(_linalg.norm(_array(a), ord=ord, axis=axis, keepdims=keepdims))


def _matrix_function(fn):
    def f(A, *args, **kwargs):      # (disp=, blocksize=: how SciPy reports and blocks)
        return fn(_array(A))
    f.__name__ = fn.__name__
    return f


expm, logm, sqrtm = (_matrix_function(_linalg.expm), _matrix_function(_linalg.logm),
                     _matrix_function(_linalg.sqrtm))


# ---------------------------------------------------------------------------
# scipy.fft: NumPy's transforms (dualgrad._array.fft), with SciPy's signatures.
# workers, overwrite_x and plan only choose how SciPy computes: they are
# accepted and have nothing to do here.

def _fft_1d(name):
    def run(x, n=None, axis=-1, norm=None, overwrite_x=False, workers=None, *, plan=None):
        return getattr(_FFT, name)(_array(x), n, axis, norm)
    run.__name__ = run.__qualname__ = name
    return run


def _fft_nd(name, axes):
    kind = name.replace("2", "n")

    def run(x, s=None, axes=axes, norm=None, overwrite_x=False, workers=None, *, plan=None):
        # SciPy takes the last len(s) axes for s without axes, as NumPy did
        # before it deprecated that: no warning here.
        return _FFT._many(kind, _array(x), s, axes, norm, warn=False)
    run.__name__ = run.__qualname__ = name
    return run


def _fft_hermitian(name, axes):
    kind = name.replace("2", "n")

    def run(x, s=None, axes=axes, norm=None, overwrite_x=False, workers=None, *, plan=None):
        return _FFT.hermitian_nd(kind, _array(x), s, axes, norm)
    run.__name__ = run.__qualname__ = name
    return run


def _fft_shift(name):
    def run(x, axes=None):
        return getattr(_FFT, name)(_array(x), axes)
    run.__name__ = run.__qualname__ = name
    return run


def _fft_rows():
    rows = [Row(f"scipy.fft.{name}", _fft_1d(name), False, note="n=, axis=, norm=")
            for name in ("fft", "ifft", "rfft", "irfft", "hfft", "ihfft")]
    rows += [Row(f"scipy.fft.{name}", _fft_nd(name, (-2, -1) if "2" in name else None), False,
                 note="s=, axes=, norm=")
             for name in ("fft2", "ifft2", "rfft2", "irfft2", "fftn", "ifftn", "rfftn",
                          "irfftn")]
    rows += [Row(f"scipy.fft.{name}", _fft_hermitian(name, (-2, -1) if "2" in name else None),
                 False, note="s=, axes=, norm=")
             for name in ("hfft2", "ihfft2", "hfftn", "ihfftn")]
    rows += [Row(f"scipy.fft.{name}", _fft_shift(name), False)
             for name in ("fftshift", "ifftshift")]
    return rows


# ---------------------------------------------------------------------------
# The registry

class Row(NamedTuple):
    path: str               # where SciPy has it: "scipy.special.logsumexp", "scipy.stats.t.cdf"
    impl: Callable          # the dualgrad implementation, of SciPy's signature
    scalar: bool = True     # runs on the scalar tier's Duals, Vars and object arrays of them
    kind: str = ""          # the docs page's section
    note: str = ""          # the docs page's remark

    @property
    def module(self):
        """The SciPy module that holds it, imported or not."""
        return ".".join(self.path.split(".")[:2])


_DIST_NOTE = "differentiable in x, loc and scale"
_CDF_NOTE = "differentiable in x, loc and scale; not in the shape parameter(s)"
_MVN_NOTE = "differentiable in x, mean and cov (through the Cholesky factor)"


def _distribution_rows():
    rows = []
    for name in _CONTINUOUS:
        shapes = ", ".join(_CONTINUOUS[name].fixed_cdf)
        for method in ("logpdf", "pdf", "cdf", "logcdf", "sf", "logsf"):
            note = _DIST_NOTE + (f" and {shapes}" if shapes else "")
            if method not in ("logpdf", "pdf") and shapes:
                note = _CDF_NOTE + f" ({shapes})"
            rows.append(Row(f"scipy.stats.{name}.{method}", _continuous(method), note=note))
    for name, (params, _) in _DISCRETE.items():
        for method in ("logpmf", "pmf", "cdf"):
            rows.append(Row(f"scipy.stats.{name}.{method}", _discrete(method),
                            note=f"differentiable in {params[-1]}; k is a constant"))
    for method in ("logpdf", "pdf"):
        rows.append(Row(f"scipy.stats.multivariate_normal.{method}", _mvn(method), False,
                        note=_MVN_NOTE))
        rows.append(Row(f"scipy.stats.multivariate_normal(...).{method}", _mvn_frozen(method),
                        False, note="frozen with plain mean and cov: differentiable in x"))
    return rows


def _section(kind, rows):
    return [r._replace(kind=kind) for r in rows]


ROWS = [
    *_section("scipy.special", [
        Row("scipy.special.logsumexp", logsumexp, note="axis, b, keepdims, return_sign"),
        Row("scipy.special.softmax", softmax),
        Row("scipy.special.log_softmax", log_softmax),
        Row("scipy.special.multigammaln", multigammaln, note="differentiable in a"),
    ]),
    *_section("scipy.stats", _distribution_rows()),
    *_section("scipy.signal", [
        Row("scipy.signal.convolve", convolve, note="modes full, same, valid; n-D"),
        Row("scipy.signal.correlate", correlate, note="modes full, same, valid; n-D"),
    ]),
    *_section("scipy.integrate", [
        Row("scipy.integrate.trapezoid", trapezoid),
        Row("scipy.integrate.simpson", simpson, note="differentiable in y; x one-dimensional"),
    ]),
    *_section("scipy.linalg", [
        Row("scipy.linalg.inv", inv, False),
        Row("scipy.linalg.det", det, False),
        Row("scipy.linalg.solve", solve, False,
            note="assume_a gen, sym, her, pos, diagonal, upper/lower triangular"),
        Row("scipy.linalg.cholesky", cholesky, False, note="lower=False: the upper factor"),
        Row("scipy.linalg.svd", svd, False, note="full_matrices, compute_uv"),
        Row("scipy.linalg.svdvals", _linalg.svdvals, False),
        Row("scipy.linalg.eigh", eigh, False, note="lower, eigvals_only; no b or subsets"),
        Row("scipy.linalg.eigvalsh", eigvalsh, False, note="lower; no b or subsets"),
        Row("scipy.linalg.qr", qr, False, note="modes full, economic, r; no pivoting"),
        Row("scipy.linalg.lu", _linalg.lu, False, note="permute_l, p_indices"),
        Row("scipy.linalg.pinv", pinv, False, note="rtol, return_rank"),
        Row("scipy.linalg.lstsq", lstsq, False),
        Row("scipy.linalg.norm", norm, False, note="every ord of NumPy's"),
        Row("scipy.linalg.solve_triangular", _linalg.solve_triangular, False),
        Row("scipy.linalg.cho_factor", _linalg.cho_factor, False),
        Row("scipy.linalg.cho_solve", _linalg.cho_solve, False),
        Row("scipy.linalg.solve_sylvester", _linalg.solve_sylvester, False),
        Row("scipy.linalg.solve_banded", _linalg.solve_banded, False),
        Row("scipy.linalg.expm", expm, False, note="Frechet derivative (block form)"),
        Row("scipy.linalg.logm", logm, False, note="real results; Frechet derivative"),
        Row("scipy.linalg.sqrtm", sqrtm, False, note="real results; Frechet derivative"),
    ]),
    *_section("scipy.fft", _fft_rows()),
]

REGISTRY = {}
"""The registered SciPy functions: function object, or (method function,
distribution class) for methods of distributions, to its :class:`Row`."""


def _locate(path):
    """(function object, class or None) of a row's path in the imported SciPy."""
    owner, method = path.replace("(...)", "").rsplit(".", 1)
    if owner.startswith("scipy.stats."):      # a method of a distribution
        dist = getattr(sys.modules["scipy.stats"], owner[len("scipy.stats."):])
        # A frozen distribution's class (multivariate_normal's, the one frozen
        # row), from an instance frozen at plain parameters.
        cls = type(dist(np.zeros(1), np.eye(1))) if "(...)" in path else type(dist)
        return getattr(cls, method), cls
    return getattr(sys.modules[owner], method), None


# ---------------------------------------------------------------------------
# The trampolines

_GLOBAL = "__dualgrad_scipy_dispatch__"


class _Site(NamedTuple):
    function: types.FunctionType    # the patched function object
    original: types.CodeType        # its own code
    plain: types.FunctionType       # a copy of the original function, run on plain values
    method: bool                    # keyed by (function, class of the first argument)


_SITES = []         # index in the trampoline's code -> _Site
_PATCHED = {}       # function -> index


# Types of arguments that are never traced: skipped without a closer look.
_PLAIN = frozenset({float, int, bool, str, bytes, type(None), np.float64, np.int64,
                    np.bool_, slice, type(Ellipsis)})


def _any_traced(values):
    for a in values:
        t = type(a)
        if t in _PLAIN or t is np.ndarray and a.dtype.kind != "O":
            continue
        if _traced(a):
            return True
    return False


def _dispatch(index, args, kwargs):
    # A plain loop, no generator: this runs at every call of a registered function.
    site = _SITES[index]
    if not (_any_traced(args) or kwargs and _any_traced(kwargs.values())):
        return site.plain(*args, **kwargs)
    if site.method:
        row = REGISTRY.get((site.function, type(args[0])))
        if row is None:
            dist = getattr(args[0], "name", None) or type(args[0]).__name__
            raise no_rule_error(f"scipy.stats.{dist}.{site.function.__name__}")
    else:
        row = REGISTRY[site.function]
    return _run(row, args, kwargs)


def _run(row, args, kwargs):
    if not row.scalar:
        _planner.note_not_on_objects(row.path)
    args = C.objects_converted(args)
    if kwargs:
        kwargs = dict(zip(kwargs, C.objects_converted(tuple(kwargs.values()))))
    return row.impl(*args, **kwargs)


# ---------------------------------------------------------------------------
# uarray multimethods (scipy.fft's transforms): objects of a compiled type, with
# no Python code to replace. SciPy tries the backends registered for their
# domain before its own (its global backend is set with try_last=True), so one
# backend per domain takes the traced calls to their rows and gives every other
# call back to SciPy (NotImplemented). uarray cannot unregister a backend:
# :func:`restore` empties REGISTRY, which leaves it passing everything on.

class _Backend:
    def __init__(self, domain):
        self.__ua_domain__ = domain

    def __ua_function__(self, method, args, kwargs):
        row = REGISTRY.get(method)
        if row is None or not (_any_traced(args) or kwargs and _any_traced(kwargs.values())):
            return NotImplemented
        return _run(row, args, kwargs)


_BACKENDS = {}      # module -> its registered _Backend


def _multimethod(fn):
    return hasattr(fn, "arg_extractor") and isinstance(getattr(fn, "domain", None), str)


def _register_backend(fn, module):
    if module not in _BACKENDS:
        _BACKENDS[module] = _Backend(fn.domain)
        sys.modules[module].register_backend(_BACKENDS[module])


def _trampoline(fn, index):
    """Code of ``fn``'s parameters and free variables that calls _dispatch."""
    code = fn.__code__
    names = code.co_varnames
    npos, nkw = code.co_argcount, code.co_kwonlyargcount
    positional, kwonly = list(names[:npos]), list(names[npos:npos + nkw])
    i = npos + nkw
    varargs = varkw = None
    if code.co_flags & 0x04:        # CO_VARARGS
        varargs, i = names[i], i + 1
    if code.co_flags & 0x08:        # CO_VARKEYWORDS
        varkw = names[i]
    params = list(positional)
    if code.co_posonlyargcount:
        params.insert(code.co_posonlyargcount, "/")
    if varargs:
        params.append("*" + varargs)
    elif kwonly:
        params.append("*")
    params += kwonly
    if varkw:
        params.append("**" + varkw)
    call_args = "".join(f"{p}, " for p in positional) + (f"*{varargs}, " if varargs else "")
    call_kw = ", ".join(f"{k!r}: {k}" for k in kwonly)
    if varkw:
        call_kw += (", " if call_kw else "") + f"**{varkw}"
    free = code.co_freevars
    lines = ["def _factory():"]
    lines += [f"    {name} = None" for name in free]
    lines.append(f"    def {code.co_name}({', '.join(params)}):")
    if free:
        # Never run: they make the closure's cells this code's free variables.
        lines.append(f"        if False: ({', '.join(free)},)")
    lines.append(f"        return {_GLOBAL}({index}, ({call_args}), {{{call_kw}}})")
    lines.append(f"    return {code.co_name}")
    namespace = {}
    exec(compile("\n".join(lines), code.co_filename, "exec"), namespace)
    new = namespace["_factory"]().__code__
    if len(new.co_freevars) != len(free):
        raise AssertionError(f"trampoline of {fn.__qualname__}: free variables differ")
    # SciPy's file and first line: inspect.getsource still shows SciPy's source,
    # and a traceback through the trampoline shows the function's def line.
    return new.replace(co_name=code.co_name, co_qualname=code.co_qualname,
                       co_filename=code.co_filename, co_firstlineno=code.co_firstlineno)


def _patch(fn):
    if fn in _PATCHED:
        return
    index = len(_SITES)
    plain = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__,
                               fn.__closure__)
    plain.__kwdefaults__ = fn.__kwdefaults__
    plain.__qualname__ = fn.__qualname__
    site = _Site(fn, fn.__code__, plain, False)
    code = _trampoline(fn, index)
    fn.__globals__[_GLOBAL] = _dispatch
    _SITES.append(site)
    fn.__code__ = code
    _PATCHED[fn] = index


def install(ran=None):
    """Register and patch the rows of the SciPy modules imported so far (``ran``:
    the module whose code has just run, which the import system still marks
    as being imported), and have the others patched when they are imported."""
    for row in ROWS:
        module = sys.modules.get(row.module)
        if module is None or row.module != ran and getattr(
                getattr(module, "__spec__", None), "_initializing", False):
            continue        # not imported, or still running (the hook patches it after)
        try:
            fn, cls = _locate(row.path)
        except AttributeError:
            continue        # a SciPy version without it
        if _multimethod(fn):
            REGISTRY[fn] = row
            _register_backend(fn, row.module)
            continue
        if not isinstance(fn, types.FunctionType):
            continue        # compiled in this SciPy version: not Python code to reroute
        REGISTRY[fn if cls is None else (fn, cls)] = row
        _patch(fn)
        if cls is not None:
            index = _PATCHED[fn]
            _SITES[index] = _SITES[index]._replace(method=True)
    if not all(m in sys.modules for m in _MODULES) and _HOOK not in sys.meta_path:
        sys.meta_path.insert(0, _HOOK)


def restore():
    """Put back the original code of every patched function (and forget them):
    SciPy is then as it was before dualgrad was imported. :func:`install`
    patches again."""
    for fn, index in list(_PATCHED.items()):
        fn.__code__ = _SITES[index].original
        fn.__globals__.pop(_GLOBAL, None)
    _PATCHED.clear()
    _SITES.clear()
    REGISTRY.clear()
    if _HOOK in sys.meta_path:
        sys.meta_path.remove(_HOOK)


def patched(fn):
    """Whether ``fn`` (a function, or a bound method) runs through a trampoline."""
    return getattr(fn, "__func__", fn) in _PATCHED


# ---------------------------------------------------------------------------
# SciPy modules imported after dualgrad: patched when they have run

_MODULES = frozenset(row.module for row in ROWS)


class _ImportHook:
    """A meta path finder that lets the other finders find the registered SciPy
    modules, and patches them once the module has run."""

    def find_spec(self, name, path=None, target=None):
        if name not in _MODULES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module):
            try:
                run(module)
            finally:
                loader.__dict__.pop("exec_module", None)
            install(name)
        try:
            loader.exec_module = exec_module    # this module's loader only
        except AttributeError:
            return spec
        return spec


_HOOK = _ImportHook()

