"""The mixed-mode planner: which tier and which mode differentiate a call.

A Jacobian of f: R^n -> R^m costs about ``ceil(n / k)`` forward passes of k
directions each, or one recording and m reverse sweeps; either runs on the
scalar tier (a Dual or a Var per number: cheap per operation, one object per
element) or on the array tier (a DualArray or a Tensor per argument: some
microseconds per operation, vectorised over elements). The planner estimates
each from the shapes and from one probe evaluation of f on DualArrays, which
counts f's operations, the elements they produce and the multiply-adds of its
contractions; code of many one-element operations (loops over ``x[i]``) is
element-wise code, for which the scalar tier exists. It picks the cheapest,
and ``str(plan)`` says why.

The cost constants below are per operation (seconds), measured on a 2-core
x86-64 machine (chains of tanh, multiply and add); only their ratios matter.
Plans are cached per function, transform and argument shapes.
"""

import collections
import contextlib
import math
import threading
import time
import weakref

__all__ = ["Plan", "Stats", "chunk_size", "choose", "estimates", "COSTS",
           "SCALAR_CHUNK_THRESHOLD", "ARRAY_CHUNK_THRESHOLD", "ELEMENTWISE_OP_SIZE"]

SCALAR_CHUNK_THRESHOLD = 64
"""Most directions one Dual carries (tunable). ForwardDiff's default is 12, for
stack-allocated tangents; a Dual's operation costs about 22 ns plus 0.6 ns per
direction (measured up to 128 directions), so fewer, longer passes pay."""

ARRAY_CHUNK_THRESHOLD = 256
"""Most directions one DualArray carries (tunable): its tangent is k times its value."""

ELEMENTWISE_OP_SIZE = 2.0
"""Code whose operations make at most this many elements on average is element-wise code."""

#: Seconds per operation of each evaluator; only their ratios matter.
COSTS = {
    "python op": 20e-9,                                # the user's code around each scalar op
    "dual op": 22e-9, "dual direction": 0.6e-9,        # scalar forward, per operation
    "tape record": 30e-9,                              # scalar reverse: recording, per op
    "tape sweep": 4e-9, "tape call": 1e-6,             # one reverse sweep, per op; per sweep
    "tape hvp": 11e-9,                                 # one forward-over-reverse sweep, per op
    "dualarray op": 1.0e-6, "dualarray element": 1.5e-9,   # per op; per element and direction
    "tensor op": 1.5e-6, "tensor element": 1.7e-9,    # forward, recorded
    "backward op": 1.0e-6, "backward element": 1.0e-9,    # one sweep, per op and element
    "backward call": 25e-6,                            # one sweep's fixed cost
    "flop": 0.25e-9,                                   # per multiply-add and direction
}


def chunk_size(n, threshold):
    """ForwardDiff's rule: the fewest chunks of at most ``threshold`` directions,
    then the chunk size that leaves the fewest unused directions in the last one."""
    if n <= threshold:
        return max(n, 1)
    chunks = math.ceil(n / threshold)
    return math.ceil(n / chunks)


class Stats:
    """What one probe evaluation saw."""

    __slots__ = ("ops", "elements", "flops", "m", "seconds", "arrays", "not_on_objects",
                 "custom", "reverse_only", "complex_out")

    def __init__(self, ops=0, elements=0, m=None, seconds=0.0, arrays=True, flops=0):
        self.ops, self.elements, self.flops, self.m = ops, elements, flops, m
        self.seconds = seconds
        self.arrays = arrays             # False: f ran on numbers but not on DualArrays
        self.not_on_objects = set()      # NumPy functions called that object arrays can't take
        self.custom = False              # f calls a custom_jvp or custom_vjp function
        self.reverse_only = False        # f calls a custom_vjp function: no forward mode
        self.complex_out = False         # f returns complex values (not declared holomorphic)

    @property
    def op_size(self):
        """Mean work per operation: elements made and multiply-adds."""
        return (self.elements + self.flops) / self.ops if self.ops else 1.0


class Plan:
    """The planner's choice for one call.

    Attributes
    ----------
    kind : str
        "jacobian", "grad", "hessian", "hvp", "jvp" or "vjp".
    tier : str
        "scalar" (Dual, Tape) or "array" (DualArray, Tensor).
    mode : str
        "forward", "reverse", or "forward-over-reverse" for Hessians.
    chunk : int
        Directions per forward pass (k).
    n, m : int
        Input and output sizes.
    estimates : dict
        Estimated seconds of each alternative, keyed by (tier, mode).
    reasons : list of str
        Why, in a few lines.
    """

    def __init__(self, kind, tier, mode, chunk, n, m, estimates, reasons, stats=None):
        self.kind, self.tier, self.mode, self.chunk = kind, tier, mode, chunk
        self.n, self.m, self.estimates, self.reasons, self.stats = n, m, estimates, reasons, stats

    def __repr__(self):
        return (f"Plan(kind={self.kind!r}, tier={self.tier!r}, mode={self.mode!r}, "
                f"chunk={self.chunk}, n={self.n}, m={self.m})")

    def __str__(self):
        lines = [f"{self.kind} of f: R^{self.n} -> R^{self.m}: {self.mode} mode on the "
                 f"{self.tier} tier" + (f", {self.chunk} direction(s) per pass"
                                        if "forward" in self.mode else "")]
        lines += ["  " + r for r in self.reasons]
        if self.estimates:
            lines.append("  estimates:")
            best = min(self.estimates.values())
            for (tier, mode), t in sorted(self.estimates.items(), key=lambda kv: kv[1]):
                mark = "  <- chosen" if (tier, mode) == (self.tier, self.mode) else ""
                lines.append(f"    {tier:6} {mode:20} {_seconds(t):>10}  "
                             f"({t / best if best else 1:.1f}x){mark}")
        return "\n".join(lines)


def _seconds(t):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t / 1e-9:.3g} ns"


# ---------------------------------------------------------------------------
# The cost model: a pure function of the shapes and the probe's counts

def estimates(kind, n, m, stats, scalar_ok=True):
    """Estimated seconds per (tier, mode) for ``kind`` with n inputs and m outputs.

    Array-tier costs count operations, the elements they make and the
    multiply-adds of contractions, each the more often the more directions a
    pass carries (its value counts as one). Reverse Jacobians on arrays carry
    chunks of cotangents per sweep; on the scalar tier one sweep per output.
    """
    c = COSTS
    ops, elements, flops = max(stats.ops, 1), max(stats.elements, 1), stats.flops
    m = max(m or 1, 1)

    def array_pass(k, op_cost):     # one evaluation carrying k directions
        return ops * op_cost + (1 + k) * (elements * c["dualarray element"] + flops * c["flop"])

    def sweep(k):                   # one backward sweep carrying k cotangents (0: plain)
        return (c["backward call"] + ops * (c["backward op"] + (c["dualarray op"] if k else 0))
                + (1 + k) * (elements * c["backward element"] + flops * c["flop"]))

    record = ops * c["tensor op"] + elements * c["tensor element"] + flops * c["flop"]
    scalar_eval = ops * (c["python op"] + c["tape record"])
    out = {}
    if kind in ("jacobian", "grad", "jvp", "vjp"):
        directions = 1 if kind == "jvp" else n
        ka, ks = (chunk_size(directions, t) for t in (ARRAY_CHUNK_THRESHOLD,
                                                      SCALAR_CHUNK_THRESHOLD))
        if kind != "vjp":
            out["array", "forward"] = math.ceil(max(directions, 1) / ka) * array_pass(
                ka, c["dualarray op"])
            if scalar_ok:
                out["scalar", "forward"] = math.ceil(max(directions, 1) / ks) * ops * (
                    c["python op"] + c["dual op"] + ks * c["dual direction"])
        if kind != "jvp":
            rows = 1 if kind == "vjp" else m
            kr = chunk_size(rows, ARRAY_CHUNK_THRESHOLD) if rows > 1 else 0
            out["array", "reverse"] = record + math.ceil(rows / max(kr, 1)) * sweep(kr)
            if scalar_ok:
                out["scalar", "reverse"] = scalar_eval + rows * (
                    c["tape call"] + ops * c["tape sweep"])
    else:   # hessian and hvp: forward over reverse
        directions = n if kind == "hessian" else 1
        k = chunk_size(max(directions, 1), ARRAY_CHUNK_THRESHOLD)
        # On dual values the backward rules' arithmetic takes about three
        # DualArray operations for each plain one.
        dual_sweep = (c["backward call"] + ops * (c["backward op"] + 3 * c["dualarray op"])
                      + 3 * (1 + k) * (elements * c["backward element"] + flops * c["flop"]))
        out["array", "forward-over-reverse"] = math.ceil(max(directions, 1) / k) * (
            array_pass(k, c["tensor op"] + c["dualarray op"]) + dual_sweep)
        if scalar_ok:
            out["scalar", "forward-over-reverse"] = scalar_eval + directions * (
                c["tape call"] + ops * c["tape hvp"])
    return out


def choose(kind, n, m, stats, nested=False, mode="auto", device=None, complex_args=False):
    """The Plan for ``kind`` from the shapes and the probe's counts alone.

    ``nested``: the arguments carry an outer transform's derivatives, which only
    the array tier's values can hold. ``mode``: "auto", or a forced "forward"
    or "reverse". ``device``: the GPU the arguments are on, if any (the scalar
    tier computes on the CPU). ``complex_args``: some arguments are complex,
    which only the array tier's values hold.
    """
    elementwise = stats.op_size <= ELEMENTWISE_OP_SIZE
    scalar_ok = (elementwise and not nested and device is None and not stats.not_on_objects
                 and not complex_args)
    est = estimates(kind, n, m, stats, scalar_ok)
    reasons = []
    if device is not None:
        reasons.append(f"the arguments are on {device}: array tier")
    elif complex_args:
        reasons.append("the arguments are complex: array tier")
    elif nested:
        reasons.append("the arguments carry an outer transform's derivatives: array tier")
    elif stats.not_on_objects:
        reasons.append(f"f calls {', '.join(sorted(stats.not_on_objects))}, whose NumPy "
                       f"implementation fails or is wrong on the scalar tier's object arrays: "
                       f"array tier")
    elif elementwise:
        reasons.append(f"element-wise code ({stats.ops} operations of {stats.op_size:.3g} "
                       f"element(s) on average): the scalar tier is a candidate")
    else:
        reasons.append(f"array code ({stats.ops} operations of {stats.op_size:.3g} elements "
                       f"or multiply-adds on average): array tier")
    candidates = est
    if not stats.arrays and not nested and device is None and not complex_args:
        est = candidates = {k: v for k, v in est.items() if k[0] == "scalar"}
        reasons.append("f does not run on DualArrays: scalar tier")
    if stats.custom:
        # The tape records a custom function as its Taylor model, made by
        # reverse sweeps per output: the array tier runs the rule as it is.
        kept = {k: v for k, v in candidates.items() if k[0] != "scalar" or k[1] == "forward"}
        if kept and len(kept) < len(candidates):
            est = candidates = kept
            reasons.append("f calls custom rules, which the tape takes as Taylor models: "
                           "no scalar reverse mode")
    if stats.reverse_only and mode != "forward":
        # A forced forward mode (and jvp) is left to fail with the custom_vjp's message.
        kept = {k: v for k, v in candidates.items() if k[1] != "forward"}
        if kept:
            est = candidates = kept
            reasons.append("f calls a custom_vjp function, which has no forward-mode rule: "
                           "reverse mode")
    if getattr(stats, "complex_out", False) and mode == "auto" and kind == "jacobian":
        # A reverse sweep from a complex output would need one for its real and
        # one for its imaginary part; forward passes carry both.
        kept = {k: v for k, v in candidates.items() if k[1] == "forward"}
        if kept:
            est = candidates = kept
            reasons.append("f returns complex values: forward mode")
    if mode != "auto":
        candidates = {k: v for k, v in est.items() if k[1] == mode}
        reasons.append(f"mode {mode!r} was asked for")
    (tier, chosen), _ = min(candidates.items(), key=lambda kv: kv[1])
    if mode == "auto" and kind in ("jacobian", "grad"):
        reasons.append(f"{n} input(s), {m} output(s): "
                       + ("forward passes are cheaper than reverse sweeps" if chosen == "forward"
                          else "reverse sweeps are cheaper than forward passes"))
    if tier == "scalar" and kind in ("hessian", "hvp"):
        chunk = 1       # the tape's forward-over-reverse sweep carries one direction
    else:
        chunk = chunk_size(n if kind != "hvp" else 1,
                           SCALAR_CHUNK_THRESHOLD if tier == "scalar" else ARRAY_CHUNK_THRESHOLD)
    return Plan(kind, tier, chosen, chunk, n, m, est, reasons, stats)


# ---------------------------------------------------------------------------
# Probing and the cache

_local = threading.local()


@contextlib.contextmanager
def counting():
    """Count the DualArray operations made inside the block (Stats)."""
    from dualgrad._array import dualarray
    stats = Stats()
    before = dualarray.operation_counts()
    previous = dualarray.count_operations(True)
    outer, _local.probe = getattr(_local, "probe", None), stats
    t0 = time.perf_counter()
    try:
        yield stats
    finally:
        stats.seconds = time.perf_counter() - t0
        _local.probe = outer
        dualarray.count_operations(previous)
        stats.ops, stats.elements, stats.flops = (
            b - a for a, b in zip(before, dualarray.operation_counts()))


def note_custom(reverse_only=False):
    """A custom_jvp or custom_vjp function was called with derivatives: note it
    in the probe running in this thread, if one is. ``reverse_only``: a
    custom_vjp function in forward mode (which it has no rule for). Returns
    whether a probe is running (its results, and those of the transforms
    inside it, are only counted)."""
    stats = getattr(_local, "probe", None)
    if stats is None:
        return False
    stats.custom = True
    stats.reverse_only |= reverse_only
    return True


def note_not_on_objects(name):
    """The probe running saw f call NumPy's ``name``, which fails or is wrong on
    the scalar tier's object arrays (ufuncs.NOT_ON_OBJECTS)."""
    stats = getattr(_local, "probe", None)
    if stats is not None:
        stats.not_on_objects.add(name)


PLAN_CACHE_SIZE = 64
"""Most plans kept per function: the least recently used goes first. A function
called at ever new argument shapes would otherwise grow its table forever."""

_cache = weakref.WeakKeyDictionary()     # f -> OrderedDict {(kind, mode, argument key): Plan}


def _cached(f):
    try:
        return _cache.setdefault(f, collections.OrderedDict())
    except TypeError:                    # not weak-referenceable: no cache
        return collections.OrderedDict()


def _remember(table, key, plan):
    table[key] = plan
    table.move_to_end(key)
    while len(table) > PLAN_CACHE_SIZE:
        table.popitem(last=False)


def plan_call(f, kind, inp, mode, probe):
    """The cached plan for ``kind`` of f at arguments ``inp``; probe on a miss."""
    table = _cached(f)
    key = (kind, mode, inp.key())
    plan = table.get(key)
    if plan is None:
        stats = probe(inp, f)
        plan = choose(kind, inp.n, stats.m, stats, inp.nested, _mode_of(kind, mode),
                      inp.device if inp.on_gpu else None, getattr(inp, "complex", False))
        _remember(table, key, plan)
    else:
        try:
            table.move_to_end(key)
        except KeyError:                 # dropped meanwhile by another thread
            pass
    return plan


def _mode_of(kind, mode):
    if kind == "jvp":
        return "forward"
    if kind == "vjp":
        return "reverse"
    return mode


def on_arrays(f, kind, inp, mode, plan, why):
    """The plan again without the scalar tier (``why`` says why), cached."""
    new = choose(kind, plan.n, plan.m, plan.stats, True, _mode_of(kind, mode))
    new.reasons[0] = why
    _remember(_cached(f), (kind, mode, inp.key()), new)
    return new
