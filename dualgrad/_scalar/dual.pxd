# Forward-mode dual numbers of the scalar tier: layout and the inline kernels
# that dual.pyx and math.pyx share. A one-direction Dual is 48 bytes: the object
# header, the value, the direction count and flags, and two tangent slots.

from libc.math cimport isfinite
from dualgrad._rules.rules cimport dg_chain
from dualgrad._scalar.real cimport as_real

cdef union DualTangents:
    double local[2]                  # k <= 2: stored in the object, no allocation
    double *heap                     # k > 2: PyMem_Malloc'd block of k doubles

cdef class Dual:
    cdef double val                  # primal value
    cdef int k                       # number of tangent directions, >= 1
    cdef int vec                     # 1: tangent was given as a sequence (read back as ndarray)
    cdef DualTangents t              # the k tangents, see DualTangents


cdef inline double *tangents(Dual d) noexcept:
    if d.k <= 2:
        return &d.t.local[0]
    return d.t.heap


cdef Dual new_dual(double val, int k, int vec)   # tangents left for the caller to fill


cdef int mismatch(Dual x, Dual y) except -1


cdef inline Dual chain1(Dual x, double ans, double d):
    """The Dual with value ans and tangents d * x's tangents (a zero tangent stays 0)."""
    cdef Dual r = new_dual(ans, x.k, x.vec)
    cdef double *rt = tangents(r)
    cdef double *xt = tangents(x)
    cdef int j
    for j in range(x.k):
        rt[j] = d * xt[j]
    if not isfinite(d):             # see chain2
        for j in range(x.k):
            rt[j] = dg_chain(d, xt[j])
    return r


cdef inline Dual chain2(Dual x, Dual y, double ans, double dx, double dy):
    """The Dual with value ans and tangents dx * x's + dy * y's tangents (a zero
    tangent contributes 0)."""
    if x.k != y.k:
        mismatch(x, y)
    cdef Dual r = new_dual(ans, x.k, x.vec | y.vec)
    cdef double *rt = tangents(r)
    cdef double *xt = tangents(x)
    cdef double *yt = tangents(y)
    cdef int j
    # A plain product differs from dg_chain's only for a partial that is inf or
    # nan: the plain loop, then one test per operation, and the NaN-safe loop
    # again for the rare partial that is not finite. (Plain loop first keeps
    # this function small enough for the compiler to inline it.)
    for j in range(x.k):
        rt[j] = dx * xt[j] + dy * yt[j]
    if not (isfinite(dx) and isfinite(dy)):
        for j in range(x.k):
            rt[j] = dg_chain(dx, xt[j]) + dg_chain(dy, yt[j])
    return r
