"""The person's view: the marimo page in headless Chromium while the kernel edits the notebook.

The page is a front end, so opening it creates the marimo session that the kernel
then discovers (no headless session here). A cell created through the kernel must
show up on the page, code and output, within 2 s. The screenshot goes to
tests/artifacts/browser.png (and to docs/browser.png with MPK_UPDATE_DOCS=1).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from support import ARTIFACTS, CHROMIUM_ARGS, MarimoServer, chromium_or_skip, execute, started_kernel

from marimo_pair_kernel.codemode import RUN_ALL_CELLS

playwright_api = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).parents[1]

NOTEBOOK = '''
import marimo

app = marimo.App()


@app.cell
def _():
    seed = 41
    return (seed,)


@app.cell
def _(seed):
    answer = seed + 1
    return (answer,)


@app.cell
def _(answer):
    f"ready: {answer}"
    return


if __name__ == "__main__":
    app.run()
'''


GREETING = '''%%cell --name greeting
import marimo as _mo
_mo.md(f"## Hello from Jupyter\\nThis cell was written by a Jupyter client. The notebook's `answer` is **{answer}**.")
'''


def page_text(page) -> str:
    return page.evaluate("document.body.innerText")


def wait_for_texts(page, texts: list[str], timeout_ms: float) -> None:
    page.wait_for_function(
        "texts => texts.every(t => document.body.innerText.includes(t))",
        arg=texts, timeout=timeout_ms, polling=50,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Overrides conftest's: no headless session, the browser page is the front end."""
    srv = MarimoServer.start(tmp_path_factory.mktemp("marimo"), code=NOTEBOOK, open_session=False)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def page(server):
    chromium = chromium_or_skip()
    pw = playwright_api.sync_playwright().start()
    browser = None
    try:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1280, "height": 800})
        pg.goto(server.url + "/")
        deadline = time.monotonic() + 60
        while not server.notebooks():
            assert time.monotonic() < deadline, "the page never opened a marimo session"
            time.sleep(0.1)
        # marimo 0.25 does not run a notebook when its page opens (auto_instantiate is off):
        # run it once, as the person would with "run all"; the last cell's output shows it ran.
        server.execute(RUN_ALL_CELLS)
        wait_for_texts(pg, ["ready: 42"], timeout_ms=30_000)
        yield pg
    finally:
        if browser is not None:
            browser.close()
        pw.stop()


@pytest.fixture(scope="module")
def kernel(server, page):
    """Started after the page: the browser's session is the only notebook open."""
    with started_kernel({"XDG_STATE_HOME": str(server.state_home)}) as (_, kc):
        yield kc


def test_the_kernel_targets_the_browsers_session(kernel, server):
    run = execute(kernel, "answer")
    assert run.reply["status"] == "ok", run.reply
    assert run.result["text/plain"] == "42"
    assert len(server.notebooks()) == 1


def test_new_cell_shows_on_the_page_within_2s(kernel, page):
    t0 = time.monotonic()
    run = execute(kernel, GREETING)
    assert run.reply["status"] == "ok", (run.reply, run.stdout, run.stderr)
    replied = time.monotonic()
    wait_for_texts(page, ["import marimo as _mo", "The notebook's answer is 42"], timeout_ms=2000)
    shown = time.monotonic()
    print(f"\nreply after {replied - t0:.2f}s; on the page {shown - replied:.2f}s after the reply")

    page.get_by_text("Hello from Jupyter").last.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "browser.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("MPK_UPDATE_DOCS") == "1":
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, ROOT / "docs" / "browser.png")


def test_rerunning_the_named_cell_updates_it_in_place(kernel, page):
    run = execute(kernel, GREETING.replace("is **{answer}**", "is still **{answer}**"))
    assert run.reply["status"] == "ok", run.reply
    wait_for_texts(page, ["The notebook's answer is still 42"], timeout_ms=2000)
    assert page_text(page).count("import marimo as _mo") == 1
