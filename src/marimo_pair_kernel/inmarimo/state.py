"""State across cells: each Jupyter kernel's own names, kept in the marimo kernel, never in the notebook.

Runs inside the marimo kernel (see __init__.py). marimo's
scratchpad throws away what a run binds, so the kernel's code is not the scratch cell's own code:
the scratch cell is one line that calls `run()` here with the user's source as a string, and `run`
compiles that source and executes it with the *pair namespace* of that Jupyter kernel as globals.

The pair namespace is a plain dict per Jupyter kernel (keyed by the id the kernel passes). Its
`__builtins__` is a `_Fallback` dict: the real builtins, minus the names the notebook's globals
define, and `__missing__` reads the notebook's globals (`sys.modules['__main__'].__dict__`, the
marimo kernel's live globals) at lookup time. CPython honours a builtins mapping that is not an
exact dict on its slow path (LOAD_GLOBAL, LOAD_NAME, LOAD_BUILD_CLASS call `PyObject_GetItem`), so
module-level code and functions the pair defines see the notebook's *current* values, never a
copy, while every name the pair binds (assignments, imports, def/class, for/with targets, walrus,
`global`, names bound before an exception) lands in the pair dict, and `del` removes it there. The
notebook's globals, graph, file and page never see them.

Lifetime: the namespaces live in this module, so a marimo kernel restart clears them. The Jupyter
kernel says `forget(kid)` at shutdown and restart (a restarted kernel also gets a new id). A kernel
that died without a word (SIGKILL): when it ran on this machine, the next run of any pair kernel on
this notebook sees its process is gone and drops its names; a kernel on another machine is dropped
PAIR_TTL seconds (24 h) after its last execute.

For other parts of the kernel:
  current_user_ns()          the globals dict the current execute's user code runs in (None
                             outside a kernel execute); `%time`/`%timeit`/`%run` shims run there.
  line_magic_who(line)       IPython's %who: prints the pair's names (`%who int` filters by type).
  line_magic_whos(line)      IPython's %whos table, with a Size column.
  line_magic_who_ls(line)    a sorted list of the names user code can see: the pair's own and the
                             notebook's globals (as VS Code's Variables view wants them).
  line_magic_reset(line)     `-f` clears the pair's names; without it, says to use -f (no prompt here).
"""

from . import cells, completion, history, hooks, late, shell, sizes, tracebacks

PAIR_TTL = 24 * 3600  # seconds after its last execute that a kernel on another machine is forgotten
_PAIRS: dict = {}  # kernel id -> _Pair
_CURRENT: list = []  # the namespaces of the kernel executes running now (innermost last)
_FILE_ROOT: list = []  # the directory our per-execute filenames live under (not created on disk)


class _Fallback(dict):
    """A pair namespace's `__builtins__`: builtins first (unless the notebook redefines one), then
    the notebook's live globals."""

    __slots__ = ()

    def __missing__(self, name):
        import sys
        main = sys.modules.get("__main__")
        g = getattr(main, "__dict__", None)
        if g is not None:
            try:
                return g[name]
            except KeyError:
                pass
        raise KeyError(name)


class _Pair:
    __slots__ = ("kid", "ns", "owner", "last", "noted", "files", "history")

    def __init__(self, kid, owner):
        self.kid = kid
        self.ns = _fresh_ns()
        self.owner = owner  # (machine, pid) of the Jupyter kernel (see _machine), or None
        self.last = 0.0
        self.noted = set()  # names whose shadowing note was shown
        self.files = set()  # linecache entries of this kernel's executes
        self.history = history.History()  # In, Out, _, _i, ... (history.py)


_HIDDEN = frozenset(("__name__", "__builtins__", "__doc__"))


def _fresh_ns():
    return {"__name__": "__main__", "__builtins__": _Fallback(), "__doc__": None}


def _main_globals():
    import sys
    return getattr(sys.modules.get("__main__"), "__dict__", None) or {}


def _main_lookup(name):
    """`__main__`'s module `__getattr__` (PEP 562): a class or function the pair defined, by name.

    Their `__module__` is '__main__' (the pair's `__name__`, as in IPython) but they live in the
    pair's namespace, not in marimo's globals: without this, pickle by reference (multiprocessing's
    Pool.map, joblib, shelve, pickle.dumps) fails with "attribute lookup P on __main__ failed".
    Only attribute access on the module object comes here; no code's name lookup does.
    """
    if not name.startswith("__"):
        for ns in reversed(_CURRENT):  # the kernel running now first, then any kernel's
            if name in ns:
                return ns[name]
        for p in list(_PAIRS.values()):
            if name in p.ns:
                return p.ns[name]
    raise AttributeError("module '__main__' has no attribute %r" % name)


def _pickle_by_name(main):
    if main is not None and "__getattr__" not in main:  # a notebook's own __getattr__ is left alone
        main["__getattr__"] = _main_lookup


_NOT_BUILTINS = ("__name__", "__doc__", "__package__", "__loader__", "__spec__")


def _refresh(fb, main):
    """The builtins the pair's code sees directly: all but the ones the notebook's globals define
    (marimo's `input`, our `display`, a cell's own `max`), which `__missing__` then finds there.

    Updated in place, never emptied: a thread the pair started may be looking names up meanwhile.
    """
    import builtins
    real = builtins.__dict__
    shadowed = main.keys() & real.keys()
    shadowed.difference_update(("__import__", "__build_class__"))
    for k in shadowed:
        fb.pop(k, None)
    for k, v in real.items():
        if k not in shadowed and k not in _NOT_BUILTINS and fb.get(k) is not v:
            fb[k] = v


_MACHINE: list = []


def _machine():
    """Host name, boot id and pid namespace: as magics/namespace.machine() computes them."""
    if not _MACHINE:
        import os
        import socket
        parts = [socket.gethostname()]
        for path in ("/proc/sys/kernel/random/boot_id", "/proc/self/ns/pid"):
            try:
                if path.endswith("/pid"):
                    parts.append(os.readlink(path))
                else:
                    with open(path) as f:
                        parts.append(f.read().strip())
            except OSError:
                parts.append("")
        _MACHINE.append("|".join(parts))
    return _MACHINE[0]


def _alive(owner):
    """False only when `owner` ran on this machine (same pid namespace) and its process is gone."""
    import os
    if not owner:
        return True
    host, pid = owner
    if host != _machine():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except Exception:
        return True
    return True


def _sweep(now, keep):
    for kid, p in list(_PAIRS.items()):
        if kid == keep:
            continue
        local = bool(p.owner) and _same_host(p.owner)
        if (local and not _alive(p.owner)) or (not local and now - p.last > PAIR_TTL):
            _drop(kid)


def _same_host(owner):
    return owner[0] == _machine()


def _drop(kid):
    import linecache
    p = _PAIRS.pop(kid, None)
    if p is None:
        return False
    for f in p.files:
        linecache.cache.pop(f, None)
    p.ns.clear()
    return True


def _pair(kid, owner):
    import time
    now = time.time()
    _sweep(now, kid)
    p = _PAIRS.get(kid)
    if p is None:
        p = _PAIRS[kid] = _Pair(kid, tuple(owner) if owner else None)
    p.last = now
    return p


def _filename(kid, count):
    """A file name per execute, as IPython's `<ipython-input-N>`: tracebacks of a function defined
    in an earlier execute show that execute's lines. It looks like marimo's scratch cell's file
    (the kernel shows its frames as `Cell In[N]`) and is never written to disk."""
    import os
    import tempfile
    if not _FILE_ROOT:
        _FILE_ROOT.append(os.path.join(tempfile.gettempdir(), "marimo-pair-kernel"))
    return os.path.join(_FILE_ROOT[0], "%s-In%s" % (kid or "scratch", count), "__marimo__cell___scratch___.py")


def _compile(src, filename, show_value):
    """(module code, last expression's code or None): the last expression is evaluated apart, so its
    value can be shown, with the user's own line numbers (no rewriting of the source)."""
    import ast
    import linecache
    flags = getattr(ast, "PyCF_ALLOW_TOP_LEVEL_AWAIT", 0)
    linecache.cache[filename] = (len(src), None, [ln + "\n" for ln in src.splitlines()], filename)
    tree = compile(src, filename, "exec", ast.PyCF_ONLY_AST | flags, dont_inherit=True)
    expr = None
    if show_value and tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body.pop()
        expr = compile(ast.Expression(last.value), filename, "eval", flags, dont_inherit=True)
    return compile(tree, filename, "exec", flags, dont_inherit=True), expr


def _begin(kid, owner, src, count, show_value, store=False):
    p = _pair(kid, owner) if kid else None
    ns = p.ns if p is not None else _fresh_ns()
    fn = _filename(kid, count)
    if p is not None:
        p.files.add(fn)
    main = _main_globals()
    if p is not None and store:
        history.before(p.history, ns, main, src, count)
    _refresh(ns["__builtins__"] if isinstance(ns.get("__builtins__"), _Fallback) else _fix(ns), main)
    _pickle_by_name(main)
    code, expr = _compile(src, fn, show_value)
    completion.warm_lock().acquire()
    _CURRENT.append(ns)
    _CWD.append(_cwd())
    return p, ns, code, expr


_CWD: list = []  # the working directory when each of our runs began (runs nest: %run, %time)


def _cwd():
    import os
    try:
        return os.getcwd()
    except OSError:
        return None


def _note_chdir(before):
    """Code that moved the process's working directory (os.chdir, say in VS Code's start-up code)
    moved the person's notebook too: say so once, with the way back. %cd --yes says it itself."""
    now = _cwd()
    said = shell._IP.get("chdir_said")
    if before is None or now is None or now == before or said == now:
        return
    _note_line(
        "marimo-pair: this code moved the notebook process's working directory to %r (from %r); the "
        "person's marimo cells see it too. %%cd --yes %r moves it back." % (now, before, before)
    )


def _fix(ns):
    """`__builtins__` rebound or deleted by user code: put our fallback back."""
    fb = _Fallback()
    ns["__builtins__"] = fb
    return fb


def _end(p, ns):
    try:
        completion.warm_lock().release()  # taken at the end of _begin
    except RuntimeError:
        pass
    if _CURRENT and _CURRENT[-1] is ns:
        _CURRENT.pop()
    if _CWD:
        try:
            _note_chdir(_CWD.pop())
        except Exception:
            pass
    if p is not None:
        try:
            _note_shadows(p)
        except Exception:
            pass


def run(kid, src, count, url="", show_value=True, owner=None, mode="Context", store=True, shown=True):
    """Execute the user's `src` in kernel `kid`'s namespace (a fresh one when kid is None: marimo's
    own semantics, nothing persists); the tail of the scratch cell: the value through show().
    A failure also sends its IPython layout (`mode`: the kernel's %xmode) with it: `_failed`.
    History (history.py), as IPython keeps it: `store` (store_history) records the input (In, _i),
    `shown` (not a silent execute) the value (Out, `_`)."""
    try:
        p, ns, code, expr = _begin(kid, owner, src, count, show_value, store)
        value = None
        try:
            r = eval(code, ns)
            if r is not None and hasattr(r, "close"):
                r.close()
                raise SyntaxError("top-level await needs the kernel's asynchronous run")
            if expr is not None:
                value = eval(expr, ns)
        finally:
            _end(p, ns)
        with completion.warm_lock():  # formatting imports IPython's formatters: never beside the warm-up's
            shown = hooks.show(value, url)
        if p is not None and shown and expr is not None:  # after the display, as IPython's display hook
            history.after(p.history, ns, _main_globals(), count, value)
        return shown
    except BaseException as e:
        _failed(e, count, mode)
        raise


async def run_async(kid, src, count, url="", show_value=True, owner=None, mode="Context", store=True,
                    shown=True):
    """`run` for code with top-level `await` (the scratch cell awaits this)."""
    import inspect
    try:
        p, ns, code, expr = _begin(kid, owner, src, count, show_value, store)
        value = None
        try:
            r = eval(code, ns)
            if inspect.isawaitable(r):
                await r
            if expr is not None:
                value = eval(expr, ns)
                if inspect.isawaitable(value) and expr.co_flags & 0x80:  # CO_COROUTINE: `await` in it
                    value = await value
        finally:
            _end(p, ns)
        with completion.warm_lock():  # formatting imports IPython's formatters: never beside the warm-up's
            shown = hooks.show(value, url)
        if p is not None and shown and expr is not None:  # after the display, as IPython's display hook
            history.after(p.history, ns, _main_globals(), count, value)
        return shown
    except BaseException as e:
        _failed(e, count, mode)
        raise


def _failed(exc, count, mode):
    """The failing run's exception as IPython lays it out, to the kernel with the failure itself:
    a display line `{"k": "error", ...}` before marimo prints its text (tracebacks.py). Nothing
    for mo.stop(), which marimo shows no traceback for, nor without IPython here."""
    if type(exc).__name__ == "MarimoStopError":
        return
    try:
        # Under the warm-up's lock, as the run itself: IPython's ultratb imported on this thread
        # while the warm-up imports IPython on its own can meet a partially initialized module,
        # and the kernel would lay out marimo's text instead (Verbose's values lost).
        with completion.warm_lock():
            found = tracebacks.format_error(exc, count, mode)
        if found is not None:
            late._emit({"k": "error", **found})
    except BaseException:  # also a second interrupt: the run's own exception goes on; the kernel
        pass  # then lays out marimo's text instead


def current_user_ns():
    """The globals dict the current kernel execute's user code runs in, or None outside one."""
    return _CURRENT[-1] if _CURRENT else None


def forget(kid):
    """The kernel shuts down or restarts: drop its names."""
    return {"marimo_pair_kernel": '{"dropped": %s}' % ("true" if _drop(kid) else "false")}


# -- the notebook's own names ----------------------------------------------------------------------


def _notebook_defs():
    """Names the notebook's cells define (marimo's graph), or None when that cannot be read."""
    try:
        from marimo._runtime.context import get_context
        return set(get_context().graph.definitions)
    except Exception:
        return None


def _note_shadows(p):
    main = _main_globals()
    fresh = [k for k in p.ns if k in main and not k.startswith("_") and k not in p.noted]
    if not fresh:
        return
    defs = _notebook_defs()
    for k in fresh:
        if defs is not None and k not in defs:
            continue
        p.noted.add(k)
        _note_line(
            "Note: %s is now this Jupyter kernel's own name; the notebook keeps its own %s and its cells "
            "still use that one (to change the notebook's: %%%%cell edit %s)." % (k, k, k)
        )


def _note_line(text):
    import sys
    try:
        sys.stderr.write(text + "\n")
    except Exception:
        pass


def cell_names(kid, code):
    """Before a %%cell (codemode_ops runs it in the cell op): the names its code reads that only
    the pair has (the notebook cannot see them), and the names it defines that the pair holds."""
    p = _PAIRS.get(kid) if kid else None
    defs, refs = cells.parse_names(code)  # as marimo sees the cell's code
    own = set(p.ns) - _HIDDEN if p is not None else set()
    nb = _notebook_defs()
    main = _main_globals()
    only_pair = sorted(n for n in refs & own if n not in main and (nb is None or n not in nb))
    return {"only_pair": only_pair, "held": sorted(defs & own)}


def take_over(kid, names):
    """After a %%cell defined `names`: the notebook's definitions win, the pair's are dropped."""
    p = _PAIRS.get(kid) if kid else None
    dropped = []
    if p is not None:
        for n in names:
            if n in p.ns and n not in _HIDDEN:
                del p.ns[n]
                p.noted.discard(n)
                dropped.append(n)
    return dropped


# -- %who, %whos, %who_ls, %reset ------------------------------------------------------------------


def _own(ns):
    """The user's names in a pair namespace, as IPython's %who lists them (no `_` names)."""
    return sorted(k for k in ns if not k.startswith("_") and k not in _HIDDEN and k not in history.NAMES)


def _typename(v):
    import types
    if isinstance(v, types.ModuleType):
        return "module"
    return type(v).__name__


def _filter(ns, line):
    wanted = set(line.split())
    names = _own(ns)
    if wanted:
        names = [n for n in names if _typename(ns[n]) in wanted]
    return names


def _ns_for(kid=None):
    if kid is not None:
        p = _PAIRS.get(kid)
        return p.ns if p is not None else {}
    ns = current_user_ns()
    return ns if ns is not None else {}


def line_magic_who(line="", kid=None):
    """IPython's %who: the names, tab-separated, or that the namespace is empty."""
    ns = _ns_for(kid)
    names = _filter(ns, line or "")
    if not names:
        print("No variables match your requested type." if (line or "").strip() else "Interactive namespace is empty.")
        return None
    # IPython's own layout: a tab and a space after each name, nine to a line.
    count = 0
    for n in names:
        print(n + "\t", end=" ")
        count += 1
        if count > 8:
            count = 0
            print()
    print()
    return None


def whos_rows(ns, line=""):
    rows = []
    for n in _filter(ns, line):
        v = ns[n]
        t = _typename(v)
        if t in ("dict", "list", "tuple"):
            r = "n=%d" % len(v)  # as IPython's %whos
        else:
            try:
                r = str(v).replace("\n", "\\n")
            except Exception:
                r = "<%s object>" % type(v).__name__
            if len(r) >= 50:
                r = r[:25] + "<...>" + r[-25:]
        size, whole = sizes.size(v)
        rows.append((n, t, ("" if whole else ">") + sizes.human(size), r))
    return rows


def line_magic_whos(line="", kid=None):
    """IPython's %whos table (Variable, Type, Data/Info), with each value's Size."""
    ns = _ns_for(kid)
    rows = whos_rows(ns, line or "")
    if not rows:
        print("No variables match your requested type." if (line or "").strip() else "Interactive namespace is empty.")
        return None
    # IPython's layout (3 spaces between columns, a space before Data/Info), with Size added.
    head = ("Variable", "Type", "Size", "Data/Info")
    w = [max(len(head[i]), *(len(r[i]) for r in rows)) + 3 for i in range(3)]
    out = [head[0].ljust(w[0]) + head[1].ljust(w[1]) + head[2].ljust(w[2]) + " " + head[3]]
    out.append("-" * (sum(w) + len(head[3]) + 1))
    for r in rows:
        out.append(r[0].ljust(w[0]) + r[1].ljust(w[1]) + r[2].ljust(w[2]) + " " + r[3])
    print("\n".join(out))
    return None


def line_magic_who_ls(line="", kid=None):
    """Sorted names user code can see: the pair's own and the notebook's globals."""
    ns = _ns_for(kid)
    main = _main_globals()
    nb = _notebook_defs()
    seen = set(_own(ns))
    seen.update(k for k in main if not k.startswith("_") and (nb is None or k in nb))
    if (line or "").split():
        wanted = set(line.split())
        seen = {k for k in seen if _typename(ns[k] if k in ns else main.get(k)) in wanted}
    return sorted(seen)


def line_magic_reset(line="", kid=None):
    """`%reset -f`: delete the pair's names. Without -f IPython asks; here there is no one to ask."""
    args = (line or "").split()
    if "-f" not in args:
        print("Once deleted, variables cannot be recovered. This kernel cannot ask here: use %reset -f.")
        return None
    ns = _ns_for(kid)
    for k in _own(ns) + [k for k in ns if k.startswith("_") and k not in _HIDDEN]:
        ns.pop(k, None)
    history.reset(ns)
    p = _PAIRS.get(kid) if kid else next((q for q in _PAIRS.values() if q.ns is ns), None)
    if p is not None:
        p.noted.clear()
    return None


def pair_listing(kid, what, line=""):
    """For the kernel's own %who/%whos/%who_ls: the same as the line_magic_ functions, as data."""
    import json
    ns = _ns_for(kid)
    if what == "whos":
        data = whos_rows(ns, line)
    elif what == "who_ls":
        data = line_magic_who_ls(line, kid)
    else:
        data = _filter(ns, line)
    return {"marimo_pair_kernel": json.dumps({"rows": data, "pairs": len(_PAIRS)})}


def pair_reset(kid):
    """%reset -f from the kernel: every name of this kernel's namespace, as a new one has."""
    import json
    p = _PAIRS.get(kid)
    n = 0
    if p is not None:
        n = len(_own(p.ns))
        line_magic_reset("-f", kid)
    return {"marimo_pair_kernel": json.dumps({"deleted": n})}


def visible_ns(kid, glbls):
    """The names completion and `obj?` see: the notebook's globals, then the pair's own over them."""
    p = _PAIRS.get(kid) if kid else None
    if p is None:
        return glbls
    merged = dict(glbls)
    merged.update((k, v) for k, v in p.ns.items() if k not in _HIDDEN)
    return merged


def pairs_info():
    """What the namespaces hold (tests and %pairns read it): kernel id -> (names, owner)."""
    import json
    return {"marimo_pair_kernel": json.dumps({k: {"names": _own(p.ns), "owner": p.owner} for k, p in _PAIRS.items()})}
