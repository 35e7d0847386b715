"""``python -m dualgrad bench``: time the workloads against every installed peer.

Variants are timed interleaved (round after round, each variant once per round)
so that a noisy neighbour slows all of them alike; the table reports medians
over rounds and ratios between medians of the same run.
"""

import argparse
import importlib.metadata
import json
import platform
import statistics
import sys
import time

from . import workloads

PEERS = ("numpy", "torch", "autograd", "jax")


def _per_call(fn, number):
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def first_calls(variants):
    """Result and duration of each installed variant's first call (for JAX jit: compilation)."""
    results, seconds = {}, {}
    for name, v in variants.items():
        if v is not None:
            t0 = time.perf_counter()
            results[name] = v[1]()
            seconds[name] = time.perf_counter() - t0
    return results, seconds


def measure(variants, rounds, sample_seconds, log):
    """Median seconds per call of each variant (None where not installed)."""
    active = {name: v[1] for name, v in variants.items() if v is not None}
    numbers = {}
    for name, fn in active.items():
        per = _per_call(fn, 1)
        numbers[name] = max(1, int(sample_seconds / max(per, 1e-9)))
        log(f"  calibrated {name}: {numbers[name]} call(s) per sample")
    samples = {name: [] for name in active}
    for r in range(rounds):
        log(f"  round {r + 1}/{rounds}")
        for name, fn in active.items():
            samples[name].append(_per_call(fn, numbers[name]))
    return {name: (statistics.median(samples[name]) if name in samples else None)
            for name in variants}


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
    if t is None:
        return "skipped (not installed)"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if t >= scale:
            return f"{t / scale:8.2f} {unit}"
    return f"{t / 1e-9:8.2f} ns"


def table_s(times, first_call):
    base = times["f on floats, dualgrad.math"]
    ours = times["gradient, dualgrad Dual (2 directions)"]
    lines = [f"{'variant':42s} {'median/call':>12s} {'/ f on floats':>14s} {'dualgrad faster':>16s}"]
    for name, t in times.items():
        if t is None:
            lines.append(f"{name:42s} {'skipped (not installed)':>44s}")
            continue
        speedup = f"{t / ours:15.1f}x" if name.startswith("gradient") else ""
        lines.append(f"{name:42s} {_fmt_time(t):>12s} {t / base:13.2f}x {speedup:>16s}")
    jit = "gradient, JAX jit (compiled)"
    if times.get(jit) is not None:
        lines.append(f"  (JAX jit compilation, excluded above: {first_call[jit]:.2f} s)")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dualgrad bench",
                                     description="Time dualgrad's workloads against installed peers.")
    parser.add_argument("--quick", action="store_true", help="few rounds, short samples (a smoke run)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    rounds, sample = (3, 0.005) if args.quick else (15, 0.05)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    log("workload S: checking every variant against the analytic gradient")
    variants = workloads.s_variants()
    for name, v in variants.items():
        if v is None:
            log(f"  {name}: skipped, not installed")
    results, first_call = first_calls(variants)
    workloads.check(variants, results)
    times = measure(variants, rounds, sample, log)
    env = environment()
    from .._scalar.dual import Dual
    size = sys.getsizeof(Dual(*workloads.S_POINT[:1], 1.0))

    print("Workload S: f(x, y) = sum_{i<200} sin(x*i)*exp(-y) + x*y/(1+i) + log(1+x*x), at (0.3, 0.7)")
    print(f"medians of {rounds} interleaved rounds; {env['cpu']}; "
          + ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v))
    print()
    print(table_s(times, first_call))
    print(f"\nsys.getsizeof of a one-direction Dual: {size} bytes")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"environment": env, "rounds": rounds,
                       "workloads": {"S": {"seconds_per_call": times,
                                           "first_call_seconds": first_call}},
                       "dual_sizeof_bytes": size}, f, indent=2)
    return 0
