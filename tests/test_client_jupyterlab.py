"""The proof in a real front end: JupyterLab 4 in headless Chromium on the marimo-pair kernel.

A .ipynb written with nbformat is opened in Lab (the kernel named in its metadata
starts, and finds this module's marimo server through XDG_STATE_HOME in Lab's
environment), run with Run > Run All Cells, and the page is checked for what a person
must see: a DataFrame as a table, a plt.show() figure as an image, %cells as a table, a
%%cell ending in a DataFrame showing it, and an error's traceback. Lab runs stock: the
add-ons on this machine that change how cells run are off (tests/lab_support.py). The
screenshot goes to tests/artifacts/jupyterlab.png (and to docs/jupyterlab.png with
MPK_UPDATE_DOCS=1).
"""

from __future__ import annotations

import os
import re
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
from support import ARTIFACTS, KERNELSPEC, chromium_or_skip

ROOT = Path(__file__).parents[1]

CELLS = [
    "import pandas as pd",  # used by the next cell: names persist from cell to cell
    "pd.DataFrame({'species': ['Adelie', 'Gentoo'], 'mass_g': [3700, 5076]})",
    "import matplotlib.pyplot as plt\nplt.figure(figsize=(4, 2.2))\nplt.plot([1, 3, 2])\nplt.show()",
    "%%cell --name tally\nimport pandas as _pd\n_pd.DataFrame({'tally': [1234, 5678]})",
    "%cells",
    "1/0",
]
IMPORT, DF, PLOT, NAMED_CELL, CELLS_LISTING, ERROR = range(len(CELLS))


@pytest.fixture(scope="module")
def lab(server, tmp_path_factory):
    chromium_or_skip()  # before starting Lab for nothing
    work = tmp_path_factory.mktemp("jupyterlab")
    lab = JupyterLab.start(work, env={"XDG_STATE_HOME": str(server.state_home)})
    try:
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = KERNELSPEC
        nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
        nbformat.write(nb, lab.root / "pair.ipynb")
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def page(lab):
    """The notebook open in Lab, every cell run once (the last one raises, so it ends the run)."""
    with chromium_page(lab, height=1200) as pg:
        try:
            open_notebook(pg, lab, "pair.ipynb")
            pg.keyboard.press("Control+b")  # fold the file browser: more room for the outputs
            run_all_cells(pg)
            # The first error ends a Run All (Lab skips the cells after it); the last cell raises.
            pg.wait_for_function(
                "() => document.querySelector('.jp-NotebookPanel [data-mime-type=\"application/vnd.jupyter.stderr\"]')",
                timeout=90_000,
                polling=100,
            )
            wait_kernel_idle(pg)
        except Exception as e:
            pytest.fail(f"JupyterLab did not run the notebook ({type(e).__name__})\n{diagnose(pg, lab)}")
        yield pg


def test_lab_runs_the_marimo_pair_kernel(page, lab):
    assert [k["name"] for k in lab.kernels()] == ["marimo-pair"]


def test_an_import_in_one_cell_is_used_in_the_next(page):
    assert cell_outputs(page, IMPORT).inner_text().strip() == ""
    assert "NameError" not in cell_outputs(page, DF).inner_text()
    assert cell_outputs(page, DF).locator("table").count() >= 1  # `pd` from the cell before


def test_dataframe_shows_a_table_with_its_values(page):
    table = cell_outputs(page, DF).locator("table")
    assert table.count() >= 1, cell_outputs(page, DF).inner_text()
    text = table.first.inner_text()
    assert "Adelie" in text and "5076" in text, text


def test_plt_show_shows_an_image(page):
    img = cell_outputs(page, PLOT).locator("img")
    assert img.count() == 1, cell_outputs(page, PLOT).inner_html()[:500]
    assert img.first.get_attribute("src").startswith("data:image/png")
    assert img.first.evaluate("i => i.naturalWidth") > 100


def test_cells_magic_shows_a_table(page):
    table = cell_outputs(page, CELLS_LISTING).locator("table")
    assert table.count() >= 1, cell_outputs(page, CELLS_LISTING).inner_text()[:500]
    text = table.first.inner_text()
    assert "seed = 41" in text and "tally" in text, text
    # A listing is the magic's result, Out[n], as IPython shows a line magic's value: Lab numbers it.
    prompt = cell_outputs(page, CELLS_LISTING).locator(".jp-OutputPrompt").first.inner_text()
    assert re.fullmatch(r"\[\d+\]:", prompt.strip()), prompt


def test_named_cell_ending_in_a_dataframe_shows_it(page, server):
    out = cell_outputs(page, NAMED_CELL)
    assert "tally" in out.inner_text()
    table = out.locator("table")
    assert table.count() >= 1, out.inner_text()[:500]
    assert "5678" in table.first.inner_text()
    assert "tally" in {c["name"] for c in server.cells()}  # the live notebook has the cell


def test_error_shows_its_traceback(page):
    out = cell_outputs(page, ERROR).locator('[data-mime-type="application/vnd.jupyter.stderr"]')
    assert out.count() == 1
    text = out.first.inner_text()
    assert "ZeroDivisionError" in text and "1/0" in text, text
    assert "1/0)" not in text


def test_no_marimo_custom_elements_in_outputs(page):
    """They render blank outside marimo's page."""
    tags = page.evaluate(
        "() => [...document.querySelectorAll('.jp-OutputArea *')].map(e => e.tagName.toLowerCase())"
        ".filter(t => t.startsWith('marimo-'))"
    )
    assert tags == []


def test_screenshot(page):
    """After the checks above, so the picture shows what they proved."""
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").first.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "jupyterlab.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000
    if os.environ.get("MPK_UPDATE_DOCS") == "1":
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, ROOT / "docs" / "jupyterlab.png")
