# Reverse mode on arrays: the tensor core, the graph's nodes and the backward pass.
# The engine knows nothing of the operations: each Node carries the backward
# rule its operation registered (ops/, tensor.pyx.tp) and the engine only
# routes gradients between nodes in reverse topological order.

cdef class Pass


cdef class Version:
    cdef long value                  # bumped by every in-place change; shared by views


cdef class TensorBase:
    cdef readonly object _a          # the values: always an ndarray (0-d for a scalar)
    cdef object grad_                # accumulated gradient (a Tensor) or None
    cdef Node node                   # the operation that made this tensor; None for leaves
    cdef int nr                      # which output of node this tensor is
    cdef bint leaf_grad              # a leaf that requires grad
    cdef bint keep_grad              # retain_grad() was called on this non-leaf
    cdef Version ver                 # made on first need (save, view, in-place change)
    cdef TensorBase base             # the tensor whose memory this one views, or None
    cdef tuple view_chain            # how this view is made from base: (earlier chain or None, (kind, argument))
    cdef long view_ver               # the shared version when this view's place was set
    cdef int level                   # the functional transform it belongs to (0: none)
    cdef object __weakref__


cdef class SavedOut(Version):
    # An output's values, saved without the output (the Tensor would point back
    # at the node: a cycle). It is also the output's version counter, one object
    # for both, unless the output had a counter already (then in ``shared``).
    cdef object array
    cdef int nr                      # which output
    cdef long saved_at               # the counter's value when saved
    cdef Version shared              # the output's own counter, or None: this object


cdef enum:
    MAX_DIMS = 8                     # outputs of up to MAX_DIMS dimensions keep their shape in C
    INLINE_VERSIONS = 4              # versions of up to this many saved inputs kept in C


cdef class Node:
    cdef tuple edges                 # per input: the Node or leaf its gradient goes to, or None
    cdef tuple nrs                   # per input: which output of that Node; None if all are 0
    cdef object fn                   # the backward rule: fn(ns, grad, *saved) -> grads per input
    cdef tuple saved                 # what the rule reads: tensors, SavedOut, plain values
    cdef long vers[INLINE_VERSIONS]  # versions of the saved input tensors when saved ...
    cdef list more_vers              # ... and of any beyond the first INLINE_VERSIONS
    cdef int n_out                   # number of outputs
    cdef int ndim                    # output 0's number of dimensions; -1: see metas
    cdef Py_ssize_t dims[MAX_DIMS]   # output 0's shape (gradients are reduced to it)
    cdef object dtype                # output 0's dtype
    cdef tuple metas                 # (shape, dtype) per output, when n_out > 1 or ndim < 0
    cdef list retained               # weak references to outputs that retain their grad
    cdef bint freed                  # saved values released by a backward pass
    cdef bint holds_values           # saved includes tensors' values (else nothing to free)
    cdef bint tensor_args            # rule takes Tensors even without create_graph (Function)
    cdef str label                   # the operation's backward name, e.g. MulBackward
    cdef int level                   # the highest level of its inputs, given to its outputs
    cdef Pass owner                  # the backward pass whose slot for it is noted below, or None
    cdef Py_ssize_t slot             # its slot in that pass
    cdef object __weakref__


cdef class Pass:
    # One backward pass's state, kept in the pass (threads may run passes over one
    # graph at once): per target (a Node or a leaf) a slot, numbered as met.
    cdef dict slot_of                # target -> slot, for leaves and nodes another pass owns
    cdef list targets                # slot -> target
    cdef list gbufs                  # slot -> gradient so far (a list per output if n_out > 1)
    cdef int *pending                # slot -> consumers not yet run
    cdef Py_ssize_t *first_edge      # slot -> where its edges start in edge_slots
    cdef Py_ssize_t n_slots, slot_capacity
    cdef Py_ssize_t *edge_slots      # per edge of each node counted: the slot it leads to, or -1
    cdef Py_ssize_t n_edges, edge_capacity
    cdef bint fresh                  # the target last visited was met for the first time
    cdef Py_ssize_t *work            # a stack of slots (to count, then to run) ...
    cdef Py_ssize_t top              # ... and its height

    cdef Py_ssize_t visit(self, object x) except -1
    cdef Py_ssize_t add(self, object x) except -1
    cdef slot(self, object x)
    cdef release(self)
    cdef int count(self, Py_ssize_t s) except -1
    cdef deposit(self, Py_ssize_t s, int nr, object g)
    cdef run(self, list roots, bint keep_graph, bint create, dict capture_keys,
             dict captured, bint accumulate_grads)


cdef class FastRule:
    # A backward rule with a C entry point for the ordinary pass over ndarrays;
    # calling it runs the general rule fn(ns, grad, *saved).
    cdef object py                   # the general rule
    cdef tuple run(self, Node n, object g)   # the gradients, or None to use the general rule


cdef bint grad_enabled() noexcept nogil
cdef bint needs_grad(object x) except -1
cdef TensorBase wrap(object array)
cdef Version version_of(TensorBase t)
cdef Node new_node(str name, tuple inputs, object fn, tuple saved, tuple outputs)
cdef TensorBase attach(TensorBase out, Node node, int nr)
cdef not_a_sequence(type t)
