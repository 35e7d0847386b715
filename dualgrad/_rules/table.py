"""The one derivative table: every elementwise primitive, its value and its derivatives.

Each :class:`Rule` row says everything dualgrad knows about one primitive:

``c``
    The value, as C code over the operands ``x`` (and ``y``). An expression, or a
    function body containing ``return``. Helpers from ``prelude.h`` and libm may be used.
``d``
    One derivative per operand, in the *rule language* (below), over the operands
    ``x``, ``y`` and the primal output ``ans``; ``None`` means identically zero
    (piecewise-constant primitives such as ``floor``).
``domain``
    Per operand, a union of intervals where the primitive is smooth; the tests
    sample there.
``integer``
    Indices of operands that are parameters (the order of ``polygamma``, of
    ``jv``): not differentiated, sampled at integers by the tests. Their
    derivative is ``None`` (zero: polygamma's order is discrete) or ``nan``
    where the function is smooth in the parameter but dualgrad has no rule for
    it (the Bessel functions' orders may be any real): differentiating along
    one then gives nan, never a silent 0, while a constant order (tangent 0)
    contributes exactly nothing.
``complex``
    The derivatives for complex operands (see :data:`HOLOMORPHIC`), or None
    where the primitive has no complex extension (``floor``, ``maximum``): a
    complex operand is then a TypeError. ``HOLOMORPHIC`` says the derivatives
    ``d`` hold as written in complex arithmetic (``exp``: ``ans``). Otherwise one
    entry per operand: a string, the complex derivative of a holomorphic
    primitive where it must be written differently (``arcsinh``: ``hypot`` is real
    only); or a pair ``(d/dz, d/dconj(z))`` of Wirtinger derivatives for a
    primitive that is not holomorphic (``abs``), the tangent then being
    ``d/dz * t + d/dconj(z) * conj(t)``.
``ufuncs``, ``math``, ``operator``, ``torch``
    The NumPy ufuncs, the Python ``math`` function and the Python operator that
    compute the same value, and the PyTorch function the tests use as an
    independent reference (a name in ``torch``, or ``callable(torch, *args)``).
``scipy``
    The names of the ``scipy.special`` ufuncs that compute the same value: on
    dualgrad's types they run this row (``scipy.special.erfcx(x)`` is
    ``dualgrad.erfcx(x)``). SciPy is optional: the map is filled only where it
    imports (``dualgrad/_scalar/ufuncs.py``).

Values that libm lacks (``erfcx``, ``ndtri``, the Bessel functions, ...) call
SciPy's own C implementations through ``dg_sf_<name>`` (see ``prelude.h``):
those rows need SciPy (:func:`needs_scipy`) and raise an ImportError naming it
where it is not installed.

The rule language is Python expression syntax: numbers, ``x``, ``y``, ``ans``,
the constants ``pi``, ``LN2``, ``LN10``, the operators ``+ - * /``, comparisons,
``&`` and ``|`` between comparisons, ``where(cond, a, b)`` and calls of the
primitives of this table by name (``conjugate`` among them). ``codegen.py``
compiles it to C for ``rules.h`` (shared by the scalar types and the GPU kernels);
:meth:`Rule.derivatives` compiles it to Python over any namespace of functions
(floats, Duals, arrays), so every derivative is itself differentiable.

Conventions at non-differentiable points and domain edges follow IEEE and NumPy
(see ``docs/conventions.rst``): the derivative formula is evaluated as written,
so ``sqrt`` and ``log`` at 0 have derivative ``inf``, ``abs`` and ``sign`` have
derivative 0 at 0, and ``maximum``/``minimum`` split the derivative equally at
ties, as PyTorch and JAX do.

This module imports nothing outside the standard library: ``setup.py`` reads it
to generate code before anything is built.
"""

import ast
import math
import re
from dataclasses import dataclass, field

# ---------------------------------------------------------------------------
# Sampling domains for the tests (unions of open intervals)

REAL = ((-4.0, 4.0),)
POSITIVE = ((0.05, 8.0),)
NONZERO = ((-8.0, -0.1), (0.1, 8.0))
OPEN_UNIT = ((-0.95, 0.95),)
# Away from integers and half-integers, so rounding functions are locally constant.
OFF_GRID = ((0.1, 0.4), (1.6, 1.9), (-2.4, -2.1))
# x / y stays inside (2.1, 2.95) or (-2.95, -2.1): no jump of floor or trunc.
MOD_X = ((-5.9, -5.1), (5.1, 5.9))
MOD_Y = ((-2.4, -2.0), (2.0, 2.4))
# The two operands of maximum and minimum never tie.
APART_X = ((-3.0, -1.0), (1.0, 3.0))
APART_Y = ((-0.5, 0.5),)

# nan is the derivative along a parameter the table does not differentiate (see ``integer``).
CONSTANTS = {"pi": math.pi, "LN2": math.log(2.0), "LN10": math.log(10.0), "nan": math.nan}

# The ``complex`` of a row whose real derivatives hold for complex operands as
# written: the complex derivative of a holomorphic function is the same
# expression, evaluated in complex arithmetic.
HOLOMORPHIC = "holomorphic"


@dataclass(frozen=True)
class Rule:
    name: str
    arity: int
    c: str
    d: tuple
    domain: tuple = ()
    ufuncs: tuple = None
    math: str = None
    operator: str = None
    torch: object = None
    integer: tuple = ()
    complex: object = None
    scipy: tuple = ()
    opcode: int = field(default=-1, compare=False)

    def __post_init__(self):
        if len(self.d) != self.arity:
            raise ValueError(f"rule {self.name}: {self.arity} operands need {self.arity} derivatives")
        if not self.domain:
            object.__setattr__(self, "domain", (REAL,) * self.arity)
        if self.ufuncs is None:
            object.__setattr__(self, "ufuncs", (self.name,))
        if self.torch is None:
            object.__setattr__(self, "torch", self.name)
        if self.complex not in (None, HOLOMORPHIC) and len(self.complex) != self.arity:
            raise ValueError(f"rule {self.name}: complex needs one entry per operand")

    @property
    def operands(self):
        return ("x", "y")[: self.arity]

    @property
    def smooth(self):
        """False for piecewise-constant primitives (all derivatives zero)."""
        return any(d is not None for d in self.d)

    def derivatives(self, namespace):
        """Compile the derivative expressions to Python functions ``(x, [y,] ans) -> value``.

        ``namespace`` maps primitive names (and ``where``) to functions; the same
        rule then runs on floats, Duals or arrays. A zero derivative compiles to
        a function returning the literal ``0.0``.
        """
        env = dict(CONSTANTS)
        env.update(namespace)
        args = ", ".join(self.operands + ("ans",))
        return tuple(eval(f"lambda {args}: {d if d is not None else '0.0'}", env) for d in self.d)

    def wirtinger(self):
        """Per operand the pair ``(d/dz, d/dconj(z))`` of rule-language expressions
        for complex operands (None for zero); None if the row has no complex extension."""
        if self.complex is None:
            return None
        if self.complex == HOLOMORPHIC:
            return tuple((d, None) for d in self.d)
        return tuple((c, None) if isinstance(c, str) or c is None else tuple(c)
                     for c in self.complex)


# ---------------------------------------------------------------------------
# PyTorch references of the Bessel functions. PyTorch's own (bessel_j0, ...)
# have no derivatives and lose digits (bessel_y0 up to 1e-5 relative), so the
# references are Bessel's integrals evaluated by quadrature in torch float64:
# accurate to rounding on the tests' domains, independent of SciPy and of the
# table, and differentiable to any order by PyTorch itself. Orders are
# integers (tensors or numbers).
#   J_n(x) = 1/(2 pi) int_{-pi}^{pi} cos(n t - x sin t) dt
#   I_n(x) = 1/(2 pi) int_{-pi}^{pi} exp(x cos t) cos(n t) dt
#   K_n(x) = 1/2 int_{-inf}^{inf} exp(-x cosh t) cosh(n t) dt
# are integrals of periodic or doubly-exponentially decaying analytic functions,
# where the trapezoidal rule converges exponentially;
#   Y_n(x) = 1/pi int_0^pi sin(x sin t - n t) dt
#            - 1/pi int_0^inf (e^{n t} + (-1)^n e^{-n t}) exp(-x sinh t) dt
# takes Gauss-Legendre rules on panels of [0, pi] and of [0, 9] (x >= 0.1: the
# tail is below e^-400).

def _trapezoid_period(torch, n=64):
    return torch.arange(n, dtype=torch.float64) * (2 * math.pi / n)


def _torch_jn(torch, n, x):
    t = _trapezoid_period(torch)
    n, x = torch.as_tensor(n, dtype=torch.float64), torch.as_tensor(x, dtype=torch.float64)
    return torch.cos(n[..., None] * t - x[..., None] * torch.sin(t)).mean(-1)


def _torch_in(torch, n, x):
    t = _trapezoid_period(torch)
    n, x = torch.as_tensor(n, dtype=torch.float64), torch.as_tensor(x, dtype=torch.float64)
    return (torch.exp(x[..., None] * torch.cos(t)) * torch.cos(n[..., None] * t)).mean(-1)


def _torch_kn(torch, n, x):
    h = 0.05
    t = torch.arange(-320, 321, dtype=torch.float64) * h          # [-16, 16]
    n, x = torch.as_tensor(n, dtype=torch.float64), torch.as_tensor(x, dtype=torch.float64)
    # exp(-x cosh t + |n t|) without overflow of cosh(n t) far out
    f = torch.exp(-x[..., None] * torch.cosh(t) + n[..., None] * t.abs())
    return 0.5 * h * (f * 0.5 * (1 + torch.exp(-2 * n[..., None] * t.abs()))).sum(-1)


def _gauss_legendre(torch, a, b, n):
    import numpy                # the tests' dependency, not the table's
    u, w = numpy.polynomial.legendre.leggauss(n)
    u, w = torch.as_tensor(u), torch.as_tensor(w)
    return (b - a) / 2 * u + (a + b) / 2, (b - a) / 2 * w


def _panels(torch, edges, n):
    """Gauss-Legendre rules of n nodes on each panel between the edges (short
    panels: the sums of a few terms each round less than one long rule)."""
    nodes = [_gauss_legendre(torch, a, b, n) for a, b in zip(edges, edges[1:])]
    return torch.cat([t for t, _ in nodes]), torch.cat([w for _, w in nodes])


def _torch_yn(torch, n, x):
    n, x = torch.as_tensor(n, dtype=torch.float64), torch.as_tensor(x, dtype=torch.float64)
    t, w = _panels(torch, [math.pi * k / 8 for k in range(9)], 20)
    first = (torch.sin(x[..., None] * torch.sin(t) - n[..., None] * t) * w).sum(-1) / math.pi
    # the integrand narrows to width 1/x at 0 and spreads to t = 7 at x = 0.1
    t, w = _panels(torch, (0.0, 0.125, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 9.0), 30)
    sign = torch.where(torch.remainder(n, 2) == 0, 1.0, -1.0).to(torch.float64)
    g = (torch.exp(n[..., None] * t) + sign[..., None] * torch.exp(-n[..., None] * t)) \
        * torch.exp(-x[..., None] * torch.sinh(t))
    return first - (g * w).sum(-1) / math.pi


def unary(name, c, d, domain=REAL, **kw):
    return Rule(name, 1, c, (d,), (domain,), **kw)


def binary(name, c, dx, dy, domain=(REAL, REAL), **kw):
    return Rule(name, 2, c, (dx, dy), domain, **kw)


# ---------------------------------------------------------------------------
# The table. Derivatives reuse the output ``ans`` where that is cheaper or more
# accurate (exp, tanh, sqrt). Order does not matter; names are unique.

RULES = [
    # -- arithmetic (the Python operators) -------------------------------------
    binary("add", "x + y", "1", "1", operator="add", torch="add", complex=HOLOMORPHIC),
    binary("subtract", "x - y", "1", "-1", operator="sub", torch="sub", complex=HOLOMORPHIC),
    binary("multiply", "x * y", "y", "x", operator="mul", torch="mul", complex=HOLOMORPHIC),
    binary("divide", "x / y", "1/y", "-ans/y", (REAL, NONZERO), operator="truediv",
           torch="div", complex=HOLOMORPHIC),
    # d/dx is 0 for a zero exponent and d/dy is 0 for a zero base with y >= 0
    # (0**y is constant there); otherwise the textbook formulas, as PyTorch and JAX.
    binary("power", "dg_pow(x, y)",
           "where(y == 0, 0, y * power(x, y - 1))",
           "where((x == 0) & (y >= 0), 0, ans * log(x))",
           (POSITIVE, ((-2.5, 2.5),)), operator="pow", math="pow", ufuncs=("power", "float_power"),
           torch="pow",
           # (0 ** y is 0 for every complex y with a positive real part; y >= 0 is no test there.)
           complex=("where(y == 0, 0, y * power(x, y - 1))", "where(x == 0, 0, ans * log(x))")),
    # % and // follow Python and NumPy floats (the result takes the sign of y).
    binary("remainder", "dg_mod(x, y)", "1", "-floor_divide(x, y)", (MOD_X, MOD_Y),
           operator="mod"),
    binary("floor_divide", "dg_floordiv(x, y)", None, None, (MOD_X, MOD_Y), operator="floordiv"),
    unary("negative", "-x", "-1", operator="neg", torch="neg", complex=HOLOMORPHIC),
    unary("positive", "x", "1", operator="pos", complex=HOLOMORPHIC),
    # conj(z): d/dz = 0, d/dconj(z) = 1; on real numbers the identity.
    unary("conjugate", "x", "1", ufuncs=("conjugate",), torch="conj", complex=((None, "1"),)),
    # |z| = sqrt(z conj(z)): d/dz = conj(z) / 2|z|, d/dconj(z) = z / 2|z|, with
    # NumPy's sign(z) = z / |z| (0 at 0: derivative 0 there, as for real numbers).
    unary("abs", "fabs(x)", "sign(x)", NONZERO, operator="abs", ufuncs=("absolute", "fabs"),
          math="fabs", complex=(("conjugate(sign(x)) / 2", "sign(x) / 2"),)),
    # -- powers and roots -------------------------------------------------------
    unary("square", "x * x", "2 * x", complex=HOLOMORPHIC),
    unary("reciprocal", "1.0 / x", "-ans * ans", NONZERO, complex=HOLOMORPHIC),
    unary("sqrt", "sqrt(x)", "0.5 / ans", POSITIVE, math="sqrt", complex=HOLOMORPHIC),
    unary("cbrt", "cbrt(x)", "1 / (3 * ans * ans)", NONZERO, math="cbrt",
          torch=lambda torch, x: torch.sign(x) * torch.abs(x) ** (1.0 / 3.0), scipy=("cbrt",)),
    # -- exponentials and logarithms -------------------------------------------
    unary("exp", "exp(x)", "ans", math="exp", complex=HOLOMORPHIC),
    unary("exp2", "exp2(x)", "ans * LN2", math="exp2", scipy=("exp2",), complex=HOLOMORPHIC),
    unary("expm1", "expm1(x)", "ans + 1", math="expm1", scipy=("expm1",), complex=HOLOMORPHIC),
    unary("log", "log(x)", "1 / x", POSITIVE, math="log", complex=HOLOMORPHIC),
    unary("log2", "log2(x)", "1 / (x * LN2)", POSITIVE, math="log2", complex=HOLOMORPHIC),
    unary("log10", "log10(x)", "1 / (x * LN10)", POSITIVE, math="log10", complex=HOLOMORPHIC),
    unary("log1p", "log1p(x)", "1 / (1 + x)", ((-0.9, 8.0),), math="log1p", scipy=("log1p",),
          complex=HOLOMORPHIC),
    # log(exp(x) + exp(y)) without overflow; x == y also covers two equal infinities.
    binary("logaddexp",
           "x == y ? x + DG_LN2 : (x > y ? x + log1p(exp(y - x)) : y + log1p(exp(x - y)))",
           "exp(x - ans)", "exp(y - ans)"),
    # -- trigonometric ----------------------------------------------------------
    unary("sin", "sin(x)", "cos(x)", math="sin", complex=HOLOMORPHIC),
    unary("cos", "cos(x)", "-sin(x)", math="cos", complex=HOLOMORPHIC),
    unary("tan", "tan(x)", "1 + ans * ans", ((-1.3, 1.3),), math="tan", complex=HOLOMORPHIC),
    # (1 - x)(1 + x) rather than 1 - x*x: no cancellation near |x| = 1.
    unary("arcsin", "asin(x)", "1 / sqrt((1 - x) * (1 + x))", OPEN_UNIT, math="asin",
          complex=HOLOMORPHIC),
    unary("arccos", "acos(x)", "-1 / sqrt((1 - x) * (1 + x))", OPEN_UNIT, math="acos",
          complex=HOLOMORPHIC),
    unary("arctan", "atan(x)", "1 / (1 + x * x)", math="atan", complex=HOLOMORPHIC),
    binary("arctan2", "atan2(x, y)", "y / (x * x + y * y)", "-x / (x * x + y * y)",
           (NONZERO, NONZERO), math="atan2", torch="atan2"),
    binary("hypot", "hypot(x, y)", "x / ans", "y / ans", (NONZERO, NONZERO)),
    unary("deg2rad", "x * (DG_PI / 180.0)", "pi / 180", ufuncs=("deg2rad", "radians"),
          math="radians"),
    unary("rad2deg", "x * (180.0 / DG_PI)", "180 / pi", ufuncs=("rad2deg", "degrees"),
          math="degrees"),
    # -- hyperbolic -------------------------------------------------------------
    unary("sinh", "sinh(x)", "cosh(x)", math="sinh", complex=HOLOMORPHIC),
    unary("cosh", "cosh(x)", "sinh(x)", math="cosh", complex=HOLOMORPHIC),
    unary("tanh", "tanh(x)", "1 - ans * ans", math="tanh", complex=HOLOMORPHIC),
    # hypot(x, 1) rather than sqrt(x*x + 1): no overflow for |x| > 1e154.
    # (hypot is real only: the complex derivative is written out)
    unary("arcsinh", "asinh(x)", "1 / hypot(x, 1)", math="asinh",
          complex=("1 / sqrt(x * x + 1)",)),
    # sqrt(x - 1) sqrt(x + 1), not sqrt(x*x - 1): the principal branch for complex x too.
    unary("arccosh", "acosh(x)", "1 / (sqrt(x - 1) * sqrt(x + 1))", ((1.1, 8.0),), math="acosh",
          complex=HOLOMORPHIC),
    unary("arctanh", "atanh(x)", "1 / ((1 - x) * (1 + x))", OPEN_UNIT, math="atanh",
          complex=HOLOMORPHIC),
    # -- special functions ------------------------------------------------------
    # exp(-|x|) only: no overflow for large |x| of either sign.
    unary("sigmoid", "x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x))",
          "ans * (1 - ans)", ufuncs=(), scipy=("expit",)),
    unary("erf", "erf(x)", "2 / sqrt(pi) * exp(-x * x)", ufuncs=(), math="erf", scipy=("erf",)),
    unary("erfc", "erfc(x)", "-2 / sqrt(pi) * exp(-x * x)", ufuncs=(), math="erfc",
          scipy=("erfc",)),
    unary("lgamma", "lgamma(x)", "digamma(x)", ((0.1, 6.0), (-2.9, -2.1)), ufuncs=(), math="lgamma",
          scipy=("gammaln",)),
    unary("gamma", "tgamma(x)", "ans * digamma(x)", ((0.1, 6.0),), ufuncs=(), math="gamma",
          torch=lambda torch, x: torch.exp(torch.lgamma(x)), scipy=("gamma",)),
    unary("digamma", "dg_psi(0.0, x)", "polygamma(1, x)", ((0.1, 6.0), (-2.9, -2.1)), ufuncs=(),
          scipy=("psi", "digamma")),
    binary("polygamma", "dg_psi(x, y)", None, "polygamma(x + 1, y)",
           (((0.0, 4.0),), ((0.1, 6.0), (-2.9, -2.1))), ufuncs=(), integer=(0,),
           torch=lambda torch, n, x: torch.polygamma(int(n), x)),
    # a and b > 0 in the tests; the derivatives of log B(a, b) = lgamma(a) + lgamma(b)
    # - lgamma(a + b). Values from SciPy, which stays accurate where the three
    # lgammas would cancel (a large, b small).
    binary("beta", "dg_sf_beta(x, y)", "ans * (digamma(x) - digamma(x + y))",
           "ans * (digamma(y) - digamma(x + y))", (((0.1, 6.0),), ((0.1, 6.0),)), ufuncs=(),
           scipy=("beta",),
           torch=lambda torch, a, b: torch.exp(torch.lgamma(a) + torch.lgamma(b)
                                               - torch.lgamma(a + b))),
    binary("betaln", "dg_sf_betaln(x, y)", "digamma(x) - digamma(x + y)",
           "digamma(y) - digamma(x + y)", (((0.1, 6.0),), ((0.1, 6.0),)), ufuncs=(),
           scipy=("betaln",),
           torch=lambda torch, a, b: torch.lgamma(a) + torch.lgamma(b) - torch.lgamma(a + b)),
    # -- error function family and the normal distribution ------------------------
    # erfcx(x) = exp(x^2) erfc(x), finite where erfc underflows; its derivative
    # reuses it: 2x erfcx(x) - 2/sqrt(pi).
    unary("erfcx", "dg_sf_erfcx(x)", "2 * x * ans - 2 / sqrt(pi)", ufuncs=(), scipy=("erfcx",),
          torch=lambda torch, x: torch.special.erfcx(x)),
    # The inverses' derivatives are 1 / f'(ans): exp(ans^2) grows, never divides by 0.
    unary("erfinv", "dg_sf_erfinv(x)", "sqrt(pi) / 2 * exp(ans * ans)", OPEN_UNIT, ufuncs=(),
          scipy=("erfinv",)),
    unary("erfcinv", "dg_sf_erfcinv(x)", "-sqrt(pi) / 2 * exp(ans * ans)", ((0.05, 1.95),),
          ufuncs=(), scipy=("erfcinv",), torch=lambda torch, x: torch.erfinv(1 - x)),
    # Cephes' ndtr, as SciPy: erf near 0, erfc in the tails (no 1 - tiny cancellation).
    unary("ndtr", "double z = x * 0.70710678118654752440; "
          "if (fabs(z) < 0.70710678118654752440) return 0.5 + 0.5 * erf(z); "
          "return z > 0 ? 1.0 - 0.5 * erfc(z) : 0.5 * erfc(-z);",
          "exp(-x * x / 2) / sqrt(2 * pi)", ufuncs=(), scipy=("ndtr",),
          torch=lambda torch, x: torch.special.ndtr(x)),
    # pdf / cdf as exp(log pdf - ans): no 0/0 far in the left tail, where both underflow.
    unary("log_ndtr", "dg_sf_log_ndtr(x)", "exp(-x * x / 2 - ans) / sqrt(2 * pi)",
          ((-8.0, 5.0),), ufuncs=(), scipy=("log_ndtr",),
          torch=lambda torch, x: torch.special.log_ndtr(x)),
    unary("ndtri", "dg_sf_ndtri(x)", "sqrt(2 * pi) * exp(ans * ans / 2)", ((0.02, 0.98),),
          ufuncs=(), scipy=("ndtri",), torch=lambda torch, x: torch.special.ndtri(x)),
    # -- logistic, entropies ------------------------------------------------------
    # SciPy's branches: log1p near x = 1/2, where x / (1 - x) is near 1.
    unary("logit", "x < 0.3 || x > 0.65 ? log(x / (1.0 - x)) : log1p((2.0 * x - 1.0) / (1.0 - x))",
          "1 / (x * (1 - x))", ((0.02, 0.98),), ufuncs=(), scipy=("logit",)),
    # log(sigmoid(x)) without overflow or log(0): exp of a non-positive number only.
    unary("log_expit", "x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x))", "sigmoid(-x)", ufuncs=(),
          scipy=("log_expit",), torch=lambda torch, x: torch.nn.functional.logsigmoid(x)),
    # x log(y) with SciPy's convention xlogy(0, y) = 0 (y not nan), so 0 log 0 = 0.
    # d/dx is log(y) everywhere (the value is x log(y) on both sides of x = 0).
    # d/dy is x / y, taken as 0 at x = 0 where the function is the constant 0 in
    # y: 0 / 0 at y = 0 would otherwise poison the gradient of p log p.
    # (PyTorch differs at x = 0 only: its d/dx there is 0.)
    binary("xlogy", "x == 0 && y == y ? 0.0 : x * log(y)", "log(y)", "where(x == 0, 0, x / y)",
           (REAL, POSITIVE), ufuncs=(), scipy=("xlogy",),
           torch=lambda torch, x, y: torch.special.xlogy(x, y)),
    binary("xlog1py", "x == 0 && y == y ? 0.0 : x * log1p(y)", "log1p(y)",
           "where(x == 0, 0, x / (1 + y))", (REAL, ((-0.9, 8.0),)), ufuncs=(), scipy=("xlog1py",),
           torch=lambda torch, x, y: torch.special.xlog1py(x, y)),
    # -x log x, with 0 at 0 and -inf for x < 0 (SciPy); nan stays nan.
    unary("entr", "x > 0 ? -x * log(x) : (x == 0 ? 0.0 : (x < 0 ? -DG_INF : x))",
          "-(log(x) + 1)", POSITIVE, ufuncs=(), scipy=("entr",),
          torch=lambda torch, x: torch.special.entr(x)),
    # x log(x / y) and x log(x / y) - x + y for x, y > 0; at x = 0 (y >= 0) 0 and y,
    # elsewhere inf, as SciPy. d/dy at x = 0 is 0 as for xlogy.
    # log1p for x / y near 1, where log(x / y) would keep only the rounding of x / y;
    # log(x) - log(y) where x / y underflows or overflows.
    binary("rel_entr", "double r; if (x != x || y != y) return x + y; "
           "if (!(x > 0 && y > 0)) return x == 0 && y >= 0 ? 0.0 : DG_INF; "
           "r = x / y; if (r == 0 || r == DG_INF) return x * (log(x) - log(y)); "
           "return x * (fabs(x - y) < 0.5 * y ? log1p((x - y) / y) : log(r));",
           "log(x / y) + 1", "where(x == 0, 0, -x / y)", (POSITIVE, POSITIVE), ufuncs=(),
           scipy=("rel_entr",), torch=lambda torch, x, y: x * torch.log(x / y)),
    binary("kl_div", "if (x != x || y != y) return x + y; "
           "return x > 0 && y > 0 ? x * log(x / y) - x + y : (x == 0 && y >= 0 ? y : DG_INF);",
           "log(x / y)", "1 - where(x == 0, 0, x / y)", (POSITIVE, POSITIVE), ufuncs=(),
           scipy=("kl_div",), torch=lambda torch, x, y: x * torch.log(x / y) - x + y),
    # -- Bessel functions ------------------------------------------------------
    # Values from SciPy (Cephes); derivatives by the standard identities,
    # i1' = i0 - i1/x and j1' = j0 - j1/x with their limit 1/2 at x = 0. The
    # scaled i0e = exp(-|x|) i0 and i1e take -sign(x) times themselves.
    unary("i0", "dg_sf_i0(x)", "i1(x)", ufuncs=(), scipy=("i0",)),
    unary("i0e", "dg_sf_i0e(x)", "i1e(x) - sign(x) * ans", NONZERO, ufuncs=(), scipy=("i0e",),
          torch=lambda torch, x: torch.special.i0e(x)),
    unary("i1", "dg_sf_i1(x)", "where(x == 0, 0.5, i0(x) - ans / x)", ufuncs=(), scipy=("i1",),
          torch=lambda torch, x: torch.special.i1(x)),
    unary("i1e", "dg_sf_i1e(x)", "where(x == 0, 0.5, i0e(x) - ans * (sign(x) + 1 / x))", NONZERO,
          ufuncs=(), scipy=("i1e",), torch=lambda torch, x: torch.special.i1e(x)),
    unary("j0", "dg_sf_j0(x)", "-j1(x)", ((-8.0, 8.0),), ufuncs=(), scipy=("j0",),
          torch=lambda torch, x: _torch_jn(torch, 0, x)),
    unary("j1", "dg_sf_j1(x)", "where(x == 0, 0.5, j0(x) - ans / x)", ((-8.0, 8.0),), ufuncs=(),
          scipy=("j1",), torch=lambda torch, x: _torch_jn(torch, 1, x)),
    unary("y0", "dg_sf_y0(x)", "-y1(x)", ((0.1, 8.0),), ufuncs=(), scipy=("y0",),
          torch=lambda torch, x: _torch_yn(torch, 0, x)),
    unary("y1", "dg_sf_y1(x)", "y0(x) - ans / x", ((0.1, 8.0),), ufuncs=(), scipy=("y1",),
          torch=lambda torch, x: _torch_yn(torch, 1, x)),
    # jv(v, x), iv(v, x), kv(v, x) of any real order v held constant (see
    # ``integer``: the tests take orders 0..3); d/dx by the recurrences
    # J_v' = (J_{v-1} - J_{v+1}) / 2, I_v' = (I_{v-1} + I_{v+1}) / 2,
    # K_v' = -(K_{v-1} + K_{v+1}) / 2, valid for every v.
    binary("jv", "dg_sf_jv(x, y)", "nan", "(jv(x - 1, y) - jv(x + 1, y)) / 2",
           (((0.0, 3.0),), ((1.0, 8.0),)), ufuncs=(), integer=(0,), scipy=("jv",),
           torch=lambda torch, v, x: _torch_jn(torch, v, x)),
    binary("iv", "dg_sf_iv(x, y)", "nan", "(iv(x - 1, y) + iv(x + 1, y)) / 2",
           (((0.0, 3.0),), ((1.0, 6.0),)), ufuncs=(), integer=(0,), scipy=("iv",),
           torch=lambda torch, v, x: _torch_in(torch, v, x)),
    binary("kv", "dg_sf_kv(x, y)", "nan", "-(kv(x - 1, y) + kv(x + 1, y)) / 2",
           (((0.0, 3.0),), ((0.5, 8.0),)), ufuncs=(), integer=(0,), scipy=("kv",),
           torch=lambda torch, v, x: _torch_kn(torch, v, x)),
    # -- normalised sinc, as numpy.sinc: sin(pi x) / (pi x), 1 at 0 --------------
    # Near 0 the derivative (cos(pi x) - sinc x) / x cancels: its Taylor series
    # there (seven terms: below rounding for |x| < 0.1) is also smooth at 0,
    # so second derivatives (the Hessian at 0, -pi^2 / 3) are right too.
    unary("sinc", "x == 0 ? 1.0 : sin(DG_PI * x) / (DG_PI * x)",
          "where((x < 0.1) & (x > -0.1), pi * pi * x * (-1 / 3 + pi * pi * x * x * (1 / 30 "
          "+ pi * pi * x * x * (-1 / 840 + pi * pi * x * x * (1 / 45360 + pi * pi * x * x * ("
          "-1 / 3991680 + pi * pi * x * x * (1 / 518918400 + pi * pi * x * x * "
          "(-1 / 93405312000))))))), (cos(pi * x) - ans) / x)", ufuncs=()),
    # -- piecewise ---------------------------------------------------------------
    # Ties split the derivative equally (PyTorch, JAX): d/dx max(x, x) is then 1.
    binary("maximum", "(x >= y || x != x) ? x : y",
           "where(x > y, 1, where(x == y, 0.5, 0))", "where(y > x, 1, where(x == y, 0.5, 0))",
           (APART_X, APART_Y)),
    binary("minimum", "(x <= y || x != x) ? x : y",
           "where(x < y, 1, where(x == y, 0.5, 0))", "where(y < x, 1, where(x == y, 0.5, 0))",
           (APART_X, APART_Y)),
    binary("fmod", "fmod(x, y)", "1", "-trunc(x / y)", (MOD_X, MOD_Y), math="fmod"),
    binary("copysign", "copysign(x, y)", "copysign(1, x) * copysign(1, y)", None,
           (NONZERO, NONZERO), math="copysign"),
    # +0.0 for both zeros, as NumPy; nan stays nan.
    # Complex sign(z) = z / |z| = z^(1/2) conj(z)^(-1/2), not locally constant.
    unary("sign", "x > 0 ? 1.0 : (x < 0 ? -1.0 : (x == 0 ? 0.0 : x))", None, NONZERO,
          complex=(("1 / (2 * abs(x))", "-ans / (2 * conjugate(x))"),)),
    unary("floor", "floor(x)", None, OFF_GRID),
    unary("ceil", "ceil(x)", None, OFF_GRID),
    unary("trunc", "trunc(x)", None, OFF_GRID),
    # rint rounds half to even in the default rounding mode, as NumPy and round().
    unary("round", "rint(x)", None, OFF_GRID, ufuncs=("rint",)),
]

RULES = [Rule(**{**r.__dict__, "opcode": i}) for i, r in enumerate(RULES)]
BY_NAME = {r.name: r for r in RULES}
if len(BY_NAME) != len(RULES):
    raise ValueError("duplicate rule names in the derivative table")


_SCIPY_C = re.compile(r"\bdg_sf_\w+")


def needs_scipy(rule):
    """Whether a row's value or derivatives call SciPy's C functions (``dg_sf_``
    in ``prelude.h``), directly or through the rows they call: such a row needs
    SciPy at run time, and the GPU kernels do not offer it."""
    seen, todo = set(), [rule]
    while todo:
        r = todo.pop()
        if r.name in seen:
            continue
        seen.add(r.name)
        if _SCIPY_C.search(r.c):
            return True
        todo += [BY_NAME[n.func.id] for d in r.d if d is not None
                 for n in ast.walk(ast.parse(d, mode="eval"))
                 if isinstance(n, ast.Call) and getattr(n.func, "id", None) in BY_NAME]
    return False
