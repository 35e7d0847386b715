"""Scalar-tier benchmarks: workloads S and R (see dualgrad/bench/workloads.py).

Each variant of a workload is a parameter, so that asv reports dualgrad, plain
floats and every installed peer side by side; peers that are not installed
show as n/a. PyTorch and HIPS autograd take seconds per call on workload R at
n = 100000 and are measured there only by ``python -m dualgrad bench``.
"""

import sys

import dualgrad as dg
from dualgrad.bench import workloads

# Variant names without importing the peers: a benchmark process imports a peer
# only to time it.
_S_NAMES = list(workloads.s_workload(peers=False).variants)
_R_NAMES = list(workloads.r_workload(10, peers=False).variants)


def _is_peer(variant):
    return "dualgrad" not in variant and not variant.startswith("f on")


class WorkloadS:
    params = _S_NAMES
    param_names = ["variant"]
    timeout = 300

    def setup(self, variant):
        v = workloads.s_workload(peers=_is_peer(variant)).variants[variant]
        if v is None:
            raise NotImplementedError(f"{variant}: not installed")
        self.fn = v[1]
        self.fn()                       # JAX jit compiles here, outside the timing

    def time_workload_s(self, variant):
        self.fn()


class WorkloadR:
    params = (list(workloads.R_SIZES), _R_NAMES)
    param_names = ["n", "variant"]
    timeout = 300

    def setup(self, n, variant):
        peer = _is_peer(variant)
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
