"""`marimo-pair-kernel console [NOTEBOOK.py]`: a terminal on a marimo notebook, nothing else needed.

When no live server has the notebook, this process starts `marimo edit NOTEBOOK.py
--headless` first of all, before its own heavier imports, and prints its URL: marimo's
start is most of the wait, and everything else overlaps it. Then it makes sure the
`marimo-pair` kernelspec exists and runs jupyter console (`--kernel marimo-pair`) in this
process, with MARIMO_PAIR_OPEN=NOTEBOOK.py and MARIMO_PAIR_URL=<that server> in the
kernel's environment: the kernel opens the notebook there without a browser, runs its
cells and installs its runtime in one request as soon as marimo is up, and its first
execute says what happened (see magics/opening.py). This process owns the server: it
stops it when the console exits, and the server's watchdog stops it if this process dies
(see launcher.py). It also opens the notebook's browserless session itself as soon as
marimo answers, so a kernel restart keeps the notebook. When a server already has the
notebook, nothing is started and the kernel uses that one. Without a notebook, a scratch
one is created in a fresh temporary folder (kept afterwards, so nothing typed is lost).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .launcher import Embedded, Launcher


def run_console(notebook: str | None, python: str | None = None, sandbox: bool = True) -> int:
    """Run jupyter console on NOTEBOOK (or a scratch notebook); returns its exit code.

    A notebook with a PEP 723 script header starts in marimo's sandbox (unless `sandbox` is
    False); its build is waited for here, its progress printed, before jupyter console starts.
    """
    # Only light imports until marimo is started: everything after overlaps its start.
    from .discovery import resolve_path
    from .errors import LaunchError
    from .launcher import CONSOLE_URL_ENV, OPEN_ENV, PYTHON_ENV, SANDBOX_ENV, Launcher

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

    launcher: Launcher | None = None
    emb: Embedded | None = None
    # An empty registry costs a directory listing here (discovery probes, and imports httpx,
    # only when there are servers to ask).
    if not _served_elsewhere(path):
        launcher = Launcher()
        try:
            emb = launcher.spawn(path, python, sandbox=None if sandbox else False)
        except LaunchError as e:
            print(f"marimo-pair-kernel console: {e}", file=sys.stderr)
            return 1
        if emb.sandbox:
            failed = _build_sandbox(launcher, emb)
            if failed is not None:
                return failed
        else:
            print(
                f"marimo is starting at {emb.url} (open it in a browser to watch live); "
                "the first line you run waits for it.",
                flush=True,
            )

    # The kernel jupyter console starts inherits this process's environment.
    os.environ[OPEN_ENV] = path
    if python:
        os.environ[PYTHON_ENV] = python
    if not sandbox:
        os.environ[SANDBOX_ENV] = "0"
    if launcher is not None and emb is not None:
        os.environ[CONSOLE_URL_ENV] = emb.url
        os.environ.pop("MARIMO_PAIR_FILE", None)
    if launcher is not None and emb is not None and emb.session is None:
        threading.Thread(
            target=_open_session, args=(launcher, emb), name="marimo-pair-console-start", daemon=True
        ).start()

    # ipykernel's debugger import otherwise greets the terminal with a frozen-modules warning.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    try:
        from .install import KERNEL_NAME, install, installed_spec, spec_problem

        spec = installed_spec()
        if spec is None:
            where = install(prefix=sys.prefix)
            print(f"Installed the {KERNEL_NAME} kernelspec in {where}", flush=True)
        elif problem := spec_problem(spec):
            print(f"marimo-pair-kernel console: {problem}", file=sys.stderr)
            return 1
        return _jupyter_console()
    finally:
        if launcher is not None:
            launcher.stop_all()


def _jupyter_console() -> int:
    """jupyter console on a fresh marimo-pair kernel, in this process.

    In this process rather than as `jupyter console` in a child: on 2 cores marimo is starting
    at the same time, and a second interpreter importing jupyter_client again is CPU marimo waits
    for. jupyter console relays Ctrl-C to the kernel itself (its own SIGINT handler).
    """
    from jupyter_console.app import ZMQTerminalIPythonApp

    from .install import KERNEL_NAME

    try:
        ZMQTerminalIPythonApp.launch_instance(argv=["--kernel", KERNEL_NAME])
    except Exception as e:  # noqa: BLE001 - jupyter console's own failure, said in one line
        print(f"marimo-pair-kernel console: jupyter console stopped ({type(e).__name__}: {e}).", file=sys.stderr)
        return 1
    finally:
        if ZMQTerminalIPythonApp.initialized():
            _stop_kernel(ZMQTerminalIPythonApp.instance())
    return 0


def _stop_kernel(app: Any) -> None:
    """Wait for the kernel jupyter console asked to shut down; force it after a grace period."""
    km = getattr(app, "kernel_manager", None)
    if km is None:
        return
    deadline = time.monotonic() + 3.0
    with contextlib.suppress(Exception):
        while km.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if km.is_alive():
            km.shutdown_kernel(now=True)
        km.cleanup_resources()


def _build_sandbox(launcher: Launcher, emb: Embedded) -> int | None:
    """Wait for a sandboxed notebook's server and session, printing uv's progress; None when up.

    Here rather than behind the first line: the build takes seconds to minutes, and its
    progress (or its error) belongs in the terminal before the prompt, not after it.
    """
    from .errors import LaunchError
    from .launcher import SANDBOX_TIMEOUT

    print(
        f"{os.path.basename(emb.path)} has a `# /// script` header: starting `marimo edit --sandbox` at "
        f"{emb.url} (uv builds its environment; up to {SANDBOX_TIMEOUT:g}s; --no-sandbox to skip) …",
        flush=True,
    )

    def progress(text: str) -> None:
        print(text, end="", flush=True)

    try:
        launcher.wait_up(emb, progress)
        launcher.open_session(emb, run_cells=False, progress=progress)
    except LaunchError as e:
        launcher.stop_all()
        print(f"marimo-pair-kernel console: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        launcher.stop_all()
        print("marimo-pair-kernel console: stopped while the sandbox was being built.", file=sys.stderr)
        return 130
    print(f"marimo is up at {emb.url} (open it in a browser to watch live)", flush=True)
    return None


def _open_session(launcher: Launcher, emb: Embedded) -> None:
    """Open the notebook as soon as marimo answers (its kernel boots meanwhile), rather than
    when the kernel, which starts later, gets to it; the kernel runs the cells."""
    from .errors import LaunchError

    try:
        launcher.wait_up(emb)
        launcher.open_session(emb, run_cells=False)  # closed with the server
    except LaunchError as e:
        print(f"\nmarimo-pair-kernel console: {e}", file=sys.stderr, flush=True)


def _served_elsewhere(path: str) -> bool:
    """Whether a live server has PATH open or serves it (then the kernel uses that one)."""
    from . import discovery

    try:
        found = discovery.discover()
    except Exception:  # noqa: BLE001 - an unreadable registry: start our own
        return False
    return any(discovery.same_path(nb.path, path) for _, nb in found.notebooks) or bool(found.serving(path))
