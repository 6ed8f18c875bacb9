"""A notebook env without IPython (as `marimo edit --sandbox` and `uvx marimo` give): parity and text.

The marimo server runs from a cached venv with marimo, numpy, pandas, matplotlib and pillow
and no IPython (tests/venv_support.py; built once, about 45 s and 500 MB). The parity corpus
runs against it, beside a `python3` kernel of this env (same library versions, with IPython),
leaving out the snippets that import IPython themselves. Then what the issue found broken
there: DataFrames shown as marimo's table passed off as a UI snapshot, `_repr_mimebundle_`
ignored, display() needing an import; and the text/plain an agent reads (mo.md, figures,
UI snapshots, listings).
"""

from __future__ import annotations

import re

import pytest
from parity_corpus import SNIPPETS, run_corpus
from support import MarimoServer, execute, started_kernel
from test_outputs_parity import write_report
from venv_support import importable_in, no_ipython_python

NO_IPYTHON_SNIPPETS = [s for s in SNIPPETS if "IPython" not in s.code]
SNAPSHOT_WORDS = ("marimo table", "made by this code", "live on the marimo page", "<marimo-")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """This module's marimo runs in the venv without IPython (overrides conftest's)."""
    srv = MarimoServer.start(tmp_path_factory.mktemp("marimo-no-ipython"), python=no_ipython_python())
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def reference(server):
    # started_kernel starts it once more if it died at start (a port race on a busy machine).
    with started_kernel({}, kernel_name="python3", cwd=server.root) as (_, kc):
        yield kc


def test_the_notebook_really_has_no_ipython(kernel):
    run = execute(kernel, "import importlib.util, sys\nprint(importlib.util.find_spec('IPython'), sys.executable)")
    assert run.stdout.startswith("None ") and "venv-no-ipython" in run.stdout


def test_corpus_without_ipython_matches_ipykernel(kernel, reference):
    assert len(NO_IPYTHON_SNIPPETS) >= 60  # the corpus minus the IPython.display snippets
    there = importable_in(no_ipython_python(), {m for s in NO_IPYTHON_SNIPPETS for m in s.requires})
    report = run_corpus(kernel, reference, NO_IPYTHON_SNIPPETS, importable=there.__contains__)
    assert {name for name, _ in report.skipped} >= {"pandas Styler", "sympy expression (_repr_latex_)"}
    write_report(report, "parity_report_no_ipython.txt")
    print(f"\noutput parity with ipykernel, notebook env without IPython: {report.figure}")
    bad = report.mismatches()
    summary = "\n".join(f"- {r.snippet.name}: {' | '.join(r.problems)}" for r in bad)
    assert not bad, f"output parity {report.figure}; mismatching snippets:\n{summary}"


def _no_snapshot(data: dict) -> None:
    shown = " ".join(v for v in data.values() if isinstance(v, str))
    for word in SNAPSHOT_WORDS:
        assert word not in shown, f"{word!r} in {shown[:300]!r}"


@pytest.mark.parametrize("code", [
    "import pandas as pd\npd.DataFrame({'a': [1, 2, 3], 'b': ['x', 'y', 'z']})",
    "import pandas as pd\npd.DataFrame({'a': [1, 2, 3, 4]}).describe()",
])
def test_a_dataframe_is_pandas_own_table(kernel, code):
    run = execute(kernel, code)
    data = run.result
    assert data is not None and run.error is None, run.messages
    assert '<table border="1" class="dataframe">' in data["text/html"]
    _no_snapshot(data)


def test_series_and_display_without_import_are_not_snapshots(kernel):
    run = execute(kernel, "import pandas as pd\npd.Series([1.5, 2.5], name='s')")
    assert set(run.result) == {"text/plain"} and "Name: s" in run.result["text/plain"]
    run = execute(kernel, "import pandas as pd\ndisplay(pd.DataFrame({'n': [1, 2]}))")
    assert len(run.displays) == 1 and 'class="dataframe"' in run.displays[0]["text/html"]
    _no_snapshot(run.displays[0])


def test_a_cell_ending_in_a_dataframe_shows_the_table(kernel):
    run = execute(kernel, "%%cell --name frame_cell\nimport pandas as pd\npd.DataFrame({'q': [7, 8]})")
    assert run.error is None, run.messages
    shown = [*run.displays, *([run.result] if run.result else [])]
    tables = [d for d in shown if 'class="dataframe"' in d.get("text/html", "")]
    assert tables, shown
    _no_snapshot(tables[0])


def test_display_handles_work_without_ipython(kernel):
    run = execute(kernel, "h = display('first', display_id=True)\nh.update('second')\nh")
    [shown] = run.of("display_data")
    [updated] = run.of("update_display_data")
    assert shown["data"] == {"text/plain": "'first'"} and updated["data"] == {"text/plain": "'second'"}
    assert shown["transient"]["display_id"] == updated["transient"]["display_id"]
    assert re.fullmatch(r"<DisplayHandle display_id=\w+>", run.result["text/plain"])


def test_a_raising_repr_html_is_named_and_the_rest_shown(kernel):
    code = (
        "class Bad:\n    def _repr_html_(self):\n        raise ValueError('no html today')\n"
        "    def __repr__(self):\n        return 'Bad()'\nBad()"
    )
    run = execute(kernel, code, timeout=60)
    assert run.result == {"text/plain": "Bad()"} and run.error is None
    assert "raised ValueError: no html today" in run.stderr and "Traceback" not in run.stderr


def test_text_plain_says_what_marimo_objects_show(kernel):
    run = execute(kernel, "import marimo as mo\nmo.md('# Title\\n\\nsome *text*')")
    assert run.result["text/plain"] == "# Title\n\nsome *text*"
    run = execute(kernel, "import marimo as mo\nmo.stat(value='12', label='Count')")
    assert run.result["text/plain"] == "Count\n12"
    run = execute(kernel, "import marimo as mo\nmo.output.append(mo.md('appended *text*'))")
    assert [d["text/plain"] for d in run.displays] == ["appended *text*"]


def test_text_plain_of_a_figure_gives_size_and_titles(kernel):
    code = ("import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(4, 3))\nax.plot([1, 2])\n"
            "ax.set_title('Growth')\nax.set_xlabel('year')\nplt.show()")
    run = execute(kernel, code)
    [fig] = run.displays
    assert "image/png" in fig
    assert fig["text/plain"] == "<Figure size 400x300 with 1 Axes>\n  axes 1: title 'Growth', xlabel 'year'"


def test_text_plain_of_ui_snapshots_and_listings(kernel, server):
    run = execute(kernel, "import marimo as mo\nmo.ui.slider(1, 10, value=3, label='Speed')")
    text = run.result["text/plain"]
    assert text.startswith("slider(") and "value=3" in text and "label='Speed'" in text
    run = execute(kernel, "%cells")
    [listing] = [*run.displays, *([run.result] if run.result else [])]
    assert "seed = 41" in listing["text/plain"] and "answer" in listing["text/plain"]


def test_a_dataframe_inside_a_layout_is_its_table_not_a_snapshot(kernel):
    run = execute(kernel, "import marimo as mo, pandas as pd\nmo.hstack([mo.md('left'), pd.DataFrame({'z': [5, 6]})])")
    page = run.result["text/html"]
    assert 'class="dataframe"' in page and "left" in page
    _no_snapshot(run.result)
    # A table someone made to select rows is a real element: it stays a snapshot.
    run = execute(kernel, "import marimo as mo, pandas as pd\nmo.ui.table(pd.DataFrame({'z': [5, 6]}))")
    assert run.result["text/plain"].startswith("table(") and "rows=2" in run.result["text/plain"]


def test_a_cells_plt_show_figure_says_its_size(kernel):
    code = "%%cell --name shown_fig\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()"
    run = execute(kernel, code)
    figs = [d for d in run.displays if "image/png" in d]
    assert len(figs) == 1, run.messages
    assert re.fullmatch(r"<Figure image \d+x\d+ px, shown by plt\.show\(\) in the cell>", figs[0]["text/plain"])


def test_ipythons_cell_magics_work_without_ipython(kernel, tmp_path):
    html = execute(kernel, "%%html\n<b>hi</b>")
    assert html.displays == [{"text/html": "<b>hi</b>\n", "text/plain": "<IPython.core.display.HTML object>"}]
    path = tmp_path / "w.txt"
    assert execute(kernel, f"%%writefile {path}\nabc\n").stdout == f"Writing {path}\n" and path.read_text() == "abc\n"
    assert execute(kernel, "%%bash\necho out").stdout == "out\n"
    r = execute(kernel, "%%capture cap\nprint('quiet')\n6 * 7")
    assert r.reply["status"] == "ok" and not r.of("stream") and r.result is None, r.messages
    shown = execute(kernel, "cap.show()")
    assert (shown.stdout, shown.displays) == ("quiet\n", [{"text/plain": "42"}]), shown.messages
    assert execute(kernel, "cap.stdout, type(cap).__name__").result["text/plain"] == "('quiet\\n', 'CapturedIO')"
