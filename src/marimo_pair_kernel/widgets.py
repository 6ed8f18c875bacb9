"""A notebook's mo.ui elements as live Jupyter widgets (protocol 2.x, `@jupyter-widgets/controls`).

The runtime marks an element that lives in a notebook cell with a spec (inmarimo/widgets.py,
under WIDGET_MIME) inside its bundle. Before such a bundle is published, `Widgets.adopt` takes
the spec out, builds the element kind's model (widget_models.py), opens the widget's comms
(model, layout, style) and puts a widget view beside the `text/plain` and HTML snapshot, so
frontends without a widget manager see what they saw before.

A form is a box of its element's widget(s), a Clear button if it shows one, and a Submit button
(widget_forms.py): its widgets hold their moves (`Shown.held`) until Submit sets the form to them.
An anywidget is anywidget's own model (AnyModel): its synced traits both ways (binary ones as the
protocol's buffers), and its custom messages both ways.

Jupyter → marimo: a frontend's `update` (or a button's `click`, or an anywidget's `custom`) is
echoed to other frontends (`echo_update`, as ipywidgets does), checked against the element's range
or options, and handed to the SetWorker (widget_sets.py): one thread with its own HTTP connection
that sets the element through code mode, coalescing a drag. The shell channel never waits on marimo.

marimo → Jupyter (the page, `%ui set` or another kernel moving a control, a rerun of the element's
cell, the cell deleted) comes from widgets_live.py: the notebook's viewer stream triggers one
fetch of the elements' state, which lands here as `reshaped` (new value and arguments) or
`element_gone`; an anywidget's model notifications (changed traits, custom messages) land in
`model_message` with no fetch. While a move of this kernel's is pending or on its way, marimo's
older value is not pushed back at the frontend that made it.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import codemode
from . import widget_forms as forms
from .outputs import PAIR_JSON
from .widget_forms import BUTTONS, CLEAR, SUBMIT
from .widget_models import (
    ElementSpec,
    Model,
    OutOfRange,
    Shown,
    build_model,
    join_buffers,
    split_buffers,
    state_for_wire,
    wire_for_state,
)
from .widget_sets import SetWorker
from .widgets_live import LiveWidgets, code_hashes, model_ids

if TYPE_CHECKING:
    from .client import MarimoClient
    from .target import Target

log = logging.getLogger("marimo_pair_kernel")

WIDGET_MIME = "application/vnd.marimo-pair.widget+json"  # runtime_widgets.WIDGET_MIME
VIEW_MIME = "application/vnd.jupyter.widget-view+json"
CONTROLS = "@jupyter-widgets/controls"
BASE = "@jupyter-widgets/base"
MODULE_VERSION = "2.0.0"
PROTOCOL_VERSION = "2.1.0"
WIDGET_TARGET = "jupyter.widget"
CONTROL_TARGET = "jupyter.widget.control"  # ipywidgets 8 frontends ask for every model's state here
FOREIGN_NOTE = (
    "marimo-pair-kernel: this ipywidgets widget lives in marimo's process, where Jupyter frontends "
    "can't reach its model, so it shows as text here. A mo.ui element (mo.ui.anywidget wraps an "
    "anywidget) made in a %%cell is a live widget in Jupyter and on the marimo page.\n"
)


def _style_state(name: str) -> dict[str, Any]:
    state: dict[str, Any] = {"description_width": ""}
    if name == "SliderStyleModel":
        state["handle_color"] = None
    if name == "ButtonStyleModel":
        state = {"button_color": None, "font_weight": ""}
    return state


def _header(module: str, model_name: str, view_module: str, view_name: str) -> dict[str, Any]:
    return {
        "_model_module": module,
        "_model_module_version": MODULE_VERSION,
        "_model_name": model_name,
        "_view_count": None,
        "_view_module": view_module,
        "_view_module_version": MODULE_VERSION,
        "_view_name": view_name,
    }


class Widgets:
    """The kernel's comms and the widgets it opened; see the module docstring."""

    def __init__(self, kernel: Any) -> None:
        import comm as comm_module
        from ipykernel.comm import CommManager
        from ipykernel.comm.comm import BaseComm

        self.kernel = kernel
        self._comm_class = BaseComm
        self.manager = CommManager(kernel=kernel)
        # As ipykernel's own IPythonKernel does: comms (also ones a frontend opens) use this manager.
        comm_module.get_comm_manager = lambda: self.manager
        comm_module.create_comm = BaseComm
        kernel.comm_manager = self.manager  # Kernel.comm_info_request answers from it
        for msg_type in ("comm_open", "comm_msg", "comm_close"):
            kernel.shell_handlers[msg_type] = _checked(getattr(self.manager, msg_type))
        self.manager.register_target(CONTROL_TARGET, self._control_opened)
        self._lock = threading.Condition()
        self._shown: dict[str, Shown] = {}  # model id -> widget
        self._marimo: dict[tuple[str, str], Any] = {}  # (url, element id) -> marimo's last known wire
        self._parts: dict[str, tuple[Any, dict[str, Any]]] = {}  # layout/style comm id -> (comm, state)
        self._clients: dict[str, MarimoClient] = {}
        self._foreign_said = False  # the note on ipywidgets made in marimo's process (once per kernel)
        self.setter = SetWorker(self, self._client)  # Jupyter -> marimo
        self.live = LiveWidgets(self, self._client)  # marimo -> Jupyter

    # -- opening widgets -------------------------------------------------------------------

    def adopt(self, data: Any) -> None:
        """Replace the element spec in a bundle about to be published by a widget view."""
        if isinstance(data, dict) and VIEW_MIME in data:
            self._drop_foreign_view(data)
        if not isinstance(data, dict) or WIDGET_MIME not in data:
            return
        raw = data.pop(WIDGET_MIME)
        targeter = getattr(self.kernel, "_targeter", None)
        target = getattr(targeter, "target", None)
        spec = ElementSpec.parse(raw) if isinstance(raw, dict) else None
        model = build_model(spec) if spec is not None else None
        if spec is None or model is None or target is None:
            return
        try:
            shown = self._open(spec, model, target, None)
        except Exception:  # noqa: BLE001 - the snapshot still shows; a widget is extra
            log.warning("could not open a widget for %s", spec.id, exc_info=True)
            return
        data[VIEW_MIME] = {"version_major": 2, "version_minor": 0, "model_id": shown.model_id}
        try:
            self.live.watch(target, spec.id, spec.cell, self.kernel.get_parent("shell"),
                            tuple(model_ids([raw])), code_hashes([raw]))
        except Exception:  # noqa: BLE001 - Jupyter -> marimo still works without the stream
            log.warning("could not watch the notebook for %s", spec.id, exc_info=True)

    def _drop_foreign_view(self, data: dict[str, Any]) -> None:
        """An ipywidgets widget made in marimo's process (ipywidgets.IntSlider(), tqdm's bar) has its
        model there, where no Jupyter frontend can reach it: its view would show "Error displaying
        widget: model not found". The bundle keeps its text/plain (and HTML); the kernel says why once."""
        view = data.get(VIEW_MIME)
        model_id = view.get("model_id") if isinstance(view, dict) else None
        if model_id in self.manager.comms:
            return
        del data[VIEW_MIME]
        if not self._foreign_said:
            self._foreign_said = True
            self.kernel.send_response(self.kernel.iopub_socket, "stream", {"name": "stderr", "text": FOREIGN_NOTE})

    @staticmethod
    def strip(data: Any) -> None:
        """Take the element spec out of a bundle that is not published (a user_expressions value)."""
        if isinstance(data, dict):
            data.pop(WIDGET_MIME, None)

    def _open(self, spec: ElementSpec, model: Model, target: Target, form: str | None) -> Shown:
        disabled = bool(spec.args.get("disabled"))
        parts = []
        refs: dict[str, Any] = {}
        kids: list[Shown] = []
        if spec.kind == "form":
            form = spec.id  # the element's widgets inside hold their moves until Submit
        if spec.children:  # a box: its elements' widgets first, each on its own id
            for child in spec.children:
                child_model = build_model(child)
                if child_model is None:
                    raise ValueError(f"no widget for {child.kind}")
                kids.append(self._open(child, child_model, target, form))
            if spec.kind == "form":
                kids += [self._open(b, m, target, form) for b, m in forms.buttons(spec)]
            refs["children"] = [f"IPY_MODEL_{k.model_id}" for k in kids]
        # A box has no style model (its view would try to show one it was given).
        pieces = [("layout", BASE, "LayoutModel", "LayoutView")]
        if model.style_name:
            pieces.append(("style", CONTROLS, model.style_name, "StyleView"))
        for key, module, name, view in pieces:
            state = _header(module, name, BASE, view)
            if key == "style":
                state.update(_style_state(name))
            elif spec.kind == "form":
                state.update(forms.layout(spec))
            part = self._comm(state)
            with self._lock:  # an execute opens widgets on its worker thread while comms are read
                self._parts[part.comm_id] = (part, state)
            parts.append(part)
            refs[key] = f"IPY_MODEL_{part.comm_id}"
        state = {
            **(model.header or _header(CONTROLS, model.model_name, CONTROLS, model.view_name)),
            "_dom_classes": [],
            "tabbable": None,
            "tooltip": None,
            "disabled": disabled,
            **model.state,
            **refs,
        }
        c = self._comm(state)
        shown = Shown(c.comm_id, spec, model, target.client.url, target, c, state, parts, kids, form, spec.wire)
        for kid in kids:
            if kid.spec.kind in BUTTONS:
                kid.owner = shown
        with self._lock:
            self._shown[c.comm_id] = shown
            if spec.kind not in BUTTONS:
                self._marimo[(shown.url, spec.id)] = spec.wire
        c.on_msg(lambda msg: self._on_msg_checked(shown, msg))
        c.on_close(lambda msg: self._forget(shown))
        return shown

    def _comm(self, state: dict[str, Any]) -> Any:
        plain, paths, buffers = split_buffers(state)
        return self._comm_class(
            target_name=WIDGET_TARGET,
            data={"state": plain, "buffer_paths": paths},
            metadata={"version": PROTOCOL_VERSION},
            buffers=buffers,
        )

    @staticmethod
    def _tell(comm: Any, method: str, state: dict[str, Any]) -> None:
        """Send a model's state (binary values as buffers, as the widget protocol has them)."""
        plain, paths, buffers = split_buffers(state)
        comm.send({"method": method, "state": plain, "buffer_paths": paths}, buffers=buffers)

    def _forget(self, shown: Shown) -> None:
        with self._lock:
            self._shown.pop(shown.model_id, None)

    def _control_opened(self, control: Any, msg: dict[str, Any]) -> None:
        """ipywidgets 8 frontends (re)loading: every model's state in one answer."""

        def on_msg(m: dict[str, Any]) -> None:
            if (m.get("content", {}).get("data") or {}).get("method") != "request_states":
                return
            states: dict[str, Any] = {}
            with self._lock:
                models = [(s.model_id, s.state) for s in self._shown.values()]
                models += [(cid, st) for cid, (_, st) in self._parts.items()]
            for cid, st in models:
                states[cid] = {
                    "model_name": st["_model_name"],
                    "model_module": st["_model_module"],
                    "model_module_version": st["_model_module_version"],
                    "state": st,
                }
            plain, paths, buffers = split_buffers(states)
            control.send({"method": "update_states", "states": plain, "buffer_paths": paths}, buffers=buffers)

        control.on_msg(on_msg)

    # -- Jupyter -> marimo -----------------------------------------------------------------

    def _on_msg_checked(self, shown: Shown, msg: dict[str, Any]) -> None:
        try:
            self._on_msg(shown, msg)
        except Exception as e:  # noqa: BLE001 - a frontend's malformed message: one log line, no traceback
            log.warning("ignored a widget message for %s that could not be read (%s)", shown.spec.id, type(e).__name__)
            log.debug("the message's failure", exc_info=True)

    def _on_msg(self, shown: Shown, msg: dict[str, Any]) -> None:
        """A frontend's message to one widget. Runs on the shell channel: never waits on marimo."""
        data = msg.get("content", {}).get("data") or {}
        if not isinstance(data, dict):
            return
        method = data.get("method")
        if method == "request_state":
            self._tell(shown.comm, "update", shown.state)
            return
        if method == "custom" and shown.model.value_key == "traits":  # an anywidget's `model.send(...)`
            self.setter.queue(shown, None, custom=(data.get("content"), list(msg.get("buffers") or ())), parent=msg)
            return
        content = data.get("content")
        if method == "custom" and isinstance(content, dict) and content.get("event") == "click":
            if shown.owner is not None and shown.spec.kind == CLEAR:
                self._clear(shown.owner)
            elif shown.owner is not None:
                self._submit(shown.owner, msg)
            elif shown.form is None and shown.model.value_key is None:
                # A button's (a click on anything else means nothing; one inside a form counts
                # nothing until Submit).
                self.setter.queue(shown, None, clicks=1, parent=msg)
            return
        if method != "update":
            return
        state = data.get("state") or {}
        if not isinstance(state, dict):
            return
        state = join_buffers(state, data.get("buffer_paths"), msg.get("buffers"))
        # As ipywidgets 8: tell the other frontends what this one set.
        self._tell(shown.comm, "echo_update", state)
        with self._lock:
            shown.state.update(state)
        key = shown.model.value_key
        if key == "traits":  # an anywidget: the traits that are marimo's value
            wire = wire_for_state(shown.spec, shown.model, state)
            if wire:
                self.setter.queue(shown, wire, parent=msg)
            return
        if key is None or key not in state:
            return
        try:
            wire = wire_for_state(shown.spec, shown.model, state[key])
        except OutOfRange as e:
            with self._lock:
                current = shown.held if shown.form else self._marimo.get((shown.url, shown.spec.id), shown.spec.wire)
            back = "its last value" if shown.form else "marimo's value"
            self.note(msg, f"{e} The widget is back at {back}.")
            self._set_state(shown, state_for_wire(shown.spec, shown.model, current))
            return
        if shown.form is not None:  # inside a form: kept here until its Submit
            with self._lock:
                shown.held = wire
            return
        self.setter.queue(shown, wire, parent=msg)

    def _submit(self, form: Shown, msg: dict[str, Any]) -> None:
        """A form's Submit: marimo's form takes its element's value as the widgets hold it."""
        button = forms.button_of(form, SUBMIT)
        if button is None or button.state.get("disabled") or form.state.get("disabled"):
            return
        with self._lock:
            held = forms.held(form.kids[0])
        self.setter.queue(form, held, parent=msg)

    def _clear(self, form: Shown) -> None:
        """A form's Clear (or a submit with clear_on_submit): its widgets go back to their elements'
        initial values, as on marimo's page; marimo is not set."""
        if form.state.get("disabled"):
            return
        for shown, wire in forms.to_clear(form.kids[0]):
            with self._lock:
                shown.held = wire
            self._set_state(shown, state_for_wire(shown.spec, shown.model, wire))

    def _client(self, target: Target) -> MarimoClient:
        # Its own connection: the kernel's client may be reading an execute's stream right now.
        from .client import MarimoClient

        url = target.client.url
        client = self._clients.get(url)
        if client is None:
            token = self.kernel.targeter.token_for(target.client)
            client = self._clients[url] = MarimoClient(url, token)
        return client

    def effects(self, shown: Shown, parent: dict[str, Any] | None, payload: dict[str, Any]) -> None:
        """Which cells the move reran and which now fail, as `%ui set` says it: text and PAIR_JSON.

        Sent under the frontend's message that moved the widget: a notebook frontend shows it in
        no cell (no execute asked for it), a program reading IOPub (an agent) sees every set.
        """
        k = self.kernel
        if k.session is None or parent is None:
            return
        verb = "Submitting" if shown.spec.kind == "form" else "Moving"
        what = f"{verb} {shown.spec.label!r}" if shown.spec.label else f"{verb} {shown.spec.kind} {shown.spec.id}"
        data = {"id": shown.spec.id, "cell": shown.spec.cell, "wire": payload.get("wire"),
                **{key: list(payload.get(key) or ()) for key in ("reran", "failed", "stale")}}
        bundle = {"text/plain": "\n".join(codemode.effects_lines(what, payload)), PAIR_JSON: data}
        k.session.send(k.iopub_socket, "display_data", {"data": bundle, "metadata": {}, "transient": {}},
                       parent=parent)

    def marimo_moved(self, url: str, element_id: str, wire: Any) -> None:
        """marimo holds `wire` for this element now: every widget of it shows that."""
        with self._lock:
            self._marimo[(url, element_id)] = wire
            pending = self.setter.moving((url, element_id))  # a newer move is on its way: don't pull back
            mine = [s for s in self._shown.values() if s.url == url and s.spec.id == element_id]
        if pending:
            return
        for shown in mine:
            if shown.spec.kind == "form":
                if wire is not None and shown.spec.args.get("clear-on-submit"):
                    self._clear(shown)
                elif wire is not None:  # a submitted value: the form's widgets show it
                    self._hold(shown.kids[0], wire)
            else:
                self._set_state(shown, state_for_wire(shown.spec, shown.model, wire))

    def _hold(self, form_widget: Shown, wire: Any) -> None:
        """A form's widget (a box: its elements') takes `wire`, as marimo now holds it."""
        for shown, value in forms.to_hold(form_widget, wire):
            with self._lock:
                shown.held = value
                self._marimo[(shown.url, shown.spec.id)] = value
            self._set_state(shown, state_for_wire(shown.spec, shown.model, value))

    def reshaped(self, url: str, element_id: str, raw: dict[str, Any]) -> None:
        """marimo's element now is `raw` (a fresh spec): new value, and new arguments after a rerun."""
        spec = ElementSpec.parse(raw)
        if spec is None:
            return
        if spec.kind == "form":
            # The Submit button takes the new arguments; the element inside follows on its own id,
            # moved only by a submitted value (or a rerun), never over what is not submitted yet.
            with self._lock:
                self._marimo[(url, element_id)] = spec.wire
                shown_forms = [s for s in self._shown.values() if s.url == url and s.spec.id == element_id]
            for form in shown_forms:
                for kind in BUTTONS:
                    button = forms.button_of(form, kind)
                    if button is not None:
                        self._set_state(button, forms.button_state(spec, kind))
                if form.spec.children and spec.children and form.spec.children[0].id != spec.children[0].id:
                    self.element_gone(url, form.spec.children[0].id)
                else:
                    with self._lock:
                        form.spec = spec  # its arguments (clear_on_submit, …) as a rerun made them
            for child in raw.get("children") or ():
                if isinstance(child, dict) and "id" in child:
                    self.reshaped(url, str(child["id"]), child)
            return
        if spec.kind == "dict":
            # A box follows through its elements (each has a widget of its own id); one that the
            # rerun no longer makes is gone.
            kept = {c.id for c in spec.children}
            with self._lock:
                old = {c.id for s in self._shown.values() if s.url == url and s.spec.id == element_id
                       for c in s.spec.children}
            for child in raw.get("children") or ():
                if isinstance(child, dict) and "id" in child:
                    self.reshaped(url, str(child["id"]), child)
            for child_id in sorted(old - kept):
                self.element_gone(url, child_id)
            return
        model = build_model(spec)
        with self._lock:
            before = self._marimo.get((url, element_id), spec.wire)
            self._marimo[(url, element_id)] = spec.wire
            busy = self.setter.busy((url, element_id))
            mine = [s for s in self._shown.values() if s.url == url and s.spec.id == element_id]
        for shown in mine:
            if model is None or model.model_name != shown.model.model_name:
                # A widget's model cannot change class: the rerun made another kind of element here.
                self._disable([shown], None, f"marimo-pair-kernel: {element_id} is now another kind of element "
                              f"({spec.kind}), so this widget is disabled. Show the element again for a live one.")
                continue
            state = {**model.state, "disabled": bool(spec.args.get("disabled"))}
            hold = busy
            if shown.form is not None:
                # Inside a form: marimo's element moves only when a value is submitted (or its cell
                # reruns); until then the widget keeps what the person has not submitted yet.
                with self._lock:
                    form_busy = self.setter.busy((url, shown.form))
                    owner = next((s for s in self._shown.values() if s.url == url and s.spec.id == shown.form), None)
                hold = form_busy or spec.wire == before
                if not hold and owner is not None and owner.spec.args.get("clear-on-submit"):
                    # A submit (here, on the page, by another kernel) cleared the form's widgets.
                    state.update(state_for_wire(spec, model, spec.initial))
                    with self._lock:
                        shown.held = spec.initial
                elif not hold:
                    with self._lock:
                        shown.held = spec.wire
            if hold and model.value_key == "traits":
                for key in spec.args.get("traits") or ():
                    state.pop(key, None)
            elif hold and model.value_key is not None:
                state.pop(model.value_key, None)  # a newer move of ours is on its way: don't pull back
            with self._lock:
                shown.spec, shown.model = spec, model
            self._set_state(shown, {**state, "tooltip": None} if shown.state.get("disabled") else state)

    def model_message(self, url: str, model_id: str, message: dict[str, Any]) -> None:
        """marimo's notification for an anywidget's model: its changed traits (to the widget, unless a
        move of ours is on its way: its answer brings them all), or a custom message its Python code
        sent (to the frontends, buffers and all)."""
        with self._lock:
            mine = [s for s in self._shown.values() if s.url == url and s.model.value_key == "traits"
                    and s.spec.args.get("model-id") == model_id]
        if not mine:
            return
        method = message.get("method")
        if method == "custom":
            buffers = [base64.b64decode(b) for b in message.get("buffers") or () if isinstance(b, str)]
            for shown in mine:
                shown.comm.send({"method": "custom", "content": message.get("content")}, buffers=buffers)
            return
        if method not in ("update", "open"):  # "open": the current state, replayed when the stream (re)connects
            return
        state = join_buffers(message.get("state"), message.get("buffer_paths"), message.get("buffers"))
        traits = set(mine[0].spec.args.get("traits") or ())
        changed = {k: v for k, v in state.items() if k in traits} if isinstance(state, dict) else {}
        key = (url, mine[0].spec.id)
        with self._lock:
            if not changed or self.setter.busy(key):
                return
            wire = self._marimo.get(key)
            self._marimo[key] = {**wire, **changed} if isinstance(wire, dict) else changed
        for shown in mine:
            self._set_state(shown, changed)

    def element_left(self, shown: Shown, parent: dict[str, Any] | None) -> None:
        """A set found the element gone: its widgets (and a form's buttons) are disabled, with a note."""
        mine = [s for s in self._all() if s.url == shown.url and s.spec.id == shown.spec.id]
        self._disable(mine + [k for s in mine for k in s.kids if k.spec.kind in BUTTONS], parent,
                      "This element is no longer in the notebook (its cell changed or was deleted), so the "
                      "widget is disabled. Show the element again to get a live widget.")

    def element_gone(self, url: str, element_id: str) -> None:
        """The element is no longer in the notebook: its widgets are disabled, with a note (said once)."""
        boxes = [s for s in self._all() if s.url == url and s.spec.id == element_id and s.spec.children]
        for box in boxes:  # a box's elements go with it
            for child in box.spec.children:
                self.element_gone(url, child.id)
        mine = [s for s in self._all() if s.url == url and s.spec.id == element_id and not s.state.get("disabled")
                and not s.spec.children]
        mine += [k for b in boxes for k in b.kids if k.spec.kind in BUTTONS and not k.state.get("disabled")]
        if mine:
            self._disable(mine, None, f"marimo-pair-kernel: the marimo element {element_id} is no longer in the "
                          "notebook (its cell was deleted or no longer makes it), so its widget is disabled.")

    def _all(self) -> list[Shown]:
        with self._lock:
            return list(self._shown.values())

    def _set_state(self, shown: Shown, state: dict[str, Any]) -> None:
        with self._lock:
            changed = {k: v for k, v in state.items() if shown.state.get(k) != v}
            shown.state.update(changed)
        if changed:
            self._tell(shown.comm, "update", changed)

    def marimo_gone(self, url: str, parent: dict[str, Any] | None, why: str) -> None:
        mine = [s for s in self._all() if s.url == url]
        self._disable(mine, parent, f"{why} The notebook's widgets are disabled; the kernel is still running. "
                      "Run the cell again once marimo is back to get live widgets.")
        with self._lock:
            client = self._clients.pop(url, None)
        if client is not None:
            client.close()

    def _disable(self, shown: list[Shown], parent: dict[str, Any] | None, note: str) -> None:
        for s in shown:
            self._set_state(s, {"disabled": True, "tooltip": note})
        self.note(parent, note)

    def note(self, parent: dict[str, Any] | None, text: str) -> None:
        """Say something about a widget: on stderr, under the frontend's message that caused it."""
        k = self.kernel
        if k.session is None:
            return
        k.session.send(k.iopub_socket, "stream", {"name": "stderr", "text": text + "\n"}, parent=parent or {})


def _checked(handler: Callable[[Any, Any, dict[str, Any]], Any]) -> Callable[[Any, Any, dict[str, Any]], Any]:
    """A comm handler that drops a message without the fields every comm message has (comm_id,
    data) with one log line, where the comm package would log a traceback."""

    def handle(stream: Any, ident: Any, msg: dict[str, Any]) -> Any:
        content = msg.get("content")
        if not isinstance(content, dict) or not isinstance(content.get("comm_id"), str):
            log.warning("ignored a %s without a comm_id", msg.get("header", {}).get("msg_type", "comm message"))
            return None
        return handler(stream, ident, msg)

    return handle
