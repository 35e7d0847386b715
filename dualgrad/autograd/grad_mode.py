"""Grad modes: whether operations on tensors are recorded, per thread.

Each class works as a context manager and as a decorator, as in PyTorch.
"""

import functools

from dualgrad._array.engine import _set_grad_enabled, is_grad_enabled

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled"]


class _GradMode:
    mode = None

    def __new__(cls, func=None):
        self = super().__new__(cls)
        if func is not None:
            if not callable(func):
                raise TypeError(f"{cls.__name__}() takes no arguments (or a function to "
                                f"decorate), not {type(func).__name__}")
            self.__init__()
            return self(func)  # used bare, @no_grad, as in PyTorch
        return self

    def __enter__(self):
        self.prev = _set_grad_enabled(self.mode)
        return self

    def __exit__(self, *exc):
        _set_grad_enabled(self.prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)
        return wrapper

    def clone(self):
        return type(self)()


class no_grad(_GradMode):
    """Operations inside are not recorded: results do not require grad."""

    mode = False


class enable_grad(_GradMode):
    """Operations inside are recorded, even within ``no_grad``."""

    mode = True


class set_grad_enabled(_GradMode):
    """``set_grad_enabled(False)`` switches recording off at once (for this
    thread); as a context manager it restores the previous mode on exit."""

    def __new__(cls, mode):
        return object.__new__(cls)

    def __init__(self, mode):
        self.mode = bool(mode)
        self.prev = _set_grad_enabled(self.mode)

    def __enter__(self):
        return self

    def __call__(self, fn):
        _set_grad_enabled(self.prev)  # as a decorator it must not switch the mode now
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)
        return wrapper
