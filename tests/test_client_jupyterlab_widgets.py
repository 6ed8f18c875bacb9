"""A notebook's mo.ui slider as a live widget in JupyterLab 4 (with jupyterlab_widgets) in Chromium.

Lab renders the kernel's `application/vnd.jupyter.widget-view+json` output with its widget
manager; ArrowRight on the slider's handle sets the element in marimo (checked over marimo's
HTTP API, independently of the kernel) and reruns the cell that reads it; the page's own request
moving the slider moves Lab's readout. The screenshot goes
to tests/artifacts/jupyterlab-widgets.png.
"""

from __future__ import annotations

import time

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
from support import ARTIFACTS, KERNELSPEC, MarimoServer, chromium_or_skip
from test_widgets_live import page_set

NOTEBOOK = '''
import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo
    s = mo.ui.slider(0, 10, value=2, label='n')
    return mo, s


@app.cell
def _(s):
    doubled = s.value * 2
    return (doubled,)


if __name__ == "__main__":
    app.run()
'''


@pytest.fixture(scope="module")
def marimo_server(tmp_path_factory):
    srv = MarimoServer.start(tmp_path_factory.mktemp("labwidgets"), code=NOTEBOOK)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def lab(marimo_server, tmp_path_factory):
    chromium_or_skip()
    lab = JupyterLab.start(tmp_path_factory.mktemp("jupyterlab-widgets"), env={"MARIMO_PAIR_URL": marimo_server.url})
    try:
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = KERNELSPEC
        nb.cells = [nbformat.v4.new_code_cell("s")]
        nbformat.write(nb, lab.root / "widgets.ipynb")
        yield lab
    finally:
        lab.stop()


def marimo_value(srv: MarimoServer) -> str:
    events, done = srv.execute("print(s.value, doubled)")
    assert done["success"], done
    return "".join(d.get("data", "") for name, d in events if name == "stdout").strip()


def test_lab_slider_is_a_widget_that_moves_marimo(lab, marimo_server):
    with chromium_page(lab) as page:
        try:
            open_notebook(page, lab, "widgets.ipynb")
            run_all_cells(page)
            handle = cell_outputs(page, 0).locator(".widget-slider .noUi-handle")
            handle.wait_for(timeout=60_000)
            wait_kernel_idle(page)
        except Exception as e:
            pytest.fail(f"JupyterLab did not show the widget ({type(e).__name__})\n{diagnose(page, lab)}")
        readout = cell_outputs(page, 0).locator(".widget-readout")
        assert readout.first.inner_text().strip() == "2"
        assert "n" in cell_outputs(page, 0).locator(".widget-label").first.inner_text()
        assert marimo_value(marimo_server) == "2 4"
        handle.focus()
        page.keyboard.press("ArrowRight")
        deadline = time.monotonic() + 30
        got = None
        while time.monotonic() < deadline:
            got = marimo_value(marimo_server)
            if got == "3 6":
                break
            time.sleep(0.3)
        assert got == "3 6", f"marimo has {got}\n{diagnose(page, lab)}"
        assert readout.first.inner_text().strip() == "3"
        # The other way: marimo's page moves the slider; Lab's readout follows (the viewer stream).
        events, done = marimo_server.execute("print(s._id)")
        element_id = "".join(d.get("data", "") for name, d in events if name == "stdout").strip()
        page_set(marimo_server, element_id, 7)
        try:
            page.wait_for_function(
                "el => el.innerText.trim() === '7'", arg=readout.first.element_handle(), timeout=30_000
            )
        except Exception:
            pytest.fail(f"Lab's readout shows {readout.first.inner_text()!r}, not 7\n{diagnose(page, lab)}")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "jupyterlab-widgets.png"))
