/* Shared by every consumer of rules.h: the scalar types (C), the array tier's
 * loops (C) and the GPU kernels (CUDA). Hand-written helpers that the table's
 * C expressions use; everything here is a pure function of its arguments. */
#ifndef DUALGRAD_PRELUDE_H
#define DUALGRAD_PRELUDE_H

/* Infinities and nans are constants, not 1.0 / 0.0: a division the compiler
 * evaluates eagerly would raise the divide-by-zero flag (and NumPy's warning)
 * even on the branch not taken. */
#ifdef __CUDACC__
#  define DG_FN static __host__ __device__ __forceinline__
#  define DG_INF __longlong_as_double(0x7ff0000000000000ULL)
#  define DG_NAN __longlong_as_double(0x7ff8000000000000ULL)
#else
#  include <math.h>
#  define DG_FN static inline
#  define DG_INF ((double)INFINITY)
#  define DG_NAN ((double)NAN)
#endif

#if defined(__SSE2__) && !defined(__CUDACC__)
#  include <emmintrin.h>
#  define DG_CHAIN_SSE2
#endif

#define DG_PI   3.14159265358979323846
#define DG_LN2  0.69314718055994530942
#define DG_LN10 2.30258509299404568402

/* The chain rule's product of a local partial derivative and a tangent (or an
 * adjoint), with a strong zero: a zero tangent contributes exactly 0 whatever
 * the partial, inf and nan included. A direction that does not move an operand,
 * or a value the output does not use, then cannot poison a derivative
 * (sqrt at 0, x**y at x < 0, a nan in another element); a nan tangent still
 * propagates. Every tier's chain rule goes through this one function. The
 * product is computed unconditionally and then masked or selected: no
 * data-dependent work (on the GPU, a predicated select). */
DG_FN double dg_chain(double partial, double t)
{
#ifdef DG_CHAIN_SSE2
    /* The comparison's mask ANDed onto the product: three instructions and no
     * branch (GCC turns the portable select below into a branch at -O2). An
     * unordered comparison (t nan) counts as not equal: nan is kept. */
    __m128d tv = _mm_set_sd(t);
    __m128d keep = _mm_cmpneq_sd(tv, _mm_setzero_pd());
    return _mm_cvtsd_f64(_mm_and_pd(keep, _mm_mul_sd(_mm_set_sd(partial), tv)));
#else
    double product = partial * t;
    return t == 0.0 ? 0.0 : product;
#endif
}

/* dg_chain of two elements at once, o[0:2] = chain(p0, t[0]), chain(p1, t[1]):
 * one packed multiply and mask for the pair. The loops over arrays call it so
 * that the strong zero costs about nothing beside the plain product. */
DG_FN void dg_chain_pair(double *o, double p0, double p1, const double *t)
{
#ifdef DG_CHAIN_SSE2
    __m128d tv = _mm_loadu_pd(t);
    __m128d keep = _mm_cmpneq_pd(tv, _mm_setzero_pd());
    _mm_storeu_pd(o, _mm_and_pd(keep, _mm_mul_pd(_mm_set_pd(p1, p0), tv)));
#else
    o[0] = dg_chain(p0, t[0]);
    o[1] = dg_chain(p1, t[1]);
#endif
}

/* The product of a tangent and an adjoint, with the strong zero on both: the
 * second-order term of forward over reverse (the partial's tangent times the
 * adjoint). A partial that does not move along the direction (-x, x*c: its
 * tangent is 0) contributes exactly 0 even where the adjoint is nan, as a nan
 * input's own adjoint is; symbolic second derivatives have no such term. */
DG_FN double dg_chain_both(double a, double b)
{
    return a == 0.0 || b == 0.0 ? 0.0 : a * b;
}

/* dg_chain where the partial is an expression worth not evaluating at all when
 * t is 0 (the derivatives inside the dgd_ forms of rules.h, where most tangents
 * are those of constants): the same rule, the partial computed only if needed. */
#define DG_CHAIN_LAZY(partial, t) ((t) == 0.0 ? 0.0 : (partial) * (t))

/* pow with the exponents that scalar code writes most (x**2, x**1, x**0) done
 * without libm's general algorithm: x*x is correctly rounded, as glibc's pow
 * is, so the results are the same bits, at a fraction of the cost. */
DG_FN double dg_pow(double x, double y)
{
    if (y == 2.0) return x * x;
    if (y == 1.0) return x;
    if (y == 0.0) return 1.0;           /* C99: pow(x, 0) is 1 for every x, nan included */
    return pow(x, y);
}

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

/* The polygamma function psi^(n)(x), n = 0, 1, 2, ... (digamma for n = 0).
 * The recurrence psi^(n)(x) = psi^(n)(x + 1) + (-1)^(n+1) n! / x^(n+1) moves x
 * to at least 10 + n, where the asymptotic series (Abramowitz & Stegun 6.4.11)
 * with eight Bernoulli terms is accurate to rounding. Digamma of x < 1/2 uses
 * the reflection psi(x) = psi(1 - x) - pi / tan(pi x) instead of a long
 * recurrence; pi x is reduced to (-pi/2, pi/2] first, where tan is accurate.
 * Poles, as SciPy and PyTorch: +inf for odd n; for even n, the one-sided limit
 * at a signed zero (-inf at +0, +inf at -0) and nan at negative integers, where
 * the two limits differ. A non-integer or negative n gives nan. */
DG_FN double dg_psi(double n, double x)
{
    const double bernoulli[8] = {1.0 / 6, -1.0 / 30, 1.0 / 42, -1.0 / 30,
                                 5.0 / 66, -691.0 / 2730, 7.0 / 6, -3617.0 / 510};
    double reflected = 0.0, shift = 0.0, xi, x2i, sum, term;
    int k;
    if (!(n >= 0.0 && n == floor(n) && n <= 100.0) || x != x)
        return DG_NAN;
    if (x == -DG_INF)
        return DG_NAN;                                         /* poles accumulate: no limit */
    if (x <= 0.0 && x == floor(x))                             /* pole */
        return fmod(n, 2.0) == 1.0 ? DG_INF
             : (x == 0.0 ? -copysign(DG_INF, x) : DG_NAN);
    if (n == 0.0 && x < 0.5) {
        reflected = -DG_PI / tan(DG_PI * (x - floor(x + 0.5)));
        x = 1.0 - x;
    }
    if (x < -1e5)
        return DG_NAN;             /* recurrence too long; no reflection for n >= 1 */
    for (; x < 10.0 + n; x += 1.0)
        shift += pow(x, -(n + 1.0));
    xi = 1.0 / x;
    x2i = xi * xi;
    if (n == 0.0) {                /* psi(x) ~ log x - 1/(2x) - sum B_2k / (2k x^2k) */
        sum = log(x) - 0.5 * xi;
        term = x2i;
        for (k = 1; k <= 8; k++) {
            sum -= bernoulli[k - 1] / (2 * k) * term;
            term *= x2i;
        }
        return sum - shift + reflected;
    }
    /* psi^(n)(x) ~ (-1)^(n+1) [(n-1)!/x^n + n!/(2 x^(n+1))
     *                          + sum B_2k (2k+n-1)! / ((2k)! x^(2k+n))] */
    sum = tgamma(n) * pow(xi, n) + 0.5 * tgamma(n + 1.0) * pow(xi, n + 1.0);
    term = tgamma(n + 2.0) / 2.0 * pow(xi, n + 2.0);        /* k = 1 */
    for (k = 1; k <= 8; k++) {
        sum += bernoulli[k - 1] * term;
        term *= (2 * k + n) * (2 * k + n + 1) / ((2.0 * k + 1) * (2.0 * k + 2)) * x2i;
    }
    sum += tgamma(n + 1.0) * shift;
    return fmod(n, 2.0) == 1.0 ? sum : -sum;
}

/* ---- SciPy's special functions --------------------------------------------
 * Values libm lacks (erfcx, erfinv, ndtri, the Bessel functions, beta) come
 * from SciPy's own C implementations, which scipy.special.cython_special
 * exports as capsules: the same code as the scipy.special ufuncs, so a row
 * agrees with SciPy to the last bit, and no approximation of ours (erfinv by
 * Giles' formula loses digits) has to be maintained. SciPy is optional: each
 * function is a pointer, set once at import by dg_scipy_load() where SciPy is
 * installed, and called through dg_sf_<name>. An unset pointer gives nan (the
 * Python layer refuses these rows without SciPy before one is reached).
 *
 * Under CUDA the same names are CUDA's math functions where CUDA has them, nan
 * elsewhere, so that every row has its kernels; gpu/rows.py launches none of
 * these rows' kernels (table.needs_scipy) and computes them on the host. */
#define DG_SCIPY_UNARY(X) X(erfcx) X(erfinv) X(erfcinv) X(log_ndtr) X(ndtri) \
    X(i0) X(i0e) X(i1) X(i1e) X(j0) X(j1) X(y0) X(y1)
#define DG_SCIPY_BINARY(X) X(jv) X(iv) X(kv) X(beta) X(betaln)

#ifdef __CUDACC__
DG_FN double dg_sf_erfcx(double x) { return erfcx(x); }
DG_FN double dg_sf_erfinv(double x) { return erfinv(x); }
DG_FN double dg_sf_erfcinv(double x) { return erfcinv(x); }
DG_FN double dg_sf_log_ndtr(double x) { (void)x; return DG_NAN; }
DG_FN double dg_sf_ndtri(double x) { return normcdfinv(x); }
DG_FN double dg_sf_i0(double x) { return cyl_bessel_i0(x); }
DG_FN double dg_sf_i0e(double x) { (void)x; return DG_NAN; }
DG_FN double dg_sf_i1(double x) { return cyl_bessel_i1(x); }
DG_FN double dg_sf_i1e(double x) { (void)x; return DG_NAN; }
DG_FN double dg_sf_j0(double x) { return j0(x); }
DG_FN double dg_sf_j1(double x) { return j1(x); }
DG_FN double dg_sf_y0(double x) { return y0(x); }
DG_FN double dg_sf_y1(double x) { return y1(x); }
#define DG_SF_NONE2(name) \
    DG_FN double dg_sf_##name(double x, double y) { (void)x; (void)y; return DG_NAN; }
DG_SCIPY_BINARY(DG_SF_NONE2)
#else
/* cython_special's signatures: the value, then Cython's skip-dispatch flag. */
#define DG_SF_UNARY(name) \
    static double (*dg_sf_##name##_ptr)(double, int); \
    DG_FN double dg_sf_##name(double x) \
    { return dg_sf_##name##_ptr ? dg_sf_##name##_ptr(x, 0) : DG_NAN; }
#define DG_SF_BINARY(name) \
    static double (*dg_sf_##name##_ptr)(double, double, int); \
    DG_FN double dg_sf_##name(double x, double y) \
    { return dg_sf_##name##_ptr ? dg_sf_##name##_ptr(x, y, 0) : DG_NAN; }
DG_SCIPY_UNARY(DG_SF_UNARY)
DG_SCIPY_BINARY(DG_SF_BINARY)

#ifdef Py_PYTHON_H
/* The capsule of cython_special's double version of `name`: fused functions
 * are exported once per type as __pyx_fuse_<i><name>, in an order that varies
 * between SciPy versions, so the signature (the capsule's name) picks it. */
static void *dg_scipy_capsule(PyObject *api, const char *name, const char *signature)
{
    const char *prefixes[4] = {"", "__pyx_fuse_0", "__pyx_fuse_1", "__pyx_fuse_2"};
    char key[64];
    int i;
    for (i = 0; i < 4; i++) {
        PyObject *cap;
        PyOS_snprintf(key, sizeof key, "%s%s", prefixes[i], name);
        cap = PyDict_GetItemString(api, key);
        if (cap && PyCapsule_CheckExact(cap) && PyCapsule_IsValid(cap, signature))
            return PyCapsule_GetPointer(cap, signature);
    }
    return NULL;
}

/* Set the pointers above from SciPy, once per module that includes this
 * header. Returns 1 if every function was found, 0 if SciPy is missing or
 * lacks one (that row then refuses to run); never raises. */
static int dg_scipy_load(void)
{
    PyObject *module, *api;
    int found = 1;
    module = PyImport_ImportModule("scipy.special.cython_special");
    if (!module) {
        PyErr_Clear();
        return 0;
    }
    api = PyObject_GetAttrString(module, "__pyx_capi__");
    Py_DECREF(module);
    if (!api || !PyDict_Check(api)) {
        Py_XDECREF(api);
        PyErr_Clear();
        return 0;
    }
#define DG_SF_LOAD1(name) \
    dg_sf_##name##_ptr = (double (*)(double, int))dg_scipy_capsule( \
        api, #name, "double (double, int __pyx_skip_dispatch)"); \
    found = found && dg_sf_##name##_ptr != NULL;
#define DG_SF_LOAD2(name) \
    dg_sf_##name##_ptr = (double (*)(double, double, int))dg_scipy_capsule( \
        api, #name, "double (double, double, int __pyx_skip_dispatch)"); \
    found = found && dg_sf_##name##_ptr != NULL;
    DG_SCIPY_UNARY(DG_SF_LOAD1)
    DG_SCIPY_BINARY(DG_SF_LOAD2)
#undef DG_SF_LOAD1
#undef DG_SF_LOAD2
    Py_DECREF(api);
    return found;
}
#endif /* Py_PYTHON_H */
#endif /* __CUDACC__ */

#endif
