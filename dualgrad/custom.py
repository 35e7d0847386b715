"""Custom differentiation rules for plain functions: ``custom_jvp`` and ``custom_vjp``.

They follow JAX's ``jax.custom_jvp`` and ``jax.custom_vjp``, signatures and
semantics::

    @dg.custom_jvp
    def f(x, y): ...

    @f.defjvp
    def f_jvp(primals, tangents):       # tuples, one entry per argument
        ...
        return primal_out, tangent_out

    @dg.custom_vjp
    def g(x): ...

    def g_fwd(x):
        return g(x), residuals
    def g_bwd(residuals, cotangent):
        return (cotangent_x,)           # one entry per argument
    g.defvjp(g_fwd, g_bwd)

Called on plain numbers and arrays, the function just runs. Called on values
that carry derivatives, the rule replaces the function's own derivatives in
every tier and mode. The values of one call are sorted by level, and the rule
is applied at the highest level there (the transform running innermost); the
values below it stay inside the primals the rule gets, so that nested
transforms differentiate the rule itself:

=====================  ==================================================================
the highest level      what happens
=====================  ==================================================================
``DualArray``, Dual    custom_jvp: the rule runs on the primals and each tangent direction.
                       custom_vjp: TypeError, as in JAX (define a custom_jvp instead).
``Tensor``             one node in the graph. custom_jvp: its backward rule is the
                       transpose of the jvp rule (the rule's tangent output is linear
                       in the tangents, so the cotangent map is the vjp of
                       ``t -> rule(primals, t)[1]``, computed by a reverse pass over
                       the rule). custom_vjp: ``bwd``. With ``create_graph`` both are
                       recorded on the input tensors, so they are differentiated again.
``Var`` (a Tape)       the tape records each output as its second-order Taylor model at
                       the point (value, gradient and Hessian from the rule, through the
                       array tier), which its reverse and Hessian-vector sweeps read
                       exactly, and a guard that the inputs are the point's, so that a
                       replay elsewhere records again (``dg.record(..., retape=True)``)
                       or says the tape does not hold there.
=====================  ==================================================================
"""

import contextlib
import functools
import inspect

import numpy as np

from dualgrad import _levels, _pytree, gpu, planner as _planner
from dualgrad._array import ops as _ops
from dualgrad._array.composites import values_of
from dualgrad._array.dualarray import DualArray
from dualgrad._array.engine import TensorBase, is_grad_enabled, record, tensor_of
from dualgrad._scalar.dual import Dual
from dualgrad._scalar.tape import Var
from dualgrad.autograd import grad as _autograd_grad
from dualgrad.autograd.grad_mode import enable_grad

__all__ = ["custom_jvp", "custom_vjp"]


# ---------------------------------------------------------------------------
# What a call was given: the differentiated arguments' leaves, sorted by level

_CONSTANT, _DUAL, _VAR, _FORWARD, _REVERSE = range(5)


def _kind(leaf):
    """(kind, level) of the derivatives ``leaf`` carries at its outside."""
    t = type(leaf)
    if t is DualArray:
        return _FORWARD, leaf.level
    if isinstance(leaf, TensorBase):
        if is_grad_enabled() and leaf.requires_grad:
            return _REVERSE, leaf._level
        return _CONSTANT, 0
    if t is Dual:
        return _DUAL, 0
    if t is Var:
        return _VAR, 0
    if isinstance(leaf, np.ndarray) and leaf.dtype == object:
        for e in leaf.flat:
            if type(e) is Dual:
                return _DUAL, 0
            if type(e) is Var:
                return _VAR, 0
    return _CONSTANT, 0


class _Call:
    """One call of a custom function: its arguments split into the
    differentiated ones (flattened) and those of ``nondiff_argnums``."""

    def __init__(self, cf, args, kwargs):
        if kwargs:
            # As JAX: keyword arguments are resolved to positions by f's signature.
            try:
                bound = inspect.signature(cf.fun).bind(*args, **kwargs)
            except (TypeError, ValueError) as e:
                raise TypeError(f"{cf.name}: {e}") from None
            bound.apply_defaults()
            if bound.kwargs:
                raise TypeError(f"{cf.name}: keyword argument(s) {sorted(bound.kwargs)} cannot "
                                f"be passed by position; {cf.kind} functions take positional "
                                f"parameters only")
            args = bound.args
        self.cf, self.args = cf, tuple(args)
        nd = cf.nondiff_argnums
        for i in nd:
            if i >= len(args):
                raise TypeError(f"{cf.name}: nondiff_argnums names argument {i}, but the "
                                f"function was called with {len(args)} argument(s)")
        self.nondiff = tuple(args[i] for i in nd)
        self.diff_pos = tuple(i for i in range(len(args)) if i not in nd)
        for i in nd:
            leaves, _ = _pytree.flatten(args[i])
            if any(_kind(x)[0] != _CONSTANT for x in leaves):
                raise TypeError(f"{cf.name}: argument {i} is in nondiff_argnums but carries "
                                f"derivatives; nondiff_argnums are for values that are not "
                                f"differentiated (functions, flags, sizes): pass it as an "
                                f"ordinary argument")
        self.leaves, self.tree = _pytree.flatten(tuple(args[i] for i in self.diff_pos))
        self.kinds = [_kind(x) for x in self.leaves]

    def args_with(self, leaves):
        """The full argument tuple with the differentiated leaves replaced."""
        diff = _pytree.unflatten(self.tree, leaves)
        args = list(self.args)
        for i, a in zip(self.diff_pos, diff):
            args[i] = a
        return tuple(args)

    def primals(self, leaves):
        """The differentiated arguments as a tuple, for a rule."""
        return tuple(_pytree.unflatten(self.tree, leaves))

    def top(self):
        """The kind and level the rule is applied at, or None if nothing carries
        derivatives."""
        kinds = {k for k, _ in self.kinds if k != _CONSTANT}
        if not kinds:
            return None
        if kinds & {_DUAL, _VAR}:
            if len(kinds) > 1:
                raise TypeError(f"{self.cf.name}: the arguments mix the scalar tier's Duals "
                                f"or Vars with other differentiated values; use one tier")
            return kinds.pop(), 0
        level = max(lv for k, lv in self.kinds if k in (_FORWARD, _REVERSE))
        # Levels of one transform are unique, except that tensors made by hand
        # are all level 0: a DualArray of level >= 1 is then above them.
        kind = next(k for k, lv in self.kinds if k in (_FORWARD, _REVERSE) and lv == level)
        return kind, level


def _shape(x):
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def _zeros_like(x):
    """Zero tangents for a constant leaf (zeros of its shape, on its device):
    float64, or complex128 for complex values, whose gradients are complex."""
    a = x._a if isinstance(x, TensorBase) else x
    while type(a) is DualArray:
        a = a.value
    if isinstance(a, TensorBase):
        a = a._a
    dtype = np.complex128 if np.iscomplexobj(a) else np.float64
    if gpu.is_device_array(a):
        return np.zeros_like(a, dtype=dtype)
    if np.ndim(a) == 0 and not isinstance(a, np.ndarray):
        return dtype(0)
    return np.zeros(_shape(a), dtype=dtype)


@contextlib.contextmanager
def _outside_transforms():
    """Run a transform apart from those running in this thread: for the Taylor
    model of the tape, made from plain numbers, inside a scalar-tier evaluation
    (where transforms would otherwise start again on the array tier)."""
    stack = _levels.frames()
    saved = stack[:]
    stack.clear()
    try:
        yield
    finally:
        stack[:] = saved


# ---------------------------------------------------------------------------
# The two decorators

class _Custom:
    kind = "custom"

    def __init__(self, fun, nondiff_argnums=()):
        if not callable(fun):
            raise TypeError(f"{self.kind} decorates a function, not {type(fun).__name__}")
        if isinstance(nondiff_argnums, int):
            nondiff_argnums = (nondiff_argnums,)
        nd = tuple(nondiff_argnums)
        if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in nd):
            raise TypeError(f"{self.kind}: nondiff_argnums must be non-negative ints, not "
                            f"{nondiff_argnums!r}")
        self.fun, self.nondiff_argnums = fun, tuple(sorted(set(nd)))
        self.name = getattr(fun, "__name__", repr(fun))
        functools.update_wrapper(self, fun)

    def __get__(self, obj, objtype=None):
        # As a method: bind obj as the first argument, like a function.
        return self if obj is None else functools.partial(self, obj)

    def __call__(self, *args, **kwargs):
        call = _Call(self, args, kwargs)
        top = call.top()
        if top is None:
            return self.fun(*call.args)
        self._check_defined()
        kind, level = top
        _planner.note_custom(self.kind == "custom_vjp" and kind in (_FORWARD, _DUAL))
        if kind == _DUAL:
            return self._on_duals(call)
        if kind == _VAR:
            return _on_tape(self, call)
        if kind == _FORWARD:
            return self._on_dualarrays(call, level)
        return self._on_tensors(call, level)


class custom_jvp(_Custom):
    """A function with a custom forward-mode rule (JAX's ``jax.custom_jvp``).

    Define the rule with :meth:`defjvp`. It takes ``(primals, tangents)``,
    tuples with one entry per (differentiated) argument, each tangent of its
    primal's shape, and returns ``(primal_out, tangent_out)`` of one structure.
    The tangent output must be linear in the tangents: reverse mode transposes
    it. Every tier and mode of dualgrad uses the rule, and nested transforms
    differentiate it (second derivatives in either order are the rule's own
    derivatives).

    Parameters
    ----------
    fun : callable
        The function; it runs as it is on plain numbers and arrays.
    nondiff_argnums : tuple of int
        Positional arguments that are not differentiated (functions, flags,
        sizes); the rule gets them first, as ``rule(*nondiff, primals, tangents)``.

    Examples
    --------
    >>> import numpy as np, dualgrad as dg
    >>> @dg.custom_jvp
    ... def log1pexp(x):
    ...     return np.log1p(np.exp(x))
    >>> @log1pexp.defjvp
    ... def log1pexp_jvp(primals, tangents):
    ...     x, = primals
    ...     t, = tangents
    ...     return log1pexp(x), t / (1 + np.exp(-x))
    >>> dg.grad(log1pexp)(1000.0)          # the rule avoids inf / inf
    1.0
    """

    kind = "custom_jvp"

    def __init__(self, fun, nondiff_argnums=()):
        super().__init__(fun, nondiff_argnums)
        self.jvp = None

    def defjvp(self, jvp):
        """Set the rule ``jvp(primals, tangents) -> (primal_out, tangent_out)``;
        returns it (so that it works as a decorator)."""
        if not callable(jvp):
            raise TypeError(f"defjvp takes a function, not {type(jvp).__name__}")
        self.jvp = jvp
        return jvp

    def _check_defined(self):
        if self.jvp is None:
            raise TypeError(f"{self.name} is a custom_jvp function without a rule; define "
                            f"one with @{self.name}.defjvp before differentiating it")

    def _rule(self, call, primal_leaves, tangent_leaves):
        """(primal_out, tangent_out) of the rule, checked; flattened."""
        out = self.jvp(*call.nondiff, call.primals(primal_leaves),
                       call.primals(tangent_leaves))
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise TypeError(f"the custom_jvp rule of {self.name} must return a pair "
                            f"(primal_out, tangent_out); it returned {type(out).__name__}")
        p_leaves, p_tree = _pytree.flatten(out[0])
        t_leaves, t_tree = _pytree.flatten(out[1])
        if p_tree != t_tree:
            raise TypeError(f"the custom_jvp rule of {self.name} returned a primal output of "
                            f"structure {p_tree} and a tangent output of structure {t_tree}; "
                            f"they must match")
        for p, t in zip(p_leaves, t_leaves):
            if _shape(t) != _shape(p):
                raise ValueError(f"the custom_jvp rule of {self.name} returned a tangent of "
                                 f"shape {_shape(t)} for a primal output of shape {_shape(p)}; "
                                 f"each tangent must have its primal's shape")
        return p_leaves, p_tree, t_leaves

    # -- forward mode: the rule once per direction --------------------------

    def _on_dualarrays(self, call, level):
        primals, tangents, k = [], [], None
        for x, (kind, lv) in zip(call.leaves, call.kinds):
            if kind == _FORWARD and lv == level:
                primals.append(x.value)
                tangents.append(x.tangent)
                k = x.tangent.shape[0]
            else:
                primals.append(x)
                tangents.append(None)
        per_direction = []
        for j in range(k):
            ts = [_zeros_like(x) if t is None else t[j] for x, t in zip(primals, tangents)]
            p_leaves, tree, t_leaves = self._rule(call, primals, ts)
            per_direction.append(t_leaves)
        outs = []
        for i, p in enumerate(p_leaves):
            ts = [_as_tangent(d[i], p) for d in per_direction]
            tangent = ts[0].reshape((1,) + _shape(p)) if k == 1 else np.stack(ts)
            # (A tensor primal stays one: an outer reverse level differentiates it.)
            outs.append(DualArray(p if isinstance(p, TensorBase) else _as_value(p), tangent,
                                  level))
        return _pytree.unflatten(tree, outs)

    def _on_duals(self, call):
        primals, tangents, k = [], [], 1
        for x, (kind, _) in zip(call.leaves, call.kinds):
            if kind == _DUAL:
                v, t = _dual_parts(x)
                k = max(k, t.shape[0])
                primals.append(v)
                tangents.append(t)
            else:
                primals.append(x)
                tangents.append(None)
        per_direction = []
        for j in range(k):
            ts = [_zeros_like(x) if t is None else (float(t[j]) if t.ndim == 1 else t[j])
                  for x, t in zip(primals, tangents)]
            p_leaves, tree, t_leaves = self._rule(call, primals, ts)
            per_direction.append(t_leaves)
        outs = [_duals(p, [d[i] for d in per_direction], self.name)
                for i, p in enumerate(p_leaves)]
        return _pytree.unflatten(tree, outs)

    # -- reverse mode: one node, whose backward transposes the rule ---------

    def _on_tensors(self, call, level):
        inputs, where = _tensor_inputs(call, level)
        values = list(call.leaves)
        for i in where:
            values[i] = values[i]._a
        # The primal by the function itself at the levels below (where its
        # rule applies again), on values without this level's tensors.
        out = self(*call.args_with(values))
        constants = list(call.leaves)

        def transpose(ns, g, *saved):
            grads_out = _cotangents(g, n_out)
            create = any(isinstance(c, TensorBase) for c in grads_out)
            leaves = list(constants)
            for i, s in zip(where, saved):
                leaves[i] = s
            return _transposed(self, call, leaves, where, grads_out, create, out_leaves_float)

        out_leaves, out_tree = _pytree.flatten(out)
        out_leaves_float = [_is_float(o) for o in out_leaves]
        n_out = sum(out_leaves_float)
        return _recorded(out_leaves, out_tree, out_leaves_float, inputs, self.name,
                         transpose, tuple(inputs))


def _transposed(cf, call, leaves, where, grads_out, create, floats):
    """The cotangents of the inputs ``where``: the vjp of the jvp rule's tangent
    output with respect to the tangents, at the cotangents ``grads_out``."""
    level = _levels.new_level()
    with enable_grad():
        ts = [_zeros_like(x) for x in leaves]
        for i in where:
            ts[i] = _ops.as_input(_zeros_like(leaves[i]), level)
        _, _, t_leaves = cf._rule(call, leaves, ts)
        outs, gs = [], []
        for t, is_float, g in zip(t_leaves, floats, _spread(grads_out, floats)):
            if is_float and isinstance(t, TensorBase) and t.requires_grad and g is not None:
                outs.append(t)
                gs.append(g if isinstance(g, TensorBase) else tensor_of(g))
        inputs = [ts[i] for i in where]
        res = (_autograd_grad(outs, inputs, gs, create_graph=create, allow_unused=True)
               if outs else [None] * len(inputs))
    return tuple(_zeros_like(leaves[i]) if r is None else (r if create else r._a)
                 for i, r in zip(where, res))


class custom_vjp(_Custom):
    """A function with a custom reverse-mode rule (JAX's ``jax.custom_vjp``).

    Define the rule with :meth:`defvjp`: ``fwd(*args)`` returns ``(out,
    residuals)`` and ``bwd(residuals, g)``, for a cotangent ``g`` of out's
    structure, returns a tuple with one cotangent per (differentiated)
    argument. Reverse mode uses it on every tier, and nested reverse mode
    (and forward over reverse, as in Hessians) differentiates ``fwd`` and
    ``bwd``. Forward mode (``jvp``, ``jacfwd``, ``Dual``, ``DualArray``)
    raises TypeError, as in JAX: define the rule with :class:`custom_jvp` for that.

    Parameters
    ----------
    fun : callable
        The function; it runs as it is on plain numbers and arrays.
    nondiff_argnums : tuple of int
        Positional arguments that are not differentiated; ``fwd`` gets all the
        arguments, ``bwd`` gets these first: ``bwd(*nondiff, residuals, g)``.

    Examples
    --------
    >>> import numpy as np, dualgrad as dg
    >>> @dg.custom_vjp
    ... def clip_gradient(x):
    ...     return x
    >>> def fwd(x):
    ...     return x, None
    >>> def bwd(_, g):
    ...     return (np.clip(g, -1.0, 1.0),)
    >>> clip_gradient.defvjp(fwd, bwd)
    >>> dg.grad(lambda x: 5.0 * clip_gradient(x))(2.0)
    1.0
    """

    kind = "custom_vjp"

    def __init__(self, fun, nondiff_argnums=()):
        super().__init__(fun, nondiff_argnums)
        self.fwd = self.bwd = None

    def defvjp(self, fwd, bwd):
        """Set the rule: ``fwd(*args) -> (out, residuals)`` and
        ``bwd(residuals, g) -> tuple of cotangents``, one per argument."""
        for name, fn in (("fwd", fwd), ("bwd", bwd)):
            if not callable(fn):
                raise TypeError(f"defvjp: {name} must be a function, not {type(fn).__name__}")
        self.fwd, self.bwd = fwd, bwd

    def _check_defined(self):
        if self.fwd is None:
            raise TypeError(f"{self.name} is a custom_vjp function without a rule; define "
                            f"one with {self.name}.defvjp(fwd, bwd) before differentiating it")

    def _forward(self, args):
        out = self.fwd(*args)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise TypeError(f"the fwd of custom_vjp function {self.name} must return a pair "
                            f"(out, residuals); it returned {type(out).__name__}")
        return out

    def _no_forward_mode(self, more=""):
        return TypeError(f"{self.name} is a custom_vjp function, which has no forward-mode "
                         f"rule (jvp, jacfwd, hessian, hvp, Dual, DualArray), as in JAX; define "
                         f"its rule with dg.custom_jvp instead, or differentiate it in reverse "
                         f"mode (dg.grad, dg.vjp, dg.jacrev).{more}")

    def _on_duals(self, call):
        raise self._no_forward_mode()

    def _on_dualarrays(self, call, level):
        if not _planner.note_custom(reverse_only=True):
            raise self._no_forward_mode()
        out = self._probe_output(call)
        leaves, tree = _pytree.flatten(out)
        return _pytree.unflatten(tree, [
            DualArray(_as_value(o), np.zeros((1,) + _shape(o)), level) for o in leaves])

    def _probe_output(self, call):
        """f's outputs at plain values, for the planner's probe to count (its
        results are never used; the plan then runs in reverse mode, where this
        rule applies)."""
        return self._forward(call.args_with([values_of(x) for x in call.leaves]))[0]

    def _on_tensors(self, call, level):
        inputs, where = _tensor_inputs(call, level)
        values = list(call.leaves)
        for i in where:
            values[i] = values[i]._a
        if any(_carries_tangents(v) for v in values):
            if _planner.note_custom(reverse_only=True):
                return self._probe_output(call)
            # Forward over reverse (dg.hessian, dg.hvp): the outputs' tangents
            # would need a forward-mode rule, which a custom_vjp has not.
            raise self._no_forward_mode(" For second derivatives use reverse over reverse, "
                                        "e.g. dg.jacrev(dg.grad(f)).")
        out, res = self._forward(call.args_with(values))
        res_leaves, res_tree = _pytree.flatten(res)
        out_leaves, out_tree = _pytree.flatten(out)
        floats = [_is_float(o) for o in out_leaves]
        n_out = sum(floats)
        constants = list(call.leaves)
        n_in = len(inputs)

        def backward(ns, g, *saved):
            grads_out = _cotangents(g, n_out)
            create = any(isinstance(c, TensorBase) for c in grads_out)
            if create:
                # Residuals that are functions of the inputs, so that this
                # backward is differentiated through them as well (the rule
                # recorded on the input tensors).
                leaves = list(constants)
                for i, s in zip(where, saved[:n_in]):
                    leaves[i] = s
                with enable_grad():
                    _, residuals = self._forward(call.args_with(leaves))
            else:
                residuals = _pytree.unflatten(res_tree, saved[n_in:])
            gs = _spread(grads_out, floats)
            g_leaves = [_zeros_like(o) if g is None else g for o, g in zip(out_leaves, gs)]
            batched = [g for g in g_leaves if type(g) is DualArray]
            if not batched:
                ct = self.bwd(*call.nondiff, residuals, _pytree.unflatten(out_tree, g_leaves))
                return _cotangents_of(self.name, call, ct, where, create)
            # Cotangents carried as the directions of a DualArray (dg.jacrev's
            # batched sweeps; the values here carry none, as forward mode is
            # refused above): bwd once per direction, as JAX's vmap runs it, so
            # that a bwd that is not linear in g (a clipped gradient) is right.
            level, k = batched[0].level, batched[0].k

            def at(part):
                return [g if type(g) is not DualArray else part(g) for g in g_leaves]

            def run(leaves):
                ct = self.bwd(*call.nondiff, residuals, _pytree.unflatten(out_tree, leaves))
                return _cotangents_of(self.name, call, ct, where, create)
            base = run(at(lambda g: g.value))
            rows = [run(at(lambda g: g.tangent[j])) for j in range(k)]
            return tuple(DualArray(b, np.stack([r[i] for r in rows]), level)
                         for i, b in enumerate(base))

        return _recorded(out_leaves, out_tree, floats, inputs, self.name, backward,
                         tuple(inputs) + tuple(res_leaves))


def _cotangents_of(name, call, ct, where, create):
    """bwd's result (one cotangent per differentiated argument), checked, as
    the cotangents of the inputs ``where``."""
    n = len(call.diff_pos)
    if isinstance(ct, list):
        ct = tuple(ct)
    if not isinstance(ct, tuple) or len(ct) != n:
        got = f"a tuple of {len(ct)}" if isinstance(ct, tuple) else type(ct).__name__
        raise TypeError(f"the bwd of custom_vjp function {name} must return a tuple with one "
                        f"cotangent per differentiated argument ({n}); it returned {got}. "
                        f"(For one argument: return (g,).)")
    leaves, tree = _pytree.flatten(tuple(None if c is None else c for c in ct))
    if tree != call.tree:
        # None for a whole argument is a zero cotangent, as in JAX.
        leaves = []
        for c, a in zip(ct, call.primals(call.leaves)):
            a_leaves, a_tree = _pytree.flatten(a)
            if c is None:
                leaves += [None] * len(a_leaves)
                continue
            c_leaves, c_tree = _pytree.flatten(c)
            if c_tree != a_tree:
                raise TypeError(f"the bwd of custom_vjp function {name} returned a cotangent "
                                f"of structure {c_tree} for an argument of structure {a_tree}")
            leaves += c_leaves
    out = []
    for i in where:
        c = leaves[i]
        x = call.leaves[i]
        if c is None:
            c = _zeros_like(x)
        if _shape(c) != _shape(x):
            raise ValueError(f"the bwd of custom_vjp function {name} returned a cotangent of "
                             f"shape {_shape(c)} for an argument of shape {_shape(x)}")
        if not create and isinstance(c, TensorBase):
            c = c._a
        out.append(c)
    return tuple(out)


# ---------------------------------------------------------------------------
# Helpers of the reverse mode on tensors

def _tensor_inputs(call, level):
    """The tensors that become the node's inputs, and their leaf positions:
    those of the top level, and any above every DualArray of the call (one
    graph: a tensor of a lower reverse level is the same graph's)."""
    floor = max([lv for k, lv in call.kinds if k == _FORWARD], default=-1)
    where = [i for i, (k, lv) in enumerate(call.kinds) if k == _REVERSE and lv > floor]
    return [call.leaves[i] for i in where], where


def _carries_tangents(v):
    """Whether a value holds a DualArray (forward-mode derivatives) anywhere."""
    if type(v) is DualArray:
        return True
    if isinstance(v, TensorBase):
        return _carries_tangents(v._a)
    return False


def _is_float(o):
    """Whether an output leaf is floating values, real or complex (differentiated)."""
    if isinstance(o, (float, complex, DualArray, TensorBase)):
        return True
    dtype = getattr(o, "dtype", None)
    return dtype is not None and np.dtype(dtype).kind in "fc"


def _as_value(p):
    """A primal output leaf as values a DualArray or Tensor holds."""
    if isinstance(p, TensorBase):
        return p._a
    if type(p) is DualArray or gpu.is_device_array(p):
        return p
    if isinstance(p, np.ndarray):
        return p
    return np.asarray(p, dtype=np.complex128 if np.iscomplexobj(p) else np.float64)


def _as_tangent(t, p):
    if isinstance(t, (TensorBase, DualArray)) or gpu.is_device_array(t):
        return t
    return np.asarray(t, dtype=np.complex128 if np.iscomplexobj(t) else np.float64)


def _recorded(out_leaves, out_tree, floats, inputs, name, fn, saved):
    """The outputs as tensors of one node with backward ``fn``."""
    values = tuple(_as_value(o) for o, f in zip(out_leaves, floats) if f)
    if not values:
        return _pytree.unflatten(out_tree, out_leaves)
    made = record(values if len(values) > 1 else values[0], tuple(inputs),
                  name + "Backward", fn, saved)     # as autograd.Function names its nodes
    made = list(made) if len(values) > 1 else [made]
    return _pytree.unflatten(out_tree, [made.pop(0) if f else o
                                        for o, f in zip(out_leaves, floats)])


def _cotangents(g, n_out):
    """The engine's gradient argument as a list, one per float output."""
    return list(g) if n_out > 1 else [g]


def _spread(grads, floats):
    """Per output leaf: its cotangent, None for the leaves not differentiated."""
    it = iter(grads)
    return [next(it) if f else None for f in floats]


# ---------------------------------------------------------------------------
# The scalar tier

def _dual_parts(x):
    """A Dual (or object array of Duals and numbers) as (value, tangents (k, ...))."""
    if type(x) is Dual:
        return x.value, np.atleast_1d(np.asarray(x.tangent, dtype=np.float64))
    items = list(x.flat)
    k = max((np.size(e.tangent) for e in items if type(e) is Dual), default=1)
    value = np.array([e.value if type(e) is Dual else float(e) for e in items])
    tan = np.zeros((k, len(items)))
    for i, e in enumerate(items):
        if type(e) is Dual:
            tan[:, i] = e.tangent
    return value.reshape(x.shape), tan.reshape((k,) + x.shape)


def _duals(p, ts, name):
    """An output leaf of value ``p`` and tangents ``ts`` (one per direction) as Duals."""
    def number(v, what):
        if isinstance(v, (Dual, Var, DualArray, TensorBase)):
            raise TypeError(f"the custom_jvp rule of {name} returned a {type(v).__name__} "
                            f"{what} for plain inputs")
        return np.asarray(v, dtype=np.float64)
    p = number(p, "primal")
    ts = [number(t, "tangent") for t in ts]
    if p.ndim == 0:
        return Dual(float(p), float(ts[0]) if len(ts) == 1 else [float(t) for t in ts])
    tan = np.stack(ts).reshape(len(ts), -1)
    out = np.empty(p.size, dtype=object)
    for i, v in enumerate(p.reshape(-1)):
        out[i] = Dual(float(v), float(tan[0, i]) if len(ts) == 1 else tan[:, i].copy())
    return out.reshape(p.shape)


def _on_tape(cf, call):
    """Record a custom function of Vars on their tape: each output as its
    second-order Taylor model at the point, from the rule through the array
    tier (exact for the tape's reverse and Hessian-vector sweeps, which read
    nothing beyond second derivatives there), after guards that the inputs are
    those of the point."""
    where = [j for j, (kind, _) in enumerate(call.kinds) if kind == _VAR]
    xs, shapes = [], []
    for j in where:
        x = call.leaves[j]
        xs += [x] if type(x) is Var else list(x.flat)
        shapes.append(None if type(x) is Var else x.shape)
    values = [x.value if type(x) is Var else float(x) for x in xs]
    x0 = np.array(values)
    offsets = np.cumsum([0] + [1 if s is None else int(np.prod(s)) for s in shapes])

    def leaves_at(flat):
        leaves = list(call.leaves)
        for j, s, o, e in zip(where, shapes, offsets[:-1], offsets[1:]):
            leaves[j] = flat[o] if s is None else flat[o:e].reshape(s)
        return leaves

    # Reverse over reverse by hand on the array tier (transforms would ask the
    # planner, which may pick the scalar tier again; and custom_vjp functions
    # have no forward mode): per output, its gradient recorded, then the
    # gradient of each of its entries.
    n = x0.size
    with _outside_transforms(), enable_grad():
        x = _ops.as_input(x0, _levels.new_level())
        o_leaves, o_tree = _pytree.flatten(cf(*call.args_with(leaves_at(x))))
        y = _concat_flat(o_leaves)
        y0 = _plain_values(y)
        jac, hess = np.zeros((y0.size, n)), np.zeros((y0.size, n, n))
        for r in range(y0.size):
            if not (isinstance(y, TensorBase) and y.requires_grad):
                break
            g, = _autograd_grad([y[r]], [x], retain_graph=True, create_graph=True,
                                allow_unused=True)
            if g is None:
                continue
            jac[r] = _plain_values(g)
            for i in range(n):
                if not g.requires_grad:
                    break
                h, = _autograd_grad([g[i]], [x], retain_graph=True, allow_unused=True)
                if h is not None:
                    hess[r, i] = _plain_values(h)
    hess = 0.5 * (hess + np.swapaxes(hess, 1, 2))
    # Guards first (a comparison of a Var is recorded as one): a replay at other
    # inputs stops here rather than read the model away from its point.
    dx = []
    for x, v in zip(xs, values):
        if type(x) is Var:
            x == v          # noqa: B015  (recorded as a guard)
            dx.append(x - v)    # exactly 0.0 at the point
        else:
            dx.append(0.0)
    ys = []
    for r in range(y0.size):
        y = y0[r].item()
        for i in np.flatnonzero(jac[r]):
            y = y + jac[r, i] * dx[i]
        for i in range(len(dx)):
            row = np.flatnonzero(hess[r, i])
            if row.size:
                s = 0.0
                for j in row:
                    s = s + (0.5 * hess[r, i, j]) * dx[j]
                y = y + dx[i] * s
        ys.append(y)
    res, offset = [], 0
    for o in o_leaves:
        shape = _shape(o)
        size = int(np.prod(shape))
        part = ys[offset:offset + size]
        offset += size
        if shape == ():
            res.append(part[0])
        else:
            arr = np.empty(size, dtype=object)
            arr[:] = part
            res.append(arr.reshape(shape))
    return _pytree.unflatten(o_tree, res)


def _plain_values(o):
    """Values without this module's tensor and DualArray around them, as float64."""
    if isinstance(o, TensorBase):
        o = o._a
    if type(o) is DualArray:
        o = o.value
    return np.asarray(o, dtype=np.float64)


def _concat_flat(leaves):
    """Output leaves as one vector (m,)."""
    parts = [np.asarray(o, dtype=np.float64).reshape(-1)
             if isinstance(o, (int, float, np.ndarray, np.generic)) else o.reshape(-1)
             for o in leaves]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
