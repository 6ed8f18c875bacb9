"""Importing httpx and ipykernel without what they pull in but the kernel never uses.

httpx: the optional extras it imports when they happen to be installed.

httpcore imports trio if present (for trio users; nothing here runs trio) and httpx its
command-line tool (rich, click, pygments): on a loaded machine that is a quarter second or
more before the first request can go, which the kernel's first completion and the
console's start both wait for. A None entry in sys.modules makes such an import fail,
which both packages handle; the entries are removed afterwards, so a later import of
trio or rich by anyone else works as usual.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_OPTIONAL = ("trio", "httpx._main")


def import_httpx_lean() -> None:
    if "httpx" in sys.modules:
        return
    blocked = [name for name in _OPTIONAL if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import httpcore  # noqa: F401 - httpx imports it on first use; trio is looked for there
        import httpx  # noqa: F401
    finally:
        for name in blocked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


_EMBED = "IPython.terminal.embed"


@contextmanager
def without_ipython_terminal() -> Iterator[None]:
    """While inside, importing IPython skips its terminal (prompt_toolkit and more).

    ipykernel's app imports IPython, whose package `__init__` imports the terminal shell only
    to offer `IPython.embed()`, which a kernel never calls: about a tenth of a second of CPU at
    every kernel start, on the way to the first prompt (and, on 2 cores, taken from marimo's
    own start). Inside, `IPython.terminal.embed` is a stand-in whose `embed` imports the real
    one when called; afterwards the stand-in is gone, so any later import gets the real module.
    """
    if "IPython" in sys.modules or _EMBED in sys.modules:
        yield
        return
    stand_in = types.ModuleType(_EMBED)

    def embed(**kwargs: Any) -> Any:
        if sys.modules.get(_EMBED) is stand_in:
            del sys.modules[_EMBED]
        from IPython.terminal.embed import embed as real

        return real(**kwargs)

    stand_in.embed = embed  # type: ignore[attr-defined]
    sys.modules[_EMBED] = stand_in
    try:
        yield
    finally:
        if sys.modules.get(_EMBED) is stand_in:
            del sys.modules[_EMBED]
