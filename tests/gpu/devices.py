"""The device fixture of the GPU tests: they run twice: on a CUDA GPU with CuPy (skipped, saying why, where
there is none) and on the CuPy emulator (tests/gpu/emulated_cupy.py), which
runs the same kernel sources compiled by g++ on the CPU, so that the GPU code
path is exercised on every machine."""

import shutil

import pytest

import emulated_cupy

import dualgrad as dg
from dualgrad.gpu import loader


def _real_cupy():
    try:
        import cupy
    except ImportError:
        pytest.skip("no CUDA GPU here: CuPy is not installed (pip install 'dualgrad[gpu]')")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:      # no driver: CuPy raises its runtime's error
        pytest.skip(f"no CUDA GPU here: CuPy cannot reach a device ({e})")
    if count == 0:
        pytest.skip("no CUDA GPU here: CuPy sees no device")
    return cupy


@pytest.fixture(params=["cuda", "emulated"])
def cp(request):
    """The array module of the device under test, installed as dualgrad's CuPy."""
    if request.param == "cuda":
        module = _real_cupy()
    else:
        if shutil.which("g++") is None:
            pytest.skip("the CuPy emulator compiles the kernels with g++, which is not installed")
        module = emulated_cupy
    old = dg.gpu._cupy
    dg.gpu._cupy = module
    loader.clear()
    yield module
    dg.gpu._cupy = old
    loader.clear()
