"""Decompositions and functions of matrices (dualgrad._array.linalg, the
np.linalg rows of the registry, dg.linalg): values equal NumPy's and SciPy's;
first derivatives in forward and reverse mode against central differences and
against PyTorch; second derivatives (dg.hessian, in both orders) against
central differences of dg.grad; and the policy at repeated singular values
and eigenvalues.

Losses of singular vectors and eigenvectors are gauge invariant (squares of
their entries, projectors), as their signs are those computed."""

import warnings

import numpy as np
import pytest

import dualgrad as dg
from dualgrad._array import linalg as L
from dualgrad._array.composites import values_of
from dualgrad._array.dualarray import DualArray

scipy_linalg = pytest.importorskip("scipy.linalg")

RTOL1, ATOL1 = 1e-6, 1e-7
RTOL2, ATOL2 = 1e-5, 1e-6


def _rng(seed=0):
    return np.random.default_rng(seed)


def _matrix(m, n, seed=0):
    return _rng(seed).standard_normal((m, n))


def _symmetric(n, seed=0):
    a = _matrix(n, n, seed)
    return a + a.T


def _spd(n, seed=0):
    a = _matrix(n, n, seed)
    return a @ a.T + n * np.eye(n)


def _flat(*parts):
    return np.concatenate([np.reshape(p, -1) for p in parts])


def _projector(Q):
    return np.matmul(Q, np.swapaxes(Q, -1, -2))


B3 = _matrix(3, 2, 7)
b3 = _matrix(3, 1, 8)[:, 0]
BAND = np.array([[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0], [8.0, 9.0, 1.0, 0.0]]) + 5.0

# name: (f of one array, the point); f uses the NumPy (or SciPy-twin) function
# as user code does.
CASES = {
    "svdvals": (lambda a: np.linalg.svd(a, compute_uv=False), _matrix(4, 3)),
    "svd thin": (lambda a: _flat(*[t ** 2 for t in np.linalg.svd(a, full_matrices=False)]),
                 _matrix(4, 3)),
    "svd thin wide": (lambda a: _flat(*[t ** 2 for t in np.linalg.svd(a, full_matrices=False)]),
                      _matrix(3, 4)),
    "svd full tall": (lambda a: _flat(np.linalg.svd(a)[0] ** 2), _matrix(4, 3)),
    "svd full wide": (lambda a: _projector(np.swapaxes(np.linalg.svd(a)[2][2:], -1, -2)),
                      _matrix(2, 4)),
    "svd batch": (lambda a: np.linalg.svd(a)[0] ** 2 + np.linalg.svd(a)[1][..., None, :],
                  _matrix(6, 3).reshape(2, 3, 3)),
    "svd U diag(f(s)) Vh": (lambda a: (lambda u, s, vh: u @ (np.sin(s)[:, None] * vh))(
        *np.linalg.svd(a, full_matrices=False)), _matrix(4, 3)),
    "svd hermitian": (lambda a: _flat(*[t ** 2 for t in np.linalg.svd(a, hermitian=True)]),
                      _symmetric(3)),
    "svd hermitian values": (lambda a: np.linalg.svd(a, compute_uv=False, hermitian=True),
                             _symmetric(3, 1)),
    "eigh": (lambda a: _flat(np.linalg.eigh(a)[0], np.linalg.eigh(a)[1] ** 2), _symmetric(3)),
    "eigh upper, any matrix": (lambda a: _flat(*[t ** 2 for t in np.linalg.eigh(a, "U")]),
                               _matrix(3, 3, 2)),
    "eigh batch": (lambda a: np.linalg.eigh(a)[1] ** 2, np.stack([_symmetric(3, 3),
                                                                  _symmetric(3, 4)])),
    "eigvalsh": (lambda a: np.linalg.eigvalsh(a), _matrix(3, 3, 5)),
    "eigvalsh upper": (lambda a: np.linalg.eigvalsh(a, UPLO="U"), _matrix(3, 3, 5)),
    "qr": (lambda a: _flat(*np.linalg.qr(a)), _matrix(4, 3)),
    "qr wide": (lambda a: _flat(*np.linalg.qr(a)), _matrix(3, 4)),
    "qr complete square": (lambda a: _flat(*np.linalg.qr(a, mode="complete")), _matrix(3, 3)),
    "qr r": (lambda a: np.linalg.qr(a, mode="r"), _matrix(4, 3)),
    "qr batch": (lambda a: np.linalg.qr(a)[0], _matrix(6, 3).reshape(2, 3, 3)),
    "pinv": (lambda a: np.linalg.pinv(a), _matrix(4, 3)),
    "pinv wide": (lambda a: np.linalg.pinv(a, rtol=None), _matrix(2, 3)),
    "pinv hermitian": (lambda a: np.linalg.pinv(a, hermitian=True), _matrix(3, 3, 3)),
    "lstsq": (lambda a: np.linalg.lstsq(a, B3[:, 0])[0], _matrix(3, 2)),
    "lstsq residuals": (lambda a: np.linalg.lstsq(a, B3)[1], _matrix(3, 2)),
    "lstsq singular values": (lambda a: np.linalg.lstsq(a, B3)[3], _matrix(3, 2)),
    "matrix_power": (lambda a: np.linalg.matrix_power(a, 5), _matrix(3, 3) / 2),
    "matrix_power negative": (lambda a: np.linalg.matrix_power(a, -2), _matrix(3, 3)),
    "matrix_power 0": (lambda a: np.linalg.matrix_power(a, 0) * a, _matrix(3, 3)),
    "multi_dot": (lambda a: np.linalg.multi_dot([a, a.T, a[:, 0]]), _matrix(3, 2)),
    "norm nuc": (lambda a: np.linalg.norm(a, "nuc"), _matrix(4, 3)),
    "norm 2": (lambda a: np.linalg.norm(a, 2), _matrix(4, 3)),
    "norm -2": (lambda a: np.linalg.norm(a, -2), _matrix(4, 3)),
    "norm 1 over axes": (lambda a: np.linalg.norm(a, 1, axis=(2, 0), keepdims=True),
                         _matrix(6, 4).reshape(2, 3, 4)),
    "norm inf": (lambda a: np.linalg.norm(a, np.inf), _matrix(4, 3)),
    "norm nuc over axes": (lambda a: np.linalg.norm(a, "nuc", axis=(0, 2)),
                           _matrix(6, 4).reshape(2, 3, 4)),
    "cond": (lambda a: np.linalg.cond(a), _matrix(3, 3)),
    "cond fro": (lambda a: np.linalg.cond(a, "fro"), _matrix(3, 3)),
    "solve batch, vector": (lambda a: np.linalg.solve(a, b3),
                            _matrix(6, 3).reshape(2, 3, 3) + 3 * np.eye(3)),
    "solve batch, vector b": (lambda b: np.linalg.solve(_matrix(6, 3).reshape(2, 3, 3), b), b3),
    "inv batch": (lambda a: np.linalg.inv(a), _matrix(6, 3).reshape(2, 3, 3)),
    "det batch": (lambda a: np.linalg.det(a), _matrix(6, 3).reshape(2, 3, 3)),
    "slogdet batch": (lambda a: np.linalg.slogdet(a)[1], _matrix(6, 3).reshape(2, 3, 3)),
    "lu": (lambda a: _flat(*L.lu(a)[1:]), _matrix(3, 3)),
    "lu tall": (lambda a: _flat(*L.lu(a)[1:]), _matrix(4, 3)),
    "lu wide": (lambda a: _flat(*L.lu(a)[1:]), _matrix(3, 4)),
    "lu permute_l": (lambda a: _flat(*L.lu(a, permute_l=True)), _matrix(3, 3)),
    "solve_triangular": (lambda a: L.solve_triangular(a, B3), _matrix(3, 3) + 3 * np.eye(3)),
    "solve_triangular lower, trans": (lambda a: L.solve_triangular(a, b3, trans=1, lower=True),
                                      _matrix(3, 3) + 3 * np.eye(3)),
    "solve_triangular unit, b": (lambda a: L.solve_triangular(a[:, :3], a[:, 3:] ** 2, trans="T",
                                                              unit_diagonal=True), _matrix(3, 5)),
    "cho_factor": (lambda a: L.cho_factor(a)[0], _spd(3)),
    "cho_factor lower": (lambda a: L.cho_factor(a, lower=True)[0], _spd(3)),
    "cho_solve": (lambda a: L.cho_solve(L.cho_factor(a), B3), _spd(3)),
    "cho_solve lower": (lambda a: L.cho_solve(L.cho_factor(a, True), b3), _spd(3)),
    "solve_sylvester": (lambda a: L.solve_sylvester(a[:, :3], a[:, 3:] @ a[:, 3:].T, a[:, :3].T),
                        _matrix(3, 6) + np.hstack([3 * np.eye(3), np.eye(3)])),
    "solve_banded": (lambda ab: L.solve_banded((1, 1), ab, B3.T[0, :] @ np.ones((3, 4))), BAND),
    "expm": (lambda a: L.expm(a), _matrix(3, 3) / 2),
    "expm batch": (lambda a: L.expm(a), _matrix(4, 2).reshape(2, 2, 2)),
    "expm, squarings": (lambda a: L.expm(a) / 1e3, _matrix(3, 3) * 6),
    "logm": (lambda a: L.logm(a), _spd(2)),
    "sqrtm": (lambda a: L.sqrtm(a), _spd(3)),
}

# Plain-value references: the same functions through NumPy or SciPy.
SCIPY_TWINS = {L.lu: scipy_linalg.lu, L.solve_triangular: scipy_linalg.solve_triangular,
               L.cho_factor: scipy_linalg.cho_factor, L.cho_solve: scipy_linalg.cho_solve,
               L.solve_sylvester: scipy_linalg.solve_sylvester,
               L.solve_banded: scipy_linalg.solve_banded, L.expm: scipy_linalg.expm,
               L.logm: scipy_linalg.logm, L.sqrtm: scipy_linalg.sqrtm}

# The second-order checks, fewer (each nests the rules).
SECOND = ["svdvals", "svd thin", "svd full tall", "svd full wide", "svd hermitian", "eigh",
          "eigh upper, any matrix", "eigvalsh upper", "qr", "qr wide", "pinv", "lstsq",
          "matrix_power negative", "norm nuc", "norm 2", "cond", "solve batch, vector",
          "lu tall", "lu wide", "solve_triangular unit, b", "cho_solve", "solve_sylvester",
          "solve_banded", "expm", "expm, squarings", "logm", "sqrtm"]


@pytest.fixture(autouse=True)
def _quiet():
    # SciPy's logm warns of its own error estimates; the checks say what matters.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _values(f, x):
    return np.asarray(f(x), dtype=np.float64)


def _central(f, x, v, h=1e-6):
    return (_values(f, x + h * v) - _values(f, x - h * v)) / (2 * h)


def _weights(f, x, seed=1):
    return _rng(seed).standard_normal(np.shape(_values(f, x)))


# ---------------------------------------------------------------------------
# Values

def test_values_equal_numpy_and_scipy():
    a, s = _matrix(4, 3), _symmetric(3)
    x = DualArray(a, np.zeros((1, 4, 3)))
    for traced, plain in [
            (np.linalg.svd(x), np.linalg.svd(a)),
            (np.linalg.svd(x, full_matrices=False), np.linalg.svd(a, full_matrices=False)),
            ((np.linalg.svd(x, compute_uv=False),), (np.linalg.svd(a, compute_uv=False),)),
            (np.linalg.qr(x), np.linalg.qr(a)), (np.linalg.pinv(x), np.linalg.pinv(a)),
            (np.linalg.lstsq(x, B3[:, :1].repeat(2, 0)[:4])[:2],
             np.linalg.lstsq(a, B3[:, :1].repeat(2, 0)[:4])[:2])]:
        for t, p in zip(traced, plain):
            np.testing.assert_allclose(t.value, p, rtol=1e-12, atol=1e-14)
    assert np.linalg.lstsq(x, np.ones(4))[2] == np.linalg.lstsq(a, np.ones(4))[2]
    y = DualArray(s, np.zeros((1, 3, 3)))
    for t, p in zip(np.linalg.eigh(y), np.linalg.eigh(s)):
        np.testing.assert_allclose(t.value, p, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.linalg.eigvalsh(y).value, np.linalg.eigvalsh(s), rtol=1e-12)
    for ord in ("nuc", 2, -2, 1, -1, np.inf, -np.inf, "fro"):
        np.testing.assert_allclose(np.linalg.norm(x, ord).value, np.linalg.norm(a, ord),
                                   rtol=1e-12)
    assert type(np.linalg.svd(x)).__name__ == "SVDResult"
    assert type(np.linalg.eigh(y)).__name__ == "EighResult"
    assert type(np.linalg.qr(x)).__name__ == "QRResult"


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_of_traced_calls(name):
    """Every case: its value on DualArrays and on Tensors is its value on arrays."""
    f, x = CASES[name]
    expected = _values(f, x)
    y, _ = dg.jvp(f, (x,), (np.ones_like(x),))
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)
    t = f(dg.tensor(x, requires_grad=True))
    np.testing.assert_allclose(np.asarray(t.detach().numpy()), expected, rtol=1e-10,
                               atol=1e-12)


def test_scipy_twins_give_scipy_values():
    a, p = _matrix(3, 3) + 3 * np.eye(3), _spd(3)
    t, tp = dg.tensor(a, requires_grad=True), dg.tensor(p, requires_grad=True)
    tb, rhs = dg.tensor(BAND, requires_grad=True), b3[[0, 1, 2, 0]]
    for ours, theirs in [(L.lu(t), scipy_linalg.lu(a)),
                         (L.cho_factor(tp), scipy_linalg.cho_factor(p)),
                         ((L.solve_triangular(t, B3, lower=True),),
                          (scipy_linalg.solve_triangular(a, B3, lower=True),)),
                         ((L.solve_sylvester(t, t.T, t),),
                          (scipy_linalg.solve_sylvester(a, a.T, a),)),
                         ((L.solve_banded((1, 1), tb, rhs),),
                          (scipy_linalg.solve_banded((1, 1), BAND, rhs),)),
                         ((L.expm(t / 3),), (scipy_linalg.expm(a / 3),)),
                         ((L.logm(tp),), (scipy_linalg.logm(p),)),
                         ((L.sqrtm(tp),), (scipy_linalg.sqrtm(p),))]:
        for o, e in zip(ours, theirs):
            if isinstance(e, bool):
                assert o is e
                continue
            np.testing.assert_allclose(values_of(o), e, rtol=1e-10, atol=1e-12)
    # cho_solve of SciPy's own factor: the same x
    c = scipy_linalg.cho_factor(p)
    np.testing.assert_allclose(L.cho_solve(c, B3), scipy_linalg.cho_solve(c, B3), rtol=1e-12)


# ---------------------------------------------------------------------------
# First order: forward and reverse mode against central differences

@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_first_order(name, mode, forced_plan):
    f, x = CASES[name]
    forced_plan.update(tier="array", mode=mode)
    v = _rng(2).standard_normal(x.shape)
    u = _weights(f, x)
    ref = _central(f, x, v)
    _, jv = dg.jvp(f, (x,), (v,))
    np.testing.assert_allclose(jv, ref, rtol=RTOL1, atol=ATOL1, err_msg="jvp")
    (ju,) = dg.vjp(f, x)[1](u)
    np.testing.assert_allclose(np.sum(ju * v), np.sum(u * ref), rtol=RTOL1, atol=ATOL1,
                               err_msg="vjp")
    g = dg.grad(lambda z: np.sum(u * f(z)))(x)
    np.testing.assert_allclose(g, ju, rtol=1e-10, atol=1e-12, err_msg="grad")


# ---------------------------------------------------------------------------
# Second order: dg.hessian (both nestings) against central differences of dg.grad

@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("name", SECOND)
def test_second_order(name, mode, forced_plan):
    f, x = CASES[name]
    forced_plan.update(tier="array", mode=mode)
    u = _weights(f, x)

    def loss(z):
        return np.sum(u * f(z))
    grad = dg.grad(loss)
    v = _rng(3).standard_normal(x.shape)
    h = 1e-5
    ref = (grad(x + h * v) - grad(x - h * v)) / (2 * h)
    H = np.reshape(dg.hessian(loss)(x), (x.size, x.size))
    np.testing.assert_allclose(H @ v.ravel(), ref.ravel(), rtol=RTOL2, atol=ATOL2,
                               err_msg="hessian")
    np.testing.assert_allclose(H, H.T, rtol=1e-8, atol=1e-9, err_msg="symmetric")
    np.testing.assert_allclose(dg.hvp(loss, x, v), ref, rtol=RTOL2, atol=ATOL2, err_msg="hvp")


def test_reverse_over_reverse_and_create_graph():
    a = _matrix(4, 3)
    u = _weights(CASES["svd thin"][0], a)

    def loss(z):
        return np.sum(u * CASES["svd thin"][0](z))
    H1 = dg.jacrev(dg.grad(loss))(a)
    H2 = dg.jacfwd(dg.grad(loss))(a)
    np.testing.assert_allclose(H1, H2, rtol=1e-8, atol=1e-9)
    t = dg.tensor(_symmetric(3), requires_grad=True)
    w, V = dg.linalg.eigh(t)
    (g,) = dg.autograd.grad([(w ** 3).sum() + (V ** 4).sum()], [t], create_graph=True)
    (gg,) = dg.autograd.grad([(g * g).sum()], [t])
    torch = pytest.importorskip("torch")
    tt = torch.tensor(_symmetric(3), requires_grad=True)
    # The matrix our eigh sees: the lower triangle mirrored.
    wt, Vt = torch.linalg.eigh(torch.tril(tt) + torch.tril(tt, -1).mT)
    (gt,) = torch.autograd.grad((wt ** 3).sum() + (Vt ** 4).sum(), tt, create_graph=True)
    (ggt,) = torch.autograd.grad((gt * gt).sum(), tt)
    np.testing.assert_allclose(g.detach().numpy(), gt.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gg.numpy(), ggt.numpy(), rtol=1e-8, atol=1e-10)


# ---------------------------------------------------------------------------
# Against PyTorch (float64, CPU)

def _torch_cases(torch):
    W43, W33 = _weights(lambda a: a, _matrix(4, 3), 4), _weights(lambda a: a, _matrix(3, 3), 5)
    tW43, tW33 = torch.tensor(W43), torch.tensor(W33)
    return {
        "svd": (lambda a: (dg.linalg.svd(a, full_matrices=False).U ** 2 * W43).sum()
                + (dg.linalg.svd(a).Vh ** 2 * W33).sum() + dg.linalg.svd(a).S.sum(),
                lambda a: (torch.linalg.svd(a, full_matrices=False).U ** 2 * tW43).sum()
                + (torch.linalg.svd(a).Vh ** 2 * tW33).sum() + torch.linalg.svd(a).S.sum(),
                _matrix(4, 3)),
        "svdvals": (lambda a: (dg.linalg.svdvals(a) ** 3).sum(),
                    lambda a: (torch.linalg.svdvals(a) ** 3).sum(), _matrix(3, 4)),
        "eigh": (lambda a: (dg.linalg.eigh(a + a.mT).eigenvectors ** 2 * W33).sum()
                 + dg.linalg.eigh(a + a.mT).eigenvalues[0],
                 lambda a: (torch.linalg.eigh(a + a.mT).eigenvectors ** 2 * tW33).sum()
                 + torch.linalg.eigh(a + a.mT).eigenvalues[0], _matrix(3, 3)),
        "eigvalsh": (lambda a: (dg.linalg.eigvalsh(a + a.mT) ** 3).sum(),
                     lambda a: (torch.linalg.eigvalsh(a + a.mT) ** 3).sum(), _matrix(3, 3)),
        # (complex eigenvalues and vectors of a real matrix; |V| is phase-free)
        "eig": (lambda a: (np.abs(np.linalg.eig(a)[1]) ** 2 * W33).sum()
                + np.real(np.linalg.eigvals(a) ** 2).sum(),
                lambda a: (torch.linalg.eig(a).eigenvectors.abs() ** 2 * tW33).sum()
                + (torch.linalg.eigvals(a) ** 2).real.sum(), _matrix(3, 3, 7)),
        "qr": (lambda a: (dg.linalg.qr(a).Q * W43).sum() + dg.linalg.qr(a).R.sum(),
               lambda a: (torch.linalg.qr(a).Q * tW43).sum() + torch.linalg.qr(a).R.sum(),
               _matrix(4, 3)),
        "pinv": (lambda a: (dg.linalg.pinv(a) ** 2).sum(),
                 lambda a: (torch.linalg.pinv(a) ** 2).sum(), _matrix(4, 3)),
        "lstsq": (lambda a: (dg.linalg.lstsq(a, dg.tensor(W43[:, :2])).solution ** 2).sum(),
                  lambda a: (torch.linalg.lstsq(a, tW43[:, :2]).solution ** 2).sum(),
                  _matrix(4, 3)),
        "matrix_power": (lambda a: (dg.linalg.matrix_power(a, -3) * W33).sum(),
                         lambda a: (torch.linalg.matrix_power(a, -3) * tW33).sum(),
                         _matrix(3, 3) + 2 * np.eye(3)),
        "matrix_norm nuc": (lambda a: dg.linalg.matrix_norm(a, "nuc"),
                            lambda a: torch.linalg.matrix_norm(a, "nuc"), _matrix(4, 3)),
        "matrix_norm 2": (lambda a: dg.linalg.matrix_norm(a, 2),
                          lambda a: torch.linalg.matrix_norm(a, 2), _matrix(4, 3)),
        "norm -2": (lambda a: dg.linalg.norm(a, -2), lambda a: torch.linalg.norm(a, -2),
                    _matrix(4, 3)),
        "norm inf": (lambda a: dg.linalg.norm(a, np.inf), lambda a: torch.linalg.norm(a, np.inf),
                     _matrix(4, 3)),
        "solve_triangular": (
            lambda a: (dg.linalg.solve_triangular(a[:3], a[1:] ** 2, upper=True) * W33).sum()
            + dg.linalg.solve_triangular(a[:3], a[1:], upper=False, left=False,
                                         unitriangular=True).sum(),
            lambda a: (torch.linalg.solve_triangular(a[:3], a[1:] ** 2, upper=True) * tW33).sum()
            + torch.linalg.solve_triangular(a[:3], a[1:], upper=False, left=False,
                                            unitriangular=True).sum(),
            _matrix(4, 3) + np.vstack([3 * np.eye(3), np.zeros((1, 3))])),
        "lu": (lambda a: (dg.linalg.lu(a).L * W43).sum() + (dg.linalg.lu(a).U ** 2).sum(),
               lambda a: (torch.linalg.lu(a).L * tW43).sum() + (torch.linalg.lu(a).U ** 2).sum(),
               _matrix(4, 3)),
        "matrix_exp": (lambda a: (dg.linalg.matrix_exp(a) * W33).sum(),
                       lambda a: (torch.linalg.matrix_exp(a) * tW33).sum(), _matrix(3, 3)),
        "solve batch vector": (
            lambda a: (dg.linalg.solve(a, dg.tensor(b3)) ** 2).sum(),
            lambda a: (torch.linalg.solve(a, torch.tensor(b3)) ** 2).sum(),
            _matrix(6, 3).reshape(2, 3, 3) + 3 * np.eye(3)),
    }


TORCH_NAMES = ["svd", "svdvals", "eigh", "eigvalsh", "eig", "qr", "pinv", "lstsq", "matrix_power",
               "matrix_norm nuc", "matrix_norm 2", "norm -2", "norm inf", "solve_triangular",
               "lu", "matrix_exp", "solve batch vector"]


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_gradients_against_torch(name):
    torch = pytest.importorskip("torch")
    ours, theirs, x = _torch_cases(torch)[name]
    a = dg.tensor(x, requires_grad=True)
    out = ours(a)
    (g,) = dg.autograd.grad([out], [a], create_graph=True)
    t = torch.tensor(x, requires_grad=True)
    ot = theirs(t)
    (gt,) = torch.autograd.grad(ot, t, create_graph=True)
    np.testing.assert_allclose(out.item(), ot.item(), rtol=1e-10)
    np.testing.assert_allclose(g.detach().numpy(), gt.detach().numpy(), rtol=1e-8, atol=1e-10)
    # Second order: the gradient of one entry of the gradient
    (gg,) = dg.autograd.grad([g.sum()], [a])
    (ggt,) = torch.autograd.grad(gt.sum(), t)
    np.testing.assert_allclose(gg.numpy(), ggt.numpy(force=True), rtol=1e-6, atol=1e-8)


def test_dg_linalg_result_types_follow_torch():
    a = dg.tensor(_matrix(4, 3), requires_grad=True)
    U, S, Vh = dg.linalg.svd(a)
    assert (U.shape, S.shape, Vh.shape) == ((4, 4), (3,), (3, 3))      # full_matrices=True
    assert dg.linalg.svd(a, full_matrices=False).U.shape == (4, 3)
    assert dg.linalg.qr(a).R.shape == (3, 3)
    assert isinstance(dg.linalg.lstsq(a, dg.tensor(np.ones((4, 1)))).rank, int)
    P, Lo, Up = dg.linalg.lu(a)
    np.testing.assert_allclose((P.numpy() @ Lo.detach().numpy() @ Up.detach().numpy()),
                               a.detach().numpy(), atol=1e-12)
    # Constant tensors: results are tensors too
    c = dg.tensor(_symmetric(3))
    assert isinstance(dg.linalg.eigh(c).eigenvalues, dg.Tensor)
    assert isinstance(dg.linalg.matrix_exp(c), dg.Tensor)
    assert isinstance(np.linalg.svd(c).S, dg.Tensor)


# ---------------------------------------------------------------------------
# Calling the SciPy twins directly on DualArrays and Tensors

def test_scipy_twins_on_dualarrays_and_tensors():
    a = _spd(3)
    e = _rng(5).standard_normal((3, 3))
    for fn, scale in ((L.expm, 0.3), (L.logm, 1.0), (L.sqrtm, 1.0)):
        d = fn(DualArray(a * scale, e[None]))
        np.testing.assert_allclose(d.tangent[0], _central(fn, a * scale, e), rtol=1e-6,
                                   atol=1e-8)
        t = dg.tensor(a * scale, requires_grad=True)
        (fn(t) * e).sum().backward()
        g_ref = np.array([[np.sum(e * _central(fn, a * scale, np.eye(9)[3 * i + j].reshape(3, 3)))
                           for j in range(3)] for i in range(3)])
        np.testing.assert_allclose(t.grad.numpy(), g_ref, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------
# Repeated singular values and eigenvalues

def test_singular_values_at_repeated_values_are_exact():
    a = np.eye(3) * 2
    for mode in ("forward", "reverse"):
        g = dg.jacobian(lambda x: np.linalg.svd(x, compute_uv=False).sum(), mode=mode)(a)
        np.testing.assert_array_equal(g, np.eye(3))
        J = dg.jacobian(lambda x: np.linalg.svd(x, compute_uv=False), mode=mode)(a)
        assert np.all(np.isfinite(J))
        np.testing.assert_array_equal(J.sum(axis=0), np.eye(3))     # of their sum
    np.testing.assert_array_equal(
        dg.grad(lambda x: np.linalg.svd(x, compute_uv=False).sum())(a), np.eye(3))
    # The full SVD, of which only S is used: exact as well, in both modes.
    for mode in ("forward", "reverse"):
        g = dg.jacobian(lambda x: np.linalg.svd(x)[1].sum(), mode=mode)(a)
        np.testing.assert_array_equal(g, np.eye(3))
        g = dg.jacobian(lambda x: np.linalg.norm(x, "nuc") + np.linalg.eigvalsh(x).sum(),
                        mode=mode)(a)
        np.testing.assert_allclose(g, 2 * np.eye(3), atol=1e-15)


def test_eigenvalues_at_repeated_values_are_exact():
    a = np.diag([1.0, 1.0, 3.0])
    for mode in ("forward", "reverse"):
        g = dg.jacobian(lambda x: np.sum(np.linalg.eigh(x)[0] ** 2), mode=mode)(a)
        np.testing.assert_allclose(g, np.tril(2 * a) + np.tril(2 * a, -1), atol=1e-14)


def test_vectors_at_repeated_values_are_not_finite_where_they_mix():
    # As PyTorch: U and V (eigenvectors) are not unique there.
    a = np.diag([2.0, 2.0, 1.0])
    for mode in ("forward", "reverse"):
        J = dg.jacobian(lambda x: np.linalg.svd(x)[0], mode=mode)(a)
        assert not np.all(np.isfinite(J))
        J = dg.jacobian(lambda x: np.linalg.eigh(x)[1], mode=mode)(a)
        assert not np.all(np.isfinite(J))


# ---------------------------------------------------------------------------
# Errors

def test_errors_name_the_problem_and_the_fix():
    x = DualArray(_matrix(3, 3), np.ones((1, 3, 3)))
    with pytest.raises(NotImplementedError, match="mode='reduced'"):
        np.linalg.qr(DualArray(_matrix(4, 3), np.ones((1, 4, 3))), mode="complete")
    with pytest.raises(ValueError, match="square"):
        np.linalg.eigh(DualArray(_matrix(4, 3), np.ones((1, 4, 3))))
    with pytest.raises(np.linalg.LinAlgError, match="two-dimensional"):
        np.linalg.svd(DualArray(np.ones(3), np.ones((1, 3))))
    with pytest.raises(TypeError, match="complex results are not supported"):
        dg.grad(lambda z: L.logm(z).sum())(-np.eye(2))
    with pytest.raises(ValueError, match="trans"):
        L.solve_triangular(x, np.ones(3), trans=4)
    with pytest.raises(TypeError, match="rtol"):
        dg.linalg.pinv(dg.tensor(_matrix(3, 3)), atol=0.1)
