"""Display lines to the Jupyter client, and late outputs: what threads that the kernel's own runs
started write after that run ended.

Runs inside the marimo kernel (see __init__.py). Every display goes out through `_emit` here
(the comment above MARK says how), and `_in_our_run` tells the hooks whose run is running:
both need the late streams below, so they live beside them, under every module that displays.

ipykernel shows a thread's display updates and prints under the execute that started the
thread, also after that execute has replied. Here the execute's event stream is closed by then, so such output
travels another way: as a console line of the scratch cell, broadcast on marimo's own message
stream, which every viewer of the notebook receives (the kernel keeps one: viewer.py).

- Which threads: every thread started (Thread.start) while one of our runs executes, or by a
  thread that is itself ours, is marked with its *origin* (one per run). Marking at start is
  the one moment we can tell: a contextvar would not follow the thread (threads start with an
  empty context before Python 3.14), and a thread's stack never shows the cell that started it.
  `_in_our_run()` then also answers True in a marked thread, so display()/update_display()
  there go to Jupyter rather than to marimo's cell output.
- The origin is announced once per run on the run's own stdout (`{"k": "origin", "o": tag}`,
  a display line the kernel reads while the execute runs): the kernel maps the tag to that
  execute's message, which becomes the parent of everything the origin's threads send later.
  Tags the kernel never saw (another Jupyter kernel's threads, the person's own scratchpad)
  are ignored by it.
- While the origin's run still executes, a marked thread writes where it always did (the run's
  stdout, so the execute carries it). Afterwards its stdout/stderr text (display lines
  included) goes out in envelopes `MARK {"k": "late", "o", "i", "th", "n", "t"}` + newline:
  `i` counts per origin (the kernel drops what it saw: a viewer's reconnect replays them), `th`
  is the thread, `n` the stream name, `t` the text. Being display lines, envelopes that an
  execute's stream happens to carry (ours, still within its flush delay) are ignored there.
- Where print() writes after the run: marimo points sys.stdout at its own stream object only
  while a cell runs, and back at the process's stream afterwards. So the stream object's
  `write` is wrapped (late writes of our threads while another cell runs), and once a run of
  ours has started threads, the process's stream is wrapped too, right after each run puts it
  back (redirect_streams, on marimo's own thread, so the swap never races a run).
"""

from . import base

# Transport of displays made while the code runs (display(), plt.show(), mo.output.append):
# each is written to marimo's stdout as one line `MARK + json + "\n"` in chunks below marimo's
# per-message console cap, and the kernel takes those lines out of the stream. That keeps
# them in order with prints, shows them while the code runs, and keeps the ones made before
# an exception (marimo's `done` carries no output on failure). The last value and the figures
# still open at the end travel in the `done` payload instead, because ipykernel sends them
# after everything else. Hooks act only in the kernel's own scratchpad runs (see
# `_in_our_run`); the person's cells, and their own scratchpad, keep marimo's behaviour.

MARK = "\x1emarimo-pair-kernel:display:"
CHUNK = 200_000  # characters per stdout write: marimo cuts one console message at ~1 MB
LATE_KIND = "late"
ORIGIN_KIND = "origin"
SCRATCH = "__scratch__"
_L: dict = {}  # "origin": the current run's origin; "stdout"/"stderr": marimo's stream objects


class _Origin:
    """One run of ours that started threads: its tag, and how to reach marimo later."""

    def __init__(self, tag, ctx, exec_ctx, stream):
        import itertools
        import threading
        self.tag = tag
        self.ctx = ctx  # marimo's kernel context (thread-local there: kept for the threads)
        self.exec_ctx = exec_ctx  # the run's execution context: replaced once the run ends
        self.stream = stream  # marimo's message stream (thread-safe)
        self.seq = itertools.count()
        self.lock = threading.Lock()  # numbering and sending in one step: the kernel sees them in order

    def over(self):
        try:
            return self.ctx.execution_context is not self.exec_ctx
        except Exception:
            return True


def late_origin():
    """The origin of the current thread when one of our runs started it, else None."""
    import threading
    return getattr(threading.current_thread(), "_mpk_origin", None)


def cell_owner(f):
    """Whose is the innermost marimo cell on the stack from frame `f`: "ours" (the kernel's own
    scratchpad run, whose code names `_mpk_value`, which marimo renames to
    `_cell___scratch___mpk_value`), "person", or None (no cell: a thread)."""
    while f is not None:
        co = f.f_code
        if co.co_name == "<module>" and "__marimo__cell_" in co.co_filename:
            # The innermost cell decides: one that code mode runs inside our run is the person's.
            # The user's code (state.run) has a scratch-like file name: the cell around it decides.
            if "__scratch__" in co.co_filename and any(n.endswith("_mpk_value") for n in co.co_names):
                return "ours"
            if "marimo-pair-kernel" not in co.co_filename:
                return "person"
        f = f.f_back
    return None


def _in_our_run():
    """True while the kernel's own scratchpad code runs, or a thread one of its runs started."""
    import sys
    owner = cell_owner(sys._getframe(1))
    return owner == "ours" if owner is not None else late_origin() is not None


def _late_now():
    o = late_origin()
    return o if o is not None and o.over() else None


class _LateStream:
    """A file-like stream for one thread: its writes go out as late envelopes.

    `lines`: print() writes its arguments, separators and end one by one; whole lines go out
    together (one message for one print, as ipykernel sends), and a partial line a moment later.
    """

    def __init__(self, origin, name, lines=False):
        self.origin, self.name, self.lines = origin, name, lines

    def write(self, text):
        if text:
            _late_write(self.origin, self.name, text, self.lines)
        return len(text)

    def flush(self):
        _late_write(self.origin, self.name, "", False)

    def writable(self):
        return True


def late_stdout(name="stdout"):
    """Where the runtime's display lines go from here: a late stream, or None (the usual place)."""
    o = _late_now()
    return _LateStream(o, name) if o is not None else None


def _stdout():
    import sys
    stream = late_stdout()  # a thread of ours after its run
    if stream is not None:
        return stream
    try:
        from marimo._runtime.context import get_context
        s = get_context().stdout
        if s is not None:
            return s
    except Exception:
        pass
    return sys.stdout


def _emit(msg):
    """One display line (see MARK) where the run's output goes, or late after the run."""
    import json
    text = MARK + json.dumps(msg, separators=(",", ":"), default=str) + "\n"
    out = _stdout()
    for i in range(0, len(text), CHUNK):
        out.write(text[i:i + CHUNK])


_PENDING: dict = {}  # (thread id, stream name) -> (origin, partial line) of late prints


def _late_lock():
    lock = _L.get("lock")
    if lock is None:
        import threading
        lock = _L.setdefault("lock", threading.Condition())
    return lock


def _late_write(origin, name, text, lines):
    """Send `text` (after what this thread holds back); with `lines`, hold back a partial line."""
    import threading
    key = (threading.get_ident(), name)
    cv = _late_lock()
    with cv:  # sending under it too: the flusher must not overtake the line's owner
        held = _PENDING.pop(key, (origin, ""))[1] + text
        cut = held.rfind("\n") + 1 if lines else len(held)
        if held[:cut]:
            late_send(origin, name, held[:cut])
        if held[cut:]:
            _PENDING[key] = (origin, held[cut:])
            _start_flusher()
            cv.notify()


def _start_flusher():
    import threading
    t = _L.get("flusher")
    if t is not None and t.is_alive():
        return

    def flush_partial_lines():
        cv = _late_lock()
        while True:
            with cv:
                while not _PENDING:
                    cv.wait()
                cv.wait(0.1)  # a partial line goes out a moment later, unless its line ends first
                for (ident, name), (origin, text) in list(_PENDING.items()):
                    del _PENDING[(ident, name)]
                    late_send(origin, name, text)

    t = threading.Thread(target=flush_partial_lines, name="marimo-pair-kernel-late-flush", daemon=True)
    _L["flusher"] = t
    base._unwrapped(threading.Thread.start)(t)  # not a thread of any run


def late_send(origin, name, text):
    """Broadcast one envelope as a console line of the scratch cell; False when marimo can't."""
    import json
    import threading
    try:
        from marimo._messaging.cell_output import CellOutput
        from marimo._messaging.notification import CellNotification
        from marimo._messaging.notification_utils import broadcast_notification
    except Exception:
        return False  # marimo < 0.23.14: the kernel has no viewer either (and says so)
    with origin.lock:
        env = {"k": LATE_KIND, "o": origin.tag, "i": next(origin.seq), "th": threading.get_ident(),
               "n": name, "t": text}
        line = MARK + json.dumps(env, separators=(",", ":")) + "\n"
        try:
            broadcast_notification(CellNotification(cell_id=SCRATCH, console=CellOutput.stdout(line)),
                                   origin.stream)
        except Exception:
            return False
    return True


# -- marking threads -------------------------------------------------------------------------

def _origin_here():
    """The origin a thread started from here belongs to, or None (not ours)."""
    o = late_origin()
    if o is not None:
        return o  # a thread of a thread of ours
    if not _in_our_run():
        return None
    from marimo._runtime.context import get_context
    ctx = get_context()
    ec = ctx.execution_context
    o = _L.get("origin")
    if o is not None and o.exec_ctx is ec and ec is not None:
        return o
    import uuid
    o = _Origin(uuid.uuid4().hex, ctx, ec, ctx.stream)
    _L["origin"] = o
    # On this run's stdout: the kernel learns whose it is.
    _emit({"k": ORIGIN_KIND, "o": o.tag})
    _wrap_marimo_streams(ctx)
    return o


def _patch_threads():
    import threading
    cls = threading.Thread
    if getattr(cls.start, "_mpk", None) == __name__:
        return
    orig = base._unwrapped(cls.start)

    def start(self, *args, **kwargs):
        try:
            o = _origin_here()
            if o is not None:
                self._mpk_origin = o
        except Exception:
            pass
        return orig(self, *args, **kwargs)

    start._mpk, start._mpk_orig = __name__, orig
    start.__doc__ = orig.__doc__
    cls.start = start


# -- print() and sys.stdout/stderr of our threads after their run -------------------------------

def _wrap_write(stream, name):
    """Wrap one stream object's write (an instance attribute: print() looks it up there)."""
    current = getattr(stream, "write", None)
    if current is None or getattr(current, "_mpk", None) == __name__:
        return
    orig = base._unwrapped(current)

    def write(text):
        o = _late_now()
        if o is not None:
            return _LateStream(o, name, lines=True).write(text)
        return orig(text)

    write._mpk, write._mpk_orig = __name__, orig
    try:
        stream.write = write
    except Exception:
        pass  # a stream that takes no attributes (a C-level file): our threads print as marimo lets them


def _wrap_marimo_streams(ctx):
    """marimo's stdout/stderr objects: sys.stdout/stderr while any cell runs."""
    for name in ("stdout", "stderr"):
        s = getattr(ctx, name, None)
        if s is not None:
            _L[name] = s
            _wrap_write(s, name)


class _ProcessStream:
    """The process's own stdout/stderr (what sys.stdout is between runs), for our late threads."""

    def __init__(self, base, name):
        self._mpk_base, self._mpk_name = base, name

    def write(self, text):
        o = _late_now()
        if o is not None:
            return _LateStream(o, self._mpk_name, lines=True).write(text)
        return self._mpk_base.write(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def __getattr__(self, attr):
        return getattr(self._mpk_base, attr)


def _wrap_process_streams():
    """Right after a run put the process's streams back: wrap them, once threads of ours exist."""
    import sys
    if "origin" not in _L:
        return
    for name in ("stdout", "stderr"):
        cur = getattr(sys, name, None)
        if cur is None or cur is _L.get(name) or isinstance(cur, _ProcessStream):
            continue  # still inside a run (nested redirect), or done already
        if type(cur).__name__ == "_ProcessStream":
            continue  # an older runtime's wrapper
        setattr(sys, name, _ProcessStream(cur, name))


def _patch_redirect():
    try:
        import marimo._runtime.runtime as rt
    except Exception:
        return
    orig = getattr(rt, "redirect_streams", None)
    if orig is None or getattr(orig, "_mpk", None) == __name__:
        return
    orig = base._unwrapped(orig)
    import contextlib

    @contextlib.contextmanager
    def redirect_streams(*args, **kwargs):
        with orig(*args, **kwargs):
            yield
        try:
            _wrap_process_streams()
        except Exception:
            pass

    redirect_streams._mpk, redirect_streams._mpk_orig = __name__, orig
    rt.redirect_streams = redirect_streams


def install_late_hooks():
    """Called by hooks.install_hooks: mark threads, carry their late output."""
    try:
        _patch_threads()
        _patch_redirect()
    except Exception:
        pass
