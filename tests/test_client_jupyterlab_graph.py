"""%graph drawn in a real front end: JupyterLab 4 (4.1+ draws text/vnd.mermaid) in headless Chromium.

The marimo notebook has a cell that raised when it ran; the Jupyter notebook adds cells whose
names and code need escaping in mermaid (unicode, a very long name, quotes, brackets, `-->`,
`%%{…}%%`), leaves one edited but not run (stale), then asks
%graph and %cells. The page must show a diagram (an <svg> or <img> inside Lab's mermaid output,
no mermaid syntax error) with the cells' names, then the table; %cells' table marks the states
with a word. The screenshot goes to tests/artifacts/graph.png (and docs/graph.png with
MPK_UPDATE_DOCS=1).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest
from lab_support import (
    JupyterLab,
    cell_outputs,
    chromium_page,
    diagnose,
    open_notebook,
    run_all_cells,
    wait_kernel_idle,
)
from support import ARTIFACTS, KERNELSPEC, chromium_or_skip, server_fixture

ROOT = Path(__file__).parents[1]

NOTEBOOK = '''
import marimo

app = marimo.App()


@app.cell
def load():
    données = [3, 1, 2]
    return (données,)


@app.cell
def cleaned(données):
    total = sum(données)
    return (total,)


@app.cell
def broken(total):
    bad = total / 0
    return (bad,)


if __name__ == "__main__":
    app.run()
'''

LONG = "a_cell_name_that_goes_on_and_on_and_on_far_past_any_sensible_width"
CELLS = [
    f"%%cell --name {LONG}\nratio = total / len(données)\n",
    '%%cell --name weird\nlabel = "a --> [b] \\"q\\" <c> %%{init}%% | {x} #1;"\n',
    '%%cell\nprint(label, ratio)  # --> ]"\n',
    "%%cell edit cleaned --no-run\ntotal = sum(données) + 1\n",
    "%graph",
    "%cells",
]
GRAPH, LISTING = len(CELLS) - 2, len(CELLS) - 1


marimo_server = server_fixture("marimo-graph", code=NOTEBOOK)


@pytest.fixture(scope="module")
def lab(marimo_server, tmp_path_factory):
    chromium_or_skip()  # before starting Lab for nothing
    work = tmp_path_factory.mktemp("jupyterlab-graph")
    lab = JupyterLab.start(work, env={"XDG_STATE_HOME": str(marimo_server.state_home)})
    try:
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = KERNELSPEC
        nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
        nbformat.write(nb, lab.root / "graph.ipynb")
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def page(lab):
    """The notebook open in Lab, every cell run once (Run > Run All Cells)."""
    with chromium_page(lab, height=1400) as pg:
        try:
            open_notebook(pg, lab, "graph.ipynb")
            pg.keyboard.press("Control+b")  # fold the file browser: more room for the outputs
            run_all_cells(pg)
            pg.wait_for_selector(".jp-RenderedMermaid svg, .jp-RenderedMermaid img", timeout=90_000)
            pg.wait_for_function(
                f"() => document.querySelectorAll('.jp-NotebookPanel .jp-Cell')[{LISTING}]"
                "?.querySelector('.jp-OutputArea table')",
                timeout=60_000,
                polling=100,
            )
            wait_kernel_idle(pg)
        except Exception as e:
            pytest.fail(f"JupyterLab did not run the notebook ({type(e).__name__})\n{diagnose(pg, lab)}")
        yield pg


def test_graph_renders_a_mermaid_diagram(page):
    out = cell_outputs(page, GRAPH)
    diagram = out.locator(".jp-RenderedMermaid")
    assert diagram.count() == 1, out.inner_html()[:2000]
    drawn = diagram.locator("svg, img")
    assert drawn.count() >= 1
    box = drawn.first.bounding_box()
    assert box and box["width"] > 200 and box["height"] > 200, box
    # No mermaid error: Lab marks a diagram mermaid could not parse with a warning class.
    assert diagram.first.evaluate("e => e.classList.contains('jp-mod-warning')") is False
    svg = page.evaluate(
        "() => { const d = document.querySelectorAll('.jp-RenderedMermaid')[0];"
        " const i = d.querySelector('img'); if (i) return decodeURIComponent(i.src);"
        " return d.querySelector('svg').outerHTML; }"
    )
    assert "Syntax error" not in svg
    for text in ("load", "cleaned", "données", "weird", "broken", "⚠ exception", "stale"):
        assert text in svg, text
    assert LONG[:30] in svg and LONG not in svg  # a very long name is cut


def test_graph_still_shows_the_table_below(page):
    table = cell_outputs(page, GRAPH).locator("table")
    assert table.count() == 1
    assert "ancestors" in table.first.inner_text() and "weird" in table.first.inner_text()


def test_cells_table_marks_states_with_a_word(page):
    out = cell_outputs(page, LISTING)
    errors = out.locator(".mpk-status.mpk-error")
    stale = out.locator(".mpk-status.mpk-stale")
    assert errors.count() >= 1 and "exception" in errors.first.inner_text()
    assert stale.count() >= 1 and stale.first.inner_text() == "stale"
    colour = errors.first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(198, 40, 40)", colour


def test_screenshot(page):
    """After the checks above, so the picture shows what they proved."""
    cell_outputs(page, GRAPH).scroll_into_view_if_needed()
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").nth(GRAPH).evaluate("e => e.scrollIntoView()")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "graph.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000
    if os.environ.get("MPK_UPDATE_DOCS") == "1":
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, ROOT / "docs" / "graph.png")
