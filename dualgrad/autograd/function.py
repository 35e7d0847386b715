"""Custom differentiable operations: ``Function`` with ``forward``/``backward``
static methods and a ``ctx``, as ``torch.autograd.Function``."""

from dualgrad._array.engine import TensorBase, bump_version, is_grad_enabled, out, rebase, record
from dualgrad.autograd.grad_mode import no_grad

__all__ = ["Function", "FunctionCtx"]


class FunctionCtx:
    """What ``forward`` leaves for ``backward``."""

    def __init__(self):
        self.to_save = ()
        self.needs_input_grad = ()
        self.non_differentiable = ()
        self.dirty = ()
        self.materialize_grads = True
        self._saved = None

    def save_for_backward(self, *tensors):
        """Keep tensors (inputs or outputs) for backward; they come back as
        ``saved_tensors``, and backward raises if one was changed in place since."""
        for t in tensors:
            if t is not None and not isinstance(t, TensorBase):
                raise TypeError(f"save_for_backward can only save Tensors (or None), not "
                                f"{type(t).__name__}; keep other values as ctx attributes")
        self.to_save = tensors

    @property
    def saved_tensors(self):
        if self._saved is None:
            raise RuntimeError("saved_tensors is only available inside backward (and not "
                               "after the graph was freed: pass retain_graph=True to keep it)")
        return self._saved

    def mark_non_differentiable(self, *outputs):
        """These outputs get no gradient (e.g. indices)."""
        self.non_differentiable = outputs

    def mark_dirty(self, *tensors):
        """These inputs were changed in place by forward (and returned)."""
        self.dirty = tensors

    def set_materialize_grads(self, value):
        """Whether backward receives zeros (True, the default) or None for outputs
        that got no gradient."""
        self.materialize_grads = bool(value)


class Function:
    """Subclass with ``forward(ctx, *args)`` and ``backward(ctx, *grad_outputs)``
    static methods, then call ``MyFunction.apply(*args)``.

    ``backward`` receives one gradient per output of ``forward`` and returns one
    per argument of ``forward`` (None for arguments that are not tensors or need
    no gradient). It runs with tensors, recorded when ``create_graph=True``, so
    a backward written with dualgrad operations can be differentiated again.
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a Function subclass must define forward(ctx, ...)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("a Function subclass must define backward(ctx, ...) to be "
                                  "differentiated")

    @classmethod
    def apply(cls, *args):
        """Run ``forward`` on ``args`` (without recording what it does inside) and
        record one node whose backward is this class's ``backward``."""
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, TensorBase) and a.requires_grad
                                     for a in args)
        with no_grad():
            result = cls.forward(ctx, *args)
        single = not isinstance(result, tuple)
        outputs = (result,) if single else result
        for o in outputs:
            if not isinstance(o, TensorBase):
                raise TypeError(f"{cls.__name__}.forward must return Tensors, got "
                                f"{type(o).__name__}")
        if not (is_grad_enabled() and any(ctx.needs_input_grad)):
            return result
        for t in ctx.dirty:
            if t.is_leaf and t.requires_grad:
                raise RuntimeError(f"a leaf Variable that requires grad has been changed in "
                                   f"place by {cls.__name__}.forward (mark_dirty)")
        # Saved outputs are kept as values (SavedOut), not as the output tensors,
        # which would point back at the node.
        saved = tuple(next((out(k) for k, o in enumerate(outputs) if o is t), t)
                      for t in ctx.to_save)
        n_saved = len(saved)
        ctx.to_save = ()
        rule = _rule(cls, ctx, len(outputs), n_saved)
        made = record(tuple(o._a for o in outputs), args, cls.__name__ + "Backward", rule,
                      saved, True)
        final = []
        for o, m in zip(outputs, made):
            if any(o is t for t in ctx.non_differentiable):
                final.append(m.detach())
            elif any(o is t for t in ctx.dirty):
                bump_version(o)
                rebase(o, m)
                final.append(o)
            else:
                final.append(m)
        # The rule keeps ctx: drop its references to outputs (cycles otherwise).
        ctx.dirty = ctx.non_differentiable = ()
        return final[0] if single else tuple(final)


def _rule(cls, ctx, n_out, n_saved):
    name = cls.__name__ + "Backward"

    def backward_rule(ns, grads, *saved):
        grads = (grads,) if n_out == 1 else tuple(grads)
        ctx._saved = saved
        try:
            res = cls.backward(ctx, *grads)
        finally:
            ctx._saved = None
        if not isinstance(res, tuple):
            res = (res,)
        n_in = len(ctx.needs_input_grad)
        if len(res) > n_in and all(r is None for r in res[n_in:]):
            res = res[:n_in]
        if len(res) != n_in:
            raise RuntimeError(f"function {name} returned an incorrect number of gradients "
                               f"(expected {n_in}, got {len(res)})")
        for i, r in enumerate(res):
            if r is not None and not ctx.needs_input_grad[i] and not isinstance(r, TensorBase):
                raise RuntimeError(f"function {name} returned a gradient for argument {i}, "
                                   f"which is not a Tensor; return None for it")
        return res

    return backward_rule
