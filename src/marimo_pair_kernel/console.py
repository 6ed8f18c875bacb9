"""`marimo-pair-kernel console [NOTEBOOK.py]`: a terminal on a marimo notebook, nothing else needed.

When no live server has the notebook, this process starts `marimo edit NOTEBOOK.py
--headless` first of all and prints its URL, so marimo starts while jupyter console and
the kernel do (most of the wait is marimo's). Then it makes sure the `marimo-pair`
kernelspec exists and runs `jupyter console --kernel marimo-pair` with
MARIMO_PAIR_OPEN=NOTEBOOK.py and MARIMO_PAIR_URL=<that server> in the kernel's
environment: the kernel opens the notebook there without a browser on its first execute
(see magics/opening.py). This process owns the server: it stops it when the console
exits, and the server's watchdog stops it if this process dies (see launcher.py). It also
opens the notebook there without a browser as soon as marimo answers (the kernel, which
starts later, runs its cells), so a kernel restart keeps the notebook. When a server
already has the notebook, nothing is started and the kernel uses that one. Without a
notebook, a scratch one is created in a
fresh temporary folder (kept afterwards, so nothing typed is lost).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading

from .fastimport import import_httpx_lean


def run_console(notebook: str | None, python: str | None = None) -> int:
    """Run jupyter console on NOTEBOOK (or a scratch notebook); returns its exit code."""
    from .target import resolve_path

    if notebook:
        path = resolve_path(notebook)
        parent = os.path.dirname(path)
        if os.path.isdir(path) or not os.path.isdir(parent) or not path.endswith((".py", ".md", ".qmd")):
            print(
                f"marimo-pair-kernel console: {notebook} is not a notebook file in an existing folder.", file=sys.stderr
            )
            return 2
    else:
        path = os.path.join(tempfile.mkdtemp(prefix="marimo-pair-"), "scratch.py")
        print(f"Scratch notebook: {path} (pass NOTEBOOK.py to open your own)", flush=True)

    import_httpx_lean()
    from .errors import LaunchError
    from .headless import HeadlessSession
    from .launcher import Launcher
    from .magics.opening import CONSOLE_URL_ENV, OPEN_ENV, PYTHON_ENV

    env = dict(os.environ)
    env[OPEN_ENV] = path
    if python:
        env[PYTHON_ENV] = python
    launcher: Launcher | None = None
    if not _served_elsewhere(path):
        launcher = Launcher()
        try:
            emb = launcher.spawn(path, python)
        except LaunchError as e:
            print(f"marimo-pair-kernel console: {e}", file=sys.stderr)
            return 1
        env[CONSOLE_URL_ENV] = emb.url
        env.pop("MARIMO_PAIR_FILE", None)
        print(
            f"marimo is starting at {emb.url} (open it in a browser to watch live); "
            "the first line you run waits for it.",
            flush=True,
        )

        def report() -> None:
            # Open the notebook as soon as marimo answers (its kernel boots meanwhile), rather
            # than when the kernel, which starts later, gets to it; the kernel runs the cells.
            try:
                launcher.wait_up(emb)  # type: ignore[union-attr]
                session = HeadlessSession(emb.url, path)
                emb.notebook = session.start(timeout=60.0)
                emb.session = session  # closed with the server
            except LaunchError as e:
                print(f"\nmarimo-pair-kernel console: {e}", file=sys.stderr, flush=True)

        threading.Thread(target=report, name="marimo-pair-console-start", daemon=True).start()

    from .install import KERNEL_NAME, install, is_installed

    if not is_installed():
        where = install(prefix=sys.prefix)
        print(f"Installed the {KERNEL_NAME} kernelspec in {where}", flush=True)
    # ipykernel's debugger import otherwise greets the terminal with a frozen-modules warning.
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    argv = [sys.executable, "-m", "jupyter_console", "--kernel", KERNEL_NAME]
    # Ctrl-C belongs to the console (it interrupts the kernel); this process just waits. A Python
    # handler, unlike SIG_IGN, is not inherited by the child.
    previous = signal.signal(signal.SIGINT, lambda signum, frame: None)
    try:
        return subprocess.call(argv, env=env)
    except OSError as e:
        print(f"marimo-pair-kernel console: cannot run jupyter console ({e.strerror or e}).", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, previous)
        if launcher is not None:
            launcher.stop_all()


def _served_elsewhere(path: str) -> bool:
    """Whether a live server has PATH open or serves it (then the kernel uses that one)."""
    from . import discovery
    from .target import _same_path

    try:
        found = discovery.discover()
    except Exception:  # noqa: BLE001 - an unreadable registry: start our own
        return False
    return any(_same_path(nb.path, path) for _, nb in found.notebooks) or bool(found.serving(path))
