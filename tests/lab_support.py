"""A real JupyterLab 4 on loopback and a headless Chromium page on it, for front-end tests.

    lab = JupyterLab.start(tmp_path, env={"XDG_STATE_HOME": ...})   # own process group
    try:
        with chromium_page(lab) as page:        # skips (fails on CI) when chromium is missing
            open_notebook(page, lab, "demo.ipynb")
            ...
    finally:
        lab.stop()

JupyterLab runs with its own runtime, config, data and settings directories (news and update
checks off: no network here; add-ons that change how cells run switched off, see `_CONFIG`)
and a random token passed in the environment, never in argv or a URL.
Kernels it starts inherit its environment: put XDG_STATE_HOME (or MARIMO_PAIR_URL) in
`env` and the marimo-pair kernel finds the test's marimo server by itself.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import CHROMIUM_ARGS, PYTHON, chromium_or_skip, free_port, stop_group

_SETTINGS = {
    # The news/update toast would cover cells and try to reach the network.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}
# Stock JupyterLab 4. Add-ons installed here change how cells run: jupyter-server-nbmodel
# replaces Lab's cell executor with server-side execution, jupyter-collaboration turns on
# real-time documents, jupyter-mcp-server takes seconds to import. They are switched off in
# Lab's private config, so cells run as in a plain Lab: execute_request over the kernel's
# websocket, from the browser.
_CONFIG = {
    "jupyter_server_config.json": {
        "ServerApp": {
            "jpserver_extensions": dict.fromkeys(
                ("jupyter_server_nbmodel", "jupyter_server_ydoc", "jupyter_server_fileid", "jupyter_mcp_server"), False
            )
        }
    },
    "labconfig/page_config.json": {
        "disabledExtensions": {
            "@datalayer/jupyter-server-nbmodel": True,
            "@jupyter/collaboration-extension": True,
            "@jupyter/docprovider-extension": True,
            # Disabled by those add-ons' metadata; a plain Lab has them.
            "@jupyterlab/notebook-extension:cell-executor": False,
            "@jupyterlab/filebrowser-extension:defaultFileBrowser": False,
        }
    },
}


@dataclass
class JupyterLab:
    """`jupyter lab --no-browser` on 127.0.0.1:`port`, serving `root`."""

    root: Path
    port: int
    token: str
    proc: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls, work: Path, env: dict[str, str] | None = None, timeout: float = 60.0, app: str = "jupyterlab"
    ) -> JupyterLab:
        """Start Lab serving `work / "lab"` (created); `env` is overlaid on this process's environment.

        `app="notebook"` starts Notebook 7 instead (the same server and settings, its own pages).
        """
        root = work / "lab"
        root.mkdir(parents=True, exist_ok=True)
        dirs = {name: work / f"jupyter-{name}" for name in ("runtime", "config", "data", "settings", "workspaces")}
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        for base, files in ((dirs["settings"], _SETTINGS), (dirs["config"], _CONFIG)):
            for rel, values in files.items():
                f = base / rel
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_text(json.dumps(values))
        token = secrets.token_hex(16)
        full = dict(os.environ)
        for name in ("MARIMO_TOKEN", "MARIMO_PAIR_URL", "MARIMO_PAIR_FILE", "MARIMO_PAIR_OPEN", "MARIMO_PAIR_PYTHON"):
            full.pop(name, None)
        full.update(env or {})
        # A private data dir keeps Lab's databases out of the home directory; JUPYTER_PATH keeps
        # kernelspecs installed with --user visible.
        from jupyter_core.paths import jupyter_data_dir

        extra_path = [jupyter_data_dir(), *filter(None, full.get("JUPYTER_PATH", "").split(os.pathsep))]
        full.update(
            JUPYTER_TOKEN=token,
            JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
            JUPYTER_CONFIG_DIR=str(dirs["config"]),
            JUPYTER_DATA_DIR=str(dirs["data"]),
            JUPYTER_PATH=os.pathsep.join(extra_path),
        )
        port = free_port()
        log = work / f"jupyterlab-{port}.log"
        args = [
            PYTHON,
            "-m",
            app,
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={root}",
            f"--{'LabApp' if app == 'jupyterlab' else 'JupyterNotebookApp'}.user_settings_dir={dirs['settings']}",
            f"--{'LabApp' if app == 'jupyterlab' else 'JupyterNotebookApp'}.workspaces_dir={dirs['workspaces']}",
            *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        ]
        proc = subprocess.Popen(
            args,
            cwd=root,
            env=full,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        lab = cls(root, port, token, proc, log)
        try:
            lab._wait_ready(timeout)
        except BaseException:
            lab.stop()
            raise
        return lab

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited early:\n{self.log_text()}")
            try:
                r = httpx.get(self.url + "/api/status", headers=self.headers(), timeout=2)
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"jupyter lab did not answer within {timeout:g} s:\n{self.log_text()}")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def log_text(self) -> str:
        return self.log.read_text(errors="replace").replace(self.token, "<token>") if self.log.exists() else ""

    def kernels(self) -> list[dict[str, Any]]:
        """The kernels Lab is running (GET /api/kernels).

        jupyter_server answers 500 while a kernel it lists is still starting (its model reads the
        kernel's `last_activity`, not yet set: "expected a datetime, not the NoneType None"), so a
        500 is asked again for a few seconds; any other failure, or a lasting 500, raises.
        """
        deadline = time.monotonic() + 10
        while True:
            r = httpx.get(self.url + "/api/kernels", headers=self.headers(), timeout=5)
            if r.status_code != 500 or time.monotonic() > deadline:
                r.raise_for_status()
                return list(r.json())
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop Lab and everything it started (its kernels run in sessions of their own)."""
        stop_group(self.proc)


@contextmanager
def chromium_page(lab: JupyterLab, width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A Playwright page in Debian's headless chromium, authenticated to `lab` by a header.

    Skips when chromium is missing, except on CI, where the browser path must be proven.
    """
    playwright_api = pytest.importorskip("playwright.sync_api")
    chromium = chromium_or_skip()
    pw = playwright_api.sync_playwright().start()
    browser = None
    try:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        # The token travels in a header on every request, never in an address that could
        # end up in an error message.
        page = browser.new_page(viewport={"width": width, "height": height}, extra_http_headers=lab.headers())
        yield page
    finally:
        if browser is not None:
            browser.close()
        pw.stop()


def open_notebook(page: Any, lab: JupyterLab, relpath: str, timeout_ms: float = 60_000) -> None:
    """Open `lab.root / relpath` in Lab (the kernel named in its metadata starts) and wait until
    its cells are on the page and its kernel is idle."""
    page.goto(f"{lab.url}/lab/tree/{relpath}", wait_until="domcontentloaded")
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell", timeout=timeout_ms)
    wait_kernel_idle(page, timeout_ms)


def wait_kernel_idle(page: Any, timeout_ms: float = 60_000) -> None:
    """Wait until the status bar reads `<kernel name> | Idle` (started, connected, not busy)."""
    page.wait_for_function(
        "() => /\\| Idle/.test(document.querySelector('#jp-main-statusbar')?.innerText ?? '')",
        timeout=timeout_ms,
        polling=100,
    )


def run_all_cells(page: Any) -> None:
    """Run > Run All Cells, through the menu bar, as a person would."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def diagnose(page: Any, lab: JupyterLab, limit: int = 3000) -> str:
    """What the page shows and the end of Lab's log: the message for a front-end step that timed out."""
    try:
        shown = page.evaluate("document.body.innerText")
    except Exception as e:  # noqa: BLE001 - a dead page is itself the diagnosis
        shown = f"(page unreadable: {type(e).__name__})"
    return f"page text:\n{shown[-limit:]}\n\njupyter lab log (end):\n{lab.log_text()[-limit:]}"


def cell_outputs(page: Any, index: int) -> Any:
    """The output area locator of the `index`-th cell of the visible notebook."""
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").nth(index).locator(".jp-OutputArea")
