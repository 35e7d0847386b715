"""The kernels' chain rule is NaN-safe as the CPU's (dg_chain of prelude.h):
a zero tangent or a zero gradient gives exactly 0, a nan one propagates."""

import numpy as np

import dualgrad as dg
from dualgrad._rules.table import BY_NAME
from dualgrad.gpu import rows


def test_dual_kernels_zero_tangent(cp):
    x = np.array([0.0, -1.0, 4.0, np.nan])
    t = np.array([[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0], [np.nan, 0.0, 1.0, 0.0]])
    with np.errstate(all="ignore"):
        got = rows.dual(BY_NAME["sqrt"].opcode, (dg.DualArray(cp.asarray(x), cp.asarray(t)),))
        want = np.sqrt(dg.DualArray(x, t))
    got_t = np.asarray(cp.asnumpy(got.tangent))
    np.testing.assert_array_equal(got_t, want.tangent)
    assert not got_t[0].any() and got_t[1, 3] == 0.0 and np.isnan(got_t[2, 0])
    # binary: x ** y at a negative base, the exponent's tangent zero
    xs, ys = np.array([-2.0, 0.0]), np.array([2.0, 0.14])
    tx, ty = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    with np.errstate(all="ignore"):
        got = rows.dual(BY_NAME["power"].opcode, (dg.DualArray(cp.asarray(xs), cp.asarray(tx)),
                                                  dg.DualArray(cp.asarray(ys), cp.asarray(ty))))
    assert np.asarray(cp.asnumpy(got.tangent)).tolist() == [[-4.0, 0.0]]


def test_grad_kernels_zero_gradient(cp):
    x = np.array([0.0, -1.0, 4.0])
    g = np.array([0.0, 0.0, 1.0])
    with np.errstate(all="ignore"):
        o = rows.grad(BY_NAME["sqrt"].opcode, 0, cp.asarray(g), cp.asarray(x), None,
                      cp.asarray(np.sqrt(x)))
        assert np.asarray(cp.asnumpy(o)).tolist() == [0.0, 0.0, 0.25]
        t = dg.tensor(x, device="cuda", requires_grad=True)
        dg.where(t > 0, dg.sqrt(t), 0.0).sum().backward()
    assert np.asarray(cp.asnumpy(t.grad._a)).tolist() == [0.0, 0.0, 0.25]
