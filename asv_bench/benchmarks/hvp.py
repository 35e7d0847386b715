"""Gradients and Hessian-vector products by the functional API (dg.grad, dg.hvp):
workload A's loss as a NumPy function of x at n in ``HVP_A_SIZES``, and workload R
on an ndarray of ``HVP_R_SIZE`` floats (see dualgrad/bench/workloads.py). The
plans are made in setup; PyTorch's torch.func is timed by ``python -m dualgrad bench``."""

from dualgrad.bench import workloads


class HvpA:
    params = (list(workloads.HVP_A_SIZES), ["gradient", "hvp"])
    param_names = ["n", "transform"]
    timeout = 600

    def setup(self, n, transform):
        v = workloads.hvp_a_workload(n, peers=False).variants
        self.fn = v[f"{transform}, dualgrad"][1]
        self.fn()                       # the plan, and first touch of the memory

    def time_a(self, n, transform):
        self.fn()


class HvpR:
    params = ["gradient", "hvp"]
    param_names = ["transform"]

    def setup(self, transform):
        self.fn = workloads.hvp_r_workload().variants[f"{transform}, dualgrad"][1]
        self.fn()

    def time_r(self, transform):
        self.fn()
