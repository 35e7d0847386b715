# Reading real numbers (ints, floats, NumPy scalars, Fractions) as C doubles.
# Inline only, so that every scalar module can use it without importing another.

from cpython.long cimport PyLong_AsDouble


cdef inline int as_real(object o, double *out) except -1:
    """Store o as a double and return 1 if o is a real number; else 0."""
    # Exact types first: isinstance(o, float) on a non-float calls PyType_IsSubtype.
    if type(o) is float:
        out[0] = <double>o
        return 1
    if isinstance(o, int):           # int and bool (a flag test); OverflowError beyond float range
        out[0] = PyLong_AsDouble(o)
        return 1
    return as_real_slow(o, out)


cdef inline int as_real_slow(object o, double *out) except -1:
    if isinstance(o, float):         # subclasses: numpy.float64
        out[0] = <double>o
        return 1
    # NumPy integer and floating scalars, fractions.Fraction: anything float() takes
    # exactly as Python's float arithmetic does. Duals and Vars are not numbers.Real.
    import numbers
    if not isinstance(o, numbers.Real):
        return 0
    out[0] = float(o)
    return 1
