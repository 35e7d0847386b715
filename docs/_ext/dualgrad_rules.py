"""Sphinx extension: pages generated from dualgrad's derivative table and its
registries of NumPy and SciPy functions.

The table (``dualgrad._rules.table.RULES``) is the single source of every
elementwise primitive, and the registry of every other NumPy function, so the
documentation reads them rather than repeating them:

``.. dualgrad-rules::``
    A table of every row: name, arity, derivative expressions, NumPy ufuncs,
    ``scipy.special`` ufuncs, ``math`` function and Python operator.

``.. dualgrad-functions::``
    An ``autofunction`` entry for every ``dualgrad.<name>`` function, in table
    order. ``:arity: 1`` or ``:arity: 2`` restricts it to one kind.

``.. dualgrad-numpy-functions::``
    The registry of NumPy functions (``dualgrad._array.registry.ROWS``): how
    each tier and mode takes each function.

``.. dualgrad-scipy-functions::``
    The registry of SciPy functions (``dualgrad.scipy_functions.ROWS``): which
    tiers take each function, and what it is differentiable in.

``.. dualgrad-math-reexports::``
    The names that :mod:`dualgrad.math` takes from :mod:`math` unchanged
    (constants, integer functions, ...), read from the imported module.

An autodoc hook keeps the methods that ``Dual`` defines for NumPy's object
loops (``Dual.sin`` and so on, one per ufunc) out of the ``Dual`` class
reference: they are plumbing, described once in prose on the API page.

The table (the source) and the compiled extension (what autodoc imports) can
disagree in a working tree whose table changed since the last build; rows
without a compiled function are then reported as warnings naming the fix.
"""

import math

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

import dualgrad
from dualgrad._rules import table

logger = logging.getLogger(__name__)


def _rows(arity=None):
    return [r for r in table.RULES if arity is None or r.arity == arity]


def _derivatives(rule):
    parts = []
    integer = getattr(rule, "integer", ())   # operands that are integer parameters
    for i, (operand, d) in enumerate(zip(rule.operands, rule.d)):
        label = "d/dx" if rule.arity == 1 else f"d/d{operand}"
        if i in integer and d == "nan":
            parts.append(f"``{operand}``: constant order, not differentiated (nan along it)")
        elif i in integer:
            parts.append(f"``{operand}``: integer parameter, not differentiated")
        else:
            parts.append(f"{label} = ``{'0' if d is None else d}``")
    return "; ".join(parts)


def _literals(names, prefix=""):
    return ", ".join(f"``{prefix}{n}``" for n in names) if names else "--"


def _ufunc_methods():
    """Names of the Dual methods that NumPy's object loops call (np.sin -> x.sin())."""
    return {u for r in table.RULES if not r.operator for u in r.ufuncs}


class _TableDirective(SphinxDirective):
    def _parse(self, lines):
        # Rebuild whenever the table changes: the page is a function of table.py.
        self.env.note_dependency(table.__file__)
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=table.__file__), self.content_offset,
                                container)
        return container.children


class RulesTable(_TableDirective):
    """Every row of the derivative table, as a list-table."""

    has_content = False
    option_spec = {"arity": directives.positive_int}

    def run(self):
        rows = _rows(self.options.get("arity"))
        lines = [
            ".. list-table:: The derivative table (generated from ``dualgrad/_rules/table.py``)",
            "   :header-rows: 1",
            "   :widths: 12 5 40 13 14 8 8",
            "   :class: dualgrad-rules",
            "",
            "   * - name",
            "     - arity",
            "     - derivatives (rule language)",
            "     - NumPy ufuncs",
            "     - ``scipy.special`` ufuncs",
            "     - ``math``",
            "     - operator (``operator.<name>``)",
        ]
        for r in rows:
            lines += [
                f"   * - :func:`{r.name} <dualgrad.{r.name}>`",
                f"     - {r.arity}",
                f"     - {_derivatives(r)}",
                f"     - {_literals(r.ufuncs, 'np.')}",
                f"     - {_literals(r.scipy)}"
                f"{' (values need SciPy)' if table.needs_scipy(r) else ''}",
                f"     - {_literals((r.math,) if r.math else ())}",
                f"     - {_literals((r.operator,) if r.operator else ())}",
            ]
        return self._parse(lines)


class Functions(_TableDirective):
    """``autofunction`` for every dualgrad.<name> of the table."""

    has_content = False
    option_spec = {"arity": directives.positive_int}

    def run(self):
        lines = []
        for r in _rows(self.options.get("arity")):
            if not callable(getattr(dualgrad, r.name, None)):
                logger.warning(
                    f"the derivative table has a row {r.name!r} but the imported dualgrad "
                    f"({dualgrad.__file__}) has no function {r.name}: the compiled extensions "
                    f"are older than dualgrad/_rules/table.py; rebuild with `pip install -e .`",
                    location=self.get_location())
                continue
            lines += [f".. autofunction:: dualgrad.{r.name}", ""]
        return self._parse(lines)


class MathReexports(SphinxDirective):
    """A sentence listing what dualgrad.math takes from math unchanged."""

    has_content = False

    def run(self):
        import dualgrad.math as dm

        own = sorted(n for n in dir(dm) if not n.startswith("_") and hasattr(math, n)
                     and getattr(dm, n) is getattr(math, n))
        constants = [n for n in own if not callable(getattr(math, n))]
        functions = [n for n in own if callable(getattr(math, n))]
        text = (f"Taken from :mod:`math` unchanged: the constants {_literals(constants)}, "
                f"and the functions {_literals(functions)}, which reject Duals (integer "
                f"functions, and functions without a derivative).")
        paragraph = nodes.paragraph()
        self.state.nested_parse(StringList([text], source=dm.__file__), self.content_offset,
                                paragraph)
        return paragraph.children


def _skip_ufunc_methods(app, what, name, obj, skip, options):
    if what == "class" and name in _ufunc_methods() and \
            getattr(obj, "__qualname__", "").startswith("Dual."):
        return True
    return None


class _RegistryTables(SphinxDirective):
    """One table per section of a registry's rows, a row per function."""

    has_content = False

    def tables(self, module, rows, title, columns, cells):
        self.env.note_dependency(module.__file__)
        lines = []
        for kind in dict.fromkeys(r.kind for r in rows):
            lines += [f".. list-table:: {title(kind)}", "   :header-rows: 1",
                      "   :class: dualgrad-numpy-functions", "",
                      *[("   * - " if i == 0 else "     - ") + c for i, c in enumerate(columns)]]
            for row in rows:
                if row.kind == kind:
                    lines += [("   * - " if i == 0 else "     - ") + c
                              for i, c in enumerate(cells(row))]
            lines.append("")
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=module.__file__), self.content_offset,
                                container)
        return container.children


class NumpyFunctions(_RegistryTables):
    """The registry of NumPy functions (``dualgrad/_array/registry.py``): one
    table per section, a row per function, a column per tier and mode."""

    def run(self):
        from dualgrad._array import registry
        return self.tables(
            registry, registry.ROWS, lambda kind: kind,
            ["function", *registry.COLUMNS, "remark"],
            lambda row: [f"``{row.name.replace('numpy.', 'np.')}``", *registry.cells(row),
                         row.note])


class ScipyFunctions(_RegistryTables):
    """The registry of SciPy functions (``dualgrad/scipy_functions.py``): one
    table per SciPy module, a row per function."""

    def run(self):
        from dualgrad import scipy_functions
        return self.tables(
            scipy_functions, scipy_functions.ROWS, lambda kind: f"``{kind}``",
            ["function", "tiers", "remark"],
            lambda row: [f"``{row.path}``",
                         "scalar and array, both modes, nested" if row.scalar else
                         "array, both modes, nested (the planner takes the array tier)",
                         row.note])


def setup(app):
    app.add_directive("dualgrad-numpy-functions", NumpyFunctions)
    app.add_directive("dualgrad-scipy-functions", ScipyFunctions)
    app.add_directive("dualgrad-rules", RulesTable)
    app.add_directive("dualgrad-functions", Functions)
    app.add_directive("dualgrad-math-reexports", MathReexports)
    app.connect("autodoc-skip-member", _skip_ufunc_methods)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
