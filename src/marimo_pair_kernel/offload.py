"""An execute's blocking work on a worker thread, so the kernel's event loop stays free meanwhile.

ipykernel 7 dispatches comm messages (a widget moved in JupyterLab) while an execute holds the
shell channel, but only while the execute's handler awaits; our requests to marimo block. So
`run_blocking` runs them on a thread of their own and awaits it. The thread runs in a copy of
the request's context: `get_parent` (every IOPub message's parent header, and where an
input_request goes) stays the execute's, whatever comm messages the event loop handles meanwhile.
ipykernel 6 dispatches nothing while a handler awaits: there comms simply wait, as before.

Interrupts. SIGINT (kernelspec interrupt_mode "signal", and ipykernel's interrupt_request, which
signals the process group) lands in the main thread, which now runs the event loop, not the
work. While the work runs, a handler raises KeyboardInterrupt in the worker instead, where the
main thread got it before, and calls what the worker registered with `wakes` (client.py shuts
down the socket of the stream it reads from marimo): that wakes a blocked read and, as closing
the stream always did, makes marimo interrupt its kernel. Other waits in the work (stdin,
launcher polls) wake within moments on their own. An interrupt after the work ended is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ctypes
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_wakers_lock = threading.RLock()  # also taken in the SIGINT handler, on the main thread
_wakers: dict[int, list[Callable[[], None]]] = {}  # thread id -> how to wake its blocking reads


@contextlib.contextmanager
def wakes(wake: Callable[[], None]) -> Iterator[None]:
    """While inside, an interrupt of this thread's work calls `wake` (e.g. shuts a socket it reads)."""
    ident = threading.get_ident()
    with _wakers_lock:
        _wakers.setdefault(ident, []).append(wake)
    try:
        yield
    finally:
        with _wakers_lock:
            found = _wakers.get(ident, [])
            if wake in found:
                found.remove(wake)
            if not found:
                _wakers.pop(ident, None)


def _wake(ident: int) -> None:
    with _wakers_lock:
        found = list(_wakers.get(ident, []))
    for wake in found:
        with contextlib.suppress(Exception):  # best effort: the interrupt is already raised in the thread
            wake()


class _Run:
    """One piece of work on its thread, and whether an interrupt may still be raised in it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ident: int | None = None
        self.active = False  # the work itself is running: an interrupt belongs to it

    def interrupt(self) -> None:
        with self.lock:
            if not self.active or self.ident is None:
                return
            ident = self.ident
            _set_async_exc(ctypes.c_ulong(ident), ctypes.py_object(KeyboardInterrupt))
        _wake(ident)

    def start(self) -> None:
        with self.lock:
            self.ident = threading.get_ident()
            self.active = True

    def end(self) -> None:
        with self.lock:
            self.active = False
            if self.ident is not None:
                _set_async_exc(ctypes.c_ulong(self.ident), None)  # one raised too late: cleared


async def run_blocking(fn: Callable[[], T], *, name: str = "marimo-pair-execute") -> T:
    """`fn()` on a thread of its own; its result or exception, while the event loop runs on."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()
    run = _Run()

    def settle(outcome: tuple[bool, Any] | None) -> None:
        if done.done() or outcome is None:
            return
        ok, value = outcome
        if ok:
            done.set_result(value)
        else:
            done.set_exception(value)

    def body() -> None:
        outcome: tuple[bool, Any] | None = None
        started = False
        while True:
            # A KeyboardInterrupt raised after `fn` returned lands here, never outside: the thread
            # always settles the future, with what `fn` gave.
            try:
                if not started:
                    started = True
                    run.start()
                    try:
                        outcome = (True, context.run(fn))
                    except BaseException as e:  # noqa: BLE001 - handed to the awaiting coroutine
                        outcome = (False, e)
                run.end()
                break
            except KeyboardInterrupt as e:
                if outcome is None:
                    outcome = (False, e)
        with contextlib.suppress(RuntimeError):  # the loop is gone: the kernel is shutting down
            loop.call_soon_threadsafe(settle, outcome)

    with _sigint_to(run):
        threading.Thread(target=body, name=name, daemon=True).start()
        return await done  # type: ignore[no-any-return]


@contextlib.contextmanager
def _sigint_to(run: _Run) -> Iterator[None]:
    """While the work runs, SIGINT interrupts it instead of the event loop."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def handler(signum: int, frame: Any) -> None:
        run.interrupt()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def chain_sigterm(stop: Callable[[], None]) -> bool:
    """On SIGTERM, call `stop`, then end the process as the handler before would have.

    Only the main thread may set a handler: False (nothing set) elsewhere.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        stop()
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)
    return True
