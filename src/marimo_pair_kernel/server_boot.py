"""The first code of a marimo server the kernel starts: a watchdog thread, then marimo's CLI.

launcher.py runs this file's text with `python -c` in the Python that runs marimo (`--python`,
possibly another venv, where this package may not be installed), so it imports only the
standard library, and the kernel process reads it as text and never imports it.

argv: KERNEL_PID FORCE_AFTER INTERVAL LOG_FILE marimo-args...

The watchdog: when the kernel is gone (its parent changed, or the kernel pid is gone), ask
marimo to shut down cleanly (SIGTERM), remove the log nobody will read, and FORCE_AFTER
seconds later remove the server's registry entry and SIGKILL what is left: the notebook
kernels (each in a session of its own) and the server's process group.
"""

from __future__ import annotations

import contextlib
import json
import os
import runpy
import signal
import sys
import threading
import time


def gone(kernel: int, direct: bool) -> bool:
    """Whether the kernel that started this server is gone (or no longer ours to ask about)."""
    if direct and os.getppid() != kernel:
        return True
    try:
        os.kill(kernel, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return True
    return False


def forget() -> None:
    """Remove marimo's registry entries for this process (marimo does so on a clean exit only)."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    d = os.path.join(state, "marimo", "servers")
    for name in os.listdir(d) if os.path.isdir(d) else ():
        p = os.path.join(d, name)
        try:
            with open(p) as f:
                if json.load(f).get("pid") == os.getpid():
                    os.remove(p)
        except Exception:  # noqa: BLE001 - another server's entry, or one removed meanwhile
            pass


def descendants() -> list[int]:
    """This process's descendants: marimo runs each notebook kernel in a session of its own,
    out of reach of killpg."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc") if os.path.isdir("/proc") else ():
        try:
            with open("/proc/" + d + "/stat") as f:
                kids.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(d))
        except Exception:  # noqa: BLE001 - not a process, or gone meanwhile
            pass
    out, todo = [], [os.getpid()]
    while todo:
        for c in kids.get(todo.pop(), ()):
            out.append(c)
            todo.append(c)
    return out


def watch(kernel: int, direct: bool, force_after: float, interval: float, log: str) -> None:
    while not gone(kernel, direct):
        time.sleep(interval)
    os.kill(os.getpid(), signal.SIGTERM)
    with contextlib.suppress(OSError):
        os.remove(log)  # nobody is left to read it
    time.sleep(force_after)
    forget()
    for pid in descendants():
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    os.killpg(os.getpgrp(), signal.SIGKILL)


def main() -> None:
    kernel, force_after, interval, log = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    direct = os.getppid() == kernel
    if os.name == "posix":
        threading.Thread(
            target=watch, args=(kernel, direct, force_after, interval, log), name="marimo-pair-watchdog", daemon=True
        ).start()
    if sys.path and sys.path[0] == "":
        sys.path.pop(0)  # `-c` put the notebook's folder first: a marimo.py there must not shadow marimo
    sys.argv = ["marimo"] + sys.argv[5:]
    runpy.run_module("marimo", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
