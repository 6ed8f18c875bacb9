"""What the kernel needs to show a notebook's mo.ui element as a live Jupyter widget.

Runs inside the marimo kernel (see __init__.py). values.py's `_ui_snapshot` adds `widget_spec(el)` to an element's
bundle under WIDGET_MIME; the kernel (widgets.py) takes it out again, opens the widget's comms
and puts a widget view in its place. Besides the WIDGET_KINDS: array/dictionary/batch (a box),
form (a box and a Submit button), and anywidget (anywidget's own model). Only elements that live
in a notebook cell get one: an element made by scratchpad code has no lasting id, so it keeps the
snapshot alone.
"""

import json

from . import sanitize

WIDGET_MIME = "application/vnd.marimo-pair.widget+json"  # widgets.WIDGET_MIME: the kernel's side

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


def widget_spec(el):
    """{id, cell, kind, label, args, wire} for an element that lives in a notebook cell, else None.

    `wire` is the element's value as marimo's page holds it (`_value_frontend`: a slider with
    `steps` holds an index, a dropdown a list of labels), which is also what setting it takes.
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
        return _box_spec(el, cell, label)
    if kind == "form":
        return _form_spec(el, cell, label)
    if kind == "anywidget":
        return _anywidget_spec(el, cell)
    if kind not in WIDGET_KINDS:
        return None
    args = {}
    for k, v in (getattr(el, "_component_args", None) or {}).items():
        p = _wplain(v)
        if p is not None:
            args[k] = p
    try:
        wire = _wplain(el._value_frontend)
        initial = _wplain(el._initial_value_frontend)  # the page's data-initial-value: what Clear goes back to
    except Exception:
        return None
    return {"id": str(el._id), "cell": str(cell), "kind": kind, "label": label, "args": args, "wire": wire,
            "initial": initial}


def _box_spec(el, cell, label):
    """An array's or dictionary's spec: its elements' specs as `children` (None if one has no widget).

    Each child keeps its own id: marimo sets a child by it, through the container (a lens).
    """
    elements = getattr(el, "elements", None)
    items = list(elements.items()) if isinstance(elements, dict) else list(enumerate(elements or ()))
    if not items:
        return None
    children = []
    for key, child in items:
        spec = widget_spec(child)
        if spec is None:
            return None
        if not spec["label"] and isinstance(elements, dict):
            spec["label"] = str(key)
        children.append(spec)
    # `keys`: the container's value is {key: element's value} (an array's keys are "0", "1", …),
    # which is what a form around it is set to.
    return {"id": str(el._id), "cell": str(cell), "kind": "dict", "label": label,
            "args": {"keys": [str(key) for key, _ in items]}, "wire": None, "children": children}


def _form_spec(el, cell, label):
    """A form's spec: its element's spec as the one child, its buttons' arguments (Clear, Submit,
    clear_on_submit, loading, bordered), and `wire`, the value last submitted (None before the
    first submit).

    The element inside is marimo's copy of the one wrapped (`form.element`, registered with an id
    of its own); setting the form updates it, so its spec holds the value submitted last.
    """
    inner = widget_spec(getattr(el, "element", None))
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


def _anywidget_spec(el, cell):
    """A mo.ui.anywidget's spec: the widget's own model header (`args.header`), its code and style
    (`args.extra`: `_esm`, `_css`, …), and as `wire` marimo's value, the dict of synced traits.

    A widget whose state does not survive JSON (binary traits) keeps the snapshot.
    """
    try:
        widget = el.__dict__["widget"]
        state = widget.get_state()
        from marimo._plugins.ui._impl.from_anywidget import get_anywidget_state
        value = get_anywidget_state(widget)
        header = {k: state[k] for k in _ANY_HEADER if k in state}
        extra = {k: state[k] for k in _ANY_EXTRA if k in state}
        json.dumps([value, header, extra])
    except Exception:
        return None
    if header.get("_model_module") != "anywidget":
        return None
    args = {"header": header, "extra": extra, "traits": sorted(value),
            "model-id": str((getattr(el, "_component_args", None) or {}).get("model-id") or "")}
    return {"id": str(el._id), "cell": str(cell), "kind": "anywidget", "label": "", "args": args, "wire": value}


def widget_states(ids):
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
        elements[element_id] = widget_spec(el)
        try:
            names[element_id] = sorted(str(n) for n in registry.bound_names(element_id))
        except Exception:
            names[element_id] = []
    return {"marimo_pair_kernel": _j.dumps({"elements": elements, "names": names}, default=str)}
