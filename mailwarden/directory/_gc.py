"""Pausing the cyclic garbage collector around bulk work on a directory."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many containers at once (also a decorator).

    Creating tens of thousands of dicts, rows and frames otherwise triggers full collections
    that walk every object of the process, again and again; nothing built here relies on the
    collector (reference counting frees it), and collection resumes afterwards.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
