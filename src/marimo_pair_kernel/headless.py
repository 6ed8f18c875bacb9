"""A marimo notebook session without a browser.

marimo creates a session when a front end connects. Its `/sse` endpoint is such a
front end: we keep `GET /sse?session_id=KEY&file=PATH` open and drain it on a
daemon thread. The session lives as long as the stream does.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from urllib.parse import quote, urlsplit

from .discovery import Notebook, parse_sessions
from .errors import LaunchError


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 2.0) -> tuple[int, bytes]:
    """One GET with the standard library; raises OSError or http.client.HTTPException.

    For the few requests made while marimo starts (health, session listing): the console makes
    them before it needs anything else of httpx, and on 2 cores that import would be CPU taken
    from marimo's own start.
    """
    parts = urlsplit(url)
    conn_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_class(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request("GET", target or "/", headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


class HeadlessSession:
    def __init__(self, url: str, path: str, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.path = path
        self.key = f"mpk-{uuid.uuid4().hex[:12]}"
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._stop = threading.Event()
        self._error: str | None = None
        self._sock: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, name=f"marimo-sse-{self.key}", daemon=True)

    def start(self, timeout: float = 30.0, watch: Callable[[], None] | None = None) -> Notebook:
        """Open the stream and wait until marimo lists the session; returns it.

        `watch` is called while waiting (a sandbox's build reports progress, and raises when
        the build failed); whatever it raises closes the session and ends the wait.
        """
        self._thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if watch is not None:
                try:
                    watch()
                except BaseException:
                    self.close()
                    raise
            if self._error and not self._thread.is_alive():
                raise LaunchError(f"marimo refused the notebook session: {self._error}")
            try:
                status, body = http_get(self.url + "/api/sessions", self._headers)
                if status == 200:
                    for nb in parse_sessions(json.loads(body)):
                        if nb.key == self.key:
                            return nb
            except (OSError, http.client.HTTPException, ValueError):
                pass
            time.sleep(0.03)  # marimo answers this listing in ~1 ms; the first line waits for it
        self.close()
        raise LaunchError(f"marimo did not open a session for {self.path} within {timeout:g}s.")

    def _run(self) -> None:
        # A plain socket rather than httpx: close() must be able to end the stream from
        # another thread, and shutting a socket down is the one reliable way to do that.
        parts = urlsplit(self.url)
        target = f"{parts.path}/sse?session_id={quote(self.key)}&file={quote(self.path)}"
        auth = "".join(f"{k}: {v}\r\n" for k, v in self._headers.items())
        try:
            sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=10)
            self._sock = sock
            sock.sendall(
                f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: text/event-stream\r\n"
                f"{auth}Connection: close\r\n\r\n".encode()
            )
            sock.settimeout(None)
            first = sock.recv(65536)
            status = first.split(b"\r\n", 1)[0]
            if b" 200 " not in status + b" ":
                self._error = status.decode("latin-1", "replace")
                return
            while not self._stop.is_set() and sock.recv(65536):
                pass
        except OSError as e:
            if not self._stop.is_set():
                self._error = type(e).__name__
        finally:
            self._close_socket()

    def _close_socket(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        """End the session's stream, as closing the browser tab does."""
        self._stop.set()
        self._close_socket()
        self._thread.join(timeout=5)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
