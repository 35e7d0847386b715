"""``python -m dualgrad``: the demonstration runs, prints its table and reports failure by status."""

import re
import subprocess
import sys

import numpy as np
import pytest

from dualgrad import bench
from dualgrad.__main__ import EXAMPLES
from dualgrad.bench import workloads


def run(*args):
    return subprocess.run([sys.executable, "-m", "dualgrad", *args], capture_output=True,
                          text=True, timeout=120)


def test_demo_exits_zero_and_prints_every_example():
    proc = run()
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for label, *_ in EXAMPLES:
        row = next((ln for ln in lines if ln.strip().startswith(label)), None)
        assert row is not None, label
        error = float(row.split()[-1])
        assert error < 1e-12, row
    assert "whole gradient" in proc.stdout
    worst = re.search(r"largest relative error: (\S+)", proc.stdout)
    assert worst and float(worst.group(1)) < 1e-12


def test_unknown_argument_exits_two_with_usage():
    proc = run("nonsense")
    assert proc.returncode == 2
    assert "usage" in proc.stderr
    assert proc.stdout == ""


def test_bench_workload_a_and_tiny_op_check_and_print_their_tables():
    """Workload A and the tiny op, in process and without peers (as where none is
    installed): every variant passes its check, and the tables that
    ``python -m dualgrad bench`` prints come out, peers listed as skipped."""

    def timed(workload):
        results, first = bench.first_calls(workload)
        workload.check(results)
        return bench.measure(workload, first, 1, 1e-4, lambda msg: None), first

    a = workloads.a_workload(10, peers=False)
    times, first = timed(a)
    text = bench.table(a, times, first)
    assert text.startswith("Workload A, n=10:")
    assert "gradient, dualgrad Tensor" in text and "/ f on NumPy" in text
    assert re.search(r"gradient, PyTorch eager +skipped \(not installed\)", text)
    assert re.search(r"target: dualgrad / f on NumPy = \S+x, <= 3: (met|MISSED)", text)
    assert "target: dualgrad / PyTorch eager = n/a, <= 0.5: not measured" in text
    summary = bench.summary_table("A", [(a, times)])
    assert "n=10" in summary and re.search(r"dualgrad / f on NumPy +\S+x", summary)

    tiny = workloads.tiny_op_workload(peers=False)
    times, first = timed(tiny)
    text = bench.table(tiny, times, first)
    assert text.startswith("Tiny op:")
    assert re.search(r"z = x \* y; z.backward\(ones\) +\S+ [nu]?s +skipped", text)
    assert all(v > 0 for v in bench.per_op(tiny, times).values() if v is not None)


def test_bench_workload_a_check_rejects_a_wrong_gradient():
    a = workloads.a_workload(10, peers=False)
    x0, W, B = workloads.a_data(10)
    good = a.variants["gradient, dualgrad Tensor"][1]()
    a.check({"gradient, dualgrad Tensor": good,
             "f on NumPy": workloads.a_function(x0, np.tanh, W, B)})
    with pytest.raises(AssertionError, match="gradient, dualgrad Tensor"):
        a.check({"gradient, dualgrad Tensor": good * (1 + 1e-6)})


def test_bench_plot_series_take_every_size_and_square_grid_cells():
    """What --plot draws: per workload, each variant's time against n; a grid's
    square cells only; workloads measured at one size are left out."""
    a10, a1000 = workloads.a_workload(10, peers=False), workloads.a_workload(1000, peers=False)
    cells = [workloads.jacobian_workload("array", n, m, peers=False)
             for n, m in ((1, 1), (1, 10), (10, 10))]
    tiny = workloads.tiny_op_workload(peers=False)
    measured = [(a10, {"gradient, dualgrad Tensor": 2e-4, "gradient, PyTorch eager": None}),
                (a1000, {"gradient, dualgrad Tensor": 6e-4, "gradient, PyTorch eager": None}),
                (tiny, {"x * y, NumPy (no gradient)": 4e-7})]
    measured += [(c, {"jacobian, dualgrad auto": 1e-5 * c.size[1]}) for c in cells]
    series = bench._series(measured)
    assert set(series) == {"A", "Jacobian, array f"}
    assert series["A"] == {"gradient, dualgrad Tensor": [(10, 2e-4), (1000, 6e-4)]}
    assert series["Jacobian, array f"]["jacobian, dualgrad auto"] == [(1, 1e-5), (10, 1e-4)]
