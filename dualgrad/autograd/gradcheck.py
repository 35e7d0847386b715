"""Gradient checks: the derivatives reverse mode computes, against central
finite differences, as ``torch.autograd.gradcheck`` and ``gradgradcheck``.

The analytical Jacobian is built row by row from reverse mode: one
``autograd.grad`` per output element, with a one-hot output gradient. The
numerical Jacobian perturbs one input element at a time by ``+-eps``, in
place in the input's own memory (so that a function reaching its inputs
through a closure sees the change too, as in PyTorch), and restores it
exactly afterwards. Both are matrices with one row per input element and one
column per output element (flattened in C order), compared as
``torch.allclose`` does: ``|analytical - numerical| <= atol + rtol * |numerical|``.

Complex numbers are checked as PyTorch checks them: a complex output as its
real and imaginary parts, two real outputs; a complex input element as its
real and imaginary parts, two rows, perturbed by ``+-eps`` and ``+-eps i``.
The analytical rows are then the real and imaginary parts of the gradient,
PyTorch's conjugate Wirtinger derivative dL/dx + i dL/dy.

Central differences with ``eps=1e-6`` have an error around 1e-10 in float64
and are useless in float32, hence the warning for inputs of other dtypes.
"""

import builtins
import warnings

import numpy as np

from dualgrad import gpu
from dualgrad._array import ops as _ops
from dualgrad._array.engine import TensorBase, tensor_of
from dualgrad.autograd import grad as _grad
from dualgrad.autograd.grad_mode import enable_grad

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    """A gradient check failed: reverse mode and finite differences disagree (or
    the backward pass misbehaves: it is not deterministic, or does not scale
    with its output gradient). Raised by :func:`gradcheck` and
    :func:`gradgradcheck`."""


def _as_tuple(x):
    if isinstance(x, tuple):
        return x
    if isinstance(x, list):
        return tuple(x)
    return (x,)


def _values(t):
    """A tensor's values (its own memory, not a copy): an ndarray, or a GPU
    array that the finite differences perturb on its device."""
    return t.detach()._a


def _host(a):
    """Values as a float64 ndarray of their own, copied from a GPU if they are there."""
    return np.array(a.get() if gpu.is_device_array(a) else a, dtype=np.float64, copy=True)


def _rows(a):
    """The number of Jacobian rows of an input: two per complex element."""
    return a.size * (2 if a.dtype.kind == "c" else 1)


def _flat_rows(g):
    """A gradient as Jacobian rows: complex elements as (real, imaginary) pairs."""
    if g.dtype.kind == "c":
        g = np.asarray(g.get() if gpu.is_device_array(g) else g)
        return np.stack([g.real, g.imag], axis=-1).reshape(-1).astype(np.float64)
    return _host(g).reshape(-1)


def _check_inputs(tupled):
    """The (position, tensor) of the inputs to differentiate; warnings and errors
    for those that can't be checked well."""
    diff = []
    for i, x in enumerate(tupled):
        if not (isinstance(x, TensorBase) and x.requires_grad):
            continue
        a = _values(x)
        if a.dtype not in (np.float64, np.complex128):
            warnings.warn(
                f"Input #{i} requires gradient and is not a double precision floating point "
                f"({a.dtype.name}). This check will likely fail if all the inputs are not "
                f"float64: convert them with .double().", stacklevel=4)
        if any(st == 0 and n > 1 for st, n in zip(a.strides, a.shape)) or not getattr(
                a.flags, "writeable", True):
            raise RuntimeError(
                f"Input {i} has a dimension with stride 0 (an expand()ed or broadcast view) or "
                f"read-only memory: gradcheck perturbs the input elements one at a time in "
                f"place, which needs elements of their own. Pass a clone() of it.")
        diff.append((i, x))
    if not diff:
        raise ValueError("gradcheck expects at least one input tensor to require gradient, "
                         "but none of them have requires_grad=True.")
    return diff


def _outputs(func, tupled):
    out = _as_tuple(func(*tupled))
    for j, o in enumerate(out):
        if not isinstance(o, TensorBase):
            raise TypeError(f"the function given to gradcheck must return a Tensor or a tuple "
                            f"of Tensors, but output {j} is a {type(o).__name__}")
    return out


def _is_float(t):
    return _values(t).dtype.kind == "f"


def _real_outputs(func):
    """func with each complex output replaced by its real and imaginary parts."""
    def split(*args):
        out = func(*args)
        if not isinstance(out, (tuple, list)):
            out = (out,)
        parts = []
        for o in out:
            if isinstance(o, TensorBase) and _values(o).dtype.kind == "c":
                parts += [o.real, o.imag]
            else:
                parts.append(o)
        return tuple(parts)
    return split


def _index(k, shape):
    return tuple(int(i) for i in np.unravel_index(k, shape)) if shape else ()


# ---------------------------------------------------------------------------
# Finite differences

def _evaluate(func, tupled, float_outs):
    """The float outputs of ``func`` at the (perturbed) inputs, as float64 copies."""
    out = _outputs(func, tupled)
    return [_host(_values(out[j])) for j in float_outs]


def _central(func, tupled, float_outs, shapes, set_minus, set_plus, restore, eps):
    """(f(x + eps d) - f(x - eps d)) / (2 eps) for each float output, flattened."""
    try:
        set_minus()
        minus = _evaluate(func, tupled, float_outs)
        set_plus()
        plus = _evaluate(func, tupled, float_outs)
    finally:
        restore()
    res = []
    for j, lo, hi in zip(float_outs, minus, plus):
        if lo.shape != shapes[j] or hi.shape != shapes[j]:
            raise RuntimeError(f"gradcheck: output {j} of the function changed shape when an "
                               f"input was perturbed ({shapes[j]} became {lo.shape})")
        res.append(((hi - lo) / (2 * eps)).reshape(-1))
    return res


def _numerical_jacobians(func, tupled, diff, float_outs, shapes, eps):
    """{(output, input): (input numel, output numel) matrix} by central differences."""
    jac = {}
    for i, x in diff:
        a = _values(x)
        cols = {j: np.zeros((_rows(a), int(np.prod(shapes[j], dtype=np.int64))))
                for j in float_outs}
        steps = (eps, eps * 1j) if a.dtype.kind == "c" else (eps,)
        for k in range(_rows(a)):
            idx = _index(k // len(steps), a.shape)
            orig = a[idx].copy()
            step = steps[k % len(steps)]

            def put(value, idx=idx):
                a[idx] = value

            diffs = _central(func, tupled, float_outs, shapes,
                             lambda: put(orig - step), lambda: put(orig + step),
                             lambda: put(orig), eps)
            for j, d in zip(float_outs, diffs):
                cols[j][k] = d
        for j in float_outs:
            jac[(j, i)] = cols[j]
    return jac


def _numerical_directional(func, tupled, x, u, float_outs, shapes, eps):
    """The derivative of each float output along ``u`` (x's shape), flattened."""
    a = _values(x)
    orig = a.copy()
    if a.dtype.kind == "c":             # u holds (real, imaginary) pairs
        u = u[0::2] + 1j * u[1::2]
    step = gpu.beside(eps * u.reshape(a.shape).astype(a.dtype), a)

    def put(value):
        a[...] = value

    return _central(func, tupled, float_outs, shapes, lambda: put(orig - step),
                    lambda: put(orig + step), lambda: put(orig), eps)


# ---------------------------------------------------------------------------
# Reverse mode

def _one_hot(o, m):
    g = np.zeros(o.shape, dtype=_values(o).dtype)
    g.reshape(-1)[m] = 1
    return tensor_of(gpu.beside(g, _values(o)))


def _vjps(o, diff, grad_output, check_grad_dtypes):
    """The gradients of the inputs for one output gradient, flattened (zeros for
    an unused input)."""
    grads = _grad(o, [x for _, x in diff], grad_outputs=grad_output, retain_graph=True,
                  allow_unused=True)
    rows = []
    for (i, x), g in zip(diff, grads):
        xa = _values(x)
        if g is None:
            rows.append(np.zeros(_rows(xa)))
            continue
        ga = _values(g)
        if ga.shape != xa.shape:
            raise GradcheckError(f"Analytical gradient has incorrect size: the gradient of "
                                 f"input {i} has shape {ga.shape}, the input {xa.shape}")
        if check_grad_dtypes and ga.dtype != xa.dtype:
            raise GradcheckError(f"Gradient has dtype mismatch: the gradient of input {i} is "
                                 f"{ga.dtype.name}, the input {xa.dtype.name}")
        rows.append(_flat_rows(ga))
    return rows


def _analytical_jacobians(o, diff, check_grad_dtypes):
    """One (input numel, output numel) matrix per differentiated input."""
    n = _values(o).size
    jac = [np.zeros((_rows(_values(x)), n)) for _, x in diff]
    for m in range(n):
        for J, row in zip(jac, _vjps(o, diff, _one_hot(o, m), check_grad_dtypes)):
            J[:, m] = row
    return jac


def _check_reentrant(first, second, nondet_tol, j):
    for a, b in zip(first, second):
        if not np.all(np.abs(a - b) <= nondet_tol):
            raise GradcheckError(
                f"Backward is not reentrant, i.e., running backward with the same input and "
                f"grad_output multiple times gives different values (output {j}), although "
                f"analytical gradient matches numerical gradient. The tolerance for "
                f"nondeterminism was {nondet_tol}. Make the backward deterministic, or pass "
                f"nondet_tol= the size of its variation.")


def _mismatch(a, n, rtol, atol):
    """The elements where analytical and numerical disagree (NaN counts as a
    disagreement, as in torch.allclose)."""
    return ~(np.abs(a - n) <= atol + rtol * np.abs(n))


def _mismatch_message(a, n, j, i, in_shape, out_shape, rtol, atol, what="Jacobian"):
    bad = _mismatch(a, n, rtol, atol)
    err = np.where(bad, np.abs(a - n), -1.0)
    err = np.where(np.isnan(err), np.inf, err)
    k, m = np.unravel_index(int(np.argmax(err)), a.shape)
    per = a.shape[0] // builtins.max(1, int(np.prod(in_shape, dtype=np.int64)))
    part = ("", " (real part)", " (imaginary part)")[0 if per == 1 else 1 + k % 2]
    k //= per
    return (
        f"{what} mismatch for output {j} with respect to input {i},\n"
        f"numerical:{tensor_of(n)!r}\nanalytical:{tensor_of(a)!r}\n"
        f"The largest disagreement is at input element {_index(k, in_shape)}{part} and output "
        f"element {_index(m, out_shape)}: numerical {float(n[k, m])!r}, analytical "
        f"{float(a[k, m])!r} (allowed difference: atol + rtol * |numerical| = "
        f"{float(atol + rtol * abs(n[k, m]))!r}). {int(bad.sum())} of {bad.size} entries disagree. "
        f"Rows are the input's elements, columns the output's (flattened in C order); "
        f"'output' and 'input' count positions in the function's outputs and arguments.\n")


# ---------------------------------------------------------------------------

def _slow(func, tupled, diff, out, float_outs, shapes, eps, atol, rtol, nondet_tol,
          check_grad_dtypes):
    numerical = _numerical_jacobians(func, tupled, diff, float_outs, shapes, eps)
    diff_outs = [j for j in float_outs if out[j].requires_grad]
    if not diff_outs:
        for (j, i), n in numerical.items():
            if np.any(n != 0):
                raise GradcheckError(
                    f"Numerical gradient for function expected to be zero: no output requires "
                    f"grad, but output {j} changes with input {i}. Compute the outputs from "
                    f"the inputs with differentiable operations (not through .detach(), "
                    f".numpy() or no_grad()).")
        return
    for j in diff_outs:
        first = _analytical_jacobians(out[j], diff, check_grad_dtypes)
        second = _analytical_jacobians(out[j], diff, check_grad_dtypes)
        _check_reentrant(first, second, nondet_tol, j)
        for (i, x), a in zip(diff, first):
            n = numerical[(j, i)]
            if _mismatch(a, n, rtol, atol).any():
                raise GradcheckError(_mismatch_message(a, n, j, i, _values(x).shape,
                                                       shapes[j], rtol, atol))


def _fast(func, tupled, diff, out, float_outs, shapes, eps, atol, rtol, nondet_tol,
          check_grad_dtypes):
    """PyTorch's fast mode: compare v^T J u for random u (inputs) and v (outputs)
    instead of J, one directional difference per input and one backward pass
    per output."""
    rng = np.random.default_rng(0)  # its own generator: the user's stream is untouched

    def unit(size):
        w = rng.random(size)
        return w / (np.linalg.norm(w) or 1.0)

    us = [unit(_rows(_values(x))) for _, x in diff]
    ju = [_numerical_directional(func, tupled, x, u, float_outs, shapes, eps)
          for (_, x), u in zip(diff, us)]
    diff_outs = [j for j in float_outs if out[j].requires_grad]
    if not diff_outs:
        for (i, _), jus in zip(diff, ju):
            for j, d in zip(float_outs, jus):
                if np.any(d != 0):
                    raise GradcheckError(
                        f"Numerical gradient for function expected to be zero: no output "
                        f"requires grad, but output {j} changes with input {i}.")
        return
    for j in diff_outs:
        v = unit(int(np.prod(shapes[j], dtype=np.int64)))
        g = tensor_of(gpu.beside(v.reshape(shapes[j]).astype(_values(out[j]).dtype),
                                 _values(out[j])))
        first = _vjps(out[j], diff, g, check_grad_dtypes)
        second = _vjps(out[j], diff, g, check_grad_dtypes)
        _check_reentrant(first, second, nondet_tol, j)
        col = float_outs.index(j)
        for (i, x), u, vj, jus in zip(diff, us, first, ju):
            a, n = float(vj @ u), float(v @ jus[col])
            if _mismatch(np.array(a), np.array(n), rtol, atol * u.sum() * v.sum()):
                # The full Jacobians tell more than two numbers.
                slow_n = _numerical_jacobians(func, tupled, [(i, x)], [j], shapes, eps)[(j, i)]
                slow_a = _analytical_jacobians(out[j], [(i, x)], check_grad_dtypes)[0]
                raise GradcheckError(
                    f"Jacobian mismatch for output {j} with respect to input {i} in fast mode: "
                    f"v^T J u is {n!r} by finite differences but {a!r} by reverse mode "
                    f"(u, v random unit vectors).\n"
                    + _mismatch_message(slow_a, slow_n, j, i, _values(x).shape, shapes[j],
                                        rtol, atol, what="Full Jacobian"))


def _check_backward_scales(out, diff):
    """With zero output gradients every input gradient must be zero."""
    outs = [o for o in out if o.requires_grad]
    grads = _grad(outs, [x for _, x in diff],
                  grad_outputs=[tensor_of(gpu.beside(np.zeros(o.shape, dtype=_values(o).dtype),
                                                     _values(o))) for o in outs],
                  allow_unused=True)
    for (i, x), g in zip(diff, grads):
        if g is None:
            continue
        ga, xa = _values(g), _values(x)
        if np.any(_flat_rows(ga) != 0):
            raise GradcheckError(
                f"backward not multiplied by grad_output: with zero output gradients the "
                f"gradient of input {i} is not zero. A backward must scale what it returns "
                f"by its grad_output arguments.")
        if ga.dtype != xa.dtype:
            raise GradcheckError(f"grad is incorrect type: {ga.dtype.name} for input {i} of "
                                 f"dtype {xa.dtype.name}")
        if ga.shape != xa.shape:
            raise GradcheckError(f"grad is incorrect size: {ga.shape} for input {i} of shape "
                                 f"{xa.shape}")


def _gradcheck(func, inputs, eps, atol, rtol, nondet_tol, check_grad_dtypes, fast_mode):
    tupled = _as_tuple(inputs)
    diff = _check_inputs(tupled)
    with enable_grad():
        out = _outputs(func, tupled)
        if any(_values(o).dtype.kind == "c" for o in out):
            # (output positions in messages then count real and imaginary parts)
            func = _real_outputs(func)
            out = _outputs(func, tupled)
        float_outs = [j for j, o in enumerate(out) if _values(o).dtype.kind == "f"]
        shapes = {j: _values(out[j]).shape for j in float_outs}
        check = _fast if fast_mode else _slow
        check(func, tupled, diff, out, float_outs, shapes, eps, atol, rtol, nondet_tol,
              check_grad_dtypes)
        if any(o.requires_grad for o in out):
            _check_backward_scales(out, diff)
    return True


def _unsupported(**options):
    for name, (value, why) in options.items():
        if value:
            raise NotImplementedError(f"{name}=True is not supported: {why}")


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              nondet_tol=0.0, check_undefined_grad=True, check_grad_dtypes=False,
              check_batched_grad=False, check_batched_forward_grad=False,
              check_forward_ad=False, check_backward_ad=True, fast_mode=False, masked=None):
    """Check the gradients reverse mode gives for ``func`` at ``inputs`` against
    central finite differences, as ``torch.autograd.gradcheck``.

    Parameters
    ----------
    func : callable
        Takes the inputs as positional arguments; returns a Tensor or a tuple of
        Tensors.
    inputs : Tensor or tuple
        The arguments. Tensors with ``requires_grad=True`` are checked; they
        should be float64 (a warning says so otherwise).
    eps : float
        The finite-difference step.
    atol, rtol : float
        Analytical and numerical may differ by ``atol + rtol * |numerical|``.
    raise_exception : bool
        On a failed check, raise :class:`GradcheckError` (True) or return False.
    nondet_tol : float
        How much two backward passes with the same output gradient may differ.
    check_grad_dtypes : bool
        Also require each gradient to have its input's dtype.
    fast_mode : bool
        Compare ``v^T J u`` for random unit vectors ``u`` and ``v`` instead of
        the whole Jacobians: one backward pass per output and two evaluations
        per input. On a mismatch the full Jacobians are computed for the message.
    check_undefined_grad, masked
        Accepted for PyTorch's signature; dualgrad has no undefined gradients
        (a missing gradient is zeros) and no sparse tensors, so they change nothing.
    check_batched_grad, check_batched_forward_grad, check_forward_ad
        Must stay False: dualgrad's array tier has no vmap and no forward mode.
    check_backward_ad
        Must stay True (reverse mode is what is checked).

    Returns
    -------
    bool
        True if every check passed (False on failure with ``raise_exception=False``).

    Raises
    ------
    GradcheckError
        When analytical and numerical Jacobians differ (the message shows both,
        and the output and input positions), when backward is not deterministic,
        or when it does not scale with the output gradient.
    ValueError
        When no input requires grad.
    """
    _unsupported(
        check_batched_grad=(check_batched_grad, "dualgrad has no vmap (batched gradients)"),
        check_batched_forward_grad=(check_batched_forward_grad,
                                    "dualgrad has no vmap (batched gradients)"),
        check_forward_ad=(check_forward_ad, "dualgrad's array tier has no forward mode; "
                                            "reverse mode is checked"))
    if not check_backward_ad:
        raise ValueError("gradcheck checks reverse mode: check_backward_ad must be True "
                         "(dualgrad's array tier has no forward mode to check instead)")
    try:
        return _gradcheck(func, inputs, eps, atol, rtol, nondet_tol, check_grad_dtypes,
                          fast_mode)
    except GradcheckError:
        if raise_exception:
            raise
        return False


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  gen_non_contig_grad_outputs=False, raise_exception=True, nondet_tol=0.0,
                  check_undefined_grad=True, check_grad_dtypes=False, check_batched_grad=False,
                  check_fwd_over_rev=False, check_rev_over_rev=True, fast_mode=False,
                  masked=False):
    """Check second derivatives, as ``torch.autograd.gradgradcheck``: the
    gradients of the first derivatives (computed with ``create_graph=True``)
    against finite differences of the first derivatives.

    The function checked is ``(*inputs, *grad_outputs) -> autograd.grad(func(*inputs),
    inputs, grad_outputs, create_graph=True)``, by :func:`gradcheck`. Without
    ``grad_outputs``, random ones (uniform in [-1, 1), from a generator of
    their own) are made for the outputs that require grad, and checked too.
    The other parameters are those of :func:`gradcheck`;
    ``gen_non_contig_grad_outputs=True`` makes the random ``grad_outputs``
    non-contiguous views.
    """
    _unsupported(check_batched_grad=(check_batched_grad,
                                     "dualgrad has no vmap (batched gradients)"),
                 check_fwd_over_rev=(check_fwd_over_rev,
                                     "dualgrad's array tier has no forward mode"))
    if not check_rev_over_rev:
        raise ValueError("gradgradcheck checks reverse over reverse: check_rev_over_rev must "
                         "be True")
    tupled = _as_tuple(inputs)
    if grad_outputs is None:
        with enable_grad():
            outs = [o for o in _outputs(func, tupled) if o.requires_grad]
        rng = np.random.default_rng(0)
        made = []
        for o in outs:
            dtype = _values(o).dtype if _is_float(o) else np.float64
            shape = _values(o).shape
            if gen_non_contig_grad_outputs:
                a = np.empty(shape + (2,), dtype=dtype)[..., 0]
                a[...] = rng.uniform(-1, 1, shape)
            else:
                a = rng.uniform(-1, 1, shape).astype(dtype)
            made.append(_ops.as_tensor(gpu.beside(a, _values(o))).requires_grad_(True))
        tupled_grad_outputs = tuple(made)
    else:
        tupled_grad_outputs = _as_tuple(grad_outputs)

    n_inputs = len(tupled)
    diff_inputs = {i for i, x in enumerate(tupled)
                   if isinstance(x, TensorBase) and x.requires_grad}

    def first_derivatives(*args):
        input_args, grad_args = args[:n_inputs], args[n_inputs:]
        outputs = tuple(o for o in _outputs(func, input_args) if o.requires_grad)
        grads = _grad(outputs, tuple(x for i, x in enumerate(input_args) if i in diff_inputs),
                      grad_args, create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_derivatives, tupled + tupled_grad_outputs, eps=eps, atol=atol,
                     rtol=rtol, raise_exception=raise_exception, nondet_tol=nondet_tol,
                     check_undefined_grad=check_undefined_grad,
                     check_grad_dtypes=check_grad_dtypes, fast_mode=fast_mode, masked=masked)
