"""What the kernel needs to show a notebook's mo.ui element as a live Jupyter widget.

Runs inside the marimo kernel (see __init__.py). values.py's `_ui_snapshot` adds `widget_spec(el)` to an element's
bundle under WIDGET_MIME; the kernel (widgets.py) takes it out again, opens the widget's comms
and puts a widget view in its place. Besides the WIDGET_KINDS: array/dictionary/batch (a box),
form (a box and a Submit button), and anywidget (anywidget's own model). Only elements that live
in a notebook cell get one: an element made by scratchpad code has no lasting id, so it keeps the
snapshot alone.
"""

import base64
import hashlib
import json

from . import sanitize

WIDGET_MIME = "application/vnd.marimo-pair.widget+json"  # widgets.WIDGET_MIME: the kernel's side
BYTES = "__marimo_pair_bytes__"  # widget_models.BYTES: a binary value in a JSON wire value, {BYTES: base64}

# marimo element kinds (the `marimo-…` component name) that the kernel knows a widget model for.
WIDGET_KINDS = ("slider", "range-slider", "number", "checkbox", "switch", "text", "text-area", "dropdown", "radio",
                "multiselect", "button", "date", "datetime", "date-range")


def _wplain(v):
    """v if it survives JSON as itself, else None (the kernel only needs plain values)."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        items = [_wplain(x) for x in v]
        return None if any(items[i] is None and v[i] is not None for i in range(len(v))) else items
    return None


def widget_spec(el, lean=False):
    """{id, cell, kind, label, args, wire} for an element that lives in a notebook cell, else None.

    `wire` is the element's value as marimo's page holds it (`_value_frontend`: a slider with
    `steps` holds an index, a dropdown a list of labels), which is also what setting it takes.
    `lean`: an anywidget's code (`_esm`, `_css`) is left out, only its hash said (a refetch).
    """
    try:
        from marimo._runtime.context import get_context
        cell = get_context().ui_element_registry.get_cell(el._id)
    except Exception:
        return None
    if not cell or cell == "__scratch__":
        return None
    kind, label, _, _ = sanitize._ui_parts(el)
    if kind == "dict":  # mo.ui.array, mo.ui.dictionary and batch (all "marimo-dict"): a box of their elements
        return _box_spec(el, cell, label, lean)
    if kind == "form":
        return _form_spec(el, cell, label, lean)
    if kind == "anywidget":
        return _anywidget_spec(el, cell, lean)
    if kind not in WIDGET_KINDS:
        return None
    args = {}
    for k, v in (getattr(el, "_component_args", None) or {}).items():
        p = _wplain(v)
        if p is not None:
            args[k] = p
    try:
        wire = _wplain(el._value_frontend)
        # The page's data-initial-value: what a form's Clear goes back to.
        initial = _wplain(getattr(el, "_initial_value_frontend", el._value_frontend))
    except Exception:
        return None
    return {"id": str(el._id), "cell": str(cell), "kind": kind, "label": label, "args": args, "wire": wire,
            "initial": initial}


def _box_spec(el, cell, label, lean=False):
    """An array's or dictionary's spec: its elements' specs as `children` (None if one has no widget).

    Each child keeps its own id: marimo sets a child by it, through the container (a lens).
    """
    elements = getattr(el, "elements", None)
    items = list(elements.items()) if isinstance(elements, dict) else list(enumerate(elements or ()))
    if not items:
        return None
    children = []
    for key, child in items:
        spec = widget_spec(child, lean)
        if spec is None:
            return None
        if not spec["label"] and isinstance(elements, dict):
            spec["label"] = str(key)
        children.append(spec)
    # `keys`: the container's value is {key: element's value} (an array's keys are "0", "1", …),
    # which is what a form around it is set to.
    return {"id": str(el._id), "cell": str(cell), "kind": "dict", "label": label,
            "args": {"keys": [str(key) for key, _ in items]}, "wire": None, "children": children}


def _form_spec(el, cell, label, lean=False):
    """A form's spec: its element's spec as the one child, its buttons' arguments (Clear, Submit,
    clear_on_submit, loading, bordered), and `wire`, the value last submitted (None before the
    first submit).

    The element inside is marimo's copy of the one wrapped (`form.element`, registered with an id
    of its own); setting the form updates it, so its spec holds the value submitted last.
    """
    inner = widget_spec(getattr(el, "element", None), lean)
    if inner is None:
        return None
    a = getattr(el, "_component_args", None) or {}
    args = {"submit-label": _wplain(a.get("submit-button-label")) or "Submit",
            "submit-tooltip": _wplain(a.get("submit-button-tooltip")),
            "submit-disabled": bool(a.get("submit-button-disabled")),
            "show-clear": bool(a.get("show-clear-button")), "clear-label": _wplain(a.get("clear-button-label")),
            "clear-tooltip": _wplain(a.get("clear-button-tooltip")),
            "clear-on-submit": bool(a.get("clear-on-submit")), "loading": bool(a.get("loading")),
            "bordered": a.get("bordered") is not False}
    try:
        wire = el._value_frontend
        json.dumps(wire)
    except Exception:
        return None
    return {"id": str(el._id), "cell": str(cell), "kind": "form", "label": label, "args": args, "wire": wire,
            "children": [inner]}


# An anywidget's own model fields, sent as the Jupyter model's header.
_ANY_HEADER = ("_model_module", "_model_module_version", "_model_name", "_view_module", "_view_module_version",
               "_view_name")
# The rest of its state that is not its value (marimo's anywidget value leaves these out).
_ANY_EXTRA = ("_esm", "_css", "_anywidget_id", "_dom_classes", "tabbable", "tooltip")


def any_wire(value):
    """An anywidget's state as JSON: bytes (binary traits) as {BYTES: base64}."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {BYTES: base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        return {str(k): any_wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [any_wire(v) for v in value]
    return value


def from_wire(value):
    """any_wire's inverse: {BYTES: base64} back to bytes."""
    if isinstance(value, dict):
        if set(value) == {BYTES}:
            return base64.b64decode(value[BYTES])
        return {k: from_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_wire(v) for v in value]
    return value


def _anywidget_spec(el, cell, lean=False):
    """A mo.ui.anywidget's spec: the widget's own model header (`args.header`), its code and style
    (`args.extra`: `_esm`, `_css`, …; with `lean` only their hash, `args.code`), and as `wire`
    marimo's value, the dict of synced traits (bytes as {BYTES: base64}).
    """
    try:
        widget = el.__dict__["widget"]
        state = widget.get_state()
        from marimo._plugins.ui._impl.from_anywidget import get_anywidget_state
        value = any_wire(get_anywidget_state(widget))
        header = {k: state[k] for k in _ANY_HEADER if k in state}
        extra = {k: any_wire(state[k]) for k in _ANY_EXTRA if k in state}
        code = hashlib.sha256(json.dumps([extra.get("_esm"), extra.get("_css")]).encode()).hexdigest()[:16]
        if lean:
            extra = {k: v for k, v in extra.items() if k not in ("_esm", "_css")}
        json.dumps([value, header, extra])
    except Exception:
        return None
    if header.get("_model_module") != "anywidget":
        return None
    args = {"header": header, "extra": extra, "traits": sorted(value), "code": code,
            "model-id": str((getattr(el, "_component_args", None) or {}).get("model-id") or "")}
    return {"id": str(el._id), "cell": str(cell), "kind": "anywidget", "label": "", "args": args, "wire": value}


def widget_custom(args_json):
    """A Jupyter frontend's custom messages (`model.send(...)` in an anywidget's JS) to the widget,
    as marimo hands its page's (set_model_value's "custom"): to the comm's message handler, so the
    widget's `on_msg` callbacks run. What they send back reaches every viewer as a notification.

    {"id": element id, "messages": [{"content", "buffers": [base64]}]} in; {"sent": n}, {"gone"} or
    {"error"} out.
    """
    a = json.loads(args_json)
    try:
        from marimo._runtime.context import get_context
        widget = get_context().ui_element_registry.get_object(a["id"]).__dict__["widget"]
    except Exception:
        return {"marimo_pair_kernel": json.dumps({"gone": True})}
    sent = 0
    try:
        for m in a.get("messages") or ():
            buffers = [base64.b64decode(b) for b in m.get("buffers") or ()]
            widget.comm.handle_msg({"content": {"data": {"method": "custom", "content": m.get("content")}},
                                    "buffers": buffers})
            sent += 1
    except Exception as e:
        return {"marimo_pair_kernel": json.dumps({"error": "%s: %s" % (type(e).__name__, e), "sent": sent})}
    return {"marimo_pair_kernel": json.dumps({"sent": sent})}


def widget_states(ids, lean=False):
    """marimo's view of the elements the kernel shows as widgets, for the viewer stream's triggers.

    {"elements": {id: spec or null}, "names": {id: [variable names]}} as the scratchpad's answer.
    An id missing from the registry is gone (its cell was deleted, or a rerun made fewer elements).
    marimo numbers a cell's elements `<cell>-0`, `<cell>-1`, … afresh on every run, so after a
    rerun the same id is the element made at the same place: its spec carries the new arguments.
    """
    import json as _j

    elements, names = {}, {}
    try:
        from marimo._runtime.context import get_context
        ctx = get_context()
        registry = ctx.ui_element_registry
    except Exception:
        return {"marimo_pair_kernel": _j.dumps({"unsupported": True})}
    try:
        cells = set(ctx.graph.cells)
    except Exception:
        cells = None
    for element_id in ids:
        try:
            el = registry.get_object(element_id)
            # A deleted cell's element may outlive it (something still holds it): gone all the same.
            if cells is not None and registry.get_cell(element_id) not in cells:
                raise KeyError(element_id)
        except Exception:
            elements[element_id] = None
            continue
        elements[element_id] = widget_spec(el, lean)
        try:
            names[element_id] = sorted(str(n) for n in registry.bound_names(element_id))
        except Exception:
            names[element_id] = []
    return {"marimo_pair_kernel": _j.dumps({"elements": elements, "names": names}, default=str)}
