"""Every N-D product (dot, matmul, tensordot, inner, outer, vdot, kron, einsum)
against NumPy's own result, on every tier and in every mode: the value, and
the derivative against the Jacobian by central differences (exact for a
product, which is linear in each operand)."""

import numpy as np
import pytest

import dualgrad as dg

# (name, the NumPy expression, shapes of its two operands)
CASES = [
    ("dot", np.dot, (3,), (3,)),
    ("dot", np.dot, (2, 3), (3,)),
    ("dot", np.dot, (3,), (3, 4)),
    ("dot", np.dot, (2, 3), (3, 4)),
    ("dot", np.dot, (2, 3), (5, 3, 4)),
    ("dot", np.dot, (4, 2, 3), (3,)),
    ("dot", np.dot, (4, 2, 3), (5, 3, 2)),
    ("dot", np.dot, (2, 3), ()),
    ("dot", np.dot, (), (3,)),
    ("matmul", np.matmul, (3,), (3,)),
    ("matmul", np.matmul, (2, 3), (3,)),
    ("matmul", np.matmul, (3,), (3, 4)),
    ("matmul", np.matmul, (2, 3), (3, 4)),
    ("matmul", np.matmul, (5, 2, 3), (3, 4)),
    ("matmul", np.matmul, (5, 2, 3), (1, 3, 4)),
    ("matmul", np.matmul, (2, 1, 2, 3), (5, 3, 4)),
    ("matmul", np.matmul, (3,), (5, 3, 4)),
    ("matmul", np.matmul, (5, 2, 3), (3,)),
    ("tensordot", lambda a, b: np.tensordot(a, b), (2, 3, 4), (3, 4, 5)),
    ("tensordot", lambda a, b: np.tensordot(a, b, 1), (2, 3), (3, 4)),
    ("tensordot", lambda a, b: np.tensordot(a, b, 0), (2,), (3,)),
    ("tensordot", lambda a, b: np.tensordot(a, b, ([1, 0], [0, 1])), (3, 2), (2, 3, 4)),
    ("tensordot", lambda a, b: np.tensordot(a, b, ([-1], [0])), (2, 3), (3, 2)),
    ("inner", np.inner, (3,), (3,)),
    ("inner", np.inner, (2, 3), (4, 3)),
    ("inner", np.inner, (2, 5, 3), (4, 3)),
    ("inner", np.inner, (3,), (2, 3)),
    ("inner", np.inner, (), (2, 3)),
    ("inner", np.inner, (2, 3), (5, 4, 3)),
    ("outer", np.outer, (3,), (4,)),
    ("outer", np.outer, (2, 3), (2, 2)),
    ("outer", np.outer, (), (3,)),
    ("vdot", np.vdot, (3,), (3,)),
    ("vdot", np.vdot, (2, 3), (3, 2)),
    ("kron", np.kron, (2,), (3,)),
    ("kron", np.kron, (2, 2), (3, 1)),
    ("kron", np.kron, (2,), (3, 2)),
    ("kron", np.kron, (2, 1, 2), (2, 3)),
    ("kron", np.kron, (), (2, 3)),
    ("einsum", lambda a, b: np.einsum("ij,jk->ik", a, b), (2, 3), (3, 4)),
    ("einsum", lambda a, b: np.einsum("...ij,...jk", a, b), (5, 2, 3), (3, 4)),
    ("einsum", lambda a, b: np.einsum("...ij,...jk", a, b), (5, 2, 3), (1, 3, 4)),
    ("einsum", lambda a, b: np.einsum("...ij,...jk", a, b), (2, 3), (4, 3, 5)),
    ("einsum", lambda a, b: np.einsum("i,i", a, b), (3,), (3,)),
    ("einsum", lambda a, b: np.einsum("bij,bjk->bki", a, b), (2, 2, 3), (2, 3, 4)),
    ("einsum", lambda a, b: np.einsum("ij,kl->iljk", a, b), (2, 3), (2, 2)),
    ("einsum", lambda a, b: np.einsum("ij,j->", a, b), (2, 3), (3,)),
    ("einsum", lambda a, b: np.einsum("ii,j->ij", a, b), (3, 3), (2,)),
    ("einsum", lambda a, b: np.einsum("iji,j", a, b), (2, 3, 2), (3,)),
    ("einsum", lambda a, b: np.einsum("...ii,...i->...", a, b), (4, 2, 2), (2,)),
]
IDS = [f"{name}-{sa}-{sb}" for name, _, sa, sb in CASES]


def _operands(sa, sb):
    rng = np.random.default_rng(len(sa) * 10 + len(sb))
    return rng.standard_normal(sa), rng.standard_normal(sb)


def _numeric_jacobian(fn, a, b):
    """d fn / d (a, b) as (out.size, a.size + b.size), by central differences."""
    x = np.concatenate([a.ravel(), b.ravel()])

    def flat(x):
        return np.asarray(fn(x[:a.size].reshape(a.shape), x[a.size:].reshape(b.shape)),
                          dtype=float).ravel()
    cols = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = 1.0
        cols.append((flat(x + e) - flat(x - e)) / 2.0)
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("name, fn, sa, sb", CASES, ids=IDS)
def test_tensor_value_and_vjp(name, fn, sa, sb):
    a, b = _operands(sa, sb)
    want = fn(a, b)
    ta, tb = dg.tensor(a, requires_grad=True), dg.tensor(b, requires_grad=True)
    out = fn(ta, tb)
    assert out.shape == np.shape(want)
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=1e-12, atol=1e-12)
    w = np.random.default_rng(0).standard_normal(np.shape(want))
    (out * dg.tensor(w)).sum().backward()
    vjp = w.ravel() @ _numeric_jacobian(fn, a, b)
    np.testing.assert_allclose(ta.grad.numpy(), vjp[:a.size].reshape(sa), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tb.grad.numpy(), vjp[a.size:].reshape(sb), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name, fn, sa, sb", CASES, ids=IDS)
def test_dualarray_value_and_jvp(name, fn, sa, sb):
    a, b = _operands(sa, sb)
    want = fn(a, b)
    rng = np.random.default_rng(1)
    va, vb = rng.standard_normal((2,) + sa), rng.standard_normal((2,) + sb)
    out = fn(dg.DualArray(a, va), dg.DualArray(b, vb))
    assert out.shape == np.shape(want)
    np.testing.assert_allclose(out.value, want, rtol=1e-12, atol=1e-12)
    jac = _numeric_jacobian(fn, a, b)
    for k in range(2):
        jvp = jac @ np.concatenate([va[k].ravel(), vb[k].ravel()])
        np.testing.assert_allclose(out.tangent[k], jvp.reshape(np.shape(want)), rtol=1e-10,
                                   atol=1e-12)


@pytest.mark.parametrize("tier", ["scalar", "array"])
@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("name, fn, sa, sb", CASES, ids=IDS)
def test_jacobian_every_tier_and_mode(name, fn, sa, sb, tier, mode, forced_plan):
    a, b = _operands(sa, sb)
    forced_plan.update(tier=tier, mode=mode)
    want = _numeric_jacobian(fn, a, b)
    seen = []

    def traced(a, b):
        seen.append(type(a))
        return fn(a, b)
    ja, jb = dg.jacobian(traced, argnums=(0, 1), mode=mode)(a, b)
    # The last evaluation ran on the tier asked for (none fell back to another).
    scalar_tier = (np.ndarray, dg.Dual if mode == "forward" else dg.Var)
    assert seen[-1] in {"scalar": scalar_tier, "array": (dg.DualArray if mode == "forward"
                                                         else dg.Tensor,)}[tier]
    out_shape = np.shape(fn(a, b))
    np.testing.assert_allclose(np.reshape(ja, (-1, a.size)), want[:, :a.size], rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(np.reshape(jb, (-1, b.size)), want[:, a.size:], rtol=1e-10,
                               atol=1e-12)
    assert np.shape(ja) == out_shape + sa and np.shape(jb) == out_shape + sb


@pytest.mark.parametrize("tier", ["scalar", "array"])
@pytest.mark.parametrize("name, fn, sa, sb", CASES[::3], ids=IDS[::3])
def test_hessian_through_products(name, fn, sa, sb, tier, forced_plan):
    """Second order (forward over reverse on the array tier): the Hessian in a
    of sum(fn(a, b) ** 2) is 2 J^T J, J the Jacobian in a of the linear fn."""
    a, b = _operands(sa, sb)
    forced_plan.update(tier=tier, mode="forward")
    jac = _numeric_jacobian(fn, a, b)[:, :a.size]
    # (atleast_1d: numpy.sum of a lone Dual or Var, a 0-d product on the scalar
    # tier, is refused by their __array_ufunc__, a matter apart from products.)
    h = dg.hessian(lambda a: np.sum(np.atleast_1d(fn(a, b)) ** 2))(a)
    np.testing.assert_allclose(np.reshape(h, (a.size, a.size)), 2 * jac.T @ jac, rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("name, fn, sa, sb", CASES, ids=IDS)
def test_tensor_reverse_over_reverse(name, fn, sa, sb):
    """create_graph: the backward rules are recorded, so the gradient of the
    gradient is the first row of the Hessian 2 J^T J."""
    a, b = _operands(sa, sb)
    jac = _numeric_jacobian(fn, a, b)[:, :a.size]
    ta = dg.tensor(a, requires_grad=True)
    (g,) = dg.autograd.grad((fn(ta, b) ** 2).sum(), ta, create_graph=True)
    (h0,) = dg.autograd.grad(g.reshape(-1)[0], ta)
    np.testing.assert_allclose(h0.numpy().ravel(), (2 * jac.T @ jac)[0], rtol=1e-10, atol=1e-12)
