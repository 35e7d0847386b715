"""SciPy's array-API-aware functions differentiated unchanged through
dualgrad.array_api. SciPy reads SCIPY_ARRAY_API when it is imported, so these
run in a subprocess that sets it (test_array_api.py's
test_scipy_in_a_subprocess); the file is not collected on its own."""

import os

import numpy as np
import pytest

import dualgrad as dg
import dualgrad.array_api as xp
from dualgrad._array.dualarray import DualArray

if os.environ.get("SCIPY_ARRAY_API") != "1":
    pytest.skip("run by test_array_api.py with SCIPY_ARRAY_API=1", allow_module_level=True)


X = np.array([[0.3, -1.2, 2.0], [0.7, 0.1, -0.4]])
WEIGHTS = np.array([1.0, 2.0, 0.5])
REFERENCE = np.array([[0.5, 1.0, -0.2], [1.5, -0.3, 0.4], [0.1, 0.2, 0.3], [2.0, -1.0, 0.0]])


def scipy_functions():
    import scipy.integrate as si
    import scipy.special as sp
    import scipy.stats as st
    # Constants go in as arrays of the traced argument's kind (np.asarray(c,
    # like=a)): SciPy refuses to mix plain NumPy arrays with another namespace's.
    return {
        "special.logsumexp": lambda a: sp.logsumexp(a),
        "special.logsumexp axis": lambda a: sp.logsumexp(a, axis=1),
        "special.logsumexp keepdims": lambda a: sp.logsumexp(a, axis=0, keepdims=True),
        "special.logsumexp b": lambda a: sp.logsumexp(a, axis=1,
                                                      b=np.asarray(WEIGHTS, like=a)),
        "special.softmax": lambda a: sp.softmax(a),
        "special.softmax axis": lambda a: sp.softmax(a, axis=1),
        "special.log_softmax": lambda a: sp.log_softmax(a, axis=0),
        "special.xlogy": lambda a: sp.xlogy(a, np.exp(a)),
        "integrate.trapezoid": lambda a: si.trapezoid(a, axis=1),
        "integrate.trapezoid x": lambda a: si.trapezoid(a * a, x=np.asarray(WEIGHTS.cumsum(),
                                                                            like=a)),
        "integrate.cumulative_trapezoid": lambda a: si.cumulative_trapezoid(a, axis=1),
        "stats.moment": lambda a: st.moment(a, order=3, axis=1),
        "stats.skew": lambda a: st.skew(a, axis=1),
        "stats.kurtosis": lambda a: st.kurtosis(a, axis=None),
        "stats.gmean": lambda a: st.gmean(np.exp(a), axis=1),
        "stats.hmean": lambda a: st.hmean(np.exp(a), axis=0),
        "stats.pmean": lambda a: st.pmean(np.exp(a), 2.5, axis=1),
        "stats.tvar": lambda a: st.tvar(a),
        "stats.sem": lambda a: st.sem(a, axis=1),
        "stats.zscore": lambda a: st.zscore(a, axis=1),
        "stats.zmap": lambda a: st.zmap(a, np.asarray(REFERENCE, like=a)),
    }


# SciPy writes into arrays that reverse mode saved for the backward pass
# (xpx.at(x)[...].set(...) in place): the engine's version check refuses
# rather than give a wrong gradient. Forward mode writes out of place and
# differentiates it. (logsumexp and log_softmax, which write in place too, are
# dualgrad's own through the registry of SciPy functions, under the namespace
# as without it.)
WRITES_IN_PLACE = {"stats.zscore"}


def central_jacobian(f, x, h=1e-5):
    columns = [(np.asarray(f(x + h * e), float) - np.asarray(f(x - h * e), float)) / (2 * h)
               for e in np.eye(x.size).reshape((x.size,) + x.shape)]
    out = np.stack(columns, axis=-1)
    return out.reshape(out.shape[:-1] + x.shape)


def test_scipy_under_array_api_takes_the_namespace():
    from scipy._lib import _array_api
    assert _array_api.SCIPY_ARRAY_API
    assert _array_api.array_namespace(DualArray(X, np.ones((1,) + X.shape))) is xp
    assert _array_api.array_namespace(dg.tensor(X, requires_grad=True), 2.0) is xp
    assert _array_api.array_namespace(X) is not xp


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("name", sorted(["special.logsumexp", "special.logsumexp axis",
                                         "special.logsumexp keepdims", "special.logsumexp b",
                                         "special.softmax", "special.softmax axis",
                                         "special.log_softmax", "special.xlogy",
                                         "integrate.trapezoid", "integrate.trapezoid x",
                                         "integrate.cumulative_trapezoid",
                                         "stats.moment", "stats.skew", "stats.kurtosis",
                                         "stats.gmean", "stats.hmean", "stats.pmean",
                                         "stats.tvar", "stats.sem", "stats.zscore",
                                         "stats.zmap"]))
def test_scipy_under_array_api_jacobian(name, mode, forced_plan):
    f = scipy_functions()[name]
    forced_plan.update(tier="array", mode=mode)
    if mode == "reverse" and name in WRITES_IN_PLACE:
        with pytest.raises(RuntimeError, match="modified by an in-place operation"):
            dg.jacobian(f)(X)
        return
    np.testing.assert_allclose(dg.jacobian(f)(X), central_jacobian(f, X), atol=1e-8, rtol=1e-7)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_scipy_under_array_api_against_torch(mode, forced_plan):
    torch = pytest.importorskip("torch")
    import scipy.special as sp
    from torch.autograd.functional import hessian, jacobian
    forced_plan.update(tier="array", mode=mode)
    t = torch.tensor(X)
    cases = [(lambda a: sp.logsumexp(a, axis=1), lambda a: torch.logsumexp(a, 1)),
             (lambda a: sp.softmax(a, axis=0), lambda a: torch.softmax(a, 0)),
             (lambda a: sp.softmax(a, axis=1), lambda a: torch.softmax(a, 1)),
             (lambda a: sp.log_softmax(a, axis=1), lambda a: torch.log_softmax(a, 1))]
    for ours, theirs in cases:
        np.testing.assert_allclose(dg.jacobian(ours)(X), jacobian(theirs, t).numpy(),
                                   atol=1e-12, rtol=1e-10)
    np.testing.assert_allclose(dg.hessian(lambda a: sp.logsumexp(a))(X),
                               hessian(lambda a: torch.logsumexp(a, (0, 1)), t).numpy(),
                               atol=1e-12, rtol=1e-10)


def test_scipy_under_array_api_refuses_plain_constants_beside_traced_arrays():
    """SciPy's array_namespace does not mix NumPy arrays with another
    namespace's; np.asarray(c, like=x) is the constant of x's kind. The
    functions of dualgrad's registry of SciPy functions take both."""
    import scipy.special as sp
    import scipy.stats as st
    with pytest.raises(TypeError, match="Multiple namespaces"):
        dg.grad(lambda a: np.sum(st.zmap(a, REFERENCE[:, 0])))(X[0])
    expect = WEIGHTS * np.exp(X[0]) / np.sum(WEIGHTS * np.exp(X[0]))
    for b in (WEIGHTS, lambda a: np.asarray(WEIGHTS, like=a)):
        g = dg.grad(lambda a: sp.logsumexp(a, b=b(a) if callable(b) else b))(X[0])
        np.testing.assert_allclose(g, expect)
