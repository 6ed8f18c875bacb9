"""A read-only viewer of one marimo notebook: every notification marimo sends its pages.

`GET /sse?session_id=<our own id>&file=<path>&kiosk=true` (marimo >= 0.23.14) joins the
notebook's session as a kiosk consumer: marimo replays the session once (kernel-ready, the
cells' last state) and then sends every notification as it happens, as unnamed SSE events
whose data is `{"op": ..., "data": {...}}`. The id is ours and fresh: marimo keys its consumers
by it, so the page's id would take the page's place.

`ViewerStream` keeps that stream open on one daemon thread and hands each notification to its
subscribers as a typed event; it knows nothing of Jupyter (late.py is one subscriber). When
marimo goes away it says so once (`Disconnected`), retries with backoff, and says `Connected`
again when it is back (the replay then repeats: consumers must tolerate seeing a notification
twice). `stop()` ends it from any thread within its timeout: the socket is shut down, which
wakes the blocked read.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

MIN_VIEWER_MARIMO = (0, 23, 14)
MIN_VIEWER_TEXT = "0.23.14"

log = logging.getLogger("marimo_pair_kernel.viewer")


# -- events --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    """One marimo notification: `op` (e.g. "cell-op", "variable-values") and its data."""

    op: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class Connected:
    """The stream is open; the session's replay follows (again, after a reconnect)."""

    reconnect: bool


@dataclass(frozen=True)
class Disconnected:
    """The stream ended or could not be opened; sent once per outage, before the retries."""

    reason: str


@dataclass(frozen=True)
class Unsupported:
    """The server cannot have viewers (marimo older than 0.23.14): the stream stops for good."""

    version: str


ViewerEvent = Notification | Connected | Disconnected | Unsupported


@dataclass(frozen=True)
class CellConsole:
    """One console output of a `cell-op` notification."""

    channel: str  # "stdout", "stderr", ...
    data: str


@dataclass(frozen=True)
class CellOp:
    """The parts of a `cell-op` notification that consumers read; `console` may be several
    outputs (a replay merges a cell's console into one list)."""

    cell_id: str
    console: tuple[CellConsole, ...] = field(default=())
    status: str | None = None


def cell_op(event: Notification) -> CellOp | None:
    """The `cell-op` view of a notification, or None for other ops or malformed data."""
    if event.op != "cell-op":
        return None
    cell_id = event.data.get("cell_id")
    if not isinstance(cell_id, str):
        return None
    raw = event.data.get("console")
    items = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    console = tuple(
        CellConsole(str(c.get("channel")), c["data"])
        for c in items
        if isinstance(c, dict) and isinstance(c.get("data"), str)
    )
    status = event.data.get("status")
    return CellOp(cell_id, console, status if isinstance(status, str) else None)


# -- the stream ----------------------------------------------------------------------------


class ViewerStream:
    """Watches one notebook on one marimo server from a daemon thread.

    `headers` are sent on every request (the `Authorization: Bearer` header of a token server:
    never put the token in the URL, where logs would keep it). `on_event` runs on the stream's
    thread and must not raise; it is called with events in the order marimo sent them.
    """

    def __init__(
        self,
        url: str,
        file: str,
        on_event: Callable[[ViewerEvent], None],
        *,
        headers: Mapping[str, str] | None = None,
        verify: Any = False,
        backoff: tuple[float, float] = (0.25, 5.0),
        version: str | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.file = file
        self.id = f"mpk-viewer-{uuid.uuid4().hex[:12]}"
        self._subscribers: list[Callable[[ViewerEvent], None]] = [on_event]
        self._headers = dict(headers or {})
        self._verify = verify
        self._backoff = backoff
        self._version = version
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._sock_lock = threading.Lock()
        self.connected = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"marimo-pair-viewer-{self.id[-6:]}", daemon=True)

    def subscribe(self, on_event: Callable[[ViewerEvent], None]) -> Callable[[], None]:
        """Another consumer of the same stream (one connection per notebook); returns its unsubscribe.

        It sees events from now on: the replay it missed comes again only after a reconnect.
        """
        self._subscribers = [*self._subscribers, on_event]

        def unsubscribe() -> None:
            self._subscribers = [f for f in self._subscribers if f is not on_event]

        return unsubscribe

    def start(self) -> ViewerStream:
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 0.5) -> bool:
        """End the stream; True when its thread is gone within `timeout` seconds."""
        self._stop.set()
        self._shutdown_socket()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- the thread ------------------------------------------------------------------------

    def _emit(self, event: ViewerEvent) -> None:
        for on_event in self._subscribers:  # a list replaced, never changed: safe to iterate
            try:
                on_event(event)
            except Exception:  # noqa: BLE001 - a consumer's bug must not end the stream
                log.debug("viewer event handler failed", exc_info=True)

    def _run(self) -> None:
        import httpx

        from .client import parse_version

        client = httpx.Client(
            headers=self._headers,
            timeout=httpx.Timeout(5.0, connect=2.0, read=None),  # marimo sends a keep-alive every 20 s
            trust_env=False,  # as client.py: never through a proxy from the environment
            verify=self._verify,
        )
        delay = self._backoff[0]
        down = False  # Disconnected said for this outage
        ever = False  # connected at least once (the next Connected is a reconnect)
        try:
            while not self._stop.is_set():
                try:
                    if self._version is None:
                        r = client.get(self.url + "/api/version")
                        self._version = r.text.strip()[:64] if r.status_code == 200 else ""
                    found = parse_version(self._version)
                    if found is not None and found < MIN_VIEWER_MARIMO:
                        self._emit(Unsupported(self._version or "?"))
                        return
                    why = self._stream(client, ever)
                except httpx.HTTPError as e:
                    text = str(e).splitlines()[0][:120] if str(e) else ""
                    why = f"{type(e).__name__}: {text}" if text else type(e).__name__
                    self._version = None  # a restarted server may be another marimo
                was_connected = self.connected.is_set()
                self.connected.clear()
                if self._stop.is_set():
                    return
                if was_connected:
                    ever, down, delay = True, False, self._backoff[0]
                if not down:
                    down = True
                    self._emit(Disconnected(why))
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, self._backoff[1])
        finally:
            self.connected.clear()
            client.close()

    def _stream(self, client: Any, reconnect: bool) -> str:
        """One connection: read it to its end; returns why it ended."""
        from httpx_sse import EventSource

        params = {"session_id": self.id, "file": self.file, "kiosk": "true"}
        with client.stream("GET", self.url + "/sse", params=params, headers={"Accept": "text/event-stream"}) as r:
            if r.status_code != 200:
                return f"HTTP {r.status_code}"
            if not r.headers.get("content-type", "").startswith("text/event-stream"):
                return "not an event stream"
            self._hold_socket(r)
            try:
                if self._stop.is_set():
                    return "stopped"
                for sse in EventSource(r).iter_sse():
                    if sse.event == "close":
                        # marimo's in-band close: no session for the file, auth refused, shutdown.
                        return f"closed by marimo ({_close_reason(sse.data)})"
                    try:
                        msg = json.loads(sse.data) if sse.data else None
                    except ValueError:
                        continue
                    if not isinstance(msg, dict) or not isinstance(msg.get("op"), str):
                        continue
                    data = msg.get("data")
                    if not self.connected.is_set():
                        self.connected.set()
                        self._emit(Connected(reconnect))
                    self._emit(Notification(msg["op"], data if isinstance(data, dict) else {}))
            finally:
                self._release_socket()
        return "the stream ended"

    # -- stopping from another thread: shut the socket down (close alone does not wake a read)

    def _hold_socket(self, response: Any) -> None:
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        with self._sock_lock:
            self._sock = sock if isinstance(sock, socket.socket) else None

    def _release_socket(self) -> None:
        with self._sock_lock:
            self._sock = None

    def _shutdown_socket(self) -> None:
        with self._sock_lock:
            sock = self._sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def _close_reason(data: str) -> str:
    try:
        info = json.loads(data)
        return f"{info.get('code')}: {info.get('reason') or 'no reason'}"
    except (ValueError, AttributeError):
        return "no reason"
