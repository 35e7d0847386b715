"""Shared helpers: points drawn from the sampling domains of the derivative table."""

import math
import zlib

import numpy as np
import pytest


def integer_operands(rule):
    """Indices of a rule's integer parameters (e.g. the order of polygamma)."""
    return tuple(getattr(rule, "integer", ()))


def sample_union(rng, union, n, integer=False):
    """n points of a union of open intervals, each interval weighted by its length.

    Integer parameters take the integers of the (closed) intervals instead.
    """
    if integer:
        values = sorted({v for lo, hi in union for v in range(math.ceil(lo), math.floor(hi) + 1)})
        return rng.choice(np.array(values, dtype=np.float64), size=n)
    lo = np.array([a for a, _ in union])
    hi = np.array([b for _, b in union])
    which = rng.choice(len(union), size=n, p=(hi - lo) / (hi - lo).sum())
    # Stay a little inside the open intervals: their ends are where rules stop being smooth.
    u = rng.uniform(0.01, 0.99, size=n)
    return lo[which] + u * (hi[which] - lo[which])


def sample_rule(rule, n=20, seed=0):
    """An (n, arity) array of points of ``rule.domain``, reproducible per rule name."""
    rng = np.random.default_rng([seed, zlib.crc32(rule.name.encode())])
    ints = integer_operands(rule)
    return np.stack([sample_union(rng, union, n, i in ints) for i, union in enumerate(rule.domain)],
                    axis=1)


@pytest.fixture
def rule_points():
    """``rule_points(rule, n=20, seed=0)``: points of a rule's domain, as tuples of floats."""

    def points(rule, n=20, seed=0):
        return [tuple(float(v) for v in row) for row in sample_rule(rule, n, seed)]

    return points

