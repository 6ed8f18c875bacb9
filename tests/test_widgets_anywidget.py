"""mo.ui.anywidget as a live Jupyter widget beyond its JSON traits (issue 17, item 4): binary traits
and custom messages, both ways, through the paths marimo has for its own page. Real marimo, a real
kernel, jupyter_client playing the widget manager (as in test_widgets.py); the pure helpers below.

- A frontend's custom message (`model.send(content, buffers)` in the widget's JS) reaches the
  widget's `on_msg` handlers in marimo, as the page's `set_model_value` "custom" does.
- The widget's `send(content, buffers)` in marimo (a `model-lifecycle` custom notification on the
  notebook's viewer stream) reaches the Jupyter frontends.
- Binary traits travel as the widget protocol's buffers, both ways; marimo → Jupyter trait changes
  come from the notification itself (exact, with their buffers), with no fetch.
"""

from __future__ import annotations

import pytest
from support import execute, kernel_fixture, server_fixture
from test_widgets import drain, update, value_of, wait_iopub, wait_value, widget
from test_widgets_forms import run_and_wait
from test_widgets_live import comm_update, page_set

from marimo_pair_kernel.widget_models import BYTES, join_buffers, split_buffers
from marimo_pair_kernel.widgets_live import code_hashes

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
def _(anywidget, traitlets):
    class Echo(anywidget.AnyWidget):
        _esm = "export default { render({ model, el }) { el.textContent = 'echo'; } };"
        value = traitlets.Int(0).tag(sync=True)
        blob = traitlets.Bytes(b"\\x00\\x01").tag(sync=True)
        got = traitlets.List([]).tag(sync=True)

        def __init__(self, **kw):
            super().__init__(**kw)
            self.on_msg(self._custom)

        def _custom(self, widget, content, buffers):
            self.got = [*self.got, content]
            self.send({"echo": content, "sizes": [len(b) for b in buffers]},
                      buffers=[bytes(b)[::-1] for b in buffers])
    return (Echo,)


@app.cell
def _(Echo, mo):
    ew = mo.ui.anywidget(Echo())
    return (ew,)


@app.cell
def _(mo):
    first = mo.ui.slider(0, 9, value=1)
    later = mo.ui.slider(0, 9, value=1)
    return first, later


@app.cell
def blob_reader(ew):
    ew_blob = bytes(ew.value["blob"])
    return (ew_blob,)


if __name__ == "__main__":
    app.run()
'''


srv = server_fixture("widgets_anywidget", code=NOTEBOOK)


kc = kernel_fixture("srv", url=True)


def send_with(kc, comm_id: str, data: dict, buffers: list[bytes]) -> None:
    msg = kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
    kc.session.send(kc.shell_channel.socket, msg, buffers=buffers)


def forget(kc, cell: str) -> None:
    """Delete a cell a test added (it reads `ew`: a later move of `ew` would rerun it)."""
    run = execute(kc, f"%cell delete {cell}")
    assert run.error is None, run.error


def comm_msgs(seen: list[dict], comm_id: str, method: str) -> list[dict]:
    return [m for m in seen if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == comm_id
            and m["content"]["data"].get("method") == method]


def test_binary_trait_is_a_buffer_in_the_model_state(kc):
    model_id, state, _, run = widget(kc, "ew")
    opening = next(m for m in run.messages if m["msg_type"] == "comm_open" and m["content"]["comm_id"] == model_id)
    assert "blob" not in state and opening["content"]["data"]["buffer_paths"] == [["blob"]]
    assert [bytes(b) for b in opening["buffers"]] == [b"\x00\x01"]
    assert state["value"] == 0 and state["got"] == [] and "echo" in state["_esm"]


def test_binary_trait_from_jupyter_sets_marimo(kc):
    model_id, _, _, _ = widget(kc, "ew")
    drain(kc)
    send_with(kc, model_id, {"method": "update", "state": {}, "buffer_paths": [["blob"]]}, [b"jupyter"])
    wait_value(kc, "ew_blob", "b'jupyter'")  # the cell that reads the element reran
    assert value_of(kc, "bytes(ew.widget.blob)") == "b'jupyter'"


def test_binary_trait_from_marimo_reaches_the_widget(kc):
    model_id, _, _, _ = widget(kc, "ew")
    drain(kc)
    seen = run_and_wait(kc, "%%cell --name poke\new.widget.blob = b'marimo'", lambda m: bool(
        comm_msgs([m], model_id, "update")) and m["content"]["data"]["buffer_paths"] == [["blob"]])
    assert [bytes(b) for b in seen[-1]["buffers"]] == [b"marimo"]
    assert "blob" not in seen[-1]["content"]["data"]["state"]
    forget(kc, "poke")


def test_custom_messages_both_ways(kc):
    model_id, _, _, _ = widget(kc, "ew")
    drain(kc)
    send_with(kc, model_id, {"method": "custom", "content": {"n": 1}}, [b"ab", b"xyz"])
    # The widget's handler ran in marimo: its reply (buffers and all) and the trait it changed come back.
    seen = wait_iopub(kc, lambda m: bool(comm_msgs([m], model_id, "custom")))
    reply = comm_msgs(seen, model_id, "custom")[-1]
    assert reply["content"]["data"]["content"] == {"echo": {"n": 1}, "sizes": [2, 3]}
    assert [bytes(b) for b in reply["buffers"]] == [b"ba", b"zyx"]
    if not any(comm_update(model_id, "got", [{"n": 1}])(m) for m in seen):
        wait_iopub(kc, comm_update(model_id, "got", [{"n": 1}]))
    assert value_of(kc, "ew.widget.got") == "[{'n': 1}]"
    # Several in a row arrive in order, none coalesced.
    for n in (2, 3, 4):
        send_with(kc, model_id, {"method": "custom", "content": {"n": n}}, [])
    wait_iopub(kc, comm_update(model_id, "got", [{"n": k} for k in (1, 2, 3, 4)]))


def test_the_widgets_own_send_reaches_jupyter(kc):
    model_id, _, _, _ = widget(kc, "ew")
    drain(kc)
    code = "%%cell --name shout\new.widget.send({'hello': 'jupyter'}, buffers=[b'\\x07'])"
    seen = run_and_wait(kc, code, lambda m: bool(comm_msgs([m], model_id, "custom")))
    msg = comm_msgs(seen, model_id, "custom")[-1]
    assert msg["content"]["data"]["content"] == {"hello": "jupyter"} and [bytes(b) for b in msg["buffers"]] == [b"\x07"]
    forget(kc, "shout")


def test_a_trait_move_and_a_move_back(kc):
    model_id, _, _, _ = widget(kc, "ew")
    update(kc, model_id, {"value": 5})
    wait_value(kc, "ew.widget.value", "5")
    drain(kc)
    run_and_wait(kc, "%%cell --name back\new.widget.value = 1", comm_update(model_id, "value", 1))
    forget(kc, "back")


def test_new_widget_code_reaches_the_widget(kc):
    """anywidget's hot reload in marimo (its `_esm` changes: marimo sends its page a new code URL) sets
    the Jupyter model's `_esm` (fetches leave the code out unless its hash changed)."""
    model_id, _, _, _ = widget(kc, "ew")
    code = "export default { render({ model, el }) { el.textContent = 'v2'; } };"
    run_and_wait(kc, f"%%cell --name reload\new.widget._esm = {code!r}", comm_update(model_id, "_esm", code))
    forget(kc, "reload")


def test_an_element_shown_after_a_fetch_follows_the_page(kc, srv):
    """The viewer stream's variable names are learnt by a fetch: an element shown after one must not
    wait for the next fetch to have its page moves followed."""
    first, _, _, _ = widget(kc, "first")
    page_set(srv, value_of(kc, "first._id").strip("'"), 8)  # a fetch learns the shown elements' names
    wait_iopub(kc, comm_update(first, "value", 8))
    later, _, _, _ = widget(kc, "later")
    drain(kc)
    page_set(srv, value_of(kc, "later._id").strip("'"), 6)
    wait_iopub(kc, comm_update(later, "value", 6))


# -- the pure helpers --------------------------------------------------------------------------------


def test_buffers_split_and_join_unit():
    wire = {"a": 1, "b": {BYTES: "AAE="}, "c": [{BYTES: "Ag=="}, 3], "d": {"e": {BYTES: ""}}}
    state, paths, buffers = split_buffers(wire)
    assert state == {"a": 1, "c": [None, 3], "d": {}}
    assert paths == [["b"], ["c", 0], ["d", "e"]] and buffers == [b"\x00\x01", b"\x02", b""]
    assert join_buffers(state, paths, buffers) == wire
    assert join_buffers(state, paths, ["AAE=", "Ag==", ""]) == wire  # marimo's notifications: base64 text
    assert join_buffers({"x": 1}, [], []) == {"x": 1}
    assert join_buffers({"x": 1}, [["no", "such"]], [b"z"]) == {"x": 1}  # a path that leads nowhere is skipped


def test_code_hashes_unit():
    specs = {"a": {"id": "a", "kind": "anywidget", "args": {"code": "h1"}},
             "f": {"id": "f", "kind": "form", "args": {}, "children": [
                 {"id": "g", "kind": "anywidget", "args": {"code": "h2"}}]},
             "s": {"id": "s", "kind": "slider", "args": {"code": "not an anywidget"}}}
    assert code_hashes(specs) == {"a": "h1", "g": "h2"}
