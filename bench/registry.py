"""A crowded marimo server registry: 1 live server, N hung ones and M dead ones.

*Hung* entries point at sockets that accept connections and never answer (what a
marimo stuck in a long computation or stopped with SIGSTOP looks like from outside).
They live in a small child process; its pid is alive and owns the ports, so every
"is the pid alive" check passes and only a timeout can tell. *Dead* entries name
pids of processes that have exited and ports nobody listens on (a crashed server's
leftovers).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from support import free_port, stop_group  # tests/support.py

# The listener prints each port, then "ready", then "accept PORT" per connection; it
# keeps every accepted socket open and never reads from or writes to it.
_LISTENER = r"""
import selectors, socket, sys
sel = selectors.DefaultSelector()
held = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    sel.register(s, selectors.EVENT_READ)
    print(s.getsockname()[1], flush=True)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        conn, _ = key.fileobj.accept()
        held.append(conn)
        print("accept", key.fileobj.getsockname()[1], flush=True)
"""


@dataclass
class HungListeners:
    count: int
    proc: subprocess.Popen | None = None
    ports: list[int] = field(default_factory=list)
    accepts: list[tuple[float, int]] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def start(self) -> HungListeners:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _LISTENER, str(self.count)],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip() == "ready":
                break
            self.ports.append(int(line))
        threading.Thread(target=self._read_accepts, daemon=True).start()
        return self

    def _read_accepts(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("accept"):
                with self._changed:
                    self.accepts.append((time.monotonic(), int(line.split()[1])))
                    self._changed.notify_all()

    def wait_accept(self, timeout: float) -> bool:
        """True once any hung socket has accepted a connection (a client is now stuck on it)."""
        with self._changed:
            return self._changed.wait_for(lambda: bool(self.accepts), timeout=timeout)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc)


def dead_pids(n: int) -> list[int]:
    """Pids of processes that have exited (and not been reused: checked)."""
    pids: list[int] = []
    while len(pids) < n:
        p = subprocess.Popen(["true"])
        p.wait()
        if not _pid_exists(p.pid):
            pids.append(p.pid)
    return pids


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _entry(pid: int, port: int, version: str) -> dict:
    return {
        "server_id": f"127.0.0.1:{port}",
        "pid": pid,
        "host": "127.0.0.1",
        "port": port,
        "base_url": "",
        "started_at": time.time(),
        "version": version,
    }


def build_registry(
    state_home: Path,
    live_state_home: Path,
    hung: HungListeners | None,
    n_dead: int,
    version: str,
) -> Path:
    """Make `state_home`'s registry: the live server's own file, plus hung and dead entries."""
    directory = state_home / "marimo" / "servers"
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    live = sorted((live_state_home / "marimo" / "servers").glob("*.json"))
    if len(live) != 1:
        raise RuntimeError(f"expected the live server's one registry file, found {len(live)}")
    shutil.copy(live[0], directory / live[0].name)
    if hung is not None:
        for port in hung.ports:
            (directory / f"127.0.0.1_{port}.json").write_text(json.dumps(_entry(hung.pid, port, version)))
    for pid in dead_pids(n_dead):
        path = None
        while path is None or path.exists():  # free_port() can hand out a port twice: one file each
            port = free_port()
            path = directory / f"127.0.0.1_{port}.json"
        path.write_text(json.dumps(_entry(pid, port, version)))
    return directory
