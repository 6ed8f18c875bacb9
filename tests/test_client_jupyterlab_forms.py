"""A notebook's mo.ui.form and mo.ui.anywidget as live widgets in JupyterLab 4 in Chromium.

Lab with jupyterlab_widgets and anywidget's own Lab extension (both in the test extra) renders
the kernel's widget views. The anywidget is a counter button: its `_esm` runs in Lab (anywidget's
frontend), and a click there sets marimo's element (read over marimo's HTTP API, independently of
the kernel). The form's slider moves without setting marimo until Lab's Submit button is clicked;
its Clear button puts the slider back to where it started without setting marimo.
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
from support import ARTIFACTS, KERNELSPEC, MarimoServer, chromium_or_skip, server_fixture

NOTEBOOK = '''
import marimo

app = marimo.App()


@app.cell
def _():
    import anywidget
    import marimo as mo
    import traitlets

    class Counter(anywidget.AnyWidget):
        _esm = """
        export default {
          render({ model, el }) {
            const b = document.createElement("button");
            b.className = "mpk-counter";
            const show = () => { b.textContent = "count " + model.get("value"); };
            b.onclick = () => { model.set("value", model.get("value") + 1); model.save_changes(); };
            model.on("change:value", show);
            show();
            el.appendChild(b);
          }
        };
        """
        value = traitlets.Int(0).tag(sync=True)

    cw = mo.ui.anywidget(Counter(value=3))
    fm = mo.ui.form(mo.ui.slider(0, 10, value=2, label='n'), show_clear_button=True)
    return cw, fm


if __name__ == "__main__":
    app.run()
'''


marimo_server = server_fixture("labforms", code=NOTEBOOK)


@pytest.fixture(scope="module")
def page(marimo_server, tmp_path_factory):
    chromium_or_skip()
    lab = JupyterLab.start(tmp_path_factory.mktemp("jupyterlab-forms"), env={"MARIMO_PAIR_URL": marimo_server.url})
    try:
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = KERNELSPEC
        nb.cells = [nbformat.v4.new_code_cell("cw"), nbformat.v4.new_code_cell("fm")]
        nbformat.write(nb, lab.root / "forms.ipynb")
        with chromium_page(lab) as page:
            open_notebook(page, lab, "forms.ipynb")
            run_all_cells(page)
            try:
                cell_outputs(page, 0).locator(".mpk-counter").wait_for(timeout=60_000)
                cell_outputs(page, 1).locator(".widget-slider .noUi-handle").wait_for(timeout=60_000)
                wait_kernel_idle(page)
            except Exception as e:
                pytest.fail(f"JupyterLab did not show the widgets ({type(e).__name__})\n{diagnose(page, lab)}")
            yield page, lab
    finally:
        lab.stop()


def marimo_says(srv: MarimoServer, expr: str) -> str:
    events, done = srv.execute(f"print({expr})")
    assert done["success"], done
    return "".join(d.get("data", "") for name, d in events if name == "stdout").strip()


def wait_marimo(srv: MarimoServer, expr: str, want: str, seconds: float = 30) -> str:
    deadline = time.monotonic() + seconds
    got = marimo_says(srv, expr)
    while got != want and time.monotonic() < deadline:
        time.sleep(0.3)
        got = marimo_says(srv, expr)
    return got


def test_anywidget_runs_in_lab_and_sets_marimo(page, marimo_server):
    page, lab = page
    button = cell_outputs(page, 0).locator(".mpk-counter")
    assert button.inner_text().strip() == "count 3", diagnose(page, lab)
    button.click()
    got = wait_marimo(marimo_server, "cw.value['value']", "4")
    assert got == "4", f"marimo has {got}\n{diagnose(page, lab)}"
    assert button.inner_text().strip() == "count 4"
    # marimo -> Lab: the notebook's code changes the trait.
    events, done = marimo_server.execute("cw.widget.value = 9")
    assert done["success"], done
    page.wait_for_function("el => el.innerText.trim() === 'count 9'", arg=button.element_handle(), timeout=30_000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "jupyterlab-forms.png"))


def test_form_in_lab_sets_marimo_only_on_submit(page, marimo_server):
    page, lab = page
    out = cell_outputs(page, 1)
    handle = out.locator(".widget-slider .noUi-handle")
    handle.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    assert out.locator(".widget-readout").first.inner_text().strip() == "5"
    time.sleep(2)
    assert marimo_says(marimo_server, "fm.value") == "None"
    out.get_by_role("button", name="Submit").click()
    got = wait_marimo(marimo_server, "fm.value", "5")
    assert got == "5", f"marimo has {got}\n{diagnose(page, lab)}"
    # Lab's Clear puts the slider back where the element started and leaves marimo's value alone.
    handle.focus()
    page.keyboard.press("ArrowRight")
    readout = out.locator(".widget-readout").first
    assert readout.inner_text().strip() == "6"
    out.get_by_role("button", name="Clear").click()
    page.wait_for_function("el => el.innerText.trim() === '2'", arg=readout.element_handle(), timeout=30_000)
    time.sleep(1)
    assert marimo_says(marimo_server, "fm.value") == "5"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "jupyterlab-form-clear.png"))
