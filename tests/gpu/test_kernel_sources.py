"""The kernel sources compile with NVIDIA's compilers, with the derivative
table included, for every dtype the loader compiles them for, and define a
kernel of the loader's name for every row: errors show up without a GPU.

Two compilers: NVRTC, the runtime compiler that CuPy's RawModule calls, with
the loader's own options (from the nvidia-cuda-nvrtc wheel of the test extras,
on Linux), and nvcc where CUDA's toolkit is installed."""

import ctypes
import glob
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from dualgrad._rules.table import RULES
from dualgrad.gpu import loader

NVCC = shutil.which("nvcc")
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc (CUDA's compiler) is not installed")


def expected_kernels(source):
    for r in RULES:
        if source == "value":
            yield f"dualgrad_{r.name}"
        elif source == "dual":
            yield f"dualgrad_dual_{r.name}"
        elif r.arity == 1:
            yield f"dualgrad_grad_{r.name}"
        else:
            yield from (f"dualgrad_grad_{r.name}_d{v}" for v in "xy")


def nvcc(tmp_path, text, dtype):
    src = tmp_path / "kernel.cu"
    src.write_text(text)
    return subprocess.run([NVCC, "--ptx", *loader.options(dtype), "-o", str(tmp_path / "k.ptx"),
                           str(src)], capture_output=True, text=True)


@needs_nvcc
@pytest.mark.parametrize("dtype", list(loader.DTYPES), ids=str)
@pytest.mark.parametrize("source", loader.SOURCES)
def test_every_kernel_source_compiles_with_nvcc(tmp_path, source, dtype):
    done = nvcc(tmp_path, loader.source(source), dtype)
    assert done.returncode == 0, done.stderr
    entries = set(re.findall(r"\.entry\s+(\w+)", (tmp_path / "k.ptx").read_text()))
    assert entries == set(expected_kernels(source))


@needs_nvcc
def test_compiler_messages_name_the_kernel_file(tmp_path):
    # The loader's #line directive: an error is reported in value.cu, not in a temporary file.
    done = nvcc(tmp_path, loader.source("value") + "\nthis is not C++;\n", np.float64)
    assert done.returncode != 0
    path = os.path.join(loader.KERNELS, "value.cu")
    assert re.search(re.escape(path) + r"\(\d+\)", done.stderr), done.stderr


# ---------------------------------------------------------------------------
# NVRTC, through its C API

def _nvrtc():
    """NVRTC's library from an nvidia-cuda-nvrtc wheel, or a skip saying why."""
    try:
        import nvidia
    except ImportError:
        pytest.skip("NVRTC is not installed (the nvidia-cuda-nvrtc wheel, Linux only)")
    libs = sorted(p for d in nvidia.__path__ for p in glob.glob(
        os.path.join(d, "**", "libnvrtc.so*"), recursive=True) if "builtins" not in p)
    if not libs:
        pytest.skip("the nvidia package holds no NVRTC library")
    return ctypes.CDLL(libs[-1])


def nvrtc_compile(lib, text, options):
    """(status, log, PTX) of compiling ``text`` with NVRTC."""
    prog = ctypes.c_void_p()
    assert lib.nvrtcCreateProgram(ctypes.byref(prog), text.encode(), b"kernel.cu", 0,
                                  None, None) == 0
    try:
        opts = (ctypes.c_char_p * len(options))(*[o.encode() for o in options])
        status = lib.nvrtcCompileProgram(prog, len(options), opts)
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetProgramLog(prog, log)
        ptx = b""
        if status == 0:
            lib.nvrtcGetPTXSize(prog, ctypes.byref(size))
            buf = ctypes.create_string_buffer(size.value)
            lib.nvrtcGetPTX(prog, buf)
            ptx = buf.value
        return status, log.value.decode(), ptx.decode()
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


@pytest.mark.parametrize("dtype", list(loader.DTYPES), ids=str)
@pytest.mark.parametrize("source", loader.SOURCES)
def test_every_kernel_source_compiles_with_nvrtc(source, dtype):
    # The options CuPy's RawModule adds: the device's architecture (here
    # Hopper's, the GPU the benchmarks run on) and -ftz=true.
    status, log, ptx = nvrtc_compile(_nvrtc(), loader.source(source),
                                     [*loader.options(dtype), "-arch=compute_90", "-ftz=true"])
    assert status == 0, log
    assert set(re.findall(r"\.entry\s+(\w+)", ptx)) == set(expected_kernels(source))


def test_nvrtc_messages_name_the_kernel_file():
    status, log, _ = nvrtc_compile(_nvrtc(), loader.source("grad") + "\nnot C++;\n",
                                   list(loader.options(np.float64)))
    assert status != 0
    assert os.path.join(loader.KERNELS, "grad.cu") in log, log
