"""The table's rows on GPU arrays: launches of the kernels in ``kernels/``.

The array tier calls these where its CPU fast paths would run a C loop. Each
returns None where the operands are not what the kernels take (GPU arrays of
one float dtype, C-contiguous, of one shape, on one device, or Python numbers);
the caller then takes its general path, CuPy's ufuncs through NumPy's dispatch.
"""

import numpy as np

from dualgrad import gpu
from dualgrad._array.dualarray import DualArray, make
from dualgrad._rules.table import RULES, needs_scipy
from dualgrad.gpu import loader

BLOCK = 256
# Enough blocks to fill any current GPU; the kernels' grid-stride loops cover
# longer arrays, so no launch depends on n.
MAX_BLOCKS = 8192

_NAMES = tuple(r.name for r in RULES)
# Per row and operand, whether the table gives a derivative: for one that is
# identically zero (floor, sign, ...) the general rule gives the zeros, as on the CPU.
_HAS_D = tuple(tuple(d is not None for d in r.d) for r in RULES)
# Rows whose values come from SciPy's C code (erfcx, the Bessel functions, ...):
# the kernels have no SciPy, so these rows run on the host, their operands
# copied over and the result copied back (correct, not fast).
_ON_HOST = frozenset(r.opcode for r in RULES if needs_scipy(r))


def _launch(source, kernel, dtype, device, n, args):
    f = loader.function(source, kernel, dtype, device)
    with gpu.cupy().cuda.Device(device):     # on the operands' GPU, whichever is current
        f((min(max(-(-n // BLOCK), 1), MAX_BLOCKS),), (BLOCK,), args)


def _is_number(v):
    return type(v) is float or type(v) is int


def _operands(*values):
    """The arrays' shared (shape, dtype, device number), or None if the values
    are not all kernel operands (numbers or like GPU arrays), or all numbers."""
    like = None
    for v in values:
        if v is None or _is_number(v):
            continue
        if not (gpu.is_device_array(v) and v.dtype in loader.DTYPES and v.flags.c_contiguous
                and v.size > 0):
            return None
        key = (v.shape, v.dtype, v.device.id)
        if like is None:
            like = key
        elif key != like:
            return None
    return like


def _split(v):
    """A kernel operand as its (pointer, constant) pair."""
    return (None, np.float64(v)) if _is_number(v) else (v, np.float64(0.0))


def _empty(shape, dtype, device):
    cp = gpu.cupy()
    with cp.cuda.Device(device):
        return cp.empty(shape, dtype=dtype)


# ---------------------------------------------------------------------------
# Tensor forward: the value of row op

def value(op, x, y=None, binary=False):
    """Row ``op`` of ``x`` (and ``y`` when ``binary``), or None."""
    like = _operands(x, y) if binary else _operands(x)
    if like is None:
        return None
    shape, dtype, device = like
    if op in _ON_HOST:
        args = (x, y) if binary else (x,)
        return _to_device(_row(op)(*[_to_host(a) for a in args]), dtype, device)
    o = _empty(shape, dtype, device)
    if binary:
        args = (*_split(x), *_split(y), o, np.int64(o.size))
    else:
        args = (x, o, np.int64(o.size))
    _launch("value", "dualgrad_" + _NAMES[op], dtype, device, o.size, args)
    return o


# ---------------------------------------------------------------------------
# DualArray: value and tangents of row op in one kernel

def dual(op, args):
    """Row ``op`` on ``args``, at least one a DualArray of GPU values, or None
    unless every DualArray is of one level and direction count and every value
    a kernel operand."""
    level, k = 0, None
    values, tangents = [], []
    for a in args:
        if type(a) is DualArray:
            t = a.tangent
            if level and (a.level != level or t.shape[0] != k):
                return None      # mixed levels or counts: the general path sorts them out
            level, k = a.level, t.shape[0]
            values.append(a.value)
            tangents.append(t)
        else:
            values.append(a)
            tangents.append(None)
    like = _operands(*values)
    if like is None or any(t is not None and (_operands(t) is None or t.dtype != like[1])
                           for t in tangents):
        return None
    shape, dtype, device = like
    if op in _ON_HOST:
        host = [a if t is None else make(_to_host(a.value), _to_host(t), level)
                for a, t in zip(args, tangents)]
        host = [_to_host(a) if t is None else a for a, t in zip(host, tangents)]
        out = _row(op)(*host)
        return make(_to_device(out.value, dtype, device), _to_device(out.tangent, dtype, device),
                    level)
    n = int(np.prod(shape, dtype=np.int64))
    o, to = _empty(shape, dtype, device), _empty((k,) + shape, dtype, device)
    if len(args) == 1:
        kargs = (values[0], tangents[0], o, to, np.int64(n), np.int64(k))
    else:
        kargs = (*_split(values[0]), *_split(values[1]), tangents[0], tangents[1], o, to,
                 np.int64(n), np.int64(k))
    _launch("dual", "dualgrad_dual_" + _NAMES[op], dtype, device, n, kargs)
    return make(o, to, level)


# ---------------------------------------------------------------------------
# Tensor backward: g times a derivative of row op in one kernel

def grad(op, which, g, x, y, ans):
    """``g`` times the derivative of row ``op`` in operand ``which`` at operands
    ``x`` (``y``: None for a unary row) and value ``ans``, or None. An operand
    or value the derivative does not read may be None."""
    if not _HAS_D[op][which]:
        return None
    binary = RULES[op].arity == 2
    like = _operands(g, x, y, ans)
    if like is None or not gpu.is_device_array(g) or (
            not binary and (_is_number(x) or _is_number(ans))):
        return None
    shape, dtype, device = like
    if op in _ON_HOST:
        operands = (x, y) if binary else (x,)
        d = _derivatives(op)[which](*[_to_host(a) for a in operands + (ans,)])
        product = g * _to_device(np.asarray(d, dtype=np.float64), dtype, device)
        return gpu.cupy().where(g == 0, 0.0, product).astype(dtype)    # dg_chain's strong zero
    o = _empty(shape, dtype, device)
    if binary:
        kernel = f"dualgrad_grad_{_NAMES[op]}_d{'xy'[which]}"
        args = (g, *_split(x), *_split(y), *_split(ans), o, np.int64(o.size))
    else:
        kernel = "dualgrad_grad_" + _NAMES[op]
        args = (g, x, ans, o, np.int64(o.size))
    _launch("grad", kernel, dtype, device, o.size, args)
    return o


# ---------------------------------------------------------------------------
# The rows computed on the host (_ON_HOST)

def _to_host(a):
    return a.get() if gpu.is_device_array(a) else a


def _to_device(a, dtype, device):
    cp = gpu.cupy()
    with cp.cuda.Device(device):
        return cp.asarray(np.asarray(a, dtype=dtype))


def _row(op):
    """dualgrad.<name> of row op: the CPU's C loops, on ndarrays and DualArrays."""
    from dualgrad._scalar import dual
    return getattr(dual, _NAMES[op])


_HOST_DERIVATIVES = {}


def _derivatives(op):
    """Row op's derivatives as functions of ndarrays (the table's expressions
    over dualgrad's functions, which run the CPU's C code)."""
    ds = _HOST_DERIVATIVES.get(op)
    if ds is None:
        from dualgrad._scalar import dual
        namespace = {r.name: getattr(dual, r.name) for r in RULES}
        namespace["where"] = np.where
        ds = _HOST_DERIVATIVES[op] = RULES[op].derivatives(namespace)
    return ds
