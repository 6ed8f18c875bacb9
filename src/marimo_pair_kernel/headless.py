"""A marimo notebook session without a browser.

marimo creates a session when a front end connects. Its `/sse` endpoint is such a
front end: we keep `GET /sse?session_id=KEY&file=PATH` open and drain it on a
daemon thread. The session lives as long as the stream does.
"""

from __future__ import annotations

import threading
import time
import uuid
from urllib.parse import quote

import httpx

from .discovery import Notebook, parse_sessions
from .errors import LaunchError


class HeadlessSession:
    def __init__(self, url: str, path: str, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.path = path
        self.key = f"mpk-{uuid.uuid4().hex[:12]}"
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: str | None = None
        self._response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._run, name=f"marimo-sse-{self.key}", daemon=True)

    def start(self, timeout: float = 30.0) -> Notebook:
        """Open the stream and wait until marimo lists the session; returns it."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        with httpx.Client(headers=self._headers, timeout=2.0, trust_env=False) as http:
            while time.monotonic() < deadline:
                if self._error and not self._thread.is_alive():
                    raise LaunchError(f"marimo refused the notebook session: {self._error}")
                try:
                    r = http.get(self.url + "/api/sessions")
                    if r.status_code == 200:
                        for nb in parse_sessions(r.json()):
                            if nb.key == self.key:
                                return nb
                except (httpx.HTTPError, ValueError):
                    pass
                time.sleep(0.1)
        self.close()
        raise LaunchError(f"marimo did not open a session for {self.path} within {timeout:g}s.")

    def _run(self) -> None:
        target = f"{self.url}/sse?session_id={quote(self.key)}&file={quote(self.path)}"
        try:
            with httpx.Client(headers=self._headers, timeout=httpx.Timeout(10.0, read=None), trust_env=False) as http:
                with http.stream("GET", target) as r:
                    self._response = r
                    if r.status_code != 200:
                        self._error = f"HTTP {r.status_code}"
                        return
                    for _ in r.iter_raw():
                        if self._stop.is_set():
                            return
        except httpx.HTTPError as e:
            self._error = type(e).__name__

    def close(self) -> None:
        """End the session's stream (marimo closes the session once it notices)."""
        self._stop.set()
        if self._response is not None:
            try:
                self._response.close()
            except Exception:  # noqa: BLE001 - closing from another thread is best effort
                pass

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
