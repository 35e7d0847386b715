/* The table's rows in forward mode (DualArray): value and k tangents in one
 * pass, the derivative taken once per element. Tangents are (k, n) row-major,
 * as on the CPU; the arithmetic is the CPU loop's (dualarray.pyx.tp), so that
 * the two agree to rounding: dg_chain(d, t), exactly 0 where t is 0 whatever d,
 * and a row whose derivative is identically zero writes zeros. */
#include "common.cuh"

#define DUAL1(name, has_d)                                                         \
    extern "C" __global__ void dualgrad_dual_##name(const real *x, const real *tx,  \
                                                    real *o, real *to,             \
                                                    long long n, long long k)      \
    {                                                                              \
        DG_FOR_EACH(i, n) {                                                        \
            double a = dg_##name((double)x[i]);                                    \
            double d = has_d ? dg_##name##_d((double)x[i], a) : 0.0;               \
            o[i] = (real)a;                                                        \
            for (long long j = 0; j < k; j++)                                      \
                to[j * n + i] = has_d ? (real)dg_chain(d, tx[j * n + i]) : (real)0.0; \
        }                                                                          \
    }

/* tx, ty: null for an operand that carries no tangent (a constant). */
#define DUAL2(name, has_dx, has_dy)                                                \
    extern "C" __global__ void dualgrad_dual_##name(const real *x, double cx,       \
                                                    const real *y, double cy,      \
                                                    const real *tx, const real *ty, \
                                                    real *o, real *to,             \
                                                    long long n, long long k)      \
    {                                                                              \
        const int ux = has_dx && tx != nullptr, uy = has_dy && ty != nullptr;     \
        DG_FOR_EACH(i, n) {                                                        \
            double xi = DG_AT(x, cx, i), yi = DG_AT(y, cy, i);                     \
            double a = dg_##name(xi, yi);                                          \
            double dx = ux ? dg_##name##_dx(xi, yi, a) : 0.0;                      \
            double dy = uy ? dg_##name##_dy(xi, yi, a) : 0.0;                      \
            o[i] = (real)a;                                                        \
            for (long long j = 0; j < k; j++) {                                    \
                long long at = j * n + i;                                          \
                to[at] = (real)(ux && uy ? dg_chain(dx, tx[at]) + dg_chain(dy, ty[at]) \
                                : ux ? dg_chain(dx, tx[at])                        \
                                : uy ? dg_chain(dy, ty[at]) : 0.0);                \
            }                                                                      \
        }                                                                          \
    }

DG_UNARY_ROWS(DUAL1)
DG_BINARY_ROWS(DUAL2)
