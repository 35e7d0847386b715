"""Decompositions and functions of matrices, differentiable in every tier, mode
and nesting.

Each decomposition is one :class:`dualgrad.custom_jvp` primitive: its primal
is NumPy's (or SciPy's) function on plain values, and its JVP rule is written
with NumPy operations, which dispatch on DualArrays and Tensors. Forward mode
runs the rule per direction, reverse mode transposes it, and nested transforms
differentiate the rule itself, so that second derivatives come out of the same
lines. The functions of matrices (pinv aside, see there) are composites of
these.

Two rules for writing the rules:

* A rule calls a primitive on its primals only, never on a tangent: reverse
  mode transposes the tangent expression by a reverse pass over it, and a
  primitive met there would need its own rule transposed again, without end.
  Tangents go through operations whose reverse rules are written by hand
  (matmul, np.linalg.solve, elementwise, kron).
* Where a derivative is undefined (repeated singular values or eigenvalues:
  the singular vectors or eigenvectors are then not unique) the reciprocal gap
  is inf and its product goes through :func:`chain`, which gives exactly 0 for
  a zero tangent or cotangent. So the entries of U, V or the eigenvectors
  that move get inf or nan, as in PyTorch, while the derivatives of the values
  alone, and of anything that does not use the vectors, stay exact.

The rules are those for real matrices; where the complex formula differs they
go through :func:`_mH` (the conjugate transpose) or say so in a comment.
"""

import functools
import operator

import numpy as np

from dualgrad import gpu
from dualgrad._array.composites import values_of
from dualgrad._array.dualarray import DualArray, chain
from dualgrad._array.engine import TensorBase, is_grad_enabled, tensor_of
from dualgrad.custom import custom_jvp

__all__ = ["svd", "svdvals", "eigh", "eigvalsh", "eig", "eigvals", "qr", "pinv", "lstsq",
           "matrix_power", "matrix_norm", "norm", "cond", "matrix_rank", "multi_dot",
           "lu", "solve_triangular", "cho_factor", "cho_solve", "solve_sylvester",
           "solve_banded", "expm", "logm", "sqrtm"]

_SVDResult = type(np.linalg.svd(np.eye(1)))
_EighResult = type(np.linalg.eigh(np.eye(1)))
_QRResult = type(np.linalg.qr(np.eye(1)))
_SlogdetResult = type(np.linalg.slogdet(np.eye(1)))


# ---------------------------------------------------------------------------
# Helpers

def _mT(x):
    return np.swapaxes(x, -1, -2)


def _mH(x):
    """The conjugate transpose: where a complex rule differs from the real one."""
    return np.conj(_mT(x)) if np.iscomplexobj(values_of(x)) else _mT(x)


def _eye(n, like):
    """The identity, a constant, on the device of ``like``."""
    v = values_of(like)
    dtype = v.dtype if getattr(v, "dtype", None) is not None and v.dtype.kind in "fc" else None
    return gpu.beside(np.eye(n, dtype=dtype), v)


def _diagonal(x):
    return np.diagonal(x, axis1=-2, axis2=-1)


def _conj(x):
    return np.conj(x) if np.iscomplexobj(values_of(x)) else x


def _real(x):
    return np.real(x) if np.iscomplexobj(values_of(x)) else x


def _reciprocal_gaps(w):
    """F with F[i, j] = 1 / (w[j] - w[i]) off the diagonal and 0 on it; inf
    where two values are equal (the vectors are not unique there)."""
    n = np.shape(w)[-1]
    eye = _eye(n, w)
    gaps = np.expand_dims(w, -2) - np.expand_dims(w, -1)
    # + eye - eye: exact zeros on the diagonal, whose derivative is then 0
    # (as gaps' diagonal is 0 at every level), where a masked 1/0 would not be.
    with np.errstate(divide="ignore"):
        return 1.0 / (gaps + eye) - eye


def _quiet(rule):
    """A rule whose inf and nan at repeated values are its documented result,
    not a mistake to warn of."""
    @functools.wraps(rule)
    def run(*args):
        with np.errstate(divide="ignore", invalid="ignore"):
            return rule(*args)
    return run


def _reciprocal(s):
    with np.errstate(divide="ignore"):
        return 1.0 / s


def _constant_tensors_unwrapped(fn):
    """Tensors that take no part in a graph (requires_grad off, or no_grad)
    enter ``fn`` as their values and its results come back as tensors, as
    PyTorch gives tensors for tensors; the primitives below never meet them."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        if not any(isinstance(a, TensorBase) for a in args):
            return fn(*args, **kwargs)
        if any(isinstance(a, TensorBase) and is_grad_enabled() and a.requires_grad
               for a in args):
            return fn(*args, **kwargs)
        out = fn(*[a._a if isinstance(a, TensorBase) else a for a in args], **kwargs)
        return _as_tensors(out)
    return run


def _as_tensors(out):
    if isinstance(out, tuple):
        parts = [_as_tensors(o) for o in out]
        return type(out)(*parts) if hasattr(out, "_fields") else tuple(parts)
    if type(out) is DualArray or (isinstance(out, np.ndarray) and out.dtype.kind == "f"):
        return tensor_of(out)
    return out


def _square(name, a):
    shape = np.shape(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"{name}: the matrix must be square (..., n, n); its shape is "
                         f"{tuple(shape)}")


def _scipy_linalg(name):
    try:
        import scipy.linalg
    except ImportError:
        raise ImportError(f"{name} needs SciPy for its values; install scipy") from None
    return scipy.linalg


# ---------------------------------------------------------------------------
# SVD. Townsend (2016), "Differentiating the singular value decomposition";
# the same rule as JAX's svd_jvp_rule: with dS = U^H dA V,
#   ds = Re diag(dS)
#   dU = U (F o (dS S + S dS^H)) + (I - U U^H) dA V S^-1
#   dV = V (F o (S dS + dS^H S)) + (I - V V^H) dA^H U S^-1
# F[i, j] = 1 / (s_j^2 - s_i^2). (Complex matrices add to dU the imaginary
# diagonal (dS - dS^H) / (2 S), not written yet.)

@functools.partial(custom_jvp, nondiff_argnums=(1,))
def _svd(a, full_matrices):
    U, s, Vh = np.linalg.svd(values_of(a), full_matrices=full_matrices)
    return U, s, Vh


@_svd.defjvp
@_quiet
def _svd_jvp(full_matrices, primals, tangents):
    a, = primals
    da, = tangents
    m, n = np.shape(a)[-2:]
    k = min(m, n)
    Uo, s, Vho = _svd(a, full_matrices)
    U, Vh = Uo[..., :, :k], Vho[..., :k, :]
    V = _mH(Vh)
    dS = np.matmul(np.matmul(_mH(U), da), V)
    ds = _real(_diagonal(dS))
    F = _reciprocal_gaps(s * s)
    s_row = np.expand_dims(s, -2)           # s_j, along the columns
    s_col = np.expand_dims(s, -1)           # s_i, along the rows
    dSS, SdS = dS * s_row, s_col * dS
    dU = np.matmul(U, chain(F, dSS + _mH(dSS)))
    dV = np.matmul(V, chain(F, SdS + _mH(SdS)))
    inv_s = _reciprocal(s_row)
    if m > n:
        dAV = np.matmul(da, V)
        dU = dU + chain(inv_s, dAV - np.matmul(U, np.matmul(_mH(U), dAV)))
    if n > m:
        dAhU = np.matmul(_mH(da), U)
        dV = dV + chain(inv_s, dAhU - np.matmul(V, np.matmul(Vh, dAhU)))
    if full_matrices and m > n:
        dU = np.concatenate([dU, _complement_tangent(U, dU, Uo[..., :, k:])], axis=-1)
    if full_matrices and n > m:
        dV = np.concatenate([dV, _complement_tangent(V, dV, _mH(Vho[..., k:, :]))], axis=-1)
    return (Uo, s, Vho), (dU, ds, _mH(dV))


def _complement_tangent(U1, dU1, Q):
    """The tangent of Q, the orthonormal complement of U1's columns that a full
    SVD (or QR) adds: Q is only fixed up to a rotation of its own, and this is
    the tangent without one (Q^H dQ = 0), the one that keeps [U1, Q] unitary:
    dQ = -U1 dU1^H Q."""
    return -np.matmul(U1, np.matmul(_mH(dU1), Q))


@custom_jvp
def _svdvals(a):
    return np.linalg.svd(values_of(a), compute_uv=False)


@_svdvals.defjvp
def _svdvals_jvp(primals, tangents):
    # ds = Re diag(U^H dA V): no reciprocal gaps, exact at repeated values.
    a, = primals
    da, = tangents
    U, s, Vh = _svd(a, False)
    ds = np.sum(np.matmul(_mH(U), da) * _conj(Vh), axis=-1)
    return s, _real(ds)


@_constant_tensors_unwrapped
def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """np.linalg.svd: ``(U, S, Vh)``, or ``S`` with ``compute_uv=False``.

    The signs of the singular vectors are those computed (as PyTorch); a loss
    whose value depends on them is not differentiable. Where two singular
    values are equal, the derivatives of U and V are inf or nan in the
    columns that mix (they are not unique there); with m != n, also where a
    singular value is 0. The derivatives of S, and of anything that does not
    use U and V, stay exact. With ``full_matrices`` and m != n, the columns
    beyond min(m, n) move without turning among themselves.
    """
    _at_least_2d("np.linalg.svd", a)
    if hermitian:
        return _svd_hermitian(a, compute_uv)
    if not compute_uv:
        return _svdvals(a)
    return _SVDResult(*_svd(a, bool(full_matrices)))


def _svd_hermitian(a, compute_uv):
    """NumPy's own code for hermitian=True, on eigh: S = |w| in decreasing
    order, the signs of w moved into Vh."""
    if not compute_uv:
        s = np.abs(eigvalsh(a))
        order = np.argsort(values_of(s), axis=-1)[..., ::-1]
        return np.take_along_axis(s, order, axis=-1)
    w, u = eigh(a)
    sgn = np.sign(values_of(w))
    s = np.abs(w)
    order = np.argsort(values_of(s), axis=-1)[..., ::-1]
    sgn = np.take_along_axis(sgn, order, axis=-1)
    s = np.take_along_axis(s, order, axis=-1)
    u = np.take_along_axis(u, np.expand_dims(order, -2), axis=-1)
    vt = _mH(u * np.expand_dims(sgn, -2))
    return _SVDResult(u, s, vt)


def svdvals(a):
    """The singular values, in decreasing order (torch.linalg.svdvals)."""
    return svd(a, compute_uv=False)


def _at_least_2d(name, a):
    if np.ndim(values_of(a)) < 2:
        raise np.linalg.LinAlgError(f"{np.ndim(values_of(a))}-dimensional array given. "
                                    f"Array must be at least two-dimensional ({name})")


# ---------------------------------------------------------------------------
# Symmetric eigenproblem. Giles (2008), "An extended collection of matrix
# derivative results": with X = V^H dA V, dw = Re diag(X) and
# dV = V (F o X), F[i, j] = 1 / (w_j - w_i).
#
# NumPy's eigh reads one triangle of a (UPLO) and takes the other as its
# mirror: the rules take dA the same way, so that they are the derivatives of
# the function NumPy computes, for every dA (for a symmetric dA, dA itself).

def _mirrored(a, UPLO):
    """The Hermitian matrix eigh sees: the UPLO triangle of a, mirrored."""
    if UPLO == "L":
        return np.tril(a) + _mH(np.tril(a, -1))
    return np.triu(a) + _mH(np.triu(a, 1))


def _check_uplo(UPLO):
    if UPLO not in ("L", "U"):
        raise ValueError(f"UPLO argument must be 'L' or 'U', not {UPLO!r}")
    return UPLO


@functools.partial(custom_jvp, nondiff_argnums=(1,))
def _eigh(a, UPLO):
    w, V = np.linalg.eigh(values_of(a), UPLO=UPLO)
    return w, V


@_eigh.defjvp
@_quiet
def _eigh_jvp(UPLO, primals, tangents):
    a, = primals
    da, = tangents
    w, V = _eigh(a, UPLO)
    X = np.matmul(np.matmul(_mH(V), _mirrored(da, UPLO)), V)
    dV = np.matmul(V, chain(_reciprocal_gaps(w), X))
    return (w, V), (_real(_diagonal(X)), dV)


@functools.partial(custom_jvp, nondiff_argnums=(1,))
def _eigvalsh(a, UPLO):
    return np.linalg.eigvalsh(values_of(a), UPLO=UPLO)


@_eigvalsh.defjvp
def _eigvalsh_jvp(UPLO, primals, tangents):
    # dw = Re diag(V^H dA V): no reciprocal gaps, exact at repeated values.
    a, = primals
    da, = tangents
    w, V = _eigh(a, UPLO)
    dw = np.sum(np.matmul(_mirrored(da, UPLO), V) * _conj(V), axis=-2)
    return w, _real(dw)


@_constant_tensors_unwrapped
def eigh(a, UPLO="L"):
    """np.linalg.eigh: ``(eigenvalues, eigenvectors)``, eigenvalues ascending.

    Only the ``UPLO`` triangle of a is read, as by NumPy, and so only it has
    derivatives. The eigenvectors' signs are those computed; where two
    eigenvalues are equal, the derivatives of their eigenvectors are inf or
    nan, while those of the eigenvalues stay exact.
    """
    _square("np.linalg.eigh", a)
    return _EighResult(*_eigh(a, _check_uplo(UPLO)))


@_constant_tensors_unwrapped
def eigvalsh(a, UPLO="L"):
    """np.linalg.eigvalsh: the eigenvalues of a symmetric matrix, ascending."""
    _square("np.linalg.eigvalsh", a)
    return _eigvalsh(a, _check_uplo(UPLO))


# eig: A = V diag(w) V^-1 with distinct eigenvalues (Giles 2008, "An extended
# collection of matrix derivative results"; PyTorch's linalg_eig_jvp). With
# X = V^-1 dA V: dw = diag(X) and dV = V (F * X), F the reciprocal gaps; then
# dV -= V Re(diag(V^H dV)), which keeps NumPy's unit-norm columns. The phase
# of each column is NumPy's choice (a gauge): functions of the eigenvectors
# that do not depend on it (|V|, V diag(f(w)) V^-1) have exact derivatives.

_EigResult = type(np.linalg.eig(np.eye(1)))


@custom_jvp
def _eig(a):
    w, V = np.linalg.eig(values_of(a))
    return w, V


@_eig.defjvp
@_quiet
def _eig_jvp(primals, tangents):
    a, = primals
    da, = tangents
    w, V = _eig(a)
    X = np.linalg.solve(V, np.matmul(da, V))
    dV = np.matmul(V, chain(_reciprocal_gaps(w), X))
    dV = dV - V * np.expand_dims(_real(np.sum(_conj(V) * dV, axis=-2)), -2)
    return (w, V), (_diagonal(X), dV)


@custom_jvp
def _eigvals(a):
    return np.linalg.eigvals(values_of(a))


@_eigvals.defjvp
def _eigvals_jvp(primals, tangents):
    # dw = diag(V^-1 dA V): no reciprocal gaps, exact at repeated eigenvalues
    # where V stays invertible.
    a, = primals
    da, = tangents
    w, V = _eig(a)
    return _eigvals(a), _diagonal(np.linalg.solve(V, np.matmul(da, V)))


@_constant_tensors_unwrapped
def eig(a):
    """np.linalg.eig: ``(eigenvalues, eigenvectors)`` of a square matrix,
    complex unless every eigenvalue is real (as NumPy's).

    The eigenvalues' derivatives are exact where the eigenvectors are
    independent; the eigenvectors' are those of unit-norm columns of NumPy's
    phases, inf or nan where eigenvalues repeat: differentiate functions of
    them that do not depend on the phases (PyTorch's rule too).
    """
    _square("np.linalg.eig", a)
    return _EigResult(*_eig(a))


@_constant_tensors_unwrapped
def eigvals(a):
    """np.linalg.eigvals: the eigenvalues of a square matrix."""
    _square("np.linalg.eigvals", a)
    return _eigvals(a)


# ---------------------------------------------------------------------------
# QR. Walter and Lehmann (2018), "Algorithmic differentiation of linear
# algebra functions with application in optimum experimental design"; JAX's
# qr_jvp_rule. For m >= n, with C = Q^H dA R^-1 and Omega = tril(C, -1) -
# tril(C, -1)^H:  dQ = dA R^-1 + Q (Omega - C),  dR = (C - Omega) R.
# For m < n, a = [X, Y] with X square: X = Q R1 by the rule above, and
# Y = Q R2 gives dR2 = Q^H (dY - dQ R2).

@functools.partial(custom_jvp, nondiff_argnums=(1,))
def _qr(a, complete):
    Q, R = np.linalg.qr(values_of(a), mode="complete" if complete else "reduced")
    return Q, R


def _qr_tall(Q, R, da):
    da_rinv = _mT(np.linalg.solve(_mT(R), _mT(da)))     # dA R^-1 (transposes, not conjugates)
    C = np.matmul(_mH(Q), da_rinv)
    lower = np.tril(C, -1)
    omega = lower - _mH(lower)
    # (Complex matrices add i Im diag(C) to omega.)
    dQ = np.matmul(Q, omega - C) + da_rinv
    dR = np.matmul(C - omega, R)
    return dQ, dR


@_qr.defjvp
def _qr_jvp(complete, primals, tangents):
    a, = primals
    da, = tangents
    m, n = np.shape(a)[-2:]
    Q, R = _qr(a, complete)
    if m >= n:
        dQ, dR = _qr_tall(Q, R, da)
    else:
        dQ, dR1 = _qr_tall(Q, R[..., :, :m], da[..., :, :m])
        dR2 = np.matmul(_mH(Q), da[..., :, m:] - np.matmul(dQ, R[..., :, m:]))
        dR = np.concatenate([dR1, dR2], axis=-1)
    return (Q, R), (dQ, dR)


@_constant_tensors_unwrapped
def qr(a, mode="reduced"):
    """np.linalg.qr for modes 'reduced', 'complete' (m <= n, where it is
    'reduced') and 'r'. The signs are those computed; R must have a nonzero
    diagonal (a of full rank) for the derivatives."""
    _at_least_2d("np.linalg.qr", a)
    m, n = np.shape(a)[-2:]
    if mode == "r":
        return _qr(a, False)[1]
    if mode == "complete" and m > n:
        raise NotImplementedError(
            f"np.linalg.qr(a, mode='complete') of a tall matrix ({m} x {n}) has no derivative: "
            f"its last {m - n} columns of Q are not determined by a; use mode='reduced'")
    if mode not in ("reduced", "complete"):
        raise ValueError(f"np.linalg.qr: mode {mode!r} is not differentiable; use 'reduced', "
                         f"'complete' or 'r'")
    return _QRResult(*_qr(a, mode == "complete"))


# ---------------------------------------------------------------------------
# The pseudo-inverse. Not a composite of the SVD: its derivative exists
# wherever the rank does not change, also at repeated singular values, where
# the SVD's singular vectors have none. Golub and Pereyra (1973), "The
# differentiation of pseudo-inverses":
#   dA+ = -A+ dA A+ + A+ A+^H dA^H (I - A A+) + (I - A+ A) dA^H A+^H A+

@functools.partial(custom_jvp, nondiff_argnums=(1, 2))
def _pinv(a, rcond, hermitian):
    return np.linalg.pinv(values_of(a), rcond=rcond, hermitian=hermitian)


@_pinv.defjvp
def _pinv_jvp(rcond, hermitian, primals, tangents):
    a, = primals
    da, = tangents
    P = _pinv(a, rcond, hermitian)
    Ph, dAh = _mH(P), _mH(da)
    m, n = np.shape(a)[-2:]
    left = _eye(m, a) - np.matmul(a, P)         # I - A A+  (m x m)
    right = _eye(n, a) - np.matmul(P, a)        # I - A+ A  (n x n)
    dP = (-np.matmul(np.matmul(P, da), P)
          + np.matmul(np.matmul(np.matmul(P, Ph), dAh), left)
          + np.matmul(np.matmul(right, dAh), np.matmul(Ph, P)))
    return P, dP


_NO_VALUE = object()


@_constant_tensors_unwrapped
def pinv(a, rcond=None, hermitian=False, *, rtol=_NO_VALUE):
    """np.linalg.pinv (rcond and rtol as NumPy's). Its derivative is that of a
    pseudo-inverse of constant rank: singular values at the cutoff are not."""
    _at_least_2d("np.linalg.pinv", a)
    if rcond is None:
        if rtol is _NO_VALUE:
            rcond = 1e-15
        elif rtol is None:
            rcond = max(np.shape(a)[-2:]) * np.finfo(values_of(a).dtype).eps
        else:
            rcond = rtol
    elif rtol is not _NO_VALUE:
        raise ValueError("`rtol` and `rcond` can't be both set.")
    if np.ndim(rcond):
        raise TypeError("np.linalg.pinv of traced arrays takes one rcond for the whole batch")
    if hermitian:
        # NumPy reads the lower triangle then (through eigh): so does the rule.
        a = _mirrored(a, "L")
    return _pinv(a, float(rcond), bool(hermitian))


def lstsq(a, b, rcond=None):
    """np.linalg.lstsq: ``(x, residuals, rank, s)``, x = pinv(a) b with the same
    cutoff (rcond relative to the largest singular value; None: machine
    precision times max(m, n)); rank is a constant."""
    av = values_of(a)
    if np.ndim(av) != 2:
        raise np.linalg.LinAlgError(f"{np.ndim(av)}-dimensional array given. Array must be "
                                    f"two-dimensional (np.linalg.lstsq)")
    m, n = av.shape
    if np.shape(b)[0] != m:
        raise np.linalg.LinAlgError(f"Incompatible dimensions: a has {m} rows, b has "
                                    f"{np.shape(b)[0]}")
    if rcond is None:
        rcond = np.finfo(av.dtype).eps * max(m, n)
    s = svdvals(a)
    sv = values_of(s)
    rank = int(np.sum(sv > rcond * sv[0])) if sv.size else 0
    x = np.matmul(pinv(a, rcond), b)
    if rank == n and m > n:
        r = b - np.matmul(a, x)
        residuals = np.sum(r * r, axis=0)
        if np.ndim(b) == 1:
            residuals = np.reshape(residuals, (1,))
    else:
        residuals = np.empty((0,), dtype=av.dtype)
    return x, residuals, rank, s


# ---------------------------------------------------------------------------
# Functions of matrices made of the above

def matrix_power(a, n):
    """np.linalg.matrix_power: repeated squaring with matmul; negative powers
    of the inverse."""
    n = operator.index(n)
    _square("np.linalg.matrix_power", a)
    if n == 0:
        return np.zeros_like(a) + _eye(np.shape(a)[-1], a)
    if n < 0:
        a, n = np.linalg.inv(a), -n
    result, z = None, a
    while True:
        if n & 1:
            result = z if result is None else np.matmul(result, z)
        n >>= 1
        if not n:
            return result
        z = np.matmul(z, z)


def multi_dot(arrays, *, out=None):
    """np.linalg.multi_dot: the products in order, 1-d ends as NumPy takes them."""
    if out is not None:
        raise TypeError("np.linalg.multi_dot(..., out=...) cannot write traced values; assign "
                        "the result")
    arrays = list(arrays)
    if len(arrays) < 2:
        raise ValueError("Expecting at least two arrays.")
    result = arrays[0]
    for x in arrays[1:]:
        result = np.matmul(result, x) if np.ndim(result) > 1 or np.ndim(x) > 1 else \
            np.sum(result * x)
    return result


def matrix_norm(x, ord="fro", axis=(-2, -1), keepdims=False):
    """Matrix norms over two axes: 'fro', 'nuc', 2, -2 (through the singular
    values), 1, -1, inf, -inf (column and row sums)."""
    nd = np.ndim(values_of(x))
    rows, cols = (a % nd for a in axis)
    if rows == cols:
        raise ValueError("Duplicate axes given.")
    if ord in (None, "fro"):
        r = np.linalg.norm(x, None, (rows, cols), True)
    elif ord in ("nuc", 2, -2):
        s = svdvals(np.moveaxis(x, (rows, cols), (-2, -1)))
        if ord == "nuc":
            r = np.sum(s, axis=-1)
        else:
            r = np.max(s, axis=-1) if ord == 2 else np.min(s, axis=-1)
        r = np.expand_dims(r, tuple(sorted((rows, cols))))
    elif ord in (1, -1, np.inf, -np.inf):
        inner, outer = (rows, cols) if ord in (1, -1) else (cols, rows)
        pick = np.max if ord > 0 else np.min
        r = pick(np.sum(np.abs(x), axis=inner, keepdims=True), axis=outer, keepdims=True)
    else:
        raise ValueError(f"Invalid norm order {ord!r} for matrices")
    return r if keepdims else np.squeeze(r, (rows, cols))


def norm(x, ord=None, axis=None, keepdims=False, *, vector=None):
    """np.linalg.norm with every order: the matrix orders through
    :func:`matrix_norm`, the rest by ``vector`` (the tier's own norm)."""
    nd = np.ndim(values_of(x))
    if axis is None:
        matrix = ord is not None and nd == 2
        axes = (0, 1)
    else:
        axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
        matrix = len(axes) == 2
    if matrix and ord not in (None, "fro"):
        return matrix_norm(x, ord, axes, keepdims)
    return vector(x, ord, axis, keepdims)


def norm_with(vector):
    """np.linalg.norm for a tier whose own norm (``vector``) takes the vector
    orders and the Frobenius norm."""
    @functools.wraps(np.linalg.norm)
    def run(x, ord=None, axis=None, keepdims=False):
        return norm(x, ord, axis, keepdims, vector=vector)
    return run


def cond(x, p=None):
    """np.linalg.cond: ratios of singular values for p None, 2, -2; for the
    other orders norm(x, p) * norm(inv(x), p)."""
    if p in (None, 2, -2):
        s = svdvals(x)
        r = s[..., 0] / s[..., -1]
        return r if p != -2 else s[..., -1] / s[..., 0]
    return matrix_norm(x, p) * matrix_norm(np.linalg.inv(x), p)


def matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    """np.linalg.matrix_rank: an integer, a constant."""
    return np.linalg.matrix_rank(values_of(A), tol=values_of(tol), hermitian=hermitian,
                                 rtol=values_of(rtol))


# ---------------------------------------------------------------------------
# SciPy's decompositions and solvers (scipy.linalg's signatures; SciPy is
# imported when one runs)

# LU with partial pivoting: P^T A = L U with P a constant. For a square A,
# X = L^-1 P^T dA U^-1 = L^-1 dL + dU U^-1 splits into its strictly lower part
# (L unit lower triangular) and its upper part:  dL = L tril(X, -1),
# dU = triu(X) U. A tall A = P [L1; L2] U adds dL2 = (dA2 - L2 dU) U^-1 for the
# rows below; a wide one P L [U1, U2] adds dU2 = L^-1 (dA2 - dL U2).

@custom_jvp
def _lu(a):
    P, L, U = _scipy_linalg("scipy.linalg.lu").lu(values_of(a))
    return P, L, U


@_lu.defjvp
def _lu_jvp(primals, tangents):
    a, = primals
    da, = tangents
    P, L, U = _lu(a)
    m, n = np.shape(a)[-2:]
    k = min(m, n)
    pda = np.matmul(_mT(P), da)
    L1, U1 = L[..., :k, :], U[..., :, :k]
    X = np.linalg.solve(L1, _mT(np.linalg.solve(_mT(U1), _mT(pda[..., :k, :k]))))
    dL = np.matmul(L1, np.tril(X, -1))
    dU = np.matmul(np.triu(X), U1)
    if m > n:
        dL2 = _mT(np.linalg.solve(_mT(U1), _mT(pda[..., k:, :] - np.matmul(L[..., k:, :], dU))))
        dL = np.concatenate([dL, dL2], axis=-2)
    if n > m:
        dU2 = np.linalg.solve(L1, pda[..., :, k:] - np.matmul(dL, U[..., :, k:]))
        dU = np.concatenate([dU, dU2], axis=-1)
    return (P, L, U), (np.zeros_like(values_of(P)), dL, dU)


def lu(a, permute_l=False, overwrite_a=False, check_finite=True, p_indices=False):
    """scipy.linalg.lu: ``(P, L, U)``, or ``(P L, U)`` with ``permute_l``. P is
    a constant (the pivoting is locally constant)."""
    if p_indices:
        raise TypeError("scipy.linalg.lu(p_indices=True) of traced arrays: take P (the "
                        "default) and its argmax over axis -2")
    P, L, U = _lu(a)
    P = values_of(P)
    if permute_l:
        return np.matmul(P, L), U
    return P, L, U


def _triangle(a, lower, unit_diagonal, diagonal_value=1.0):
    """The triangle solve_triangular reads: lower or upper, with the diagonal
    taken as ``diagonal_value`` where unit_diagonal."""
    if not unit_diagonal:
        return np.tril(a) if lower else np.triu(a)
    part = np.tril(a, -1) if lower else np.triu(a, 1)
    if not diagonal_value:
        return part
    return part + _eye(np.shape(a)[-1], a)


def _trans_op(trans):
    if trans in (0, "N"):
        return lambda x: x
    if trans in (1, "T"):
        return _mT
    if trans in (2, "C"):
        return _mH
    raise ValueError(f"trans must be 0, 1, 2 or 'N', 'T', 'C', not {trans!r}")


@functools.partial(custom_jvp, nondiff_argnums=(2, 3, 4))
def _solve_triangular(a, b, trans, lower, unit_diagonal):
    return _scipy_linalg("scipy.linalg.solve_triangular").solve_triangular(
        values_of(a), values_of(b), trans=trans, lower=lower, unit_diagonal=unit_diagonal)


@_solve_triangular.defjvp
def _solve_triangular_jvp(trans, lower, unit_diagonal, primals, tangents):
    # op(T) x = b:  op(T) dx = db - op(dT) x, solved by np.linalg.solve (whose
    # reverse rule is written by hand) rather than by this primitive.
    a, b = primals
    da, db = tangents
    op = _trans_op(trans)
    x = _solve_triangular(a, b, trans, lower, unit_diagonal)
    T = op(_triangle(a, lower, unit_diagonal))
    dT = op(_triangle(da, lower, unit_diagonal, 0.0))
    return x, np.linalg.solve(T, db - np.matmul(dT, x))


def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False,
                     check_finite=True):
    """scipy.linalg.solve_triangular: x with op(T) x = b, T the ``lower`` or upper
    triangle of a (only it has derivatives), op by ``trans``."""
    _trans_op(trans)
    _square("scipy.linalg.solve_triangular", a)
    return _solve_triangular(a, b, trans, bool(lower), bool(unit_diagonal))


def cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    """scipy.linalg.cho_factor: ``(c, lower)``, c holding the Cholesky factor in
    its ``lower`` or upper triangle and a's entries in the other (as SciPy
    leaves them). Only the triangle read has derivatives."""
    _square("scipy.linalg.cho_factor", a)
    L = np.linalg.cholesky(_mirrored(a, "L" if lower else "U"))
    if lower:
        return L + np.triu(a, 1), lower
    return _mH(L) + np.tril(a, -1), lower


def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    """scipy.linalg.cho_solve: x with A x = b, from cho_factor's ``(c, lower)``."""
    c, lower = c_and_lower
    if lower:       # L L^H x = b
        y = solve_triangular(c, b, 0, lower=True)
        return solve_triangular(c, y, 2, lower=True)
    y = solve_triangular(c, b, 2, lower=False)      # U^H U x = b
    return solve_triangular(c, y, 0, lower=False)


def _kron_eye_left(A, n):
    """kron(A, I_n), batched over A's leading axes."""
    m = np.shape(A)[-1]
    blocks = np.expand_dims(np.expand_dims(A, -1), -3) * np.reshape(_eye(n, A), (n, 1, n))
    return np.reshape(blocks, np.shape(A)[:-2] + (m * n, m * n))


def _kron_eye_right(B, m):
    """kron(I_m, B), batched over B's leading axes."""
    n = np.shape(B)[-1]
    blocks = np.expand_dims(np.expand_dims(B, -3), -2) * np.reshape(_eye(m, B), (m, 1, m, 1))
    return np.reshape(blocks, np.shape(B)[:-2] + (m * n, m * n))


@custom_jvp
def _solve_sylvester(a, b, q):
    return _scipy_linalg("scipy.linalg.solve_sylvester").solve_sylvester(
        values_of(a), values_of(b), values_of(q))


@_solve_sylvester.defjvp
def _solve_sylvester_jvp(primals, tangents):
    # A dX + dX B = dQ - dA X - X dB: a Sylvester equation again, solved in its
    # Kronecker form (kron(A, I) + kron(I, B^T)) vec(dX) = vec(rhs), row-major,
    # by np.linalg.solve (this primitive may not meet a tangent: see the top).
    # O((m n)^3): for the small systems these are.
    a, b, q = primals
    da, db, dq = tangents
    x = _solve_sylvester(a, b, q)
    m, n = np.shape(x)[-2:]
    rhs = dq - np.matmul(da, x) - np.matmul(x, db)
    M = _kron_eye_left(a, n) + _kron_eye_right(_mT(b), m)
    flat = np.reshape(rhs, np.shape(rhs)[:-2] + (m * n,))
    dx = np.linalg.solve(M, np.expand_dims(flat, -1))
    return x, np.reshape(dx, np.shape(rhs))


def solve_sylvester(a, b, q):
    """scipy.linalg.solve_sylvester: X with A X + X B = Q."""
    return _solve_sylvester(a, b, q)


def _band_to_full(ab, l, u):
    """The n x n matrix of LAPACK band storage, ab[u + i - j, j] = A[i, j]."""
    n = np.shape(ab)[-1]
    full = None
    for r in range(l + u + 1):
        k = r - u                       # the diagonal i - j = k
        if abs(k) >= n:
            continue
        v = ab[r, max(0, -k):n - max(0, k)]
        d = np.diag(v, -k)
        full = d if full is None else full + d
    return full


@functools.partial(custom_jvp, nondiff_argnums=(0,))
def _solve_banded(l_and_u, ab, b):
    return _scipy_linalg("scipy.linalg.solve_banded").solve_banded(
        l_and_u, values_of(ab), values_of(b))


@_solve_banded.defjvp
def _solve_banded_jvp(l_and_u, primals, tangents):
    ab, b = primals
    dab, db = tangents
    l, u = l_and_u
    x = _solve_banded(l_and_u, ab, b)
    dx = np.linalg.solve(_band_to_full(ab, l, u), db - np.matmul(_band_to_full(dab, l, u), x))
    return x, dx


def solve_banded(l_and_u, ab, b, overwrite_ab=False, overwrite_b=False, check_finite=True):
    """scipy.linalg.solve_banded: x with A x = b, A in LAPACK band storage."""
    l, u = (int(v) for v in l_and_u)
    if np.ndim(values_of(ab)) != 2:
        raise ValueError("scipy.linalg.solve_banded of traced arrays takes one band matrix "
                         "(l + u + 1, n)")
    return _solve_banded((l, u), ab, b)


# Functions of matrices: the Frechet derivative L_f(A, E) by the block
# identity f([[A, E], [0, A]]) = [[f(A), L_f(A, E)], [0, f(A)]] (Higham,
# Functions of Matrices, Thm 3.6 / eq. 3.16), the primitive on a block of 2n.
# The primitive on the block runs at the levels below, so its own rule gives
# the second derivatives.
#
# Reverse mode transposes the rule with a Tensor as the tangent E, which may
# not enter the primitive (see the top: its transpose would call the rule on
# a block of 4n, and so on without end). There the identity is applied to the
# basis matrices E_kl instead, on the primal alone: K[kl] = L_f(A, E_kl), one
# batched call on n^2 blocks, and L_f(A, E) = sum_kl E_kl K[kl], a matmul,
# linear in E. (That is n^2 calls of f on blocks of 2n. For expm, whose reverse
# mode matters most, the block goes instead through the scaling and squaring
# algorithm written with matmul and solve, which transpose by their own rules:
# one evaluation on the block.)

# Higham (2005), "The scaling and squaring method for the matrix exponential
# revisited": the [13/13] Pade approximant, exact in double precision for
# ||M||_1 <= theta_13, and squarings for larger norms.
_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0,
           1187353796428800.0, 129060195264000.0, 10559470521600.0, 670442572800.0,
           33522128640.0, 1323241920.0, 40840800.0, 960960.0, 16380.0, 182.0, 1.0)
_THETA13 = 5.371920351148152


def _expm_by_squaring(M):
    """expm(M) as a composite of matmul and solve (differentiable as it is)."""
    norm = float(np.max(np.sum(np.abs(values_of(M)), axis=-2), initial=0.0))
    squarings = max(0, int(np.ceil(np.log2(norm / _THETA13)))) if norm > 0 else 0
    M = M / 2.0 ** squarings
    b = _PADE13
    eye = _eye(np.shape(M)[-1], M)
    M2 = np.matmul(M, M)
    M4 = np.matmul(M2, M2)
    M6 = np.matmul(M4, M2)
    U = np.matmul(M, np.matmul(M6, b[13] * M6 + b[11] * M4 + b[9] * M2)
                  + b[7] * M6 + b[5] * M4 + b[3] * M2 + b[1] * eye)
    V = (np.matmul(M6, b[12] * M6 + b[10] * M4 + b[8] * M2)
         + b[6] * M6 + b[4] * M4 + b[2] * M2 + b[0] * eye)
    R = np.linalg.solve(V - U, V + U)
    for _ in range(squarings):
        R = np.matmul(R, R)
    return R

def _block(a, e):
    """[[a, e], [0, a]]."""
    return np.concatenate([np.concatenate([a, e], axis=-1),
                           np.concatenate([np.zeros_like(e), a], axis=-1)], axis=-2)


def _frechet_basis(f, a):
    """K (..., n^2, n^2) with flat(L_f(A, E)) = flat(E) @ K (row-major flat)."""
    n = np.shape(a)[-1]
    batch = tuple(np.shape(a)[:-2])
    basis = np.reshape(_eye(n * n, a), (n * n, n, n))
    A = np.broadcast_to(np.expand_dims(a, -3), batch + (n * n, n, n))
    K = f(_block(A, np.broadcast_to(basis, batch + (n * n, n, n))))[..., :n, n:]
    return np.reshape(K, batch + (n * n, n * n))


def _matrix_function(name, scipy_name):
    @custom_jvp
    def primitive(a):
        out = getattr(_scipy_linalg(f"scipy.linalg.{scipy_name}"), scipy_name)(values_of(a))
        if np.iscomplexobj(out) and not np.iscomplexobj(values_of(a)):
            raise TypeError(f"scipy.linalg.{scipy_name} of this real matrix is complex (an "
                            f"eigenvalue on the negative real axis); complex results are not "
                            f"supported yet")
        return out

    @primitive.defjvp
    def jvp(primals, tangents):
        a, = primals
        da, = tangents
        n = np.shape(a)[-1]
        if not isinstance(da, TensorBase):
            return primitive(a), primitive(_block(a, da))[..., :n, n:]
        if scipy_name == "expm":
            return primitive(a), _expm_by_squaring(_block(a, da))[..., :n, n:]
        flat = np.reshape(da, np.shape(da)[:-2] + (1, n * n))
        K = _frechet_basis(primitive, a)
        return primitive(a), np.reshape(np.matmul(flat, K), np.shape(da))

    def public(A, *args, **kwargs):
        _square(f"scipy.linalg.{scipy_name}", A)
        return primitive(A)
    public.__name__ = public.__qualname__ = name
    return public


expm = _matrix_function("expm", "expm")
expm.__doc__ = "scipy.linalg.expm: the matrix exponential."
logm = _matrix_function("logm", "logm")
logm.__doc__ = "scipy.linalg.logm: the principal matrix logarithm (real results)."
sqrtm = _matrix_function("sqrtm", "sqrtm")
sqrtm.__doc__ = "scipy.linalg.sqrtm: the principal matrix square root (real results)."
