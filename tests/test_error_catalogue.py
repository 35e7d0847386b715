"""The catalogue of misuse: each row is a mistake a user can make, the exception
it must raise and what the message must say (the problem and the fix).

A row is (id, callable, exception type, regex of the message). Messages are
matched with ``re.search``; every row also checks that the exception is not one
of Python's arithmetic errors or NumPy's confusing internals.
"""

import math
import pickle
import warnings

import numpy as np
import pytest

import dualgrad as dg


def _tape_with_a_var():
    tape = dg.Tape()
    with tape:
        v = tape.var(1.0)
        _ = v * 2.0
    return tape, v


def _pickle_tape():
    tape, _ = _tape_with_a_var()
    pickle.dumps(tape)


def _pickle_var():
    _, v = _tape_with_a_var()
    pickle.dumps(v)


def _pickle_recording():
    pickle.dumps(dg.record(dg.sin, 1.0))


def _pickle_non_leaf_tensor():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    pickle.dumps(x * 2)


def _math_on_var():
    with dg.Tape() as tape:
        math.sin(tape.var(1.0))


def _float_of_var():
    with dg.Tape() as tape:
        float(tape.var(1.0))


def _relu_of_var_list():
    # a list of Vars is not a tensor: dg.relu names the scalar-tier alternative
    with dg.Tape() as tape:
        dg.relu(tape.var([1.0, -1.0]))


def _written_into_a_float_array(v):
    g = np.zeros(2)
    g[0] = v[0]
    g[1] = v[1] ** 2
    return g.sum()


def _complex_backward_gradient():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).backward(np.array([1j, 1.0]))


def _complex_grad_outputs():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    dg.autograd.grad(x * 2, x, grad_outputs=[np.array([1j, 1.0])])


ARGNUMS = r"argnums must be an int or a tuple of ints"
TRACED_MATH = r"use dualgrad\.math \(a drop-in for math\)"

CATALOGUE = [
    # argnums
    ("argnums-float", lambda: dg.grad(lambda a, b: a * b, argnums=1.5)(2.0, 3.0),
     TypeError, ARGNUMS + r".*1\.5"),
    ("argnums-str", lambda: dg.jacobian(lambda a: a, argnums="0")(2.0), TypeError, ARGNUMS),
    ("argnums-tuple-of-float", lambda: dg.grad(lambda a, b: a * b, argnums=(0, 1.0))(2.0, 3.0),
     TypeError, ARGNUMS),
    ("argnums-out-of-range", lambda: dg.grad(lambda a, b: a * b, argnums=2)(2.0, 3.0),
     ValueError, r"argnums 2 .*2 positional argument"),
    ("argnums-negative-out-of-range", lambda: dg.hessian(lambda a: a, argnums=-2)(2.0),
     ValueError, r"argnums -2 .*1 positional argument"),
    ("argnums-empty", lambda: dg.grad(lambda a: a, argnums=())(2.0), ValueError, r"empty"),
    # arguments that are not numbers
    ("grad-of-str", lambda: dg.grad(lambda a: a * 2)("1.5"), TypeError,
     r"grad: argument 0 is a str.*numbers"),
    ("grad-of-None", lambda: dg.grad(lambda a: a * 2)(None), TypeError,
     r"grad: argument 0 is None"),
    ("grad-of-bool", lambda: dg.grad(lambda a: a * 2)(True), TypeError,
     r"grad: argument 0 is a bool"),
    ("grad-of-bool-array", lambda: dg.grad(lambda a: a.sum())(np.array([True, False])),
     TypeError, r"grad: argument 0 .*bool"),
    ("grad-of-object-array-with-None", lambda: dg.grad(lambda a: a[0])(np.array([1.0, None])),
     TypeError, r"grad: argument 0 is an object array holding NoneType"),
    ("jacobian-of-list-with-str", lambda: dg.jacobian(lambda a: a)([1.0, "2"]), TypeError,
     r"jacobian: an element of argument 0 is a str"),
    ("jvp-of-str", lambda: dg.jvp(lambda a: a, ("1.5",), (1.0,)), TypeError,
     r"jvp: argument 0 is a str"),
    ("grad-of-a-dual", lambda: dg.grad(lambda a: a * 2)(dg.Dual(1.0, 1.0)), TypeError,
     r"grad: argument 0 holds Dual values of the scalar tier"),
    ("record-at-str", lambda: dg.record(lambda a: a * 2, "1.5"), TypeError,
     r"record: x0 is a str"),
    ("record-at-None", lambda: dg.record(lambda a: a * 2, None), TypeError,
     r"record: x0 is None"),
    ("record-at-bool", lambda: dg.record(lambda a: a * 2, True), TypeError,
     r"record: x0 is a bool"),
    ("record-at-object-array-with-None", lambda: dg.record(lambda a: a[0], np.array([1.0, None])),
     TypeError, r"record: x0 is an object array holding NoneType"),
    ("record-at-list-with-a-bool", lambda: dg.record(lambda a: a[0], [True, 2.5]), TypeError,
     r"record: x0 holds a bool"),
    ("replay-at-str", lambda: dg.record(lambda a: a * 2, 1.0)("2.0"), TypeError,
     r"a str"),
    ("tape-var-str", lambda: dg.Tape().var("1.5"), TypeError, r"Tape.var.* not str"),
    ("tape-var-None", lambda: dg.Tape().var(None), TypeError, r"Tape.var.* not NoneType"),
    ("tape-var-bool", lambda: dg.Tape().var(True), TypeError, r"Tape.var.*not bool"),
    ("tape-var-bool-in-list", lambda: dg.Tape().var([1.0, False]), TypeError,
     r"Tape.var.*not bool"),
    ("tape-var-object-array-with-None", lambda: dg.Tape().var(np.array([1.0, None])),
     TypeError, r"Tape.var.*object array holding NoneType"),
    ("tape-var-bool-array", lambda: dg.Tape().var(np.array([True, False])), TypeError,
     r"Tape.var.*bool"),
    # complex tangents and cotangents
    ("jvp-complex-tangent", lambda: dg.jvp(lambda a: a * 2, (1.0,), (1j,)), TypeError,
     r"jvp: tangent 0 is complex"),
    ("jvp-complex-tangent-array",
     lambda: dg.jvp(lambda a: a * 2, (np.ones(2),), (np.ones(2, complex),)), TypeError,
     r"jvp: tangent 0 is complex"),
    ("vjp-complex-cotangent", lambda: dg.vjp(lambda a: a * 2, 1.0)[1](1j), TypeError,
     r"vjp_fn: cotangent 0 is complex"),
    ("hvp-complex-v", lambda: dg.hvp(lambda a: a ** 3, 1.0, 1j), TypeError,
     r"hvp: v is complex"),
    ("backward-complex-gradient", _complex_backward_gradient, TypeError,
     r"complex.*gradient|gradient.*complex"),
    ("autograd-grad-complex-grad-outputs", _complex_grad_outputs, TypeError, r"complex"),
    # the standard library's math and float() on traced values
    ("math-sin-of-dual", lambda: math.sin(dg.Dual(1.0, 1.0)), TypeError, TRACED_MATH),
    ("float-of-dual", lambda: float(dg.Dual(1.0, 1.0)), TypeError, TRACED_MATH),
    ("math-sin-of-var", _math_on_var, TypeError, TRACED_MATH),
    ("float-of-var", _float_of_var, TypeError, TRACED_MATH),
    ("math-sin-of-dualarray", lambda: math.sin(dg.DualArray(np.ones(()), np.ones(1))),
     TypeError, TRACED_MATH),
    ("math-sin-in-grad", lambda: dg.grad(lambda v: math.sin(v[0]))(np.ones(2)), TypeError,
     TRACED_MATH),
    ("math-exp-in-grad-of-number", lambda: dg.grad(math.exp)(1.0), TypeError, TRACED_MATH),
    ("float-in-jacrev", lambda: dg.jacrev(lambda v: float(v[0]) * v)(np.ones(2)), TypeError,
     TRACED_MATH),
    ("math-cos-in-hessian", lambda: dg.hessian(lambda v: math.cos(v[0]))(np.ones(2)),
     TypeError, TRACED_MATH),
    # math on a whole array: NumPy's functions, not dg.math (which takes numbers)
    ("math-sin-of-an-array-in-grad", lambda: dg.grad(lambda v: np.sum(math.sin(v)))(np.ones(2)),
     TypeError, r"on arrays use NumPy's functions \(np\.sin\) or dg\.sin"),
    # the array tier's error, with what to do, when both tiers fail
    ("written-into-a-float-array", lambda: dg.grad(_written_into_a_float_array)(np.ones(2)),
     TypeError, r"np\.zeros_like\(x\).*np\.stack"),
    # array-level dg functions given scalar-tier values
    ("relu-of-a-list-of-vars", _relu_of_var_list, TypeError, r"dg\.relu.*Var.*\[dg\.relu\(v\)"),
    ("softmax-of-a-dual", lambda: dg.softmax(dg.Dual(1.0, 1.0), 0), TypeError,
     r"softmax.*Dual.*array tier"),
    # pickling handles into a tape or a graph
    ("pickle-tape", _pickle_tape, TypeError, r"a Tape cannot be pickled"),
    ("pickle-var", _pickle_var, TypeError, r"a Var cannot be copied or pickled"),
    ("pickle-recording", _pickle_recording, TypeError, r"a Recording cannot be pickled"),
    ("pickle-non-leaf-tensor", _pickle_non_leaf_tensor, TypeError,
     r"non-leaf tensor.*detach\(\)"),
]


@pytest.mark.parametrize("make, error, message", [row[1:] for row in CATALOGUE],
                         ids=[row[0] for row in CATALOGUE])
def test_error_catalogue(make, error, message):
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        with pytest.raises(error, match=message) as info:
            make()
    assert not isinstance(info.value, ArithmeticError)


def test_catalogue_ids_are_unique():
    ids = [row[0] for row in CATALOGUE]
    assert len(ids) == len(set(ids))
