"""Helpers for the fault-injection suite (tests/test_faults_*.py).

- `Recorder`: a small HTTP server that answers like marimo (`/health`, `/api/sessions`,
  `/api/kernel/execute`) and records every request it receives, so a test can prove
  that nothing (no code, no token) reached it.
- `HungListener` / `TrickleServer`: a port that accepts and never answers, and one that
  answers a byte at a time forever.
- `registry_entry`: write a registry file like marimo does.
- `LoggedKernel`: a real kernel whose stdout/stderr go to a file, with every IOPub and
  shell message kept, for "the token never appears anywhere" assertions.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
from support import Outputs, start_kernel, stop_kernel

from marimo_pair_kernel.discovery import registry_dir


def registry_entry(state_home: Path, *, pid: int, port: int, host: str = "127.0.0.1", name: str | None = None,
                   version: str = "0.25.2", **extra: Any) -> Path:
    directory = registry_dir({"XDG_STATE_HOME": str(state_home)})
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (name or f"{host}_{port}.json")
    data = {"server_id": f"{host}:{port}", "pid": pid, "host": host, "port": port, "base_url": "",
            "started_at": "2026-01-01T00:00:00+00:00", "version": version, **extra}
    path.write_text(json.dumps(data))
    return path


# -- fake servers -------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Recorder:
    """An HTTP server that looks like marimo from the outside and records every request.

    `execute_status` lets a test play a server that lacks the execute endpoint.
    """

    def __init__(self, host: str = "127.0.0.1", notebook_path: str = "/nowhere/impostor.py",
                 execute_status: int = 200, execute_body: dict | None = None,
                 sessions_body: Any = None, sessions_status: int = 200, version: str = "0.25.2") -> None:
        self.requests: list[Request] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _record(self) -> Request:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                recorder.requests.append(req)
                return req

            def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                req = self._record()
                if req.path == "/health":
                    self._send(200, b'{"status":"healthy"}')
                elif req.path == "/api/sessions":
                    body = sessions_body if sessions_body is not None else {
                        "impostor-key": {"session_id": "sess-impostor", "filename": notebook_path,
                                         "path": notebook_path}}
                    self._send(sessions_status, json.dumps(body).encode())
                elif req.path == "/api/version":
                    self._send(200, version.encode(), "text/plain")
                else:
                    self._send(404, b'{"detail":"Not Found"}')

            def do_POST(self) -> None:  # noqa: N802
                req = self._record()
                if req.path == "/api/kernel/execute" and execute_status == 200:
                    self._send(200, b'event: done\ndata: {"success": true, "output": {"mimetype": '
                                    b'"text/plain", "data": "impostor ran your code"}}\n\n', "text/event-stream")
                else:
                    self._send(execute_status, json.dumps(execute_body or {"detail": "Not Found"}).encode())

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class HungListener:
    """A port whose connections are accepted by the OS (backlog) and never answered."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]

    def __enter__(self) -> HungListener:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.sock.close()


class TrickleServer:
    """Answers 200 with a chunked body that never ends: one byte every `interval` seconds."""

    def __init__(self, interval: float = 0.1) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.interval = interval
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            while not self._stop.is_set():
                conn.sendall(b"1\r\n \r\n")
                time.sleep(self.interval)
        except OSError:
            pass
        finally:
            conn.close()

    def __enter__(self) -> TrickleServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self.sock.close()


def local_non_loopback_ipv4() -> str | None:
    """An IPv4 address of this machine that is not loopback (traffic to it stays on the machine)."""
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family == socket.AF_INET and not a.address.startswith("127."):
                return a.address
    return None


# -- kernels ------------------------------------------------------------------------------


@dataclass
class Exchange(Outputs):
    """Everything one execute produced: all IOPub messages for it, and the whole reply message."""

    messages: list[dict]
    reply: dict
    input_requests: list[dict] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.reply["content"]["status"]

    @property
    def content(self) -> dict:
        return self.reply["content"]


class LoggedKernel:
    """A marimo-pair kernel with its output in `log` and every message it sent kept in `seen`."""

    def __init__(self, env: dict[str, str], log: Path, extra_arguments: list[str] | None = None) -> None:
        self.log = log
        self._log_file = log.open("ab")
        try:
            self.km, self.kc = start_kernel(env, stdout=self._log_file, stderr=self._log_file,
                                            extra_arguments=extra_arguments)
        except BaseException:
            self._log_file.close()
            raise
        self.seen: list[dict] = []  # every message received on any channel, raw

    @property
    def pid(self) -> int:
        return self.km.provisioner.process.pid  # type: ignore[union-attr]

    def execute(self, code: str, timeout: float = 60, stdin_answers: list[str] | None = None,
                **kw: Any) -> Exchange:
        answers = list(stdin_answers or [])
        msg_id = self.kc.execute(code, allow_stdin=bool(answers) or kw.pop("allow_stdin", False), **kw)
        messages: list[dict] = []
        inputs: list[dict] = []
        deadline = time.monotonic() + timeout
        idle = False
        while not idle:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no idle for {code[:60]!r} within {timeout}s")
            if answers:
                try:
                    req = self.kc.get_stdin_msg(timeout=0.05)
                    self.seen.append(req)
                    inputs.append(req["content"])
                    self.kc.input(answers.pop(0))
                except queue.Empty:
                    pass
            try:
                m = self.kc.get_iopub_msg(timeout=0.05 if answers else 1)
            except queue.Empty:
                continue
            self.seen.append(m)
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            if m["msg_type"] == "status":
                idle = m["content"]["execution_state"] == "idle"
                continue
            messages.append(m)
        while True:
            reply = self.kc.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
            self.seen.append(reply)
            if reply["parent_header"].get("msg_id") == msg_id:
                return Exchange(messages, reply, inputs)

    def kernel_info(self, timeout: float = 10) -> dict:
        reply = self.kc.kernel_info(reply=True, timeout=timeout)
        self.seen.append(reply)
        return reply

    def process_tree(self) -> list[psutil.Process]:
        p = psutil.Process(self.pid)
        return [p, *p.children(recursive=True)]

    def stop(self) -> None:
        try:
            stop_kernel(self.km, self.kc)
        finally:
            self._log_file.close()

    def __enter__(self) -> LoggedKernel:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def dump(messages: list[dict]) -> str:
    """All messages as one string, for 'never appears anywhere' checks."""
    return json.dumps(messages, default=str)


def assert_secret_kept(k: LoggedKernel, *secrets: str) -> None:
    """No secret in what the kernel sent, in its log, or in any argv of its process tree."""
    everything = dump(k.seen)
    log = k.log.read_text(errors="replace")
    argv = [" ".join(p.cmdline()) for p in k.process_tree()]
    for secret in secrets:
        assert secret not in everything, "token in a Jupyter message"
        assert secret not in log, "token in the kernel's log"
        assert not any(secret in a for a in argv), "token in a process argument list"


# -- older marimo -------------------------------------------------------------------------

# Which old marimo the version tests run against (CI: the default). MPK_OLD_MARIMO_SPEC lets a
# person check another one by hand, e.g. "marimo==0.21.1" for the oldest supported.
OLD_MARIMO_SPEC = os.environ.get("MPK_OLD_MARIMO_SPEC") or "marimo==0.22.*"
OLD_MARIMO_VERSION = OLD_MARIMO_SPEC.split("==", 1)[-1].rstrip(".*")  # "0.22" or "0.21.1"
# Where tests keep what they build once and reuse (the old-marimo venv, about 240 MB):
# $MARIMO_PAIR_TEST_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/marimo-pair-kernel-tests.
TEST_CACHE = Path(
    os.environ.get("MARIMO_PAIR_TEST_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "marimo-pair-kernel-tests"
)
OLD_MARIMO_VENV = Path(os.environ.get("MPK_OLD_MARIMO_VENV") or TEST_CACHE / f"venv-{OLD_MARIMO_VERSION}")


def old_marimo_python(venv: Path = OLD_MARIMO_VENV, spec: str = OLD_MARIMO_SPEC) -> str:
    """A Python with an old marimo, in its own venv as users have it; created once, then reused.

    A `.complete` marker is written last, so an interrupted install is redone, not trusted.
    A lock file beside it makes concurrent test processes (xdist workers, two checkouts)
    build it once: the others wait, then reuse it.
    """
    import fcntl
    import shutil
    import subprocess
    import sys

    python = venv / "bin" / "python"
    marker = venv / ".complete"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if we crash
        if marker.exists() and marker.read_text() == spec and python.exists():
            return str(python)
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", spec],
                       check=True, timeout=900)
        marker.write_text(spec)
    return str(python)


class WsSession:
    """A browserless session the way marimo < 0.25 needs it: its front-end websocket, held open.

    Closing it is what a closed or reloaded tab does; marimo then keeps the session
    (orphaned) and gives it to the next connection for the same file under the new key.
    """

    def __init__(self, url: str, path: str, token: str | None = None) -> None:
        import uuid
        from urllib.parse import quote

        self.url = url
        self.key = f"ws-{uuid.uuid4().hex[:12]}"
        self._ws_url = url.replace("http://", "ws://") + f"/ws?session_id={quote(self.key)}&file={quote(path)}"
        if token:
            self._ws_url += f"&access_token={quote(token)}"
        self._ws: Any = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, timeout: float = 30) -> WsSession:
        import httpx

        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            raise RuntimeError(f"websocket to marimo failed: {self._error!r}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.key in httpx.get(self.url + "/api/sessions", timeout=5).json():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"marimo did not list session {self.key}")

    def _run(self) -> None:
        from websockets.sync.client import connect

        try:
            with connect(self._ws_url, open_timeout=30, max_size=None) as ws:
                self._ws = ws
                self._ready.set()
                for _ in ws:
                    pass
        except Exception as e:  # noqa: BLE001 - the connection ends when the test closes it
            self._error = self._error or (e if not self._ready.is_set() else None)
        finally:
            self._ready.set()

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
        self._thread.join(timeout=10)
