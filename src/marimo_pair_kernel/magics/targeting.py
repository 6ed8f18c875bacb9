"""%discover, %connect, %status: see and choose the notebook the kernel talks to."""

from __future__ import annotations

import argparse

from .. import discovery
from ..context import MagicContext
from ..discovery import resolve_path
from ..errors import UsageError
from ..outputs import table_bundle
from ..target import Target
from . import MagicParser, magic


def discovery_bundle(found: discovery.Discovery, *, shell: bool = False) -> dict:
    """%discover's listing; `shell` words the next steps as shell commands (the CLI's view)."""
    rows: list[tuple[object, ...]] = []
    for i, (server, nb) in enumerate(found.notebooks):
        rows.append((i, server.url, server.version or "?", nb.path, nb.session_id or nb.key))
    tabless = [s for s in found.servers if not s.notebooks]
    for server in tabless:
        # No session, so no number to %connect to: the row says what the server would open.
        what = server.serves or "(none)"
        if server.serves and server.serves_folder:
            what = server.serves.rstrip("/") + "/"
        rows.append(("", server.url, server.version or "?", what, "(no tab open)"))
    notes = _next_steps(found, tabless, shell)
    notes += [f"stale: {s.path}: {s.reason}" for s in found.stale]
    for s in found.stale:
        if s.unverified_url:
            notes.append(
                f"to trust {s.unverified_url} anyway: "
                + (f"MARIMO_PAIR_URL={s.unverified_url} marimo-pair-kernel console" if shell
                   else f"%connect {s.unverified_url}")
            )
    return table_bundle(
        ["#", "server", "marimo", "notebook", "session"],
        rows,
        found.to_json(),
        title="marimo servers",
        notes=notes,
    )


def _next_steps(found: discovery.Discovery, tabless: list[discovery.Server], shell: bool) -> list[str]:
    """What to do next, offering only choices that exist, in the words of where it is read."""
    notes = []
    count = len(found.notebooks)
    if shell:
        if count == 1:
            notes.append("`jupyter console --kernel marimo-pair` uses that notebook by itself "
                         f"(or: marimo-pair-kernel console {found.notebooks[0][1].path}).")
        elif count > 1:
            notes.append("Pick one: marimo-pair-kernel console PATH (for another Jupyter client, set "
                         "MARIMO_PAIR_FILE=PATH, e.g. MARIMO_PAIR_FILE=PATH jupyter lab).")
        for server in tabless:
            if server.serves and not server.serves_folder:
                notes.append(f"{server.url} has no tab open: marimo-pair-kernel console {server.serves} "
                             f"opens it there (or open {server.url} in a browser).")
            elif server.serves:
                notes.append(f"{server.url} has no notebook open: marimo-pair-kernel console PATH opens "
                             f"one there (a notebook under {server.serves}), or open {server.url} in a browser.")
            else:
                notes.append(f"{server.url} has no notebook open: open {server.url} in a browser.")
        if not found.servers:
            notes.append("No live marimo server found. Start one with a console on it: marimo-pair-kernel "
                         "console NB.py (or only the server: marimo edit NB.py --no-token).")
        return notes
    if count == 1:
        notes.append("%connect 0 chooses it (the kernel also picks it by itself when nothing else is chosen).")
    elif count > 1:
        notes.append("Choose with %connect N (the # column), or %connect URL --session ID.")
    for server in tabless:
        if server.serves and not server.serves_folder:
            notes.append(f"{server.url} has no tab open: %open {server.serves} opens it there.")
        elif server.serves:
            notes.append(f"{server.url} has no notebook open: %open PATH opens one there "
                         f"(a notebook under {server.serves}).")
        else:
            notes.append(f"{server.url} has no notebook open: open {server.url} in a browser, then %connect.")
    if not found.servers:
        notes.append("No live marimo server found. Run %open NB.py (the kernel starts marimo for it), or "
                     "start one in a terminal: marimo edit NB.py --no-token.")
    return notes


@magic("discover", "List live marimo servers, their open notebooks, and stale registry entries.")
def discover_magic(ctx: MagicContext, args: argparse.Namespace, body: str | None) -> None:
    ctx.result(discovery_bundle(discovery.discover()))


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
            raise UsageError(
                "--session goes with a URL (%connect URL --session ID); a number from %discover "
                "already names one session, so use %connect N alone."
            )
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
            ctx.result(
                table_bundle([], [], {"connected": False, "reason": msg}, title="No target notebook.", notes=[msg])
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
    ctx.result(table_bundle(["", ""], rows, info, title="marimo-pair status"))
