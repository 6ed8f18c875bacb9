"""The display protocol where the notebook's Python has no IPython, and text for what marimo shows.

Runs inside the marimo kernel, after runtime.py, in the same module namespace (see
scratchpad.RUNTIME_SOURCES). marimo does not depend on IPython: a sandboxed or `uvx` notebook
has none. There runtime.py's `_formatter()` hands out `MiniFormatter`, which does what
IPython's DisplayFormatter does for ipykernel: `_ipython_display_`, then `_repr_mimebundle_`
(include/exclude), then the `_repr_*_` methods in IPython's order with its rules (None skips a
form, a `(data, metadata)` tuple carries metadata, a wrong type is a FormatterWarning, a raising
method prints its traceback and is skipped), and `text/plain` from a port of IPython's pretty
printer (IPython.lib.pretty, BSD-licensed), so lists, dicts, functions and default reprs read
as in ipykernel. tests/test_outputs_display_unit.py compares it with IPython's formatter.

Also here: the `text/plain` of what marimo shows (mo.md → its Markdown source, other marimo
HTML → its text, a figure → its size and titles), for terminals and agents, which read only that.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # runtime.py's names: the same module namespace at run time
    from .runtime import _S, _display, _figure_png, bundle, sanitize_html

# -- IPython's pretty printer (IPython.lib.pretty), the part ipykernel's text/plain uses ------------

MAX_SEQ_LENGTH = 1000


class _Group:
    def __init__(self, depth):
        import collections
        self.depth = depth
        self.breakables = collections.deque()
        self.want_break = False


class _Text:
    def __init__(self):
        self.objs = []
        self.width = 0

    def output(self, stream, output_width):
        for obj in self.objs:
            stream.write(obj)
        return output_width + self.width


class _Breakable:
    def __init__(self, seq, width, printer):
        self.obj = seq
        self.width = width
        self.printer = printer
        self.indentation = printer.indentation
        self.group = printer.group_stack[-1]
        self.group.breakables.append(self)

    def output(self, stream, output_width):
        self.group.breakables.popleft()
        if self.group.want_break:
            stream.write(self.printer.newline)
            stream.write(" " * self.indentation)
            return self.indentation
        if not self.group.breakables:
            self.printer.group_queue.remove(self.group)
        stream.write(self.obj)
        return output_width + self.width


class _GroupQueue:
    def __init__(self, *groups):
        self.queue = []
        for group in groups:
            self.enq(group)

    def enq(self, group):
        while group.depth > len(self.queue) - 1:
            self.queue.append([])
        self.queue[group.depth].append(group)

    def deq(self):
        for stack in self.queue:
            for idx, group in enumerate(reversed(stack)):
                if group.breakables:
                    del stack[idx]
                    group.want_break = True
                    return group
            for group in stack:
                group.want_break = True
            del stack[:]
        return None

    def remove(self, group):
        try:
            self.queue[group.depth].remove(group)
        except ValueError:
            pass


class _GroupContext:
    def __init__(self, printer, indent, open, close):
        self.args = printer, indent, open, close

    def __enter__(self):
        p, indent, open, _ = self.args
        p.begin_group(indent, open)

    def __exit__(self, *exc):
        p, indent, _, close = self.args
        p.end_group(indent, close)


class _IndentContext:
    def __init__(self, printer, indent):
        self.printer, self.indent = printer, indent

    def __enter__(self):
        self.printer.indentation += self.indent

    def __exit__(self, *exc):
        self.printer.indentation -= self.indent


class RepresentationPrinter:
    """IPython's RepresentationPrinter: what `_repr_pretty_(self, p, cycle)` methods receive."""

    def __init__(self, output, verbose=False, max_width=79, newline="\n", max_seq_length=MAX_SEQ_LENGTH):
        import collections
        self.output = output
        self.verbose = verbose
        self.max_width = max_width
        self.newline = newline
        self.max_seq_length = max_seq_length
        self.output_width = 0
        self.buffer_width = 0
        self.buffer = collections.deque()
        root = _Group(0)
        self.group_stack = [root]
        self.group_queue = _GroupQueue(root)
        self.indentation = 0
        self.stack = []

    def indent(self, indent):
        return _IndentContext(self, indent)

    def group(self, indent=0, open="", close=""):
        return _GroupContext(self, indent, open, close)

    def _break_one_group(self, group):
        while group.breakables:
            x = self.buffer.popleft()
            self.output_width = x.output(self.output, self.output_width)
            self.buffer_width -= x.width
        while self.buffer and isinstance(self.buffer[0], _Text):
            x = self.buffer.popleft()
            self.output_width = x.output(self.output, self.output_width)
            self.buffer_width -= x.width

    def _break_outer_groups(self):
        while self.max_width < self.output_width + self.buffer_width:
            group = self.group_queue.deq()
            if not group:
                return
            self._break_one_group(group)

    def text(self, obj):
        width = len(obj)
        if self.buffer:
            text = self.buffer[-1]
            if not isinstance(text, _Text):
                text = _Text()
                self.buffer.append(text)
            text.objs.append(obj)
            text.width += width
            self.buffer_width += width
            self._break_outer_groups()
        else:
            self.output.write(obj)
            self.output_width += width

    def breakable(self, sep=" "):
        width = len(sep)
        group = self.group_stack[-1]
        if group.want_break:
            self.flush()
            self.output.write(self.newline)
            self.output.write(" " * self.indentation)
            self.output_width = self.indentation
            self.buffer_width = 0
        else:
            self.buffer.append(_Breakable(sep, width, self))
            self.buffer_width += width
            self._break_outer_groups()

    def break_(self):
        group = self.group_queue.deq()
        if group:
            self._break_one_group(group)
        self.flush()
        self.output.write(self.newline)
        self.output.write(" " * self.indentation)
        self.output_width = self.indentation
        self.buffer_width = 0

    def begin_group(self, indent=0, open=""):
        if open:
            self.text(open)
        group = _Group(self.group_stack[-1].depth + 1)
        self.group_stack.append(group)
        self.group_queue.enq(group)
        self.indentation += indent

    def _enumerate(self, seq):
        for idx, x in enumerate(seq):
            if self.max_seq_length and idx >= self.max_seq_length:
                self.text(",")
                self.breakable()
                self.text("...")
                return
            yield idx, x

    def end_group(self, dedent=0, close=""):
        self.indentation -= dedent
        group = self.group_stack.pop()
        if not group.breakables:
            self.group_queue.remove(group)
        if close:
            self.text(close)

    def flush(self):
        for data in self.buffer:
            self.output_width += data.output(self.output, self.output_width)
        self.buffer.clear()
        self.buffer_width = 0

    def pretty(self, obj):
        obj_id = id(obj)
        cycle = obj_id in self.stack
        self.stack.append(obj_id)
        self.begin_group()
        try:
            cls = _safe_getattr(obj, "__class__", None) or type(obj)
            if obj_id in _SINGLETONS:
                return _repr_pprint(obj, self, cycle)
            printers = _type_printers()
            for c in getattr(cls, "__mro__", (cls,)):
                key = (_safe_getattr(c, "__module__"), _safe_getattr(c, "__name__"))
                printer = printers.get(c) or _DEFERRED.get(key)
                if printer is not None:
                    return printer(obj, self, cycle)
                if "_repr_pretty_" in c.__dict__:
                    meth = c._repr_pretty_
                    if callable(meth):
                        return meth(obj, self, cycle)
                if c is not object and callable(c.__dict__.get("__repr__")):
                    return _repr_pprint(obj, self, cycle)
            return _default_pprint(obj, self, cycle)
        finally:
            self.end_group()
            self.stack.pop()


def _safe_getattr(obj, attr, default=None):
    try:
        return getattr(obj, attr, default)
    except Exception:
        return default


def pretty(obj, max_width=79, max_seq_length=MAX_SEQ_LENGTH):
    """IPython's `pretty(obj)`: what ipykernel's text/plain is."""
    import io
    stream = io.StringIO()
    p = RepresentationPrinter(stream, max_width=max_width, max_seq_length=max_seq_length)
    p.pretty(obj)
    p.flush()
    return stream.getvalue()


class RawText:
    def __init__(self, value):
        self.value = value

    def _repr_pretty_(self, p, cycle):
        p.text(self.value)


class CallExpression:
    """`name(*args, **kwargs)`, line-wrapped as IPython does."""

    def __init__(__self, __name, *args, **kwargs):  # noqa: N805 - dunders keep kwargs free, as in IPython
        __self.name = __name
        __self.args = args
        __self.kwargs = kwargs

    def _repr_pretty_(self, p, cycle):
        started = [False]

        def new_item():
            if started[0]:
                p.text(",")
                p.breakable()
            started[0] = True

        prefix = self.name + "("
        with p.group(len(prefix), prefix, ")"):
            for arg in self.args:
                new_item()
                p.pretty(arg)
            for name, arg in self.kwargs.items():
                new_item()
                with p.group(len(name) + 1, name + "="):
                    p.pretty(arg)


class _RawStringLiteral:
    def __init__(self, value):
        self.value = value

    def _repr_pretty_(self, p, cycle):
        base = repr(self.value)
        prefix = "r"
        if base[:1] in "uU":
            base, prefix = base[1:], "ur"
        p.text(prefix + base.replace("\\\\", "\\"))


class _ReFlags:
    def __init__(self, value):
        self.value = value

    def _repr_pretty_(self, p, cycle):
        import re
        done = False
        for flag in ("TEMPLATE", "IGNORECASE", "LOCALE", "MULTILINE", "DOTALL", "UNICODE", "VERBOSE", "DEBUG"):
            if self.value & getattr(re, flag, 0):
                if done:
                    p.text("|")
                p.text("re." + flag)
                done = True


def _repr_pprint(obj, p, cycle):
    lines = repr(obj).splitlines()
    with p.group():
        for idx, line in enumerate(lines):
            if idx:
                p.break_()
            p.text(line)


def _default_pprint(obj, p, cycle):
    klass = _safe_getattr(obj, "__class__", None) or type(obj)
    if _safe_getattr(klass, "__repr__", None) is not object.__repr__:
        _repr_pprint(obj, p, cycle)
        return
    p.begin_group(1, "<")
    p.pretty(klass)
    p.text(" at 0x%x" % id(obj))
    if cycle:
        p.text(" ...")
    p.end_group(1, ">")


def _seq_pprinter(start, end):
    def inner(obj, p, cycle):
        if cycle:
            return p.text(start + "..." + end)
        step = len(start)
        p.begin_group(step, start)
        for idx, x in p._enumerate(obj):
            if idx:
                p.text(",")
                p.breakable()
            p.pretty(x)
        if len(obj) == 1 and isinstance(obj, tuple):
            p.text(",")
        p.end_group(step, end)
    return inner


def _sorted_for_pprint(items):
    items = list(items)
    try:
        return sorted(items)
    except Exception:
        try:
            return sorted(items, key=str)
        except Exception:
            return items


def _set_pprinter(start, end):
    def inner(obj, p, cycle):
        if cycle:
            return p.text(start + "..." + end)
        if len(obj) == 0:
            p.text(type(obj).__name__ + "()")
            return None
        step = len(start)
        p.begin_group(step, start)
        items = obj if (p.max_seq_length and len(obj) >= p.max_seq_length) else _sorted_for_pprint(obj)
        for idx, x in p._enumerate(items):
            if idx:
                p.text(",")
                p.breakable()
            p.pretty(x)
        p.end_group(step, end)
        return None
    return inner


def _dict_pprinter(start, end):
    def inner(obj, p, cycle):
        if cycle:
            return p.text("{...}")
        step = len(start)
        p.begin_group(step, start)
        for idx, key in p._enumerate(obj.keys()):
            if idx:
                p.text(",")
                p.breakable()
            p.pretty(key)
            p.text(": ")
            p.pretty(obj[key])
        p.end_group(step, end)
        return None
    return inner


def _super_pprint(obj, p, cycle):
    p.begin_group(8, "<super: ")
    p.pretty(obj.__thisclass__)
    p.text(",")
    p.breakable()
    p.pretty(obj.__self__)
    p.end_group(8, ">")


def _re_pattern_pprint(obj, p, cycle):
    args = [_RawStringLiteral(obj.pattern)] + ([_ReFlags(obj.flags)] if obj.flags else [])
    p.pretty(CallExpression("re.compile", *args))


def _namespace_pprint(obj, p, cycle):
    if cycle:
        p.pretty(CallExpression("namespace", RawText("...")))
    else:
        p.pretty(CallExpression("namespace", **obj.__dict__))


def _type_pprint(obj, p, cycle):
    if [m for m in getattr(type(obj), "__mro__", ()) if "__repr__" in vars(m)][:1] != [type]:
        _repr_pprint(obj, p, cycle)
        return
    mod = _safe_getattr(obj, "__module__", None)
    try:
        name = obj.__qualname__
        if not isinstance(name, str):
            raise TypeError(name)
    except Exception:
        name = obj.__name__
        if not isinstance(name, str):
            name = "<unknown type>"
    p.text(name if mod in (None, "__builtin__", "builtins", "exceptions") else mod + "." + name)


def _function_pprint(obj, p, cycle):
    import inspect
    name = _safe_getattr(obj, "__qualname__", obj.__name__)
    mod = obj.__module__
    if mod and mod not in ("__builtin__", "builtins", "exceptions"):
        name = mod + "." + name
    try:
        func_def = name + str(inspect.signature(obj))
    except ValueError:
        func_def = name
    p.text("<function %s>" % func_def)


def _exception_pprint(obj, p, cycle):
    name = getattr(obj.__class__, "__qualname__", obj.__class__.__name__)
    if obj.__class__.__module__ not in ("exceptions", "builtins"):
        name = "%s.%s" % (obj.__class__.__module__, name)
    p.pretty(CallExpression(name, *getattr(obj, "args", ())))


def _ctor_pprinter(args):
    def inner(obj, p, cycle):
        name = obj.__class__.__name__
        if cycle:
            p.pretty(CallExpression(name, RawText("...")))
        else:
            a, kw = args(obj)
            p.pretty(CallExpression(name, *a, **kw))
    return inner


def _type_printers():
    d = _S.get("pretty_types")
    if d is None:
        import datetime
        import os
        import re
        import types
        d = {
            int: _repr_pprint, float: _repr_pprint, str: _repr_pprint,
            tuple: _seq_pprinter("(", ")"), list: _seq_pprinter("[", "]"), dict: _dict_pprinter("{", "}"),
            set: _set_pprinter("{", "}"), frozenset: _set_pprinter("frozenset({", "})"),
            super: _super_pprint, type(re.compile("")): _re_pattern_pprint, type: _type_pprint,
            types.FunctionType: _function_pprint, types.BuiltinFunctionType: _function_pprint,
            types.MethodType: _repr_pprint, types.SimpleNamespace: _namespace_pprint,
            datetime.datetime: _repr_pprint, datetime.timedelta: _repr_pprint, BaseException: _exception_pprint,
            types.MappingProxyType: _dict_pprinter("mappingproxy({", "})"), slice: _repr_pprint,
            range: _repr_pprint, bytes: _repr_pprint,
        }
        if type(os.environ) is not dict:
            d[type(os.environ)] = _dict_pprinter("environ{", "}")
        _S["pretty_types"] = d
    return d


_SINGLETONS = {id(x): x for x in (None, True, False, Ellipsis, NotImplemented)}
_DEFERRED = {
    ("collections", "defaultdict"): _ctor_pprinter(lambda o: ((o.default_factory, dict(o)), {})),
    ("collections", "OrderedDict"): _ctor_pprinter(lambda o: (([list(o.items())] if len(o) else []), {})),
    ("collections", "deque"): _ctor_pprinter(
        lambda o: (([list(o)]), ({"maxlen": o.maxlen} if o.maxlen is not None else {}))),
    ("collections", "Counter"): _ctor_pprinter(lambda o: (([dict(o)] if len(o) else []), {})),
    ("collections", "UserList"): _ctor_pprinter(lambda o: ((o.data,), {})),
}


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
        printers = _type_printers()
        if id(obj) in _SINGLETONS or any(c in printers or (_safe_getattr(c, "__module__"),
                                                           _safe_getattr(c, "__name__")) in _DEFERRED for c in mro):
            return pretty
    elif mime == "image/png":
        for c in mro:
            if (getattr(c, "__module__", None), getattr(c, "__name__", None)) == ("matplotlib.figure", "Figure"):
                return _figure_png
    return None


def _plain(obj):
    return _guarded(lambda: pretty(obj), obj, "text/plain", str)


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
    f = _S.get("mini")
    if f is None:
        f = _S["mini"] = MiniFormatter()
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
    _S["fmt_failed"] = (_path_key(), _ipython_origin())


def ipython_formatter_failed():
    """Whether IPython's formatter could not be made and IPython is still as it was then.

    No cached failure: IPython installed mid-session (`%packages add ipython`) is found by the
    next value. A stat of each sys.path folder (microseconds) tells whether to look again.
    """
    failed = _S.get("fmt_failed")
    if failed is None:
        return False
    key = _path_key()
    if key == failed[0]:
        return True
    origin = _ipython_origin()
    _S["fmt_failed"] = (key, failed[1])
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


class DisplayHandle:
    """IPython's DisplayHandle, for display(..., display_id=True) without IPython."""

    def __init__(self, display_id=None):
        import uuid
        self.display_id = display_id or uuid.uuid4().hex

    def __repr__(self):
        return "<%s display_id=%s>" % (self.__class__.__name__, self.display_id)

    def display(self, obj, **kwargs):
        _display(obj, display_id=self.display_id, **kwargs)

    def update(self, obj, **kwargs):
        _display(obj, display_id=self.display_id, update=True, **kwargs)


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
    html = sanitize_html(html) or ""
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
