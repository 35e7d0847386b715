"""DualArray, forward mode on arrays: every row of the derivative table and every
other operation against central differences and against PyTorch's forward mode
(torch.func.jvp, float64); errors; nested levels; algebraic identities."""

import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import dualgrad as dg
from conftest import TORCH_RTOL, five_point, integer_operands, sample_rule, torch_function
from dualgrad import DualArray
from dualgrad._array.dualarray import level_of, lift, tangent_at, uses_fast_path
from dualgrad._rules.table import RULES

F64 = torch.float64
H = 1e-4                    # five-point step: truncation ~h**4, rounding ~1e-16/h
FD_RTOL, FD_ATOL = 1e-6, 1e-8
TORCH_TOL = 1e-10


def rng_of(*salt):
    return np.random.default_rng(list(salt))


def np_function(rule):
    """The row as NumPy code: its ufunc, or dg.<name> where NumPy has none."""
    return getattr(np, rule.ufuncs[0]) if rule.ufuncs else getattr(dg, rule.name)


def directional_fd(f, xs, ts, diff):
    """Central differences of f at xs along each direction j of the tangents ts
    (one (k,) + shape array per differentiated operand)."""
    k = ts[diff[0]].shape[0]
    out = []
    for j in range(k):
        def along(h):
            return np.asarray(f(*[x + h * ts[i][j] if i in diff else x
                                  for i, x in enumerate(xs)]), dtype=np.float64)
        out.append(five_point(along, 0.0, H))
    return np.stack(out)


def torch_jvp(f, xs, ts, diff):
    """torch.func.jvp of f along each direction, the other operands held fixed."""
    k = ts[diff[0]].shape[0]

    def of_diff(*ds):
        args = [torch.tensor(x, dtype=F64) for x in xs]
        for i, d in zip(diff, ds):
            args[i] = d
        return f(*args)

    primals = tuple(torch.tensor(xs[i], dtype=F64) for i in diff)
    return np.stack([torch.func.jvp(of_diff, primals,
                                    tuple(torch.tensor(ts[i][j], dtype=F64) for i in diff))[1]
                     .numpy() for j in range(k)])


# ---------------------------------------------------------------------------
# The table's rows

ROWS = [r for r in RULES]


def row_operands(rule, k, seed, shape=(7,)):
    rng = rng_of(seed, k, len(rule.name))
    points = sample_rule(rule, n=int(np.prod(shape)), seed=seed)
    xs = [np.ascontiguousarray(points[:, i].reshape(shape)) for i in range(rule.arity)]
    diff = [i for i in range(rule.arity) if i not in integer_operands(rule)]
    for i in integer_operands(rule):  # one integer parameter (PyTorch takes a Python int)
        xs[i][...] = xs[i].flat[0]
    ts = [rng.uniform(-1, 1, (k,) + shape) for _ in xs]
    return xs, ts, diff


def torch_row(rule):
    f, ints = torch_function(torch, rule), integer_operands(rule)
    return lambda *a: f(*[a[i].reshape(-1)[0] if i in ints else a[i] for i in range(len(a))])


def duals(xs, ts, diff, which):
    return [DualArray(x, t) if i in which else x for i, (x, t) in enumerate(zip(xs, ts))]


def subsets(diff):
    if len(diff) == 1:
        return [diff]
    return [diff] + [[i] for i in diff]


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("rule", ROWS, ids=[r.name for r in ROWS])
def test_row_fast_path(rule, k):
    f = np_function(rule)
    xs, ts, diff = row_operands(rule, k, seed=1)
    for which in subsets(diff):
        args = duals(xs, ts, diff, which)
        assert uses_fast_path(rule.opcode, tuple(args))
        out = f(*args)
        assert type(out) is DualArray and out.level == 1
        np.testing.assert_allclose(out.value, f(*xs), rtol=1e-13, atol=1e-300)
        assert out.tangent.shape == (k,) + out.shape
        fd = directional_fd(f, xs, ts, which)
        np.testing.assert_allclose(out.tangent, fd, rtol=FD_RTOL, atol=FD_ATOL)
        if rule.smooth:
            ref = torch_jvp(torch_row(rule), xs, ts, which)
            tol = TORCH_RTOL.get(rule.name, TORCH_TOL)
            np.testing.assert_allclose(out.tangent, ref, rtol=tol, atol=1e-12)
        else:
            assert not out.tangent.any()


@pytest.mark.parametrize("rule", [r for r in ROWS if r.arity == 2], ids=lambda r: r.name)
def test_binary_row_broadcasting_general_path(rule):
    """A (3, 1) operand with a (4,) one: the general path, equal to the fast path
    on the broadcast arrays."""
    f = np_function(rule)
    xs, ts, diff = row_operands(rule, 2, seed=2, shape=(12,))
    xs = [xs[0][:3].reshape(3, 1), xs[1][:4]]
    ts = [ts[0][:, :3].reshape(2, 3, 1), ts[1][:, :4]]
    args = duals(xs, ts, diff, diff)
    assert not uses_fast_path(rule.opcode, tuple(args))
    out = f(*args)
    bx = [np.ascontiguousarray(np.broadcast_to(x, (3, 4))) for x in xs]
    bt = [np.ascontiguousarray(np.broadcast_to(t[:, None] if t.ndim == 2 else t, (2, 3, 4)))
          for t in ts]
    ref = f(*duals(bx, bt, diff, diff))
    np.testing.assert_allclose(out.value, ref.value, rtol=1e-13)
    np.testing.assert_allclose(out.tangent, ref.tangent, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("rule", ROWS, ids=[r.name for r in ROWS])
def test_row_float32_and_strided_general_path(rule):
    f = np_function(rule)
    xs, ts, diff = row_operands(rule, 2, seed=3, shape=(10,))
    ref = f(*duals(xs, ts, diff, diff))
    strided = f(*duals([np.repeat(x, 2)[::2] for x in xs], ts, diff, diff))
    np.testing.assert_allclose(strided.tangent, ref.tangent, rtol=1e-12, atol=1e-300)
    args = duals([x.astype(np.float32) for x in xs], ts, diff, diff)
    assert not uses_fast_path(rule.opcode, tuple(args))
    out = f(*args)
    if rule.ufuncs:  # (rows without one compute in float64, as for Tensors)
        assert out.value.dtype == np.float32
    np.testing.assert_allclose(out.value, ref.value, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(out.tangent, ref.tangent, rtol=5e-4, atol=1e-5)


def test_rows_with_python_numbers_on_either_side():
    rng = rng_of(4)
    x, t = rng.uniform(0.5, 2, 5), rng.standard_normal((2, 5))
    d = DualArray(x, t)
    for other in (2, 2.5, np.float64(2.5), np.float32(2.5), np.int64(3)):
        for fn in (lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b,
                   lambda a, b: a / b, lambda a, b: a ** b, np.arctan2, np.hypot):
            for a, b in ((d, other), (other, d)):
                out = fn(a, b)
                va, vb = (x, other) if a is d else (other, x)
                np.testing.assert_allclose(out.value, fn(va, vb), rtol=1e-13)
                fd = np.stack([five_point(lambda h: fn(*((x + h * t[j], other) if a is d
                                                          else (other, x + h * t[j]))), 0.0, H)
                               for j in range(2)])
                np.testing.assert_allclose(out.tangent, fd, rtol=FD_RTOL, atol=FD_ATOL)


def test_unary_operators_and_ndarray_on_the_left():
    x, t = np.array([-1.5, 0.5, 2.0]), np.array([[1.0, 2.0, 3.0]])
    d = DualArray(x, t)
    np.testing.assert_array_equal((-d).tangent, -t)
    np.testing.assert_array_equal((+d).tangent, t)
    np.testing.assert_array_equal(abs(d).tangent, t * np.sign(x))
    w = np.array([2.0, 3.0, 4.0])
    out = w * d
    assert type(out) is DualArray
    np.testing.assert_array_equal(out.tangent, t * w)
    np.testing.assert_array_equal((w - d).tangent, -t)
    np.testing.assert_array_equal((d % 1.0).tangent, t)


def test_ufunc_methods_divmod_and_dg_functions():
    x, t = np.array([[1.5, -2.0], [0.5, 3.0]]), np.array([[[1.0, 2.0], [3.0, 4.0]]])
    d = DualArray(x, t)
    np.testing.assert_array_equal(np.add.reduce(d, axis=0).tangent, [[4.0, 6.0]])
    np.testing.assert_array_equal(np.multiply.reduce(d, axis=1).tangent,
                                  [[1.0 * -2.0 + 1.5 * 2.0, 3.0 * 3.0 + 0.5 * 4.0]])
    np.testing.assert_array_equal(np.maximum.reduce(d, axis=1).tangent, [[1.0, 4.0]])
    np.testing.assert_array_equal(np.add.accumulate(d, axis=1).tangent, [[[1.0, 3.0], [3.0, 7.0]]])
    q, r = np.divmod(d, 0.7)
    assert not q.tangent.any() and np.array_equal(r.tangent, t)
    for name in ("sigmoid", "erf", "sin"):
        out = getattr(dg, name)(d)
        assert type(out) is DualArray
        np.testing.assert_allclose(out.value, getattr(dg, name)(x), rtol=1e-13)


def test_comparisons_are_plain_boolean_arrays():
    d = DualArray([1.0, 2.0, np.nan], np.ones((1, 3)))
    e = DualArray([2.0, 2.0, 0.0], np.ones((1, 3)))
    for out, ref in ((d < e, [True, False, False]), (d == e, [False, True, False]),
                     (d >= 2, [False, True, False]), (np.greater(e, d), [True, False, False]),
                     (np.isnan(d), [False, False, True]), (np.isfinite(d), [True, True, False]),
                     (np.array([0.0, 3.0, 1.0]) < d, [True, False, False])):
        assert type(out) is np.ndarray and out.dtype == bool
        np.testing.assert_array_equal(out, ref)


# ---------------------------------------------------------------------------
# Everything else, against central differences and torch.func.jvp

def check(np_fn, torch_fn, *arrays, const=(), k=2, seed=0, sym=()):
    """np_fn on DualArrays (operands not in ``const``) against the references.
    Tangents of the operands in ``sym`` are symmetric (for cholesky)."""
    rng = rng_of(seed, len(arrays))
    xs = [np.asarray(a, dtype=np.float64) for a in arrays]
    ts = [rng.standard_normal((k,) + x.shape) for x in xs]
    for i in sym:
        ts[i] = ts[i] + np.swapaxes(ts[i], -1, -2)
    diff = [i for i in range(len(xs)) if i not in const]
    out = np_fn(*[DualArray(x, t) if i in diff else x for i, (x, t) in enumerate(zip(xs, ts))])
    assert type(out) is DualArray
    np.testing.assert_allclose(out.value, np_fn(*xs), rtol=1e-12, atol=1e-14)
    assert out.tangent.shape == (k,) + np.shape(np_fn(*xs))
    np.testing.assert_allclose(out.tangent, directional_fd(np_fn, xs, ts, diff),
                               rtol=FD_RTOL, atol=FD_ATOL)
    if torch_fn is not None:
        np.testing.assert_allclose(out.tangent, torch_jvp(torch_fn, xs, ts, diff),
                                   rtol=TORCH_TOL, atol=1e-12)
    return out


A = rng_of(10).standard_normal((3, 4, 5))
M = rng_of(11).standard_normal((4, 4)) + 4 * np.eye(4)
SPD = M @ M.T
BM = rng_of(12).standard_normal((2, 3, 3)) + 3 * np.eye(3)

REDUCTIONS = {
    "sum": (lambda a: np.sum(a), lambda a: torch.sum(a)),
    "sum_axis": (lambda a: np.sum(a, axis=1), lambda a: torch.sum(a, 1)),
    "sum_axes_keepdims": (lambda a: np.sum(a, axis=(0, -1), keepdims=True),
                          lambda a: torch.sum(a, (0, 2), keepdim=True)),
    "sum_method": (lambda a: a.sum(-1), lambda a: a.sum(-1)),
    "mean": (lambda a: np.mean(a, axis=(1, 2)), lambda a: torch.mean(a, (1, 2))),
    "prod": (lambda a: np.prod(a, axis=1), lambda a: torch.prod(a, 1)),
    "max": (lambda a: np.max(a, axis=-1), lambda a: torch.amax(a, -1)),
    "amin_keepdims": (lambda a: np.amin(a, axis=0, keepdims=True),
                      lambda a: torch.amin(a, 0, keepdim=True)),
    "max_all": (lambda a: a.max(), lambda a: torch.amax(a)),
    "cumsum": (lambda a: np.cumsum(a, axis=1), lambda a: torch.cumsum(a, 1)),
    "cumsum_flat": (lambda a: np.cumsum(a), lambda a: torch.cumsum(a.reshape(-1), 0)),
    "var": (lambda a: np.var(a, axis=2), lambda a: torch.var(a, 2, correction=0)),
    "var_ddof": (lambda a: np.var(a, axis=(0, 1), ddof=1),
                 lambda a: torch.var(a, (0, 1), correction=1)),
    "std": (lambda a: np.std(a, axis=0, keepdims=True),
            lambda a: torch.std(a, 0, correction=0, keepdim=True)),
    "add_reduce": (lambda a: np.add.reduce(a, axis=1), lambda a: torch.sum(a, 1)),
}


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reductions(name, k):
    check(*REDUCTIONS[name], A, k=k)


def test_prod_with_zeros():
    for x in ([1.5, 0.0, 2.0, -3.0], [0.0, 2.0, 0.0, 4.0], [0.0]):
        x = np.array(x)
        t = rng_of(13).standard_normal((2, x.size))
        out = np.prod(DualArray(x, t))
        ref = torch_jvp(torch.prod, [x], [t], [0])
        np.testing.assert_allclose(out.tangent, ref, rtol=1e-12, atol=1e-15)


def test_max_ties_share_the_derivative():
    out = np.max(DualArray([1.0, 3.0, 3.0], [[1.0, 10.0, 20.0]]))
    assert out.tangent.tolist() == [15.0]


SHAPES = {
    "reshape": (lambda a: np.reshape(a, (5, -1)), lambda a: a.reshape(5, -1)),
    "reshape_method": (lambda a: a.reshape(12, 5), lambda a: a.reshape(12, 5)),
    "ravel": (lambda a: np.ravel(a), lambda a: a.reshape(-1)),
    "flatten": (lambda a: a.flatten(), lambda a: a.reshape(-1)),
    "transpose": (lambda a: np.transpose(a), lambda a: a.permute(2, 1, 0)),
    "transpose_axes": (lambda a: np.transpose(a, (1, -1, 0)), lambda a: a.permute(1, 2, 0)),
    "T": (lambda a: a.T, lambda a: a.permute(2, 1, 0)),
    "mT": (lambda a: a.mT, lambda a: a.mT),
    "swapaxes": (lambda a: np.swapaxes(a, 0, -1), lambda a: a.transpose(0, 2)),
    "moveaxis": (lambda a: np.moveaxis(a, 0, -1), lambda a: torch.movedim(a, 0, -1)),
    "moveaxis_many": (lambda a: np.moveaxis(a, (0, 1), (2, 0)),
                      lambda a: torch.movedim(a, (0, 1), (2, 0))),
    "expand_squeeze": (lambda a: np.squeeze(np.expand_dims(a, (0, -1)), 0),
                       lambda a: a[None, ..., None][0]),
    "squeeze_all": (lambda a: np.squeeze(a[:, :1]), lambda a: a[:, :1].squeeze()),
    "broadcast_to": (lambda a: np.broadcast_to(a[0, :, :1], (2, 4, 3)),
                     lambda a: a[0, :, :1].expand(2, 4, 3)),
    "flip": (lambda a: np.flip(a, 1), lambda a: torch.flip(a, (1,))),
    "diagonal": (lambda a: np.diagonal(a, 1, 1, 2), lambda a: torch.diagonal(a, 1, 1, 2)),
    "trace": (lambda a: np.trace(a[0]), lambda a: torch.trace(a[0])),
    "diag_of_matrix": (lambda a: np.diag(a[0], 1), lambda a: torch.diag(a[0], 1)),
    "diag_of_vector": (lambda a: np.diag(a[0, 0], -2), lambda a: torch.diag(a[0, 0], -2)),
    "tril": (lambda a: np.tril(a, -1), lambda a: torch.tril(a, -1)),
    "copy": (lambda a: np.copy(a), lambda a: a.clone()),
}

INDICES = {
    "int": 1, "negative_int": (-1, 2), "slices": (slice(None), slice(1, None, 2)),
    "ellipsis": (Ellipsis, 2), "none": (None, 0, Ellipsis, None),
    "int_array": (np.array([2, 0, 0]),), "list": [0, 2],
    "int_arrays_adjacent": (slice(None), np.array([0, 3]), np.array([1, 4])),
    "arrays_apart": (np.array([0, 2]), slice(1, 3), np.array([4, 0])),
    "int_and_array_apart": (0, slice(None), np.array([1, 2, 3])),
    "bool_mask": A > 0, "bool_rows": (np.array([True, False, True]),),
    "bool_then_ellipsis": (np.array([True, False, True]), Ellipsis, 1),
}


@pytest.mark.parametrize("name", list(SHAPES))
def test_shapes(name):
    check(*SHAPES[name], A)


@pytest.mark.parametrize("name", list(INDICES))
def test_indexing(name):
    index = INDICES[name]
    tindex = tuple(torch.tensor(e) if isinstance(e, np.ndarray) else e for e in index) \
        if isinstance(index, tuple) else (torch.tensor(index) if isinstance(index, np.ndarray)
                                          else index)
    # PyTorch does not count an int among advanced indices: NumPy's layout differs there
    check(lambda a: a[index], None if name == "int_and_array_apart" else lambda a: a[tindex], A)


PRODUCTS = {
    "matmul": (lambda a, b: a @ b, torch.matmul, (3, 4), (4, 5)),
    "matmul_vec_mat": (np.matmul, torch.matmul, (4,), (4, 5)),
    "matmul_mat_vec": (np.matmul, torch.matmul, (3, 4), (4,)),
    "matmul_vec_vec": (np.matmul, torch.matmul, (4,), (4,)),
    "matmul_batched": (np.matmul, torch.matmul, (2, 3, 4), (4, 5)),
    "matmul_vec_batched": (np.matmul, torch.matmul, (4,), (2, 4, 5)),
    "matmul_batched_vec": (np.matmul, torch.matmul, (2, 1, 3, 4), (3, 4, 2)),
    "dot": (np.dot, torch.matmul, (3, 4), (4,)),
    "dot_nd": (np.dot, lambda a, b: torch.tensordot(a, b, ([1], [1])), (3, 4), (2, 4, 5)),
    "dot_method": (lambda a, b: a.dot(b), torch.dot, (4,), (4,)),
    "inner": (np.inner, torch.inner, (3, 4), (2, 4)),
    "outer": (np.outer, torch.outer, (3,), (4,)),
    "vdot": (np.vdot, lambda a, b: torch.sum(a * b), (2, 3), (2, 3)),
    "einsum": (lambda a, b: np.einsum("ij,jk->ik", a, b), lambda a, b: torch.einsum(
        "ij,jk->ik", a, b), (3, 4), (4, 5)),
    "einsum_implicit": (lambda a, b: np.einsum("ij,kj", a, b), lambda a, b: torch.einsum(
        "ij,kj", a, b), (3, 4), (5, 4)),
    "einsum_ellipsis": (lambda a, b: np.einsum("...ij,...j->...i", a, b),
                        lambda a, b: torch.einsum("...ij,...j->...i", a, b), (2, 3, 4), (4,)),
    "tensordot": (lambda a, b: np.tensordot(a, b, 1), lambda a, b: torch.tensordot(a, b, 1),
                  (3, 4), (4, 5)),
    "tensordot_axes": (lambda a, b: np.tensordot(a, b, ([0, 2], [2, 1])),
                       lambda a, b: torch.tensordot(a, b, ([0, 2], [2, 1])), (2, 3, 4), (5, 4, 2)),
}


@pytest.mark.parametrize("which", [(0, 1), (0,), (1,)], ids=["both", "left", "right"])
@pytest.mark.parametrize("name", list(PRODUCTS))
def test_products(name, which):
    fn, tfn, sa, sb = PRODUCTS[name]
    if name == "dot_method" and 0 not in which:
        # ndarray.dot is NumPy's method, which does not dispatch: a clear error,
        # never a product without the tangent.
        with pytest.raises(TypeError, match="would drop the tangent"):
            np.ones((2, 3)).dot(DualArray(np.ones(3), np.ones((1, 3))))
        return
    rng = rng_of(20, len(name))
    check(fn, tfn, rng.standard_normal(sa), rng.standard_normal(sb),
          const=[i for i in (0, 1) if i not in which], k=3)


def test_einsum_three_operands():
    rng = rng_of(21)
    fn = lambda a, b, c: np.einsum("ij,jk,k->i", a, b, c)  # noqa: E731
    tfn = lambda a, b, c: torch.einsum("ij,jk,k->i", a, b, c)  # noqa: E731
    check(fn, tfn, rng.standard_normal((3, 4)), rng.standard_normal((4, 5)),
          rng.standard_normal(5), const=[1])


LINALG = {
    "solve_vector": (np.linalg.solve, torch.linalg.solve, (M, rng_of(30).standard_normal(4))),
    "solve_matrix": (np.linalg.solve, torch.linalg.solve, (M, rng_of(31).standard_normal((4, 2)))),
    "solve_batched": (np.linalg.solve, torch.linalg.solve,
                      (BM, rng_of(32).standard_normal((2, 3, 2)))),
    "solve_batched_vector": (np.linalg.solve, torch.linalg.solve,
                             (BM, rng_of(33).standard_normal(3))),
    "inv": (np.linalg.inv, torch.linalg.inv, (M,)),
    "inv_batched": (np.linalg.inv, torch.linalg.inv, (BM,)),
    "det": (np.linalg.det, torch.linalg.det, (M,)),
    "det_batched": (np.linalg.det, torch.linalg.det, (BM,)),
    "slogdet": (lambda a: np.linalg.slogdet(a)[1], lambda a: torch.linalg.slogdet(a)[1],
                (np.ascontiguousarray(M[::-1]),)),
    "norm": (np.linalg.norm, torch.linalg.norm, (A,)),
    "norm_vector": (np.linalg.norm, torch.linalg.vector_norm, (A[0, 0],)),
    "norm_axis": (lambda a: np.linalg.norm(a, axis=-1, keepdims=True),
                  lambda a: torch.linalg.vector_norm(a, dim=-1, keepdim=True), (A,)),
    "norm_fro": (lambda a: np.linalg.norm(a, "fro"), lambda a: torch.linalg.matrix_norm(a), (M,)),
    "norm_fro_axes": (lambda a: np.linalg.norm(a, axis=(0, 2)),
                      lambda a: torch.linalg.matrix_norm(a.permute(1, 0, 2)), (A,)),
    "norm_1": (lambda a: np.linalg.norm(a, 1), lambda a: torch.linalg.vector_norm(a, 1),
               (A[0, 0],)),
    "norm_3": (lambda a: np.linalg.norm(a, 3, axis=0),
               lambda a: torch.linalg.vector_norm(a, 3, dim=0), (A,)),
    "norm_inf": (lambda a: np.linalg.norm(a, np.inf), lambda a: torch.linalg.vector_norm(
        a, float("inf")), (A[0, 0],)),
    "norm_matrix_1": (lambda a: np.linalg.norm(a, 1), lambda a: torch.linalg.matrix_norm(a, 1),
                      (M,)),
    "norm_matrix_inf": (lambda a: np.linalg.norm(a, -np.inf),
                        lambda a: torch.linalg.matrix_norm(a, -float("inf")), (M,)),
}


@pytest.mark.parametrize("name", list(LINALG))
def test_linalg(name):
    fn, tfn, arrays = LINALG[name]
    check(fn, tfn, *arrays, k=3)


@pytest.mark.parametrize("const", [(), (0,), (1,)])
def test_solve_constant_operand(const):
    check(np.linalg.solve, torch.linalg.solve, M, rng_of(34).standard_normal((4, 3)),
          const=const)


def test_cholesky():
    out = check(np.linalg.cholesky, torch.linalg.cholesky, SPD, sym=(0,), k=3)
    upper = np.linalg.cholesky(DualArray(SPD, out.tangent @ np.zeros((4, 4)) + out.tangent),
                               upper=True)
    np.testing.assert_allclose(upper.value, out.value.T)


def test_slogdet_sign_is_a_constant():
    flipped = M * np.array([[-1.0], [1.0], [1.0], [1.0]])
    sign, logdet = np.linalg.slogdet(DualArray(flipped, np.ones((1, 4, 4))))
    assert type(sign) is not DualArray and sign == -1.0
    assert type(logdet) is DualArray


def test_norm_at_zero_has_zero_derivative():
    out = np.linalg.norm(DualArray(np.zeros(3), np.ones((2, 3))))
    np.testing.assert_array_equal(out.tangent, [0.0, 0.0])


JOINS = {
    "concatenate": (lambda a, b: np.concatenate([a, b], axis=1),
                    lambda a, b: torch.cat([a, b], 1), (2, 3), (2, 4)),
    "concatenate_none": (lambda a, b: np.concatenate([a, b], axis=None),
                         lambda a, b: torch.cat([a.reshape(-1), b.reshape(-1)]), (2, 3), (4,)),
    "stack": (lambda a, b: np.stack([a, b], axis=-1), lambda a, b: torch.stack([a, b], -1),
              (2, 3), (2, 3)),
    "hstack": (lambda a, b: np.hstack([a, b]), lambda a, b: torch.hstack([a, b]), (3,), (2,)),
    "hstack_2d": (lambda a, b: np.hstack([a, b]), lambda a, b: torch.hstack([a, b]),
                  (2, 3), (2, 1)),
    "vstack": (lambda a, b: np.vstack([a, b]), lambda a, b: torch.vstack([a, b]), (3,), (2, 3)),
    "where": (lambda a, b: np.where(a > b, a, b), lambda a, b: torch.where(a > b, a, b),
              (3, 4), (4,)),
    "where_scalar": (lambda a, b: np.where(b > 0, a * b, 0.0),
                     lambda a, b: torch.where(b > 0, a * b, 0.0), (3, 4), (3, 4)),
}


@pytest.mark.parametrize("which", [(0, 1), (0,), (1,)], ids=["both", "first", "second"])
@pytest.mark.parametrize("name", list(JOINS))
def test_joins(name, which):
    fn, tfn, sa, sb = JOINS[name]
    rng = rng_of(40, len(name))
    check(fn, tfn, rng.standard_normal(sa), rng.standard_normal(sb),
          const=[i for i in (0, 1) if i not in which])


def test_clip():
    x = np.array([-2.0, -0.3, 0.4, 1.7, 3.0])
    check(lambda a: np.clip(a, -1.0, 1.5), lambda a: torch.clamp(a, -1.0, 1.5), x)
    check(lambda a: a.clip(0.0), lambda a: torch.clamp(a, 0.0), x)
    check(lambda a: np.clip(a, max=0.5), lambda a: torch.clamp(a, max=0.5), x)


def test_like_functions_and_metadata():
    d = DualArray(np.ones((2, 3), dtype=np.float32), np.zeros((4, 2, 3)))
    for fn, fill in ((np.zeros_like, 0.0), (np.ones_like, 1.0), (np.empty_like, 0.0)):
        out = fn(d)     # arrays to write derivatives into: zero tangents, d's level and k
        assert type(out) is DualArray and out.shape == (2, 3) and out.dtype == np.float32
        assert (out.value == fill).all() and out.tangent.shape == (4, 2, 3)
        assert not out.tangent.any() and out.level == d.level
    assert np.full_like(d, 7.0).value.tolist() == [[7.0] * 3] * 2
    assert (d.k, d.shape, d.ndim, d.size, d.dtype, len(d)) == (4, (2, 3), 2, 6, np.float32, 2)
    assert np.shape(d) == (2, 3) and np.ndim(d) == 2 and np.size(d) == 6
    assert [e.shape for e in d] == [(3,), (3,)]
    assert d.astype(np.float64).dtype == np.float64
    assert repr(DualArray(1.0, [2.0])) == "DualArray(value=array(1.), tangent=array([2.]))"
    again = pickle.loads(pickle.dumps(DualArray([1.0, 2.0], [[3.0, 4.0]], level=2)))
    assert again.level == 2 and again.tangent.tolist() == [[3.0, 4.0]]


def test_constructor_converts():
    d = DualArray([1, 2, 3], [[0, 1, 0]])
    assert d.value.dtype == np.float64 and d.tangent.dtype == np.float64
    assert d.level == 1 and d.k == 1
    assert DualArray(2.0, [1.0, 0.0, 0.0]).k == 3


# ---------------------------------------------------------------------------
# Errors

def test_bad_tangent_shape():
    with pytest.raises(ValueError, match=r"shape \(k,\) \+ value.shape"):
        DualArray([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"shape \(k,\) \+ value.shape"):
        DualArray(np.ones((2, 3)), np.ones((1, 3, 2)))
    with pytest.raises(ValueError, match="at least one tangent direction"):
        DualArray([1.0], np.ones((0, 1)))
    with pytest.raises(TypeError, match="real or complex numbers"):
        DualArray(["a"], [["b"]])
    with pytest.raises(TypeError, match="tangent of a real DualArray must be real"):
        DualArray([1.0], [[1j]])


def test_what_would_drop_the_tangent():
    d = DualArray([1.0], [[1.0]])
    for fn in (np.asarray, np.array, float, int, bool, complex):
        with pytest.raises(TypeError, match="tangent"):
            fn(d)
    with pytest.raises(TypeError):
        hash(d)


def test_item_assignment_and_in_place_operators():
    d = DualArray([1.0, 2.0, 3.0], [[1.0, 0.0, 0.0]])
    d[0] = 5.0                      # a constant: its tangent is zero
    d[1:] = DualArray([4.0, 6.0], [[2.0, 3.0]])
    assert d.value.tolist() == [5.0, 4.0, 6.0] and d.tangent.tolist() == [[0.0, 2.0, 3.0]]
    same = d
    d *= d                          # the same object holds the product
    assert same is d and d.value.tolist() == [25.0, 16.0, 36.0]
    assert d.tangent.tolist() == [[0.0, 16.0, 36.0]]


def test_function_without_a_rule():
    d = DualArray([1.0, 2.0], [[1.0, 1.0]])
    with pytest.raises(TypeError, match=r"np.unique has no forward-mode rule for DualArray"):
        np.unique(d)
    with pytest.raises(TypeError, match=r"np.linalg.tensorinv has no forward-mode rule"):
        np.linalg.tensorinv(DualArray(np.eye(2), np.ones((1, 2, 2))), ind=1)
    with pytest.raises(TypeError, match=r"np.bitwise_and has no forward-mode rule"):
        np.bitwise_and(d, d)
    with pytest.raises(TypeError, match=r"np.add.outer has no forward-mode rule"):
        np.add.outer(d, d)
    with pytest.raises(ValueError, match="Invalid norm order 'max' for matrices"):
        np.linalg.norm(DualArray(np.eye(2), np.ones((1, 2, 2))), "max")


def test_out_is_refused():
    d = DualArray([1.0, 2.0], [[1.0, 1.0]])
    # into a plain array: the preallocation error (tests/test_preallocation.py)
    with pytest.raises(TypeError, match=r"np\.zeros_like\(x\)"):
        np.sin(d, out=np.empty(2))
    with pytest.raises(TypeError, match=r"np\.zeros_like\(x\)"):
        np.sum(d, out=np.empty(()))
    with pytest.raises(TypeError, match=r"np\.zeros_like\(x\)"):
        np.add(d, 1.0, out=np.empty(2))
    with pytest.raises(TypeError, match="out="):
        np.add(d, 1.0, out=DualArray([0.0, 0.0], [[0.0, 0.0]]))


def test_direction_count_mismatch():
    with pytest.raises(ValueError, match="same number of directions"):
        DualArray([1.0], [[1.0]]) * DualArray([1.0], [[1.0], [2.0]])


def test_value_of_a_higher_level_inside_is_refused():
    with pytest.raises(ValueError, match="lower levels"):
        DualArray(DualArray([1.0], [[1.0]], level=2), [[1.0]], level=1)


# ---------------------------------------------------------------------------
# Nesting and levels

def test_second_derivative_along_two_directions():
    rng = rng_of(50)
    x0, u, v = rng.standard_normal(5), rng.standard_normal(5), rng.standard_normal(5)
    inner = DualArray(x0, v[None], level=1)            # d/ds: x0 + s v
    x = DualArray(inner, u[None], level=2)              # d/dt: x0 + t u + s v
    y = np.sin(x)
    assert y.level == 2 and type(y.value) is DualArray and y.value.level == 1
    first = tangent_at(y, 2)                            # cos(x) u, a level-1 DualArray
    np.testing.assert_allclose(tangent_at(first, 1)[0, 0], -np.sin(x0) * u * v, rtol=1e-14)
    # the other order of reading gives the same mixed derivative
    np.testing.assert_allclose(tangent_at(tangent_at(y, 1), 2)[0, 0], -np.sin(x0) * u * v,
                               rtol=1e-14)


def test_nested_general_operations():
    """A function of matrices, its mixed second derivative against torch."""
    rng = rng_of(51)
    a0, u, v = (rng.standard_normal((3, 3)) + 3 * np.eye(3) for _ in range(3))

    def f(lib, a):
        if lib is np:
            return np.sum(np.tanh(np.linalg.solve(a, a.T @ a)) * np.linalg.det(a))
        # PyTorch's forward-over-forward of linalg.solve and det disagrees with
        # finite differences (torch 2.13): the reference solves by inv and
        # expands the determinant.
        det = (a[0, 0] * (a[1, 1] * a[2, 2] - a[1, 2] * a[2, 1])
               - a[0, 1] * (a[1, 0] * a[2, 2] - a[1, 2] * a[2, 0])
               + a[0, 2] * (a[1, 0] * a[2, 1] - a[1, 1] * a[2, 0]))
        return torch.sum(torch.tanh(torch.linalg.inv(a) @ (a.T @ a)) * det)

    x = DualArray(DualArray(a0, v[None]), u[None], level=2)
    mixed = tangent_at(tangent_at(f(np, x), 2), 1)
    ta = torch.tensor(a0)
    ref = torch.func.jvp(lambda s: torch.func.jvp(lambda t: f(torch, t), (s,),
                                                  (torch.tensor(u),))[1],
                         (ta,), (torch.tensor(v),))[1]
    np.testing.assert_allclose(np.ravel(mixed), ref.numpy(), rtol=1e-10)


def test_perturbation_confusion():
    """d/dx [x * d/dy (x + y)] at x = y = 1 is 1, never 2."""
    x = DualArray(1.0, [1.0], level=2)
    y = DualArray(1.0, [1.0], level=3)
    s = x + y
    assert s.level == 3 and level_of(s.value) == 2
    inner = tangent_at(s, 3)
    assert type(inner) is np.ndarray and inner.tolist() == [1.0]
    out = x * inner[0]
    assert out.level == 2 and out.tangent.tolist() == [1.0]
    # the outer derivative of the whole, read level by level
    out = x * tangent_at(x + y, 3)[0]
    assert tangent_at(out, 2).tolist() == [1.0]


def test_tangent_at_constants_and_levels():
    assert tangent_at(np.ones(3), 1, k=2).shape == (2, 3)
    assert tangent_at(2.0, 4).shape == (1,)
    d = DualArray([1.0, 2.0], [[1.0, 1.0]], level=1)
    assert tangent_at(d, 2).shape == (1, 2) and not tangent_at(d, 2).any()
    assert level_of(d) == 1 and level_of(np.ones(2)) == 0 and level_of(3.0) == 0


def test_lower_level_operand_is_a_constant():
    low = DualArray([2.0], [[5.0]], level=1)
    high = DualArray([3.0], [[1.0]], level=2)
    out = low * high
    assert out.level == 2
    assert type(out.tangent) is DualArray and out.tangent.level == 1
    np.testing.assert_array_equal(out.tangent.value, [[2.0]])     # low, as a value
    np.testing.assert_array_equal(out.tangent.tangent, [[[5.0]]])  # low's own tangent, inside
    np.testing.assert_array_equal(out.value.value, [6.0])


def test_tensor_values_reverse_over_forward():
    """A DualArray holding Tensors: the gradient of a JVP."""
    w0 = np.array([0.3, -0.7, 1.1])
    w = dg.tensor(w0, requires_grad=True)
    x0, t0 = np.array([0.5, 1.5, -0.2]), np.array([[1.0, 2.0, 3.0]])
    out = np.sin(DualArray(x0, t0) * w)
    assert type(out.value) is dg.Tensor and type(out.tangent) is dg.Tensor
    out.tangent.sum().backward()
    # d/dw sum(cos(x w) w t) = -sin(x w) x w t + cos(x w) t
    expected = -np.sin(x0 * w0) * x0 * w0 * t0[0] + np.cos(x0 * w0) * t0[0]
    np.testing.assert_allclose(w.grad.detach().numpy(), expected, rtol=1e-14)


def test_tensor_of_higher_level_takes_the_operation():
    class Higher(dg.Tensor):
        _level = 5

    h = Higher([1.0])
    d = DualArray([1.0], [[1.0]], level=2)
    assert level_of(h) == 5 and level_of(dg.tensor([1.0])) == 0
    assert lift((d, h)) is None
    assert d.__mul__(h) is NotImplemented
    assert np.sin(d).__array_ufunc__(np.add, "__call__", d, h) is NotImplemented
    assert type((d * dg.tensor([2.0])).value) is dg.Tensor  # a level-0 Tensor is a constant


# ---------------------------------------------------------------------------
# Identities

finite = st.floats(-3, 3, allow_nan=False, width=64)
arrays5 = st.lists(finite, min_size=5, max_size=5).map(np.array)


@settings(max_examples=40, deadline=None)
@given(arrays5, arrays5, arrays5, arrays5, st.floats(-2, 2))
def test_product_rule_and_linearity(a, b, ta, tb, c):
    x, y = DualArray(a, ta[None]), DualArray(b, tb[None])
    np.testing.assert_allclose((x * y).tangent[0], ta * b + a * tb, rtol=1e-14, atol=1e-14)
    # the tangent is linear in the seed: scaling and adding seeds does the same to the result
    f = lambda d: np.tanh(d) * np.exp(d / 4) + np.sum(d * d)  # noqa: E731
    one, two = f(DualArray(a, ta[None])), f(DualArray(a, tb[None]))
    both = f(DualArray(a, (c * ta + tb)[None]))
    np.testing.assert_allclose(both.tangent, c * one.tangent + two.tangent, rtol=1e-12,
                               atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(arrays5, arrays5, arrays5)
def test_k_directions_equal_k_single_passes(a, ta, tb):
    f = lambda d: np.cumsum(np.hypot(d, 1.5) @ np.outer(d, d))  # noqa: E731
    both = f(DualArray(a, np.stack([ta, tb])))
    np.testing.assert_allclose(both.tangent[0], f(DualArray(a, ta[None])).tangent[0],
                               rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(both.tangent[1], f(DualArray(a, tb[None])).tangent[0],
                               rtol=1e-13, atol=1e-13)


def test_constructor_holds_its_own_views_of_the_caller_arrays():
    # The caller keeps the arrays it gave and may reshape them in place; the
    # fused loops read lengths from the DualArray's shapes (once: a segfault).
    n = 2_000_000
    v, t = np.ones(n), np.ones((1, n))
    d = DualArray(v, t)
    t.shape = (n, 1)
    v.shape = (n, 1)
    assert d.value.shape == (n,) and d.tangent.shape == (1, n)
    s = np.sin(d)
    assert s.tangent.shape == (1, n) and s.value[0] == np.sin(1.0)
    t[0, 0] = 2.0                 # still the same memory: no copy was made
    assert d.tangent[0, 0] == 2.0
    # d's own arrays, reshaped through its attributes: the fused loops check
    # the sizes they read and leave such a DualArray to the general path
    d.tangent.shape = (n, 1)
    sin, mul = (next(r.opcode for r in RULES if r.name == name) for name in ("sin", "multiply"))
    assert not uses_fast_path(sin, (d,))
    assert not uses_fast_path(mul, (d, d)) and not uses_fast_path(mul, (d, 2.0))
    small = DualArray(np.ones(300), np.ones((1, 300)))
    small.tangent.shape = (300, 1)
    np.sin(small), small * small, small + 1.0   # (NumPy broadcasts; nothing reads past the end)


def test_tensor_holds_its_own_view_of_a_shared_array():
    n = 1000
    a = np.ones((1, n))
    x = dg.from_numpy(a).requires_grad_()
    y = dg.as_tensor(a)
    a.shape = (n, 1)
    assert x.shape == (1, n) and y.shape == (1, n)
    (dg.sin(x) * y).sum().backward()
    assert x.grad.shape == (1, n)
    a[0, 0] = 3.0
    assert x[0, 0].item() == 3.0  # shares memory still


def test_item_and_tolist_keep_the_derivative():
    """ndarray.item and tolist give floats; on a DualArray they give 0-d
    DualArrays, so code reading its values through them still differentiates."""
    d = dg.DualArray(np.arange(6.0).reshape(2, 3), np.arange(6.0).reshape(1, 2, 3) * 10)
    for e, want in [(d.item(4), 4.0), (d.item(1, 2), 5.0), (d.item((1, 0)), 3.0),
                    (d.tolist()[1][2], 5.0)]:
        assert isinstance(e, dg.DualArray) and e.shape == ()
        assert e.value == want and e.tangent[0] == 10 * want
    with pytest.raises(ValueError, match="size 1"):
        d.item()
    assert dg.DualArray(np.array([2.0]), np.array([[1.0]])).item().tangent[0] == 1.0
    np.testing.assert_array_equal(
        dg.jacfwd(lambda x: sum(v * v for row in x.tolist() for v in row))(np.ones((2, 2))),
        2 * np.ones((2, 2)))


def test_rows_without_a_ufunc_in_forward_over_reverse(forced_plan):
    """erf, lgamma, polygamma (no NumPy ufunc) on Tensors holding DualArrays:
    the Hessian by forward over reverse on the array tier."""
    forced_plan.update(tier="array", mode="reverse")

    def f(x):
        return np.sum(dg.erf(x) * dg.lgamma(x + 2.0) + dg.polygamma(1, x + 1.0) * x[0])
    x = np.array([0.3, 0.8, 1.4])
    hess, grad = dg.hessian(f)(x), dg.grad(f)
    for j, e in enumerate(np.eye(3) * 1e-5):
        np.testing.assert_allclose(hess[:, j], (grad(x + e) - grad(x - e)) / 2e-5,
                                   rtol=1e-5, atol=1e-7)
