"""The array tier against PyTorch (CPU, float64): values, first derivatives and
Hessian-vector products of every operation.

The harness :func:`check` runs the same function in both libraries on leaves made
from the same random float64 arrays. For the float outputs ``o`` it forms

    loss = sum(u * o) + sum(w * o * o) / 2

with random ``u`` and ``w`` of o's shape (the quadratic term makes the Hessian of
linear operations non-zero, so their backward rules are themselves
differentiated), takes the gradients ``g_i`` of the loss with
``create_graph=True`` and then the gradients of ``sum_i sum(g_i * v_i)`` for
random ``v_i``: a Hessian-vector product. Values, gradients and HVPs must agree
to 1e-10 relative.
"""

import operator

import numpy as np
import pytest
import torch

import dualgrad as dg
from conftest import TORCH_RTOL, integer_operands, rng_for, sample_union, torch_function
from dualgrad._rules.table import BY_NAME, RULES

RTOL, ATOL = 1e-10, 1e-12
F64 = torch.float64


# ---------------------------------------------------------------------------
# The harness

def to_numpy(t):
    """The values of a dualgrad or torch tensor as an ndarray."""
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return np.asarray(t.detach())


def _is_float(t):
    if isinstance(t, torch.Tensor):
        return t.is_floating_point()
    return t.dtype.kind == "f"


def _leaf(lib, a, requires_grad):
    if lib is dg:
        return dg.tensor(a, requires_grad=requires_grad)
    return torch.tensor(a, dtype=F64 if a.dtype.kind == "f" else None, requires_grad=requires_grad)


def _run(lib, fn, arrays, diff, us, ws, vs, quad=True):
    leaves = [_leaf(lib, a, d) for a, d in zip(arrays, diff)]
    out = fn(*leaves)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    xs = [t for t, d in zip(leaves, diff) if d]
    values = [to_numpy(o) for o in outs]
    floats = [o for o in outs if _is_float(o)]
    info = {"outs": outs, "requires_grad": [o.requires_grad for o in floats]}
    loss = None
    for o, u, w in zip(floats, us, ws):
        tu, tw = _leaf(lib, u, False), _leaf(lib, w, False)
        term = (o * tu).sum()
        if quad:
            term = term + (o * o * tw).sum() * 0.5
        loss = term if loss is None else loss + term
    zero = [np.zeros(a.shape) for a, d in zip(arrays, diff) if d]
    if loss is None or not loss.requires_grad:
        return values, zero, zero, info
    # The ordinary backward pass (rules on arrays, fused loops) on a graph of its own...
    leaves1 = [_leaf(lib, a, d) for a, d in zip(arrays, diff)]
    out1 = fn(*leaves1)
    outs1 = list(out1) if isinstance(out1, (tuple, list)) else [out1]
    loss1 = None
    for o, u, w in zip([o for o in outs1 if _is_float(o)], us, ws):
        term = (o * _leaf(lib, u, False)).sum()
        if quad:
            term = term + (o * o * _leaf(lib, w, False)).sum() * 0.5
        loss1 = term if loss1 is None else loss1 + term
    xs1 = [t for t, d in zip(leaves1, diff) if d]
    plain = lib.autograd.grad(loss1, xs1, allow_unused=True)
    info["plain"] = [z if g is None else to_numpy(g) for g, z in zip(plain, zero)]
    # ... and the recorded one (rules on tensors), differentiated again.
    grads = lib.autograd.grad(loss, xs, create_graph=True, allow_unused=True)
    second = None
    for g, v in zip(grads, vs):
        if g is not None and g.requires_grad:
            term = (g * _leaf(lib, v, False)).sum()
            second = term if second is None else second + term
    grads_np = [z if g is None else to_numpy(g) for g, z in zip(grads, zero)]
    if second is None:
        return values, grads_np, zero, info
    hvp = lib.autograd.grad(second, xs, allow_unused=True)
    hvp_np = [z if h is None else to_numpy(h) for h, z in zip(hvp, zero)]
    return values, grads_np, hvp_np, info


def check(dg_fn, torch_fn, *arrays, diff=None, seed=0, rtol=RTOL, atol=ATOL, rtol2=None,
          sym=(), value_rtol=None, quad=True):
    """Compare ``dg_fn`` and ``torch_fn`` on leaves made from ``arrays``.

    ``diff``: which arrays are differentiated (default: the float ones). ``sym``:
    indices of inputs whose HVP direction ``v`` is made symmetric. ``rtol2``: the
    tolerance of the second derivatives (default ``rtol``). ``quad=False`` drops the
    quadratic term of the loss (the HVP is then u * f'' * v for an elementwise f,
    with no cancellation between terms). Returns (dg results,
    torch results), each (values, grads, hvps, info).
    """
    arrays = [np.asarray(a) for a in arrays]
    arrays = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays]
    if diff is None:
        diff = [a.dtype.kind == "f" for a in arrays]
    rng = np.random.default_rng(seed + 12345)
    # A torch run without the loss first, for the output shapes.
    with torch.no_grad():
        probe = torch_fn(*[_leaf(torch, a, False) for a in arrays])
    probe = list(probe) if isinstance(probe, (tuple, list)) else [probe]
    shapes = [tuple(o.shape) for o in probe if o.is_floating_point()]
    us = [rng.standard_normal(s) for s in shapes]
    ws = [rng.standard_normal(s) for s in shapes]
    vs = []
    for i, a in enumerate(a for a, d in zip(arrays, diff) if d):
        v = rng.standard_normal(a.shape)
        if i in sym:
            v = v + np.swapaxes(v, -1, -2)
        vs.append(v)
    got = _run(dg, dg_fn, arrays, diff, us, ws, vs, quad)
    want = _run(torch, torch_fn, arrays, diff, us, ws, vs, quad)
    vr = rtol if value_rtol is None else value_rtol
    assert len(got[0]) == len(want[0]), "number of outputs"
    for k, (a, b) in enumerate(zip(got[0], want[0])):
        assert a.shape == b.shape, f"output {k}: shape {a.shape}, torch {b.shape}"
        if b.dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=vr, atol=atol, err_msg=f"value of output {k}")
        else:
            np.testing.assert_array_equal(a, b, err_msg=f"value of output {k}")
    assert got[3]["requires_grad"] == want[3]["requires_grad"], "outputs' requires_grad"
    for k, (a, b) in enumerate(zip(got[3].get("plain", got[1]), want[3].get("plain", want[1]))):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, strict=True,
                                   err_msg=f"first derivative w.r.t. input {k} (plain backward)")
    for k, (a, b) in enumerate(zip(got[1], want[1])):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, strict=True,
                                   err_msg=f"first derivative w.r.t. input {k} (create_graph)")
    for k, (a, b) in enumerate(zip(got[2], want[2])):
        np.testing.assert_allclose(a, b, rtol=rtol2 or rtol, atol=atol, strict=True,
                                   err_msg=f"Hessian-vector product w.r.t. input {k}")
    return got, want


def both(f):
    """(dg function, torch function) from one function of (library, *tensors)."""
    return (lambda *xs: f(dg, *xs)), (lambda *xs: f(torch, *xs))


def check_f(f, *arrays, **kw):
    return check(*both(f), *arrays, **kw)


# ---------------------------------------------------------------------------
# The elementwise rows of the derivative table

SMOOTH = [r for r in RULES if r.smooth]
CONSTANT = [r for r in RULES if not r.smooth]
by_rule = pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)

# PyTorch's trigamma (and the polygammas above it) are accurate to about 1e-10 only
# (see conftest.TORCH_RTOL): it is the derivative of digamma and lgamma, the second
# derivative of lgamma and gamma.
RTOL1 = {**TORCH_RTOL}
# (betaln's digamma(x) - digamma(x + y) magnifies torch's trigamma error in the HVP)
RTOL2 = {**TORCH_RTOL, "lgamma": 1e-9, "gamma": 1e-9, "beta": 1e-7, "betaln": 1e-7}


def sample(rule, i, shape, salt):
    rng = rng_for(rule, salt)
    n = int(np.prod(shape))
    return sample_union(rng, rule.domain[i], n, i in integer_operands(rule)).reshape(shape)


def test_every_row_is_covered():
    """Every row of the table is either smooth (checked against torch) or constant."""
    assert {r.name for r in SMOOTH} | {r.name for r in CONSTANT} == {r.name for r in RULES}
    assert {r.name for r in CONSTANT} == {"floor_divide", "sign", "floor", "ceil", "trunc",
                                          "round"}


def _tol(rule):
    # For the rows whose torch reference is the polygamma family, the loss is linear in
    # the output: the quadratic term would mix torch's trigamma error (1e-10) into the
    # HVP through cancelling terms.
    return dict(rtol=RTOL1.get(rule.name, RTOL), rtol2=RTOL2.get(rule.name, RTOL),
                quad=rule.name not in RTOL2)


@pytest.mark.parametrize("rule", SMOOTH, ids=lambda r: r.name)
@pytest.mark.parametrize("form", ["function", "method"])
def test_row_same_shape(rule, form):
    tf = torch_function(torch, rule)
    if integer_operands(rule):
        # polygamma, jv, iv, kv: an int order, the tensor differentiated
        assert integer_operands(rule) == (0,)
        for n in range(0, 5 if rule.name == "polygamma" else 4):
            x = sample(rule, 1, (3, 4), n)
            if form == "function":
                f = lambda x, n=n: getattr(dg, rule.name)(n, x)  # noqa: E731
            else:
                # torch.Tensor.polygamma(n) is polygamma(n, self): the order first
                f = lambda x, n=n: getattr(x, rule.name)(n)  # noqa: E731
            check(f, lambda x, n=n: tf(n, x), x, **_tol(rule))
        return
    xs = [sample(rule, i, (3, 4), 1) for i in range(rule.arity)]
    if form == "function":
        f = getattr(dg, rule.name)
    else:
        f = lambda x, *y: getattr(x, rule.name)(*y)  # noqa: E731
    check(f, tf, *xs, **_tol(rule))


@pytest.mark.parametrize("rule", [r for r in SMOOTH if r.arity == 2 and not integer_operands(r)],
                         ids=lambda r: r.name)
@pytest.mark.parametrize("shapes", [((3, 1), (4,)), ((4,), (3, 1)), ((2, 3, 4), (3, 1)),
                                    ((), (3,)), ((3,), ())], ids=str)
def test_binary_row_broadcasting(rule, shapes):
    x = sample(rule, 0, shapes[0], 2)
    y = sample(rule, 1, shapes[1], 3)
    check(getattr(dg, rule.name), torch_function(torch, rule), x, y, **_tol(rule))


@pytest.mark.parametrize("rule", [r for r in SMOOTH if r.arity == 2 and not integer_operands(r)],
                         ids=lambda r: r.name)
@pytest.mark.parametrize("side", ["left", "right"])
def test_binary_row_python_scalar(rule, side):
    f, tf = getattr(dg, rule.name), torch_function(torch, rule)
    x = sample(rule, 0, (3, 4), 4)
    y = sample(rule, 1, (3, 4), 5)
    if side == "right":
        s = float(sample(rule, 1, (1,), 6)[0])
        check(lambda x: f(x, s), lambda x: tf(x, torch.tensor(s, dtype=F64)), x, **_tol(rule))
    else:
        s = float(sample(rule, 0, (1,), 7)[0])
        check(lambda y: f(s, y), lambda y: tf(torch.tensor(s, dtype=F64), y), y, **_tol(rule))


def test_polygamma_with_numpy_integer_order():
    rule = BY_NAME["polygamma"]
    x = sample(rule, 1, (5,), 8)
    check(lambda x: dg.polygamma(np.int64(2), x), lambda x: torch.polygamma(2, x), x,
          **_tol(rule))


TORCH_CONSTANT = {"floor_divide": lambda a, b: torch.floor_divide(a, b)}


@pytest.mark.parametrize("rule", CONSTANT, ids=lambda r: r.name)
def test_piecewise_constant_rows_have_zero_gradient(rule):
    xs = [sample(rule, i, (3, 4), 9) for i in range(rule.arity)]
    f = getattr(dg, rule.name)
    leaves = [dg.tensor(x, requires_grad=True) for x in xs]
    out = f(*leaves)
    tf = TORCH_CONSTANT.get(rule.name) or torch_function(torch, rule)
    want = tf(*[torch.tensor(x) for x in xs]).numpy()
    np.testing.assert_array_equal(to_numpy(out), want)
    assert out.requires_grad
    u = np.random.default_rng(0).standard_normal(out.shape)
    grads = dg.autograd.grad((out * dg.tensor(u)).sum(), leaves, create_graph=True,
                             allow_unused=True)
    for g, x in zip(grads, xs):
        assert g is not None
        np.testing.assert_array_equal(to_numpy(g), np.zeros(x.shape))
        if g.requires_grad:
            h = dg.autograd.grad(g.sum(), leaves, allow_unused=True)
            for hi in h:
                assert hi is None or not np.any(to_numpy(hi))
    if rule.name != "floor_divide":  # torch has no derivative for floor_divide
        check(f, tf, *xs)


# ---------------------------------------------------------------------------
# The Python operators

def _op_rule_inputs(name, shape, salt):
    rule = BY_NAME[name]
    return [sample(rule, i, shape, salt) for i in range(2)]


BINOPS = [("add", operator.add), ("subtract", operator.sub), ("multiply", operator.mul),
          ("divide", operator.truediv), ("power", operator.pow), ("remainder", operator.mod)]


@pytest.mark.parametrize("name,op", BINOPS, ids=[b[0] for b in BINOPS])
@pytest.mark.parametrize("form", ["tensors", "broadcast", "scalar_right", "scalar_left", "int_right"])
def test_operators(name, op, form):
    x, y = _op_rule_inputs(name, (3, 4), 10)
    if form == "tensors":
        check(op, op, x, y)
    elif form == "broadcast":
        check(op, op, x[:, :1], y[0])
    elif form == "scalar_right":
        s = float(y[1, 2])
        check(lambda a: op(a, s), lambda a: op(a, s), x)
    elif form == "int_right":
        s = 3 if name != "remainder" else 2
        check(lambda a: op(a, s), lambda a: op(a, s), x)
    else:
        s = float(x[1, 2])
        # torch has no derivative for remainder(Scalar, Tensor): a 0-d tensor for it
        check(lambda b: op(s, b), lambda b: op(torch.tensor(s, dtype=F64), b), y)


@pytest.mark.parametrize("exponent", [0, 1, 2, 3, -1, -2, 0.5, 2.5, -1.5])
def test_power_by_constants(exponent):
    x = np.random.default_rng(1).uniform(0.3, 3.0, (3, 4))
    check(lambda a: a ** exponent, lambda a: a ** exponent, x)


def test_integer_power_of_negative_base():
    x = np.random.default_rng(2).uniform(-3.0, -0.3, (3, 4))
    check(lambda a: a ** 3, lambda a: a ** 3, x)
    check(lambda a: a ** 2, lambda a: a ** 2, x)


def test_floordiv_operator():
    x, y = _op_rule_inputs("floor_divide", (3, 4), 11)
    a, b = dg.tensor(x, requires_grad=True), dg.tensor(y, requires_grad=True)
    out = a // b
    np.testing.assert_array_equal(to_numpy(out), np.floor_divide(x, y))
    ga, gb = dg.autograd.grad(out.sum(), (a, b))
    np.testing.assert_array_equal(to_numpy(ga), 0 * x)
    np.testing.assert_array_equal(to_numpy(gb), 0 * y)
    out = 7.0 // b
    np.testing.assert_array_equal(to_numpy(out), np.floor_divide(7.0, y))


@pytest.mark.parametrize("op", [operator.neg, operator.abs, operator.pos, lambda a: -(-a)],
                         ids=["neg", "abs", "pos", "negneg"])
def test_unary_operators(op):
    x = sample(BY_NAME["abs"], 0, (3, 4), 12)  # nonzero
    check(op, op, x)


@pytest.mark.parametrize("name,op", [("add", operator.iadd), ("sub", operator.isub),
                                     ("mul", operator.imul), ("div", operator.itruediv)])
def test_inplace_operators_on_non_leaf(name, op):
    x = np.random.default_rng(3).uniform(0.5, 2.0, (3, 4))
    y = np.random.default_rng(4).uniform(0.5, 2.0, (4,))

    def f(a, b):
        c = a * 1.0
        c = op(c, b)
        return c

    check(f, f, x, y)


# ---------------------------------------------------------------------------
# Everything else: (id, f(lib, *tensors), array factory)

def randn(*shape):
    return lambda rng: rng.standard_normal(shape)


def uniform(lo, hi, *shape):
    return lambda rng: rng.uniform(lo, hi, shape)


def distinct(*shape):
    """Values with no ties (and gaps of at least 0.05)."""
    def make(rng):
        n = int(np.prod(shape))
        return (rng.permutation(n) * 0.1 + rng.uniform(0, 0.05, n) - n * 0.05).reshape(shape)
    return make


def nonzero_signs(*shape):
    def make(rng):
        return rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
    return make


def well_conditioned(*shape):
    def make(rng):
        n = shape[-1]
        return rng.standard_normal(shape) + 3 * np.eye(n)
    return make


def spd(*shape):
    def make(rng):
        n = shape[-1]
        m = rng.standard_normal(shape)
        return m @ np.swapaxes(m, -1, -2) + n * np.eye(n)
    return make


def fixed(a):
    return lambda rng: np.array(a, dtype=np.float64)


def _mask(shape, seed):
    m = np.random.default_rng(seed).random(shape) < 0.5
    m.flat[0], m.flat[-1] = True, False
    return m


CASES = []


def case(name, f, *makers, **kw):
    CASES.append(pytest.param(f, makers, kw, id=name))


# -- products -------------------------------------------------------------------
MATMUL_SHAPES = [((3,), (3,)), ((3,), (3, 4)), ((3, 4), (4,)), ((3, 4), (4, 5)),
                 ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)), ((2, 3, 4), (2, 4, 5)),
                 ((2, 3, 4), (4,)), ((4,), (2, 4, 3)), ((2, 1, 3, 4), (5, 4, 2)),
                 ((1, 3, 4), (2, 4, 2))]
for sa, sb in MATMUL_SHAPES:
    case(f"matmul{sa}{sb}", lambda L, a, b: L.matmul(a, b), randn(*sa), randn(*sb))
    case(f"@{sa}{sb}", lambda L, a, b: a @ b, randn(*sa), randn(*sb))
case("mm", lambda L, a, b: L.mm(a, b), randn(3, 4), randn(4, 5))
case("Tensor.mm", lambda L, a, b: a.mm(b), randn(3, 4), randn(4, 5))
case("dot", lambda L, a, b: L.dot(a, b), randn(5), randn(5))
case("Tensor.dot", lambda L, a, b: a.dot(b), randn(5), randn(5))
case("outer", lambda L, a, b: L.outer(a, b), randn(3), randn(4))
case("matmul_self", lambda L, a: a @ a, randn(4, 4))
case("matmul_self_T", lambda L, a: a @ a.T, randn(3, 4))
EINSUMS = [("ij,jk->ik", [(3, 4), (4, 5)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
           ("i,i->", [(4,), (4,)]), ("...ij->...ji", [(2, 3, 4)]), ("ij,jk", [(3, 4), (4, 5)]),
           ("ij->", [(3, 4)]), ("ij->j", [(3, 4)]), ("i,j->ij", [(3,), (4,)]),
           ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]), ("ij,ij->i", [(3, 4), (3, 4)]),
           ("ij,jk->i", [(3, 4), (4, 5)]), ("bij,jk->bik", [(2, 3, 4), (4, 2)]),
           ("...i,...i->...", [(2, 3, 4), (3, 4)]), ("ji", [(3, 4)]), ("ij,j", [(3, 4), (4,)]),
           ("ijk->kij", [(2, 3, 4)]), ("i,i,i->", [(4,), (4,), (4,)])]
for sub, shapes in EINSUMS:
    case(f"einsum[{sub}]", lambda L, *xs, sub=sub: L.einsum(sub, *xs), *[randn(*s) for s in shapes])
case("einsum_list_operands", lambda L, a, b: L.einsum("ij,jk->ik", [a, b]), randn(3, 4),
     randn(4, 5))
case("tensordot1", lambda L, a, b: L.tensordot(a, b, dims=1), randn(3, 4), randn(4, 5))
case("tensordot2", lambda L, a, b: L.tensordot(a, b, dims=2), randn(2, 3, 4), randn(3, 4, 5))
case("tensordot0", lambda L, a, b: L.tensordot(a, b, dims=0), randn(2,), randn(3,))
case("tensordot_lists", lambda L, a, b: L.tensordot(a, b, dims=([1, 0], [0, 1])), randn(3, 4),
     randn(4, 3, 2))
case("tensordot_lists2", lambda L, a, b: L.tensordot(a, b, dims=([2], [0])), randn(2, 3, 4),
     randn(4, 5))
case("trace", lambda L, a: L.trace(a), randn(4, 4))
case("trace_rect", lambda L, a: L.trace(a), randn(3, 5))
case("Tensor.trace", lambda L, a: a.trace(), randn(4, 4))
for off in (0, 1, -1, 2, -2):
    case(f"diagonal[{off}]", lambda L, a, off=off: L.diagonal(a, offset=off), randn(4, 5))
case("diagonal3d_12", lambda L, a: L.diagonal(a, 0, 1, 2), randn(2, 3, 4))
case("diagonal3d_02_off1", lambda L, a: L.diagonal(a, offset=1, dim1=0, dim2=2), randn(3, 2, 4))
case("diagonal3d_neg", lambda L, a: a.diagonal(-1, -2, -1), randn(2, 4, 3))
for k in (0, 1, -1, 2):
    case(f"tril[{k}]", lambda L, a, k=k: L.tril(a, diagonal=k), randn(4, 5))
    case(f"triu[{k}]", lambda L, a, k=k: L.triu(a, diagonal=k), randn(4, 5))
case("tril_batched", lambda L, a: L.tril(a), randn(2, 3, 3))
case("triu_method", lambda L, a: a.triu(1), randn(3, 3))
for d in (0, 1, -1):
    case(f"cumsum[{d}]", lambda L, a, d=d: L.cumsum(a, dim=d), randn(3, 4))
case("cumsum1d", lambda L, a: a.cumsum(0), randn(5))
case("cumsum3d", lambda L, a: a.cumsum(1), randn(2, 3, 4))

# -- piecewise and selection ---------------------------------------------------------
case("relu", lambda L, a: L.relu(a), nonzero_signs(3, 4))
case("Tensor.relu", lambda L, a: a.relu(), nonzero_signs(3, 4))
case("sigmoid", lambda L, a: L.sigmoid(a), randn(3, 4))
case("Tensor.sigmoid", lambda L, a: a.sigmoid(), randn(3, 4))
case("sigmoid_large", lambda L, a: L.sigmoid(a), uniform(-30, 30, 3, 4))


def _softplus(L, a, **kw):
    return dg.softplus(a, **kw) if L is dg else torch.nn.functional.softplus(a, **kw)


case("softplus", _softplus, randn(3, 4))
case("softplus_beta", lambda L, a: _softplus(L, a, beta=2.0), randn(3, 4))
case("softplus_threshold", lambda L, a: _softplus(L, a, beta=1.5, threshold=2.0),
     uniform(-4, 4, 3, 4))
case("softplus_large", lambda L, a: _softplus(L, a), uniform(-40, 40, 3, 4))
case("clamp_min", lambda L, a: L.clamp(a, min=-0.3), randn(3, 4))
case("clamp_max", lambda L, a: L.clamp(a, max=0.4), randn(3, 4))
case("clamp_both", lambda L, a: L.clamp(a, -0.5, 0.5), randn(3, 4))
case("Tensor.clamp", lambda L, a: a.clamp(min=-0.5, max=0.5), randn(3, 4))
case("clip", lambda L, a: L.clip(a, -0.5, 0.5), randn(3, 4))
case("clamp_then_square", lambda L, a: L.clamp(a * a, max=1.0) * a, randn(3, 4))
case("where", lambda L, a, b: L.where(L.tensor(_mask((3, 4), 0)), a, b), randn(3, 4), randn(3, 4))
case("where_broadcast", lambda L, a, b: L.where(L.tensor(_mask((3, 4), 1)), a, b), randn(3, 1),
     randn(4))
case("where_scalar_other", lambda L, a: L.where(L.tensor(_mask((3, 4), 2)), a, 0.5), randn(3, 4))
case("where_scalar_input", lambda L, a: L.where(L.tensor(_mask((3, 4), 3)), -1.5, a), randn(3, 4))
case("where_cond_from_tensor", lambda L, a, b: L.where(a > 0, a * b, b), randn(3, 4), randn(3, 4))
case("maximum", lambda L, a, b: L.maximum(a, b), uniform(1, 3, 3, 4), uniform(-0.5, 0.5, 3, 4))
case("maximum_mixed", lambda L, a, b: L.maximum(a, b), nonzero_signs(3, 4), uniform(-0.4, 0.4, 3, 4))
case("minimum_mixed", lambda L, a, b: L.minimum(a, b), nonzero_signs(3, 4), uniform(-0.4, 0.4, 3, 4))
case("maximum_broadcast", lambda L, a, b: L.maximum(a, b), nonzero_signs(3, 1), uniform(-0.4, 0.4, 4))
case("max_elementwise", lambda L, a, b: L.max(a, b), nonzero_signs(3, 4), uniform(-0.4, 0.4, 3, 4))
case("min_elementwise", lambda L, a, b: L.min(a, b), nonzero_signs(3, 4), uniform(-0.4, 0.4, 3, 4))
case("abs", lambda L, a: L.abs(a), nonzero_signs(3, 4))
case("abs_method", lambda L, a: a.abs() * a, nonzero_signs(3, 4))

# -- reductions -------------------------------------------------------------------------
for name in ("sum", "mean"):
    case(f"{name}", lambda L, a, n=name: getattr(L, n)(a), randn(3, 4))
    case(f"{name}_dim1", lambda L, a, n=name: getattr(L, n)(a, dim=1), randn(3, 4))
    case(f"{name}_dim0_keep", lambda L, a, n=name: getattr(L, n)(a, dim=0, keepdim=True),
         randn(3, 4))
    case(f"{name}_dims02", lambda L, a, n=name: getattr(L, n)(a, dim=(0, 2)), randn(2, 3, 4))
    case(f"{name}_dimneg_keep", lambda L, a, n=name: getattr(L, n)(a, -1, True), randn(2, 3, 4))
    case(f"Tensor.{name}", lambda L, a, n=name: getattr(a, n)(1), randn(3, 4))
case("prod", lambda L, a: L.prod(a), nonzero_signs(3, 4))
case("prod_dim1", lambda L, a: L.prod(a, dim=1), nonzero_signs(3, 4))
case("prod_dim0_keep", lambda L, a: L.prod(a, dim=0, keepdim=True), nonzero_signs(3, 4))
case("Tensor.prod", lambda L, a: a.prod(-1), nonzero_signs(2, 3, 4))
case("prod_one_zero", lambda L, a: L.prod(a), fixed([[1.5, 0.0, -0.7], [0.8, 1.2, 2.0]]))
case("prod_dim_one_zero", lambda L, a: L.prod(a, dim=1),
     fixed([[1.5, 0.0, -0.7], [0.8, 1.2, 2.0]]))
case("prod_dim_two_zeros", lambda L, a: L.prod(a, dim=1),
     fixed([[1.5, 0.0, 0.0], [0.8, 1.2, 2.0]]))
for name in ("amax", "amin"):
    case(f"{name}", lambda L, a, n=name: getattr(L, n)(a), distinct(3, 4))
    case(f"{name}_dim1", lambda L, a, n=name: getattr(L, n)(a, dim=1), distinct(3, 4))
    case(f"{name}_dim0_keep", lambda L, a, n=name: getattr(L, n)(a, dim=0, keepdim=True),
         distinct(3, 4))
    case(f"{name}_dims", lambda L, a, n=name: getattr(L, n)(a, dim=(0, 2)), distinct(2, 3, 4))
    case(f"{name}_ties", lambda L, a, n=name: getattr(L, n)(a, dim=1),
         fixed([[1.0, 3.0, 3.0, -2.0], [-1.0, -1.0, -1.0, -1.0], [0.5, 2.0, 0.5, 2.0]]))
for name in ("max", "min"):
    case(f"{name}", lambda L, a, n=name: getattr(L, n)(a), distinct(3, 4))
    case(f"{name}_ties_full", lambda L, a, n=name: getattr(L, n)(a),
         fixed([[1.0, 3.0, 3.0], [-3.0, 0.0, -3.0]]))
    case(f"{name}_dim", lambda L, a, n=name: getattr(L, n)(a, dim=1).values, distinct(3, 4))
    case(f"{name}_dim_tuple", lambda L, a, n=name: getattr(L, n)(a, 0), distinct(3, 4))
    case(f"{name}_dim_keep", lambda L, a, n=name: getattr(L, n)(a, dim=0, keepdim=True)[0],
         distinct(3, 4))
    case(f"Tensor.{name}_dim", lambda L, a, n=name: getattr(a, n)(-1).values, distinct(2, 3, 4))
for name in ("var", "std"):
    case(f"{name}", lambda L, a, n=name: getattr(L, n)(a), randn(3, 4))
    case(f"{name}_dim1", lambda L, a, n=name: getattr(L, n)(a, dim=1), randn(3, 4))
    case(f"{name}_dim0_keep", lambda L, a, n=name: getattr(L, n)(a, dim=0, keepdim=True),
         randn(3, 4))
    case(f"{name}_dims", lambda L, a, n=name: getattr(L, n)(a, dim=(0, 2)), randn(2, 3, 4))
    case(f"{name}_correction0", lambda L, a, n=name: getattr(L, n)(a, dim=1, correction=0),
         randn(3, 4))
    case(f"{name}_unbiased_false", lambda L, a, n=name: getattr(L, n)(a, 1, False), randn(3, 4))
    case(f"Tensor.{name}", lambda L, a, n=name: getattr(a, n)(dim=1, keepdim=True), randn(3, 4))
case("norm", lambda L, a: L.norm(a), randn(3, 4))
case("norm_dim1", lambda L, a: L.norm(a, dim=1), randn(3, 4))
case("norm_dim0_keep", lambda L, a: L.norm(a, dim=0, keepdim=True), randn(3, 4))
case("norm_p1_dim", lambda L, a: L.norm(a, p=1, dim=1), nonzero_signs(3, 4))
case("norm_p3_dim", lambda L, a: L.norm(a, p=3, dim=0, keepdim=True), nonzero_signs(3, 4))
case("norm_p1", lambda L, a: L.norm(a, p=1), nonzero_signs(3, 4))
case("norm_pinf_dim", lambda L, a: L.norm(a, p=float("inf"), dim=1), distinct(3, 4))
case("Tensor.norm", lambda L, a: a.norm(), randn(3, 4))
case("logsumexp_dim1", lambda L, a: L.logsumexp(a, dim=1), randn(3, 4))
case("logsumexp_dim0_keep", lambda L, a: L.logsumexp(a, dim=0, keepdim=True), randn(3, 4))
case("logsumexp_dims", lambda L, a: L.logsumexp(a, dim=(0, 1)), randn(3, 4))
case("logsumexp_large", lambda L, a: L.logsumexp(a, dim=1), uniform(500, 800, 3, 4))
case("Tensor.logsumexp", lambda L, a: a.logsumexp(-1), randn(2, 3, 4))
for d in (0, 1, -1):
    case(f"softmax[{d}]", lambda L, a, d=d: L.softmax(a, dim=d), randn(3, 4))
    case(f"log_softmax[{d}]", lambda L, a, d=d: L.log_softmax(a, dim=d), randn(3, 4))
case("softmax3d", lambda L, a: a.softmax(1), randn(2, 3, 4))
case("log_softmax3d", lambda L, a: a.log_softmax(1), randn(2, 3, 4))
case("softmax_large", lambda L, a: L.softmax(a, dim=1), uniform(-500, 500, 3, 4))

# -- shapes and views -------------------------------------------------------------------------
case("reshape", lambda L, a: a.reshape(4, 3), randn(3, 4))
case("reshape_tuple", lambda L, a: a.reshape((2, -1)), randn(3, 4))
case("reshape_fn", lambda L, a: L.reshape(a, (-1,)), randn(3, 4))
case("view", lambda L, a: a.view(2, 6), randn(3, 4))
case("view_-1", lambda L, a: a.view(-1), randn(3, 4))
case("view_as", lambda L, a, b: a.view_as(b) * b, randn(3, 4), randn(12))
case("flatten", lambda L, a: a.flatten(), randn(2, 3, 4))
case("flatten1", lambda L, a: L.flatten(a, 1), randn(2, 3, 4))
case("flatten02", lambda L, a: a.flatten(0, 1), randn(2, 3, 4))
case("squeeze", lambda L, a: a.squeeze(), randn(3, 1, 4, 1))
case("squeeze1", lambda L, a: L.squeeze(a, 1), randn(3, 1, 4))
case("unsqueeze0", lambda L, a: a.unsqueeze(0), randn(3, 4))
case("unsqueeze-1", lambda L, a: L.unsqueeze(a, -1), randn(3, 4))
case("transpose", lambda L, a: a.transpose(0, 1), randn(3, 4))
case("transpose3d", lambda L, a: L.transpose(a, 0, 2), randn(2, 3, 4))
case("permute", lambda L, a: a.permute(2, 0, 1), randn(2, 3, 4))
case("permute_fn", lambda L, a: L.permute(a, (1, 2, 0)), randn(2, 3, 4))
case("T", lambda L, a: a.T, randn(3, 4))
case("t", lambda L, a: a.t(), randn(3, 4))
case("mT", lambda L, a: a.mT, randn(2, 3, 4))
case("expand", lambda L, a: a.expand(3, 4), randn(3, 1))
case("expand_new_dims", lambda L, a: a.expand(2, 3, 4), randn(3, 1))
case("expand_-1", lambda L, a: a.expand(-1, 4), randn(3, 1))
case("expand_as", lambda L, a, b: a.expand_as(b) * b, randn(1, 4), randn(3, 4))
case("flip", lambda L, a: L.flip(a, [0]), randn(3, 4))
case("flip2", lambda L, a: a.flip((0, 1)), randn(3, 4))
case("repeat", lambda L, a: a.repeat(2, 1), randn(3, 4))
case("repeat_new_dim", lambda L, a: a.repeat(2, 1, 3), randn(3, 4))
case("swapaxes", lambda L, a: a.swapaxes(0, 2), randn(2, 3, 4))

# -- indexing ----------------------------------------------------------------------------------
IDX = {"int": 1, "neg_int": -1, "slice": slice(1, 3), "step": slice(None, None, 2),
       "none": None, "ellipsis_int": (Ellipsis, 1), "int_ellipsis": (1, Ellipsis),
       "none_slice": (None, slice(1, None)), "int_slice": (1, slice(0, 3)),
       "slice_int": (slice(None), 2), "int_int": (2, 1)}
for name, index in IDX.items():
    case(f"getitem[{name}]", lambda L, a, index=index: a[index], randn(3, 4))


def _ints(L, values):
    return L.tensor(np.array(values, dtype=np.int64))


case("getitem[int_array_repeats]", lambda L, a: a[_ints(L, [0, 2, 0, 0])], randn(3, 4))
case("getitem[int_array_dim1]", lambda L, a: a[:, _ints(L, [3, 1, 3])], randn(3, 4))
case("getitem[int_array_pair]", lambda L, a: a[_ints(L, [0, 2, 0]), _ints(L, [1, 1, 1])],
     randn(3, 4))
case("getitem[int_array_2d]", lambda L, a: a[_ints(L, [[0, 1], [1, 1]])], randn(3, 4))
case("getitem[int_array_negative]", lambda L, a: a[_ints(L, [-1, 0, -1])], randn(3, 4))
case("getitem[int_array_3d_mixed]", lambda L, a: a[1:, _ints(L, [0, 0, 2])], randn(2, 3, 4))
case("getitem[bool_mask_full]", lambda L, a: a[L.tensor(_mask((3, 4), 5))], randn(3, 4))
case("getitem[bool_mask_rows]", lambda L, a: a[L.tensor(np.array([True, False, True]))],
     randn(3, 4))
case("getitem[bool_mask_from_values]", lambda L, a: a[a > 0], randn(3, 4))
case("getitem[chain]", lambda L, a: a[1:][:, _ints(L, [0, 0])][0], randn(3, 4))


def _setitem(index_fn):
    def f(L, a, v):
        y = a * 1
        y[index_fn(L)] = v
        return y
    return f


case("setitem[int]", _setitem(lambda L: 1), randn(3, 4), randn(4))
case("setitem[slice]", _setitem(lambda L: slice(1, 3)), randn(3, 4), randn(2, 4))
case("setitem[slice_broadcast]", _setitem(lambda L: slice(1, 3)), randn(3, 4), randn(4))
case("setitem[int_int_scalar]", _setitem(lambda L: (0, 2)), randn(3, 4), randn())
case("setitem[column]", _setitem(lambda L: (slice(None), 1)), randn(3, 4), randn(3))
case("setitem[int_array]", _setitem(lambda L: _ints(L, [2, 0])), randn(3, 4), randn(2, 4))
case("setitem[bool_mask]", _setitem(lambda L: L.tensor(_mask((3, 4), 6))), randn(3, 4),
     randn(int(_mask((3, 4), 6).sum())))
case("setitem[bool_mask_scalar]", _setitem(lambda L: L.tensor(_mask((3, 4), 7))), randn(3, 4),
     randn())


def _setitem_then_use(L, a, v):
    y = L.sin(a)
    y[1:, 0] = v * v
    return y * a


case("setitem_nonlinear", _setitem_then_use, randn(3, 4), randn(2))


def _setitem_twice(L, a, v):
    y = a * 2
    y[0] = v
    y[:, 1] = v[1] * 3
    return y * y


case("setitem_twice", _setitem_twice, randn(3, 4), randn(4))

# -- joining and splitting -----------------------------------------------------------------
case("cat0", lambda L, a, b: L.cat([a, b], dim=0), randn(2, 3), randn(4, 3))
case("cat1", lambda L, a, b, c: L.cat((a, b, c), 1), randn(2, 3), randn(2, 1), randn(2, 2))
case("cat_neg", lambda L, a, b: L.cat([a, b], dim=-1), randn(2, 3, 1), randn(2, 3, 2))
case("cat_same_twice", lambda L, a: L.cat([a, a * a], 0), randn(2, 3))
case("stack0", lambda L, a, b: L.stack([a, b]), randn(2, 3), randn(2, 3))
case("stack1", lambda L, a, b, c: L.stack([a, b, c], dim=1), randn(2, 3), randn(2, 3),
     randn(2, 3))
case("stack_neg", lambda L, a, b: L.stack([a, b], dim=-1), randn(2, 3), randn(2, 3))
case("split_size", lambda L, a: a.split(2, dim=1), randn(3, 5))
case("split_sizes", lambda L, a: L.split(a, [1, 3, 1], dim=1), randn(3, 5))
case("split_dim0", lambda L, a: L.split(a, 1), randn(3, 2))
case("split_weighted_sum", lambda L, a: sum((i + 1.5) * p.sum() * p.sum()
                                           for i, p in enumerate(a.split(2, dim=1))),
     randn(3, 5))
case("chunk", lambda L, a: a.chunk(2, dim=0), randn(5, 2))
case("unbind", lambda L, a: a.unbind(1), randn(3, 4))
case("split_then_reuse", lambda L, a: L.split(a, 2)[0] * L.split(a, 2)[1], randn(4, 3))

# -- copies and conversions -------------------------------------------------------------------
case("clone", lambda L, a: a.clone() * a, randn(3, 4))
case("clone_fn", lambda L, a: L.clone(a), randn(3, 4))
case("detach", lambda L, a: a.detach() * a + a, randn(3, 4))
case("detach_only", lambda L, a: a.detach() * 2, randn(3, 4))
case("float_double", lambda L, a: a.float().double() * a, randn(3, 4))
case("to_float32", lambda L, a: a.to(L.float32).to(L.float64) * a, randn(3, 4))
case("to_dtype_kw", lambda L, a: a.to(dtype=L.float64) * a, randn(3, 4))
case("double_noop", lambda L, a: a.double() * a, randn(3, 4))
case("type_as", lambda L, a, b: a.type_as(b) * b, randn(3, 4), randn(3, 4))
case("contiguous", lambda L, a: a.T.contiguous() * a.T, randn(3, 4))

# -- linear algebra -------------------------------------------------------------------------
case("solve_vector", lambda L, A, b: L.linalg.solve(A, b), well_conditioned(3, 3), randn(3))
case("solve_matrix", lambda L, A, B: L.linalg.solve(A, B), well_conditioned(3, 3), randn(3, 2))
case("solve_batched", lambda L, A, B: L.linalg.solve(A, B), well_conditioned(2, 3, 3),
     randn(2, 3, 2))
case("solve_broadcast_rhs", lambda L, A, B: L.linalg.solve(A, B), well_conditioned(2, 3, 3),
     randn(3, 2))
case("inv", lambda L, A: L.linalg.inv(A), well_conditioned(3, 3))
case("inv_batched", lambda L, A: L.linalg.inv(A), well_conditioned(2, 3, 3))
case("det", lambda L, A: L.linalg.det(A), well_conditioned(3, 3))
case("det_negative", lambda L, A: L.linalg.det(A), fixed([[0.0, 2.0, 0.3], [1.5, 0.1, 0.2],
                                                          [0.4, -0.3, 1.7]]))
case("det_batched", lambda L, A: L.linalg.det(A), well_conditioned(2, 3, 3))
case("slogdet", lambda L, A: L.linalg.slogdet(A).logabsdet, well_conditioned(3, 3))
case("slogdet_tuple", lambda L, A: tuple(L.linalg.slogdet(A)), well_conditioned(3, 3))
case("slogdet_negative", lambda L, A: L.linalg.slogdet(A)[1],
     fixed([[0.0, 2.0, 0.3], [1.5, 0.1, 0.2], [0.4, -0.3, 1.7]]))
case("slogdet_batched", lambda L, A: L.linalg.slogdet(A).logabsdet, well_conditioned(2, 3, 3))
case("cholesky", lambda L, A: L.linalg.cholesky(A), spd(3, 3), sym=(0,))
case("cholesky4", lambda L, A: L.linalg.cholesky(A), spd(4, 4), sym=(0,))
case("cholesky_batched", lambda L, A: L.linalg.cholesky(A), spd(2, 3, 3), sym=(0,))
case("cholesky_of_MMt", lambda L, M: L.linalg.cholesky(M @ M.T + 3 * L.eye(3, dtype=L.float64)),
     randn(3, 3))
case("cholesky_of_MMt_nonsym_direction",
     lambda L, M: L.linalg.cholesky(M @ M.mT + 4 * L.eye(4, dtype=L.float64)), randn(2, 4, 4))
case("linalg.norm_vector", lambda L, x: L.linalg.norm(x), randn(4))
case("linalg.norm_fro", lambda L, A: L.linalg.norm(A), randn(3, 4))
case("linalg.norm_fro_str", lambda L, A: L.linalg.norm(A, "fro"), randn(3, 4))
case("linalg.norm_dim", lambda L, A: L.linalg.norm(A, dim=1), randn(3, 4))
case("linalg.norm_dim_keep", lambda L, A: L.linalg.norm(A, dim=0, keepdim=True), randn(3, 4))
case("linalg.norm_ord1_dim", lambda L, A: L.linalg.norm(A, ord=1, dim=1), nonzero_signs(3, 4))
case("linalg.norm_ord3_vec", lambda L, x: L.linalg.norm(x, ord=3), nonzero_signs(5))
case("linalg.norm_inf_dim", lambda L, A: L.linalg.norm(A, ord=float("inf"), dim=0), distinct(3, 4))
case("linalg.vector_norm", lambda L, A: L.linalg.vector_norm(A), randn(3, 4))
case("linalg.vector_norm_ord", lambda L, A: L.linalg.vector_norm(A, ord=3, dim=1),
     nonzero_signs(3, 4))
case("solve_then_det", lambda L, A, B: L.linalg.det(A) * L.linalg.solve(A, B),
     well_conditioned(3, 3), randn(3, 2))
case("inv_matmul", lambda L, A, B: L.linalg.inv(A) @ B @ A, well_conditioned(3, 3), randn(3, 3))


@pytest.mark.parametrize("f,makers,kw", CASES)
def test_op(f, makers, kw):
    rng = np.random.default_rng(2024)
    arrays = [m(rng) for m in makers]
    check_f(f, *arrays, **kw)


# ---------------------------------------------------------------------------
# Ops checked with extra assertions beyond the harness

def test_max_with_dim_indices_agree():
    a = distinct(3, 4)(np.random.default_rng(5))
    for name in ("max", "min"):
        got = getattr(dg, name)(dg.tensor(a), dim=1)
        want = getattr(torch, name)(torch.tensor(a), dim=1)
        np.testing.assert_array_equal(to_numpy(got.indices), want.indices.numpy())
        np.testing.assert_array_equal(to_numpy(got.values), want.values.numpy())


def test_integer_conversion_drops_the_gradient():
    x = dg.tensor(np.array([1.5, -2.5, 3.0]), requires_grad=True)
    for conv in (lambda t: t.long(), lambda t: t.int(), lambda t: t.to(dg.int64),
                 lambda t: t.bool()):
        y = conv(x)
        assert not y.requires_grad
        assert y.grad_fn is None
    np.testing.assert_array_equal(to_numpy(x.long()), [1, -2, 3])


def test_detach_shares_memory_and_drops_the_graph():
    x = dg.tensor(np.arange(4.0), requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(to_numpy(d), to_numpy(y))
    g, = dg.autograd.grad((d * x).sum(), x)
    np.testing.assert_array_equal(to_numpy(g), to_numpy(d))


def test_slogdet_sign():
    A = np.array([[0.0, 2.0, 0.3], [1.5, 0.1, 0.2], [0.4, -0.3, 1.7]])
    got = dg.linalg.slogdet(dg.tensor(A, requires_grad=True))
    want = torch.linalg.slogdet(torch.tensor(A))
    np.testing.assert_array_equal(to_numpy(got.sign), want.sign.numpy())
    np.testing.assert_allclose(to_numpy(got.logabsdet), want.logabsdet.numpy(), rtol=RTOL)


def test_backward_accumulates_like_torch():
    """.backward() twice (retain_graph) accumulates into .grad as in torch."""
    a = np.random.default_rng(6).standard_normal((3, 4))
    grads = []
    for lib in (dg, torch):
        x = _leaf(lib, a, True)
        y = (lib.sin(x) * x).sum()
        y.backward(retain_graph=True)
        y.backward()
        grads.append(to_numpy(x.grad))
    np.testing.assert_allclose(grads[0], grads[1], rtol=RTOL, atol=ATOL)


def test_clamp_with_tensor_bounds():
    """Tensor bounds that require grad get their share of the gradient (as torch)."""
    rng = np.random.default_rng(7)
    x, lo, hi = rng.standard_normal((3, 4)), rng.uniform(-1.0, -0.2, (3, 4)), rng.uniform(
        0.2, 1.0, (4,))
    check(lambda a, b, c: dg.clamp(a, b, c), lambda a, b, c: torch.clamp(a, b, c), x, lo, hi)


def test_third_order_through_create_graph():
    """Differentiating three times agrees with torch (d^3/dx^3 of a small program)."""
    a = np.random.default_rng(8).uniform(0.5, 1.5, (4,))
    res = []
    for lib in (dg, torch):
        x = _leaf(lib, a, True)
        y = (lib.exp(x) * lib.sin(x) / (1.0 + x * x)).sum()
        g, = lib.autograd.grad(y, x, create_graph=True)
        h, = lib.autograd.grad(g.sum(), x, create_graph=True)
        t, = lib.autograd.grad((h * h).sum(), x)
        res.append([to_numpy(g), to_numpy(h), to_numpy(t)])
    for a_, b_ in zip(*res):
        np.testing.assert_allclose(a_, b_, rtol=RTOL, atol=ATOL)


# Indexes in dualgrad's other spellings (lists, ndarrays, NumPy masks) against torch's.
MASK = _mask((3, 4), 11)
INDEX_SPELLINGS = [
    ("list_repeats", [0, 2, 0], torch.tensor([0, 2, 0])),
    ("ndarray_repeats", np.array([2, 2, 1]), torch.tensor([2, 2, 1])),
    ("ndarray_int32", np.array([1, 0, 1], dtype=np.int32), torch.tensor([1, 0, 1])),
    ("tuple_of_lists", ([0, 1, 1], [3, 3, 0]), (torch.tensor([0, 1, 1]), torch.tensor([3, 3, 0]))),
    ("ndarray_mask", MASK, torch.tensor(MASK)),
    ("slice_and_list", (slice(None), [1, 1, 3]), (slice(None), torch.tensor([1, 1, 3]))),
    ("ellipsis_list", (Ellipsis, [0, 0]), (Ellipsis, torch.tensor([0, 0]))),
    ("none_int", (None, 1), (None, 1)),
    ("numpy_int", np.int64(2), 2),
]


@pytest.mark.parametrize("dg_index,torch_index", [pytest.param(a, b, id=n)
                                                  for n, a, b in INDEX_SPELLINGS])
def test_index_spellings(dg_index, torch_index):
    x = np.random.default_rng(9).standard_normal((3, 4))
    check(lambda a: a[dg_index], lambda a: a[torch_index], x)


def test_setitem_with_array_value_on_non_leaf():
    x = np.random.default_rng(10).standard_normal((3, 4))
    v = np.array([1.5, -2.0, 0.25, 3.0])

    def f(lib):
        def g(a):
            y = a * a
            y[1] = v if lib is dg else torch.tensor(v)
            return y
        return g

    check(f(dg), f(torch), x)


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "prod", "logsumexp", "norm"])
def test_reductions_of_0d_and_1d(name):
    rng = np.random.default_rng(12)
    for a in (np.array(0.7), rng.uniform(0.5, 1.5, 5)):
        dims = [None] if a.ndim == 0 else [None, 0]
        for d in dims:
            if name == "logsumexp" and d is None:
                d = () if a.ndim == 0 else 0
            if d is None:
                check(lambda t: getattr(dg, name)(t), lambda t: getattr(torch, name)(t), a)
            else:
                check(lambda t: getattr(dg, name)(t, dim=d),
                      lambda t: getattr(torch, name)(t, dim=d), a)


# ---------------------------------------------------------------------------
# Divisions by zero follow IEEE arithmetic as NumPy and PyTorch, never Python's errors

@pytest.mark.parametrize("make", [lambda x: x / 0, lambda x: x / 0.0, lambda x: 1.0 / x * 0 / 0,
                                  lambda x: (x * 0) ** -1.0],
                         ids=["x/0", "x/0.0", "x/0*0/0", "reciprocal-power"])
def test_division_by_a_zero_number_backward(make):
    xs = np.array([1.0, -2.0])
    x = dg.tensor(xs, requires_grad=True)
    tx = torch.tensor(xs, requires_grad=True)
    with np.errstate(all="ignore"):
        make(x).sum().backward()
    make(tx).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


@pytest.mark.parametrize("name", ["mean", "var", "std", "sum", "norm"])
@pytest.mark.parametrize("shape", [(0, 3), (1, 3)])
def test_reductions_over_empty_or_single_dimensions(name, shape):
    xs = np.ones(shape)
    x = dg.tensor(xs, requires_grad=True)
    tx = torch.tensor(xs, requires_grad=True)
    kw = {} if name == "norm" else {"dim": 0}
    with np.errstate(all="ignore"):
        y = getattr(x, name)(**kw)
        y.sum().backward()
    ty = getattr(tx, name)(**kw)
    ty.sum().backward()
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_leaf_tensors_pickle_and_non_leaf_ones_refuse():
    import pickle
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    again = pickle.loads(pickle.dumps(x))
    assert again.requires_grad and again.is_leaf
    np.testing.assert_array_equal(again.detach().numpy(), [1.0, 2.0])
    with pytest.raises(TypeError, match="non-leaf"):
        pickle.dumps(x * 2)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps((x * 2).detach())).numpy(), [2., 4.])
