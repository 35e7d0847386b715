"""Levels: the transforms running in this thread.

Each transform running (dualgrad.functional's, and autograd.functional's)
takes a new level, so that the derivatives of nested transforms stay apart. The
frames say which tier and mode each level runs on.
"""

import itertools
import threading
_local = threading.local()
_level_ids = itertools.count(2)      # level 1 is for DualArrays made by hand


class Frame:
    __slots__ = ("level", "tier", "mode")

    def __init__(self, level, tier, mode):
        self.level, self.tier, self.mode = level, tier, mode


def frames():
    try:
        return _local.frames
    except AttributeError:
        _local.frames = []
        return _local.frames


class StartAgainOnArrays(Exception):
    """A transform began inside a scalar-tier evaluation: the outer transform
    starts again on the array tier, whose values nest."""


class running:
    """``with running(tier, mode) as level``: f runs at a new level."""

    def __init__(self, tier, mode):
        self.tier, self.mode = tier, mode

    def __enter__(self):
        stack = frames()
        if any(fr.tier == "scalar" for fr in stack):
            raise StartAgainOnArrays()
        frame = Frame(next(_level_ids), self.tier, self.mode)
        stack.append(frame)
        return frame.level

    def __exit__(self, *exc):
        frames().pop()


def new_level():
    """A level for a transform that does not run through ``running`` (autograd.functional)."""
    return next(_level_ids)


def under_reverse():
    """Whether a reverse-mode transform encloses this one: its results must then
    stay Tensors, differentiable by the outer sweep."""
    return any(fr.mode == "reverse" for fr in frames())
