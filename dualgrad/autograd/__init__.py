"""PyTorch's ``torch.autograd`` for dualgrad Tensors: ``backward``, ``grad``,
custom ``Function`` classes, grad modes, the profiler, gradient checks and the
functional API."""

from dualgrad._array.engine import TensorBase as _TensorBase
from dualgrad._array.engine import run_backward as _run_backward
from dualgrad.autograd.function import Function, FunctionCtx
from dualgrad.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled

__all__ = ["backward", "grad", "Function", "FunctionCtx", "no_grad", "enable_grad",
           "set_grad_enabled", "is_grad_enabled", "gradcheck", "gradgradcheck", "GradcheckError",
           "functional",
           "profiler"]


def _tuple(x, what):
    if isinstance(x, _TensorBase):
        return (x,)
    if x is None:
        return None
    try:
        return tuple(x)
    except TypeError:
        raise TypeError(f"{what} must be a Tensor or a sequence of Tensors, not "
                        f"{type(x).__name__}") from None


def _grads_for(outputs, grad_outputs):
    if grad_outputs is None:
        return (None,) * len(outputs)
    grads = _tuple(grad_outputs, "grad_outputs")
    if len(grads) != len(outputs):
        raise RuntimeError(f"grad_outputs has {len(grads)} entries for {len(outputs)} outputs")
    return grads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate the gradients of ``tensors`` (weighted by ``grad_tensors``) into
    the leaves' ``.grad``, as ``torch.autograd.backward``."""
    tensors = _tuple(tensors, "tensors")
    if retain_graph is None:
        retain_graph = create_graph
    _run_backward(tensors, _grads_for(tensors, grad_tensors), retain_graph, create_graph,
                  _tuple(inputs, "inputs"), False, True)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False, materialize_grads=False):
    """The gradients of ``outputs`` with respect to ``inputs``, as a tuple; no
    ``.grad`` changes. With ``create_graph=True`` the result is itself recorded,
    so it can be differentiated again."""
    outputs = _tuple(outputs, "outputs")
    inputs = _tuple(inputs, "inputs")
    if retain_graph is None:
        retain_graph = create_graph
    res = _run_backward(outputs, _grads_for(outputs, grad_outputs), retain_graph, create_graph,
                        inputs, allow_unused or materialize_grads, False)
    if materialize_grads:
        from dualgrad._array.ops import zeros_like
        res = tuple(zeros_like(x) if g is None else g for g, x in zip(res, inputs))
    return res


from dualgrad.autograd import functional, profiler  # noqa: E402
from dualgrad.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: E402
