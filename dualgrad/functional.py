"""Functional transforms: derivatives of the user's ordinary Python and NumPy code.

``grad``, ``value_and_grad``, ``jvp``, ``vjp``, ``jacfwd``, ``jacrev``,
``jacobian``, ``hessian`` and ``hvp`` take a function written with NumPy,
``dualgrad`` or :mod:`dualgrad.math` functions and differentiate it with
respect to the arguments named by ``argnums``: numbers, ndarrays and nested
tuples, lists and dicts of them. Results come back as floats and ndarrays, in
the shapes JAX gives.

Dtypes: f runs in float64 whatever the arguments' dtype. Derivatives with
respect to a float32 or float16 argument come back in that dtype, and f's
values and tangents in the arguments' common dtype when all are of lower
precision than float64 (as JAX and PyTorch return them). Python numbers give
floats; integer arguments are read as float64 and their derivatives are
float64 (JAX refuses integer arguments; NumPy computes with them in float64).

How: the arguments are flattened into one vector of n numbers; the planner
(:mod:`dualgrad.planner`) picks a tier and a mode for the call, and one of four
evaluators runs ``f`` on the objects of that tier and mode:

=============  ====================================  ==================================
tier           forward (chunks of k directions)      reverse (sweeps)
=============  ====================================  ==================================
scalar         :class:`Dual` per number              :class:`Var` on a :class:`Tape`
array          :class:`DualArray` per argument       :class:`Tensor` per argument
=============  ====================================  ==================================

Hessians are forward over reverse: the reverse evaluator runs on dual values
(the tape's C sweep on the scalar tier, Tensors holding DualArrays on the
array tier), one sweep per block of directions.

Nesting: every running transform has a level, a number larger than those of
the transforms around it. A DualArray carries its level; a Tensor made by a
transform carries its level too, so an operation between objects of two
levels is done by the higher one, treating the other as a constant. That is
what makes ``d/dx [x * d/dy (x + y)]`` equal 1 (never 2). The scalar tier's
Duals and Vars hold C doubles and cannot nest: a transform started inside a
scalar-tier evaluation makes the outer transform start again on the array tier.
"""

import functools
import itertools
import math
import numbers
import threading

import numpy as np

from dualgrad import _preallocation, _pytree, gpu, planner as _planner
from dualgrad._levels import StartAgainOnArrays, frames, new_level, running, under_reverse
from dualgrad._array import composites, ops as _ops
from dualgrad._array.dualarray import DualArray, any_complex, tangent_at
from dualgrad._array.engine import TensorBase, tensor_of
from dualgrad._scalar.dual import Dual, read_into, seeded
from dualgrad._scalar.tape import Tape, Var
from dualgrad.autograd import grad as _autograd_grad
from dualgrad.autograd.grad_mode import enable_grad

__all__ = ["grad", "value_and_grad", "jvp", "vjp", "jacfwd", "jacrev", "jacobian", "hessian",
           "hvp", "plan"]


# ---------------------------------------------------------------------------
# Arguments: the differentiated ones flattened into n numbers

class _Inputs:
    """The arguments of one call; those named by ``argnums`` flattened to leaves.

    Plain leaves (numbers, numeric ndarrays) are read as float64 arrays; leaves
    carrying an outer transform's derivatives (DualArray, Tensor) stay as they
    are. Those, or a call inside another transform, set ``nested``: only the
    array tier can run.
    """

    def __init__(self, fname, args, argnums, kwargs=None, holomorphic=False):
        self.argnums, self.single = _checked_argnums(fname, argnums, len(args))
        self.holomorphic = holomorphic
        self.kwargs = kwargs or {}      # passed to f as they are: not differentiated
        for i in self.argnums:
            if args[i] is None:         # an empty tree to _pytree, a mistake here
                _real_array(f"{fname}: argument {i}", None)
        self.fname, self.args = fname, args
        # An argument named twice (JAX allows it) is differentiated once, f seeing
        # it once; its derivative is handed back at each place that named it.
        self.repeats = None
        if len(set(self.argnums)) < len(self.argnums):
            unique = tuple(dict.fromkeys(self.argnums))
            self.repeats = [unique.index(i) for i in self.argnums]
            self.argnums = unique
        chosen = args[self.argnums[0]] if self.single else tuple(args[i] for i in self.argnums)
        leaves, self.tree = _pytree.flatten(chosen)
        self.values, self.shapes, self.scalar, self.dtypes = [], [], [], []
        # Complex leaves: ``pairs`` marks those f gets as x + iy of a real leaf
        # (x, y) stacked on a last axis, so that every tier, mode and nesting
        # differentiates them as real numbers (docs/conventions.rst); with
        # ``holomorphic`` they stay complex.
        self.pairs = []
        self.nested = on_device = self.complex = False
        for leaf in leaves:
            if type(leaf) is float:          # the common leaf of a list of numbers, quickly
                if holomorphic:
                    _not_complex(fname, self.where(len(self.values)))
                self.values.append(leaf)
                self.shapes.append(())
                self.scalar.append(True)
                self.dtypes.append(None)
                self.pairs.append(False)
                continue
            self.dtypes.append(_result_dtype(leaf))
            pair = False
            if _is_complex(leaf):
                self.complex = True
                value = (leaf if isinstance(leaf, (DualArray, TensorBase))
                         else np.asarray(leaf, dtype=np.complex128, order="C"))
                if not holomorphic:
                    # (np.real and np.imag: an outer transform's DualArray or
                    # Tensor keeps its derivatives in both parts)
                    value, pair = np.stack([np.real(value), np.imag(value)], axis=-1), True
            elif holomorphic:
                _not_complex(fname, self.where(len(self.values)))
            else:
                value = _leaf_value(fname, leaf, lambda: self.where(len(self.values)))
            self.pairs.append(pair)
            on_device |= gpu.device_of(value).type == "cuda"
            self.nested |= not (isinstance(value, (np.ndarray, float))
                                or gpu.is_device_array(value))
            self.values.append(value)
            self.shapes.append(tuple(np.shape(value)) if isinstance(value, np.ndarray)
                               else tuple(value.shape))
            self.scalar.append(not isinstance(leaf, np.ndarray) and not gpu.is_device_array(leaf)
                               and np.ndim(leaf) == 0)
        # One device for all (GPU arrays beside NumPy arrays are an error).
        self.device = gpu.check_same_device(*leaves) if on_device else gpu.CPU
        # Inside another transform f may close over its values: arrays only.
        self.nested |= bool(frames())
        self.sizes = [math.prod(s) for s in self.shapes]
        self.offsets = list(itertools.accumulate([0] + self.sizes))
        self.n = self.offsets[-1]
        # f's outputs come back in the dtype NumPy would have computed them in
        # from arguments all of lower precision (float32 from float32 alone).
        self.out_dtype = None
        if leaves and all(d is not None for d in self.dtypes):
            self.out_dtype = np.result_type(*self.dtypes)

    def where(self, i):
        """Leaf ``i`` named for messages: "argument 1" or "an element of argument 1"."""
        for a in self.argnums:
            leaves, _ = _pytree.flatten(self.args[a])
            if i < len(leaves):
                return f"argument {a}" if leaves[0] is self.args[a] else f"an element of argument {a}"
            i -= len(leaves)
        return "an argument"

    def key(self):
        """What a plan depends on: the structure and shapes of the arguments, and
        the names (and array shapes) of the keyword arguments f is given."""
        return (self.argnums, self.single, self.tree, tuple(self.shapes), self.nested,
                self.complex, self.holomorphic, str(self.device),
                tuple(type(a).__name__ for a in self.args),
                tuple((k, type(v).__name__, np.shape(v) if isinstance(v, np.ndarray) else None)
                      for k, v in sorted(self.kwargs.items())))

    @property
    def on_gpu(self):
        return self.device.type == "cuda"

    def put(self, a):
        """A NumPy array the transform made (seeds, cotangents) on the arguments' device."""
        return gpu.to_device(a, self.device) if self.on_gpu else a

    def flat(self):
        """The plain leaves' values as one float64 vector (n,)."""
        parts, floats = [], []
        for v in self.values:
            if type(v) is float:
                floats.append(v)
                continue
            if floats:
                parts.append(np.array(floats))
                floats = []
            parts.append(v.reshape(-1))
        if floats:
            parts.append(np.array(floats))
        return np.concatenate(parts) if len(parts) > 1 else parts[0] if parts else np.zeros(0)

    def call(self, f, leaves):
        if self.complex:
            leaves = [x[..., 0] + 1j * x[..., 1] if pair else x
                      for x, pair in zip(leaves, self.pairs)]
        chosen = _pytree.unflatten(self.tree, leaves)
        args = list(self.args)
        if self.single:
            args[self.argnums[0]] = chosen
        else:
            for i, a in zip(self.argnums, chosen):
                args[i] = a
        return f(*args, **self.kwargs)

    def split(self, flat):
        """A vector (..., n) as one block (..., *shape) per leaf."""
        lead = flat.shape[:-1]
        return [flat[..., o:o + s].reshape(lead + sh)
                for o, s, sh in zip(self.offsets, self.sizes, self.shapes)]

    def tree_of(self, per_leaf):
        """Results per leaf in the arguments' structure (a tuple per argnum), each
        in its leaf's floating dtype. The derivatives (d/dx, d/dy) with respect to
        a complex leaf's pair come back as JAX gives them, d/dx - i d/dy."""
        if self.complex:
            per_leaf = [_from_pair(r, s) if pair else r
                        for r, pair, s in zip(per_leaf, self.pairs, self.scalar)]
        tree = _pytree.unflatten(self.tree, [_cast(r, d) for r, d in zip(per_leaf, self.dtypes)])
        if self.repeats is None:
            return tree
        seen = set()
        out = []
        for j in self.repeats:
            # A repeated place gets its own arrays, as if computed apart.
            out.append(_copied(tree[j]) if j in seen else tree[j])
            seen.add(j)
        return tuple(out)

    def results(self, flat):
        """A plain vector (n,) as the caller gets it: floats for numbers, arrays
        of the leaves' shapes, in the arguments' structure."""
        if all(self.scalar) and not self.complex:
            return self.tree_of(flat.tolist())
        return self.tree_of([_result(b, s) for b, s in zip(self.split(flat), self.scalar)])


def _result_dtype(leaf):
    """The dtype derivatives with respect to ``leaf`` come back in: its own
    floating dtype below float64 (float16, float32, complex64, as in JAX and
    PyTorch); None (float64 or complex128, and floats for numbers) for the
    double precisions, integers and Python numbers. Computation runs in double
    precision whatever the dtype."""
    if isinstance(leaf, (DualArray, TensorBase, Dual, Var)):
        return None
    dtype = getattr(leaf, "dtype", None)
    if isinstance(dtype, np.dtype) and (dtype.kind == "f" and dtype != np.float64
                                        or dtype.kind == "c" and dtype != np.complex128):
        return dtype
    return None


def _is_complex(leaf):
    """Whether an argument leaf holds complex numbers (the DualArrays and
    Tensors of outer transforms too)."""
    if type(leaf) is np.ndarray or isinstance(leaf, np.generic):
        return leaf.dtype.kind == "c"
    if isinstance(leaf, complex):
        return True
    if isinstance(leaf, (DualArray, TensorBase)):
        return any_complex(leaf)
    if isinstance(leaf, (list, tuple)):
        return False
    return gpu.is_device_array(leaf) and leaf.dtype.kind == "c"


def _not_complex(fname, where):
    raise TypeError(f"{fname} with holomorphic=True requires complex inputs, but {where} is "
                    f"real; give it as complex numbers (x + 0j), as JAX requires")


def _from_pair(r, scalar):
    """Derivatives with respect to (x, y) on a last axis as one complex array,
    JAX's d/dx - i d/dy (a complex number for a scalar argument)."""
    out = r[..., 0] - 1j * r[..., 1]
    if scalar and isinstance(out, (np.ndarray, np.generic)) and out.ndim == 0:
        return complex(out)
    return out


def _cast(result, dtype):
    """A plain result in ``dtype`` (see _result_dtype); others as they are."""
    if dtype is None:
        return result
    if isinstance(result, np.ndarray) or gpu.is_device_array(result):
        return result.astype(dtype, copy=False)
    if type(result) is float:
        return dtype.type(result)
    return result


def _copied(tree):
    leaves, td = _pytree.flatten(tree)
    return _pytree.unflatten(td, [np.copy(x) if isinstance(x, np.ndarray) else x for x in leaves])


def _leaf_value(fname, leaf, where):
    """A leaf of the differentiated arguments as the evaluators take it: a
    C-contiguous float64 array (views and broadcasts are copied once here, so
    that no tier meets strides), or a DualArray or Tensor of an outer transform."""
    if isinstance(leaf, (DualArray, TensorBase)):
        return leaf
    if gpu.is_device_array(leaf):
        if leaf.dtype.kind not in "iuf":
            raise TypeError(f"{fname}: cannot differentiate with respect to {leaf.dtype} values")
        return leaf.astype(np.float64, copy=False)
    if isinstance(leaf, (Dual, Var)) or (isinstance(leaf, np.ndarray) and leaf.dtype == object
                                         and any(isinstance(e, (Dual, Var)) for e in leaf.flat)):
        if any(fr.tier == "scalar" for fr in frames()):
            raise StartAgainOnArrays()
        kind = type(leaf).__name__ if isinstance(leaf, (Dual, Var)) else "Dual or Var"
        raise TypeError(f"{fname}: {where()} holds {kind} values of the scalar tier, which "
                        f"can't be differentiated again; call {fname} on plain numbers or "
                        f"arrays, and nest transforms as dg.{fname}(dg.grad(f)), whose values "
                        f"nest")
    return _real_array(f"{fname}: {where()}", leaf)


# ---------------------------------------------------------------------------
# Argument validation: every number the caller gives (arguments, tangents,
# cotangents, argnums) is checked here, with a message naming it and the fix

def _checked_argnums(fname, argnums, nargs):
    """``argnums`` as (a tuple of argument positions, whether it was one int)."""
    def is_int(i):
        return isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_))
    if is_int(argnums):
        positions, single = (int(argnums),), True
    elif isinstance(argnums, (tuple, list)) and all(is_int(i) for i in argnums):
        positions, single = tuple(int(i) for i in argnums), False
        if not positions:
            raise ValueError(f"{fname}: argnums is an empty tuple; name at least one argument")
    else:
        raise TypeError(f"{fname}: argnums must be an int or a tuple of ints, not {argnums!r}")
    for i in positions:
        if not -nargs <= i < nargs:
            raise ValueError(f"{fname}: argnums {i} does not name one of the {nargs} "
                             f"positional argument(s) f was called with")
    return tuple(i % nargs for i in positions), single


def _describe(x):
    if x is None:
        return "None"
    if isinstance(x, np.ndarray) and x.ndim:
        return f"a {x.dtype.name} array"
    name = type(x).__name__
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def _real_array(where, x):
    """``x`` (a number or an array of numbers) as a C-contiguous float64 array;
    TypeError naming ``where`` for anything else: strings, None, bools, complex
    numbers, objects. An object array of real numbers is read as numbers."""
    a = x if isinstance(x, np.ndarray) else np.asarray(x)
    kind = a.dtype.kind
    if kind == "O":
        bad = [e for e in a.flat if not _is_real(e)][:1]
        if not bad:
            a, kind = a.astype(np.float64), "f"
        elif a.ndim:
            raise TypeError(f"{where} is an object array holding {type(bad[0]).__name__} "
                            f"values; derivatives are taken with respect to real numbers: "
                            f"give floats (an array of dtype float64)")
        else:                # one Python object: say what it is
            x = bad[0]
            kind = ("c" if isinstance(x, complex) else "b" if isinstance(x, (bool, np.bool_))
                    else "O")
    if kind in "iuf":
        return np.asarray(a, dtype=np.float64, order="C")
    if kind == "c":
        raise TypeError(f"{where} is complex where real numbers are needed (what it goes with is "
                        f"real); give the real part (x.real) if the imaginary part is zero")
    if kind == "b":
        raise TypeError(f"{where} is {_describe(x)}: derivatives with respect to True/False "
                        f"are not defined; give floats (1.0, 0.0)")
    hint = " (convert a string with float(s))" if kind in "US" else ""
    raise TypeError(f"{where} is {_describe(x)}; derivatives are taken with respect to "
                    f"numbers, arrays, or tuples, lists and dicts of them{hint}")


def _is_real(e):
    return isinstance(e, numbers.Real) and not isinstance(e, (bool, np.bool_))


# ---------------------------------------------------------------------------
# Outputs

class _Outputs:
    """What f returned, flattened: per leaf its value and shape."""

    def __init__(self, fname, out, scalar_tier=False):
        leaves, self.tree = _pytree.flatten(out)
        if not scalar_tier:
            # np.array([...]) of traced numbers on the array tier: object arrays
            leaves = list(composites.objects_converted(leaves))
        if not leaves:
            raise TypeError(f"{fname}: f returned no numbers to differentiate ({out!r}); "
                            f"did it forget to return its result?")
        for leaf in leaves:
            # The scalar tier reads the elements of object arrays one by one in
            # C, refusing what is not a number: no second look at each here.
            _check_output(fname, leaf, elements=not scalar_tier)
        self.leaves = leaves
        self.scalar = [np.ndim(o) == 0 and not isinstance(o, (np.ndarray, DualArray, TensorBase))
                       for o in leaves]
        self.shapes = [tuple(np.shape(o)) if not isinstance(o, (DualArray, TensorBase))
                       else tuple(o.shape) for o in leaves]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.offsets = list(itertools.accumulate([0] + self.sizes))
        self.m = self.offsets[-1]

    def tree_of(self, per_leaf):
        return _pytree.unflatten(self.tree, per_leaf)

    @property
    def complex(self):
        """Whether f returned complex values (asked on the paths where it matters)."""
        return any(_is_complex_output(o) for o in self.leaves)


def _check_output(fname, leaf, elements=True):
    """Refuse an output leaf that is not real numbers: read as a constant, it
    would give a silent zero derivative. ``elements``: look into object arrays."""
    if isinstance(leaf, (Dual, Var)):
        return
    if isinstance(leaf, (np.ndarray, DualArray, TensorBase)) or gpu.is_device_array(leaf):
        kind = np.dtype(leaf.dtype).kind
    elif isinstance(leaf, numbers.Complex):
        return
    else:
        what = {"generator": "a generator (make it a list or an array)",
                "set": "a set (unordered: return a list, a tuple or an array)"}.get(
                    type(leaf).__name__, type(leaf).__name__)
        raise TypeError(f"{fname}: f must return real numbers, arrays, or tuples, lists and "
                        f"dicts of them; it returned {what}")
    if kind == "O" and elements and isinstance(leaf, np.ndarray):
        for item in leaf.flat:
            if item is None:
                raise TypeError(f"{fname}: f returned an array holding None; it must hold "
                                f"real numbers")
            if isinstance(item, complex):
                raise TypeError(f"{fname}: f returned an object array holding complex numbers; "
                                f"return them as a complex array (dtype=complex)")
            _check_output(fname, item)
    if kind not in "biufcO":
        raise TypeError(f"{fname}: f must return real numbers; it returned an array of "
                        f"{leaf.dtype}")


def _scalar_output(fname, outs, holomorphic=False):
    if outs.m != 1 or len(outs.leaves) != 1:
        shapes = ", ".join(map(str, outs.shapes))
        raise TypeError(f"{fname} needs f to return one scalar; it returned shape(s) {shapes}. "
                        f"Use dg.jacobian (or dg.vjp) for functions with several outputs")
    _complex_outputs(fname, outs, holomorphic)


def _is_complex_output(o):
    if type(o) is np.ndarray:
        return o.dtype.kind == "c"
    if isinstance(o, (DualArray, TensorBase)):
        return any_complex(o)
    if isinstance(o, np.generic) or gpu.is_device_array(o):
        return o.dtype.kind == "c"
    return isinstance(o, complex)


def _complex_outputs(fname, outs, holomorphic):
    """JAX's rules for complex outputs of grad and jacrev: real outputs only,
    except that a function declared holomorphic must return complex ones."""
    if outs.complex and not holomorphic:
        raise TypeError(f"{fname} requires real-valued outputs, but f returned complex values. "
                        f"For holomorphic differentiation, pass holomorphic=True. For "
                        f"non-holomorphic functions of complex outputs, use dg.jvp or dg.vjp "
                        f"directly, or differentiate the real and imaginary parts apart")
    if holomorphic and not outs.complex:
        raise TypeError(f"{fname} with holomorphic=True requires complex outputs, but f "
                        f"returned real values; a real-valued function of complex numbers is "
                        f"not holomorphic: drop holomorphic=True")


def _as_float(inp, t, where):
    """A tangent or cotangent given by the caller (``where`` names it), as
    float64 values on the arguments' device (DualArrays and Tensors of outer
    transforms as they are)."""
    if isinstance(t, (DualArray, TensorBase)):
        return t
    if gpu.is_device_array(t):
        gpu.check_same_device(t, *inp.values)
        if t.dtype.kind not in "iuf":
            raise TypeError(f"{where} has dtype {t.dtype}; it must hold real numbers")
        return t.astype(np.float64, copy=False)
    return inp.put(_real_array(where, t))


def _result(value, scalar):
    """A plain result as users get it: a float (a complex number) for a scalar
    argument or output."""
    if isinstance(value, np.ndarray):
        cplx = value.dtype.kind == "c"
        value = np.asarray(value, dtype=np.complex128 if cplx else np.float64)
        if scalar and value.ndim == 0:
            return complex(value) if cplx else float(value)
    return value


# ---------------------------------------------------------------------------
# The scalar tier: Duals (forward) and a Tape (reverse), one object per number

def _objects(items, shape, scalar):
    if scalar or shape == ():
        return items[0]
    arr = np.empty(len(items), dtype=object)
    arr[:] = items
    return arr.reshape(shape)


def _scalar_forward(inp, f, seeds):
    """f at Duals seeded with the k directions ``seeds`` (k, n): per output
    leaf, its value and tangents (k, *shape)."""
    duals = seeded(inp.flat(), np.ascontiguousarray(seeds, dtype=np.float64))
    leaves = [_objects(duals[o:o + s], sh, sc)
              for o, s, sh, sc in zip(inp.offsets, inp.sizes, inp.shapes, inp.scalar)]
    with running("scalar", "forward"):
        out = inp.call(f, leaves)
    outs = _Outputs(inp.fname, out, scalar_tier=True)
    k = seeds.shape[0]
    values, tangents = [], []
    for o, shape in zip(outs.leaves, outs.shapes):
        items = o.reshape(-1) if isinstance(o, np.ndarray) else [o]
        val = np.empty(len(items))
        tan = np.empty((k, len(items)))
        bad = read_into(items, val, tan)
        if bad >= 0:
            _number(inp.fname, items[bad])         # raises the error that fits
        values.append(val.reshape(shape))
        tangents.append(tan.reshape((k,) + shape))
    return outs, values, tangents


def _number(fname, item):
    if isinstance(item, (Dual, Var)):
        raise ValueError(f"{fname}: f returned a {type(item).__name__} of another evaluation")
    try:
        return float(item)
    except TypeError:
        raise TypeError(f"{fname}: f must return numbers, arrays, or tuples, lists and dicts "
                        f"of them; got {type(item).__name__}") from None


class _ScalarRecording:
    """f recorded once on a Tape: derivatives by the tape's C sweeps."""

    def __init__(self, inp, f):
        self.tape = Tape()
        with self.tape:
            self.xs = self.tape.var(inp.flat().tolist())
            leaves = [_objects(self.xs[o:o + s], sh, sc)
                      for o, s, sh, sc in zip(inp.offsets, inp.sizes, inp.shapes, inp.scalar)]
            with running("scalar", "reverse"):
                out = inp.call(f, leaves)
        self.outs = _Outputs(inp.fname, out, scalar_tier=True)
        self.ys = [item for o in self.outs.leaves
                   for item in (o.reshape(-1) if isinstance(o, np.ndarray) else [o])]
        self.values = [np.array([y.value if type(y) is Var else _number(inp.fname, y)
                                 for y in (o.reshape(-1) if isinstance(o, np.ndarray) else [o])]
                                ).reshape(sh)
                       for o, sh in zip(self.outs.leaves, self.outs.shapes)]

    def vjp(self, w):
        return np.asarray(self.tape.vjp(self.ys, self.xs, w), dtype=np.float64).reshape(-1)

    def jacobian(self):
        if len(self.ys) == 1:
            return self.vjp(np.ones(1))[None, :]
        return self.tape.jacobian(self.ys, self.xs)

    def hvp(self, v):
        return np.asarray(self.tape.hvp(self.ys[0], self.xs, v)).reshape(-1)

    def hessian(self):
        n = len(self.xs)
        return np.asarray(self.tape.hessian(self.ys[0], self.xs)).reshape(n, n)


# ---------------------------------------------------------------------------
# The array tier: DualArrays (forward) and Tensors (reverse), one object per argument

def _array_forward(inp, f, seeds):
    """f at DualArrays seeded with ``seeds`` (k, n) (or one block per leaf):
    per output leaf, its primal and tangents (k, *shape)."""
    blocks = seeds if isinstance(seeds, list) else inp.split(seeds)
    with running("array", "forward") as level:
        leaves = [DualArray(v, b.reshape((b.shape[0],) + sh), level)
                  for v, b, sh in zip(inp.values, blocks, inp.shapes)]
        out = inp.call(f, leaves)
        outs = _Outputs(inp.fname, out)
        k = blocks[0].shape[0] if blocks else 1
        primals = [o.value if isinstance(o, DualArray) and o.level == level else o
                   for o in outs.leaves]
        tangents = [tangent_at(o, level, k) for o in outs.leaves]
    return outs, primals, tangents


class _ArrayRecording:
    """f run on Tensors that require grad: derivatives by backward sweeps."""

    def __init__(self, inp, f):
        self.create_graph = under_reverse()
        with running("array", "reverse") as level, enable_grad():
            self.xs = [_ops.as_input(v, level) for v in inp.values]
            out = inp.call(f, self.xs)
        self.outs = _Outputs(inp.fname, out)
        self.inp = inp

    def _seed(self, w):
        """Backward from cotangents ``w`` (one block per output leaf) to the inputs.

        A Tensor's gradient is PyTorch's conjugate Wirtinger derivative; the
        transforms follow JAX, whose cotangents are its conjugates: the
        cotangents go in conjugated and the derivatives with respect to complex
        inputs come out conjugated (docs/conventions.rst)."""
        outs, grads = [], []
        for o, g in zip(self.outs.leaves, w):
            if isinstance(o, TensorBase) and o.requires_grad:
                if _is_complex_output(g):
                    g = np.conj(g)
                outs.append(o)
                grads.append(_ops.as_tensor(g, dtype=o.dtype, device=o.device)
                             if isinstance(g, np.ndarray) else g)
        if not outs:
            return [self.finish(_ops.zeros_like(x)) for x in self.xs]
        res = _autograd_grad(outs, self.xs, grads, retain_graph=True,
                             create_graph=self.create_graph, allow_unused=True)
        if self.inp.holomorphic:
            res = [None if g is None else np.conj(g) for g in res]
        return [self.finish(_ops.zeros_like(x) if g is None else g) for g, x in zip(res, self.xs)]

    def finish(self, t):
        """A Tensor result as the caller gets it: the Tensor itself under an
        enclosing reverse transform, else its values."""
        if not isinstance(t, TensorBase):
            return t
        return t if self.create_graph else t._a

    def values(self):
        return [self.finish(o) for o in self.outs.leaves]

    def vjp(self, w_blocks):
        return self._seed(w_blocks)

    def jacobian_blocks(self, chunk):
        """The Jacobian as (m, *in_shape) blocks per input leaf, by backward
        sweeps that carry ``chunk`` cotangents at once: each sweep's output
        gradient is a DualArray of zeros whose tangents are rows of the
        identity. The rules are linear in the gradient, so the tangents of the
        input gradients are those rows of the Jacobian (one sweep where
        PyTorch's vectorize=True and JAX's vmap batch the same way)."""
        m = self.outs.m
        per_leaf = [[] for _ in self.xs]
        for start in range(0, m, chunk):
            k = min(chunk, m - start)
            level = new_level()
            eye = np.zeros((k, m))
            eye[np.arange(k), start + np.arange(k)] = 1.0
            eye = self.inp.put(eye)
            w = [DualArray(self.inp.put(np.zeros(sh)), eye[:, o:o + s].reshape((k,) + sh), level)
                 for o, s, sh in zip(self.outs.offsets, self.outs.sizes, self.outs.shapes)]
            for blocks, g in zip(per_leaf, self._seed([tensor_of(c) for c in w])):
                blocks.append(tangent_at(g, level, k))      # (conjugated by _seed)
        return [_concat(b, 0) for b in per_leaf]

    def jacobian_rows(self):
        """Per output element, the gradient blocks per input leaf."""
        rows = []
        for j, (shape, size) in enumerate(zip(self.outs.shapes, self.outs.sizes)):
            for e in range(size):
                w = [np.zeros(s) for s in self.outs.shapes]
                w[j].reshape(-1)[e] = 1.0
                rows.append(self._seed(w))
        return rows


# ---------------------------------------------------------------------------
# Assembling Jacobians: (m, n) blocks into the trees JAX returns

def _jacobian_tree(inp, outs, blocks):
    """``blocks[i][j]``: d out leaf i / d in leaf j with shape out_shape + in_shape."""
    per_out = []
    for i, o_scalar in enumerate(outs.scalar):
        per_in = [_result(b, o_scalar and s) for b, s in zip(blocks[i], inp.scalar)]
        per_out.append(inp.tree_of(per_in))
    return outs.tree_of(per_out)


def _split_jacobian(inp, outs, jac):
    """A dense (m, n) Jacobian as blocks per (output leaf, input leaf)."""
    return [[jac[mo:mo + ms, no:no + ns].reshape(msh + nsh)
             for no, ns, nsh in zip(inp.offsets, inp.sizes, inp.shapes)]
            for mo, ms, msh in zip(outs.offsets, outs.sizes, outs.shapes)]


def _forward_jacobian(inp, f, tier, chunk):
    """The Jacobian by forward passes over chunks of ``chunk`` input directions."""
    n = inp.n
    cols, outs, values = [], None, None
    if tier == "scalar":
        for seeds in _unit_directions(n, chunk):
            outs, vals, tans = _scalar_forward(inp, f, seeds)
            values = values or vals
            cols.append(np.concatenate([t.reshape(len(seeds), -1) for t in tans], axis=1))
        jac = np.concatenate(cols, axis=0)[:n].T
        return outs, values, _split_jacobian(inp, outs, jac)
    # Array tier: the tangents may be of any array type (an outer transform's),
    # so blocks are joined generically.
    per_chunk = []
    for seeds in _unit_directions(n, chunk):
        outs, prim, tans = _array_forward(inp, f, inp.put(seeds))
        values = values or prim
        per_chunk.append(tans)
    blocks = []
    for i, (msh, ms) in enumerate(zip(outs.shapes, outs.sizes)):
        col = _concat([_reshape(t[i], (t[i].shape[0], ms)) for t in per_chunk], 0)  # (n, ms)
        col = col.T                                                                # (ms, n)
        blocks.append([_reshape(col[:, no:no + ns], msh + nsh)
                       for no, ns, nsh in zip(inp.offsets, inp.sizes, inp.shapes)])
    return outs, values, blocks


def _reverse_jacobian(inp, f, tier):
    if tier == "scalar":
        rec = _ScalarRecording(inp, f)
        return rec.outs, rec.values, _split_jacobian(inp, rec.outs, rec.jacobian())
    rec = _ArrayRecording(inp, f)
    _complex_outputs("jacrev" if inp.fname == "jacobian" else inp.fname, rec.outs,
                     inp.holomorphic)
    if not rec.create_graph and rec.outs.m:
        chunk = _planner.chunk_size(rec.outs.m, _planner.ARRAY_CHUNK_THRESHOLD)
        rows = rec.jacobian_blocks(chunk)            # (m, *in_shape) per input leaf
        blocks = [[_reshape(r[mo:mo + ms], msh + nsh) for r, nsh in zip(rows, inp.shapes)]
                  for mo, ms, msh in zip(rec.outs.offsets, rec.outs.sizes, rec.outs.shapes)]
        return rec.outs, rec.values(), blocks
    rows = rec.jacobian_rows()                       # m rows of per-leaf gradients
    blocks = []
    for i, (mo, ms, msh) in enumerate(zip(rec.outs.offsets, rec.outs.sizes, rec.outs.shapes)):
        blocks.append([_reshape(_stack([rows[mo + e][j] for e in range(ms)], 0)
                                if ms else np.zeros((0,) + nsh), msh + nsh)
                       for j, nsh in enumerate(inp.shapes)])
    return rec.outs, rec.values(), blocks


def _reshape(a, shape):
    return a.reshape(shape)


def _concat(parts, axis):
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=axis)


def _stack(parts, axis):
    return np.stack(parts, axis=axis)


# ---------------------------------------------------------------------------
# Planning and restarting

def _planned(fname, f, inp, kind, mode="auto"):
    """The plan for this call (cached per function and argument shapes)."""
    return _planner.plan_call(f, kind, inp, mode, _probe)


def _probe(inp, f):
    """One forward evaluation on the array tier with one direction, counting
    operations: the planner's view of f (output size, how big operations are).
    If f cannot run on DualArrays but runs on numbers, the count of its tape."""
    try:
        with _planner.counting() as stats:
            outs, _, _ = _array_forward(inp, f, inp.put(np.ones((1, inp.n)) if inp.n
                                                         else np.zeros((1, 0))))
    except StartAgainOnArrays:
        raise
    except Exception as array_error:
        if inp.nested or inp.on_gpu or inp.complex:
            raise
        if stats.not_on_objects:
            array_error.add_note(f"The scalar tier cannot take f instead: it calls "
                                 f"{', '.join(sorted(stats.not_on_objects))}, whose NumPy "
                                 f"implementation fails or is wrong on object arrays.")
            raise
        try:
            rec = _ScalarRecording(inp, f)
        except StartAgainOnArrays:
            # f runs a transform inside, which nests on the array tier only
            array_error.add_note("f runs a dualgrad transform inside it, and nested transforms "
                                 "run on the array tier, which f does not run on (see above).")
            raise array_error from None
        except Exception as scalar_error:
            shown, cause = _both_tiers_failed(array_error, scalar_error)
            raise shown from cause
        return _planner.Stats(ops=len(rec.tape), elements=len(rec.tape), m=len(rec.ys),
                              arrays=False)
    stats.m = outs.m
    stats.complex_out = outs.complex and not inp.holomorphic
    return stats


def _run(fname, f, inp, kind, mode, body):
    """Run ``body(plan)``. If f starts a transform inside a scalar-tier
    evaluation, or fails on Duals or Vars where it ran on DualArrays (a NumPy
    function without object loops, such as np.linalg.solve), remember it and
    run again on the array tier."""
    plan = _planned(fname, f, inp, kind, mode)
    scalar_error = None
    try:
        return body(plan)
    except StartAgainOnArrays:
        if plan.tier != "scalar" or any(fr.tier == "scalar" for fr in frames()):
            raise
        why = "f runs a transform inside: array tier, whose values nest"
    except TypeError as e:
        if plan.tier == "scalar" and _preallocation.object_cast(e):
            raise _preallocation.error("a value that carries derivatives") from e
        if plan.tier != "scalar" or not plan.stats.arrays:
            raise
        scalar_error = e
        why = f"f failed on the scalar tier ({e}): array tier"
    try:
        return body(_planner.on_arrays(f, kind, inp, mode, plan, why))
    except Exception as array_error:
        if scalar_error is None:
            raise
        shown, cause = _both_tiers_failed(array_error, scalar_error)
    raise shown from cause


def _both_tiers_failed(array_error, scalar_error):
    """(the error to show, its cause) when f failed on both tiers.

    The array tier's error, with the scalar tier's as its cause: f written with
    NumPy meets the array tier's objects first, and that failure is about the
    code as written. Except where the array tier failed only because f turns
    values into floats (dg.math takes the scalar tier's numbers only): there
    the scalar tier's error is the one about f. A write into a plain NumPy
    array comes first whichever tier met it: no tier can run f until it is
    fixed."""
    if _preallocation.is_error(array_error):
        return array_error, scalar_error
    if _preallocation.is_error(scalar_error):
        return scalar_error, array_error
    if _preallocation.object_cast(scalar_error):
        # g[1:] += x[1:] with x the scalar tier's object array: NumPy refuses
        # the cast without asking a Dual or Var
        return _preallocation.error("a value that carries derivatives"), scalar_error
    if (_drops_derivative(array_error) and not _drops_derivative(scalar_error)
            and not _whole_array_to_float(scalar_error)):
        return scalar_error, array_error
    return array_error, scalar_error


def _whole_array_to_float(error):
    """Whether ``error`` is NumPy refusing float() of a whole array: math.sin(x)
    of the scalar tier's object array, where the array tier's error (use
    np.sin or dg.sin) is the one about f."""
    return isinstance(error, TypeError) and "arrays can be converted to Python scalars" in str(
        error)


def _drops_derivative(error):
    """Whether ``error`` is a traced value refusing float(): math, dg.math on arrays."""
    return isinstance(error, TypeError) and "would drop" in str(error)


# ---------------------------------------------------------------------------
# has_aux: f returns (output, aux)

class _WithAux:
    """f returning ``(output, aux)`` as a function of the output alone, for
    ``has_aux=True``: the transforms differentiate the output, and the aux of
    the last evaluation in this thread is kept, as values (this transform's
    derivatives taken off; an outer transform's stay). One per transform made,
    so that the planner's cache, keyed on the function, holds across calls."""

    def __init__(self, fname, f):
        self.fname, self.f = fname, f
        self._local = threading.local()
        functools.update_wrapper(self, f)

    def __call__(self, *args, **kwargs):
        out = self.f(*args, **kwargs)
        if not (isinstance(out, tuple) and len(out) == 2):
            got = (f"a tuple of {len(out)}" if isinstance(out, tuple) else
                   f"one {type(out).__name__}" if isinstance(out, (list, dict)) else "one value")
            raise TypeError(f"{self.fname}: with has_aux=True, f must return a pair "
                            f"(output, aux); it returned {got}")
        stack = frames()
        level = stack[-1].level if stack else None
        outer_reverse = any(fr.mode == "reverse" for fr in stack[:-1])
        leaves, tree = _pytree.flatten(out[1])
        self._local.aux = _pytree.unflatten(
            tree, [_aux_value(a, level, outer_reverse) for a in leaves])
        return out[0]

    def take(self):
        """The aux of the last evaluation (once)."""
        return self._local.__dict__.pop("aux")


def _aux_value(a, level, outer_reverse):
    if isinstance(a, (Dual, Var)):
        return a.value
    if isinstance(a, np.ndarray) and a.dtype == object and any(
            isinstance(e, (Dual, Var)) for e in a.flat):
        return np.array([e.value if isinstance(e, (Dual, Var)) else e for e in a.flat],
                        dtype=np.float64).reshape(a.shape)
    if type(a) is DualArray and a.level == level:
        return a.value
    if isinstance(a, TensorBase) and not outer_reverse:
        return a._a
    return a


def _aux_wrapped(fname, f, has_aux):
    _check_callable(fname, f)
    return _WithAux(fname, f) if has_aux else f


# ---------------------------------------------------------------------------
# The transforms

def _check_callable(fname, f):
    if not callable(f):
        raise TypeError(f"{fname} expects a function f, not {type(f).__name__}")


def jacobian(f, argnums=0, mode="auto", has_aux=False, holomorphic=False):
    """The Jacobian of ``f``: a function returning d f / d args.

    Parameters
    ----------
    f : callable
        Written with NumPy, ``dualgrad`` or :mod:`dualgrad.math` functions; may
        index elements and loop. Returns numbers, arrays, or tuples, lists and
        dicts of them.
    argnums : int or tuple of int
        The positional argument(s) to differentiate with respect to.
    mode : {"auto", "forward", "reverse"}
        "auto" lets the planner choose (:func:`plan` shows its choice);
        "forward" runs forward passes over chunks of input directions,
        "reverse" one reverse sweep per output element.
    has_aux : bool
        f returns a pair ``(output, aux)``: the Jacobian is of the output, and
        ``jac`` returns ``(jacobian, aux)``, aux as values (as in JAX).
    holomorphic : bool
        f is holomorphic, of complex arguments with complex values: the
        Jacobian is the complex derivative df/dz (as in JAX). Otherwise
        complex arguments give JAX's d/dx - i d/dy of real outputs, and
        complex outputs of real arguments their forward-mode derivative
        (docs/conventions.rst).

    Returns
    -------
    callable
        ``jac(*args, **kwargs)``: keyword arguments go to f as they are, not
        differentiated. For an output leaf of shape ``s_out`` and an input leaf
        of shape ``s_in``, an array of shape ``s_out + s_in`` (a float when both
        are scalars), in the structure of the output with the structure of the
        arguments inside (a tuple of them when ``argnums`` is a tuple).

    Examples
    --------
    >>> import numpy as np, dualgrad as dg
    >>> dg.jacobian(lambda x: np.sin(x) * x[0])(np.array([1.0, 2.0]))
    array([[ 1.38177329,  0.        ],
           [ 0.90929743, -0.41614684]])
    """
    fo = _aux_wrapped("jacobian", f, has_aux)
    if mode not in ("auto", "forward", "reverse"):
        raise ValueError(f"jacobian: mode must be 'auto', 'forward' or 'reverse', not {mode!r}")

    @functools.wraps(f)
    def jac(*args, **kwargs):
        inp = _Inputs("jacobian", args, argnums, kwargs, holomorphic)

        def body(plan):
            if plan.mode == "forward":
                outs, _, blocks = _forward_jacobian(inp, fo, plan.tier, plan.chunk)
                if holomorphic or (inp.complex and outs.complex):
                    # complex outputs of complex arguments: only holomorphic f has
                    # a complex derivative
                    _complex_outputs("jacobian", outs, holomorphic)
            else:
                outs, _, blocks = _reverse_jacobian(inp, fo, plan.tier)
            return _jacobian_tree(inp, outs, blocks)
        out = _run("jacobian", fo, inp, "jacobian", mode, body)
        return (out, fo.take()) if has_aux else out
    return jac


def jacfwd(f, argnums=0, has_aux=False, holomorphic=False):
    """The Jacobian by forward mode: ``jacobian(f, argnums, mode="forward")``."""
    return jacobian(f, argnums, mode="forward", has_aux=has_aux, holomorphic=holomorphic)


def jacrev(f, argnums=0, has_aux=False, holomorphic=False):
    """The Jacobian by reverse mode: ``jacobian(f, argnums, mode="reverse")``."""
    return jacobian(f, argnums, mode="reverse", has_aux=has_aux, holomorphic=holomorphic)


def value_and_grad(f, argnums=0, has_aux=False, holomorphic=False):
    """A function returning ``(f(*args), gradient)`` of a scalar-valued ``f``.

    The gradient has the structure of the argument(s) named by ``argnums``
    (a tuple of them for a tuple). With ``has_aux=True`` f returns
    ``(value, aux)`` and the result is ``((value, aux), gradient)``, as in
    JAX. See :func:`grad`.
    """
    fo = _aux_wrapped("value_and_grad", f, has_aux)

    @functools.wraps(f)
    def value_and_grad_f(*args, **kwargs):
        value, g = _value_and_grad("value_and_grad", fo, args, argnums, kwargs, holomorphic)
        return ((value, fo.take()), g) if has_aux else (value, g)
    return value_and_grad_f


def grad(f, argnums=0, has_aux=False, holomorphic=False):
    """The gradient of a scalar-valued ``f``, as a function of the same arguments.

    Parameters
    ----------
    f : callable
        Returns one real number (a float, a 0-d or one-element array); other
        results (complex numbers, None, generators, ...) raise TypeError.
        Its arguments may be complex: the gradient is then JAX's,
        df/dx - i df/dy for z = x + iy (docs/conventions.rst).
    argnums : int or tuple of int
        Which positional argument(s) to differentiate with respect to; one
        named twice gets its gradient at both places (as in JAX).
    has_aux : bool
        f returns a pair ``(value, aux)``: the gradient is of the value, and
        ``grad_f`` returns ``(gradient, aux)``, aux as values (as in JAX).
    holomorphic : bool
        f is holomorphic, with complex arguments and a complex value: the
        result is the complex derivative f'(z), as in JAX.

    Returns
    -------
    callable
        ``grad_f(*args, **kwargs)``: keyword arguments go to f as they are,
        not differentiated. It returns the gradient, with the structure and shapes of the
        argument(s) (floats for numbers), in each argument's floating dtype
        (float32 for float32; float64 for integers and Python numbers).

    Examples
    --------
    >>> import numpy as np, dualgrad as dg
    >>> dg.grad(lambda x: np.sum(x ** 2))(np.array([1.0, 2.0]))
    array([2., 4.])
    >>> dg.grad(lambda x, y: x * y, argnums=(0, 1))(3.0, 4.0)
    (4.0, 3.0)
    """
    fo = _aux_wrapped("grad", f, has_aux)

    @functools.wraps(f)
    def grad_f(*args, **kwargs):
        g = _value_and_grad("grad", fo, args, argnums, kwargs, holomorphic)[1]
        return (g, fo.take()) if has_aux else g
    return grad_f


def _value_and_grad(fname, f, args, argnums, kwargs, holomorphic=False):
    inp = _Inputs(fname, args, argnums, kwargs, holomorphic)

    def body(plan):
        if plan.mode == "forward":
            outs, values, blocks = _forward_jacobian(inp, f, plan.tier, plan.chunk)
            _scalar_output(fname, outs, inp.holomorphic)
            per_leaf = [_result(_reshape(b, sh), sc)
                        for b, sh, sc in zip(blocks[0], inp.shapes, inp.scalar)]
            value = values[0]
        elif plan.tier == "scalar":
            rec = _ScalarRecording(inp, f)
            _scalar_output(fname, rec.outs, inp.holomorphic)
            value = rec.values[0]
            return value, inp.results(rec.vjp(np.ones(1)))
        else:
            rec = _ArrayRecording(inp, f)
            _scalar_output(fname, rec.outs, inp.holomorphic)
            per_leaf = [_result(g, sc)
                        for g, sc in zip(rec.vjp([np.ones(rec.outs.shapes[0])]), inp.scalar)]
            value = rec.values()[0]
        return value, inp.tree_of(per_leaf)
    value, g = _run(fname, f, inp, "grad", "auto", body)
    return _cast(_result(value, True), inp.out_dtype), g


def jvp(f, primals, tangents, has_aux=False):
    """``(f(*primals), J @ tangents)`` by one forward pass.

    ``primals`` and ``tangents`` are tuples (or lists) of the arguments of
    ``f`` and of directions of the same structure and shapes. With
    ``has_aux=True`` f returns ``(output, aux)`` and the result is
    ``(output, J @ tangents, aux)``, as in JAX.
    """
    fo = _aux_wrapped("jvp", f, has_aux)
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp: primals and tangents must be tuples (or lists) of arguments, "
                        "e.g. dg.jvp(f, (x,), (v,))")
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    inp = _Inputs("jvp", tuple(primals), tuple(range(len(primals))))
    tan_leaves, tan_tree = _pytree.flatten(tuple(tangents))
    if tan_tree != inp.tree:
        raise ValueError(f"jvp: tangents have structure {tan_tree}, primals {inp.tree}")
    blocks = []
    for i, (t, sh) in enumerate(zip(tan_leaves, inp.shapes)):
        if inp.pairs[i]:
            # the tangent of x + iy as the tangents of (x, y)
            t = np.asarray(t, dtype=np.complex128)
            t = inp.put(np.stack([t.real, t.imag], axis=-1))
        else:
            t = _as_float(inp, t, f"jvp: tangent {i}")
        if tuple(t.shape) != sh:
            raise ValueError(f"jvp: a tangent has shape {tuple(t.shape)}, its primal {sh}")
        blocks.append(t.reshape((1,) + sh))

    def body(plan):
        if plan.tier == "scalar":
            seeds = np.concatenate([b.reshape(1, -1) for b in blocks], axis=1)
            outs, values, tans = _scalar_forward(inp, fo, seeds)
        else:
            outs, values, tans = _array_forward(inp, fo, blocks)
        return (outs.tree_of([_cast(_result(v, s), inp.out_dtype)
                              for v, s in zip(values, outs.scalar)]),
                outs.tree_of([_cast(_result(_reshape(t, sh), s), inp.out_dtype)
                              for t, sh, s in zip(tans, outs.shapes, outs.scalar)]))
    out = _run("jvp", fo, inp, "jvp", "forward", body)
    return out + (fo.take(),) if has_aux else out


def vjp(f, *primals, has_aux=False):
    """``(f(*primals), vjp_fn)``: ``vjp_fn(cotangent)`` gives ``cotangent @ J``
    as a tuple with one entry per primal, by one reverse sweep per call. With
    ``has_aux=True`` f returns ``(output, aux)`` and the result is
    ``(output, vjp_fn, aux)``, as in JAX."""
    fo = _aux_wrapped("vjp", f, has_aux)
    inp = _Inputs("vjp", primals, tuple(range(len(primals))))

    def body(plan):
        if plan.tier == "scalar":
            rec = _ScalarRecording(inp, fo)
            values = rec.values
        else:
            rec = _ArrayRecording(inp, fo)
            values = rec.values()
        outs = rec.outs

        def vjp_fn(cotangent):
            leaves, tree = _pytree.flatten(cotangent)
            if tree != outs.tree:
                raise ValueError(f"vjp_fn: the cotangent has structure {tree}; f's output has "
                                 f"{outs.tree}")
            w = []
            for i, (c, sh, o) in enumerate(zip(leaves, outs.shapes, outs.leaves)):
                if _is_complex_output(o) and _is_complex(c):
                    c = inp.put(np.asarray(c, dtype=np.complex128))
                else:
                    c = _as_float(inp, c, f"vjp_fn: cotangent {i}")
                if tuple(c.shape) != sh:
                    raise ValueError(f"vjp_fn: a cotangent has shape {tuple(c.shape)}; the "
                                     f"output it weighs has shape {sh}")
                w.append(c)
            if plan.tier == "scalar":
                flat = np.concatenate([c.reshape(-1) for c in w]) if w else np.zeros(0)
                return inp.results(rec.vjp(flat))
            return inp.tree_of([_result(g, s) for g, s in zip(rec.vjp(w), inp.scalar)])
        return outs.tree_of([_cast(_result(v, s), inp.out_dtype)
                             for v, s in zip(values, outs.scalar)]), vjp_fn
    out = _run("vjp", fo, inp, "vjp", "reverse", body)
    return out + (fo.take(),) if has_aux else out


def hessian(f, argnums=0):
    """The Hessian of a scalar-valued ``f``, forward over reverse in chunks of directions.

    Returns a function giving, for argument leaves of shapes ``s1`` and ``s2``,
    blocks of shape ``s1 + s2`` (nested in the arguments' structure twice).
    Its keyword arguments go to f as they are, not differentiated.

    Examples
    --------
    >>> import numpy as np, dualgrad as dg
    >>> dg.hessian(lambda x: x[0] ** 2 * x[1])(np.array([1.0, 2.0]))
    array([[4., 2.],
           [2., 0.]])
    """
    _check_callable("hessian", f)

    @functools.wraps(f)
    def hess(*args, **kwargs):
        inp = _Inputs("hessian", args, argnums, kwargs)
        _no_complex_second_order("hessian", inp)

        def body(plan):
            if plan.tier == "scalar":
                rec = _ScalarRecording(inp, f)
                _scalar_output("hessian", rec.outs)
                h = rec.hessian()
            else:
                h = np.concatenate([_hvp_block(inp, f, inp.put(seeds))
                                    for seeds in _unit_directions(inp.n, plan.chunk)],
                                   axis=0)[:inp.n].T
            blocks = [[h[ao:ao + asz, bo:bo + bsz].reshape(ash + bsh)
                       for bo, bsz, bsh in zip(inp.offsets, inp.sizes, inp.shapes)]
                      for ao, asz, ash in zip(inp.offsets, inp.sizes, inp.shapes)]
            return inp.tree_of([inp.tree_of([_result(b, s1 and s2) for b, s2 in zip(row, inp.scalar)])
                                for row, s1 in zip(blocks, inp.scalar)])
        return _run("hessian", f, inp, "hessian", "auto", body)
    return hess


def _no_complex_second_order(fname, inp):
    if inp.complex:
        raise TypeError(f"{fname} takes real arguments (as JAX's, forward over reverse, without "
                        f"holomorphic=True); pass the real and imaginary parts as two real "
                        f"arguments, f(x, y) computing with z = x + 1j * y")


def _unit_directions(n, chunk):
    """The unit vectors of R^n in blocks (k, n) of at most ``chunk``; for n = 0
    one empty direction, so that f still runs once."""
    if n == 0:
        yield np.zeros((1, 0))
        return
    for start in range(0, n, chunk):
        k = min(chunk, n - start)
        seeds = np.zeros((k, n))
        seeds[np.arange(k), start + np.arange(k)] = 1.0
        yield seeds


def _hvp_block(inp, f, seeds):
    """H @ seeds.T as (k, n), forward over reverse: the reverse sweep runs on
    Tensors holding DualArrays that carry the k directions (one sweep per block)."""
    def flat_gradient(*args):
        rec = _ArrayRecording(_Inputs(inp.fname, args, inp.argnums if not inp.single
                                      else inp.argnums[0], inp.kwargs), f)
        _scalar_output(inp.fname, rec.outs)
        grads = rec.vjp([np.ones(rec.outs.shapes[0])])
        return _concat([_reshape(g, (-1,)) for g in grads], 0)
    outs, _, tans = _array_forward(inp, flat_gradient, seeds)
    return tans[0]


def hvp(f, x, v):
    """The Hessian-vector product ``H(x) @ v`` of a scalar-valued ``f(x)``,
    forward over reverse: one reverse sweep carrying the direction ``v``.

    ``x`` is f's one argument (a number, an array, or a tuple, list or dict of
    them) and ``v`` has its structure; the result has it too.

    Examples
    --------
    >>> import numpy as np, dualgrad as dg
    >>> dg.hvp(lambda x: np.sum(x ** 3), np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    array([ 6., 12.])
    """
    _check_callable("hvp", f)
    inp = _Inputs("hvp", (x,), 0)
    _no_complex_second_order("hvp", inp)
    v_leaves, v_tree = _pytree.flatten(v)
    if v_tree != inp.tree:
        raise ValueError(f"hvp: v has structure {v_tree}, x has {inp.tree}")
    w = []
    for i, (t, sh) in enumerate(zip(v_leaves, inp.shapes)):
        t = _as_float(inp, t, "hvp: v" if len(v_leaves) == 1 else f"hvp: leaf {i} of v")
        if t.shape != sh:
            raise ValueError(f"hvp: v has a leaf of shape {t.shape} where x has {sh}")
        w.append(t.reshape(-1))
    flat_v = np.concatenate(w) if w else inp.put(np.zeros(0))

    def body(plan):
        if plan.tier == "scalar":
            rec = _ScalarRecording(inp, f)
            _scalar_output("hvp", rec.outs)
            hv = rec.hvp(flat_v)
        else:
            hv = _hvp_block(inp, f, flat_v[None, :])[0]
        return inp.results(hv) if isinstance(hv, np.ndarray) else inp.tree_of(
            [_result(b, s) for b, s in zip(inp.split(hv), inp.scalar)])
    return _run("hvp", f, inp, "hvp", "auto", body)


def plan(f, *args, argnums=0, kind="jacobian", mode="auto"):
    """The planner's choice for ``kind`` ("jacobian", "grad", "hessian", "hvp")
    of ``f`` at ``args``: a :class:`~dualgrad.planner.Plan`; ``str()`` explains it.

    Examples
    --------
    >>> import numpy as np, dualgrad as dg
    >>> p = dg.plan(lambda x: np.tanh(x), np.ones(3))
    >>> p.mode, p.tier, p.chunk
    ('forward', 'array', 3)
    """
    _check_callable("plan", f)
    if kind not in ("jacobian", "grad", "hessian", "hvp", "jvp", "vjp"):
        raise ValueError(f"plan: kind must be one of 'jacobian', 'grad', 'hessian', 'hvp', "
                         f"'jvp', 'vjp'; not {kind!r}")
    return _planned("plan", f, _Inputs("plan", args, argnums), kind, mode)
