"""Memory of the array tier's graph: nothing of a graph outlives its outputs, plain
graphs are freed by reference counting alone (no cycles for the garbage collector),
backward releases the values the graph saved, and repeated build/backward cycles do not
grow the process.

Resident memory is measured in subprocesses (``resource``), so this process is unaffected.
"""

import gc
import json
import subprocess
import sys
import textwrap
import weakref
from contextlib import contextmanager

import numpy as np
import pytest

import dualgrad as dg

MiB = 2 ** 20


@contextmanager
def gc_disabled():
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def build_graph():
    """A small graph with a diamond, saved inputs and saved outputs; weak references
    to its output's grad_fn, to every node and to the intermediate tensors."""
    x = dg.tensor([0.1, 0.2, 0.3], requires_grad=True)
    a = x * 2 + 1
    b = a.tanh()           # saves its output
    c = b * a              # saves both inputs
    y = (c.sin() + c.exp()).sum()
    refs = [weakref.ref(t) for t in (a, b, c)]
    refs += [weakref.ref(t.grad_fn) for t in (a, b, c, y)]
    return x, y, refs


def all_nodes(y):
    """Every Node reachable from y.grad_fn."""
    seen, stack = [], [y.grad_fn]
    while stack:
        n = stack.pop()
        if n is None or any(n is s for s in seen) or n.name() == "AccumulateGrad":
            continue
        seen.append(n)
        stack.extend(f for f, _ in n.next_functions)
    return seen


def test_graph_is_freed_after_backward_and_del():
    x, y, refs = build_graph()
    node_refs = [weakref.ref(n) for n in all_nodes(y)]
    assert len(node_refs) >= 6
    y.backward()
    assert x.grad is not None
    del y
    gc.collect()
    assert all(r() is None for r in refs)
    assert all(r() is None for r in node_refs)


def test_graph_is_freed_by_reference_counting_alone():
    with gc_disabled():
        x, y, refs = build_graph()
        node_refs = [weakref.ref(n) for n in all_nodes(y)]
        y.backward()
        del y
        assert all(r() is None for r in refs), "a reference cycle keeps the graph alive"
        assert all(r() is None for r in node_refs)


def test_graph_never_backpropagated_is_freed_by_reference_counting():
    with gc_disabled():
        x, y, refs = build_graph()
        del y
        assert all(r() is None for r in refs)


def test_retained_graph_is_freed_by_reference_counting():
    with gc_disabled():
        x, y, refs = build_graph()
        y.backward(retain_graph=True)
        y.backward()
        del y
        assert all(r() is None for r in refs)


def test_graph_with_retain_grad_is_freed_by_reference_counting():
    with gc_disabled():
        x = dg.tensor([0.1, 0.2], requires_grad=True)
        h = x.exp()
        h.retain_grad()
        y = (h * h).sum()
        y.backward()
        assert h.grad is not None
        rh, rn = weakref.ref(h), weakref.ref(y.grad_fn)
        del h, y
        assert rh() is None and rn() is None


def test_graph_with_in_place_ops_is_freed_by_reference_counting():
    with gc_disabled():
        x = dg.tensor([0.1, 0.2], requires_grad=True)
        h = x * 3
        old = weakref.ref(h.grad_fn)
        h.sin_()
        h[0] = 2.0
        y = h.sum()
        y.backward()
        refs = [weakref.ref(h), weakref.ref(h.grad_fn), weakref.ref(y.grad_fn), old]
        del h, y
        assert all(r() is None for r in refs)


def test_views_and_multi_output_graph_is_freed_by_reference_counting():
    with gc_disabled():
        x = dg.tensor([0.1, 0.2, 0.3, 0.4], requires_grad=True)
        p, q = (x * 2).split(2)
        v = x[1:3].reshape(2, 1)
        y = (p * q).sum() + v.sum()
        y.backward()
        refs = [weakref.ref(t) for t in (p, q, v)] + [weakref.ref(y.grad_fn),
                                                      weakref.ref(p.grad_fn)]
        del p, q, v, y
        assert all(r() is None for r in refs)


def test_higher_order_graph_from_autograd_grad_is_freed_by_reference_counting():
    with gc_disabled():
        x = dg.tensor([0.3, 0.7], requires_grad=True)
        y = (x.tanh() * x).sum()
        (g,) = dg.autograd.grad(y, x, create_graph=True)
        (h,) = dg.autograd.grad(g.sum(), x, create_graph=True)
        refs = [weakref.ref(t.grad_fn) for t in (y, g, h)]
        del y, g, h
        assert all(r() is None for r in refs)


class Square(dg.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = x * x
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return 2 * x * g


def test_custom_function_graph_is_freed_by_reference_counting():
    with gc_disabled():
        x = dg.tensor([0.3, 0.7], requires_grad=True)
        s = Square.apply(x * 1)
        y = s.sum()
        refs = [weakref.ref(s), weakref.ref(s.grad_fn), weakref.ref(y.grad_fn)]
        y.backward()
        np.testing.assert_allclose(np.asarray(x.grad), [0.6, 1.4])
        del s, y
        assert all(r() is None for r in refs)


class AddOneInPlace(dg.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        x.add_(1.0)
        ctx.mark_dirty(x)
        return x

    @staticmethod
    def backward(ctx, g):
        return g


def test_custom_function_with_mark_dirty_is_freed_by_reference_counting():
    # PyTorch drops ctx.dirty_tensors once apply() is done; holding them would make a
    # cycle node -> ctx -> dirty tensor -> node.
    with gc_disabled():
        leaf = dg.tensor([0.3, 0.7], requires_grad=True)
        x = leaf * 2
        y = AddOneInPlace.apply(x)
        assert y is x
        refs = [weakref.ref(x), weakref.ref(x.grad_fn)]
        del x, y
        assert all(r() is None for r in refs), "a reference cycle keeps the graph alive"


def test_saved_input_tensor_is_released_by_backward_while_the_output_lives():
    x = dg.tensor([0.1, 0.2], requires_grad=True)
    h = x * 2
    saved = weakref.ref(h)
    y = h.sin().sum()      # SinBackward holds h
    del h
    gc.collect()
    assert saved() is not None
    y.backward()
    gc.collect()
    assert saved() is None
    assert y.grad_fn is not None  # the graph's structure stays, its values are gone


def test_saved_output_array_is_released_by_backward_while_the_output_lives():
    x = dg.tensor([0.1, 0.2], requires_grad=True)
    t = x.tanh()
    arr = weakref.ref(t._a)
    y = t.sum()
    del t
    gc.collect()
    assert arr() is not None      # TanhBackward keeps the output's values
    y.backward()
    gc.collect()
    assert arr() is None


def test_saved_values_stay_with_retain_graph():
    x = dg.tensor([0.1, 0.2], requires_grad=True)
    h = x * 2
    saved = weakref.ref(h)
    y = h.sin().sum()
    del h
    y.backward(retain_graph=True)
    gc.collect()
    assert saved() is not None
    y.backward()
    gc.collect()
    assert saved() is None


def test_autograd_grad_releases_saved_values():
    x = dg.tensor([0.1, 0.2], requires_grad=True)
    h = x * 2
    saved = weakref.ref(h)
    y = h.sin().sum()
    del h
    dg.autograd.grad(y, x)
    gc.collect()
    assert saved() is None


def test_leaf_is_not_kept_alive_by_its_grad():
    with gc_disabled():
        x = dg.tensor([0.1, 0.2], requires_grad=True)
        (x * x).sum().backward()
        rx = weakref.ref(x)
        rg = weakref.ref(x.grad)
        del x
        assert rx() is None and rg() is None


# ---------------------------------------------------------------------------
# Resident memory, in subprocesses

def run_script(script, timeout=300):
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True,
                         text=True, timeout=timeout)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


PRELUDE = """
    import gc, json, os, resource
    import numpy as np
    import dualgrad as dg

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
"""


def test_many_build_and_backward_cycles_do_not_grow_memory():
    out = run_script(PRELUDE + """
    x = dg.tensor([0.1, 0.2, 0.3], requires_grad=True)

    def cycle():
        y = (x * 2 + 1).tanh().sum()
        y.backward()
        x.grad = None

    for _ in range(10_000):
        cycle()
    gc.collect()
    warm = peak()
    for _ in range(100_000):
        cycle()
    gc.collect()
    print(json.dumps(dict(warm=warm, end=peak(), objects=len(gc.get_objects()))))
    """)
    assert out["end"] - out["warm"] < 2 * MiB, out


def test_many_higher_order_cycles_do_not_grow_memory():
    out = run_script(PRELUDE + """
    x = dg.tensor([0.1, 0.2, 0.3], requires_grad=True)

    def cycle():
        y = (x.sin() * x).sum()
        (g,) = dg.autograd.grad(y, x, create_graph=True)
        (h,) = dg.autograd.grad(g.sum(), x)
        (x * 3).sum().backward()   # accumulates into the same grad

    for _ in range(5_000):
        cycle()
    gc.collect()
    warm = peak()
    for _ in range(30_000):
        cycle()
    gc.collect()
    print(json.dumps(dict(warm=warm, end=peak())))
    """)
    assert out["end"] - out["warm"] < 2 * MiB, out


def test_backward_releases_the_memory_of_a_big_graph():
    # 20 saved float64 arrays of 10**6 elements (160 MB) are released by backward,
    # while the output (and so the graph's structure) is still alive.
    out = run_script(PRELUDE + """
    gc.disable()
    x = dg.randn(10**6, requires_grad=True)
    before = rss()
    h = x
    for _ in range(20):
        h = h.sin()
    y = h.sum()
    del h
    built = rss()
    y.backward()
    after = rss()
    alive = y.grad_fn is not None
    print(json.dumps(dict(before=before, built=built, after=after, alive=alive)))
    """)
    assert out["alive"]
    assert out["built"] - out["before"] > 100 * MiB, out
    # x.grad (8 MB) stays; the saved values go.
    assert out["after"] - out["before"] < 40 * MiB, out
