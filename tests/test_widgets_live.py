"""marimo → Jupyter (issue 17, item 3): moves made outside this kernel reach its widgets.

Real marimo, real kernels; the test plays a widget manager reading IOPub comm messages. The
page's own move is the page's request (`POST /api/kernel/set_ui_element_value` with a browserless
session's key and the server token from the page's HTML); another kernel moves with `%ui set`.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest
from support import MarimoServer, execute, server_fixture, started_kernel
from test_widgets import drain, update, wait_iopub, widget

pytestmark = pytest.mark.timeout(300)

NOTEBOOK = '''
import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo
    return (mo,)


@app.cell
def ctl(mo):
    s = mo.ui.slider(0, 10, value=2, label='n')
    return (s,)


@app.cell
def _(s):
    doubled = s.value * 2
    return (doubled,)


@app.cell
def boxes(mo):
    arr = mo.ui.array([mo.ui.slider(0, 10, value=1), mo.ui.text(value="a")])
    return (arr,)


@app.cell
def other(mo):
    t = mo.ui.text(value='hi')
    return (t,)


if __name__ == "__main__":
    app.run()
'''


def comm_update(model_id: str, key: str, want: object):
    def pred(m: dict) -> bool:
        if m["msg_type"] != "comm_msg" or m["content"].get("comm_id") != model_id:
            return False
        data = m["content"].get("data") or {}
        return data.get("method") == "update" and data.get("state", {}).get(key) == want
    return pred


srv = server_fixture("widgets_live", code=NOTEBOOK)


@pytest.fixture(scope="module")
def kcs(srv):
    env = {"MARIMO_PAIR_URL": srv.url, "XDG_STATE_HOME": str(srv.state_home)}
    with started_kernel(env) as (_, kc), started_kernel(env) as (_, kc2):
        yield kc, kc2


def page_set(srv: MarimoServer, element_id: str, value: object) -> None:
    """What marimo's page sends when its control moves."""
    with httpx.Client(trust_env=False, timeout=30) as http:
        page = http.get(f"{srv.url}/?file={srv.notebook.name}", headers=srv.headers())
        token = re.search(r'"serverToken"\s*:\s*"([^"]*)"', page.text)
        assert token, page.text[:500]
        r = http.post(
            f"{srv.url}/api/kernel/set_ui_element_value",
            json={"objectIds": [element_id], "values": [value]},
            headers={**srv.headers(), "Marimo-Session-Id": srv.sessions[0].key,
                     "Marimo-Server-Token": token[1]},
        )
        assert r.status_code == 200, r.text


def test_ui_set_from_another_kernel_updates_the_widget(kcs):
    kc, kc2 = kcs
    model_id, state, _, _ = widget(kc, "s")
    drain(kc)
    assert execute(kc2, "%ui set s 7").error is None
    wait_iopub(kc, comm_update(model_id, "value", 7))
    execute(kc2, "%ui set s 2")
    wait_iopub(kc, comm_update(model_id, "value", 2))


def test_the_pages_move_updates_the_widget(kcs, srv):
    kc, _ = kcs
    model_id, state, _, _ = widget(kc, "s")
    drain(kc)
    page_set(srv, element_of(kc), 5)
    wait_iopub(kc, comm_update(model_id, "value", 5))
    assert execute(kc, "doubled").result["text/plain"] == "10"


def test_own_move_is_not_bounced_back(kcs):
    kc, _ = kcs
    model_id, _, _, _ = widget(kc, "s")
    drain(kc)
    update(kc, model_id, {"value": 8})
    seen = wait_iopub(kc, lambda m: m["msg_type"] == "display_data"
                      and "vnd.marimo-pair+json" in str(m["content"]["data"]))  # the set's effects
    time.sleep(2)  # the stream's trigger and its fetch come after the set
    seen += wait_iopub_all(kc)
    values = [m["content"]["data"]["state"].get("value") for m in seen
              if m["msg_type"] == "comm_msg" and m["content"].get("comm_id") == model_id
              and m["content"]["data"].get("method") == "update"]
    assert all(v in (None, 8) for v in values), values


def test_an_arrays_elements_follow_another_kernels_widget(kcs):
    kc, kc2 = kcs

    def child_slider(k) -> str:
        _, _, comms, _ = widget(k, "arr")
        return next(cid for cid, c in comms.items() if c["data"]["state"]["_model_name"] == "IntSliderModel")

    mine, theirs = child_slider(kc), child_slider(kc2)
    drain(kc)
    update(kc2, theirs, {"value": 4})
    wait_iopub(kc, comm_update(mine, "value", 4))


def test_cell_rerun_updates_the_widgets_args(kcs):
    kc, _ = kcs
    model_id, _, _, _ = widget(kc, "s")
    drain(kc)
    run = execute(kc, "%%cell edit ctl\ns = mo.ui.slider(0, 50, value=30, label='m')")
    assert run.error is None, run.error
    seen = wait_iopub(kc, comm_update(model_id, "max", 50))
    state = seen[-1]["content"]["data"]["state"]
    assert state["value"] == 30 and state["description"] == "m", state


def test_deleting_the_cell_disables_the_widget(kcs):
    kc, _ = kcs
    model_id, _, _, _ = widget(kc, "t")
    drain(kc)
    assert execute(kc, "%cell delete other").error is None
    seen = wait_iopub(kc, comm_update(model_id, "disabled", True))
    assert "no longer in the notebook" in seen[-1]["content"]["data"]["state"]["tooltip"]


def test_the_kernel_lives_when_marimo_dies(tmp_path):
    server = MarimoServer.start(tmp_path / "dies", code=NOTEBOOK)
    try:
        with started_kernel({"MARIMO_PAIR_URL": server.url, "XDG_STATE_HOME": str(server.state_home)}) as (km, kc):
            widget(kc, "s")
            server.stop()
            time.sleep(1.5)  # the stream notices and retries; the kernel must not care
            assert execute(kc, "1 + 1").reply["status"] == "error"  # says marimo is gone
            assert km.is_alive()
    finally:
        server.stop()


def element_of(kc) -> str:
    run = execute(kc, "s._id")
    return run.result["text/plain"].strip("'\"")


def wait_iopub_all(kc, quiet: float = 1.0) -> list[dict]:
    import queue

    out = []
    while True:
        try:
            out.append(kc.get_iopub_msg(timeout=quiet))
        except queue.Empty:
            return out


def test_old_marimo_widgets_go_one_way_and_say_so_once(tmp_path):
    from faults_support import OLD_MARIMO_VERSION, WsSession, old_marimo_python

    from marimo_pair_kernel.codemode import RUN_ALL_CELLS
    from marimo_pair_kernel.discovery import Notebook

    srv = MarimoServer.start(tmp_path / "old", code=NOTEBOOK, python=old_marimo_python(), open_session=False)
    tab = None
    try:
        tab = WsSession(srv.url, str(srv.notebook)).start()
        srv.execute(RUN_ALL_CELLS, Notebook(key=tab.key, session_id=None, path=str(srv.notebook), filename=None))
        with started_kernel({"MARIMO_PAIR_URL": srv.url, "XDG_STATE_HOME": str(srv.state_home)}) as (km, kc):
            model_id, _, _, first = widget(kc, "s")

            def note(m: dict) -> bool:
                return m["msg_type"] == "stream" and "do not reach the widgets" in m["content"]["text"]

            # Under the execute that showed the widget (the stream finds out after it ended).
            said = [m for m in first.messages if note(m)] or [wait_iopub(kc, note, timeout=30)[-1]]
            assert said[0]["parent_header"]["msg_id"] == first.messages[0]["parent_header"]["msg_id"]
            text = said[0]["content"]["text"]
            assert OLD_MARIMO_VERSION in text and "older than 0.23.14" in text, text
            _, _, _, second = widget(kc, "s")
            update(kc, model_id, {"value": 6})  # Jupyter -> marimo still works
            seen = second.messages + wait_iopub(kc, lambda m: m["msg_type"] == "display_data"
                                                and "vnd.marimo-pair+json" in str(m["content"]["data"]))
            assert execute(kc, "s.value").result["text/plain"] == "6"
            seen += wait_iopub_all(kc)
            assert not [m for m in seen if note(m)], "said twice"
            assert km.is_alive()
    finally:
        if tab is not None:
            tab.close()
        srv.stop()
