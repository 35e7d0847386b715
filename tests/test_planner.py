"""The planner (dualgrad/planner.py): its choices on grids of shapes, from
probe counts alone, and ForwardDiff's chunk rule."""

import numpy as np
import pytest

import dualgrad as dg
from dualgrad.planner import Stats, choose, chunk_size, estimates


def test_chunk_size_follows_forwarddiff():
    assert chunk_size(1, 12) == 1
    assert chunk_size(12, 12) == 12
    assert chunk_size(13, 12) == 7          # 2 chunks of 7 (one unused), not 12 + 1
    assert chunk_size(100, 12) == 12        # 9 chunks: 8 full, the last 4 used
    assert chunk_size(1000, 256) == 250


@pytest.mark.parametrize("n,m", [(n, m) for n in (1, 10, 100, 1000) for m in (1, 10, 100, 1000)])
def test_planner_shape_grid_array_code(n, m):
    # tanh(A @ x) and a few elementwise operations: m elements each, m n multiply-adds
    stats = Stats(ops=5, elements=5 * max(m, 10), flops=m * n, m=m)
    p = choose("jacobian", n, m, stats)
    assert p.tier == "array"
    if n < m:
        assert p.mode == "forward"
    if n >= 10 * m and n >= 1000:       # below that one pass of every direction is cheaper
        assert p.mode == "reverse"
    assert min(p.estimates.values()) == p.estimates[p.tier, p.mode]


@pytest.mark.parametrize("n,m", [(n, m) for n in (1, 10, 100, 1000) for m in (1, 10, 100, 1000)])
def test_planner_shape_grid_elementwise_code(n, m):
    stats = Stats(ops=2 * n * m, elements=2 * n * m, m=m)
    p = choose("jacobian", n, m, stats)
    assert p.tier == "scalar"
    if 10 * n <= m:
        assert p.mode == "forward"
    if 100 * m <= n:
        assert p.mode == "reverse"
    assert choose("jacobian", n, m, stats, nested=True).tier == "array"
    assert choose("jacobian", n, m, stats, mode="reverse").mode == "reverse"


def test_hessian_and_hvp_plans():
    elementwise = Stats(ops=1000, elements=1000, m=1)
    assert choose("hessian", 100, 1, elementwise).tier == "scalar"
    assert choose("hvp", 100, 1, elementwise).chunk == 1
    arrays = Stats(ops=50, elements=50 * 1000, m=1)
    plan = choose("hessian", 1000, 1, arrays)
    assert (plan.tier, plan.mode) == ("array", "forward-over-reverse")
    assert plan.chunk == chunk_size(1000, 256)
    assert choose("hessian", 1000, 1, elementwise, nested=True).tier == "array"


def test_estimates_grow_with_the_work():
    s = Stats(ops=10, elements=10_000, m=1)
    small, big = estimates("jacobian", 10, 1, s), estimates("jacobian", 1000, 1, s)
    assert big["array", "forward"] > small["array", "forward"]
    assert big["array", "reverse"] == small["array", "reverse"]      # one sweep either way
    assert estimates("jacobian", 10, 100, s)["array", "reverse"] > small["array", "reverse"]


def test_forced_modes_and_unknown_arrays():
    s = Stats(ops=10, elements=10, m=1)
    assert choose("jacobian", 1000, 1, s, mode="forward").mode == "forward"
    assert choose("jacobian", 1, 1000, s, mode="reverse").mode == "reverse"
    no_arrays = Stats(ops=10, elements=10, m=1, arrays=False)
    assert choose("jacobian", 50, 50, no_arrays).tier == "scalar"


def test_plan_text_lists_every_estimate():
    plan = choose("jacobian", 100, 3, Stats(ops=4, elements=40, m=3))
    text = str(plan)
    assert text.startswith("jacobian of f: R^100 -> R^3")
    assert text.count("<- chosen") == 1
    assert len(plan.estimates) == 2       # array code: the array tier only
    assert repr(plan).startswith("Plan(kind='jacobian'")


def test_plan_cache_is_bounded_per_function_and_still_hits():
    from dualgrad import planner

    def f(x):
        return np.sum(np.sin(x))

    g = dg.grad(f)
    for n in range(1, 3 * planner.PLAN_CACHE_SIZE):
        g(np.ones(n))
    assert len(planner._cache[f]) <= planner.PLAN_CACHE_SIZE
    # a hit still hits: the most recent structure is served without a new probe
    calls = []
    real = planner.choose
    try:
        planner.choose = lambda *a, **k: calls.append(1) or real(*a, **k)
        g(np.ones(n))
        assert calls == []
        g(np.ones(10 ** 4 + 1))          # a new structure is probed (the counter works)
        assert calls == [1]
    finally:
        planner.choose = real
