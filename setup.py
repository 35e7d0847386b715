"""Build dualgrad's Cython extensions.

The Cython compiler directives live here and nowhere else. ``DUALGRAD_CHECKED=1``
switches on a checked build for debugging: bounds and wraparound checks,
initialisation checks, no optimisation and debug symbols.
"""

import os
import platform
import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "dualgrad", "_rules"))
import codegen  # noqa: E402  (the derivative table, before anything is compiled)

CHECKED = os.environ.get("DUALGRAD_CHECKED", "0") not in ("", "0")

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": CHECKED,
    "wraparound": CHECKED,
    "initializedcheck": CHECKED,
    "cdivision": True,             # IEEE division (inf, nan) is what the numerics want
    "c_api_binop_methods": True,   # one operator slot sees both operand orders
    "embedsignature": True,        # signatures in docstrings, for help() and the API docs
    "binding": True,               # introspectable functions, for Sphinx autodoc
}

if sys.platform == "win32":
    FLAGS = ["/Od", "/Zi"] if CHECKED else ["/O2"]
else:
    FLAGS = ["-O0", "-g"] if CHECKED else ["-O2"]
# On x86-64, no jump may cross or end on a 32-byte boundary. Where one does,
# Intel cores since Skylake (the JCC erratum microcode) run the loop from the
# legacy decoders: the same replay loop ran 50% slower after an unrelated edit
# moved its code. Padding makes the speed independent of where code lands.
if sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64") and not CHECKED:
    FLAGS.append("-Wa,-mbranches-within-32B-boundaries")


def extensions():
    codegen.generate()
    sources = []
    for root, _, files in os.walk(os.path.join(HERE, "dualgrad")):
        sources += [os.path.relpath(os.path.join(root, f), HERE) for f in files if f.endswith(".pyx")]
    modules = [
        Extension(
            src[: -len(".pyx")].replace(os.sep, "."),
            [src],
            include_dirs=[os.path.join("dualgrad", "_rules"), numpy.get_include()],
            # an edit of the C headers recompiles every extension (they all include them)
            depends=[os.path.join("dualgrad", "_rules", h) for h in ("prelude.h", "rules.h")],
            define_macros=[("DUALGRAD_CHECKED", "1" if CHECKED else "0"),
                           ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
            extra_compile_args=FLAGS,
        )
        for src in sorted(sources)
    ]
    return cythonize(modules, compiler_directives=DIRECTIVES, nthreads=os.cpu_count() or 1)


# The C compiler runs on every core too (cythonize's nthreads covers Cython only).
setup(ext_modules=extensions(), options={"build_ext": {"parallel": os.cpu_count() or 1}})
