"""The display protocol where the notebook's Python has no IPython, and text for what marimo shows.

`MiniFormatter` does what IPython's DisplayFormatter does for ipykernel: `_ipython_display_`,
then `_repr_mimebundle_` (include/exclude), then the `_repr_*_` methods in IPython's order with
its rules (None skips a form, a `(data, metadata)` tuple carries metadata, a wrong type is a
FormatterWarning, a raising method prints its traceback and is skipped), and `text/plain` from
pretty.py. Also here: the `text/plain` of what marimo shows (mo.md → its Markdown source, other
marimo HTML → its text, a figure → its size and titles), for terminals and agents, which read
only that.
"""

from . import base, pretty, sanitize

MAX_FIG_PIXELS = 4096 * 4096  # larger figures are rendered downscaled, with a note

# -- IPython's DisplayFormatter, small ---------------------------------------------------------------

class FormatterWarning(UserWarning):
    """Warning class for errors in formatters (as IPython names it)."""


# IPython's formatters in its order: (mimetype, method, accepted return types).
_FORMS = (
    ("text/html", "_repr_html_", str),
    ("text/markdown", "_repr_markdown_", str),
    ("image/svg+xml", "_repr_svg_", str),
    ("image/png", "_repr_png_", (bytes, str)),
    ("application/pdf", "_repr_pdf_", (bytes, str)),
    ("image/jpeg", "_repr_jpeg_", (bytes, str)),
    ("text/latex", "_repr_latex_", str),
    ("application/json", "_repr_json_", (list, dict)),
    ("application/javascript", "_repr_javascript_", str),
)


def _real_method(obj, name):
    """IPython's get_real_method: a callable attribute, not one a proxy claims for any name."""
    import inspect
    import types
    try:
        if getattr(obj, "_ipython_canary_method_should_not_exist_", None) is not None:
            return None
        m = getattr(obj, name, None)
    except Exception:
        return None
    if inspect.isclass(obj) and not isinstance(m, types.MethodType):
        return None
    return m if callable(m) else None


def _safe_repr(obj):
    try:
        return repr(obj)
    except Exception as e:
        return "un-repr-able object (%r)" % e


def _checked(r, obj, mime, types):
    if r is None or isinstance(r, types) or (isinstance(r, tuple) and r and isinstance(r[0], types)):
        return r
    import warnings
    warnings.warn("%s formatter returned invalid type %s (expected %s) for object: %s"
                  % (mime, type(r), types, _safe_repr(obj)), FormatterWarning, stacklevel=2)
    return None


def _guarded(call, obj, mime, types):
    """One formatter call as IPython's catch_format_error makes it (no shell: print_exception)."""
    import sys
    import traceback
    try:
        r = call()
    except NotImplementedError:
        return None
    except Exception:
        traceback.print_exception(*sys.exc_info())
        return None
    if mime == "application/json" and r is not None:
        data = r[0] if isinstance(r, tuple) else r
        assert not isinstance(data, str), "JSON-as-string has been deprecated since IPython < 3"
    return _checked(r, obj, mime, types)


def _registered(obj, mime):
    """The printer registered for obj's type (as the inline backend registers figures), or None.

    As in IPython, a registered printer wins over what `_repr_mimebundle_` gave for its mimetype.
    """
    mro = getattr(type(obj), "__mro__", ())
    if mime == "text/plain":
        printers = pretty._type_printers()
        deferred = pretty._DEFERRED
        if id(obj) in pretty._SINGLETONS or any(
            c in printers or (pretty._safe_getattr(c, "__module__"), pretty._safe_getattr(c, "__name__")) in deferred
            for c in mro
        ):
            return pretty.pretty
    elif mime == "image/png":
        for c in mro:
            if (getattr(c, "__module__", None), getattr(c, "__name__", None)) == ("matplotlib.figure", "Figure"):
                return _figure_png
    return None


def _plain(obj):
    return _guarded(lambda: pretty.pretty(obj), obj, "text/plain", str)


class MiniFormatter:
    """IPython's DisplayFormatter where IPython is missing: `format(obj, include, exclude)`."""

    def __init__(self):
        self.formatters = {"text/plain": _plain}

    def format(self, obj, include=None, exclude=None):
        show = _real_method(obj, "_ipython_display_")
        if show is not None and _guarded(lambda: show() or True, obj, "text/plain", (type(None), bool)):
            return {}, {}
        bundle = _real_method(obj, "_repr_mimebundle_")
        r = None
        if bundle is not None:
            r = _guarded(lambda: bundle(include=include, exclude=exclude), obj, "text/plain", dict)
        data, md = ({}, {}) if r is None else ((r, {}) if not isinstance(r, tuple) else r)
        data, md = dict(data), dict(md or {})
        if data or md:
            if include:
                data = {k: v for k, v in data.items() if k in include}
                md = {k: v for k, v in md.items() if k in include}
            if exclude:
                data = {k: v for k, v in data.items() if k not in exclude}
                md = {k: v for k, v in md.items() if k not in exclude}
        for mime, method, types in (("text/plain", None, str),) + _FORMS:
            printer = _registered(obj, mime)
            if mime in data and printer is None:
                continue
            if (include and mime not in include) or (exclude and mime in exclude):
                continue
            if mime == "text/plain":
                out = _plain(obj)
            elif printer is not None:
                out = _guarded(lambda p=printer: p(obj), obj, mime, types)
            else:
                m = _real_method(obj, method)
                out = None if m is None else _guarded(m, obj, mime, types)
            meta = None
            if isinstance(out, tuple) and len(out) == 2:
                out, meta = out
            if out is not None:
                data[mime] = out
            if meta is not None:
                md[mime] = meta
        return data, md


def mini_formatter():
    f = base._S.get("mini")
    if f is None:
        f = base._S["mini"] = MiniFormatter()
    return f


def _ipython_origin():
    import importlib.util
    try:
        spec = importlib.util.find_spec("IPython")
    except Exception:
        return None
    return getattr(spec, "origin", None) if spec is not None else None


def _path_key():
    """What changes when something is installed where imports look: sys.path and its folders' mtimes."""
    import os
    import sys
    key = []
    for p in sys.path:
        try:
            key.append((p, os.stat(p or ".").st_mtime_ns))
        except OSError:
            key.append((p, None))
    return tuple(key)


def _ipython_missing():
    base._S["fmt_failed"] = (_path_key(), _ipython_origin())


def ipython_formatter_failed():
    """Whether IPython's formatter could not be made and IPython is still as it was then.

    No cached failure: IPython installed mid-session (`%packages add ipython`) is found by the
    next value. A stat of each sys.path folder (microseconds) tells whether to look again.
    """
    failed = base._S.get("fmt_failed")
    if failed is None:
        return False
    key = _path_key()
    if key == failed[0]:
        return True
    origin = _ipython_origin()
    base._S["fmt_failed"] = (key, failed[1])
    return origin == failed[1]


def _print_figure(fig, fmt="png", bbox_inches="tight", base64=False, **kwargs):
    """IPython's pylabtools.print_figure, which the inline backend uses for figures."""
    import binascii
    import io
    if not fig.axes and not fig.lines:
        return None
    dpi = fig.dpi
    if fmt == "retina":
        dpi, fmt = dpi * 2, "png"
    kw = {"format": fmt, "facecolor": fig.get_facecolor(), "edgecolor": fig.get_edgecolor(), "dpi": dpi,
          "bbox_inches": bbox_inches}
    kw.update(kwargs)
    buf = io.BytesIO()
    if fig.canvas is None:
        from matplotlib.backend_bases import FigureCanvasBase
        FigureCanvasBase(fig)
    fig.canvas.print_figure(buf, **kw)
    data = buf.getvalue()
    if fmt == "svg":
        return data.decode("utf-8")
    if base64:
        return binascii.b2a_base64(data, newline=False).decode("ascii")
    return data


def _figure_png(fig):
    """A figure's PNG (base64) as the inline backend makes it; a huge one downscaled, with a note."""
    try:
        from IPython.core.pylabtools import print_figure
    except Exception:
        print_figure = _print_figure
    w, h = fig.get_size_inches() * fig.dpi
    kw = {}
    if w * h > MAX_FIG_PIXELS:
        scale = (MAX_FIG_PIXELS / float(w * h)) ** 0.5
        kw["dpi"] = fig.dpi * scale
        base._note("the figure is %dx%d pixels; it is shown downscaled to about %dx%d so that "
              "neither marimo nor Jupyter holds a huge image. Save it to a file for full size."
              % (w, h, w * scale, h * scale))
    return print_figure(fig, "png", base64=True, bbox_inches="tight", **kw)


# -- text/plain that says what is shown: marimo objects and figures ----------------------------------

def plain_text(value, data):
    """A better text/plain for `value` (whose other forms are `data`), or None to keep it."""
    t = type(value)
    try:
        for c in getattr(t, "__mro__", ()):
            key = (getattr(c, "__module__", ""), getattr(c, "__name__", ""))
            if key == ("matplotlib.figure", "Figure"):
                return figure_text(value)
            if key == ("marimo._output.hypertext", "Html"):
                return marimo_text(value, data)
    except Exception:
        return None
    return None


def figure_text(fig):
    """ipykernel's `<Figure size 640x480 with 1 Axes>`, then the titles and axis labels, if any."""
    text = repr(fig)
    lines = []
    sup = getattr(fig, "_suptitle", None)
    if sup is not None and sup.get_text():
        lines.append("suptitle %r" % sup.get_text())
    for i, ax in enumerate(fig.axes, 1):
        parts = []
        for loc in ("left", "center", "right"):
            title = ax.get_title(loc)
            if title:
                parts.append("title %r" % title)
        for axis in ("x", "y"):
            label = getattr(ax, "get_%slabel" % axis)()
            if label:
                parts.append("%slabel %r" % (axis, label))
        if parts:
            lines.append("axes %d: %s" % (i, ", ".join(parts)))
    return "\n".join([text] + ["  " + ln for ln in lines])


def media_text(data):
    """text/plain for a figure a cell sent to the console, from its Jupyter `data` (the image alone)."""
    import base64
    import struct
    size = ""
    png = data.get("image/png")
    if isinstance(png, str):
        try:
            head = base64.b64decode(png[:64])
            if head[:8] == b"\x89PNG\r\n\x1a\n":
                size = " %dx%d px" % struct.unpack(">II", head[16:24])
        except Exception:
            size = ""
    return "<Figure image%s, shown by plt.show() in the cell>" % size


def marimo_text(value, data):
    """mo.md → its Markdown source; other marimo HTML → the text it shows."""
    source = getattr(value, "_markdown_text", None)
    if isinstance(source, str) and "<marimo-" not in source:
        return source
    html = data.get("text/html")
    if not isinstance(html, str):
        html = getattr(value, "text", None)
    if not isinstance(html, str):
        return None
    html = sanitize.sanitize_html(html) or ""
    text = html_text(html)
    return text or "(%s: nothing visible)" % type(value).__name__.lstrip("_")


_BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table", "ul", "ol",
          "section", "details", "summary", "blockquote", "hr", "caption", "figure", "thead", "tbody"}


def html_text(html):
    """The text an HTML fragment shows, one block a line (a small HTMLParser pass, no dependency)."""
    import re
    from html.parser import HTMLParser

    out = []
    state = {"skip": 0, "pre": 0, "cell": False}

    def newline():
        if out and not out[-1].endswith("\n"):
            out.append("\n")

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag in ("style", "script"):
                state["skip"] += 1
            elif tag in _BLOCK or "paragraph" in (a.get("class") or ""):
                newline()
                if tag == "pre":
                    state["pre"] += 1
                if tag == "li":
                    out.append("- ")
            elif tag in ("td", "th"):
                if state["cell"]:
                    out.append(" | ")
                state["cell"] = True
            elif tag == "img":
                out.append("[image%s]" % (": " + a["alt"] if a.get("alt") else ""))
            if tag == "tr":
                state["cell"] = False

        def handle_endtag(self, tag):
            if tag in ("style", "script"):
                state["skip"] = max(0, state["skip"] - 1)
            elif tag in _BLOCK:
                newline()
                if tag == "pre":
                    state["pre"] = max(0, state["pre"] - 1)

        def handle_data(self, text):
            if state["skip"]:
                return
            if not state["pre"]:
                text = re.sub(r"\s+", " ", text)
                if not out or out[-1].endswith("\n") or out[-1] == "- ":
                    text = text.lstrip()
            if text:
                out.append(text)

    p = P(convert_charrefs=True)
    p.feed(html)
    p.close()
    return "\n".join(ln.rstrip() for ln in "".join(out).split("\n") if ln.strip()).strip("\n")
