"""Generate C and Cython sources from the derivative table (``table.py``).

``setup.py`` runs :func:`generate` before compiling. It writes, next to their
sources and only when their text changes:

- ``_rules/rules.h``: ``static inline`` C functions ``dg_<name>`` (the value) and
  ``dg_<name>_d`` / ``dg_<name>_dx`` / ``dg_<name>_dy`` (the derivatives), and
  the same again over ``dg_dual`` (a value and a tangent) as ``dgd_<name>...``,
  so that derivatives have derivatives; usable from C, Cython and CUDA;
- ``_rules/rules.pxd``: their Cython declarations;
- every ``*.pyx.tp`` Tempita template of the package, rendered with the table.
"""

import ast
import os
import re
import sys

try:
    from .table import BY_NAME, CONSTANTS, RULES, needs_scipy
except ImportError:  # loaded by path from setup.py, before the package is built
    from table import BY_NAME, CONSTANTS, RULES, needs_scipy

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.dirname(HERE)

# ---------------------------------------------------------------------------
# Rule language -> C

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.BitAnd: "&&", ast.BitOr: "||"}
_CMPOPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
# Over dg_dual the arithmetic operators are the table's own rows.
_DUAL_ARITHMETIC = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide"}


def c_expr(expr, operands=("x", "y", "ans"), dual=False):
    """Translate one rule-language expression to a C expression.

    Over doubles by default; with ``dual=True`` over ``dg_dual`` (a value and a
    tangent), every operation being the ``dgd_`` form of a table row, so the
    expression's own derivative comes out alongside it.
    """

    def emit(node):
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            c = repr(float(node.value))  # C would divide integer literals as integers
            return f"dgd({c}, 0.0)" if dual else c
        if isinstance(node, ast.Name):
            if node.id in operands:
                return node.id
            if node.id in CONSTANTS:
                c = "DG_" + node.id.upper()
                return f"dgd({c}, 0.0)" if dual else c
            raise ValueError(f"unknown name {node.id!r} in {expr!r}")
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = emit(node.left), emit(node.right)
            if dual and type(node.op) in _DUAL_ARITHMETIC:
                return f"dgd_{_DUAL_ARITHMETIC[type(node.op)]}({left}, {right})"
            return f"({left} {_BINOPS[type(node.op)]} {right})"
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return f"dgd_negative({emit(node.operand)})" if dual else f"(-{emit(node.operand)})"
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _CMPOPS:
            left, right = emit(node.left), emit(node.comparators[0])
            if dual:  # branches look at values
                left, right = f"{left}.v", f"{right}.v"
            return f"({left} {_CMPOPS[type(node.ops[0])]} {right})"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            name, args = node.func.id, [emit(a) for a in node.args]
            if name == "where" and len(args) == 3:
                return f"({args[0]} ? {args[1]} : {args[2]})"
            if name in BY_NAME and BY_NAME[name].arity == len(args):
                return f"{'dgd' if dual else 'dg'}_{name}({', '.join(args)})"
            raise ValueError(f"unknown call {name}/{len(args)} in {expr!r}")
        raise ValueError(f"unsupported syntax {ast.dump(node)} in {expr!r}")

    return emit(ast.parse(expr, mode="eval").body)


# The complex functions of C99 that the rule language's calls name, for the
# complex derivatives (the table's ``complex=``).
_COMPLEX_CALLS = {"exp": "cexp", "log": "clog", "sqrt": "csqrt", "sin": "csin", "cos": "ccos",
                  "tan": "ctan", "sinh": "csinh", "cosh": "ccosh", "tanh": "ctanh",
                  "arcsin": "casin", "arccos": "cacos", "arctan": "catan", "arcsinh": "casinh",
                  "arccosh": "cacosh", "arctanh": "catanh", "power": "cpow",
                  "conjugate": "conj", "abs": "cabs", "sign": "dgc_sign"}


def c_complex_expr(expr, operands=("x", "y", "ans")):
    """A rule-language expression over complex operands as C99 complex arithmetic."""

    def emit(node):
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return repr(float(node.value))
        if isinstance(node, ast.Name):
            if node.id in operands:
                return node.id
            if node.id in CONSTANTS:
                return "DG_" + node.id.upper()
            raise ValueError(f"unknown name {node.id!r} in {expr!r}")
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return f"({emit(node.left)} {_BINOPS[type(node.op)]} {emit(node.right)})"
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return f"(-{emit(node.operand)})"
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in (
                ast.Eq, ast.NotEq):     # (complex numbers have no order)
            return f"({emit(node.left)} {_CMPOPS[type(node.ops[0])]} {emit(node.comparators[0])})"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            name, args = node.func.id, [emit(a) for a in node.args]
            if name == "where" and len(args) == 3:
                return f"({args[0]} ? {args[1]} : {args[2]})"
            if name in _COMPLEX_CALLS:
                return f"{_COMPLEX_CALLS[name]}({', '.join(args)})"
            raise ValueError(f"no complex C function for {name} in {expr!r}")
        raise ValueError(f"unsupported syntax {ast.dump(node)} in {expr!r}")

    return emit(ast.parse(expr, mode="eval").body)


def complex_loop_rows():
    """The rows with a fused complex loop: a complex extension, a NumPy ufunc for
    the value, and a complex value (abs, real-valued, takes the general path)."""
    return [r for r in RULES if r.complex is not None and r.ufuncs and r.name != "abs"]


def complex_loop_always(rule):
    """Whether a row's fused complex loop beats the general path at every size:
    a binary row whose derivatives are arithmetic (add ... divide), where the
    general path makes a temporary per term. A unary row's general path is one
    vectorised NumPy product per term, which the per-element loop matches only
    on short arrays; so is a loop calling csqrt, clog, ... per element."""
    calls = {n.func.id for pair in rule.wirtinger() for e in pair if e is not None
             for n in ast.walk(ast.parse(e)) if isinstance(n, ast.Call)}
    return rule.arity == 2 and calls <= {"where", "conjugate"}


def _complex_header():
    """The complex derivatives of the table as C99 complex functions, and per row
    a loop pushing k complex tangents forward given the values (NumPy computes
    those): the array tier's fused loops for complex128. Not under CUDA, whose
    C++ has no C99 complex type."""
    out = [
        "",
        "/* ---- complex derivatives (the table's complex=): d/dz and d/dconj(z) per",
        " * operand, and the tangent loops of the array tier for complex128 ---- */",
        "#if !defined(__CUDACC__) && !defined(DG_NO_COMPLEX)",
        "#include <complex.h>",
        "#include <stddef.h>",
        "typedef double _Complex dg_complex;",
        "/* NumPy's sign of a complex number: z / |z|, 0 at 0. */",
        "DG_FN dg_complex dgc_sign(dg_complex x) { double a = cabs(x); return a == 0.0 ? 0.0 : x / a; }",
        "/* The NaN-safe chain rule: a zero tangent contributes exactly 0. */",
        "DG_FN dg_complex dgc_chain(dg_complex p, dg_complex t) { return t == 0.0 ? 0.0 : p * t; }",
    ]
    for r in complex_loop_rows():
        params = ", ".join(f"dg_complex {v}" for v in r.operands + ("ans",))
        for v, (dz, dzbar) in zip(r.operands, r.wirtinger()):
            for suffix, e in (("dz", dz), ("dzbar", dzbar)):
                if e is not None:
                    out.append(f"DG_FN dg_complex dgc_{r.name}_{suffix}{v if r.arity == 2 else ''}"
                               f"({params}) {_body(c_complex_expr(e), r.operands + ('ans',))}")
    for r in complex_loop_rows():
        terms = []
        for v, (dz, dzbar) in zip(r.operands, r.wirtinger()):
            tv = f"t{v}[j * n + i]"
            sfx = v if r.arity == 2 else ""
            parts = []
            if dz is not None:
                parts.append(f"dgc_chain(d_{v}, {tv})")
            if dzbar is not None:
                parts.append(f"dgc_chain(db_{v}, conj({tv}))")
            partials = []
            if dz is not None:
                partials.append(f"d_{v} = dgc_{r.name}_dz{sfx}(xs)")
            if dzbar is not None:
                partials.append(f"db_{v} = dgc_{r.name}_dzbar{sfx}(xs)")
            terms.append((v, partials, parts))
        args = ", ".join(f"{v}[i * s{v}]" for v in r.operands) + ", ans[i]"
        decls = " ".join(f"const dg_complex *{v}, ptrdiff_t s{v}, const dg_complex *t{v},"
                         for v in r.operands)
        body = [f"DG_FN void dgc_{r.name}_tangents({decls} const dg_complex *ans, "
                f"dg_complex *to, ptrdiff_t n, ptrdiff_t k)",
                "{",
                "    /* t<operand> NULL: a constant; s<operand> 0: a number, 1: an array */",
                "    ptrdiff_t i, j;",
                "    for (i = 0; i < n; i++) {",
                "        dg_complex acc;"]
        for v, partials, parts in terms:
            names = [p.split(" = ")[0] for p in partials]
            if names:
                body.append(f"        dg_complex {', '.join(names)};")
        for v, partials, parts in terms:
            body.append(f"        if (t{v}) {{")
            for p in partials:
                body.append(f"            {p.replace('(xs)', '(' + args + ')')};")
            body.append("        }")
        body.append("        for (j = 0; j < k; j++) {")
        body.append("            acc = 0.0;")
        for v, partials, parts in terms:
            if parts:
                body.append(f"            if (t{v}) acc += {' + '.join(parts)};")
        body += ["            to[j * n + i] = acc;", "        }", "    }", "}"]
        out += body
    out += ["#endif"]
    return out


def derivative_names(rule):
    """C names of a rule's derivative functions, one per operand."""
    if rule.arity == 1:
        return (f"dg_{rule.name}_d",)
    return tuple(f"dg_{rule.name}_d{v}" for v in rule.operands)


def _body(code, used):
    unused = "".join(f"(void){v}; " for v in used if not re.search(rf"\b{v}\b", code))
    return f"{{ {unused}return {code}; }}"


def header():
    out = [
        "/* Generated from table.py by codegen.py: edit the table, not this file. */",
        "#ifndef DUALGRAD_RULES_H",
        "#define DUALGRAD_RULES_H",
        '#include "prelude.h"',
        "",
        "enum dg_opcode {",
        *[f"    DG_OP_{r.name.upper()} = {r.opcode}," for r in RULES],
        f"    DG_NUM_OPS = {len(RULES)}",
        "};",
        "",
        "/* ---- values (all first: derivatives may call any of them) ---- */",
    ]
    for r in RULES:
        params = ", ".join(f"double {v}" for v in r.operands)
        body = f"{{ {r.c} }}" if "return" in r.c else _body(r.c, r.operands)
        out.append(f"DG_FN double dg_{r.name}({params}) {body}")
    out += ["", "/* ---- derivatives, in terms of the operands and the value ans ---- */"]
    for r in RULES:
        params = ", ".join(f"double {v}" for v in r.operands + ("ans",))
        for fname, d in zip(derivative_names(r), r.d):
            code = "0.0" if d is None else c_expr(d)
            out.append(f"DG_FN double {fname}({params}) {_body(code, r.operands + ('ans',))}")
    out += [
        "",
        "/* ---- every rule again over dg_dual, a value and one tangent: forward mode",
        " * inside the rules, so that derivatives have derivatives (forward over reverse) */",
        "typedef struct { double v, t; } dg_dual;",
        "DG_FN dg_dual dgd(double v, double t) { dg_dual r; r.v = v; r.t = t; return r; }",
    ]
    for r in RULES:
        params = ", ".join(f"dg_dual {v}" for v in r.operands)
        vals = ", ".join(f"{v}.v" for v in r.operands)
        # A zero tangent is a constant: it contributes nothing, even where the
        # partial is inf or nan (the exponent of x**3 at x < 0), as in every tier;
        # its partial is not even computed (most tangents here are constants').
        tangent = " + ".join(f"DG_CHAIN_LAZY({dname}({vals}, ans), {v}.t)"
                             for dname, v in zip(derivative_names(r), r.operands))
        out.append(f"DG_FN dg_dual dgd_{r.name}({params}) "
                   f"{{ double ans = dg_{r.name}({vals}); return dgd(ans, {tangent}); }}")
    for r in RULES:
        params = ", ".join(f"dg_dual {v}" for v in r.operands + ("ans",))
        for fname, d in zip(derivative_names(r), r.d):
            code = "dgd(0.0, 0.0)" if d is None else c_expr(d, dual=True)
            out.append(f"DG_FN dg_dual {fname.replace('dg_', 'dgd_', 1)}({params}) "
                       f"{_body(code, r.operands + ('ans',))}")
    # X-macro lists of the rows, for code that stamps out one function per row
    # (the GPU kernels): X(name, has_d) and X(name, has_dx, has_dy), where a
    # derivative the table gives as None (identically zero) has has_d 0.
    unary = " ".join(f"X({r.name}, {int(r.d[0] is not None)})" for r in RULES if r.arity == 1)
    binary = " ".join(f"X({r.name}, {int(r.d[0] is not None)}, {int(r.d[1] is not None)})"
                      for r in RULES if r.arity == 2)
    out += _complex_header()
    out += ["", "/* ---- the rows as lists, for code generated per row by the preprocessor ---- */",
            f"#define DG_UNARY_ROWS(X) {unary}",
            f"#define DG_BINARY_ROWS(X) {binary}"]
    out += ["", "#endif", ""]
    return "\n".join(out)


def pxd():
    out = [
        "# Generated from table.py by codegen.py: edit the table, not this file.",
        'cdef extern from "rules.h" nogil:',
        "    cdef enum dg_opcode:",
        *[f"        DG_OP_{r.name.upper()}" for r in RULES],
        "        DG_NUM_OPS",
        "    ctypedef struct dg_dual:",
        "        double v",
        "        double t",
        "    dg_dual dgd(double v, double t)",
        "    double dg_chain(double partial, double t)   # partial * t, exactly 0 where t is 0",
        "    double dg_chain_both(double a, double b)    # a * b, exactly 0 where a or b is 0",
        "    void dg_chain_pair(double *o, double p0, double p1, const double *t)  # two dg_chain",
        "    int dg_scipy_load()   # SciPy's C functions for the rows that need them: 1 if found",
    ]
    for r in complex_loop_rows():
        operands = "".join(f"const void *{v}, Py_ssize_t s{v}, const void *t{v}, "
                           for v in r.operands)
        out.append(f"    void dgc_{r.name}_tangents({operands}const void *ans, void *to, "
                   f"Py_ssize_t n, Py_ssize_t k)   # complex128 tangents, values given")
    for r in RULES:
        for kind, prefix in (("double", "dg"), ("dg_dual", "dgd")):
            out.append(f"    {kind} {prefix}_{r.name}({', '.join(f'{kind} ' + v for v in r.operands)})")
            params = ", ".join(f"{kind} {v}" for v in r.operands + ("ans",))
            out += [f"    {kind} {fname.replace('dg_', prefix + '_', 1)}({params})"
                    for fname in derivative_names(r)]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------
# Templates

# The ufuncs whose object loops NumPy runs through Python operators; the
# others call a method of the element's name (np.sin calls x.sin()).
OPERATOR_LOOPS = ("add", "subtract", "multiply", "divide", "power", "remainder", "floor_divide",
                  "negative", "positive", "absolute")


class _ToNamespace(ast.NodeTransformer):
    """Rule-language calls become ``ns.<name>(...)`` and constants numbers."""

    def visit_Call(self, node):
        self.generic_visit(node)
        node.func = ast.Attribute(ast.Name("ns", ast.Load()), node.func.id, ast.Load())
        return node

    def visit_Name(self, node):
        if node.id in CONSTANTS:
            return ast.Constant(CONSTANTS[node.id])
        return node


def py_expr(expr):
    """A rule-language expression as Python over a namespace ``ns``: the same
    source runs on ndarrays (``ns`` = NumPy's functions) and on Tensors (``ns``
    = dualgrad's, recording the backward pass for create_graph)."""
    return ast.unparse(_ToNamespace().visit(ast.parse(expr, mode="eval")))


def reads(rule, name):
    """Bit i set where derivative i of ``rule`` (real or complex) reads operand or
    result ``name``: an operation need save a value only for the derivatives it
    will take."""
    complex_d = rule.wirtinger() or ((None, None),) * rule.arity
    return sum(1 << i for i, (d, (dz, dzbar)) in enumerate(zip(rule.d, complex_d))
               if any(e is not None and any(isinstance(n, ast.Name) and n.id == name
                                            for n in ast.walk(ast.parse(e)))
                      for e in (d, dz, dzbar)))


# The array attributes of a traced number (Dual, Var): those of a 0-d array,
# so that code asking its values for x.shape or x.ndim runs unchanged. Its
# dtype is object, the dtype of the arrays that hold it: NumPy's mean and var
# convert a result with a dtype by result.dtype.type(result), which a float
# dtype would do with float(), dropping the derivative; np.object_(x) is x.
# And np.zeros(n, dtype=x.dtype) makes an array that can hold it.
SCALAR_ARRAY_ATTRIBUTES = """
    shape = ()
    ndim = 0
    size = 1
    dtype = np.dtype(object)
"""


def complex_terms(rule):
    """Per operand (index, name, d/dz, d/dconj(z)) of a row's complex derivatives."""
    return [(i, v, dz, dzbar) for i, (v, (dz, dzbar)) in enumerate(zip(rule.operands,
                                                                        rule.wirtinger()))]


def template_namespace():
    return {
        "SCALAR_ARRAY_ATTRIBUTES": SCALAR_ARRAY_ATTRIBUTES,
        "py_expr": py_expr,
        "reads": reads,
        "complex_terms": complex_terms,
        "complex_loop_rows": complex_loop_rows(),
        "complex_loop_always": complex_loop_always,
        "OPERATOR_LOOPS": OPERATOR_LOOPS,
        "rules": RULES,
        "unary": [r for r in RULES if r.arity == 1],
        "binary": [r for r in RULES if r.arity == 2],
        "dnames": derivative_names,
        "needs_scipy": needs_scipy,
    }


def _write(path, text):
    try:
        with open(path) as f:
            if f.read() == text:
                return  # unchanged: keep the timestamp so nothing recompiles
    except FileNotFoundError:
        pass
    with open(path, "w") as f:
        f.write(text)


def generate():
    """Write rules.h, rules.pxd and every rendered ``*.pyx.tp`` of the package."""
    from Cython import Tempita

    _write(os.path.join(HERE, "rules.h"), header())
    _write(os.path.join(HERE, "rules.pxd"), pxd())
    for root, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".pyx.tp"):
                src = os.path.join(root, name)
                with open(src) as f:
                    template = Tempita.Template(f.read(), name=src)
                text = f"# Generated from {name} by dualgrad/_rules/codegen.py: edit the template.\n"
                _write(src[:-3], text + template.substitute(template_namespace()))


if __name__ == "__main__":
    generate()
    sys.exit(0)
