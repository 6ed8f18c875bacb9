"""Jupyter → marimo: the worker that sets elements as their widgets move (widgets.py owns one).

A frontend's move is handed here (`queue`) from the shell channel, which never waits on marimo.
One worker thread, with its own HTTP connection, sets the element through code mode (codemode's
`widget_set_code`: the path that also moves the page's control and reruns the dependents).
Pending moves are coalesced per element: only the latest value of a drag is sent (an anywidget's
moves of different traits add up), so no queue builds up behind a slow rerun. An anywidget's
custom messages (`model.send(...)` in its JS) are never coalesced: they go, in order, after the
element's pending move, to the widget's handlers in marimo (inmarimo/widgets.py `widget_custom`).
What marimo answers goes back to widgets.py (the `SetSink`).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from . import codemode, scratchpad
from .errors import ConnectionFailed, PairError, ServerGone, SessionGone
from .widget_models import Shown

if TYPE_CHECKING:
    from .client import MarimoClient
    from .target import Target

log = logging.getLogger("marimo_pair_kernel")


class SetSink(Protocol):
    """Where marimo's answers go: widgets.Widgets."""

    def marimo_moved(self, url: str, element_id: str, wire: Any) -> None: ...

    def effects(self, shown: Shown, parent: dict[str, Any] | None, payload: dict[str, Any]) -> None: ...

    def element_left(self, shown: Shown, parent: dict[str, Any] | None) -> None: ...

    def element_gone(self, url: str, element_id: str) -> None: ...

    def marimo_gone(self, url: str, parent: dict[str, Any] | None, why: str) -> None: ...

    def note(self, parent: dict[str, Any] | None, text: str) -> None: ...


@dataclass
class _Pending:
    """The latest move of one element not yet sent to marimo (older ones are dropped)."""

    shown: Shown
    wire: Any = None
    clicks: int = 0
    parent: dict[str, Any] | None = None
    moved: bool = False  # a value or clicks to set (else only custom messages)
    customs: list[tuple[Any, list[Any]]] = field(default_factory=list)  # an anywidget's, in order: (content, buffers)



class SetWorker:
    """The pending moves and the thread that sends them; see the module docstring."""

    def __init__(self, sink: SetSink, client_for: Callable[[Target], MarimoClient]) -> None:
        self._sink = sink
        self._client_for = client_for
        self._lock = threading.Condition()
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._inflight: set[tuple[str, str]] = set()  # elements the worker is setting right now
        self._worker: threading.Thread | None = None
        self.sets = 0  # how many sets the worker sent to marimo (the coalescing figure)

    def queue(self, shown: Shown, wire: Any, *, clicks: int = 0, parent: dict[str, Any] | None = None,
              custom: tuple[Any, list[Any]] | None = None) -> None:
        """Hand a move (a value, clicks) or an anywidget's custom message to the worker; never waits."""
        key = (shown.url, shown.spec.id)
        with self._lock:
            pending = self._pending.get(key)
            if pending is None:
                pending = self._pending[key] = _Pending(shown)
            pending.shown, pending.parent = shown, parent
            if custom is not None:  # never coalesced: each one is a message of its own
                pending.customs.append(custom)
            elif not pending.moved:
                pending.moved, pending.wire, pending.clicks = True, wire, clicks
            elif clicks:
                pending.clicks += clicks
            elif shown.model.value_key == "traits" and isinstance(pending.wire, dict):
                pending.wire = {**pending.wire, **wire}  # an anywidget: moves of different traits add up
            else:
                pending.wire = wire
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="marimo-pair-widgets", daemon=True)
                self._worker.start()
            self._lock.notify()

    def moving(self, key: tuple[str, str]) -> bool:
        """A move of this element (url, id) waits for the worker: marimo's older value is not pushed back."""
        with self._lock:
            pending = self._pending.get(key)
            return pending is not None and pending.moved

    def busy(self, key: tuple[str, str]) -> bool:
        """A move of this element waits or is being set."""
        with self._lock:
            return self.moving(key) or key in self._inflight

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._pending:
                    self._lock.wait()
                key = next(iter(self._pending))
                pending = self._pending.pop(key)
                if pending.moved:
                    self._inflight.add(key)
            try:
                self._send(pending)
            except Exception:  # noqa: BLE001 - the worker must outlive any one failure
                log.warning("widget update failed", exc_info=True)
            finally:
                with self._lock:
                    self._inflight.discard(key)

    def _send(self, pending: _Pending) -> None:
        if pending.moved:
            self._set(pending)
        if pending.customs:
            self._tell_marimo(pending)

    def _tell_marimo(self, pending: _Pending) -> None:
        """An anywidget's custom messages, in order, to the widget's handlers in marimo (no rerun:
        marimo reruns nothing for its page's custom messages either)."""
        shown = pending.shown
        messages = [{"content": content, "buffers": [base64.b64encode(bytes(b)).decode("ascii") for b in buffers]}
                    for content, buffers in pending.customs]
        args = json.dumps({"id": shown.spec.id, "messages": messages}, default=str)
        code = scratchpad.state_code(f"widget_custom({args!r})")
        notebook = shown.target.notebook

        def ask(client: MarimoClient) -> dict | None:
            return scratchpad.answer_of(scratchpad.execute_installed(client, notebook, code))

        ok, payload = self._ask(pending, "The widget's message could not reach marimo", ask)
        if not ok:
            return
        if payload is None or "error" in payload:
            why = (payload or {}).get("error") or "no answer from marimo"
            self._sink.note(pending.parent, f"The widget's message to {shown.spec.id} failed in marimo: {why}")
        elif payload.get("gone"):
            self._sink.element_gone(shown.url, shown.spec.id)

    def _ask(
        self, pending: _Pending, failing: str, ask: Callable[[MarimoClient], dict | None]
    ) -> tuple[bool, dict | None]:
        """(True, `ask(client)`'s answer) for the widget's notebook; (False, None) once it has said that
        marimo is gone (the widgets are disabled) or that the request failed (a note: `failing`)."""
        shown = pending.shown
        try:
            return True, ask(self._client_for(shown.target))
        except (ServerGone, ConnectionFailed, SessionGone) as e:
            self._sink.marimo_gone(shown.url, pending.parent, f"marimo is gone ({e}).")
        except PairError as e:
            self._sink.note(pending.parent, f"{failing}: {e}")
        return False, None

    def _set(self, pending: _Pending) -> None:
        shown = pending.shown
        nonce = uuid.uuid4().hex
        code = codemode.widget_set_code(shown.spec.id, pending.wire, pending.clicks, nonce)

        def ask(client: MarimoClient) -> dict | None:
            notebook = shown.target.notebook
            payload = scratchpad.answer_of(scratchpad.execute_installed(client, notebook, code))
            if payload is None:  # a cell the set reran raised: marimo dropped the answer, not the set
                kept = client.execute(codemode.widget_answer_code(nonce), notebook, lambda name, text: None)
                payload = scratchpad.answer_of(kept)
            return payload

        ok, payload = self._ask(pending, "The widget could not set marimo's value", ask)
        if not ok:
            return
        self.sets += 1
        if payload is None or "error" in payload or "unsupported" in payload:
            why = (payload or {}).get("error") or (payload or {}).get("unsupported") or "no answer from code mode"
            self._sink.note(pending.parent, f"marimo did not set {shown.spec.kind} {shown.spec.id}: {why}")
            return
        if payload.get("gone"):
            self._sink.element_left(shown, pending.parent)
            return
        if "refused" in payload:
            refused = payload["refused"]
            if shown.spec.kind == "form":  # as on the page: what was typed stays, to be fixed
                self._sink.note(pending.parent, f"marimo refused the submitted value: {refused}.")
                return
            self._sink.note(pending.parent,
                            f"marimo refused the value: {refused}. The widget is back at marimo's value.")
        self._sink.marimo_moved(shown.url, shown.spec.id, payload.get("wire"))
        if "reran" in payload:
            self._sink.effects(shown, pending.parent, payload)

