"""Backward passes in several threads at once over one shared graph: each pass
keeps its bookkeeping to itself (dualgrad/_array/engine.pyx, Pass), so the
results equal the single-threaded ones, as in PyTorch."""

import sys
import threading

import numpy as np

import dualgrad as dg


def shared_graph():
    """A graph with fan-out and fan-in (nodes with several consumers), where
    interleaved passes over shared per-node counts went wrong."""
    x = dg.tensor(np.linspace(0.1, 1.0, 7), requires_grad=True)
    w = dg.tensor(np.linspace(-1.0, 1.0, 7), requires_grad=True)
    h = x * w
    for _ in range(30):
        h = dg.sin(h) * x + h * w + dg.exp(-h * h)
    y = (h * h).sum() + h.sum()
    return x, w, y


def test_threads_backward_one_graph_match_single_thread():
    x, w, y = shared_graph()
    want = [g.numpy().copy() for g in dg.autograd.grad(y, (x, w), retain_graph=True)]
    errors, mismatches = [], []
    start = threading.Barrier(8)

    def work():
        try:
            start.wait()
            for _ in range(25):
                got = dg.autograd.grad(y, (x, w), retain_graph=True)
                if not all(np.array_equal(g.numpy(), e) for g, e in zip(got, want)):
                    mismatches.append(got)
        except Exception as e:   # noqa: BLE001 (reported below)
            errors.append(e)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert errors == []
    assert mismatches == []


def test_threads_backward_accumulate_into_leaves():
    x, w, y = shared_graph()
    want = dg.autograd.grad(y, x, retain_graph=True)[0].numpy()
    threads = [threading.Thread(target=lambda: [y.backward(retain_graph=True)
                                                for _ in range(10)]) for _ in range(4)]
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    # 40 passes in all; the in-place accumulation is one NumPy call under the GIL
    np.testing.assert_allclose(x.grad.numpy(), 40 * want, rtol=1e-12)


def test_pass_inside_a_rule_does_not_disturb_the_outer_pass():
    # A Function whose backward runs autograd.grad on a graph sharing nodes
    # with the outer one.
    x = dg.tensor([0.5, 1.5], requires_grad=True)
    shared = dg.sin(x) * x

    class Inner(dg.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 1.0

        @staticmethod
        def backward(ctx, g):
            with dg.enable_grad():
                inner, = dg.autograd.grad(shared.sum(), x, retain_graph=True)
            return g * 0 + inner * 0 + g

    y = (Inner.apply(shared) + shared).sum()
    got, = dg.autograd.grad(y, x)
    want = 2 * (np.sin([0.5, 1.5]) + np.array([0.5, 1.5]) * np.cos([0.5, 1.5]))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
