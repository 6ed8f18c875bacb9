"""Interrupt (both modes) and session replacement, each leaving kernel and notebook usable."""

from __future__ import annotations

import time

import pytest
from support import MarimoServer, execute


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # --session-ttl 0: a closed tab ends its session, so a reload makes a new session
    # (new stable id, new kernel) rather than resuming the old one.
    srv = MarimoServer.start(tmp_path_factory.mktemp("marimo"), extra_args=("--session-ttl", "0"))
    try:
        yield srv
    finally:
        srv.stop()


LOOP = "import time\nwhile True:\n    time.sleep(0.01)"


def _wait_reply(kc, msg_id, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply
    raise AssertionError("no reply")


@pytest.mark.parametrize("mode", ["signal", "message"])
def test_interrupt_stops_marimo_and_everything_still_works(kernel_pair, server, mode):
    km, kc = kernel_pair
    msg_id = kc.execute(LOOP)
    time.sleep(1.0)
    t0 = time.monotonic()
    if mode == "signal":
        km.interrupt_kernel()  # kernel.json says interrupt_mode "signal": SIGINT
    else:
        kc.control_channel.send(kc.session.msg("interrupt_request", {}))
    reply = _wait_reply(kc, msg_id)
    assert time.monotonic() - t0 < 2.0
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    after = execute(kc, "6 * 7")  # sent at once: never aborted (reply_order.py, test_kernel_abort.py)
    assert after.reply["status"] == "ok", after.reply
    assert after.result["text/plain"] == "42"
    # The notebook itself is usable too (not through the kernel).
    _, done = server.execute("answer + 1")
    assert done["success"] is True


def test_session_replaced_is_found_again(kernel_pair, server):
    _, kc = kernel_pair
    assert execute(kc, "answer").result["text/plain"] == "42"
    old = {nb["session_id"] for nb in server.notebooks()}
    server.close_sessions()  # the browser tab goes away ...
    deadline = time.monotonic() + 15
    while server.notebooks() and time.monotonic() < deadline:
        time.sleep(0.1)
    server.open_session()  # ... and a new one opens the same file (a reload)
    assert {nb["session_id"] for nb in server.notebooks()}.isdisjoint(old)
    run = execute(kc, "answer")
    assert run.reply["status"] == "ok", run.reply
    assert run.result["text/plain"] == "42"
