"""Complex numbers in every tier and mode of the array tier, against central
differences and PyTorch.

Conventions (docs/conventions.rst): a Tensor's ``.grad`` is PyTorch's, the
conjugate Wirtinger derivative dL/dx + i dL/dy of a real loss L of z = x + iy;
the functional transforms follow JAX, whose gradient is its conjugate,
dL/dx - i dL/dy, and whose ``holomorphic=True`` gives the complex derivative.
"""

import numpy as np
import pytest
import scipy.linalg
import torch

import dualgrad as dg
from dualgrad._array.dualarray import DualArray
from dualgrad._rules.table import RULES

H = 1e-6
RTOL, ATOL = 1e-6, 1e-7

# Away from every branch cut and pole of the rows (log, sqrt, the inverse
# trigonometric and hyperbolic functions): real parts in (0.3, 0.9), imaginary
# parts in (0.1, 0.5).
Z = np.array([0.45 + 0.2j, 0.8 + 0.35j, 0.6 + 0.45j])
W = np.array([0.7 + 0.15j, 0.35 + 0.4j, 0.5 + 0.3j])
U = np.array([0.3 - 1.1j, -0.7 + 0.4j, 1.2 + 0.5j])     # weights of complex outputs

COMPLEX_ROWS = [r for r in RULES if r.complex is not None]
REAL_ONLY = [r for r in RULES if r.complex is None]
TORCH_NAMES = {"sign": "sgn"}       # torch.sign is real only; torch.sgn is z / |z|


def _numpy(rule):
    return getattr(np, rule.ufuncs[0])


def _torch(rule):
    name = TORCH_NAMES.get(rule.name, rule.torch)
    return getattr(torch, name)


def _operands(rule):
    return (Z, W)[: rule.arity]


def _loss(w):
    """A real loss of a complex or real output: Re(sum conj(U) w)."""
    return np.real(np.sum(np.conj(U) * w))


def _fd_gradient(f, args, i):
    """JAX's gradient of a real f with respect to complex argument i, by
    central differences: df/dx - i df/dy, element by element."""
    z = args[i]
    g = np.zeros(z.shape, complex)
    for j in range(z.size):
        parts = []
        for step in (H, 1j * H):
            e = np.zeros(z.shape, complex)
            e.flat[j] = step
            plus = list(args)
            minus = list(args)
            plus[i], minus[i] = z + e, z - e
            parts.append((f(*plus) - f(*minus)) / (2 * H))
        g.flat[j] = parts[0] - 1j * parts[1]
    return g


# ---------------------------------------------------------------------------
# The table's rows

@pytest.mark.parametrize("rule", COMPLEX_ROWS, ids=lambda r: r.name)
def test_row_forward_mode(rule):
    """DualArray: the tangents along 1 and i of each operand against central
    differences of NumPy's ufunc."""
    fn = _numpy(rule)
    args = _operands(rule)
    for i in range(rule.arity):
        for direction in (1.0, 1j):
            duals = [DualArray(a, np.full((1,) + a.shape, direction if j == i else 0.0) + 0j)
                     for j, a in enumerate(args)]
            out = fn(*duals)
            plus = [a + H * direction if j == i else a for j, a in enumerate(args)]
            minus = [a - H * direction if j == i else a for j, a in enumerate(args)]
            fd = (fn(*plus) - fn(*minus)) / (2 * H)
            np.testing.assert_allclose(out.value, fn(*args), rtol=1e-14)
            np.testing.assert_allclose(out.tangent[0], fd, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("rule", COMPLEX_ROWS, ids=lambda r: r.name)
def test_row_reverse_mode_against_pytorch(rule):
    """Tensor: .grad as PyTorch's, and the conjugate of JAX's gradient by
    central differences."""
    fn, tfn = _numpy(rule), _torch(rule)
    args = _operands(rule)
    ours = [dg.tensor(a, requires_grad=True) for a in args]
    theirs = [torch.tensor(a, requires_grad=True) for a in args]
    w = fn(*ours)
    (w * np.conj(U)).real.sum().backward()
    tw = tfn(*theirs)
    (tw * torch.tensor(np.conj(U))).real.sum().backward()
    np.testing.assert_allclose(w.detach().numpy(), tw.detach().resolve_conj().numpy(),
                               rtol=1e-14)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.resolve_conj().numpy(), rtol=1e-12,
                                   atol=1e-14)
        fd = _fd_gradient(lambda *zs: _loss(fn(*zs)), args, i)
        np.testing.assert_allclose(np.conj(a.grad.numpy()), fd, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("rule", COMPLEX_ROWS, ids=lambda r: r.name)
def test_row_second_order(rule):
    """The Hessian of a real loss of real parameters through the row on complex
    numbers (forward over reverse), against differences of the gradient."""
    fn = _numpy(rule)

    def loss(p):
        z = p[:3] + 1j * p[3:6]
        args = (z, W + p[6:] * (0.1 + 0.2j))[: rule.arity]
        return _loss(fn(*args))
    p = np.concatenate([Z.real, Z.imag, [0.1, -0.2, 0.3]])
    hess = dg.hessian(loss)(p)
    grad = dg.grad(loss)
    for j in range(p.size):
        e = np.zeros(p.size)
        e[j] = 1e-5
        fd = (grad(p + e) - grad(p - e)) / 2e-5
        np.testing.assert_allclose(hess[:, j], fd, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hess, hess.T, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("rule", REAL_ONLY, ids=lambda r: r.name)
def test_rows_without_a_complex_extension_refuse_complex_numbers(rule):
    args = _operands(rule)
    if rule.integer:
        args = (np.array([1.0, 2.0, 0.0]),) + args[1:]
    for make in (lambda a: DualArray(a, np.ones((1,) + a.shape, complex)),
                 lambda a: dg.tensor(a, requires_grad=True)):
        operands = [make(a) if np.iscomplexobj(a) else a for a in args]
        if rule.arity == 1:
            operands = [make(Z)]
        fn = getattr(np, rule.ufuncs[0]) if rule.ufuncs else getattr(dg, rule.name)
        with pytest.raises(TypeError, match="not defined for complex numbers"):
            fn(*operands)


# ---------------------------------------------------------------------------
# Operations beyond the rows: Tensors against PyTorch, DualArrays against
# central differences

A = np.array([[1.0 + 0.5j, 0.3 - 0.2j, 0.1j], [0.2 + 0.1j, 0.9 - 0.4j, 0.3],
              [-0.1 + 0.2j, 0.4j, 1.1 + 0.3j]])
B = np.array([[0.5 - 0.1j, 0.2], [0.1j, -0.3 + 0.6j], [0.7, 0.2 + 0.2j]])

OPERATIONS = {
    "matmul": (lambda a, b: a @ b, lambda a, b: a @ b),
    "einsum": (lambda a, b: np.einsum("ij,jk->ik", a, b),
               lambda a, b: torch.einsum("ij,jk->ik", a, b)),
    "vdot": (lambda a, b: np.vdot(a[:, :2], b),
             lambda a, b: torch.vdot(a[:, :2].reshape(-1), b.reshape(-1))),
    "solve": (lambda a, b: np.linalg.solve(a, b), torch.linalg.solve),
    "solve vector": (lambda a, b: np.linalg.solve(a, b[:, 0]),
                     lambda a, b: torch.linalg.solve(a, b[:, 0])),
    "inv": (lambda a, b: np.linalg.inv(a) @ b, lambda a, b: torch.linalg.inv(a) @ b),
    "det": (lambda a, b: np.linalg.det(a) * b, lambda a, b: torch.linalg.det(a) * b),
    "prod": (lambda a, b: np.prod(a, axis=0) + b[0, 0], lambda a, b: torch.prod(a, 0) + b[0, 0]),
    "sum and mean": (lambda a, b: np.sum(a, axis=1) * np.mean(b), lambda a, b: a.sum(1) * b.mean()),
    "var": (lambda a, b: np.var(a, axis=0) + np.var(b),
            lambda a, b: torch.var(a, 0, unbiased=False) + torch.var(b, unbiased=False)),
    "std": (lambda a, b: np.std(a) * np.std(b, axis=1),
            lambda a, b: torch.std(a, unbiased=False) * torch.std(b, 1, unbiased=False)),
    "norm": (lambda a, b: np.linalg.norm(a) + np.linalg.norm(b, axis=0),
             lambda a, b: torch.linalg.norm(a) + torch.linalg.vector_norm(b, dim=0)),
    "indexing and shapes": (
        lambda a, b: np.concatenate([a[1:, ::-1].T, b], axis=1).reshape(-1),
        lambda a, b: torch.cat([a[1:].flip(1).T, b], 1).reshape(-1)),
    "parts": (
        lambda a, b: np.real(a) * np.imag(a) + np.angle(a) - np.abs(a) + np.sum(np.conj(a) @ b),
        lambda a, b: a.real * a.imag + torch.angle(a) - a.abs() + (a.conj() @ b).sum()),
    "eigvals": (lambda a, b: np.linalg.eigvals(a) * b[0, 0],
                lambda a, b: torch.linalg.eigvals(a) * b[0, 0]),
    "svd values": (lambda a, b: np.linalg.svd(a, compute_uv=False) * b[0, 0],
                   lambda a, b: torch.linalg.svdvals(a) * b[0, 0]),
    "eigvalsh": (lambda a, b: np.linalg.eigvalsh(a + np.conj(a.T)) * b[0, 0],
                 lambda a, b: torch.linalg.eigvalsh(a + a.mH) * b[0, 0]),
    "svd vectors": (lambda a, b: np.abs(np.linalg.svd(a)[0]) ** 2 @ np.abs(b)
                    + np.linalg.svd(a)[1][:, None] * np.abs(np.linalg.svd(a)[2][:, :2]),
                    lambda a, b: torch.linalg.svd(a)[0].abs() ** 2 @ b.abs()
                    + torch.linalg.svd(a)[1][:, None] * torch.linalg.svd(a)[2][:, :2].abs()),
    "eigh vectors": (lambda a, b: np.abs(np.linalg.eigh(a + np.conj(a.T))[1]) ** 2 @ b,
                     lambda a, b: (torch.linalg.eigh(a + a.mH)[1].abs() ** 2).to(b.dtype) @ b),
    "qr": (lambda a, b: np.abs(np.linalg.qr(a)[0]) ** 2 @ b + np.abs(np.linalg.qr(a)[1][:, :2]),
           lambda a, b: (torch.linalg.qr(a)[0].abs() ** 2).to(b.dtype) @ b
           + torch.linalg.qr(a)[1][:, :2].abs()),
    "pinv": (lambda a, b: np.linalg.pinv(a[:, :2]) @ b,
             lambda a, b: torch.linalg.pinv(a[:, :2]) @ b),
    "lstsq": (lambda a, b: np.linalg.lstsq(a, b)[0], lambda a, b: torch.linalg.lstsq(a, b)[0]),
    "expm": (lambda a, b: scipy.linalg.expm(a) @ b, lambda a, b: torch.linalg.matrix_exp(a) @ b),
    "slogdet": (lambda a, b: np.linalg.slogdet(a)[0] * b + np.linalg.slogdet(a)[1],
                lambda a, b: torch.linalg.slogdet(a)[0] * b + torch.linalg.slogdet(a)[1]),
    "cholesky": (lambda a, b: np.linalg.cholesky(a @ np.conj(a.T) + np.eye(3)) @ b,
                 lambda a, b: torch.linalg.cholesky(a @ a.mH + torch.eye(3)) @ b),
    "cholesky upper": (lambda a, b: np.linalg.cholesky(a @ np.conj(a.T) + np.eye(3), upper=True)
                       + 0 * b[0, 0],
                       lambda a, b: torch.linalg.cholesky(a @ a.mH + torch.eye(3), upper=True)
                       + 0 * b[0, 0]),
    "matrix_power": (lambda a, b: np.linalg.matrix_power(a, 3) @ b,
                     lambda a, b: torch.linalg.matrix_power(a, 3) @ b),
    "where": (lambda a, b: np.where(np.abs(a) > 0.5, a, 2 * a) * b[0, 0],
              lambda a, b: torch.where(a.abs() > 0.5, a, 2 * a) * b[0, 0]),
}


def _torch_loss(out):
    u = np.resize(U, out.shape) if out.dim() else U[0]
    return (out * torch.tensor(np.conj(u))).real.sum()


def _our_loss(out):
    u = np.resize(U, np.shape(out)) if np.ndim(out) else U[0]
    return np.real(np.sum(out * np.conj(u)))


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_tensor_operations_against_pytorch(name):
    ours_fn, torch_fn = OPERATIONS[name]
    a, b = dg.tensor(A, requires_grad=True), dg.tensor(B, requires_grad=True)
    ta, tb = torch.tensor(A, requires_grad=True), torch.tensor(B, requires_grad=True)
    out, tout = ours_fn(a, b), torch_fn(ta, tb)
    np.testing.assert_allclose(np.asarray(out.detach().numpy()), tout.detach().numpy(),
                               rtol=1e-12, atol=1e-14)
    _our_loss(out).backward()
    _torch_loss(tout).backward()
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(OPERATIONS))
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_functional_gradients_of_operations(name, mode):
    """JAX's gradient (d/dx - i d/dy) in both modes, against central differences."""
    fn = OPERATIONS[name][0]
    loss = lambda a, b: _our_loss(fn(a, b))  # noqa: E731
    got = dg.jacobian(loss, argnums=(0, 1), mode=mode)(A, B)
    for i in range(2):
        np.testing.assert_allclose(got[i], _fd_gradient(loss, (A, B), i), rtol=RTOL, atol=ATOL)


def test_create_graph_against_pytorch():
    """Reverse over reverse with complex values: the gradient of a real
    function of the gradient, as PyTorch."""
    z, tz = dg.tensor(Z, requires_grad=True), torch.tensor(Z, requires_grad=True)

    def f(x, lib):
        return (lib.exp(x) * x * x.conj()).real.sum() + lib.sin(x).imag.sum()
    (g,) = dg.autograd.grad(f(z, np), z, create_graph=True)
    (tg,) = torch.autograd.grad(f(tz, torch), tz, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), tg.detach().numpy(), rtol=1e-12)
    (g * g.conj()).real.sum().backward()
    (tg * tg.conj()).real.sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), tz.grad.numpy(), rtol=1e-10)


def test_real_tensors_meet_complex_numbers():
    """A real input of a complex computation gets the real part of the gradient."""
    x0 = np.array([0.3, -1.2])
    x, tx = dg.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    (np.abs(np.exp(x * (1 + 2j))) + (x * 1j).imag).sum().backward()
    (torch.exp(tx * (1 + 2j)).abs() + (tx * 1j).imag).sum().backward()
    assert x.grad.dtype == dg.float64
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    y = dg.tensor([0.5, 2.0], requires_grad=True)
    (y.to(dg.complex128) * (1 - 1j)).imag.sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), [-1.0, -1.0])


def test_gradcheck_takes_complex_inputs():
    z = dg.tensor(Z, requires_grad=True)
    assert dg.autograd.gradcheck(lambda x: np.exp(x) * x.conj(), (z,))
    assert dg.autograd.gradcheck(lambda x: np.abs(x) ** 2, (z,))


def test_dualarray_refuses_complex_tangents_of_real_values():
    with pytest.raises(TypeError, match="must be real"):
        DualArray(np.ones(2), np.ones((1, 2)) * 1j)
    d = DualArray(Z, np.ones((1, 3)))           # a complex value moving along real directions
    np.testing.assert_allclose(np.exp(d).tangent[0], np.exp(Z))


@pytest.mark.parametrize("name", ["max", "min", "logsumexp", "softmax"])
def test_operations_without_complex_derivatives_refuse(name):
    fns = {"max": np.max, "min": np.min,
           "logsumexp": lambda t: t.logsumexp(0), "softmax": lambda t: t.softmax(0)}
    a = dg.tensor(A, requires_grad=True)
    with pytest.raises(TypeError, match="complex"):
        fns[name](a)
    if name in ("max", "min"):
        with pytest.raises(TypeError, match="complex"):
            fns[name](DualArray(A, np.ones((1, 3, 3))))


# ---------------------------------------------------------------------------
# The functional transforms: JAX's conventions

def f_real(z):
    return np.sum(np.abs(np.exp(z) * z) ** 2 + np.real(z ** 3))


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_grad_is_jax_gradient(mode, forced_plan):
    forced_plan.update(tier="array", mode=mode)
    np.testing.assert_allclose(dg.grad(f_real)(Z), _fd_gradient(f_real, (Z,), 0),
                               rtol=RTOL, atol=ATOL)
    g = dg.grad(lambda z: abs(z) ** 2)(1 + 2j)
    assert type(g) is complex and g == pytest.approx(2 - 4j)      # jax.grad: 2 conj(z)


def test_grad_of_mixed_real_and_complex_arguments():
    def f(x, p):
        return np.sum(np.abs(p["z"] * x) ** 2) + p["r"] * x[0]
    p = {"z": Z, "r": 0.5}
    gx, gp = dg.grad(f, argnums=(0, 1))(np.array([1.0, 2.0, 3.0]), p)
    assert gx.dtype == np.float64 and gp["z"].dtype == np.complex128 and type(gp["r"]) is float
    np.testing.assert_allclose(gp["z"], _fd_gradient(lambda z: f(np.array([1.0, 2.0, 3.0]),
                                                                 {"z": z, "r": 0.5}), (Z,), 0),
                               rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(gx, 2 * np.abs(Z) ** 2 * [1.0, 2.0, 3.0] + [0.5, 0, 0])


def test_complex64_arguments_give_complex64_gradients():
    g = dg.grad(f_real)(Z.astype(np.complex64))
    assert g.dtype == np.complex64
    np.testing.assert_allclose(g, dg.grad(f_real)(Z.astype(np.complex64).astype(complex)),
                               rtol=1e-6)


def g_holo(z):
    return np.sin(z) * z ** 2 + np.exp(1j * z)


def g_holo_prime(z):
    return np.cos(z) * z ** 2 + 2 * z * np.sin(z) + 1j * np.exp(1j * z)


@pytest.mark.parametrize("transform", ["jacfwd", "jacrev", "jacobian"])
def test_holomorphic_jacobians(transform):
    jac = getattr(dg, transform)(g_holo, holomorphic=True)(Z)
    np.testing.assert_allclose(jac, np.diag(g_holo_prime(Z)), rtol=1e-12)
    assert dg.grad(lambda z: g_holo(z), holomorphic=True)(0.5 + 0.2j) == pytest.approx(
        g_holo_prime(0.5 + 0.2j), rel=1e-12)
    v, g = dg.value_and_grad(lambda z: np.sum(g_holo(z)), holomorphic=True)(Z)
    np.testing.assert_allclose(g, g_holo_prime(Z), rtol=1e-12)


def test_complex_errors_follow_jax():
    with pytest.raises(TypeError, match="real-valued outputs.*holomorphic=True"):
        dg.grad(lambda z: z ** 2)(1 + 2j)
    with pytest.raises(TypeError, match="requires complex inputs"):
        dg.grad(lambda x: x * 1j, holomorphic=True)(1.0)
    with pytest.raises(TypeError, match="requires complex outputs"):
        dg.grad(lambda z: np.abs(z), holomorphic=True)(1 + 2j)
    with pytest.raises(TypeError, match="real-valued outputs"):
        dg.jacobian(lambda z: np.conj(z) * z ** 2)(Z)      # complex to complex, not holomorphic
    with pytest.raises(TypeError, match="real-valued outputs"):
        dg.jacrev(lambda x: np.exp(1j * x))(np.ones(2))
    for transform in (dg.hessian(f_real), lambda z: dg.hvp(f_real, z, z)):
        with pytest.raises(TypeError, match="real and imaginary parts"):
            transform(Z)


def test_complex_outputs_of_real_arguments_by_forward_mode():
    x = np.array([0.3, 0.7])
    expect = np.diag(1j * np.exp(1j * x) * x + np.exp(1j * x))
    for jac in (dg.jacobian, dg.jacfwd):
        np.testing.assert_allclose(jac(lambda x: np.exp(1j * x) * x)(x), expect, rtol=1e-12)
    assert "f returns complex values: forward mode" in str(dg.plan(lambda x: np.exp(1j * x), x))


def test_jvp_and_vjp_of_complex_arguments():
    t = np.array([1.0, 1j, 0.5 - 0.5j])
    out, tangent = dg.jvp(lambda z: np.exp(z) * np.conj(z), (Z,), (t,))
    fd = (np.exp(Z + H * t) * np.conj(Z + H * t)
          - np.exp(Z - H * t) * np.conj(Z - H * t)) / (2 * H)
    np.testing.assert_allclose(tangent, fd, rtol=RTOL, atol=ATOL)
    out, vjp_fn = dg.vjp(np.exp, Z)
    (ct,) = vjp_fn(U)
    np.testing.assert_allclose(ct, U * np.exp(Z), rtol=1e-12)       # JAX: ct * f'(z)
    with pytest.raises(TypeError, match="complex where real numbers are needed"):
        dg.jvp(np.sin, (np.ones(2),), (np.ones(2) * 1j,))


def test_complex_arguments_run_on_the_array_tier():
    p = dg.plan(f_real, Z)
    assert p.tier == "array" and "complex" in str(p)


def test_gradcheck_catches_a_gradient_without_the_conjugate():
    class Square(dg.autograd.Function):
        @staticmethod
        def forward(ctx, z):
            ctx.save_for_backward(z)
            return z * z

        @staticmethod
        def backward(ctx, g):
            (z,) = ctx.saved_tensors
            return g * 2 * z            # PyTorch's is g * conj(2 z)
    z = dg.tensor(Z, requires_grad=True)
    with pytest.raises(dg.autograd.GradcheckError, match="imaginary part|real part"):
        dg.autograd.gradcheck(Square.apply, (z,))


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_transforms_of_transforms_of_complex_arguments(mode):
    """An inner grad whose complex argument carries an outer transform's
    derivatives, in both its real and imaginary parts."""
    def inner(s):
        return dg.grad(f_real)(Z * s)

    def inner_holomorphic(s):
        return dg.grad(lambda z: np.sum(np.sin(z) * z), holomorphic=True)(Z * s)
    for g in (inner, inner_holomorphic):
        outer = lambda s: np.abs(g(s)) ** 2  # noqa: E731
        fd = (outer(1.0 + H) - outer(1.0 - H)) / (2 * H)
        np.testing.assert_allclose(dg.jacobian(outer, mode=mode)(1.0), fd, rtol=1e-6)
        if mode == "forward":
            np.testing.assert_allclose(dg.jvp(g, (1.0,), (1.0,))[1],
                                       (g(1.0 + H) - g(1.0 - H)) / (2 * H), rtol=1e-6)


@pytest.mark.parametrize("rule", [r for r in COMPLEX_ROWS if r.ufuncs and r.name != "abs"],
                         ids=lambda r: r.name)
def test_fused_complex_loops_equal_the_general_path(rule):
    """complex128 DualArrays take one C loop per row (rules.h's dgc_<name>_tangents,
    generated from the table's complex derivatives); a strided view takes the
    general path, from the same table."""
    from dualgrad._array import dualarray
    fn = getattr(np, rule.ufuncs[0])
    rng = np.random.default_rng(3)
    tangents = rng.standard_normal((2, 2, 3)) + 1j * rng.standard_normal((2, 2, 3))
    strided = [np.repeat(a, 2)[::2] for a in (Z, W)]         # views: not contiguous
    for constant in (None, 0, 1):
        args, general = [], []
        for i, a in enumerate((Z, W)[: rule.arity]):
            if i == constant:
                args.append(a)
                general.append(strided[i])
            else:
                args.append(DualArray(a, tangents[i]))
                general.append(DualArray(strided[i], tangents[i][:, :]))
        if all(type(a) is np.ndarray for a in args):
            continue
        assert dualarray.uses_complex_loop(rule.opcode, tuple(args))
        assert not dualarray.uses_complex_loop(rule.opcode, tuple(general))
        fast, slow = fn(*args), fn(*general)
        np.testing.assert_array_equal(fast.value, slow.value)
        np.testing.assert_allclose(fast.tangent, slow.tangent, rtol=1e-14, atol=1e-15)
    number = DualArray(Z, tangents[0]) * (2 - 1j)
    np.testing.assert_allclose(number.tangent, tangents[0] * (2 - 1j), rtol=1e-15)
