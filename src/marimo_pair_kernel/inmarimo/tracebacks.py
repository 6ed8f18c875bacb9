"""Tracebacks laid out by IPython's own formatter, inside marimo (see __init__.py).

marimo prints a scratchpad exception as plain text on stderr, and the kernel can only parse
that text back (tracebacks.py). Where the notebook's Python has IPython, the exception object
itself is better: IPython's `ultratb` gives exactly what ipykernel sends, for the IPython
installed there, 8 or 9, in every `%xmode` (Verbose shows local values, which no text has).

So when a kernel run fails, state.py's `run` hands the exception, as it leaves the user's code,
to `format_error` here with the execute's count and the kernel's %xmode mode (both travel in
the run's short call line), and sends the layout back with the failure itself, as a display
line `{"k": "error", ...}` on the run's stdout: the kernel needs no second request. Printing is
left as it is: marimo's text still follows on stderr, and the kernel lays that out itself when
IPython is absent here. The frames shown start at the user's code (state.py compiles each
execute under a file of its own, whose lines linecache keeps): the runtime's frames are skipped.
"""


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
    """How many frames precede the user's code (ipykernel's tb_offset): the runtime's own, the
    ones `run` passes through on its way to the code it compiled."""
    k = 0
    while tb is not None and tb.tb_frame.f_code.co_filename == "<marimo-pair-kernel>":
        k += 1
        tb = tb.tb_next
    return k


def format_error(exc, count, mode="Context"):
    """`exc`, raised in a kernel run, as ipykernel sends it: {ename, evalue, traceback, ipython}.

    None when there is no IPython here, or one whose ultratb we do not know (the kernel then
    lays out marimo's text). The lines come from linecache, where state.py put each execute's
    code under a file name of its own.
    """
    try:
        return _tb_format(exc, count, mode)
    except Exception:
        return None


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
