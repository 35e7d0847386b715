"""Nested containers of arrays ("pytrees", as JAX calls them).

Tuples (named tuples included), lists and dicts are containers; everything
else, ``None`` excepted, is a leaf. ``flatten`` lists the leaves depth first
(dict entries in sorted key order, as JAX does) and returns the structure that
``unflatten`` rebuilds from new leaves.
"""


class TreeDef:
    """The structure of a pytree: a container type with its children, or a leaf."""

    __slots__ = ("kind", "meta", "children", "n_leaves")

    def __init__(self, kind, meta, children):
        self.kind, self.meta, self.children = kind, meta, children
        self.n_leaves = 1 if kind == "leaf" else sum(c.n_leaves for c in children)

    def __eq__(self, other):
        return (isinstance(other, TreeDef) and self.kind == other.kind and self.meta == other.meta
                and self.children == other.children)

    def __hash__(self):
        return hash((self.kind, self.meta, self.children))

    def __repr__(self):
        if self.kind == "leaf":
            return "*"
        if self.kind == "none":
            return "None"
        inner = ", ".join(map(repr, self.children))
        if self.kind == "dict":
            inner = ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.meta, self.children))
            return "{" + inner + "}"
        return f"[{inner}]" if self.kind == "list" else f"({inner})"


LEAF = TreeDef("leaf", None, ())


def _sorted_keys(d):
    try:
        return tuple(sorted(d))
    except TypeError:            # keys of mixed types: keep the dict's order
        return tuple(d)


def flatten(tree):
    """(list of leaves, TreeDef)."""
    leaves = []
    return leaves, _flatten(tree, leaves)


def _flatten(tree, leaves):
    if isinstance(tree, (tuple, list)):
        kind = "list" if isinstance(tree, list) else "tuple"
        meta = None if type(tree) in (tuple, list) else type(tree)
        return TreeDef(kind, meta, tuple(_flatten(t, leaves) for t in tree))
    if isinstance(tree, dict):
        keys = _sorted_keys(tree)
        return TreeDef("dict", keys, tuple(_flatten(tree[k], leaves) for k in keys))
    if tree is None:
        return TreeDef("none", None, ())
    leaves.append(tree)
    return LEAF


def unflatten(treedef, leaves):
    """The pytree of structure ``treedef`` with the given leaves, in order."""
    it = iter(leaves)
    out = _unflatten(treedef, it)
    return out


def _unflatten(td, it):
    if td.kind == "leaf":
        return next(it)
    if td.kind == "none":
        return None
    children = [_unflatten(c, it) for c in td.children]
    if td.kind == "dict":
        return dict(zip(td.meta, children))
    if td.kind == "list":
        return children if td.meta is None else td.meta(children)
    if td.meta is None:
        return tuple(children)
    if hasattr(td.meta, "_fields"):      # a named tuple takes its fields as arguments
        return td.meta(*children)
    return td.meta(children)
