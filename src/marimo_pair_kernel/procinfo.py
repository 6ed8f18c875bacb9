"""What the operating system says about a marimo server's process: no network, only the OS.

Whether a pid is alive and runs as this user, which address it (or a descendant) listens on at
a port, and which file or folder it was started to edit. discovery.py checks these before it
sends a single byte to a registered port; the launcher checks that a port it started marimo on
is held by its own process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal


def pid_alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, OSError):
        return False


def pid_is_ours(pid: int) -> bool | None:
    """True when the process runs as this user; None where the platform has no uids."""
    import psutil

    if not hasattr(os, "getuid"):
        return None
    try:
        return psutil.Process(pid).uids().real == os.getuid()
    except (psutil.Error, OSError, AttributeError):
        return False


@dataclass(frozen=True)
class Sockets:
    """One look at the machine's listening sockets and process tree, shared by all probes."""

    listening: dict[int, list[tuple[str, int]]]  # pid → (ip, port) it listens on
    children: dict[int, list[int]]  # pid → its child pids


def listening_sockets() -> Sockets | None:
    """None when the OS will not show every process's sockets (macOS without root)."""
    import psutil

    try:
        conns = psutil.net_connections(kind="inet")
    except (psutil.Error, OSError):
        return None
    listening: dict[int, list[tuple[str, int]]] = {}
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.pid and c.laddr:
            listening.setdefault(c.pid, []).append((c.laddr.ip, c.laddr.port))
    children: dict[int, list[int]] = {}
    for proc in psutil.process_iter(["ppid"]):
        ppid = proc.info.get("ppid")
        if ppid:
            children.setdefault(ppid, []).append(proc.pid)
    return Sockets(listening, children)


def _best(found: list[str], port: int) -> tuple[str, int] | Literal[False]:
    if not found:
        return False

    # Prefer IPv4 loopback (what a wildcard or "localhost" bind includes), then IPv6 loopback.
    def rank(ip: str) -> int:
        return 0 if ip.startswith("127.") or ip == "0.0.0.0" else 1 if ip in ("::1", "::") else 2

    return (min(found, key=rank), port)


def listening_address(
    pid: int, port: int, sockets: Sockets | None = None
) -> tuple[str, int] | Literal[False] | None:
    """The (ip, port) that `pid` or a descendant listens on at `port`.

    False when it does not listen there; None when the OS will not tell us.
    """
    if sockets is not None:
        found, todo, seen = [], [pid], set()
        while todo:
            p = todo.pop()
            if p in seen:
                continue
            seen.add(p)
            found += [ip for ip, prt in sockets.listening.get(p, ()) if prt == port]
            todo += sockets.children.get(p, ())
        return _best(found, port)

    import psutil

    try:
        proc = psutil.Process(pid)
        found = []
        for p in [proc, *proc.children(recursive=True)]:
            try:
                conns = p.net_connections(kind="inet")
            except psutil.NoSuchProcess:
                continue
            for conn in conns:
                if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                    found.append(conn.laddr.ip)
        return _best(found, port)
    except psutil.AccessDenied:
        return None
    except (psutil.Error, OSError):
        return False


# `marimo edit` options that take a value (the value is not the notebook argument).
_VALUE_OPTIONS = {
    "-p", "--port", "--host", "--proxy", "--token-password", "--token-password-file", "--base-url",
    "--allow-origins", "--sandbox", "--timeout", "--session-ttl",
}
_NOTEBOOK_SUFFIXES = (".py", ".md", ".qmd")


def served_path(pid: int) -> tuple[str, bool] | None:
    """(path, is_folder) that the marimo process `pid` was started to edit, from its command line.

    `marimo edit NB.py` serves that file; `marimo edit DIR` (or no argument: its working
    directory) serves every notebook under it. No network: only what the OS reports.
    """
    import psutil

    try:
        proc = psutil.Process(pid)
        argv, cwd = proc.cmdline(), proc.cwd()
    except (psutil.Error, OSError):
        return None
    if "edit" not in argv:
        return None
    args = argv[argv.index("edit") + 1:]
    name = None
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--":
            break  # what follows goes to the notebook's own sys.argv
        elif arg.startswith("-"):
            skip = arg in _VALUE_OPTIONS
        else:
            name = arg
            break
    if name is not None and "://" in name:
        return None  # a notebook fetched from a URL has no local path to match
    path = os.path.normpath(os.path.join(cwd, os.path.expanduser(name or ".")))
    if name is not None and name.endswith(_NOTEBOOK_SUFFIXES) and not os.path.isdir(path):
        return path, False
    return (path, True) if os.path.isdir(path) else None


def pid_owns_port(pid: int, port: int) -> bool | None:
    """True/False when we can tell whether `pid` (or a child) listens on `port`; None if we cannot."""
    addr = listening_address(pid, port)
    return addr if addr is None or addr is False else True
