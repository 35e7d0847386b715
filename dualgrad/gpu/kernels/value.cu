/* The table's rows, values only: a Tensor operation's forward pass.
 * dualgrad_<row>(x, o, n) and dualgrad_<row>(x, cx, y, cy, o, n). */
#include "common.cuh"

#define VALUE1(name, has_d)                                                        \
    extern "C" __global__ void dualgrad_##name(const real *x, real *o, long long n) \
    {                                                                              \
        DG_FOR_EACH(i, n) o[i] = (real)dg_##name((double)x[i]);                    \
    }

#define VALUE2(name, has_dx, has_dy)                                               \
    extern "C" __global__ void dualgrad_##name(const real *x, double cx,           \
                                               const real *y, double cy,           \
                                               real *o, long long n)               \
    {                                                                              \
        DG_FOR_EACH(i, n) o[i] = (real)dg_##name(DG_AT(x, cx, i), DG_AT(y, cy, i)); \
    }

DG_UNARY_ROWS(VALUE1)
DG_BINARY_ROWS(VALUE2)
