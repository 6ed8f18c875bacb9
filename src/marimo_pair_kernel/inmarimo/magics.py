"""IPython's everyday line and cell magics, answered in the notebook's process (see shell.py)."""

from . import completion, formatter, shell, values

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
                    raise shell.UsageError("option -%s needs a value" % letter)
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
        raise shell.UsageError("-%s takes a whole number, not %r" % (letter, opts[letter][-1])) from None


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
        raise shell.UsageError("Can't use statement directly after '%%time'!")
    return _time(None, cell)


def _time(line, cell):
    import ast
    import time
    glob, local, _ = shell._call()
    source = _transform(cell if cell is not None else line)
    t0 = time_clock()
    tree = ast.parse(source)
    tp = time_clock() - t0
    t0 = time_clock()
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
    tc = time_clock() - t0
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
    # IPython's thresholds: only a slow parse or compile is worth a line.
    if tc > 0.1:
        print("Compiler : %s" % _format_time(tc))
    if tp > 0.1:
        print("Parser   : %s" % _format_time(tp))
    return out


def line_magic_timeit(line):
    return _timeit(line, None)


def cell_magic_timeit(line, cell):
    return _timeit(line, cell)


def _timeit(line, cell):
    import timeit
    glob, local, _ = shell._call()
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
    glob, local, _ = shell._call()
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
            raise shell.UsageError("Environment does not have key: %s" % line) from None
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
        target = shell._IP.get("oldpwd") or os.getcwd()
    if not yes:
        raise shell.UsageError(CD_ASKS % (rest or "~", target))
    if not os.path.isdir(target):
        raise shell.UsageError("[Errno 2] No such file or directory: %r" % target)
    shell._IP["oldpwd"] = os.getcwd()
    os.chdir(target)
    shell._IP["chdir_said"] = os.getcwd()  # this magic says where it went: state.py need not
    if not quiet:
        print(os.getcwd())
    return None


# -- %load_ext, %autoreload, %config, %matplotlib, %precision, %debug, %pdb --------------------

def line_magic_load_ext(line):
    name = line.strip()
    if not name:
        raise shell.UsageError("Missing module name.")
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
    hidden = shell._call()[2]
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
            now = shell._IP.get("figure_format", "png")
            _say("InlineBackend.figure_format %s: only one of %s is drawn here; %s."
                 % (", ".join(repr(f) for f in left), ", ".join(repr(f) for f in FIGURE_FORMATS),
                    "figures are %r" % usable[0] if usable else "figures stay %r" % now))
        return None
    if not hidden:
        key = line.split("=", 1)[0].strip() or "(no key)"
        _say("%%config %s: this kernel runs code in marimo's process, not IPython's shell, so only "
             "InlineBackend.figure_format (png, retina, svg) means something here; nothing changed." % key)
    return None


def set_figure_format(fmt):
    """Figures (values, displays, plt.show()) drawn as png, retina (2x png, half-size metadata) or svg."""
    shell._IP["figure_format"] = fmt
    f = values._formatter()
    if f is None or "image/png" not in getattr(f, "formatters", {}):  # the runtime's own, not IPython's
        _say("figures are drawn by marimo here (IPython is not in the notebook's environment), so "
             "figure_format %r cannot apply." % fmt)
        return
    png, svg = f.formatters["image/png"], f.formatters["image/svg+xml"]
    for printers in (png, svg):
        printers.pop("matplotlib.figure.Figure", None)
        try:
            import sys
            if "matplotlib.figure" in sys.modules:
                printers.pop(sys.modules["matplotlib.figure"].Figure, None)
        except Exception:
            pass
    if fmt == "svg":
        svg.for_type_by_name("matplotlib.figure", "Figure", _figure_svg)
    elif fmt == "retina":
        png.for_type_by_name("matplotlib.figure", "Figure", _figure_retina)
    else:
        png.for_type_by_name("matplotlib.figure", "Figure", formatter._figure_png)


def _figure_retina(fig):
    """IPython's retina_figure: a PNG at twice the dpi, with the 1x size as width/height metadata."""
    from IPython.core.pylabtools import retina_figure
    w, h = fig.get_size_inches() * fig.dpi
    if 4 * w * h > formatter.MAX_FIG_PIXELS:
        return formatter._figure_png(fig)  # too big to double: drawn (and noted) as a png figure is
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
    f = values._formatter()
    if f is None or not hasattr(getattr(f, "formatters", {}).get("text/plain"), "float_precision"):
        _say("%precision needs IPython in the notebook's environment (it sets IPython's display "
             "formatter); values are shown with repr() here.")
        return None
    pt = f.formatters["text/plain"]
    try:
        pt.float_precision = line.strip()
    except Exception as e:
        raise shell.UsageError("%%precision %s: %s" % (line.strip(), e)) from None
    return pt.float_format


DEBUG_REFUSED = (
    "%%%s is not available here: post-mortem debugging needs a debugger in marimo's process, which "
    "this kernel can't reach from Jupyter. Print or display the values instead, or debug the code in "
    "a marimo cell (breakpoint() there opens marimo's own debugger)."
)


def line_magic_debug(line):
    raise shell.UsageError(DEBUG_REFUSED % "debug")


def line_magic_pdb(line):
    _say(DEBUG_REFUSED % ("pdb " + line.strip()).strip())
    return None


def line_magic_pinfo(line):
    return _pinfo(line, 0)


def line_magic_pinfo2(line):
    return _pinfo(line, 1)


def _pinfo(name, detail):
    import json
    glob, local, _ = shell._call()
    ns = shell._visible(glob)
    ns.update(local or {})
    answer = json.loads(completion.inspect_name(name.strip(), bool(detail), ns)["marimo_pair_kernel"])
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
        raise shell.UsageError("%%run: cannot split the arguments: %s" % e) from None
    interactive = False
    while words and words[0].startswith("-") and words[0] != "-":
        opt = words.pop(0)
        if opt == "-i":
            interactive = True
        elif opt in ("-d", "-p", "-t", "-m", "-n", "-e", "-N", "-G"):
            raise shell.UsageError(
                "%%run %s is not available here: only %%run [-i] FILE [ARGS] runs in marimo's process." % opt
            )
        else:
            raise shell.UsageError("%%run: unknown option %s. Usage: %%run [-i] FILE [ARGS]" % opt)
    if not words:
        raise shell.UsageError("%run: which file? Usage: %run [-i] FILE [ARGS]")
    path = os.path.expanduser(words[0])
    if not os.path.isfile(path) and os.path.isfile(path + ".py"):
        path += ".py"
    if not os.path.isfile(path):
        raise shell.UsageError("File %r not found (looked in %s, the notebook process's working directory)."
                         % (words[0], os.getcwd()))
    with open(path, "rb") as f:
        source = f.read()
    glob = shell._call()[0]
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
        shell._bind({k: v for k, v in ns.items() if k not in ("__name__", "__file__", "__builtins__", "__doc__")})
    return None


# -- notes --------------------------------------------------------------------------------------

def _say(text):
    """A one-line note on stderr (quiet in hidden executes, as VS Code's start-up code is)."""
    import sys
    if shell._call()[2]:
        return
    try:
        sys.stderr.write("marimo-pair-kernel: " + text + "\n")
    except Exception:
        pass
