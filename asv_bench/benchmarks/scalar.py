"""Scalar-tier benchmarks: workloads S and R (see dualgrad/bench/workloads.py).

Each variant of a workload is a parameter, so that asv reports dualgrad, plain
floats and every installed peer side by side; peers that are not installed
show as n/a. PyTorch and HIPS autograd take seconds per call on workload R at
n = 100000 and are measured there only by ``python -m dualgrad bench``.
"""

import sys

import dualgrad as dg
from dualgrad.bench import workloads

_S = workloads.s_workload().variants
_R_NAMES = list(workloads.r_workload(10, peers=False).variants)


class WorkloadS:
    params = list(_S)
    param_names = ["variant"]
    timeout = 300

    def setup(self, variant):
        if _S[variant] is None:
            raise NotImplementedError(f"{variant}: not installed")
        self.fn = _S[variant][1]
        self.fn()                       # JAX jit compiles here, outside the timing

    def time_workload_s(self, variant):
        self.fn()


class WorkloadR:
    params = (list(workloads.R_SIZES), _R_NAMES)
    param_names = ["n", "variant"]
    timeout = 300

    def setup(self, n, variant):
        peer = "dualgrad" not in variant and not variant.startswith("f on")
        if peer and n > 1000:
            raise NotImplementedError("peers at n > 1000: see python -m dualgrad bench")
        v = workloads.r_workload(n, peers=peer).variants[variant]
        if v is None:
            raise NotImplementedError(f"{variant}: not installed")
        self.fn = v[1]

    def time_workload_r(self, n, variant):
        self.fn()


class DualMemory:
    unit = "bytes"

    def track_sizeof_one_direction_dual(self):
        return sys.getsizeof(dg.Dual(0.3, 1.0))


class TapeMemory:
    unit = "bytes"

    def track_tape_bytes_per_operation(self):
        with dg.Tape() as tape:
            x = tape.var([0.5] * 1024)
            y = workloads.rosenbrock(x)
        return tape.nbytes / len(tape)
