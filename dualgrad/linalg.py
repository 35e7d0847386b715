"""Linear algebra on Tensors, as ``torch.linalg`` (each function differentiable)."""

from collections import namedtuple

import numpy as np

from dualgrad._array import linalg as _linalg
from dualgrad._array import ops as _ops
from dualgrad._array.dualarray import DualArray
from dualgrad._array.engine import TensorBase, tensor_of

__all__ = ["solve", "inv", "det", "slogdet", "cholesky", "norm", "vector_norm", "matrix_norm",
           "svd", "svdvals", "eigh", "eigvalsh", "qr", "pinv", "lstsq", "matrix_power",
           "solve_triangular", "lu", "matrix_exp"]

# torch.return_types' names for the fields
SVDResult = namedtuple("SVDResult", "U S Vh")
EighResult = namedtuple("EighResult", "eigenvalues eigenvectors")
QRResult = namedtuple("QRResult", "Q R")
LstsqResult = namedtuple("LstsqResult", "solution residuals rank singular_values")
LUResult = namedtuple("LUResult", "P L U")


def _tensor(x):
    """A result as a tensor (results of constant inputs come back as arrays)."""
    if isinstance(x, TensorBase):
        return x
    if type(x) is DualArray or (isinstance(x, np.ndarray) and x.dtype.kind == "f"):
        return tensor_of(x)
    return x


def svd(A, full_matrices=True):
    """(U, S, Vh) with A = U diag(S) Vh. The signs of the singular vectors are
    those computed; where singular values repeat, the gradients through U and
    Vh are inf or nan (those through S stay exact)."""
    return SVDResult(*[_tensor(t) for t in _linalg.svd(_ops._ten(A), full_matrices)])


def svdvals(A):
    """The singular values of A, in decreasing order."""
    return _tensor(_linalg.svdvals(_ops._ten(A)))


def eigh(A, UPLO="L"):
    """(eigenvalues ascending, eigenvectors) of a symmetric matrix, of which the
    ``UPLO`` triangle is read (and differentiated). Where eigenvalues repeat,
    the gradients through their eigenvectors are inf or nan."""
    return EighResult(*[_tensor(t) for t in _linalg.eigh(_ops._ten(A), UPLO)])


def eigvalsh(A, UPLO="L"):
    """The eigenvalues of a symmetric matrix, ascending."""
    return _tensor(_linalg.eigvalsh(_ops._ten(A), UPLO))


def qr(A, mode="reduced"):
    """(Q, R) with A = Q R; mode 'reduced', 'complete' (m <= n) or 'r' (Q empty)."""
    A = _ops._ten(A)
    if mode == "r":
        return QRResult(tensor_of(np.empty((0,))), _tensor(_linalg.qr(A, "r")))
    return QRResult(*[_tensor(t) for t in _linalg.qr(A, mode)])


def pinv(A, *, atol=None, rtol=None, hermitian=False):
    """The pseudo-inverse; singular values below rtol times the largest are
    dropped (rtol default: eps * max(m, n)). Differentiable where the rank
    does not change."""
    if atol is not None:
        raise TypeError("linalg.pinv(atol=...) is not supported; give the cutoff relative to "
                        "the largest singular value with rtol=")
    A = _ops._ten(A)
    if rtol is None:
        rtol = max(A.shape[-2:]) * np.finfo(_ops._arr(A).dtype).eps
    return _tensor(_linalg.pinv(A, rtol, hermitian))


def lstsq(A, B, rcond=None, *, driver=None):
    """(solution, residuals, rank, singular_values) of min ||A X - B|| (A one
    matrix), as NumPy's lstsq computes them; rank is an int."""
    x, res, rank, s = _linalg.lstsq(_ops._ten(A), _ops._ten(B), rcond)
    return LstsqResult(_tensor(x), _tensor(res), rank, _tensor(s))


def matrix_power(A, n):
    """A to the integer power n (negative: of the inverse)."""
    return _tensor(_linalg.matrix_power(_ops._ten(A), n))


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False):
    """The matrix norm over the two axes ``dim``: 'fro', 'nuc', 2, -2, 1, -1,
    inf, -inf."""
    return _tensor(_linalg.matrix_norm(_ops._ten(A), ord, tuple(dim), keepdim))


def solve_triangular(A, B, *, upper, left=True, unitriangular=False):
    """X with A X = B (``left``) or X A = B, A upper or lower triangular (only
    that triangle is read)."""
    A, B = _ops._ten(A), _ops._ten(B)
    if left:
        return _tensor(_linalg.solve_triangular(A, B, 0, not upper, unitriangular))
    X = _linalg.solve_triangular(A, _ops._ten(B).mT, 1, not upper, unitriangular)
    return _tensor(X).mT


def lu(A, *, pivot=True):
    """(P, L, U) with A = P L U (partial pivoting; P a constant)."""
    if not pivot:
        raise TypeError("linalg.lu(pivot=False) is not supported; use the pivoted factors")
    return LUResult(*[_tensor(t) for t in _linalg.lu(_ops._ten(A))])


def matrix_exp(A):
    """The matrix exponential."""
    return _tensor(_linalg.expm(_ops._ten(A)))


def solve(A, B):
    """X with A @ X = B (A square and invertible; batched over leading dimensions)."""
    return _ops._solve(_ops._ten(A), _ops._ten(B))


def inv(A):
    """The inverse of a square matrix."""
    return _ops._inv(_ops._ten(A))


def det(A):
    """The determinant of a square matrix."""
    return _ops._det(_ops._ten(A))


def slogdet(A):
    """(sign, log|det A|); the gradient flows through log|det A|."""
    return _ops._ValuesIndices(_ops._slogdet(_ops._ten(A)))


def cholesky(A):
    """The lower-triangular L with A = L @ L.T (A symmetric positive definite)."""
    return _ops._cholesky(_ops._ten(A))


def vector_norm(x, ord=2, dim=None, keepdim=False):
    """The ord-norm of x's elements over ``dim`` (all of them by default)."""
    return _ops.norm(x, ord, dim, keepdim)


def norm(A, ord=None, dim=None, keepdim=False):
    """The 2-norm of a vector, the Frobenius norm of a matrix, ``matrix_norm``
    with ``ord`` over two dimensions (those of a matrix, or a pair ``dim``),
    or ``vector_norm`` with ``ord`` over ``dim``."""
    matrix = (isinstance(dim, (tuple, list)) and len(dim) == 2) or (
        dim is None and _ops._arr(A).ndim == 2)
    if ord is None or ord == "fro":
        return _ops._norm2(_ops._ten(A), dim, keepdim)
    if matrix:
        return matrix_norm(A, ord, (-2, -1) if dim is None else dim, keepdim)
    if _ops._arr(A).ndim > 1 and dim is None:
        raise RuntimeError(f"linalg.norm: ord={ord!r} needs a vector or a matrix; give dim= "
                           f"for the axes of a tensor of {_ops._arr(A).ndim} dimensions")
    return _ops.norm(A, ord, dim, keepdim)
