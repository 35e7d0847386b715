"""The CuPy emulator itself: CuPy's refusals and return types, and kernels compiled by g++."""

import os
import shutil

import numpy as np
import pytest

from gpu import emulated_cupy as cp

needs_gxx = pytest.mark.skipif(shutil.which("g++") is None,
                               reason="g++ was not found; the emulator compiles kernels with it")

AXPY = r"""
extern "C" __global__ void axpy(const double* __restrict__ x, double* __restrict__ y, double a, long long n)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x)
        y[i] += a * x[i];
}
"""


@pytest.fixture
def x():
    return cp.asarray([1.0, 2.0, 3.0])


def test_implicit_conversion_to_numpy_is_refused(x):
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
        np.asarray(x)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.array([x, x])


@pytest.mark.parametrize("mix", [lambda x: x + np.ones(3), lambda x: np.ones(3) * x,
                                 lambda x: np.concatenate([x, np.ones(3)]), lambda x: cp.exp(np.ones(3)),
                                 lambda x: x + [1.0, 2.0, 3.0], lambda x: x[np.array([0, 1])],
                                 lambda x: x.__setitem__(slice(None), np.ones(3))])
def test_host_operands_are_refused(x, mix):
    with pytest.raises(TypeError, match="Unsupported type"):
        mix(x)


@pytest.mark.parametrize("other", [2.0, 2, np.float64(2)])
def test_scalars_mix(x, other):
    y = x + other
    assert isinstance(y, cp.ndarray)
    np.testing.assert_array_equal(y.get(), [3.0, 4.0, 5.0])


def test_0d_host_arrays_are_refused_as_by_cupy(x):
    # CuPy's ufuncs take Python and NumPy scalars, not NumPy arrays of any dimension.
    with pytest.raises(TypeError, match="Unsupported type"):
        x + np.array(2.0)


def test_numpy_functions_dispatch_to_emulated_arrays(x):
    for y, expected in [(np.exp(x), np.exp([1.0, 2.0, 3.0])),
                        (np.concatenate([x, x]), [1.0, 2.0, 3.0] * 2),
                        (np.where(x > 1, x, 0.0), [0.0, 2.0, 3.0]),
                        (cp.einsum("i,i->i", x, x), [1.0, 4.0, 9.0]),
                        (cp.linalg.solve(cp.eye(3), x), [1.0, 2.0, 3.0]),
                        (cp.add.accumulate(x), [1.0, 3.0, 6.0]),
                        (cp.random.default_rng(0).random(3), np.random.default_rng(0).random(3)),
                        (x == None, [False] * 3)]:  # noqa: E711 (CuPy compares elementwise)
        assert isinstance(y, cp.ndarray)
        np.testing.assert_allclose(y.get(), expected)
    assert np.shape(x) == (3,) and cp.float64 is np.float64 and cp.dtype is np.dtype


def test_full_reductions_are_0d_arrays(x):
    for total in (np.sum(x), x.sum(), cp.sum(x)):
        assert isinstance(total, cp.ndarray) and total.ndim == 0
        assert float(total) == 6.0 and total.item() == 6.0
    assert isinstance(x[1], cp.ndarray) and x[1].ndim == 0


def test_transfers_round_trip_and_copy():
    host = np.arange(4.0)
    dev = cp.asarray(host)
    host[0] = 99.0                                  # the transfer copied
    assert isinstance(cp.asnumpy(dev), np.ndarray)
    np.testing.assert_array_equal(cp.asnumpy(dev), [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(dev.get(), cp.asnumpy(dev))
    assert cp.asarray(dev) is dev and cp.array(dev) is not dev
    assert cp.get_array_module(dev) is cp and cp.get_array_module(host) is np


def test_indexing_and_assignment(x):
    np.testing.assert_array_equal(x[cp.asarray([2, 0])].get(), [3.0, 1.0])
    np.testing.assert_array_equal(x[x > 1].get(), [2.0, 3.0])
    np.testing.assert_array_equal(x[[0, 1]].get(), [1.0, 2.0])
    x[0] = 10.0
    x[1:] = cp.asarray([20.0, 30.0])
    x[x > 25] = np.float64(0.0)
    np.testing.assert_array_equal(x.get(), [10.0, 20.0, 0.0])
    x[1][...] = 5.0                                 # an element is a 0-d view, as in CuPy
    assert float(x[1]) == 5.0


def test_in_place_operators_and_out_keep_identity(x):
    y = x
    x *= 2
    assert x is y
    assert np.add(x, 1.0, out=x) is x
    np.testing.assert_array_equal(x.get(), [3.0, 5.0, 7.0])


def test_device_and_cuda_namespace(x):
    assert x.device.id == 0 and x.device == cp.cuda.Device(0)
    assert cp.cuda.is_available() and cp.cuda.runtime.getDeviceCount() == 1
    assert x.data.ptr == x.__cuda_array_interface__["data"][0] != 0
    start, end = cp.cuda.Event(), cp.cuda.Event()
    start.record()
    end.record()
    end.synchronize()
    assert cp.cuda.get_elapsed_time(start, end) >= 0.0


@needs_gxx
@pytest.mark.parametrize("n", [np.int64(1000), 1000])
def test_raw_module_runs_a_grid_stride_kernel(n):
    axpy = cp.RawModule(code=AXPY, options=("--std=c++11", "-arch=sm_90")).get_function("axpy")
    x, y = cp.arange(1000, dtype=cp.float64), cp.ones(1000)
    axpy((8,), (128,), (x, y, np.float64(2.0), n))
    np.testing.assert_array_equal(y.get(), 1.0 + 2.0 * np.arange(1000.0))


@needs_gxx
def test_none_is_a_null_pointer():
    code = 'extern "C" __global__ void f(const double* p, double* out) { out[0] = p ? p[0] : -1.0; }'
    out = cp.zeros(1)
    cp.RawKernel(code, "f")((1,), (1,), (None, out))
    assert float(out[0]) == -1.0


@needs_gxx
def test_kernel_arguments_and_launch_are_checked():
    axpy = cp.RawKernel(AXPY, "axpy")
    y = cp.ones(3)
    with pytest.raises(TypeError, match="Unsupported type"):
        axpy((1,), (32,), (np.ones(3), y, np.float64(2.0), np.int64(3)))
    with pytest.raises(ValueError, match="1024 threads"):
        axpy((1,), (64, 32), (y, y, np.float64(2.0), np.int64(3)))


@needs_gxx
def test_syntax_error_raises_compile_exception():
    module = cp.RawModule(code='extern "C" __global__ void broken(double* x) { x[0] = ; }')
    with pytest.raises(cp.cuda.compiler.CompileException, match="expected primary-expression"):
        module.get_function("broken")


@needs_gxx
@pytest.mark.parametrize("option", ["-I{}", "--include-path={}"])
def test_include_paths_are_honoured(tmp_path, option):
    (tmp_path / "scale.h").write_text("static inline double scale(double v) { return 3.0 * v; }\n")
    code = '#include "scale.h"\nextern "C" __global__ void f(double* y) { y[0] = scale(y[0]); }\n'
    y = cp.full(1, 2.0)
    cp.RawModule(code=code, options=(option.format(tmp_path),)).get_function("f")((1,), (1,), (y,))
    assert float(y[0]) == 6.0


@needs_gxx
def test_project_rules_compile_and_agree_with_numpy():
    rules_dir = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "dualgrad", "_rules")
    code = r"""
    #include "rules.h"
    extern "C" __global__ void tanh_and_d(const double* x, double* v, double* d, long long n)
    {
        for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
             i += (long long)blockDim.x * gridDim.x) {
            double a = dg_tanh(x[i]);
            v[i] = a;
            d[i] = dg_tanh_d(x[i], a);
        }
    }
    """
    kernel = cp.RawModule(code=code, options=(f"-I{rules_dir}",)).get_function("tanh_and_d")
    x = cp.linspace(-5.0, 5.0, 1001)
    v, d = cp.empty_like(x), cp.empty_like(x)
    kernel((4,), (256,), (x, v, d, np.int64(x.size)))
    expected = np.tanh(x.get())
    np.testing.assert_allclose(v.get(), expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(d.get(), 1.0 - expected**2, rtol=0, atol=1e-15)
