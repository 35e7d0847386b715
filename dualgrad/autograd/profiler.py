"""The autograd profiler: where the time goes, operation by operation, in the
forward pass and in the backward pass, as ``torch.autograd.profiler.profile``.

>>> with dg.autograd.profiler.profile() as prof:       # doctest: +SKIP
...     y = (x ** 2).sum()
...     y.backward()
>>> print(prof)                                          # doctest: +SKIP

How it measures. Nothing is installed while no profiler is active, so
profiling costs nothing when it is off. Entering the first profiler installs
three sources of timed intervals, all reporting into one list:

* the engine's callback (``engine.set_profiler``): every backward rule, named
  by its node (``PowBackward``);
* the tensor module's callback (``tensor.set_profiler``): every elementwise row
  and arithmetic operator (``power``, ``multiply``);
* timing wrappers put in place of the public operations of the op library
  ``dualgrad._array.ops`` (which Tensor methods look up through the package at
  call time) and of their imports in its modules, of their
  re-exports at dualgrad's top level, of :mod:`dualgrad.linalg`, and of the
  engine's ``run_backward`` (the whole backward pass, named
  ``autograd.backward`` or ``autograd.grad``).

Leaving the last active profiler puts every original back (also after an
exception, and whatever the order in which overlapping profilers are left).

An interval is reported when it ends, so a parent (``mean``) arrives after its
children (its ``divide``). Nesting, and with it each operation's *self* time
(its total minus the totals of the operations directly inside it), is rebuilt
afterwards from the intervals themselves, per thread: intervals of one thread
nest properly. Operations running inside a backward pass (the recorded
operations of ``create_graph=True``, or the body of a custom Function's
backward) are counted in the ``backward`` phase.
"""

import functools
import json
import os
import sys
import threading
from time import perf_counter_ns

__all__ = ["profile", "record_function", "EventList", "FunctionEvent", "FunctionEventAvg"]


# ---------------------------------------------------------------------------
# Which functions are timed, and under what name

# Public functions of the op library that are not operations on values (introspection,
# conversion to Python objects, settings, dispatch helpers whose work is timed
# where it lands): left alone.
_NOT_TIMED = frozenset({
    "set_default_dtype", "get_default_dtype", "manual_seed", "inplace", "getitem_along",
    "prop_shape", "prop_dtype", "prop_ndim", "prop_device", "size", "dim", "ndimension",
    "numel", "nelement", "is_floating_point", "element_size", "scalar_value", "item",
    "tolist", "numpy", "cpu", "logical", "rebuild", "deepcopy", "tensor_repr", "array_ufunc",
    "array_function"})

# Op library names that are not what the user wrote: x.T, x.float(), ...
_RENAMED = {"prop_T": "T", "prop_mT": "mT", "to_float": "float", "to_double": "double",
            "to_half": "half", "to_long": "long", "to_int": "int", "to_bool": "bool"}

_LINALG = ("solve", "inv", "det", "slogdet", "cholesky", "norm", "vector_norm")

FORWARD, BACKWARD = "forward", "backward"


# ---------------------------------------------------------------------------
# Recording: one list of (name, phase, start_ns, end_ns, thread) per process,
# appended to as intervals end. Profilers remember where their part starts.

_events = []
_append = _events.append
_thread_id = threading.get_native_id
_lock = threading.Lock()
_active = []            # the profilers entered and not yet left
_installed = None       # what _install replaced, for _uninstall


def _record(name, phase, start_ns, end_ns):
    """The callback of the engine and the tensor module (and of the wrappers)."""
    _append((name, phase, start_ns, end_ns, _thread_id()))


def _timed(fn, name, phase=FORWARD):
    """``fn`` reporting each call's interval as ``name``."""

    @functools.wraps(fn)
    def timed(*args, **kwargs):
        start = perf_counter_ns()
        try:
            return fn(*args, **kwargs)
        finally:
            _append((name, phase, start, perf_counter_ns(), _thread_id()))

    timed._dg_profiler_wrapper = True
    return timed


def _timed_backward(run_backward):
    """The engine's ``run_backward``, reporting the whole pass (its self time
    is the engine's own work: the graph walk, summing and accumulating)."""

    @functools.wraps(run_backward)
    def timed(*args, **kwargs):
        accumulate = args[6] if len(args) > 6 else kwargs.get("accumulate_grads", True)
        start = perf_counter_ns()
        try:
            return run_backward(*args, **kwargs)
        finally:
            _append(("autograd.backward" if accumulate else "autograd.grad", BACKWARD, start,
                     perf_counter_ns(), _thread_id()))

    timed._dg_profiler_wrapper = True
    return timed


def _timed_names(ops):
    """(attribute, name) of the operations of the op library that are timed: the
    package ``ops`` re-exports them from its modules (imported names are not)."""
    prefix = ops.__name__ + "."
    for attr, value in vars(ops).items():
        if (attr.startswith("_") or attr in _NOT_TIMED or isinstance(value, type)
                or not callable(value)
                or not (getattr(value, "__module__", None) or "").startswith(prefix)):
            continue
        yield attr, _RENAMED.get(attr, attr)


def _op_library_modules(ops):
    """The modules of the op library (the package ``ops`` holds them by subject)."""
    prefix = ops.__name__ + "."
    return [m for name, m in list(sys.modules.items()) if name.startswith(prefix)]


def _install():
    """Put the timing wrappers and callbacks in place (the first profiler in)."""
    global _installed
    import dualgrad
    from dualgrad import autograd, linalg
    from dualgrad._array import engine, ops
    from dualgrad._array import tensor as tensor_module

    patches = []  # (namespace, attribute, original, wrapper)
    by_attr = {}
    for attr, name in _timed_names(ops):
        fn = getattr(ops, attr)
        by_attr[attr] = (fn, _timed(fn, name))
        patches.append((ops, attr) + by_attr[attr])
    # The modules of the op library call one another's operations through their
    # own imports of them (matmul in TensorNS, clamp in clamp_): time those too.
    for module in _op_library_modules(ops):
        for attr, value in list(vars(module).items()):
            if attr in by_attr and value is by_attr[attr][0]:
                patches.append((module, attr) + by_attr[attr])
    for attr, value in list(vars(dualgrad).items()):
        if attr in by_attr and value is by_attr[attr][0]:
            patches.append((dualgrad, attr) + by_attr[attr])
    for attr in _LINALG:
        fn = getattr(linalg, attr, None)
        if fn is not None and not getattr(fn, "_dg_profiler_wrapper", False):
            patches.append((linalg, attr, fn, _timed(fn, "linalg." + attr)))
    # Tensor.backward calls engine.run_backward; autograd.backward/grad their own import.
    run_backward = engine.run_backward
    wrapped = _timed_backward(run_backward)
    patches.append((engine, "run_backward", run_backward, wrapped))
    if getattr(autograd, "_run_backward", None) is run_backward:
        patches.append((autograd, "_run_backward", run_backward, wrapped))

    done = []
    try:
        for namespace, attr, original, wrapper in patches:
            setattr(namespace, attr, wrapper)
            done.append((namespace, attr, original, wrapper))
        previous = (engine.set_profiler(_record), tensor_module.set_profiler(_record))
    except BaseException:
        _restore(done)
        raise
    _installed = (done, previous, engine, tensor_module)


def _restore(patches):
    for namespace, attr, original, wrapper in reversed(patches):
        # Something else that replaced it meanwhile stays.
        if getattr(namespace, attr, None) is wrapper:
            setattr(namespace, attr, original)


def _uninstall():
    """Put every original back (the last profiler out)."""
    global _installed
    if _installed is None:
        return
    patches, (prev_engine, prev_tensor), engine, tensor_module = _installed
    _installed = None
    try:
        for module, prev in ((engine, prev_engine), (tensor_module, prev_tensor)):
            current = module.set_profiler(prev)
            if current is not _record:  # someone else's callback came after ours: keep it
                module.set_profiler(current)
    finally:
        _restore(patches)


# ---------------------------------------------------------------------------
# Results

def _format_time(us):
    """Microseconds as PyTorch's tables show them."""
    if us >= 1e6:
        return f"{us / 1e6:.3f}s"
    if us >= 1e3:
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


class FunctionEvent:
    """One call of one operation: ``name`` (also ``key``), ``phase``
    ("forward" or "backward"), ``thread``, ``start_us`` (from the profiler's
    start), ``cpu_time_total`` and ``self_cpu_time_total`` (microseconds; self
    time leaves out the operations called inside it), ``depth`` (0 at the top
    level of its thread)."""

    __slots__ = ("name", "phase", "thread", "start_ns", "end_ns", "self_ns", "depth", "_t0")
    count = 1

    def __init__(self, name, phase, thread, start_ns, end_ns, self_ns, depth, t0):
        self.name, self.phase, self.thread = name, phase, thread
        self.start_ns, self.end_ns, self.self_ns, self.depth = start_ns, end_ns, self_ns, depth
        self._t0 = t0

    @property
    def key(self):
        return self.name

    @property
    def start_us(self):
        return (self.start_ns - self._t0) / 1e3

    @property
    def cpu_time_total(self):
        return (self.end_ns - self.start_ns) / 1e3

    cpu_time = cpu_time_total

    @property
    def self_cpu_time_total(self):
        return self.self_ns / 1e3

    self_cpu_time = self_cpu_time_total

    def __repr__(self):
        return (f"<FunctionEvent {self.name} ({self.phase}) thread={self.thread} "
                f"start_us={self.start_us:.3f} cpu_time_total={self.cpu_time_total:.3f} "
                f"self_cpu_time_total={self.self_cpu_time_total:.3f}>")


class FunctionEventAvg:
    """The calls of one operation in one phase together: ``key`` (the name),
    ``phase``, ``count``, ``cpu_time_total`` and ``self_cpu_time_total`` (sums,
    microseconds), ``cpu_time`` and ``self_cpu_time`` (per call)."""

    __slots__ = ("key", "phase", "count", "cpu_time_total", "self_cpu_time_total")

    def __init__(self, key, phase):
        self.key, self.phase = key, phase
        self.count = 0
        self.cpu_time_total = self.self_cpu_time_total = 0.0

    name = property(lambda self: self.key)

    def add(self, event):
        self.count += event.count
        self.cpu_time_total += event.cpu_time_total
        self.self_cpu_time_total += event.self_cpu_time_total
        return self

    @property
    def cpu_time(self):
        return self.cpu_time_total / self.count if self.count else 0.0

    @property
    def self_cpu_time(self):
        return self.self_cpu_time_total / self.count if self.count else 0.0

    def __repr__(self):
        return (f"<FunctionEventAvg {self.key} ({self.phase}) count={self.count} "
                f"cpu_time_total={self.cpu_time_total:.3f} "
                f"self_cpu_time_total={self.self_cpu_time_total:.3f}>")


_SORT_KEYS = ("cpu_time_total", "self_cpu_time_total", "cpu_time", "self_cpu_time", "count")


class EventList(list):
    """A list of events (``FunctionEvent`` or ``FunctionEventAvg``) that prints
    as a table."""

    @property
    def self_cpu_time_total(self):
        """The sum of the self times (microseconds): all the time measured, once."""
        return sum(e.self_cpu_time_total for e in self)

    def table(self, sort_by=None, row_limit=100, header=None, max_name_column_width=55):
        """The events as a text table, largest first by ``sort_by`` (one of
        "cpu_time_total" (the default), "self_cpu_time_total", "cpu_time",
        "self_cpu_time", "count"); at most ``row_limit`` rows (None or a negative
        number: all)."""
        key = sort_by or "cpu_time_total"
        if key not in _SORT_KEYS:
            raise ValueError(f"can't sort the profiler's table by {sort_by!r}; use one of "
                             f"{', '.join(map(repr, _SORT_KEYS))}")
        rows = sorted(self, key=lambda e: getattr(e, key), reverse=True)
        if row_limit is not None and row_limit >= 0:
            rows = rows[:row_limit]
        total = self.self_cpu_time_total
        pct = (lambda v: f"{100 * v / total:.2f}%") if total else (lambda v: "-")
        headers = ("Name", "Phase", "Self CPU %", "Self CPU", "CPU total %", "CPU total",
                   "CPU time avg", "# of Calls")
        cells = []
        for e in rows:
            name = e.key
            if len(name) > max_name_column_width:
                name = name[:max_name_column_width - 3] + "..."
            cells.append((name, e.phase, pct(e.self_cpu_time_total),
                          _format_time(e.self_cpu_time_total), pct(e.cpu_time_total),
                          _format_time(e.cpu_time_total), _format_time(e.cpu_time),
                          str(e.count)))
        widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(headers)]

        def line(values):
            return "  ".join(v.ljust(w) if i < 2 else v.rjust(w)
                             for i, (v, w) in enumerate(zip(values, widths))).rstrip()

        rule = "  ".join("-" * w for w in widths)
        out = [] if header is None else [header]
        out += [rule, line(headers), rule] + [line(c) for c in cells] + [rule]
        out.append(f"Self CPU time total: {_format_time(total)}")
        return "\n".join(out) + "\n"

    def __str__(self):
        return self.table()


def _build_events(raw, t0):
    """FunctionEvents, in order of start, with self times and phases from the
    nesting of the intervals of each thread."""
    n = len(raw)
    child_ns = [0] * n
    depth = [0] * n
    in_backward = [False] * n
    by_thread = {}
    for i, r in enumerate(raw):
        by_thread.setdefault(r[4], []).append(i)
    for order in by_thread.values():
        # Outer before inner: earlier start first; at equal starts the longer,
        # and at equal intervals the one reported later (a parent ends after
        # its children).
        order.sort(key=lambda i: (raw[i][2], -raw[i][3], -i))
        stack = []
        for i in order:
            end = raw[i][3]
            while stack and raw[stack[-1]][3] < end:
                stack.pop()
            back = raw[i][1] == BACKWARD
            if stack:
                parent = stack[-1]
                child_ns[parent] += end - raw[i][2]
                depth[i] = depth[parent] + 1
                back = back or in_backward[parent]
            in_backward[i] = back
            stack.append(i)
    events = [FunctionEvent(r[0], BACKWARD if in_backward[i] else FORWARD, r[4], r[2], r[3],
                            r[3] - r[2] - child_ns[i], depth[i], t0)
              for i, r in enumerate(raw)]
    events.sort(key=lambda e: (e.start_ns, -e.end_ns))
    return EventList(events)


class profile:
    """Time every operation run inside the ``with`` block, forward and backward.

    After the block: ``print(prof)`` shows one row per operation and phase
    (calls, self and total time), sorted by total time; ``key_averages()``
    gives those rows as objects; ``events()`` every single call;
    ``export_chrome_trace(path)`` a trace for Perfetto or chrome://tracing.

    Profilers may overlap (nested, or left in any order); each sees what ran
    while it was active. Calls from every thread are recorded, with their
    thread id.

    Parameters
    ----------
    enabled : bool
        False makes the context manager do nothing (and record nothing).
    use_cuda, record_shapes, profile_memory, with_stack : bool
        PyTorch's options; dualgrad measures CPU time only, so these must stay False.
    """

    def __init__(self, enabled=True, *, use_cuda=False, record_shapes=False,
                 profile_memory=False, with_stack=False):
        if use_cuda:
            raise RuntimeError("profile(use_cuda=True): dualgrad runs on the CPU; drop use_cuda")
        for option, value in (("record_shapes", record_shapes),
                              ("profile_memory", profile_memory), ("with_stack", with_stack)):
            if value:
                raise NotImplementedError(f"profile({option}=True) is not supported by "
                                          f"dualgrad's profiler, which measures time per "
                                          f"operation only; drop {option}")
        self.enabled = bool(enabled)
        self._state = "new"
        self._offset = 0
        self._t0 = self._t1 = 0
        self._raw = []
        self._events = None

    def __enter__(self):
        if self._state != "new":
            raise RuntimeError("a profile can be entered only once; make a new "
                               "dualgrad.autograd.profiler.profile() for each run")
        self._state = "running"
        if not self.enabled:
            return self
        with _lock:
            if not _active:
                _install()
            _active.append(self)
            self._offset = len(_events)
            self._t0 = perf_counter_ns()
        return self

    def __exit__(self, *exc):
        if self._state != "running":
            return False
        self._state = "done"
        if not self.enabled:
            return False
        self._t1 = perf_counter_ns()
        with _lock:
            try:
                t0, t1 = self._t0, self._t1
                # Intervals that began before this profiler (an operation it was
                # entered inside of) or ended after it are another profiler's.
                self._raw = [r for r in _events[self._offset:] if r[2] >= t0 and r[3] <= t1]
            finally:
                if self in _active:
                    _active.remove(self)
                if not _active:
                    try:
                        _uninstall()
                    finally:
                        del _events[:]
        return False

    # -- results -----------------------------------------------------------------

    def _finished(self):
        if self._state == "running":
            raise RuntimeError("the profiler's results are available after its `with` block "
                               "ends; read them outside the block")
        if self._events is None:
            self._events = _build_events(self._raw, self._t0)
            self._raw = None
        return self._events

    def events(self):
        """Every recorded call, as an :class:`EventList` of :class:`FunctionEvent`
        in order of start."""
        return self._finished()

    function_events = property(events)

    def key_averages(self, group_by_input_shape=False):
        """One :class:`FunctionEventAvg` per operation name and phase, largest
        total time first."""
        if group_by_input_shape:
            raise NotImplementedError("dualgrad's profiler does not record input shapes; "
                                      "call key_averages() without group_by_input_shape")
        groups = {}
        for e in self._finished():
            k = (e.name, e.phase)
            avg = groups.get(k)
            if avg is None:
                avg = groups[k] = FunctionEventAvg(e.name, e.phase)
            avg.add(e)
        return EventList(sorted(groups.values(), key=lambda a: a.cpu_time_total, reverse=True))

    def total_average(self):
        """All calls together, as one :class:`FunctionEventAvg`."""
        total = FunctionEventAvg("Total", "")
        for e in self._finished():
            total.add(e)
        return total

    @property
    def self_cpu_time_total(self):
        """All the time measured, in microseconds (the sum of the self times)."""
        return self._finished().self_cpu_time_total

    def table(self, sort_by=None, row_limit=100, header=None):
        """``key_averages().table(...)``."""
        return self.key_averages().table(sort_by=sort_by, row_limit=row_limit, header=header)

    def __str__(self):
        if self._state == "running":
            return "<dualgrad profiler: running>"
        return self.table()

    def __repr__(self):
        return f"<dualgrad.autograd.profiler.profile ({self._state})>"

    def export_chrome_trace(self, path):
        """Write the calls to ``path`` as JSON in the Trace Event Format (one
        complete event, ``"ph": "X"``, per call; times in microseconds from the
        profiler's start; ``cat`` is the phase), which Perfetto
        (ui.perfetto.dev) and chrome://tracing open."""
        events = self._finished()
        pid = os.getpid()
        trace = [{"name": "process_name", "ph": "M", "pid": pid, "tid": 0,
                  "args": {"name": "dualgrad"}}]
        for e in events:
            trace.append({"name": e.name, "ph": "X", "cat": e.phase,
                          "ts": round(e.start_us, 3), "dur": round(e.cpu_time_total, 3),
                          "pid": pid, "tid": e.thread,
                          "args": {"phase": e.phase,
                                   "self_us": round(e.self_cpu_time_total, 3)}})
        with open(os.fspath(path), "w") as f:
            json.dump({"traceEvents": trace, "displayTimeUnit": "ms"}, f)


class record_function:
    """A named range of your own in the profile (a context manager, or a
    decorator): ``with record_function("loss"): ...`` shows as a row "loss"
    whose total time covers the operations inside. Free when no profiler is
    active."""

    def __init__(self, name):
        self.name = str(name)
        self._start = []

    def __enter__(self):
        self._start.append(perf_counter_ns() if _active else None)
        return self

    def __exit__(self, *exc):
        start = self._start.pop()
        if start is not None and _active:
            _record(self.name, FORWARD, start, perf_counter_ns())
        return False

    def __call__(self, fn):
        name = self.name

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with record_function(name):
                return fn(*args, **kwargs)
        return wrapper
