"""Complex numbers on the scalar tier: :class:`ComplexDual`, forward mode.

A ComplexDual carries a complex value and its complex derivatives along one or
several directions, as :class:`~dualgrad.Dual` carries a real one. Each
operation is a row of the derivative table, with the row's complex derivatives
(``complex=`` in ``dualgrad/_rules/table.py``): the Wirtinger pair
``(d/dz, d/dconj(z))`` of each operand, the tangent being
``d/dz * t + d/dconj(z) * conj(t)``; the value is NumPy's ufunc of the row.
Real results (``abs``, the ``real`` and ``imag`` parts) are Duals again.

A Dual meets complex numbers by becoming a ComplexDual (``1j * Dual(0.5)``),
except inside the transforms' scalar-tier evaluations: there f's arguments
are object arrays, on which NumPy's ``np.real`` and ``.imag`` return the array
unchanged (they are not ufuncs), so a complex element would be read as its
real part without a word. The operation raises there instead, and the
transforms run f on the array tier, whose arrays carry complex numbers
correctly.
"""

import numbers

import numpy as np

from dualgrad import _levels, _preallocation
from dualgrad._rules.table import CONSTANTS, RULES
from dualgrad._scalar import ufuncs as _ufuncs
from dualgrad._scalar.dual import Dual, install_complex

__all__ = ["ComplexDual"]


# ---------------------------------------------------------------------------
# The table's complex derivatives as Python over complex numbers

def _where(cond, a, b):
    return a if cond else b


_NAMESPACE = dict(CONSTANTS, where=_where)
_NAMESPACE.update({r.name: getattr(np, r.ufuncs[0]) for r in RULES if r.ufuncs})


def _compiled(rule):
    """Per operand the pair of functions (x[, y], ans) -> d/dz, d/dconj(z) (None: zero)."""
    args = ", ".join(rule.operands + ("ans",))
    return tuple(tuple(None if e is None else eval(f"lambda {args}: {e}", _NAMESPACE)
                       for e in pair) for pair in rule.wirtinger())


_DERIVATIVES = {r.opcode: _compiled(r) for r in RULES if r.complex is not None}
_UFUNC = {r.opcode: getattr(np, r.ufuncs[0]) for r in RULES if r.ufuncs}


def _chain(partial, t):
    """partial * t with exactly 0 where t is 0 (the NaN-safe chain rule)."""
    if isinstance(t, np.ndarray):
        with np.errstate(invalid="ignore"):
            return np.where(t == 0, 0j, partial * t)
    return 0j if t == 0 else partial * t


def _parts(a):
    """(complex value, tangent or None, whether the tangent is a sequence) of an operand."""
    if type(a) is ComplexDual:
        return a.value, a.tangent, isinstance(a.tangent, np.ndarray)
    if type(a) is Dual:
        t = a.tangent
        return complex(a.value), t, isinstance(t, np.ndarray)
    if isinstance(a, numbers.Number) and not isinstance(a, bool):
        return complex(a), None, False
    return None


def apply(op, args):
    """Row ``op`` on operands of which one is a ComplexDual (or a Dual beside a
    complex number); NotImplemented for operands of other types."""
    parts = [_parts(a) for a in args]
    if any(p is None for p in parts):
        return NotImplemented
    derivatives = _DERIVATIVES.get(op)
    if derivatives is None or op not in _UFUNC:
        raise TypeError(f"{RULES[op].name} is not defined for complex numbers (it has no "
                        f"complex derivative); apply it to the real part or to abs(z)")
    values = [p[0] for p in parts]
    ans = _UFUNC[op](*values)
    t = None
    ks = {np.shape(p[1]) for p in parts if p[1] is not None}
    if len(ks) > 1:
        raise ValueError(f"cannot combine numbers with {' and '.join(map(str, ks))} tangent "
                         f"directions: every Dual in one evaluation carries the same number")
    for (value, tangent, _), (dz, dzbar) in zip(parts, derivatives):
        if tangent is None:
            continue
        for fn, tt in ((dz, tangent), (dzbar, np.conj(tangent))):
            if fn is not None:
                term = _chain(fn(*values, ans), tt)
                t = term if t is None else t + term
    vec = any(p[2] for p in parts)
    if t is None:
        t = np.zeros(next(iter(ks)), complex) if vec else 0j
    if isinstance(ans, (float, np.floating)):
        # a real result (abs): its tangent's imaginary parts cancel
        return Dual(float(ans), np.real(t) if vec else float(np.real(t)))
    return ComplexDual(complex(ans), t)


def _refuse_inside_scalar_tier():
    if any(fr.tier == "scalar" for fr in _levels.frames()):
        raise TypeError("complex numbers on the scalar tier's object arrays: NumPy's np.real "
                        "and .imag would return them unchanged; the array tier takes f")


def from_dual(op, a, b):
    """A Dual with a complex number (the hook of Dual's operators)."""
    _refuse_inside_scalar_tier()
    return apply(op, (a, b))


install_complex(from_dual)

_OPS = {r.name: r.opcode for r in RULES}


def _binary(name):
    op = _OPS[name]

    def forward(self, other):
        return apply(op, (self, other))

    def reflected(self, other):
        return apply(op, (other, self))
    return forward, reflected


# ---------------------------------------------------------------------------

class ComplexDual:
    """A complex dual number: a complex value and its complex derivatives along
    one or several directions (forward mode on the scalar tier).

    Parameters
    ----------
    value : complex
        The primal value.
    tangent : complex or sequence of complex, optional
        The derivative along one direction (default 1), or along each of k.

    Examples
    --------
    >>> import numpy as np, dualgrad as dg
    >>> z = dg.ComplexDual(1 + 1j)
    >>> w = np.exp(z) * z
    >>> bool(np.isclose(w.tangent, np.exp(1 + 1j) * (2 + 1j)))   # (z e^z)' = e^z (1 + z)
    True
    >>> abs(dg.Dual(0.5) * 1j + 1.0)                # a Dual meeting complex numbers
    Dual(1.118033988749895, 0.4472135954999579)
    """

    __slots__ = ("value", "tangent")
    __array_priority__ = 20

    def __init__(self, value, tangent=1.0):
        if isinstance(value, (Dual, ComplexDual)) or not isinstance(value, numbers.Number):
            raise TypeError(f"the value of a ComplexDual must be a number, not "
                            f"{type(value).__name__}")
        self.value = complex(value)
        if isinstance(tangent, numbers.Number):
            self.tangent = complex(tangent)
        else:
            t = np.asarray(tangent, dtype=complex)
            if t.ndim != 1 or t.size == 0:
                raise ValueError(f"the tangent of a ComplexDual must be a number or a "
                                 f"non-empty 1-d sequence; got shape {t.shape}")
            self.tangent = t

    shape, ndim, size, dtype = (), 0, 1, np.dtype(object)

    def __repr__(self):
        t = self.tangent
        return f"ComplexDual({self.value!r}, {t.tolist() if isinstance(t, np.ndarray) else t!r})"

    @property
    def real(self):
        """The real part, a Dual."""
        return Dual(self.value.real, np.real(self.tangent) if isinstance(
            self.tangent, np.ndarray) else self.tangent.real)

    @property
    def imag(self):
        """The imaginary part, a Dual."""
        return Dual(self.value.imag, np.imag(self.tangent) if isinstance(
            self.tangent, np.ndarray) else self.tangent.imag)

    def conjugate(self):
        return apply(_OPS["conjugate"], (self,))

    conj = conjugate

    __add__, __radd__ = _binary("add")
    __sub__, __rsub__ = _binary("subtract")
    __mul__, __rmul__ = _binary("multiply")
    __truediv__, __rtruediv__ = _binary("divide")
    __pow__, __rpow__ = _binary("power")

    def __neg__(self):
        return apply(_OPS["negative"], (self,))

    def __pos__(self):
        return self

    def __abs__(self):
        return apply(_OPS["abs"], (self,))

    def __eq__(self, other):
        p = _parts(other)
        return NotImplemented if p is None else self.value == p[0]

    def __ne__(self, other):
        p = _parts(other)
        return NotImplemented if p is None else self.value != p[0]

    __hash__ = None

    def __bool__(self):
        return self.value != 0

    def __complex__(self):
        if _preallocation.storing():
            raise _preallocation.error("a ComplexDual")
        raise TypeError("complex() of a ComplexDual would drop its derivative; use .value for "
                        "the value alone")

    def __float__(self):
        raise TypeError("float() of a ComplexDual would drop its derivative and its imaginary "
                        "part; use .real (a Dual) or .value")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _ufuncs.array_ufunc(ufunc, method, inputs, kwargs, apply,
                                   lambda a: a.value if isinstance(a, (Dual, ComplexDual)) else a)

    def __array_function__(self, func, types, args, kwargs):
        own = _FUNCTIONS.get(func)
        if own is not None:
            return own(*args, **kwargs)
        return _ufuncs.array_function(func, args, kwargs)


def _angle(z, deg=False):
    a = np.arctan2(z.imag, z.real) if type(z) is ComplexDual else np.angle(z)
    return a * (180.0 / np.pi) if deg else a


_FUNCTIONS = {
    np.real: lambda z: z.real if type(z) is ComplexDual else np.real(z),
    np.imag: lambda z: z.imag if type(z) is ComplexDual else np.imag(z),
    np.angle: _angle,
    np.iscomplexobj: lambda z: True,
    np.isrealobj: lambda z: False,
}

_ufuncs.COMPLEX_SCALARS = (ComplexDual,)

# NumPy's object loops call a method of each element (np.exp on an object array
# calls z.exp()); the ufuncs of Python operators use the operators.
for _r in RULES:
    if _r.complex is not None:
        for _u in _r.ufuncs:
            if not hasattr(ComplexDual, _u):
                setattr(ComplexDual, _u, (lambda op: lambda self, *other: apply(
                    op, (self,) + other))(_r.opcode))
