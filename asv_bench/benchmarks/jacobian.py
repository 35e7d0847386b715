"""Jacobians by the functional API (see dualgrad/bench/workloads.py): f = tanh(A @ x)
from R^n to R^m written on arrays, and the same f as a scalar loop over A's
entries, for every n and m of ``J_SIZES`` and each of dg.jacobian's modes. Loop
cells with n*m above 1e5 are skipped (about a minute per call). The plan is
made in setup (the first call probes f), so the timings are of planned calls.
The peers are timed by ``python -m dualgrad bench``."""

import dualgrad as dg
from dualgrad.bench import workloads

_LOOP_LIMIT = 100000


class Jacobian:
    params = (["array", "loop"], list(workloads.J_SIZES), list(workloads.J_SIZES),
              list(workloads.J_MODES))
    param_names = ["function", "n", "m", "mode"]
    timeout = 300

    def setup(self, function, n, m, mode):
        if function == "loop" and n * m > _LOOP_LIMIT:
            raise NotImplementedError("loop cells with n*m > 1e5: too slow")
        A, self.x = workloads.j_data(n, m)
        f = workloads.j_function(function, A)
        self.jac = dg.jacobian(f, mode=mode)
        self.jac(self.x)                # the plan: one probe of f, then cached

    def time_jacobian(self, function, n, m, mode):
        self.jac(self.x)
