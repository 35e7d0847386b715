"""``python -m dualgrad``: the demonstration runs, prints its table and reports failure by status."""

import re
import subprocess
import sys

from dualgrad.__main__ import EXAMPLES


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
