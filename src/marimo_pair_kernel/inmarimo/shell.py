"""IPython's everyday magics and `!` lines, answered in the notebook's process (see __init__.py).

The kernel turns `%time x`, `x = !ls`, `%%timeit` ... into IPython's own calls
(`get_ipython().run_line_magic(...)`, `.system(...)`, `.getoutput(...)`, see transform.py);
`install_ipython` puts a `get_ipython()` into the notebook's namespace that answers them here,
for the kernel's runs only (in a person's cell the name stays undefined, as marimo has it).
`run_line_magic(name, line)` calls `line_magic_<name>(line)` of magics.py or state.py
(`cell_magic_<name>(line, cell)` for `%%name`; see `_magic`). Both sit above this module (they
use its shell state), so __init__.py's `wire` hands them in when the package loads (`ABOVE`).
The code a magic runs (`%time`, `%run`, ...) runs in the namespace of the code that called it:
the one the user's code runs in.

The notebook's Python may lack IPython: its pieces (SList, TimeitResult, the `$name`
expansion) are used when it is there, and reproduced here when it is not.
"""

from . import completion, late

_IP: dict = {}  # the shell object, the call in progress, the figure format
# What the layers above give this one (put in by __init__.py's `wire`): the modules whose
# `line_magic_<name>` / `cell_magic_<name>` answer magics, in the order they are looked up
# (magics.py, state.py), and state.py's `current_user_ns`.
ABOVE: dict = {"magics": (), "user_ns": lambda: None}


class UsageError(Exception):
    """A magic used in a way that can't work here: the message says what to do instead."""


# -- the shell: what `get_ipython()` gives the kernel's code ---------------------------------

def _in_person_cell():
    """True inside a person's marimo cell (not the kernel's own scratchpad run, nor a thread of
    ours: a display updated later is answered)."""
    import sys
    return late.cell_owner(sys._getframe(1)) == "person"


def get_ipython(_mpk_hidden=False):
    """IPython's `get_ipython()` for the kernel's code: magics and `!` lines run here."""
    if _in_person_cell():
        raise NameError("name 'get_ipython' is not defined")
    shell = _IP.get("shell")
    if shell is None:
        shell = _IP["shell"] = _Shell()
    shell._hidden = bool(_mpk_hidden)
    return shell


get_ipython._mpk = True  # type: ignore[attr-defined]


def install_ipython(ns):
    """Put `get_ipython` into the notebook's namespace, unless the notebook has its own."""
    current = ns.get("get_ipython")
    if current is None or getattr(current, "_mpk", False):
        ns["get_ipython"] = get_ipython


def _user_ns():
    try:
        ns = ABOVE["user_ns"]()  # the pair's own names (state.py)
    except Exception:
        ns = None
    if ns is not None:
        return ns
    import sys
    return sys.modules["__main__"].__dict__


class _Kernel:
    """`get_ipython().kernel`: completion and inspection as ipykernel's replies, from the live notebook."""

    def do_complete(self, code, cursor_pos=None):
        import json
        cursor_pos = len(code) if cursor_pos is None else cursor_pos
        before = code[:cursor_pos]
        line = before.count("\n") + 1
        column = len(before.rsplit("\n", 1)[-1])
        ns = _visible(_caller_ns(2)[0])
        answer = json.loads(completion.complete(code, line, column, ns)["marimo_pair_kernel"])
        start = cursor_pos - int(answer.get("start_back", 0))
        return {"status": "ok", "matches": list(answer.get("matches", [])), "cursor_start": start,
                "cursor_end": cursor_pos, "metadata": {}}

    def do_inspect(self, code, cursor_pos=None, detail_level=0, omit_sections=()):
        import json
        import re
        cursor_pos = len(code) if cursor_pos is None else cursor_pos
        m = re.search(r"[A-Za-z_][\w.]*$", code[:cursor_pos])
        tail = re.match(r"\w*", code[cursor_pos:]).group(0)
        name = ((m.group(0) if m else "") + tail).strip(".")
        reply = {"status": "ok", "found": False, "data": {}, "metadata": {}}
        if not name:
            return reply
        ns = _visible(_caller_ns(2)[0])
        answer = json.loads(completion.inspect_name(name, bool(detail_level), ns)["marimo_pair_kernel"])
        if answer.get("found"):
            reply["found"] = True
            reply["data"] = {"text/plain": answer.get("text", "")}
        return reply


def _visible(glob):
    """The names code sees: the notebook's globals, then the pair's own, then the caller's."""
    import sys
    ns = dict(getattr(sys.modules.get("__main__"), "__dict__", None) or {})
    for layer in (_user_ns(), glob):
        ns.update((k, v) for k, v in layer.items() if k != "__builtins__")
    return ns


def _caller_ns(depth):
    """(globals, locals) of the frame `depth` levels above the caller."""
    import sys
    f = sys._getframe(depth + 1)
    return f.f_globals, (f.f_locals if f.f_locals is not f.f_globals else None)


class _Shell:
    """Enough of IPython's InteractiveShell for the calls IPython's transformers write."""

    _hidden = False

    def __init__(self):
        self.kernel = _Kernel()
        self.config = {}

    @property
    def user_ns(self):
        return _user_ns()

    def run_line_magic(self, magic_name, line, _stack_depth=1):
        glob, local = _caller_ns(_stack_depth)
        return _dispatch("line_magic_", magic_name, (line,), glob, local, self._hidden)

    def run_cell_magic(self, magic_name, line, cell):
        glob, local = _caller_ns(1)
        return _dispatch("cell_magic_", magic_name, (line, cell), glob, local, self._hidden)

    def magic(self, arg_s):
        name, _, line = arg_s.lstrip("%").partition(" ")
        return self.run_line_magic(name, line, _stack_depth=2)

    def system(self, cmd):
        glob, local = _caller_ns(1)
        return system(var_expand(cmd, glob, local), glob)

    def getoutput(self, cmd, split=True, depth=0):
        glob, local = _caller_ns(1 + depth)
        return getoutput(var_expand(cmd, glob, local), split)

    def var_expand(self, cmd, depth=0, formatter=None):
        glob, local = _caller_ns(1 + depth)
        return var_expand(cmd, glob, local)

    def ev(self, expr):
        glob, local = _caller_ns(1)
        return eval(expr, glob, local)

    def ex(self, cmd):
        glob, local = _caller_ns(1)
        exec(cmd, glob, local)

    def push(self, variables, interactive=True):
        ns = _user_ns()
        ns.update(variables)
        glob, _ = _caller_ns(1)
        if glob is not ns:
            glob.update(variables)


# Magics whose line is the user's code: IPython expands no `$name` / `{expr}` in them.
_NO_EXPAND = {"time", "timeit", "prun", "config", "pinfo", "pinfo2"}


def _magic(name):
    """The function behind a magic (`line_magic_time`, `cell_magic_timeit`, ...), or None."""
    for mod in ABOVE["magics"]:
        fn = getattr(mod, name, None)
        if fn is not None and name.startswith(("line_magic_", "cell_magic_")):
            return fn
    return None


def _dispatch(prefix, name, args, glob, local, hidden):
    fn = _magic(prefix + name)
    if fn is None:
        form = "%%" if prefix.startswith("cell") else "%"
        if prefix.startswith("line") and _magic("cell_magic_" + name):
            raise UsageError("%%%s is a cell magic: put %%%%%s on the first line of the cell and the code below."
                             % (name, name))
        raise UsageError("There is no magic %s%s. Run %%help to list the magics (marimo-pair's own magics, "
                         "such as %%cells or %%history, work only on a line of their own)." % (form, name))
    line = args[0]
    if name not in _NO_EXPAND:
        line = var_expand(line, glob, local)
    saved = _IP.get("call")
    _IP["call"] = (glob, local, hidden)
    try:
        return fn(line, *args[1:])
    finally:
        _IP["call"] = saved


def _call():
    """(globals, locals, hidden) of the magic being run."""
    call = _IP.get("call")
    if call is None:
        return _user_ns(), None, False
    return call


def _bind(names):
    """Names a magic binds (`%run`): where the code runs, and in the pair's own namespace."""
    glob = _call()[0]
    glob.update(names)
    ns = _user_ns()
    if ns is not glob:
        ns.update(names)


# -- `$name` and `{expr}` in magic lines and `!` commands, as IPython's var_expand -------------

def var_expand(cmd, glob, local=None):
    ns = dict(glob)
    if local:
        ns.update(local)
    try:
        from IPython.utils.text import DollarFormatter
        return DollarFormatter().vformat(cmd, args=[], kwargs=ns)
    except ImportError:
        pass
    except Exception:
        return cmd  # as IPython: a line that doesn't format is used as it is
    try:
        return _expand(cmd, ns)
    except Exception:
        return cmd


def _expand(cmd, ns):
    """IPython's DollarFormatter without IPython: `{expr}` evaluated, `$name` looked up, `$$` a `$`."""
    import re
    out, i = [], 0
    while i < len(cmd):
        c = cmd[i]
        if c == "{":
            if cmd.startswith("{{", i):
                out.append("{")
                i += 2
                continue
            depth, j = 1, i + 1
            while j < len(cmd) and depth:
                depth += {"{": 1, "}": -1}.get(cmd[j], 0)
                j += 1
            if depth:
                raise ValueError("unbalanced braces")
            expr = cmd[i + 1:j - 1]
            expr, _, spec = expr.partition(":") if not re.search(r"\[.*:.*\]|lambda", expr) else (expr, "", "")
            out.append(format(eval(expr, ns), spec))
            i = j
        elif c == "}" and cmd.startswith("}}", i):
            out.append("}")
            i += 2
        elif c == "$":
            m = re.match(r"\$(\$?[\w.]+)", cmd[i:])
            if m is None:
                out.append(c)
                i += 1
                continue
            word = m.group(1)
            out.append(word if word.startswith("$") else str(eval(word, ns)))
            i += m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


# -- `!cmd`, `!!cmd`, `x = !cmd` ---------------------------------------------------------------

PACKAGE_COMMAND = (
    "`!%s` in the middle of a cell can't go through marimo's package manager (code mode runs "
    "between cells). Put it on a line of its own (a cell with just that line), or use "
    "%%packages add NAME."
)


def _package_command(cmd):
    import re
    m = re.match(r"\s*((?:python3?\s+-m\s+)?pip3?\s+(?:un)?install|uv\s+pip\s+(?:un)?install|uv\s+(?:add|remove)"
                 r"|(?:conda|mamba)\s+(?:install|remove|uninstall))\b", cmd)
    return m.group(1) if m else None


def _run_shell(cmd, sink, terminal=True):
    """Run `cmd` with the notebook's shell, PATH and cwd; its output (stdout and stderr, as a
    terminal shows them) goes to `sink` while it runs. Interrupt stops it (and its children).
    Returns the exit code. `terminal`: on a pseudo-terminal, as IPython's `!` (pexpect) runs
    it, so output comes line by line; IPython's getoutput uses a pipe."""
    import codecs
    import os
    import select
    import signal
    import subprocess
    master = slave = None
    out, err = subprocess.PIPE, subprocess.STDOUT
    if terminal:
        try:
            import pty
            master, slave = pty.openpty()
            out = err = slave
        except Exception:
            pass
    shell = os.environ.get("SHELL") or "/bin/sh"
    if not os.path.exists(shell) or os.name == "nt":
        shell = None
    popen = subprocess.Popen([shell, "-c", cmd] if shell else cmd, shell=shell is None, stdin=subprocess.DEVNULL,
                             stdout=out, stderr=err, start_new_session=os.name != "nt", close_fds=True)
    if slave is not None:
        os.close(slave)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    try:
        while True:
            try:
                data = os.read(master, 65536) if master is not None else popen.stdout.read1(65536)
            except OSError:
                data = b""  # EIO: the command and its children closed the terminal
            if not data:
                break
            # What is already there goes out with it: a pty hands over 4 KB a read, and each write
            # is a console message of marimo's (1.3 MB of output took 2.8 s at one read a write).
            while master is not None and len(data) < 262144:
                try:
                    more = os.read(master, 65536) if select.select([master], [], [], 0)[0] else b""
                except OSError:
                    more = b""
                if not more:
                    break
                data += more
            text = decoder.decode(data)
            if text:
                sink(text.replace("\r\n", "\n"))
        rest = decoder.decode(b"", final=True)
        if rest:
            sink(rest)
        return popen.wait()
    except KeyboardInterrupt:
        _kill(popen, signal)
        raise
    finally:
        if master is not None:
            os.close(master)
        if popen.poll() is None:
            _kill(popen, signal)


def _kill(popen, signal):
    import os
    try:
        if os.name != "nt":
            os.killpg(popen.pid, signal.SIGINT)
        else:
            popen.terminate()
        popen.wait(timeout=2)
    except Exception:
        try:
            if os.name != "nt":
                os.killpg(popen.pid, signal.SIGKILL)
            else:
                popen.kill()
            popen.wait(timeout=2)
        except Exception:
            pass


def system(cmd, ns=None):
    """`!cmd`: output streamed as the command runs; `_exit_code` set, as IPython does."""
    import sys
    tool = _package_command(cmd)
    if tool:
        raise UsageError(PACKAGE_COMMAND % cmd.strip())
    if not cmd.strip():
        return None

    def sink(text):
        sys.stdout.write(text)
        sys.stdout.flush()

    code = _run_shell(cmd, sink)
    (ns if ns is not None else _user_ns())["_exit_code"] = code
    return None


def _slist():
    try:
        from IPython.utils.text import SList
        return SList
    except Exception:
        return list


def getoutput(cmd, split=True):
    """`x = !cmd`, `!!cmd`: the output's lines (IPython's SList when IPython is there)."""
    tool = _package_command(cmd)
    if tool:
        raise UsageError(PACKAGE_COMMAND % cmd.strip())
    chunks = []
    _run_shell(cmd, chunks.append, terminal=False)
    text = "".join(chunks)
    return _slist()(text.splitlines()) if split else text
