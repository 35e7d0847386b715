"""Linear algebra on Tensors, as ``torch.linalg`` (each function differentiable)."""

from dualgrad._array import ops as _ops

__all__ = ["solve", "inv", "det", "slogdet", "cholesky", "norm", "vector_norm"]


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
    """The 2-norm of a vector, the Frobenius norm of a matrix, or ``vector_norm``
    with ``ord`` over ``dim``."""
    if ord is None or ord == "fro":
        return _ops._norm2(_ops._ten(A), dim, keepdim)
    if _ops._arr(A).ndim > 1 and dim is None:
        raise RuntimeError(f"linalg.norm: ord={ord!r} of a matrix has no derivative rule in "
                           f"dualgrad; pass dim= for vector norms, or use ord='fro'")
    return _ops.norm(A, ord, dim, keepdim)
