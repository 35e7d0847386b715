"""Every NumPy function of the registry (dualgrad._array.registry), in every
tier, mode and nesting, against central differences.

Each registry row has examples in ``CASES``: functions of one vector x that
call the NumPy function as user code does. Each example is checked, in float64
with random directions and output weights:

* on the array tier (DualArray forward, Tensor reverse): the JVP ``J v``
  against the central difference of f along v, the VJP through the identity
  ``<u, J v> = <J^T u, v>``, and the second order in both nestings, jvp of vjp
  (a DualArray holding Tensors) and vjp of jvp (a Tensor holding DualArrays),
  and dg.hvp, against the central difference of ``J^T u`` along v;
* on the scalar tier (Dual forward, Var reverse) where the registry says NumPy's
  code or the tier's own version takes the function: JVP, VJP and the tape's
  Hessian-vector product; where it says the planner takes the array tier
  instead, that the transforms (left to the planner) still give the array
  tier's numbers.

``test_every_row_has_cases`` walks the registry: a row without an example
fails, so the docs page, generated from the same rows, claims nothing untested.
"""

import numpy as np
import pytest

import dualgrad as dg
from dualgrad._array import registry

RTOL1, ATOL1 = 1e-6, 1e-7       # first order: central differences, step 1e-6
RTOL2, ATOL2 = 1e-5, 1e-6       # second order: differences of exact gradients, step 1e-5


def R(x, *shape):
    return np.reshape(x, shape)


def filled(make, write):
    """f(x) that preallocates with ``make(x)`` and fills it with ``write(g, x)``."""
    def f(x):
        g = make(x)
        write(g, x)
        return g
    return f


def _w_slice(g, x):
    g[0] = x[0] * x[1]
    g[1:] = x[1:] ** 2
    g[np.array([0, 2])] += x[:2]
    g[g > 10.0] = 0.0       # a mask compares values: no derivative of its own
    g *= x


def put_along(x):
    a = R(x, 2, 3) * 1.0
    g = np.zeros_like(a)
    g[...] = a
    np.put_along_axis(g, np.array([[0], [2]]), a[:, 1:2] ** 2, axis=1)
    return g


def copied(x):
    g = np.empty_like(x)
    np.copyto(g, x * x)
    return g


N = np.newaxis
ROTATION = np.array([[0.0, 2.0, 0.0], [-2.0, 0.0, 0.0], [0.0, 0.0, 1.5]])
CASES = {
    # Reductions
    np.sum: [(lambda x: np.sum(R(x, 2, 3), axis=0), 6)],
    np.mean: [(lambda x: np.mean(R(x, 2, 3), axis=1), 6)],
    np.var: [(lambda x: np.var(R(x, 2, 3), axis=1, ddof=1), 6), (lambda x: np.var(x), 3)],
    np.std: [(lambda x: np.std(R(x, 2, 3), axis=0), 6)],
    np.prod: [(lambda x: np.prod(R(x, 2, 3), axis=1), 6)],
    np.max: [(lambda x: np.max(R(x, 2, 3), axis=1), 6)],
    np.amax: [(lambda x: np.amax(x), 4)],
    np.min: [(lambda x: np.min(R(x, 2, 3), axis=0), 6)],
    np.amin: [(lambda x: np.amin(x), 4)],
    np.ptp: [(lambda x: np.ptp(R(x, 2, 3), axis=1), 6)],
    np.average: [(lambda x: np.average(x[:3], weights=x[3:]), 6),
                 (lambda x: np.average(R(x, 2, 3), axis=1, weights=[1.0, 2.0, 3.0]), 6)],
    np.median: [(lambda x: np.median(x), 5), (lambda x: np.median(R(x, 2, 3), axis=0), 6)],
    np.quantile: [(lambda x: np.quantile(x, [0.3, 0.5]), 5),
                  (lambda x: np.quantile(R(x, 2, 3), 0.4, axis=1, keepdims=True), 6)],
    np.percentile: [(lambda x: np.percentile(x, 30), 5),
                    (lambda x: np.percentile(x, [10, 90], method="midpoint"), 5)],
    np.nansum: [(lambda x: np.nansum(x), 4)],
    np.nanprod: [(lambda x: np.nanprod(x), 4)],
    np.nanmean: [(lambda x: np.nanmean(R(x, 2, 2), axis=0), 4)],
    np.nanvar: [(lambda x: np.nanvar(x), 4)],
    np.nanstd: [(lambda x: np.nanstd(x), 4)],
    np.nanmax: [(lambda x: np.nanmax(x), 4)],
    np.nanmin: [(lambda x: np.nanmin(x), 4)],
    # Differences, sums and integrals
    np.cumsum: [(lambda x: np.cumsum(R(x, 2, 3), axis=1), 6)],
    np.cumprod: [(lambda x: np.cumprod(x), 5), (lambda x: np.cumprod(R(x, 2, 3), axis=0), 6)],
    np.diff: [(lambda x: np.diff(x, 2), 5), (lambda x: np.diff(x, prepend=0.5, append=x[:1]), 4)],
    np.ediff1d: [(lambda x: np.ediff1d(x, to_begin=x[0]), 5)],
    np.gradient: [(lambda x: np.gradient(x), 5), (lambda x: np.gradient(x, 0.3, edge_order=2), 5),
                  (lambda x: np.gradient(x[:4], np.cumsum(x[4:]), edge_order=2), 8),
                  (lambda x: np.gradient(R(x, 2, 3), axis=1), 6)],
    np.trapezoid: [(lambda x: np.trapezoid(x), 5), (lambda x: np.trapezoid(x[:3], np.cumsum(x[3:])), 6)],
    np.interp: [(lambda x: np.interp([0.5, 1.5, 2.2, 3.5], [0.0, 1.0, 2.0, 3.0], x), 4),
                (lambda x: np.interp(3.0 * x, [0.0, 1.0, 2.0, 3.0], [1.0, 3.0, 2.0, 5.0]), 3)],
    # Shapes
    np.reshape: [(lambda x: np.reshape(x, (3, 2)), 6)],
    np.ravel: [(lambda x: np.ravel(R(x, 2, 3)), 6)],
    np.transpose: [(lambda x: np.transpose(R(x, 2, 3)), 6)],
    np.swapaxes: [(lambda x: np.swapaxes(R(x, 3, 4), 0, 1), 12)],
    np.moveaxis: [(lambda x: np.moveaxis(R(x, 2, 3, 2), 0, -1), 12)],
    np.rollaxis: [(lambda x: np.rollaxis(R(x, 2, 3, 2), 2), 12)],
    np.squeeze: [(lambda x: np.squeeze(R(x, 1, 3, 1)), 3)],
    np.expand_dims: [(lambda x: np.expand_dims(x, 1), 3)],
    np.broadcast_to: [(lambda x: np.broadcast_to(x, (2, 3)), 3)],
    np.atleast_1d: [(lambda x: np.atleast_1d(x[0] * x[1]), 2)],
    np.atleast_2d: [(lambda x: np.atleast_2d(x), 3)],
    np.atleast_3d: [(lambda x: np.atleast_3d(R(x, 2, 3)), 6)],
    np.flip: [(lambda x: np.flip(R(x, 3, 4), 0), 12)],
    np.fliplr: [(lambda x: np.fliplr(R(x, 3, 4)), 12)],
    np.flipud: [(lambda x: np.flipud(R(x, 3, 4)), 12)],
    np.rot90: [(lambda x: np.rot90(R(x, 3, 4)), 12), (lambda x: np.rot90(R(x, 3, 4), -1), 12)],
    np.roll: [(lambda x: np.roll(R(x, 3, 4), 1, axis=1), 12), (lambda x: np.roll(x, 5), 12)],
    np.repeat: [(lambda x: np.repeat(R(x, 3, 4), 2, axis=0), 12),
                (lambda x: np.repeat(x, [1, 2, 0, 1]), 4)],
    np.tile: [(lambda x: np.tile(R(x, 3, 4), (2, 1)), 12), (lambda x: np.tile(x, 2), 3)],
    np.resize: [(lambda x: np.resize(x, (2, 4)), 3)],
    np.pad: [(lambda x: np.pad(R(x, 2, 3), ((1, 0), (0, 2)), constant_values=1.5), 6),
             (lambda x: np.pad(x, 2, mode="edge"), 3),
             (lambda x: np.pad(x, (1, 2), mode="reflect"), 3),
             (lambda x: np.pad(x, 2, mode="wrap"), 3)],
    np.diagonal: [(lambda x: np.diagonal(R(x, 3, 3)), 9)],
    np.diag: [(lambda x: np.diag(x), 3), (lambda x: np.diag(R(x, 3, 3), 1), 9),
              (lambda x: np.diag(x, -1), 3)],
    np.diagflat: [(lambda x: np.diagflat(R(x, 2, 2)), 4)],
    np.trace: [(lambda x: np.trace(R(x, 3, 3)), 9)],
    np.tril: [(lambda x: np.tril(R(x, 3, 3), -1), 9)],
    np.triu: [(lambda x: np.triu(R(x, 3, 3)), 9)],
    np.copy: [(lambda x: np.copy(x) * x, 3)],
    np.copyto: [(copied, 3)],
    # Joining and splitting
    np.concatenate: [(lambda x: np.concatenate([x[:2], [1.0], x]), 3)],
    np.stack: [(lambda x: np.stack([x[:2], x[1:]], axis=1), 3)],
    np.hstack: [(lambda x: np.hstack([x[:3], x[3:]]), 6), (lambda x: np.hstack([x[0], x[1:]]), 3)],
    np.vstack: [(lambda x: np.vstack([x[:3], x[3:]]), 6)],
    np.dstack: [(lambda x: np.dstack([x[:3], x[3:]]), 6)],
    np.column_stack: [(lambda x: np.column_stack([x[:3], R(x[3:], 3, 1)]), 6)],
    np.block: [(lambda x: np.block([[R(x[:4], 2, 2), np.ones((2, 1))], [x[4:6][N], x[6:7][N]]]), 7)],
    np.append: [(lambda x: np.append(x[:2], x[1:]), 3),
                (lambda x: np.append(R(x, 2, 2), R(x[:2], 1, 2), axis=0), 4)],
    np.insert: [(lambda x: np.insert(x[:2], 1, x[2]), 3),
                (lambda x: np.insert(R(x, 2, 2), [0, 2], 7.0, axis=1), 4)],
    np.delete: [(lambda x: np.delete(x, 1), 3), (lambda x: np.delete(R(x, 2, 3), [0, 2], axis=1), 6)],
    np.split: [(lambda x: (lambda a, b, c: a * b + c)(*np.split(x, 3)), 6),
               (lambda x: (lambda a, b: a * b[0])(*np.split(x, [2])), 5)],
    np.array_split: [(lambda x: (lambda a, b: a[:2] * b)(*np.array_split(x, 2)), 5)],
    np.hsplit: [(lambda x: (lambda a, b: a * b)(*np.hsplit(R(x, 2, 4), 2)), 8)],
    np.vsplit: [(lambda x: (lambda a, b: a * b)(*np.vsplit(R(x, 4, 2), 2)), 8)],
    np.dsplit: [(lambda x: (lambda a, b: a * b)(*np.dsplit(R(x, 1, 2, 4), 2)), 8)],
    # Selection, sorting and indexing
    np.where: [(lambda x: np.where(x > 0.5, x, 0.0), 5), (lambda x: np.where(x < 0.5, x ** 2, x), 5)],
    np.select: [(lambda x: np.select([x > 0.6, x < 0.3], [x * x, -x], 1.0), 6)],
    np.choose: [(lambda x: np.choose([0, 1, 0], [x[:3], x[3:]]), 6)],
    np.clip: [(lambda x: np.clip(x, 0.3, 0.7), 6)],
    np.nan_to_num: [(lambda x: np.nan_to_num(x * x), 3)],
    np.sort: [(lambda x: np.sort(x), 5), (lambda x: np.sort(R(x, 2, 3), axis=0), 6),
              (lambda x: np.sort(R(x, 2, 3), axis=None), 6)],
    np.partition: [(lambda x: np.partition(x, 2), 5)],
    np.take: [(lambda x: np.take(x, [0, 2, 2]), 5), (lambda x: np.take(R(x, 2, 3), [2, 0], axis=1), 6)],
    np.take_along_axis: [(lambda x: np.take_along_axis(R(x, 2, 3), np.array([[0], [2]]), 1), 6)],
    np.put_along_axis: [(put_along, 6)],
    np.put: [(filled(np.zeros_like, lambda g, x: np.put(g, [0, 2], x[:2] ** 2)), 3),
             (filled(np.ones_like, lambda g, x: np.put(g, [5, 1], x[0], mode="wrap")), 3)],
    np.compress: [(lambda x: np.compress([True, False, True], x), 3)],
    np.extract: [(lambda x: np.extract(x > 0.5, x), 6)],
    np.argsort: [(lambda x: x[np.argsort(x)], 5)],
    np.argpartition: [(lambda x: x[np.argpartition(x, 2)[:2]], 5)],
    np.argmax: [(lambda x: x * np.argmax(x), 5)],
    np.argmin: [(lambda x: x[np.argmin(x)] * x, 5)],
    np.argwhere: [(lambda x: x[np.argwhere(x > 0.5)[:, 0]], 6)],
    np.nonzero: [(lambda x: x[np.nonzero(x > 0.5)], 6)],
    np.flatnonzero: [(lambda x: x[np.flatnonzero(x > 0.5)], 6)],
    np.count_nonzero: [(lambda x: x * np.count_nonzero(x > 0.5), 6)],
    np.searchsorted: [(lambda x: x * np.searchsorted(np.array([0.2, 0.6]), x), 5)],
    np.digitize: [(lambda x: x * np.digitize(x, [0.2, 0.6]), 5)],
    # Products and linear algebra
    np.matmul: [(lambda x: np.matmul(R(x, 2, 3), R(x, 3, 2)), 6)],
    np.dot: [(lambda x: np.dot(R(x, 2, 3), x[:3]), 6)],
    np.inner: [(lambda x: np.inner(R(x, 2, 3), R(x, 2, 3)), 6)],
    np.outer: [(lambda x: np.outer(x, x[:2]), 3)],
    np.vdot: [(lambda x: np.vdot(x, x[::-1]), 4)],
    np.tensordot: [(lambda x: np.tensordot(R(x, 2, 3), R(x, 3, 2), 1), 6)],
    np.einsum: [(lambda x: np.einsum("ij,jk->ik", R(x, 2, 3), R(x, 3, 2)), 6),
                (lambda x: np.einsum(R(x, 2, 3), [0, 1], R(x, 2, 3), [0, 1], [0]), 6),
                (lambda x: np.einsum("ii->i", R(x, 3, 3)), 9),
                (lambda x: np.einsum("ii", R(x, 3, 3)), 9)],
    np.kron: [(lambda x: np.kron(R(x[:4], 2, 2), R(x[4:], 1, 2)), 6)],
    np.cross: [(lambda x: np.cross(R(x, 2, 3), x[::-1][:3]), 6),
               (lambda x: np.cross(x[:2], x[2:]), 4), (lambda x: np.cross(x[:2], x[2:5]), 5)],
    np.convolve: [(lambda x: np.convolve(x[:4], x[4:]), 6),
                  (lambda x: np.convolve(x[:2], x[2:], mode="same"), 6),
                  (lambda x: np.convolve(x[:4], [1.0, -2.0, 0.5], mode="valid"), 4)],
    np.correlate: [(lambda x: np.correlate(x[:4], x[4:]), 6),
                   (lambda x: np.correlate(x[:4], x[4:], mode="full"), 6)],
    np.polyval: [(lambda x: np.polyval(x[:3], x[3:]), 5), (lambda x: np.polyval([1.0, -2.0, 3.0], x), 3)],
    np.linalg.solve: [(lambda x: np.linalg.solve(R(x[:4], 2, 2) + 2 * np.eye(2), x[4:]), 6)],
    np.linalg.inv: [(lambda x: np.linalg.inv(R(x, 2, 2) + 2 * np.eye(2)), 4)],
    np.linalg.det: [(lambda x: np.linalg.det(R(x, 2, 2)), 4)],
    np.linalg.slogdet: [(lambda x: np.linalg.slogdet(R(x, 2, 2) + 2 * np.eye(2))[1], 4)],
    np.linalg.cholesky: [(lambda x: np.linalg.cholesky(R(x, 2, 2) @ R(x, 2, 2).T + np.eye(2)), 4)],
    np.linalg.norm: [(lambda x: np.linalg.norm(x), 4), (lambda x: np.linalg.norm(x, 1), 4)],
    # (singular vectors and eigenvectors squared: their signs are those computed)
    np.linalg.svd: [(lambda x: np.linalg.svd(R(x, 3, 2), compute_uv=False), 6),
                    (lambda x: np.concatenate([t.ravel() ** 2 for t in np.linalg.svd(R(x, 3, 2))]),
                     6),
                    (lambda x: np.linalg.svd(R(x, 2, 3), full_matrices=False)[2] ** 2, 6)],
    np.linalg.eigh: [(lambda x: np.linalg.eigh(R(x, 3, 3) + R(x, 3, 3).T)[0], 9),
                     (lambda x: np.linalg.eigh(R(x, 2, 2), UPLO="U")[1] ** 2, 4)],
    np.linalg.eigvalsh: [(lambda x: np.linalg.eigvalsh(R(x, 3, 3)), 9)],
    # (ROTATION gives a pair of complex eigenvalues; |.| of the eigenvectors
    # does not depend on their phases)
    np.linalg.eig: [(lambda x: np.abs(np.linalg.eig(R(x, 3, 3) + ROTATION)[1]) ** 2, 9),
                    (lambda x: np.real(np.linalg.eig(R(x, 3, 3) + ROTATION)[0] ** 2), 9)],
    np.linalg.eigvals: [(lambda x: np.abs(np.linalg.eigvals(R(x, 3, 3) + ROTATION)), 9)],
    np.linalg.qr: [(lambda x: np.concatenate([t.ravel() for t in np.linalg.qr(R(x, 3, 2))]), 6),
                   (lambda x: np.linalg.qr(R(x, 2, 3), mode="r"), 6)],
    np.linalg.pinv: [(lambda x: np.linalg.pinv(R(x, 3, 2)), 6)],
    np.linalg.lstsq: [(lambda x: np.linalg.lstsq(R(x[:6], 3, 2), x[6:])[0], 9),
                      (lambda x: np.linalg.lstsq(R(x, 3, 2), np.ones(3))[1], 6)],
    np.linalg.matrix_power: [(lambda x: np.linalg.matrix_power(R(x, 2, 2), 3), 4),
                             (lambda x: np.linalg.matrix_power(R(x, 2, 2) + 2 * np.eye(2), -2),
                              4)],
    np.linalg.multi_dot: [(lambda x: np.linalg.multi_dot([R(x, 2, 3), R(x, 3, 2), x[:2]]), 6)],
    np.linalg.cond: [(lambda x: np.linalg.cond(R(x, 2, 2) + np.eye(2)), 4),
                     (lambda x: np.linalg.cond(R(x, 2, 2) + np.eye(2), 1), 4)],
    np.linalg.matrix_rank: [(lambda x: x * np.linalg.matrix_rank(R(x, 2, 2)), 4)],
    # Fourier transforms: real values of real x (squared magnitudes, real and
    # imaginary parts, complex inputs made of two halves of x)
    np.fft.fft: [(lambda x: np.abs(np.fft.fft(x)) ** 2, 5),
                 (lambda x: np.real(np.fft.fft(R(x, 2, 3) + 1j * R(x, 2, 3) ** 2, n=4, axis=0,
                                               norm="ortho")), 6)],
    np.fft.ifft: [(lambda x: np.abs(np.fft.ifft(x[:3] + 1j * x[3:], n=5)) ** 2, 6),
                  (lambda x: np.imag(np.fft.ifft(x ** 2, n=3, norm="forward")), 4)],
    np.fft.rfft: [(lambda x: np.abs(np.fft.rfft(x)) ** 2, 6),
                  (lambda x: np.imag(np.fft.rfft(R(x, 2, 3), n=5, axis=1, norm="ortho") ** 2), 6)],
    np.fft.irfft: [(lambda x: np.fft.irfft(x[:3] + 1j * x[3:]) ** 2, 6),
                   (lambda x: np.fft.irfft(x[:3] + 1j * x[3:], n=7, norm="forward") ** 2, 6),
                   (lambda x: np.fft.irfft(x[:4] + 1j * x[4:], n=3) ** 2, 8)],
    np.fft.hfft: [(lambda x: np.fft.hfft(x[:3] + 1j * x[3:], n=5) ** 2, 6)],
    np.fft.ihfft: [(lambda x: np.abs(np.fft.ihfft(x, norm="ortho")) ** 2, 5)],
    np.fft.fft2: [(lambda x: np.abs(np.fft.fft2(R(x, 2, 3))) ** 2, 6)],
    np.fft.ifft2: [(lambda x: np.real(np.fft.ifft2(R(x, 2, 3) ** 2, s=(3, 2))), 6)],
    np.fft.rfft2: [(lambda x: np.abs(np.fft.rfft2(R(x, 2, 3), norm="forward")) ** 2, 6)],
    np.fft.irfft2: [(lambda x: np.fft.irfft2(R(x[:4], 2, 2) + 1j * R(x[4:], 2, 2), s=(2, 3)) ** 2,
                     8)],
    np.fft.fftn: [(lambda x: np.abs(np.fft.fftn(R(x, 2, 2, 2), axes=(0, 2))) ** 2, 8)],
    np.fft.ifftn: [(lambda x: np.real(np.fft.ifftn(R(x, 2, 3) * (1 + 1j * x[0]), s=(3, 3),
                                                   axes=(0, 1))), 6)],
    np.fft.rfftn: [(lambda x: np.abs(np.fft.rfftn(R(x, 2, 3))) ** 2, 6)],
    np.fft.irfftn: [(lambda x: np.fft.irfftn(R(x[:4], 2, 2) + 1j * R(x[4:], 2, 2)) ** 2, 8)],
    np.fft.fftshift: [(lambda x: np.fft.fftshift(R(x, 2, 3)) * x[0], 6),
                      (lambda x: np.fft.fftshift(x, axes=0) ** 2, 5)],
    np.fft.ifftshift: [(lambda x: np.fft.ifftshift(R(x, 2, 3)) * x[0], 6),
                       (lambda x: np.fft.ifftshift(x, axes=(0,)) ** 2, 5)],
    np.fft.fftfreq: [(lambda x: x * np.fft.fftfreq(3, 0.5), 3),
                     (lambda x: np.fft.fftfreq(4, x[0] + 1.0) * x[1], 2)],
    np.fft.rfftfreq: [(lambda x: x * np.fft.rfftfreq(4, 0.5), 3),
                      (lambda x: np.fft.rfftfreq(5, x[0] + 1.0) * x[1], 2)],
    # Making arrays that hold derivatives
    np.zeros_like: [(filled(np.zeros_like, _w_slice), 3)],
    np.ones_like: [(filled(np.ones_like, _w_slice), 3)],
    np.empty_like: [(filled(np.empty_like, _w_slice), 3)],
    np.full_like: [(filled(lambda x: np.full_like(x, 2.0), _w_slice), 3),
                   (lambda x: np.full_like(x, x[0]) * x, 3)],
    np.zeros: [(filled(lambda x: np.zeros(3, like=x), _w_slice), 3)],
    np.ones: [(filled(lambda x: np.ones(3, like=x), _w_slice), 3)],
    np.empty: [(filled(lambda x: np.empty(3, like=x), _w_slice), 3)],
    np.full: [(filled(lambda x: np.full(3, 0.5, like=x), _w_slice), 3),
              (lambda x: np.full(3, x[1], like=x) * x, 3)],
    np.eye: [(filled(lambda x: np.eye(3, like=x), lambda g, x: g.__setitem__(0, x)), 3)],
    np.identity: [(filled(lambda x: np.identity(3, like=x), lambda g, x: g.__setitem__(1, x)), 3)],
    np.arange: [(filled(lambda x: np.arange(0.0, 3.0, like=x), _w_slice), 3),
                (lambda x: x[np.arange(2, like=x)], 3)],
    np.array: [(lambda x: np.array([x[0] * x[1], x[2], 2.0], like=x), 3),
               (lambda x: np.array([x[:2], [1.0, x[2]]], like=x), 3)],
    np.asarray: [(lambda x: np.asarray([x[:2], x[1:]], like=x), 3)],
    # Values only
    np.isclose: [(lambda x: np.where(np.isclose(x, 0.5), 0.0, x), 3)],
    np.allclose: [(lambda x: x * float(np.allclose(x, x)), 3)],
    np.array_equal: [(lambda x: x * float(np.array_equal(x, x)), 3)],
    np.array_equiv: [(lambda x: x * float(np.array_equiv(x, x[0])), 3)],
    np.shape: [(lambda x: x * np.shape(x)[0], 3)],
    np.ndim: [(lambda x: x * np.ndim(x), 3)],
    np.size: [(lambda x: x * np.size(x), 3)],
    np.result_type: [(lambda x: x.astype(np.result_type(x, np.float32)), 3)],
    np.iscomplexobj: [(lambda x: x * (2.0 if np.iscomplexobj(x) else 1.0), 3)],
    np.all: [(lambda x: x * float(np.all(x > 0.1)), 3)],
    np.any: [(lambda x: x * float(np.any(x > 0.9)), 3)],
    np.round: [(lambda x: x * np.round(10 * x), 3)],
    np.around: [(lambda x: x * np.around(10 * x, 1), 3)],
    np.real: [(lambda x: np.real(x) * x, 3)],
    np.imag: [(lambda x: np.imag(x) + x, 3)],
    np.isrealobj: [(lambda x: x * (2.0 if np.isrealobj(x) else 1.0), 3)],
    np.iscomplex: [(lambda x: np.where(np.iscomplex(x), -x, x ** 2), 3)],
    np.isreal: [(lambda x: np.where(np.isreal(x), x ** 2, x), 3)],
    # Complex numbers (of real arguments here; tests/test_complex.py has the rest)
    np.angle: [(lambda x: np.angle(x - 0.5) * x, 3), (lambda x: np.angle(x, deg=True) + x, 3)],
    np.real_if_close: [(lambda x: np.real_if_close(x) * x, 3)],
    np.sinc: [(lambda x: np.sinc(x - 0.5) * x, 3), (lambda x: np.sinc(3 * x), 3)],
}

ROWS = {row.func: row for row in registry.ROWS}
ROWS_BY_NAME = {row.name: row for row in registry.ROWS}
IDS = [(row.name, i) for row in registry.ROWS for i in range(len(CASES.get(row.func, ())))]


def test_every_row_has_cases():
    missing = [row.name for row in registry.ROWS if not CASES.get(row.func)]
    assert not missing, f"registry rows without a test case: {missing}"
    assert set(CASES) == set(ROWS), "cases for functions the registry does not list"


def _case(name, i):
    row = ROWS_BY_NAME[name]
    return row, CASES[row.func][i]


def _point(n, seed):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.05, 0.95, n), rng.standard_normal(n)


def _values(f, x):
    return np.asarray(f(x), dtype=np.float64)


def _check_first(f, x, v, u):
    h = 1e-6
    fd = (_values(f, x + h * v) - _values(f, x - h * v)) / (2 * h)
    y, jv = dg.jvp(f, (x,), (v,))
    np.testing.assert_allclose(y, _values(f, x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(jv, fd, rtol=RTOL1, atol=ATOL1, err_msg="jvp")
    y2, vjp_fn = dg.vjp(f, x)
    (jtu,) = vjp_fn(u)
    np.testing.assert_allclose(jtu @ v, np.sum(u * fd), rtol=RTOL1, atol=ATOL1, err_msg="vjp")


def _grad_u(f, u):
    return lambda z: dg.vjp(f, z)[1](u)[0]


def _hv_reference(f, x, v, u):
    h = 1e-5
    g = _grad_u(f, u)
    return (g(x + h * v) - g(x - h * v)) / (2 * h)


def _check_nestings(f, x, v, u):
    """jvp of vjp and vjp of jvp: both the Hessian of <u, f> along v; returns
    its reference, the central difference of the gradient."""
    ref = _hv_reference(f, x, v, u)
    _, hv = dg.jvp(_grad_u(f, u), (x,), (v,))                     # jvp of vjp
    np.testing.assert_allclose(hv, ref, rtol=RTOL2, atol=ATOL2, err_msg="jvp of vjp")
    _, fn = dg.vjp(lambda z: dg.jvp(f, (z,), (v,))[1], x)         # vjp of jvp
    np.testing.assert_allclose(fn(u)[0], ref, rtol=RTOL2, atol=ATOL2, err_msg="vjp of jvp")
    return ref


@pytest.mark.parametrize("name,i", IDS, ids=[f"{n}-{i}" for n, i in IDS])
def test_array_tier(name, i, forced_plan):
    """DualArray and Tensor, first order, and second order in both nestings."""
    row, (f, n) = _case(name, i)
    forced_plan.update(tier="array", mode="forward")
    x, v = _point(n, i)
    u = np.random.default_rng(100 + i).standard_normal(np.shape(_values(f, x)))
    _check_first(f, x, v, u)
    ref = _check_nestings(f, x, v, u)
    hv3 = dg.hvp(lambda z: np.sum(u * f(z)), x, v)
    np.testing.assert_allclose(hv3, ref, rtol=RTOL2, atol=ATOL2, err_msg="hvp")


SCALAR = [(n, i) for n, i in IDS if ROWS_BY_NAME[n].scalar != registry.ARRAYS]
MOVED = [(n, i) for n, i in IDS if ROWS_BY_NAME[n].scalar == registry.ARRAYS]


@pytest.mark.parametrize("name,i", SCALAR, ids=[f"{n}-{i}" for n, i in SCALAR])
def test_scalar_tier(name, i, forced_plan):
    """Dual and Var, with the tape's Hessian-vector product."""
    row, (f, n) = _case(name, i)
    forced_plan.update(tier="scalar", mode="forward")
    x, v = _point(n, i)
    u = np.random.default_rng(100 + i).standard_normal(np.shape(_values(f, x)))
    _check_first(f, x, v, u)
    ref = _hv_reference(f, x, v, u)
    hv = dg.hvp(lambda z: np.sum(u * f(z)), x, v)
    np.testing.assert_allclose(hv, ref, rtol=RTOL2, atol=ATOL2, err_msg="tape hvp")


@pytest.mark.parametrize("name,i", MOVED, ids=[f"{n}-{i}" for n, i in MOVED])
def test_planner_takes_the_array_tier(name, i):
    """Functions NumPy cannot run on the scalar tier's object arrays: left to the
    planner, the transforms give the right derivatives (on the array tier)."""
    row, (f, n) = _case(name, i)
    x, v = _point(n, i)
    u = np.random.default_rng(100 + i).standard_normal(np.shape(_values(f, x)))
    _check_first(f, x, v, u)
    np.testing.assert_allclose(dg.hvp(lambda z: np.sum(u * f(z)), x, v),
                               _hv_reference(f, x, v, u), rtol=RTOL2, atol=ATOL2)


@pytest.mark.parametrize("name,i", IDS, ids=[f"{n}-{i}" for n, i in IDS])
def test_array_tier_keeps_float32(name, i, forced_plan):
    """Values, tangents and gradients of float32 inputs stay float32."""
    row, (f, n) = _case(name, i)
    forced_plan.update(tier="array", mode="forward")
    x, v = (a.astype(np.float32) for a in _point(n, i))
    y, t = dg.jvp(f, (x,), (v,))
    (g,) = dg.vjp(f, x)[1](np.ones(np.shape(y), np.float32))
    assert (np.asarray(y).dtype, np.asarray(t).dtype, g.dtype) == (np.float32,) * 3


# ---------------------------------------------------------------------------
# ndarray methods, called by NumPy code on the array tier's values. Tensors
# take NumPy's keywords (axis, keepdims, ddof) as PyTorch does; where a name
# means something else in PyTorch (sort, repeat without axis, nonzero, put),
# the Tensor keeps PyTorch's meaning and only DualArray has NumPy's: the NumPy
# functions (np.sort, ...) mean NumPy's on every tier.

def _fill(a):
    b = a * 2.0
    b.fill(0.5)
    return b + a


def _sorted(a):
    b = R(a, 2, 3) * 1.0
    b.sort(axis=1)
    return b


def _partitioned(a):
    b = a.ravel() * 1.0
    b.partition(2)
    return b


def _put(a):
    b = a * 1.0
    b.put([0, 4], a[:2] ** 2)
    return b


M = lambda x: R(x, 2, 3)        # noqa: E731
METHODS = {
    "all": lambda x: M(x) * M(x).all(), "any": lambda x: M(x) * (M(x) > 0.9).any(axis=0),
    "argmax": lambda x: x[M(x).argmax(axis=1)], "argmin": lambda x: x[M(x).argmin()] * x,
    "argpartition": lambda x: x[x.argpartition(2)], "argsort": lambda x: x[x.argsort()],
    "astype": lambda x: M(x).astype(np.float64), "clip": lambda x: M(x).clip(0.2, 0.8),
    "conj": lambda x: M(x).conj() * x[0], "conjugate": lambda x: M(x).conjugate() * x[0],
    "copy": lambda x: M(x).copy() * x[1], "cumprod": lambda x: M(x).cumprod(axis=1),
    "cumsum": lambda x: M(x).cumsum(axis=0), "diagonal": lambda x: M(x).diagonal(),
    "dot": lambda x: M(x).dot(M(x).T), "fill": lambda x: _fill(M(x)),
    "flatten": lambda x: M(x).flatten() * x, "item": lambda x: x * M(x).item(4),
    "max": lambda x: M(x).max(axis=0), "mean": lambda x: M(x).mean(axis=1, keepdims=True),
    "min": lambda x: M(x).min(axis=1), "prod": lambda x: M(x).prod(axis=0),
    "ravel": lambda x: M(x).ravel() * x, "repeat": lambda x: M(x).repeat(2, axis=0),
    "reshape": lambda x: x.reshape(3, 2), "round": lambda x: x * (10 * x).round(),
    "searchsorted": lambda x: x * np.sort(x).searchsorted(0.5), "squeeze": lambda x: x[None].squeeze(axis=0),
    "std": lambda x: M(x).std(axis=0), "sum": lambda x: M(x).sum(axis=1, keepdims=True),
    "swapaxes": lambda x: M(x).swapaxes(0, 1), "take": lambda x: M(x).take([0, 4]),
    "tolist": lambda x: np.stack(x.tolist()) * x, "trace": lambda x: M(x).trace() * x,
    "transpose": lambda x: M(x).transpose(), "var": lambda x: M(x).var(axis=1),
    "T": lambda x: M(x).T, "mT": lambda x: M(x).mT, "real": lambda x: M(x).real * x[0],
    "imag": lambda x: M(x).imag + x[0], "compress": lambda x: M(x).compress([True, False], axis=0),
}
NUMPY_ONLY = {"sort": _sorted, "partition": _partitioned, "put": _put,
              "nonzero": lambda x: x[(x > 0.5).nonzero()], "repeat-flat": lambda x: x.repeat(2)}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_array_methods(name, forced_plan):
    f = METHODS[name]
    forced_plan.update(tier="array", mode="forward")
    x, v = _point(6, 0)
    u = np.random.default_rng(1).standard_normal(np.shape(_values(f, x)))
    _check_first(f, x, v, u)
    _check_nestings(f, x, v, u)


@pytest.mark.parametrize("name", sorted(NUMPY_ONLY))
def test_dualarray_methods_with_numpy_meanings(name, forced_plan):
    f = NUMPY_ONLY[name]
    forced_plan.update(tier="array", mode="forward")
    x, v = _point(6, 0)
    h = 1e-6
    y, jv = dg.jvp(f, (x,), (v,))
    np.testing.assert_allclose(y, _values(f, x), rtol=1e-12)
    np.testing.assert_allclose(jv, (_values(f, x + h * v) - _values(f, x - h * v)) / (2 * h),
                               rtol=RTOL1, atol=ATOL1)


# ---------------------------------------------------------------------------
# Arrays built from lists of traced numbers, without like=, and by np.r_ and
# np.c_: NumPy stores the 0-d DualArrays and Tensors as objects (as it stores
# the scalar tier's Duals), and the operations that meet the object array take
# it as one traced array.

FROM_LISTS = {
    "np.array": lambda x: np.array([x[0] * x[1], x[2], 2.0]),
    "np.asarray": lambda x: np.asarray([x[0], x[1] ** 2]) * x[:2],
    "ufunc of it": lambda x: np.sin(np.array([x[0] * x[1], x[2]])) * x[:2],
    "matmul with it": lambda x: np.array([[x[0], x[1]], [x[2], 1.0]]) @ x[:2],
    "a function of it": lambda x: np.concatenate([np.array([x[0] * x[2]]), x]),
    "np.r_": lambda x: np.r_[0.5, x, x[0] * x[1]] * 2.0,
    "np.r_ of arrays": lambda x: np.r_[x[:2], x[1:]] ** 2,
    "np.c_": lambda x: np.c_[x[:2], x[1:] ** 2],
}


@pytest.mark.parametrize("name", sorted(FROM_LISTS))
def test_arrays_from_lists_of_traced_numbers(name, forced_plan):
    f = FROM_LISTS[name]
    forced_plan.update(tier="array", mode="forward")
    x, v = _point(3, 0)
    u = np.random.default_rng(1).standard_normal(np.shape(_values(f, x)))
    _check_first(f, x, v, u)
    _check_nestings(f, x, v, u)


def test_lists_given_to_numpy_reductions_on_the_array_tier_say_what_to_do(forced_plan):
    # np.mean([a, b]) converts its result with float64(...): on the array tier
    # that would drop the derivative, so it is refused, naming np.stack.
    forced_plan.update(tier="array", mode="forward")
    for mode in ("forward", "reverse"):
        with pytest.raises(TypeError, match="np.stack"):
            dg.jacobian(lambda x: np.mean([x[0], x[1] * x[2]]), mode=mode)(np.ones(3))


def _list_of_arrays(x):
    return np.array([x[:2], x[1:] ** 2])


def test_lists_of_traced_arrays_take_the_scalar_tier():
    """np.array of a list of traced arrays: the planner takes the scalar tier at
    first order."""
    expected = np.zeros((2, 2, 3))
    expected[0, 0, 0] = expected[0, 1, 1] = 1.0
    expected[1, 0, 1], expected[1, 1, 2] = 2.0, 4.0
    for mode in ("forward", "reverse"):
        np.testing.assert_array_equal(
            dg.jacobian(_list_of_arrays, mode=mode)(np.array([0.5, 1.0, 2.0])), expected)


def test_lists_of_traced_arrays_on_the_array_tier_name_np_stack(forced_plan):
    forced_plan.update(tier="array", mode="forward")
    with pytest.raises(TypeError, match="np.stack"):
        dg.jacobian(_list_of_arrays)(np.array([0.5, 1.0, 2.0]))
