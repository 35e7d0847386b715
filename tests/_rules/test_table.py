"""The derivative table: consistency of its rows, and its two readings (C and Python) agree."""

import itertools
import math
import operator
import os
import shutil
import subprocess

import numpy as np
import pytest

import dualgrad as dg
import dualgrad.math as dm
from dualgrad._rules import codegen
from dualgrad._rules.table import BY_NAME, CONSTANTS, RULES, Rule

RULES_DIR = os.path.dirname(codegen.__file__)
UNARY = [r for r in RULES if r.arity == 1]
BINARY = [r for r in RULES if r.arity == 2]
SMOOTH = [r for r in RULES if r.smooth]
by_name = pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)

EDGES = [0.0, -0.0, 0.5, 1.0, -1.0, 2.0, -3.0, math.inf, -math.inf, math.nan]


def where(cond, a, b):
    return a if cond else b


DG_NAMESPACE = {**{r.name: getattr(dg, r.name) for r in RULES}, "where": where}


def _ieee(fn):
    return lambda *args: np.float64(fn(*args))


# Python's float raises on division by zero; np.float64 follows IEEE as C does.
IEEE_NAMESPACE = {**{r.name: _ieee(getattr(dg, r.name)) for r in RULES}, "where": where}


def compiled_partials(rule, point):
    """The C derivatives of a row at a point, read through Duals seeded with tangent 1."""
    out = []
    for i in range(rule.arity):
        args = [dg.Dual(v, 1.0) if j == i else v for j, v in enumerate(point)]
        out.append(getattr(dg, rule.name)(*args).tangent)
    return out


def python_partials(rule, point):
    """The derivatives of a row read as Python over dg's float functions (IEEE via np.float64)."""
    args = [np.float64(v) for v in point]
    ans = np.float64(getattr(dg, rule.name)(*point))
    with np.errstate(all="ignore"):
        return [float(d(*args, ans)) for d in rule.derivatives(IEEE_NAMESPACE)]


# ---------------------------------------------------------------------------
# Rows


def test_names_are_unique():
    names = [r.name for r in RULES]
    assert len(set(names)) == len(names)
    assert set(BY_NAME) == set(names)
    assert all(BY_NAME[r.name] is r for r in RULES)


def test_opcodes_are_unique_and_dense():
    assert sorted(r.opcode for r in RULES) == list(range(len(RULES)))


def test_rule_rejects_wrong_number_of_derivatives():
    with pytest.raises(ValueError, match="2 operands need 2 derivatives"):
        Rule("bad", 2, "x + y", ("1",))


def test_rule_defaults():
    r = Rule("sin", 1, "sin(x)", ("cos(x)",))
    assert r.ufuncs == ("sin",)
    assert r.torch == "sin"
    assert len(r.domain) == 1 and r.domain[0][0][0] < r.domain[0][0][1]
    assert r.operands == ("x",)
    assert r.smooth
    assert not Rule("floor", 1, "floor(x)", (None,)).smooth


@by_name
def test_one_derivative_per_operand(rule):
    assert rule.arity in (1, 2)
    assert len(rule.d) == rule.arity
    assert rule.operands == ("x", "y")[: rule.arity]
    assert all(d is None or isinstance(d, str) for d in rule.d)


@by_name
def test_integer_operands_are_not_differentiated(rule):
    for i in getattr(rule, "integer", ()):
        assert 0 <= i < rule.arity
        # zero (a discrete order) or nan (an order the table does not differentiate)
        assert rule.d[i] in (None, "nan")
        assert any(math.ceil(lo) <= math.floor(hi) for lo, hi in rule.domain[i])


@by_name
def test_domain_is_a_union_of_intervals_per_operand(rule):
    assert len(rule.domain) == rule.arity
    for union in rule.domain:
        assert len(union) >= 1
        for lo, hi in union:
            assert math.isfinite(lo) and math.isfinite(hi) and lo < hi


@by_name
def test_row_is_exported_and_callable(rule):
    fn = getattr(dg, rule.name)
    assert callable(fn)
    assert rule.name in dg.__all__
    out = fn(*[0.5] * rule.arity)
    assert isinstance(out, float)


@by_name
def test_ufuncs_exist_in_numpy(rule):
    for name in rule.ufuncs:
        assert isinstance(getattr(np, name, None), np.ufunc), name
        assert getattr(np, name).nin == rule.arity


@by_name
def test_math_entry_is_a_function_of_dualgrad_math(rule):
    if rule.math is None:
        return
    assert callable(getattr(math, rule.math, None)), rule.math
    assert callable(getattr(dm, rule.math, None)), rule.math


@by_name
def test_operator_entry_is_a_python_operator_of_dual(rule):
    if rule.operator is None:
        return
    assert callable(getattr(operator, rule.operator, None)), rule.operator
    assert hasattr(dg.Dual, f"__{rule.operator}__")


@by_name
def test_torch_entry_is_a_name_or_callable(rule):
    assert isinstance(rule.torch, str) or callable(rule.torch)
    if isinstance(rule.torch, str):
        torch = pytest.importorskip("torch")
        assert callable(getattr(torch, rule.torch, None)), rule.torch


@by_name
def test_values_and_derivatives_are_finite_on_the_domain(rule, rule_points):
    for point in rule_points(rule):
        assert math.isfinite(getattr(dg, rule.name)(*point)), point
        partials = compiled_partials(rule, point)
        assert all(math.isfinite(d) for i, d in enumerate(partials) if rule.d[i] != "nan"), point
        assert all(math.isnan(d) for i, d in enumerate(partials) if rule.d[i] == "nan"), point


# ---------------------------------------------------------------------------
# The C code generator and the Python reading of the same expressions agree


@by_name
def test_compiled_derivative_equals_python_reading_on_the_domain(rule, rule_points):
    for point in rule_points(rule):
        np.testing.assert_array_equal(compiled_partials(rule, point),
                                      python_partials(rule, point), err_msg=str(point))


@by_name
def test_compiled_derivative_equals_python_reading_at_edges(rule):
    for point in itertools.product(EDGES, repeat=rule.arity):
        np.testing.assert_array_equal(compiled_partials(rule, point), python_partials(rule, point),
                                      err_msg=f"{rule.name}{point}")


@by_name
def test_zero_derivative_compiles_to_literal_zero(rule):
    for d, fn in zip(rule.d, rule.derivatives({})):
        if d is None:
            assert fn(*[math.nan] * (rule.arity + 1)) == 0.0


@pytest.mark.parametrize("rule", SMOOTH, ids=lambda r: r.name)
def test_python_reading_is_differentiable_on_duals(rule, rule_points):
    """The derivatives evaluated on Duals: their tangents are second derivatives."""
    for point in rule_points(rule, n=5):
        for i in range(rule.arity):
            if i in rule.integer:
                continue        # an order: not differentiated
            def first(v, i=i):
                args = list(point)
                args[i] = v
                ans = getattr(dg, rule.name)(*args)
                return rule.derivatives(DG_NAMESPACE)[i](*args, ans)

            h = 1e-5 * max(1.0, abs(point[i]))
            fd = (first(point[i] + h) - first(point[i] - h)) / (2 * h)
            out = first(dg.Dual(point[i], 1.0))
            ad = out.tangent if isinstance(out, dg.Dual) else 0.0
            assert ad == pytest.approx(fd, rel=1e-5, abs=1e-6), (point, i)


# ---------------------------------------------------------------------------
# codegen.c_expr


@pytest.mark.parametrize("expr, c", [
    ("1", "1.0"),
    ("2.5", "2.5"),
    ("1 / y", "(1.0 / y)"),
    ("-x", "(-x)"),
    ("ans * ans", "(ans * ans)"),
    ("pi / 180", "(DG_PI / 180.0)"),
    ("x * LN2", "(x * DG_LN2)"),
    ("LN10", "DG_LN10"),
    ("sin(x)", "dg_sin(x)"),
    ("hypot(x, 1)", "dg_hypot(x, 1.0)"),
    ("where(x > y, 1, 0)", "((x > y) ? 1.0 : 0.0)"),
    ("where(x == y, 0.5, where(x < y, 0, 1))", "((x == y) ? 0.5 : ((x < y) ? 0.0 : 1.0))"),
    ("(x == 0) & (y >= 0)", "((x == 0.0) && (y >= 0.0))"),
    ("(x != 0) | (y <= 0)", "((x != 0.0) || (y <= 0.0))"),
])
def test_c_expr_translation(expr, c):
    assert codegen.c_expr(expr) == c


def test_c_expr_integer_division_is_floating():
    c = codegen.c_expr("1 / 3")
    assert c == "(1.0 / 3.0)"
    assert "1 /" not in c and "/ 3)" not in c


@pytest.mark.parametrize("expr", [
    "z",                     # unknown name
    "e",                     # not one of the constants
    "foo(x)",                # unknown call
    "sin(x, y)",             # wrong arity
    "hypot(x)",
    "where(x, y)",
    "sin(x=x)",              # keywords
    "math.sin(x)",           # attribute call
    "x ** 2",                # operator outside the language
    "x % y",
    "+x",
    "not x",
    "x if y else ans",
    "0 < x < 1",             # chained comparison
    "x == 0 & y >= 0",       # & binds tighter than ==: must be parenthesised
    "True",
    "'a'",
    "1j",
    "[x]",
])
def test_c_expr_rejects_what_the_language_lacks(expr):
    with pytest.raises(ValueError):
        codegen.c_expr(expr)


def test_c_expr_operands_are_restricted():
    assert codegen.c_expr("x", operands=("x", "ans")) == "x"
    with pytest.raises(ValueError, match="unknown name 'y'"):
        codegen.c_expr("y", operands=("x", "ans"))


def test_every_derivative_translates():
    for r in RULES:
        for d in r.d:
            if d is not None:
                assert codegen.c_expr(d)


def test_constants_match_their_c_macros():
    prelude = open(os.path.join(RULES_DIR, "prelude.h")).read()
    for name, value in CONSTANTS.items():
        if math.isnan(value):
            assert "#  define DG_NAN " in prelude
            continue
        line = next(ln for ln in prelude.splitlines() if ln.startswith(f"#define DG_{name.upper()} "))
        assert float(line.split()[2]) == value


# ---------------------------------------------------------------------------
# The generated header


def test_header_declares_every_rule():
    h = codegen.header()
    for r in RULES:
        assert f"DG_OP_{r.name.upper()} = {r.opcode}," in h
        assert f" dg_{r.name}(" in h
        for fname in codegen.derivative_names(r):
            assert f" {fname}(" in h
    assert f"DG_NUM_OPS = {len(RULES)}" in h


def test_derivative_names():
    assert codegen.derivative_names(BY_NAME["sin"]) == ("dg_sin_d",)
    assert codegen.derivative_names(BY_NAME["hypot"]) == ("dg_hypot_dx", "dg_hypot_dy")


def test_generated_files_are_in_sync_with_the_table():
    with open(os.path.join(RULES_DIR, "rules.h")) as f:
        assert f.read() == codegen.header(), "rules.h is stale: rebuild (setup.py regenerates it)"
    with open(os.path.join(RULES_DIR, "rules.pxd")) as f:
        assert f.read() == codegen.pxd(), "rules.pxd is stale: rebuild (setup.py regenerates it)"


def _use_every_function():
    """C source that takes the address of every generated function, so each is compiled."""
    unary_v = ", ".join(f"dg_{r.name}" for r in UNARY)
    binary_v = ", ".join(f"dg_{r.name}" for r in BINARY)
    unary_d = ", ".join(codegen.derivative_names(r)[0] for r in UNARY)
    binary_d = ", ".join(n for r in BINARY for n in codegen.derivative_names(r))
    return "\n".join([
        '#include "rules.h"',
        f"double (*const dg_unary_values[])(double) = {{ {unary_v} }};",
        f"double (*const dg_binary_values[])(double, double) = {{ {binary_v} }};",
        f"double (*const dg_unary_derivatives[])(double, double) = {{ {unary_d} }};",
        f"double (*const dg_binary_derivatives[])(double, double, double) = {{ {binary_d} }};",
        "int dg_num_ops(void) { return DG_NUM_OPS; }",
        "",
    ])


@pytest.mark.parametrize("compiler, lang", [("gcc", "c"), ("g++", "c++")])
def test_header_compiles_without_warnings(tmp_path, compiler, lang):
    exe = shutil.which(compiler)
    if exe is None:
        pytest.skip(f"{compiler} is not installed")
    (tmp_path / "rules.h").write_text(codegen.header())
    shutil.copy(os.path.join(RULES_DIR, "prelude.h"), tmp_path / "prelude.h")
    src = tmp_path / "use_rules.c"
    src.write_text(_use_every_function())
    for opt in ("-O0", "-O2"):
        proc = subprocess.run(
            [exe, "-x", lang, "-Wall", "-Wextra", "-Werror", opt, "-c", str(src),
             "-o", str(tmp_path / "use_rules.o")],
            capture_output=True, text=True, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
