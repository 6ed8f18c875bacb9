"""Late outputs, the kernel's side: what threads of an execute send after the execute ended.

The runtime (inmarimo/late.py) announces each run that starts threads with an origin tag on
the run's stdout; `register` maps the tag to that execute's message. What the threads write
after the run arrives as envelopes in the scratch cell's console on the notebook's viewer
stream (viewer.py), which this module keeps open for the kernel's current notebook: each
envelope becomes `display_data` / `update_display_data` / `clear_output` / `stream` with the
origin execute as parent, as ipykernel sends a thread's output. Envelopes with tags never
registered here (another kernel's threads) are ignored, and ones already seen (a reconnect
replays the session) are dropped.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .outputs import DISPLAY_MARK, DisplayStream
from .viewer import (
    MIN_VIEWER_TEXT,
    Connected,
    Disconnected,
    Notification,
    Unsupported,
    ViewerEvent,
    ViewerStream,
    cell_op,
)

log = logging.getLogger("marimo_pair_kernel")

SCRATCH = "__scratch__"
MAX_ORIGINS = 256  # executes whose threads may still speak (the oldest is forgotten first)
STOP_TIMEOUT = 0.3  # of the kernel's 1 s shutdown budget
Publish = Callable[[str, dict[str, Any], dict[str, Any]], None]  # (msg_type, content, parent header)


@dataclass(frozen=True)
class ViewerTarget:
    """Which notebook to watch, and how to reach its server (headers may hold the token)."""

    url: str
    file: str
    headers: Mapping[str, str]
    verify: Any = False
    version: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.url, self.file, self.headers.get("Authorization", ""))


@dataclass
class _Origin:
    parent: dict[str, Any]
    next_seq: int = 0


class LateOutputs:
    """Maps origin tags to executes and publishes their threads' late output."""

    def __init__(self, publish: Publish) -> None:
        self._publish = publish
        self._origins: OrderedDict[str, _Origin] = OrderedDict()
        self._streams: dict[tuple[str, int, str], DisplayStream] = {}
        self._lock = threading.Lock()
        self._viewer: ViewerStream | None = None
        self._viewer_key: tuple[str, str, str] | None = None
        self._last_parent: dict[str, Any] | None = None
        self._said_down = False
        self._said_unsupported = False

    # -- the kernel's side (shell thread) ---------------------------------------------------

    def register(self, tag: object, parent: dict[str, Any], target: ViewerTarget | None) -> None:
        """An execute's run started threads (origin `tag`): their late output belongs to `parent`."""
        if not isinstance(tag, str) or not tag:
            return
        with self._lock:
            self._origins[tag] = _Origin(dict(parent))
            self._origins.move_to_end(tag)
            while len(self._origins) > MAX_ORIGINS:
                self._origins.popitem(last=False)
            self._last_parent = dict(parent)
        if target is not None:
            self.watch(target)

    def watch(self, target: ViewerTarget) -> None:
        """Keep a viewer on `target` (replacing one on another notebook). Never blocks for long."""
        if self._viewer is not None and self._viewer_key == target.key and self._viewer.alive:
            return
        if self._said_unsupported and self._viewer_key == target.key:
            return
        self.close()
        self._said_down = False
        self._viewer_key = target.key
        self._viewer = ViewerStream(
            target.url, target.file, self._on_event, headers=target.headers, verify=target.verify,
            version=target.version,
        ).start()

    def close(self, timeout: float = STOP_TIMEOUT) -> None:
        viewer, self._viewer = self._viewer, None
        if viewer is not None and not viewer.stop(timeout):
            log.debug("the viewer stream did not stop within %.1fs (a daemon thread; it ends with the kernel)", timeout)

    @property
    def viewer(self) -> ViewerStream | None:
        return self._viewer

    # -- the viewer's thread ----------------------------------------------------------------

    def _note(self, text: str) -> None:
        """One line on stderr, under the latest execute that started threads (where they speak).

        Only there: the kernel's own stderr is ipykernel's, so a log line would say it twice.
        """
        log.debug("%s", text)
        parent = self._last_parent
        if parent is not None:
            self._publish("stream", {"name": "stderr", "text": f"marimo-pair-kernel: {text}\n"}, parent)

    def _on_event(self, event: ViewerEvent) -> None:
        if isinstance(event, Notification):
            op = cell_op(event)
            if op is None or op.cell_id != SCRATCH:
                return
            for out in op.console:
                if DISPLAY_MARK in out.data and '"k":"late"' in out.data:
                    self._envelopes(out.data)
        elif isinstance(event, Disconnected):
            if not self._said_down:
                self._said_down = True
                self._note(
                    f"lost the notebook's event stream ({event.reason}); output that background threads "
                    "write after their execute has ended waits until marimo is back."
                )
        elif isinstance(event, Connected):
            if self._said_down:
                self._said_down = False
                log.info("the notebook's event stream is back")
        elif isinstance(event, Unsupported) and not self._said_unsupported:
            self._said_unsupported = True
            self._note(
                f"this marimo ({event.version}) is older than {MIN_VIEWER_TEXT}, which has no viewer stream: "
                "output that background threads write after their execute has ended does not reach this "
                "client. Upgrade marimo to see it."
            )

    def _envelopes(self, text: str) -> None:
        for kind, item in DisplayStream().feed(text):
            if kind != "display" or item.get("k") != "late":
                continue
            tag, seq, name, body = item.get("o"), item.get("i"), item.get("n"), item.get("t")
            if not isinstance(tag, str) or not isinstance(seq, int) or not isinstance(body, str):
                continue
            with self._lock:
                origin = self._origins.get(tag)
                if origin is None or seq < origin.next_seq:
                    continue  # not ours, or seen (a reconnect's replay)
                origin.next_seq = seq + 1
                parent = origin.parent
            if name == "stderr":
                self._publish("stream", {"name": "stderr", "text": body}, parent)
                continue
            key = (tag, int(item.get("th") or 0), "stdout")
            stream = self._streams.get(key)
            if stream is None:
                if len(self._streams) >= 4 * MAX_ORIGINS:  # threads of forgotten executes
                    self._streams = {k: v for k, v in self._streams.items() if k[0] in self._origins}
                stream = self._streams[key] = DisplayStream()
            for k, piece in stream.feed(body):
                self._item(k, piece, parent)

    def _item(self, kind: str, item: Any, parent: dict[str, Any]) -> None:
        if kind == "text":
            self._publish("stream", {"name": "stdout", "text": item}, parent)
        elif kind == "note":
            self._publish("stream", {"name": "stderr", "text": item}, parent)
        elif kind == "display":
            message = display_message(item)
            if message is not None:
                self._publish(message[0], message[1], parent)


def display_message(msg: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """One runtime display message as the Jupyter message ipykernel sends (kernel._publish's rules)."""
    kind = msg.get("k")
    if kind == "clear":
        return "clear_output", {"wait": bool(msg.get("wait"))}
    data = msg.get("data")
    if kind not in ("display", "update") or not isinstance(data, dict) or not data:
        return None
    content = {"data": data, "metadata": msg.get("metadata") or {}, "transient": msg.get("transient") or {}}
    return ("update_display_data" if kind == "update" else "display_data"), content

