# Reverse mode on arrays: the tensor core, the graph's nodes and the backward pass.
# The engine knows nothing of the operations: each Node carries the backward
# rule its operation registered (ops.py, tensor.pyx.tp) and the engine only
# routes gradients between nodes in reverse topological order.

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
    cdef object __weakref__


cdef class SavedOut:
    cdef object array                # an output's values, saved without the output
    cdef int nr                      # (the Tensor would point back at the node: a cycle)


cdef class Node:
    cdef tuple edges                 # per input: (target, nr); a Node, a leaf or None
    cdef object fn                   # the backward rule: fn(ns, grad, *saved) -> grads per input
    cdef tuple saved                 # what the rule reads: tensors, SavedOut, plain values
    cdef tuple versions              # (Version, value, index into saved) of each saved tensor
    cdef tuple metas                 # (shape, dtype) of each output: gradients are reduced to it
    cdef list retained               # weak references to outputs that retain their grad
    cdef bint freed                  # saved values released by a backward pass
    cdef bint tensor_args            # rule takes Tensors even without create_graph (Function)
    cdef str label                   # the operation's backward name, e.g. MulBackward
    cdef object __weakref__


cdef bint grad_enabled() noexcept nogil
cdef bint needs_grad(object x)
cdef TensorBase wrap(object array)
cdef Version version_of(TensorBase t)
cdef Node new_node(str name, tuple inputs, object fn, tuple saved, tuple outputs)
cdef TensorBase attach(TensorBase out, Node node, int nr)
