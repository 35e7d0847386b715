"""Memory of the tape: 40 bytes a node, growth by doubling, ten million operations under
1 GB, memory returned when the Tape is dropped, no growth over many record cycles.

Resident memory is measured in subprocesses (``resource`` and ``/proc/self/statm``: the
tape's arrays are C allocations tracemalloc does not see), so this process is unaffected.
"""

import json
import subprocess
import sys
import textwrap

import pytest

import dualgrad as dg

NODE_BYTES = 40             # struct Node in tape.pxd
GiB = 2 ** 30
MiB = 2 ** 20

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads resident memory from /proc/self/statm")


def growth_steps(ops):
    """Record ops binary operations one at a time; for each growth of ``nbytes``, the
    number of nodes that filled the previous capacity, its bytes and the new bytes."""
    steps = []
    with dg.Tape() as tape:
        x = tape.var(1.0)
        y = x
        last = tape.nbytes
        for _ in range(ops):
            n = len(tape)
            y = y * x
            if tape.nbytes != last:
                steps.append((n, last, tape.nbytes))
                last = tape.nbytes
    return tape, steps


def test_a_node_is_40_bytes_and_capacity_doubles():
    tape, steps = growth_steps(20_000)
    assert len(steps) >= 4
    for full, before, after in steps:
        # The tape grew when it held `full` nodes: its capacity was `full` nodes.
        assert before / full <= NODE_BYTES and before == NODE_BYTES * full
        assert after == 2 * before
    assert tape.nbytes / len(tape) <= 2 * NODE_BYTES
    assert tape.nbytes >= NODE_BYTES * len(tape)


def test_nbytes_counts_guards_and_is_zero_for_an_empty_tape():
    with dg.Tape() as tape:
        assert tape.nbytes == 0 and len(tape) == 0
        x = tape.var(1.0)
        nodes_only = tape.nbytes
        for k in range(100):
            x < k
        assert len(tape) == 1
    assert tape.nbytes > nodes_only


def run_script(script, timeout=300):
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True,
                         text=True, timeout=timeout)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


PRELUDE = """
    import gc, json, math, os, resource
    import dualgrad as dg

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
"""


def test_ten_million_operations_stay_under_1_gb_and_are_released():
    out = run_script(PRELUDE + """
    before = rss()
    with dg.Tape() as tape:
        x = tape.var(1.0)
        y = x
        for _ in range(10_000_000):
            y = y * x
    n = len(tape)
    recorded = rss()
    g = tape.gradient(y, x)
    highest = peak()
    del tape                                # x and y are still held: they see a freed tape
    gc.collect()
    released = rss()
    try:
        y * 2
        freed = False
    except RuntimeError:
        freed = True

    # A Recording's tape goes with the Recording.
    def f(x):
        for _ in range(1_000_000):
            x = x * 1.0000001
        return x

    rec = dg.record(f, 1.0)
    g_rec = rec.gradient(2.0)
    with_rec = rss()
    del rec
    gc.collect()
    print(json.dumps(dict(before=before, recorded=recorded, peak=highest, released=released,
                          with_rec=with_rec, after_rec=rss(), n=n, g=g, freed=freed,
                          g_rec=g_rec)))
    """)
    assert out["n"] == 10_000_001 and out["g"] == 10_000_001.0
    assert out["peak"] < GiB, out
    # The measurement sees the tape: 10 million nodes of 40 bytes are resident.
    assert out["recorded"] - out["before"] >= 10_000_000 * NODE_BYTES * 0.9, out
    assert out["released"] - out["before"] < 50 * MiB, out
    assert out["freed"]
    assert out["g_rec"] == pytest.approx(1.0000001 ** 1_000_000, rel=1e-9)
    assert out["with_rec"] - out["after_rec"] >= 1_000_000 * NODE_BYTES * 0.9, out


def test_many_record_and_gradient_cycles_do_not_grow_memory():
    out = run_script(PRELUDE + """
    def f(x):
        y = x[0] * dg.sin(x[1]) + x[1] ** 2 / (1.0 + x[0] * x[0]) + dg.math.exp(x[0])
        if y > 0:                           # a guard, and its place
            y = y + math.floor(x[0])
        return y

    def cycle(k):
        p = [0.5 + 1e-6 * (k % 7), 1.5]
        with dg.Tape() as tape:
            x = tape.var(p)
            y = f(x)
        tape.gradient(y, x)
        tape.hvp(y, x, [1.0, 0.0])
        rec = dg.record(f, p)
        rec.gradient([0.6, 1.4])
        rec.hessian(p)
        try:
            rec([-3.0, 0.1])
        except dg.BranchChangedError:
            pass

    marks = []
    for k in range(100_000):
        cycle(k)
        if k + 1 in (20_000, 100_000):
            gc.collect()
            marks.append(rss())
    print(json.dumps(dict(marks=marks)))
    """)
    warm, end = out["marks"]
    assert end - warm < 2 * MiB, out
