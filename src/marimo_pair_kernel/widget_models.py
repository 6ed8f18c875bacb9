"""A mo.ui element's spec, and the `@jupyter-widgets/controls` model that shows it.

The runtime describes an element that lives in a notebook cell (runtime_widgets.widget_spec):
its kind, label, arguments and value as marimo's page holds it (the "wire" value). Here that
becomes a widget model per kind (`build_model`), and values cross between the two forms:
`state_for_wire` (marimo → the widget's synced state) and `wire_for_state` (a frontend's value →
marimo's, refused with `OutOfRange` when the element does not take it). Pure functions over
data: widgets.py does the comms and the syncing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .target import Target


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
    initial: Any = None  # the wire value the element was made with (what a form's Clear goes back to)

    @classmethod
    def parse(cls, spec: dict[str, Any]) -> ElementSpec | None:
        try:
            raw = list(spec.get("children") or ())
            children = tuple(c for c in (cls.parse(x) for x in raw if isinstance(x, dict)) if c is not None)
            if len(children) != len(raw):
                return None
            return cls(
                str(spec["id"]), str(spec["cell"]), str(spec["kind"]), str(spec.get("label") or ""),
                dict(spec.get("args") or {}), spec.get("wire"), children, spec.get("initial"),
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
    value_key: str | None  # "value" or "index"; "traits" for an anywidget (its value's keys); None for a button
    header: dict[str, Any] | None = None  # the model's own module and names (an anywidget's); else controls 2.0


@dataclass
class Shown:
    """One widget the kernel opened for an element (an element shown twice has two): widgets.py's record."""

    model_id: str
    spec: ElementSpec
    model: Model
    url: str  # the marimo server, as the target's client knows it
    target: Target
    comm: Any
    state: dict[str, Any]  # the full state the frontends hold (kept for `request_state`)
    parts: list[Any] = field(default_factory=list)  # the layout and style comms
    kids: list[Shown] = field(default_factory=list)  # a box's widgets (a form's: its element's, then its buttons)
    form: str | None = None  # the form (its id) holding this widget's value until Submit
    held: Any = None  # with `form`: the value it shows, in marimo's form, not yet submitted
    owner: Shown | None = None  # a form's Submit or Clear button: the form


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
    if kind == "form":
        # A box of the element's widget(s) and a Submit button (the kernel adds it when it opens).
        if len(spec.children) != 1 or build_model(spec.children[0]) is None:
            return None
        return Model("VBoxModel", "VBoxView", "", {"box_style": "", "children": []}, None)
    if kind == "anywidget":
        # anywidget's own model (AnyModel/AnyView of the "anywidget" module, at the version the
        # widget itself names), with its code (`_esm`, `_css`) and its synced traits.
        header = a.get("header")
        if not isinstance(header, dict) or not isinstance(spec.wire, dict):
            return None
        return Model(str(header.get("_model_name")), str(header.get("_view_name")), "",
                     {**(a.get("extra") or {}), **spec.wire}, "traits", header=dict(header))
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
    if model.value_key == "traits":
        return dict(wire) if isinstance(wire, dict) else {}
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
    if model.value_key == "traits":  # an anywidget: the synced traits it has (others are the view's own)
        traits = set(a.get("traits") or ())
        return {k: v for k, v in value.items() if k in traits} if isinstance(value, dict) else {}
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


# -- binary values (an anywidget's bytes traits, custom messages' buffers) ---------------------------

# A binary value inside a JSON wire value: {BYTES: base64}. The runtime writes it for bytes in an
# anywidget's state (inmarimo/widgets.py's BYTES) and reads it back when it sets the traits;
# marimo's own notifications carry buffers as base64 too, so nothing is decoded on the way.
BYTES = "__marimo_pair_bytes__"


def split_buffers(state: Any) -> tuple[Any, list[list[str | int]], list[bytes]]:
    """The widget protocol's form of a wire value: binary values out of it, as buffers at paths.

    As ipywidgets' `_remove_buffers`: taken out of a dict, None in a list.
    """
    import base64

    paths: list[list[str | int]] = []
    buffers: list[bytes] = []

    def walk(value: Any, path: list[str | int]) -> Any:
        if isinstance(value, dict):
            if set(value) == {BYTES}:
                paths.append(path)
                buffers.append(base64.b64decode(str(value[BYTES])))
                return None
            out = {}
            for k, v in value.items():
                w = walk(v, [*path, k])
                if w is not None or not _is_bytes(v):
                    out[k] = w
            return out
        if isinstance(value, list):
            return [walk(v, [*path, i]) for i, v in enumerate(value)]
        return value

    return walk(state, []), paths, buffers


def _is_bytes(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {BYTES}


def join_buffers(state: Any, paths: Any, buffers: Any) -> Any:
    """A frontend's state with its buffers put back at their paths, as {BYTES: base64} (a wire value).

    `buffers` are bytes-like (a Jupyter message's) or base64 text (a marimo notification's).
    """
    import base64
    import copy

    if not paths or not buffers:
        return state
    out = copy.deepcopy(state)
    for path, buf in zip(paths, buffers, strict=False):
        if not isinstance(path, list) or not path:
            continue
        text = buf if isinstance(buf, str) else base64.b64encode(bytes(buf)).decode("ascii")
        obj = out
        try:
            for key in path[:-1]:
                obj = obj[key]
            obj[path[-1]] = {BYTES: text}
        except (KeyError, IndexError, TypeError):
            continue
    return out
