"""Random programs on every tier, in both orders, against PyTorch (float64), with
the NaN-safe deviation stated.

Each drawn program (a DAG of element-wise, broadcasting, reduction and shape
operations on the pieces of one input vector x, giving a vector y) is written
once against a namespace of NumPy names (``Names``: NumPy's, PyTorch's or
dualgrad's functions) and run

* in PyTorch, the reference: ``torch.func.jacrev`` and ``torch.func.hessian``
  of s(x) = sum(y * y) / 2;
* in dualgrad, first order on every tier in both modes: ``dg.jacobian(f,
  mode="forward" | "reverse")``, ``dg.jvp`` and ``dg.vjp``, forced onto the
  scalar tier (Dual forward, Tape reverse) and the array tier (DualArray
  forward, Tensor reverse);
* second order in both orders: ``dg.hessian`` forward over reverse on both
  tiers, ``dg.jacrev(dg.jacfwd(s))`` reverse over forward, and reverse over
  reverse on Tensors (``dg.autograd.grad(..., create_graph=True)``, the program
  written with dualgrad's own functions).

The NaN-safe deviation. dualgrad's chain rule is NaN-safe (docs/conventions.rst):
a zero tangent or adjoint contributes exactly zero, whatever the local partial
(inf or nan). PyTorch multiplies, so ``0 * nan`` leaks nan into derivatives that
are plain numbers, as in ``where(x > 0, sqrt(x), -x)`` at x < 0. Draws are made
to hit this: such branches at points on their wrong side, a dead ``sqrt`` of a
negative value that the output does not use, and a nan in one input entry. Every
entry of every derivative is held to this rule:

1. where PyTorch's entry is finite, dualgrad's agrees to 1e-10 relative;
2. where PyTorch's is nan but the entry's central difference is finite (the
   entry's output does not depend on a nan input), dualgrad's is finite and
   equals the central difference;
3. where the central difference is nan too (the entry's output is nan: a nan
   input reaches it), dualgrad's is nan where the entry depends on the nan
   input (PyTorch's entry differs at two finite values put in its place), and
   nan or PyTorch's number where it does not (as -x: its derivative is -1 at
   any x, nan included).
"""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dualgrad as dg
from dualgrad import functional
from test_random_programs import _broadcast, shape_steps   # the same shape changes

F64 = torch.float64
SHAPES = [(3,), (2, 3), (2, 1), (1, 3)]
RTOL = 1e-10


# ---------------------------------------------------------------------------
# The namespaces a program is written against: NumPy's names, three libraries

class NumpyNames:
    """NumPy: runs on floats, on the scalar tier's object arrays of Duals and Vars
    and on DualArrays and Tensors (through __array_ufunc__/__array_function__)."""
    sin, cos, tanh, exp, log, log1p, sqrt, arctan = (
        np.sin, np.cos, np.tanh, np.exp, np.log, np.log1p, np.sqrt, np.arctan)
    maximum, minimum, where = np.maximum, np.minimum, np.where

    @staticmethod
    def sum(x, axis=None, keepdims=False):
        return np.sum(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def mean(x, axis=None, keepdims=False):
        return np.mean(x, axis=axis, keepdims=keepdims)

    reshape, broadcast_to = staticmethod(np.reshape), staticmethod(np.broadcast_to)

    @staticmethod
    def transpose(x):
        return np.transpose(x)


class TorchNames:
    sin, cos, tanh, exp, log, log1p, sqrt, arctan = (
        torch.sin, torch.cos, torch.tanh, torch.exp, torch.log, torch.log1p, torch.sqrt,
        torch.arctan)
    maximum, minimum, where = torch.maximum, torch.minimum, torch.where

    @staticmethod
    def sum(x, axis=None, keepdims=False):
        return torch.sum(x) if axis is None else torch.sum(x, dim=axis, keepdim=keepdims)

    @staticmethod
    def mean(x, axis=None, keepdims=False):
        return torch.mean(x) if axis is None else torch.mean(x, dim=axis, keepdim=keepdims)

    reshape, broadcast_to = staticmethod(torch.reshape), staticmethod(torch.broadcast_to)

    @staticmethod
    def transpose(x):
        return torch.transpose(x, 0, 1)


class DualgradNames:
    """dualgrad's own (PyTorch-style) functions, on Tensors."""
    sin, cos, tanh, exp, log, log1p, sqrt, arctan = (
        dg.sin, dg.cos, dg.tanh, dg.exp, dg.log, dg.log1p, dg.sqrt, dg.arctan)
    maximum, minimum, where = dg.maximum, dg.minimum, dg.where

    @staticmethod
    def sum(x, axis=None, keepdims=False):
        return dg.sum(x, dim=axis, keepdim=keepdims)

    @staticmethod
    def mean(x, axis=None, keepdims=False):
        return dg.mean(x, dim=axis, keepdim=keepdims)

    @staticmethod
    def reshape(x, shape):
        return dg.reshape(x, shape)

    @staticmethod
    def broadcast_to(x, shape):
        return x.expand(*shape)

    @staticmethod
    def transpose(x):
        return dg.transpose(x, 0, 1)


# ---------------------------------------------------------------------------
# Operations

UNARY = {
    "sin": lambda L, x: L.sin(x),
    "cos": lambda L, x: L.cos(x),
    "tanh": lambda L, x: L.tanh(x),
    "sigmoid": lambda L, x: 1.0 / (1.0 + L.exp(-x)),
    "gauss": lambda L, x: L.exp(-(x * x)),
    "arctan": lambda L, x: L.arctan(x),
    "neg": lambda L, x: -x,
    "scale": lambda L, x: x * 0.7,
    "rsub": lambda L, x: 2.0 - x,
    "square": lambda L, x: x ** 2,
    "cube": lambda L, x: x * x * x,
    "log1p_sq": lambda L, x: L.log1p(x * x),
    "sqrt_1p": lambda L, x: L.sqrt(1.0 + x * x),
    "recip": lambda L, x: 1.0 / (2.0 + L.sin(x)),
}
# Branches whose other side is nan (sqrt, log of x <= 0): PyTorch's derivative
# there is 0 * nan = nan, dualgrad's that of the side taken.
GUARDED = {
    "sqrt_pos": lambda L, x: L.where(x > 0, L.sqrt(x), -x),
    "xlogx_pos": lambda L, x: L.where(x > 0, x * L.log(x), 0.5 * x),
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
BRANCHES = {"maximum", "minimum", "where"}


def dead_sqrt(L, x):
    """A value the output never uses, whose partials are nan at x < 0."""
    return L.sqrt(x)


def reduce_op(kind, axis, keep):
    return lambda L, x: getattr(L, kind)(x, axis=axis, keepdims=keep)


def reshape_op(shape):
    return lambda L, x: L.reshape(x, shape)


def expand_op(shape):
    return lambda L, x: L.broadcast_to(x, shape)


def transpose_op(L, x):
    return L.transpose(x)


class Program:
    """Inputs: pieces of shapes ``shapes`` of the flat vector x. ``steps``:
    (name, function of (names, *nodes), operand indices); ``outputs``: (node,
    weight) pairs, the last one the program's last live node."""

    def __init__(self, shapes, steps, outputs, x, nan_input):
        self.shapes, self.steps, self.outputs, self.x = shapes, steps, outputs, x
        self.nan_input = nan_input

    def __repr__(self):
        return (f"Program(shapes={self.shapes}, steps={[(s[0], s[2]) for s in self.steps]}, "
                f"outputs={self.outputs}, x={self.x.tolist()})")

    def __call__(self, L, x):
        """y(x), a vector, with the names L."""
        nodes, start = [], 0
        for shape in self.shapes:
            size = int(np.prod(shape))
            nodes.append(L.reshape(x[start:start + size], shape))
            start += size
        for _, f, args in self.steps:
            nodes.append(f(L, *[nodes[i] for i in args]))
        (last, w_last), *others = self.outputs[::-1]
        y = L.reshape(nodes[last], (-1,)) * w_last
        for i, w in others:
            # (A 0-d node is added as it is: test_numpy_sum_of_a_lone_dual_or_var.)
            y = y + (L.sum(nodes[i]) if np.ndim(nodes[i]) else nodes[i]) * w
        return y

    def s(self, L, x):
        """A scalar for the second derivatives: sum(y * y) / 2."""
        y = self(L, x)
        return L.sum(y * y) * 0.5


@st.composite
def programs(draw):
    n_in = draw(st.integers(1, 3))
    shapes = [draw(st.sampled_from(SHAPES)) for _ in range(n_in)]
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    x = rng.uniform(-2.0, 2.0, sum(int(np.prod(s)) for s in shapes))
    nan_input = draw(st.integers(0, 4)) == 0
    if nan_input:
        # A branch's derivative at a nan is a convention (that of the side
        # taken), not rule 3's nan: these programs have no branches.
        x[draw(st.integers(0, x.size - 1))] = np.nan
    # Build the program in torch as it is drawn, to keep branches away from ties
    # and values bounded.
    nodes, start = [], 0
    for s in shapes:
        size = int(np.prod(s))
        nodes.append(torch.tensor(x[start:start + size].reshape(s), dtype=F64))
        start += size
    steps, dead = [], set()

    def add(name, f, args):
        out = f(TorchNames, *[nodes[i] for i in args])
        if torch.nan_to_num(out).abs().max() > 30:
            steps.append((name, f, tuple(args)))
            nodes.append(out)
            f, name, args = UNARY["tanh"], "tanh", (len(nodes) - 1,)
            out = f(TorchNames, nodes[-1])
        steps.append((name, f, tuple(args)))
        nodes.append(out)

    kinds = ["unary", "unary", "binary", "binary", "binary", "reduce", "shape"]
    if not nan_input:
        kinds += ["guarded", "guarded"]
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(kinds + ["dead"]))
        live = [j for j in range(len(nodes)) if j not in dead]
        i = draw(st.sampled_from(live))
        x_i = nodes[i]
        if kind == "unary":
            name = draw(st.sampled_from(sorted(UNARY)))
            add(name, UNARY[name], (i,))
        elif kind == "guarded":
            name = draw(st.sampled_from(sorted(GUARDED)))
            if x_i.abs().min() < 0.05:
                name = "sin"    # near the branch point the differences would straddle it
            add(name, {**GUARDED, **UNARY}[name], (i,))
        elif kind == "dead":
            add("dead_sqrt", dead_sqrt, (i,))
            dead.add(len(nodes) - 1)
        elif kind == "binary":
            partners = [j for j in live if _broadcast(tuple(x_i.shape), tuple(nodes[j].shape))]
            j = draw(st.sampled_from(partners))
            names = sorted(set(BINARY) - BRANCHES) if nan_input else sorted(BINARY)
            name = draw(st.sampled_from(names))
            a, b = torch.broadcast_tensors(x_i, nodes[j])
            if name in BRANCHES and (a - b).abs().min() < 1e-3:
                name = "add"    # a (near) tie: the derivative would depend on rounding
            add(name, BINARY[name], (j, i) if draw(st.booleans()) else (i, j))
        elif kind == "reduce" and x_i.ndim:
            red = draw(st.sampled_from(["sum", "mean"]))
            axis = draw(st.none() | st.integers(-x_i.ndim, x_i.ndim - 1)) if x_i.ndim else None
            keep = draw(st.booleans()) and axis is not None
            add(f"{red}({axis},{keep})", reduce_op(red, axis, keep), (i,))
        elif kind == "shape":
            options = shape_steps(tuple(x_i.shape), reshape_op, transpose_op, expand_op)
            name, f = options[draw(st.integers(0, len(options) - 1))]
            add(name, f, (i,))
    live = [j for j in range(len(nodes)) if j not in dead]
    others = sorted(set(draw(st.lists(st.sampled_from(live), max_size=2))) - {live[-1]})
    outputs = [(j, draw(st.sampled_from([1.0, -0.5, 2.0]))) for j in others + [live[-1]]]
    return Program(shapes, steps, outputs, x, nan_input)


# ---------------------------------------------------------------------------
# References

def torch_function(program, kind):
    f = program if kind == "y" else program.s
    return lambda x: f(TorchNames, x)


def numpy_function(program, kind):
    f = program if kind == "y" else program.s

    def g(x):
        with np.errstate(all="ignore"):
            return np.asarray(f(NumpyNames, x), dtype=float)
    return g


H1, H2 = 1e-6, 1e-4     # steps: first differences, and the second differences of s


def central_jacobian(program):
    """J[i, j] by central differences of y (column by column)."""
    f, x = numpy_function(program, "y"), program.x
    cols = []
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = H1
        cols.append((f(x + e) - f(x - e)) / (2 * H1))
    return np.stack(cols, axis=-1)


def central_hessian(program):
    """H[j, k] of s by second central differences."""
    f, x = numpy_function(program, "s"), program.x
    n = x.size
    h = np.empty((n, n))
    eye = np.eye(n) * H2
    for j in range(n):
        for k in range(n):
            h[j, k] = (f(x + eye[j] + eye[k]) - f(x + eye[j] - eye[k]) - f(x - eye[j] + eye[k])
                       + f(x - eye[j] - eye[k])) / (4 * H2 * H2)
    return h


class Reference:
    """PyTorch's derivatives of a program, and (computed when first asked for)
    central differences for the entries where PyTorch's are not finite, and
    PyTorch's derivatives at two finite values in place of a nan input."""

    SUBSTITUTES = (0.37, -1.21)

    def __init__(self, program):
        self.program = program
        self.y, self.jacobian, self.hessian = self.torch_derivatives(program.x)
        self._fd, self._substituted = {}, None

    def torch_derivatives(self, x):
        x = torch.tensor(x, dtype=F64)
        return (torch_function(self.program, "y")(x).numpy(),
                torch.func.jacrev(torch_function(self.program, "y"))(x).numpy(),
                torch.func.hessian(torch_function(self.program, "s"))(x).numpy())

    def differences(self, kind):
        if kind not in self._fd:
            self._fd[kind] = (central_jacobian if kind == "jacobian"
                              else central_hessian)(self.program)
        return self._fd[kind]

    def substituted(self, kind):
        """(two arrays of PyTorch's derivative ``kind``, the nan input replaced by
        each substitute), or None when no input is nan."""
        if not np.isnan(self.program.x).any():
            return None
        if self._substituted is None:
            out = []
            for c in self.SUBSTITUTES:
                _, jac, hess = self.torch_derivatives(np.where(np.isnan(self.program.x), c,
                                                               self.program.x))
                out.append({"jacobian": jac, "hessian": hess})
            self._substituted = out
        return tuple(d[kind] for d in self._substituted)


def check(got, want, what, fd_tol, differences, substituted):
    """The rule of the module docstring, entry by entry. ``differences()``: the
    central differences of the whole derivative, ``substituted()``: PyTorch's
    at two substitutes for a nan input (both asked for only where PyTorch's
    entries are not finite)."""
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    finite = np.isfinite(want)
    scale = np.max(np.abs(want[finite]), initial=0.0)
    np.testing.assert_allclose(got[finite], want[finite], rtol=RTOL, atol=1e-12 + RTOL * scale,
                               err_msg=f"{what}: rule 1 (PyTorch's entry is finite)",
                               strict=True)
    if finite.all():
        return
    fd = differences()
    for idx in zip(*np.nonzero(~finite)):
        if np.isfinite(fd[idx]):
            assert np.isfinite(got[idx]) and abs(got[idx] - fd[idx]) <= fd_tol * (
                1 + abs(fd[idx])), (f"{what}: rule 2 at {idx}: dualgrad {got[idx]}, "
                                    f"central difference {fd[idx]}, PyTorch {want[idx]}")
            continue
        if np.isnan(got[idx]):
            continue
        subs = substituted()
        a, b = (np.nan, np.nan) if subs is None else (subs[0][idx], subs[1][idx])
        assert np.isfinite(a) and abs(a - b) <= RTOL * (1 + abs(a)) and abs(
            got[idx] - a) <= RTOL * (1 + abs(a)), (
            f"{what}: rule 3 at {idx}: dualgrad {got[idx]}, PyTorch {want[idx]}; with the "
            f"nan input replaced, PyTorch gives {a} and {b}")


# ---------------------------------------------------------------------------
# dualgrad on each tier and mode

def forced(forced_plan, tier, mode):
    """The transforms called next run on ``tier`` in ``mode`` (the planner's
    cache forgets the plans made for the previous tier)."""
    forced_plan.update(tier=tier, mode=mode)
    functional._planner._cache.clear()


TIER_TYPES = {("scalar", "forward"): dg.Dual, ("scalar", "reverse"): dg.Var,
              ("array", "forward"): dg.DualArray, ("array", "reverse"): dg.Tensor}


def traced(program, seen, kind="y"):
    """The program on NumPy names, noting what kind of value x was."""
    f = program if kind == "y" else program.s

    def g(x):
        seen.append(type(x.flat[0]) if isinstance(x, np.ndarray) and x.dtype == object
                    else type(x))
        return f(NumpyNames, x)
    return g


def ran_on(seen, tier, mode):
    assert seen and all(t is TIER_TYPES[tier, mode] for t in seen[-1:]), (tier, mode, seen)


SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


@SETTINGS
@given(program=programs())
def test_first_order_every_tier_and_mode(program, forced_plan):
    ref = Reference(program)
    x = program.x
    rng = np.random.default_rng(0)
    v, u = rng.standard_normal(x.size), rng.standard_normal(ref.y.size)
    jac = {"jacobian": lambda j: j, "jv": lambda j: _product(j, v, "jv"),
           "uj": lambda j: _product(j, u, "uj")}

    def against(kind, got, what):
        as_kind = jac[kind]
        subs = lambda: tuple(map(as_kind, ref.substituted("jacobian") or ()))  # noqa: E731
        check(got, as_kind(ref.jacobian), what, 1e-6,
              lambda: as_kind(ref.differences("jacobian")), lambda: subs() or None)

    for tier in ("scalar", "array"):
        for mode in ("forward", "reverse"):
            forced(forced_plan, tier, mode)
            seen = []
            got = dg.jacobian(traced(program, seen), mode=mode)(x)
            ran_on(seen, tier, mode)
            against("jacobian", got, f"jacobian on the {tier} tier, {mode}")
        # One direction: J v forward, u J reverse, against the same entries.
        forced(forced_plan, tier, "forward")
        seen = []
        y, jv = dg.jvp(traced(program, seen), (x,), (v,))
        ran_on(seen, tier, "forward")
        np.testing.assert_allclose(y, ref.y, rtol=RTOL, atol=1e-12, err_msg=f"value, {tier}")
        against("jv", jv, f"jvp on the {tier} tier")
        forced(forced_plan, tier, "reverse")
        seen = []
        y, pullback = dg.vjp(traced(program, seen), x)
        ran_on(seen, tier, "reverse")
        against("uj", pullback(u)[0], f"vjp on the {tier} tier")


def _product(jac, w, kind):
    """J v or u J, where an entry is nan only if a term with a nonzero weight is
    (PyTorch's 0 * nan entries of J are left out, as a NaN-safe product would)."""
    weights = w[None, :] if kind == "jv" else w[:, None]
    terms = np.where(weights == 0, 0.0, jac * weights)
    return terms.sum(axis=1 if kind == "jv" else 0)


def check_hessian(h, ref, what):
    check(h, ref.hessian, what, 1e-4, lambda: ref.differences("hessian"),
          lambda: ref.substituted("hessian"))


@SETTINGS
@given(program=programs())
def test_second_order_forward_over_reverse(program, forced_plan):
    ref = Reference(program)
    for tier in ("scalar", "array"):
        forced(forced_plan, tier, "forward-over-reverse")
        seen = []
        h = dg.hessian(traced(program, seen, "s"))(program.x)
        ran_on(seen, tier, "reverse")
        check_hessian(h, ref, f"hessian forward over reverse, {tier} tier")


@SETTINGS
@given(program=programs())
def test_second_order_reverse_outer(program):
    """Reverse over forward (nested transforms) and reverse over reverse
    (create_graph on Tensors, the program on dualgrad's own functions)."""
    ref = Reference(program)
    x = program.x
    h = dg.jacrev(dg.jacfwd(lambda x: program.s(NumpyNames, x)))(x)
    check_hessian(h, ref, "hessian reverse over forward")

    t = dg.tensor(x, requires_grad=True)
    (g,) = dg.autograd.grad(program.s(DualgradNames, t), t, create_graph=True)
    rows = [dg.autograd.grad(g[j], t, retain_graph=True, allow_unused=True)[0]
            for j in range(x.size)]
    h = np.stack([np.zeros(x.size) if r is None else r.detach().numpy() for r in rows])
    check_hessian(h, ref, "hessian reverse over reverse (Tensor)")


def test_array_hessian_through_a_guarded_sqrt(forced_plan):
    """s = sum(where(x > 0, sqrt(x), -x)**2) / 2: d2s/dx2 = 1 at x < 0, as on the
    scalar tier (PyTorch gives nan). Forward over reverse on Tensors holding
    DualArrays: the adjoint through the unused sqrt is zero as a dual number,
    so it contributes zero tangents too (it gave nan: p' * 0 with p' nan)."""
    forced(forced_plan, "array", "forward-over-reverse")
    h = dg.hessian(lambda x: np.sum(np.where(x > 0, np.sqrt(x), -x) ** 2) * 0.5)(
        np.array([0.55, -0.92]))
    np.testing.assert_allclose(h, np.diag([0.0, 1.0]), atol=1e-12)


def test_reverse_over_forward_through_where():
    """s = sum(where(x > 0, x*x, -x)**2) / 2: d2s/dx2 = 6x^2 at x > 0, 1 at x < 0.
    The condition is a Tensor (a comparison of DualArrays holding Tensors): the
    DualArray of the inner forward transform takes np.where, not the Tensor (it
    raised TypeError)."""
    h = dg.jacrev(dg.jacfwd(lambda x: np.sum(np.where(x > 0, x * x, -x) ** 2) * 0.5))(
        np.array([0.5, -0.9]))
    np.testing.assert_allclose(h, np.diag([1.5, 1.0]), atol=1e-12)


@pytest.mark.parametrize("tier_mode", [("scalar", "forward"), ("scalar", "reverse")])
def test_numpy_sum_of_a_lone_dual_or_var(tier_mode, forced_plan):
    """np.sum(np.sum(x)): NumPy reduces a lone Dual or Var as a 0-d array, as
    np.mean(np.mean(x)) did (its __array_ufunc__ refused 'reduce')."""
    forced(forced_plan, *tier_mode)
    g = dg.grad(lambda x: np.sum(np.sum(x)))(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(g, [1.0, 1.0])


def test_scalar_hessian_row_of_a_nan_input(forced_plan):
    """s = sum((-x)**2) / 2 at x = [nan, -0.92]: PyTorch's Hessian is the identity
    (the partial of -x is -1 whatever x). The tape's forward over reverse gave
    row 0 = [nan, nan]: the partial's tangent (0) times the nan adjoint of -x0.
    That term is exactly 0 now (dg_chain_both)."""
    forced(forced_plan, "scalar", "forward-over-reverse")
    h = dg.hessian(lambda x: np.sum((-x) ** 2) * 0.5)(np.array([np.nan, -0.92]))
    np.testing.assert_array_equal(h, np.eye(2))


def test_reverse_over_forward_beside_a_nan_input():
    """s = sum(arctan(x)**2) / 2 at x = [nan, -0.92]: row 1 of PyTorch's Hessian is
    [0, -0.108] (ds/dx1 does not depend on x0). dg.jacrev(dg.jacfwd(s)) gave
    [nan, -0.108]: the inner tangent of y0 along x1 is 0, and the reverse pass
    multiplied it by the nan adjoint of its partial (chain_both now)."""
    h = dg.jacrev(dg.jacfwd(lambda x: np.sum(np.arctan(x) ** 2) * 0.5))(np.array([np.nan, -0.92]))
    assert h[1, 0] == 0.0, h
    assert np.isnan(h[0, 0]) and h[0, 1] == 0.0, h


def test_programs_reach_the_nan_safe_cases():
    """The draws include programs where PyTorch's derivatives hold nan that the
    NaN-safe rule turns into numbers (rule 2), and nan inputs (rule 3)."""
    seen = {"rule 2": 0, "nan input": 0, "long": 0, "guarded": 0, "dead": 0}

    @settings(max_examples=60, deadline=None, derandomize=True, database=None)
    @given(programs())
    def collect(program):
        ref = Reference(program)
        bad = ~np.isfinite(ref.jacobian)
        if bad.any() and np.isfinite(ref.differences("jacobian")[bad]).any():
            seen["rule 2"] += 1
        seen["nan input"] += program.nan_input
        seen["long"] += len(program.steps) >= 5
        seen["guarded"] += any(s[0] in GUARDED for s in program.steps)
        seen["dead"] += any(s[0] == "dead_sqrt" for s in program.steps)

    collect()
    assert all(seen.values()), seen
