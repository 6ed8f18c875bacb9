"""A loopback TCP relay in front of marimo that counts the bytes of each HTTP request.

The kernel is pointed at the relay's port (MARIMO_PAIR_URL) instead of marimo's; every byte
is passed on unchanged, so the kernel and marimo behave as without it (a closed stream still
reaches marimo as a closed stream). On the way, the kernel → marimo side is split into HTTP/1.1
requests (request line and headers up to the blank line, then `Content-Length` bytes of body),
and what marimo sends back on a connection is counted for the request it last received there.
It only observes: nothing in it knows what the kernel sends or why.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from dataclasses import dataclass

STREAM_PATHS = ("/sse",)  # long-lived viewer/session streams: background traffic, not a request's


@dataclass
class Exchange:
    """One HTTP request the kernel sent and what marimo answered on that connection."""

    conn: int
    method: str = ""
    path: str = ""
    started: float = 0.0  # perf_counter of the request's first byte
    request_bytes: int = 0  # request line + headers + body, as sent
    response_bytes: int = 0  # status line + headers + body (chunked framing included), as received
    first_response: float | None = None
    last_byte: float = 0.0
    code_chars: int | None = None  # len of the JSON body's "code", for POST /api/kernel/execute

    @property
    def stream(self) -> bool:
        return self.path.startswith(STREAM_PATHS)

    @property
    def seconds(self) -> float:
        """First request byte to last response byte."""
        return max(self.last_byte - self.started, 0.0)


class _Connection:
    """Splits one connection's client bytes into requests; attributes the server's to the latest."""

    def __init__(self, conn: int, relay: CountingRelay) -> None:
        self.conn = conn
        self.relay = relay
        self.head = bytearray()
        self.body_left = 0
        self.open_ended = False  # a chunked request body: every later byte goes to it
        self.body: bytearray | None = None
        self.current: Exchange | None = None

    def from_client(self, data: bytes) -> None:
        now = time.perf_counter()
        view = memoryview(data)
        while view:
            ex = self.current
            if ex is not None and (self.body_left or self.open_ended):
                take = len(view) if self.open_ended else min(self.body_left, len(view))
                ex.request_bytes += take
                ex.last_byte = now
                if self.body is not None:
                    self.body += view[:take]
                view = view[take:]
                if not self.open_ended:
                    self.body_left -= take
                    if not self.body_left:
                        self._body_done(ex)
                continue
            if not self.head:
                ex = self.current = Exchange(self.conn, started=now, last_byte=now)
                self.relay._add(ex)
            assert self.current is not None
            before = len(self.head)
            self.head += view
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return  # counted once the head is whole
            used = end + 4 - before
            self._head_done(self.current, bytes(self.head[: end + 4]), now)
            self.head.clear()
            view = view[used:]

    def _head_done(self, ex: Exchange, head: bytes, now: float) -> None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        ex.method, ex.path = parts[0], (parts[1].split("?", 1)[0] if len(parts) > 1 else "")
        ex.request_bytes += len(head)
        ex.last_byte = now
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
        self.open_ended = "chunked" in headers.get("transfer-encoding", "").lower()
        self.body_left = int(headers.get("content-length", "0") or 0)
        keep = ex.method == "POST" and ex.path.endswith("/api/kernel/execute") and self.body_left < 50_000_000
        self.body = bytearray() if keep and not self.open_ended else None
        if not self.body_left and not self.open_ended:
            self._body_done(ex)

    def _body_done(self, ex: Exchange) -> None:
        if self.body is not None:
            try:
                ex.code_chars = len(json.loads(bytes(self.body)).get("code", ""))
            except (ValueError, AttributeError):
                ex.code_chars = None
        self.body = None
        self.relay._touch(ex)

    def from_server(self, data: bytes) -> None:
        ex = self.current
        if ex is None:
            return
        now = time.perf_counter()
        if ex.first_response is None:
            ex.first_response = now
        ex.response_bytes += len(data)
        ex.last_byte = now
        self.relay._touch(ex)


class CountingRelay:
    """`with CountingRelay(port) as relay:` a relay on 127.0.0.1:`relay.port` to 127.0.0.1:`port`."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self._lock = threading.Lock()
        self._exchanges: list[Exchange] = []
        self._last_activity = time.perf_counter()
        self._ids = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="counting-relay", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> CountingRelay:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop
        ).result(timeout=10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for t in list(self._tasks):
                t.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> CountingRelay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- reading the counts (any thread) ------------------------------------------------------

    def mark(self) -> int:
        with self._lock:
            return len(self._exchanges)

    def since(self, mark: int, streams: bool = False) -> list[Exchange]:
        """Requests begun after `mark` (without the long-lived /sse streams unless `streams`)."""
        with self._lock:
            out = list(self._exchanges[mark:])
        return out if streams else [e for e in out if not e.stream]

    def settle(self, quiet: float = 0.15, timeout: float = 3.0) -> None:
        """Wait until no request/response byte (streams aside) moved for `quiet` seconds.

        A Jupyter reply can come before the last bytes of marimo's response (the chunked
        stream's end) went through; the counts are read after this.
        """
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self._lock:
                idle = time.perf_counter() - self._last_activity
            if idle >= quiet:
                return
            time.sleep(quiet - idle)

    # -- the relay (event loop thread) --------------------------------------------------------

    def _add(self, ex: Exchange) -> None:
        with self._lock:
            self._exchanges.append(ex)

    def _touch(self, ex: Exchange) -> None:
        if not ex.stream:
            with self._lock:
                self._last_activity = time.perf_counter()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            try:
                server_r, server_w = await asyncio.open_connection(*self.upstream)
            except OSError:
                client_w.close()
                return
            conn = _Connection(next(self._ids), self)
            await asyncio.gather(
                self._pump(client_r, server_w, conn.from_client),
                self._pump(server_r, client_w, conn.from_server),
            )
        finally:
            self._tasks.discard(task)

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count) -> None:
        try:
            while data := await reader.read(65536):
                count(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            # One side gone: close the other too, so a stream the kernel closes is closed at marimo.
            writer.close()
