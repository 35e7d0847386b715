"""Numerical checks of dualgrad's derivatives, for any function.

:func:`check_grads` is the one gradient checker: the test suite runs every row of
the derivative table through it, and users can run their own functions through it.
:func:`sample_rule` draws points of a row's domain, for the tests and the GPU
check alike.
"""

import math
import zlib

import numpy as np

from ._scalar.dual import Dual
from ._scalar.tape import Tape, Var

__all__ = ["check_grads"]

MODES = ("fwd", "rev")


def check_grads(f, args, order=1, *, modes=MODES, eps=None, atol=1e-6, rtol=1e-6, seed=None):
    """Check dualgrad's derivatives of ``f`` at ``args`` against central differences.

    A random unit direction ``v`` in the space of all inputs is drawn.

    - Forward mode (``"fwd"``) evaluates ``f`` once on Duals seeded with ``v``;
      the tangent must match ``(f(x + eps v) - f(x - eps v)) / (2 eps)``.
      With ``order=2`` the forward-mode derivative is itself checked along
      ``v``: its central difference must match the second central difference
      of ``f``.
    - Reverse mode (``"rev"``) records ``f`` on a :class:`Tape` and takes the
      vector-Jacobian product with a random output weight ``u``; the
      inner-product identity ``<u, J v> == <J^T u, v>`` must hold with ``J v``
      from central differences. With ``order=2`` the Hessian-vector product of
      ``<u, f>`` (forward over reverse) must match the central difference of
      ``J^T u`` along ``v``.

    Parameters
    ----------
    f : callable
        Called as ``f(*args)``; each argument is a float or an array of floats
        (passed as an object array of Duals). Returns a float, a Dual, or a
        (nested) sequence or array of them.
    args : sequence
        The point: floats, or sequences/arrays of floats.
    order : {1, 2}
        Highest derivative order to check.
    modes : sequence of str
        Modes to check: ``"fwd"`` (forward mode, :class:`Dual`) and ``"rev"``
        (reverse mode, :class:`Tape`).
    eps : float, optional
        Finite-difference step; default ``1e-6`` for order 1 and ``1e-4`` for order 2.
    atol, rtol : float
        The check passes where ``|ad - fd| <= atol + rtol * |fd|``, elementwise
        (order 2 uses ``100 * atol`` and ``100 * rtol``: a second difference is
        less accurate).
    seed : int, optional
        Seed of the random direction, to reproduce a failure.

    Raises
    ------
    AssertionError
        Naming the output, the point, the direction and both values.

    Examples
    --------
    >>> import dualgrad as dg
    >>> from dualgrad.testing import check_grads
    >>> check_grads(lambda x, y: dg.sin(x) * y ** 2, (0.3, 1.5), order=2)
    """
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, not {order!r}")
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise ValueError(f"unknown mode(s) {unknown}; supported: {list(MODES)}")
    shapes = [np.shape(a) for a in args]
    x = np.concatenate([np.ravel(np.asarray(a, dtype=np.float64)) for a in args]) if args else np.zeros(0)
    if x.size == 0:
        raise ValueError("check_grads needs at least one input")
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(x.size)
    v /= np.linalg.norm(v)
    name = getattr(f, "__qualname__", repr(f))

    def inputs(values):
        out, i = [], 0
        for shape in shapes:
            n = int(np.prod(shape))
            chunk = values[i:i + n]
            i += n
            if shape == ():
                out.append(chunk[0])
            else:
                arr = np.empty(n, dtype=object if isinstance(chunk[0], (Dual, Var)) else np.float64)
                arr[:] = chunk
                out.append(arr.reshape(shape))
        return out

    def value(point):
        return _flatten(f(*inputs([float(p) for p in point])))[0]

    def jvp(point):
        return _flatten(f(*inputs([Dual(float(p), float(t)) for p, t in zip(point, v)])))[1]

    def compare(what, ad, fd, step, scale):
        ad, fd = np.asarray(ad), np.asarray(fd)
        if ad.shape != fd.shape:
            raise AssertionError(f"check_grads: {name} returned {fd.size} values but "
                                 f"{ad.size} tangents")
        tol = scale * (atol + rtol * np.abs(fd))
        bad = ~(np.abs(ad - fd) <= tol)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise AssertionError(
                f"check_grads: {what} of {name} at x = {x.tolist()} along v = {v.tolist()} "
                f"(output {i}): dualgrad gives {float(ad[i])!r}, central differences (eps={step}) give "
                f"{float(fd[i])!r}; |difference| {abs(ad[i] - fd[i]):.3g} exceeds the tolerance "
                f"{tol[i]:.3g} (seed={seed})")

    def reverse(point, u):
        """J^T u, and the Hessian-vector product of <u, f> along v, from one tape."""
        with Tape() as tape:
            xs = tape.var(point.tolist())
            outs = list(_flatten_items(f(*inputs(xs))))
            if len(outs) != u.size:
                raise AssertionError(f"check_grads: {name} returned {len(outs)} values at one "
                                     f"point and {u.size} at another")
            weighted = 0.0
            for ui, o in zip(u.tolist(), outs):
                weighted = weighted + ui * o
        return tape.vjp(outs, xs, u), tape.hvp(weighted, xs, v)

    h = eps if eps is not None else 1e-6
    fd1 = (value(x + h * v) - value(x - h * v)) / (2 * h)
    if "fwd" in modes:
        compare("the forward-mode derivative", jvp(x), fd1, h, 1.0)
    if "rev" in modes:
        u = rng.standard_normal(fd1.size)
        vjp, _ = reverse(x, u)
        compare("the reverse-mode derivative <J^T u, v> (u a random output weight)",
                np.array([vjp @ v]), np.array([u @ fd1]), h, 1.0)
    if order == 2:
        h = eps if eps is not None else 1e-4
        if "fwd" in modes:
            fd2 = (value(x + h * v) - 2 * value(x) + value(x - h * v)) / (h * h)
            ad2 = (jvp(x + h * v) - jvp(x - h * v)) / (2 * h)
            compare("the derivative of the forward-mode derivative", ad2, fd2, h, 100.0)
        if "rev" in modes:
            hvp = reverse(x, u)[1]
            fd_hvp = (reverse(x + h * v, u)[0] - reverse(x - h * v, u)[0]) / (2 * h)
            compare("the Hessian-vector product (forward over reverse)", hvp, fd_hvp, h, 100.0)


def _flatten_items(out):
    """The leaves of a float, Var, or nested sequence/array of them, in order."""
    if isinstance(out, (list, tuple, np.ndarray)):
        for item in (out.ravel() if isinstance(out, np.ndarray) else out):
            yield from _flatten_items(item)
    else:
        yield out


def _flatten(out):
    """Values and tangents of a float, Dual, or nested sequence/array of them."""
    values, tangents = [], []
    for o in _flatten_items(out):
        if isinstance(o, Dual):
            if isinstance(o.tangent, np.ndarray):
                raise TypeError("check_grads seeds one direction; f returned a multi-direction Dual")
            values.append(o.value)
            tangents.append(o.tangent)
        else:
            values.append(float(o))
            tangents.append(0.0)
    return np.array(values), np.array(tangents)


# ---------------------------------------------------------------------------
# Points of the derivative table's sampling domains

def sample_union(rng, union, n, integer=False):
    """n points of a union of open intervals, each interval weighted by its length.

    Integer parameters take the integers of the (closed) intervals instead.
    """
    if integer:
        values = sorted({v for lo, hi in union for v in range(math.ceil(lo), math.floor(hi) + 1)})
        return rng.choice(np.array(values, dtype=np.float64), size=n)
    lo = np.array([a for a, _ in union])
    hi = np.array([b for _, b in union])
    which = rng.choice(len(union), size=n, p=(hi - lo) / (hi - lo).sum())
    # Stay a little inside the open intervals: their ends are where rules stop being smooth.
    u = rng.uniform(0.01, 0.99, size=n)
    return lo[which] + u * (hi[which] - lo[which])


def sample_rule(rule, n=20, seed=0):
    """An (n, arity) array of points of ``rule.domain``, reproducible per rule name."""
    rng = np.random.default_rng([seed, zlib.crc32(rule.name.encode())])
    ints = getattr(rule, "integer", ())
    return np.stack([sample_union(rng, union, n, i in ints) for i, union in enumerate(rule.domain)],
                    axis=1)
