"""Scalar-tier values that were wrong: copies of recordings, complex inputs,
Duals made without __init__, and real numbers' conjugate."""

import copy

import numpy as np
import pytest

import dualgrad as dg


def _branchy(x):
    p = x[0] * x[1]                  # recorded before the guard: replay rewrites it
    return p * 3.0 if p > 0 else -p


@pytest.mark.parametrize("copier", [copy.copy, copy.deepcopy])
def test_a_copy_of_a_recording_has_its_own_tape(copier):
    rec = dg.record(_branchy, [1.0, 2.0])
    dup = copier(rec)
    with pytest.raises(dg.BranchChangedError):
        dup([-1.0, 2.0])             # stops at the guard, half replayed
    assert rec([1.0, 2.0]) == 6.0
    np.testing.assert_array_equal(rec.gradient([1.0, 2.0]), [6.0, 3.0])
    assert dup([1.0, 3.0]) == 9.0
    np.testing.assert_array_equal(dup.gradient([1.0, 3.0]), [9.0, 3.0])
    assert rec([1.0, 2.0]) == 6.0    # and replays of the copy leave the original alone
    assert len(dup) == len(rec)


def test_a_copy_of_a_retaping_recording_retapes_alone():
    rec = dg.record(_branchy, [1.0, 2.0], retape=True)
    dup = copy.copy(rec)
    assert dup([-1.0, 2.0]) == 2.0
    np.testing.assert_array_equal(dup.gradient([-1.0, 2.0]), [-2.0, 1.0])
    np.testing.assert_array_equal(rec.gradient([1.0, 2.0]), [6.0, 3.0])


@pytest.mark.parametrize("value", [1 + 2j, np.complex64(1 + 2j), np.array([1.0, 2j]),
                                   [1.0, 2j], np.array(1 + 0j)])
def test_tape_var_refuses_complex(value):
    with dg.Tape() as tape:
        with pytest.raises(TypeError, match="complex"):
            tape.var(value)


@pytest.mark.parametrize("x0", [1 + 2j, np.complex128(3.0), [1.0, 2j], np.array([1.0 + 0j])])
def test_record_refuses_complex(x0):
    with pytest.raises(TypeError, match="complex"):
        dg.record(lambda x: x * 2.0 if not isinstance(x, list) else x[0] * 2.0, x0)


def test_recording_replay_refuses_complex():
    rec = dg.record(lambda x: x[0] * x[1], [1.0, 2.0])
    with pytest.raises(TypeError, match="complex"):
        rec([1.0, 2j])
    with pytest.raises(TypeError, match="complex"):
        rec.gradient(np.array([1.0, 2.0 + 1j]))


def test_dual_made_by_new_is_a_valid_zero():
    kept = [dg.Dual(1.0, [5.0, 6.0, 7.0]) * 2.0 for _ in range(4)] + [dg.Dual(2.0, 9.0) * 1.0]
    del kept                         # their memory goes back to the freelist
    d = dg.Dual.__new__(dg.Dual)
    assert d.value == 0.0 and d.tangent == 0.0
    for _ in range(3):
        r = d + 1.0
        assert (r.value, r.tangent) == (1.0, 0.0)
        r = dg.sin(d) * 3.0
        assert (r.value, r.tangent) == (0.0, 0.0)
    with pytest.raises(ValueError):
        d + dg.Dual(1.0, [1.0, 2.0])   # one direction: mixing with two is refused


def test_objects_made_by_new_refuse_rather_than_read_garbage():
    with pytest.raises(RuntimeError, match="freed"):
        dg.Var.__new__(dg.Var) + 1.0
    with pytest.raises((TypeError, AttributeError)):
        np.sin(dg.DualArray.__new__(dg.DualArray))
    with pytest.raises((TypeError, AttributeError)):
        dg.Tensor.__new__(dg.Tensor) + 1.0


def test_conjugate_of_real_scalars_is_themselves():
    d = dg.Dual(2.0, 3.0)
    assert d.conjugate() is d
    with dg.Tape() as tape:
        x = tape.var(2.0)
        assert x.conjugate() is x
        y = np.vdot(np.array([x, x], dtype=object), np.array([1.0, 2.0]))
    assert tape.gradient(y, x) == 3.0
