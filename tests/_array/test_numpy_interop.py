"""NumPy functions and ufuncs applied to Tensors are recorded: their results are
Tensors with a grad_fn, and their first and second derivatives agree with the
dualgrad functions of the same meaning and with PyTorch (float64)."""

import numpy as np
import pytest
import torch

import dualgrad as dg
from conftest import integer_operands, torch_function
from dualgrad._rules.table import RULES
from test_ops import F64, check, sample, to_numpy

RNG = np.random.default_rng(77)
M34 = RNG.standard_normal((3, 4))
M43 = RNG.standard_normal((4, 3))
M4 = RNG.standard_normal(4)
POS34 = RNG.uniform(0.5, 2.0, (3, 4))
COND = RNG.random((3, 4)) < 0.5


def T(a):
    """A constant torch tensor (float64 for float arrays)."""
    a = np.asarray(a)
    return torch.tensor(a, dtype=F64 if a.dtype.kind == "f" else None)


def randn(*shape):
    return RNG.standard_normal(shape)


def well_conditioned(n, *batch):
    return RNG.standard_normal(batch + (n, n)) + 3 * np.eye(n)


def spd(n):
    m = RNG.standard_normal((n, n))
    return m @ m.T + n * np.eye(n)


def check_recorded(np_fn, dg_fn, torch_fn, *arrays, **kw):
    """``np_fn`` on Tensors gives a recorded Tensor, agrees with torch (values, first
    and second derivatives) and with the dualgrad function of the same meaning."""
    got, _ = check(np_fn, torch_fn, *arrays, **kw)
    for o in got[3]["outs"]:
        assert isinstance(o, dg.Tensor), f"result is a {type(o).__name__}, not a Tensor"
        assert o.grad_fn is not None, "the result was not recorded"
    if dg_fn is not None:
        ref, _ = check(dg_fn, torch_fn, *arrays, **kw)
        for a, b in zip(got[3]["outs"], ref[3]["outs"]):
            assert a.grad_fn.name() == b.grad_fn.name()
        for part in (0, 1, 2):
            for a, b in zip(got[part], ref[part]):
                np.testing.assert_array_equal(a, b)


CASES = [
    ("sin", np.sin, dg.sin, torch.sin, [randn(3, 4)]),
    ("tanh", np.tanh, dg.tanh, torch.tanh, [randn(3, 4)]),
    ("exp_times_t", lambda t: np.exp(t) * t, lambda t: dg.exp(t) * t,
     lambda t: torch.exp(t) * t, [randn(3, 4)]),
    ("sum_axis0", lambda t: np.sum(t, axis=0), lambda t: dg.sum(t, 0),
     lambda t: torch.sum(t, 0), [randn(3, 4)]),
    ("sum_all", np.sum, dg.sum, torch.sum, [randn(3, 4)]),
    ("sum_keepdims", lambda t: np.sum(t, axis=(0, 2), keepdims=True),
     lambda t: dg.sum(t, (0, 2), True), lambda t: torch.sum(t, (0, 2), True), [randn(2, 3, 4)]),
    ("mean", lambda t: np.mean(t, axis=1), lambda t: dg.mean(t, 1), lambda t: torch.mean(t, 1),
     [randn(3, 4)]),
    ("mean_all", np.mean, dg.mean, torch.mean, [randn(3, 4)]),
    ("prod", lambda t: np.prod(t, axis=1), lambda t: dg.prod(t, 1), lambda t: torch.prod(t, 1),
     [POS34]),
    ("max", lambda t: np.max(t, axis=1), lambda t: dg.amax(t, 1), lambda t: torch.amax(t, 1),
     [randn(3, 4)]),
    ("amin", lambda t: np.amin(t, axis=0), lambda t: dg.amin(t, 0), lambda t: torch.amin(t, 0),
     [randn(3, 4)]),
    ("var", lambda t: np.var(t, axis=1), lambda t: dg.var(t, 1, correction=0),
     lambda t: torch.var(t, 1, correction=0), [randn(3, 4)]),
    ("std_ddof1", lambda t: np.std(t, ddof=1), lambda t: dg.std(t),
     lambda t: torch.std(t), [randn(3, 4)]),
    ("cumsum", lambda t: np.cumsum(t, axis=1), lambda t: dg.cumsum(t, 1),
     lambda t: torch.cumsum(t, 1), [randn(3, 4)]),
    ("cumsum_flat", np.cumsum, None, lambda t: torch.cumsum(t.reshape(-1), 0), [randn(3, 4)]),
    ("einsum", lambda a, b: np.einsum("ij,jk->ik", a, b),
     lambda a, b: dg.einsum("ij,jk->ik", a, b), lambda a, b: torch.einsum("ij,jk->ik", a, b),
     [randn(3, 4), randn(4, 2)]),
    ("einsum_array_operand", lambda a: np.einsum("ij,jk->ik", a, M43),
     lambda a: dg.einsum("ij,jk->ik", a, M43), lambda a: torch.einsum("ij,jk->ik", a, T(M43)),
     [randn(3, 4)]),
    ("concatenate", lambda a, b: np.concatenate([a, b], axis=1),
     lambda a, b: dg.cat([a, b], 1), lambda a, b: torch.cat([a, b], 1),
     [randn(3, 2), randn(3, 4)]),
    ("stack", lambda a, b: np.stack([a, b], axis=1), lambda a, b: dg.stack([a, b], 1),
     lambda a, b: torch.stack([a, b], 1), [randn(3, 4), randn(3, 4)]),
    ("split", lambda a: tuple(np.split(a, [1, 3], axis=1)),
     lambda a: dg.split(a, [1, 2, 1], 1), lambda a: torch.split(a, [1, 2, 1], 1),
     [randn(3, 4)]),
    ("matmul", np.matmul, dg.matmul, torch.matmul, [randn(3, 4), randn(4, 2)]),
    ("matmul_batched", np.matmul, dg.matmul, torch.matmul, [randn(2, 3, 4), randn(4,)]),
    ("t@ndarray", lambda a: a @ M43, lambda a: dg.matmul(a, M43), lambda a: a @ T(M43),
     [randn(3, 4)]),
    ("ndarray@t", lambda a: M34 @ a, lambda a: dg.matmul(M34, a), lambda a: T(M34) @ a,
     [randn(4, 2)]),
    ("ndarray@t_vector", lambda a: M34 @ a, lambda a: dg.matmul(M34, a), lambda a: T(M34) @ a,
     [randn(4)]),
    ("ndarray*t", lambda a: M34 * a, lambda a: dg.multiply(M34, a), lambda a: T(M34) * a,
     [randn(3, 4)]),
    ("ndarray*t_broadcast", lambda a: M4 * a, lambda a: dg.multiply(M4, a), lambda a: T(M4) * a,
     [randn(3, 1)]),
    ("ndarray+t", lambda a: M34 + a, lambda a: dg.add(M34, a), lambda a: T(M34) + a,
     [randn(3, 4)]),
    ("ndarray-t", lambda a: M34 - a, lambda a: dg.subtract(M34, a), lambda a: T(M34) - a,
     [randn(3, 4)]),
    ("ndarray/t", lambda a: M34 / a, lambda a: dg.divide(M34, a), lambda a: T(M34) / a,
     [POS34]),
    ("ndarray**t", lambda a: POS34 ** a, lambda a: dg.power(POS34, a), lambda a: T(POS34) ** a,
     [randn(3, 4)]),
    ("t*ndarray", lambda a: a * M34, lambda a: dg.multiply(a, M34), lambda a: a * T(M34),
     [randn(3, 4)]),
    ("np_float*t", lambda a: np.float64(1.7) * a, lambda a: 1.7 * a, lambda a: 1.7 * a,
     [randn(3, 4)]),
    ("linalg.solve", np.linalg.solve, dg.linalg.solve, torch.linalg.solve,
     [well_conditioned(3), randn(3, 2)]),
    ("linalg.solve_vector", np.linalg.solve, dg.linalg.solve, torch.linalg.solve,
     [well_conditioned(3), randn(3)]),
    ("linalg.inv", np.linalg.inv, dg.linalg.inv, torch.linalg.inv, [well_conditioned(3)]),
    ("linalg.det", np.linalg.det, dg.linalg.det, torch.linalg.det, [well_conditioned(3)]),
    ("linalg.slogdet", lambda a: np.linalg.slogdet(a)[1], lambda a: dg.linalg.slogdet(a)[1],
     lambda a: torch.linalg.slogdet(a)[1], [well_conditioned(3)]),
    ("linalg.cholesky", np.linalg.cholesky, dg.linalg.cholesky, torch.linalg.cholesky,
     [spd(3)]),
    ("linalg.norm", np.linalg.norm, dg.linalg.norm, torch.linalg.norm, [randn(3, 4)]),
    ("linalg.norm_axis", lambda a: np.linalg.norm(a, axis=1),
     lambda a: dg.linalg.norm(a, dim=1), lambda a: torch.linalg.norm(a, dim=1), [randn(3, 4)]),
    ("linalg.norm_ord1_vector", lambda a: np.linalg.norm(a, 1),
     lambda a: dg.linalg.norm(a, 1), lambda a: torch.linalg.norm(a, 1), [randn(5)]),
    ("where", lambda a, b: np.where(COND, a, b), lambda a, b: dg.where(COND, a, b),
     lambda a, b: torch.where(T(COND), a, b), [randn(3, 4), randn(3, 4)]),
    ("where_array_other", lambda a: np.where(COND, a, M34), lambda a: dg.where(COND, a, M34),
     lambda a: torch.where(T(COND), a, T(M34)), [randn(3, 4)]),
    ("maximum", np.maximum, dg.maximum, torch.maximum,
     [RNG.uniform(1, 2, (3, 4)) * RNG.choice([-1, 1], (3, 4)), RNG.uniform(-0.5, 0.5, (3, 4))]),
    ("minimum", np.minimum, dg.minimum, torch.minimum,
     [RNG.uniform(1, 2, (3, 4)) * RNG.choice([-1, 1], (3, 4)), RNG.uniform(-0.5, 0.5, (4,))]),
    ("clip", lambda a: np.clip(a, -0.5, 0.5), lambda a: dg.clamp(a, -0.5, 0.5),
     lambda a: torch.clamp(a, -0.5, 0.5), [randn(3, 4)]),
    ("reshape", lambda a: np.reshape(a, (4, 3)), lambda a: a.reshape(4, 3),
     lambda a: a.reshape(4, 3), [randn(3, 4)]),
    ("ravel", np.ravel, lambda a: a.reshape(-1), lambda a: a.reshape(-1), [randn(3, 4)]),
    ("transpose", np.transpose, lambda a: a.permute(2, 1, 0), lambda a: a.permute(2, 1, 0),
     [randn(2, 3, 4)]),
    ("transpose_axes", lambda a: np.transpose(a, (1, 0, 2)), lambda a: a.permute(1, 0, 2),
     lambda a: a.permute(1, 0, 2), [randn(2, 3, 4)]),
    ("swapaxes", lambda a: np.swapaxes(a, 0, 2), lambda a: a.transpose(0, 2),
     lambda a: a.transpose(0, 2), [randn(2, 3, 4)]),
    ("squeeze", np.squeeze, lambda a: a.squeeze(), lambda a: a.squeeze(), [randn(3, 1, 4)]),
    ("expand_dims", lambda a: np.expand_dims(a, 1), lambda a: a.unsqueeze(1),
     lambda a: a.unsqueeze(1), [randn(3, 4)]),
    ("broadcast_to", lambda a: np.broadcast_to(a, (2, 3, 4)), lambda a: a.expand(2, 3, 4),
     lambda a: a.expand(2, 3, 4), [randn(3, 1)]),
    ("add.reduce", lambda a: np.add.reduce(a, axis=0), lambda a: dg.sum(a, 0),
     lambda a: torch.sum(a, 0), [randn(3, 4)]),
    ("add.reduce_default_axis", np.add.reduce, lambda a: dg.sum(a, 0),
     lambda a: torch.sum(a, 0), [randn(3, 4)]),
    ("multiply.reduce", lambda a: np.multiply.reduce(a, axis=1), lambda a: dg.prod(a, 1),
     lambda a: torch.prod(a, 1), [POS34]),
    ("maximum.reduce", lambda a: np.maximum.reduce(a, axis=1), lambda a: dg.amax(a, 1),
     lambda a: torch.amax(a, 1), [randn(3, 4)]),
    ("minimum.reduce", lambda a: np.minimum.reduce(a, axis=0), lambda a: dg.amin(a, 0),
     lambda a: torch.amin(a, 0), [randn(3, 4)]),
    ("dot", np.dot, dg.matmul, torch.matmul, [randn(3, 4), randn(4)]),
    ("dot_vectors", np.dot, dg.dot, torch.dot, [randn(4), randn(4)]),
    ("tensordot", lambda a, b: np.tensordot(a, b, axes=1),
     lambda a, b: dg.tensordot(a, b, 1), lambda a, b: torch.tensordot(a, b, 1),
     [randn(3, 4), randn(4, 2)]),
    ("outer", np.outer, dg.outer, torch.outer, [randn(3), randn(4)]),
    ("inner", np.inner, None, torch.inner, [randn(3, 4), randn(2, 4)]),
    ("trace", np.trace, dg.trace, torch.trace, [randn(4, 4)]),
    ("diagonal", lambda a: np.diagonal(a, 1), lambda a: dg.diagonal(a, 1),
     lambda a: torch.diagonal(a, 1), [randn(4, 4)]),
    ("tril", lambda a: np.tril(a, -1), lambda a: dg.tril(a, -1), lambda a: torch.tril(a, -1),
     [randn(4, 4)]),
    ("triu", np.triu, dg.triu, torch.triu, [randn(4, 4)]),
    ("flip", lambda a: np.flip(a, 1), lambda a: dg.flip(a, 1), lambda a: torch.flip(a, [1]),
     [randn(3, 4)]),
    ("copy", lambda a: np.copy(a) * a, lambda a: a.clone() * a, lambda a: a.clone() * a,
     [randn(3, 4)]),
    ("chain", lambda a, b: np.sum(np.tanh(a @ b) ** 2, axis=0) + np.mean(np.exp(-np.square(a))),
     None, lambda a, b: torch.sum(torch.tanh(a @ b) ** 2, 0) + torch.mean(torch.exp(-a * a)),
     [randn(3, 4), randn(4, 2)]),
]


@pytest.mark.parametrize("np_fn,dg_fn,torch_fn,arrays", [pytest.param(*c[1:], id=c[0])
                                                          for c in CASES])
def test_numpy_function_is_recorded(np_fn, dg_fn, torch_fn, arrays):
    check_recorded(np_fn, dg_fn, torch_fn, *arrays)


# Every ufunc of every smooth row of the table, on Tensors.
UFUNC_ROWS = [pytest.param(r, u, id=f"{r.name}-{u}") for r in RULES if r.smooth
              for u in r.ufuncs]


@pytest.mark.parametrize("rule,ufunc", UFUNC_ROWS)
def test_table_ufuncs_on_tensors(rule, ufunc):
    assert not integer_operands(rule)
    f = getattr(np, ufunc)
    xs = [sample(rule, i, (3, 4), 21) for i in range(rule.arity)]
    check_recorded(f, getattr(dg, rule.name), torch_function(torch, rule), *xs)


@pytest.mark.parametrize("rule,ufunc", [p for p in UFUNC_ROWS if p.values[0].arity == 2])
def test_table_ufuncs_with_ndarray_first(rule, ufunc):
    """np.<ufunc>(ndarray, Tensor): the Tensor is the second operand."""
    f = getattr(np, ufunc)
    x, y = (sample(rule, i, (3, 4), 22) for i in range(2))
    check_recorded(lambda b: f(x, b), lambda b: getattr(dg, rule.name)(x, b),
                   lambda b: torch_function(torch, rule)(T(x), b), y)


@pytest.mark.parametrize("rule", [r for r in RULES if r.smooth], ids=lambda r: r.name)
def test_table_functions_accept_tensors(rule):
    """dg.<row>(t) on a Tensor gives a recorded Tensor (not an object array)."""
    xs = [sample(rule, i, (2, 3), 23) for i in range(rule.arity)]
    args = [dg.tensor(x, requires_grad=i not in integer_operands(rule))
            if i not in integer_operands(rule) else int(x.flat[0]) for i, x in enumerate(xs)]
    out = getattr(dg, rule.name)(*args)
    assert isinstance(out, dg.Tensor)
    assert out.shape == (2, 3) and out.dtype == np.float64
    assert out.grad_fn is not None
    # without grad: a Tensor with no grad_fn
    plain = [dg.tensor(x) if i not in integer_operands(rule) else int(x.flat[0])
             for i, x in enumerate(xs)]
    out2 = getattr(dg, rule.name)(*plain)
    assert isinstance(out2, dg.Tensor) and out2.grad_fn is None and not out2.requires_grad
    np.testing.assert_array_equal(to_numpy(out), to_numpy(out2))


def test_piecewise_constant_ufuncs_on_tensors():
    t = dg.tensor(np.array([0.3, 1.7, -2.2, -0.2]), requires_grad=True)
    for f, tf in ((np.floor, torch.floor), (np.ceil, torch.ceil), (np.trunc, torch.trunc),
                  (np.rint, torch.round), (np.sign, torch.sign)):
        out = f(t)
        assert isinstance(out, dg.Tensor)
        np.testing.assert_array_equal(to_numpy(out), tf(T(to_numpy(t.detach()))).numpy())
        g, = dg.autograd.grad(out.sum(), t)
        np.testing.assert_array_equal(to_numpy(g), np.zeros(4))


def test_value_ufuncs_give_tensors_without_grad():
    t = dg.tensor(np.array([1.0, -2.0, np.inf]), requires_grad=True)
    for f, want in ((np.isfinite, [True, True, False]), (np.isinf, [False, False, True]),
                    (np.isnan, [False, False, False])):
        out = f(t)
        assert isinstance(out, dg.Tensor)
        assert not out.requires_grad
        np.testing.assert_array_equal(to_numpy(out), want)
    out = np.greater(t, 0.0)
    np.testing.assert_array_equal(to_numpy(out), [True, False, True])


def test_numpy_gradient_matches_backward():
    """.backward() through NumPy calls accumulates the same .grad as torch."""
    a, b = randn(3, 4), randn(4)
    grads = []
    for lib in ("np", "torch"):
        if lib == "np":
            x, y = dg.tensor(a, requires_grad=True), dg.tensor(b, requires_grad=True)
            out = np.sum(np.sin(x) @ y) + np.linalg.norm(np.exp(y))
        else:
            x, y = T(a).requires_grad_(), T(b).requires_grad_()
            out = torch.sum(torch.sin(x) @ y) + torch.linalg.norm(torch.exp(y))
        out.backward()
        grads.append((to_numpy(x.grad), to_numpy(y.grad)))
    for p, q in zip(*grads):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------------
# What is not supported says so

@pytest.mark.parametrize("call,name", [
    (lambda t: np.linalg.tensorsolve(t.reshape(2, 2), t[:2]), "tensorsolve"),
    (lambda t: np.polyfit(np.arange(4.0), t, 1), "polyfit"),
    (lambda t: np.unique(t), "unique"),
    (lambda t: np.histogram(t, weights=t), "histogram"),
    (lambda t: np.heaviside(t, 0.5), "heaviside"),
    (lambda t: np.add.accumulate(t), "add"),
    (lambda t: np.linalg.tensorinv(t.reshape(2, 2), ind=1), "tensorinv"),
], ids=["tensorsolve", "polyfit", "unique", "histogram", "heaviside", "add.accumulate",
        "tensorinv"])
def test_numpy_without_rule_raises_type_error(call, name):
    t = dg.tensor(np.array([3.0, 1.0, 2.0, 0.5]), requires_grad=True)
    with pytest.raises(TypeError, match=name):
        call(t)


def test_ufunc_out_argument_raises():
    t = dg.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(TypeError, match=r"np\.zeros_like\(x\)"):
        np.sin(t, out=np.empty(3))
    with pytest.raises(TypeError, match="out"):
        np.sin(t, out=dg.zeros(3))


def test_asarray_without_grad_shares_memory():
    t = dg.tensor(np.arange(6.0).reshape(2, 3))
    a = np.asarray(t)
    assert isinstance(a, np.ndarray) and a.shape == (2, 3) and a.dtype == np.float64
    assert np.shares_memory(a, t.numpy())
    a[0, 0] = 42.0
    assert t[0, 0].item() == 42.0
    np.testing.assert_array_equal(np.asarray(t, dtype=np.float64), a)
    b = np.array(t)  # np.array copies
    b[0, 1] = -1.0
    assert t[0, 1].item() == 1.0


def test_asarray_of_detached_shares_memory():
    t = dg.tensor(np.arange(3.0), requires_grad=True)
    a = np.asarray(t.detach())
    assert np.shares_memory(a, t.detach().numpy())


@pytest.mark.parametrize("convert", [np.asarray, np.array, lambda t: np.asarray(t * 2)],
                         ids=["asarray", "array", "asarray_non_leaf"])
def test_asarray_with_grad_raises(convert):
    t = dg.tensor(np.arange(3.0), requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        convert(t)
