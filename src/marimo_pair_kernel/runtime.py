"""The runtime our code calls inside the marimo notebook's kernel (never imported in the kernel process).

scratchpad.py sends this file's text once per marimo kernel, which installs it as a module
in `sys.modules` (scratchpad.RUNTIME_MODULE); each execute then sends one short tail that calls
it. It runs in the notebook's Python, with whatever marimo and IPython are there, so every
import is local and optional, and failures fall back rather than raise.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # runtime_*.py's names: the same module namespace at run time
    from .runtime_display import (
        DisplayHandle,
        _ipython_missing,
        _print_figure,
        data_view_html,
        ipython_formatter_failed,
        mini_formatter,
        plain_text,
    )
    from .runtime_widgets import WIDGET_MIME, widget_spec

INPUT_REFUSED = (
    "input() cannot be answered here: this code runs in marimo's scratchpad for a Jupyter "
    "client (marimo-pair-kernel), and marimo would wait for a browser prompt that the client "
    "never sees. Put the value in the code instead, or use a mo.ui.text element in a %%cell."
)


def guard_input(ns):
    """Make input() in scratchpad code fail at once instead of waiting for a browser forever.

    marimo gives the notebook's namespace (`__main__`, which each scratchpad run copies) its
    own `input`; cells (the person's own runs) keep it, only code running as the scratch
    cell gets the error.
    """
    current = ns.get("input")
    if current is None or getattr(current, "_mpk_guard", False):
        return
    def input(prompt=""):
        try:
            from marimo._runtime.context import get_context
            in_scratch = get_context().execution_context.cell_id == "__scratch__"
        except Exception:
            in_scratch = False
        if in_scratch:
            raise RuntimeError(INPUT_REFUSED)
        return current(prompt)
    input._mpk_guard = True
    ns["input"] = input


def installed():
    return {"marimo_pair_kernel": "{}"}


# -- values and displays: what Jupyter gets, computed here as ipykernel computes it ------------
#
# IPython's DisplayFormatter (the `_repr_*_` protocol, then pretty) with matplotlib figures as
# the inline backend renders them; marimo's own formatter only for objects that speak marimo's
# protocol alone (`_mime_`/`_display_`); never a `<marimo-…>` custom element in HTML (it renders
# blank outside marimo's page): mo.ui elements become static snapshots.
#
# Transport of displays made while the code runs (display(), plt.show(), mo.output.append):
# each is written to marimo's stdout as one line `MARK + json + "\n"` in chunks below marimo's
# per-message console cap, and the kernel takes those lines out of the stream. That keeps
# them in order with prints, shows them while the code runs, and keeps the ones made before
# an exception (marimo's `done` carries no output on failure). The last value and the figures
# still open at the end travel in the `done` payload instead, because ipykernel sends them
# after everything else. Hooks act only in the kernel's own scratchpad runs (see
# `_in_our_run`); the person's cells, and their own scratchpad, keep marimo's behaviour.

MARK = "\x1emarimo-pair-kernel:display:"
CHUNK = 200_000  # characters per stdout write: marimo cuts one console message at ~1 MB
MAX_MIME = 4_000_000  # characters per mimetype in one output (a note replaces the rest)
MAX_FIG_PIXELS = 4096 * 4096  # larger figures are rendered downscaled, with a note
NOTE = "marimo-pair-kernel: "
_S = {}  # the IPython formatter, built once


def _in_our_run():
    """True while the kernel's own scratchpad code runs (its code names `_mpk_value`, which
    marimo renames to `_cell___scratch___mpk_value`: names with `_` are cell-private)."""
    import sys
    f = sys._getframe(1)
    while f is not None:
        co = f.f_code
        if co.co_name == "<module>" and "__marimo__cell_" in co.co_filename:
            # The innermost cell decides: one that code mode runs inside our run is the person's.
            # The user's code (runtime_state.run) has a scratch-like file name: the cell around it decides.
            if "__scratch__" in co.co_filename and any(n.endswith("_mpk_value") for n in co.co_names):
                return True
            if "marimo-pair-kernel" not in co.co_filename:
                return False
        f = f.f_back
    return late_origin() is not None  # noqa: F821 - a thread one of our runs started (runtime_late.py)


def _note(text):
    import sys
    try:
        sys.stderr.write(NOTE + text + "\n")
    except Exception:
        pass


def _formatter():
    """IPython's display formatter, else the runtime's own (runtime_display.py: no IPython there)."""
    f = _S.get("fmt")
    if f is None and not ipython_formatter_failed():
        try:
            from IPython.core.formatters import DisplayFormatter
            f = DisplayFormatter()
            # matplotlib's inline backend registers this for Figure (png, bbox_inches="tight").
            f.formatters["image/png"].for_type_by_name("matplotlib.figure", "Figure", _figure_png)
            _S["fmt"] = f
            _S.pop("fmt_failed", None)
        except ModuleNotFoundError:
            f = None
            _ipython_missing()
        except Exception:
            # IPython half-imported by another thread (warm(), `!cmd`'s expansion): not a missing
            # IPython, so the next value tries again.
            f = None
    return f or mini_formatter()


def _figure_png(fig):
    try:
        from IPython.core.pylabtools import print_figure
    except Exception:
        print_figure = _print_figure
    w, h = fig.get_size_inches() * fig.dpi
    kw = {}
    if w * h > MAX_FIG_PIXELS:
        scale = (MAX_FIG_PIXELS / float(w * h)) ** 0.5
        kw["dpi"] = fig.dpi * scale
        _note("the figure is %dx%d pixels; it is shown downscaled to about %dx%d so that "
              "neither marimo nor Jupyter holds a huge image. Save it to a file for full size."
              % (w, h, w * scale, h * scale))
    return print_figure(fig, "png", base64=True, bbox_inches="tight", **kw)


def _repr_fallback(value, why):
    try:
        text = object.__repr__(value)
    except Exception:
        text = "<%s object>" % type(value).__name__
    _note("repr() of this %s object raised %s; showing the default repr instead." % (type(value).__name__, why))
    return text


def _summary(exc_text):
    lines = [ln for ln in exc_text.strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else "an error"


_PLAIN_TYPES = (int, float, complex, bool, str, bytes, list, tuple, dict, set, frozenset, range)


def _format(value, include=None, exclude=None):
    """(data, metadata) as ipykernel's display formatter gives them, or None: nothing to show."""
    import contextlib
    import io
    import sys
    snap = _ui_snapshot(value)
    if snap is not None:
        return snap, {}
    if type(value) in (int, float, bool, str) and not include and not exclude and "fmt" not in _S:
        # IPython's text for these is their repr: the first execute need not wait for IPython's
        # formatter to load (0.3 s; warm() loads it in the background).
        try:
            return _finish({"text/plain": repr(value)}, {})
        except Exception:
            pass
    data, md = {}, {}
    f = _formatter()
    if f is not None and type(value) in _PLAIN_TYPES and not include and not exclude:
        # IPython has no other form for these: skip its dozen formatters (0.15 ms a value).
        try:
            return _finish({"text/plain": f.formatters["text/plain"](value)}, {})
        except Exception:
            pass
    if f is not None:
        # A failing _repr_*_ prints its traceback (there is no IPython shell here): summarize it.
        buf = io.StringIO()
        with contextlib.redirect_stderr(buf):
            try:
                data, md = f.format(value, include=include, exclude=exclude)
            except Exception as e:
                print("%s: %s" % (type(e).__name__, e), file=sys.stderr)
                data, md = {}, {}
        err = buf.getvalue()
        if "Traceback (most recent call last)" in err:
            why = _summary(err)
            if "text/plain" in data:
                _note("a display method of this %s object raised %s; showing the other forms."
                      % (type(value).__name__, why))
        elif err:
            sys.stderr.write(err)  # FormatterWarning and friends: as ipykernel shows them
        if not data and not err and hasattr(type(value), "_ipython_display_"):
            return None  # it displayed itself (through display(), hooked here)
        if "text/plain" not in data and err:
            data["text/plain"] = _repr_fallback(value, _summary(err))
    if "text/plain" not in data:
        try:
            data["text/plain"] = repr(value)
        except Exception as e:
            data["text/plain"] = _repr_fallback(value, "%s: %s" % (type(e).__name__, e))
    if len(data) == 1 and _speaks_marimo(value):
        data.update(_marimo_form(value))
    text = plain_text(value, data)  # runtime_display.py: what a marimo object or figure shows
    if text is not None:
        data["text/plain"] = text
    return _finish(data, md)


def _speaks_marimo(value):
    t = type(value)
    if not (hasattr(t, "_mime_") or hasattr(t, "_display_")):
        return False
    # marimo gives every matplotlib artist a `_mime_` (the whole figure); ipykernel shows repr.
    return not t.__module__.startswith("matplotlib")


def _marimo_form(value):
    """marimo's rendering of `value` as Jupyter mimetypes (sanitized), or {}."""
    try:
        from marimo._output.formatting import try_format
        f = try_format(value)
        return from_marimo(str(f.mimetype), f.data) or {}
    except Exception:
        return {}


def from_marimo(mimetype, data):
    """A marimo-rendered output (mimetype, data) as Jupyter data: {mime: str|obj}, or None.

    Data URLs become bare base64, marimo mimebundles are unpacked, JSON is parsed, HTML is
    sanitized (no `<marimo-…>` elements), marimo's `<pre>repr</pre>` and errors are dropped.
    """
    import json
    import re
    out = {}
    if not isinstance(data, str):
        return None
    if mimetype == "application/vnd.marimo+mimebundle":
        try:
            inner = json.loads(data)
        except ValueError:
            return None
        for k, v in inner.items():
            if isinstance(v, str) and not k.startswith("__"):
                out.update(from_marimo(k, v) or {})
        return out or None
    if mimetype.startswith("application/vnd.marimo") or not data:
        return None
    if mimetype == "text/html":
        if re.fullmatch(r"\s*<pre[^>]*>.*</pre>\s*", data, re.S) and "<marimo-" not in data:
            return None
        data = sanitize_html(data)
        return {"text/html": data} if data else None
    if mimetype == "application/json":
        try:
            return {mimetype: json.loads(data)}
        except ValueError:
            return None
    if mimetype.startswith("image/") and data.startswith("data:"):
        head, _, b64 = data.partition(",")
        if mimetype == "image/svg+xml" and ";base64" in head:
            import base64
            try:
                return {mimetype: base64.b64decode(b64).decode("utf-8", "replace")}
            except Exception:
                return None
        return {mimetype: b64}
    if mimetype == "text/markdown" and "<marimo-" in data:
        data = sanitize_html(data)
        return {"text/markdown": data} if data else None
    return {mimetype: data}


def _finish(data, md):
    """Sanitize marimo HTML, encode bytes as ipykernel does (base64), cap each mimetype's size."""
    import base64
    import json
    for mime, v in list(data.items()):
        if isinstance(v, (bytes, bytearray)):
            data[mime] = base64.b64encode(bytes(v)).decode("ascii")
    for mime in ("text/html", "text/markdown"):
        v = data.get(mime)
        if isinstance(v, str) and "<marimo-" in v:
            v = sanitize_html(v)
            if v:
                data[mime] = v
            else:
                del data[mime]
    for mime in list(data):
        v = data[mime]
        size = len(v) if isinstance(v, str) else len(json.dumps(v, default=str))
        if size <= MAX_MIME:
            continue
        if mime == "text/plain":
            data[mime] = v[:MAX_MIME] + "\n… (%d more characters not shown)" % (size - MAX_MIME)
        else:
            del data[mime]
            md.pop(mime, None)
        _note("the %s form of this output is %.1f MB, over the %.0f MB this kernel sends per "
              "output; %s. Save it to a file to see all of it."
              % (mime, size / 1e6, MAX_MIME / 1e6, "it is cut short" if mime == "text/plain" else "it is left out"))
    return data, md


def bundle(value, include=None, exclude=None):
    """{"data": {mime: str|obj}, "metadata": {...}} as Jupyter should receive `value`, or None.

    For H2 and the value path: images are base64 strings, JSON is objects, HTML never holds a
    marimo custom element; notes about bad input go to stderr. None → None.
    """
    if value is None:
        return None
    try:
        r = _format(value, include, exclude)
    except Exception as e:  # our bug or a pathological object: still show something
        r = ({"text/plain": _repr_fallback(value, "%s: %s" % (type(e).__name__, e))}, {})
    if r is None or not r[0]:
        return None
    return {"data": r[0], "metadata": r[1]}


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


def _ui_snapshot(value):
    cls = _ui_class()
    if cls is None or not isinstance(value, cls):
        return None
    text = _ui_text(value)
    kind, label, shown, v = _ui_parts(value)
    live = _live(value) + ((": " + URL) if URL else "")
    md = "%s`%s` *(marimo %s, %s)*" % ("**%s** " % label if label else "", v, kind, live)
    out = {"text/plain": text + "\n(" + live + ")", "text/html": _ui_html(value), "text/markdown": md}
    spec = widget_spec(value)  # runtime_widgets.py: the kernel makes it a live Jupyter widget
    if spec is not None:
        out[WIDGET_MIME] = spec
    return out


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
                return data_view_html(el) or _ui_html(el)  # runtime_display.py: a display-only table
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


# -- hooks: display(), plt.show(), mo.output in the kernel's own runs ----------------------------

def _stdout():
    import sys
    late = late_stdout()  # noqa: F821 - a thread of ours after its run: runtime_late.py
    if late is not None:
        return late
    try:
        from marimo._runtime.context import get_context
        s = get_context().stdout
        if s is not None:
            return s
    except Exception:
        pass
    return sys.stdout


def _emit(msg):
    import json
    text = MARK + json.dumps(msg, separators=(",", ":"), default=str) + "\n"
    out = _stdout()
    for i in range(0, len(text), CHUNK):
        out.write(text[i:i + CHUNK])


def publish(data, metadata=None, transient=None, update=False):
    _emit({"k": "update" if update else "display", "data": data, "metadata": metadata or {},
           "transient": transient or {}})


def _merge(md, extra):
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(md.get(k), dict):
            md[k] = dict(md[k], **v)
        else:
            md[k] = v


def _display(*objs, include=None, exclude=None, metadata=None, transient=None, display_id=None,
             raw=False, clear=False, update=False, **kwargs):
    """IPython's display(), publishing to the Jupyter client (see MARK)."""
    import uuid
    transient = dict(transient or {})
    metadata = metadata or {}
    if display_id:
        if display_id is True:
            display_id = uuid.uuid4().hex
        transient["display_id"] = display_id
    if update and "display_id" not in transient:
        raise TypeError("display_id required for update_display")
    if not objs and display_id:
        objs, raw = [{}], True
    if clear:
        _emit({"k": "clear", "wait": True})
    for obj in objs:
        if raw:
            if type(obj).__name__ == "ReprMimeBundle":
                obj = obj.data
            if isinstance(obj, dict):
                obj, md = _finish(dict(obj), dict(metadata))  # the same caps as formatted output
                publish(obj, md, transient, update)
            continue
        b = bundle(obj, include, exclude)
        if b is None:
            continue
        if metadata:
            _merge(b["metadata"], metadata)
        publish(b["data"], b["metadata"], transient, update)
    if display_id:
        try:
            from IPython.core.display_functions import DisplayHandle as handle
        except Exception:
            handle = DisplayHandle  # runtime_display.py's, without IPython
        return handle(display_id)
    return None


def _unwrapped(f):
    """The function under our hook (installed by this or an older runtime version)."""
    return getattr(f, "_mpk_orig", f)


def _patch_ipython():
    try:
        import IPython.core.display_functions as dfn
        import IPython.display as ipd
    except Exception:
        return
    # A runtime of another version may have patched already: wrap what it wrapped.
    marimo_display = _unwrapped(getattr(dfn, "display", None))
    if getattr(dfn.display, "_mpk", None) == __name__:
        return
    marimo_update = _unwrapped(getattr(dfn, "update_display", None))
    marimo_clear = _unwrapped(dfn.clear_output)

    def display(*objs, **kwargs):
        if _in_our_run():
            return _display(*objs, **kwargs)
        return marimo_display(*objs, **kwargs)

    def update_display(obj, *, display_id, **kwargs):
        if _in_our_run():
            return _display(obj, display_id=display_id, update=True, **kwargs)
        return marimo_update(obj, display_id=display_id, **kwargs)

    def clear_output(wait=False):
        if _in_our_run():
            return _emit({"k": "clear", "wait": bool(wait)})
        return marimo_clear(wait)

    for f, orig in ((display, marimo_display), (update_display, marimo_update), (clear_output, marimo_clear)):
        f._mpk, f._mpk_orig = __name__, orig
        f.__doc__ = getattr(orig, "__doc__", None)
    for mod in (ipd, dfn):
        mod.display, mod.update_display, mod.clear_output = display, update_display, clear_output


def _patch_output(mod):
    """mo.output.append/replace/clear (and marimo's own display(), bound before ours)."""
    if getattr(mod.append, "_mpk", None) == __name__:
        return
    append, replace, clear = _unwrapped(mod.append), _unwrapped(mod.replace), _unwrapped(mod.clear)

    def new_append(value):
        if _in_our_run():
            return _display(value)
        return append(value)

    def new_replace(value):
        if _in_our_run():
            return _display(value, clear=True)
        return replace(value)

    def new_clear():
        if _in_our_run():
            return _emit({"k": "clear", "wait": False})
        return clear()

    for f, orig in ((new_append, append), (new_replace, replace), (new_clear, clear)):
        f._mpk, f._mpk_orig = __name__, orig
    import sys
    # `mo.output` is the package, which re-exports these functions by value.
    for m in (mod, sys.modules.get("marimo._runtime.output")):
        if m is not None:
            m.append, m.replace, m.clear = new_append, new_replace, new_clear


def _patch_mpl(mod):
    """plt.show() (marimo's backend) shows the figures to Jupyter, then closes them."""
    orig = _unwrapped(getattr(mod, "_internal_show", None))
    if orig is None or getattr(mod._internal_show, "_mpk", None) == __name__:
        return

    def _internal_show(canvas):
        if not _in_our_run():
            return orig(canvas)
        fig = canvas.figure
        try:
            b = bundle(fig)
            if b is not None:
                publish(b["data"], b["metadata"])
        finally:
            import matplotlib.pyplot as plt
            plt.close(fig)

    _internal_show._mpk, _internal_show._mpk_orig = __name__, orig
    mod._internal_show = _internal_show


class _AfterImport:
    """Patch a module right after it loads: matplotlib may be imported by the code we run."""

    def __init__(self, patches):
        self.patches = patches

    def find_spec(self, name, path=None, target=None):
        import sys
        fn = self.patches.get(name)
        if fn is None:
            return None
        spec = None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            try:
                spec = finder.find_spec(name, path, target)
            except Exception:
                return None  # let the import system ask them itself; we only lose our patch
            if spec is not None:
                break
        if spec is None:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_and_patch(module, exec_module=exec_module, fn=fn):
            exec_module(module)
            try:
                fn(module)
            except Exception:
                pass

        loader.exec_module = exec_and_patch
        return spec


def _ns_display(*objs, **kwargs):
    """display() without an import, as ipykernel's namespace has it: IPython's (hooked here)."""
    try:
        import IPython.display as ipd
        fn = ipd.display
    except Exception:
        fn = None
    if fn is not None and fn is not _ns_display:
        return fn(*objs, **kwargs)
    if _in_our_run():
        return _display(*objs, **kwargs)
    print(*objs)


def install_hooks(ns):
    """Hook display(), plt.show() and mo.output for the kernel's own runs.

    Modules not imported yet are patched when they are (importing IPython here would cost
    marimo half a second at install, in front of the first completion request).
    """
    import sys
    patches = {
        # marimo patches IPython's display() when the IPython package finishes loading: after it.
        "IPython": lambda mod: _patch_ipython(),
        "marimo._output.mpl": _patch_mpl,
        "marimo._runtime.output._output": _patch_output,
        "marimo._runtime.runner.cell_runner": lambda mod: hook_tracebacks(mod),  # noqa: F821 - runtime_tracebacks.py
    }
    if "IPython.core.display_functions" in sys.modules:
        _patch_ipython()
    for name, fn in patches.items():
        if name != "IPython" and name in sys.modules:
            fn(sys.modules[name])
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "_AfterImport"]
    sys.meta_path.insert(0, _AfterImport(patches))
    install_late_hooks()  # noqa: F821 - runtime_late.py
    _ns_display._mpk = __name__
    if getattr(ns.get("display", _ns_display), "_mpk", None):
        ns["display"] = _ns_display
    globals().get("install_ipython", lambda ns: None)(ns)  # get_ipython() (runtime_ipython.py)


def _open_figures():
    """Figures still open at the end (marimo closes all after every run): ipykernel shows them."""
    import sys
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return []
    try:
        from matplotlib._pylab_helpers import Gcf
        managers = list(Gcf.get_all_fig_managers())
    except Exception:
        return []
    out = []
    for m in managers:
        fig = m.canvas.figure
        try:
            b = bundle(fig)
            if b is not None:
                out.append(b)
        finally:
            plt.close(fig)
    return out


def show(value, url="", _same=None):
    """The tail of every kernel run: the value's bundle and the figures still open.

    Without a value the figures go out as displays now (ipykernel sends them last, and nothing
    comes after); with one they travel in the payload, after the execute_result.
    """
    import json
    global URL
    if url:
        URL = url
    result = bundle(value)
    after = _open_figures()
    if result is None:
        for b in after:
            publish(b["data"], b["metadata"])
        return None
    payload = {"value": result, "after": after}
    text = json.dumps(payload, default=str)
    if len(text) > 7_000_000:
        # marimo replaces a cell output over 8 MB; keep the value, shrink the rest to notes.
        _note("this execute's figures add up to %.1f MB; only the first is shown." % (len(text) / 1e6))
        payload["after"] = after[:1]
        text = json.dumps(payload, default=str)
    return {"marimo_pair_kernel": text}


def _simple_complete(code, line, column, ns):
    """Names for a bare `name` or `obj.attr` prefix without jedi (~1 ms instead of 50+).

    None hands the request to jedi: imports, strings, calls, anything not a plain dotted name.
    """
    import builtins
    import inspect
    import keyword
    import re
    import types
    lines = code.split("\n")
    text = lines[line - 1][:column] if 0 < line <= len(lines) else ""
    if re.match(r"\s*(import|from)\s", text) or "#" in text or text.count("'") % 2 or text.count('"') % 2:
        return None
    m = re.search(r"(?<![\w.])((?:[A-Za-z_]\w*\.)+)?([A-Za-z_]\w*)?$", text)
    if m is None or not (m.group(1) or m.group(2)):
        return None
    base, word = m.group(1), m.group(2) or ""
    if base:
        parts = base[:-1].split(".")
        if parts[0] in ns:
            obj = ns[parts[0]]
        elif hasattr(builtins, parts[0]):
            obj = getattr(builtins, parts[0])
        else:
            return None
        for p in parts[1:]:
            # Never run a property or other descriptor just to list names: jedi decides those.
            try:
                raw = inspect.getattr_static(obj, p)
            except AttributeError:
                return None
            if not isinstance(obj, types.ModuleType) and hasattr(type(raw), "__get__"):
                return None
            obj = getattr(obj, p)
        try:
            names = dir(obj)
        except Exception:
            return None
    else:
        rest = "\n".join(
            lines[: line - 1] + [text[: len(text) - len(word)]] + [lines[line - 1][column:]] + lines[line:]
        )
        names = [*ns, *dir(builtins), *keyword.kwlist, *re.findall(r"[A-Za-z_]\w*", rest)]
    hide = not word.startswith("_")
    found = sorted({n for n in names if n.startswith(word) and not (hide and n.startswith("_"))})
    return found[:500], len(word)


def warm_lock():
    """Held by the warm-up while it imports, and by each of the kernel's runs (runtime_state).

    An import on the warm-up's thread while the user's first line imports the same package hands
    that line a module whose hooks are not in yet (`from IPython.display import display` got
    IPython's own, unhooked display): so the two never overlap. A run waits for an import under
    way (a fraction of a second, once); the warm-up waits for a run to end.
    """
    lock = globals().get("_warm_lock")
    if lock is None:
        import threading
        lock = globals()["_warm_lock"] = threading.RLock()
    return lock


def warm():
    """Import jedi and IPython's formatter on a thread, so a later completion or value is quick.

    A second later: the import holds the GIL for a while, and the requests right after
    start-up (the first Tab, the first execute) should not wait for it.
    """
    import threading
    import time
    def work():
        time.sleep(1.0)
        with warm_lock():
            try:
                import jedi
                jedi.Interpreter("int.", [{}]).complete(1, 4)
            except Exception:
                pass
            _formatter()  # IPython's display formatter, for the first rich value
    warm_lock()
    if not globals().get("_warming"):
        globals()["_warming"] = True
        threading.Thread(target=work, name="marimo-pair-kernel-warm", daemon=True).start()
    return installed()


def complete(code, line, column, ns):
    import json as _j
    matches, start_back = [], 0
    try:
        simple = _simple_complete(code, line, column, ns)
    except Exception:
        simple = None
    if simple is not None:
        warm()  # for the next completion that needs jedi
        return {"marimo_pair_kernel": _j.dumps({"matches": simple[0], "start_back": simple[1]})}
    try:
        import jedi
        comps = jedi.Interpreter(code, [ns]).complete(line, column)
        if comps:
            start_back = len(comps[0].name) - len(comps[0].complete)
        matches = [c.name for c in comps if len(c.name) - len(c.complete) == start_back][:500]
    except Exception:
        import re
        import rlcompleter
        word = re.search(r"[\w.]*$", code.splitlines()[line - 1][:column] if code else "").group(0)
        comp = rlcompleter.Completer(ns)
        i, seen = 0, []
        while i < 500:
            m = comp.complete(word, i)
            if m is None:
                break
            seen.append(m.rstrip("("))
            i += 1
        prefix = word.rsplit(".", 1)[0] + "." if "." in word else ""
        matches = [m[len(prefix):] for m in seen]
        start_back = len(word) - len(prefix)
    return {"marimo_pair_kernel": _j.dumps({"matches": matches, "start_back": start_back})}

def inspect_name(name, detail, ns):
    import inspect as _i
    import json as _j
    obj, found = None, False
    try:
        parts = name.split(".")
        import builtins
        obj = ns[parts[0]] if parts[0] in ns else getattr(builtins, parts[0])
        for p in parts[1:]:
            obj = getattr(obj, p)
        found = True
    except Exception:
        pass
    if not found:
        return {"marimo_pair_kernel": _j.dumps({"found": False})}
    out = []
    try:
        out.append("Signature: %s%s" % (name, _i.signature(obj)))
    except Exception:
        pass
    out.append("Type:      %s" % type(obj).__name__)
    if not callable(obj) or isinstance(obj, (int, float, str, bytes, list, dict, tuple, set)):
        r = repr(obj)
        out.append("String form: %s" % (r if len(r) < 2000 else r[:2000] + "..."))
    src = None
    if detail:
        try:
            src = _i.getsource(obj)
        except Exception:
            src = None
    if src:
        out.append("Source:\n%s" % src)
    else:
        doc = _i.getdoc(obj)
        out.append("Docstring: %s" % (doc if doc else "<no docstring>"))
    try:
        f = _i.getsourcefile(obj) or _i.getfile(obj)
        out.append("File:      %s" % f)
    except Exception:
        pass
    return {"marimo_pair_kernel": _j.dumps({"found": True, "text": "\n".join(out)})}
