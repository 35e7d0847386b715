"""The one registry of NumPy functions: what each maps to in each tier.

Every NumPy function dualgrad differentiates (beyond the ufuncs, which are the
derivative table's rows) has one :class:`Row` here, and nowhere else:

* ``forward``: the DualArray version (array tier, forward mode), reached
  through ``DualArray.__array_function__``;
* ``reverse``: the Tensor version (array tier, reverse mode), reached through
  ``Tensor.__array_function__``;
* ``scalar``: how the scalar tier (Dual, Var) takes it. The scalar tier passes
  f object arrays of Duals or Vars, which NumPy's own Python code runs on, so
  there is nothing to register, except where that code is wrong on objects or
  fails on one lone number (:data:`OWN`: a version for one number), or
  cannot run on objects at all (:data:`ARRAYS`). Where NumPy's code is wrong
  or fails on object arrays, the planner's probe (an array-tier run) notes the
  function and keeps f off the scalar tier.

The same function usually serves both array columns: a composite of other
operations (:mod:`dualgrad._array.composites`), or a function that looks at
values only (argsort, isclose: constants). Nesting (a DualArray holding
Tensors, or a Tensor holding DualArrays) needs nothing here: each operation
inside dispatches on the levels of its own operands.

:func:`install` fills the tables the dispatchers read (``dualops.HANDLED``,
``numpy_api.HANDLED``, ``ufuncs.LONE``, ``ufuncs.NOT_ON_OBJECTS``); the docs
page "Supported NumPy functions" and tests/test_numpy_functions.py read
:data:`ROWS`.
"""

from typing import Callable, NamedTuple, Optional

import numpy as np

from dualgrad._array import composites as C
from dualgrad._array import dualops as F
from dualgrad._array import linalg as L
from dualgrad._array import fft as FFT
from dualgrad._array.ops import numpy_api as R
from dualgrad._scalar import dual as _rows, ufuncs

OBJECTS = "objects"     # NumPy's own implementation runs on the scalar tier's object arrays
OWN = "own"             # the scalar tier has its own version for one number
ARRAYS = "arrays"       # NumPy cannot run it on objects: the planner takes the array tier


class Row(NamedTuple):
    func: Callable                      # the NumPy function
    forward: Optional[Callable]         # on DualArrays
    reverse: Optional[Callable]         # on Tensors
    scalar: str = OBJECTS               # OBJECTS, OWN or ARRAYS
    lone: Optional[Callable] = None     # OWN: the version for one Dual or Var
    wrong_on_objects: bool = False      # OWN: NumPy's code is wrong on object arrays
    like: bool = False                  # reached through like= (NEP 35): gets like=self
    kind: str = ""                      # the docs page's section
    note: str = ""                      # the docs page's remark

    @property
    def name(self):
        module = getattr(self.func, "__module__", None) or "numpy"
        module = module.replace("numpy._core", "numpy").replace("numpy.linalg._linalg",
                                                                 "numpy.linalg")
        module = module if module.startswith(("numpy.linalg", "numpy.fft")) else "numpy"
        return f"{module}.{self.func.__name__}"


def _section(kind, rows):
    return [r._replace(kind=kind) for r in rows]


def both(func, fn, **kw):
    """One function for both array columns."""
    return Row(func, fn, fn, **kw)


_CONSTANT = set()       # the functions values() made, for the docs page


def values(func, fn=None, **kw):
    """A function of the values only: its result is a constant (``fn``: a
    quicker way to it than NumPy's function of the values)."""
    fn = fn or C.on_values(func)
    _CONSTANT.add(fn)
    return Row(func, fn, fn, **kw)


def _einsum(impl):
    """NumPy's interleaved form, einsum(a, [0, 1], b, [1, 2]), as subscripts."""
    def einsum(*operands, **kwargs):
        if not isinstance(operands[0], str):
            subscripts, operands = C.einsum_subscripts(operands)
            return impl(subscripts, *operands, **kwargs)
        return impl(*operands, **kwargs)
    return einsum


ROWS = [
    *_section("Reductions", [
        Row(np.sum, F.sum, R.np_sum),
        Row(np.mean, F.mean, R.np_mean),
        Row(np.var, F.var, R.np_var, OWN, ufuncs.lone_var,
            note="of one Dual or Var: a constant, as NumPy's of one number"),
        Row(np.std, F.std, R.np_std, OWN, ufuncs.lone_std, wrong_on_objects=True,
            note="scalar tier: at zero spread NumPy's code on objects gives nan in reverse"),
        Row(np.prod, F.prod, R.np_prod),
        Row(np.max, F.amax, R.np_amax), Row(np.amax, F.amax, R.np_amax),
        Row(np.min, F.amin, R.np_amin), Row(np.amin, F.amin, R.np_amin),
        both(np.ptp, C.ptp),
        both(np.average, C.average),
        both(np.median, C.median),
        both(np.quantile, C.quantile, note="methods linear, lower, higher, nearest, midpoint"),
        both(np.percentile, C.percentile, scalar=ARRAYS,
             note="methods linear, lower, higher, nearest, midpoint"),
        both(np.nansum, C.nansum, scalar=ARRAYS),
        both(np.nanprod, C.nanprod, scalar=ARRAYS),
        both(np.nanmean, C.nanmean, scalar=ARRAYS),
        both(np.nanvar, C.nanvar, scalar=ARRAYS),
        both(np.nanstd, C.nanstd, scalar=ARRAYS),
        both(np.nanmax, C.nanmax, scalar=ARRAYS),
        both(np.nanmin, C.nanmin, scalar=ARRAYS),
    ]),
    *_section("Differences, sums and integrals", [
        Row(np.cumsum, F.cumsum, R.np_cumsum),
        both(np.cumprod, C.cumprod),
        both(np.diff, C.diff),
        both(np.ediff1d, C.ediff1d),
        both(np.gradient, C.gradient, scalar=ARRAYS),
        both(np.trapezoid, C.trapezoid),
        both(np.interp, C.interp, scalar=ARRAYS,
             note="differentiable in fp, and in x and xp between the knots; no period"),
    ]),
    *_section("Shapes", [
        Row(np.reshape, F.reshape, R.np_reshape),
        Row(np.ravel, F.ravel, R.np_ravel),
        Row(np.transpose, F.transpose, R.np_transpose),
        Row(np.swapaxes, F.swapaxes, R.np_swapaxes),
        Row(np.moveaxis, F.moveaxis, C.moveaxis),
        both(np.rollaxis, C.rollaxis),
        Row(np.squeeze, F.squeeze, R.np_squeeze),
        Row(np.expand_dims, F.expand_dims, R.np_expand_dims),
        Row(np.broadcast_to, F.broadcast_to, R.np_broadcast_to),
        both(np.atleast_1d, C.atleast_1d),
        both(np.atleast_2d, C.atleast_2d),
        both(np.atleast_3d, C.atleast_3d),
        Row(np.flip, F.flip, R.np_flip),
        both(np.fliplr, C.fliplr),
        both(np.flipud, C.flipud),
        both(np.rot90, C.rot90),
        both(np.roll, C.roll),
        both(np.repeat, C.repeat),
        both(np.tile, C.tile),
        both(np.resize, C.resize),
        both(np.pad, C.pad, note="modes constant, empty, edge, reflect, symmetric, wrap"),
        Row(np.diagonal, F.diagonal, R.np_diagonal),
        Row(np.diag, F.diag, C.diag),
        both(np.diagflat, C.diagflat),
        Row(np.trace, F.trace, R.np_trace),
        Row(np.tril, F.tril, R.np_tril),
        Row(np.triu, F.triu, R.np_triu),
        Row(np.copy, F.copy, R.np_copy),
        Row(np.copyto, F.copyto, C.copyto),
    ]),
    *_section("Joining and splitting", [
        Row(np.concatenate, F.concatenate, R.np_concatenate),
        Row(np.stack, F.stack, R.np_stack),
        both(np.hstack, C.hstack),
        both(np.vstack, C.vstack),
        both(np.dstack, C.dstack),
        both(np.column_stack, C.column_stack),
        both(np.block, C.block),
        both(np.append, C.append),
        both(np.insert, C.insert),
        both(np.delete, C.delete),
        Row(np.split, C.split, R.np_split),
        both(np.array_split, C.array_split),
        both(np.hsplit, C.hsplit),
        both(np.vsplit, C.vsplit),
        both(np.dsplit, C.dsplit),
    ]),
    *_section("Selection, sorting and indexing", [
        Row(np.where, F.where, R.np_where),
        both(np.select, C.select),
        both(np.choose, C.choose),
        Row(np.clip, F.clip, R.np_clip),
        Row(np.nan_to_num, F.nan_to_num, R.np_nan_to_num, OWN, ufuncs.nan_to_num,
            wrong_on_objects=True,
            note="scalar tier: NumPy's code returns object arrays unchanged"),
        both(np.sort, C.sort),
        both(np.partition, C.partition),
        both(np.take, C.take),
        both(np.take_along_axis, C.take_along_axis),
        both(np.put_along_axis, C.put_along_axis,
             note="into an array that holds derivatives (np.zeros_like(x), or x)"),
        both(np.put, C.put, note="into an array that holds derivatives"),
        both(np.compress, C.compress),
        both(np.extract, C.extract),
        values(np.argsort), values(np.argpartition), values(np.argmax), values(np.argmin),
        values(np.argwhere), values(np.nonzero), values(np.flatnonzero),
        values(np.count_nonzero), values(np.searchsorted), values(np.digitize),
    ]),
    *_section("Products and linear algebra", [
        Row(np.matmul, F.matmul, R.np_matmul),
        Row(np.dot, F.dot, R.np_dot),
        Row(np.inner, F.inner, R.np_inner),
        Row(np.outer, F.outer, R.np_outer),
        Row(np.vdot, F.vdot, R.np_vdot),
        Row(np.tensordot, F.tensordot, R.np_tensordot),
        Row(np.einsum, _einsum(F.einsum), _einsum(R.np_einsum),
            note="subscripts or the interleaved form; repeated indices ('ii->i')"),
        Row(np.kron, F.kron, F.kron),
        both(np.cross, C.cross),
        both(np.convolve, C.convolve),
        both(np.correlate, C.correlate),
        both(np.polyval, C.polyval),
        Row(np.linalg.solve, F.solve, R.np_solve, ARRAYS),
        Row(np.linalg.inv, F.inv, R.np_inv, ARRAYS),
        Row(np.linalg.det, F.det, R.np_det, ARRAYS),
        Row(np.linalg.slogdet, F.slogdet, R.np_slogdet, ARRAYS),
        Row(np.linalg.cholesky, F.cholesky, R.np_cholesky, ARRAYS),
        Row(np.linalg.norm, L.norm_with(F.norm), L.norm_with(R.np_norm), OWN, ufuncs.lone_norm,
            wrong_on_objects=True,
            note="every order; scalar tier: at zero NumPy's code on objects gives nan in reverse"),
        both(np.linalg.svd, L.svd, scalar=ARRAYS,
             note="U, Vh: inf/nan where singular values repeat; S exact"),
        both(np.linalg.eigh, L.eigh, scalar=ARRAYS,
             note="eigenvectors: inf/nan where eigenvalues repeat; eigenvalues exact"),
        both(np.linalg.eigvalsh, L.eigvalsh, scalar=ARRAYS),
        both(np.linalg.eig, L.eig, scalar=ARRAYS,
             note="distinct eigenvalues; eigenvectors up to their phases"),
        both(np.linalg.eigvals, L.eigvals, scalar=ARRAYS),
        both(np.linalg.qr, L.qr, scalar=ARRAYS, note="modes reduced, r; complete for m <= n"),
        both(np.linalg.pinv, L.pinv, scalar=ARRAYS, note="of constant rank"),
        both(np.linalg.lstsq, L.lstsq, scalar=ARRAYS, note="rank: a constant"),
        both(np.linalg.matrix_power, L.matrix_power, scalar=ARRAYS),
        both(np.linalg.multi_dot, L.multi_dot, scalar=ARRAYS),
        both(np.linalg.cond, L.cond, scalar=ARRAYS),
        values(np.linalg.matrix_rank, L.matrix_rank, scalar=ARRAYS),
    ]),
    *_section("Fourier transforms", [
        # Linear: one rule per transform (its adjoint in reverse mode), each
        # function dispatching on its operand, so both columns take it.
        *(both(getattr(np.fft, name), getattr(FFT, name), scalar=ARRAYS, note="n=, axis=, norm=")
          for name in ("fft", "ifft", "rfft", "irfft", "hfft", "ihfft")),
        *(both(getattr(np.fft, name), getattr(FFT, name), scalar=ARRAYS, note="s=, axes=, norm=")
          for name in ("fft2", "ifft2", "rfft2", "irfft2", "fftn", "ifftn", "rfftn", "irfftn")),
        both(np.fft.fftshift, FFT.fftshift, scalar=ARRAYS),
        both(np.fft.ifftshift, FFT.ifftshift, scalar=ARRAYS),
        # Not dispatched by NumPy (no array argument): NumPy's own code runs,
        # constants of n and d, and differentiable in a traced d.
        values(np.fft.fftfreq, np.fft.fftfreq, note="a constant; NumPy's code (a traced d: "
               "differentiable in d)"),
        values(np.fft.rfftfreq, np.fft.rfftfreq, note="a constant; NumPy's code (a traced d: "
               "differentiable in d)"),
    ]),
    *_section("Making arrays that hold derivatives", [
        both(np.zeros_like, C.zeros_like),
        both(np.ones_like, C.ones_like),
        both(np.empty_like, C.empty_like, note="zeros: empty values are undefined"),
        both(np.full_like, C.full_like),
        both(np.zeros, C.zeros, like=True, scalar=ARRAYS, note="with like=x"),
        both(np.ones, C.ones, like=True, scalar=ARRAYS, note="with like=x"),
        both(np.empty, C.empty, like=True, scalar=ARRAYS, note="with like=x; zeros"),
        both(np.full, C.full, like=True, scalar=ARRAYS, note="with like=x"),
        both(np.eye, C.eye, like=True, scalar=ARRAYS, note="with like=x"),
        both(np.identity, C.identity, like=True, scalar=ARRAYS, note="with like=x"),
        both(np.arange, C.arange, like=True, scalar=ARRAYS,
             note="with like=x; integer ranges stay plain (indices)"),
        both(np.array, C.array, like=True, scalar=ARRAYS, note="with like=x"),
        both(np.asarray, C.asarray, like=True, scalar=ARRAYS, note="with like=x"),
    ]),
    *_section("Values only (constants)", [
        values(np.isclose, scalar=ARRAYS), values(np.allclose, scalar=ARRAYS),
        values(np.array_equal), values(np.array_equiv),
        values(np.shape, C.shape), values(np.ndim, C.ndim), values(np.size, C.size),
        values(np.result_type),
        values(np.iscomplexobj), values(np.isrealobj), values(np.all), values(np.any),
        values(np.round, note="derivative zero, as of every rounding"),
        values(np.around, note="derivative zero, as of every rounding"),
        values(np.iscomplex), values(np.isreal),
    ]),
    *_section("Special functions", [
        # the table's row sinc (NumPy's normalised sinc, derivative 0 at 0);
        # NumPy's own code fails on object arrays (a float has no sin method)
        Row(np.sinc, _rows.sinc, _rows.sinc, OWN, _rows.sinc, wrong_on_objects=True,
            note="the derivative table's row sinc"),
    ]),
    *_section("Complex numbers", [
        Row(np.real, F.real, R.np_real, note="real values: the array itself"),
        Row(np.imag, F.imag, R.np_imag, note="real values: zeros, a constant"),
        both(np.angle, C.angle, scalar=ARRAYS, note="real values: 0 or pi, a constant"),
        both(np.real_if_close, C.real_if_close),
    ]),
]


def install():
    """Fill the dispatch tables from :data:`ROWS`."""
    for row in ROWS:
        forward, reverse = row.forward, row.reverse
        if forward is not None:
            F.HANDLED[row.func] = forward
        if reverse is not None:
            R.HANDLED[row.func] = reverse
        if row.lone is not None:
            ufuncs.LONE[row.func] = row.lone
        if row.wrong_on_objects or row.scalar == ARRAYS:
            ufuncs.NOT_ON_OBJECTS[row.func] = row.name.replace("numpy", "np", 1)
    F.TAKES_LIKE.update(row.func for row in ROWS if row.like)
    R.TAKES_LIKE.update(row.func for row in ROWS if row.like)


install()


# ---------------------------------------------------------------------------
# The docs page "Supported NumPy functions" (docs/_ext) shows these cells.

COLUMNS = ("Dual (scalar, forward)", "Var (scalar, reverse)", "DualArray (array, forward)",
           "Tensor (array, reverse)", "nested (jvp of vjp, vjp of jvp)")


def _array_cell(fn):
    if fn is None:
        return "no"
    if fn in _CONSTANT:
        return "constant (values only)"
    if any(fn is f for f in vars(C).values()):
        return "composite"
    return "rule"


def cells(row):
    """The page's cells for ``row``, one per column of :data:`COLUMNS`."""
    if row.scalar == OBJECTS:
        scalar = "NumPy's code on objects"
    elif row.scalar == ARRAYS:
        scalar = "array tier (NumPy's code fails on objects)"
    elif row.wrong_on_objects:
        scalar = "own version for one number; arrays: array tier"
    else:
        scalar = "NumPy's code on objects; own version for one number"
    nested = "both orders" if row.forward is not None and row.reverse is not None else "no"
    return (scalar, scalar, _array_cell(row.forward), _array_cell(row.reverse), nested)
