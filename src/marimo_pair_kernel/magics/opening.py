"""%open PATH: target a notebook, starting a marimo server for it when none has it open.

Also the console's way in: `marimo-pair-kernel console NB.py` sets MARIMO_PAIR_OPEN=NB.py
(and MARIMO_PAIR_PYTHON for --python) in the kernel's environment. The kernel then
starts that server in the background as soon as it starts (so it is usually ready
by the time the first line is typed) and finishes the `%open` on its first execute,
where progress and the URL can be shown.
"""

from __future__ import annotations

import argparse
import os
from typing import Callable

from .. import discovery
from ..errors import LaunchError, PairError, UsageError
from ..launcher import Embedded, Launcher
from ..target import Target, _same_path, resolve_path
from . import MagicContext, MagicParser, magic

OPEN_ENV = "MARIMO_PAIR_OPEN"
PYTHON_ENV = "MARIMO_PAIR_PYTHON"


def _setup(p: MagicParser) -> None:
    p.add_argument("path", metavar="PATH", help="the notebook file (created if it does not exist)")
    p.add_argument(
        "--python",
        metavar="PY",
        help=f"the Python that runs a new marimo server (default: ${PYTHON_ENV}, else the kernel's)",
    )


@magic(
    "open",
    "Target the notebook at PATH; start marimo for it if no live server has it open.",
    setup=_setup,
    description=(
        "Target the notebook at PATH.\n\n"
        "If a live marimo server has PATH open, the kernel targets it and starts nothing.\n"
        "Otherwise it starts `marimo edit PATH --headless --no-token` on a free loopback port,\n"
        "opens the notebook without a browser, runs its cells once, and targets it; a missing\n"
        "PATH becomes a new notebook. The kernel stops that server when it shuts down.\n\n"
        "  %open analysis.py\n"
        "  %open new.py --python /path/to/venv/bin/python"
    ),
)
def open_magic(ctx: MagicContext, args: argparse.Namespace, body: str | None) -> None:
    open_notebook(ctx, args.path, python=args.python)


def launcher_of(ctx: MagicContext) -> Launcher:
    """The kernel's launcher, created on first use."""
    if ctx.launcher is None:
        ctx.launcher = Launcher()
    return ctx.launcher


def _check_path(path: str) -> None:
    if os.path.isdir(path):
        raise UsageError(f"{path} is a directory; %open takes a notebook file, e.g. %open {os.path.join(path, 'notebook.py')}")
    parent = os.path.dirname(path)
    if parent and not os.path.isdir(parent):
        raise LaunchError(f"The folder {parent} does not exist; create it first, or open a notebook elsewhere.")
    if not path.endswith((".py", ".md", ".qmd")):
        raise UsageError(f"{path} is not a notebook file: marimo notebooks end in .py (or .md).")


def _open_elsewhere(ctx: MagicContext, path: str) -> Target | None:
    """A live server that already has PATH open, or None.

    Looked for on the current target's server, then among registered servers (ours first),
    then at MARIMO_PAIR_URL (token servers never register).
    """
    t = ctx.targeter
    launcher = ctx.launcher
    if t.target is not None:
        found = _session_on(ctx, t.target.client.url, path)
        if found is not None:
            return found
    registered = [(s, nb) for s, nb in discovery.discover().notebooks if _same_path(nb.path, path)]
    if registered:
        registered.sort(key=lambda sn: not (launcher and launcher.owns(sn[0].url)))
        server, nb = registered[0]
        return Target(t.client_for(server.url), nb)
    return _session_on(ctx, t.env_url, path) if t.env_url else None


def _session_on(ctx: MagicContext, url: str, path: str) -> Target | None:
    try:
        client = ctx.targeter.client_for(url)
        notebooks = client.sessions()
    except PairError:
        return None
    for nb in notebooks:
        if _same_path(nb.path, path):
            return Target(client, nb)
    return None


def open_notebook(ctx: MagicContext, path: str, python: str | None = None) -> Target:
    """%open's work; returns the chosen target."""
    path = resolve_path(path)
    _check_path(path)
    asked_python, python = python, python or os.environ.get(PYTHON_ENV) or None
    launcher = launcher_of(ctx)
    say = lambda text: ctx.stream("stdout", text)  # noqa: E731

    pending = launcher.take_pending(path)
    if pending is not None:
        # The console's background start: wait for it rather than start a second server.
        if not pending.done():
            say(f"starting marimo for {path} …\n")
        emb = pending.result()
        return _choose_embedded(ctx, emb, say, announced=False)

    existing = _open_elsewhere(ctx, path)
    if existing is not None:
        ctx.targeter.choose(existing)
        how = "started by this kernel" if launcher.owns(existing.client.url) else "already open; nothing started"
        extra = " (--python ignored)" if asked_python else ""
        say(f"Connected to {existing.path} on {existing.url} ({how}){extra}\n")
        return existing

    mine = launcher.running(path)
    if mine is not None:
        # Our server is up but has no session for PATH any more (its stream ended): open one again.
        say(f"reopening {path} on {mine.url} …\n")
        mine.notes.clear()
        launcher.open_session(mine)
        return _choose_embedded(ctx, mine, say, announced=True)

    say(f"starting marimo for {path} …\n")
    emb = launcher.start(path, python, progress=say)
    return _choose_embedded(ctx, emb, say, announced=True)


def _choose_embedded(ctx: MagicContext, emb: Embedded, say: Callable[[str], None], *, announced: bool) -> Target:
    assert emb.notebook is not None
    target = ctx.targeter.choose(Target(ctx.targeter.client_for(emb.url), emb.notebook))
    if not announced:
        say(f"marimo is up at {emb.url} (open it in a browser to watch live)\n")
    if emb.created:
        say(f"Created a new notebook at {emb.path}\n")
    for note in emb.notes:
        ctx.stream("stderr", f"Note: {note}\n")
    emb.created, emb.notes = False, []  # said once
    say(f"Connected to {emb.path} (this kernel stops that server when it shuts down)\n")
    return target


# -- the console's notebook --------------------------------------------------------------------


def open_from_env(ctx: MagicContext, environ: dict[str, str] | None = None) -> Callable[[], None] | None:
    """If MARIMO_PAIR_OPEN names a notebook, start it now and return what finishes `%open` later.

    The kernel calls this once at start and the returned function before its first execute.
    """
    env = os.environ if environ is None else environ
    raw = env.get(OPEN_ENV)
    if not raw:
        return None
    path = resolve_path(raw)
    python = env.get(PYTHON_ENV) or None
    # Until the open finishes, automatic target resolution looks for this notebook only.
    ctx.targeter.env_file = path
    try:
        _check_path(path)
        if not any(_same_path(nb.path, path) for _, nb in discovery.discover().notebooks):
            launcher_of(ctx).start_background(path, python)
    except Exception:  # noqa: BLE001 - the first execute repeats the open and reports the problem
        pass

    def finish() -> None:
        open_notebook(ctx, path, python)

    return finish
