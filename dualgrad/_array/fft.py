"""The discrete Fourier transforms of ``np.fft`` (and, through
:mod:`dualgrad.scipy_functions`, of ``scipy.fft``) on the array tier.

Every transform is linear, so its rules are transforms too:

* forward mode (DualArray): the tangent is the same transform of the tangent,
  its axis shifted past the leading direction axis;
* reverse mode (Tensor): one recorded operation per one-dimensional transform,
  whose backward rule is the adjoint transform, itself computed by the
  functions below, so that it is recorded in turn under ``create_graph`` and
  nests to any order.

Four one-dimensional transforms are primitives (``fft``, ``ifft``, ``rfft``,
``irfft``); ``hfft`` and ``ihfft`` are conjugated ``irfft`` and ``rfft``, as
NumPy defines them, and the n-dimensional transforms are the one-dimensional
ones over each axis, in NumPy's order, so that values are NumPy's bit for bit.

:func:`transform` dispatches on its operand: a Tensor records, a DualArray
pushes its tangent forward, anything else is NumPy's. A DualArray holding
Tensors, and a Tensor holding DualArrays, take the same path one level down:
second order needs nothing more.

The adjoints, for ``y = T x`` along one axis of length ``L`` cut or padded to
``n`` points, with the scale ``c`` that ``norm`` gives (``backward``: 1 for
the forward transform, 1/n for the inverse; ``forward`` the other way round;
``ortho``: 1/sqrt(n) for both):

* ``fft``: y = c F x, with F_kj = exp(-2 pi i jk/n). The adjoint is c F^H,
  the inverse transform with the dual norm (the one that gives it the scale
  c), followed by the adjoint of the cut or padding (padding or cutting back
  to L). ``ifft`` likewise with the roles swapped.
* ``rfft``: y is the first n//2 + 1 rows of c F x, x real. The gradient of a
  real x is Re(A^H g): g padded with zeros to n (``ifft``'s own n= does that),
  the inverse transform with the dual norm, its real part.
* ``irfft``: y_j = c [Re X_0 + sum_k 2 Re(X_k e^{2 pi i jk/n}) + Re X_{n/2}
  (-1)^j], the sum over the interior bins 1 <= k < n/2 and the last term for
  even n only: NumPy ignores the imaginary parts of the bins at 0 and n/2.
  The gradient (d/dRe X_k + i d/dIm X_k) is c sum_j g_j e^{-2 pi i jk/n}
  times 2 on the interior bins: ``rfft`` of g with the dual norm, the
  interior doubled (PyTorch's fft_c2r backward), its imaginary parts at 0 and
  n/2 are zero as they must be.
"""

import operator
import warnings

import numpy as np

from dualgrad import gpu
from dualgrad._array.dualarray import DualArray, make
from dualgrad._array.engine import TensorBase, record

_DUAL_NORM = {"backward": "forward", "ortho": "ortho", "forward": "backward"}
_NUMPY = {"fft": np.fft.fft, "ifft": np.fft.ifft, "rfft": np.fft.rfft, "irfft": np.fft.irfft}


# ---------------------------------------------------------------------------
# Arguments

def _norm(norm):
    if norm is None:
        return "backward"
    if norm not in _DUAL_NORM:
        raise ValueError(f'Invalid norm value {norm!r}; should be "backward", "ortho" or '
                         f'"forward".')
    return norm


def _values(x):
    return x._a if isinstance(x, TensorBase) else x


def _operand(a):
    """Traced values as they are; anything else as a NumPy array."""
    if isinstance(a, (TensorBase, DualArray)):
        return a
    return np.asarray(a)


def _shape(x):
    return tuple(_values(x).shape)


def _dtype(x):
    return _values(x).dtype


def _axis(axis, ndim):
    axis = operator.index(axis)
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(axis, ndim)
    return axis % ndim


def _points(n, default):
    n = default if n is None else operator.index(n)
    if n < 1:
        raise ValueError(f"Invalid number of FFT data points ({n}) specified.")
    return n


def _no_out(name, out):
    if out is not None:
        raise TypeError(f"numpy.fft.{name}(..., out=...) on traced values is not supported: it "
                        f"would write around the derivatives; assign the result instead")


def _real_input(name, x):
    # NumPy refuses complex input to rfft (no loop for it), PyTorch too; say so
    # before any work, with the two ways out.
    if _dtype(x).kind == "c":
        raise TypeError(f"{name} takes real input, and this is complex; use fft for the full "
                        f"spectrum of complex values, or take np.real(x) first")


# ---------------------------------------------------------------------------
# The one-dimensional transforms: NumPy's on arrays, the tangent's on
# DualArrays, recorded on Tensors with the adjoint as backward rule

def transform(kind, x, n, axis, norm):
    """``kind`` ("fft", "ifft", "rfft", "irfft") of ``x`` along ``axis`` (an
    axis >= 0 of the values), ``n`` points, ``norm`` one of NumPy's three."""
    if isinstance(x, TensorBase):
        return _recorded(kind, x, n, axis, norm)
    if type(x) is DualArray:
        return make(transform(kind, x.value, n, axis, norm),
                    transform(kind, x.tangent, n, axis + 1, norm), x.level)
    return _NUMPY[kind](x, n, axis, norm)


_NAMES = {"fft": "FftC2CBackward", "ifft": "IfftC2CBackward", "rfft": "FftR2CBackward",
          "irfft": "FftC2RBackward"}


def _recorded(kind, x, n, axis, norm):
    value = transform(kind, x._a, n, axis, norm)
    return record(value, (x,), _NAMES[kind], _BACKWARD[kind],
                  (n, _shape(x)[axis], axis, norm))


def _fit(a, axis, length):
    """``a`` cut or padded with zeros to ``length`` along ``axis``: the adjoint
    of the padding or cutting the transforms' n= did."""
    shape = _shape(a)
    if shape[axis] > length:
        return a[(slice(None),) * axis + (slice(0, length),)]
    if shape[axis] < length:
        widths = [(0, 0)] * len(shape)
        widths[axis] = (0, length - shape[axis])
        return np.pad(a, widths)
    return a


def _fft_bwd(ns, g, n, length, axis, norm):
    return _fit(transform("ifft", g, n, axis, _DUAL_NORM[norm]), axis, length)


def _ifft_bwd(ns, g, n, length, axis, norm):
    return _fit(transform("fft", g, n, axis, _DUAL_NORM[norm]), axis, length)


def _rfft_bwd(ns, g, n, length, axis, norm):
    # ifft's n= pads g's n//2 + 1 bins with zeros: the frequencies rfft dropped.
    return _fit(np.real(transform("ifft", g, n, axis, _DUAL_NORM[norm])), axis, length)


def _irfft_bwd(ns, g, n, length, axis, norm):
    gh = transform("rfft", g, n, axis, _DUAL_NORM[norm])
    bins = n // 2 + 1
    # The interior bins stand for themselves and their conjugate mirror images.
    weight = np.ones(bins, dtype=np.empty(0, _dtype(gh)).real.dtype)
    weight[1:(n + 1) // 2] = 2.0
    shape = [1] * len(_shape(gh))
    shape[axis] = bins
    return _fit(gh * gpu.beside(weight.reshape(shape), _values(gh)), axis, length)


_BACKWARD = {"fft": _fft_bwd, "ifft": _ifft_bwd, "rfft": _rfft_bwd, "irfft": _irfft_bwd}


# ---------------------------------------------------------------------------
# np.fft's one-dimensional functions

def _one(kind, a, n, axis, norm, default=None):
    a = _operand(a)
    shape = _shape(a)
    axis = _axis(axis, len(shape))
    if kind in ("rfft", "ihfft"):
        _real_input(kind, a)
    if kind in ("irfft", "hfft"):
        n = _points(n, 2 * (shape[axis] - 1))
    else:
        n = _points(n, shape[axis])
    norm = _norm(norm)
    if kind == "hfft":      # NumPy's definitions of the Hermitian pair
        return transform("irfft", np.conjugate(a), n, axis, _DUAL_NORM[norm])
    if kind == "ihfft":
        return np.conjugate(transform("rfft", a, n, axis, _DUAL_NORM[norm]))
    return transform(kind, a, n, axis, norm)


def fft(a, n=None, axis=-1, norm=None, out=None):
    """``np.fft.fft`` on traced values."""
    _no_out("fft", out)
    return _one("fft", a, n, axis, norm)


def ifft(a, n=None, axis=-1, norm=None, out=None):
    """``np.fft.ifft`` on traced values."""
    _no_out("ifft", out)
    return _one("ifft", a, n, axis, norm)


def rfft(a, n=None, axis=-1, norm=None, out=None):
    """``np.fft.rfft`` on traced values (real input)."""
    _no_out("rfft", out)
    return _one("rfft", a, n, axis, norm)


def irfft(a, n=None, axis=-1, norm=None, out=None):
    """``np.fft.irfft`` on traced values."""
    _no_out("irfft", out)
    return _one("irfft", a, n, axis, norm)


def hfft(a, n=None, axis=-1, norm=None, out=None):
    """``np.fft.hfft`` on traced values."""
    _no_out("hfft", out)
    return _one("hfft", a, n, axis, norm)


def ihfft(a, n=None, axis=-1, norm=None, out=None):
    """``np.fft.ihfft`` on traced values (real input)."""
    _no_out("ihfft", out)
    return _one("ihfft", a, n, axis, norm)


# ---------------------------------------------------------------------------
# n-dimensional: the one-dimensional transforms over each axis, in NumPy's order

def _cook(a, s, axes, invreal, warn):
    """NumPy's ``_cook_nd_args``: the sizes and the axes (>= 0) to transform."""
    shape = _shape(a)
    shapeless = s is None
    if axes is not None:
        axes = [_axis(ax, len(shape)) for ax in axes]
    if s is None:
        s = list(shape) if axes is None else [shape[ax] for ax in axes]
    s = list(s)
    if axes is None:
        if not shapeless and warn:
            warnings.warn("`axes` should not be `None` if `s` is not `None` (Deprecated in "
                          "NumPy 2.0). To retain current behaviour, pass a sequence "
                          "[0, ..., k-1] to `axes` for an array of dimension k.",
                          DeprecationWarning, stacklevel=4)
        axes = [_axis(ax, len(shape)) for ax in range(-len(s), 0)]
    if len(s) != len(axes):
        raise ValueError("Shape and axes have different lengths.")
    if invreal and shapeless:
        s[-1] = (shape[axes[-1]] - 1) * 2
    s = [shape[ax] if size is None or size == -1 else _points(size, None)
         for size, ax in zip(s, axes)]
    return s, axes


def _many(kind, a, s, axes, norm, warn=True):
    a = _operand(a)
    norm = _norm(norm)
    if kind == "rfftn":
        _real_input("rfftn", a)
    s, axes = _cook(a, s, axes, kind == "irfftn", warn)
    if kind in ("fftn", "ifftn"):
        for size, ax in reversed(list(zip(s, axes))):
            a = transform(kind[:-1], a, size, ax, norm)
    elif kind == "rfftn":
        a = transform("rfft", a, s[-1], axes[-1], norm)
        for ii in range(len(axes) - 2, -1, -1):
            a = transform("fft", a, s[ii], axes[ii], norm)
    else:
        for ii in range(len(axes) - 1):
            a = transform("ifft", a, s[ii], axes[ii], norm)
        a = transform("irfft", a, s[-1], axes[-1], norm)
    return a


def hermitian_nd(kind, a, s, axes, norm):
    """SciPy's ``hfftn`` and ``ihfftn`` (``kind``), which NumPy lacks: as the
    one-dimensional pair, conjugated irfftn and rfftn with the dual norm."""
    norm = _DUAL_NORM[_norm(norm)]
    a = _operand(a)
    if kind == "hfftn":
        return _many("irfftn", np.conjugate(a), s, axes, norm, warn=False)
    return np.conjugate(_many("rfftn", a, s, axes, norm, warn=False))


def fftn(a, s=None, axes=None, norm=None, out=None):
    """``np.fft.fftn`` on traced values."""
    _no_out("fftn", out)
    return _many("fftn", a, s, axes, norm)


def ifftn(a, s=None, axes=None, norm=None, out=None):
    """``np.fft.ifftn`` on traced values."""
    _no_out("ifftn", out)
    return _many("ifftn", a, s, axes, norm)


def rfftn(a, s=None, axes=None, norm=None, out=None):
    """``np.fft.rfftn`` on traced values (real input)."""
    _no_out("rfftn", out)
    return _many("rfftn", a, s, axes, norm)


def irfftn(a, s=None, axes=None, norm=None, out=None):
    """``np.fft.irfftn`` on traced values."""
    _no_out("irfftn", out)
    return _many("irfftn", a, s, axes, norm)


def fft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``np.fft.fft2`` on traced values."""
    _no_out("fft2", out)
    return _many("fftn", a, s, axes, norm)


def ifft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``np.fft.ifft2`` on traced values."""
    _no_out("ifft2", out)
    return _many("ifftn", a, s, axes, norm)


def rfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``np.fft.rfft2`` on traced values (real input)."""
    _no_out("rfft2", out)
    return _many("rfftn", a, s, axes, norm)


def irfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``np.fft.irfft2`` on traced values."""
    _no_out("irfft2", out)
    return _many("irfftn", a, s, axes, norm)


# ---------------------------------------------------------------------------
# Shifts: rolls (np.roll takes every tier)

def _shifts(x, axes, sign):
    shape = _shape(x)
    if axes is None:
        axes = tuple(range(len(shape)))
    elif isinstance(axes, (int, np.integer)):
        axes = (axes,)
    return [sign * (shape[_axis(ax, len(shape))] // 2) for ax in axes], tuple(axes)


def fftshift(x, axes=None):
    """``np.fft.fftshift`` on traced values."""
    x = _operand(x)
    shift, axes = _shifts(x, axes, 1)
    return np.roll(x, shift, axes)


def ifftshift(x, axes=None):
    """``np.fft.ifftshift`` on traced values."""
    x = _operand(x)
    shift, axes = _shifts(x, axes, -1)
    return np.roll(x, shift, axes)


# ---------------------------------------------------------------------------
# dualgrad.fft: torch.fft's functions, with its argument names (input, n, s,
# dim, norm), on Tensors (arrays are made Tensors, as torch.fft takes Tensors
# only). Traced values go to the functions above.

def _tensor(x):
    if isinstance(x, (TensorBase, DualArray)):
        return x
    from dualgrad._array.ops import _ten
    return _ten(x)


def _torch_one(name):
    def fn(input, n=None, dim=-1, norm=None):
        return _one(name, _tensor(input), n, dim, norm)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``torch.fft.{name}``: the transform of ``input`` along ``dim``, ``n`` points."
    return fn


def _torch_many(name, dims):
    kind = name.replace("2", "n")

    def fn(input, s=None, dim=dims, norm=None):
        if isinstance(dim, (int, np.integer)):
            dim = (dim,)
        # torch takes the last len(s) dimensions for s without dim, silently.
        return _many(kind, _tensor(input), s, dim, norm, warn=False)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"``torch.fft.{name}``: the transform of ``input`` over ``dim``, ``s`` "
                  f"points along each.")
    return fn


def _torch_shift(name):
    def fn(input, dim=None):
        return globals()[name](_tensor(input), dim)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``torch.fft.{name}`` over ``dim`` (all dimensions by default)."
    return fn


def _torch_freq(name):
    def fn(n, d=1.0, *, dtype=None, requires_grad=False):
        from dualgrad._array.ops import tensor
        return tensor(getattr(np.fft, name)(n, d), dtype=dtype, requires_grad=requires_grad)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``torch.fft.{name}``: the sample frequencies, a Tensor (a constant)."
    return fn


def torch_module():
    """The module ``dualgrad.fft`` (as ``torch.fft``)."""
    import types
    module = types.ModuleType("dualgrad.fft", "Discrete Fourier transforms of Tensors, as "
                              "``torch.fft`` (each differentiable, to any order).")
    names = []
    for name in ("fft", "ifft", "rfft", "irfft", "hfft", "ihfft"):
        names.append(name)
        setattr(module, name, _torch_one(name))
    for name in ("fft2", "ifft2", "rfft2", "irfft2"):
        names.append(name)
        setattr(module, name, _torch_many(name, (-2, -1)))
    for name in ("fftn", "ifftn", "rfftn", "irfftn"):
        names.append(name)
        setattr(module, name, _torch_many(name, None))
    for name in ("fftshift", "ifftshift"):
        names.append(name)
        setattr(module, name, _torch_shift(name))
    for name in ("fftfreq", "rfftfreq"):
        names.append(name)
        setattr(module, name, _torch_freq(name))
    for name in names:
        getattr(module, name).__module__ = "dualgrad.fft"
    module.__all__ = names
    return module
