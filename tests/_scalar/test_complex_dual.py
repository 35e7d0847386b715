"""ComplexDual: complex forward mode on the scalar tier, from the table's
complex derivatives, against central differences and NumPy's values."""

import numpy as np
import pytest

import dualgrad as dg
from dualgrad._rules.table import RULES

H = 1e-6
Z, W = 0.6 + 0.35j, 0.45 + 0.2j        # away from every branch cut of the rows
COMPLEX_ROWS = [r for r in RULES if r.complex is not None]


@pytest.mark.parametrize("rule", COMPLEX_ROWS, ids=lambda r: r.name)
def test_rows_against_central_differences(rule):
    fn = getattr(np, rule.ufuncs[0])
    args = (Z, W)[: rule.arity]
    for i in range(rule.arity):
        for direction in (1.0, 1j):
            duals = [dg.ComplexDual(a, [direction if j == i else 0.0, 0.0])
                     for j, a in enumerate(args)]
            out = fn(*duals)
            plus = [a + H * direction if j == i else a for j, a in enumerate(args)]
            minus = [a - H * direction if j == i else a for j, a in enumerate(args)]
            fd = (fn(*plus) - fn(*minus)) / (2 * H)
            assert out.value == pytest.approx(fn(*args), rel=1e-14)
            assert out.tangent[0] == pytest.approx(fd, rel=1e-6, abs=1e-8)
            assert out.tangent[1] == 0
            if np.isrealobj(fn(*args)):
                assert type(out) is dg.Dual


def test_duals_meet_complex_numbers():
    x = dg.Dual(0.5, [1.0, 2.0])
    z = x * 1j + x ** 2
    assert type(z) is dg.ComplexDual
    np.testing.assert_allclose(z.tangent, np.array([1.0, 2.0]) * (1j + 2 * 0.5))
    r = abs(np.exp(z))                      # |e^z| = e^(x^2)
    assert type(r) is dg.Dual
    np.testing.assert_allclose(r.tangent, np.exp(0.25) * 2 * 0.5 * np.array([1.0, 2.0]))
    assert type(z.real) is dg.Dual and z.real.value == 0.25
    np.testing.assert_allclose(np.imag(z).tangent, [1.0, 2.0])
    assert np.angle(dg.ComplexDual(1j)).value == pytest.approx(np.pi / 2)
    assert np.conj(dg.ComplexDual(1 + 2j, 1j)).tangent == -1j


def test_what_complex_duals_refuse():
    z = dg.ComplexDual(1 + 1j)
    with pytest.raises(TypeError, match="not defined for complex"):
        np.floor(z)
    with pytest.raises(TypeError, match="would drop its derivative"):
        complex(z)
    with pytest.raises(TypeError):
        z < 1
    with pytest.raises(ValueError, match="directions"):
        dg.ComplexDual(1j, [1, 0]) + dg.ComplexDual(1j, [1, 0, 0])


def test_transforms_take_complex_internals_on_the_array_tier():
    """Inside a scalar-tier evaluation f's arguments are object arrays, whose
    np.real NumPy does not dispatch: a Dual meeting a complex number refuses
    there, and the transform runs f on the array tier instead."""
    def f(x):
        return np.sum(np.real(np.exp(1j * x)) ** 2)
    x = np.array([0.3, 0.9])
    assert dg.plan(f, x, kind="grad").tier == "scalar"
    np.testing.assert_allclose(dg.grad(f)(x), -2 * np.cos(x) * np.sin(x), rtol=1e-12)
    p = dg.plan(f, x, kind="grad")
    assert p.tier == "array" and "the array tier takes f" in str(p)


def test_a_forced_scalar_tier_refuses_complex_internals(forced_plan):
    forced_plan.update(tier="scalar", mode="forward")
    with pytest.raises(TypeError, match="the array tier takes f"):
        dg.grad(lambda x: np.sum(np.real(np.exp(1j * x)) ** 2))(np.array([0.3, 0.9]))
