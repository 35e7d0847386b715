"""``python -m dualgrad bench``: time the workloads against every installed peer.

Variants are timed interleaved (round after round, each variant once per round)
so that a noisy neighbour slows all of them alike; the tables report medians
over rounds and ratios between medians of the same run. Variants slower than
a second per call get at most three rounds.
"""

import argparse
import importlib.metadata
import json
import platform
import statistics
import sys
import time

from . import workloads as _workloads

PEERS = ("numpy", "torch", "autograd", "jax")
SLOW = 1.0                              # seconds per call beyond which a variant gets 3 rounds


def _per_call(fn, number):
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def first_calls(workload):
    """Result and duration of each installed variant's first call (for JAX jit: compilation)."""
    results, seconds = {}, {}
    for name, v in workload.variants.items():
        if v is not None:
            t0 = time.perf_counter()
            results[name] = v[1]()
            seconds[name] = time.perf_counter() - t0
    return results, seconds


def measure(workload, first, rounds, sample_seconds, log):
    """Median seconds per call of each variant (None where not installed)."""
    active = {name: v[1] for name, v in workload.variants.items() if v is not None}
    numbers = {name: max(1, int(sample_seconds / max(first[name], 1e-9))) for name in active}
    samples = {name: [] for name in active}
    for r in range(rounds):
        log(f"  {workload.name}: round {r + 1}/{rounds}")
        for name, fn in active.items():
            if r < 3 or first[name] < SLOW:
                samples[name].append(_per_call(fn, numbers[name]))
    return {name: (statistics.median(samples[name]) if name in samples else None)
            for name in workload.variants}


def environment():
    versions = {"python": platform.python_version()}
    for mod in ("dualgrad",) + PEERS:
        try:
            versions[mod] = importlib.metadata.version(mod)
        except importlib.metadata.PackageNotFoundError:
            versions[mod] = None
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "versions": versions}


def _fmt_time(t):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if t >= scale:
            return f"{t / scale:8.2f} {unit}"
    return f"{t / 1e-9:8.2f} ns"


def table(workload, times, first):
    base, ours = times[workload.baseline], times[workload.reference]
    width = max(len(name) for name in times) + 2
    lines = [f"Workload {workload.name}: {workload.description}",
             f"{'variant':{width}s} {'median/call':>12s} {'/ f on floats':>14s} {'dualgrad faster':>16s}"]
    for name, t in times.items():
        if t is None:
            lines.append(f"{name:{width}s} {'skipped (not installed)':>44s}")
            continue
        peer = "dualgrad" not in name and not name.startswith("f on")
        speedup = f"{t / ours:15.1f}x" if peer else ""
        lines.append(f"{name:{width}s} {_fmt_time(t):>12s} {t / base:13.2f}x {speedup:>16s}")
    for name, t in times.items():
        if t is not None and "jit" in name:
            lines.append(f"  ({name}: compilation, excluded above, {first[name]:.2f} s)")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dualgrad bench",
                                     description="Time dualgrad's workloads against installed peers.")
    parser.add_argument("--quick", action="store_true",
                        help="few rounds, short samples, small sizes (a smoke run)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    rounds, sample = (3, 0.005) if args.quick else (15, 0.05)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    env = environment()
    print(f"medians of {rounds} interleaved rounds (at most 3 for variants over {SLOW:g} s); "
          f"{env['cpu']}; " + ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v))
    from .._scalar.dual import Dual
    size = sys.getsizeof(Dual(0.3, 1.0))
    print(f"sys.getsizeof of a one-direction Dual: {size} bytes")
    report = {"environment": env, "rounds": rounds, "dual_sizeof_bytes": size, "workloads": {}}
    for workload in _workloads.workloads(quick=args.quick):
        log(f"workload {workload.name}: checking every variant against the analytic answer")
        for name, v in workload.variants.items():
            if v is None:
                log(f"  {name}: skipped, not installed")
        results, first = first_calls(workload)
        workload.check(results)
        times = measure(workload, first, rounds, sample, log)
        print()
        print(table(workload, times, first), flush=True)
        report["workloads"][workload.name] = {"seconds_per_call": times,
                                              "first_call_seconds": first}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0
