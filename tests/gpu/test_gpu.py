"""The array tier on a GPU: every row of the derivative table in the kernels
(Tensor forward and backward, DualArray value and tangents), the operations
that CuPy computes, devices, and the functional transforms, each against the
CPU's result for the same inputs (float64, 1e-12 relative)."""

import sys

import numpy as np
import pytest

import dualgrad as dg
from dualgrad._rules.table import RULES
from dualgrad.gpu import loader, rows

from conftest import sample_rule

RTOL = 1e-12
UNARY = [r for r in RULES if r.arity == 1]
BINARY = [r for r in RULES if r.arity == 2]


def host(a):
    """Values as a NumPy array, from either device."""
    if a is None:
        return None
    if isinstance(a, dg.Tensor):
        a = a.detach().cpu().numpy()
    return a.get() if hasattr(a, "get") else np.asarray(a)


def close(got, want, rtol=RTOL):
    """Equal to ``rtol`` relative to each element, or to the largest element
    for those that cancel to about zero (sums in another order)."""
    if got is None or want is None:
        assert got is None and want is None, (got, want)
        return
    want = host(want)
    scale = np.max(np.abs(want), initial=0.0, where=np.isfinite(want))
    np.testing.assert_allclose(host(got), want, rtol=rtol, atol=rtol * scale)


def on_both(cp, f, *arrays, requires_grad=True):
    """f's value and the inputs' gradients, on the CPU and on the device."""
    res = []
    for dev in ("cpu", "cuda"):
        xs = [dg.tensor(a, device=dev, requires_grad=requires_grad) for a in arrays]
        y = f(*xs)
        y.backward()
        res.append((y, [x.grad for x in xs]))
    return res


# ---------------------------------------------------------------------------
# The table's rows in the kernels

@pytest.mark.parametrize("rule", UNARY, ids=lambda r: r.name)
def test_unary_row_tensor_forward_and_backward(cp, rule):
    x = sample_rule(rule, 64)[:, 0]
    g = np.linspace(-1.5, 2.0, x.size)
    f = getattr(dg, rule.name)
    (yc, (gc,)), (yg, (gg,)) = on_both(cp, lambda t: (f(t) * dg.tensor(
        g, device=t.device)).sum(), x)
    assert yg.device == "cuda:0"
    close(yg, yc)
    close(gg, gc)
    # The kernels themselves, not a fallback:
    xd = cp.asarray(x)
    close(rows.value(rule.opcode, xd), getattr(dg, rule.name)(x))
    if rule.d[0] is not None:
        assert rows.grad(rule.opcode, 0, cp.asarray(g), xd, None, rows.value(rule.opcode, xd)) \
            is not None


@pytest.mark.parametrize("rule", BINARY, ids=lambda r: r.name)
def test_binary_row_tensor_forward_and_backward(cp, rule):
    pts = sample_rule(rule, 64)
    x, y = pts[:, 0], pts[:, 1]
    f = getattr(dg, rule.name)
    ints = getattr(rule, "integer", ())
    cases = [(x, y)]
    if 0 not in ints:
        cases.append((x, float(y[0])))        # array op number
    if 1 not in ints:
        cases.append((float(x[0]), y))        # number op array
    def operand(v, i, dev):
        """A number as it is; an array as a tensor on dev (differentiated unless integer)."""
        if not isinstance(v, np.ndarray):
            return v
        return dg.tensor(v, device=dev, requires_grad=i not in ints)

    for a, b in cases:
        res = []
        for dev in ("cpu", "cuda"):
            ts = [operand(v, i, dev) for i, v in enumerate((a, b))]
            out = f(*ts)
            out.sum().backward()
            res.append((out, [t.grad for t in ts if isinstance(t, dg.Tensor) and t.requires_grad]))
        (oc, gcs), (og, ggs) = res
        close(og, oc)
        for gc, gg in zip(gcs, ggs):
            close(gg, gc)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_row_dualarray_value_and_tangents_fused(cp, rule):
    pts = sample_rule(rule, 48)
    rng = np.random.default_rng(rule.opcode)
    k = 3
    ints = getattr(rule, "integer", ())
    tangents = [None if i in ints else rng.standard_normal((k, pts.shape[0]))
                for i in range(rule.arity)]

    def operands(put):
        return [put(pts[:, i]) if t is None else dg.DualArray(put(pts[:, i]), put(t))
                for i, t in enumerate(tangents)]

    want = getattr(np, rule.ufuncs[0])(*operands(np.asarray)) if rule.ufuncs else \
        getattr(dg, rule.name)(*operands(np.asarray))
    got = rows.dual(rule.opcode, tuple(operands(cp.asarray)))
    assert got is not None, "the fused kernel did not take contiguous float64 operands"
    assert got.level == want.level
    close(got.value, want.value)
    close(got.tangent, want.tangent)
    # The same through NumPy's dispatch on DualArrays of GPU values:
    f = getattr(np, rule.ufuncs[0]) if rule.ufuncs else getattr(dg, rule.name)
    close(f(*operands(cp.asarray)).tangent, want.tangent)


def test_kernels_compile_once_per_device_and_dtype(cp):
    f64 = loader.function("dual", "dualgrad_dual_tanh", np.float64, 0)
    assert loader.function("dual", "dualgrad_dual_tanh", np.float64, 0) is f64
    assert loader.module("dual", np.float64, 0) is loader.module("dual", np.float64, 0)
    assert loader.module("dual", np.float32, 0) is not loader.module("dual", np.float64, 0)
    assert loader.source("dual").startswith('#line 1 "')


def test_float32_rows_compute_in_double_and_store_float32(cp):
    x = np.linspace(-2, 2, 101)
    t = dg.tensor(x, dtype=dg.float32, device="cuda", requires_grad=True)
    y = dg.tanh(t)
    assert y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_allclose(host(y), np.tanh(x).astype(np.float32), rtol=1e-6)
    np.testing.assert_allclose(host(t.grad), 1 - np.tanh(x.astype(np.float32)) ** 2, rtol=1e-5)
    d = dg.DualArray(cp.asarray(x, dtype=np.float32), cp.ones((1, x.size), dtype=np.float32))
    e = np.exp(d)
    assert e.value.dtype == np.float32 and e.tangent.dtype == np.float32
    np.testing.assert_allclose(host(e.tangent[0]), np.exp(x), rtol=1e-6)


def test_non_contiguous_and_broadcast_operands_take_cupy_general_path(cp):
    a = np.arange(12.0).reshape(3, 4) / 7
    b = np.linspace(0.5, 1.5, 4)
    (yc, gcs), (yg, ggs) = on_both(cp, lambda s, t: (dg.sin(s.T).T * 2 + s * t).sum(), a, b)
    close(yg, yc)
    for gc, gg in zip(gcs, ggs):
        close(gg, gc)


# ---------------------------------------------------------------------------
# Operations by CuPy: reductions, products, shapes, indexing, linear algebra

M = np.array([[2.0, 0.3, -0.4], [0.3, 1.5, 0.2], [-0.4, 0.2, 1.2]])
V = np.array([0.3, -1.2, 0.8])

def _inplace(x, m):
    y = m * 1.0
    v = y[0]
    v.mul_(x[0])                # through a view: recorded on y (CopySlices)
    y[1:, 0] += x[1:]
    y.clamp_(-2.0, 2.0)
    z = y.T
    z.add_(1.5)
    return (y * y).sum() + v.sum()


def _setitem(x, m):
    y = m * 1.0
    y[1] = x * 2
    y[0, 0] = 5.0
    return (y ** 2).sum()


TENSOR_PROGRAMS = {
    "sum mean prod": lambda x, m: x.sum() + x.mean() * 2 + (x + 2).prod(),
    "max min amax": lambda x, m: x.max() - x.min() + dg.amax(m, 0).sum(),
    "matmul": lambda x, m: (m @ x).sum() + (x @ m @ x),
    "einsum tensordot": lambda x, m: dg.einsum("ij,j->", m, x) + dg.tensordot(m, m).sum(),
    "softmax logsumexp": lambda x, m: (dg.softmax(m, 1) * m).sum() + dg.logsumexp(x, 0),
    "var std norm": lambda x, m: x.var() + m.std() + dg.norm(x),
    "cumsum flip": lambda x, m: (dg.cumsum(x, 0) * dg.flip(x, [0])).sum(),
    "reshape transpose": lambda x, m: (m.reshape(9)[:4] * m.T.reshape(9)[5:]).sum(),
    "getitem": lambda x, m: m[0, 1] * m[1:, ::2].sum() + x[[0, 2, 2]].sum() + m[m > 0.5].sum(),
    "setitem": _setitem,
    "in place through views": _inplace,
    "cat stack": lambda x, m: (dg.cat([x, x * 2]) ** 2).sum() + dg.stack([x, x]).prod(),
    "where clamp relu": lambda x, m: dg.where(x > 0, x * 3, -x).sum() + dg.clamp(
        m, -0.3, 0.5).sum() + dg.relu(x).sum(),
    "diagonal trace tril": lambda x, m: dg.diagonal(m).sum() + dg.trace(m @ m) + dg.tril(m).sum(),
    "solve inv det": lambda x, m: dg.linalg.solve(m, x).sum() + dg.linalg.inv(m).sum()
    + dg.linalg.det(m),
    "cholesky": lambda x, m: dg.linalg.cholesky(m).sum(),
    "split unbind": lambda x, m: sum(p.sum() * (i + 1) for i, p in enumerate(dg.split(m, 1)))
    + sum(r.prod() for r in dg.unbind(m)),
    "numpy functions": lambda x, m: np.sum(np.tanh(m) @ np.exp(x)) + np.mean(np.sin(m), axis=0).sum(),
}


@pytest.mark.parametrize("name", TENSOR_PROGRAMS)
def test_tensor_program_on_gpu_matches_cpu(cp, name):
    (yc, gcs), (yg, ggs) = on_both(cp, TENSOR_PROGRAMS[name], V, M)
    close(yg, yc)
    for gc, gg in zip(gcs, ggs):
        close(gg, gc)


NUMPY_PROGRAMS = {
    "reductions": lambda x, m: np.sum(x) * np.mean(x) + np.prod(x + 2) + np.max(m @ x),
    "matmul einsum": lambda x, m: x @ m @ x + np.einsum("ij,j->", m, np.sin(x)),
    "shapes": lambda x, m: np.sum(np.reshape(np.outer(x, x), (9,))[1:4] * np.cumsum(x)),
    "getitem": lambda x, m: x[0] * x[1:].sum() + x[[0, 2, 2]].sum() + x[x > 0].sum(),
    "concatenate stack": lambda x, m: np.sum(np.concatenate([x, x ** 2]) * np.stack([x, x]).T.reshape(6)),
    "where clip": lambda x, m: np.sum(np.where(x > 0, x ** 3, -x) + np.clip(x, -0.3, 0.5)),
    "linalg": lambda x, m: np.sum(np.linalg.solve(m + 0.1 * np.outer(x, x), x)) + np.linalg.det(m * x),
    "norm": lambda x, m: np.linalg.norm(x) * np.linalg.norm(m @ x, 1),
}


@pytest.mark.parametrize("name", NUMPY_PROGRAMS)
@pytest.mark.parametrize("transform", ["grad", "jacfwd", "jacrev", "hessian"])
def test_numpy_program_transforms_on_gpu_match_cpu(cp, name, transform):
    """NumPy code in the functional transforms: DualArrays and Tensors of GPU
    values, with the constants of the program on the arguments' device."""
    program = NUMPY_PROGRAMS[name]
    mc, mg = M, cp.asarray(M)
    want = getattr(dg, transform)(lambda x: program(x, mc))(V)
    got = getattr(dg, transform)(lambda x: program(x, mg))(cp.asarray(V))
    close(got, want, rtol=1e-11)


# ---------------------------------------------------------------------------
# Devices

def test_device_api(cp):
    x = dg.tensor([1.0, 2.0], device="cuda")
    assert x.device == "cuda:0" and x.device == dg.device("cuda") and str(x.device) == "cuda:0"
    assert x.device.type == "cuda" and x.device.index == 0
    assert repr(x) == "tensor([1., 2.], device='cuda:0')"
    assert x.cpu().device == "cpu" and isinstance(x.cpu().numpy(), np.ndarray)
    assert x.to("cuda") is x and x.cuda() is x
    assert dg.tensor([1.0]).cuda().device == "cuda:0"
    assert dg.tensor([1.0]).to(dg.device("cuda", 0)).device == "cuda:0"
    for make in (dg.zeros(2, device="cuda"), dg.ones(2, 3, device="cuda"),
                 dg.randn(4, device="cuda"), dg.arange(3, device="cuda"),
                 dg.eye(2, device="cuda"), dg.full((2,), 3.0, device="cuda"),
                 dg.zeros_like(x), dg.ones_like(x), dg.linspace(0, 1, 5, device="cuda")):
        assert make.device == "cuda:0", make
    assert x.sum().item() == 3.0 and float(x[1]) == 2.0 and x.tolist() == [1.0, 2.0]
    assert dg.tensor(cp.asarray([3.0])).device == "cuda:0"    # stays where the data is
    dg.manual_seed(3)
    a = dg.randn(5, device="cuda")
    dg.manual_seed(3)
    np.testing.assert_array_equal(host(a), dg.randn(5).numpy())


def test_moves_between_devices_are_differentiable(cp):
    x = dg.tensor([0.5, 1.5], requires_grad=True)
    y = (dg.sin(x.cuda()) * 3).sum().cpu()
    assert y.device == "cpu" and y.grad_fn is not None
    y.backward()
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), 3 * np.cos([0.5, 1.5]), rtol=RTOL)


def test_mixing_devices_is_a_clear_error(cp):
    x = dg.tensor([1.0, 2.0], device="cuda")
    with pytest.raises(RuntimeError, match="same device.*cuda:0 and cpu"):
        x + dg.tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match="same device"):
        dg.grad(lambda a, b: np.sum(a * b), argnums=(0, 1))(cp.ones(2), np.ones(2))
    # Numbers and 0-d CPU values go anywhere, as in PyTorch.
    close(x * 2.0 + dg.tensor(1.0), [3.0, 5.0])


def test_converting_gpu_values_to_numpy_says_how(cp):
    x = dg.tensor([1.0], device="cuda")
    with pytest.raises(TypeError, match=r"cpu\(\)"):
        x.numpy()
    with pytest.raises(TypeError, match=r"cpu\(\)"):
        np.asarray(x)


def test_backward_with_a_gradient_on_another_device_is_an_error(cp):
    x = dg.tensor([1.0, 2.0], device="cuda", requires_grad=True)
    with pytest.raises((RuntimeError, TypeError)):
        (x * 2).backward(np.ones(2))


# ---------------------------------------------------------------------------
# Functional transforms and the planner

def loss_a(x):
    """Workload A's shape: elementwise chains and reductions of NumPy code."""
    return np.sum(np.tanh(x) ** 2 + np.exp(-x * x) * np.sin(3 * x)) / len(x)


def vector_f(x):
    return np.sum(np.tanh(x[:, None] * x[None, :]), axis=1) + x[0] * np.sin(x)


@pytest.mark.parametrize("transform", ["grad", "value_and_grad", "jacfwd", "jacrev",
                                       "jacobian", "hessian", "hvp", "jvp", "vjp"])
def test_transforms_on_gpu_match_cpu(cp, transform):
    x = np.linspace(-1.2, 0.9, 7)
    v = np.cos(np.arange(7.0))
    xd, vd = cp.asarray(x), cp.asarray(v)
    if transform in ("grad", "value_and_grad", "hessian"):
        fn = getattr(dg, transform)(loss_a)
        got, want = fn(xd), fn(x)
    elif transform in ("jacfwd", "jacrev", "jacobian"):
        fn = getattr(dg, transform)(vector_f)
        got, want = fn(xd), fn(x)
    elif transform == "hvp":
        got, want = dg.hvp(loss_a, xd, vd), dg.hvp(loss_a, x, v)
    elif transform == "jvp":
        got, want = dg.jvp(vector_f, (xd,), (vd,)), dg.jvp(vector_f, (x,), (v,))
    else:
        (oc, fc), (og, fg) = dg.vjp(vector_f, x), dg.vjp(vector_f, xd)
        got, want = (og, fg(vd)), (oc, fc(v))
    for g, w in zip(*(got, want) if isinstance(want, tuple) else ((got,), (want,))):
        if isinstance(w, tuple):
            g, w = g[0], w[0]
        assert hasattr(g, "get"), "the result stays on the device"
        close(g, w, rtol=1e-11)


def test_nested_transforms_on_gpu(cp):
    x = np.linspace(-1.2, 0.9, 5)
    for xs in (x, cp.asarray(x)):
        grad_of_grad = dg.grad(lambda v: np.sum(dg.grad(loss_a)(v) * v))(xs)
        jvp_of_grad = dg.jvp(dg.grad(loss_a), (xs,), (xs * 0 + 1,))[1]
        if xs is x:
            want = grad_of_grad, jvp_of_grad
    close(grad_of_grad, want[0], rtol=1e-11)
    close(jvp_of_grad, want[1], rtol=1e-11)
    close(jvp_of_grad, dg.hessian(loss_a)(x).sum(axis=1), rtol=1e-11)


def test_planner_keeps_gpu_arguments_on_the_array_tier(cp):
    elementwise = lambda x: x[0] * x[1] + np.sin(x[2])     # the scalar tier's kind of code
    p = dg.plan(elementwise, cp.asarray([1.0, 2.0, 3.0]), kind="grad")
    assert p.tier == "array" and "cuda:0" in str(p)
    np.testing.assert_allclose(host(dg.grad(elementwise)(cp.asarray([1.0, 2.0, 3.0]))),
                               [2.0, 1.0, np.cos(3.0)], rtol=RTOL)


def test_tensor_workload_a_gradient_matches_cpu(cp):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(10_000)
    (yc, (gc,)), (yg, (gg,)) = on_both(cp, lambda t: ((dg.tanh(t) ** 2 + dg.exp(
        -t * t) * dg.sin(3 * t)).sum() / t.shape[0]), x)
    close(yg, yc)
    close(gg, gc)


def test_new_tensors_and_to_follow_the_device_of_their_model(cp):
    x = dg.tensor([1.0, 2.0], device="cuda")
    for t in (x.new_zeros(3), x.new_ones(2, 2), x.new_tensor([5.0])):
        assert t.device == "cuda:0"
    assert dg.tensor([1]).to(x).device == "cuda:0" and dg.tensor([1]).to(x).dtype == x.dtype
    assert dg.tensor([1.0]).cuda(0).device == "cuda:0"
    assert dg.cuda.is_available() and dg.cuda.device_count() >= 1
    dg.cuda.synchronize()


# ---------------------------------------------------------------------------
# Without CuPy

def test_without_cupy_the_cuda_device_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(dg.gpu, "_cupy", None)
    monkeypatch.setitem(sys.modules, "cupy", None)      # `import cupy` raises ImportError
    assert not dg.cuda.is_available() and dg.cuda.device_count() == 0
    assert not dg.gpu.is_device_array(np.ones(2))
    with pytest.raises(RuntimeError, match=r"needs CuPy.*dualgrad\[gpu\]"):
        dg.tensor([1.0], device="cuda")
    with pytest.raises(RuntimeError, match="needs CuPy"):
        dg.zeros(2).cuda()
    assert dg.zeros(2).cpu().device == "cpu"


def test_device_strings():
    assert dg.device("cuda:1") == "cuda:1" and dg.device("cuda", 1) == dg.device("cuda:1")
    assert repr(dg.device("cuda:1")) == "device(type='cuda', index=1)"
    assert dg.device("cpu") == "cpu" and dg.device("cpu") != "cuda:0"
    for bad in ("tpu", "cuda:x", "cpu:1"):
        with pytest.raises(RuntimeError):
            dg.device(bad)


def test_pytorch_style_functional_api_on_gpu_tensors(cp):
    F = dg.autograd.functional
    x = np.linspace(-1.0, 1.0, 4)
    v = np.cos(np.arange(4.0))
    f = lambda t: (dg.tanh(t) ** 2 * t).sum()
    g = lambda t: dg.sin(t) * t[0]
    for name, call in {
        "jacobian": lambda dev: F.jacobian(g, dg.tensor(x, device=dev)),
        "jacobian forward-mode": lambda dev: F.jacobian(
            g, dg.tensor(x, device=dev), strategy="forward-mode", vectorize=True),
        "hessian": lambda dev: F.hessian(f, dg.tensor(x, device=dev)),
        "hvp": lambda dev: F.hvp(f, dg.tensor(x, device=dev), dg.tensor(v, device=dev))[1],
        "vjp": lambda dev: F.vjp(g, dg.tensor(x, device=dev), dg.tensor(v, device=dev))[1],
        "jvp": lambda dev: F.jvp(g, dg.tensor(x, device=dev), dg.tensor(v, device=dev))[1],
    }.items():
        got, want = call("cuda"), call("cpu")
        assert got.device == "cuda:0", name
        close(got, want)


def test_gradcheck_on_gpu(cp):
    x = dg.tensor(np.linspace(0.2, 1.4, 5), device="cuda", requires_grad=True)
    assert dg.autograd.gradcheck(lambda t: dg.exp(t) * dg.sin(t), (x,))


def test_gradcheck_finds_a_wrong_gradient_on_gpu(cp):
    class Wrong(dg.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            ctx.save_for_backward(t)
            return dg.sin(t)

        @staticmethod
        def backward(ctx, g):
            t, = ctx.saved_tensors
            return g * dg.cos(t) * 1.01

    x = dg.tensor(np.linspace(0.2, 1.4, 3), device="cuda", requires_grad=True)
    with pytest.raises(dg.autograd.GradcheckError, match="Jacobian mismatch"):
        dg.autograd.gradcheck(Wrong.apply, (x,))
    assert dg.autograd.gradgradcheck(lambda t: dg.exp(t) * dg.sin(t), (x,))
