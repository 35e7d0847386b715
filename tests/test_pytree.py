"""Nested containers (dualgrad/_pytree.py)."""

from collections import namedtuple

import numpy as np

from dualgrad._pytree import flatten, unflatten

Point = namedtuple("Point", "x y")


def test_round_trip_keeps_types_and_order():
    tree = {"b": [1.0, (2.0, np.ones(2))], "a": Point(3.0, None), "c": 4}
    leaves, td = flatten(tree)
    assert leaves[0] == 3.0                          # dict keys sorted: "a" first
    assert len(leaves) == td.n_leaves == 5
    back = unflatten(td, leaves)
    assert isinstance(back["a"], Point) and back["a"].y is None
    assert isinstance(back["b"], list) and isinstance(back["b"][1], tuple)
    assert back["c"] == 4 and np.array_equal(back["b"][1][1], np.ones(2))


def test_structure_equality():
    assert flatten([1.0, 2.0])[1] == flatten([5.0, 6.0])[1]
    assert flatten([1.0, 2.0])[1] != flatten((1.0, 2.0))[1]
    assert flatten({"a": 1})[1] != flatten({"b": 1})[1]
    assert hash(flatten((1.0, [2.0]))[1]) == hash(flatten((3.0, [4.0]))[1])
    assert repr(flatten({"a": (1, None)})[1]) == "{'a': (*, None)}"


def test_a_leaf_alone():
    leaves, td = flatten(2.5)
    assert leaves == [2.5] and unflatten(td, [7.0]) == 7.0
