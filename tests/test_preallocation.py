"""Writing a value that carries derivatives into a plain NumPy array.

Scientific code preallocates (``dydt = np.zeros(n); dydt[1:-1] = ...``). A
plain array of numbers cannot hold derivatives and NumPy gives dualgrad no way
to take over the write, so every traced value -- Dual, Var, DualArray, Tensor
that requires grad, nested in any way -- refuses it with one TypeError that
says so and names both fixes, ``np.zeros_like(x)`` and ``np.zeros(n, like=x)``,
whatever the tier, the mode and the kind of index. NumPy's own "setting an
array element with a sequence" must never reach the user.
"""

import math

import numpy as np
import pytest
import torch

import dualgrad as dg
from dualgrad.testing import check_grads

X0 = np.array([0.3, -0.7, 1.1, 0.4])
N = len(X0)


def assert_preallocation_error(info):
    error = info.value
    assert type(error) is TypeError, f"{type(error).__name__}: {error}"
    message = str(error)
    assert "NumPy array of plain numbers" in message
    assert "cannot intercept" in message
    assert "np.zeros_like(x)" in message and "np.zeros(n, like=x)" in message
    assert "np.stack" in message
    seen = error
    while seen is not None:             # nowhere in the chain either
        assert "with a sequence" not in str(seen)
        seen = seen.__cause__ or seen.__context__


def raises_preallocation_error(action, *args):
    with pytest.raises(TypeError) as info:
        action(*args)
    assert_preallocation_error(info)


# ---------------------------------------------------------------------------
# The traced values, as f sees them on each tier, mode and nesting

def _dual_objects():
    return np.array([dg.Dual(v, 1.0) for v in X0], dtype=object)


def _dualarray():
    return dg.DualArray(X0, np.ones((1, N)))


def _dualarray_of_dualarrays():
    inner = dg.DualArray(X0, np.ones((1, N)), 1)
    return dg.DualArray(inner, dg.DualArray(np.ones((1, N)), np.zeros((1, 1, N)), 1), 2)


def _tensor():
    return dg.tensor(X0, requires_grad=True) * 2


def _captured(transform):
    """The argument f receives inside ``transform(f)(X0)``: the nested values."""
    seen = []

    def f(x):
        seen.append(x)
        return np.sum(np.sin(x) * x)

    transform(f)(X0)
    return seen


def _tensor_of_dualarrays():
    """What f sees under dg.hessian on the array tier: forward over reverse."""
    return next(x for x in _captured(dg.hessian) if isinstance(x, dg.Tensor))


def _dualarray_of_tensors():
    return next(x for x in _captured(lambda f: dg.jacrev(dg.jacfwd(f)))
                if isinstance(x, dg.DualArray) and isinstance(x.value, dg.Tensor))


ARRAYS = {
    "DualArray": _dualarray,
    "DualArray of DualArrays": _dualarray_of_dualarrays,
    "Tensor": _tensor,
    "Tensor of DualArrays": _tensor_of_dualarrays,
    "DualArray of Tensors": _dualarray_of_tensors,
}


# (kind of write, how it writes v -- an array of N traced values -- into g = np.zeros(N))
def _int(g, v):
    g[0] = v[0]


def _negative_int(g, v):
    g[-1] = v[-1] * 2


def _slice(g, v):
    g[1:-1] = v[2:] - v[:-2]


def _whole(g, v):
    g[:] = v


def _ellipsis(g, v):
    g[...] = v


def _fancy(g, v):
    g[[0, 2]] = v[[1, 3]]


def _mask(g, v):
    g[np.array([True, False, True, False])] = v[:2]


def _broadcast_one(g, v):
    g[1:] = v[0]


def _row_of_matrix(g, v):
    m = np.zeros((2, N))
    m[1] = v


def _column_of_matrix(g, v):
    m = np.zeros((N, 2))
    m[:, 0] = v


def _element_of_matrix(g, v):
    m = np.zeros((2, N))
    m[1, 2] = v[2]


def _iadd_slice(g, v):
    g[1:] += v[1:]


def _imul_whole(g, v):
    g *= v


def _iadd_element(g, v):
    g[0] += v[0]


def _ufunc_out(g, v):
    np.add(v, 1.0, out=g)


def _ufunc_at(g, v):
    np.add.at(g, [0, 0], v[:2])


def _loop(g, v):
    for i in range(1, N):
        g[i] = v[i] * v[i - 1]


def _into_int_array(g, v):
    gi = np.zeros(N, dtype=int)
    gi[0] = v[0]


WRITES = [_int, _negative_int, _slice, _whole, _ellipsis, _fancy, _mask, _broadcast_one,
          _row_of_matrix, _column_of_matrix, _element_of_matrix, _iadd_slice, _imul_whole,
          _iadd_element, _ufunc_out, _ufunc_at, _loop, _into_int_array]


@pytest.mark.parametrize("write", WRITES, ids=lambda w: w.__name__.strip("_"))
@pytest.mark.parametrize("make", ARRAYS.values(), ids=ARRAYS.keys())
def test_array_tier_values_refuse_plain_arrays(make, write):
    raises_preallocation_error(write, np.zeros(N), make())


# On the scalar tier f gets object arrays of Duals or Vars. NumPy itself refuses
# in-place arithmetic from them into float arrays before any Dual is
# asked (its casting check): those are covered through the transforms below.
OBJECT_WRITES = [w for w in WRITES if w not in (_iadd_slice, _imul_whole, _ufunc_out,
                                                   _ufunc_at)]


@pytest.mark.parametrize("write", OBJECT_WRITES, ids=lambda w: w.__name__.strip("_"))
def test_object_arrays_of_duals_refuse_plain_arrays(write):
    raises_preallocation_error(write, np.zeros(N), _dual_objects())


@pytest.mark.parametrize("write", OBJECT_WRITES, ids=lambda w: w.__name__.strip("_"))
def test_object_arrays_of_vars_refuse_plain_arrays(write):
    tape = dg.Tape()
    with tape:
        v = np.array(tape.var(X0.tolist()), dtype=object)
        raises_preallocation_error(write, np.zeros(N), v)


def _lone_writes():
    def element(g, d):
        g[2] = d

    def broadcast(g, d):
        g[1:] = d

    def iadd(g, d):
        g += d

    def iadd_element(g, d):
        g[0] += d * d

    def out(g, d):
        np.multiply(d, 2.0, out=g)

    def at(g, d):
        np.add.at(g, [1], d)

    def complex_array(g, d):
        np.zeros(2, dtype=complex)[0] = d

    return [element, broadcast, iadd, iadd_element, out, at, complex_array]


@pytest.mark.parametrize("write", _lone_writes(), ids=lambda w: w.__name__)
def test_lone_dual_and_var_refuse_plain_arrays(write):
    raises_preallocation_error(write, np.zeros(N), dg.Dual(0.5, [1.0, 2.0]))
    tape = dg.Tape()
    with tape:
        raises_preallocation_error(write, np.zeros(N), tape.var(0.5) * 3)


def test_the_tensor_of_the_report():
    t = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    g = np.zeros(3)
    with pytest.raises(TypeError) as info:
        g[0] = t[0] * 2
    assert_preallocation_error(info)
    assert "a Tensor that requires grad" in str(info.value)
    assert g.tolist() == [0.0, 0.0, 0.0]


def test_the_message_names_the_type_written():
    g = np.zeros(3)
    for value, name in ((dg.Dual(1.0), "a Dual"), (_dualarray()[0], "a DualArray"),
                        (_tensor()[0], "a Tensor that requires grad")):
        with pytest.raises(TypeError, match=name):
            g[0] = value


# ---------------------------------------------------------------------------
# What stays as it was: conversions that are not writes into plain arrays

def test_other_conversions_keep_their_errors_and_pytorch_behaviour():
    d = dg.Dual(0.5, 1.0)
    with pytest.raises(TypeError, match="dualgrad.math"):
        float(d)                                    # math.sin(d) lands here
    with pytest.raises(TypeError, match="dualgrad.math"):
        math.sin(d)
    with pytest.raises(TypeError, match="use .value"):
        np.asarray(_dualarray())
    t = dg.tensor([1.0, 2.0], requires_grad=True)
    assert float(t[1] * 2) == 4.0                   # PyTorch gives the value too
    assert int(t[1]) == 2
    with pytest.raises(RuntimeError, match="detach"):
        np.asarray(t)
    g = np.zeros(2)
    g[0] = dg.tensor([3.0])[0]                      # no grad: a plain number, as in PyTorch
    g[1] = float(t[1])                              # asked for explicitly
    assert g.tolist() == [3.0, 2.0]


def test_containers_that_hold_objects_still_take_traced_values():
    d, x = dg.Dual(0.5, 1.0), _dualarray()
    objects = np.zeros(2, dtype=object)
    objects[0] = d
    items = [0.0, 0.0]
    items[0], items[1] = d, x[1]
    assert objects[0] is d and items[0] is d and items[1].tangent[0] == 1.0


def test_dualarray_and_tensor_still_reverse():
    x = _dualarray()
    assert [r.value.item() for r in reversed(x)] == X0[::-1].tolist()
    t = dg.tensor(X0)
    assert [r.item() for r in reversed(t)] == X0[::-1].tolist()
    # still iterable, with a length
    assert len(x) == N and [e.value.item() for e in x] == X0.tolist()


# ---------------------------------------------------------------------------
# Through the transforms: each tier, mode and nesting

def stencil(x):
    dydt = np.zeros(len(x))
    dydt[1:-1] = x[2:] - 2 * x[1:-1] + x[:-2]
    return dydt


def stencil_loop(x):
    dydt = np.zeros(len(x))
    for i in range(1, len(x) - 1):
        dydt[i] = x[i + 1] - 2 * x[i] + x[i - 1]
    return dydt


def accumulate(x):
    g = np.zeros(len(x))
    g[1:] += x[1:] * x[:-1]
    return g


def fancy(x):
    g = np.zeros(len(x))
    g[[0, 2]] = np.sin(x[[1, 3]])
    return g


def loop_with_math(x):
    # dg.math takes numbers only, so this runs on the scalar tier alone
    g = np.zeros(len(x))
    for i in range(len(x)):
        g[i] = dg.math.sin(x[i])
    return g


PREALLOCATING = [stencil, stencil_loop, accumulate, fancy, loop_with_math]


def _sum_of(f):
    def total(x):
        return np.sum(f(x) ** 2)
    total.__name__ = f"sum_of_{f.__name__}"
    return total


TRANSFORMS = {
    "jacobian auto": lambda f: dg.jacobian(f)(X0),
    "jacobian forward": lambda f: dg.jacobian(f, mode="forward")(X0),
    "jacobian reverse": lambda f: dg.jacobian(f, mode="reverse")(X0),
    "jvp": lambda f: dg.jvp(f, (X0,), (np.ones(N),)),
    "vjp": lambda f: dg.vjp(f, X0)[1](np.ones(N)),
    "grad": lambda f: dg.grad(_sum_of(f))(X0),
    "hessian": lambda f: dg.hessian(_sum_of(f))(X0),
    "hvp": lambda f: dg.hvp(_sum_of(f), X0, np.ones(N)),
    "jacfwd of grad": lambda f: dg.jacfwd(dg.grad(_sum_of(f)))(X0),
    "jacrev of jacfwd": lambda f: dg.jacrev(dg.jacfwd(f))(X0),
    "grad of grad": lambda f: dg.grad(lambda y: np.sum(dg.grad(_sum_of(f))(y)))(X0),
    "record": lambda f: dg.record(lambda xs: _sum_of(f)(np.array(xs, dtype=object)), X0),
}
NESTED = ("jacfwd of grad", "jacrev of jacfwd", "grad of grad")


@pytest.mark.parametrize("transform", TRANSFORMS.values(), ids=TRANSFORMS.keys())
@pytest.mark.parametrize("f", PREALLOCATING, ids=lambda f: f.__name__)
def test_transforms_of_preallocating_code(f, transform, request):
    if f is loop_with_math and any(n in request.node.name for n in NESTED):
        # Nested transforms run on the array tier alone, which dg.math refuses:
        # that is the error, and it says why the scalar tier was not taken.
        with pytest.raises(TypeError, match="dualgrad.math") as info:
            transform(f)
        assert "nested transforms run on the array tier" in "".join(info.value.__notes__)
        return
    raises_preallocation_error(transform, f)


def test_the_scalar_tier_alone_says_so_too():
    # f that runs on the scalar tier alone (dg.math) and writes with +=: NumPy's
    # casting error from the object arrays becomes the same error
    def f(x):
        g = np.zeros(len(x))
        g[1:] += np.array([dg.math.sin(e) for e in x[1:]])
        return g

    for mode in ("auto", "forward", "reverse"):
        raises_preallocation_error(lambda: dg.jacobian(f, mode=mode)(X0))


# ---------------------------------------------------------------------------
# The fixes the message names work, on every tier and in both modes

def stencil_fixed(x):
    dydt = np.zeros_like(x)
    dydt[1:-1] = x[2:] - 2 * x[1:-1] + x[:-2] * x[1:-1]
    return dydt


def loop_fixed(x):
    g = np.zeros_like(x)
    g[0] = np.sin(x[0])
    for i in range(1, len(x)):
        g[i] = x[i] * x[i - 1]
    g[1:] += x[1:]
    return g


def _torch_jacobian(f):
    def f_torch(x):
        g = torch.zeros_like(x)
        if f is stencil_fixed:
            g[1:-1] = x[2:] - 2 * x[1:-1] + x[:-2] * x[1:-1]
            return g
        g[0] = torch.sin(x[0])
        for i in range(1, len(x)):
            g[i] = x[i] * x[i - 1]
        return g + torch.cat([torch.zeros(1, dtype=x.dtype), x[1:]])
    return torch.autograd.functional.jacobian(f_torch, torch.tensor(X0)).numpy()


@pytest.mark.parametrize("f", [stencil_fixed, loop_fixed], ids=lambda f: f.__name__)
@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
def test_zeros_like_differentiates(f, mode):
    want = _torch_jacobian(f)
    np.testing.assert_allclose(dg.jacobian(f, mode=mode)(X0), want, rtol=1e-13, atol=1e-15)
    # the array tier's reverse mode directly
    x = dg.tensor(X0, requires_grad=True)
    f(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), want.sum(axis=0), rtol=1e-13, atol=1e-15)
    # the scalar tier (object arrays of Duals and Vars) against central differences
    check_grads(lambda *xs: f(np.array(xs, dtype=object)), tuple(X0), order=2)
