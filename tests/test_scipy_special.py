"""scipy.special's ufuncs on every tier: a ufunc named by a row's ``scipy`` field
runs that row on a Dual, on a Var (a tape, dg.grad), on a DualArray, on a
Tensor (backward) and nested (dg.hessian); each against SciPy's values and
central differences of SciPy's function. And dualgrad without SciPy."""

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

sc = pytest.importorskip("scipy.special")

import dualgrad as dg  # noqa: E402
from conftest import five_point  # noqa: E402
from dualgrad._rules.table import BY_NAME, RULES, needs_scipy  # noqa: E402
from dualgrad.testing import sample_rule  # noqa: E402

MAPPED = [pytest.param(r, u, id=f"{r.name}-{u}") for r in RULES for u in r.scipy]


def points(rule, n=6):
    return [tuple(float(v) for v in p) for p in sample_rule(rule, n, seed=7)]


def continuous(rule):
    return [i for i in range(rule.arity) if i not in rule.integer]


def fd_partial(f, point, i):
    """The five-point central difference of f along operand i at point."""

    def along(v):
        args = list(point)
        args[i] = v
        return float(f(*args))

    return five_point(along, point[i], 1e-4 * max(1.0, abs(point[i])))


def close(got, want, rtol=1e-7, atol=1e-9):
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def test_every_scipy_name_is_a_scipy_ufunc():
    for r in RULES:
        for u in r.scipy:
            f = getattr(sc, u)
            assert isinstance(f, np.ufunc) and f.nin == r.arity, (r.name, u)


def test_existing_rows_are_the_same_scipy_functions():
    assert BY_NAME["lgamma"].scipy == ("gammaln",)
    assert set(BY_NAME["digamma"].scipy) == {"psi", "digamma"}
    assert BY_NAME["sigmoid"].scipy == ("expit",)
    assert {"erf", "erfc", "gamma"} <= {u for r in RULES for u in r.scipy}


@pytest.mark.parametrize("rule, name", MAPPED)
def test_on_a_dual(rule, name):
    f = getattr(sc, name)
    for point in points(rule):
        for i in continuous(rule):
            args = [dg.Dual(v, 1.0) if j == i else v for j, v in enumerate(point)]
            out = f(*args)
            assert isinstance(out, dg.Dual)
            close(out.value, f(*point), rtol=1e-14, atol=0)
            close(out.tangent, fd_partial(f, point, i))


@pytest.mark.parametrize("rule, name", MAPPED)
def test_on_a_var_of_the_scalar_tier(rule, name):
    f = getattr(sc, name)
    cont = continuous(rule)
    for point in points(rule):
        with dg.Tape() as tape:
            xs = tape.var([point[i] for i in cont])
            args = list(point)
            for i, x in zip(cont, xs):
                args[i] = x
            y = f(*args)
        assert isinstance(y, dg.Var)
        close(y.value, f(*point), rtol=1e-14, atol=0)
        close(tape.gradient(y, xs), [fd_partial(f, point, i) for i in cont])


@pytest.mark.parametrize("rule, name", MAPPED)
def test_dg_grad_of_a_function_calling_it(rule, name):
    f = getattr(sc, name)
    i = continuous(rule)[-1]
    for point in points(rule, 3):
        def g(v):
            args = list(point)
            args[i] = v
            return f(*args) * 2.0

        close(dg.grad(g)(point[i]), 2.0 * fd_partial(f, point, i))


def _arrays(rule, n=5):
    pts = sample_rule(rule, n, seed=11)
    return [pts[:, i].copy() for i in range(rule.arity)]


def _fd_elementwise(f, arrays, i):
    return np.array([fd_partial(f, tuple(float(a[k]) for a in arrays), i)
                     for k in range(arrays[0].size)])


@pytest.mark.parametrize("rule, name", MAPPED)
def test_on_a_dualarray(rule, name):
    f = getattr(sc, name)
    arrays = _arrays(rule)
    for i in continuous(rule):
        args = [dg.DualArray(a, np.ones((1,) + a.shape)) if j == i else a
                for j, a in enumerate(arrays)]
        out = f(*args)
        assert isinstance(out, dg.DualArray)
        close(out.value, f(*arrays), rtol=1e-14, atol=0)
        close(out.tangent[0], _fd_elementwise(f, arrays, i))


@pytest.mark.parametrize("rule, name", MAPPED)
def test_on_a_tensor_backward(rule, name):
    f = getattr(sc, name)
    arrays = _arrays(rule)
    cont = continuous(rule)
    ts = [dg.tensor(a, requires_grad=True) if j in cont else a for j, a in enumerate(arrays)]
    y = f(*ts)
    assert isinstance(y, dg.Tensor)
    close(y.detach().numpy(), f(*arrays), rtol=1e-14, atol=0)
    (y * 3.0).sum().backward()
    for i in cont:
        close(ts[i].grad.numpy(), 3.0 * _fd_elementwise(f, arrays, i))


@pytest.mark.parametrize("rule, name", MAPPED)
def test_nested_hessian(rule, name):
    f = getattr(sc, name)
    i = continuous(rule)[-1]
    for point in points(rule, 3):
        def g(v):
            args = list(point)
            args[i] = v
            return f(*args)

        # the second derivative as central differences of the (exact) first
        first = lambda v: float(f(*[dg.Dual(v, 1.0) if j == i else w  # noqa: E731
                                    for j, w in enumerate(point)]).tangent)
        want = five_point(first, point[i], 1e-4 * max(1.0, abs(point[i])))
        close(dg.hessian(g)(point[i]), want, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("rule, name", [p for p in MAPPED if p.values[0].arity == 2])
def test_with_an_ndarray_operand(rule, name):
    # An ndarray beside a Dual: SciPy's ufuncs have no object loop, so the row's
    # dualgrad function maps the elements.
    f = getattr(sc, name)
    arrays = _arrays(rule, 3)
    i = continuous(rule)[-1]
    args = list(arrays)
    args[i] = dg.Dual(float(arrays[i][0]), 1.0)
    out = f(*args)
    assert out.shape == (3,)
    fixed = list(arrays)
    fixed[i] = np.full(3, arrays[i][0])
    close([o.value for o in out], f(*fixed), rtol=1e-14, atol=0)
    close([o.tangent for o in out], _fd_elementwise(f, fixed, i))


# ---------------------------------------------------------------------------
# Conventions and edges


def test_sinc_at_zero_and_near_it():
    assert dg.sinc(0.0) == 1.0
    assert dg.sinc(dg.Dual(0.0, 1.0)).tangent == 0.0
    # the Taylor branch is smooth at 0: the Hessian there is -pi^2/3
    assert dg.hessian(dg.sinc)(0.0) == pytest.approx(-math.pi ** 2 / 3, rel=1e-14)
    for x in (1e-9, 0.05, 0.0999, 0.1001, 0.7):
        fd = five_point(lambda v: float(np.sinc(v)), x, 1e-4)
        assert dg.sinc(dg.Dual(x, 1.0)).tangent == pytest.approx(fd, rel=1e-9, abs=1e-12)
        assert dg.sinc(x) == pytest.approx(float(np.sinc(x)), rel=1e-15)


def test_xlogy_at_zero_follows_scipy():
    # xlogy(0, y) = 0 for every y: d/dy is 0 there, so p log p has a finite
    # gradient in y at p = 0, not 0/0
    assert sc.xlogy(0.0, dg.Dual(0.0, 1.0)).tangent == 0.0
    assert sc.xlog1py(0.0, dg.Dual(-1.0, 1.0)).tangent == 0.0
    # d/dx is log(y) on both sides of x = 0
    assert sc.xlogy(dg.Dual(0.0, 1.0), 2.0).tangent == pytest.approx(math.log(2.0))
    assert sc.xlogy(dg.Dual(0.0, 1.0), 2.0).value == 0.0


def test_entropies_at_zero():
    assert sc.entr(dg.Dual(0.0, 1.0)).value == 0.0
    assert sc.rel_entr(0.0, dg.Dual(2.0, 1.0)).tangent == 0.0
    assert sc.kl_div(0.0, dg.Dual(2.0, 1.0)).tangent == 1.0


def test_bessel_order_is_not_differentiated():
    # an order carrying a tangent gives nan, never a silent 0; a constant order
    # contributes nothing
    out = sc.jv(dg.Dual(1.5, 1.0), 2.0)
    assert out.value == sc.jv(1.5, 2.0) and math.isnan(out.tangent)
    out = sc.jv(1.5, dg.Dual(2.0, 1.0))
    assert out.tangent == pytest.approx(sc.jvp(1.5, 2.0), rel=1e-13)
    # non-integer orders work on every tier
    t = dg.tensor([1.0, 2.5], requires_grad=True)
    sc.kv(0.3, t).sum().backward()
    close(t.grad.numpy(), sc.kvp(0.3, np.array([1.0, 2.5])), rtol=1e-13, atol=0)


def test_softplus_is_logaddexp():
    # scipy.special.softplus is np.logaddexp(0, x), which is a row already
    d = sc.softplus(dg.Dual(0.7, 1.0))
    assert d.value == pytest.approx(float(sc.softplus(0.7)))
    assert d.tangent == pytest.approx(float(sc.expit(0.7)))


def test_tensor_methods_of_the_rows():
    t = dg.tensor([0.5, 1.5], requires_grad=True)
    t.erfcx().sum().backward()
    close(t.grad.numpy(), 2 * t.detach().numpy() * sc.erfcx([0.5, 1.5]) - 2 / math.sqrt(math.pi),
          rtol=1e-14, atol=0)


def test_rows_that_need_scipy():
    names = {r.name for r in RULES if needs_scipy(r)}
    assert {"erfcx", "erfinv", "ndtri", "j0", "jv", "beta"} <= names
    assert not names & {"sin", "erf", "ndtr", "xlogy", "sinc", "digamma"}


# ---------------------------------------------------------------------------
# Without SciPy

WITHOUT_SCIPY = textwrap.dedent("""
    import sys
    sys.modules["scipy"] = None                  # import scipy raises ImportError
    import math
    import numpy as np
    import dualgrad as dg
    assert abs(dg.grad(lambda x: np.sin(x) * dg.erf(x))(0.3)
               - (math.cos(0.3) * math.erf(0.3) + math.sin(0.3) * 2 / math.sqrt(math.pi)
                  * math.exp(-0.09))) < 1e-14
    assert dg.xlogy(2.0, 3.0) == 2.0 * math.log(3.0)           # no SciPy needed
    t = dg.tensor([0.3], requires_grad=True)
    dg.ndtr(t).sum().backward()
    for call in (lambda: dg.erfcx(0.5), lambda: dg.erfcx(dg.Dual(0.5, 1.0)),
                 lambda: dg.jv(1.0, np.array([0.5])), lambda: dg.tensor([0.5]).erfcx(),
                 lambda: dg.tensor([0.5]).erfcx_(), lambda: dg.tensor([0.5]).jv(1.0),
                 lambda: dg.grad(dg.i0)(0.5)):
        try:
            call()
        except ImportError as e:
            assert "install" in str(e) and "scipy" in str(e), e
        else:
            raise AssertionError("no error without SciPy")
    print("ok")
""")


def test_dualgrad_works_without_scipy():
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(dg.__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-c", WITHOUT_SCIPY], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
