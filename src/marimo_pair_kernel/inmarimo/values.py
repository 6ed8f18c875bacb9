"""Values and displays: what Jupyter gets for a value, computed here as ipykernel computes it."""

from . import base, formatter, sanitize, widgets
from .late import MARK as MARK  # the display lines' mark: the kernel's outputs.DISPLAY_MARK equals it

# -- values and displays: what Jupyter gets, computed here as ipykernel computes it ------------
#
# IPython's DisplayFormatter (the `_repr_*_` protocol, then pretty) with matplotlib figures as
# the inline backend renders them; marimo's own formatter only for objects that speak marimo's
# protocol alone (`_mime_`/`_display_`); never a `<marimo-…>` custom element in HTML (it renders
# blank outside marimo's page): mo.ui elements become static snapshots. Displays made while the
# code runs go out as display lines (late.py's MARK); the last value travels in the run's answer.

MAX_MIME = 4_000_000  # characters per mimetype in one output (a note replaces the rest)

def _formatter():
    """IPython's display formatter, else the runtime's own (formatter.py: no IPython there)."""
    f = base._S.get("fmt")
    if f is None and not formatter.ipython_formatter_failed():
        try:
            from IPython.core.formatters import DisplayFormatter
            f = DisplayFormatter()
            # matplotlib's inline backend registers this for Figure (png, bbox_inches="tight").
            f.formatters["image/png"].for_type_by_name("matplotlib.figure", "Figure", formatter._figure_png)
            base._S["fmt"] = f
            base._S.pop("fmt_failed", None)
        except ModuleNotFoundError:
            f = None
            formatter._ipython_missing()
        except Exception:
            # IPython half-imported by another thread (warm(), `!cmd`'s expansion): not a missing
            # IPython, so the next value tries again.
            f = None
    return f or formatter.mini_formatter()


def _repr_fallback(value, why):
    try:
        text = object.__repr__(value)
    except Exception:
        text = "<%s object>" % type(value).__name__
    base._note("repr() of this %s object raised %s; showing the default repr instead." % (type(value).__name__, why))
    return text


def _summary(exc_text):
    lines = [ln for ln in exc_text.strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else "an error"


def _ui_snapshot(value):
    """A mo.ui element's static snapshot (sanitize.py) and, for one that lives in a notebook
    cell, the spec the kernel makes a live Jupyter widget of (widgets.py); None for other values."""
    cls = sanitize._ui_class()
    if cls is None or not isinstance(value, cls):
        return None
    text = sanitize._ui_text(value)
    kind, label, shown, v = sanitize._ui_parts(value)
    live = sanitize._live(value) + ((": " + sanitize.URL) if sanitize.URL else "")
    md = "%s`%s` *(marimo %s, %s)*" % ("**%s** " % label if label else "", v, kind, live)
    out = {"text/plain": text + "\n(" + live + ")", "text/html": sanitize._ui_html(value), "text/markdown": md}
    spec = widgets.widget_spec(value)  # the kernel makes it a live Jupyter widget
    if spec is not None:
        out[widgets.WIDGET_MIME] = spec
    return out


_PLAIN_TYPES = (int, float, complex, bool, str, bytes, list, tuple, dict, set, frozenset, range)


def _format(value, include=None, exclude=None):
    """(data, metadata) as ipykernel's display formatter gives them, or None: nothing to show."""
    import contextlib
    import io
    import sys
    snap = _ui_snapshot(value)
    if snap is not None:
        return snap, {}
    if type(value) in (int, float, bool, str) and not include and not exclude and "fmt" not in base._S:
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
                base._note("a display method of this %s object raised %s; showing the other forms."
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
    text = formatter.plain_text(value, data)  # what a marimo object or figure shows
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
        data = sanitize.sanitize_html(data)
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
        data = sanitize.sanitize_html(data)
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
            v = sanitize.sanitize_html(v)
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
        base._note("the %s form of this output is %.1f MB, over the %.0f MB this kernel sends per "
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
