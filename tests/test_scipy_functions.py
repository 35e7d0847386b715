"""SciPy functions on traced values (dualgrad/scipy_functions.py): every
registered function on each tier and mode and nested, against central
differences, PyTorch where it has the function, and SciPy's own values; the
trampolines (plain calls unchanged, names bound before import, restoring); the
error for a SciPy function without a rule; dualgrad without SciPy."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

scipy = pytest.importorskip("scipy")
import scipy.integrate  # noqa: E402
import scipy.linalg  # noqa: E402
import scipy.signal  # noqa: E402
import scipy.special  # noqa: E402
import scipy.stats  # noqa: E402

import dualgrad as dg  # noqa: E402
from dualgrad import scipy_functions as SF  # noqa: E402

sp, st, sg, si, sl = scipy.special, scipy.stats, scipy.signal, scipy.integrate, scipy.linalg

ARRAY = [("array", "forward"), ("array", "reverse")]
EVERY = [("scalar", "forward"), ("scalar", "reverse")] + ARRAY


def central_jacobian(f, x, h=1e-6):
    x = np.asarray(x, dtype=float)
    cols = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = h
        cols.append((np.asarray(f(x + e), float) - np.asarray(f(x - e), float)).ravel() / (2 * h))
    return np.stack(cols, axis=-1)


def check(forced_plan, f, x, tiers=EVERY, rtol=1e-6, atol=1e-8, order=2):
    """dg.jacobian of f on each tier and mode, and its Hessian (forward over
    reverse, and forward over forward) where ``order`` is 2, against central
    differences."""
    x = np.asarray(x, dtype=float)
    expected = central_jacobian(f, x)
    for tier, mode in tiers:
        forced_plan.update(tier=tier, mode=mode)
        got = np.reshape(dg.jacobian(f)(x), expected.shape)
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol,
                                   err_msg=f"{tier} tier, {mode} mode")
    if order == 2:
        def g(v):
            return np.sum(f(v) * np.linspace(0.5, 1.5, np.size(f(x))).reshape(np.shape(f(x))))
        forced_plan.update(tier="array", mode="reverse")
        grad = dg.grad(g)
        expected = central_jacobian(grad, x, 1e-5)
        for tier, mode in ([("array", "forward-over-reverse")]
                           + ([("scalar", "forward-over-reverse")] if tiers is EVERY else [])):
            forced_plan.update(tier=tier, mode=mode)
            np.testing.assert_allclose(dg.hessian(g)(x), expected, rtol=1e-5, atol=1e-6,
                                       err_msg=f"hessian: {tier} tier")
        forced_plan.update(tier="array", mode="forward")
        np.testing.assert_allclose(dg.jacfwd(dg.grad(g))(x), expected, rtol=1e-5, atol=1e-6,
                                   err_msg="jacfwd of grad")


def value_on_arrays(f, x):
    """f's value computed by the registered implementation (on a DualArray)."""
    out, _ = dg.jvp(f, (np.asarray(x, float),), (np.ones(np.shape(x)),))
    return out


X = np.array([0.3, -1.2, 0.8, 2.1, -0.4, 1.5])


# ---------------------------------------------------------------------------
# scipy.special

SPECIAL = {
    "logsumexp": lambda x: sp.logsumexp(x),
    "logsumexp axis keepdims": lambda x: sp.logsumexp(x.reshape(2, 3), axis=1, keepdims=True),
    "logsumexp axis 0": lambda x: sp.logsumexp(x.reshape(2, 3), axis=0),
    "logsumexp b": lambda x: sp.logsumexp(x, b=np.array([0.5, 1.0, 2.0, 0.1, 1.0, 3.0])),
    "logsumexp b traced": lambda x: sp.logsumexp(x[:3], b=np.exp(x[3:])),
    "logsumexp return_sign": lambda x: sp.logsumexp(
        x, b=np.array([1.0, -0.5, 2.0, -0.1, 1.0, -3.0]), return_sign=True)[0],
    "logsumexp list": lambda x: sp.logsumexp([x[0], x[1] * x[2]]),
    "softmax": lambda x: sp.softmax(x),
    "softmax axis": lambda x: sp.softmax(x.reshape(3, 2), axis=1),
    "log_softmax": lambda x: sp.log_softmax(x),
    "log_softmax axis": lambda x: sp.log_softmax(x.reshape(2, 3), axis=0),
    "multigammaln": lambda x: sp.multigammaln(x + 3.0, 4),
}


def test_multigammaln_against_pytorch_and_its_condition():
    import torch
    a = np.array([3.5, 4.2])
    t = torch.tensor(a, requires_grad=True)
    torch.special.multigammaln(t, 4).sum().backward()
    np.testing.assert_allclose(dg.grad(lambda a: np.sum(sp.multigammaln(a, 4)))(a),
                               t.grad.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="condition"):
        dg.grad(lambda a: sp.multigammaln(a, 4))(1.0)


@pytest.mark.parametrize("name", SPECIAL)
def test_special(forced_plan, name):
    f = SPECIAL[name]
    check(forced_plan, f, X)
    np.testing.assert_allclose(value_on_arrays(f, X), f(X), rtol=1e-14, atol=1e-15)


def test_logsumexp_return_sign_and_keyword_forms():
    b = np.array([1.0, -0.5, 2.0, -0.1, 1.0, -3.0])
    out, _ = dg.jvp(lambda x: sp.logsumexp(x, b=b, return_sign=True)[0], (X,), (X,))
    np.testing.assert_allclose(out, sp.logsumexp(X, b=b, return_sign=True)[0], rtol=1e-14)
    t = dg.tensor(X, requires_grad=True)
    value, sign = sp.logsumexp(a=t.reshape(2, 3), axis=-1, b=b.reshape(2, 3), return_sign=True)
    expected, expected_sign = sp.logsumexp(X.reshape(2, 3), -1, b.reshape(2, 3),
                                           return_sign=True)
    np.testing.assert_allclose(value.detach().numpy(), expected, rtol=1e-14)
    np.testing.assert_array_equal(sign, expected_sign)
    assert list(expected_sign) == [1.0, -1.0]       # a negative sum among them


def test_special_against_torch():
    torch = pytest.importorskip("torch")
    x = X.reshape(2, 3)
    xt = torch.tensor(x, requires_grad=True)
    torch.logsumexp(xt, 1).sum().backward()
    np.testing.assert_allclose(dg.grad(lambda v: np.sum(sp.logsumexp(v, axis=1)))(x),
                               xt.grad.numpy(), rtol=1e-13)
    w = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 0.3]])
    for ours, theirs in ((sp.softmax, torch.softmax), (sp.log_softmax, torch.log_softmax)):
        xt = torch.tensor(x, requires_grad=True)
        (theirs(xt, 1) * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(dg.grad(lambda v: np.sum(ours(v, axis=1) * w))(x),
                                   xt.grad.numpy(), rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------
# scipy.stats: continuous distributions

# (distribution, shape parameters, points inside the support)
CONTINUOUS = {
    "norm": ((), np.array([0.3, -1.2, 2.0])),
    "expon": ((), np.array([0.3, 1.2, 2.0])),
    "t": ((3.5,), np.array([0.3, -1.2, 2.0])),
    "gamma": ((2.5,), np.array([0.3, 1.2, 2.0])),
    "beta": ((2.5, 1.7), np.array([0.3, 0.6, 0.9])),
}
METHODS = ("logpdf", "pdf", "cdf", "logcdf", "sf", "logsf")


def _continuous_case(name, method):
    shapes, xs = CONTINUOUS[name]
    dist = getattr(st, name)
    loc, scale = (0.1, 1.3) if name != "beta" else (-0.1, 1.2)
    n = xs.size
    with_shapes = method in ("logpdf", "pdf")

    def f(v):
        x, lc, sc = v[:n], v[n], v[n + 1]
        s = tuple(v[n + 2:]) if with_shapes else shapes
        return getattr(dist, method)(x, *s, loc=lc, scale=sc)
    point = np.concatenate([xs * (scale if name == "beta" else 1), [loc, scale],
                            shapes if with_shapes else []])
    if name == "beta":
        point[:n] = loc + scale * xs
    return f, point


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", CONTINUOUS)
def test_continuous(forced_plan, name, method):
    f, point = _continuous_case(name, method)
    check(forced_plan, f, point, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(value_on_arrays(f, point), f(point), rtol=1e-11)


@pytest.mark.parametrize("name", CONTINUOUS)
def test_continuous_positional_and_frozen(name):
    shapes, xs = CONTINUOUS[name]
    dist = getattr(st, name)
    for method in METHODS:
        def positional(x):
            return getattr(dist, method)(x, *shapes, 0.1, 1.3)

        def frozen(x):
            return getattr(dist(*shapes, loc=0.1, scale=1.3), method)(x)
        xs1 = 0.1 + 1.3 * xs if name == "beta" else xs
        expected = central_jacobian(positional, xs1)
        for g in (positional, frozen):
            np.testing.assert_allclose(dg.jacobian(g)(xs1), expected, rtol=1e-5, atol=1e-8)


def test_frozen_with_traced_parameters():
    def f(v):
        return st.norm(loc=v[0], scale=v[1]).logpdf(np.array([0.3, 1.0])) + st.gamma(
            v[2], scale=v[1]).logpdf(0.7)
    point = np.array([0.2, 1.4, 2.2])
    np.testing.assert_allclose(dg.jacobian(f)(point), central_jacobian(f, point), rtol=1e-6)


def test_outside_the_support_and_invalid_parameters():
    """SciPy's constants where the density's formula does not hold (derivative 0)."""
    x = np.array([-0.5, 0.0, 0.5, 1.0, 1.5])
    for dist, args in ((st.beta, (2.0, 3.0)), (st.gamma, (2.0,)), (st.expon, ())):
        for method in METHODS:
            f = getattr(dist, method)
            out, tangent = dg.jvp(lambda v: f(v, *args), (x,), (np.ones_like(x),))
            np.testing.assert_allclose(out, f(x, *args), rtol=1e-12, atol=1e-300)
            assert np.all(np.isfinite(tangent) | np.isnan(f(x, *args))), (dist.name, method)
    out = dg.jvp(lambda v: st.norm.logpdf(v, scale=-1.0), (x,), (np.ones_like(x),))[0]
    assert np.all(np.isnan(out))


def test_cdf_shape_parameter_is_refused():
    for f in (lambda d: st.t.cdf(0.3, d), lambda a: st.gamma.sf(0.3, a),
              lambda a: st.beta.logcdf(0.3, a, 2.0)):
        for mode in ("forward", "reverse"):
            with pytest.raises(TypeError, match="has no closed form"):
                dg.jacobian(f, mode=mode)(3.0)


def test_continuous_against_torch():
    torch = pytest.importorskip("torch")
    D = torch.distributions
    x = np.array([0.3, 0.7, 0.9])
    cases = [
        (lambda p: st.norm.logpdf(x, p[0], p[1]), [0.2, 1.3],
         lambda p: D.Normal(p[0], p[1]).log_prob(torch.tensor(x))),
        (lambda p: st.norm.cdf(x, p[0], p[1]), [0.2, 1.3],
         lambda p: D.Normal(p[0], p[1]).cdf(torch.tensor(x))),
        (lambda p: st.t.logpdf(x, p[0], p[1], p[2]), [3.5, 0.2, 1.3],
         lambda p: D.StudentT(p[0], p[1], p[2]).log_prob(torch.tensor(x))),
        (lambda p: st.gamma.logpdf(x, p[0], scale=1 / p[1]), [2.5, 1.7],
         lambda p: D.Gamma(p[0], p[1]).log_prob(torch.tensor(x))),
        (lambda p: st.beta.logpdf(x, p[0], p[1]), [2.5, 1.7],
         lambda p: D.Beta(p[0], p[1]).log_prob(torch.tensor(x))),
        (lambda p: st.expon.logpdf(x, scale=1 / p[0]), [1.7],
         lambda p: D.Exponential(p[0]).log_prob(torch.tensor(x))),
        (lambda p: st.expon.cdf(x, scale=1 / p[0]), [1.7],
         lambda p: D.Exponential(p[0]).cdf(torch.tensor(x))),
    ]
    for ours, p, theirs in cases:
        pt = torch.tensor(p, dtype=torch.float64, requires_grad=True)
        expected = torch.autograd.functional.jacobian(theirs, pt).numpy()
        np.testing.assert_allclose(dg.jacobian(ours)(np.array(p)), expected, rtol=1e-10,
                                   atol=1e-14)


# ---------------------------------------------------------------------------
# scipy.stats: discrete distributions

DISCRETE = {
    "poisson logpmf": (lambda v: st.poisson.logpmf([0, 1, 3, 7], v[0]), [2.3]),
    "poisson pmf": (lambda v: st.poisson.pmf([0, 1, 3, 7], v[0]), [2.3]),
    "poisson cdf": (lambda v: st.poisson.cdf([0, 1, 3.5, 7], v[0]), [2.3]),
    "poisson loc": (lambda v: st.poisson(v[0], loc=1).logpmf([1, 2, 4]), [2.3]),
    "binom logpmf": (lambda v: st.binom.logpmf([0, 2, 5], 6, v[0]), [0.35]),
    "binom pmf": (lambda v: st.binom.pmf([0, 2, 5], 6, v[0]), [0.35]),
    "binom cdf": (lambda v: st.binom.cdf([0, 2, 5], 6, v[0]), [0.35]),
    "binom frozen": (lambda v: st.binom(6, v[0]).cdf([0, 2.5, 5]), [0.35]),
}


@pytest.mark.parametrize("name", DISCRETE)
def test_discrete(forced_plan, name):
    f, point = DISCRETE[name]
    check(forced_plan, f, point, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(value_on_arrays(f, point), f(np.array(point)), rtol=1e-11)


def test_discrete_outside_the_support():
    k = np.array([-1, 0, 2.5, 6, 7])
    for method in ("logpmf", "pmf", "cdf"):
        out, tangent = dg.jvp(lambda p: getattr(st.binom, method)(k, 6, p), (0.4,), (1.0,))
        np.testing.assert_allclose(out, getattr(st.binom, method)(k, 6, 0.4), rtol=1e-12)
        np.testing.assert_array_equal(tangent[[0, 4]], 0.0)


def test_discrete_against_torch():
    torch = pytest.importorskip("torch")
    D = torch.distributions
    k = np.array([0.0, 1.0, 3.0, 5.0])
    for ours, p, theirs in (
            (lambda v: st.poisson.logpmf(k, v[0]), [2.3],
             lambda v: D.Poisson(v[0]).log_prob(torch.tensor(k))),
            (lambda v: st.binom.logpmf(k, 6, v[0]), [0.35],
             lambda v: D.Binomial(6, probs=v[0]).log_prob(torch.tensor(k)))):
        pt = torch.tensor(p, dtype=torch.float64)
        expected = torch.autograd.functional.jacobian(theirs, pt).numpy()
        np.testing.assert_allclose(dg.jacobian(ours)(np.array(p)), expected, rtol=1e-10)


def test_discrete_counts_are_refused():
    with pytest.raises(TypeError, match="k \\(a count\\)"):
        dg.grad(lambda k: st.poisson.logpmf(k, 2.0))(1.0)
    with pytest.raises(TypeError, match="n \\(a count\\)"):
        dg.grad(lambda n: st.binom.logpmf(1, n, 0.3))(4.0)


# ---------------------------------------------------------------------------
# scipy.stats.multivariate_normal

def _mvn_parts(v):
    x = np.reshape(v[:6], (3, 2))
    mean = v[6:8]
    B = np.reshape(v[8:12], (2, 2))
    return x, mean, B @ B.T + np.eye(2)


MVN_POINT = np.array([0.3, -0.2, 1.1, 0.4, -0.7, 0.9, 0.1, 0.2, 0.5, -0.3, 0.2, 0.8])
MVN = {
    "logpdf": lambda v: st.multivariate_normal.logpdf(*_mvn_parts(v)),
    "pdf": lambda v: st.multivariate_normal.pdf(*_mvn_parts(v)),
    "one point": lambda v: st.multivariate_normal.logpdf(v[:2], mean=v[6:8],
                                                         cov=_mvn_parts(v)[2]),
    "diagonal cov": lambda v: st.multivariate_normal.logpdf(v[:6].reshape(3, 2), v[6:8],
                                                            cov=np.exp(v[8:10])),
    "scalar cov": lambda v: st.multivariate_normal.logpdf(v[:3], v[6], np.exp(v[8])),
    "frozen": lambda v: st.multivariate_normal([0.1, 0.2], [[1.0, 0.3], [0.3, 2.0]]).logpdf(
        v[:6].reshape(3, 2)),
}


@pytest.mark.parametrize("name", MVN)
def test_multivariate_normal(forced_plan, name):
    f = MVN[name]
    check(forced_plan, f, MVN_POINT, tiers=ARRAY, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(value_on_arrays(f, MVN_POINT), f(MVN_POINT), rtol=1e-11)


def test_multivariate_normal_plans_the_array_tier():
    f = MVN["logpdf"]
    plan = dg.plan(lambda v: np.sum(f(v)), MVN_POINT)
    assert plan.tier == "array"


def test_multivariate_normal_against_torch():
    torch = pytest.importorskip("torch")

    def theirs(v):
        x = v[:6].reshape(3, 2)
        B = v[8:12].reshape(2, 2)
        return torch.distributions.MultivariateNormal(
            v[6:8], B @ B.T + torch.eye(2, dtype=torch.float64)).log_prob(x)
    expected = torch.autograd.functional.jacobian(theirs, torch.tensor(MVN_POINT)).numpy()
    np.testing.assert_allclose(dg.jacobian(MVN["logpdf"])(MVN_POINT), expected, rtol=1e-10,
                               atol=1e-14)


# ---------------------------------------------------------------------------
# scipy.signal

A7 = np.linspace(-1.0, 2.0, 7) ** 2 - 0.3
K3 = np.array([0.5, -1.0, 2.0])


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("fn", [sg.convolve, sg.correlate])
def test_signal_1d(forced_plan, fn, mode):
    for f in (lambda v: fn(v[:7], v[7:], mode=mode), lambda v: fn(v[7:], v[:7], mode),
              lambda v: fn(v[:7], K3, mode, method="direct")):
        point = np.concatenate([A7, K3])
        check(forced_plan, f, point, order=1)
        np.testing.assert_allclose(value_on_arrays(f, point), f(point), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("fn", [sg.convolve, sg.correlate])
def test_signal_2d(forced_plan, fn, mode):
    a = np.arange(12.0).reshape(3, 4) ** 1.5 / 7
    k = np.array([[1.0, -0.5], [0.3, 2.0]])
    point = np.concatenate([a.ravel(), k.ravel()])

    def f(v):
        return fn(v[:12].reshape(3, 4), v[12:].reshape(2, 2), mode)
    check(forced_plan, f, point, order=2)
    np.testing.assert_allclose(value_on_arrays(f, point), f(point), rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------------
# scipy.integrate

@pytest.mark.parametrize("n", [5, 6, 2])
def test_integrate(forced_plan, n):
    x = np.cumsum(np.linspace(0.2, 0.9, n))
    y = np.sin(x) + 2
    for f, point in ((lambda v: si.trapezoid(v[:n] ** 2, v[n:]), np.concatenate([y, x])),
                     (lambda v: si.trapezoid(v.reshape(-1, n), dx=0.3, axis=1),
                      np.concatenate([y, y ** 2])),
                     (lambda v: si.simpson(v ** 2, x=x), y),
                     (lambda v: si.simpson(v.reshape(n, 2), dx=0.4, axis=0),
                      np.concatenate([y, y ** 2]))):
        check(forced_plan, f, point, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(value_on_arrays(f, point), f(point), rtol=1e-12)


def test_simpson_sample_points_are_constant():
    with pytest.raises(TypeError, match="sample points x"):
        dg.grad(lambda x: si.simpson(np.ones(3), x=x))(np.array([0.0, 1.0, 2.5]))


# ---------------------------------------------------------------------------
# scipy.linalg

M = np.array([[2.0, 0.3, -0.2], [0.3, 1.5, 0.4], [-0.2, 0.4, 1.8]])
Q = np.array([[2.0, 0.7, -0.2], [0.1, 1.5, 0.4], [0.5, 0.4, 1.8]])   # not symmetric
RHS = np.array([0.3, -1.0, 2.0])
LINALG = {
    "inv": lambda v: sl.inv(v.reshape(3, 3)),
    "det": lambda v: sl.det(v.reshape(3, 3)),
    "solve": lambda v: sl.solve(v.reshape(3, 3), RHS),
    "solve transposed": lambda v: sl.solve(v.reshape(3, 3), RHS, transposed=True),
    "solve sym upper": lambda v: sl.solve(v.reshape(3, 3), RHS, assume_a="sym"),
    "solve pos lower": lambda v: sl.solve(v.reshape(3, 3) @ v.reshape(3, 3).T, RHS,
                                          assume_a="pos", lower=True),
    "solve matrix b": lambda v: sl.solve(M, v.reshape(3, 3)),
    "inv pos": lambda v: sl.inv(v.reshape(3, 3), assume_a="pos"),
    "cholesky": lambda v: sl.cholesky(v.reshape(3, 3)),
    "cholesky lower": lambda v: sl.cholesky(v.reshape(3, 3), lower=True),
}


@pytest.mark.parametrize("name", LINALG)
def test_linalg(forced_plan, name):
    f = LINALG[name]
    point = (M if "pos" in name or "cholesky" in name or "sym" in name else Q).ravel()
    if "cholesky" in name or "pos" in name:
        # Symmetric perturbations only: SciPy's and NumPy's factorizations read
        # different triangles of a matrix that is not symmetric.
        def g(u, f=f):
            S = np.reshape(u, (3, 3))
            return f(np.reshape(S + S.T, (9,)) / 2)
        f = g
    check(forced_plan, f, point, tiers=ARRAY, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(value_on_arrays(f, point), f(point), rtol=1e-12, atol=1e-14)


SPD = M @ M.T + np.eye(3)
B2 = np.array([[1.0, 0.2], [-0.3, 2.0]])
DECOMPOSITIONS = {
    # gauge-invariant functions of the factors: |U|, |V|, U diag(s) V^T
    "svd": lambda v: np.abs(sl.svd(v.reshape(3, 3))[0]) + sl.svd(v.reshape(3, 3))[1],
    "svd economic values": lambda v: sl.svd(v.reshape(3, 3), compute_uv=False),
    "svdvals": lambda v: sl.svdvals(v.reshape(3, 3)),
    "eigh": lambda v: np.abs(sl.eigh(v.reshape(3, 3) + v.reshape(3, 3).T)[1]) ** 2,
    "eigh values": lambda v: sl.eigh(v.reshape(3, 3) + v.reshape(3, 3).T, eigvals_only=True),
    "eigvalsh upper": lambda v: sl.eigvalsh(v.reshape(3, 3), lower=False),
    "qr": lambda v: np.abs(sl.qr(v.reshape(3, 3))[1]),
    "qr r": lambda v: np.abs(sl.qr(v.reshape(3, 3), mode="r")[0]),
    "lu": lambda v: sl.lu(v.reshape(3, 3))[2] + sl.lu(v.reshape(3, 3))[1],
    "pinv": lambda v: sl.pinv(v.reshape(3, 3)[:, :2]),
    "lstsq": lambda v: sl.lstsq(v.reshape(3, 3)[:, :2], RHS)[0],
    "norm 2": lambda v: sl.norm(v.reshape(3, 3), 2),
    "norm nuc": lambda v: sl.norm(v.reshape(3, 3), "nuc"),
    "solve_triangular": lambda v: sl.solve_triangular(v.reshape(3, 3), RHS, lower=True),
    "cho_solve": lambda v: sl.cho_solve(sl.cho_factor(v.reshape(3, 3) @ v.reshape(3, 3).T),
                                        RHS),
    "solve_sylvester": lambda v: sl.solve_sylvester(v.reshape(3, 3)[:2, :2], B2,
                                                    v.reshape(3, 3)[1:, 1:]),
    "solve_banded": lambda v: sl.solve_banded((1, 1), v.reshape(3, 3), RHS),
    "expm": lambda v: sl.expm(0.5 * v.reshape(3, 3)),
    "logm": lambda v: sl.logm(v.reshape(3, 3) @ v.reshape(3, 3).T),
    "sqrtm": lambda v: sl.sqrtm(v.reshape(3, 3) @ v.reshape(3, 3).T),
}


@pytest.mark.parametrize("name", DECOMPOSITIONS)
def test_linalg_decompositions(forced_plan, name):
    """scipy.linalg's twins of dualgrad's linear-algebra rules, unchanged."""
    f = DECOMPOSITIONS[name]
    point = (SPD if name in ("solve_banded",) else Q).ravel()
    check(forced_plan, f, point, tiers=ARRAY, rtol=1e-5, atol=1e-7,
          order=2 if name in ("svdvals", "eigh values", "expm", "norm nuc") else 1)
    np.testing.assert_allclose(value_on_arrays(f, point), f(point), rtol=1e-10, atol=1e-12)


def test_linalg_reads_scipy_triangle():
    """On a matrix that is not symmetric, the value is SciPy's (which reads one
    triangle), and so is the derivative."""
    for f in (lambda v: sl.cholesky(v.reshape(3, 3) + 3 * np.eye(3)),
              lambda v: sl.cholesky(v.reshape(3, 3) + 3 * np.eye(3), lower=True),
              lambda v: sl.solve(v.reshape(3, 3) + 3 * np.eye(3), RHS, assume_a="sym")):
        np.testing.assert_allclose(value_on_arrays(f, Q.ravel()), f(Q.ravel()), rtol=1e-12)
        np.testing.assert_allclose(dg.jacobian(f)(Q.ravel()).reshape(-1, 9),
                                   central_jacobian(f, Q.ravel()), rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------
# The trampolines

def _plain_calls():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4))
    b = rng.normal(size=(3, 4))
    S = M @ M.T
    return [
        sp.logsumexp(x), sp.logsumexp(x, axis=1, b=b, return_sign=True),
        sp.logsumexp(x, axis=(0, 1), keepdims=True), sp.softmax(x, axis=0),
        sp.log_softmax(x), st.norm.logpdf(x, 0.3, 2.0), st.t.cdf(x, 3.0),
        st.gamma(2.0).sf(np.abs(x)), st.beta.logpdf(np.abs(x) / 3, 2.0, 1.5),
        st.poisson.pmf([0, 1, 2], 1.5), st.binom.cdf([0, 1, 2], 4, 0.3),
        st.multivariate_normal.logpdf(x[:, :2], cov=S[:2, :2]),
        sg.convolve(x, b[:2, :2]), sg.correlate(x[0], b[1], "same"),
        si.trapezoid(x), si.simpson(x, dx=0.5), sl.inv(S), sl.det(S), sl.solve(S, x[:, 0]),
        sl.cholesky(S),
    ]


def _same(a, b):
    if isinstance(a, tuple):
        return all(_same(u, v) for u, v in zip(a, b))
    return type(a) is type(b) and np.array_equal(a, b) and np.shape(a) == np.shape(b)


def test_plain_calls_are_scipy_and_restore():
    patched = [SF.patched(f) for f in (sp.logsumexp, st.norm.logpdf, sl.cholesky)]
    assert all(patched)
    with_trampolines = _plain_calls()
    SF.restore()
    try:
        assert not SF.patched(sp.logsumexp) and not SF.patched(st.norm.logpdf)
        assert "__dualgrad_scipy_dispatch__" not in vars(sys.modules[sp.logsumexp.__module__])
        original = _plain_calls()
        with pytest.raises(TypeError):
            dg.grad(sp.logsumexp)(X)
    finally:
        SF.install()
    assert SF.patched(sp.logsumexp)
    assert len(with_trampolines) == len(original)
    for a, b in zip(with_trampolines, original):
        assert _same(a, b), (a, b)
    np.testing.assert_allclose(dg.grad(sp.logsumexp)(X), sp.softmax(X), rtol=1e-14)


def test_signatures_are_kept():
    import inspect
    assert str(inspect.signature(sp.logsumexp)) == (
        "(a, axis=None, b=None, keepdims=False, return_sign=False)")
    assert str(inspect.signature(si.simpson)) == "(y, x=None, *, dx=1.0, axis=-1)"
    assert str(inspect.signature(sl.inv)) == (
        "(a, overwrite_a=False, check_finite=True, *, assume_a=None, lower=False)")
    assert "def logsumexp(a, axis=None" in inspect.getsource(sp.logsumexp)
    assert sp.logsumexp.__name__ == "logsumexp" and sp.logsumexp.__module__.startswith("scipy")


def _run(code):
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_names_bound_before_import():
    out = _run("""
        import numpy as np
        from scipy.special import logsumexp
        from scipy.stats import norm
        lse = logsumexp
        import dualgrad as dg
        x = np.array([0.3, -1.2, 0.8])
        g = dg.grad(lambda x: lse(x) + np.sum(norm.logpdf(x, 0.5, 2.0)))(x)
        expected = np.exp(x - logsumexp(x)) + (0.5 - x) / 4
        assert np.allclose(g, expected, rtol=1e-13), (g, expected)
        print("ok")
    """)
    assert out.strip() == "ok"


def test_scipy_imported_after_dualgrad():
    out = _run("""
        import sys
        import numpy as np
        import dualgrad as dg
        # (dualgrad imports scipy.special, for the derivative table's rows of
        # its ufuncs, but not the modules its registry patches)
        assert "scipy.stats" not in sys.modules
        from scipy.special import logsumexp
        from scipy.stats import gamma
        x = np.array([0.3, 1.2, 0.8])
        g = dg.grad(lambda x: logsumexp(x) + np.sum(gamma.logpdf(x, 2.0)))(x)
        expected = np.exp(x - logsumexp(x)) + 1 / x - 1
        assert np.allclose(g, expected, rtol=1e-13), (g, expected)
        print("ok")
    """)
    assert out.strip() == "ok"


def test_dualgrad_without_scipy():
    out = _run("""
        import sys
        sys.modules["scipy"] = None
        import numpy as np
        import dualgrad as dg
        from dualgrad import scipy_functions
        assert not scipy_functions.REGISTRY
        assert np.allclose(dg.grad(lambda x: np.sum(np.sin(x)))(np.ones(2)), np.cos(1.0))
        try:
            import scipy.special
        except ImportError:
            print("ok")
    """)
    assert out.strip() == "ok"


# ---------------------------------------------------------------------------
# SciPy functions without a rule

@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("call, name", [
    (lambda x: st.skew(x), "scipy.stats.skew"),
    (lambda x: np.sum(si.cumulative_trapezoid(x)), "scipy.integrate.cumulative_trapezoid"),
    (lambda x: np.sum(st.laplace.logpdf(x)), "scipy.stats.laplace.logpdf"),
])
def test_unregistered_function_is_named(forced_plan, call, name, mode):
    forced_plan.update(tier="array", mode=mode)
    with pytest.raises(TypeError, match=f"{name} has no dualgrad rule") as e:
        dg.jacobian(call)(X)
    assert "dg.custom_jvp" in str(e.value)


def test_unregistered_function_on_both_tiers():
    """SciPy's code fails on the scalar tier's object arrays too: the error
    shown is the one naming the SciPy function."""
    with pytest.raises(TypeError, match="scipy.stats.skew has no dualgrad rule"):
        dg.grad(st.skew)(X)


def test_unregistered_numpy_arithmetic_runs_on_the_scalar_tier():
    """SciPy functions of plain NumPy arithmetic keep differentiating on the
    scalar tier, whose object arrays pass through np.asarray."""
    import scipy.optimize
    x = np.array([0.5, 1.2, 0.3, -0.7])
    np.testing.assert_allclose(dg.grad(scipy.optimize.rosen)(x), scipy.optimize.rosen_der(x),
                               rtol=1e-13)
    assert dg.plan(scipy.optimize.rosen, x).tier == "scalar"


def test_scalar_code_on_lone_numbers():
    """Scalar code passes SciPy one Dual or Var at a time (checked by check_grads)."""
    from dualgrad.testing import check_grads

    def f(mu, sigma, x0):
        return (sum(st.norm.logpdf(v, mu, sigma) for v in (x0, 0.3, 1.1))
                + st.gamma.logpdf(x0, 2.5, scale=sigma) + st.poisson.logpmf(3, sigma)
                + sp.logsumexp([mu, x0, 0.5]) + st.t.cdf(x0, 4.0, loc=mu)
                + st.beta.logcdf(0.4, 2.0, 3.0, scale=sigma))
    check_grads(f, (0.2, 1.3, 0.7), order=2)


def test_unregistered_function_on_a_tensor():
    t = dg.tensor(X, requires_grad=True)
    with pytest.raises(RuntimeError, match="scipy.stats.skew has no dualgrad rule"):
        st.skew(t)
    with pytest.raises(RuntimeError, match="Can't convert a Tensor that requires grad"):
        np.asarray(t)      # outside SciPy: the conversion's own error, unchanged
