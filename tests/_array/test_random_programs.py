"""Random programs (DAGs of tensor operations, drawn by hypothesis) run in dualgrad
and in PyTorch (float64): values, gradients and Hessian-vector products agree."""

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dualgrad as dg

F64 = torch.float64
SHAPES = [(3,), (2, 3), (2, 1), (1, 3), (), (3, 1)]
RTOL = 1e-10


def softplus(L, x):
    return dg.softplus(x) if L is dg else torch.nn.functional.softplus(x)


UNARY = {
    "sin": lambda L, x: L.sin(x),
    "cos": lambda L, x: L.cos(x),
    "tanh": lambda L, x: L.tanh(x),
    "sigmoid": lambda L, x: L.sigmoid(x),
    "softplus": softplus,
    "exp_tanh": lambda L, x: L.exp(L.tanh(x)),
    "gauss": lambda L, x: L.exp(-(x * x)),
    "arctan": lambda L, x: x.arctan() if L is dg else x.atan(),
    "neg": lambda L, x: -x,
    "scale": lambda L, x: x * 0.7,
    "shift": lambda L, x: 1.3 + x,
    "rsub": lambda L, x: 2.0 - x,
    "square": lambda L, x: x ** 2,
    "cube": lambda L, x: x * x * x,
    "log1p_sq": lambda L, x: L.log1p(x * x),
    "sqrt_1p": lambda L, x: L.sqrt(1.0 + x * x),
    "recip": lambda L, x: 1.0 / (2.0 + L.sin(x)),
}
BINARY = {
    "add": lambda L, a, b: a + b,
    "sub": lambda L, a, b: a - b,
    "mul": lambda L, a, b: a * b,
    "div": lambda L, a, b: a / (1.5 + b ** 2),
    "maximum": lambda L, a, b: L.maximum(a, b),
    "minimum": lambda L, a, b: L.minimum(a, b),
    "where": lambda L, a, b: L.where(a > b, a * b, b - a),
}


def reduce_op(kind, axis, keepdim):
    def f(L, x):
        if axis is None:
            return getattr(L, kind)(x)
        return getattr(x, kind)(dim=axis, keepdim=keepdim)
    return f


def reshape_op(shape):
    return lambda L, x: x.reshape(shape)


def transpose_op(L, x):
    return x.transpose(0, 1)


def expand_op(shape):
    return lambda L, x: x.expand(*shape)


def _broadcast(sa, sb):
    try:
        return np.broadcast_shapes(sa, sb)
    except ValueError:
        return None


def shape_steps(shape, reshape_op, transpose_op, expand_op):
    """The shape changes a node of ``shape`` may take, as (name, step) pairs,
    with the steps made by the given constructors (each library's spelling)."""
    n = int(np.prod(shape))
    options = [("flat", reshape_op((-1,)))]
    if len(shape) == 2:
        options.append(("transpose", transpose_op))
    if n == 6:
        options += [("reshape32", reshape_op((3, 2))), ("reshape23", reshape_op((2, 3)))]
    if n == 3:
        options += [("reshape31", reshape_op((3, 1))), ("reshape13", reshape_op((1, 3)))]
    for target in [(2, 3), (3, 3), (2, 2, 3)]:
        if _broadcast(shape, target) == target:
            options.append((f"expand{target}", expand_op(target)))
    return options


@st.composite
def programs(draw):
    """(input shapes, input values, steps, outputs, hvp directions); a step is
    (name, function of (lib, *tensors), operand indices)."""
    n_in = draw(st.integers(1, 3))
    shapes = [draw(st.sampled_from(SHAPES[:4])) for _ in range(n_in)]
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    values = [rng.uniform(-2.0, 2.0, s) for s in shapes]
    # Run the program in torch while building it, to keep maximum/minimum/where away
    # from ties and values bounded.
    nodes = [torch.tensor(v, dtype=F64) for v in values]
    steps = []

    def add(name, f, args):
        out = f(torch, *[nodes[i] for i in args])
        if out.abs().max() > 30:
            steps.append((name, f, args))
            nodes.append(out)
            f, name, args = UNARY["tanh"], "tanh", (len(nodes) - 1,)
            out = f(torch, nodes[-1])
        steps.append((name, f, tuple(args)))
        nodes.append(out)

    for _ in range(draw(st.integers(1, 10))):
        kind = draw(st.sampled_from(["unary", "unary", "binary", "binary", "binary", "reduce",
                                     "shape"]))
        i = draw(st.integers(0, len(nodes) - 1))
        x = nodes[i]
        if kind == "unary":
            name = draw(st.sampled_from(sorted(UNARY)))
            add(name, UNARY[name], (i,))
        elif kind == "binary":
            partners = [j for j in range(len(nodes)) if _broadcast(tuple(x.shape),
                                                                   tuple(nodes[j].shape))]
            j = draw(st.sampled_from(partners))
            name = draw(st.sampled_from(sorted(BINARY)))
            a, b = torch.broadcast_tensors(x, nodes[j])
            if name in ("maximum", "minimum", "where") and (a - b).abs().min() < 1e-3:
                name = "add"  # a (near) tie: the derivative would depend on rounding
            swap = draw(st.booleans())
            add(name, BINARY[name], (j, i) if swap else (i, j))
        elif kind == "reduce":
            red = draw(st.sampled_from(["sum", "mean"]))
            axis = draw(st.none() | st.integers(-x.ndim, x.ndim - 1)) if x.ndim else None
            keep = draw(st.booleans())
            add(f"{red}({axis},{keep})", reduce_op(red, axis, keep), (i,))
        else:
            options = shape_steps(tuple(x.shape), reshape_op, transpose_op, expand_op)
            name, f = options[draw(st.integers(0, len(options) - 1))]
            add(name, f, (i,))
    # The output: the last node and up to two earlier ones, each reduced to a scalar.
    last = len(nodes) - 1
    outputs = sorted({last} | set(draw(st.lists(st.integers(0, last), max_size=2))))
    weights = [draw(st.sampled_from([1.0, -0.5, 2.0])) for _ in outputs]
    vs = [rng.standard_normal(s) for s in shapes]
    return values, steps, list(zip(outputs, weights)), vs


def run(L, values, steps, outputs, vs):
    leaves = [L.tensor(v, dtype=L.float64, requires_grad=True) for v in values]
    nodes = list(leaves)
    for name, f, args in steps:
        nodes.append(f(L, *[nodes[i] for i in args]))
    out = None
    for i, w in outputs:
        term = nodes[i].sum() * w if i != len(nodes) - 1 else (nodes[i] * nodes[i]).sum() * w
        out = term if out is None else out + term
    if not out.requires_grad:  # only inputs unused: (cannot happen: the last node is used)
        raise AssertionError("output does not require grad")
    grads = L.autograd.grad(out, leaves, create_graph=True, allow_unused=True)
    second = None
    for g, v in zip(grads, vs):
        if g is not None and g.requires_grad:
            term = (g * L.tensor(v, dtype=L.float64)).sum()
            second = term if second is None else second + term
    zeros = [np.zeros(np.shape(v)) for v in values]
    g_np = [z if g is None else np.asarray(g.detach().numpy()) for g, z in zip(grads, zeros)]
    if second is None:
        return out.item(), g_np, zeros
    hvp = L.autograd.grad(second, leaves, allow_unused=True)
    h_np = [z if h is None else np.asarray(h.detach().numpy()) for h, z in zip(hvp, zeros)]
    return out.item(), g_np, h_np


def close(a, b, what):
    """Relative agreement, measured against the largest entry of the reference (so
    entries that cancel to near zero are held to the accuracy of their inputs)."""
    a, b = np.asarray(a), np.asarray(b)
    scale = np.max(np.abs(b), initial=0.0)
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-12 + RTOL * scale, err_msg=what,
                               strict=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_random_program(program):
    values, steps, outputs, vs = program
    got = run(dg, values, steps, outputs, vs)
    want = run(torch, values, steps, outputs, vs)
    names = [s[0] for s in steps]
    close(got[0], want[0], f"value of {names}")
    for k, (a, b) in enumerate(zip(got[1], want[1])):
        close(a, b, f"gradient w.r.t. input {k} of {names}")
    for k, (a, b) in enumerate(zip(got[2], want[2])):
        close(a, b, f"HVP w.r.t. input {k} of {names}")


def test_programs_are_not_trivial():
    """The strategy makes programs with several steps, broadcasting and reductions."""
    seen = {"broadcast": False, "reduce": False, "long": False}

    @settings(max_examples=60, deadline=None, database=None)
    @given(programs())
    def collect(program):
        values, steps, outputs, vs = program
        shapes = {np.shape(v) for v in values}
        if len(shapes) > 1:
            seen["broadcast"] = True
        if any(s[0].startswith(("sum", "mean")) for s in steps):
            seen["reduce"] = True
        if len(steps) >= 5:
            seen["long"] = True

    collect()
    assert all(seen.values()), seen
