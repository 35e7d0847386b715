"""Array-tier benchmarks: workload A and the tiny op (see dualgrad/bench/workloads.py).

Workload A is timed for dualgrad's gradient and for the forward pass on plain
NumPy, the baseline, at every n of ``A_SIZES``; ``peakmem_`` reports the peak
resident memory of the benchmark's process, which includes the 2 x 50 x n
numbers of W and B (800 MB at n = 1000000): compare dualgrad's gradient with
the NumPy forward pass at the same n. The peers are timed on workload A only
by ``python -m dualgrad bench``. The tiny op is timed for dualgrad and, where
installed, PyTorch eager; a chain variant's time is for TINY_CHAIN products.
"""

from dualgrad.bench import workloads

_A_GRADIENT = "gradient, dualgrad Tensor"
_A_FORWARD = "f on NumPy"
_TINY_NAMES = list(workloads.tiny_op_workload(peers=False).variants)


class WorkloadA:
    params = list(workloads.A_SIZES)
    param_names = ["n"]
    timeout = 600

    def setup(self, n):
        v = workloads.a_workload(n, peers=False).variants
        self.gradient, self.forward = v[_A_GRADIENT][1], v[_A_FORWARD][1]
        self.gradient()                 # first touch of the memory, outside the timing

    def time_gradient(self, n):
        self.gradient()

    def time_forward_numpy(self, n):
        self.forward()


class WorkloadAMemory:
    """Peak memory; no warm-up call in setup, which would count in the peak."""
    params = list(workloads.A_SIZES)
    param_names = ["n"]
    timeout = 600

    def setup(self, n):
        v = workloads.a_workload(n, peers=False).variants
        self.gradient, self.forward = v[_A_GRADIENT][1], v[_A_FORWARD][1]

    def peakmem_gradient(self, n):
        self.gradient()

    def peakmem_forward_numpy(self, n):
        self.forward()


class TinyOp:
    params = _TINY_NAMES
    param_names = ["variant"]

    def setup(self, variant):
        v = workloads.tiny_op_workload(peers="PyTorch" in variant).variants[variant]
        if v is None:
            raise NotImplementedError(f"{variant}: not installed")
        self.fn = v[1]
        self.fn()                       # PyTorch's first backward starts its engine

    def time_tiny_op(self, variant):
        self.fn()
