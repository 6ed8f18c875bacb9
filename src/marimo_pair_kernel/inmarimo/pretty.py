"""IPython's pretty printer, ported: `text/plain` where the notebook's Python has no IPython.

Runs inside the marimo kernel (see __init__.py). marimo does not depend on IPython: a sandboxed
or `uvx` notebook has none. There values.py's `_formatter()` hands out formatter.py's
`MiniFormatter`, whose `text/plain` comes from this port of IPython's pretty printer
(IPython.lib.pretty, BSD-licensed), so lists, dicts, functions and default reprs read as in
ipykernel. tests/test_outputs_display_unit.py compares it with IPython's formatter.
"""

from . import base

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
    d = base._S.get("pretty_types")
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
        base._S["pretty_types"] = d
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
