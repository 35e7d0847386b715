"""The package's layering: the transforms (dualgrad.functional) build on the
PyTorch-style autograd (dualgrad.autograd), never the other way round."""

import ast
import pathlib

import dualgrad

PACKAGE = pathlib.Path(dualgrad.__file__).parent


def _imported_modules(path):
    """Every module a file imports, at its top or inside functions."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{a.name}" for a in node.names)


def test_autograd_does_not_import_the_transforms():
    files = sorted((PACKAGE / "autograd").glob("*.py"))
    assert files
    for path in files:
        bad = [m for m in _imported_modules(path) if m == "dualgrad.functional"
               or m.startswith("dualgrad.functional.")]
        assert not bad, f"{path.name} imports {bad}: the levels live in dualgrad._levels"
