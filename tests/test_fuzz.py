"""Random programs on every tier, each batch in a subprocess: no crashes.

Hypothesis draws short programs (random shapes and dtypes; unary and binary
functions; basic, negative, boolean, fancy and out-of-range indices; index
assignment and in-place changes through views; reshapes, also of the arrays
a value hands out (``d.tangent.shape = ...``); reductions,
products, backward passes and replays) and runs them on ``Dual`` (object
arrays of Duals), ``DualArray``, ``Tensor`` and the scalar tape (``Tape`` and
``dg.record``). Any operation may raise an ordinary Python exception (a clear
error for a bad program is fine); the test fails when the subprocess dies of a
signal (a segfault, an abort) or hangs.

The quick version runs in the normal suite (a few seconds). The big one:

    DUALGRAD_FUZZ=1 python -m pytest -q -n0 tests/test_fuzz.py

(``DUALGRAD_FUZZ=<n>`` for n batches of 100 programs; 1 means 200 batches.)
A failure prints the batch of programs as JSON; rerun one with
``python tests/test_fuzz.py < batch.json``.
"""

import json
import os
import subprocess
import sys

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_BIG = int(os.environ.get("DUALGRAD_FUZZ", "0") or 0)
BATCHES = (200 if _BIG == 1 else _BIG) if _BIG else 3
PROGRAMS_PER_BATCH = 100 if _BIG else 25

TIERS = ["dual", "dualarray", "tensor", "tape", "record"]
DTYPES = ["float64", "float32", "float16", "int64", "int32", "bool", "complex128"]
UNARY = ["sin", "exp", "log", "sqrt", "tanh", "abs", "negative", "square", "arctan",
         "cosh", "log1p", "reciprocal", "floor", "sign"]
BINARY = ["add", "subtract", "multiply", "divide", "power", "maximum", "minimum",
          "arctan2", "hypot", "fmod"]
REDUCTIONS = ["sum", "mean", "max", "min", "prod", "std", "var", "cumsum", "argmax"]
INPLACE = ["add_", "mul_", "sub_", "div_", "fill_", "zero_", "clamp_", "copy_"]

# -- the programs ---------------------------------------------------------------

dims = st.lists(st.integers(0, 4), max_size=3)
ints = st.integers(-7, 7)
index_atom = st.one_of(
    st.tuples(st.just("int"), ints),
    st.tuples(st.just("slice"), st.none() | ints, st.none() | ints,
              st.none() | st.integers(-3, 3)),
    st.just(("none",)),
    st.just(("ellipsis",)),
    st.tuples(st.just("bool"), dims),
    st.tuples(st.just("fancy"), st.lists(ints, max_size=4)),
    st.tuples(st.just("fancy2d"), st.lists(st.lists(ints, min_size=2, max_size=2), max_size=3)),
    st.tuples(st.just("list"), st.lists(ints, max_size=3)),
)
index = index_atom | st.tuples(st.just("tuple"), st.lists(index_atom, max_size=4))
operand = st.one_of(
    st.tuples(st.just("scalar"), st.floats(width=32)),
    st.tuples(st.just("array"), dims, st.sampled_from(DTYPES)),
    st.just(("self",)),
    st.just(("none",)),
)
op = st.one_of(
    st.tuples(st.just("unary"), st.sampled_from(UNARY)),
    st.tuples(st.just("dg"), st.sampled_from(UNARY[:5])),
    st.tuples(st.just("binary"), st.sampled_from(BINARY), operand),
    st.tuples(st.just("getitem"), index),
    st.tuples(st.just("setitem"), index, operand),
    st.tuples(st.just("reshape"), st.lists(st.integers(-1, 6), max_size=4)),
    st.just(("transpose",)),
    st.tuples(st.just("reduce"), st.sampled_from(REDUCTIONS), st.none() | st.integers(-4, 4)),
    st.tuples(st.just("matmul"), dims),
    st.tuples(st.just("astype"), st.sampled_from(DTYPES)),
    st.tuples(st.just("concat"), st.integers(-3, 3)),
    st.tuples(st.just("broadcast"), dims),
    st.tuples(st.just("inplace"), st.sampled_from(INPLACE), index, operand),
    st.just(("backward",)),
    st.tuples(st.just("reshape_held"), st.sampled_from(["value", "tangent"]),
              st.sampled_from(["reverse", "flat", "column", "lead"])),
)
program = st.fixed_dictionaries({
    "tier": st.sampled_from(TIERS), "shape": dims, "dtype": st.sampled_from(DTYPES),
    "seed": st.integers(0, 2 ** 32 - 1), "ops": st.lists(op, max_size=8)})


@settings(max_examples=BATCHES, deadline=None, derandomize=not _BIG,
          suppress_health_check=list(HealthCheck))
@given(st.lists(program, min_size=PROGRAMS_PER_BATCH, max_size=PROGRAMS_PER_BATCH))
def test_random_programs_never_crash(programs):
    import dualgrad
    batch = json.dumps(programs)
    # the dualgrad under test, not whichever the script's own directory finds
    root = os.path.dirname(os.path.dirname(os.path.abspath(dualgrad.__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [root] + os.environ.get("PYTHONPATH", "").split(os.pathsep))}
    try:
        done = subprocess.run([sys.executable, __file__], input=batch, capture_output=True,
                              text=True, timeout=120, env=env)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"a batch of programs hung:\n{batch}") from None
    assert done.returncode >= 0, (
        f"killed by signal {-done.returncode} in program "
        f"{done.stdout.strip().splitlines()[-1:]}:\n{batch}\n{done.stderr[-3000:]}")
    assert done.returncode == 0, done.stderr[-3000:]   # the runner itself failed


# -- the runner (in the subprocess) -----------------------------------------------

def _values(rng, shape, dtype):
    a = rng.standard_normal(shape) * 3
    if a.size:
        a.flat[rng.integers(0, a.size)] = rng.choice([0.0, np.nan, np.inf, -1.0, 1e300])
    return a.astype(dtype) if dtype != "bool" else a > 0


def _index(spec, rng):
    kind = spec[0]
    if kind == "int":
        return spec[1]
    if kind == "slice":
        return slice(*spec[1:])
    if kind == "none":
        return None
    if kind == "ellipsis":
        return Ellipsis
    if kind == "bool":
        return rng.random(spec[1]) < 0.5
    if kind in ("fancy", "fancy2d"):
        return np.array(spec[1], dtype=np.int64)
    if kind == "list":
        return list(spec[1])
    return tuple(_index(s, rng) for s in spec[1])


class _Tier:
    """How a program's operations act on one tier's values."""

    def __init__(self, dg, rng):
        self.dg, self.rng = dg, rng

    def start(self, a):
        return a

    def lift(self, c):
        return c

    def operand(self, spec, v):
        if spec[0] == "scalar":
            return spec[1]
        if spec[0] == "array":
            return self.lift(_values(self.rng, spec[1], spec[2]))
        if spec[0] == "none":
            return None
        if isinstance(v, np.ndarray) and v.dtype == object:
            # (v[()] = v would make an object array that holds itself, on which
            # NumPy's own astype recurses until it crashes: not dualgrad's to fix)
            return v.copy()
        return v

    def apply(self, v, o):
        np, dg = self.np, self.dg
        kind = o[0]
        if kind == "unary":
            return getattr(np, o[1])(v)
        if kind == "dg":
            return getattr(dg, o[1])(v)
        if kind == "binary":
            return getattr(np, o[1])(v, self.operand(o[2], v))
        if kind == "getitem":
            return v[_index(o[1], self.rng)]
        if kind == "setitem":
            v[_index(o[1], self.rng)] = self.operand(o[2], v)
            return v
        if kind == "reshape":
            return v.reshape(tuple(o[1]) if o[1] else -1)
        if kind == "transpose":
            return v.T
        if kind == "reduce":
            return getattr(np, o[1])(v, axis=o[2])
        if kind == "matmul":   # half of them of a matching inner dimension
            shape = list(o[1])
            if shape and len(np.shape(v)) and self.rng.random() < 0.5:
                shape[0 if len(shape) == 1 else -2] = np.shape(v)[-1]
            return np.matmul(v, self.lift(_values(self.rng, shape, "float64")))
        if kind == "astype":
            return self.astype(v, o[1])
        if kind == "concat":
            return np.concatenate([v, v], axis=o[1])
        if kind == "broadcast":
            return np.broadcast_to(v, tuple(o[1]))
        if kind == "inplace":
            return self.inplace(v, o)
        if kind == "reshape_held":   # the arrays a value hands out, reshaped in place
            held = self.held(v, o[1])
            if isinstance(held, np.ndarray):
                held.shape = {"reverse": held.shape[::-1], "flat": (-1,), "column": (-1, 1),
                              "lead": (1,) + held.shape}[o[2]]
            return v
        return self.finish(v)

    def held(self, v, which):
        return v

    def inplace(self, v, o):
        v[_index(o[2], self.rng)] = self.operand(o[3], v)
        return v

    def astype(self, v, dtype):
        return v.astype(dtype)

    def finish(self, v):
        return v


class _Duals(_Tier):
    np = np

    def start(self, a):
        Dual = self.dg.Dual
        flat = [Dual(complex(x).real if np.iscomplexobj(x) else float(x), 1.0)
                for x in np.ravel(a)]
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out.reshape(np.shape(a))

    def finish(self, v):
        for d in np.ravel(np.asarray(v, dtype=object)):
            getattr(d, "tangent", None)
        return v


class _DualArrays(_Tier):
    np = np

    def start(self, a):
        return self.dg.DualArray(a, np.ones((2,) + np.shape(a)))

    def held(self, v, which):
        return getattr(v, which, None)

    def finish(self, v):
        return v.tangent if hasattr(v, "tangent") else v


class _Tensors(_Tier):

    def __init__(self, dg, rng):
        super().__init__(dg, rng)
        self.np = np
        self.leaf = None

    def start(self, a):
        self.leaf = self.dg.tensor(a, requires_grad=a.dtype.kind == "f")
        return self.leaf * 1 if self.leaf.requires_grad else self.leaf

    def lift(self, c):
        return self.dg.tensor(c)

    def astype(self, v, dtype):
        return v.to(getattr(self.dg, dtype))

    def held(self, v, which):
        return v.numpy() if which == "value" else getattr(v.grad, "_a", None)

    def inplace(self, v, o):
        target = v[_index(o[2], self.rng)]
        c = self.operand(o[3], v)
        if o[1] in ("zero_",):
            return getattr(target, o[1])() and v
        if o[1] == "clamp_":
            target.clamp_(-1.0, c if isinstance(c, float) else 1.0)
        elif o[1] == "copy_":
            target.copy_(c)
        else:
            getattr(target, o[1])(c)
        return v

    def finish(self, v):
        dg = self.dg
        if isinstance(v, dg.Tensor) and v.requires_grad:
            out = v.sum() if v.numel() != 1 else v.reshape(())
            out.backward(retain_graph=True)
            if self.leaf is not None and self.leaf.requires_grad:
                dg.autograd.grad(out, self.leaf, retain_graph=True, allow_unused=True)
        return v


class _TapeVars(_Duals):

    def __init__(self, dg, rng):
        super().__init__(dg, rng)
        self.tape = dg.Tape().__enter__()
        self.x = None

    def start(self, a):
        flat = [complex(x).real if np.iscomplexobj(x) else float(x) for x in np.ravel(a)]
        self.x = self.tape.var(flat)
        out = np.empty(len(flat), dtype=object)
        out[:] = self.x
        return out.reshape(np.shape(a))

    def finish(self, v):
        y = v
        if isinstance(v, np.ndarray):
            y = np.sum(v) if v.size else 0.0
        return self.tape.gradient(y, self.x)


def _recorded(dg, prog):
    """The program as a function, recorded on the tape and replayed at points
    of other lengths and values."""
    rng = np.random.default_rng(prog["seed"])
    shape = tuple(prog["shape"])

    def f(x):
        tier = _Duals(dg, np.random.default_rng(prog["seed"]))
        v = np.asarray(x, dtype=object).reshape(shape)
        for o in prog["ops"]:
            if o[0] == "backward":
                continue
            try:
                v = tier.apply(v, o)
            except Exception:     # noqa: BLE001  (a clear error is fine)
                pass
        return np.sum(v) if isinstance(v, np.ndarray) and v.dtype == object else v

    n = int(np.prod(shape))
    rec = dg.record(f, rng.standard_normal(n))
    for m in (n, n + 1, max(n - 1, 0)):
        for call in (rec.gradient, rec.value_and_grad, rec.hessian,
                     lambda p: rec.hvp(p, np.ones(m)), lambda p: rec.vjp(p, np.ones(3))):
            try:
                call(rng.standard_normal(m) * 2)
            except Exception:     # noqa: BLE001
                pass


def run(programs):
    import dualgrad as dg
    tiers = {"dual": _Duals, "dualarray": _DualArrays, "tensor": _Tensors, "tape": _TapeVars}
    for i, prog in enumerate(programs):
        print(i, flush=True)      # the last number printed names the program that crashed
        try:
            if prog["tier"] == "record":
                _recorded(dg, prog)
                continue
            rng = np.random.default_rng(prog["seed"])
            tier = tiers[prog["tier"]](dg, rng)
            v = tier.start(_values(rng, tuple(prog["shape"]), prog["dtype"]))
        except Exception:         # noqa: BLE001
            continue
        for o in prog["ops"]:
            try:
                v = tier.apply(v, o)
            except Exception:     # noqa: BLE001
                pass
        try:
            tier.finish(v)
        except Exception:         # noqa: BLE001
            pass
        if isinstance(tier, _TapeVars):
            tier.tape.__exit__(None, None, None)


if __name__ == "__main__":
    import warnings
    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    run(json.loads(sys.stdin.read()))
