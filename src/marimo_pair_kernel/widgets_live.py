"""marimo → Jupyter: the page (or `%ui set`, or another kernel) moves a control; the widget follows
(an array's or dictionary's elements too, each on its own id).

For each notebook with widgets, a viewer stream (viewer.py, one per notebook, opened when the
first widget is) says when something may have changed: `variable-values` naming an element's
variable (its values are cut at 50 characters: a trigger only), `send-ui-element-message` for an
element, `cell-op` for an element's cell, `remove-ui-elements`. Each trigger marks the notebook
dirty; one worker thread, with its own HTTP connection, then asks marimo once for the exact state
of every element shown (runtime_widgets.widget_states) and hands it to Widgets: a new value
(`marimo_moved`), new arguments after a rerun (`reshaped`), or gone (`element_gone`). Triggers
that arrive while a fetch runs coalesce into one more fetch; nothing polls. A fetch leaves an
anywidget's code (`_esm`, `_css`: often the largest part) out and says only its hash; the code
is fetched again only for an element whose hash changed (a rerun made another widget class).

An anywidget's `model-lifecycle` notifications are exact (its changed traits, binary ones as
base64; a custom message its Python code sent, with its buffers): they go to
`Widgets.model_message` as they are, with no fetch.

Element ids are `<cell>-<n>`, numbered afresh on each run of the cell, so a rerun keeps the id
of the element made at the same place: the widget stays on its id and takes the new arguments.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from . import scratchpad
from .errors import ConnectionFailed, PairError, ServerGone, SessionGone
from .viewer import MIN_VIEWER_TEXT, Notification, Unsupported, ViewerEvent, ViewerStream

if TYPE_CHECKING:
    from .client import MarimoClient
    from .target import Target

log = logging.getLogger("marimo_pair_kernel")

STOP_TIMEOUT = 0.2


class WidgetSink(Protocol):
    """Where what the fetches find goes: widgets.Widgets (which owns a LiveWidgets)."""

    def reshaped(self, url: str, element_id: str, raw: dict[str, Any]) -> None: ...

    def element_gone(self, url: str, element_id: str) -> None: ...

    def model_message(self, url: str, model_id: str, message: dict[str, Any]) -> None: ...

    def note(self, parent: dict[str, Any] | None, text: str) -> None: ...


@dataclass
class _Notebook:
    """One watched notebook: its stream, the elements shown from it, and what triggers a fetch."""

    target: Target
    stream: ViewerStream | None = None
    ids: set[str] = field(default_factory=set)
    cells: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    named: set[str] = field(default_factory=set)  # the ids whose variable names `names` holds (fetched)
    models: set[str] = field(default_factory=set)  # the anywidgets' model ids (their traits change in place)
    codes: dict[str, str] = field(default_factory=dict)  # anywidget element id -> its code's hash (shown)
    dirty: bool = False
    parent: dict[str, Any] | None = None  # the execute that showed the first widget (where notes go)


class LiveWidgets:
    """The viewer streams and the fetch worker behind marimo → Jupyter moves."""

    def __init__(self, widgets: WidgetSink, client_for: Callable[[Target], MarimoClient]) -> None:
        self._widgets = widgets
        self._client_for = client_for
        self._lock = threading.Condition()
        self._books: dict[tuple[str, str], _Notebook] = {}
        self._worker: threading.Thread | None = None
        self._said_old = False
        self.fetches = 0  # scratchpad requests made (tests and bench read it)

    def watch(self, target: Target, element_id: str, cell: str, parent: dict[str, Any] | None = None,
              models: tuple[str, ...] = (), codes: dict[str, str] | None = None) -> None:
        """A widget for `element_id` (in `cell`) is shown, by the execute `parent`: follow its notebook.

        `models`: marimo's model ids of the anywidgets in it, whose notifications go to their widgets;
        `codes`: their code's hashes (a fetch leaves the code out unless it changed).

        Never blocks for long.
        """
        vt = target.viewer_target()
        if vt is None:
            return
        key = (vt.url, vt.file)
        with self._lock:
            book = self._books.get(key)
            if book is None:
                book = self._books[key] = _Notebook(target, parent=parent)
            book.target = target
            book.ids.add(element_id)
            book.cells.add(cell)
            book.models.update(models)
            book.codes.update(codes or {})
            start = book.stream is None
            if start:
                book.stream = ViewerStream(vt.url, vt.file, lambda e: self._on_event(key, e), headers=vt.headers,
                                           verify=vt.verify, version=vt.version)
        if start and book.stream is not None:
            book.stream.start()

    def close(self) -> None:
        with self._lock:
            streams = [b.stream for b in self._books.values() if b.stream is not None]
            self._books.clear()
        for s in streams:
            s.stop(STOP_TIMEOUT)

    # -- the streams' threads ----------------------------------------------------------------

    def _on_event(self, key: tuple[str, str], event: ViewerEvent) -> None:
        if isinstance(event, Unsupported):
            with self._lock:
                book = self._books.get(key)
            if not self._said_old:
                self._said_old = True
                self._widgets.note(book.parent if book is not None else None, (
                    f"marimo-pair-kernel: this marimo ({event.version}) is older than {MIN_VIEWER_TEXT}, which has "
                    "no viewer stream: widgets move marimo's controls, but moves made on the marimo page do not "
                    "reach the widgets. Upgrade marimo for both ways."))
            return
        if not isinstance(event, Notification):
            return
        if event.op == "model-lifecycle":
            # An anywidget's model: its changed traits (exact, binary ones as base64) or a custom
            # message its Python code sent. Straight to the widget, no fetch.
            model_id, message = event.data.get("model_id"), event.data.get("message")
            with self._lock:
                book = self._books.get(key)
                known = book is not None and model_id in book.models
            if known and book is not None and isinstance(message, dict):
                self._widgets.model_message(book.target.client.url, str(model_id), message)
                if message.get("method") == "update" and message.get("esm_spec"):
                    self._mark(key)  # its code changed (anywidget's hot reload): a fetch brings it
            return
        with self._lock:
            book = self._books.get(key)
            if book is None or not _triggers(book, event):
                return
        self._mark(key)

    def _mark(self, key: tuple[str, str]) -> None:
        """The notebook needs a fetch: the worker makes one (one more, if one is running)."""
        with self._lock:
            book = self._books.get(key)
            if book is None:
                return
            book.dirty = True
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="marimo-pair-widgets-live", daemon=True)
                self._worker.start()
            self._lock.notify()

    # -- the worker ------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._lock:
                while not any(b.dirty for b in self._books.values()):
                    self._lock.wait()
                book = next(b for b in self._books.values() if b.dirty)
                book.dirty = False
                ids = sorted(book.ids)
            try:
                self._fetch(book, ids)
            except Exception:  # noqa: BLE001 - the worker must outlive any one failure
                log.warning("fetching widget values failed", exc_info=True)

    def _fetch(self, book: _Notebook, ids: list[str]) -> None:
        target = book.target
        client = self._client_for(target)
        payload = self._ask(book, client, ids, lean=True)  # anywidgets' code left out
        if payload is None:
            return
        elements = dict(payload.get("elements") or {})
        with self._lock:
            changed = {i for i, c in code_hashes(elements).items() if book.codes.get(i) != c}
        if changed:  # an anywidget's code changed (a rerun made another widget class): fetch it whole
            tops = sorted(i for i, spec in elements.items() if code_hashes([spec]).keys() & changed)
            full = self._ask(book, client, tops, lean=False)
            elements.update((full or {}).get("elements") or {})
        names = payload.get("names") or {}
        with self._lock:
            book.names = {n for v in names.values() if isinstance(v, list) for n in v if isinstance(n, str)}
            book.named = set(names)
            # A rerun makes a new anywidget (a new model id) at the same element id.
            book.models.update(model_ids(elements))
            book.codes.update(code_hashes(elements))
        url = target.client.url
        for element_id, spec in elements.items():
            if spec is None:
                with self._lock:
                    book.ids.discard(element_id)
                self._widgets.element_gone(url, element_id)
            elif isinstance(spec, dict):
                self._widgets.reshaped(url, element_id, spec)


    def _ask(self, book: _Notebook, client: MarimoClient, ids: list[str], *, lean: bool) -> dict[str, Any] | None:
        try:
            code = scratchpad.state_code(f"widget_states({ids!r}, lean={lean!r})")
            result = scratchpad.execute_installed(client, book.target.notebook, code)
        except (ServerGone, ConnectionFailed, SessionGone):
            return None  # the widget worker says so when a move fails; a stream reconnect triggers again
        except PairError:
            log.debug("widget fetch refused", exc_info=True)
            return None
        self.fetches += 1
        payload = scratchpad.answer_of(result)
        return payload if payload and "elements" in payload else None


def _triggers(book: _Notebook, event: Notification) -> bool:
    """Whether this notification may have changed an element the notebook shows as a widget."""
    data = event.data
    if event.op == "variable-values":
        variables = data.get("variables")
        found = {v.get("name") for v in variables if isinstance(v, dict)} if isinstance(variables, list) else set()
        # An element shown since the last fetch: its names are not known yet, so any variable counts.
        return bool(found & book.names) or not book.ids <= book.named
    if event.op == "send-ui-element-message":
        return data.get("ui_element") in book.ids
    if event.op == "remove-ui-elements":
        return data.get("cell_id") in book.cells
    if event.op == "cell-op":
        # An element's cell finished a run (its elements are new) or was deleted/emptied.
        return data.get("cell_id") in book.cells and data.get("status") == "idle"
    return False



def code_hashes(specs: Any) -> dict[str, str]:
    """The anywidgets' code hashes in element specs (raw dicts, children included): element id -> hash."""
    found: dict[str, str] = {}
    items = specs.values() if isinstance(specs, dict) else specs
    for spec in items or ():
        if not isinstance(spec, dict):
            continue
        code = (spec.get("args") or {}).get("code") if spec.get("kind") == "anywidget" else None
        if isinstance(code, str):
            found[str(spec.get("id"))] = code
        found.update(code_hashes(spec.get("children") or []))
    return found


def model_ids(specs: Any) -> set[str]:
    """The anywidget model ids in element specs (raw dicts, children included)."""
    found: set[str] = set()
    items = specs.values() if isinstance(specs, dict) else specs
    for spec in items or ():
        if not isinstance(spec, dict):
            continue
        model = (spec.get("args") or {}).get("model-id") if spec.get("kind") == "anywidget" else None
        if isinstance(model, str) and model:
            found.add(model)
        found |= model_ids(spec.get("children") or [])
    return found
