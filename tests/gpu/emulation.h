/* Force-included (g++ -include) ahead of every kernel source that
 * tests/gpu/emulated_cupy.py compiles, so that CUDA kernels build as plain C++.
 *
 * The emulator launches a kernel as ONE call on the CPU: one block of one
 * thread, index 0. The project's kernels are grid-stride loops,
 *     for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
 *          i < n; i += (long long)blockDim.x * gridDim.x)
 * so that single thread visits every element.
 *
 * __CUDACC__ stays undefined on purpose: dualgrad/_rules/prelude.h then takes
 * its host branch (<math.h>, static inline), the same one the C tiers use. */
#ifndef DUALGRAD_EMULATION_H
#define DUALGRAD_EMULATION_H

#ifdef __CUDACC__
#error "emulation.h is for host compilers; nvcc defines the CUDA keywords itself"
#endif

/* NVRTC makes the math library available without an #include. */
#include <math.h>
#include <string.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __launch_bounds__(...)

struct dim3 {
    unsigned int x, y, z;
    dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};

static const dim3 threadIdx(0, 0, 0), blockIdx(0, 0, 0);
static const dim3 blockDim(1, 1, 1), gridDim(1, 1, 1);

/* With a single thread a barrier has nothing to wait for and an atomic
 * nothing to race with. */
static inline void __syncthreads(void) {}

template <typename T, typename U>
static inline T atomicAdd(T *address, U value)
{
    T old = *address;
    *address = old + (T)value;
    return old;
}

/* Bit casts as CUDA's intrinsics; memcpy is the defined way to do them in C++. */
static inline double __longlong_as_double(long long x)
{
    double d;
    memcpy(&d, &x, sizeof d);
    return d;
}

static inline long long __double_as_longlong(double d)
{
    long long x;
    memcpy(&x, &d, sizeof x);
    return x;
}

#endif
