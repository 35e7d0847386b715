"""The functional transforms (dualgrad/functional.py) against PyTorch float64 and
central differences, on scalar and array functions, in every mode and tier."""

import numpy as np
import pytest
import torch

import dualgrad as dg
from dualgrad import functional as F

RNG = np.random.default_rng(7)
A = RNG.normal(size=(3, 4))
X4 = RNG.normal(size=4)


def f_array(x):                 # R^4 -> R^3, array code
    return np.tanh(A @ x) * np.sum(x ** 2)


def f_array_torch(x):
    return torch.tanh(torch.tensor(A) @ x) * torch.sum(x ** 2)


def f_loop(x):                  # R^4 -> R^3, element-wise code with loops
    out = []
    for i in range(3):
        s = 0.0
        for j in range(4):
            s = s + A[i, j] * x[j]
        out.append(dg.tanh(s) * (x[0] * x[0] + x[1] * x[1] + x[2] * x[2] + x[3] * x[3]))
    return np.stack(out)


def rosenbrock(x):
    s = 0.0
    for i in range(len(x) - 1):
        s = s + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
    return s


def rosenbrock_np(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def rosenbrock_torch(x):
    return torch.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def central_jacobian(f, x, h=1e-6):
    x = np.asarray(x, dtype=float)
    cols = []
    for j in range(x.size):
        e = np.zeros_like(x)
        e.flat[j] = h
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))).reshape(-1) / (2 * h))
    return np.stack(cols, axis=-1)


def torch_jacobian(f, x):
    return torch.autograd.functional.jacobian(f, torch.tensor(x)).numpy()


def torch_hessian(f, x):
    return torch.autograd.functional.hessian(f, torch.tensor(x)).numpy()


# ---------------------------------------------------------------------------
# Jacobians in every mode

@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
def test_jacobian_array_code(mode):
    jac = dg.jacobian(f_array, mode=mode)(X4)
    assert jac.shape == (3, 4)
    np.testing.assert_allclose(jac, torch_jacobian(f_array_torch, X4), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(jac, central_jacobian(f_array, X4), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
def test_jacobian_loop_code(mode):
    jac = dg.jacobian(f_loop, mode=mode)(X4)
    np.testing.assert_allclose(jac, torch_jacobian(f_array_torch, X4), rtol=1e-12, atol=1e-14)


def test_jacfwd_jacrev_equal_auto():
    for f in (f_array, f_loop):
        auto = dg.jacobian(f)(X4)
        np.testing.assert_allclose(dg.jacfwd(f)(X4), auto, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(dg.jacrev(f)(X4), auto, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("tier", ["scalar", "array"])
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_every_tier_and_mode(tier, mode, monkeypatch):
    """Forcing the plan's tier: both tiers give the same Jacobian in both modes."""
    real = F._planner.choose

    def forced(kind, n, m, stats, nested=False, mode_=None, **kw):
        plan = real(kind, n, m, stats, nested, mode)
        plan.tier, plan.mode = tier, mode
        plan.chunk = 3
        return plan
    monkeypatch.setattr(F._planner, "choose", lambda *a, **k: forced(*a[:5]))
    F._planner._cache.clear()

    def f(x):                   # code both tiers can run
        return np.sin(x) * x[0] + np.exp(x[1])
    jac = dg.jacobian(f, mode=mode)(X4)
    np.testing.assert_allclose(jac, central_jacobian(f, X4), rtol=1e-7, atol=1e-8)
    F._planner._cache.clear()


def test_jacobian_shapes_follow_jax():
    x = RNG.normal(size=(2, 3))
    jac = dg.jacobian(lambda x: np.sin(x))(x)
    assert jac.shape == (2, 3, 2, 3)
    assert isinstance(dg.jacobian(lambda x: x ** 3)(2.0), float)
    assert dg.jacobian(lambda x: x ** 3)(2.0) == pytest.approx(12.0)
    jac = dg.jacobian(lambda x: np.sum(x))(np.ones(3))
    assert jac.shape == (3,)
    jac = dg.jacobian(lambda x: x * np.ones(3))(2.0)
    assert jac.shape == (3,)


# ---------------------------------------------------------------------------
# grad, value_and_grad, argnums, pytrees

def test_grad_scalar_and_array():
    assert dg.grad(lambda x: x * dg.sin(x))(0.5) == pytest.approx(np.sin(0.5) + 0.5 * np.cos(0.5),
                                                                  rel=1e-15)
    x = RNG.normal(size=6)
    g = dg.grad(rosenbrock_np)(x)
    t = torch.tensor(x, requires_grad=True)
    rosenbrock_torch(t).backward()
    np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(dg.grad(rosenbrock)(x), g, rtol=1e-12)
    np.testing.assert_allclose(dg.grad(rosenbrock)(list(x)), list(g), rtol=1e-12)


def test_value_and_grad():
    v, g = dg.value_and_grad(rosenbrock_np)(X4)
    assert v == pytest.approx(rosenbrock_np(X4), rel=1e-15)
    assert isinstance(v, float)
    np.testing.assert_allclose(g, dg.grad(rosenbrock)(X4), rtol=1e-12)


def test_argnums():
    f = lambda x, y, z: x * y ** 2 + np.sum(z)  # noqa: E731
    gx, gz = dg.grad(f, argnums=(0, 2))(2.0, 3.0, np.ones(2))
    assert gx == 9.0 and np.array_equal(gz, np.ones(2))
    assert dg.grad(f, argnums=1)(2.0, 3.0, np.ones(2)) == 12.0
    assert dg.grad(f, argnums=-2)(2.0, 3.0, np.ones(2)) == 12.0
    jac = dg.jacobian(lambda x, y: x * y, argnums=(0, 1))(np.ones(2), np.full(2, 3.0))
    np.testing.assert_array_equal(jac[0], 3 * np.eye(2))
    np.testing.assert_array_equal(jac[1], np.eye(2))


def test_pytrees():
    def f(p):
        return np.sum(p["w"] * p["x"][0]) + p["x"][1] ** 2 + p["b"][0] * p["b"][1]
    p = {"w": np.arange(3.0), "x": (np.ones(3), 2.0), "b": [1.0, 5.0]}
    g = dg.grad(f)(p)
    assert set(g) == {"w", "x", "b"}
    np.testing.assert_array_equal(g["w"], np.ones(3))
    assert isinstance(g["x"], tuple) and isinstance(g["b"], list)
    np.testing.assert_array_equal(g["x"][0], np.arange(3.0))
    assert g["x"][1] == 4.0 and g["b"] == [5.0, 1.0]
    jac = dg.jacobian(lambda p: {"a": p[0] * p[1], "b": [p[0]]})((np.ones(2), 3.0))
    np.testing.assert_array_equal(jac["a"][0], 3 * np.eye(2))
    np.testing.assert_array_equal(jac["a"][1], np.ones(2))
    np.testing.assert_array_equal(jac["b"][0][0], np.eye(2))


# ---------------------------------------------------------------------------
# jvp and vjp

def test_jvp_vjp():
    v = RNG.normal(size=4)
    out, t = dg.jvp(f_array, (X4,), (v,))
    _, t_ref = torch.func.jvp(f_array_torch, (torch.tensor(X4),), (torch.tensor(v),))
    np.testing.assert_allclose(out, f_array(X4), rtol=1e-15)
    np.testing.assert_allclose(t, t_ref.numpy(), rtol=1e-12)
    w = RNG.normal(size=3)
    out, fn = dg.vjp(f_array, X4)
    (g,) = fn(w)
    _, fn_ref = torch.func.vjp(f_array_torch, torch.tensor(X4))
    np.testing.assert_allclose(g, fn_ref(torch.tensor(w))[0].numpy(), rtol=1e-12)
    out, t = dg.jvp(lambda x, y: x * y, (2.0, 3.0), (1.0, 0.0))
    assert (out, t) == (6.0, 3.0)
    out, fn = dg.vjp(rosenbrock, list(X4))
    np.testing.assert_allclose(fn(1.0)[0], dg.grad(rosenbrock_np)(X4), rtol=1e-12)


# ---------------------------------------------------------------------------
# Hessians: forward over reverse

@pytest.mark.parametrize("f", [rosenbrock, rosenbrock_np], ids=["loop", "array"])
def test_hessian_and_hvp(f):
    x = RNG.normal(size=5)
    h = dg.hessian(f)(x)
    h_ref = torch_hessian(rosenbrock_torch, x)
    np.testing.assert_allclose(h, h_ref, rtol=1e-12, atol=1e-12)
    v = RNG.normal(size=5)
    np.testing.assert_allclose(dg.hvp(f, x, v), h_ref @ v, rtol=1e-12, atol=1e-12)


def test_hessian_array_tier_in_chunks(monkeypatch):
    monkeypatch.setattr(F._planner, "ARRAY_CHUNK_THRESHOLD", 2)
    F._planner._cache.clear()
    x = RNG.normal(size=5)
    h = dg.hessian(rosenbrock_np)(x)
    assert dg.plan(rosenbrock_np, x, kind="hessian").chunk == 2
    np.testing.assert_allclose(h, torch_hessian(rosenbrock_torch, x), rtol=1e-12, atol=1e-12)
    F._planner._cache.clear()


def test_hessian_of_pytree():
    h = dg.hessian(lambda p: p[0] ** 2 * p[1])((3.0, 2.0))
    assert h == ((4.0, 6.0), (6.0, 0.0))


# ---------------------------------------------------------------------------
# Nesting

def test_perturbation_confusion():
    """d/dx [x * d/dy (x + y)] at x = 1 is 1 (a confused implementation gives 2)."""
    def outer(x):
        return x * dg.grad(lambda y: x + y)(1.0)
    assert dg.grad(outer)(1.0) == 1.0
    assert dg.jacfwd(outer)(1.0) == 1.0
    assert dg.jacrev(outer)(1.0) == 1.0

    def outer_fwd(x):
        return x * dg.jvp(lambda y: x + y, (1.0,), (1.0,))[1]
    assert dg.grad(outer_fwd)(1.0) == 1.0
    assert dg.jacfwd(outer_fwd)(1.0) == 1.0


def test_grad_of_grad_and_friends():
    f = lambda x: x ** 3 * dg.sin(x)  # noqa: E731
    x = 0.7
    d2 = 6 * x * np.sin(x) + 6 * x ** 2 * np.cos(x) - x ** 3 * np.sin(x)
    assert dg.grad(dg.grad(f))(x) == pytest.approx(d2, rel=1e-13)
    assert dg.jacfwd(dg.grad(f))(x) == pytest.approx(d2, rel=1e-13)
    assert dg.jacrev(dg.jacfwd(f))(x) == pytest.approx(d2, rel=1e-13)
    assert dg.jvp(dg.grad(f), (x,), (2.0,))[1] == pytest.approx(2 * d2, rel=1e-13)
    assert dg.grad(lambda x: dg.jvp(f, (x,), (1.0,))[1])(x) == pytest.approx(d2, rel=1e-13)
    x = RNG.normal(size=4)
    np.testing.assert_allclose(dg.jacobian(dg.grad(rosenbrock_np))(x), dg.hessian(rosenbrock)(x),
                               rtol=1e-12)


def test_closure_over_outer_variable():
    # d/dx of grad_y (x * y**2) at y = 2 = d/dx (4 x) = 4
    assert dg.grad(lambda x: dg.grad(lambda y: x * y ** 2)(2.0))(3.0) == 4.0


@pytest.mark.parametrize("outer", ["jacfwd", "jacrev"])
@pytest.mark.parametrize("inner", ["grad", "jvp"])
def test_inner_transform_closing_over_outer_values(outer, inner):
    """The inner transform's values (Tensors or DualArrays) meet the outer's in
    one operation, on either side: the higher level takes it."""
    def inner_derivative(x):            # d/dy sum(x * y**2 + sin(x) * y) at y = 1
        g = lambda y: np.sum(x * y ** 2 + np.sin(x) * y)  # noqa: E731
        if inner == "grad":
            return dg.grad(g)(np.ones(2))
        return np.stack([dg.jvp(g, (np.ones(2),), (e,))[1] for e in np.eye(2)])

    def f(x):
        return x * inner_derivative(x)          # x * (2 x + sin x), elementwise
    x = np.array([0.3, 1.2])
    expected = np.diag(4 * x + np.sin(x) + x * np.cos(x))
    np.testing.assert_allclose(getattr(dg, outer)(f)(x), expected, rtol=1e-13)


# ---------------------------------------------------------------------------
# Plans of real functions

def test_plan_explains_itself():
    x = np.ones(1000)
    p = dg.plan(rosenbrock_np, x, kind="grad")
    assert (p.mode, p.tier, p.n, p.m) == ("reverse", "array", 1000, 1)
    text = str(p)
    assert "reverse mode on the array tier" in text and "estimates" in text
    p = dg.plan(rosenbrock, x, kind="grad")
    assert p.tier == "scalar"
    assert dg.plan(rosenbrock, x, kind="grad") is p      # cached


def test_nested_transform_moves_outer_to_array_tier():
    def outer(x):
        return rosenbrock([x[0], x[1] * dg.grad(lambda y: y * y)(x[2])])
    x = np.array([0.5, 0.3, 0.2])
    g = dg.grad(outer)(x)
    assert dg.plan(outer, x, kind="grad").tier == "array"
    np.testing.assert_allclose(g, central_jacobian(outer, x)[0], rtol=1e-6)


def test_scalar_tier_falls_back_to_arrays():
    """np.linalg.solve has no object loops: small code planned on the scalar tier
    runs again on arrays, and the plan remembers it."""
    A2 = np.array([[2.0, 1.0], [1.0, 3.0]])

    def f(x):
        return np.linalg.solve(A2 + np.diag(x), x)
    F._planner._cache.clear()
    real = F._planner.choose
    try:
        F._planner.choose = lambda *a, **k: _scalar_first(real(*a, **k))
        jac = dg.jacobian(f)(np.ones(2))
    finally:
        F._planner.choose = real
    ref = torch.autograd.functional.jacobian(
        lambda x: torch.linalg.solve(torch.tensor(A2) + torch.diag(x), x),
        torch.ones(2, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(jac, ref, rtol=1e-13)
    plan = dg.plan(f, np.ones(2))       # the registry says NumPy's solve fails on objects
    assert plan.tier == "array" and "f calls np.linalg.solve" in str(plan)
    F._planner._cache.clear()


def _scalar_first(plan):
    if plan.reasons[0].startswith("array code") or plan.reasons[0].startswith("element"):
        plan.tier = "scalar"
    return plan


def test_code_only_the_scalar_tier_runs():
    """dg.math takes Duals and Vars, not DualArrays: the probe counts a tape instead."""
    def f(x):
        return dg.math.sin(x[0]) * x[1]
    x = np.array([0.3, 2.0])
    np.testing.assert_allclose(dg.grad(f)(x), [2.0 * np.cos(0.3), np.sin(0.3)], rtol=1e-15)
    p = dg.plan(f, x, kind="grad")
    assert p.tier == "scalar" and "does not run on DualArrays" in str(p)
    assert all(tier == "scalar" for tier, _ in p.estimates)


# ---------------------------------------------------------------------------
# Errors

def test_errors():
    with pytest.raises(TypeError, match="one scalar"):
        dg.grad(lambda x: x * 2)(np.ones(2))
    with pytest.raises(ValueError, match="argnums 3"):
        dg.grad(lambda x: x)(1.0) if False else dg.grad(lambda x: x, argnums=3)(1.0)
    with pytest.raises(ValueError, match="mode must be"):
        dg.jacobian(lambda x: x, mode="sideways")
    with pytest.raises(TypeError, match="expects a function"):
        dg.grad(3.0)
    with pytest.raises(TypeError, match="bool"):
        dg.grad(lambda x: 1.0)(True)
    with pytest.raises(TypeError, match="tuples"):
        dg.jvp(lambda x: x, 1.0, 1.0)
    with pytest.raises(ValueError, match="shape"):
        dg.hvp(rosenbrock_np, np.ones(3), np.ones(2))


# ---------------------------------------------------------------------------
# scipy.optimize

def test_scipy_trust_ncg_rosenbrock():
    import scipy.optimize as scipy_optimize
    x0 = np.full(100, -1.0)
    x0[::2] = 1.2
    res = scipy_optimize.minimize(rosenbrock_np, x0, jac=dg.grad(rosenbrock_np),
                                  hessp=lambda x, p: dg.hvp(rosenbrock_np, x, p),
                                  method="trust-ncg", options={"gtol": 1e-8})
    assert res.success
    np.testing.assert_allclose(res.x, np.ones(100), atol=1e-6)


# ---------------------------------------------------------------------------
# Properties of random programs

from hypothesis import given, settings, strategies as st  # noqa: E402

STEPS = {
    "tanh": lambda x, A: np.tanh(x),
    "sin": lambda x, A: np.sin(x),
    "mul": lambda x, A: x * x[::-1],
    "mix": lambda x, A: A @ x,
    "exp": lambda x, A: np.exp(-x * x),
    "add": lambda x, A: x + np.sum(x) * 0.1,
}


def program(steps, A):
    def f(x):
        for s in steps:
            x = STEPS[s](x, A)
        return x
    return f


@settings(max_examples=25, deadline=None)
@given(steps=st.lists(st.sampled_from(sorted(STEPS)), min_size=1, max_size=6),
       seed=st.integers(0, 2 ** 16))
def test_random_programs_modes_and_identities(steps, seed):
    rng = np.random.default_rng(seed)
    n = 4
    A = rng.normal(size=(n, n)) / 2
    f = program(steps, A)
    x, v, w = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    fwd, rev = dg.jacfwd(f)(x), dg.jacrev(f)(x)
    np.testing.assert_allclose(fwd, rev, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(dg.jacobian(f)(x), fwd, rtol=1e-12, atol=1e-13)
    _, jv = dg.jvp(f, (x,), (v,))
    _, pullback = dg.vjp(f, x)
    (wj,) = pullback(w)
    assert np.dot(w, jv) == pytest.approx(np.dot(wj, v), rel=1e-10, abs=1e-12)  # <w, Jv> = <J^T w, v>
    np.testing.assert_allclose(jv, fwd @ v, rtol=1e-10, atol=1e-12)
    g = lambda x: np.sum(f(x) ** 2)  # noqa: E731
    np.testing.assert_allclose(dg.hvp(g, x, v), dg.hessian(g)(x) @ v, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(dg.hessian(g)(x), dg.hessian(g)(x).T, rtol=1e-9, atol=1e-10)


# ---------------------------------------------------------------------------
# Inputs as users give them: views, NumPy integers, object arrays of floats

def _forcing(monkeypatch, tier, mode=None):
    """Make every plan use ``tier`` (and ``mode`` where given)."""
    real = F._planner.choose

    def forced(*a, **k):
        plan = real(*a, **k)
        plan.tier = tier
        if mode is not None:
            plan.mode = mode
        return plan
    monkeypatch.setattr(F._planner, "choose", forced)
    F._planner._cache.clear()


@pytest.mark.parametrize("tier", ["scalar", "array"])
@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("view", ["reversed", "strided", "broadcast"])
def test_views_are_accepted_by_every_transform(tier, mode, view, monkeypatch):
    """Non-contiguous inputs (reversed, strided, broadcast views) give the
    derivatives of their values, in every tier and mode."""
    base = np.array([0.3, -1.2, 0.7, 2.0, 0.1, 1.1, -0.4, 0.9])
    x = {"reversed": base[::-1][:4], "strided": base[::2],
         "broadcast": np.broadcast_to(0.6, (4,))}[view]
    xc = np.array(x)
    v = np.array([1.0, -2.0, 0.5, 3.0])[::-1]

    def f(a):
        return np.sin(a) * a[0] + a[1] * a[2] * a[3]

    def s(a):
        return np.sum(f(a) ** 2)
    _forcing(monkeypatch, tier, mode)
    try:
        np.testing.assert_allclose(dg.jacobian(f, mode=mode)(x), central_jacobian(f, xc),
                                   rtol=1e-7, atol=1e-8)
        np.testing.assert_allclose(dg.grad(s)(x), dg.grad(s)(xc), rtol=1e-14)
        out, tan = dg.jvp(f, (x,), (v,))
        np.testing.assert_allclose(tan, central_jacobian(f, xc) @ v, rtol=1e-7, atol=1e-8)
        out, pullback = dg.vjp(f, x)
        np.testing.assert_allclose(pullback(v)[0], v @ central_jacobian(f, xc), rtol=1e-7,
                                   atol=1e-8)
        h = dg.hessian(s)(x)
        np.testing.assert_allclose(h, dg.hessian(s)(xc), rtol=1e-13)
        np.testing.assert_allclose(dg.hvp(s, x, v), h @ v, rtol=1e-12)
    finally:
        F._planner._cache.clear()


def test_argnums_may_be_numpy_integers():
    g = dg.grad(lambda a, b: a * b ** 2, argnums=np.int64(1))(2.0, 3.0)
    assert g == pytest.approx(12.0)
    g = dg.grad(lambda a, b: a * b ** 2, argnums=(np.int32(0), np.int64(-1)))(2.0, 3.0)
    assert g == pytest.approx((9.0, 12.0))


def test_object_array_of_floats_is_differentiated_as_numbers():
    x = np.array([0.5, 2.0], dtype=object)
    np.testing.assert_allclose(dg.grad(lambda a: a[0] * np.sin(a[1]))(x),
                               [np.sin(2.0), 0.5 * np.cos(2.0)], rtol=1e-15)


def test_when_both_tiers_fail_the_array_tiers_error_shows_with_the_scalar_tiers_as_cause():
    def f(v):
        g = np.zeros(2)
        g[0] = v[0]
        return g.sum()
    with pytest.raises(TypeError, match=r"np\.zeros_like\(x\)") as info:
        dg.grad(f)(np.ones(2))
    # the scalar tier's failure is kept for whoever reads the traceback
    assert info.value.__cause__ is not None
    assert "Var" in str(info.value.__cause__) or "Dual" in str(info.value.__cause__)


ARRAY_METHODS = {
    "ravel": lambda a: a.ravel(),
    "flatten": lambda a: a.flatten(),
    "reshape(-1)": lambda a: a.reshape(-1),
    "T": lambda a: a.T.reshape(-1),
    "copy": lambda a: a.copy().reshape(-1),
    "np.ravel": lambda a: np.ravel(a),
    "astype": lambda a: a.astype(np.float64).reshape(-1),
    "np.copy": lambda a: np.copy(a).reshape(-1),
    "swapaxes": lambda a: a.swapaxes(0, 1).reshape(-1),
}


@pytest.mark.parametrize("method", list(ARRAY_METHODS))
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_hessian_and_jacobian_of_code_using_array_methods(method, mode, monkeypatch):
    """NumPy's array methods work on the array tier's objects in both modes and
    under forward over reverse (dg.hessian)."""
    take = ARRAY_METHODS[method]
    w = np.arange(1.0, 7.0)

    def s(a):
        return np.sum(w * take(a) ** 3)
    x = RNG.normal(size=(2, 3))
    _forcing(monkeypatch, "array", mode)
    try:
        flat = take(x.copy())
        ref = np.zeros((6, 6))
        ref[np.arange(6), np.arange(6)] = 6.0 * w * flat
        # d/dx of x's elements in C order, through the method's permutation
        perm = take(np.arange(6.0).reshape(2, 3)).astype(int)
        h = dg.hessian(s)(x).reshape(6, 6)
        expected = np.zeros((6, 6))
        expected[np.ix_(perm, perm)] = ref
        np.testing.assert_allclose(h, expected, rtol=1e-13)
        jac = dg.jacobian(lambda a: take(a) ** 2, mode=mode)(x).reshape(6, 6)
        expected = np.zeros((6, 6))
        expected[np.arange(6), perm] = 2.0 * flat
        np.testing.assert_allclose(jac, expected, rtol=1e-13)
    finally:
        F._planner._cache.clear()


@pytest.mark.parametrize("op", ["+=", "-=", "*=", "/="])
def test_hessian_of_in_place_arithmetic(op, monkeypatch):
    """``v op= expr`` on the Tensors (holding DualArrays) of forward over reverse."""
    src = f"def f(a):\n    v = a + 0.0\n    v {op} a * a[0]\n    return np.sum(v ** 2)\n"
    ns = {"np": np}
    exec(src, ns)
    f = ns["f"]
    x = np.array([0.7, 1.3, -0.4])

    def f_torch(a):
        v = a + 0.0
        v = {"+=": v + a * a[0], "-=": v - a * a[0], "*=": v * (a * a[0]),
             "/=": v / (a * a[0])}[op]
        return torch.sum(v ** 2)
    ref = torch.autograd.functional.hessian(f_torch, torch.tensor(x)).numpy()
    _forcing(monkeypatch, "array")
    try:
        np.testing.assert_allclose(dg.hessian(f)(x), ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
    finally:
        F._planner._cache.clear()


def _assigned_into_zeros_like(v):
    g = np.zeros_like(v)
    g[0] = v[0] * v[1]
    g[1:] = v[1:] ** 2
    return np.sum(g ** 2)


def _divided_in_place_at_an_index(v):
    w = v * 1.0
    w[0] /= v[1]
    w[1:] *= v[0]
    return np.sum(w ** 3)


@pytest.mark.parametrize("f", [_assigned_into_zeros_like, _divided_in_place_at_an_index])
def test_hessian_of_index_assignment_on_the_array_tier(f, monkeypatch):
    """Index assignment (into np.zeros_like(x), in place at an index) under
    forward over reverse: the array tier agrees with the scalar tier."""
    x = np.array([1.0, 2.0, 0.5])
    _forcing(monkeypatch, "scalar")
    expected = dg.hessian(f)(x)
    _forcing(monkeypatch, "array")
    try:
        np.testing.assert_allclose(dg.hessian(f)(x), expected, rtol=1e-13, atol=1e-13)
    finally:
        F._planner._cache.clear()
