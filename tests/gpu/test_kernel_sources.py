"""The kernel sources compile with NVIDIA's compiler, with the derivative table
included, for every dtype the loader compiles them for, and define a kernel
of the loader's name for every row: syntax errors show up without a GPU."""

import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from dualgrad._rules.table import RULES
from dualgrad.gpu import loader

NVCC = shutil.which("nvcc")
pytestmark = pytest.mark.skipif(NVCC is None, reason="nvcc (CUDA's compiler) is not installed")


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


@pytest.mark.parametrize("dtype", list(loader.DTYPES), ids=str)
@pytest.mark.parametrize("source", loader.SOURCES)
def test_every_kernel_source_compiles_with_nvcc(tmp_path, source, dtype):
    done = nvcc(tmp_path, loader.source(source), dtype)
    assert done.returncode == 0, done.stderr
    entries = set(re.findall(r"\.entry\s+(\w+)", (tmp_path / "k.ptx").read_text()))
    assert entries == set(expected_kernels(source))


def test_compiler_messages_name_the_kernel_file(tmp_path):
    # The loader's #line directive: an error is reported in value.cu, not in a temporary file.
    done = nvcc(tmp_path, loader.source("value") + "\nthis is not C++;\n", np.float64)
    assert done.returncode != 0
    path = os.path.join(loader.KERNELS, "value.cu")
    assert re.search(re.escape(path) + r"\(\d+\)", done.stderr), done.stderr
