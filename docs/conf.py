"""Sphinx configuration for dualgrad's documentation.

Build (warnings are errors)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
    python -m sphinx -W -b doctest docs docs/_build/doctest

The API pages are read from the compiled extensions, so dualgrad must be built
(``pip install -e .``) before the docs are.
"""

import os
import sys

sys.path.insert(0, os.path.abspath("_ext"))

import dualgrad  # noqa: E402  (the version and the autodoc targets come from the build)

# -- Project -------------------------------------------------------------------

project = "dualgrad"
author = "the dualgrad developers"
copyright = "the dualgrad developers"
version = ".".join(dualgrad.__version__.split(".")[:2])
release = dualgrad.__version__

# -- General -------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.doctest",
    "sphinx.ext.viewcode",
    "dualgrad_rules",         # docs/_ext: the derivative table and the dg.<name> API listing
]

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path = []
nitpicky = False

# -- autodoc and napoleon -------------------------------------------------------

# Members with docstrings, in source order; no undocumented members, no "Bases: object".
# No default "members": with it, an explicit :members: list is ignored (Sphinx
# issue 9709), so every page lists the members it documents.
autodoc_default_options = {
    "member-order": "bysource",
}
autodoc_member_order = "bysource"
# Cython compiles the signatures into the docstrings (embedsignature): read them there.
autodoc_docstring_signature = True
autodoc_typehints = "none"
autoclass_content = "class"

napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_param = True

# -- doctest ---------------------------------------------------------------------

# Every ``>>>`` block on the pages (and in the docstrings that autodoc pulls in)
# is run by ``-b doctest``.
doctest_test_doctest_blocks = "default"
doctest_global_setup = """
import math
import numpy as np
import dualgrad as dg
"""

# -- HTML ------------------------------------------------------------------------

html_theme = "alabaster"
html_title = f"dualgrad {release}"
html_static_path = []
html_theme_options = {
    "description": "Exact derivatives of ordinary Python and NumPy code",
    "fixed_sidebar": False,
}
