"""The graph and the backward pass of the array tier.

An operation on tensors that require grad makes one :class:`Node`: the edges to
the nodes (or leaves) of its inputs, the backward rule its operation registered
and the values that rule reads. ``backward`` counts each node's consumers,
then runs the rules in reverse topological order with an explicit stack (no
recursion, so a million chained operations are fine), summing the gradients
that meet at a node before its rule runs.

A rule is written once as ``fn(ns, grad, *saved)`` against a namespace ``ns``.
Without ``create_graph`` the engine hands it ndarrays and the NumPy namespace;
with ``create_graph`` it hands it Tensors and the tensor namespace, so the
backward pass is itself recorded and can be differentiated again.
"""

import weakref
from time import perf_counter_ns

from cpython.dict cimport PyDict_SetDefault
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM

import numpy as np
cimport numpy as cnp

cnp.import_array()

# ---------------------------------------------------------------------------
# Grad mode: one flag per thread (C thread-local storage, so that every thread
# starts with grad enabled, as in PyTorch).

cdef extern from *:
    """
    static __thread int dg_grad_off = 0;
    """
    int dg_grad_off


cdef bint grad_enabled() noexcept nogil:
    return not dg_grad_off


def is_grad_enabled():
    """True unless inside ``no_grad`` (or ``set_grad_enabled(False)``) in this thread."""
    return not dg_grad_off


def _set_grad_enabled(bint mode):
    """Set this thread's grad mode; returns the previous one."""
    global dg_grad_off
    cdef bint prev = not dg_grad_off
    dg_grad_off = not mode
    return prev


# ---------------------------------------------------------------------------
# What the op library provides (configure): the concrete tensor type and the
# two namespaces the rules run against.

cdef type TensorType = None
cdef object NUMPY_NS = None
cdef object TENSOR_NS = None


def configure(tensor_type, numpy_ns, tensor_ns):
    """Called once by the op library: the Tensor class (a TensorBase without
    fields of its own) and the namespaces of backward rules. ``tensor_ns`` has
    ``sum_axes(g, axes, shape)`` and ``astype(g, dtype)``, differentiable, which
    the engine uses to reduce gradients to the shape and dtype of their input."""
    global TensorType, NUMPY_NS, TENSOR_NS
    TensorType, NUMPY_NS, TENSOR_NS = tensor_type, numpy_ns, tensor_ns


cdef TensorBase wrap(object array):
    """A new tensor over ``array`` (NumPy scalars become 0-d arrays). Values of
    another array type that NumPy functions dispatch to (a DualArray, for
    forward over reverse) are kept as they are."""
    cdef TensorBase t = TensorType.__new__(TensorType)
    if type(array) is cnp.ndarray:
        t._a = array
    elif isinstance(array, (cnp.ndarray, np.generic)) or not hasattr(type(array),
                                                                     "__array_function__"):
        t._a = np.asarray(array)
    else:
        t._a = array
    return t


def tensor_of(array):
    """A new tensor over ``array`` (no copy), outside any graph."""
    return wrap(array)


cdef bint needs_grad(object x) except -1:
    """Whether x is a tensor in the graph. A view whose memory was changed in place
    through its base or another view first takes its new place in the graph (made
    again from the base, as PyTorch regenerates a view's grad_fn)."""
    cdef TensorBase t
    if not isinstance(x, TensorBase):
        return False
    t = x
    if t.base is not None and t.ver.value != t.view_ver:
        refresh_view(t)
    return t.node is not None or t.leaf_grad


cdef refresh_view(TensorBase t):
    cdef TensorBase now
    t.view_ver = t.ver.value  # first: making it again uses t's base, not t
    if dg_grad_off:
        return
    now = TENSOR_NS.view_of(t.base, view_steps(t))
    t.node = now.node
    t.nr = now.nr


cdef tuple view_steps(TensorBase t):
    """The steps that make view ``t`` from its base, first to last."""
    cdef list steps = []
    cdef tuple link = t.view_chain
    while link is not None:
        steps.append(link[1])
        link = link[0]
    steps.reverse()
    return tuple(steps)


cdef Version version_of(TensorBase t):
    if t.ver is None:
        t.ver = Version()
    return t.ver


# ---------------------------------------------------------------------------

cdef class Version:
    """An in-place version counter. Views share their base's counter."""

    def __int__(self):
        return self.value


cdef class SavedOut(Version):
    """An operation's output saved for its backward rule: the values and which
    output they are, not the output Tensor (that would point back at the node)."""

    def __cinit__(self, array=None, int nr=0):
        self.array = array
        self.nr = nr


def out(int nr=0):
    """The marker an operation puts in ``saved`` for its output ``nr``."""
    return SavedOut(None, nr)


cdef class TensorBase:
    """The fields of a tensor and what the engine does with them; the operations
    are in :class:`dualgrad.Tensor`."""

    # -- gradient bookkeeping ------------------------------------------------

    @property
    def requires_grad(self):
        """True for leaves created to require grad and for results of recorded
        operations on them."""
        return needs_grad(self)

    @requires_grad.setter
    def requires_grad(self, value):
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` of a leaf, in place; returns the tensor."""
        if self.node is not None:
            if not requires_grad:
                raise RuntimeError(
                    "requires_grad can only be switched off on a leaf tensor; this tensor "
                    f"was made by {self.node.label}. Use detach() to get a tensor that does "
                    "not require grad.")
            return self
        if requires_grad and self._a.dtype.kind not in "fc":
            raise RuntimeError(
                f"only tensors of floating point dtype can require gradients, not "
                f"{self._a.dtype.name}; convert first, e.g. x.double().requires_grad_()")
        self.leaf_grad = requires_grad
        return self

    @property
    def is_leaf(self):
        """True for tensors not made by a recorded operation."""
        needs_grad(self)  # (a view brings its place in the graph up to date)
        return self.node is None

    @property
    def grad_fn(self):
        """The Node that made this tensor (None for leaves)."""
        needs_grad(self)  # (a view brings its place in the graph up to date)
        return self.node

    @property
    def output_nr(self):
        return self.nr

    @property
    def grad(self):
        """The gradient accumulated by ``backward``, a Tensor of this tensor's
        shape and dtype, or None."""
        return self.grad_

    @grad.setter
    def grad(self, value):
        cdef TensorBase g
        if value is None:
            self.grad_ = None
            return
        if not isinstance(value, TensorBase):
            raise TypeError(f"grad must be a Tensor or None, not {type(value).__name__}")
        g = value
        if g._a.shape != self._a.shape:
            raise RuntimeError(f"assigned grad has shape {g._a.shape}, but the tensor has "
                               f"shape {self._a.shape}")
        if g._a.dtype != self._a.dtype:
            raise RuntimeError(f"assigned grad has dtype {g._a.dtype.name}, but the tensor "
                               f"has dtype {self._a.dtype.name}; convert it with .to()")
        self.grad_ = g

    @grad.deleter
    def grad(self):
        self.grad_ = None

    def retain_grad(self):
        """Keep the gradient of this non-leaf in ``.grad`` after backward."""
        if self.node is None:
            if not self.leaf_grad:
                raise RuntimeError("can't retain_grad on a tensor that does not require grad")
            return
        if not self.keep_grad:
            self.keep_grad = True
            retain_on(self.node, self)

    @property
    def retains_grad(self):
        """True for a non-leaf on which retain_grad() was called."""
        return self.keep_grad

    @property
    def _version(self):
        return 0 if self.ver is None else self.ver.value

    @property
    def _base(self):
        return self.base

    @property
    def _view_steps(self):
        """How this view is made from ``_base``: a tuple of (kind, argument) steps."""
        return view_steps(self)

    @property
    def _level(self):
        """The level of the functional transform this tensor belongs to (0: none);
        operations give their outputs the highest level of their inputs."""
        return self.level

    @_level.setter
    def _level(self, int level):
        self.level = level

    # -- leaving the graph -----------------------------------------------------

    def detach(self):
        """A tensor with the same values (the same memory) outside the graph.
        In-place changes to either are seen by both, and by backward's checks."""
        cdef TensorBase t = wrap(self._a)
        t.ver = version_of(self)
        return t

    def detach_(self):
        """Detach this tensor from the graph in place; it becomes a leaf."""
        if self.base is not None and needs_grad(self.base):
            raise RuntimeError("can't detach_() a view of a tensor that requires grad; "
                               "use detach(), which returns a new tensor")
        self.node = None
        self.nr = 0
        self.leaf_grad = False
        self.keep_grad = False
        return self

    @property
    def data(self):
        """The values as a tensor outside the graph, sharing memory (not the version
        counter, as in PyTorch: prefer ``detach()``)."""
        return wrap(self._a)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate the gradient of this tensor into the leaves' ``.grad``.

        ``gradient`` is required unless the tensor holds one element. The graph's
        saved values are freed afterwards unless ``retain_graph`` (default:
        ``create_graph``) is true.
        """
        if retain_graph is None:
            retain_graph = create_graph
        run_backward((self,), (gradient,), retain_graph, create_graph,
                     None if inputs is None else _as_tuple(inputs), False, True)


cdef tuple _as_tuple(x):
    if isinstance(x, TensorBase):
        return (x,)
    return tuple(x)


# ---------------------------------------------------------------------------

class AccumulateGrad:
    """What ``next_functions`` shows for a leaf: its gradient accumulator."""

    __slots__ = ("variable",)

    def __init__(self, variable):
        self.variable = variable

    next_functions = ()

    def name(self):
        return "AccumulateGrad"

    def __repr__(self):
        return f"<AccumulateGrad object at {id(self):#x}>"


cdef class FastRule:
    """A backward rule with a C fast path (see tensor.pyx.tp's row rules)."""

    def __call__(self, *args):
        return self.py(*args)

    cdef tuple run(self, Node n, object g):
        return None


cdef class Node:
    """One recorded operation: a tensor's ``grad_fn``."""

    def name(self):
        return self.label

    @property
    def next_functions(self):
        """((node, output index), ...) per input, as in PyTorch: a leaf appears as
        its AccumulateGrad, an input that needs no gradient as (None, 0)."""
        return tuple((AccumulateGrad(t), 0) if isinstance(t, TensorBase) else (t, edge_nr(self, i))
                     for i, t in enumerate(self.edges))

    def __repr__(self):
        return f"<{self.label} object at {id(self):#x}>"


cdef inline int edge_nr(Node n, Py_ssize_t i):
    return 0 if n.nrs is None else n.nrs[i]


cdef Node new_node(str name, tuple inputs, object fn, tuple saved, tuple outputs):
    """A node for an operation on ``inputs`` (tensors or constants) with outputs
    ``outputs`` (tensors). ``saved`` holds input tensors, ``out(k)`` markers and
    plain values; the versions of saved tensors are recorded."""
    cdef Node n = Node.__new__(Node)
    cdef TensorBase t
    cdef SavedOut so
    cdef Py_ssize_t i, k = len(inputs), j = 0
    cdef list nrs = None
    cdef list filled = None
    cdef tuple targets = PyTuple_New(k)
    cdef object target
    cdef cnp.ndarray a
    cdef int level = 0
    for i in range(k):
        x = inputs[i]
        target = None
        if needs_grad(x):
            t = x
            if t.level > level:
                level = t.level
            if t.node is None:
                target = t
            else:
                target = t.node
                if t.nr:
                    if nrs is None:
                        nrs = [0] * k
                    nrs[i] = t.nr
        Py_INCREF(target)
        PyTuple_SET_ITEM(targets, i, target)
    n.edges = targets
    n.level = level
    n.nrs = None if nrs is None else tuple(nrs)
    n.label = name
    n.fn = fn
    n.saved = saved
    n.holds_values = False
    for i in range(len(saved)):
        s = saved[i]
        if isinstance(s, TensorBase):
            t = s
            n.holds_values = True
            if j < INLINE_VERSIONS:
                n.vers[j] = 0 if t.ver is None else t.ver.value
            else:
                if n.more_vers is None:
                    n.more_vers = []
                n.more_vers.append(0 if t.ver is None else t.ver.value)
            j += 1
        elif type(s) is SavedOut:
            n.holds_values = True
            if filled is None:
                filled = list(saved)
            t = outputs[(<SavedOut>s).nr]
            so = SavedOut(t._a, (<SavedOut>s).nr)
            if t.ver is None:
                t.ver = so
            else:
                so.shared = t.ver
                so.saved_at = t.ver.value
            filled[i] = so
    if filled is not None:
        n.saved = tuple(filled)
    n.n_out = len(outputs)
    values = (<TensorBase>outputs[0])._a
    if n.n_out == 1 and type(values) is cnp.ndarray and cnp.PyArray_NDIM(values) <= MAX_DIMS:
        a = values
        n.ndim = a.ndim
        for i in range(n.ndim):
            n.dims[i] = a.shape[i]
        n.dtype = <object>cnp.PyArray_DESCR(a)
    else:   # several outputs, many dimensions, or values of another array type
        n.ndim = -1
        n.metas = tuple([((<TensorBase>t)._a.shape, (<TensorBase>t)._a.dtype) for t in outputs])
    return n


cdef TensorBase attach(TensorBase out, Node node, int nr):
    out.node = node
    out.nr = nr
    out.level = node.level
    return out


cdef retain_on(Node node, TensorBase t):
    if node.retained is None:
        node.retained = [None] * node.n_out
    node.retained[t.nr] = weakref.ref(t)


def record(out, tuple inputs, str name, fn, tuple saved=(), bint tensor_args=False):
    """Wrap an operation's output array (or tuple of arrays) in tensors and, if
    grad is enabled and an input requires grad, record a node for them with the
    backward rule ``fn(ns, grad, *saved)``. Used by the op library."""
    cdef bint multi = type(out) is tuple
    cdef tuple outs = tuple([wrap(o) for o in out]) if multi else (wrap(out),)
    cdef Node node
    cdef int k
    if not dg_grad_off:
        for x in inputs:
            if needs_grad(x):
                break
        else:
            return outs if multi else outs[0]
        node = new_node(name, inputs, fn, saved, outs)
        node.tensor_args = tensor_args
        for k in range(len(outs)):
            attach(outs[k], node, k)
    return outs if multi else outs[0]


def rebase(TensorBase t, TensorBase result):
    """Make ``t`` (changed in place to ``result``'s values) take ``result``'s
    place in the graph, as in-place operations do."""
    if t.base is not None:
        t.view_ver = t.ver.value  # a view changed in place is up to date
    if result.node is not None:
        if t.keep_grad and t.node is not None and t.node.retained is not None:
            t.node.retained[t.nr] = None  # the grad retained is that of the new value
        t.node = result.node
        t.nr = result.nr
        if t.keep_grad:
            retain_on(t.node, t)


def alias(TensorBase t):
    """A second tensor object for ``t``'s values and place in the graph: the
    operand of an in-place operation, before ``t`` takes the result's place."""
    cdef TensorBase a = wrap(t._a)
    a.node = t.node
    a.nr = t.nr
    a.leaf_grad = t.leaf_grad
    return a


def keep_values(TensorBase a, TensorBase result):
    """If the operation of an in-place change saved its operand ``a`` (an alias
    of the tensor changed) for backward, give ``a`` its own copy of the values
    before they are overwritten."""
    if result.node is not None:
        for s in result.node.saved:
            if s is a:
                a._a = a._a.copy()
                return


def bump_version(TensorBase t):
    cdef Version v = version_of(t)
    v.value += 1


def share_version(TensorBase view, TensorBase base, tuple step):
    """``view`` shares ``base``'s memory: one version counter for both, and the
    steps (``step`` after base's own) that make it from the tensor owning the memory."""
    view.ver = version_of(base)
    view.view_ver = view.ver.value
    if base.base is None:
        view.base = base
        view.view_chain = (None, step)
    else:
        view.base = base.base
        # A view of a view links to its base's chain (O(1) however long the chain,
        # where copying the steps made ``y = y[:]`` repeated n times O(n^2)); a
        # step that changes nothing (same memory, shape and strides) is left out,
        # so such a chain also replays in one step.
        view.view_chain = base.view_chain if same_layout(view._a, base._a) else (
            base.view_chain, step)


cdef bint same_layout(object a, object b):
    """Whether ndarrays a and b are the same elements of the same memory."""
    cdef cnp.ndarray x, y
    cdef int i
    if type(a) is not cnp.ndarray or type(b) is not cnp.ndarray:
        return False
    x, y = a, b
    if (cnp.PyArray_DATA(x) != cnp.PyArray_DATA(y) or cnp.PyArray_NDIM(x) != cnp.PyArray_NDIM(y)
            or cnp.PyArray_DESCR(x) is not cnp.PyArray_DESCR(y) and x.dtype != y.dtype):
        return False
    for i in range(cnp.PyArray_NDIM(x)):
        if (cnp.PyArray_DIMS(x)[i] != cnp.PyArray_DIMS(y)[i]
                or cnp.PyArray_STRIDES(x)[i] != cnp.PyArray_STRIDES(y)[i]):
            return False
    return True



# ---------------------------------------------------------------------------
# The backward pass

cdef tuple reduce_axes(tuple got, tuple shape, str who, Py_ssize_t index):
    """The axes to sum a gradient of shape ``got`` over to get ``shape`` (the
    axes broadcasting added); an error if ``got`` does not broadcast from it."""
    cdef Py_ssize_t lead = len(got) - len(shape), i
    if lead < 0:
        bad_shape(got, shape, who, index)
    axes = list(range(lead))
    for i in range(len(shape)):
        if shape[i] != got[lead + i]:
            if shape[i] != 1:
                bad_shape(got, shape, who, index)
            axes.append(lead + i)
    return tuple(axes)


cdef bad_shape(got, shape, who, index):
    raise RuntimeError(f"{who} returned an invalid gradient at index {index}: got shape "
                       f"{tuple(got)}, but expected a shape compatible with {tuple(shape)}")


cdef tuple meta_of(Node n, int nr):
    """(shape, dtype) of output ``nr`` of ``n``."""
    if n.ndim < 0:
        return n.metas[nr]
    return (tuple([n.dims[i] for i in range(n.ndim)]), n.dtype)


cdef bint matches(cnp.ndarray g, object target, int nr):
    """Whether ndarray ``g`` already has the shape and dtype of ``target``'s output."""
    cdef Node n
    cdef int i
    if type(target) is Node:
        n = target
        if n.ndim < 0:
            shape, dtype = n.metas[nr]
            return (<object>g).shape == shape and g.dtype == dtype
        if cnp.PyArray_NDIM(g) != n.ndim:
            return False
        for i in range(n.ndim):
            if cnp.PyArray_DIMS(g)[i] != n.dims[i]:
                return False
        return <object>cnp.PyArray_DESCR(g) is n.dtype or g.dtype == n.dtype
    a = (<TensorBase>target)._a
    return (<object>g).shape == (<object>a).shape and g.dtype == a.dtype


cdef object conform(object g, object target, int nr, bint create, str who, Py_ssize_t index):
    """A gradient reduced to the shape and dtype of what it is the gradient of:
    output ``nr`` of a Node, or a leaf."""
    if not create and type(g) is cnp.ndarray and matches(g, target, nr):
        return g
    shape, dtype = meta_of(target, nr) if type(target) is Node else (
        (<TensorBase>target)._a.shape, (<TensorBase>target)._a.dtype)
    if create:
        if not isinstance(g, TensorBase):
            g = wrap(np.asarray(g))
        if (<TensorBase>g)._a.shape != shape:
            g = TENSOR_NS.sum_axes(g, reduce_axes((<TensorBase>g)._a.shape, shape, who, index),
                                   shape)
        if (<TensorBase>g)._a.dtype != dtype:
            if (<TensorBase>g)._a.dtype.kind == "c" and dtype.kind != "c":
                g = TENSOR_NS.real(g)   # a real input's gradient: the real part
            g = TENSOR_NS.astype(g, dtype)
        return g
    if isinstance(g, TensorBase):
        g = (<TensorBase>g)._a
    elif not isinstance(g, (cnp.ndarray, np.generic)) and not hasattr(type(g),
                                                                     "__array_function__"):
        g = np.asarray(g, dtype=dtype)
    if g.shape != shape:
        g = np.sum(g, axis=reduce_axes(g.shape, shape, who, index)).reshape(shape)
    if g.dtype != dtype:
        if g.dtype.kind == "c" and dtype.kind != "c":
            # A real input of a complex computation: its gradient is the real
            # part (PyTorch's convention, docs/conventions.rst)
            g = np.real(g)
        g = g.astype(dtype)
    return g


cdef object add_grads(object a, object b):
    """a + b, gradients meeting at one place: a C loop for float64 arrays of one
    shape (NumPy's dispatch costs more than the sum on small arrays)."""
    cdef cnp.ndarray o
    cdef double *pa
    cdef double *pb
    cdef double *po
    cdef Py_ssize_t i
    if a is None:
        return b
    if (type(a) is cnp.ndarray and type(b) is cnp.ndarray
            and cnp.PyArray_TYPE(<cnp.ndarray>a) == cnp.NPY_DOUBLE
            and cnp.PyArray_TYPE(<cnp.ndarray>b) == cnp.NPY_DOUBLE
            and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>a)
            and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>b)
            and cnp.PyArray_SAMESHAPE(<cnp.ndarray>a, <cnp.ndarray>b)):
        o = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(<cnp.ndarray>a), cnp.PyArray_DIMS(<cnp.ndarray>a),
                              cnp.NPY_DOUBLE, 0)
        pa = <double *>cnp.PyArray_DATA(<cnp.ndarray>a)
        pb = <double *>cnp.PyArray_DATA(<cnp.ndarray>b)
        po = <double *>cnp.PyArray_DATA(o)
        for i in range(cnp.PyArray_SIZE(o)):
            po[i] = pa[i] + pb[i]
        return o
    return a + b


cdef accumulate(TensorBase leaf, object g, bint create):
    """Add ``g`` into ``leaf.grad``: in place without create_graph (the grad
    tensor keeps its identity, as in PyTorch), recorded with it."""
    cdef TensorBase old = leaf.grad_
    if create:
        leaf.grad_ = g if old is None else old + g
    elif old is None:
        # A copy: gradients flowing through the graph may alias each other or
        # be read-only broadcasts.
        leaf.grad_ = wrap(np.array(g, dtype=leaf._a.dtype, copy=True)
                          if isinstance(g, (cnp.ndarray, np.generic))
                          else g.astype(leaf._a.dtype, copy=True))
    elif old.node is not None or not old._a.flags.writeable:
        leaf.grad_ = wrap(old._a + g)
    else:
        np.add(old._a, g, out=old._a, casting="unsafe")
        if old.ver is not None:
            old.ver.value += 1


cdef object root_grad(TensorBase t, object g, Py_ssize_t i, bint create):
    cdef object a = t._a
    if g is None:
        if a.size != 1:
            raise RuntimeError(
                f"grad can be implicitly created only for scalar outputs; output {i} has "
                f"shape {a.shape}. Pass the gradient of the output, e.g. "
                f"y.backward(dualgrad.ones_like(y)), or reduce it first (y.sum().backward()).")
        ga = np.ones_like(a) if on_device(a) else np.ones(a.shape, dtype=a.dtype)
    else:
        ga = g._a if isinstance(g, TensorBase) else wrap(g)._a
        if on_device(ga) != on_device(a):
            raise RuntimeError(f"the gradient for output {i} is a {type(ga).__name__} of "
                               f"another device than the output's values "
                               f"({type(a).__name__}); pass it on the output's device")
        if ga.shape != a.shape:
            raise RuntimeError(f"Mismatch in shape: the gradient for output {i} has shape "
                               f"{ga.shape}, but the output has shape {a.shape}; pass a "
                               f"gradient of the output's shape")
        if ga.dtype.kind not in "fc":
            raise RuntimeError(f"the gradient for output {i} has dtype {ga.dtype.name}; it "
                               f"must be floating point like the output ({a.dtype.name})")
        if ga.dtype.kind == "c" and a.dtype.kind != "c":
            # astype would drop the imaginary part with only a ComplexWarning.
            raise TypeError(f"the gradient for output {i} is complex ({ga.dtype.name}) but the "
                            f"output is real ({a.dtype.name}); pass a real gradient")
        if ga.dtype != a.dtype:
            ga = ga.astype(a.dtype)
        if create and isinstance(g, TensorBase) and ga is g._a:
            return g
    return wrap(ga) if create else ga


cdef freed_error(Node n):
    return RuntimeError(
        f"Trying to backward through the graph a second time (or to read its saved "
        f"values after they were freed): {n.label} no longer holds the values its rule "
        f"needs. The graph's saved values are freed by backward() and autograd.grad(); "
        f"pass retain_graph=True to the first call to keep them.")


cdef check_versions(Node n):
    cdef Py_ssize_t i, j = 0
    cdef long now, then
    for i in range(len(n.saved)):
        s = n.saved[i]
        if isinstance(s, TensorBase):
            now = 0 if (<TensorBase>s).ver is None else (<TensorBase>s).ver.value
            then = n.vers[j] if j < INLINE_VERSIONS else n.more_vers[j - INLINE_VERSIONS]
            j += 1
        elif type(s) is SavedOut:
            then = (<SavedOut>s).saved_at
            now = (<SavedOut>s).value if (<SavedOut>s).shared is None else (
                (<SavedOut>s).shared.value)
        else:
            continue
        if now != then:
            raise RuntimeError(
                f"one of the tensors needed for gradient computation has been modified by "
                f"an in-place operation: a tensor saved by {n.label} is at version {now}, "
                f"expected version {then}. Make that change out of place, or change a "
                f"clone() of the tensor instead.")


# The profiler (dualgrad.autograd.profiler) while one is active: a callback
# profiler.record(name, phase, start_ns, end_ns). None costs one pointer test.
cdef object PROFILER = None


def set_profiler(profiler):
    """Install (or, with None, remove) the profiler's callback; returns the old one."""
    global PROFILER
    old = PROFILER
    PROFILER = profiler
    return old


cdef tuple call_rule(Node n, object gs, bint create):
    if PROFILER is None:
        return run_rule(n, gs, create)
    t0 = perf_counter_ns()
    try:
        return run_rule(n, gs, create)
    finally:
        PROFILER(n.label, "backward", t0, perf_counter_ns())


cdef tuple run_rule(Node n, object gs, bint create):
    """Run n's backward rule on the gradients of its outputs."""
    cdef bint tensors = create or n.tensor_args
    cdef tuple fast
    if not tensors and isinstance(n.fn, FastRule):
        if n.freed:
            raise freed_error(n)
        check_versions(n)
        fast = (<FastRule>n.fn).run(n, gs)
        if fast is not None:
            return fast
    if tensors and not create:
        gs = [wrap(g) for g in gs] if type(gs) is list else wrap(gs)
    cdef list args = [TENSOR_NS if tensors else NUMPY_NS, gs]
    cdef SavedOut so
    if n.freed:
        raise freed_error(n)
    check_versions(n)
    for s in n.saved:
        if isinstance(s, TensorBase):
            args.append(s if tensors else (<TensorBase>s)._a)
        elif type(s) is SavedOut:
            so = s
            if not tensors:
                args.append(so.array)
            else:
                args.append(attach(wrap(so.array), n, so.nr) if create else wrap(so.array))
        else:
            args.append(s)
    global dg_grad_off
    cdef int prev = dg_grad_off
    dg_grad_off = not create
    try:
        res = n.fn(*args)
    finally:
        dg_grad_off = prev
    if type(res) is not tuple:
        res = (res,)
    if len(res) != len(n.edges):
        raise RuntimeError(f"{n.label} returned {len(res)} gradients, but its operation "
                           f"had {len(n.edges)} inputs")
    return res


def run_backward(tuple outputs, tuple grads, bint keep_graph, bint create_graph,
                 tuple inputs=None, bint allow_unused=False, bint accumulate_grads=True):
    """The backward pass from ``outputs`` with output gradients ``grads``.

    With ``accumulate_grads``, gradients are added into the ``.grad`` of the
    leaves (all of them, or only ``inputs``); without it (``autograd.grad``)
    the gradients of ``inputs`` are returned and no ``.grad`` changes.
    """
    cdef Py_ssize_t i
    cdef TensorBase t
    cdef list roots = []
    cdef dict captured = None    # autograd.grad: key -> gradient
    cdef dict capture_keys = None

    if len(grads) != len(outputs):
        raise RuntimeError(f"got {len(grads)} gradients for {len(outputs)} outputs")
    for i in range(len(outputs)):
        if not isinstance(outputs[i], TensorBase):
            raise TypeError(f"outputs must be tensors, not {type(outputs[i]).__name__}")
        t = outputs[i]
        if not needs_grad(t):
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn: "
                f"nothing it depends on requires grad. Create the inputs with "
                f"requires_grad=True, and compute outside no_grad().")
        roots.append((t.node if t.node is not None else t, t.nr,
                      root_grad(t, grads[i], i, create_graph)))

    if inputs is not None:
        capture_keys = {}
        for i in range(len(inputs)):
            if not isinstance(inputs[i], TensorBase):
                raise TypeError(f"inputs must be tensors, not {type(inputs[i]).__name__}")
            t = inputs[i]
            if not needs_grad(t):
                raise RuntimeError(f"input {i} does not require grad: create it with "
                                   f"requires_grad=True to differentiate with respect to it")
            capture_keys.setdefault(t if t.node is None else (t.node, t.nr), []).append(i)
        captured = {}

    p = Pass()
    try:
        p.run(roots, keep_graph, create_graph, capture_keys, captured, accumulate_grads)
    finally:
        p.release()

    if accumulate_grads:
        return None
    result = []
    for i in range(len(inputs)):
        t = inputs[i]
        key = t if t.node is None else (t.node, t.nr)
        g = captured.get(key)
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"One of the differentiated tensors (input {i}) appears to not have been "
                    f"used in the graph. Set allow_unused=True if this is the desired "
                    f"behavior.")
            result.append(None)
        elif create_graph:
            result.append(g)
        else:
            result.append(wrap(g))
    return tuple(result)


cdef class Pass:
    """The state of one backward pass: for each target (a Node or a leaf) met,
    its consumers that have not run yet and the gradient arrived so far. The
    counts and gradients live in the pass, never in the graph, so that passes
    over one graph in several threads at once, or a pass started inside
    another's rule (a Function's backward calling autograd.grad), cannot see
    each other's.

    Targets are numbered (slots) as the pass meets them. A node free of other
    passes notes which pass holds it and its slot there (``owner``, ``slot``),
    given back when the pass ends; a node another pass holds gets its slot from
    this pass's own dict. The counting walk also notes the slot of each node's
    edges, so that running the rules needs no lookups."""

    def __cinit__(self):
        self.slot_of = {}
        self.targets = []
        self.gbufs = []

    def __dealloc__(self):
        PyMem_Free(self.pending)
        PyMem_Free(self.first_edge)
        PyMem_Free(self.edge_slots)
        PyMem_Free(self.work)

    cdef Py_ssize_t visit(self, object x) except -1:
        """Count one more consumer of ``x``; its slot. ``fresh``: met the first time."""
        cdef Py_ssize_t s = self.n_slots, slot
        cdef Node n
        if type(x) is Node:
            n = x
            if n.owner is self:
                self.fresh = False
                self.pending[n.slot] += 1
                return n.slot
            if n.owner is None:
                # The node's slot in this pass, noted in the node: a dict of
                # every node costs a cache miss each (+50% on a long chain).
                n.owner = self
                n.slot = s
                return self.add(x)
        # Leaves, and nodes whose slot another pass notes (one in another
        # thread, or the pass whose rule started this one)
        slot = <object>PyDict_SetDefault(self.slot_of, x, s)
        if slot != s:
            self.fresh = False
            self.pending[slot] += 1
            return slot
        return self.add(x)

    cdef Py_ssize_t add(self, object x) except -1:
        """A slot for target ``x``, met for the first time."""
        cdef Py_ssize_t s = self.n_slots
        if s == self.slot_capacity:
            self.slot_capacity = 2 * s + 64
            self.pending = <int *>grown(self.pending, self.slot_capacity * sizeof(int))
            self.first_edge = <Py_ssize_t *>grown(self.first_edge,
                                                  self.slot_capacity * sizeof(Py_ssize_t))
            self.work = <Py_ssize_t *>grown(self.work, self.slot_capacity * sizeof(Py_ssize_t))
        self.n_slots = s + 1
        self.targets.append(x)
        self.gbufs.append(None)
        self.pending[s] = 1
        self.fresh = True
        return s

    cdef slot(self, object x):
        """The slot of target ``x``, met before."""
        if type(x) is Node and (<Node>x).owner is self:
            return (<Node>x).slot
        return self.slot_of[x]

    cdef release(self):
        """Give the nodes back: their slots mean nothing after this pass."""
        for x in self.targets:
            if type(x) is Node and (<Node>x).owner is self:
                (<Node>x).owner = None

    cdef int count(self, Py_ssize_t s) except -1:
        """Visit the edges of the node in slot ``s``, noting their slots; push the
        targets met for the first time on ``work``."""
        cdef Node n = self.targets[s]
        cdef Py_ssize_t i, cs, k = len(n.edges)
        if self.n_edges + k > self.edge_capacity:
            self.edge_capacity = 2 * (self.n_edges + k) + 64
            self.edge_slots = <Py_ssize_t *>grown(self.edge_slots,
                                                  self.edge_capacity * sizeof(Py_ssize_t))
        self.first_edge[s] = self.n_edges
        for i in range(k):
            c = n.edges[i]
            if c is None:
                self.edge_slots[self.n_edges + i] = -1
                continue
            cs = self.visit(c)
            if self.fresh:
                self.work[self.top] = cs   # (each slot is pushed once: top < n_slots)
                self.top += 1
            self.edge_slots[self.n_edges + i] = cs
        self.n_edges += k
        return 0

    cdef deposit(self, Py_ssize_t s, int nr, object g):
        """Add gradient ``g`` for output ``nr`` of the target in slot ``s``."""
        cdef list buf
        x = self.targets[s]
        if type(x) is Node and (<Node>x).n_out > 1:
            buf = self.gbufs[s]
            if buf is None:
                buf = [None] * (<Node>x).n_out
                self.gbufs[s] = buf
            buf[nr] = add_grads(buf[nr], g)
        else:
            self.gbufs[s] = add_grads(self.gbufs[s], g)

    cdef run(self, list roots, bint keep_graph, bint create, dict capture_keys,
             dict captured, bint accumulate_grads):
        cdef dict needed = None
        cdef Node n
        cdef TensorBase t
        cdef Py_ssize_t i, s, cs
        # Count each target's consumers (edges from nodes of the graph); the
        # roots count one each, settled when their gradients are deposited.
        # ``work`` is first the stack of this walk, then that of the targets
        # ready to run (all their consumers have run).
        self.top = 0
        for x, nr, g in roots:
            s = self.visit(x)
            if self.fresh:
                self.work[self.top] = s
                self.top += 1
        while self.top:
            self.top -= 1
            s = self.work[self.top]
            if type(self.targets[s]) is Node:
                self.count(s)
        if capture_keys is not None:
            needed = find_needed(self.targets, capture_keys)
        for x, nr, g in roots:
            s = self.slot(x)
            self.deposit(s, nr, g)
            self.pending[s] -= 1
            if self.pending[s] == 0:
                self.work[self.top] = s
                self.top += 1

        while self.top:
            self.top -= 1
            s = self.work[self.top]
            x = self.targets[s]
            gs = self.gbufs[s]
            self.gbufs[s] = None
            if type(x) is not Node:
                t = x
                if gs is None:
                    continue
                if capture_keys is not None:
                    if t in capture_keys:
                        if accumulate_grads:
                            accumulate(t, gs, create)
                        else:
                            captured[t] = gs
                elif accumulate_grads and t.leaf_grad:
                    accumulate(t, gs, create)
                continue
            n = x
            if gs is not None and type(gs) is list:
                gs = materialize(n, gs, create)
            if gs is not None:
                if capture_keys is not None and not accumulate_grads:
                    for nr in range(n.n_out):
                        if (n, nr) in capture_keys:
                            captured[(n, nr)] = gs[nr] if type(gs) is list else gs
                elif n.retained is not None and accumulate_grads:
                    keep_retained(n, gs, create)
            run = gs is not None and (needed is None or needed[n])
            if run:
                res = call_rule(n, gs, create)
                if not keep_graph and n.holds_values:
                    n.saved = ()
                    n.freed = True
            for i in range(len(n.edges)):
                cs = self.edge_slots[self.first_edge[s] + i]
                if cs < 0:
                    continue
                if run and res[i] is not None:
                    self.deposit(cs, edge_nr(n, i), conform(res[i], self.targets[cs],
                                                            edge_nr(n, i), create, n.label, i))
                self.pending[cs] -= 1
                if self.pending[cs] == 0 and (needed is None or needed[self.targets[cs]]):
                    self.work[self.top] = cs
                    self.top += 1


cdef void *grown(void *p, size_t size) except NULL:
    cdef void *q = PyMem_Realloc(p, size)
    if q == NULL:
        raise MemoryError()
    return q


cdef bint on_device(object a):
    """Whether ``a`` holds GPU arrays (CUDA's array interface), whose fresh
    arrays must be made like them, on their device; a DualArray holds its
    value's kind."""
    while not isinstance(a, (cnp.ndarray, np.generic)) and hasattr(a, "tangent"):
        a = a.value
    return not isinstance(a, (cnp.ndarray, np.generic)) and hasattr(a, "__cuda_array_interface__")


cdef list materialize(Node n, list gs, bint create):
    """Zeros for the outputs of a multi-output node that received no gradient,
    on the device of the gradients it did receive."""
    like = None
    for g in gs:
        if g is not None:
            like = (<TensorBase>g)._a if isinstance(g, TensorBase) else g
    for k in range(len(gs)):
        if gs[k] is None:
            shape, dtype = meta_of(n, k)
            z = (np.zeros_like(like, shape=shape, dtype=dtype) if on_device(like)
                 else np.zeros(shape, dtype=dtype))
            gs[k] = wrap(z) if create else z
    return gs


cdef keep_retained(Node n, object gs, bint create):
    for k in range(len(n.retained)):
        ref = n.retained[k]
        if ref is None:
            continue
        t = ref()
        if t is not None:
            accumulate(t, gs[k] if type(gs) is list else gs, create)


cdef dict find_needed(list targets, dict capture_keys):
    """For autograd.grad: which targets lie on a path to a requested input, found
    by an iterative post-order walk (no recursion)."""
    cdef dict needed = {}
    cdef list stack
    cdef Node n
    cdef Py_ssize_t i
    for x in targets:
        if type(x) is not Node:
            needed[x] = x in capture_keys
    for root in targets:
        if root in needed:
            continue
        stack = [[root, 0]]
        while stack:
            top = stack[len(stack) - 1]  # (wraparound is off: no negative indices)
            n = top[0]
            i = top[1]
            if i < len(n.edges):
                top[1] = i + 1
                c = n.edges[i]
                if c is not None and c not in needed:
                    stack.append([c, 0])
                continue
            stack.pop()
            hit = False
            for c in n.edges:
                if c is not None and needed[c]:
                    hit = True
                    break
            if not hit:
                for nr in range(n.n_out):
                    if (n, nr) in capture_keys:
                        hit = True
                        break
            needed[n] = hit
    return needed


# ---------------------------------------------------------------------------
# Array types that NumPy must not take for sequences

cdef extern from *:
    """
    static void dg_clear_sq_item(PyObject *type) {
        PyTypeObject *t = (PyTypeObject *)type;
        if (t->tp_as_sequence != NULL)
            t->tp_as_sequence->sq_item = NULL;
        PyType_Modified(t);
    }
    """
    void dg_clear_sq_item(object t)


cdef not_a_sequence(type t):
    """Drop the sequence slot that Cython derives from ``__getitem__``.

    NumPy's ``g[i] = v`` into an array of numbers calls float(v), and when v
    passes PySequence_Check (its type fills ``sq_item``) NumPy replaces any
    error float() raises with its own "setting an array element with a
    sequence". Indexing goes through the mapping slot, iteration through
    ``__iter__``, so nothing else depends on it (``__reversed__`` stands in
    for what ``reversed()`` got from it)."""
    dg_clear_sq_item(t)
