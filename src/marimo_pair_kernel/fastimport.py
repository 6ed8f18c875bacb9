"""Importing httpx without the optional extras it pulls in when they happen to be installed.

httpcore imports trio if present (for trio users; nothing here runs trio) and httpx its
command-line tool (rich, click, pygments): on a loaded machine that is a quarter second or
more before the first request can go, which the kernel's first completion and the
console's start both wait for. A None entry in sys.modules makes such an import fail,
which both packages handle; the entries are removed afterwards, so a later import of
trio or rich by anyone else works as usual.
"""

from __future__ import annotations

import sys

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
