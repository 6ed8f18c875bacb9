"""Late outputs: what a thread that an execute started sends after that execute has ended.

ipykernel shows such output under the execute that started the thread (VS Code's completions
arrive that way: an update_display_data from a thread). Here it travels over the notebook's
viewer stream (src/marimo_pair_kernel/viewer.py); each snippet also runs on the `python3`
kernel as the control. Real marimo, real kernels, jupyter_client.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

import psutil
import pytest
from faults_support import LoggedKernel, assert_secret_kept
from support import MarimoServer, execute, start_kernel, started_kernel

from marimo_pair_kernel.late import LateOutputs, ViewerTarget
from marimo_pair_kernel.viewer import Connected, Notification, ViewerStream

KERNELS = ["marimo-pair", "python3"]

UPDATE_LATER = """
import threading, time
from IPython.display import display
h = display("before", display_id=True)
def _later():
    time.sleep(0.5)
    h.update("after")
threading.Thread(target=_later).start()
"""

PRINT_LATER = """
import threading, time
def _later():
    time.sleep(0.5)
    print("printed later")
threading.Thread(target=_later).start()
"""


def settle(kc) -> None:
    """Until IPython's display() in marimo is ours (hooked): the snippets import it.

    The warm-up and the kernel's runs never import at the same time (inmarimo/completion.py's
    warm_lock), so a run that imports IPython.display gets it hooked; this checks that, and waits
    for nothing else. (Joining the warm-up thread from a run would wait for a lock the run holds.)"""
    code = "import IPython.display as _d\nassert getattr(_d.display, '_mpk', None), 'not hooked yet'"
    for _ in range(40):
        if execute(kc, code).reply["status"] == "ok":
            return
        time.sleep(0.25)


@pytest.fixture(scope="module")
def kernels(server):
    """Both kernels, the marimo-pair one on the module's notebook."""
    with (
        started_kernel({"XDG_STATE_HOME": str(server.state_home)}) as (_, ours),
        started_kernel({}, kernel_name="python3") as (_, reference),
    ):
        settle(ours)
        yield {"marimo-pair": ours, "python3": reference}


def run_and_listen(kc, code: str, until, timeout: float = 20.0, **kw) -> tuple[str, list[dict]]:
    """Execute, then keep reading IOPub after the execute's idle until `until(messages)` holds.

    Returns the execute's msg_id and every message (other than status) whose parent it is,
    in order, each with `after_idle` set when it came after the execute's idle.
    """
    msg_id = kc.execute(code, **kw)
    messages: list[dict] = []
    idle = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            m = kc.get_iopub_msg(timeout=0.2)
        except queue.Empty:
            if idle and until(messages):
                break
            continue
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        if m["msg_type"] == "status":
            idle = idle or m["content"]["execution_state"] == "idle"
            continue
        m["after_idle"] = idle
        messages.append(m)
        if idle and until(messages):
            break
    while True:
        reply = kc.get_shell_msg(timeout=10)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    assert reply["content"]["status"] == "ok", reply["content"]
    return msg_id, messages


def _brief(messages: list[dict]) -> str:
    return "\n".join(m["content"]["text"] if m["msg_type"] == "stream" else f"<{m['msg_type']}>" for m in messages)


def _updates(messages: list[dict]) -> list[dict]:
    return [m for m in messages if m["msg_type"] == "update_display_data"]


def _late_stdout(messages: list[dict]) -> str:
    return "".join(m["content"]["text"] for m in messages
                   if m["msg_type"] == "stream" and m["content"]["name"] == "stdout" and m["after_idle"])


@pytest.mark.parametrize("name", KERNELS)
def test_a_threads_display_update_after_the_execute_arrives_as_update_display_data(kernels, name):
    _, messages = run_and_listen(kernels[name], UPDATE_LATER, lambda ms: bool(_updates(ms)))
    shown = [m for m in messages if m["msg_type"] == "display_data"]
    assert len(shown) == 1 and shown[0]["content"]["data"]["text/plain"] == "'before'", _brief(messages)
    display_id = shown[0]["content"]["transient"]["display_id"]
    updates = _updates(messages)
    assert len(updates) == 1, messages
    update = updates[0]
    assert update["after_idle"], "the update came while the execute ran: not the late path"
    assert update["content"]["transient"] == {"display_id": display_id}
    assert update["content"]["data"]["text/plain"] == "'after'"


@pytest.mark.parametrize("name", KERNELS)
def test_completion_through_a_background_display_as_vs_code_asks_for_it(kernels, name):
    """VS Code's shape (our own snippet): the reply of kernel.do_complete, computed on a thread,
    comes back as an update of an empty display after the execute has ended."""
    code = (
        "import threading, time\n"
        "from IPython.display import display\n"
        "_h = display(display_id=True)\n"
        "def _complete(h=_h):\n"
        "    time.sleep(0.5)\n"
        "    reply = get_ipython().kernel.do_complete('se', 2)\n"
        "    h.update({'application/json': {'matches': list(reply['matches'])}}, raw=True)\n"
        "threading.Thread(target=_complete).start()\n"
    )
    _, messages = run_and_listen(kernels[name], code, lambda ms: bool(_updates(ms)))
    update = _updates(messages)[0]
    assert update["after_idle"]
    matches = update["content"]["data"]["application/json"]["matches"]
    assert "set" in matches
    if name == "marimo-pair":
        assert "seed" in matches  # the live notebook's name


@pytest.mark.parametrize("name", KERNELS)
def test_a_threads_print_after_the_execute_arrives_as_a_stream(kernels, name):
    _, messages = run_and_listen(kernels[name], PRINT_LATER, lambda ms: "printed later\n" in _late_stdout(ms))
    assert _late_stdout(messages) == "printed later\n"
    assert not [m for m in messages if m["msg_type"] == "stream" and m["content"]["name"] == "stderr"]


@pytest.mark.parametrize("name", KERNELS)
def test_a_threads_exception_after_the_execute_arrives_on_stderr(kernels, name):
    code = "import threading, time\nthreading.Thread(target=lambda: (time.sleep(0.5), 1 / 0)).start()\n"

    def stderr(ms: list[dict]) -> str:
        return "".join(m["content"]["text"] for m in ms if m["msg_type"] == "stream"
                       and m["content"]["name"] == "stderr" and m["after_idle"])

    _, messages = run_and_listen(kernels[name], code, lambda ms: "ZeroDivisionError" in stderr(ms))
    assert "Exception in thread" in stderr(messages) and "ZeroDivisionError: division by zero" in stderr(messages)


@pytest.mark.parametrize("name", KERNELS)
def test_thread_output_while_and_after_the_execute_in_order(kernels, name):
    code = (
        "import threading, time\n"
        "def _talk():\n"
        "    for i in range(4):\n"
        "        print('tick', i)\n"
        "        time.sleep(0.15)\n"
        "_t = threading.Thread(target=_talk); _t.start(); time.sleep(0.2)\n"
    )
    _, messages = run_and_listen(kernels[name], code, lambda ms: "tick 3" in _late_stdout(ms))
    text = "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")
    assert text == "tick 0\ntick 1\ntick 2\ntick 3\n"
    assert "tick 3" in _late_stdout(messages)


def test_only_our_threads_late_output_reaches_the_client(server, kernels):
    kc = kernels["marimo-pair"]
    run_and_listen(kc, PRINT_LATER, lambda ms: "printed later\n" in _late_stdout(ms))  # the viewer is up
    # The person's own scratchpad (raw HTTP, as marimo pair does) starts a thread that prints later.
    events, done = server.execute(
        "import threading, time\n"
        "threading.Thread(target=lambda: (time.sleep(0.3), print('not for jupyter'))).start()\n"
    )
    assert done["success"], events
    # A second kernel on the same notebook: its threads' output is its own.
    second = {"XDG_STATE_HOME": str(server.state_home), "MARIMO_PAIR_FILE": str(server.notebook)}
    with started_kernel(second) as (_, kc2):
        _, theirs = run_and_listen(kc2, PRINT_LATER.replace("printed later", "second kernel"),
                                   lambda ms: "second kernel\n" in _late_stdout(ms))
        assert _late_stdout(theirs) == "second kernel\n"
    time.sleep(0.5)
    seen = []
    while True:
        try:
            seen.append(kc.get_iopub_msg(timeout=0.2))
        except queue.Empty:
            break
    text = repr([m["content"] for m in seen])
    assert "not for jupyter" not in text and "second kernel" not in text


def test_the_persons_own_prints_are_untouched(server, kernels):
    """With our hooks installed, the person's scratchpad prints as before."""
    kc = kernels["marimo-pair"]
    run_and_listen(kc, PRINT_LATER, lambda ms: "printed later\n" in _late_stdout(ms))
    events, done = server.execute("print('plain', 1)")
    assert done["success"] and ("stdout", {"data": "plain 1\n"}) in events


# -- the viewer stream: start, stop, follow the target -----------------------------------------


def _connections_to(port: int) -> int:
    return sum(1 for c in psutil.Process().net_connections("tcp")
               if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED)


def test_viewer_stream_replays_then_stops_leaving_no_thread_or_connection(server):
    before = _connections_to(server.port)
    events: list = []
    viewer = ViewerStream(server.url, str(server.notebook), events.append)
    second: list = []
    viewer.subscribe(second.append)  # one connection, several consumers (issue 17 will be one)
    viewer.start()
    try:
        assert viewer.connected.wait(20), events
        deadline = time.monotonic() + 10
        while not any(isinstance(e, Notification) and e.op == "kernel-ready" for e in events):
            assert time.monotonic() < deadline, events
            time.sleep(0.05)
        assert isinstance(events[0], Connected) and not events[0].reconnect
        assert [type(e) for e in second] == [type(e) for e in events[: len(second)]] and len(second) > 1
        assert _connections_to(server.port) == before + 1
    finally:
        stopped = viewer.stop(timeout=1.0)
    assert stopped and not viewer.alive
    deadline = time.monotonic() + 5
    while _connections_to(server.port) != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _connections_to(server.port) == before
    assert not [t for t in threading.enumerate() if t.name.startswith("marimo-pair-viewer")]


def test_a_new_target_replaces_the_viewer(server, tmp_path):
    second = server.root / "second.py"
    second.write_text(server.notebook.read_text())
    server.open_session(second)  # a second notebook: kernels started later name theirs
    before = _connections_to(server.port)
    late = LateOutputs(lambda *a: None)
    try:
        late.watch(ViewerTarget(server.url, str(server.notebook), {}))
        first = late.viewer
        assert first is not None and first.connected.wait(20)
        late.watch(ViewerTarget(server.url, str(second), {}))
        assert not first.alive, "the old notebook's viewer still runs"
        assert late.viewer is not None and late.viewer.connected.wait(20)
        assert _connections_to(server.port) == before + 1
    finally:
        late.close()
    assert late.viewer is None


def test_shutdown_with_a_viewer_connected_is_graceful(server):
    from jupyter_client.manager import _ShutdownStatus

    km, kc = start_kernel({"XDG_STATE_HOME": str(server.state_home), "MARIMO_PAIR_FILE": str(server.notebook)})
    try:
        _, messages = run_and_listen(kc, PRINT_LATER, lambda ms: "printed later\n" in _late_stdout(ms))
        assert _late_stdout(messages) == "printed later\n"
        pid = km.provisioner.process.pid  # type: ignore[union-attr]
        ports = [(c.raddr.port, c.status) for c in psutil.Process(pid).net_connections("tcp") if c.raddr]
        assert (server.port, psutil.CONN_ESTABLISHED) in ports, ports
    finally:
        kc.stop_channels()
        t0 = time.monotonic()
        km.shutdown_kernel(now=False)
        took = time.monotonic() - t0
    assert km._shutdown_status == _ShutdownStatus.ShutdownRequest, "the kernel needed SIGTERM"
    print(f"shutdown with a viewer connected: {took:.2f}s")


# -- faults: marimo goes away, a token server, an old marimo -----------------------------------


def test_marimo_dying_under_the_viewer_is_said_once_and_the_kernel_lives(tmp_path):
    srv = MarimoServer.start(tmp_path / "dies")
    k = None
    try:
        k = LoggedKernel({"XDG_STATE_HOME": str(srv.state_home)}, tmp_path / "k.log")
        settle(k.kc)
        run_and_listen(k.kc, UPDATE_LATER, lambda ms: bool(_updates(ms)))
        srv.kill()
        notes: list[dict] = []
        deadline = time.monotonic() + 6  # the viewer retries meanwhile (0.25 s, doubling)
        while time.monotonic() < deadline:
            try:
                m = k.kc.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                continue
            if m["msg_type"] == "stream" and "event stream" in m["content"]["text"]:
                notes.append(m)
        assert len(notes) == 1, [m["content"]["text"] for m in notes]
        assert "lost the notebook's event stream" in notes[0]["content"]["text"]
        assert k.kernel_info()["content"]["status"] == "ok"
        # marimo comes back on the same port with the notebook open: late output flows again.
        srv.launch()
        srv.open_session()
        settle(k.kc)
        _, messages = run_and_listen(k.kc, UPDATE_LATER, lambda ms: bool(_updates(ms)), timeout=40)
        assert _updates(messages) and _updates(messages)[0]["after_idle"]
        assert "Traceback" not in k.log.read_text()
    finally:
        if k is not None:
            k.stop()
        srv.stop()


def test_a_token_server_gets_the_token_only_as_a_header(tmp_path):
    token = "late-secret-7c1f0e"
    srv = MarimoServer.start(tmp_path / "tok", token=token)
    try:
        with LoggedKernel({"MARIMO_PAIR_URL": srv.url, "MARIMO_TOKEN": token,
                           "XDG_STATE_HOME": str(tmp_path / "empty")}, tmp_path / "k.log") as k:
            settle(k.kc)
            _, messages = run_and_listen(k.kc, UPDATE_LATER, lambda ms: bool(_updates(ms)))
            k.seen.extend(messages)
            assert _updates(messages)[0]["content"]["data"]["text/plain"] == "'after'"
            assert_secret_kept(k, token)
    finally:
        srv.stop()


def test_old_marimo_has_no_late_output_and_says_so_once(tmp_path):
    from faults_support import OLD_MARIMO_VERSION, WsSession, old_marimo_python

    from marimo_pair_kernel.codemode import RUN_ALL_CELLS
    from marimo_pair_kernel.discovery import Notebook

    srv = MarimoServer.start(tmp_path / "old", python=old_marimo_python(), open_session=False)
    tab = None
    try:
        tab = WsSession(srv.url, str(srv.notebook)).start()
        srv.execute(RUN_ALL_CELLS, Notebook(key=tab.key, session_id=None, path=str(srv.notebook), filename=None))
        with LoggedKernel({"XDG_STATE_HOME": str(srv.state_home)}, tmp_path / "k.log") as k:
            for _ in range(2):  # (that marimo's Python has no IPython: a print, not a display)
                _, messages = run_and_listen(k.kc, PRINT_LATER, lambda ms: False, timeout=3)
                assert not _late_stdout(messages)
                k.seen.extend(messages)
            notes = [m for m in k.seen if m["msg_type"] == "stream" and "older than 0.23.14" in m["content"]["text"]]
            assert len(notes) == 1, [m["content"] for m in k.seen]
            assert OLD_MARIMO_VERSION in notes[0]["content"]["text"]
            assert k.kernel_info()["content"]["status"] == "ok"
    finally:
        if tab is not None:
            tab.close()
        srv.stop()


def test_viewer_target_for_https_uses_the_clients_trust(tmp_path):
    """Unit: the viewer connects with the execute client's headers and trust, nothing else."""
    from marimo_pair_kernel.client import MarimoClient
    from marimo_pair_kernel.discovery import Notebook
    from marimo_pair_kernel.target import Target

    client = MarimoClient("http://127.0.0.1:9", token="tok-x")
    try:
        t = Target(client, Notebook(key="k", session_id="s", path="/nb.py", filename=None)).viewer_target()
        assert t == ViewerTarget("http://127.0.0.1:9", "/nb.py", {"Authorization": "Bearer tok-x"}, False)
        assert "tok-x" not in repr(Path(t.file)) and "tok-x" not in t.url
    finally:
        client.close()


def test_viewer_sends_the_token_as_a_header_never_in_the_url():
    from faults_support import Recorder

    events: list = []
    with Recorder() as rec:
        viewer = ViewerStream(rec.url, "/nb.py", events.append, headers={"Authorization": "Bearer tok-y"},
                              backoff=(0.05, 0.1)).start()
        try:
            deadline = time.monotonic() + 10
            while len([r for r in rec.requests if r.path.startswith("/sse")]) < 2:
                assert time.monotonic() < deadline, rec.requests
                time.sleep(0.02)
        finally:
            assert viewer.stop(1.0)
    sse = [r for r in rec.requests if r.path.startswith("/sse")]
    assert all(r.headers.get("authorization") == "Bearer tok-y" and "tok-y" not in r.path for r in sse)
    assert "kiosk=true" in sse[0].path and "file=%2Fnb.py" in sse[0].path
    assert not sse[0].path.startswith(f"/sse?session_id={viewer.id}&") or viewer.id.startswith("mpk-viewer-")
    # A 404 is an outage: said once, however many retries follow.
    assert [type(e).__name__ for e in events] == ["Disconnected"], events


def test_viewer_stops_at_once_on_a_marimo_without_viewers():
    from faults_support import Recorder

    from marimo_pair_kernel.viewer import Unsupported

    events: list = []
    with Recorder(version="0.23.13") as rec:
        viewer = ViewerStream(rec.url, "/nb.py", events.append).start()
        viewer._thread.join(10)
        assert not viewer.alive
    assert events == [Unsupported("0.23.13")]
    assert not [r for r in rec.requests if r.path.startswith("/sse")]
