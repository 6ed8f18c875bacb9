"""`marimo-pair-kernel console [NOTEBOOK.py]`: a terminal on a marimo notebook, nothing else needed.

Makes sure the `marimo-pair` kernelspec exists, then runs `jupyter console --kernel
marimo-pair` with MARIMO_PAIR_OPEN=NOTEBOOK.py in the kernel's environment: the kernel
opens that notebook the way `%open` does (see magics/opening.py) and stops the
marimo server it started when the console exits. Without a notebook, a scratch one
is created in a fresh temporary folder (kept afterwards, so nothing typed is lost).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile

from .install import KERNEL_NAME, install, is_installed
from .magics.opening import OPEN_ENV, PYTHON_ENV
from .target import resolve_path


def run_console(notebook: str | None, python: str | None = None) -> int:
    """Run jupyter console on NOTEBOOK (or a scratch notebook); returns its exit code."""
    if not is_installed():
        where = install(prefix=sys.prefix)
        print(f"Installed the {KERNEL_NAME} kernelspec in {where}", flush=True)
    if notebook:
        path = resolve_path(notebook)
        parent = os.path.dirname(path)
        if os.path.isdir(path) or not os.path.isdir(parent):
            print(f"marimo-pair-kernel console: {notebook} is not a notebook file in an existing folder.", file=sys.stderr)
            return 2
    else:
        path = os.path.join(tempfile.mkdtemp(prefix="marimo-pair-"), "scratch.py")
        print(f"Scratch notebook: {path} (pass NOTEBOOK.py to open your own)", flush=True)
    print("marimo starts in the background; the first line you run waits for it.", flush=True)

    env = dict(os.environ)
    env[OPEN_ENV] = path
    if python:
        env[PYTHON_ENV] = python
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
