"""Tracebacks laid out by IPython's own formatter, inside marimo (see __init__.py).

marimo prints a scratchpad exception as plain text on stderr, and the kernel can only parse
that text back (tracebacks.py). Where the notebook's Python has IPython, the exception object
itself is better: IPython's `ultratb` gives exactly what ipykernel sends, for the IPython
installed there, 8 or 9, in every `%xmode` (Verbose shows local values, which no text has).

So the runtime keeps the exception of the kernel's own failed run: marimo's cell runner
prints it with `traceback.print_exception`, and `hook_tracebacks` gives that module a
`traceback` whose `print_exception` also remembers an exception raised in a kernel run (its
frames include the kernel's scratch cell). The kernel asks for its layout in one more request,
`format_error(count, mode)`, only when a run failed (the mode is the kernel's, and marimo's
text, which the kernel also needs, is printed after the run has unwound). Printing is left as
it is: the kernel falls back to that text when IPython is absent here. The frames shown start
at the user's code (state.py compiles each execute under a file of its own, whose
lines linecache keeps): marimo's runner, the scratch cell and the runtime's frames are skipped.
"""

_TRACEBACK_STATE: dict = {}  # "last": the exception of the kernel's last failed run


def _tb_ours(exc):
    """Whether `exc` was raised through the kernel's scratch cell (its code names _mpk_value)."""
    tb = getattr(exc, "__traceback__", None)
    while tb is not None:
        co = tb.tb_frame.f_code
        if "__scratch__" in co.co_filename and any(n.endswith("_mpk_value") for n in co.co_names):
            return True
        tb = tb.tb_next
    return False


class _RememberingTraceback:
    """The `traceback` module as marimo's cell runner sees it, remembering the kernel's exceptions."""

    def __init__(self, orig, owner):
        self._orig = orig
        self._mpk = owner

    def __getattr__(self, name):
        return getattr(self._orig, name)

    def print_exception(self, *args, **kwargs):
        exc = args[1] if len(args) > 1 else kwargs.get("value", args[0] if args else None)
        try:
            if isinstance(exc, BaseException) and _tb_ours(exc):
                _TRACEBACK_STATE["last"] = exc
        except Exception:
            pass
        return self._orig.print_exception(*args, **kwargs)


def hook_tracebacks(mod):
    """Give marimo's cell runner module a remembering `traceback` (replacing an older runtime's)."""
    current = getattr(mod, "traceback", None)
    if current is None:
        return
    orig = getattr(current, "_orig", current)
    if getattr(current, "_mpk", None) != __name__:
        mod.traceback = _RememberingTraceback(orig, __name__)


class _TbNames:
    """IPython's `shell.compile.format_code_name`: how a frame's file is named ("Cell In[7]")."""

    def __init__(self, count):
        self.count = count

    def format_code_name(self, name):
        import re
        m = re.search(r"__marimo__cell_(.+?)_\.py$", name or "")
        if m is None:
            return None
        cell = m.group(1)
        if cell == "__scratch__":
            # state.py compiles each execute under a file of its own: ...-In<N>/__marimo__cell___scratch___.py
            n = re.search(r"marimo-pair-kernel[/\\][^/\\]*-In(\d+)[/\\]", name)
            return "Cell", "In[%s]" % ((n and int(n.group(1))) or self.count)
        title = _tb_cell_name(cell)
        return "Cell", ("%s (%s)" % (title, cell)) if title else cell


def _tb_cell_name(cell):
    try:
        from marimo._messaging.notebook.document import get_current_document
        found = get_current_document().get(cell)
        return (found.name or None) if found is not None else None
    except Exception:
        return None


class _TbHooks:
    def synchronize_with_editor(self, *args, **kwargs):
        pass


class _TbShell:
    """What ultratb asks of `get_ipython()`: cell names, the editor hook, the debugger class."""

    def __init__(self, count):
        self.compile = _TbNames(count)
        self.hooks = _TbHooks()

    @property
    def debugger_cls(self):
        from IPython.core.debugger import Pdb
        return Pdb


def _tb_user_offset(tb):
    """How many frames precede the user's code (ipykernel's tb_offset): marimo's runner, the scratch
    cell that hands the code to the runtime, and the runtime's own frames."""
    frames = []
    t = tb
    while t is not None:
        frames.append(t.tb_frame.f_code.co_filename)
        t = t.tb_next
    first = next((i for i, name in enumerate(frames) if "__marimo__cell_" in name), None)
    if first is None:
        return 0
    k = first + 1
    while k < len(frames) and frames[k] == "<marimo-pair-kernel>":
        k += 1
    return k if k > first + 1 else first


def format_error(count, mode="Context"):
    """The last failed kernel run's exception as ipykernel sends it (ename, evalue, traceback).

    None when there is none, or no IPython here (the kernel then lays out marimo's text). The
    lines come from linecache, where state.py put each execute's code under a file
    name of its own.
    """
    import json
    exc = _TRACEBACK_STATE.pop("last", None)
    result = None
    if exc is not None:
        try:
            result = _tb_format(exc, count, mode)
        except Exception:  # no IPython here, or one whose ultratb we do not know
            result = None
    return {"marimo_pair_kernel": json.dumps(result)}


def _tb_format(exc, count, mode):
    import IPython
    from IPython.core import ultratb
    major = int(IPython.version_info[0])
    theme = {"theme_name": "neutral"} if major >= 9 else {"color_scheme": "Neutral"}
    formatter = ultratb.AutoFormattedTB(mode=mode, **theme)
    modules = [ultratb]
    try:
        from IPython.core import tbtools
        modules.append(tbtools)
    except Exception:
        pass
    offset = _tb_user_offset(exc.__traceback__)
    if isinstance(exc, SyntaxError):
        # As ipykernel's showsyntaxerror: IPython's SyntaxTB, with the frames only when the code
        # that ran raised it (not when the user's code could not be compiled).
        import traceback
        tb = exc.__traceback__
        for _ in range(offset):
            tb = tb.tb_next if tb is not None else None
        syntax = ultratb.SyntaxTB(**theme)
        elist = traceback.extract_tb(tb) if tb is not None else []
        formatter = syntax
        args = (type(exc), exc, elist)
    else:
        # Past marimo's and our frames by hand: IPython 9 ignores tb_offset (it skips IPython's own).
        tb = exc.__traceback__
        for _ in range(offset):
            tb = tb.tb_next if tb is not None else None
        args = (type(exc), exc, tb)
    shell = _TbShell(count)
    saved = [(m, m.__dict__.get("get_ipython")) for m in modules if "get_ipython" in m.__dict__]
    for m, _ in saved:
        m.get_ipython = lambda shell=shell: shell
    try:
        if isinstance(exc, SyntaxError):
            stb = formatter.structured_traceback(*args)
        else:
            stb = formatter.structured_traceback(*args, tb_offset=0)
    finally:
        for m, fn in saved:
            m.get_ipython = fn
    return {
        "ename": type(exc).__name__,
        "evalue": str(exc),
        "traceback": [str(x) for x in stb],
        "ipython": IPython.__version__,
    }
