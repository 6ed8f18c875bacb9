"""%open PATH: target a notebook, starting a marimo server for it when none has it open.

Also the console's way in: `marimo-pair-kernel console NB.py` sets MARIMO_PAIR_OPEN=NB.py
(and MARIMO_PAIR_PYTHON for --python) in the kernel's environment. When no server has
NB.py, the console itself has already started marimo for it (the first thing it does, so
marimo starts while jupyter console and the kernel do) and passes its URL in
MARIMO_PAIR_URL; the kernel opens the notebook there on its first execute, where progress
can be shown. Otherwise the kernel finishes an ordinary `%open` on its first execute.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

from .. import discovery, scratchpad
from ..client import MarimoClient, parse_version
from ..context import MagicContext
from ..discovery import Notebook, resolve_path, same_path
from ..errors import LaunchError, PairError, UnsupportedServer, UsageError
from ..launcher import CONSOLE_URL_ENV, OPEN_ENV, PYTHON_ENV, SANDBOX_ENV, START_TIMEOUT, Embedded, Launcher
from ..target import Target
from . import MagicParser, magic


def _setup(p: MagicParser) -> None:
    p.add_argument("path", metavar="PATH", help="the notebook file (created if it does not exist)")
    p.add_argument(
        "--python",
        metavar="PY",
        help=f"the Python that runs a new marimo server (default: ${PYTHON_ENV}, else the kernel's)",
    )
    p.add_argument(
        "--no-sandbox",
        action="store_true",
        help="a notebook with a PEP 723 `# /// script` header runs with that Python, not in the "
        "sandbox uv builds from the header",
    )


@magic(
    "open",
    "Target the notebook at PATH; start marimo for it if no live server has it open.",
    setup=_setup,
    description=(
        "Target the notebook at PATH.\n\n"
        "If a live marimo server has PATH open, the kernel targets it and starts nothing; if one\n"
        "serves PATH with no tab open, it opens the notebook there without a browser.\n"
        "Otherwise it starts `marimo edit PATH --headless --no-token` on a free loopback port,\n"
        "opens the notebook without a browser, runs its cells once, and targets it; a missing\n"
        "PATH becomes a new notebook. The kernel stops that server when it shuts down.\n\n"
        "A notebook with a PEP 723 `# /// script` header listing dependencies starts with\n"
        "`--sandbox`, as marimo suggests: uv builds its environment from the header (needs uv;\n"
        "progress is shown while it builds). --no-sandbox runs it with the server's Python.\n\n"
        "  %open analysis.py\n"
        "  %open new.py --python /path/to/venv/bin/python\n"
        "  %open script_notebook.py --no-sandbox"
    ),
)
def open_magic(ctx: MagicContext, args: argparse.Namespace, body: str | None) -> None:
    open_notebook(ctx, args.path, python=args.python, sandbox=False if args.no_sandbox else None)


def launcher_of(ctx: MagicContext) -> Launcher:
    """The kernel's launcher, created on first use."""
    if ctx.launcher is None:
        ctx.launcher = Launcher(run_cells=run_all_cells)
    return ctx.launcher


def run_all_cells(url: str, notebook: Notebook, notes: list[str], *, warm: bool = False) -> bool:
    """Run every cell once, as a browser's "run all" does; problems become `notes`.

    With `warm`, the same request then installs and warms our runtime (what the kernel's
    warm-up would send next): the console's first line waits for one round trip to marimo, not
    two. Returns whether the request succeeded (with `warm`: the runtime is in).
    """
    from ..codemode import RUN_ALL_CELLS  # here: the kernel's start (open_from_env) needs no code mode

    client = MarimoClient(url)
    code = RUN_ALL_CELLS + scratchpad.warm_code() if warm else RUN_ALL_CELLS
    try:
        result = client.execute(code, notebook, lambda name, text: None, timeout=None)
        if not result.success:
            notes.append("some cells raised errors on the first run (%cells shows which)")
        return result.success
    except KeyboardInterrupt:
        # Closing the stream interrupted marimo; the server and session stay usable.
        notes.append("interrupted: not every cell ran")
    except PairError as e:
        notes.append(f"running the cells failed: {e}")
    finally:
        client.close()
    return False


def _check_path(path: str) -> None:
    if os.path.isdir(path):
        raise UsageError(
            f"{path} is a directory; %open takes a notebook file, e.g. %open {os.path.join(path, 'notebook.py')}"
        )
    parent = os.path.dirname(path)
    if parent and not os.path.isdir(parent):
        raise LaunchError(f"The folder {parent} does not exist; create it first, or open a notebook elsewhere.")
    if not path.endswith((".py", ".md", ".qmd")):
        raise UsageError(f"{path} is not a notebook file: marimo notebooks end in .py (or .md).")


def _open_elsewhere(ctx: MagicContext, path: str, found: discovery.Discovery) -> Target | None:
    """A live server that already has PATH open, or None.

    Looked for on the current target's server, then among registered servers (ours first),
    then at MARIMO_PAIR_URL (token servers never register).
    """
    t = ctx.targeter
    launcher = ctx.launcher
    if t.target is not None:
        on_target = _session_on(ctx, t.target.client.url, path)
        if on_target is not None:
            return on_target
    registered = [(s, nb) for s, nb in found.notebooks if same_path(nb.path, path)]
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
        if same_path(nb.path, path):
            return Target(client, nb)
    return None


def open_notebook(ctx: MagicContext, path: str, python: str | None = None, sandbox: bool | None = None) -> Target:
    """%open's work; returns the chosen target.

    `sandbox`: None starts a notebook with a PEP 723 header in marimo's sandbox, False never
    (a server that already has the notebook is used as it is, either way).
    """
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

    found = discovery.discover()
    existing = _open_elsewhere(ctx, path, found)
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

    serving = [s for s in found.serving(path) if not launcher.owns(s.url)]
    if serving:
        # A server someone started for this file (or its folder) with no tab open: use it, as
        # a browser tab would, rather than start a second server for the same file.
        return _attach(ctx, serving[0], path, say, python_ignored=bool(asked_python))

    say(f"starting marimo for {path} …\n")
    try:
        emb = launcher.start(path, python, progress=say, sandbox=sandbox)
    except LaunchError as e:
        if "--no-sandbox" in str(e):
            raise LaunchError(str(e).replace("pass --no-sandbox", f"run %open {path} --no-sandbox")) from None
        raise
    return _choose_embedded(ctx, emb, say, announced=True)


# /sse, which a session without a browser needs, exists since marimo 0.24.
_SSE_SINCE = (0, 24, 0)


def _attach(
    ctx: MagicContext, server: discovery.Server, path: str, say: Callable[[str], None], *, python_ignored: bool
) -> Target:
    """Open PATH on a live server that serves it but has no tab on it (the server is not ours)."""
    version = parse_version(server.version)
    if version is not None and version < _SSE_SINCE:
        raise UnsupportedServer(
            f"marimo {server.version} at {server.url} serves {path}, but no tab has it open, and "
            "opening it without a browser needs marimo >= 0.24 there. Open "
            f"{server.url} in a browser, then run %open {path} again (or %connect)."
        )
    client = ctx.targeter.client_for(server.url)
    client.check_version(server.version)
    say(f"{server.url} serves {path} with no tab open: opening it there without a browser …\n")
    notebook, notes = launcher_of(ctx).attach(client.url, path)
    target = ctx.targeter.choose(Target(client, notebook))
    for note in notes:
        ctx.stream("stderr", f"Note: {note}\n")
    extra = " (--python ignored)" if python_ignored else ""
    say(f"Connected to {path} on {server.url} (already running; nothing started){extra}\n")
    return target


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
    sandbox = False if env.get(SANDBOX_ENV) == "0" else None
    # Until the open finishes, automatic target resolution looks for this notebook only.
    ctx.targeter.env_file = path
    console_url = env.get(CONSOLE_URL_ENV)
    if console_url:
        # The console started marimo for PATH before this kernel (see console.py) and owns it.
        # Open the notebook there as soon as marimo is up, in the background: usually done
        # before the first line is typed; the first execute then only says what happened.
        return _console_open(ctx, console_url, path)
    try:
        _check_path(path)
        found = discovery.discover()
        # Only when no live server has it open or serves it: never a second server for one file.
        if not any(same_path(nb.path, path) for _, nb in found.notebooks) and not found.serving(path):
            launcher_of(ctx).start_background(path, python, sandbox)
    except Exception:  # noqa: BLE001 - the first execute repeats the open and reports the problem
        pass

    def finish() -> None:
        open_notebook(ctx, path, python, sandbox)

    return finish


def _console_open(ctx: MagicContext, url: str, path: str) -> Callable[[], None]:
    import threading
    from concurrent.futures import Future
    from concurrent.futures import wait as wait_futures

    ready: Future = Future()

    def work() -> None:
        try:
            ready.set_result(_open_on_console_server(ctx, url, path))
        except BaseException as e:  # noqa: BLE001 - reported by the first execute
            ready.set_exception(e)

    threading.Thread(target=work, name="marimo-pair-console-open", daemon=True).start()

    def finish() -> None:
        client = ctx.targeter.client_for(url)
        if not ready.done():
            ctx.stream("stdout", f"waiting for marimo at {client.shown_url} …\n")
        while not ready.done():  # in steps: an interrupt of the execute's worker thread ends the wait
            wait_futures([ready], timeout=0.1)
        target, notes, _ = ready.result()
        ctx.targeter.choose(target)
        ctx.stream("stdout", f"marimo is up at {client.shown_url} (open it in a browser to watch live)\n")
        for note in notes:
            ctx.stream("stderr", f"Note: {note}\n")
        ctx.stream("stdout", f"Connected to {path} (the console stops that server when it exits)\n")

    finish.ready = ready  # type: ignore[attr-defined]  # the kernel's warm-up waits on it
    return finish


def _open_on_console_server(ctx: MagicContext, url: str, path: str) -> tuple[Target, list[str], bool]:
    """The console's own server: wait until it is up, then open PATH there without a browser.

    Returns the target, notes for the user, and whether our runtime is installed there (the
    console's first line should not wait for a second round trip to marimo).
    """
    import time

    client = ctx.targeter.client_for(url)
    deadline = time.monotonic() + START_TIMEOUT
    while not client.health(timeout=1.0):
        if time.monotonic() > deadline:
            raise LaunchError(
                f"marimo did not start at {client.shown_url} within {START_TIMEOUT:g}s (the console "
                f"printed why, if it knows). Run %open {path} to start it from here."
            )
        time.sleep(0.05)
    # The console opens the notebook itself as soon as marimo answers; the cells are ours to run.
    wait_session = time.monotonic() + 15.0
    while (existing := _session_on(ctx, client.url, path)) is None and time.monotonic() < wait_session:
        time.sleep(0.05)
    if existing is None:  # the console could not open it: open it from here
        notebook, notes = launcher_of(ctx).attach(client.url, path)
        return Target(client, notebook), notes, False
    found: list[str] = []
    warmed = run_all_cells(client.url, existing.notebook, found, warm=True)
    return existing, found, warmed
