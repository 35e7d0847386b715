"""``python -m dualgrad``: a short demonstration; ``python -m dualgrad bench``: the benchmarks.

The demonstration differentiates a few scalar functions in forward mode, a
scalar loop in reverse mode and an array function with Tensors (the PyTorch-style
engine), and prints each derivative beside the analytic one. It exits with
status 1 if any differs by more than a few rounding errors.
"""

import sys

import numpy as np

import dualgrad as dg
from dualgrad import math as dm
from dualgrad.bench import workloads

# (label, f, f' written out by hand, x)
EXAMPLES = [
    ("sin(x) * exp(x)", lambda x: dg.sin(x) * dg.exp(x),
     lambda x: np.exp(x) * (np.sin(x) + np.cos(x)), 0.7),
    ("x ** x", lambda x: x ** x, lambda x: x ** x * (np.log(x) + 1), 1.5),
    ("log(1 + x**2) / sqrt(x)", lambda x: dm.log(1 + x ** 2) / dm.sqrt(x),
     lambda x: 2 * x / ((1 + x * x) * np.sqrt(x)) - np.log(1 + x * x) / (2 * x ** 1.5), 2.0),
    ("tanh(sin(x))", lambda x: dg.tanh(dg.sin(x)),
     lambda x: np.cos(x) / np.cosh(np.sin(x)) ** 2, 0.3),
    ("arctan2(x, 1 - x)", lambda x: dg.arctan2(x, 1 - x),
     lambda x: 1 / (x * x + (1 - x) ** 2), 0.4),
    ("erf(x) * sigmoid(x)", lambda x: dg.erf(x) * dg.sigmoid(x),
     lambda x: (2 / np.sqrt(np.pi) * np.exp(-x * x) / (1 + np.exp(-x))
                + dm.erf(x) * np.exp(-x) / (1 + np.exp(-x)) ** 2), 0.5),
    ("hypot(x, 3) % 2", lambda x: dm.hypot(x, 3.0) % 2, lambda x: x / np.hypot(x, 3.0), 2.5),
]


def demo():
    print(f"dualgrad {dg.__version__}: exact derivatives in forward mode with dg.Dual\n")
    print(f"  {'f(x)':26s} {'x':>5s} {'dualgrad f_prime(x)':>22s} {'analytic':>22s} {'rel. error':>11s}")
    worst = 0.0
    for label, f, df, x in EXAMPLES:
        got = f(dg.Dual(x, 1.0)).tangent
        want = df(x)
        err = abs(got - want) / max(abs(want), 1e-300)
        worst = max(worst, err)
        print(f"  {label:26s} {x:5.2f} {got:22.16f} {want:22.16f} {err:11.1e}")

    x0, y0 = workloads.S_POINT
    f = workloads.workload_s(dm.sin, dm.exp, dm.log)
    out = f(dg.Dual(x0, [1.0, 0.0]), dg.Dual(y0, [0.0, 1.0]))
    exact = workloads.s_gradient_exact(x0, y0)
    err = float(np.max(np.abs(out.tangent - exact) / np.abs(exact)))
    worst = max(worst, err)
    print("\nOne evaluation on Duals with two tangent directions gives a whole gradient:")
    print("  f(x, y) = sum_{i<200} sin(x*i)*exp(-y) + x*y/(1+i) + log(1+x*x)")
    print(f"  at (x, y) = ({x0}, {y0}): f = {out.value:.12f}")
    print(f"  dualgrad  (df/dx, df/dy) = ({out.tangent[0]:.12f}, {out.tangent[1]:.12f})")
    print(f"  analytic  (df/dx, df/dy) = ({exact[0]:.12f}, {exact[1]:.12f})  rel. error {err:.1e}")
    worst = max(worst, reverse_mode())
    worst = max(worst, tensors())
    print(f"\nlargest relative error: {worst:.1e}")
    print("Benchmarks: python -m dualgrad bench")
    return 0 if worst < 1e-12 else 1


def report(checks):
    """Print each (label, computed, analytic) pair of arrays; the largest relative error."""
    worst = 0.0
    for label, got, want in checks:
        err = float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-300)))
        worst = max(worst, err)
        print(f"  {label:28s} {np.array2string(got, precision=6, max_line_width=200)}")
        print(f"  {'analytic':28s} {np.array2string(want, precision=6, max_line_width=200)}"
              f"  rel. error {err:.1e}")
    return worst


def reverse_mode():
    """Reverse mode on the tape, replay and forward over reverse, against the analytic answers."""
    n = 6
    x0 = workloads.r_point(n)
    with dg.Tape() as tape:
        x = tape.var(x0.tolist())
        y = workloads.rosenbrock(x)
    grad = tape.gradient(y, x)
    rec = dg.record(workloads.rosenbrock, x0.tolist())
    x1 = x0 + 0.1
    v = np.arange(1.0, n + 1)
    checks = [("tape gradient at x0", grad, workloads.r_gradient_exact(x0)),
              ("replayed gradient at x1", rec.gradient(x1), workloads.r_gradient_exact(x1)),
              ("replayed Hessian @ v at x1", rec.hvp(x1, v), workloads.r_hvp_exact(x1, v))]
    print(f"\nReverse mode: one sweep over a tape of C arrays ({len(tape)} operations) gives the")
    print(f"gradient of the chained Rosenbrock function of {n} variables; dg.record replays the")
    print("tape at new points in C, and forward over reverse gives Hessian-vector products:")
    return report(checks)


def tensors():
    """Reverse mode on arrays: Tensor, backward, and a Hessian-vector product by
    differentiating the gradient (create_graph=True), against the analytic answers."""
    A = np.array([[2.0, 1.0, 0.0], [1.0, 3.0, -1.0], [0.5, 0.0, 4.0]])
    x0 = np.array([0.3, -0.2, 0.1])
    v = np.array([1.0, 2.0, 3.0])
    x = dg.tensor(x0, requires_grad=True)
    loss = dg.tanh(A @ x).sum() + 0.5 * (x * x).sum()
    (g,) = dg.autograd.grad(loss, x, create_graph=True)
    (hv,) = dg.autograd.grad((g * dg.tensor(v)).sum(), x)
    t = np.tanh(A @ x0)
    checks = [("gradient", g.detach().numpy(), A.T @ (1 - t * t) + x0),
              ("Hessian @ v", hv.numpy(), A.T @ (-2 * t * (1 - t * t) * (A @ v)) + v)]
    print("\nTensors (reverse mode on arrays, as PyTorch): f(x) = sum(tanh(A @ x)) + x.x/2;")
    print("autograd.grad gives the gradient, and differentiating it again (create_graph=True)")
    print("a Hessian-vector product:")
    return report(checks)


def main(argv):
    if argv[:1] == ["bench"]:
        from dualgrad.bench import main as bench
        return bench(argv[1:])
    if argv:
        print("usage: python -m dualgrad [bench [--quick] [--json PATH]]", file=sys.stderr)
        return 2
    return demo()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
