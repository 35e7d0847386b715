"""Products and linear algebra: matmul, dot, outer, einsum, tensordot and trace;
solve, inv, det, slogdet and cholesky.
"""

import builtins

import numpy as np

from dualgrad import gpu
from dualgrad._array.engine import TensorBase, record
from dualgrad._array.ops._base import OUT, _arr, _ten
from dualgrad._array.ops.reductions import _sum
from dualgrad._array.ops.shapes import _diagonal


# ---------------------------------------------------------------------------
# Products

def matmul(input, other):
    """Matrix product with NumPy's (and PyTorch's) broadcasting rules."""
    a, b = _arr(input), _arr(other)
    if a.dtype.kind not in "biufc" or b.dtype.kind not in "biufc":
        raise TypeError(f"matmul: unsupported operand types {type(input).__name__} and "
                        f"{type(other).__name__}")
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError("matmul: both arguments need at least one dimension (use * for "
                           "scalars)")
    try:
        out = np.matmul(a, b)
    except ValueError as e:
        raise RuntimeError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied "
                           f"({e})") from None
    # Only the gradients needed are computed: the one of a constant matrix
    # against a batch of cotangents (a Jacobian's rows) is a big outer product.
    need = (isinstance(input, TensorBase) and input.requires_grad,
            isinstance(other, TensorBase) and other.requires_grad)
    return record(out, (input, other), "MmBackward", _matmul_bwd, (input, other, need))


def _matmul_bwd(ns, g, a, b, need=(True, True)):
    a1, b1 = np.ndim(a) == 1, np.ndim(b) == 1
    if a1 and b1:
        return g * ns.conj(b) if need[0] else None, g * ns.conj(a) if need[1] else None
    if a1:
        a, g = ns.expand_dims(a, 0), ns.expand_dims(g, -2)
    if b1:
        b, g = ns.expand_dims(b, -1), ns.expand_dims(g, -1)
    ga = gb = None
    if need[0]:
        ga = ns.matmul(g, ns.swapaxes(ns.conj(b), -1, -2))
        if a1:
            ga = ns.squeeze(ga, -2)
    if need[1]:
        gb = ns.matmul(ns.swapaxes(ns.conj(a), -1, -2), g)
        if b1:
            gb = ns.squeeze(gb, -1)
    return ga, gb


def dot(input, other):
    """Inner product of two 1-d tensors; of arrays of other dimensions, NumPy's
    ``dot`` (PyTorch refuses them; NumPy code calls ``a.dot(b)`` on them)."""
    if np.ndim(_arr(input)) != 1 or np.ndim(_arr(other)) != 1:
        return np.dot(input, other)
    return matmul(input, other)


def outer(input, vec2):
    """Outer product of two 1-d tensors."""
    return _ten(input).reshape(-1, 1) * _ten(vec2).reshape(1, -1)


def _parse_einsum(subscripts, shapes):
    """Explicit subscripts (``ab,bc->ac``) with any ``...`` spelled out in letters."""
    subscripts = subscripts.replace(" ", "")
    if "->" in subscripts:
        ins, out = subscripts.split("->")
    else:
        ins, out = subscripts, None
    ins = ins.split(",")
    if len(ins) != len(shapes):
        raise RuntimeError(f"einsum: {len(ins)} operands in {subscripts!r}, {len(shapes)} given")
    used = set("".join(ins)) | set(out or "")
    free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used]
    nell = builtins.max([len(s) - len(t.replace("...", "")) for t, s in zip(ins, shapes)
                         if "..." in t] or [0])
    ell = "".join(free[:nell])
    spelled = []
    for t, s in zip(ins, shapes):
        if "..." in t:
            k = len(s) - len(t.replace("...", ""))
            t = t.replace("...", ell[nell - k:])
        spelled.append(t)
    if out is None:
        counts = {}
        for c in "".join(spelled):
            counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c in counts if counts[c] == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
    return spelled, out


def einsum(subscripts, *operands):
    """Einstein summation over tensors (and arrays), differentiable in each operand."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    ins, out = _parse_einsum(subscripts, [np.shape(_arr(o)) for o in operands])
    # A letter repeated within an operand takes its diagonal: that is taken
    # first (a recorded op), leaving an einsum whose operands repeat no letter.
    operands = list(operands)
    for i, t in enumerate(ins):
        while len(set(t)) != len(t):
            c = next(c for c in t if t.count(c) > 1)
            p = t.index(c)
            q = t.index(c, p + 1)
            shape = np.shape(_arr(operands[i]))
            if shape[p] != shape[q]:
                raise ValueError(f"einsum: dimensions in operand {i} for collapsing index "
                                 f"{c!r} don't match ({shape[p]} != {shape[q]})")
            operands[i] = _diagonal(_ten(operands[i]), 0, p, q)
            t = t[:p] + t[p + 1:q] + t[q + 1:] + c
        ins[i] = t
    arrays = [_arr(o) for o in operands]
    value = np.einsum(",".join(ins) + "->" + out, *arrays, optimize=len(arrays) > 2)
    return record(value, tuple(operands), "EinsumBackward", _einsum_bwd,
                  (ins, out, [a.shape for a in arrays], *operands))


def _einsum_bwd(ns, g, ins, out, shapes, *ops):
    grads = []
    for i, t in enumerate(ins):
        others = [(ins[j], ops[j]) for j in range(len(ops)) if j != i]
        have = set(out).union(*[set(s) for s, _ in others])
        kept = "".join(c for c in t if c in have)
        spec = ",".join([out] + [s for s, _ in others]) + "->" + kept
        gi = ns.einsum(spec, g, *[ns.conj(o) for _, o in others])
        if kept != t:
            # Indices only operand i had were summed: broadcast back over them.
            for axis, c in enumerate(t):
                if c not in have:
                    gi = ns.expand_dims(gi, axis)
            gi = ns.broadcast_to(gi, shapes[i])
        grads.append(gi)
    return tuple(grads)


def tensordot(a, b, dims=2):
    """Sum of products over ``dims`` (an int: the last dims of a and the first of
    b; or two lists of axes), as torch.tensordot."""
    na, nb = np.ndim(_arr(a)), np.ndim(_arr(b))
    if isinstance(dims, (int, np.integer)):
        da, db = list(range(na - dims, na)), list(range(dims))
    else:
        da, db = dims
        da = [da] if isinstance(da, int) else list(da)
        db = [db] if isinstance(db, int) else list(db)
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    sa = [next(letters) for _ in range(na)]
    sb = [next(letters) for _ in range(nb)]
    for i, j in zip(da, db):
        sb[j % nb] = sa[i % na]
    out = [c for i, c in enumerate(sa) if i not in [d % na for d in da]] + [
        c for j, c in enumerate(sb) if j not in [d % nb for d in db]]
    return einsum("".join(sa) + "," + "".join(sb) + "->" + "".join(out), a, b)


def trace(input):
    """Sum of the main diagonal of a matrix."""
    return _sum(_diagonal(_ten(input), 0, -2, -1), -1)


def mm(input, mat2):
    """Matrix product (``matmul``)."""
    return matmul(input, mat2)


# ---------------------------------------------------------------------------
# Linear algebra

def _solve(a, b):
    A, B = a._a, b._a
    vector = B.ndim == 1
    try:
        x = np.linalg.solve(A, B)
    except np.linalg.LinAlgError as e:
        raise RuntimeError(f"linalg.solve: {e}; the matrix must be square and invertible") from None
    return record(x, (a, b), "LinalgSolveBackward", _solve_bwd, (a, OUT, vector))


def _solve_bwd(ns, g, a, x, vector):
    # (A^H and X^H: PyTorch's gradient of a complex solve)
    ah = ns.swapaxes(ns.conj(a), -1, -2)
    if vector:
        # A 1-d b is one vector for every matrix of a batch: solved as a column
        # (NumPy takes a g of two or more dimensions as matrices).
        gb = ns.squeeze(ns.solve(ah, ns.expand_dims(g, -1)), -1)
        ga = -(ns.expand_dims(gb, -1) * ns.expand_dims(ns.conj(x), -2))
    else:
        gb = ns.solve(ah, g)
        ga = -ns.matmul(gb, ns.swapaxes(ns.conj(x), -1, -2))
    return ga, gb


def _inv(a):
    try:
        y = np.linalg.inv(a._a)
    except np.linalg.LinAlgError as e:
        raise RuntimeError(f"linalg.inv: {e}; the matrix must be square and invertible") from None
    return record(y, (a,), "LinalgInvBackward", _inv_bwd, (OUT,))


def _inv_bwd(ns, g, y):
    yt = ns.swapaxes(ns.conj(y), -1, -2)
    return -ns.matmul(ns.matmul(yt, g), yt)


def _det(a):
    return record(np.linalg.det(a._a), (a,), "LinalgDetBackward", _det_bwd, (a, OUT))


def _det_bwd(ns, g, a, d):
    scale = ns.expand_dims(ns.expand_dims(g * ns.conj(d), -1), -1)
    return scale * ns.swapaxes(ns.conj(ns.inv(a)), -1, -2)


def _slogdet(a):
    sign, logdet = np.linalg.slogdet(a._a)
    return record((sign, logdet), (a,), "LinalgSlogdetBackward", _slogdet_bwd, (a, sign))


def _slogdet_bwd(ns, gs, a, sign):
    # d log|det A| = Re tr(A^-1 dA), and for a complex A d sign = i Im tr(A^-1 dA)
    # sign: PyTorch's gradient (g_logabsdet + i Im(g_sign conj(sign))) A^-H. A
    # real matrix's sign is a constant.
    g = gs[1]
    if np.iscomplexobj(sign):
        g = g + 1j * ns.imag(gs[0] * np.conj(sign))
    scale = ns.expand_dims(ns.expand_dims(g, -1), -1)
    return scale * ns.swapaxes(ns.conj(ns.inv(a)), -1, -2)


def _cholesky(a):
    try:
        L = np.linalg.cholesky(a._a)
    except np.linalg.LinAlgError as e:
        raise RuntimeError(f"linalg.cholesky: {e}; the matrix must be symmetric positive "
                           f"definite") from None
    return record(L, (a,), "LinalgCholeskyBackward", _cholesky_bwd, (OUT,))


def _cholesky_bwd(ns, g, L):
    # Murray (2016): S = L^-H Phi(L^H G) L^-1, made Hermitian; Phi keeps the
    # lower triangle and halves the diagonal.
    n = np.shape(L)[-1]
    Lh = ns.swapaxes(ns.conj(L), -1, -2)
    P = ns.matmul(Lh, g)
    P = ns.tril(P, 0) - 0.5 * P * gpu.beside(np.eye(n), _arr(P))
    S = ns.swapaxes(ns.conj(ns.solve(Lh, ns.swapaxes(ns.conj(ns.solve(Lh, P)), -1, -2))),
                    -1, -2)
    return 0.5 * (S + ns.swapaxes(ns.conj(S), -1, -2))
