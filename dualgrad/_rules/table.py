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
    Indices of operands that are integer parameters (the order of
    ``polygamma``): not differentiated, sampled at integers by the tests.
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

import math
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

CONSTANTS = {"pi": math.pi, "LN2": math.log(2.0), "LN10": math.log(10.0)}

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
          torch=lambda torch, x: torch.sign(x) * torch.abs(x) ** (1.0 / 3.0)),
    # -- exponentials and logarithms -------------------------------------------
    unary("exp", "exp(x)", "ans", math="exp", complex=HOLOMORPHIC),
    unary("exp2", "exp2(x)", "ans * LN2", math="exp2", complex=HOLOMORPHIC),
    unary("expm1", "expm1(x)", "ans + 1", math="expm1", complex=HOLOMORPHIC),
    unary("log", "log(x)", "1 / x", POSITIVE, math="log", complex=HOLOMORPHIC),
    unary("log2", "log2(x)", "1 / (x * LN2)", POSITIVE, math="log2", complex=HOLOMORPHIC),
    unary("log10", "log10(x)", "1 / (x * LN10)", POSITIVE, math="log10", complex=HOLOMORPHIC),
    unary("log1p", "log1p(x)", "1 / (1 + x)", ((-0.9, 8.0),), math="log1p",
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
          "ans * (1 - ans)", ufuncs=()),
    unary("erf", "erf(x)", "2 / sqrt(pi) * exp(-x * x)", ufuncs=(), math="erf"),
    unary("erfc", "erfc(x)", "-2 / sqrt(pi) * exp(-x * x)", ufuncs=(), math="erfc"),
    unary("lgamma", "lgamma(x)", "digamma(x)", ((0.1, 6.0), (-2.9, -2.1)), ufuncs=(), math="lgamma"),
    unary("gamma", "tgamma(x)", "ans * digamma(x)", ((0.1, 6.0),), ufuncs=(), math="gamma",
          torch=lambda torch, x: torch.exp(torch.lgamma(x))),
    unary("digamma", "dg_psi(0.0, x)", "polygamma(1, x)", ((0.1, 6.0), (-2.9, -2.1)), ufuncs=()),
    binary("polygamma", "dg_psi(x, y)", None, "polygamma(x + 1, y)",
           (((0.0, 4.0),), ((0.1, 6.0), (-2.9, -2.1))), ufuncs=(), integer=(0,),
           torch=lambda torch, n, x: torch.polygamma(int(n), x)),
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
