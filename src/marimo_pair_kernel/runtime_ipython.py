"""IPython's everyday magics and `!` lines, answered in the notebook's process (runtime, see runtime.py).

The kernel turns `%time x`, `x = !ls`, `%%timeit` ... into IPython's own calls
(`get_ipython().run_line_magic(...)`, `.system(...)`, `.getoutput(...)`, see transform.py);
`install_ipython` puts a `get_ipython()` into the notebook's namespace that answers them here,
for the kernel's runs only (in a person's cell the name stays undefined, as marimo has it).
`run_line_magic(name, line)` calls `line_magic_<name>(line)` from this runtime's namespace
(`cell_magic_<name>(line, cell)` for `%%name`): other runtime files add magics the same way.
The code a magic runs (`%time`, `%run`, ...) runs in the namespace of the code that called it:
the one the user's code runs in.

The notebook's Python may lack IPython: its pieces (SList, TimeitResult, the `$name`
expansion) are used when it is there, and reproduced here when it is not.
"""

_IP = {}  # the shell object, the call in progress, the figure format


class UsageError(Exception):
    """A magic used in a way that can't work here: the message says what to do instead."""


# -- the shell: what `get_ipython()` gives the kernel's code ---------------------------------

def _in_person_cell():
    """True inside a person's marimo cell (not the kernel's own scratchpad run)."""
    import sys
    f = sys._getframe(1)
    while f is not None:
        co = f.f_code
        if co.co_name == "<module>" and "__marimo__cell_" in co.co_filename:
            # As runtime.py's _in_our_run: the user's code (runtime_state.run) has a scratch-like
            # file name of ours; the cell around it decides.
            if "__scratch__" in co.co_filename and any(n.endswith("_mpk_value") for n in co.co_names):
                return False
            if "marimo-pair-kernel" not in co.co_filename:
                return True
        f = f.f_back
    return False  # a thread of ours (a display updated later): answered


def get_ipython(_mpk_hidden=False):
    """IPython's `get_ipython()` for the kernel's code: magics and `!` lines run here."""
    if _in_person_cell():
        raise NameError("name 'get_ipython' is not defined")
    shell = _IP.get("shell")
    if shell is None:
        shell = _IP["shell"] = _Shell()
    shell._hidden = bool(_mpk_hidden)
    return shell


get_ipython._mpk = True


def install_ipython(ns):
    """Put `get_ipython` into the notebook's namespace, unless the notebook has its own."""
    current = ns.get("get_ipython")
    if current is None or getattr(current, "_mpk", False):
        ns["get_ipython"] = get_ipython


def _user_ns():
    fn = globals().get("current_user_ns")  # the pair's own names (runtime_state.py), when present
    if fn is not None:
        try:
            ns = fn()
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
        answer = json.loads(globals()["complete"](code, line, column, ns)["marimo_pair_kernel"])
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
        answer = json.loads(globals()["inspect_name"](name, bool(detail_level), ns)["marimo_pair_kernel"])
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


def _dispatch(prefix, name, args, glob, local, hidden):
    fn = globals().get(prefix + name)
    if fn is None:
        form = "%%" if prefix.startswith("cell") else "%"
        if prefix.startswith("line") and globals().get("cell_magic_" + name):
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
    if ns is not glob and globals().get("current_user_ns") is not None:
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


# -- %time, %timeit, %prun -----------------------------------------------------------------------

def _format_time(timespan, precision=3):
    try:
        from IPython.core.magics.execution import _format_time as fmt
        return fmt(timespan, precision)
    except Exception:
        pass
    import math
    if timespan >= 60.0:
        parts, out, left = [("d", 86400), ("h", 3600), ("min", 60), ("s", 1)], [], timespan
        for suffix, length in parts:
            value = int(left / length)
            if value > 0:
                left = left % length
                out.append("%s%s" % (value, suffix))
            if left < 1:
                break
        return " ".join(out)
    units = ["s", "ms", "\xb5s", "ns"]
    order = min(-int(math.floor(math.log10(timespan)) // 3), 3) if timespan > 0.0 else 3
    return "%.*g %s" % (precision, timespan * [1, 1e3, 1e6, 1e9][order], units[order])


class _TimeitResult:
    """IPython's TimeitResult, for a notebook without IPython."""

    def __init__(self, loops, repeat, best, worst, all_runs, compile_time, precision):
        self.loops, self.repeat, self.best, self.worst = loops, repeat, best, worst
        self.all_runs, self.compile_time, self._precision = all_runs, compile_time, precision
        self.timings = [dt / loops for dt in all_runs]

    @property
    def average(self):
        import math
        return math.fsum(self.timings) / len(self.timings)

    @property
    def stdev(self):
        import math
        mean = self.average
        return (math.fsum([(x - mean) ** 2 for x in self.timings]) / len(self.timings)) ** 0.5

    def __str__(self):
        return ("{mean} \xb1 {std} per loop (mean \xb1 std. dev. of {runs} run{rp}, {loops:,} loop{lp} each)".format(
            mean=_format_time(self.average, self._precision), std=_format_time(self.stdev, self._precision),
            runs=self.repeat, loops=self.loops, rp="" if self.repeat == 1 else "s", lp="" if self.loops == 1 else "s"))

    def __repr__(self):
        return "<TimeitResult : " + str(self) + ">"


def _timeit_result(*args):
    try:
        from IPython.core.magics.execution import TimeitResult
        return TimeitResult(*args)
    except Exception:
        return _TimeitResult(*args)


def _options(line, spec):
    """IPython's `parse_options` for `-n 10 -r3 -q stmt`: ({letter: [values]}, the rest as typed).

    `spec` is getopt's ("n:r:q"); options end at the first word that is not one, and the rest
    keeps its spacing (it is code).
    """
    import re
    opts, rest = {}, line
    while True:
        m = re.match(r"\s*-([A-Za-z])(\S*)", rest)
        if m is None or m.group(1) not in spec:
            break
        letter, attached = m.group(1), m.group(2)
        takes = spec[spec.index(letter) + 1:spec.index(letter) + 2] == ":"
        rest = rest[m.end():]
        if takes:
            if not attached:
                v = re.match(r"\s*(\S+)", rest)
                if v is None:
                    raise UsageError("option -%s needs a value" % letter)
                attached, rest = v.group(1), rest[v.end():]
            opts.setdefault(letter, []).append(attached)
        elif attached:
            break  # `-x` that is code (`-1 + 2`): not an option
        else:
            opts.setdefault(letter, []).append(True)
    return opts, rest.strip()


def _int_opt(opts, letter, default):
    if letter not in opts:
        return default
    try:
        return int(opts[letter][-1])
    except ValueError:
        raise UsageError("-%s takes a whole number, not %r" % (letter, opts[letter][-1])) from None


def _cpu():
    """(user, system) CPU seconds of this process, as IPython's clock2 (getrusage: microseconds)."""
    try:
        import resource
        return resource.getrusage(resource.RUSAGE_SELF)[:2]
    except Exception:
        import os
        t = os.times()
        return t.user, t.system


def _transform(code):
    """IPython's transformers for code inside a magic (`%time !ls`), when IPython is here."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        return TransformerManager().transform_cell(code)
    except Exception:
        return code


def line_magic_time(line):
    return _time(line, None)


def cell_magic_time(line, cell):
    if line.strip():
        raise UsageError("Can't use statement directly after '%%time'!")
    return _time(None, cell)


def _time(line, cell):
    import ast
    import time
    glob, local, _ = _call()
    source = _transform(cell if cell is not None else line)
    tree = ast.parse(source)
    value = None
    if len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr):
        code = compile(ast.Expression(tree.body[0].value), "<timed eval>", "eval")
        mode = "eval"
    else:
        if len(tree.body) > 1 and isinstance(tree.body[-1], ast.Expr):
            value = compile(ast.Expression(tree.body[-1].value), "<timed exec>", "eval")
            tree = ast.Module(tree.body[:-1], [])
        code = compile(tree, "<timed exec>", "exec")
        mode = "exec"
    wall0 = time.time()
    cpu0 = _cpu()
    if mode == "eval":
        out = eval(code, glob, local)
    else:
        exec(code, glob, local)
        out = eval(value, glob, local) if value is not None else None
    cpu1 = _cpu()
    wall = time.time() - wall0
    user, sys_ = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
    print("CPU times: user %s, sys: %s, total: %s" % (_format_time(user), _format_time(sys_),
                                                      _format_time(user + sys_)))
    print("Wall time: %s" % _format_time(wall))
    return out


def line_magic_timeit(line):
    return _timeit(line, None)


def cell_magic_timeit(line, cell):
    return _timeit(line, cell)


def _timeit(line, cell):
    import timeit
    glob, local, _ = _call()
    opts, stmt = _options(line, "n:r:tcp:qo")
    if not stmt and cell is None:
        return None
    number = _int_opt(opts, "n", 0)
    repeat = _int_opt(opts, "r", max(7, timeit.default_repeat))
    precision = _int_opt(opts, "p", 3)
    setup, body = ("pass", _transform(stmt)) if cell is None else (_transform(stmt) or "pass", _transform(cell))
    for src, name in ((setup, "<magic-timeit-setup>"), (body, "<magic-timeit-stmt>")):
        compile(src, name, "exec")  # a syntax error is reported as the user's, not as timeit's template
    ns = dict(glob)
    if local:
        ns.update(local)
    t0 = time_clock()
    timer = timeit.Timer(body, setup, timer=timeit.default_timer, globals=ns)
    tc = time_clock() - t0
    if number == 0:
        for index in range(10):
            number = 10 ** index
            if timer.timeit(number) >= 0.2:
                break
    all_runs = timer.repeat(repeat, number)
    best, worst = min(all_runs) / number, max(all_runs) / number
    result = _timeit_result(number, repeat, best, worst, all_runs, tc, precision)
    if "q" not in opts:
        if worst > 4 * best and best > 0 and worst > 1e-6:
            print("The slowest run took %0.2f times longer than the fastest. This could mean that an "
                  "intermediate result is being cached." % (worst / best))
        print(result)
        if tc > 0.1:
            print("Compiler time: %.2f s" % tc)
    return result if "o" in opts else None


def time_clock():
    import time
    return time.perf_counter()


def line_magic_prun(line):
    return _prun(line, None)


def cell_magic_prun(line, cell):
    return _prun(line, cell)


def _prun(line, cell):
    import cProfile
    import io
    import pstats
    glob, local, _ = _call()
    opts, code = _options(line, "D:l:rs:T:q")
    if cell is not None:
        code += "\n" + cell
    code = _transform(code)
    ns = dict(glob)
    if local:
        ns.update(local)
    prof = cProfile.Profile()
    sys_exit = ""
    try:
        prof = prof.runctx(code, ns, ns)
    except SystemExit:
        sys_exit = "*** SystemExit exception caught in code being profiled."
    glob.update({k: v for k, v in ns.items() if k not in glob or glob[k] is not v})
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(*(opts.get("s") or ["time"]))
    lims = []
    for lim in opts.get("l") or []:
        for conv in (int, float, str):
            try:
                lims.append(conv(lim))
                break
            except ValueError:
                continue
    stats.print_stats(*lims)
    output = buf.getvalue().rstrip()
    if "q" not in opts:
        print(output)
    if sys_exit:
        print(sys_exit)
    if opts.get("T"):
        with open(opts["T"][-1], "w", encoding="utf-8") as f:
            f.write(output)
        print("\n*** Profile printout saved to text file %r." % opts["T"][-1])
    if opts.get("D"):
        prof.dump_stats(opts["D"][-1])
        print("\n*** Profile stats marshalled to file %r." % opts["D"][-1])
    return stats if "r" in opts else None


# -- %env, %pwd, %cd ----------------------------------------------------------------------------

def line_magic_env(line):
    import os
    import re
    line = line.strip()
    if not line:
        # As IPython: names that look like secrets are hidden.
        env = dict(os.environ)
        for key in env:
            if any(s in key.lower() for s in ("key", "token", "secret", "pass")):
                env[key] = "<hidden>"
        return env
    m = re.match(r"^([^\s=]+)\s*(?:=\s*|\s+)(.*)$", line)
    if m is None:
        try:
            return os.environ[line]
        except KeyError:
            raise UsageError("Environment does not have key: %s" % line) from None
    name, value = m.group(1), m.group(2)
    os.environ[name] = value
    print("env: %s=%s  (set in the marimo notebook's process: the person's cells see it too)" % (name, value))
    return None


def line_magic_pwd(line):
    import os
    return os.getcwd()


CD_ASKS = (
    "%%cd moves the working directory of the marimo notebook's process, which the person's own "
    "cells share: their relative paths would change too. Run `%%cd --yes %s` to do it anyway, or put "
    "`import os; os.chdir(%r)` in a notebook cell so the notebook says so itself."
)


def line_magic_cd(line):
    import os
    words = line.split()
    yes = "--yes" in words
    quiet = "-q" in words
    rest = " ".join(w for w in words if w not in ("--yes", "-q"))
    target = os.path.expanduser(rest.strip("'\"") or "~")
    if rest == "-":
        target = _IP.get("oldpwd") or os.getcwd()
    if not yes:
        raise UsageError(CD_ASKS % (rest or "~", target))
    if not os.path.isdir(target):
        raise UsageError("[Errno 2] No such file or directory: %r" % target)
    _IP["oldpwd"] = os.getcwd()
    os.chdir(target)
    _IP["chdir_said"] = os.getcwd()  # this magic says where it went: runtime_state need not
    if not quiet:
        print(os.getcwd())
    return None


# -- %load_ext, %autoreload, %config, %matplotlib, %precision, %debug, %pdb --------------------

def line_magic_load_ext(line):
    name = line.strip()
    if not name:
        raise UsageError("Missing module name.")
    if name == "autoreload":
        return None  # always "loaded": %autoreload says what marimo does instead
    _say("%%load_ext %s: IPython extensions need IPython's own shell, which marimo's process does not run, "
         "so nothing was loaded. Import the library in the code instead." % name)
    return None


def _auto_reload_setting():
    try:
        from marimo._runtime.context import get_context
        return get_context().marimo_config["runtime"]["auto_reload"]
    except Exception:
        return None


def line_magic_autoreload(line):
    setting = _auto_reload_setting()
    now = " (now: %s)" % setting if setting else ""
    _say("%%autoreload %s: marimo reloads changed modules itself, through its own module autoreloader: "
         "set Runtime > 'On module change' (auto_reload) in the notebook's settings%s; nothing else changed."
         % (line.strip(), now))
    return None


FIGURE_FORMATS = ("png", "retina", "svg")


def line_magic_config(line):
    import re
    hidden = _call()[2]
    m = re.match(r"^\s*InlineBackend\.figure_formats?\s*=\s*(.+?)\s*$", line)
    if m:
        try:
            import ast
            value = ast.literal_eval(m.group(1))
        except Exception:
            value = m.group(1)
        asked = list(value) if isinstance(value, (set, list, tuple)) else [value]
        usable = [f for f in asked if f in FIGURE_FORMATS]
        if usable:
            set_figure_format(usable[0])
        left = [f for f in asked if f != (usable[0] if usable else None)]
        if left:
            _say("InlineBackend.figure_format %s: only one of %s is drawn here; %s."
                 % (", ".join(repr(f) for f in left), ", ".join(repr(f) for f in FIGURE_FORMATS),
                    "figures are %r" % usable[0] if usable else "figures stay %r" % _IP.get("figure_format", "png")))
        return None
    if not hidden:
        key = line.split("=", 1)[0].strip() or "(no key)"
        _say("%%config %s: this kernel runs code in marimo's process, not IPython's shell, so only "
             "InlineBackend.figure_format (png, retina, svg) means something here; nothing changed." % key)
    return None


def set_figure_format(fmt):
    """Figures (values, displays, plt.show()) drawn as png, retina (2x png, half-size metadata) or svg."""
    _IP["figure_format"] = fmt
    f = globals()["_formatter"]()
    if f is None or "image/png" not in getattr(f, "formatters", {}):  # the runtime's own, not IPython's
        _say("figures are drawn by marimo here (IPython is not in the notebook's environment), so "
             "figure_format %r cannot apply." % fmt)
        return
    png, svg = f.formatters["image/png"], f.formatters["image/svg+xml"]
    for formatter in (png, svg):
        formatter.pop("matplotlib.figure.Figure", None)
        try:
            import sys
            if "matplotlib.figure" in sys.modules:
                formatter.pop(sys.modules["matplotlib.figure"].Figure, None)
        except Exception:
            pass
    if fmt == "svg":
        svg.for_type_by_name("matplotlib.figure", "Figure", _figure_svg)
    elif fmt == "retina":
        png.for_type_by_name("matplotlib.figure", "Figure", _figure_retina)
    else:
        png.for_type_by_name("matplotlib.figure", "Figure", globals()["_figure_png"])


def _figure_retina(fig):
    """IPython's retina_figure: a PNG at twice the dpi, with the 1x size as width/height metadata."""
    from IPython.core.pylabtools import retina_figure
    w, h = fig.get_size_inches() * fig.dpi
    if 4 * w * h > globals()["MAX_FIG_PIXELS"]:
        return globals()["_figure_png"](fig)  # too big to double: drawn (and noted) as runtime.py does
    return retina_figure(fig, base64=True)


def _figure_svg(fig):
    from IPython.core.pylabtools import print_figure
    return print_figure(fig, "svg", bbox_inches="tight")


def line_magic_matplotlib(line):
    gui = (line.split() or ["inline"])[0]
    if gui not in ("inline", "auto", "agg"):
        _say("%%matplotlib %s is not available here: figures made by this kernel's code are shown inline "
             "as images (the marimo page keeps its own plots). Carry on with inline." % gui)
    return None


def line_magic_precision(line):
    f = globals()["_formatter"]()
    if f is None or not hasattr(getattr(f, "formatters", {}).get("text/plain"), "float_precision"):
        _say("%precision needs IPython in the notebook's environment (it sets IPython's display "
             "formatter); values are shown with repr() here.")
        return None
    pt = f.formatters["text/plain"]
    try:
        pt.float_precision = line.strip()
    except Exception as e:
        raise UsageError("%%precision %s: %s" % (line.strip(), e)) from None
    return pt.float_format


DEBUG_REFUSED = (
    "%%%s is not available here: post-mortem debugging needs a debugger in marimo's process, which "
    "this kernel can't reach from Jupyter. Print or display the values instead, or debug the code in "
    "a marimo cell (breakpoint() there opens marimo's own debugger)."
)


def line_magic_debug(line):
    raise UsageError(DEBUG_REFUSED % "debug")


def line_magic_pdb(line):
    _say(DEBUG_REFUSED % ("pdb " + line.strip()).strip())
    return None


def line_magic_pinfo(line):
    return _pinfo(line, 0)


def line_magic_pinfo2(line):
    return _pinfo(line, 1)


def _pinfo(name, detail):
    import json
    glob, local, _ = _call()
    ns = _visible(glob)
    ns.update(local or {})
    answer = json.loads(globals()["inspect_name"](name.strip(), bool(detail), ns)["marimo_pair_kernel"])
    if not answer.get("found"):
        print("Object `%s` not found." % name.strip())
    else:
        print(answer.get("text", ""))


# -- %run -------------------------------------------------------------------------------------------

def line_magic_run(line):
    import builtins
    import os
    import shlex
    import sys
    try:
        words = shlex.split(line)
    except ValueError as e:
        raise UsageError("%%run: cannot split the arguments: %s" % e) from None
    interactive = False
    while words and words[0].startswith("-") and words[0] != "-":
        opt = words.pop(0)
        if opt == "-i":
            interactive = True
        elif opt in ("-d", "-p", "-t", "-m", "-n", "-e", "-N", "-G"):
            raise UsageError("%%run %s is not available here: only %%run [-i] FILE [ARGS] runs in marimo's process."
                             % opt)
        else:
            raise UsageError("%%run: unknown option %s. Usage: %%run [-i] FILE [ARGS]" % opt)
    if not words:
        raise UsageError("%run: which file? Usage: %run [-i] FILE [ARGS]")
    path = os.path.expanduser(words[0])
    if not os.path.isfile(path) and os.path.isfile(path + ".py"):
        path += ".py"
    if not os.path.isfile(path):
        raise UsageError("File %r not found (looked in %s, the notebook process's working directory)."
                         % (words[0], os.getcwd()))
    with open(path, "rb") as f:
        source = f.read()
    glob = _call()[0]
    ns = dict(glob) if interactive else {}
    ns.update({"__name__": "__main__", "__file__": os.path.abspath(path), "__builtins__": builtins})
    code = compile(source, path, "exec")
    saved_argv = sys.argv
    sys.argv = [path] + words[1:]
    try:
        exec(code, ns)
    except SystemExit as e:
        if e.code not in (None, 0):
            _say("%s exited with SystemExit(%r)." % (words[0], e.code))
    finally:
        sys.argv = saved_argv
        _bind({k: v for k, v in ns.items() if k not in ("__name__", "__file__", "__builtins__", "__doc__")})
    return None


# -- notes --------------------------------------------------------------------------------------

def _say(text):
    """A one-line note on stderr (quiet in hidden executes, as VS Code's start-up code is)."""
    import sys
    if _call()[2]:
        return
    try:
        sys.stderr.write("marimo-pair-kernel: " + text + "\n")
    except Exception:
        pass
