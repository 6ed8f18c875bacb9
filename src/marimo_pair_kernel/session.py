"""The session layer: running code in the live marimo notebook, for the kernel and its magics.

It knows nothing of Jupyter (kernel.py turns what it gives into messages). Three ways to run code:

- `run_streamed(code, sink)`: the user's code or a magic's; output goes to the client as it comes,
  the traceback is held back and returned as the error (laid out as IPython would).
- `run_silent(code)`: our helper code; nothing is shown; its payload, or None when it failed.
  `if_idle=True` skips a busy notebook (editing help must not wait behind a person's cell).
- `run_quick(code)`: editing help (completion, inspection) within QUICK_DEADLINE, on a worker:
  one request at a time, a late answer kept for the next identical ask, a stream never cut short.

Each path installs our runtime (scratchpad.install_code) once per notebook session before its
first send, retries once where the notebook session moved (nothing ran), and, when the marimo
kernel lost the runtime (scratchpad.runtime_missing: it restarted), reinstalls and retries once.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import wait as wait_futures
from typing import TYPE_CHECKING, Any

from . import scratchpad, transform
from .context import MagicContext, RunOutcome, Sink
from .errors import ConnectionFailed, ServerGone, SessionGone, UsageError
from .fastimport import import_httpx_lean
from .outputs import DisplayStream, ErrorInfo, parse_error, starts_error_report

if TYPE_CHECKING:
    from .client import ExecuteResult
    from .target import Target, Targeter

log = logging.getLogger("marimo_pair_kernel")

# Completion and inspection hold the shell channel at most this long: JupyterLab drops a completion
# reply after 1 s and jupyter console gives up on the is_complete queued behind it after 1 s, so
# an empty reply in time beats a late one. The request itself finishes on a worker thread.
QUICK_DEADLINE = 0.45

StreamCallback = Callable[[str, str], None]


def _drop(name: str, text: str) -> None:
    pass


def _runtime_missing(report: str) -> bool:
    """Whether marimo's error report says our runtime is gone (the marimo kernel restarted)."""
    error = parse_error(report)
    return scratchpad.runtime_missing(error.ename, error.evalue)


def _ipython_error(text: str, laid_out: list[dict[str, Any]]) -> ErrorInfo | None:
    """The failed run's exception as IPython's ultratb laid it out in marimo (inmarimo/tracebacks.py),
    sent by the run with its failure; None when marimo's Python has no IPython or the exception was
    not the run's own (then marimo's text is laid out here instead)."""
    if "Traceback (most recent call last)" not in text or not laid_out:
        return None  # a SyntaxError marimo caught before running anything: no exception object
    found = laid_out[-1]  # a run nested in another: the outer one's, sent last
    if not isinstance(found.get("traceback"), list):
        return None
    stb = [str(x) for x in found["traceback"]]
    return ErrorInfo(str(found.get("ename", "")), str(found.get("evalue", "")), stb, text, "ipython")


class Session:
    """This kernel's side of the notebook it targets: the target, what is installed there, our state."""

    def __init__(self) -> None:
        self._targeter: Targeter | None = None
        self._targeter_lock = threading.Lock()
        self._installed: set[tuple[str, str]] = set()  # notebook sessions that have our runtime
        self.launcher: Any = None  # the embedded-server launcher (launcher.py), made by %open
        self._state: dict[str, Any] = {}
        # This kernel's own namespace in the marimo kernel (runtime_state.py): a new id per process,
        # so a restarted kernel starts empty. MARIMO_PAIR_NO_STATE=1 (or %pairns off): nothing persists.
        self._state[scratchpad.PAIR_ID_KEY] = scratchpad.new_pair_id()
        self._state[scratchpad.PAIR_ON_KEY] = scratchpad.state_wanted()
        self._scratch_names: set[str] = set()  # names user code bound while nothing persists (%pairns off)
        self._quick_lock = threading.Lock()
        self._quick_job: Future | None = None  # the editing-help request in flight, if any
        self._late: tuple[str, Future] | None = None  # (code, job) of a request that missed its deadline

    # httpx and discovery load on first use, not at start-up: a kernel that starts as fast as
    # ipykernel's own is what makes the console feel instant.

    @property
    def targeter(self) -> Targeter:
        if self._targeter is None:
            with self._targeter_lock:  # the warm-up thread may get here first
                if self._targeter is None:
                    import_httpx_lean()  # target's HTTP client imports httpx; without its extras
                    from .target import Targeter

                    self._targeter = Targeter()
        return self._targeter

    @property
    def resolved(self) -> Target | None:
        """The target already chosen, if any (resolves nothing, starts nothing)."""
        return self._targeter.target if self._targeter is not None else None

    def take_warnings(self) -> list[str]:
        """What target resolution wants the user to know (e.g. "not on this machine"), once."""
        if self._targeter is None:
            return []
        warnings = list(self._targeter.warnings)
        self._targeter.warnings.clear()
        return warnings

    def state(self, key: str, default: Any = None) -> Any:
        return self._state.get(key, default)

    def set_state(self, key: str, value: Any) -> None:
        self._state[key] = value

    def pair_owner(self) -> scratchpad.Owner:
        """Whose namespace user code runs in (None as the id: nothing persists, see %pairns)."""
        state = self._state
        return scratchpad.owner_of(state.get(scratchpad.PAIR_ID_KEY), bool(state.get(scratchpad.PAIR_ON_KEY)))

    def page_url(self) -> str:
        """The marimo page, named on snapshots of mo.ui elements ("" before a target is known)."""
        try:
            return self.targeter.current().url
        except Exception:  # noqa: BLE001 - the execute itself reports a missing target
            return ""

    def note_bound(self, names: frozenset[str] | set[str]) -> None:
        """User code bound these names while nothing persists: a later NameError says why."""
        self._scratch_names |= names

    def close(self) -> None:
        if self._targeter is not None:
            self._targeter.close()

    # -- install once, send -------------------------------------------------------------------

    @staticmethod
    def _key(target: Target) -> tuple[str, str]:
        return (target.client.url, target.notebook.session_id or target.notebook.key)

    def note_warmed(self, ready: Future | None) -> bool:
        """Whether the console's open (`ready`, see magics.opening) installed our runtime; if so, remember it."""
        if ready is None or not ready.done() or ready.exception() is not None:
            return False
        target, _, warmed = ready.result()
        if warmed:  # the request that ran the notebook's cells installed and warmed it
            self._installed.add(self._key(target))
        return bool(warmed)

    def forget_installs(self) -> None:
        """The runtime may be gone (the marimo kernel restarted): install it again before the next send."""
        self._installed.clear()

    def _send_to(
        self, target: Target, code: str, on_stream: StreamCallback, timeout: float | None, installs: bool
    ) -> ExecuteResult:
        # Once per notebook session, before anything else is sent there: every other line we send
        # assumes the runtime (and its input() guard, so even the first code that reaches an input()
        # fails at once instead of hanging).
        key = self._key(target)
        if key not in self._installed and not installs:
            target.client.execute(scratchpad.install_code(), target.notebook, _drop, timeout=timeout)
            self._installed.add(key)
        result = target.client.execute(code, target.notebook, on_stream, timeout=timeout)
        if installs and result.success:
            self._installed.add(key)
        return result

    def _send(
        self,
        code: str,
        on_stream: StreamCallback,
        *,
        target: Target | None = None,
        timeout: float | None = None,
        installs: bool = False,
    ) -> ExecuteResult:
        """Run code on the target (the current one by default); retry once where the session moved (nothing ran)."""
        target = target or self.targeter.current()
        try:
            return self._send_to(target, code, on_stream, timeout, installs)
        except SessionGone:
            target = self.targeter.refind(target)
            return self._send_to(target, code, on_stream, timeout, installs)
        except (ServerGone, ConnectionFailed):
            if not target.client.health(timeout=0.5):
                # Next execute re-resolves (same file, maybe another port) instead of reusing a dead target.
                self.targeter.forget()
            raise

    def _execute(
        self, code: str, on_stream: StreamCallback, *, target: Target | None = None, timeout: float | None = None
    ) -> tuple[ExecuteResult, list[str]]:
        """Send code; marimo's error reports (stderr tracebacks) are held, not streamed, and returned.

        A report that says our runtime is gone means nothing of the code ran: install it, send again.
        """
        held: list[str] = []

        def stream(name: str, text: str) -> None:
            # marimo sends a traceback as one stderr chunk; hold it so it is shown once, as the
            # `error`, not also as stderr. Other stderr (even if it arrives later) passes through.
            if name == "stderr" and starts_error_report(text):
                held.append(text)
            else:
                on_stream(name, text)

        result = self._send(code, stream, target=target, timeout=timeout)
        if not result.success and held and _runtime_missing(held[-1]):
            log.debug("the marimo kernel lost our runtime: installing it again")
            self.forget_installs()
            held.clear()
            result = self._send(code, stream, target=target, timeout=timeout)
        return result, held

    # -- the three ways to run code -------------------------------------------------------------

    def run_streamed(self, code: str, sink: Sink) -> RunOutcome:
        """Run code, its output streamed to `sink` as it comes; a failure comes back as `error` (not shown)."""
        displays = DisplayStream()
        laid_out: list[dict[str, Any]] = []  # a failing run's exception as IPython lays it out, in marimo

        def items(found: list[tuple[str, Any]]) -> None:
            for kind, item in found:
                if kind == "display" and item.get("k") == "error":
                    laid_out.append(item)
                elif sink.silent:
                    continue
                elif kind == "display":
                    sink.publish(item)
                else:
                    sink.stream("stdout" if kind == "text" else "stderr", item)

        def on_stream(name: str, text: str) -> None:
            if name == "stdout":
                items(displays.feed(text))
            elif not sink.silent:
                # A warning quotes its source line: the user's, not our rewrite of it.
                sink.stream(name, scratchpad.restore_traceback(text) if name == "stderr" else text)

        self.targeter.current()
        for warning in self.take_warnings():  # before the code goes there, not one execute later
            sink.stream("stderr", warning + "\n")
        try:
            result, held = self._execute(code, on_stream)
        finally:
            items(displays.close())
        payload = scratchpad.read_payload(result.output)
        if result.success:
            if held and not sink.silent:
                sink.stream("stderr", "".join(held))
            return RunOutcome(True, payload, None, result.output)
        if not held:
            text = "marimo reported a failure without a traceback"
            return RunOutcome(False, payload, ErrorInfo("Error", text, [text]), result.output)
        if len(held) > 1 and not sink.silent:
            sink.stream("stderr", "".join(held[:-1]))
        # The frames show the user's lines around the failing one, named Cell In[N] as IPython does:
        # IPython's own formatter where marimo's Python has IPython (the run sent its layout), else
        # marimo's text laid out so.
        text = scratchpad.restore_traceback(held[-1])
        error = _ipython_error(text, laid_out) or parse_error(
            text, count=sink.count, source=scratchpad.user_source(code), mode=self.state("xmode", "Context")
        )
        return RunOutcome(False, payload, error, result.output)

    def run_silent(self, code: str, *, if_idle: bool = False, target: Target | None = None) -> dict | None:
        """Run our helper code, showing nothing: its payload, or None when it failed.

        `if_idle`: None at once when the notebook is busy (it would wait behind a running cell).
        Raises PairError when there is no notebook or marimo is gone.
        """
        target = target or self.targeter.current()
        if if_idle and target.client.busy(target.notebook):
            return None
        result, _ = self._execute(code, _drop, target=target)
        return scratchpad.answer_of(result)

    def run_quick(self, code: str) -> dict | None:
        """Our helper code's answer within QUICK_DEADLINE, or None (late, busy, no notebook).

        The request runs on a worker thread and is never cut short: closing its stream would
        make marimo interrupt its kernel, possibly in a person's cell that started meanwhile. A
        late answer is kept, so asking the same again (a second Tab) gets it at once.
        """
        deadline = time.monotonic() + QUICK_DEADLINE
        late = self._late
        with self._quick_lock:
            previous = self._quick_job
        if previous is not None and not previous.done():
            # One at a time: a request still in flight (or the warm-up) goes first.
            wait_futures([previous], timeout=max(0.0, deadline - time.monotonic()))
            if not previous.done():
                return None
        if late is not None and late[0] == code and late[1].done():
            self._late = None
            return late[1].result() if late[1].exception() is None else None
        job = self._submit(lambda: self.run_silent(code, if_idle=True))
        try:
            return job.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            self._late = (code, job)
            return None
        except Exception:  # noqa: BLE001 - no notebook, server gone, ...: no suggestions
            return None

    def warm(self, target: Target | None = None, *, unless_asked: bool = False) -> None:
        """Install our runtime and warm IPython and jedi in marimo, in the background (one quick job).

        `unless_asked`: not when editing help already asked (its request installs the runtime).
        """
        with self._quick_lock:
            if unless_asked and self._quick_job is not None:
                return

        def work() -> None:
            chosen = target or self.targeter.current()
            if chosen.client.busy(chosen.notebook):
                return  # a person's cell must not wait behind us
            self._send(scratchpad.warm_code(), _drop, target=chosen, installs=True)

        self._submit(work)

    def _submit(self, fn: Callable[[], Any]) -> Future:
        job: Future = Future()

        def work() -> None:
            try:
                job.set_result(fn())
            except BaseException as e:  # noqa: BLE001 - handed to whoever waits
                job.set_exception(e)

        with self._quick_lock:
            self._quick_job = job
        threading.Thread(target=work, name="marimo-pair-quick", daemon=True).start()
        return job

    # -- errors ---------------------------------------------------------------------------------

    def explain(self, error: ErrorInfo, ctx: MagicContext) -> ErrorInfo:
        """The user code's error with what helps read it: a magic's usage, why a name is undefined,
        the notebook cells' lines in the frames."""
        if (usage := transform.usage_error(error)) is not None:  # a magic's, from the runtime
            return usage
        if error.ename == "NameError":
            m = re.search(r"name '(\w+)' is not defined", error.evalue)
            if m and m.group(1) in self._scratch_names and self.pair_owner().kernel_id is None:
                hint = (
                    f"Note: '{m.group(1)}' was bound by an earlier execution here, but with %pairns off "
                    "names vanish after each call. Use %pairns on to keep them, or %%cell to define it "
                    "in a notebook cell."
                )
                return ErrorInfo(error.ename, error.evalue, [*error.traceback, "", hint])
            if m:
                # A notebook nobody has run yet (or a cell edited without running) leaves its names undefined.
                from . import codemode

                try:
                    note = codemode.unrun_note(ctx, m.group(1), self.page_url())
                except Exception:  # noqa: BLE001 - the note is a courtesy; the NameError stands without it
                    note = None
                if note:
                    return ErrorInfo(error.ename, error.evalue, [*error.traceback, "", note], error.raw)
        if error.context != "ipython" and "__marimo__cell_" in error.raw.replace("__marimo__cell___scratch__", ""):
            # Frames in notebook cells (a function a cell defines): show those cells' lines too.
            from . import codemode

            with contextlib.suppress(Exception):  # the error as it is beats none
                error = codemode.with_cell_lines(ctx, error)[1]
        return error


class _OnSession:
    """What both contexts take from the session: the target, the launcher, the kernel's state."""

    session: Session

    @property
    def targeter(self) -> Targeter:
        return self.session.targeter

    @property
    def launcher(self) -> Any:
        return self.session.launcher

    @launcher.setter
    def launcher(self, value: Any) -> None:
        self.session.launcher = value

    def state(self, key: str, default: Any = None) -> Any:
        return self.session.state(key, default)

    def set_state(self, key: str, value: Any) -> None:
        self.session.set_state(key, value)


class NotebookContext(_OnSession):
    """What a magic sees during a request: output goes to the client's request (`sink`)."""

    def __init__(self, session: Session, sink: Sink) -> None:
        self.session = session
        self.sink = sink
        self.cell_id: str | None = None  # set per request by the kernel

    def stream(self, name: str, text: str) -> None:
        self.sink.stream(name, text)

    def display(self, bundle: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        self.sink.display(bundle, metadata)

    def result(self, bundle: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        self.sink.result(bundle, metadata)

    def run(self, code: str) -> RunOutcome:
        """Run helper code for a magic: streams go to the client, the error is returned."""
        return self.session.run_streamed(code, self.sink)

    def ask(self, prompt: str) -> str | None:
        return self.sink.ask(prompt)

    def ask_password(self, prompt: str) -> str:
        return self.sink.ask_password(prompt)

    def history(self) -> list[tuple[int, int, str]]:
        return self.sink.history()

    def next_input(self, text: str, replace: bool) -> None:
        self.sink.next_input(text, replace)


class QuietContext(_OnSession):
    """What a magic's completer sees on a worker thread: runs are silent and skip a busy notebook
    (as code completion's are), and nothing reaches the client, whose current request may by then
    be another one."""

    cell_id: str | None = None

    def __init__(self, session: Session) -> None:
        self.session = session

    def stream(self, name: str, text: str) -> None:
        pass

    def display(self, bundle: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        pass

    def result(self, bundle: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        pass

    def run(self, code: str) -> RunOutcome:
        payload = self.session.run_silent(code, if_idle=True)  # None: the notebook is busy, or no answer
        return RunOutcome(payload is not None, payload, None)

    def ask(self, prompt: str) -> str | None:
        return None

    def ask_password(self, prompt: str) -> str:
        raise UsageError("a completion cannot ask for input")

    def history(self) -> list[tuple[int, int, str]]:
        return []

    def next_input(self, text: str, replace: bool) -> None:
        pass
