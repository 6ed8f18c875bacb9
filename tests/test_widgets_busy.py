"""Comm messages while an execute runs (issue 17, item 2): the shell channel never holds a widget
move back until the execute ends. Real marimo, a real kernel, jupyter_client as the widget manager.

ipykernel 7 dispatches comm messages while an execute's handler awaits; the kernel's execute
runs its blocking work on a worker thread (offload.py), so it does. Interrupts and stdin still
reach that work.
"""

from __future__ import annotations

import queue
import time
from typing import Any

import ipykernel
import pytest
from support import MarimoServer, execute, kernel_fixture, server_fixture
from test_widgets import drain, is_comm, update, wait_iopub, widget

pytestmark = pytest.mark.timeout(300)
# The kernels these tests start run this Python's ipykernel. ipykernel 6 dispatches no comm
# message while an execute runs (the kernel works there, with comms waiting for the execute).
needs_ipykernel_7 = pytest.mark.skipif(
    int(ipykernel.__version__.split(".")[0]) < 7, reason="ipykernel 6 holds comm messages until an execute ends"
)

NOTEBOOK = '''
import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo
    s = mo.ui.slider(0, 10, value=2, label='n')
    return mo, s


@app.cell
def _(s):
    doubled = s.value * 2
    return (doubled,)


if __name__ == "__main__":
    app.run()
'''


srv = server_fixture("widgets-busy", code=NOTEBOOK)


kernel = kernel_fixture("srv", url=True, manager=True)


def until_idle(kc: Any, msg_id: str, timeout: float = 60) -> list[dict]:
    """IOPub messages, in order, up to the `idle` that ends request `msg_id`."""
    return wait_iopub(kc, lambda m: m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                      and m["parent_header"].get("msg_id") == msg_id, timeout)


def reply_to(kc: Any, msg_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = kc.get_shell_msg(timeout=timeout)
        if m["parent_header"].get("msg_id") == msg_id:
            return m
    raise AssertionError(f"no reply to {msg_id}")


def marimo_says(srv: MarimoServer) -> str:
    """`s.value doubled` as marimo itself has them (over HTTP, not through the kernel)."""
    events, done = srv.execute("print(s.value, doubled)")
    assert done["success"], done
    return "".join(data.get("data", "") for name, data in events if name == "stdout").strip()


@needs_ipykernel_7
def test_a_move_during_a_long_execute_is_handled_before_it_ends(kernel, srv):
    _, kc = kernel
    model_id, _, _, _ = widget(kc, "s")
    drain(kc)
    msg_id = kc.execute("import time\ntime.sleep(6)")
    seen = []
    while not any(m["msg_type"] == "execute_input" for m in seen):
        seen.append(kc.get_iopub_msg(timeout=30))
    time.sleep(1.0)  # the sleep is running in marimo
    update(kc, model_id, {"value": 7})
    seen = until_idle(kc, msg_id)
    kinds = [(m["msg_type"], m["content"].get("data", {}).get("method")) for m in seen]
    # The frontend's move was answered (echo_update, as ipywidgets does) while the execute ran,
    # not after it: before the execute's idle, with the move's own parent.
    echoes = [m for m in seen if is_comm(model_id, "echo_update")(m)]
    assert echoes, kinds
    assert echoes[0]["parent_header"]["msg_type"] == "comm_msg"
    assert reply_to(kc, msg_id)["content"]["status"] == "ok"
    # marimo's kernel was busy with the sleep: it applies the move right after, and reruns `doubled`.
    deadline = time.monotonic() + 60
    while marimo_says(srv) != "7 14" and time.monotonic() < deadline:
        time.sleep(0.3)
    assert marimo_says(srv) == "7 14"


@needs_ipykernel_7
def test_a_move_while_an_execute_waits_for_input_sets_marimo_before_its_reply(kernel, srv):
    """The execute waits on the Jupyter client (a question on stdin), marimo is free: the move
    sets marimo's value and reruns the dependent before the execute's reply."""
    _, kc = kernel
    model_id, _, _, _ = widget(kc, "s")
    drain(kc)
    msg_id = kc.execute("%reset", allow_stdin=True)
    request = kc.get_stdin_msg(timeout=60)
    assert request["msg_type"] == "input_request"
    assert request["parent_header"]["msg_id"] == msg_id  # asked from the worker thread, routed as before
    update(kc, model_id, {"value": 9})
    deadline = time.monotonic() + 60
    while marimo_says(srv) != "9 18" and time.monotonic() < deadline:
        time.sleep(0.3)
    assert marimo_says(srv) == "9 18"
    with pytest.raises(queue.Empty):
        kc.get_shell_msg(timeout=0.2)  # the execute is still waiting for its answer
    kc.input("n")
    seen = until_idle(kc, msg_id)
    assert reply_to(kc, msg_id)["content"]["status"] == "ok"
    out = "".join(m["content"]["text"] for m in seen
                  if m["msg_type"] == "stream" and m["parent_header"].get("msg_id") == msg_id)
    assert out == "Nothing done.\n"


def test_interrupt_while_waiting_for_input(kernel):
    """SIGINT reaches an input() wait on the worker thread, as it reached the main thread's."""
    km, kc = kernel
    drain(kc)
    msg_id = kc.execute("%reset", allow_stdin=True)
    assert kc.get_stdin_msg(timeout=60)["msg_type"] == "input_request"
    km.interrupt_kernel()
    reply = reply_to(kc, msg_id, timeout=30)
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"
    drain(kc)
    assert execute(kc, "6 * 7").result["text/plain"] == "42"
