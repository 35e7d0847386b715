# Forward mode on arrays: the DualArray layout and the constructor that the
# operations share. The elementwise rows live in dualarray.pyx (generated from
# the derivative table), everything else in dualops.py.

cdef class DualArray:
    cdef readonly object value       # the primal: an ndarray, a lower-level DualArray or a Tensor
    cdef readonly object tangent     # shape (k,) + value.shape: one slice per direction
    cdef readonly int level          # the differentiation this tangent belongs to, >= 1


cdef DualArray new_dualarray(object value, object tangent, int level)   # no checks: for results
cdef int level_of_c(object obj) except -1                               # level_of, from C
