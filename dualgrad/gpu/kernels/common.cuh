/* Shared by the kernels of this folder. Every kernel is a grid-stride loop:
 * any grid computes every element, so the launcher sizes the grid for the
 * device, not for n, and a kernel run by one thread is still correct. */
#ifndef DUALGRAD_COMMON_CUH
#define DUALGRAD_COMMON_CUH
#include "rules.h"

/* The element type of the arrays: double unless the loader compiles for
 * another dtype. The arithmetic is always double, the table's type. */
#ifndef DG_REAL
#  define DG_REAL double
#endif
typedef DG_REAL real;

#define DG_FOR_EACH(i, n) \
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); \
         i += (long long)blockDim.x * gridDim.x)

/* An operand that is an array (p) or a number (c, when p is null): a branch
 * every thread takes the same way. */
#define DG_AT(p, c, i) ((p) ? (double)(p)[i] : (c))

#endif
