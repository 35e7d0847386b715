"""Scalar-tier benchmarks: workload S (see dualgrad/bench/workloads.py).

Each variant of the workload is one parameter, so that asv reports dualgrad,
plain floats and every installed peer side by side; peers that are not
installed show as n/a.
"""

import sys

import dualgrad as dg
from dualgrad.bench import workloads

_VARIANTS = workloads.s_variants()


class WorkloadS:
    params = list(_VARIANTS)
    param_names = ["variant"]
    timeout = 300

    def setup(self, variant):
        if _VARIANTS[variant] is None:
            raise NotImplementedError(f"{variant}: not installed")
        self.fn = _VARIANTS[variant][1]
        self.fn()                       # JAX jit compiles here, outside the timing

    def time_workload_s(self, variant):
        self.fn()


class DualMemory:
    unit = "bytes"

    def track_sizeof_one_direction_dual(self):
        return sys.getsizeof(dg.Dual(0.3, 1.0))
