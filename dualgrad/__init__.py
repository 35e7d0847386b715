"""dualgrad: exact derivatives of ordinary Python and NumPy code.

Scalar code: forward mode with :class:`Dual`, reverse mode with :class:`Tape`
and its :class:`Var` handles, and :func:`record` to replay a recorded tape at
new inputs in C. Every elementwise function of the derivative table is
``dualgrad.<name>`` (NumPy semantics) and :mod:`dualgrad.math` is a drop-in for
Python's :mod:`math`.
"""

try:
    from ._scalar import dual as _dual
except ImportError as e:  # a source checkout without built extensions
    raise ImportError(
        f"dualgrad's compiled extensions are missing ({e}). Build them with "
        f"`pip install -e .` in the source tree, or run from outside it after `pip install .`."
    ) from e

from ._scalar.dual import *  # noqa: F401,F403  Dual and one function per table row
from ._scalar.tape import BranchChangedError, Recording, Tape, Var, record
from . import math  # noqa: E402

__version__ = "0.1.0"
__all__ = ["Dual", "Tape", "Var", "record", "Recording", "BranchChangedError", "math",
           *[n for n in _dual.__all__ if n != "Dual"]]
