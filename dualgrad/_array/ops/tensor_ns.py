"""``TensorNS``: the namespace backward rules run against on Tensors, so that
what a rule does is recorded (``create_graph=True``). It calls the operations
of the other modules, so it sits above them; its ndarray twin
:class:`NumpyNS` is in ``_base.py``.
"""

import numpy as np

from dualgrad._array.dualarray import any_complex as _any_complex, chain as _chain, chain_both as _chain_both
from dualgrad._array.tensor import ROW_FUNCTIONS
from dualgrad._rules.table import RULES
from dualgrad._array.ops._base import _apply_steps, _ten
from dualgrad._array.ops.conversions import _astype, to
from dualgrad._array.ops.elementwise import _where, imag as _imag, real as _real
from dualgrad._array.ops.joining import _concatenate
from dualgrad._array.ops.products import _inv, _solve, einsum, matmul
from dualgrad._array.ops.reductions import _cumsum, _sum
from dualgrad._array.ops.shapes import (_broadcast_to, _diagonal, _expand_dims, _flip, _index_add,
                                        _put_diagonal, _reshape, _squeeze, _swapaxes, _transpose,
                                        _tri, getitem)


class TensorNS:
    """Backward rules over Tensors: what they do is recorded (create_graph)."""

    where = staticmethod(lambda c, a, b: _where(c, a, b))
    chain = staticmethod(_chain)
    chain_both = staticmethod(_chain_both)
    sum = staticmethod(lambda x, axis=None, keepdims=False: _sum(_ten(x), axis, keepdims))
    broadcast_to = staticmethod(lambda x, shape: _broadcast_to(_ten(x), shape))
    reshape = staticmethod(lambda x, shape: _reshape(_ten(x), shape))
    transpose = staticmethod(lambda x, axes=None: _transpose(_ten(x), axes))
    swapaxes = staticmethod(lambda x, a, b: _swapaxes(_ten(x), a, b))
    expand_dims = staticmethod(lambda x, axis: _expand_dims(_ten(x), axis))
    squeeze = staticmethod(lambda x, axis=None: _squeeze(_ten(x), axis))
    matmul = staticmethod(lambda a, b: matmul(a, b))
    einsum = staticmethod(lambda subscripts, *ops: einsum(subscripts, *ops))
    concatenate = staticmethod(lambda xs, axis: _concatenate(xs, axis))
    cumsum = staticmethod(lambda x, axis: _cumsum(_ten(x), axis))
    flip = staticmethod(lambda x, axis: _flip(_ten(x), axis))
    tril = staticmethod(lambda x, k: _tri(_ten(x), k, np.tril))
    triu = staticmethod(lambda x, k: _tri(_ten(x), k, np.triu))
    diagonal = staticmethod(lambda x, offset, a1, a2: _diagonal(_ten(x), offset, a1, a2))
    solve = staticmethod(lambda a, b: _solve(_ten(a), _ten(b)))
    inv = staticmethod(lambda a: _inv(_ten(a)))
    astype = staticmethod(lambda x, dtype: _astype(_ten(x), dtype))
    getitem = staticmethod(lambda x, index: getitem(_ten(x), index))
    sum_axes = staticmethod(lambda g, axes, shape: _reshape(_sum(g, axes, False), shape))
    index_add = staticmethod(lambda shape, dtype, index, g: _index_add(shape, dtype, index,
                                                                       _ten(g)))
    put_diagonal = staticmethod(lambda g, shape, offset, a1, a2: _put_diagonal(
        _ten(g), shape, offset, a1, a2))
    view_of = staticmethod(lambda base, steps: _apply_steps(T, base, steps))
    to_device = staticmethod(lambda g, device: to(_ten(g), device))
    real = staticmethod(_real)
    imag = staticmethod(_imag)
    conj = staticmethod(lambda a: ROW_FUNCTIONS["conjugate"](a) if _any_complex(a) else a)


for _r in RULES:
    setattr(TensorNS, _r.name, staticmethod(ROW_FUNCTIONS[_r.name]))

T = TensorNS()
