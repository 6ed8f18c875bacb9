"""A notebook's mo.ui elements as live Jupyter widgets (protocol 2.x, `@jupyter-widgets/controls`).

The runtime marks an element that lives in a notebook cell with a spec (runtime_widgets.py,
under WIDGET_MIME) inside its bundle. Before such a bundle is published, `Widgets.adopt` takes
the spec out, opens the widget's comms (model, layout, style) and puts a widget view beside the
`text/plain` and HTML snapshot, so frontends without a widget manager see what they saw before.

Jupyter → marimo: a frontend's `update` (or a button's `click`) is echoed to other frontends
(`echo_update`, as ipywidgets does), checked against the element's range or options, and handed
to one worker thread with its own HTTP connection, which sets the element through code mode
(codemode's `widget_set_code`: the path that moves the page's control and reruns dependents). The
shell channel never waits on marimo. Pending moves are coalesced per element: only the latest
value of a drag is sent, so no queue builds up behind a slow rerun.

marimo → Jupyter (the page, `%ui set` or another kernel moving a control, a rerun of the element's
cell, the cell deleted) comes from widgets_live.py: the notebook's viewer stream triggers one
fetch of the elements' state, which lands here as `reshaped` (new value and arguments) or
`element_gone`. While a move of this kernel's is pending or on its way, marimo's older value is
not pushed back at the frontend that made it.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import codemode, scratchpad
from .errors import ConnectionFailed, PairError, ServerGone, SessionGone
from .outputs import PAIR_JSON

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


@dataclass(frozen=True)
class ElementSpec:
    """A mo.ui element as runtime_widgets.widget_spec describes it."""

    id: str
    cell: str
    kind: str
    label: str
    args: dict[str, Any]
    wire: Any  # the value as marimo's page holds it (`_value_frontend`)
    children: tuple[ElementSpec, ...] = ()  # an array's or dictionary's elements (kind "dict")

    @classmethod
    def parse(cls, spec: dict[str, Any]) -> ElementSpec | None:
        try:
            raw = list(spec.get("children") or ())
            children = tuple(c for c in (cls.parse(x) for x in raw if isinstance(x, dict)) if c is not None)
            if len(children) != len(raw):
                return None
            return cls(
                str(spec["id"]), str(spec["cell"]), str(spec["kind"]), str(spec.get("label") or ""),
                dict(spec.get("args") or {}), spec.get("wire"), children,
            )
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Model:
    """The widget model for one element kind: names, and the state a view needs."""

    model_name: str
    view_name: str
    style_name: str
    state: dict[str, Any]  # the kind's own keys; the synced value is in it
    value_key: str | None  # "value" or "index"; None for a button


class OutOfRange(ValueError):
    """A widget value the element does not take (the message says why)."""


def _is_float(*values: Any) -> bool:
    return any(isinstance(v, float) for v in values)


def build_model(spec: ElementSpec) -> Model | None:
    """The `@jupyter-widgets/controls` model for `spec`, or None for a kind without one."""
    a = spec.args
    common: dict[str, Any] = {"description": spec.label, "description_allow_html": False}
    kind = spec.kind
    if kind in ("slider", "range-slider"):
        return _slider(spec, common, ranged=kind == "range-slider")
    if kind == "multiselect":
        labels = [str(o) for o in a.get("options") or []]
        chosen = spec.wire if isinstance(spec.wire, list) else []
        state = {**common, "_options_labels": labels, "index": [labels.index(x) for x in chosen if x in labels],
                 "rows": min(max(len(labels), 1), 8)}
        return Model("SelectMultipleModel", "SelectMultipleView", "DescriptionStyleModel", state, "index")
    if kind == "number":
        start, stop, step = a.get("start"), a.get("stop"), a.get("step")
        floaty = _is_float(start, stop, step, spec.wire) or step is None
        name = "Float" if floaty else "Int"
        state = {**common, "value": spec.wire, "step": step, "continuous_update": False}
        if start is not None and stop is not None:
            state.update(min=start, max=stop)
            return Model(f"Bounded{name}TextModel", f"{name}TextView", "DescriptionStyleModel", state, "value")
        return Model(f"{name}TextModel", f"{name}TextView", "DescriptionStyleModel", state, "value")
    if kind in ("checkbox", "switch"):
        state = {**common, "value": bool(spec.wire), "indent": False}
        return Model("CheckboxModel", "CheckboxView", "DescriptionStyleModel", state, "value")
    if kind == "text":
        state = {**common, "value": spec.wire or "", "placeholder": a.get("placeholder") or "",
                 "continuous_update": not a.get("debounce", True)}
        if a.get("kind") == "password":
            return Model("PasswordModel", "PasswordView", "DescriptionStyleModel", state, "value")
        return Model("TextModel", "TextView", "DescriptionStyleModel", state, "value")
    if kind == "text-area":
        state = {**common, "value": spec.wire or "", "placeholder": a.get("placeholder") or "",
                 "rows": a.get("rows"), "continuous_update": not a.get("debounce", True)}
        return Model("TextareaModel", "TextareaView", "DescriptionStyleModel", state, "value")
    if kind in ("dropdown", "radio"):
        labels = [str(o) for o in a.get("options") or []]
        state = {**common, "_options_labels": labels, "index": _index_of_option(kind, spec.wire, labels)}
        if kind == "dropdown":
            return Model("DropdownModel", "DropdownView", "DescriptionStyleModel", state, "index")
        return Model("RadioButtonsModel", "RadioButtonsView", "DescriptionStyleModel", state, "index")
    if kind == "dict":
        # An array or dictionary: a VBox of its elements' widgets (`children` filled when opened).
        if not spec.children or any(build_model(c) is None for c in spec.children):
            return None
        return Model("VBoxModel", "VBoxView", "", {"box_style": "", "children": []}, None)
    if kind == "button":
        state = {"description": spec.label or "click", "button_style": "", "icon": ""}
        return Model("ButtonModel", "ButtonView", "ButtonStyleModel", state, None)
    if kind == "date":
        state = {**common, "value": _date_json(spec.wire), "min": _date_json(a.get("start")),
                 "max": _date_json(a.get("stop")), "step": 1}
        return Model("DatePickerModel", "DatePickerView", "DescriptionStyleModel", state, "value")
    if kind == "datetime":
        # marimo's datetime is naive (wall-clock time, as the browser's datetime-local input).
        state = {**common, "value": _datetime_json(spec.wire), "min": _datetime_json(a.get("start")),
                 "max": _datetime_json(a.get("stop"))}
        return Model("NaiveDatetimeModel", "DatetimeView", "DescriptionStyleModel", state, "value")
    if kind == "date-range":
        # controls 2.0 has no date-range model: the two dates as text, "start to stop".
        state = {**common, "value": _range_text(spec.wire), "placeholder": "YYYY-MM-DD to YYYY-MM-DD",
                 "continuous_update": False}
        return Model("TextModel", "TextView", "DescriptionStyleModel", state, "value")
    return None


_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_ISO_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?)?$")



def _slider(spec: ElementSpec, common: dict[str, Any], ranged: bool) -> Model:
    """slider / range_slider: a selection slider over `steps`, else an int or float slider."""
    a = spec.args
    kind = "Range" if ranged else ""
    slider = {
        **common,
        "orientation": a.get("orientation") or "horizontal",
        "readout": True,
        "continuous_update": True,
        "behavior": "drag-tap",
    }
    steps = a.get("steps") or []
    if steps:
        labels = [str(s) for s in steps]
        index = _pair(spec.wire, len(labels)) if ranged else _index_of_step(spec.wire, len(labels))
        name = f"Selection{kind}Slider"
        state = {**slider, "_options_labels": labels, "index": index}
        return Model(f"{name}Model", f"{name}View", "SliderStyleModel", state, "index")
    start, stop, step = a.get("start", 0), a.get("stop", 100), a.get("step")
    if ranged:
        wire = list(spec.wire) if isinstance(spec.wire, list) and len(spec.wire) == 2 else [start, stop]
        values = wire
    else:
        wire, values = spec.wire, [spec.wire]
    if _is_float(start, stop, step, *values):
        step = step if step else (float(stop) - float(start)) / 100 or 0.1
        number, fmt = "Float", ".2f"
    else:
        step, number, fmt = step or 1, "Int", "d"
    name = f"{number}{kind}Slider"
    state = {**slider, "min": start, "max": stop, "step": step, "value": wire, "readout_format": fmt}
    return Model(f"{name}Model", f"{name}View", "SliderStyleModel", state, "value")

def _date_json(iso: Any) -> dict[str, int] | None:
    """A DatePicker's value ({year, month from 0, date}) for marimo's "YYYY-MM-DD"."""
    m = _ISO_DATE.match(iso) if isinstance(iso, str) else None
    return {"year": int(m[1]), "month": int(m[2]) - 1, "date": int(m[3])} if m else None


def _datetime_json(iso: Any) -> dict[str, int] | None:
    """A datetime picker's value ({year, month from 0, date, hours, …}) for marimo's ISO text."""
    m = _ISO_TIME.match(iso) if isinstance(iso, str) else None
    if not m:
        return None
    ms = int((m[7] or "0")[:3].ljust(3, "0"))
    return {"year": int(m[1]), "month": int(m[2]) - 1, "date": int(m[3]), "hours": int(m[4] or 0),
            "minutes": int(m[5] or 0), "seconds": int(m[6] or 0), "milliseconds": ms}


def _range_text(wire: Any) -> str:
    return f"{wire[0]} to {wire[1]}" if isinstance(wire, list) and len(wire) == 2 else ""


def _iso_date(value: Any) -> str | None:
    """marimo's "YYYY-MM-DD" for a DatePicker's value, or None when it is not one (or not a real day)."""
    import datetime as dt

    try:
        return dt.date(int(value["year"]), int(value["month"]) + 1, int(value["date"])).isoformat()
    except (KeyError, TypeError, ValueError):
        return None


def _iso_datetime(value: Any) -> str | None:
    import datetime as dt

    try:
        return dt.datetime(
            int(value["year"]), int(value["month"]) + 1, int(value["date"]), int(value.get("hours", 0)),
            int(value.get("minutes", 0)), int(value.get("seconds", 0)),
        ).isoformat(timespec="seconds")
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _is_index(i: Any, n: int) -> bool:
    return isinstance(i, int) and not isinstance(i, bool) and 0 <= i < n


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _pair(wire: Any, n: int) -> list[int]:
    """A range slider's two step indexes (marimo's wire form when it has `steps`)."""
    if isinstance(wire, list) and len(wire) == 2 and all(isinstance(i, int) and 0 <= i < n for i in wire):
        return list(wire)
    return [0, max(n - 1, 0)]


def _index_of_step(wire: Any, n: int) -> int:
    return int(wire) if isinstance(wire, (int, float)) and 0 <= int(wire) < n else 0


def _index_of_option(kind: str, wire: Any, labels: list[str]) -> int | None:
    label = (wire[0] if wire else None) if kind == "dropdown" and isinstance(wire, list) else wire
    return labels.index(label) if label in labels else None


def state_for_wire(spec: ElementSpec, model: Model, wire: Any) -> dict[str, Any]:
    """The synced widget state for marimo's value `wire`."""
    if model.value_key is None:
        return {}
    if model.value_key == "index":
        labels = model.state.get("_options_labels") or []
        if spec.kind == "slider":
            return {"index": _index_of_step(wire, len(labels))}
        if spec.kind == "range-slider":
            return {"index": _pair(wire, len(labels))}
        if spec.kind == "multiselect":
            return {"index": [labels.index(x) for x in wire or [] if x in labels]}
        return {"index": _index_of_option(spec.kind, wire, labels)}
    if spec.kind in ("checkbox", "switch"):
        return {"value": bool(wire)}
    if spec.kind in ("text", "text-area"):
        return {"value": wire or ""}
    if spec.kind == "date":
        return {"value": _date_json(wire)}
    if spec.kind == "datetime":
        return {"value": _datetime_json(wire)}
    if spec.kind == "date-range":
        return {"value": _range_text(wire)}
    return {"value": wire}


def wire_for_state(spec: ElementSpec, model: Model, value: Any) -> Any:
    """marimo's value (`_value_frontend` form) for a widget's synced `value`/`index`.

    Raises OutOfRange when the element does not take it.
    """
    a = spec.args
    what = f"{spec.label!r} (a marimo {spec.kind})" if spec.label else f"this marimo {spec.kind}"
    if model.value_key == "index" and spec.kind in ("range-slider", "multiselect"):
        labels = model.state.get("_options_labels") or []
        items = list(value) if isinstance(value, (list, tuple)) else None
        if items is None or not all(_is_index(i, len(labels)) for i in items):
            raise OutOfRange(
                f"{what} has {len(labels)} choices (index 0 to {len(labels) - 1}); {value!r} is not a list of them."
            )
        if spec.kind == "range-slider":
            if len(items) != 2 or items[0] > items[1]:
                raise OutOfRange(f"{what} takes two steps, low then high; {value!r} is not.")
            return items
        limit = a.get("max-selections")
        if isinstance(limit, int) and len(items) > limit:
            raise OutOfRange(f"{what} takes at most {limit} choices; {len(items)} were given.")
        return [labels[i] for i in items]
    if spec.kind == "range-slider":
        items = list(value) if isinstance(value, (list, tuple)) else None
        start, stop = a.get("start", 0), a.get("stop", 100)
        if items is None or len(items) != 2 or not all(_is_number(v) for v in items):
            raise OutOfRange(f"{what} takes two numbers, low then high; not {value!r}.")
        if items[0] > items[1] or items[0] < start or items[1] > stop:
            raise OutOfRange(f"{what} takes values from {start} to {stop}, low then high; {value!r} is not.")
        return items
    if model.value_key == "index":
        labels = model.state.get("_options_labels") or []
        if value is None and spec.kind == "dropdown" and a.get("allow-select-none"):
            return []
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(labels):
            raise OutOfRange(
                f"{what} has {len(labels)} choices (index 0 to {len(labels) - 1}); {value!r} is not one of them."
            )
        if spec.kind == "slider":
            return value
        return [labels[value]] if spec.kind == "dropdown" else labels[value]
    if spec.kind in ("slider", "number"):
        if value is None and spec.kind == "number":
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise OutOfRange(f"{what} takes a number, not {value!r}.")
        if spec.kind == "slider":
            start, stop = a.get("start", 0), a.get("stop", 100)
        else:
            start, stop = a.get("start"), a.get("stop")
        if (start is not None and value < start) or (stop is not None and value > stop):
            raise OutOfRange(f"{what} takes values from {start} to {stop}; {value!r} is outside that range.")
        return value
    if spec.kind in ("checkbox", "switch"):
        if not isinstance(value, bool):
            raise OutOfRange(f"{what} takes True or False, not {value!r}.")
        return value
    if spec.kind in ("date", "datetime", "date-range"):
        start, stop = a.get("start"), a.get("stop")
        if spec.kind == "date-range":
            found = re.findall(r"\d{4}-\d{2}-\d{2}", value) if isinstance(value, str) else []
            days = [_iso_date(_date_json(d)) for d in found]
            if len(days) != 2 or None in days or str(days[0]) > str(days[1]):
                raise OutOfRange(f"{what} takes two dates, YYYY-MM-DD to YYYY-MM-DD, the first not after the "
                                 f"second; not {value!r}.")
            wire: Any = days
            low, high = str(days[0]), str(days[1])
        else:
            iso = _iso_date(value) if spec.kind == "date" else _iso_datetime(value)
            if iso is None:
                raise OutOfRange(f"{what} takes a {'date' if spec.kind == 'date' else 'date and time'}, "
                                 f"not {value!r}.")
            wire = low = high = iso
        if (isinstance(start, str) and low < start) or (isinstance(stop, str) and high > stop):
            raise OutOfRange(f"{what} takes dates from {start} to {stop}; {value if isinstance(value, str) else low} "
                             "is outside that range.")
        return wire
    if spec.kind in ("text", "text-area"):
        if not isinstance(value, str):
            raise OutOfRange(f"{what} takes text, not {value!r}.")
        limit = a.get("max-length")
        if isinstance(limit, int) and len(value) > limit:
            raise OutOfRange(f"{what} takes at most {limit} characters; this value has {len(value)}.")
        return value
    return value


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


@dataclass
class Shown:
    """One widget the kernel opened for an element (an element shown twice has two)."""

    model_id: str
    spec: ElementSpec
    model: Model
    url: str  # the marimo server, as the target's client knows it
    target: Target
    comm: Any
    state: dict[str, Any]  # the full state the frontends hold (kept for `request_state`)
    parts: list[Any] = field(default_factory=list)  # the layout and style comms


@dataclass
class _Pending:
    """The latest move of one element not yet sent to marimo (older ones are dropped)."""

    shown: Shown
    wire: Any = None
    clicks: int = 0
    parent: dict[str, Any] | None = None


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
            kernel.shell_handlers[msg_type] = getattr(self.manager, msg_type)
        self.manager.register_target(CONTROL_TARGET, self._control_opened)
        self._lock = threading.Condition()
        self._shown: dict[str, Shown] = {}  # model id -> widget
        self._marimo: dict[tuple[str, str], Any] = {}  # (url, element id) -> marimo's last known wire
        self._parts: dict[str, tuple[Any, dict[str, Any]]] = {}  # layout/style comm id -> (comm, state)
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._worker: threading.Thread | None = None
        self._clients: dict[str, MarimoClient] = {}
        self._inflight: set[tuple[str, str]] = set()  # elements the worker is setting right now
        from .widgets_live import LiveWidgets

        self.live = LiveWidgets(self, self._client)
        self.sets = 0  # how many sets the worker sent to marimo (the coalescing figure)

    # -- opening widgets -------------------------------------------------------------------

    def adopt(self, data: Any) -> None:
        """Replace the element spec in a bundle about to be published by a widget view."""
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
            shown = self._open(spec, model, target)
        except Exception:  # noqa: BLE001 - the snapshot still shows; a widget is extra
            log.warning("could not open a widget for %s", spec.id, exc_info=True)
            return
        data[VIEW_MIME] = {"version_major": 2, "version_minor": 0, "model_id": shown.model_id}
        try:
            self.live.watch(target, spec.id, spec.cell, self.kernel.get_parent("shell"))
        except Exception:  # noqa: BLE001 - Jupyter -> marimo still works without the stream
            log.warning("could not watch the notebook for %s", spec.id, exc_info=True)

    @staticmethod
    def strip(data: Any) -> None:
        """Take the element spec out of a bundle that is not published (a user_expressions value)."""
        if isinstance(data, dict):
            data.pop(WIDGET_MIME, None)

    def _open(self, spec: ElementSpec, model: Model, target: Target) -> Shown:
        disabled = bool(spec.args.get("disabled"))
        parts = []
        refs: dict[str, Any] = {}
        if spec.children:  # a box: its elements' widgets first, each live on its own id
            kids = []
            for child in spec.children:
                child_model = build_model(child)
                if child_model is None:
                    raise ValueError(f"no widget for {child.kind}")
                kids.append(f"IPY_MODEL_{self._open(child, child_model, target).model_id}")
            refs["children"] = kids
        # A box has no style model (its view would try to show one it was given).
        pieces = [("layout", BASE, "LayoutModel", "LayoutView")]
        if model.style_name:
            pieces.append(("style", CONTROLS, model.style_name, "StyleView"))
        for key, module, name, view in pieces:
            state = _header(module, name, BASE, view)
            if key == "style":
                state.update(_style_state(name))
            part = self._comm(state)
            self._parts[part.comm_id] = (part, state)
            parts.append(part)
            refs[key] = f"IPY_MODEL_{part.comm_id}"
        state = {
            **_header(CONTROLS, model.model_name, CONTROLS, model.view_name),
            "_dom_classes": [],
            "tabbable": None,
            "tooltip": None,
            "disabled": disabled,
            **model.state,
            **refs,
        }
        c = self._comm(state)
        shown = Shown(c.comm_id, spec, model, target.client.url, target, c, state, parts)
        with self._lock:
            self._shown[c.comm_id] = shown
            self._marimo[(shown.url, spec.id)] = spec.wire
        c.on_msg(lambda msg: self._on_msg(shown, msg))
        c.on_close(lambda msg: self._forget(shown))
        return shown

    def _comm(self, state: dict[str, Any]) -> Any:
        return self._comm_class(
            target_name=WIDGET_TARGET,
            data={"state": state, "buffer_paths": []},
            metadata={"version": PROTOCOL_VERSION},
        )

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
            control.send({"method": "update_states", "states": states, "buffer_paths": {}})

        control.on_msg(on_msg)

    # -- Jupyter -> marimo -----------------------------------------------------------------

    def _on_msg(self, shown: Shown, msg: dict[str, Any]) -> None:
        """A frontend's message to one widget. Runs on the shell channel: never waits on marimo."""
        data = msg.get("content", {}).get("data") or {}
        method = data.get("method")
        if method == "request_state":
            shown.comm.send({"method": "update", "state": shown.state, "buffer_paths": []})
            return
        if method == "custom" and (data.get("content") or {}).get("event") == "click":
            self._queue(shown, None, clicks=1, parent=msg)
            return
        if method != "update":
            return
        state = data.get("state") or {}
        if not isinstance(state, dict):
            return
        # As ipywidgets 8: tell the other frontends what this one set.
        shown.comm.send({"method": "echo_update", "state": state, "buffer_paths": data.get("buffer_paths") or []})
        with self._lock:
            shown.state.update(state)
        key = shown.model.value_key
        if key is None or key not in state:
            return
        try:
            wire = wire_for_state(shown.spec, shown.model, state[key])
        except OutOfRange as e:
            with self._lock:
                current = self._marimo.get((shown.url, shown.spec.id), shown.spec.wire)
            self._note(msg, f"{e} The widget is back at marimo's value.")
            self._set_state(shown, state_for_wire(shown.spec, shown.model, current))
            return
        self._queue(shown, wire, parent=msg)

    def _queue(self, shown: Shown, wire: Any, *, clicks: int = 0, parent: dict[str, Any] | None = None) -> None:
        key = (shown.url, shown.spec.id)
        with self._lock:
            pending = self._pending.get(key)
            if pending is None:
                pending = self._pending[key] = _Pending(shown)
            pending.shown, pending.parent = shown, parent
            if clicks:
                pending.clicks += clicks
            else:
                pending.wire = wire
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="marimo-pair-widgets", daemon=True)
                self._worker.start()
            self._lock.notify()

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._pending:
                    self._lock.wait()
                key = next(iter(self._pending))
                pending = self._pending.pop(key)
                self._inflight.add(key)
            try:
                self._send(pending)
            except Exception:  # noqa: BLE001 - the worker must outlive any one failure
                log.warning("widget update failed", exc_info=True)
            finally:
                with self._lock:
                    self._inflight.discard(key)

    def _client(self, target: Target) -> MarimoClient:
        # Its own connection: the kernel's client may be reading an execute's stream right now.
        from .client import MarimoClient

        url = target.client.url
        client = self._clients.get(url)
        if client is None:
            token = self.kernel.targeter.token_for(target.client)
            client = self._clients[url] = MarimoClient(url, token)
        return client

    def _send(self, pending: _Pending) -> None:
        shown = pending.shown
        nonce = uuid.uuid4().hex
        code = codemode.widget_set_code(shown.spec.id, pending.wire, pending.clicks, nonce)
        client = self._client(shown.target)
        try:
            result = client.execute(code, shown.target.notebook, lambda name, text: None)
            payload = scratchpad.read_payload(result.output) if result.success else None
            if payload is None:  # a cell the set reran raised: marimo dropped the answer, not the set
                kept = client.execute(codemode.widget_answer_code(nonce), shown.target.notebook,
                                      lambda name, text: None)
                payload = scratchpad.read_payload(kept.output) if kept.success else None
        except (ServerGone, ConnectionFailed, SessionGone) as e:
            self._gone(shown.url, pending.parent, f"marimo is gone ({e}).")
            return
        except PairError as e:
            self._note(pending.parent, f"The widget could not set marimo's value: {e}")
            return
        self.sets += 1
        if payload is None or "error" in payload or "unsupported" in payload:
            why = (payload or {}).get("error") or (payload or {}).get("unsupported") or "no answer from code mode"
            self._note(pending.parent, f"marimo did not set {shown.spec.kind} {shown.spec.id}: {why}")
            return
        if payload.get("gone"):
            self._disable(
                [s for s in self._all() if s.url == shown.url and s.spec.id == shown.spec.id],
                pending.parent,
                "This element is no longer in the notebook (its cell changed or was deleted), so the "
                "widget is disabled. Show the element again to get a live widget.",
            )
            return
        if "refused" in payload:
            refused = payload["refused"]
            self._note(pending.parent, f"marimo refused the value: {refused}. The widget is back at marimo's value.")
        self.marimo_moved(shown.url, shown.spec.id, payload.get("wire"))
        if "reran" in payload:
            self._effects(shown, pending.parent, payload)

    def _effects(self, shown: Shown, parent: dict[str, Any] | None, payload: dict[str, Any]) -> None:
        """Which cells the move reran and which now fail, as `%ui set` says it: text and PAIR_JSON.

        Sent under the frontend's message that moved the widget: a notebook frontend shows it in
        no cell (no execute asked for it), a program reading IOPub (an agent) sees every set.
        """
        k = self.kernel
        if k.session is None or parent is None:
            return
        what = f"Moving {shown.spec.label!r}" if shown.spec.label else f"Moving {shown.spec.kind} {shown.spec.id}"
        data = {"id": shown.spec.id, "cell": shown.spec.cell, "wire": payload.get("wire"),
                **{key: list(payload.get(key) or ()) for key in ("reran", "failed", "stale")}}
        bundle = {"text/plain": "\n".join(codemode.effects_lines(what, payload)), PAIR_JSON: data}
        k.session.send(k.iopub_socket, "display_data", {"data": bundle, "metadata": {}, "transient": {}},
                       parent=parent)

    def marimo_moved(self, url: str, element_id: str, wire: Any) -> None:
        """marimo holds `wire` for this element now: every widget of it shows that."""
        with self._lock:
            self._marimo[(url, element_id)] = wire
            pending = (url, element_id) in self._pending  # a newer move is on its way: don't pull back
            mine = [s for s in self._shown.values() if s.url == url and s.spec.id == element_id]
        if pending:
            return
        for shown in mine:
            self._set_state(shown, state_for_wire(shown.spec, shown.model, wire))

    def reshaped(self, url: str, element_id: str, raw: dict[str, Any]) -> None:
        """marimo's element now is `raw` (a fresh spec): new value, and new arguments after a rerun."""
        spec = ElementSpec.parse(raw)
        if spec is None:
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
            self._marimo[(url, element_id)] = spec.wire
            busy = (url, element_id) in self._pending or (url, element_id) in self._inflight
            mine = [s for s in self._shown.values() if s.url == url and s.spec.id == element_id]
        for shown in mine:
            if model is None or model.model_name != shown.model.model_name:
                # A widget's model cannot change class: the rerun made another kind of element here.
                self._disable([shown], None, f"marimo-pair-kernel: {element_id} is now another kind of element "
                              f"({spec.kind}), so this widget is disabled. Show the element again for a live one.")
                continue
            state = {**model.state, "disabled": bool(spec.args.get("disabled"))}
            if busy and model.value_key is not None:
                state.pop(model.value_key, None)  # a newer move of ours is on its way: don't pull back
            with self._lock:
                shown.spec, shown.model = spec, model
            self._set_state(shown, {**state, "tooltip": None} if shown.state.get("disabled") else state)

    def element_gone(self, url: str, element_id: str) -> None:
        """The element is no longer in the notebook: its widgets are disabled, with a note (said once)."""
        boxes = [s for s in self._all() if s.url == url and s.spec.id == element_id and s.spec.children]
        for box in boxes:  # a box's elements go with it
            for child in box.spec.children:
                self.element_gone(url, child.id)
        mine = [s for s in self._all() if s.url == url and s.spec.id == element_id and not s.state.get("disabled")
                and not s.spec.children]
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
            shown.comm.send({"method": "update", "state": changed, "buffer_paths": []})

    def _gone(self, url: str, parent: dict[str, Any] | None, why: str) -> None:
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
        self._note(parent, note)

    def _note(self, parent: dict[str, Any] | None, text: str) -> None:
        """Say something about a widget: on stderr, under the frontend's message that caused it."""
        k = self.kernel
        if k.session is None:
            return
        k.session.send(k.iopub_socket, "stream", {"name": "stderr", "text": text + "\n"}, parent=parent or {})
