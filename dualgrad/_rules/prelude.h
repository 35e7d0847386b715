/* Shared by every consumer of rules.h: the scalar types (C), the array tier's
 * loops (C) and the GPU kernels (CUDA). Hand-written helpers that the table's
 * C expressions use; everything here is a pure function of its arguments. */
#ifndef DUALGRAD_PRELUDE_H
#define DUALGRAD_PRELUDE_H

#ifdef __CUDACC__
#  define DG_FN static __host__ __device__ __forceinline__
#else
#  include <math.h>
#  define DG_FN static inline
#endif

#define DG_PI   3.14159265358979323846
#define DG_LN2  0.69314718055994530942
#define DG_LN10 2.30258509299404568402

/* Floor division and modulo of floats as NumPy's npy_divmod (and Python's
 * float % and //): the remainder takes the sign of the divisor, the quotient
 * is the floor of the exact quotient. Division by zero gives IEEE results
 * (nan, +-inf) rather than raising, as NumPy does. */
DG_FN double dg_mod(double a, double b)
{
    double mod = fmod(a, b);
    if (b == 0.0) return mod;
    if (mod != 0.0) {
        if ((b < 0.0) != (mod < 0.0)) mod += b;
    } else {
        mod = copysign(0.0, b);
    }
    return mod;
}

DG_FN double dg_floordiv(double a, double b)
{
    double mod, div, floordiv;
    if (b == 0.0) return a / b;
    mod = fmod(a, b);
    div = (a - mod) / b;
    if (mod != 0.0 && (b < 0.0) != (mod < 0.0)) div -= 1.0;
    if (div != 0.0) {
        floordiv = floor(div);
        if (div - floordiv > 0.5) floordiv += 1.0;
    } else {
        floordiv = copysign(0.0, a / b);
    }
    return floordiv;
}

#endif
