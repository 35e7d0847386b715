"""Derivatives of whole functions of tensors, as ``torch.autograd.functional``:
:func:`jacobian`, :func:`hessian`, :func:`vjp`, :func:`jvp`, :func:`hvp`,
:func:`vhp`, with PyTorch's signatures, results and errors.

They share the machinery of :mod:`dualgrad.functional`. The Jacobian is built
one row (one output element) at a time by reverse mode, or with
``strategy="forward-mode"`` by forward passes over chunks of input directions,
the inputs holding DualArrays. ``hessian`` and ``hvp`` are forward over
reverse: one backward pass on inputs holding DualArrays that carry the
directions (all of them, in chunks, for the Hessian). Where the result must
be differentiable (``create_graph=True``) and for ``jvp``, products from the
right use the double-backward trick instead: the vector-Jacobian product
``u -> J^T u`` is linear in ``u``, so differentiating ``<J^T u, v>`` with
respect to ``u`` gives ``J v`` (with ``u`` an arbitrary point, zeros here).

Before ``func`` sees them, the inputs are replaced by new tensor objects:
copies detached from the graph that require grad or, with
``create_graph=True``, differentiable views of inputs that require grad (so
that the results can be differentiated back to them). Gradients are then
taken with respect to exactly what ``func`` received, even if it also reaches
the original tensors another way (PyTorch issue 32576). Results are detached
unless ``create_graph=True``.
"""

import numpy as np

from dualgrad import gpu
from dualgrad._levels import new_level
from dualgrad._array import ops as _ops
from dualgrad._array.dualarray import DualArray, tangent_at
from dualgrad._array.engine import TensorBase, tensor_of
from dualgrad.autograd import grad as _grad
from dualgrad.autograd.grad_mode import enable_grad, is_grad_enabled, set_grad_enabled

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]


# ---------------------------------------------------------------------------
# Helpers (those of torch.autograd.functional, over dualgrad tensors)

def _as_tuple(inp, arg_name, fn_name):
    """(whether ``inp`` was a tuple, ``inp`` as a tuple of Tensors)."""
    is_tuple = isinstance(inp, tuple)
    if not is_tuple:
        inp = (inp,)
    for i, el in enumerate(inp):
        if not isinstance(el, TensorBase):
            where = f"the value at index {i}" if is_tuple else f"the given {arg_name}"
            raise TypeError(f"The {arg_name} given to {fn_name} must be either a Tensor or a "
                            f"tuple of Tensors but {where} has type {type(el).__name__}.")
    return is_tuple, inp


def _tuple_postprocess(res, to_unpack):
    """Undo ``_as_tuple``: ``to_unpack`` is one flag, or two for nested tuples
    (outer: outputs, inner: inputs)."""
    if isinstance(to_unpack, tuple):
        if not to_unpack[1]:
            res = tuple(el[0] for el in res)
        if not to_unpack[0]:
            res = res[0]
    elif not to_unpack:
        res = res[0]
    return res


def _grad_preprocess(inputs, create_graph, need_graph):
    """New tensor objects for the inputs: views that stay in the graph (to
    differentiate the result back to the inputs) or detached copies."""
    res = []
    for inp in inputs:
        if create_graph and inp.requires_grad:
            res.append(inp.view_as(inp))
        else:
            res.append(inp.detach().requires_grad_(need_graph))
    return tuple(res)


def _grad_postprocess(inputs, create_graph):
    """Drop the history of (nested tuples of) results unless create_graph."""
    if create_graph:
        return inputs
    return tuple(x.detach() if isinstance(x, TensorBase) else _grad_postprocess(x, False)
                 for x in inputs)


def _validate_v(v, other, is_other_tuple):
    if len(other) != len(v):
        if is_other_tuple:
            raise RuntimeError(f"v is a tuple of invalid length: should be {len(other)} but "
                               f"got {len(v)}.")
        raise RuntimeError("The given v should contain a single Tensor.")
    for idx, (el_v, el_other) in enumerate(zip(v, other)):
        if tuple(el_v.shape) != tuple(el_other.shape):
            prepend = f"Entry {idx} in " if is_other_tuple else ""
            raise RuntimeError(f"{prepend}v has invalid size: should be {tuple(el_other.shape)} "
                               f"but got {tuple(el_v.shape)}.")


def _check_requires_grad(inputs, input_type, strict):
    """strict=True: an error for (outputs, gradients, ...) that don't require grad."""
    if not strict:
        return
    for i, inp in enumerate(inputs):
        if inp is None:
            raise RuntimeError(f"The output of the user-provided function is independent of "
                               f"input {i}. This is not allowed in strict mode.")
        if inp.requires_grad:
            continue
        if input_type == "hessian":
            raise RuntimeError(
                f"The hessian of the user-provided function with respect to input {i} is "
                f"independent of the input. This is not allowed in strict mode. You should "
                f"ensure that your function is thrice differentiable and that the hessian "
                f"depends on the inputs.")
        if input_type == "jacobian":
            raise RuntimeError(
                f"While computing the hessian, found that the jacobian of the user-provided "
                f"function with respect to input {i} is independent of the input. This is not "
                f"allowed in strict mode. You should ensure that your function is twice "
                f"differentiable and that the jacobian depends on the inputs (this would be "
                f"violated by a linear function for example).")
        if input_type == "grad_inputs":
            raise RuntimeError(
                f"The gradient with respect to input {i} is independent of the inputs of the "
                f"user-provided function. This is not allowed in strict mode.")
        raise RuntimeError(
            f"Output {i} of the user-provided function does not require gradients. The "
            f"outputs must be computed in a differentiable manner from the input when running "
            f"in strict mode.")


def _autograd_grad(outputs, inputs, grad_outputs=None, create_graph=False, retain_graph=None):
    """``autograd.grad`` that skips outputs (None or not requiring grad) and gives
    None for unused inputs."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    new_outputs, new_grad_outputs = [], []
    for out, g in zip(outputs, grad_outputs):
        if out is not None and out.requires_grad:
            new_outputs.append(out)
            new_grad_outputs.append(g)
    if not new_outputs:
        return (None,) * len(inputs)
    return _grad(tuple(new_outputs), inputs, tuple(new_grad_outputs), allow_unused=True,
                 create_graph=create_graph, retain_graph=retain_graph)


_STRICT_NONE = {
    "back": "The output of the user-provided function is independent of input {i}. This is "
            "not allowed in strict mode.",
    "back_trick": "The gradient with respect to the input is independent of entry {i} in the "
                  "grad_outputs when using the double backward trick to compute forward mode "
                  "gradients. This is not allowed in strict mode.",
    "double_back": "The jacobian of the user-provided function is independent of input {i}. "
                   "This is not allowed in strict mode.",
    "double_back_trick": "The hessian of the user-provided function is independent of entry "
                         "{i} in the grad_jacobian. This is not allowed in strict mode as it "
                         "prevents from using the double backward trick to replace forward "
                         "mode AD.",
}


def _fill_in_zeros(grads, refs, strict, create_graph, stage):
    """Zeros (of ``refs[i]``'s shape) for the None gradients, or a strict-mode error."""
    res = []
    for i, g in enumerate(grads):
        if g is None:
            if strict:
                raise RuntimeError(_STRICT_NONE[stage].format(i=i))
            g = _ops.zeros_like(refs[i])
        elif strict and create_graph and not g.requires_grad:
            what = "hessian" if "double" in stage else "jacobian"
            raise RuntimeError(f"The {what} of the user-provided function is independent of "
                               f"input {i}. This is not allowed in strict mode when "
                               f"create_graph=True.")
        res.append(g)
    return tuple(res)


def _single_element_v(tensors, what):
    if len(tensors) != 1 or tensors[0].numel() != 1:
        raise RuntimeError(f"The vector v can only be None if {what} is a single Tensor with "
                           f"a single element.")


# ---------------------------------------------------------------------------

def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """The vector-Jacobian product ``v^T J`` of ``func`` at ``inputs``.

    Parameters
    ----------
    func : callable
        Takes the input Tensors as positional arguments; returns a Tensor or a
        tuple of Tensors.
    inputs : Tensor or tuple of Tensors
    v : Tensor or tuple of Tensors, optional
        One per output, of its shape; may be omitted when ``func`` returns a
        single element (then it is 1).
    create_graph : bool
        Make the outputs and the result differentiable (back to the inputs that
        require grad).
    strict : bool
        Raise if an output does not require grad or if the outputs do not depend
        on an input (instead of giving zeros for it).

    Returns
    -------
    (func_output, vjp)
        ``vjp`` has the structure and shapes of ``inputs``.
    """
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _grad_preprocess(inputs, create_graph=create_graph, need_graph=True)
        outputs = func(*inputs)
        is_outputs_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function",
                                              "vjp")
        _check_requires_grad(outputs, "outputs", strict=strict)
        if v is not None:
            _, v = _as_tuple(v, "v", "vjp")
            v = _grad_preprocess(v, create_graph=create_graph, need_graph=False)
            _validate_v(v, outputs, is_outputs_tuple)
        else:
            _single_element_v(outputs, "the user-provided function returns")

    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        grad_res = _autograd_grad(outputs, inputs, v, create_graph=create_graph)
        result = _fill_in_zeros(grad_res, inputs, strict, create_graph, "back")

    outputs = _grad_postprocess(outputs, create_graph)
    result = _grad_postprocess(result, create_graph)
    return (_tuple_postprocess(outputs, is_outputs_tuple),
            _tuple_postprocess(result, is_inputs_tuple))


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """The Jacobian-vector product ``J v`` of ``func`` at ``inputs``, by the
    double-backward trick (two reverse passes, the first recorded).

    ``v`` has one Tensor per input, of its shape (optional for a single input
    of one element). Returns ``(func_output, jvp)``, ``jvp`` with the structure
    and shapes of the outputs. The other parameters are those of :func:`vjp`.
    """
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
        inputs = _grad_preprocess(inputs, create_graph=create_graph, need_graph=True)
        if v is not None:
            _, v = _as_tuple(v, "v", "jvp")
            v = _grad_preprocess(v, create_graph=create_graph, need_graph=False)
            _validate_v(v, inputs, is_inputs_tuple)
        else:
            _single_element_v(inputs, "the input to the user-provided function")
        outputs = func(*inputs)
        is_outputs_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function",
                                              "jvp")
        _check_requires_grad(outputs, "outputs", strict=strict)
        # The vjp is linear in its output gradient, so its value does not matter
        # (zeros: no inf or nan); it only has to require grad.
        grad_outputs = tuple(_ops.zeros_like(out, requires_grad=True) for out in outputs)
        grad_inputs = _autograd_grad(outputs, inputs, grad_outputs, create_graph=True)
        _check_requires_grad(grad_inputs, "grad_inputs", strict=strict)

    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        grad_res = _autograd_grad(grad_inputs, grad_outputs, v, create_graph=create_graph)
        result = _fill_in_zeros(grad_res, outputs, strict, create_graph, "back_trick")

    outputs = _grad_postprocess(outputs, create_graph)
    result = _grad_postprocess(result, create_graph)
    return (_tuple_postprocess(outputs, is_outputs_tuple),
            _tuple_postprocess(result, is_outputs_tuple))


def _as(a, dtype):
    """Values ``a`` (NumPy's or a GPU array) in ``dtype``."""
    return a.astype(dtype, copy=False) if hasattr(a, "astype") else np.asarray(a, dtype=dtype)


def _one_hot(out, j):
    g = np.zeros(tuple(out.shape), dtype=out.dtype if out.is_floating_point() else np.float64)
    g.reshape(-1)[j] = 1
    return tensor_of(gpu.beside(g, out))


def _assemble(rows, out, inp, create_graph):
    """The Jacobian block of one output and one input from its rows (None: zeros),
    of shape out.shape + inp.shape."""
    shape = tuple(out.shape) + tuple(inp.shape)
    if not rows:  # an output without elements
        return _ops.zeros(shape, dtype=inp.dtype)
    if create_graph:
        return _ops.stack([_ops.zeros_like(inp) if r is None else r for r in rows],
                          0).reshape(shape)
    zero = gpu.beside(np.zeros(tuple(inp.shape), dtype=inp.dtype), inp)
    return tensor_of(np.stack([zero if r is None else r.detach()._a for r in rows])
                     .reshape(shape))


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False,
             strategy="reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``, one reverse pass per output element.

    Parameters
    ----------
    func : callable
        Takes the input Tensors as positional arguments; returns a Tensor or a
        tuple of Tensors.
    inputs : Tensor or tuple of Tensors
    create_graph : bool
        Make the Jacobian differentiable (back to the inputs that require grad).
    strict : bool
        Raise if an output does not require grad or does not depend on an input
        (instead of giving zeros).
    vectorize : bool
        Compute the rows in chunks, each backward pass carrying many one-hot
        output gradients at once (as DualArray tangents), rather than one by one.
    strategy : {"reverse-mode", "forward-mode"}
        "reverse-mode": one backward pass per output element. "forward-mode":
        the inputs hold DualArrays carrying chunks of input directions (with
        ``create_graph=True``, reverse mode gives the same result instead).

    Returns
    -------
    Tensor or tuple or tuple of tuples
        For one input and one output, a Tensor of shape ``out.shape + in.shape``;
        a tuple over the inputs (or outputs) if one of them is a tuple;
        ``J[i][j]`` (output i, input j) if both are. Each block has its input's dtype.
    """
    if strategy not in ("forward-mode", "reverse-mode"):
        raise ValueError('Expected strategy to be either "forward-mode" or "reverse-mode". '
                         'Hint: If your function has more outputs than inputs, "forward-mode" '
                         'tends to be more performant. Otherwise, prefer to use '
                         '"reverse-mode".')
    if strategy == "forward-mode" and not create_graph:
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        chunks, outputs, is_outputs_tuple = [], None, False
        for seeds in _identity_chunks(inputs):
            level, duals = _dual_inputs(inputs, seeds, False)
            out = func(*duals)
            is_outputs_tuple, outputs = _as_tuple(out, "outputs of the user-provided function",
                                                  "jacobian")
            k = seeds[0].shape[0]
            chunks.append([_as(tangent_at(o._a, level, k), o.dtype) for o in outputs])
        if strict and not any(isinstance(o._a, DualArray) for o in outputs):
            raise RuntimeError("Output 0 of the user-provided function does not depend on "
                               "the inputs. This is not allowed in strict mode.")
        jac = _columns(chunks, outputs, inputs)
        return _tuple_postprocess(jac, (is_outputs_tuple, is_inputs_tuple))
    if vectorize and strict:
        raise RuntimeError("dualgrad.autograd.functional.jacobian: `strict=True` and "
                           "`vectorize=True` are not supported together. Please either set "
                           "`strict=False` or `vectorize=False`.")
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _grad_preprocess(inputs, create_graph=create_graph, need_graph=True)
        outputs = func(*inputs)
        is_outputs_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function",
                                              "jacobian")
        _check_requires_grad(outputs, "outputs", strict=strict)

        jac = []
        for i, out in enumerate(outputs):
            if vectorize and not create_graph:
                jac.append(_batched_rows(out, inputs))
                continue
            rows = tuple([] for _ in inputs)
            for j in range(out.numel()):
                vj = _autograd_grad((out,), inputs, (_one_hot(out, j),), retain_graph=True,
                                    create_graph=create_graph)
                for k, (rows_k, vj_k) in enumerate(zip(rows, vj)):
                    if vj_k is None:
                        if strict:
                            raise RuntimeError(f"Output {i} of the user-provided function is "
                                               f"independent of input {k}. This is not allowed "
                                               f"in strict mode.")
                    elif strict and create_graph and not vj_k.requires_grad:
                        raise RuntimeError(f"The jacobian of the user-provided function is "
                                           f"independent of input {k}. This is not allowed in "
                                           f"strict mode when create_graph=True.")
                    rows_k.append(vj_k)
            jac.append(tuple(_assemble(rows_k, out, inp, create_graph)
                             for rows_k, inp in zip(rows, inputs)))

        jac = _grad_postprocess(tuple(jac), create_graph)
        return _tuple_postprocess(jac, (is_outputs_tuple, is_inputs_tuple))


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """The Hessian of a scalar function: the Jacobian of its gradient.

    ``func`` must return a single Tensor with one element. For a single input
    the result has shape ``in.shape + in.shape``; for a tuple of inputs it is
    a tuple of tuples, ``H[i][j]`` of shape ``in_i.shape + in_j.shape``. The
    parameters are those of :func:`jacobian` (``outer_jacobian_strategy`` is
    its ``strategy``, for the outer Jacobian).
    """
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")
    if outer_jacobian_strategy not in ("forward-mode", "reverse-mode"):
        raise ValueError('Expected strategy to be either "forward-mode" or "reverse-mode".')
    if not create_graph:
        # Forward over reverse, in chunks of directions: one backward pass per chunk.
        output_blocks = []
        for seeds in _identity_chunks(inputs):
            output_blocks.append(_forward_over_reverse(func, inputs, seeds, strict, "hessian")[1])
        res = _columns(output_blocks, inputs, inputs)
        return _tuple_postprocess(res, (is_inputs_tuple, is_inputs_tuple))

    def ensure_single_output_function(*inp):
        out = func(*inp)
        is_out_tuple, t_out = _as_tuple(out, "outputs of the user-provided function", "hessian")
        _check_requires_grad(t_out, "outputs", strict=strict)
        if is_out_tuple or not isinstance(out, TensorBase):
            raise RuntimeError("The function given to hessian should return a single Tensor")
        if out.numel() != 1:
            raise RuntimeError("The Tensor returned by the function given to hessian should "
                               "contain a single element")
        return out.squeeze()

    def jac_func(*inp):
        jac = jacobian(ensure_single_output_function, inp, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict=strict)
        return jac

    res = jacobian(jac_func, inputs, create_graph=create_graph, strict=strict,
                   vectorize=vectorize, strategy=outer_jacobian_strategy)
    return _tuple_postprocess(res, (is_inputs_tuple, is_inputs_tuple))


def _scalar_function_outputs(func, inputs, fn_name, strict):
    outputs = func(*inputs)
    is_outputs_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function",
                                          fn_name)
    _check_requires_grad(outputs, "outputs", strict=strict)
    if is_outputs_tuple or not isinstance(outputs[0], TensorBase):
        raise RuntimeError(f"The function given to {fn_name} should return a single Tensor")
    if outputs[0].numel() != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {fn_name} should "
                           f"contain a single element")
    return is_outputs_tuple, outputs


def _hessian_vector_setup(func, inputs, v, create_graph, strict, fn_name):
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", fn_name)
    inputs = _grad_preprocess(inputs, create_graph=create_graph, need_graph=True)
    if v is not None:
        _, v = _as_tuple(v, "v", fn_name)
        v = _grad_preprocess(v, create_graph=create_graph, need_graph=False)
        _validate_v(v, inputs, is_inputs_tuple)
    else:
        _single_element_v(inputs, "the input to the user-provided function")
    is_outputs_tuple, outputs = _scalar_function_outputs(func, inputs, fn_name, strict)
    jac = _autograd_grad(outputs, inputs, create_graph=True)
    _check_requires_grad(jac, "jacobian", strict=strict)
    return is_inputs_tuple, inputs, v, is_outputs_tuple, outputs, jac


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """The vector-Hessian product ``v^T H`` of a scalar function at ``inputs``.

    ``v`` has one Tensor per input, of its shape (optional for a single input of
    one element). Returns ``(func_output, vhp)``, ``vhp`` with the structure of
    ``inputs``. The other parameters are those of :func:`vjp`.
    """
    with enable_grad():
        is_inputs_tuple, inputs, v, is_outputs_tuple, outputs, jac = _hessian_vector_setup(
            func, inputs, v, create_graph, strict, "vhp")

    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        grad_res = _autograd_grad(jac, inputs, v, create_graph=create_graph)
        result = _fill_in_zeros(grad_res, inputs, strict, create_graph, "double_back")

    outputs = _grad_postprocess(outputs, create_graph)
    result = _grad_postprocess(result, create_graph)
    return (_tuple_postprocess(outputs, is_outputs_tuple),
            _tuple_postprocess(result, is_inputs_tuple))


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """The Hessian-vector product ``H v`` of a scalar function at ``inputs``.

    Forward over reverse: the inputs hold DualArrays carrying ``v``, and one
    backward pass gives gradients whose tangents are ``H v``. With
    ``create_graph=True`` (a result differentiable back to the inputs) it is
    the double-backward trick on the gradient instead, as PyTorch does.

    Returns ``(func_output, hvp)``, ``hvp`` with the structure of ``inputs``.
    The parameters are those of :func:`vhp`.
    """
    if not create_graph:
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hvp")
        if v is not None:
            _, v = _as_tuple(v, "v", "hvp")
            _validate_v(v, inputs, is_inputs_tuple)
        else:
            _single_element_v(inputs, "the input to the user-provided function")
            v = tuple(_ops.ones_like(x) for x in inputs)
        seeds = tuple(_as(t.detach()._a, x.dtype)[None] for t, x in zip(v, inputs))
        output, blocks = _forward_over_reverse(func, inputs, seeds, strict, "hvp")
        result = tuple(tensor_of(b[0]) for b in blocks)
        return output, _tuple_postprocess(result, is_inputs_tuple)
    with enable_grad():
        is_inputs_tuple, inputs, v, is_outputs_tuple, outputs, jac = _hessian_vector_setup(
            func, inputs, v, create_graph, strict, "hvp")
        grad_jac = tuple(_ops.zeros_like(inp, requires_grad=True) for inp in inputs)
        double_back = _autograd_grad(jac, inputs, grad_jac, create_graph=True)
        _check_requires_grad(jac, "hessian", strict=strict)

    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        grad_res = _autograd_grad(double_back, grad_jac, v, create_graph=create_graph)
        result = _fill_in_zeros(grad_res, inputs, strict, create_graph, "double_back_trick")

    outputs = _grad_postprocess(outputs, create_graph)
    result = _grad_postprocess(result, create_graph)
    return (_tuple_postprocess(outputs, is_outputs_tuple),
            _tuple_postprocess(result, is_inputs_tuple))


# ---------------------------------------------------------------------------
# Forward mode on tensors: inputs holding DualArrays

def _dual_inputs(inputs, seeds, requires_grad):
    """Tensors over DualArrays of the inputs' values with tangents ``seeds``
    (one (k, *shape) block per input), at a new level of the functional transforms."""
    level = new_level()
    duals = [DualArray(x.detach()._a, s, level) for x, s in zip(inputs, seeds)]
    if requires_grad:
        return level, tuple(_ops.as_input(d, level) for d in duals)
    return level, tuple(tensor_of(d) for d in duals)


def _forward_over_reverse(func, inputs, seeds, strict, fn_name):
    """``(func_output, H @ seeds per input)``: one backward pass on Tensors
    holding DualArrays that carry the k directions of ``seeds``."""
    with enable_grad():
        level, duals = _dual_inputs(inputs, seeds, True)
        _, outputs = _scalar_function_outputs(func, duals, fn_name, strict)
        out = outputs[0]
        if out.requires_grad:
            grads = _autograd_grad((out,), duals)
        else:
            grads = (None,) * len(duals)
    k = seeds[0].shape[0]
    blocks = []
    for i, (g, x) in enumerate(zip(grads, inputs)):
        if g is None:
            if strict:
                raise RuntimeError(f"The hessian of the user-provided function with respect "
                                   f"to input {i} is independent of the input. This is not "
                                   f"allowed in strict mode.")
            blocks.append(gpu.beside(np.zeros((k,) + tuple(x.shape), dtype=x.dtype), x))
        else:
            if strict and not (isinstance(g._a, DualArray) and g._a.level == level):
                raise RuntimeError(f"The jacobian of the user-provided function is "
                                   f"independent of input {i}. This is not allowed in strict "
                                   f"mode when create_graph=True.")
            blocks.append(_as(tangent_at(g._a, level, k), x.dtype))
    primal = tangent_primal(out._a, level)
    return tensor_of(primal if hasattr(primal, "shape") else np.asarray(primal)), blocks


def _batched_rows(out, inputs):
    """The Jacobian blocks of one output, by backward passes that carry chunks
    of one-hot cotangents at once: a DualArray of zeros whose tangents are rows
    of the identity (the rules are linear in the gradient)."""
    from dualgrad.planner import ARRAY_CHUNK_THRESHOLD, chunk_size
    m, shape = out.numel(), tuple(out.shape)
    dtype = out.dtype if out.is_floating_point() else np.float64
    chunk = chunk_size(m, ARRAY_CHUNK_THRESHOLD)
    rows = [[] for _ in inputs]
    for start in range(0, m, chunk):
        k = min(chunk, m - start)
        level = new_level()
        eye = np.zeros((k, m), dtype=dtype)
        eye[np.arange(k), start + np.arange(k)] = 1
        seed = tensor_of(DualArray(gpu.beside(np.zeros(shape, dtype), out),
                                   gpu.beside(eye.reshape((k,) + shape), out), level))
        grads = _autograd_grad((out,), inputs, (seed,), retain_graph=True)
        for r, g, x in zip(rows, grads, inputs):
            r.append(gpu.beside(np.zeros((k,) + tuple(x.shape), dtype=x.dtype), x) if g is None
                     else _as(tangent_at(g._a, level, k), x.dtype))
    return tuple(tensor_of(np.concatenate(r, 0).reshape(shape + tuple(x.shape)) if r
                           else gpu.beside(np.zeros(shape + tuple(x.shape), dtype=x.dtype), x))
                 for r, x in zip(rows, inputs))


def _identity_chunks(inputs):
    """The unit directions of all input elements, in chunks of the planner's
    array chunk size: per chunk, one (k, *shape) block per input."""
    from dualgrad.planner import ARRAY_CHUNK_THRESHOLD, chunk_size
    sizes = [x.numel() for x in inputs]
    n = sum(sizes)
    chunk = chunk_size(n, ARRAY_CHUNK_THRESHOLD)
    offsets = np.cumsum([0] + sizes)
    for start in range(0, n, chunk):
        k = min(chunk, n - start)
        eye = np.zeros((k, n))
        eye[np.arange(k), start + np.arange(k)] = 1.0
        yield tuple(gpu.beside(np.asarray(eye[:, o:o + s].reshape((k,) + tuple(x.shape)),
                                   dtype=x.dtype), x)
                    for o, s, x in zip(offsets, sizes, inputs))


def _columns(chunks, outputs, inputs):
    """Jacobian blocks ``J[i][j]`` of shape out_i.shape + in_j.shape from the
    tangents of every output per chunk of input directions."""
    sizes = [x.numel() for x in inputs]
    offsets = np.cumsum([0] + sizes)
    res = []
    for i, o in enumerate(outputs):
        t = np.concatenate([c[i] for c in chunks], axis=0) if chunks else \
            gpu.beside(np.zeros((0,) + tuple(o.shape)), o)
        res.append(tuple(tensor_of(np.moveaxis(t[a:a + s].reshape((s,) + tuple(o.shape)), 0, -1)
                                   .copy().reshape(tuple(o.shape) + tuple(x.shape)))
                         for a, s, x in zip(offsets, sizes, inputs)))
    return tuple(res)


def tangent_primal(a, level):
    """The primal value of ``a`` at ``level`` (a itself if it carries no tangent there)."""
    return a.value if isinstance(a, DualArray) and a.level == level else a
