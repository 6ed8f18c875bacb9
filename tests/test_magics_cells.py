"""%%cell, %cell, %cells, %graph against a real marimo server and a real kernel.

The document is always checked independently of the kernel (server.cells() reads it
through marimo's code mode over raw HTTP) and, for persistence, on disk.
"""

from __future__ import annotations

import re
import time

import pytest
from support import Run, execute

pytestmark = pytest.mark.timeout(180)

PAIR = "application/vnd.marimo-pair+json"  # listings' JSON (plain application/json would outrank the table)


def by_name(server, name: str) -> list[dict]:
    return [c for c in server.cells() if c["name"] == name]


def wait_for_file(path, needle: str, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = path.read_text()
        if needle in text:
            return text
        time.sleep(0.1)
    return text


def execute_with_cell_id(kc, code: str, cell_id: str, timeout: float = 60) -> Run:
    """Like support.execute, with JupyterLab's `cellId` in the request metadata."""
    return execute(kc, code, timeout=timeout, metadata={"cellId": cell_id})


def ok(run: Run) -> Run:
    assert run.reply["status"] == "ok", (run.reply, run.stdout, run.stderr)
    return run


# -- creating cells ------------------------------------------------------------------------------


def test_named_cell_is_created_run_streamed_saved_and_readable(kernel, server):
    run = ok(execute(kernel, '%%cell --name total\ntotal = answer * 2\nprint("total is", total)\n'))
    assert "total is 84" in run.stdout
    assert any(c["name"] == "stdout" and "total is 84" in c["text"] for c in run.of("stream"))

    cells = by_name(server, "total")
    assert len(cells) == 1
    assert "total = answer * 2" in cells[0]["code"]
    assert cells[0]["status"] == "idle"

    text = wait_for_file(server.notebook, "total = answer * 2")
    assert "def total(" in text and "total = answer * 2" in text

    value = ok(execute(kernel, "total"))
    assert value.result["text/plain"] == "84"


def test_same_name_again_replaces_the_code(kernel, server):
    ok(execute(kernel, "%%cell --name again\nagain_value = 1\n"))
    first = by_name(server, "again")
    run = ok(execute(kernel, "%%cell --name again\nagain_value = 2\nprint('now', again_value)\n"))
    assert "now 2" in run.stdout
    cells = by_name(server, "again")
    assert len(cells) == 1
    assert cells[0]["id"] == first[0]["id"]
    assert "again_value = 2" in cells[0]["code"]
    assert ok(execute(kernel, "again_value")).result["text/plain"] == "2"


def test_new_cells_show_their_code_unless_hide_code(kernel, server):
    ok(execute(kernel, "%%cell --name shown_cell\nshown_v = 1\n"))
    ok(execute(kernel, "%%cell --name hidden_cell --hide-code\nhidden_v = 1\n"))
    listing = ok(execute(kernel, "%cells")).listing[PAIR]["cells"]
    flags = {c["name"]: c["hide_code"] for c in listing}
    assert flags["shown_cell"] is False
    assert flags["hidden_cell"] is True


def test_no_run_saves_without_running_then_cell_run_runs_it(kernel, server):
    run = ok(execute(kernel, "%%cell --name later --no-run\nlater_v = seed * 10\nprint('later ran')\n"))
    assert "later ran" not in run.stdout
    assert by_name(server, "later")[0]["status"] == "stale"

    run = ok(execute(kernel, "%cell run later"))
    assert "later ran" in run.stdout
    assert by_name(server, "later")[0]["status"] == "idle"
    assert ok(execute(kernel, "later_v")).result["text/plain"] == "410"


def test_before_after_place_the_new_cell(kernel, server):
    ok(execute(kernel, "%%cell --name placed_first --before 0\nplaced_first_v = 0\n"))
    ids = [c["id"] for c in server.cells()]
    assert server.cells()[0]["name"] == "placed_first"
    ok(execute(kernel, f"%%cell --name placed_second --after {ids[0]}\nplaced_second_v = 0\n"))
    names = [c["name"] for c in server.cells()]
    assert names[:2] == ["placed_first", "placed_second"]


# -- errors --------------------------------------------------------------------------------------


def test_redefining_a_name_is_refused_and_the_document_is_unchanged(kernel, server):
    before = server.cells()
    run = execute(kernel, "%%cell\nseed = 3\n")
    assert run.reply["status"] == "error"
    assert run.reply["ename"] == "MultipleDefinitionError"
    assert "'seed'" in run.reply["evalue"]
    assert run.error is not None and len(run.of("error")) == 1
    assert server.cells() == before


def test_a_cycle_is_refused_and_the_document_is_unchanged(kernel, server):
    ok(execute(kernel, "%%cell --name cyc_a\ncyc_a_v = 1\n"))
    ok(execute(kernel, "%%cell --name cyc_b\ncyc_b_v = cyc_a_v + 1\n"))
    before = server.cells()
    run = execute(kernel, "%%cell edit cyc_a\ncyc_a_v = cyc_b_v + 1\n")
    assert run.reply["status"] == "error"
    assert run.reply["ename"] == "CycleError"
    assert "cyc_a (" in run.reply["evalue"] and "cyc_b (" in run.reply["evalue"]
    assert "defines cyc_a_v, read by" in run.reply["evalue"]
    assert "defines cyc_b_v, read by" in run.reply["evalue"]
    assert server.cells() == before


def test_a_syntax_error_is_refused_and_the_document_is_unchanged(kernel, server):
    before = server.cells()
    run = execute(kernel, "%%cell --name broken\ndef f(:\n    pass\n")
    assert run.reply["status"] == "error"
    assert run.reply["ename"] == "SyntaxError"
    assert "unchanged" in run.reply["evalue"]
    assert server.cells() == before


def test_an_error_raised_by_the_cell_is_an_error_with_its_traceback(kernel, server):
    run = execute(kernel, "%%cell --name raiser\nprint('about to fail')\nraiser_v = 1 / 0\n")
    assert run.reply["status"] == "error"
    assert run.reply["ename"] == "ZeroDivisionError"
    assert "about to fail" in run.stdout
    tb = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(run.error["traceback"]))  # IPython's colors, as ipykernel
    assert "----> 2 raiser_v = 1 / 0" in tb
    assert "Cell raiser (" in tb  # the frame is named after the cell
    assert "_code_mode" not in tb and "__marimo__" not in tb  # the cell's frames, not marimo's internals
    assert "Traceback" not in run.stderr  # shown once, as the error
    cells = by_name(server, "raiser")
    assert len(cells) == 1 and cells[0]["status"] == "exception"


def test_bad_subcommand_is_a_usage_error(kernel):
    run = execute(kernel, "%cell frobnicate")
    assert run.reply["status"] == "error"
    assert run.reply["ename"] == "UsageError"
    assert "frobnicate" in run.reply["evalue"]
    assert "usage: %cell show|run|delete TARGET" in run.reply["evalue"]


def test_unknown_target_says_how_to_find_one(kernel):
    run = execute(kernel, "%cell show no_such_cell")
    assert run.reply["status"] == "error"
    assert "no_such_cell" in run.reply["evalue"] and "%cells" in run.reply["evalue"]


def test_line_form_misuse_is_a_usage_error(kernel):
    for code in ("%cell", "%cell move 0", "%cell edit 0", "%cell show 0 --name x"):
        run = execute(kernel, code)
        assert run.reply["status"] == "error", code
        assert run.reply["ename"] == "UsageError", code
    run = execute(kernel, "%%cell --name empty_body\n")
    assert run.reply["ename"] == "UsageError"


# -- editing, moving, deleting ----------------------------------------------------------------------


def test_cell_edit_replaces_code_and_runs(kernel, server):
    ok(execute(kernel, "%%cell --name editme\neditme_v = 1\n"))
    cid = by_name(server, "editme")[0]["id"]
    run = ok(execute(kernel, f"%%cell edit {cid}\neditme_v = 5\nprint('edited', editme_v)\n"))
    assert "edited 5" in run.stdout
    cell = by_name(server, "editme")[0]
    assert cell["id"] == cid and "editme_v = 5" in cell["code"]
    # by index, without running
    index = [c["id"] for c in server.cells()].index(cid)
    run = ok(execute(kernel, f"%%cell edit {index} --no-run\neditme_v = 6\nprint('ran?')\n"))
    assert "ran?" not in run.stdout
    cell = by_name(server, "editme")[0]
    assert "editme_v = 6" in cell["code"] and cell["status"] == "stale"


def test_cell_move(kernel, server):
    ok(execute(kernel, "%%cell --name mover\nmover_v = 1\n"))
    first = server.cells()[0]["id"]
    ok(execute(kernel, f"%cell move mover --before {first}"))
    assert server.cells()[0]["name"] == "mover"
    ok(execute(kernel, "%cell move mover --after -1"))
    assert server.cells()[-1]["name"] == "mover"


def test_cell_delete_reports_who_loses_inputs(kernel, server):
    ok(execute(kernel, "%%cell --name del_src\ndel_x = 1\ndel_y = 2\n"))
    ok(execute(kernel, "%%cell --name del_child\ndel_z = del_x + 1\n"))
    ok(execute(kernel, "%%cell --name del_grandchild\ndel_w = del_z + 1\n"))
    run = ok(execute(kernel, "%cell delete del_src"))
    assert by_name(server, "del_src") == []
    data = run.listing[PAIR]
    assert data["deleted"]["name"] == "del_src"
    assert [(x["name"], x["names"]) for x in data["lose_inputs"]] == [("del_child", ["del_x"])]
    assert [x["name"] for x in data["affected"]] == ["del_grandchild"]
    text = run.listing["text/plain"]
    assert "del_child" in text and "del_x" in text


# -- listings ----------------------------------------------------------------------------------


def test_cells_listing_carries_json(kernel, server):
    run = ok(execute(kernel, "%cells"))
    bundle = run.listing  # one execute_result, no display
    assert {"text/plain", "text/html", PAIR} <= set(bundle)
    assert "application/json" not in bundle  # JupyterLab would show a JSON tree instead of the table
    listing = bundle[PAIR]["cells"]
    independent = server.cells()
    assert [c["id"] for c in listing] == [c["id"] for c in independent]
    first = next(c for c in listing if c["id"] == "Hbol")
    assert first["code"] == "seed = 41" and first["defs"] == ["seed"] and first["status"] == "idle"
    for key in ("index", "id", "name", "code", "status", "defs", "refs"):
        assert key in first
    assert "Hbol" in bundle["text/plain"] and "<table>" in bundle["text/html"]


def test_cell_show(kernel):
    run = ok(execute(kernel, "%cell show Hbol"))
    b = run.listing
    assert b[PAIR]["cell"]["id"] == "Hbol"
    assert "MJUe" in b[PAIR]["cell"]["children"]
    assert "seed = 41" in b["text/plain"] and "seed = 41" in b["text/html"]


def test_graph_shows_defs_refs_ancestors_descendants(kernel):
    ok(execute(kernel, "%%cell --name graph_leaf\ngraph_leaf_v = answer + 1\n"))
    run = ok(execute(kernel, "%graph"))
    assert [set(d) for d in run.displays] == [{"text/vnd.mermaid"}]  # the diagram, then the listing
    cells = {c["id"]: c for c in run.listing[PAIR]["cells"]}
    seed, answer = cells["Hbol"], cells["MJUe"]
    assert seed["defs"] == ["seed"] and answer["refs"] == ["seed"]
    leaf = next(c for c in cells.values() if c["name"] == "graph_leaf")
    assert {"Hbol", "MJUe"} <= set(leaf["ancestors"])
    assert leaf["id"] in seed["descendants"]
    for col in ("defs", "refs", "ancestors", "descendants"):
        assert col in run.listing["text/plain"]

    one = ok(execute(kernel, "%graph graph_leaf")).listing
    data = one[PAIR]
    assert data["cell"]["name"] == "graph_leaf"
    assert [c["id"] for c in data["ancestors"]][:2] == ["Hbol", "MJUe"]
    assert "this cell" in one["text/plain"]
    # A TARGET may also be a variable that exactly one cell defines.
    by_var = ok(execute(kernel, "%graph graph_leaf_v")).listing[PAIR]
    assert by_var["cell"]["name"] == "graph_leaf"
    assert ok(execute(kernel, "%cell show answer")).listing[PAIR]["cell"]["id"] == "MJUe"


# -- JupyterLab cell ids ----------------------------------------------------------------------------


def test_unnamed_cell_stays_bound_to_its_jupyter_cell(kernel, server):
    n0 = len(server.cells())
    ok(execute_with_cell_id(kernel, "%%cell\nbound_v = 1\n", "lab-cell-1"))
    assert len(server.cells()) == n0 + 1
    made = [c for c in server.cells() if "bound_v" in c["code"]]
    run = ok(execute_with_cell_id(kernel, "%%cell\nbound_v = 2\nprint('bound', bound_v)\n", "lab-cell-1"))
    assert "bound 2" in run.stdout
    now = [c for c in server.cells() if "bound_v" in c["code"]]
    assert len(server.cells()) == n0 + 1
    assert [c["id"] for c in now] == [made[0]["id"]] and "bound_v = 2" in now[0]["code"]

    # Another Jupyter cell makes its own marimo cell.
    ok(execute_with_cell_id(kernel, "%%cell\nother_bound_v = 1\n", "lab-cell-2"))
    assert len(server.cells()) == n0 + 2

    # When the bound marimo cell is deleted, re-running creates a new one.
    ok(execute(kernel, f"%cell delete {made[0]['id']}"))
    ok(execute_with_cell_id(kernel, "%%cell\nbound_v = 3\n", "lab-cell-1"))
    again = [c for c in server.cells() if "bound_v = 3" in c["code"]]
    assert len(again) == 1 and again[0]["id"] != made[0]["id"]


def test_binding_survives_an_error_in_the_created_cell(kernel, server):
    run = execute_with_cell_id(kernel, "%%cell\nfailing_bound_v = 1\nraise ValueError('first try')\n", "lab-cell-3")
    assert run.reply["status"] == "error" and run.reply["ename"] == "ValueError"
    made = [c for c in server.cells() if "failing_bound_v" in c["code"]]
    assert len(made) == 1
    ok(execute_with_cell_id(kernel, "%%cell\nfailing_bound_v = 2\n", "lab-cell-3"))
    now = [c for c in server.cells() if "failing_bound_v" in c["code"]]
    assert [c["id"] for c in now] == [made[0]["id"]]
    assert "failing_bound_v = 2" in now[0]["code"]


# -- completion --------------------------------------------------------------------------------------


def complete(kc, code: str) -> dict:
    msg_id = kc.complete(code, len(code))
    while True:
        reply = kc.get_shell_msg(timeout=30)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"]


def test_completion_offers_cell_names_ids_and_subcommands(kernel):
    ok(execute(kernel, "%%cell --name completable\ncompletable_v = 1\n"))
    reply = complete(kernel, "%cell show compl")
    assert "completable" in reply["matches"]
    assert reply["cursor_start"] == len("%cell show ")
    assert "Hbol" in complete(kernel, "%graph Hb")["matches"]
    assert "delete" in complete(kernel, "%cell del")["matches"]
    assert "--hide-code" in complete(kernel, "%%cell --hi")["matches"]
