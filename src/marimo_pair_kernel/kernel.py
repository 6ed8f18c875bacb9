"""The Jupyter kernel: protocol glue between a Jupyter client and a live marimo notebook.

Everything the user runs goes to marimo through the session layer (session.py: the target,
the runtime's install, the ways to run code); this module only routes requests (code, magics,
`obj?`, completion) and turns results into Jupyter messages. Our own failures become one-paragraph `error` replies; the
kernel never dies of them.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
import traceback as tb_module
from typing import TYPE_CHECKING, Any

from . import __version__, offload, scratchpad, transform
from .errors import PairError
from .fastimport import import_httpx_lean
from .magics import Magic, argument_words, help_text, load_all, run_magic
from .outputs import ErrorInfo, error_from_exception, value_bundle
from .reply_order import AbortBeforeReply
from .session import QUICK_DEADLINE, NotebookContext, QuietContext, Session

if TYPE_CHECKING:
    from .late import LateOutputs
    from .target import Targeter

__all__ = ["QUICK_DEADLINE", "MarimoPairKernel"]

log = logging.getLogger("marimo_pair_kernel")

_EXIT = {"exit", "quit", "exit()", "quit()"}
_SHOWN = ("execute_result", "display_data", "update_display_data")
_PAGER = re.compile(r"^\s*(\?{1,2})?\s*([A-Za-z_%][\w.]*)\s*(\?{1,2})?\s*$")


class MarimoPairKernel(AbortBeforeReply):  # ipykernel's Kernel, see reply_order.py
    implementation = "marimo-pair-kernel"
    implementation_version = __version__
    language = "python"
    language_version = ".".join(map(str, sys.version_info[:3]))
    language_info = {
        "name": "python",
        "version": ".".join(map(str, sys.version_info[:3])),
        "mimetype": "text/x-python",
        "codemirror_mode": {"name": "ipython", "version": 3},
        "pygments_lexer": "ipython3",
        "nbconvert_exporter": "python",
        "file_extension": ".py",
    }
    banner = (
        "marimo-pair: a Jupyter kernel on a live marimo notebook.\n"
        "Code runs in the notebook's scratchpad; %help lists the magics, %%cell adds durable cells."
    )
    help_links = [{"text": "marimo", "url": "https://docs.marimo.io"}]
    _count = 1  # the number the next stored execution gets, as IPython's In[n]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pair_session = Session()  # the notebook: target, runtime install, the ways to run code
        self.context = NotebookContext(self.pair_session, _Client(self))  # what magics see
        self._history: list[tuple[int, int, str]] = []  # (session, line, source), as IPython keeps it
        # Per-request flags, set by do_execute; completion may come before any execute.
        self._silent = False
        self._hidden = False
        self._payload: list[dict[str, Any]] = []
        self._allow_stdin = False
        self._open_first = None
        self._late_out: LateOutputs | None = None  # output of this kernel's threads after their execute
        from .widgets import Widgets

        self.widgets = Widgets(self)  # comms: live mo.ui elements, and comm_info_request
        if os.environ.get("MARIMO_PAIR_OPEN"):
            # `marimo-pair-kernel console NB.py`: start the server now, finish %open on first execute.
            from .magics.opening import open_from_env

            self._open_first = open_from_env(self.context)
        self._stop_servers_on_sigterm()
        # Now rather than at start(): finding the notebook overlaps the rest of the kernel's start-up.
        threading.Thread(target=self._warm_up, name="marimo-pair-warm-up", daemon=True).start()

    def _stop_servers_on_sigterm(self) -> None:
        """SIGTERM stops the servers %open started (launcher.py), then ends the kernel as before.

        Set here, on the main thread: the launcher is made during an execute, which runs on a
        worker thread (offload.py), where no signal handler can be set.
        """

        def stop() -> None:
            launcher = self.pair_session.launcher
            if launcher is not None:
                launcher.stop_all()

        offload.chain_sigterm(stop)

    # The magic families load on first use, not at start-up (so do httpx and discovery, see
    # session.py): a kernel that starts as fast as ipykernel's own is what makes the console feel instant.

    @property
    def targeter(self) -> Targeter:
        return self.pair_session.targeter

    @property
    def _targeter(self) -> Targeter | None:
        # widgets.py reads the target without resolving one (getattr(kernel, "_targeter")).
        return self.pair_session._targeter

    def _warm_up(self) -> None:
        """Before the first Tab: find the notebook, install our runtime there, warm jedi.

        Runs on a thread, so the shell channel answers meanwhile. Sends nothing when there is
        no notebook yet or its kernel is busy (a person's cell must not wait behind us), and
        nothing that shows: the runtime is what the first execute would install anyway.
        """
        try:
            from IPython.core.inputtransformer2 import TransformerManager

            TransformerManager().check_complete("pass")  # is_complete's first answer is instant too
            if self._open_first is not None:
                ready = getattr(self._open_first, "ready", None)
                if ready is None:
                    return  # an %open at start-up: its first execute finishes it
                # The console's notebook: once it is open, do now what the first `1 + 1` would
                # (install our runtime), and warm IPython and jedi in marimo, before it is typed.
                target, _, _ = ready.result()
                if not self.pair_session.note_warmed(ready):  # install our runtime, warm it
                    self.pair_session.warm(target)
                return
            t0 = time.perf_counter()
            import_httpx_lean()
            self.targeter.current()
            log.debug("warm-up: notebook found in %.0f ms", (time.perf_counter() - t0) * 1000)
            self.pair_session.warm(unless_asked=True)  # a Tab that came first installs the runtime, and warms jedi
        except Exception:  # noqa: BLE001 - warming is an optimisation; the real request reports problems
            log.debug("warm-up failed", exc_info=True)

    @property
    def magics(self) -> dict[str, Magic]:
        return load_all()

    @property
    def kernel_info(self) -> dict[str, Any]:
        # ipykernel's version imports debugpy to decide whether to offer "debugger" (a third of
        # our start-up time); we offer neither the debugger nor subshells, and say so.
        from ipykernel.kernelbase import kernel_protocol_version

        return {
            "protocol_version": kernel_protocol_version,
            "implementation": self.implementation,
            "implementation_version": self.implementation_version,
            "language_info": self.language_info,
            "banner": self.banner,
            "help_links": self.help_links,
            "supported_features": [],
            "debugger": False,
        }

    async def do_debug_request(self, msg: dict[str, Any]) -> dict[str, Any]:  # type: ignore[override]
        # ipykernel's base raises NotImplementedError here and then sends no reply at all, and a
        # client that asks anyway (VS Code's Run by Line, after `import ipykernel` succeeds in
        # marimo's process) waits for one with no timeout: a DAP error response ends that wait.
        command = msg.get("command") if isinstance(msg, dict) else None
        text = (
            "Debugging is not available from the marimo-pair kernel: your code runs in marimo's own "
            "process (the notebook's kernel), which this kernel reaches over HTTP, so no debugger "
            "can be attached from here."
        )
        return {
            "type": "response",
            "request_seq": msg.get("seq", 0) if isinstance(msg, dict) else 0,
            "success": False,
            "command": command,
            "message": text,
            "body": {"error": {"id": 1, "format": text, "showUser": True}},
        }

    def send_response(self, stream: Any, msg_or_type: Any, content: Any = None, *args: Any, **kwargs: Any) -> Any:
        # Every output passes here: a mo.ui element's bundle becomes a live widget (widgets.py).
        if msg_or_type in _SHOWN and isinstance(content, dict):
            self.widgets.adopt(content.get("data"))
        return super().send_response(stream, msg_or_type, content, *args, **kwargs)

    # -- execute ---------------------------------------------------------------------------

    async def do_execute(  # type: ignore[override]
        self,
        code: str,
        silent: bool,
        store_history: bool = True,
        user_expressions: dict | None = None,
        allow_stdin: bool = False,
        *,
        cell_meta: dict | None = None,
        cell_id: str | None = None,
    ) -> dict[str, Any]:
        self.context.cell_id = cell_id or (cell_meta or {}).get("cellId")
        store_history = store_history and not silent  # the message spec: silent forces it off
        if store_history:
            self._history.append((1, self._count, code))
        self._allow_stdin = allow_stdin
        self._silent = silent
        self._hidden = not store_history  # VS Code's start-up code: %config keys we don't know stay quiet
        reply: dict[str, Any] = {"status": "ok", "payload": [], "user_expressions": {}}
        self._payload = reply["payload"]  # what magics add (%load's set_next_input)
        try:
            # On a worker thread (offload.py): meanwhile the event loop dispatches comm messages
            # (a widget moved in JupyterLab), and SIGINT still interrupts this work.
            error = await offload.run_blocking(lambda: self._execute_request(code, reply, user_expressions))
        except KeyboardInterrupt:
            error = ErrorInfo(
                "KeyboardInterrupt", "", ["KeyboardInterrupt: interrupted; the marimo execution was stopped"]
            )
        except PairError as e:
            error = error_from_exception(e)
        except Exception as e:  # noqa: BLE001 - a bug of ours must not kill the kernel
            log.error("internal error:\n%s", tb_module.format_exc())
            error = ErrorInfo(
                "InternalError",
                f"marimo-pair-kernel hit an internal error ({type(e).__name__}). The kernel is still "
                "running; please report this with the kernel log.",
                [f"InternalError: {type(e).__name__}: {e}"],
            )
        if error is not None:
            if not silent:
                self.send_response(self.iopub_socket, "error", error.content())
            reply.update(status="error", **error.content())
            reply.pop("payload", None)
        if store_history:
            self._count += 1
        reply["execution_count"] = self._count - 1
        return reply

    # As in IPython: the count advances only for executions stored in history, and
    # execute_input shows the number the cell will get (ipykernel's own increment is ignored).
    @property
    def execution_count(self) -> int:  # type: ignore[override]
        return self._count

    @execution_count.setter
    def execution_count(self, value: int) -> None:
        pass

    def _stream(self, name: str, text: str) -> None:
        self.send_response(self.iopub_socket, "stream", {"name": name, "text": text})

    def _flush_warnings(self) -> None:
        for w in self.pair_session.take_warnings():
            self._stream("stderr", w + "\n")

    def _execute_request(self, code: str, reply: dict[str, Any], user_expressions: dict | None) -> ErrorInfo | None:
        error = self._execute(code, reply)
        if error is None and user_expressions:
            reply["user_expressions"] = self._user_expressions(user_expressions)
        return error

    def _execute(self, code: str, reply: dict[str, Any]) -> ErrorInfo | None:
        stripped = code.strip()
        if not stripped:
            return None
        if stripped in _EXIT:
            reply["payload"] = [{"source": "ask_exit", "keepkernel": False}]
            return None
        if self._open_first is not None:
            finish = self._open_first
            try:
                finish()
            except KeyboardInterrupt:  # ends only this wait: the next execute finishes the open
                text = "KeyboardInterrupt: stopped waiting for the notebook (marimo carries on; the next line waits)"
                return ErrorInfo("KeyboardInterrupt", "", [text])
            except BaseException:
                self._open_first = None  # reported once; %open is the way to try again
                raise
            self._open_first = None
            self.pair_session.note_warmed(getattr(finish, "ready", None))  # before the warm-up thread may get to it
        rewritten = transform.rewrite(code, hidden=self._hidden)  # IPython's %magics and !cmd (transform.py)
        if rewritten.note and not self._silent:
            self._stream("stderr", rewritten.note)
        code, stripped = rewritten.code, rewritten.code.strip()
        if stripped.startswith("%%"):
            first, _, body = code.lstrip().partition("\n")
            name, _, argline = first[2:].partition(" ")
            return self._magic(name, argline, body.rstrip("\n") + "\n" if body.strip() else "", cell=True)
        if stripped.startswith("%") and "\n" not in stripped:
            name, _, argline = stripped[1:].partition(" ")
            if name.endswith("?"):
                self._page(help_text(name.rstrip("?")), reply)
                return None
            return self._magic(name, argline, None, cell=False)
        m = _PAGER.match(stripped) if "?" in stripped else None
        if m and (m.group(1) or m.group(3)):
            marks = m.group(1) or m.group(3)
            name = m.group(2)
            if name.startswith("%"):
                self._page(help_text(name.lstrip("%")), reply)
            else:
                self._page(self._inspect_text(name, len(marks) - 1), reply)
            return None
        pair = self.pair_session  # the count and %xmode travel in the line: a failure comes back laid out
        mode = pair.state("xmode", "Context")
        prepared = scratchpad.prepare(
            code, pair.page_url(), pair.pair_owner(), self._count, mode, store=not self._hidden, shown=not self._silent
        )
        if prepared.asks_input:
            raise PairError(
                f"{prepared.asks_input}() cannot be answered here: marimo's scratchpad would wait for "
                "a browser prompt that the Jupyter client never sees, and hang. Put the value in the "
                "code instead, or use a mo.ui.text element in a %%cell."
            )
        return self._run_user_code(prepared)

    def _run_user_code(self, prepared: scratchpad.Prepared) -> ErrorInfo | None:
        ran = self.pair_session.run_streamed(prepared.code, self.context.sink)
        if ran.error is not None:
            return self.pair_session.explain(ran.error, self.context)
        if prepared.code and self.pair_session.pair_owner().kernel_id is None:
            self.pair_session.note_bound(prepared.bound_names)
        if self._silent:
            return None
        payload = ran.payload
        if payload is not None:
            # As ipykernel: the value first, then the figures still open at the end.
            value = payload.get("value") or {}
            bundle = value_bundle(value.get("data"), None)
            if bundle:
                self.send_response(
                    self.iopub_socket,
                    "execute_result",
                    {"execution_count": self._count, "data": bundle, "metadata": value.get("metadata") or {}},
                )
            for shown in payload.get("after") or []:
                self._publish({"k": "display", **shown})
        elif ran.output is not None and ran.output.data:
            # Our tail answers with a payload or nothing; marimo's own output means the runtime
            # is gone (the marimo kernel restarted): show marimo's form, reinstall for next time.
            if scratchpad.RUNTIME_MODULE in prepared.code:
                self.pair_session.forget_installs()
            bundle = value_bundle(None, ran.output)
            if bundle and prepared.has_value:
                content = {"execution_count": self._count, "data": bundle, "metadata": {}}
                self.send_response(self.iopub_socket, "execute_result", content)
            elif bundle:
                self.context.display(bundle)
        return None

    def _publish(self, msg: dict[str, Any]) -> None:
        """One display message from the runtime (see outputs.DisplayStream) as ipykernel sends it."""
        if self._silent:
            return
        kind = msg.get("k")
        if kind == "origin":  # this run started threads: their later output belongs here (late.py)
            self._late_origin(msg.get("o"))
            return
        if kind == "clear":
            self.send_response(self.iopub_socket, "clear_output", {"wait": bool(msg.get("wait"))})
            return
        data = msg.get("data")
        if kind not in ("display", "update") or not isinstance(data, dict) or not data:
            return
        content = {"data": data, "metadata": msg.get("metadata") or {}, "transient": msg.get("transient") or {}}
        self.send_response(self.iopub_socket, "update_display_data" if kind == "update" else "display_data", content)

    def _late_origin(self, tag: object) -> None:
        """Threads of this execute may write after it ends: watch the notebook for their output."""
        from . import late

        if self._late_out is None:

            def publish(msg_type: str, content: dict[str, Any], parent: dict[str, Any]) -> None:
                # From the viewer's thread: the IOPub socket is ipykernel's thread-safe one.
                if self.session is not None:
                    self.session.send(
                        self.iopub_socket, msg_type, content, parent=parent, ident=self._topic(msg_type)
                    )

            self._late_out = late.LateOutputs(publish)
        target = self.pair_session.resolved
        self._late_out.register(tag, self.get_parent("shell"), target.viewer_target() if target is not None else None)

    def _user_expressions(self, expressions: dict[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, expr in expressions.items():
            prepared = scratchpad.prepare(expr, owner=self.pair_session.pair_owner(), store=False, shown=False)
            try:
                payload = self.pair_session.run_silent(prepared.code) if prepared.has_value else None
            except PairError as e:
                payload = None
                err = error_from_exception(e)
            else:
                err = ErrorInfo("SyntaxError" if not prepared.has_value else "Error", f"cannot evaluate {expr!r}", [])
            value = payload.get("value") if payload else None
            if value:
                self.widgets.strip(value.get("data"))  # a reply, not an output: no widget
                out[name] = {
                    "status": "ok",
                    "data": value_bundle(value.get("data"), None),
                    "metadata": value.get("metadata") or {},
                }
            else:
                out[name] = {"status": "error", **err.content()}
        return out

    # -- magics and pager --------------------------------------------------------------------

    def _magic(self, name: str, argline: str, body: str | None, *, cell: bool) -> ErrorInfo | None:
        error = run_magic(self.context, name, argline, body, cell=cell)
        if error is None:
            self._flush_warnings()
        return error

    def _inspect_text(self, name: str, detail: int) -> str:
        kernel_id = self.pair_session.pair_owner().kernel_id
        payload = self.pair_session.run_silent(scratchpad.inspect_code(name, detail, kernel_id))
        if not payload or not payload.get("found"):
            raise PairError(f"Object `{name}` not found in the notebook's kernel.")
        return str(payload.get("text", ""))

    def _page(self, text: str, reply: dict) -> None:
        reply["payload"] = [{"source": "page", "data": {"text/plain": text}, "start": 0}]
        return None

    # -- editing help ----------------------------------------------------------------------------

    async def do_is_complete(self, code: str) -> dict[str, Any]:  # type: ignore[override]
        # IPython's own rules, including "a %% cell magic goes on until an empty line".
        from IPython.core.inputtransformer2 import TransformerManager

        status, indent = TransformerManager().check_complete(code)
        reply: dict[str, Any] = {"status": status}
        if status == "incomplete":
            reply["indent"] = " " * (indent or 0)
        return reply

    async def do_complete(self, code: str, cursor_pos: int | None) -> dict[str, Any]:  # type: ignore[override]
        cursor_pos = len(code) if cursor_pos is None else cursor_pos
        reply = {"status": "ok", "matches": [], "cursor_start": cursor_pos, "cursor_end": cursor_pos, "metadata": {}}
        try:
            before = code[:cursor_pos]
            line = before.rsplit("\n", 1)[-1]
            first_line = code.lstrip().split("\n", 1)[0]
            m = re.match(r"^(%%?)(\w*)$", line)
            if m:
                names = sorted(n for n, mg in self.magics.items() if (mg.cell if m.group(1) == "%%" else mg.line))
                reply["matches"] = [m.group(1) + n for n in names if n.startswith(m.group(2))]
                reply["cursor_start"] = cursor_pos - len(line)
                return reply
            if line.lstrip().startswith("%") or (before.count("\n") == 0 and first_line.startswith("%")):
                word = re.search(r"[^\s]*$", line).group(0)  # type: ignore[union-attr]
                name = line.lstrip("%").split(" ", 1)[0]
                mg = self.magics.get(name)
                quiet = QuietContext(self.pair_session)  # nothing reaches the client; a busy notebook is skipped
                reply["matches"] = argument_words(mg, quiet, word, QUICK_DEADLINE) if mg is not None else []
                reply["cursor_start"] = cursor_pos - len(word)
                return reply
            kernel_id = self.pair_session.pair_owner().kernel_id
            payload = self.pair_session.run_quick(scratchpad.completion_code(code, cursor_pos, kernel_id))
            if payload:
                matches = [str(x) for x in payload.get("matches", [])]
                back = int(payload.get("start_back", 0))
                if not (m := re.search(r"%\w*$", before)):
                    matches += [f"%{n}" for n in sorted(self.magics) if before.endswith("%")]
                reply["matches"] = matches
                reply["cursor_start"] = cursor_pos - back
        except (PairError, KeyboardInterrupt):
            pass
        except Exception:  # noqa: BLE001 - completion must never raise
            log.debug("completion failed", exc_info=True)
        return reply

    async def do_inspect(  # type: ignore[override]
        self, code: str, cursor_pos: int, detail_level: int = 0, omit_sections: Any = ()
    ) -> dict[str, Any]:
        reply: dict[str, Any] = {"status": "ok", "found": False, "data": {}, "metadata": {}}
        from IPython.utils.tokenutil import token_at_cursor

        # IPython's own rule (ipykernel's): the name under the cursor, or the callee of the call it is in.
        name = token_at_cursor(code, cursor_pos)
        if not name:
            return reply
        try:
            kernel_id = self.pair_session.pair_owner().kernel_id
            payload = self.pair_session.run_quick(scratchpad.inspect_code(name, detail_level, kernel_id))
        except KeyboardInterrupt:
            return reply
        if payload and payload.get("found"):
            reply["found"] = True
            reply["data"] = {"text/plain": str(payload.get("text", ""))}
        return reply

    async def do_history(  # type: ignore[override]
        self,
        hist_access_type: str,
        output: bool,
        raw: bool,
        session: int | None = None,
        start: int | None = None,
        stop: int | None = None,
        n: int | None = None,
        pattern: str | None = None,
        unique: bool = False,
    ) -> dict[str, Any]:
        entries = self._history
        if hist_access_type == "tail":
            entries = entries[-n:] if n else entries
        elif hist_access_type == "range":
            lo = start or 0
            hi = stop if stop is not None else float("inf")
            entries = [e for e in entries if lo <= e[1] < hi]
        elif hist_access_type == "search":
            import fnmatch

            entries = [e for e in entries if fnmatch.fnmatch(e[2], pattern or "*")]
            if unique:
                seen: set[str] = set()
                entries = [e for e in entries if not (e[2] in seen or seen.add(e[2]))]  # type: ignore[func-returns-value]
            entries = entries[-n:] if n else entries
        history = [(s, ln, (src, None) if output else src) for s, ln, src in entries]
        return {"status": "ok", "history": history}

    # -- lifecycle -----------------------------------------------------------------------------------

    async def do_shutdown(self, restart: bool) -> dict[str, Any]:  # type: ignore[override]
        self.cleanup()
        return {"status": "ok", "restart": restart}

    async def shutdown_request(self, stream: Any, ident: Any, parent: Any) -> None:  # type: ignore[override]
        """ipykernel 7.4's, except that the main loop stops only once this request is fully handled.

        ipykernel stops the main loop right after the reply, while the control thread still has
        to finish this message: flush sys.stdout/stderr through the IOPub thread and publish
        "idle". The main thread meanwhile leaves its loop and runs the atexit handlers, and the
        first one stops the IOPub thread and closes its event pipes. A flush caught in between
        blocks on a pipe nobody reads (the kernel hangs until jupyter_client's SIGTERM), waits
        out flush_timeout ("IOStream.flush timed out"), or writes to a closed socket ("ZMQError:
        Socket operation on non-socket"). Here the control loop itself stops the main loop, in
        a callback that runs after the message's handling is over.
        """
        if not self.session:
            return
        content = await self.do_shutdown(parent["content"]["restart"])
        self.session.send(stream, "shutdown_reply", content, parent, ident=ident)
        # same content, but a different msg_id, for broadcasting on IOPub
        self._shutdown_message = self.session.msg("shutdown_reply", content, parent)  # type: ignore[assignment]
        await self._at_shutdown()

        main_loop = self.io_loop

        def stop_main() -> None:
            main_loop.add_callback(main_loop.stop)
            shell_loop = self.shell_stream.io_loop if self.shell_stream else None
            if shell_loop is not None and shell_loop is not main_loop:
                shell_loop.add_callback(shell_loop.stop)

        control_loop = self.control_stream.io_loop if self.control_stream else None
        if control_loop is None:
            stop_main()
            return
        control_loop.add_callback(stop_main)
        control_loop.add_callback(control_loop.stop)

    def cleanup(self) -> None:
        try:
            if self._late_out is not None:
                self._late_out.close()
            self.widgets.live.close()
            from .magics.namespace import forget_quietly

            forget_quietly(self.pair_session)  # the marimo kernel drops this kernel's names (restart or shutdown)
            if self.pair_session.launcher is not None:
                self.pair_session.launcher.stop_all()
        finally:
            self.pair_session.close()


class _Client:
    """The client's request in progress, as the session layer and magics write to it (context.Sink)."""

    def __init__(self, kernel: MarimoPairKernel) -> None:
        self._kernel = kernel

    @property
    def silent(self) -> bool:
        return self._kernel._silent

    @property
    def count(self) -> int:
        return self._kernel._count

    def stream(self, name: str, text: str) -> None:
        self._kernel._stream(name, text)

    def publish(self, msg: dict[str, Any]) -> None:
        self._kernel._publish(msg)

    def display(self, bundle: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        k = self._kernel
        k.send_response(k.iopub_socket, "display_data", {"data": bundle, "metadata": metadata or {}, "transient": {}})

    def result(self, bundle: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        k = self._kernel
        if k._silent:  # as ipykernel: a silent execute publishes no result
            return
        content = {"execution_count": k._count, "data": bundle, "metadata": metadata or {}}
        k.send_response(k.iopub_socket, "execute_result", content)

    def ask(self, prompt: str) -> str | None:
        """A line typed in answer to `prompt` (stdin), or None when the client cannot answer."""
        k = self._kernel
        return k.raw_input(prompt) if k._allow_stdin else None

    def history(self) -> list[tuple[int, int, str]]:
        return list(self._kernel._history)

    def next_input(self, text: str, replace: bool) -> None:
        self._kernel._payload.append({"source": "set_next_input", "text": text, "replace": replace})

    def ask_password(self, prompt: str) -> str:
        k = self._kernel
        if not k._allow_stdin:
            raise PairError(
                "This client cannot answer input requests (stdin is not allowed), so %token cannot "
                "ask for the token. Set MARIMO_TOKEN in the kernel's environment instead."
            )
        return k.getpass(prompt)
