"""A notebook's mo.ui slider as a live widget in JupyterLab 4 (with jupyterlab_widgets) in Chromium,
beside the marimo page itself.

The marimo page is opened first, in the same Chromium, and is the notebook's front end (it
creates the marimo session the kernel then finds; no headless session here). Lab renders the
kernel's `application/vnd.jupyter.widget-view+json` output with its widget manager. ArrowRight
on Lab's slider sets the element in marimo: marimo's value (over its HTTP API, independently of
the kernel), the marimo page's slider and the dependent cell's output on that page all follow.
ArrowRight on the marimo page's slider moves Lab's readout. Screenshots go to
tests/artifacts/jupyterlab-widgets.png (Lab) and tests/artifacts/jupyterlab-widgets-marimo.png
(both side by side; to docs/jupyterlab-widgets-marimo.png with MPK_UPDATE_DOCS=1).
"""

from __future__ import annotations

import os
import time
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
from support import ARTIFACTS, KERNELSPEC, MarimoServer, chromium_or_skip

from marimo_pair_kernel.codemode import RUN_ALL_CELLS

ROOT = Path(__file__).parents[1]

NOTEBOOK = '''
import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo
    s = mo.ui.slider(0, 10, value=2, label='n')
    s
    return mo, s


@app.cell
def _(mo, s):
    doubled = s.value * 2
    mo.md(f"n doubled: **{doubled}**")
    return (doubled,)


if __name__ == "__main__":
    app.run()
'''

# One size for both pages, so the side-by-side picture is two equal halves.
WIDTH, HEIGHT = 960, 640


@pytest.fixture(scope="module")
def marimo_server(tmp_path_factory):
    # No headless session: the marimo page opened below is the notebook's front end.
    srv = MarimoServer.start(tmp_path_factory.mktemp("labwidgets"), code=NOTEBOOK, open_session=False)
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


class Pages:
    """Lab's page with the widget shown, and the marimo page, in one Chromium."""

    def __init__(self, lab: JupyterLab, lab_page, marimo_page) -> None:
        self.lab = lab
        self.page = lab_page
        self.marimo = marimo_page

    @property
    def handle(self):
        return cell_outputs(self.page, 0).locator(".widget-slider .noUi-handle")

    @property
    def readout(self):
        return cell_outputs(self.page, 0).locator(".widget-readout").first

    @property
    def marimo_slider(self):
        # marimo's slider is a Radix slider inside <marimo-slider>'s shadow root (Playwright's
        # locators pierce it): its thumb has role=slider and aria-valuenow.
        return self.marimo.locator("marimo-slider").get_by_role("slider")

    @property
    def marimo_output(self):
        # The dependent cell's output area (not its code, which has the same words).
        return self.marimo.locator("[id^='output-']", has_text="n doubled:")

    def diagnose(self) -> str:
        try:
            shown = self.marimo.evaluate("document.body.innerText")
        except Exception as e:  # noqa: BLE001 - a dead page is itself the diagnosis
            shown = f"(page unreadable: {type(e).__name__})"
        return f"{diagnose(self.page, self.lab)}\n\nmarimo page text:\n{shown[-2000:]}"


@pytest.fixture(scope="module")
def pages(lab, marimo_server):
    with chromium_page(lab, width=WIDTH, height=HEIGHT) as page:
        # A context of its own: Lab's token header is not sent to marimo.
        marimo = page.context.browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        marimo.goto(marimo_server.url + "/")
        deadline = time.monotonic() + 60
        while not marimo_server.notebooks():
            assert time.monotonic() < deadline, "the marimo page never opened a marimo session"
            time.sleep(0.1)
        # marimo 0.25 does not run a notebook when its page opens: "run all", as the person would.
        marimo_server.execute(RUN_ALL_CELLS)
        both = Pages(lab, page, marimo)
        try:
            both.marimo_output.wait_for(timeout=30_000)
            # Opened after the marimo page, so the kernel finds the page's session.
            open_notebook(page, lab, "widgets.ipynb")
            run_all_cells(page)
            both.handle.wait_for(timeout=60_000)
            wait_kernel_idle(page)
        except Exception as e:
            pytest.fail(f"JupyterLab did not show the widget ({type(e).__name__})\n{both.diagnose()}")
        yield both


def marimo_value(srv: MarimoServer) -> str:
    events, done = srv.execute("print(s.value, doubled)")
    assert done["success"], done
    return "".join(d.get("data", "") for name, d in events if name == "stdout").strip()


def wait_text(locator, text: str, timeout_ms: float = 30_000) -> bool:
    """Whether `locator`'s text becomes `text` (whitespace-trimmed) within the timeout."""
    try:
        locator.page.wait_for_function(
            "([el, text]) => el.innerText.trim() === text",
            arg=[locator.element_handle(), text],
            timeout=timeout_ms,
        )
        return True
    except Exception:  # noqa: BLE001 - the caller's assertion says what was seen instead
        return False


def wait_marimo_value(srv: MarimoServer, want: str, seconds: float = 30) -> str:
    deadline = time.monotonic() + seconds
    got = marimo_value(srv)
    while got != want and time.monotonic() < deadline:
        time.sleep(0.3)
        got = marimo_value(srv)
    return got


def test_lab_slider_moves_the_marimo_page(pages, marimo_server):
    assert pages.readout.inner_text().strip() == "2"
    assert "n" in cell_outputs(pages.page, 0).locator(".widget-label").first.inner_text()
    assert marimo_value(marimo_server) == "2 4"
    assert pages.marimo_slider.get_attribute("aria-valuenow") == "2"
    assert pages.marimo_output.inner_text().strip() == "n doubled: 4"
    pages.handle.focus()
    pages.page.keyboard.press("ArrowRight")
    got = wait_marimo_value(marimo_server, "3 6")
    assert got == "3 6", f"marimo has {got}\n{pages.diagnose()}"
    assert pages.readout.inner_text().strip() == "3"
    # The marimo page itself: its slider moved and the cell that reads it reran.
    try:
        pages.marimo.wait_for_function(
            "el => el.getAttribute('aria-valuenow') === '3'", arg=pages.marimo_slider.element_handle(), timeout=30_000
        )
    except Exception:
        pytest.fail(
            f"the marimo page's slider is at {pages.marimo_slider.get_attribute('aria-valuenow')!r}, not 3\n"
            f"{pages.diagnose()}"
        )
    assert wait_text(pages.marimo_output, "n doubled: 6"), (
        f"the marimo page shows {pages.marimo_output.inner_text()!r}\n{pages.diagnose()}"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pages.page.screenshot(path=str(ARTIFACTS / "jupyterlab-widgets.png"))


def test_marimo_page_slider_moves_labs_readout(pages, marimo_server):
    start = int(pages.readout.inner_text().strip())
    want = start + 4
    # The person moves marimo's slider with the keyboard: four steps right, one set each.
    pages.marimo_slider.focus()
    for _ in range(4):
        pages.marimo.keyboard.press("ArrowRight")
    assert wait_text(pages.readout, str(want)), (
        f"Lab's readout shows {pages.readout.inner_text()!r}, not {want}\n{pages.diagnose()}"
    )
    got = wait_marimo_value(marimo_server, f"{want} {want * 2}")
    assert got == f"{want} {want * 2}", f"marimo has {got}\n{pages.diagnose()}"
    assert pages.marimo_slider.get_attribute("aria-valuenow") == str(want)
    assert wait_text(pages.marimo_output, f"n doubled: {want * 2}"), pages.diagnose()


def test_side_by_side_screenshot(pages):
    """After the checks above, so the picture shows what they proved: Lab left, marimo right."""
    from PIL import Image

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    halves = []
    for name, page in (("lab", pages.page), ("marimo", pages.marimo)):
        path = ARTIFACTS / f"jupyterlab-widgets-{name}-half.png"
        page.screenshot(path=str(path))
        halves.append(Image.open(path).convert("RGB"))
    gap = 8
    both = Image.new("RGB", (sum(h.width for h in halves) + gap, max(h.height for h in halves)), "#9e9e9e")
    both.paste(halves[0], (0, 0))
    both.paste(halves[1], (halves[0].width + gap, 0))
    shot = ARTIFACTS / "jupyterlab-widgets-marimo.png"
    # A palette keeps the picture small enough to commit (UI colours fit in 256).
    both.quantize(256).save(shot, optimize=True)
    assert shot.stat().st_size > 20_000
    if os.environ.get("MPK_UPDATE_DOCS") == "1":
        (ROOT / "docs").mkdir(exist_ok=True)
        (ROOT / "docs" / "jupyterlab-widgets-marimo.png").write_bytes(shot.read_bytes())
