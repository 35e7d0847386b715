# Reverse mode on scalars: a tape of C arrays and the Var handles into it.
# The engine (storage, reverse sweep, guards) knows nothing of the primitives;
# what each primitive computes comes from the derivative table (tape.pyx.tp).

cdef struct Node:                    # one recorded operation: 40 bytes
    double val                       # the value it produced
    double da                        # d val / d operand a; the constant operand itself if a < 0
    double db                        # d val / d operand b; the constant operand itself if b < 0
    int a                            # slot of operand a, -1 for a constant
    int b                            # slot of operand b, -1 for a constant or no operand
    int op                           # DG_OP_<row> of the table, or OP_INPUT
    int spare                        # keeps the struct at 40 bytes, 8-aligned

cdef struct Guard:                   # a comparison or rounding that replay must reproduce
    Py_ssize_t after                 # how many nodes were recorded before it
    double ca                        # the constant operand a if a < 0
    double cb                        # the constant operand b if b < 0 (round: the digits)
    double outcome                   # what it gave: 1.0/0.0, or the rounded value
    int a                            # slot of operand a, -1 for a constant
    int b                            # slot of operand b, -1 for a constant or no operand
    int kind                         # GuardKind

cdef enum:
    OP_INPUT = 1000                  # an independent variable (tape.var)

cdef enum GuardKind:
    GUARD_LT, GUARD_LE, GUARD_EQ, GUARD_NE, GUARD_GT, GUARD_GE   # rich comparisons
    GUARD_TRUTH                      # bool(var)
    GUARD_FLOOR, GUARD_CEIL, GUARD_TRUNC, GUARD_ROUND           # integer-valued results


cdef class TapeCore:
    cdef Node *nodes                 # the recorded operations, in order
    cdef Py_ssize_t n                # number of nodes
    cdef Py_ssize_t capacity         # allocated nodes (doubles when full)
    cdef Guard *guards               # comparisons and roundings, in order
    cdef Py_ssize_t n_guards
    cdef Py_ssize_t guard_capacity
    cdef list places                 # (file, line, function) of each guard, for messages
    cdef double *scratch             # adjoints of the last reverse sweep, kept for reuse
    cdef Py_ssize_t scratch_size
    cdef bint recording              # False once the with-block ended
    cdef bint freed                  # True once the owning Tape is gone

    cdef int check(self) except -1
    cdef Node *push(self) except NULL
    cdef double *zeroed_scratch(self) except NULL
    cdef int free(self) noexcept


cdef class Var:
    cdef TapeCore tape               # shared with the Tape; its arrays go when the Tape goes
    cdef int slot                    # this Var's node


cdef double var_value(Var x) except? -1.0
cdef object var_record1(Var x, int op, double ans, double da)
cdef object var_record2(object a, object b, int op, double ans, double da, double db)
cdef object var_unary(int op, Var x)
cdef object var_binary(int op, object a, object b)
