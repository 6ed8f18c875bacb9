"""mo.ui.form and mo.ui.anywidget as live Jupyter widgets (issue 17, item 4): real marimo, a real
kernel, jupyter_client playing the widget manager (as in test_widgets.py).

A form is a box of its element's widget(s) and a Submit button: moving the widgets sets nothing in
marimo until Submit. An anywidget is anywidget's own model (AnyModel/AnyView), its traits both ways.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest
from support import execute, kernel_fixture, server_fixture
from test_widgets import PAIR, drain, send, update, value_of, wait_iopub, wait_value, widget
from test_widgets_live import comm_update, page_set

pytestmark = pytest.mark.timeout(300)

NOTEBOOK = '''
import marimo

app = marimo.App()


@app.cell
def _():
    import anywidget
    import marimo as mo
    import traitlets
    return anywidget, mo, traitlets


@app.cell
def _(mo):
    fm = mo.ui.form(mo.ui.slider(0, 10, value=2, label='n'))
    ft = mo.ui.text(value='a').form(submit_button_label='Send')
    fd = mo.ui.dictionary({'x': mo.ui.slider(0, 5, value=1), 'y': mo.ui.text(value='b')}).form()
    fv = mo.ui.form(mo.ui.slider(0, 10), validate=lambda v: "no sevens" if v == 7 else None)
    fb = mo.md("{a} and {b}").batch(a=mo.ui.slider(0, 3), b=mo.ui.checkbox()).form()
    return fb, fd, fm, ft, fv


@app.cell
def form_reader(fm):
    fm_seen = fm.value
    return (fm_seen,)


@app.cell
def _(fd):
    fd_seen = fd.value
    return (fd_seen,)


@app.cell
def _(mo):
    fc = mo.ui.form(mo.ui.slider(0, 10, value=4), show_clear_button=True, clear_button_label='Reset',
                    clear_button_tooltip='back to 4', clear_on_submit=True, bordered=False)
    fx = mo.ui.dictionary({'p': mo.ui.slider(0, 5, value=2), 'q': mo.ui.text(value='hi')}).form(
        show_clear_button=True)
    fl = mo.ui.text().form(loading=True, submit_button_tooltip='wait')
    return fc, fl, fx


@app.cell
def clear_reader(fc):
    fc_seen = fc.value
    return (fc_seen,)


@app.cell
def _(anywidget, traitlets):
    class Counter(anywidget.AnyWidget):
        _esm = "export default { render({ model, el }) { el.textContent = String(model.get('value')); } };"
        _css = ".counter { color: teal; }"
        value = traitlets.Int(0).tag(sync=True)
    return (Counter,)


@app.cell
def _(Counter, mo):
    cw = mo.ui.anywidget(Counter(value=3))
    return (cw,)


@app.cell
def counter_reader(cw):
    cw_seen = cw.value["value"]
    return (cw_seen,)


if __name__ == "__main__":
    app.run()
'''


srv = server_fixture("widgets_forms", code=NOTEBOOK)


kc = kernel_fixture("srv", url=True)


def kids(comms: dict, state: dict) -> list[tuple[str, dict]]:
    """A box's children: (model id, state) each."""
    out = []
    for ref in state["children"]:
        cid = ref[len("IPY_MODEL_"):]
        out.append((cid, comms[cid]["data"]["state"]))
    return out


def click(kc, comm_id: str) -> None:
    send(kc, comm_id, {"method": "custom", "content": {"event": "click"}})


def run_and_wait(kc, code: str, pred) -> list[dict]:
    """Run `code`; the IOPub messages up to the first `pred` accepts (during the run or after it)."""
    run = execute(kc, code)
    assert run.error is None, run.error
    for i, m in enumerate(run.messages):
        if pred(m):
            return run.messages[: i + 1]
    return run.messages + wait_iopub(kc, pred)


def element_id(kc, expr: str) -> str:
    return value_of(kc, f"{expr}._id").strip("'\"")


# -- forms -----------------------------------------------------------------------------------------


def test_form_model_state(kc):
    model_id, state, comms, run = widget(kc, "fm")
    assert (state["_model_name"], state["_view_name"]) == ("VBoxModel", "VBoxView")
    (_, inner), (_, button) = kids(comms, state)
    assert inner["_model_name"] == "IntSliderModel"
    assert (inner["value"], inner["min"], inner["max"], inner["description"]) == (2, 0, 10, "n")
    assert button["_model_module"] == "@jupyter-widgets/controls" and button["_model_name"] == "ButtonModel"
    assert button["description"] == "Submit" and button["disabled"] is False
    assert "text/plain" in run.result and "text/html" in run.result  # the snapshot stays beside the view
    _, state, comms, _ = widget(kc, "ft")
    (_, inner), (_, button) = kids(comms, state)
    assert (inner["_model_name"], inner["value"], button["description"]) == ("TextModel", "a", "Send")
    _, state, comms, _ = widget(kc, "fd")
    (_, box), (_, button) = kids(comms, state)
    assert box["_model_name"] == "VBoxModel" and button["_model_name"] == "ButtonModel"
    assert [(s["_model_name"], s["value"], s["description"]) for _, s in kids(comms, box)] == [
        ("IntSliderModel", 1, "x"), ("TextModel", "b", "y")]
    _, state, comms, _ = widget(kc, "fb")  # a batch (a template's elements), as a form
    (_, box), (button, _) = kids(comms, state)
    assert [(s["_model_name"], s["description"]) for _, s in kids(comms, box)] == [
        ("IntSliderModel", "a"), ("CheckboxModel", "b")]
    (a, _), (b, _) = kids(comms, box)
    update(kc, a, {"value": 3})
    update(kc, b, {"value": True})
    click(kc, button)
    wait_value(kc, "fb.value", "{'a': 3, 'b': True}")


def test_form_sets_marimo_only_on_submit(kc):
    model_id, state, comms, _ = widget(kc, "fm")
    (slider, _), (button, _) = kids(comms, state)
    drain(kc)
    update(kc, slider, {"value": 7})
    update(kc, slider, {"value": 8})
    time.sleep(2)  # a move inside a form stays in Jupyter
    assert value_of(kc, "(fm.value, fm_seen)") == "(None, None)"
    # A value the element does not take: refused, and the widget goes back to what it held.
    drain(kc)
    update(kc, slider, {"value": 99})
    seen = wait_iopub(kc, comm_update(slider, "value", 8), timeout=20)
    notes = "".join(m["content"]["text"] for m in seen if m["msg_type"] == "stream")
    if "outside" not in notes:
        seen = wait_iopub(kc, lambda m: m["msg_type"] == "stream", timeout=10)
        notes += "".join(m["content"]["text"] for m in seen if m["msg_type"] == "stream")
    assert "takes values from 0 to 10" in notes and "back at its last value" in notes
    drain(kc)
    click(kc, button)
    seen = wait_iopub(kc, lambda m: m["msg_type"] == "display_data" and PAIR in m["content"]["data"])
    data = seen[-1]["content"]["data"]
    assert [c["name"] for c in data[PAIR]["reran"]] == ["form_reader"] and data[PAIR]["wire"] == 8
    assert data["text/plain"].startswith("Submitting form ")
    assert value_of(kc, "fm_seen") == "8" and value_of(kc, "fm.value") == "8"


def test_form_of_a_dictionary_submits_all_its_elements(kc):
    _, state, comms, _ = widget(kc, "fd")
    (box_id, box), (button, _) = kids(comms, state)
    (x, _), (y, _) = kids(comms, box)
    update(kc, x, {"value": 4})
    update(kc, y, {"value": "zz"})
    time.sleep(1)
    assert value_of(kc, "fd_seen is None") == "True"
    click(kc, button)
    wait_value(kc, "fd_seen", "{'x': 4, 'y': 'zz'}")


def test_form_validate_refuses_a_submit(kc):
    _, state, comms, _ = widget(kc, "fv")
    (slider, _), (button, _) = kids(comms, state)
    update(kc, slider, {"value": 7})
    drain(kc)
    click(kc, button)
    seen = wait_iopub(kc, lambda m: m["msg_type"] == "stream" and "refused" in m["content"]["text"])
    assert "no sevens" in seen[-1]["content"]["text"]
    assert value_of(kc, "fv.value is None") == "True"
    update(kc, slider, {"value": 6})
    click(kc, button)
    wait_value(kc, "fv.value", "6")


def test_a_submit_elsewhere_updates_the_form(kc, srv):
    _, state, comms, _ = widget(kc, "ft")
    (text, _), _ = kids(comms, state)
    drain(kc)
    page_set(srv, element_id(kc, "ft"), "from the page")  # the page's Submit
    wait_iopub(kc, comm_update(text, "value", "from the page"))
    assert value_of(kc, "ft.value") == "'from the page'"
    # A value typed but not submitted is not overwritten by what marimo did not change.
    update(kc, text, {"value": "typing"})
    run = execute(kc, "%ui set fm 3")  # another element moves: the stream triggers a fetch
    assert run.error is None, run.error
    time.sleep(2)
    drain(kc)
    send(kc, text, {"method": "request_state"})
    seen = wait_iopub(kc, lambda m: m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == text)
    assert seen[-1]["content"]["data"]["state"]["value"] == "typing"
    execute(kc, "%ui set ft again")
    wait_iopub(kc, comm_update(text, "value", "again"))


def layout_of(comms: dict, state: dict) -> dict:
    return comms[state["layout"][len("IPY_MODEL_"):]]["data"]["state"]


def test_form_buttons_follow_marimos_arguments(kc):
    _, state, comms, _ = widget(kc, "fc")
    (_, inner), (_, clear), (_, submit) = kids(comms, state)
    assert inner["_model_name"] == "IntSliderModel" and inner["value"] == 4
    assert (clear["_model_name"], clear["description"], clear["tooltip"]) == ("ButtonModel", "Reset", "back to 4")
    assert (submit["description"], submit["button_style"], submit["disabled"]) == ("Submit", "primary", False)
    assert not layout_of(comms, state).get("border_top")  # bordered=False
    _, state, comms, _ = widget(kc, "fx")
    (_, _), (_, clear), (_, submit) = kids(comms, state)
    assert (clear["description"], submit["description"]) == ("Clear", "Submit")
    assert layout_of(comms, state)["border_top"].startswith("1px solid")  # marimo's default: bordered
    _, state, comms, _ = widget(kc, "fl")  # loading: the page's Submit is disabled and spins
    assert [s["description"] for _, s in kids(comms, state)][1:] == ["Submit"]  # no Clear unless asked
    (_, _), (_, submit) = kids(comms, state)
    assert (submit["disabled"], submit["icon"], submit["tooltip"]) == (True, "spinner spin", "wait")


def test_form_clear_goes_back_to_the_initial_values_without_setting_marimo(kc):
    _, state, comms, _ = widget(kc, "fx")
    (box, _), (clear, _), (button, _) = kids(comms, state)
    (p, _), (q, _) = kids(comms, comms[box]["data"]["state"])
    update(kc, p, {"value": 5})
    update(kc, q, {"value": "typed"})
    drain(kc)
    click(kc, clear)
    got: set[str] = set()
    wait_iopub(kc, lambda m: bool(got.update(k for k, v in ((p, 2), (q, "hi")) if comm_update(k, "value", v)(m)))
               or got == {p, q})
    assert value_of(kc, "fx.value is None") == "True"  # Clear sets nothing in marimo
    update(kc, p, {"value": 3})
    click(kc, button)  # Submit sends what the widgets hold after the Clear
    wait_value(kc, "fx.value", "{'p': 3, 'q': 'hi'}")
    drain(kc)
    click(kc, clear)  # after a submit: back to the values the elements were made with; marimo keeps its own
    wait_iopub(kc, comm_update(p, "value", 2))
    assert value_of(kc, "fx.value") == "{'p': 3, 'q': 'hi'}"


def test_form_clear_on_submit(kc, srv):
    _, state, comms, _ = widget(kc, "fc")
    (slider, _), _, (button, _) = kids(comms, state)
    update(kc, slider, {"value": 7})
    drain(kc)
    click(kc, button)
    wait_iopub(kc, comm_update(slider, "value", 4))  # cleared once marimo took the submit
    assert value_of(kc, "(fc.value, fc_seen)") == "(7, 7)"
    # A submit on the page (or by another kernel) clears the widgets too, as the page's own form does.
    update(kc, slider, {"value": 6})
    time.sleep(1)
    drain(kc)
    page_set(srv, element_id(kc, "fc"), 9)
    wait_iopub(kc, comm_update(slider, "value", 4))
    assert value_of(kc, "fc_seen") == "9"


# -- anywidget ---------------------------------------------------------------------------------------


def test_anywidget_model_state(kc):
    from anywidget._version import _ANYWIDGET_SEMVER_VERSION

    model_id, state, comms, run = widget(kc, "cw")
    header = {k: state[k] for k in ("_model_module", "_model_name", "_view_module", "_view_name",
                                    "_model_module_version", "_view_module_version")}
    assert header == {"_model_module": "anywidget", "_model_name": "AnyModel", "_view_module": "anywidget",
                      "_view_name": "AnyView", "_model_module_version": _ANYWIDGET_SEMVER_VERSION,
                      "_view_module_version": _ANYWIDGET_SEMVER_VERSION}
    assert "render" in state["_esm"] and "teal" in state["_css"]
    assert state["value"] == 3 and state["_anywidget_id"].endswith("Counter")
    layout = comms[state["layout"][len("IPY_MODEL_"):]]["data"]["state"]
    assert layout["_model_name"] == "LayoutModel" and "style" not in state
    assert "text/plain" in run.result  # a frontend without anywidget still has the snapshot


def test_anywidget_trait_change_sets_marimo(kc, srv):
    from marimo_pair_kernel.viewer import Notification, ViewerStream

    model_id, _, _, _ = widget(kc, "cw")
    model = value_of(kc, "cw._component_args['model-id']").strip("'\"")
    events: list = []
    page = ViewerStream(srv.url, str(srv.notebook), events.append, headers=srv.headers()).start()
    try:
        assert page.connected.wait(30)
        time.sleep(0.5)  # the replay
        drain(kc)
        update(kc, model_id, {"value": 5})
        seen = wait_iopub(kc, lambda m: m["msg_type"] == "display_data" and PAIR in m["content"]["data"])
        assert [c["name"] for c in seen[-1]["content"]["data"][PAIR]["reran"]] == ["counter_reader"]
        assert value_of(kc, "cw_seen") == "5" and value_of(kc, "cw.value") == "{'value': 5}"
        assert value_of(kc, "cw.widget.value") == "5"
        # The page's anywidget model got the new value too (what moves the page's view).
        updates = [(e.data.get("model_id"), (e.data.get("message") or {}).get("method"),
                    (e.data.get("message") or {}).get("state")) for e in events
                   if isinstance(e, Notification) and e.op == "model-lifecycle"]
        assert (model, "update", {"value": 5}) in updates, (model, updates)
    finally:
        page.stop()


def test_a_change_in_marimo_updates_the_anywidget(kc, srv):
    model_id, _, _, _ = widget(kc, "cw")
    drain(kc)
    # The page's anywidget writes its model (marimo's set_model_value); the cells that read it rerun.
    with httpx.Client(trust_env=False, timeout=30) as http:
        page = http.get(f"{srv.url}/?file={srv.notebook.name}", headers=srv.headers())
        token = re.search(r'"serverToken"\s*:\s*"([^"]*)"', page.text)
        assert token, page.text[:500]
        model = value_of(kc, "cw._component_args['model-id']").strip("'\"")
        r = http.post(
            f"{srv.url}/api/kernel/set_model_value",
            json={"modelId": model, "message": {"method": "update", "state": {"value": 11}, "bufferPaths": []},
                  "buffers": []},
            headers={**srv.headers(), "Marimo-Session-Id": srv.sessions[0].key, "Marimo-Server-Token": token[1]},
        )
        assert r.status_code == 200, r.text
    wait_iopub(kc, comm_update(model_id, "value", 11))
    wait_value(kc, "cw_seen", "11")
    # The notebook's own code changing the trait, likewise.
    run_and_wait(kc, "%%cell --name bump\ncw.widget.value = 20", comm_update(model_id, "value", 20))
