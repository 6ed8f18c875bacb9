"""VS Code's Run by Line / Debug Cell: a `debug_request` on the control channel always gets a reply.

VS Code sends it with no timeout once `import ipykernel` works in the kernel (here, in marimo's
process, where it may well work). ipykernel's base class answers nothing when a kernel has no
debugger, so the client would wait forever; this kernel answers at once with an error that says
why. The `python3` kernel, as a control, answers the same request too (its debugger is real).
"""

from __future__ import annotations

import time

import pytest
from support import started_kernel

INITIALIZE = {
    "seq": 1,
    "type": "request",
    "command": "initialize",
    "arguments": {
        "clientID": "vscode", "clientName": "Visual Studio Code", "adapterID": "python", "pathFormat": "path",
        "linesStartAt1": True, "columnsStartAt1": True, "supportsVariableType": True,
        "supportsVariablePaging": True, "supportsRunInTerminalRequest": True, "locale": "en",
    },
}


def debug(kc, content: dict, timeout: float) -> tuple[dict, float]:
    """Send `debug_request` on the control channel; (reply, seconds it took)."""
    msg = kc.session.msg("debug_request", content)
    t0 = time.monotonic()
    kc.control_channel.send(msg)
    while True:
        left = timeout - (time.monotonic() - t0)
        reply = kc.control_channel.get_msg(timeout=max(left, 0.01))
        if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
            return reply, time.monotonic() - t0


@pytest.fixture(scope="module", params=["marimo-pair", "python3"])
def pair(request, tmp_path_factory):
    # No marimo server is needed: the request never reaches a notebook.
    state = tmp_path_factory.mktemp("state")
    with started_kernel({"XDG_STATE_HOME": str(state)}, kernel_name=request.param) as (_, kc):
        yield request.param, kc


def test_kernel_info_says_whether_there_is_a_debugger(pair):
    name, kc = pair
    kc.kernel_info()
    info = kc.get_shell_msg(timeout=30)["content"]
    # Protocol 5.5 lists "debugger" in supported_features; older clients read a `debugger` flag.
    if name == "marimo-pair":
        assert info["debugger"] is False and "debugger" not in info["supported_features"], info
    else:
        assert "debugger" in info["supported_features"], info


def test_debug_request_is_answered(pair):
    name, kc = pair
    if name == "marimo-pair":
        # The bound: a reply within a second (it needs no I/O, so it comes in milliseconds).
        reply, took = debug(kc, INITIALIZE, timeout=1.0)
        print(f"marimo-pair debug_reply after {took * 1000:.1f} ms")
        content = reply["content"]
        assert reply["msg_type"] == "debug_reply"
        assert content["type"] == "response" and content["success"] is False, content
        assert content["request_seq"] == 1 and content["command"] == "initialize", content
        assert "marimo's own process" in content["message"] and "not available" in content["message"], content
        # Every later request is refused the same way, and the kernel carries on.
        again, _ = debug(kc, {"seq": 2, "type": "request", "command": "debugInfo", "arguments": {}}, timeout=1.0)
        assert again["content"]["success"] is False and again["content"]["request_seq"] == 2
        kc.kernel_info()
        assert kc.get_shell_msg(timeout=30)["content"]["status"] == "ok"
    else:
        # The control: ipykernel's real debugger answers too (starting debugpy takes a moment).
        reply, took = debug(kc, INITIALIZE, timeout=60)
        print(f"python3 debug_reply after {took * 1000:.1f} ms")
        assert reply["msg_type"] == "debug_reply"
        assert reply["content"]["type"] == "response" and reply["content"]["command"] == "initialize"
