/* The table's rows in reverse mode (Tensor backward): g times the derivative
 * in one pass, as the CPU's fused loops (tensor.pyx.tp), through dg_chain: a
 * zero g gives exactly 0 whatever the derivative. An operand or value
 * the derivative does not read may be passed as null. */
#include "common.cuh"

#define GRAD1(name, has_d)                                                         \
    extern "C" __global__ void dualgrad_grad_##name(const real *g, const real *x,  \
                                                    const real *a, real *o,        \
                                                    long long n)                   \
    {                                                                              \
        DG_FOR_EACH(i, n)                                                          \
            o[i] = (real)dg_chain(dg_##name##_d(DG_AT(x, 0.0, i), DG_AT(a, 0.0, i)), \
                                  (double)g[i]);                                   \
    }

#define GRAD2_ONE(name, v)                                                         \
    extern "C" __global__ void dualgrad_grad_##name##_d##v(                        \
        const real *g, const real *x, double cx, const real *y, double cy,         \
        const real *a, double ca, real *o, long long n)                            \
    {                                                                              \
        DG_FOR_EACH(i, n)                                                          \
            o[i] = (real)dg_chain(dg_##name##_d##v(DG_AT(x, cx, i), DG_AT(y, cy, i), \
                                                   DG_AT(a, ca, i)),               \
                                  (double)g[i]);                                   \
    }
#define GRAD2(name, has_dx, has_dy) GRAD2_ONE(name, x) GRAD2_ONE(name, y)

DG_UNARY_ROWS(GRAD1)
DG_BINARY_ROWS(GRAD2)
