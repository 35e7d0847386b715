"""Every row of the derivative table in reverse mode: tape gradients through every way of
calling the row, Jacobians, vjp, gradients at intermediates, hvp and Hessians."""

import math
import operator
from dataclasses import dataclass

import numpy as np
import pytest

import dualgrad as dg
import dualgrad.math as dm
from conftest import (TORCH_RTOL, continuous_operands, dual_partials, five_point, has_object_loop,
                      integer_operands, rng_for, torch_function, torch_value_and_grads)
from dualgrad._rules.table import RULES

SMOOTH = [r for r in RULES if r.smooth]
CONSTANT = [r for r in RULES if not r.smooth]
by_name = pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)


def fn(rule):
    return getattr(dg, rule.name)


def var_sets(rule):
    """Which operands are Vars: each differentiated operand alone (the others numbers),
    then all of them together. Integer operands (the order of polygamma) stay numbers."""
    cont = continuous_operands(rule)
    return [(i,) for i in cont] + ([tuple(cont)] if len(cont) > 1 else [])


var_set_ids = {(0,): "x", (1,): "y", (0, 1): "xy"}


def params_with_var_sets(rules):
    return [pytest.param(r, w, id=f"{r.name}-{var_set_ids[w]}") for r in rules for w in var_sets(r)]


def arguments(rule, point, which, xs, constant=float):
    """The row's arguments: the Vars xs at the operands ``which``, numbers elsewhere
    (integer parameters as ints)."""
    args = [int(v) if i in integer_operands(rule) else constant(v) for i, v in enumerate(point)]
    for i, x in zip(which, xs):
        args[i] = x
    return args


def tape_value_and_grad(rule, point, which):
    """y = row(point) with the operands ``which`` as Vars; (y's value, dy/d those Vars)."""
    with dg.Tape() as tape:
        xs = tape.var([point[i] for i in which])
        y = fn(rule)(*arguments(rule, point, which, xs))
    assert isinstance(y, dg.Var)
    return y.value, tape.gradient(y, xs)


def tape_gradient_at(rule, point, which):
    return tape_value_and_grad(rule, point, which)[1]


# ---------------------------------------------------------------------------
# Gradients of each row: Dual forward mode, central differences, PyTorch


@pytest.mark.parametrize("rule, which", params_with_var_sets(RULES))
def test_gradient_matches_dual_and_central_differences(rule, which, rule_points):
    for point in rule_points(rule):
        y, g = tape_value_and_grad(rule, point, which)
        assert y == fn(rule)(*point)
        assert isinstance(g, np.ndarray) and g.shape == (len(which),)
        # The tape stores the partials of the same C rules the Dual chains: identical bits.
        assert g.tolist() == [dual_partials(rule, point)[i] for i in which], (rule.name, point)
        for k, i in enumerate(which):
            def along(v):
                args = list(point)
                args[i] = v
                return fn(rule)(*args)

            fd = five_point(along, point[i], 1e-4 * max(1.0, abs(point[i])))
            scale = max(1.0, abs(y))
            assert abs(g[k] - fd) <= 1e-8 * abs(fd) + 1e-9 * scale, (rule.name, point, i, g[k], fd)


@pytest.mark.parametrize("rule, which", params_with_var_sets(SMOOTH))
def test_gradient_matches_torch_autograd(rule, which, rule_points):
    torch = pytest.importorskip("torch")
    rtol = TORCH_RTOL.get(rule.name, 1e-13)
    for point in rule_points(rule):
        value, grads = torch_value_and_grads(torch, rule, point)
        y, g = tape_value_and_grad(rule, point, which)
        assert y == pytest.approx(value, rel=TORCH_RTOL.get(rule.name, 1e-14), abs=1e-15)
        np.testing.assert_allclose(g, [grads[i] for i in which], rtol=rtol, atol=1e-15,
                                   err_msg=f"{rule.name}{point}")


@pytest.mark.parametrize("rule", [r for r in RULES if integer_operands(r)], ids=lambda r: r.name)
def test_integer_parameter_as_a_var_has_zero_derivative(rule, rule_points):
    for point in rule_points(rule):
        which = tuple(range(rule.arity))
        with dg.Tape() as tape:
            xs = tape.var(list(point))
            y = fn(rule)(*xs)
        g = tape.gradient(y, xs)
        # 0 along a discrete order (polygamma), nan along one the table does not
        # differentiate (the Bessel functions' orders, which may be any real)
        assert all(g[i] == 0.0 if rule.d[i] is None else math.isnan(g[i])
                   for i in integer_operands(rule))
        np.testing.assert_array_equal(g, [dual_partials(rule, point)[i] for i in which])


@pytest.mark.parametrize("rule", CONSTANT, ids=lambda r: r.name)
def test_piecewise_constant_rows_have_zero_gradient_and_hessian(rule, rule_points):
    assert all(d is None for d in rule.d)
    for point in rule_points(rule):
        for which in var_sets(rule):
            with dg.Tape() as tape:
                xs = tape.var([point[i] for i in which])
                y = fn(rule)(*arguments(rule, point, which, xs))
            assert y.value == fn(rule)(*point)
            assert tape.gradient(y, xs).tolist() == [0.0] * len(which)
            assert tape.hessian(y, xs).tolist() == [[0.0] * len(which)] * len(which)


# ---------------------------------------------------------------------------
# Every way of calling a row records the row: dg.<name>, the Python operator,
# dualgrad.math, NumPy ufuncs on Vars, NumPy ufuncs and dg.<name> on object arrays


@dataclass
class Entry:
    """One way of calling a row, on the argument tuples of several points."""

    call: object
    objects: bool = False       # called once on object arrays (columns) instead of per point
    constant: type = float      # how number operands are passed
    math: bool = False          # dualgrad.math: math's values
    numpy_object_loop: bool = False

    def __call__(self, rows):
        if not self.objects:
            return [self.call(*r) for r in rows]
        columns = [np.array(list(c), dtype=object) for c in zip(*rows)]
        out = self.call(*columns)
        assert isinstance(out, np.ndarray) and out.dtype == object and out.shape == (len(rows),)
        return list(out)


def object_loop_calls_method(ufunc):
    """Whether NumPy's object loop of ``ufunc`` calls a method of its first operand
    (``x.arctan2(y)``), which a number does not have."""
    numbers = np.array([1.0], dtype=object)
    try:
        ufunc(*[numbers] * ufunc.nin)
    except AttributeError:
        return True
    return False


def entries(rule):
    """(name, Entry) for every way of calling the row."""
    out = [("dg", Entry(fn(rule))), ("dg-object", Entry(fn(rule), objects=True))]
    if rule.operator:
        out.append((rule.operator, Entry(getattr(operator, rule.operator))))
    if rule.name in ("floor_divide", "remainder"):
        k = 0 if rule.name == "floor_divide" else 1
        out.append(("divmod", Entry(lambda a, b: divmod(a, b)[k])))
        out.append(("np.divmod", Entry(lambda a, b: np.divmod(a, b)[k])))
    if rule.math:
        out.append((f"math.{rule.math}", Entry(getattr(dm, rule.math), math=True)))
    for u in rule.ufuncs:
        ufunc = getattr(np, u)
        # Number operands as NumPy scalars, as they come out of arrays.
        out.append((f"np.{u}", Entry(ufunc, constant=np.float64)))
        # NumPy has no object loop for logaddexp, copysign or float_power: np.<u> cannot run
        # on object arrays of anything (dg.<name> covers object arrays of those rows).
        if has_object_loop(ufunc):
            out.append((f"np.{u}-object", Entry(ufunc, objects=True, numpy_object_loop=True)))
    return out


def entry_params():
    params = []
    for r in RULES:
        for name, entry in entries(r):
            for which in var_sets(r):
                # np.arctan2, np.hypot and np.fmod on object arrays call x.arctan2(y): NumPy
                # cannot run them with a number as the first operand, whatever y is.
                if entry.numpy_object_loop and 0 not in which \
                        and object_loop_calls_method(entry.call):
                    continue
                params.append(pytest.param(r, which, entry,
                                           id=f"{r.name}-{name}-{var_set_ids[which]}"))
    return params


@pytest.mark.parametrize("rule, which, entry", entry_params())
def test_every_entry_point_records_the_row(rule, which, entry, rule_points):
    points = rule_points(rule, n=8)
    with dg.Tape() as tape:
        xs = [tape.var([p[i] for i in which]) for p in points]
        rows = [arguments(rule, p, which, x, entry.constant) for p, x in zip(points, xs)]
        outs = entry(rows)
    for p, x, y in zip(points, xs, outs):
        value = fn(rule)(*p)
        g = tape.gradient(y, x)
        want = [dual_partials(rule, p)[i] for i in which]
        if isinstance(y, dg.Var) and entry.math:
            # dualgrad.math keeps math's values (CPython computes gamma and lgamma itself), so
            # a derivative that reuses the value may differ from dg's in the last bits.
            assert y.value == getattr(math, rule.math)(*p), (rule.name, p)
            np.testing.assert_allclose(g, want, rtol=1e-14, atol=0, err_msg=f"{rule.name}{p}")
        elif isinstance(y, dg.Var) and entry.numpy_object_loop:
            # NumPy's object loops for reciprocal and square compute 1 / x and x * x: other
            # rows, whose partials (-ans / x, x + x) may differ from the row's in the last bit.
            assert y.value == value, (rule.name, p)
            np.testing.assert_allclose(g, want, rtol=1e-15, atol=0, err_msg=f"{rule.name}{p}")
        elif isinstance(y, dg.Var):
            assert y.value == value, (rule.name, p)
            assert g.tolist() == want, (rule.name, p)
        else:
            # NumPy's object loops for floor, ceil, trunc and sign return ints, and those for
            # maximum and minimum the larger (smaller) operand, which may be the number:
            # exact values, constants on the tape, where the row's derivative is zero.
            assert isinstance(y, (int, float)) and y == value, (rule.name, p, y)
            assert g.tolist() == want == [0.0] * len(which)


def test_integer_constants_are_numbers():
    with dg.Tape() as tape:
        x = tape.var(0.7)
        ys = [x ** 2, 2 ** x, x * 3, 3 - x, 1 / x, dg.power(x, 2), dg.polygamma(1, x),
              dg.polygamma(np.int64(1), x), np.power(x, np.int64(3)), dg.math.pow(x, 2)]
    want = [2 * 0.7, 2 ** 0.7 * math.log(2), 3.0, -1.0, -1 / 0.7 ** 2, 2 * 0.7,
            dg.polygamma(2, 0.7), dg.polygamma(2, 0.7), 3 * 0.7 ** 2, 2 * 0.7]
    np.testing.assert_allclose([tape.gradient(y, x) for y in ys], want, rtol=1e-15)


# ---------------------------------------------------------------------------
# Several outputs: the Jacobian, vjp; intermediates; constants


def record_all_points(rule, points):
    """One tape holding the row at every point: inputs are all differentiated operands of
    all points (flattened), outputs the row at each point and their sum."""
    cont = continuous_operands(rule)
    with dg.Tape() as tape:
        xs = tape.var([p[i] for p in points for i in cont])
        outs = [fn(rule)(*arguments(rule, p, cont, xs[k * len(cont):(k + 1) * len(cont)]))
                for k, p in enumerate(points)]
        total = outs[0]
        for y in outs[1:]:
            total = total + y
    return tape, xs, outs + [total]


@by_name
def test_jacobian_of_several_outputs_equals_rowwise_gradients(rule, rule_points):
    points = rule_points(rule, n=6)
    cont = continuous_operands(rule)
    tape, xs, ys = record_all_points(rule, points)
    jac = tape.jacobian(ys, xs)
    assert jac.shape == (len(ys), len(xs))
    rows = np.array([tape.gradient(y, xs) for y in ys])
    assert jac.tolist() == rows.tolist()
    assert tape.gradient(ys, xs).tolist() == jac.tolist()
    # Block-diagonal: output k depends on the operands of point k only.
    want = np.zeros((len(points), len(xs)))
    for k, p in enumerate(points):
        want[k, k * len(cont):(k + 1) * len(cont)] = [dual_partials(rule, p)[i] for i in cont]
    assert jac[:-1].tolist() == want.tolist()
    np.testing.assert_allclose(jac[-1], want.sum(axis=0), rtol=1e-15)


@by_name
def test_vjp_equals_v_times_jacobian(rule, rule_points):
    tape, xs, ys = record_all_points(rule, rule_points(rule, n=6))
    jac = tape.jacobian(ys, xs)
    rng = rng_for(rule, 1)
    for _ in range(3):
        v = rng.standard_normal(len(ys))
        got = tape.vjp(ys, xs, v)
        assert isinstance(got, np.ndarray) and got.shape == (len(xs),)
        np.testing.assert_allclose(got, v @ jac, rtol=1e-13,
                                   atol=1e-13 * (np.abs(v) @ np.abs(jac)).max())
    # One output and one input: a float.
    w = tape.vjp(ys[0], xs[0], [2.0])
    assert isinstance(w, float) and w == 2.0 * jac[0, 0]
    # A basis vector picks one row.
    for k in range(len(ys)):
        assert tape.vjp(ys, xs, np.eye(len(ys))[k]).tolist() == jac[k].tolist()


@by_name
def test_gradient_with_respect_to_intermediate_vars(rule, rule_points):
    cont = continuous_operands(rule)
    for p in rule_points(rule, n=6):
        with dg.Tape() as tape:
            a = tape.var([p[i] for i in cont])
            m = [v * 1.0 for v in a]                 # intermediates holding the same values
            y = fn(rule)(*arguments(rule, p, cont, m))
            z = y + 3.0 * a[0]                       # a second path from a[0] to z
        partials = [dual_partials(rule, p)[i] for i in cont]
        assert tape.gradient(y, m).tolist() == partials
        assert tape.gradient(z, m).tolist() == partials
        assert tape.gradient(z, a).tolist() == [partials[0] + 3.0] + partials[1:]
        assert tape.gradient(z, y) == 1.0 and tape.gradient(y, y) == 1.0
        # Nothing recorded after y flows back into it.
        assert tape.gradient(y, [y, z]).tolist() == [1.0, 0.0]


def test_constant_outputs_give_zeros():
    with dg.Tape() as tape:
        x = tape.var([0.3, -1.2, 2.0])
        y = x[0] * dg.sin(x[1])                      # does not depend on x[2]
    assert tape.gradient(2.5, x).tolist() == [0.0, 0.0, 0.0]
    assert tape.gradient(3, x[0]) == 0.0 and isinstance(tape.gradient(3, x[0]), float)
    assert tape.gradient(np.float64(1.5), x).tolist() == [0.0] * 3
    assert tape.gradient(y, x)[2] == 0.0
    jac = tape.jacobian([y, 1.0, x[2], 7], x)
    np.testing.assert_array_equal(jac, [[math.sin(-1.2), 0.3 * math.cos(-1.2), 0.0],
                                        [0.0] * 3, [0.0, 0.0, 1.0], [0.0] * 3])
    assert tape.vjp([1.0, 2.0], x, [1.0, 1.0]).tolist() == [0.0] * 3
    assert tape.hvp(4.0, x, [1.0, 2.0, 3.0]).tolist() == [0.0] * 3
    assert tape.hessian(4.0, x).tolist() == [[0.0] * 3] * 3
    assert tape.hessian(y, x)[2].tolist() == [0.0] * 3


def test_gradient_shapes():
    with dg.Tape() as tape:
        x = tape.var([0.5, 1.5])
        s = tape.var(0.25)
        y = x[0] * x[1] * s
    assert isinstance(s, dg.Var) and isinstance(x, list) and len(x) == 2
    assert isinstance(tape.gradient(y, s), float)
    assert tape.gradient(y, x).shape == (2,)
    assert tape.gradient(y, (s,)).shape == (1,)
    assert tape.gradient(y, np.array(x, dtype=object)).shape == (2,)
    assert tape.gradient([y], x).shape == (1, 2)
    assert tape.gradient([y, y], s).shape == (2, 1)
    assert tape.jacobian([y], x).shape == (1, 2)
    assert tape.hessian(y, x).shape == (2, 2) and isinstance(tape.hessian(y, s), float)
    assert isinstance(tape.hvp(y, s, 1.0), float) and tape.hvp(y, x, [1, 0]).shape == (2,)
    assert tape.gradient(y, []).shape == (0,)
    assert len(tape) == 3 + 2 and tape.recording is False


def test_derivatives_while_recording_then_recording_more():
    with dg.Tape() as tape:
        x = tape.var([0.5, 2.0])
        y = x[0] * x[1]
        g1 = tape.gradient(y, x)
        h1 = tape.hessian(y, x)
        z = y
        for _ in range(3000):                        # the tape grows past its first arrays
            z = dg.sin(z) * x[1] + x[0]
        g2 = tape.gradient(y, x)
        gz = tape.gradient(z, x)
    assert g1.tolist() == g2.tolist() == [2.0, 0.5]
    assert h1.tolist() == tape.hessian(y, x).tolist() == [[0.0, 1.0], [1.0, 0.0]]
    assert gz.tolist() == tape.gradient(z, x).tolist()
    assert tape.gradient(y, x).tolist() == [2.0, 0.5]


def test_results_are_new_arrays():
    with dg.Tape() as tape:
        x = tape.var([0.5, 2.0])
        y = x[0] * x[1]
        z = dg.exp(x[0]) + x[1]
    g, gz = tape.gradient(y, x), tape.gradient(z, x)
    jac, v = tape.jacobian([y, z], x), tape.vjp([y, z], x, [1.0, 1.0])
    h, hv = tape.hessian(z, x), tape.hvp(y, x, [1.0, 0.0])
    tape.gradient(z, x), tape.jacobian([z, y], x), tape.hessian(y, x), tape.hvp(z, x, [1.0, 1.0])
    assert g.tolist() == [2.0, 0.5] and gz.tolist() == [math.exp(0.5), 1.0]
    assert jac.tolist() == [[2.0, 0.5], [math.exp(0.5), 1.0]]
    assert v.tolist() == [2.0 + math.exp(0.5), 1.5]
    assert h.tolist() == [[math.exp(0.5), 0.0], [0.0, 0.0]] and hv.tolist() == [0.0, 1.0]


# ---------------------------------------------------------------------------
# Second derivatives: hvp and Hessian against PyTorch and finite differences


def torch_hessian_and_hvp(torch, rule, point, which, v):
    f = torch_function(torch, rule)

    def constant(c):
        return torch.tensor(c, dtype=torch.float64)

    def g(t):
        return f(*arguments(rule, point, which, [t[k] for k in range(len(which))], constant))

    t = torch.tensor([point[i] for i in which], dtype=torch.float64)
    h = torch.autograd.functional.hessian(g, t)
    hv = torch.autograd.functional.hvp(g, t, torch.tensor(v, dtype=torch.float64))[1]
    return h.numpy(), hv.numpy()


def hessian_by_differences(rule, point, which):
    """Central differences of the tape gradient, one column per operand."""
    columns = []
    for k, i in enumerate(which):
        def grad_along(v):
            p = list(point)
            p[i] = v
            return tape_gradient_at(rule, p, which)

        columns.append(five_point(grad_along, point[i], 1e-4 * max(1.0, abs(point[i]))))
    return np.array(columns).T


# Second derivatives of these go through PyTorch's polygamma of order >= 1, accurate to
# about 1e-10 (see TORCH_RTOL in conftest).
TORCH_HESSIAN_RTOL = {"digamma": 1e-9, "polygamma": 1e-9, "lgamma": 1e-9, "gamma": 1e-9,
                      "beta": 1e-9, "betaln": 1e-9}
# PyTorch has no second derivative of remainder ("derivative for aten::remainder is not
# implemented"): these rows are checked against finite differences alone.
NO_TORCH_SECOND_DERIVATIVE = {"remainder"}


@pytest.mark.parametrize("rule, which", params_with_var_sets(SMOOTH))
def test_hessian_and_hvp_match_torch_and_differences(rule, which, rule_points):
    torch = pytest.importorskip("torch")
    rtol = TORCH_HESSIAN_RTOL.get(rule.name, 1e-12)
    rng = rng_for(rule, 2)
    for point in rule_points(rule, n=8):
        with dg.Tape() as tape:
            xs = tape.var([point[i] for i in which])
            y = fn(rule)(*arguments(rule, point, which, xs))
        h = tape.hessian(y, xs)
        v = rng.standard_normal(len(which))
        hv = tape.hvp(y, xs, v)
        # Rows linear in an operand have exact zeros where PyTorch may leave rounding noise.
        scale = max(1.0, np.abs(h).max())
        if rule.name not in NO_TORCH_SECOND_DERIVATIVE:
            th, thv = torch_hessian_and_hvp(torch, rule, point, which, v)
            np.testing.assert_allclose(h, th, rtol=rtol, atol=rtol * scale,
                                       err_msg=f"{rule.name}{point}")
            np.testing.assert_allclose(hv, thv, rtol=rtol, atol=rtol * scale * np.abs(v).sum(),
                                       err_msg=f"{rule.name}{point}")
        np.testing.assert_allclose(hv, h @ v, rtol=1e-13, atol=1e-13 * scale * np.abs(v).sum())
        fd = hessian_by_differences(rule, point, which)
        np.testing.assert_allclose(h, fd, rtol=1e-6, atol=1e-6 * max(1.0, np.abs(fd).max()),
                                   err_msg=f"{rule.name}{point}")
        np.testing.assert_allclose(h, h.T, rtol=1e-14, atol=1e-14 * scale)
        # hvp along a basis vector is a column of the Hessian, and one Var gives floats.
        for k in range(len(which)):
            assert tape.hvp(y, xs, np.eye(len(which))[k]).tolist() == h[:, k].tolist()
        if len(which) == 1:
            assert tape.hessian(y, xs[0]) == h[0, 0] and tape.hvp(y, xs[0], 2.0) == 2.0 * h[0, 0]


@pytest.mark.parametrize("rule", [r for r in SMOOTH if r.arity == 2 and not integer_operands(r)],
                         ids=lambda r: r.name)
def test_hessian_diagonal_with_a_constant_operand(rule, rule_points):
    # A constant operand is stored in the node in place of its partial: the one-Var
    # Hessian must read it as a constant, not as a partial, and equal the two-Var diagonal.
    for point in rule_points(rule, n=8):
        with dg.Tape() as tape:
            xs = tape.var(list(point))
            h = tape.hessian(fn(rule)(*xs), xs)
            x1 = tape.var(point[0])
            hx = tape.hessian(fn(rule)(x1, point[1]), x1)
            y1 = tape.var(point[1])
            hy = tape.hessian(fn(rule)(point[0], y1), y1)
        assert [hx, hy] == pytest.approx([h[0, 0], h[1, 1]], rel=1e-14, abs=1e-300), \
            (rule.name, point)


def test_hessian_of_a_composition_is_symmetric():
    with dg.Tape() as tape:
        x = tape.var([0.4, -0.8, 1.3])
        y = dg.exp(x[0] * x[1]) * dg.sin(x[2]) + dg.log1p(x[0] ** 2) / dg.hypot(x[1], x[2]) \
            + dg.tanh(x[0] - x[2]) ** 3
    h = tape.hessian(y, x)
    np.testing.assert_allclose(h, h.T, rtol=1e-14, atol=1e-15)
    # hvp with respect to a subset of the inputs: the Hessian's sub-block.
    np.testing.assert_allclose(tape.hessian(y, [x[2], x[0]]), h[np.ix_([2, 0], [2, 0])],
                               rtol=1e-15)
