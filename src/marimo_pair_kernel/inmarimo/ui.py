"""Setting and listing mo.ui elements: `%ui` and the moves of live Jupyter widgets.

What setting an element did to the notebook: the cells that read it, with their descendants, are
what marimo reruns; their status afterwards says which ran, which now fail, and which only went
stale (a notebook in lazy mode).
"""

from . import capture, cells, widgets


def effects_before(ctx, registry, element_id):
    g = ctx.graph
    try:  # an array's element is set through the array (a lens): the array's names count
        element_id = registry.resolve_lens(element_id, None)[0]
    except Exception:
        pass
    try:
        names = set(registry.bound_names(element_id))
    except Exception:
        names = set()
    direct = {cid for cid, impl in g.cells.items() if names & set(impl.refs)}
    hit = set(direct)
    for cid in direct:
        hit |= set(g.descendants(cid))
    return hit


def effects_after(ctx, hit):
    reran, failed, stale = [], [], []
    for c in ctx.cells:
        cid = cells.cid(c)
        if cid not in hit:
            continue
        status = str(cells.status(c))
        row = {"id": cid, "name": None if cells.unnamed(c.name) else c.name, "status": status}
        if status in ("exception", "marimo-error", "cancelled", "interrupted"):
            failed.append(row)
        elif status == "stale":
            stale.append(row)
        else:
            reran.append(row)
    return {"reran": reran, "failed": failed, "stale": stale}


def _lookup(ctx, dotted):
    head, *rest = dotted.split(".")
    g = ctx.globals
    if head not in g:
        raise LookupError("No variable %r in the notebook. Define the element in a cell first." % head)
    obj = g[head]
    for part in rest:
        obj = getattr(obj, part)
    try:
        from marimo._plugins.ui._core.ui_element import UIElement
        ok = isinstance(obj, UIElement)
    except ImportError:
        ok = hasattr(obj, "_id")
    if not ok:
        raise TypeError("%s is a %s, not a mo.ui element." % (dotted, type(obj).__name__))
    return obj


def _wire(element, name, value):
    # set_ui_value takes the front end's form of the value (a dropdown sends ["red"], not "red"),
    # and a bad one fails only on marimo's stderr. Try the plain value, then it as a one-item
    # list. Containers (array, batch, form) update their children while converting: skip them.
    if getattr(element, "_name", None) == "marimo-form" and hasattr(element, "element"):
        return _wire(element.element, name, value)  # a form is set to its element's value
    convert = getattr(element, "_convert_value", None)
    if convert is None or hasattr(element, "_elements"):
        return value
    try:
        convert(value)
        return value
    except Exception as e:
        first = e
    try:
        convert([value])
        return [value]
    except Exception:
        pass
    raise ValueError("%s does not accept %r (%s: %s)" % (name, value, type(first).__name__, first))


async def op_ui(ctx, a):
    element = _lookup(ctx, a["name"])
    wire = _wire(element, a["name"], a["value"])
    try:
        from marimo._runtime.context import get_context
        hit = effects_before(ctx, get_context().ui_element_registry, element._id)
    except Exception:
        hit = None
    async with ctx:
        ctx.set_ui_value(element, wire)
    value = _lookup(ctx, a["name"]).value
    try:
        shown = repr(value)
    except Exception:
        shown = "<%s>" % type(value).__name__
    out = {"name": a["name"], "value": shown[:2000], "id": str(element._id)}
    if hit is not None:
        out.update(effects_after(ctx, hit))
    return out


async def op_ui_names(ctx, a):
    try:
        from marimo._plugins.ui._core.ui_element import UIElement
    except ImportError:
        return {"names": []}
    return {"names": sorted(n for n, v in ctx.globals.items() if isinstance(v, UIElement))}


async def op_ui_list(ctx, a):
    """%ui list: the notebook's elements (bound to a global name), in name order."""
    try:
        from marimo._plugins.ui._core.ui_element import UIElement
        from marimo._runtime.context import get_context
        registry = get_context().ui_element_registry
    except ImportError:
        return {"elements": []}
    rows = []
    for name, el in sorted(ctx.globals.items()):
        if not isinstance(el, UIElement) or name.startswith("_"):
            continue
        kind = str(getattr(el, "_name", "") or type(el).__name__)
        kind = kind[len("marimo-"):] if kind.startswith("marimo-") else kind
        try:
            value = repr(el.value)
        except Exception:
            value = "<%s>" % type(el).__name__
        if (getattr(el, "_component_args", None) or {}).get("kind") == "password":
            value = "<hidden>" if el.value else "''"
        try:
            cell = str(registry.get_cell(el._id))
        except Exception:
            cell = None
        rows.append({"name": name, "kind": kind, "value": value[:2000], "id": str(el._id), "cell": cell})
    return {"elements": rows}


async def widget_set(a):
    """A Jupyter widget moved: set the element by its id, as `%ui set` does by name.

    `clicks` presses a button that many times. The answer is marimo's value afterwards (a refused
    value snaps the widget back) with the cells it reran or made fail, or {"gone"}, {"refused"},
    {"unsupported"}, {"error"}. With a nonce it is also kept in the stash (see capture.py).
    """
    try:
        import marimo._code_mode as cm
        from marimo._runtime.context import get_context
        ctx = cm.get_context()
        registry = get_context().ui_element_registry
    except Exception as e:
        return {"unsupported": ["code mode"], "detail": str(e)}
    if not hasattr(ctx, "set_ui_value"):
        return {"unsupported": ["set_ui_value"]}
    try:
        element = registry.get_object(a["id"])
    except Exception:
        return {"gone": True}
    wire = a.get("wire")
    if a.get("clicks"):
        wire = (element._value_frontend or 0) + int(a["clicks"])
    kind = "anywidget" if _is_anywidget(element) else getattr(element, "_name", None)
    if kind == "anywidget":
        # Set the traits first, outside ipywidgets' echo lock: that sends the page's model an update
        # (set_ui_value's own set_state is taken as the page's write, so the page would not move).
        # set_ui_value then finds them set, and reruns the cells that read the element.
        wire = widgets.from_wire(wire or {})  # binary traits arrive as base64
        try:
            widget = element.__dict__["widget"]
            with widget.hold_sync():
                for k, v in wire.items():
                    widget.set_trait(k, widget.trait_metadata(k, "from_json", widget._trait_from_json)(v, widget))
        except Exception as e:
            return {"refused": "%s: %s" % (type(e).__name__, e), "wire": _wire_of(element)}
    else:
        try:
            element._convert_value(wire)
        except Exception as e:
            return {"refused": "%s: %s" % (type(e).__name__, e), "wire": _wire_of(element)}
    if kind == "marimo-form" and wire is not None and callable(getattr(element, "validate", None)):
        try:  # what the page asks before it submits (the form's `validate=`)
            problem = element.validate(wire)
        except Exception as e:
            problem = "%s: %s" % (type(e).__name__, e)
        if problem:
            return {"refused": str(problem), "wire": _wire_of(element)}
    try:
        hit = effects_before(ctx, registry, a["id"])
    except Exception:
        hit = None
    try:
        async with ctx:
            ctx.set_ui_value(element, wire)
        element = registry.get_object(a["id"])
    except KeyError:
        return {"gone": True}
    except Exception as e:
        return {"error": "%s: %s" % (type(e).__name__, e)}
    out = {"wire": _wire_of(element)}
    if hit is not None:
        out.update(effects_after(ctx, hit))
    if a.get("nonce"):
        # A rerun cell that raised makes marimo drop this answer: keep it for widget_answer_code.
        capture.keep_answer(a["nonce"], out)
    return out


def _wire_of(element):
    """marimo's value of the element as its widget shows it (an anywidget's: its synced traits)."""
    if _is_anywidget(element):
        try:
            from marimo._plugins.ui._impl.from_anywidget import get_anywidget_state
            return widgets.any_wire(get_anywidget_state(element.__dict__["widget"]))
        except Exception:
            return None
    return element._value_frontend


def _is_anywidget(element):
    # mo.ui.anywidget has no `_name` of its own: its attributes fall through to the widget.
    try:
        from marimo._plugins.ui._impl.from_anywidget import anywidget
    except ImportError:
        return False
    return isinstance(element, anywidget)
