"""After an error, ipykernel aborts the executes queued behind it, and only those.

ipykernel 7 sends the error reply and only then posts the marker that ends the aborting. A
client that answers the reply at once (an agent's next line, the documented jupyter_client
recipe after an interrupt) can get its request in before the marker when the kernel's main
thread is held up at that moment (a loaded machine): that request is aborted, though it was
sent after the error was known. CI saw this once. The kernel here is started through a
launcher that holds the main thread for 0.3 s right after sending an error reply, which makes
that moment certain instead of rare (and, for the second test, holds an execute 0.5 s so what is
sent meanwhile is surely queued): a request sent after the reply must run, one queued before it
must still be aborted (nbclient's "stop at the first error").
"""

from __future__ import annotations

import json
import sys

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from support import started_kernel

# Runs as the kernel process: Session.send sleeps after an error execute_reply, then our kernel.
_LAUNCHER = """
import time
from jupyter_client.session import Session
_send = Session.send
def send(self, stream, msg_or_type, content=None, *args, **kwargs):
    sent = _send(self, stream, msg_or_type, content, *args, **kwargs)
    if msg_or_type == "execute_reply" and (content or {}).get("status") == "error":
        time.sleep(0.3)
    return sent
Session.send = send
from marimo_pair_kernel.kernel import MarimoPairKernel
_do_execute = MarimoPairKernel.do_execute
async def do_execute(self, code, *args, **kwargs):
    if code.endswith("# held"):
        time.sleep(0.5)  # a slow execute: what the client sends meanwhile is queued behind it
    return await _do_execute(self, code, *args, **kwargs)
MarimoPairKernel.do_execute = do_execute
from marimo_pair_kernel.__main__ import main
main()
"""


@pytest.fixture(scope="module")
def slow_kernel(tmp_path_factory):
    kernels = tmp_path_factory.mktemp("kernels")
    spec = kernels / "pair-held-after-error"
    spec.mkdir()
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-c", _LAUNCHER, "-f", "{connection_file}"],
        "display_name": "marimo-pair, held after an error reply",
        "language": "python",
        "interrupt_mode": "signal",
    }))
    ksm = KernelSpecManager(kernel_dirs=[str(kernels)])
    state = tmp_path_factory.mktemp("state")  # no registry: every execute is a NoNotebookError
    with started_kernel({"XDG_STATE_HOME": str(state)}, kernel_name="pair-held-after-error",
                        kernel_spec_manager=ksm) as (km, kc):
        yield kc


def _reply(kc, msg_id: str) -> dict:
    while True:
        msg = kc.get_shell_msg(timeout=30)
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg["content"]


def test_a_request_sent_after_the_error_reply_runs(slow_kernel):
    kc = slow_kernel
    for _ in range(3):
        failed = _reply(kc, kc.execute("1/0"))
        assert failed["status"] == "error" and failed["ename"] == "NoNotebookError", failed
        # Sent the moment the error reply arrived, while the kernel is still held after it.
        after = _reply(kc, kc.execute("%discover"))
        assert after["status"] == "ok", after


def test_requests_queued_before_the_error_are_still_aborted(slow_kernel):
    kc = slow_kernel
    first = kc.execute("1/0  # held")  # takes 0.5 s: the next two are surely queued behind it
    queued = [kc.execute("%discover") for _ in range(2)]
    assert _reply(kc, first)["status"] == "error"
    assert [_reply(kc, m)["status"] for m in queued] == ["aborted", "aborted"]
    assert _reply(kc, kc.execute("%discover"))["status"] == "ok"  # and then the kernel carries on
