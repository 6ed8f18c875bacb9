"""IPython's other everyday magics, answered in the notebook's process as IPython answers them:
files (%%writefile), scripts (%%bash, %%sh, %%script), rich cells (%%html, %%markdown, ...),
%%capture, the shell aliases (%ls, %cat, %mkdir, ...), %sx/%system and %set_env.

They run where the code runs: a file is written in the notebook process's working directory,
a script sees its environment. Looked up after magics.py (__init__.py's `wire`).
"""

import sys

from . import hooks, late, magics, shell, values

# IPython's default aliases on POSIX (IPython.core.alias.default_aliases): `%l` is the line.
_LS = "ls -F" + (" --color" if sys.platform.startswith("linux") else "")
ALIASES = {
    "mkdir": "mkdir", "rmdir": "rmdir", "mv": "mv", "rm": "rm", "cp": "cp", "cat": "cat",
    "ls": _LS, "ll": _LS.replace("-F", "-F -o"),
    "lf": _LS.replace("-F", "-F -o") + " %l | grep ^-", "lk": _LS.replace("-F", "-F -o") + " %l | grep ^l",
    "ldir": _LS.replace("-F", "-F -o") + " %l | grep /$", "lx": _LS.replace("-F", "-F -o") + " %l | grep ^-..x",
}


def _alias(name):
    def line_magic(line):
        cmd = ALIASES[name]
        cmd = cmd.replace("%l", line) if "%l" in cmd else (cmd + " " + line).rstrip()
        return shell.system(cmd, shell._call()[0])
    line_magic.__name__ = "line_magic_" + name
    return line_magic


for _name in ALIASES:
    globals()["line_magic_" + _name] = _alias(_name)


line_magic_reload_ext = magics.line_magic_load_ext


def line_magic_sx(line):
    """`%sx cmd` / `%system cmd`: the command's output lines, as `!!cmd`."""
    return shell.getoutput(line)


line_magic_system = line_magic_sx


def line_magic_set_env(line):
    import os
    import re
    m = re.match(r"^\s*(\S+)\s+(.*?)\s*$", line or "")
    if m is None:
        raise shell.UsageError("usage is 'set_env var val'")
    os.environ[m.group(1)] = m.group(2)
    print("env: %s=%s  (set in the marimo notebook's process: the person's cells see it too)" % m.groups())


def _argv(line):
    import shlex
    try:
        return shlex.split(line)
    except ValueError as e:
        raise shell.UsageError("the magic's line could not be read (%s): %r" % (e, line)) from None


# -- %%writefile ----------------------------------------------------------------------------------

def cell_magic_writefile(line, cell):
    import os
    import re
    words = _argv(line)
    append = any(w in ("-a", "--append") for w in words)
    names = [w for w in words if w not in ("-a", "--append")]
    if len(names) != 1 or names[0].startswith("-"):
        raise shell.UsageError("usage: %%%%writefile [-a] FILENAME, then the file's text below (got %r)" % line)
    filename = names[0]
    if re.match(r"^('.*')|(\".*\")$", filename):
        filename = filename[1:-1]
    filename = os.path.expanduser(filename)
    if os.path.exists(filename):
        print(("Appending to %s" if append else "Overwriting %s") % filename)
    else:
        print("Writing %s" % filename)
    with open(filename, "a" if append else "w", encoding="utf-8") as f:
        f.write(cell)


cell_magic_file = cell_magic_writefile


# -- %%script, %%bash, %%sh, ... ------------------------------------------------------------------

_SCRIPT_FLAGS = ("--no-raise-error", "--bg", "--proc", "--out", "--err")


def cell_magic_script(line, cell):
    """Run the cell with a program (its stdin, as IPython does), streaming its stdout and stderr."""
    words = _argv(line)
    raise_error = "--no-raise-error" not in words
    words = [w for w in words if w != "--no-raise-error"]
    if any(w.split("=")[0] in _SCRIPT_FLAGS for w in words):
        raise shell.UsageError("%%%%script's --bg, --proc, --out and --err can't run here: the script runs "
                               "in the notebook's process while this execute waits for it. Drop the option.")
    if not words:
        raise shell.UsageError("%%script needs a program: %%script bash (or use %%bash, %%sh, %%python3)")
    return _script(words, cell, raise_error)


def _shebang(program):
    def cell_magic(line, cell):
        return cell_magic_script((program + " " + line).strip(), cell)
    cell_magic.__name__ = "cell_magic_" + program
    return cell_magic


cell_magic_bash = _shebang("bash")
cell_magic_sh = _shebang("sh")
cell_magic_python3 = _shebang("python3")
cell_magic_perl = _shebang("perl")
cell_magic_ruby = _shebang("ruby")


def _script(argv, cell, raise_error):
    import os
    import select
    import signal
    import subprocess
    import sys
    if not cell.endswith("\n"):
        cell += "\n"
    try:
        popen = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 start_new_session=os.name != "nt")
    except FileNotFoundError:
        print("Couldn't find program: %r" % argv[0])
        return None
    streams = {popen.stdout.fileno(): sys.stdout, popen.stderr.fileno(): sys.stderr}
    try:
        try:
            popen.stdin.write(cell.encode("utf8", "replace"))
            popen.stdin.close()
        except BrokenPipeError:
            pass
        decoders = {fd: __import__("codecs").getincrementaldecoder("utf-8")(errors="replace") for fd in streams}
        while streams:
            ready = select.select(list(streams), [], [])[0]
            for fd in ready:
                data = os.read(fd, 65536)
                if not data:
                    del streams[fd]
                    continue
                text = decoders[fd].decode(data)
                if text:
                    out = sys.stdout if fd == popen.stdout.fileno() else sys.stderr
                    out.write(text)
                    out.flush()
        code = popen.wait()
    except KeyboardInterrupt:
        # The kernel answers an interrupt as KeyboardInterrupt (IPython's %%script prints
        # "Process is interrupted." instead); the program and its children stop either way.
        shell._kill(popen, signal)
        raise
    finally:
        for pipe in (popen.stdout, popen.stderr):
            pipe.close()
        if popen.poll() is None:
            shell._kill(popen, signal)
    if raise_error and code != 0:
        raise subprocess.CalledProcessError(code, cell.encode("utf8", "replace"))
    return None


# -- %%html, %%markdown, %%latex, %%svg, %%javascript ------------------------------------------------

def _rich(mime):
    def cell_magic(line, cell):
        data = {"text/plain": "<IPython.core.display.%s object>" % _RICH_NAMES[mime], mime: cell}
        isolated = mime == "text/html" and "--isolated" in line.split()  # %%html --isolated: an iframe
        hooks.publish(data, {mime: {"isolated": True}} if isolated else {})
    return cell_magic


_RICH_NAMES = {"text/html": "HTML", "text/markdown": "Markdown", "text/latex": "Latex",
               "image/svg+xml": "SVG", "application/javascript": "Javascript"}
cell_magic_html = cell_magic_HTML = _rich("text/html")
cell_magic_markdown = _rich("text/markdown")
cell_magic_latex = _rich("text/latex")
cell_magic_javascript = cell_magic_js = _rich("application/javascript")


def cell_magic_svg(line, cell):
    import re
    # As IPython's SVG(): only the <svg> element itself is kept.
    m = re.search(r"<svg\b.*</svg>", cell, re.S)
    hooks.publish({"text/plain": "<IPython.core.display.SVG object>", "image/svg+xml": m.group(0) if m else cell}, {})


cell_magic_SVG = cell_magic_svg


# -- %%capture ---------------------------------------------------------------------------------

def cell_magic_capture(line, cell):
    """Run the cell, keeping its prints and displays instead of showing them (IPython's CapturedIO)."""
    import io
    import sys
    words = _argv(line)
    flags = {w for w in words if w.startswith("--")}
    unknown = flags - {"--no-stdout", "--no-stderr", "--no-display"}
    names = [w for w in words if not w.startswith("--")]
    if unknown or len(names) > 1:
        raise shell.UsageError("usage: %%capture [--no-stdout] [--no-stderr] [--no-display] [NAME] (got %r)" % line)
    out, err, outputs = io.StringIO(), io.StringIO(), []
    saved = sys.stdout, sys.stderr, late._emit
    if "--no-stdout" not in flags:
        sys.stdout = out
    if "--no-stderr" not in flags:
        sys.stderr = err
    if "--no-display" not in flags:
        def keep(msg):
            if msg.get("k") == "display":
                outputs.append((msg.get("data") or {}, msg.get("metadata") or {}))
            else:
                saved[2](msg)
        late._emit = keep
    try:
        value = _run_cell(cell)
        if value is not None and "--no-display" not in flags:
            b = values.bundle(value)
            if b is not None:
                outputs.append((b["data"], b["metadata"]))
    finally:
        sys.stdout, sys.stderr, late._emit = saved
    if names:
        shell._bind({names[0]: _captured(out.getvalue(), err.getvalue(), outputs)})


def _run_cell(cell):
    """The cell's code where the magic was called; the last expression's value, as a cell's."""
    import ast
    glob, local, _ = shell._call()
    tree = ast.parse(magics._transform(cell))
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, "<capture>", "exec"), glob, local)
    return eval(compile(last, "<capture>", "eval"), glob, local) if last is not None else None


def _captured(stdout, stderr, outputs):
    """IPython's CapturedIO where IPython is, showing through this kernel; else the same shape."""
    try:
        from IPython.utils.capture import CapturedIO, RichOutput
    except Exception:
        CapturedIO = RichOutput = None

    if CapturedIO is None:
        class Output:
            def __init__(self, data, metadata):
                self.data, self.metadata = data, metadata

            def display(self):
                hooks.publish(self.data, self.metadata)

            def _repr_mimebundle_(self, include=None, exclude=None):
                return self.data, self.metadata

        class Captured:
            """The captured output (IPython's CapturedIO): .stdout, .stderr, .outputs, .show()."""

            def __init__(self):
                self._stdout, self._stderr = stdout, stderr
                self.outputs = [Output(d, m) for d, m in outputs]

            def __repr__(self):
                return "<IPython.utils.capture.CapturedIO object at %#x>" % id(self)

            def __str__(self):
                return self._stdout

            stdout = property(lambda self: self._stdout)
            stderr = property(lambda self: self._stderr)

            def show(self):
                _show(self.stdout, self.stderr, self.outputs)

            __call__ = show

        return _as_ipythons(Captured)()

    class Shown(RichOutput):
        def display(self):
            hooks.publish(self.data, self.metadata)

    class Captured(CapturedIO):
        @property
        def outputs(self):
            return [Shown(**k) for k in self._outputs]

        def show(self):
            _show(self.stdout, self.stderr, self.outputs)

        __call__ = show

    from io import StringIO
    return _as_ipythons(Captured)(StringIO(stdout), StringIO(stderr), [{"data": d, "metadata": m} for d, m in outputs])


def _show(stdout, stderr, outputs):
    """CapturedIO.show(): the prints again, and the displays through this kernel."""
    import sys
    sys.stdout.write(stdout)
    sys.stderr.write(stderr)
    for o in outputs:
        o.display()


def _as_ipythons(cls):
    """Named as IPython's class, so `type(cap).__name__` and its repr read the same as in IPython."""
    cls.__name__ = cls.__qualname__ = "CapturedIO"
    cls.__module__ = "IPython.utils.capture"
    return cls


# -- %pip list|show|freeze|check: pip itself, in the notebook's Python ---------------------------------

def pip(line):
    """IPython's %pip for the commands that change nothing: `python -m pip LINE` as a shell line."""
    import importlib.util
    import shlex
    import sys
    if importlib.util.find_spec("pip") is None:
        raise shell.UsageError(
            "The notebook's Python (%s) has no pip (a uv or --sandbox environment has none): `uv pip %s` "
            "in a terminal there, or %%packages add NAME to install." % (sys.executable, line))
    shell.system("%s -m pip %s" % (shlex.quote(sys.executable), line), {})


# -- %load: the file's text, read where the notebook runs (the kernel puts it in the cell) -----------

def read_source(path):
    """A file's text for %load, from the notebook process's working directory, or why not."""
    import json
    import os
    full = os.path.abspath(os.path.expanduser(path))
    try:
        with open(full, encoding="utf-8") as f:
            answer = {"text": f.read(), "path": full}
    except (OSError, UnicodeDecodeError) as e:
        answer = {"error": "%s: %s" % (type(e).__name__, e.strerror if isinstance(e, OSError) else e),
                  "path": full}
    return {"marimo_pair_kernel": json.dumps(answer)}
