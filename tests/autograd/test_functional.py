"""dualgrad.autograd.functional against torch.autograd.functional: the same
functions (written once, for either library) at the same float64 points give
the same values, shapes, nesting and errors."""

import numpy as np
import pytest

import dualgrad as dg
from dualgrad.autograd import functional as F

torch = pytest.importorskip("torch")
TF = torch.autograd.functional


def values(t):
    return t.detach().numpy()


def to_dg(arrays, requires_grad=False):
    return tuple(dg.tensor(a, requires_grad=requires_grad) for a in arrays)


def to_torch(arrays, requires_grad=False):
    return tuple(torch.tensor(a, requires_grad=requires_grad) for a in arrays)


def unpack(inputs, single):
    return inputs[0] if single else inputs


def assert_same(ours, theirs):
    """Same nesting (tensor vs tuple), shapes and values (and dtype float64)."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, dg.Tensor), f"expected a Tensor, got {type(ours).__name__}"
        assert tuple(ours.shape) == tuple(theirs.shape)
        assert ours.dtype == dg.float64
        np.testing.assert_allclose(values(ours), theirs.detach().numpy(), rtol=1e-12,
                                   atol=1e-12)
        return
    assert isinstance(ours, tuple), f"expected a tuple, got {type(ours).__name__}"
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        assert_same(o, t)


def assert_detached(result):
    if isinstance(result, tuple):
        for r in result:
            assert_detached(r)
    else:
        assert not result.requires_grad


rng = np.random.default_rng(20240611)
A = rng.standard_normal((2, 3))
B = rng.standard_normal(3)
C = rng.uniform(0.5, 1.5, (3,))

# name -> (function of tensors of either library, input arrays, single input?)
FUNCTIONS = {
    "elementwise": (lambda x: x.exp() * x.sin(), (B,), True),
    "matrix_out": (lambda x: x @ x.T, (A,), True),
    "scalar_out": (lambda x: (x.tanh() ** 2).sum(), (A,), True),
    "two_inputs": (lambda x, y: (x * y.sum()).tanh() + x.log(), (C, B), False),
    "two_outputs": (lambda x: (x.sum(), x ** 3), (B,), True),
    "tuple_tuple": (lambda x, y: (x @ y, (x.exp() * y).sum(1)), (A, B), False),
    "one_element_tuple": (lambda x: (x.sqrt(),), (C,), False),
}

SCALAR_FUNCTIONS = {
    "cubic": (lambda x: (x ** 3).sum() + (x.sin() * x.cos()).sum(), (B,), True),
    "logsumexp": (lambda x: x.logsumexp(0).sum(), (A,), True),
    "two_inputs": (lambda x, y: (x.exp() @ y.sin()).sum() + (y ** 2).sum(), (A, B), False),
    "zero_dim": (lambda x: (x * x).exp(), (np.array(0.3),), True),
}


def call_both(fn_name, name, table, **kwargs):
    f, arrays, single = table[name]
    ours = getattr(F, fn_name)(f, unpack(to_dg(arrays), single), **kwargs)
    theirs = getattr(TF, fn_name)(f, unpack(to_torch(arrays), single), **kwargs)
    return ours, theirs


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_jacobian_matches_torch(name):
    ours, theirs = call_both("jacobian", name, FUNCTIONS)
    assert_same(ours, theirs)
    assert_detached(ours)


def test_jacobian_shapes_are_output_shape_then_input_shape():
    J = F.jacobian(lambda x, y: (x @ y, x.sum()), to_dg((A, B)))
    assert [[tuple(b.shape) for b in row] for row in J] == [[(2, 2, 3), (2, 3)],
                                                              [(2, 3), (3,)]]


@pytest.mark.parametrize("name", list(SCALAR_FUNCTIONS))
def test_hessian_matches_torch(name):
    ours, theirs = call_both("hessian", name, SCALAR_FUNCTIONS)
    assert_same(ours, theirs)
    assert_detached(ours)


def vectors_like(arrays, seed, lib):
    r = np.random.default_rng(seed)
    vs = tuple(r.standard_normal(np.shape(a)) for a in arrays)
    return to_dg(vs) if lib is dg else to_torch(vs)


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_vjp_and_jvp_match_torch(name):
    f, arrays, single = FUNCTIONS[name]
    outs = f(*to_torch(arrays))
    out_arrays = tuple(o.numpy() for o in (outs if isinstance(outs, tuple) else (outs,)))
    out_single = not isinstance(outs, tuple)
    for fn_name, v_arrays, v_single in (("vjp", out_arrays, out_single),
                                        ("jvp", arrays, single)):
        ours = getattr(F, fn_name)(f, unpack(to_dg(arrays), single),
                                   unpack(vectors_like(v_arrays, 1, dg), v_single))
        theirs = getattr(TF, fn_name)(f, unpack(to_torch(arrays), single),
                                      unpack(vectors_like(v_arrays, 1, torch), v_single))
        assert isinstance(ours, tuple) and len(ours) == 2
        assert_same(ours, theirs)
        assert_detached(ours)


@pytest.mark.parametrize("fn_name", ["hvp", "vhp"])
@pytest.mark.parametrize("name", list(SCALAR_FUNCTIONS))
def test_hvp_and_vhp_match_torch(fn_name, name):
    f, arrays, single = SCALAR_FUNCTIONS[name]
    ours = getattr(F, fn_name)(f, unpack(to_dg(arrays), single),
                               unpack(vectors_like(arrays, 2, dg), single))
    theirs = getattr(TF, fn_name)(f, unpack(to_torch(arrays), single),
                                  unpack(vectors_like(arrays, 2, torch), single))
    assert_same(ours, theirs)
    assert_detached(ours)


@pytest.mark.parametrize("fn_name", ["vjp", "jvp", "hvp", "vhp"])
def test_v_may_be_omitted_for_a_single_element(fn_name):
    f = (lambda x: (x ** 3).sum()) if fn_name in ("hvp", "vhp") else (lambda x: x.sin() * x)
    ours = getattr(F, fn_name)(f, dg.tensor([0.7]))
    theirs = getattr(TF, fn_name)(f, torch.tensor([0.7], dtype=torch.float64))
    assert_same(ours, theirs)


def test_create_graph_results_are_differentiable_like_torch():
    f = lambda x, y: (x.sin() * y, (x * y).exp().sum())  # noqa: E731
    x, y = to_dg((C, C[::-1].copy()), requires_grad=True)
    tx, ty = to_torch((C, C[::-1].copy()), requires_grad=True)
    J = F.jacobian(f, (x, y), create_graph=True)
    TJ = TF.jacobian(f, (tx, ty), create_graph=True)
    assert all(b.requires_grad for row in J for b in row)
    total = sum(((b ** 2).sum() for row in J for b in row), dg.tensor(0.0))
    ttotal = sum(((b ** 2).sum() for row in TJ for b in row), torch.tensor(0.0))
    gx, gy = dg.autograd.grad(total, (x, y))
    tgx, tgy = torch.autograd.grad(ttotal, (tx, ty))
    np.testing.assert_allclose(values(gx), tgx.numpy(), rtol=1e-12)
    np.testing.assert_allclose(values(gy), tgy.numpy(), rtol=1e-12)


def test_create_graph_hessian_and_hvp_differentiate_again():
    f = lambda x: (x ** 4).sum() * x.sin().sum()  # noqa: E731
    x = dg.tensor(B, requires_grad=True)
    tx = torch.tensor(B, requires_grad=True)
    H = F.hessian(f, x, create_graph=True)
    TH = TF.hessian(f, tx, create_graph=True)
    assert_same(H, TH)
    g, = dg.autograd.grad(H.sum(), x)
    tg, = torch.autograd.grad(TH.sum(), tx)
    np.testing.assert_allclose(values(g), tg.numpy(), rtol=1e-10)
    v = dg.tensor(C)
    out, hv = F.hvp(f, x, v, create_graph=True)
    tout, thv = TF.hvp(f, tx, torch.tensor(C), create_graph=True)
    assert out.requires_grad and hv.requires_grad
    g, = dg.autograd.grad(hv.sum(), x)
    tg, = torch.autograd.grad(thv.sum(), tx)
    np.testing.assert_allclose(values(g), tg.numpy(), rtol=1e-10)


def test_inputs_are_left_alone():
    x = dg.tensor(B)                              # does not require grad
    y = dg.tensor(C, requires_grad=True)          # requires grad
    for fn in (lambda: F.jacobian(lambda a, b: a * b, (x, y)),
               lambda: F.vjp(lambda a, b: (a * b).sum(), (x, y)),
               lambda: F.jvp(lambda a, b: a * b, (x, y), (dg.ones(3), dg.ones(3))),
               lambda: F.hessian(lambda a, b: (a * b * b).sum(), (x, y)),
               lambda: F.hvp(lambda a, b: (a * b * b).sum(), (x, y), (dg.ones(3), dg.ones(3)))):
        result = fn()
        assert_detached(result)
        assert not x.requires_grad and x.grad is None
        assert y.requires_grad and y.is_leaf and y.grad is None
    np.testing.assert_array_equal(values(x), B)


def test_without_create_graph_results_do_not_require_grad_even_inside_enable_grad():
    x = dg.tensor(B, requires_grad=True)
    out, g = F.vjp(lambda a: a.exp().sum(), x)
    assert not out.requires_grad and not g.requires_grad


def test_an_unused_input_gives_zeros_and_strict_raises():
    f = lambda x, y: x ** 2  # noqa: E731
    ours = F.jacobian(f, to_dg((B, C)))
    theirs = TF.jacobian(f, to_torch((B, C)))
    assert_same(ours, theirs)
    assert not values(ours[1]).any()
    with pytest.raises(RuntimeError, match="independent of input 1"):
        F.jacobian(f, to_dg((B, C)), strict=True)
    with pytest.raises(RuntimeError, match="independent of input 1"):
        F.vjp(lambda x, y: (x ** 2).sum(), to_dg((B, C)), strict=True)
    with pytest.raises(RuntimeError, match="independent of input 1"):
        F.vhp(lambda x, y: (x ** 3).sum(), to_dg((B, C)), to_dg((B, C)), strict=True)


def test_strict_rejects_outputs_that_do_not_require_grad():
    const = lambda x: dg.ones(3)  # noqa: E731
    J = F.jacobian(const, dg.tensor(B))
    assert_same(J, TF.jacobian(lambda x: torch.ones(3, dtype=torch.float64),
                               torch.tensor(B)))
    with pytest.raises(RuntimeError, match="does not require gradients"):
        F.jacobian(const, dg.tensor(B), strict=True)


def test_strict_hessian_of_a_linear_function_raises():
    with pytest.raises(RuntimeError, match="jacobian of the user-provided function"):
        F.hessian(lambda x: (2 * x).sum(), dg.tensor(B), strict=True)
    H = F.hessian(lambda x: (2 * x).sum(), dg.tensor(B))
    assert tuple(H.shape) == (3, 3) and not values(H).any()


@pytest.mark.parametrize("fn_name, v, message", [
    ("vjp", dg.ones(4), r"v has invalid size: should be \(3,\) but got \(4,\)"),
    ("vjp", None, "v can only be None"),
    ("jvp", (dg.ones(3), dg.ones(3)), "should contain a single Tensor"),
    ("hvp", dg.ones(2), "invalid size"),
])
def test_invalid_v(fn_name, v, message):
    f = (lambda x: (x ** 2).sum()) if fn_name == "hvp" else (lambda x: x ** 2)
    with pytest.raises(RuntimeError, match=message):
        getattr(F, fn_name)(f, dg.tensor(B), v)


def test_invalid_v_tuple_length():
    with pytest.raises(RuntimeError, match="tuple of invalid length: should be 2 but got 1"):
        F.jvp(lambda x, y: x * y, to_dg((B, C)), (dg.ones(3),))


def test_inputs_must_be_tensors():
    with pytest.raises(TypeError, match="must be either a Tensor or a tuple of Tensors"):
        F.jacobian(lambda x: x, [1.0, 2.0])
    with pytest.raises(TypeError, match="value at index 1"):
        F.jacobian(lambda x, y: x, (dg.tensor(B), 2.0))
    with pytest.raises(TypeError, match="outputs of the user-provided function"):
        F.vjp(lambda x: 3.0, dg.tensor(B))


def test_hessian_and_hvp_need_a_single_element_output():
    with pytest.raises(RuntimeError, match="should contain a single element"):
        F.hessian(lambda x: x ** 2, dg.tensor(B))
    with pytest.raises(RuntimeError, match="should return a single Tensor"):
        F.hessian(lambda x: (x.sum(), x.sum()), dg.tensor(B))
    with pytest.raises(RuntimeError, match="should contain a single element"):
        F.hvp(lambda x: x ** 2, dg.tensor(B), dg.ones(3))


def test_strategies_and_vectorize():
    f = FUNCTIONS["tuple_tuple"][0]
    assert_same(F.jacobian(f, to_dg((A, B)), strategy="forward-mode"),
                TF.jacobian(f, to_torch((A, B)), strategy="forward-mode", vectorize=True))
    g = SCALAR_FUNCTIONS["two_inputs"][0]
    assert_same(F.hessian(g, to_dg((A, B)), outer_jacobian_strategy="forward-mode"),
                TF.hessian(g, to_torch((A, B))))
    with pytest.raises(ValueError, match="reverse-mode"):
        F.jacobian(lambda x: x, dg.tensor(B), strategy="sideways")
    with pytest.raises(RuntimeError, match="not supported together"):
        F.jacobian(lambda x: x, dg.tensor(B), strict=True, vectorize=True)
    f = FUNCTIONS["tuple_tuple"][0]
    assert_same(F.jacobian(f, to_dg((A, B)), vectorize=True), TF.jacobian(f, to_torch((A, B))))
    g = SCALAR_FUNCTIONS["two_inputs"][0]
    assert_same(F.hessian(g, to_dg((A, B)), vectorize=True), TF.hessian(g, to_torch((A, B))))


def test_jacobian_of_an_output_without_elements():
    J = F.jacobian(lambda x: x[:0] * 2, dg.tensor(B))
    assert tuple(J.shape) == (0, 3)


def test_integer_inputs_can_not_be_differentiated():
    with pytest.raises(RuntimeError, match="floating point"):
        F.jacobian(lambda x: x * 2, dg.tensor([1, 2, 3]))
