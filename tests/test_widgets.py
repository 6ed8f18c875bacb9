"""mo.ui elements as live Jupyter widgets (issue 17): real marimo, a real kernel, jupyter_client as the frontend.

The test plays a widget manager: it reads the comm_open messages an output brings, and sends
the `comm_msg` updates (and a button's click) that JupyterLab's widget manager would send.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable
from typing import Any

import pytest
from support import MarimoServer, execute, kernel_fixture, server_fixture, started_kernel

pytestmark = pytest.mark.timeout(300)

VIEW = "application/vnd.jupyter.widget-view+json"
NOTEBOOK = '''
import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo
    s = mo.ui.slider(0, 10, value=2, label='n')
    fs = mo.ui.slider(0.0, 1.0, step=0.25, value=0.5)
    st = mo.ui.slider(steps=[1, 5, 10], value=5)
    num = mo.ui.number(0, 10, step=1, value=3)
    cb = mo.ui.checkbox(value=True, label='c')
    sw = mo.ui.switch()
    tx = mo.ui.text(value='hi')
    pw = mo.ui.text(kind='password')
    ta = mo.ui.text_area(value='x')
    dd = mo.ui.dropdown(['red', 'green'], value='red')
    rd = mo.ui.radio(['x', 'y'], value='y')
    rb = mo.ui.run_button(label='go')
    k = mo.ui.slider(0, 100, value=0)
    rs = mo.ui.range_slider(0, 10, value=[2, 5])
    rss = mo.ui.range_slider(steps=[1, 5, 10, 20], value=[5, 10])
    ms = mo.ui.multiselect(['a', 'b', 'c'], value=['b'])
    return cb, dd, fs, k, mo, ms, num, pw, rb, rd, rs, rss, s, st, sw, ta, tx


@app.cell
def _(s):
    doubled = s.value * 2
    return (doubled,)


@app.cell
def _(rb):
    clicked = rb.value
    return (clicked,)


@app.cell
def _():
    k_runs = []
    return (k_runs,)


@app.cell
def _(k, k_runs):
    k_runs.append(k.value)
    return


@app.cell
def slider_view(s):
    s
    return


@app.cell
def picky(f):
    assert f.value != 9, "nine is refused"
    picked = f.value
    return (picked,)


@app.cell
def _(mo):
    f = mo.ui.slider(0, 10, value=1, label='f')
    return (f,)


@app.cell
def _(mo):
    day = mo.ui.date(value="2024-03-05", start="2024-01-01", stop="2024-12-31", label="day")
    when = mo.ui.datetime(value="2024-03-05T10:30:00")
    span = mo.ui.date_range(start="2024-01-01", stop="2024-12-31", value=["2024-02-01", "2024-02-10"])
    return day, span, when


@app.cell
def _(mo):
    arr = mo.ui.array([mo.ui.slider(0, 10, value=1), mo.ui.text(value="a")])
    dct = mo.ui.dictionary({"x": mo.ui.slider(0, 5, value=2)})
    odd = mo.ui.array([mo.ui.slider(0, 3), mo.ui.table([1, 2])])
    return arr, dct, odd


@app.cell
def arr_reader(arr):
    arr_seen = list(arr.value)
    return (arr_seen,)


if __name__ == "__main__":
    app.run()
'''


srv = server_fixture("widgets", code=NOTEBOOK)


kc = kernel_fixture("srv", url=True)


def opened(run: Any) -> dict[str, dict]:
    """comm_id -> comm_open content (with the message's metadata), for the comms an execute opened."""
    return {
        m["content"]["comm_id"]: {**m["content"], "metadata": m["metadata"]}
        for m in run.messages if m["msg_type"] == "comm_open"
    }


def widget(kc: Any, code: str) -> tuple[str, dict, dict, Any]:
    """(model id, the model's state, every opened comm, the run) for an output that shows one element."""
    run = execute(kc, code)
    assert run.error is None, run.error
    bundles = ([run.result] if run.result else []) + run.displays
    views = [b[VIEW] for b in bundles if VIEW in b]
    assert len(views) == 1, bundles
    view = views[0]
    assert view["version_major"] == 2 and view["version_minor"] == 0
    comms = opened(run)
    model = comms[view["model_id"]]
    assert model["target_name"] == "jupyter.widget"
    return view["model_id"], model["data"]["state"], comms, run


def send(kc: Any, comm_id: str, data: dict) -> None:
    kc.shell_channel.send(kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data}))


def update(kc: Any, comm_id: str, state: dict) -> None:
    send(kc, comm_id, {"method": "update", "state": state, "buffer_paths": []})


def drain(kc: Any) -> None:
    while True:
        try:
            kc.get_iopub_msg(timeout=0.2)
        except queue.Empty:
            return


def wait_iopub(kc: Any, pred: Callable[[dict], bool], timeout: float = 60) -> list[dict]:
    """IOPub messages up to (and with) the first one `pred` accepts."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            m = kc.get_iopub_msg(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(m)
        if pred(m):
            return seen
    raise AssertionError(f"no such message; saw {[(m['msg_type'], m['content']) for m in seen][-10:]}")


def value_of(kc: Any, expr: str) -> str:
    run = execute(kc, expr)
    assert run.error is None, run.error
    # None shows nothing, as in IPython (a form not yet submitted): wait_value then polls on.
    return run.result["text/plain"] if run.result is not None else "<nothing shown>"


def wait_value(kc: Any, expr: str, want: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = value_of(kc, expr)
        if got == want:
            return
        time.sleep(0.3)
    raise AssertionError(f"{expr} = {got}, expected {want}")


def is_comm(comm_id: str, method: str) -> Callable[[dict], bool]:
    return lambda m: (
        m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == comm_id
        and m["content"]["data"].get("method") == method
    )


# -- opening: per element kind the model state ----------------------------------------------------

KINDS = [
    ("s", "IntSliderModel", "IntSliderView", {"value": 2, "min": 0, "max": 10, "step": 1, "description": "n"}),
    ("fs", "FloatSliderModel", "FloatSliderView", {"value": 0.5, "min": 0.0, "max": 1.0, "step": 0.25}),
    ("st", "SelectionSliderModel", "SelectionSliderView", {"_options_labels": ["1", "5", "10"], "index": 1}),
    ("num", "BoundedIntTextModel", "IntTextView", {"value": 3, "min": 0, "max": 10, "step": 1}),
    ("cb", "CheckboxModel", "CheckboxView", {"value": True, "description": "c"}),
    ("sw", "CheckboxModel", "CheckboxView", {"value": False}),
    ("tx", "TextModel", "TextView", {"value": "hi"}),
    ("pw", "PasswordModel", "PasswordView", {"value": ""}),
    ("ta", "TextareaModel", "TextareaView", {"value": "x"}),
    ("dd", "DropdownModel", "DropdownView", {"_options_labels": ["red", "green"], "index": 0}),
    ("rd", "RadioButtonsModel", "RadioButtonsView", {"_options_labels": ["x", "y"], "index": 1}),
    ("rb", "ButtonModel", "ButtonView", {"description": "go"}),
    ("rs", "IntRangeSliderModel", "IntRangeSliderView", {"value": [2, 5], "min": 0, "max": 10}),
    ("rss", "SelectionRangeSliderModel", "SelectionRangeSliderView",
     {"_options_labels": ["1", "5", "10", "20"], "index": [1, 2]}),
    ("ms", "SelectMultipleModel", "SelectMultipleView", {"_options_labels": ["a", "b", "c"], "index": [1]}),
    # Dates: the controls' JSON form, months from 0 (as JavaScript's Date).
    ("day", "DatePickerModel", "DatePickerView", {
        "value": {"year": 2024, "month": 2, "date": 5}, "min": {"year": 2024, "month": 0, "date": 1},
        "max": {"year": 2024, "month": 11, "date": 31}, "description": "day"}),
    ("when", "NaiveDatetimeModel", "DatetimeView", {"value": {
        "year": 2024, "month": 2, "date": 5, "hours": 10, "minutes": 30, "seconds": 0, "milliseconds": 0}}),
    ("span", "TextModel", "TextView", {"value": "2024-02-01 to 2024-02-10"}),
]


@pytest.mark.parametrize(("name", "model_name", "view_name", "expected"), KINDS, ids=[k[0] for k in KINDS])
def test_model_state_per_kind(kc, name, model_name, view_name, expected):
    model_id, state, comms, run = widget(kc, name)
    assert state["_model_name"] == model_name and state["_view_name"] == view_name
    assert state["_model_module"] == "@jupyter-widgets/controls" and state["_model_module_version"] == "2.0.0"
    assert {k: state[k] for k in expected} == expected
    assert comms[model_id]["metadata"] == {"version": "2.1.0"}
    assert comms[model_id]["data"]["buffer_paths"] == []
    # Layout and style are models of their own, opened before the widget that names them.
    for key, module in (("layout", "@jupyter-widgets/base"), ("style", "@jupyter-widgets/controls")):
        ref = state[key]
        assert ref.startswith("IPY_MODEL_")
        part = comms[ref[len("IPY_MODEL_"):]]["data"]["state"]
        assert part["_model_module"] == module and part["_model_module_version"] == "2.0.0"
    order = [m["content"].get("comm_id") for m in run.messages if m["msg_type"] == "comm_open"]
    assert order[-1] == model_id
    # A frontend without a widget manager still has the snapshot.
    assert "text/plain" in run.result and "text/html" in run.result


def test_comm_info_lists_the_widgets(kc):
    model_id, _, _, _ = widget(kc, "s")
    msg_id = kc.comm_info(target_name="jupyter.widget")
    while True:
        reply = kc.get_shell_msg(timeout=30)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    comms = reply["content"]["comms"]
    assert comms[model_id] == {"target_name": "jupyter.widget"}


def comm_info(kc: Any) -> dict:
    msg_id = kc.comm_info(target_name="jupyter.widget")
    while True:
        reply = kc.get_shell_msg(timeout=30)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"]["comms"]


def test_frontend_reload_and_close(kc):
    """ipywidgets 8's manager asks for every model's state on its control comm; a closed comm is gone."""
    model_id, state, _, _ = widget(kc, "s")
    control = "control-" + model_id
    kc.shell_channel.send(kc.session.msg("comm_open", {
        "comm_id": control, "target_name": "jupyter.widget.control", "data": {}}))
    send(kc, control, {"method": "request_states"})
    seen = wait_iopub(kc, is_comm(control, "update_states"), timeout=20)
    states = seen[-1]["content"]["data"]["states"]
    assert states[model_id]["model_name"] == "IntSliderModel"
    assert states[model_id]["state"]["value"] == state["value"]
    assert state["layout"][len("IPY_MODEL_"):] in states
    # One widget's own state, as older managers ask for it.
    send(kc, model_id, {"method": "request_state"})
    seen = wait_iopub(kc, is_comm(model_id, "update"), timeout=20)
    assert seen[-1]["content"]["data"]["state"]["_model_name"] == "IntSliderModel"
    kc.shell_channel.send(kc.session.msg("comm_close", {"comm_id": model_id, "data": {}}))
    deadline = time.monotonic() + 20
    while model_id in comm_info(kc) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert model_id not in comm_info(kc)


def test_display_and_cell_run_show_widgets(kc):
    model_id, state, _, run = widget(kc, "display(s)")
    assert state["_model_name"] == "IntSliderModel"
    assert run.displays and "text/plain" in run.displays[0] and "text/html" in run.displays[0]
    model_id2, state2, _, run = widget(kc, "%cell run slider_view")
    assert model_id2 != model_id and state2["_model_name"] == "IntSliderModel"
    # A %%cell that makes an element and shows it: live at once.
    made_id, made, _, _ = widget(kc, "%%cell --name made_here\nt2 = mo.ui.slider(0, 5, value=1)\nt2")
    assert made["value"] == 1 and made["max"] == 5
    update(kc, made_id, {"value": 4})
    wait_value(kc, "t2.value", "4")


def test_scratch_element_keeps_the_snapshot(kc):
    run = execute(kc, "mo.ui.slider(0, 3)")
    assert run.error is None, run.error
    assert VIEW not in run.result and not opened(run)
    assert "%%cell" in run.result["text/plain"]
    assert "slider(start=0, stop=3" in run.result["text/plain"]


def test_an_ipywidget_made_in_marimos_process_shows_as_text_with_one_note(kc):
    # Its model lives in marimo's process: a view of it would be "Error displaying widget: model not found".
    first = execute(kc, "import ipywidgets\nipywidgets.IntSlider(3)")
    assert first.error is None, first.error
    assert VIEW not in first.result and first.result["text/plain"] == "IntSlider(value=3)"
    assert first.stderr.count("marimo-pair-kernel:") == 1 and "%%cell" in first.stderr, first.stderr
    again = execute(kc, "display(ipywidgets.Button(description='b'))")
    assert again.displays and not any(VIEW in d for d in again.displays) and again.stderr == ""
    live = execute(kc, "s")  # the notebook's own mo.ui element still opens its widget
    assert VIEW in live.result and opened(live)


# -- Jupyter -> marimo ----------------------------------------------------------------------------


def test_update_sets_marimo_and_reruns_the_dependent(kc, srv):
    model_id, _, _, _ = widget(kc, "s")
    other_id, _, _, _ = widget(kc, "s")  # the same element shown twice: both widgets follow
    drain(kc)
    update(kc, model_id, {"value": 7})
    wait_iopub(kc, is_comm(model_id, "echo_update"), timeout=10)
    seen = wait_iopub(kc, lambda m: is_comm(other_id, "update")(m) and m["content"]["data"]["state"] == {"value": 7})
    assert seen
    wait_value(kc, "doubled", "14")
    _, done = srv.execute("print(s.value, doubled)")
    assert done["success"]
    events, _ = srv.execute("print(s.value, doubled)")
    assert any(name == "stdout" and "7 14" in data.get("data", "") for name, data in events)
    # A new display shows marimo's value.
    _, state, _, _ = widget(kc, "s")
    assert state["value"] == 7


def test_range_slider_and_multiselect(kc):
    rs_id, _, _, _ = widget(kc, "rs")
    update(kc, rs_id, {"value": [3, 8]})
    wait_value(kc, "rs.value", "[3, 8]")
    rss_id, _, _, _ = widget(kc, "rss")
    update(kc, rss_id, {"index": [0, 3]})
    wait_value(kc, "rss.value", "[1, 20]")
    ms_id, _, _, _ = widget(kc, "ms")
    update(kc, ms_id, {"index": [0, 2]})
    wait_value(kc, "ms.value", "['a', 'c']")


def test_dropdown_and_button(kc):
    model_id, _, _, _ = widget(kc, "dd")
    update(kc, model_id, {"index": 1})
    wait_value(kc, "dd.value", "'green'")
    button_id, _, _, _ = widget(kc, "rb")
    send(kc, button_id, {"method": "custom", "content": {"event": "click"}})
    wait_value(kc, "clicked", "True")


def test_a_drag_is_coalesced(kc):
    """100 moves in 2 s: marimo ends at the last value, with fewer sets than moves."""
    model_id, _, _, _ = widget(kc, "k")
    before = int(value_of(kc, "len(k_runs)"))
    for i in range(1, 101):
        update(kc, model_id, {"value": i})
        time.sleep(0.02)
    wait_value(kc, "k.value", "100")
    time.sleep(1.0)  # nothing else is still on its way
    runs = json.loads(value_of(kc, "k_runs").replace("'", '"'))
    assert runs[-1] == 100
    assert len(runs) - before < 100, len(runs) - before


def test_out_of_range_snaps_back(kc):
    model_id, state, _, _ = widget(kc, "s")
    current = state["value"]
    drain(kc)
    update(kc, model_id, {"value": 99})
    seen = wait_iopub(kc, lambda m: is_comm(model_id, "update")(m), timeout=20)
    assert seen[-1]["content"]["data"]["state"] == {"value": current}
    notes = "".join(m["content"]["text"] for m in seen if m["msg_type"] == "stream")
    seen_more = [] if "outside" in notes else wait_iopub(kc, lambda m: m["msg_type"] == "stream", timeout=5)
    notes += "".join(m["content"]["text"] for m in seen_more if m["msg_type"] == "stream")
    assert "'n' (a marimo slider) takes values from 0 to 10; 99 is outside that range" in notes
    assert "back at marimo's value" in notes
    assert value_of(kc, "s.value") == str(current)
    # An option that does not exist, likewise.
    dd_id, dd_state, _, _ = widget(kc, "dd")
    update(kc, dd_id, {"index": 5})
    seen = wait_iopub(kc, is_comm(dd_id, "update"), timeout=20)
    assert seen[-1]["content"]["data"]["state"] == {"index": dd_state["index"]}


def test_marimo_gone_disables_the_widgets(tmp_path):
    server = MarimoServer.start(tmp_path / "gone", code=NOTEBOOK)
    try:
        env = {"MARIMO_PAIR_URL": server.url, "XDG_STATE_HOME": str(server.state_home)}
        with started_kernel(env) as (km, client):
            model_id, _, _, _ = widget(client, "s")
            server.stop()
            drain(client)
            update(client, model_id, {"value": 4})
            seen = wait_iopub(client, lambda m: is_comm(model_id, "update")(m)
                              and m["content"]["data"]["state"].get("disabled") is True)
            tooltip = seen[-1]["content"]["data"]["state"]["tooltip"]
            assert "marimo is gone" in tooltip and "kernel is still running" in tooltip
            run = execute(client, "1 + 1")  # the kernel lives, and says what is wrong
            assert run.reply["status"] == "error"
            assert km.is_alive()
    finally:
        server.stop()


# -- consequences: %ui set, widget moves, %ui list -------------------------------------------------

PAIR = "application/vnd.marimo-pair+json"


def test_ui_set_says_what_reran_and_what_fails(kc):
    run = execute(kc, "%ui set f 3")
    assert run.reply["status"] == "ok", run.reply
    assert "f.value = 3" in run.stdout
    data = run.listing[PAIR]
    assert [c["name"] for c in data["reran"]] == ["picky"] and data["failed"] == [] and data["stale"] == []
    assert data["name"] == "f" and data["value"] == "3" and data["id"]
    assert "Setting f: reran 1 cell: picky (" in run.listing["text/plain"]
    run = execute(kc, "%ui set f 9")
    # The cell's own error is the reply (as after %%cell edit); the listing says which cells.
    assert run.reply["ename"] == "AssertionError" and run.reply["evalue"] == "nine is refused", run.reply
    data = run.listing[PAIR]
    assert [(c["name"], c["status"]) for c in data["failed"]] == [("picky", "exception")]
    assert data["reran"] == []
    text = run.listing["text/plain"]
    assert "Setting f: now failing: picky (" in text and "[exception]" in text and "%cell show" in text
    run = execute(kc, "%ui set tx hello")  # no cell reads tx
    assert "no cell reads it, so nothing reran" in run.listing["text/plain"]
    assert run.listing[PAIR]["reran"] == []
    execute(kc, "%ui set f 1")


def test_widget_move_says_what_reran_and_what_fails(kc):
    model_id, _, _, _ = widget(kc, "f")
    drain(kc)
    update(kc, model_id, {"value": 9})
    seen = wait_iopub(kc, lambda m: m["msg_type"] == "display_data" and PAIR in m["content"]["data"])
    shown = seen[-1]
    assert shown["parent_header"]["msg_type"] == "comm_msg"
    data = shown["content"]["data"][PAIR]
    assert data["wire"] == 9 and data["id"]
    assert [(c["name"], c["status"]) for c in data["failed"]] == [("picky", "exception")]
    assert "Moving 'f'" in shown["content"]["data"]["text/plain"]
    assert "Moving 'f': now failing: picky (" in shown["content"]["data"]["text/plain"]
    update(kc, model_id, {"value": 2})
    seen = wait_iopub(kc, lambda m: m["msg_type"] == "display_data" and PAIR in m["content"]["data"])
    data = seen[-1]["content"]["data"][PAIR]
    assert [c["name"] for c in data["reran"]] == ["picky"] and data["failed"] == []
    assert value_of(kc, "picked") == "2"


def test_ui_list(kc):
    run = execute(kc, "%ui list")
    assert run.reply["status"] == "ok", run.reply
    listing = run.listing
    rows = {e["name"]: e for e in listing[PAIR]["elements"]}
    assert {"s", "f", "dd", "rb", "pw"} <= set(rows)
    assert rows["dd"]["kind"] == "dropdown" and rows["dd"]["value"] in ("'red'", "'green'")
    assert rows["s"]["kind"] == "slider" and rows["s"]["id"] and rows["s"]["cell"]
    assert rows["pw"]["value"] == "''"  # a password's value is never shown
    assert listing[PAIR]["url"] and listing[PAIR]["notebook"]
    text = listing["text/plain"]
    assert text.splitlines()[0].split() == ["name", "kind", "value", "id", "cell"]
    assert any(line.split()[:2] == ["s", "slider"] for line in text.splitlines())
    assert "<table>" in listing["text/html"]
    bad = execute(kc, "%ui list s")
    assert bad.reply["ename"] == "UsageError" and "takes no arguments" in bad.reply["evalue"]
    bad = execute(kc, "%ui set s")
    assert bad.reply["ename"] == "UsageError" and "NAME and a VALUE" in bad.reply["evalue"]


def test_dates(kc):
    day_id, _, _, _ = widget(kc, "day")
    update(kc, day_id, {"value": {"year": 2024, "month": 5, "date": 1}})
    wait_value(kc, "day.value", "datetime.date(2024, 6, 1)")
    when_id, _, _, _ = widget(kc, "when")
    update(kc, when_id, {"value": {"year": 2024, "month": 0, "date": 2, "hours": 8, "minutes": 15,
                                   "seconds": 0, "milliseconds": 0}})
    wait_value(kc, "when.value", "datetime.datetime(2024, 1, 2, 8, 15)")
    span_id, _, _, _ = widget(kc, "span")
    update(kc, span_id, {"value": "2024-04-01 to 2024-04-03"})
    wait_value(kc, "span.value", "(datetime.date(2024, 4, 1), datetime.date(2024, 4, 3))")
    # Outside the range, or not two dates in order: refused, and the widget goes back.
    drain(kc)
    update(kc, day_id, {"value": {"year": 2025, "month": 0, "date": 1}})
    seen = wait_iopub(kc, is_comm(day_id, "update"), timeout=20)
    assert seen[-1]["content"]["data"]["state"] == {"value": {"year": 2024, "month": 5, "date": 1}}
    update(kc, span_id, {"value": "2024-05-01 to 2024-04-01"})
    seen = wait_iopub(kc, is_comm(span_id, "update"), timeout=20)
    assert seen[-1]["content"]["data"]["state"] == {"value": "2024-04-01 to 2024-04-03"}
    assert value_of(kc, "day.value") == "datetime.date(2024, 6, 1)"


def test_date_values_both_ways_unit():
    """Pure: marimo's ISO text <-> the controls' date JSON (months from 0), and what is refused."""
    from marimo_pair_kernel.widget_models import ElementSpec, OutOfRange, build_model, state_for_wire, wire_for_state

    day = ElementSpec("d", "c", "date", "", {"start": "2024-01-01", "stop": "2024-12-31"}, "2024-02-29")
    model = build_model(day)
    assert model is not None and model.state["value"] == {"year": 2024, "month": 1, "date": 29}
    assert wire_for_state(day, model, {"year": 2024, "month": 11, "date": 31}) == "2024-12-31"
    for bad in ({"year": 2024, "month": 1, "date": 30}, {"year": 2025, "month": 0, "date": 1}, None, "x"):
        with pytest.raises(OutOfRange):
            wire_for_state(day, model, bad)
    when = ElementSpec("w", "c", "datetime", "", {}, "2024-03-05T10:30:15")
    model = build_model(when)
    assert model is not None and model.state["value"]["seconds"] == 15
    back = wire_for_state(when, model, {**model.state["value"], "hours": 23})
    assert back == "2024-03-05T23:30:15"
    assert state_for_wire(when, model, back)["value"]["hours"] == 23
    span = ElementSpec("r", "c", "date-range", "", {"start": "2024-01-01", "stop": "2024-12-31"},
                       ["2024-01-02", "2024-01-05"])
    model = build_model(span)
    assert model is not None and model.state["value"] == "2024-01-02 to 2024-01-05"
    assert wire_for_state(span, model, "2024-03-01 to 2024-03-04") == ["2024-03-01", "2024-03-04"]
    for bad in ("2024-03-04 to 2024-03-01", "2024-03-01", "2023-12-01 to 2024-01-01"):
        with pytest.raises(OutOfRange):
            wire_for_state(span, model, bad)


def test_array_and_dictionary_are_boxes(kc):
    model_id, state, comms, _ = widget(kc, "arr")
    assert state["_model_name"] == "VBoxModel" and state["_view_name"] == "VBoxView" and "style" not in state
    kids = [comms[ref[len("IPY_MODEL_"):]]["data"]["state"] for ref in state["children"]]
    assert [(k["_model_name"], k["value"]) for k in kids] == [("IntSliderModel", 1), ("TextModel", "a")]
    slider_id = state["children"][0][len("IPY_MODEL_"):]
    drain(kc)
    update(kc, slider_id, {"value": 6})
    seen = wait_iopub(kc, lambda m: m["msg_type"] == "display_data" and PAIR in m["content"]["data"])
    assert [c["name"] for c in seen[-1]["content"]["data"][PAIR]["reran"]] == ["arr_reader"]
    wait_value(kc, "arr_seen", "[6, 'a']")
    _, state, comms, _ = widget(kc, "dct")
    kid = comms[state["children"][0][len("IPY_MODEL_"):]]["data"]["state"]
    assert (kid["_model_name"], kid["value"], kid["description"]) == ("IntSliderModel", 2, "x")
    # An element without a widget inside: the whole container keeps the snapshot.
    run = execute(kc, "odd")
    assert run.error is None and VIEW not in run.result and not opened(run)


MALFORMED = [
    {"method": "update", "state": {"value": {"x": 1}}, "buffer_paths": []},
    {"method": "update", "state": {"value": "abc"}, "buffer_paths": []},
    {"method": "update", "state": {"value": None}, "buffer_paths": []},
    {"method": "update", "state": "not a dict"},
    {"method": "update", "state": {"value": 3}, "buffer_paths": [["value"], ["nope", 0]]},  # no buffers sent
    {"method": "update", "state": {"value": 3}, "buffer_paths": "value"},
    {"method": "custom", "content": "click"},
    {"method": "custom", "content": {"event": "click"}},
    {"method": "no such method"},
    {"state": {"value": 3}},
    {},
]


def test_malformed_comm_messages_leave_the_kernel_and_the_widget_working(srv, tmp_path):
    """A frontend's broken messages (a buggy extension, a hand-written client): no traceback in
    the kernel's log, the kernel answers, and the widget still sets marimo afterwards."""
    log = tmp_path / "kernel.log"
    with log.open("w") as err, started_kernel({"MARIMO_PAIR_URL": srv.url}, stderr=err) as (_, k):
        model_id, _, _, _ = widget(k, "s")
        for data in MALFORMED:
            send(k, model_id, data)
        k.shell_channel.send(k.session.msg("comm_msg", {"comm_id": "no-such-comm", "data": {"method": "update"}}))
        k.shell_channel.send(k.session.msg("comm_msg", {"data": {"method": "update"}}))  # no comm_id
        reply = k.kernel_info(reply=True, timeout=30)
        assert reply["content"]["status"] == "ok"
        wait_value(k, "s.value", "3")  # the readable moves; a "click" on a slider counts nothing
        update(k, model_id, {"value": 6})
        wait_value(k, "s.value", "6")
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
