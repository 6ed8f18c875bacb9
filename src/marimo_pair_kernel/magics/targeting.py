"""%discover, %connect, %status: see and choose the notebook the kernel talks to."""

from __future__ import annotations

import argparse

from .. import discovery
from ..errors import UsageError
from ..outputs import table_bundle
from ..target import Target, resolve_path
from . import MagicContext, MagicParser, magic


def discovery_bundle(found: discovery.Discovery) -> dict:
    rows = []
    for i, (server, nb) in enumerate(found.notebooks):
        rows.append((i, server.url, server.version or "?", nb.path, nb.session_id or nb.key))
    for server in found.servers:
        if not server.notebooks:
            rows.append(("", server.url, server.version or "?", "(no notebook open)", ""))
    notes = [f"stale: {s.path}: {s.reason}" for s in found.stale]
    if not rows:
        notes.insert(0, "No live marimo server found. Start one with `marimo edit NB.py --no-token`, or run %open NB.py.")
    else:
        notes.insert(0, "Choose with %connect N (the # column), or %connect URL --file PATH.")
    return table_bundle(
        ["#", "server", "marimo", "notebook", "session"],
        rows,
        found.to_json(),
        title="marimo servers",
        notes=notes,
    )


@magic("discover", "List live marimo servers, their open notebooks, and stale registry entries.")
def discover_magic(ctx: MagicContext, args: argparse.Namespace, body: str | None) -> None:
    ctx.display(discovery_bundle(discovery.discover()))


def _setup_connect(p: MagicParser) -> None:
    p.add_argument("where", nargs="?", help="a server URL, or the number %discover shows")
    p.add_argument("--file", help="the notebook path to target on that server")
    p.add_argument("--session", help="a session id (stable id, or per-tab key)")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a server that is not on this machine (code and token go there)",
    )


@magic(
    "connect",
    "Choose the target notebook: a URL, a number from %discover, or auto-select.",
    setup=_setup_connect,
    description=(
        "Choose the target notebook.\n\n"
        "  %connect                 auto-select when exactly one notebook is open\n"
        "  %connect 1               the notebook numbered 1 in %discover\n"
        "  %connect URL [--file P]  a server by URL (needed for token servers)"
    ),
)
def connect_magic(ctx: MagicContext, args: argparse.Namespace, body: str | None) -> None:
    t = ctx.targeter
    file = resolve_path(args.file) if args.file else None
    where = args.where
    if where is not None and where.isdigit():
        if args.session:
            raise UsageError("--session goes with a URL, not with a number from %discover.")
        target = t.auto(file=file, index=int(where))
    elif where:
        target = t.connect_url(where, file=file, session=args.session, allow_remote=args.allow_remote)
    elif args.session:
        raise UsageError("--session needs a URL: %connect URL --session ID")
    else:
        target = t.auto(file=file)
    t.choose(target)
    ctx.stream("stdout", f"Connected to {target.path} on {target.url}\n")


@magic("status", "Show the current target, its marimo version and health.")
def status_magic(ctx: MagicContext, args: argparse.Namespace, body: str | None) -> None:
    t = ctx.targeter
    target: Target | None = t.target
    if target is None:
        try:
            target = t.current()
        except Exception as e:  # noqa: BLE001 - shown to the user as the status
            msg = str(e)
            ctx.display(
                {
                    "text/plain": f"No target notebook.\n{msg}",
                    "application/json": {"connected": False, "reason": msg},
                }
            )
            return
    healthy = target.client.health()
    version = target.client.version() if healthy else None
    info = {
        "connected": True,
        "url": target.url,
        "notebook": target.path,
        "session_id": target.notebook.session_id,
        "session_key": target.notebook.key,
        "marimo_version": version,
        "healthy": healthy,
        "token": "set" if t.token else "none",
        "started_by_kernel": bool(ctx.launcher and ctx.launcher.owns(target.client.url)),
    }
    rows = [(k, "" if v is None else v) for k, v in info.items()]
    ctx.display(table_bundle(["", ""], rows, info, title="marimo-pair status"))
