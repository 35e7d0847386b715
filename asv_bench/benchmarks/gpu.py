"""The GPU path (skipped where there is no CUDA GPU): a fused DualArray kernel
and Workload A's gradient on CuPy arrays. ``python -m dualgrad.bench.gpu``
compares them with a device-to-device copy and with PyTorch."""

import dualgrad as dg
from dualgrad._rules.table import BY_NAME
from dualgrad.bench.workloads import a_data, a_function
from dualgrad.gpu import rows


def _cupy():
    if not dg.gpu.is_available():
        raise NotImplementedError("no CUDA GPU (or no CuPy) here")   # asv: skipped
    return dg.gpu.cupy()


class FusedKernel:
    """tanh on a DualArray of n float64s and k tangents: one kernel."""

    params = [[1 << 20, 1 << 24], [1, 4]]
    param_names = ["n", "k"]

    def setup(self, n, k):
        cp = self.cp = _cupy()
        self.x = dg.DualArray(cp.random.random(n), cp.random.random((k, n)))
        self.op = BY_NAME["tanh"].opcode

    def time_dual_tanh(self, n, k):
        rows.dual(self.op, (self.x,))
        self.cp.cuda.get_current_stream().synchronize()


class WorkloadA:
    """Workload A's gradient by a Tensor of CuPy values."""

    params = [[10 ** 6]]
    param_names = ["n"]

    def setup(self, n):
        cp = self.cp = _cupy()
        x0, W, B = a_data(n)
        self.x0, self.W, self.B = cp.asarray(x0), cp.asarray(W), cp.asarray(B)

    def time_gradient(self, n):
        x = dg.tensor(self.x0, requires_grad=True)
        a_function(x, dg.tanh, self.W, self.B).backward()
        self.cp.cuda.get_current_stream().synchronize()
