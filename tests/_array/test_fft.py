"""The discrete Fourier transforms (dualgrad/_array/fft.py): np.fft's and
scipy.fft's functions on DualArrays and Tensors, for every norm and for n (or
s) below, at and above the input's length, even and odd, on several axes.

* values: NumPy's (and SciPy's) own;
* Tensor gradients: PyTorch's (torch.fft), for real and complex inputs, first
  order and second (create_graph);
* forward mode: the Jacobian of each transform, a linear map, is the
  transform of the unit vectors;
* dg.grad (JAX's convention, d/dx - i d/dy for complex inputs) and
  dg.hessian against central differences.

The derivations of the adjoints are in the module's docstring; the registry's
cases (tests/test_numpy_functions.py) check every function once more in every
nesting.
"""

import numpy as np
import pytest
import torch

import dualgrad as dg

NORMS = ("backward", "ortho", "forward")
ONE_D = ("fft", "ifft", "rfft", "irfft", "hfft", "ihfft")
REAL_ONLY = ("rfft", "ihfft")           # real input
H = 1e-6


def _rng(*key):
    return np.random.default_rng(abs(hash(key)) % 2 ** 32)


def _input(shape, complex_, rng):
    x = rng.standard_normal(shape)
    return x + 1j * rng.standard_normal(shape) if complex_ else x


def _torch_kwargs(kw):
    kw = dict(kw)
    if "axis" in kw:
        kw["dim"] = kw.pop("axis")
    if "axes" in kw:
        kw["dim"] = kw.pop("axes")
    return kw


def _weights(y, rng):
    """A cotangent u and real weights w for the loss Re <u, y> + sum w |y|^2,
    whose gradient depends on the point (nonzero second order)."""
    u = _input(np.shape(y), np.iscomplexobj(y), rng)
    w = rng.uniform(0.5, 1.5, np.shape(y))
    return u, w


def _loss(y, u, w):
    return np.real(np.sum(np.conj(u) * y)) + np.sum(w * np.abs(y) ** 2)


def _torch_loss(y, u, w):
    u, w = torch.tensor(np.conj(u)), torch.tensor(w)
    return torch.real(torch.sum(u * y)) + torch.sum(w * torch.abs(y) ** 2)


def _fd_gradient(f, z):
    """JAX's gradient of a real f of z by central differences: df/dx - i df/dy
    (df/dx alone for real z)."""
    g = np.zeros(z.shape, complex if np.iscomplexobj(z) else float)
    steps = (H, 1j * H) if np.iscomplexobj(z) else (H,)
    for j in range(z.size):
        parts = []
        for step in steps:
            e = np.zeros(z.shape, z.dtype)
            e.flat[j] = step
            parts.append((f(z + e) - f(z - e)) / (2 * H))
        g.flat[j] = parts[0] - 1j * parts[1] if len(parts) == 2 else parts[0]
    return g


# ---------------------------------------------------------------------------
# One-dimensional transforms

SIZES = (None, 3, 4, 9, 10)     # default; shorter odd and even; longer odd and even
CASES_1D = [(name, n, axis, norm, cplx) for name in ONE_D for n in SIZES for axis in (0, -1)
            for norm in NORMS for cplx in ((False,) if name in REAL_ONLY else (False, True))]


def _ids(cases):
    return ["-".join(str(c) for c in case) for case in cases]


@pytest.mark.parametrize("name,n,axis,norm,cplx", CASES_1D, ids=_ids(CASES_1D))
def test_one_dimensional_against_numpy_and_torch(name, n, axis, norm, cplx):
    rng = _rng(name, n, axis, norm, cplx)
    x = _input((4, 6), cplx, rng)
    kw = dict(n=n, axis=axis, norm=norm)
    f = getattr(np.fft, name)
    expected = f(x, **kw)
    t = dg.tensor(x, requires_grad=True)
    y = f(t, **kw)
    np.testing.assert_array_equal(y.detach().numpy(), expected)
    u, w = _weights(expected, rng)
    _loss(y, u, w).backward()

    tt = torch.tensor(x, requires_grad=True)
    _torch_loss(getattr(torch.fft, name)(tt, **_torch_kwargs(kw)), u, w).backward()
    np.testing.assert_allclose(t.grad.numpy(), tt.grad.resolve_conj().numpy(),
                               rtol=1e-12, atol=1e-12)
    assert t.grad.dtype == t.dtype


@pytest.mark.parametrize("name", ONE_D)
@pytest.mark.parametrize("n", (None, 3, 10))
@pytest.mark.parametrize("norm", NORMS)
def test_one_dimensional_forward_mode_is_the_transform(name, n, norm):
    """The tangent of a linear map is the map of the tangent (real-linear
    only, for irfft and hfft: a complex tangent tells them apart)."""
    f = getattr(np.fft, name)
    cplx = name not in REAL_ONLY
    rng = _rng(name, n, norm)
    x = _input((3, 5), cplx, rng)
    kw = dict(n=n, axis=0, norm=norm)
    for _ in range(2):
        v = _input((3, 5), cplx, rng)
        y, t = dg.jvp(lambda z: f(z, **kw), (x,), (v,))
        np.testing.assert_array_equal(y, f(x, **kw))
        np.testing.assert_allclose(t, f(v, **kw), rtol=1e-13, atol=1e-13)
    # Several directions at once: the Jacobian of the real part's map.
    units = np.eye(x.size).reshape((x.size,) + x.shape)
    expected = np.stack([np.real(f(e, **kw)) for e in units], -1)
    jac = dg.jacfwd(lambda z: np.real(f(z, **kw)))(np.real(x))
    np.testing.assert_allclose(jac.reshape(expected.shape), expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("name", ONE_D)
@pytest.mark.parametrize("n", (3, 8, 9))
@pytest.mark.parametrize("norm", NORMS)
def test_one_dimensional_grad_against_central_differences(name, n, norm):
    """dg.grad's convention (JAX's) for complex inputs: d/dx - i d/dy."""
    rng = _rng("fd", name, n, norm)
    z = _input((5,), name not in REAL_ONLY, rng)
    f = getattr(np.fft, name)
    u, w = _weights(f(z, n=n, norm=norm), rng)

    def loss(z):
        return _loss(f(z, n=n, norm=norm), u, w)
    np.testing.assert_allclose(dg.grad(loss)(z), _fd_gradient(loss, z), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ONE_D)
@pytest.mark.parametrize("n,norm", [(None, "backward"), (4, "ortho"), (9, "forward")])
def test_one_dimensional_second_order_against_torch(name, n, norm):
    """Reverse over reverse (create_graph): the backward rules are recorded
    transforms. The Hessian-vector product of the loss against PyTorch's."""
    rng = _rng("second", name, n, norm)
    cplx = name not in REAL_ONLY
    x = _input((6,), cplx, rng)
    v = _input((6,), cplx, rng)
    kw = dict(n=n, norm=norm)
    u, w = _weights(getattr(np.fft, name)(x, **kw), rng)

    t = dg.tensor(x, requires_grad=True)
    (g,) = dg.autograd.grad(_loss(getattr(np.fft, name)(t, **kw), u, w), t, create_graph=True)
    (hv,) = dg.autograd.grad(np.real(np.sum(np.conj(g) * v)), t)

    tt = torch.tensor(x, requires_grad=True)
    (tg,) = torch.autograd.grad(_torch_loss(getattr(torch.fft, name)(tt, **kw), u, w), tt,
                                create_graph=True)
    (thv,) = torch.autograd.grad(torch.real(torch.sum(torch.conj(tg) * torch.tensor(v))), tt)
    np.testing.assert_allclose(g.detach().numpy(), tg.detach().resolve_conj().numpy(),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hv.numpy(), thv.resolve_conj().numpy(), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------
# Two- and n-dimensional transforms

ND = [
    ("fft2", {}), ("fft2", dict(s=(3, 7))), ("fft2", dict(axes=(0, 2), s=(2, 4))),
    ("ifft2", {}), ("ifft2", dict(s=(5, 2), axes=(-1, 0))),
    ("rfft2", {}), ("rfft2", dict(s=(3, 5))), ("rfft2", dict(axes=(2, 1), s=(2, 6))),
    ("irfft2", {}), ("irfft2", dict(s=(3, 5))), ("irfft2", dict(axes=(0, 1), s=(4, 4))),
    ("fftn", {}), ("fftn", dict(axes=(1,))), ("fftn", dict(s=(3, 3, 2), axes=(2, 0, 1))),
    ("ifftn", {}), ("ifftn", dict(s=(2, 5), axes=(0, 2))),
    ("rfftn", {}), ("rfftn", dict(axes=(0, 1))), ("rfftn", dict(s=(1, 4, 7), axes=(0, 1, 2))),
    ("irfftn", {}), ("irfftn", dict(axes=(2,))), ("irfftn", dict(s=(3, 2, 5), axes=(0, 1, 2))),
]
CASES_ND = [(name, i, norm, cplx) for i, (name, kw) in enumerate(ND) for norm in NORMS
            for cplx in ((False,) if name.startswith("rfft") else (False, True))]


@pytest.mark.parametrize("name,i,norm,cplx", CASES_ND, ids=_ids(CASES_ND))
def test_n_dimensional_against_numpy_and_torch(name, i, norm, cplx):
    rng = _rng(name, i, norm, cplx)
    x = _input((3, 4, 5), cplx, rng)
    kw = dict(ND[i][1], norm=norm)
    f = getattr(np.fft, name)
    expected = f(x, **kw)
    t = dg.tensor(x, requires_grad=True)
    y = f(t, **kw)
    np.testing.assert_array_equal(y.detach().numpy(), expected)
    _, t_dual = dg.jvp(lambda z: f(z, **kw), (x,), (x,))
    np.testing.assert_allclose(t_dual, expected, rtol=1e-13, atol=1e-13)   # linear
    u, w = _weights(expected, rng)
    _loss(y, u, w).backward()

    tt = torch.tensor(x, requires_grad=True)
    _torch_loss(getattr(torch.fft, name)(tt, **_torch_kwargs(kw)), u, w).backward()
    np.testing.assert_allclose(t.grad.numpy(), tt.grad.resolve_conj().numpy(),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name,i", [("fft2", 2), ("irfft2", 9), ("rfftn", 18), ("irfftn", 21)])
def test_n_dimensional_grad_against_central_differences(name, i):
    rng = _rng("fd-nd", name, i)
    z = _input((3, 4, 5), not name.startswith("rfft"), rng)
    kw = dict(ND[i][1], norm="ortho")
    f = getattr(np.fft, name)
    u, w = _weights(f(z, **kw), rng)

    def loss(z):
        return _loss(f(z, **kw), u, w)
    np.testing.assert_allclose(dg.grad(loss)(z), _fd_gradient(loss, z), rtol=1e-6, atol=1e-6)


def _spectral_loss(p):
    """Real parameters through a real transform and back: a smoothed signal's
    energy against a target, with a complex filter in between."""
    x = p.reshape(4, 6)
    spec = np.fft.rfft2(x, norm="ortho")
    filt = np.exp(-0.3 * np.fft.rfftfreq(6)[None, :] ** 2) * (1 + 0.2j)
    y = np.fft.irfft2(spec * filt * spec, s=(4, 6))
    z = np.fft.ifftn(np.fft.fft(x, n=7, axis=0) ** 2, axes=(1,), norm="forward")
    return np.sum((y - 0.1) ** 2) + np.sum(np.abs(z) ** 2) * 1e-2 + np.sum(np.abs(
        np.fft.hfft(np.fft.ihfft(x[0] * x[1], n=5), n=8)) ** 3)


HESSIANS = {
    "hessian": lambda f: dg.hessian(f),
    "jacfwd of grad": lambda f: dg.jacfwd(dg.grad(f)),
    "jacrev of grad": lambda f: dg.jacrev(dg.grad(f)),
}


@pytest.mark.parametrize("route", sorted(HESSIANS))
def test_hessian_against_differences_of_the_gradient(route, forced_plan):
    p = _rng("hessian").uniform(-1, 1, 24)
    forced_plan.update(tier="array", mode="reverse")
    grad = dg.grad(_spectral_loss)
    fd = np.stack([(grad(p + e) - grad(p - e)) / 2e-5 for e in np.eye(24) * 1e-5], -1)
    if route == "hessian":
        forced_plan.update(mode="forward-over-reverse")
    elif route == "jacfwd of grad":
        forced_plan.update(mode="forward")
    np.testing.assert_allclose(HESSIANS[route](_spectral_loss)(p), fd, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad(p), _fd_gradient(_spectral_loss, p), rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------
# Shifts and frequencies

@pytest.mark.parametrize("name", ["fftshift", "ifftshift"])
@pytest.mark.parametrize("axes", [None, 0, (1,), (0, 1)])
def test_shifts(name, axes):
    x = _input((4, 5), True, _rng(name, axes))
    f = getattr(np.fft, name)
    t = dg.tensor(x, requires_grad=True)
    y = f(t, axes=axes)
    np.testing.assert_array_equal(y.detach().numpy(), f(x, axes=axes))
    u = _input((4, 5), True, _rng("u", name, axes))
    np.real(np.sum(np.conj(u) * y)).backward()
    tt = torch.tensor(x, requires_grad=True)
    dim = axes if axes is None or isinstance(axes, tuple) else (axes,)
    torch.real(torch.sum(torch.tensor(np.conj(u)) * getattr(torch.fft, name)(tt, dim=dim))
               ).backward()
    np.testing.assert_array_equal(t.grad.numpy(), tt.grad.numpy())
    np.testing.assert_array_equal(dg.jvp(lambda z: f(z, axes=axes), (x,), (u,))[1],
                                  f(u, axes=axes))


def test_frequencies_are_constants_and_differentiate_in_d():
    # fftfreq's value for a traced d: k / (n d), whose derivative is -k / (n d^2).
    k = np.fft.fftfreq(6) * 6
    np.testing.assert_allclose(dg.jacobian(lambda d: np.fft.fftfreq(6, d))(0.5),
                               -k / (6 * 0.25), rtol=1e-14)
    np.testing.assert_allclose(dg.grad(lambda d: np.sum(np.fft.rfftfreq(7, d)))(2.0),
                               -np.sum(np.arange(4)) / (7 * 4.0), rtol=1e-14)
    # A spectral derivative: d/dx of sin(x) on a periodic grid is cos(x).
    grid = np.linspace(0, 2 * np.pi, 16, endpoint=False)

    def derivative(a):
        return np.fft.irfft(2j * np.pi * np.fft.rfftfreq(16, grid[1]) * np.fft.rfft(a), 16)
    np.testing.assert_allclose(derivative(np.sin(grid)), np.cos(grid), atol=1e-12)
    jac = dg.jacobian(derivative)(np.sin(grid))
    np.testing.assert_allclose(jac @ np.sin(grid), np.cos(grid), atol=1e-12)


# ---------------------------------------------------------------------------
# dtypes, errors

def test_float32_stays_float32():
    x = np.linspace(0.1, 1.0, 6, dtype=np.float32)
    g = dg.grad(lambda x: np.sum(np.abs(np.fft.rfft(x, n=5)) ** 2) + np.sum(np.fft.irfft(
        np.fft.fft(x) * (1 + 1j), n=7) ** 2))(x)
    assert g.dtype == np.float32
    t = dg.tensor(x + 1j * x, requires_grad=True)
    np.sum(np.abs(np.fft.ifft2(t.reshape(2, 3))) ** 2).backward()
    assert t.grad.dtype == np.complex64


def test_errors_name_the_problem_and_the_fix():
    t = dg.tensor(np.ones(4), requires_grad=True)
    with pytest.raises(TypeError, match="out=.*assign the result"):
        np.fft.fft(t, out=dg.zeros(4, dtype=dg.complex128))
    with pytest.raises(TypeError, match="out=.*assign the result"):
        dg.jvp(lambda x: np.fft.fft(x, out=dg.zeros(4, dtype=dg.complex128)), (np.ones(4),),
               (np.ones(4),))
    with pytest.raises(TypeError, match="cannot be written into a NumPy array"):
        np.fft.fft(t, out=np.empty(4, complex))
    with pytest.raises(TypeError, match="real input.*np.real"):
        np.fft.rfft(t * (1 + 1j))
    with pytest.raises(TypeError, match="real input"):
        dg.grad(lambda z: np.sum(np.abs(np.fft.ihfft(z)) ** 2))(np.ones(4) + 1j)
    with pytest.raises(ValueError, match="Invalid norm value 'unitary'"):
        np.fft.ifft(t, norm="unitary")
    with pytest.raises(ValueError, match=r"Invalid number of FFT data points \(0\)"):
        np.fft.irfft(t, n=0)
    with pytest.raises(np.exceptions.AxisError):
        np.fft.fft(t, axis=1)
    with pytest.raises(ValueError, match="Shape and axes have different lengths"):
        np.fft.fftn(t, s=(2, 2), axes=(0,))


def test_s_without_axes_warns_as_numpy():
    x = np.ones((2, 3))
    with pytest.warns(DeprecationWarning, match="axes"):
        y = np.fft.fftn(dg.tensor(x), s=(2, 4))
    with pytest.warns(DeprecationWarning):
        expected = np.fft.fftn(x, s=(2, 4))
    np.testing.assert_array_equal(y.numpy(), expected)


# ---------------------------------------------------------------------------
# dg.fft: torch.fft's names and arguments

TORCH_CALLS = [
    ("fft", dict(n=7, dim=0, norm="ortho")), ("ifft", dict(n=3)), ("rfft", dict(dim=0)),
    ("irfft", dict(n=5, norm="forward")), ("hfft", dict(n=4, dim=0)), ("ihfft", dict(n=6)),
    ("fft2", dict(s=(3, 5))), ("ifft2", dict(dim=(1, 0), norm="forward")),
    ("rfft2", dict(s=(2, 2))), ("irfft2", {}), ("fftn", dict(dim=1)),
    ("ifftn", dict(s=(5,))), ("rfftn", dict(s=(3, 4), dim=(1, 0))),
    ("irfftn", dict(s=(4, 7), norm="ortho")), ("fftshift", {}), ("ifftshift", dict(dim=0)),
]


@pytest.mark.parametrize("name,kw", TORCH_CALLS, ids=[c[0] for c in TORCH_CALLS])
def test_dg_fft_is_torch_fft(name, kw):
    import dualgrad.fft
    rng = _rng("torch-ns", name)
    x = _input((4, 3), not name.startswith(("rfft", "ihfft")), rng)
    t, tt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = getattr(dualgrad.fft, name)(t, **kw), getattr(torch.fft, name)(tt, **kw)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().resolve_conj().numpy(),
                               rtol=1e-13, atol=1e-13)
    u, w = _weights(y.detach().numpy(), rng)
    _loss(y, u, w).backward()
    _torch_loss(ty, u, w).backward()
    np.testing.assert_allclose(t.grad.numpy(), tt.grad.resolve_conj().numpy(), rtol=1e-12,
                               atol=1e-12)


def test_dg_fft_frequencies_are_tensors():
    f = dg.fft.rfftfreq(5, 0.25, dtype=dg.float32)
    assert isinstance(f, dg.Tensor) and f.dtype == np.float32
    np.testing.assert_array_equal(f.numpy(), torch.fft.rfftfreq(5, 0.25).numpy())
    np.testing.assert_array_equal(dg.fft.fftfreq(6).numpy(), torch.fft.fftfreq(
        6, dtype=torch.float64).numpy())


# ---------------------------------------------------------------------------
# scipy.fft

scipy_fft = pytest.importorskip("scipy.fft")

SCIPY = [
    ("fft", dict(n=7, axis=0, norm="ortho", workers=2)), ("ifft", dict(n=3, overwrite_x=True)),
    ("rfft", dict(n=8, norm="forward")), ("irfft", dict(n=5, axis=0)),
    ("hfft", dict(n=6, norm="ortho")), ("ihfft", dict(axis=0, workers=-1)),
    ("fft2", dict(s=(3, 3))), ("ifft2", dict(norm="forward", workers=1)),
    ("rfft2", dict(axes=(1, 0))), ("irfft2", dict(s=(4, 5))),
    ("fftn", dict(s=(5,))), ("ifftn", dict(axes=(0,), norm="ortho")),
    ("rfftn", dict(s=(2, 7), overwrite_x=True)), ("irfftn", dict(s=(3, 3), norm="forward")),
    ("hfft2", dict(s=(4, 5))), ("ihfft2", dict(norm="ortho")), ("hfftn", dict(axes=(0,))),
    ("ihfftn", dict(s=(3, 4), norm="forward")),
    ("fftshift", dict(axes=0)), ("ifftshift", {}),
]


@pytest.mark.parametrize("name,kw", SCIPY, ids=[s[0] for s in SCIPY])
def test_scipy_fft(name, kw):
    rng = _rng("scipy", name)
    z = _input((4, 3), not name.startswith(("rfft", "ihfft")), rng)
    f = getattr(scipy_fft, name)
    expected = f(z.copy(), **kw)        # (overwrite_x=True may overwrite it)
    t = dg.tensor(z, requires_grad=True)
    y = f(t, **kw)
    np.testing.assert_allclose(y.detach().numpy(), expected, rtol=1e-13, atol=1e-13)
    u, w = _weights(expected, rng)

    def loss(z):
        return _loss(f(z, **kw), u, w)
    np.testing.assert_allclose(dg.grad(loss)(z), _fd_gradient(loss, z), rtol=1e-6, atol=1e-7)
    _loss(y, u, w).backward()
    np.testing.assert_allclose(np.conj(t.grad.numpy()), dg.grad(loss)(z), rtol=1e-13,
                               atol=1e-13)


def test_scipy_plain_calls_are_scipy():
    x = np.arange(6.0)
    assert type(scipy_fft.fft(x)) is np.ndarray
    np.testing.assert_array_equal(scipy_fft.rfft(x, n=5),
                                  scipy_fft.rfft(x.copy(), n=5, workers=1))
    with scipy_fft.set_backend("scipy", only=True):     # SciPy's own, for comparison
        np.testing.assert_array_equal(scipy_fft.irfft(x), scipy_fft.irfft(x))


def test_scipy_fft_second_order():
    p = _rng("scipy-second").uniform(-1, 1, 8)

    def loss(p):
        return np.sum(np.abs(scipy_fft.rfft2(p.reshape(2, 4), norm="ortho") ** 2) ** 1.5)
    grad = dg.grad(loss)
    fd = np.stack([(grad(p + e) - grad(p - e)) / 2e-5 for e in np.eye(8) * 1e-5], -1)
    np.testing.assert_allclose(dg.hessian(loss)(p), fd, rtol=1e-5, atol=1e-6)


def test_scipy_restore_and_install():
    from dualgrad import scipy_functions as SF

    def power(x):
        return np.sum(np.abs(scipy_fft.fft(x)) ** 2)
    x = np.array([0.5, -1.0, 2.0])
    SF.restore()
    try:
        with pytest.raises(TypeError, match="no dualgrad rule"):
            dg.grad(power)(x)
        np.testing.assert_array_equal(scipy_fft.fft(x), np.fft.fft(x))
    finally:
        SF.install()
    np.testing.assert_allclose(dg.grad(power)(x), 6 * x, rtol=1e-14)     # Parseval: 3 |x|^2


def test_scipy_fft_imported_after_dualgrad():
    import subprocess
    import sys
    code = (
        "import sys, numpy as np, dualgrad as dg\n"
        "assert 'scipy.fft' not in sys.modules\n"
        "from scipy.fft import rfft\n"
        "g = dg.grad(lambda x: np.sum(np.abs(rfft(x, norm='ortho')) ** 2))(np.ones(4))\n"
        "assert np.allclose(g, [2, 2, 2, 2]), g\n"       # y_0 = sum(x) / 2, y_1 = y_2 = 0
        "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.stdout.strip() == "ok", out.stderr
