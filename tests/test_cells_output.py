"""A notebook nobody has run yet, `%cell run --all`, and cells showing their output in Jupyter.

One marimo server whose notebook is opened but NOT run (as when a person opens it in a
browser); the first tests see it unrun, `%cell run --all` runs it, the rest use it run.
"""

from __future__ import annotations

import re

import pytest
from support import Run, execute, kernel_fixture, server_fixture

pytestmark = pytest.mark.timeout(240)

ANSI = re.compile(r"\x1b\[[0-9;]*m")


server = server_fixture("unrun", run_cells=False)


kernel = kernel_fixture("server")


def ok(run: Run) -> Run:
    assert run.reply["status"] == "ok", (run.reply, run.stdout, run.stderr)
    return run


def shown(run: Run) -> str:
    return ANSI.sub("", "\n".join(run.error["traceback"]))


def outputs(run: Run) -> list[tuple[str, dict]]:
    """(msg_type, content) of streams and displays, in the order they arrived."""
    return [(m["msg_type"], m["content"]) for m in run.messages if m["msg_type"] in ("stream", "display_data")]


# -- a notebook nobody has run ---------------------------------------------------------------------


def test_name_of_an_unrun_notebook_says_how_to_run_it(kernel, server):
    assert {c["status"] for c in server.cells()} == {"stale"}
    run = execute(kernel, "answer + 1")
    assert run.reply["ename"] == "NameError" and run.error["evalue"] == "name 'answer' is not defined"
    assert len(run.of("error")) == 1
    text = shown(run)
    assert "'answer' is defined by cell MJUe, which has not run yet" in text
    assert "2 of 2 cells" in text and "%cell run --all" in text and server.url in text
    # A name no cell defines gets no such note.
    assert "Note:" not in shown(execute(kernel, "no_cell_defines_this"))


def test_cells_lists_what_unrun_cells_define_and_says_they_have_not_run(kernel):
    run = ok(execute(kernel, "%cells"))
    bundle = run.listing
    cells = {c["id"]: c for c in bundle["application/vnd.marimo-pair+json"]["cells"]}
    assert cells["Hbol"]["status"] == "stale" and cells["Hbol"]["defs"] == ["seed"]
    assert cells["MJUe"]["defs"] == ["answer"] and cells["MJUe"]["refs"] == ["seed"]
    assert "No cell of this notebook has run yet" in bundle["text/plain"]
    assert "%cell run --all" in bundle["text/html"] and "<table>" in bundle["text/html"]


def test_run_all_runs_stale_cells_with_progress_and_a_count(kernel, server):
    run = ok(execute(kernel, "%cell run --all"))
    assert "running cell 1/2: Hbol" in run.stdout and "running cell 2/2: MJUe" in run.stdout
    assert run.stdout.rstrip().endswith("ran 2 cells.")
    assert [m["name"] for m in run.of("stream")].count("stdout") >= 2  # progress streams as it goes
    assert {c["status"] for c in server.cells()} == {"idle"}
    assert ok(execute(kernel, "answer")).result["text/plain"] == "42"
    assert "Nothing to run" in ok(execute(kernel, "%cell run --all")).stdout
    assert "have not run" not in ok(execute(kernel, "%cells")).listing["text/plain"]


def test_a_cell_saved_without_running_and_a_failed_cell_are_explained(kernel):
    ok(execute(kernel, "%%cell --name later --no-run\nlater_v = seed * 10\n"))
    text = shown(execute(kernel, "later_v"))
    assert "which has not run since it was created or edited" in text and "%cell run " in text
    assert "1 of " in ok(execute(kernel, "%cells")).listing["text/plain"]
    run = ok(execute(kernel, "%cell run --all"))
    assert "ran 1 cell." in run.stdout
    assert execute(kernel, "%%cell --name broken_def\nbroken_v = 1 / 0\n").reply["status"] == "error"
    assert "whose last run raised an error" in shown(execute(kernel, "broken_v"))


def test_run_all_misuse_is_a_usage_error(kernel):
    for code in ("%cell run --all Hbol", "%cell show --all", "%%cell --all\nx_all = 1\n", "%cell run --all --no-run"):
        run = execute(kernel, code)
        assert run.reply["ename"] == "UsageError", (code, run.reply)
        assert "%cell run --all" in run.reply["evalue"]


# -- cells show their output --------------------------------------------------------------------------


def test_a_cell_ending_in_a_table_shows_the_table_after_its_status_line(kernel):
    table = "import pandas as pd\ntable_df = pd.DataFrame({'a': [1, 2], 'b': [3, 4]})\ntable_df\n"
    run = ok(execute(kernel, "%%cell --name table_cell\n" + table))
    seen = outputs(run)
    kinds = [k for k, _ in seen]
    assert kinds[-1] == "display_data" and kinds.count("display_data") == 1
    assert "created and ran cell" in "".join(c["text"] for k, c in seen if k == "stream")  # status line first
    data = seen[-1][1]["data"]
    assert data["text/plain"] == "   a  b\n0  1  3\n1  2  4"  # pandas' repr, as ipykernel shows it
    assert "<table" in data["text/html"] and "<marimo-" not in data["text/html"]
    # %cell run shows it again; --no-run shows nothing.
    again = ok(execute(kernel, "%cell run table_cell"))
    assert [d["text/plain"] for d in again.displays] == ["   a  b\n0  1  3\n1  2  4"]
    small = "import pandas as pd\ntable_df = pd.DataFrame({'a': [5]})\ntable_df\n"
    assert ok(execute(kernel, "%%cell edit table_cell --no-run\n" + small)).displays == []
    edited = ok(execute(kernel, "%%cell edit table_cell\n" + small))
    assert [d["text/plain"] for d in edited.displays] == ["   a\n0  5"]


def test_figures_show_as_png_both_as_a_value_and_from_plt_show(kernel):
    code = "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 2, 3])\nfig\n"
    run = ok(execute(kernel, "%%cell --name fig_cell\n" + code))
    (data,) = run.displays
    assert data["image/png"].startswith("iVBOR") and data["text/plain"].startswith("<Figure size")
    code = "import matplotlib.pyplot as plt2\nplt2.plot([3, 2, 1])\nplt2.show()\nprint('after show')\n"
    run = ok(execute(kernel, "%%cell --name show_cell\n" + code))
    assert "after show" in run.stdout
    assert [d["image/png"][:5] for d in run.displays] == ["iVBOR"]


def test_ui_elements_and_marimo_outputs_render_outside_marimo(kernel):
    code = "import marimo as mo\nui_slider = mo.ui.slider(1, 10, value=3, label='n')\nui_slider\n"
    run = ok(execute(kernel, "%%cell --name ui_cell\n" + code))
    (data,) = run.displays
    assert "slider" in data["text/plain"] and "value=3" in data["text/plain"]
    assert "<marimo-" not in data.get("text/html", "")
    code = "mo.output.append(mo.md('**one**'))\nmo.output.append(mo.md('two'))\n"
    run = ok(execute(kernel, "%%cell --name appended\n" + code))
    assert [d.get("text/markdown") for d in run.displays] == ["**one**", "two"]


def test_the_output_is_what_the_run_left_nothing_runs_twice(kernel, server, tmp_path):
    marks = tmp_path / "marks.txt"
    code = f"open({str(marks)!r}, 'a').write('x')\nprint('ran once')\n7 * 6\n"
    run = ok(execute(kernel, "%%cell --name side_effect\n" + code))
    assert marks.read_text() == "x" and run.stdout.count("ran once") == 1
    assert [d["text/plain"] for d in run.displays] == ["42"]


def test_a_cell_that_raises_shows_its_error_and_no_output(kernel):
    code = "value_before = 1\nraise ValueError('no output for you')\nvalue_before\n"
    run = execute(kernel, "%%cell --name raising_cell\n" + code)
    assert run.reply["status"] == "error" and run.reply["ename"] == "ValueError"
    assert run.displays == [] and len(run.of("error")) == 1
    text = shown(run)
    assert re.search(r"Cell raising_cell \(\w+\), line 2", text) and "----> 2 raise ValueError" in text


def test_figures_from_one_run_are_bounded(kernel):
    code = "import matplotlib.pyplot as plt3\nfor k in range(23):\n    plt3.plot([k, 1])\n    plt3.show()\n"
    run = ok(execute(kernel, "%%cell --name many_figures\n" + code))
    images = [d for d in run.displays if "image/png" in d]
    assert len(images) == 20
    assert run.displays[-1]["text/plain"] == "... 3 more figures, shown on the marimo page"


LISTINGS = ["%cells", "%status", "%discover", "%graph", "%graph Hbol", "%lsmagic", "%help", "%cell show Hbol",
            "%cell delete listed_then_deleted"]


@pytest.mark.parametrize("magic", LISTINGS)
def test_listings_are_one_execute_result_with_a_table_and_json_for_programs(kernel, magic):
    # As IPython shows a line magic's return value (Out[n]): clients that read only results and
    # streams (jupyter-kernel-mcp, for one) see the listing too.
    if "delete" in magic:
        made = ok(execute(kernel, "%%cell --name listed_then_deleted\nlisted_v = 1\n"))
        assert made.of("execute_result") == [] and "created and ran cell" in made.stdout  # a status line only
    run = ok(execute(kernel, magic))
    (result,) = run.of("execute_result")
    # Nothing else, but %graph's diagram first, in a display of its own (text/vnd.mermaid only).
    assert [set(d) for d in run.displays] == ([{"text/vnd.mermaid"}] if magic.startswith("%graph") else []), magic
    assert result["execution_count"] == run.reply["execution_count"]
    bundle = result["data"]
    assert {"text/plain", "text/html", "application/vnd.marimo-pair+json"} <= set(bundle), magic
    assert "application/json" not in bundle, magic  # JupyterLab and euporie would rank it above the table
    assert "<table>" in bundle["text/html"] or magic in ("%lsmagic", "%cell delete listed_then_deleted")


def test_magic_help_is_the_result_and_a_silent_listing_shows_nothing(kernel):
    run = ok(execute(kernel, "%help cells"))
    assert [m["msg_type"] for m in run.messages] == ["execute_input", "execute_result"]
    assert run.result["text/plain"].startswith("usage: %cells")
    quiet = ok(execute(kernel, "%cells", silent=True))
    assert [m["msg_type"] for m in quiet.messages] == []
