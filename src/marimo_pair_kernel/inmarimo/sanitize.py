"""mo.ui snapshots and HTML sanitizing: marimo's custom elements render blank outside its page."""

# -- mo.ui snapshots and HTML sanitizing -------------------------------------------------------

_QUIET_ARGS = {"full-width", "debounce", "orientation", "show-value", "include-input", "disabled",
               "kind", "placeholder", "max-length", "searchable", "allow-select-none", "keyboard-shortcut",
               "tooltip", "password-has-value", "steps", "label", "data", "raw-data"}


def _ui_class():
    import sys
    if "marimo" not in sys.modules:
        return None
    try:
        from marimo._plugins.ui._core.ui_element import UIElement
        return UIElement
    except Exception:
        return None


def _short(v, n=80):
    try:
        r = repr(v)
    except Exception:
        r = "<%s>" % type(v).__name__
    return r if len(r) <= n else r[: n - 1] + "…"


def _ui_parts(el):
    """(kind, label, args text, value text) of a mo.ui element."""
    import re
    name = getattr(el, "_name", "") or ""
    kind = name[len("marimo-"):] if name.startswith("marimo-") else (name or type(el).__name__)
    args = getattr(el, "_component_args", {}) or {}
    init = getattr(el, "_args", None)
    label = getattr(init, "label", None) or ""
    label = re.sub(r"<[^>]+>", "", str(label)).strip()
    secret = args.get("kind") == "password"
    shown = []
    if kind == "table":
        data = getattr(el, "data", None)
        n = args.get("total-rows")
        cols = getattr(data, "columns", None)
        if n is not None:
            shown.append("rows=%s" % n)
        if cols is not None:
            names = [str(c) for c in list(cols) if not str(c).startswith("_marimo")]
            shown.append("columns=%s" % _short(names[:20], 120))
    else:
        for k, v in args.items():
            if k in _QUIET_ARGS:
                continue
            try:
                attr = getattr(el, k.replace("-", "_"), None)
            except Exception:
                attr = None
            v = attr if attr is not None and not callable(attr) else v
            if v is None or v is False or v == [] or v == "" or v == {}:
                continue
            if isinstance(v, dict) and all(k2 == v2 for k2, v2 in v.items()):
                v = list(v)
            if isinstance(v, list):
                v = [re.sub(r"<[^>]+>", "", x) if isinstance(x, str) else x for x in v]
            if isinstance(v, (int, float, str, bool, list, tuple, dict)):
                shown.append("%s=%s" % (k.replace("-", "_"), _short(v, 120)))
    try:
        # `.value` raises in the run that created the element: read what it holds.
        v = getattr(el, "_value", None)
        if kind == "table" and hasattr(v, "__len__"):
            value = "%d selected" % len(v)
        else:
            value = "'••••'" if secret else _short(v, 200)
    except Exception:
        value = "?"
    return kind, label, shown, value


def _ui_text(el):
    kind, label, shown, value = _ui_parts(el)
    parts = shown + ["value=%s" % value] + (["label=%r" % label] if label else [])
    return "%s(%s)" % (kind, ", ".join(parts))


def _live(el):
    """Where the element is live: the marimo page, or nowhere yet (made by scratchpad code)."""
    try:
        from marimo._runtime.context import get_context
        cell = get_context().ui_element_registry.get_cell(el._id)
    except Exception:
        cell = None
    if cell == "__scratch__":
        return "made by this code, so not on the marimo page: define it in a %%cell to use it live there"
    return "live on the marimo page"


def _ui_html(el):
    import html
    kind, label, shown, value = _ui_parts(el)
    note = _live(el)
    return ("<div style=\"border:1px solid #ccc;border-radius:4px;padding:4px 8px;display:inline-block\">"
            "%s<code>%s</code> <small style=\"color:#666\">marimo %s%s: %s%s</small></div>"
            % ("<b>%s</b> " % html.escape(label) if label else "", html.escape(value), html.escape(kind),
               " (" + html.escape(", ".join(shown)) + ")" if shown else "", html.escape(note),
               _url_html()))


def _url_html():
    import html
    return " <a href=\"%s\">%s</a>" % (html.escape(URL), html.escape(URL)) if URL else ""


URL = ""  # the marimo page; the kernel passes it in show()


def _element_html(name, data):
    """Static HTML for one marimo element from its data attributes ("" when it has nothing)."""
    import html as _h
    import json
    if isinstance(data.get("html"), str):
        return sanitize_html(data["html"]) or ""
    if name == "json-output" and "json-data" in data:
        return "<pre>%s</pre>" % _h.escape(json.dumps(data["json-data"], indent=2, default=str))
    if name == "mermaid" and isinstance(data.get("diagram"), str):
        return "<pre>%s</pre>" % _h.escape(data["diagram"])
    if name == "stat":
        parts = [("<small>%s</small><br>" % _h.escape(str(data["label"]))) if data.get("label") else "",
                 "<b>%s</b>" % _h.escape(str(data.get("value", ""))),
                 (" <small>%s</small>" % _h.escape(str(data["caption"]))) if data.get("caption") else ""]
        return "<div>%s</div>" % "".join(parts)
    shown = {k: v for k, v in data.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)
             and len(str(v)) < 200 and str(v)}
    if not shown:
        return ""
    rows = "".join("<tr><th>%s</th><td>%s</td></tr>" % (_h.escape(k), _h.escape(str(v))) for k, v in shown.items())
    return "<table><caption>marimo %s</caption>%s</table>" % (_h.escape(name), rows)


def bundle(value):
    """values.bundle, which sits above this module (it sanitizes through it): put here by
    __init__.py's `wire` when the package loads. Until then a table shows as a snapshot."""
    return None


def data_view_html(el):
    """HTML for a marimo table that only shows data (no selection, so no value): the data's own
    form, as a DataFrame gives it, never a UI snapshot. marimo's formatter makes such tables for
    DataFrames inside layouts (`mo.hstack([df])`). None for anything else."""
    import html
    if getattr(el, "_name", "") != "marimo-table":
        return None
    if (getattr(el, "_component_args", None) or {}).get("selection", "multi") is not None:
        return None
    b = bundle(getattr(el, "data", None))
    if b is None:
        return None
    shown = b["data"].get("text/html")
    return shown if isinstance(shown, str) else "<pre>%s</pre>" % html.escape(b["data"].get("text/plain", ""))


def sanitize_html(text):
    """HTML that renders outside marimo's page: ui elements → snapshots, other marimo elements
    unwrapped (their `data-html` content kept). None when nothing visible is left."""
    import html as _h
    import json
    import re
    if "<marimo-" not in text:
        return text

    def ui(m):
        el = None
        try:
            from marimo._runtime.context import get_context
            el = get_context().ui_element_registry.get_object(m.group(1))
        except Exception:
            el = None
        if el is not None:
            try:
                return data_view_html(el) or _ui_html(el)  # a display-only table
            except Exception:
                pass
        return "<small>[a marimo control: live on the marimo page%s]</small>" % _url_html()

    text = re.sub(r"<marimo-ui-element\b[^>]*?object-id=['\"]([^'\"]+)['\"][^>]*>.*?</marimo-ui-element>",
                  ui, text, flags=re.S)

    def accordion(m):
        # Titles live in data-labels, each section's content in one top-level <div> child.
        try:
            labels = json.loads(_h.unescape(re.search(r"data-labels='([^']*)'", m.group(1)).group(1)))
        except Exception:
            labels = []
        parts, depth, start = [], 0, None
        for t in re.finditer(r"<(/?)div\b[^>]*>", m.group(2)):
            if not t.group(1):
                depth += 1
                if depth == 1:
                    start = t.end()
            else:
                depth -= 1
                if depth == 0 and start is not None:
                    parts.append(m.group(2)[start:t.start()])
        if not parts:
            return m.group(2)
        return "".join("<details open><summary>%s</summary>%s</details>" % (
            labels[i] if i < len(labels) and isinstance(labels[i], str) else "", body)
            for i, body in enumerate(parts))

    text = re.sub(r"<marimo-accordion\b([^>]*)>(.*?)</marimo-accordion>", accordion, text, flags=re.S)

    def unwrap(m):
        # marimo's elements keep their content in data-* attributes (JSON, HTML-escaped).
        data = {}
        for k, v1, v2 in re.findall(r"data-([\w-]+)=(?:'([^']*)'|\"([^\"]*)\")", m.group(2)):
            raw = _h.unescape(v1 or v2)
            try:
                data[k] = json.loads(raw)
            except ValueError:
                data[k] = raw
        return _element_html(m.group(1), data)

    for _ in range(20):  # nested elements come out one level per pass
        new = re.sub(r"<marimo-([\w-]+)\b([^>]*)>", unwrap, text)
        new = re.sub(r"</marimo-[\w-]+\s*>", "", new)
        if new == text:
            break
        text = new
    text = re.sub(r"</?marimo-[^>]*>", "", text)
    visible = re.sub(r"<(style|script)\b.*?</\1>", "", text, flags=re.S | re.I)
    media = re.search(r"<(img|svg|table|iframe|video|audio|canvas)\b", visible, re.I)
    if not re.sub(r"<[^>]+>", "", visible).strip() and not media:
        return None
    return text
