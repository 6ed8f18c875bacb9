"""A notebook's mo.ui slider as a widget in Notebook 7 and in Voilà, on this kernel, in Chromium.

Notebook 7 (with jupyterlab_widgets' manager, as Lab) runs a `.ipynb` whose cells show the
slider and an array, and the page shows a slider widget with marimo's value, and the array as
a box of a slider and a checkbox. Voilà renders a `.ipynb` on
this kernel (kernelspec marimo-pair): it runs the notebook, keeps the kernel, and its page's
widget manager shows the notebook's slider as a widget. One marimo server for the module.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import nbformat
import pytest
from lab_support import JupyterLab, chromium_page, diagnose
from support import (
    CHROMIUM_ARGS,
    KERNELSPEC,
    PYTHON,
    chromium_or_skip,
    free_port,
    server_fixture,
    stop_group,
)

pytestmark = pytest.mark.timeout(240)

NOTEBOOK = '''
import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo
    s = mo.ui.slider(0, 10, value=4, label='n')
    arr = mo.ui.array([mo.ui.slider(0, 10, value=6), mo.ui.checkbox(value=True)])
    return arr, mo, s


if __name__ == "__main__":
    app.run()
'''


marimo_server = server_fixture("nbvoila", code=NOTEBOOK)


def write_notebook(path: Path, cells: tuple[str, ...] = ("s",)) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)


def test_notebook7_shows_the_slider_widget(marimo_server, tmp_path):
    chromium_or_skip()
    nb7 = JupyterLab.start(tmp_path, env={"MARIMO_PAIR_URL": marimo_server.url}, app="notebook")
    try:
        write_notebook(nb7.root / "widgets.ipynb", ("s", "arr"))
        with chromium_page(nb7) as page:
            try:
                page.goto(f"{nb7.url}/notebooks/widgets.ipynb", wait_until="domcontentloaded")
                page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
                deadline = time.monotonic() + 60  # the notebook's kernel started and idle
                while not any(k.get("execution_state") == "idle" for k in nb7.kernels()):
                    assert time.monotonic() < deadline, nb7.kernels()
                    time.sleep(0.3)
                page.locator(".jp-Notebook .jp-Cell").first.click()
                page.keyboard.press("Shift+Enter")
                handle = page.locator(".jp-Notebook .jp-Cell").first.locator(".widget-slider .noUi-handle")
                handle.wait_for(timeout=60_000)
            except Exception as e:
                pytest.fail(f"Notebook 7 did not show the widget ({type(e).__name__})\n{diagnose(page, nb7)}")
            readout = page.locator(".jp-Notebook .jp-Cell").first.locator(".widget-readout")
            assert readout.first.inner_text().strip() == "4"
            # An array: a box of its elements' widgets.
            page.keyboard.press("Shift+Enter")
            box = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".widget-vbox")
            try:
                box.locator(".widget-slider .noUi-handle").wait_for(timeout=60_000)
            except Exception as e:
                pytest.fail(f"Notebook 7 did not show the array's box ({type(e).__name__})\n{diagnose(page, nb7)}")
            assert box.locator(".widget-readout").first.inner_text().strip() == "6"
            assert box.locator("input[type=checkbox]").first.is_checked()
    finally:
        nb7.stop()


def test_voila_renders_the_slider_widget(marimo_server, tmp_path):
    chromium = chromium_or_skip()
    root = tmp_path / "voila"
    root.mkdir()
    write_notebook(root / "dash.ipynb")
    from jupyter_core.paths import jupyter_data_dir

    env = dict(os.environ)
    for name in ("MARIMO_TOKEN", "MARIMO_PAIR_FILE", "MARIMO_PAIR_OPEN", "MARIMO_PAIR_PYTHON"):
        env.pop(name, None)
    dirs = {name: tmp_path / f"jupyter-{name}" for name in ("runtime", "config", "data")}
    for d in dirs.values():
        d.mkdir()
    env.update(
        MARIMO_PAIR_URL=marimo_server.url,
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        # The kernelspec installed with --user, and Voilà's own templates and widget manager.
        JUPYTER_PATH=os.pathsep.join([jupyter_data_dir(), *filter(None, env.get("JUPYTER_PATH", "").split(":"))]),
    )
    port = free_port()
    log = tmp_path / "voila.log"
    proc = subprocess.Popen(
        [PYTHON, "-m", "voila", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
         "--show_tracebacks=True", str(root / "dash.ipynb")],
        cwd=root, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60  # until Voilà says it serves (a GET of / would run the notebook)
        while "Voilà is running at" not in log.read_text(errors="replace"):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(url, wait_until="domcontentloaded", timeout=120_000)
                try:
                    page.locator(".widget-slider .noUi-handle").first.wait_for(timeout=120_000)
                except Exception as e:
                    shown = page.evaluate("document.body.innerText")
                    pytest.fail(f"Voilà showed no slider widget ({type(e).__name__}): {shown[-2000:]}\n"
                                f"{log.read_text(errors='replace')[-3000:]}")
                assert page.locator(".widget-readout").first.inner_text().strip() == "4"
                assert "n" in page.locator(".widget-label").first.inner_text()
            finally:
                browser.close()
    finally:
        stop_group(proc)
