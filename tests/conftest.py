"""Shared fixtures: one real marimo server per test module, and kernels pointed at it.

The suite runs test files in parallel (pytest-xdist, `--dist loadfile`: a file stays whole
on one worker, so its module-scoped server is shared by its tests). What workers could
share is kept apart: every server a test starts has its own XDG_STATE_HOME, and the default
registry, for whatever names none, is an empty directory of this process's own.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from support import MarimoServer, kernel_fixture  # noqa: E402

# Never a person's running marimo servers, nor another worker's.
_STATE_HOME = tempfile.mkdtemp(prefix="mpk-tests-state-")
os.environ["XDG_STATE_HOME"] = _STATE_HOME
atexit.register(shutil.rmtree, _STATE_HOME, True)

# Longest files first, so that the last file to finish is a short one. The seconds each file
# took in the last full passing run are kept in pytest's cache; these (measured on 2 cores)
# stand in for a fresh clone, and a file known to neither counts as DEFAULT_SECONDS.
FILE_SECONDS = {
    "test_client_jupyterlab_widgets.py": 50, "test_widgets.py": 21, "test_client_notebook_voila.py": 25,
    "test_widgets_live.py": 35, "test_widgets_forms.py": 22, "test_client_jupyterlab_forms.py": 35,
    "test_widgets_busy.py": 20, "test_widgets_anywidget.py": 12,
    "test_bench_smoke.py": 80, "test_open.py": 54, "test_client_jupyterlab.py": 45, "test_outputs_parity.py": 35,
    "test_client_nbconvert.py": 22, "test_console.py": 60, "test_magics_misc.py": 32,
    "test_install.py": 10, "test_client_nbclient.py": 24, "test_magics_cells.py": 22,
    # The three installs are built when the sources changed (tests/install_support.py): ~55 s of it.
    "test_install_tools.py": 75, "test_newcomer.py": 100, "test_kernel_debug_request.py": 8,
    "test_faults_concurrency.py": 20, "test_faults_server.py": 20, "test_kernel_conformance.py": 19,
    "test_kernel.py": 19, "test_faults_tokens.py": 18, "test_client_server.py": 18, "test_faults_magics.py": 18,
    "test_faults_versions.py": 17, "test_kernel_lifecycle.py": 16, "test_client_browser.py": 15,
    "test_faults_output.py": 15, "test_discovery.py": 15, "test_faults_remote.py": 15,
    "test_faults_registry.py": 12, "test_late_outputs.py": 47, "test_client_console.py": 12, "test_codemode_unit.py": 1,
    "test_client_jupyterlab_graph.py": 75, "test_magics_graph.py": 45, "test_mermaid_unit.py": 3,
    # With their venvs cached; a first run builds them (about 45 s and 20 s) under a lock.
    "test_outputs_no_ipython.py": 50, "test_outputs_env_changes.py": 20, "test_outputs_display_unit.py": 6,
    "test_state.py": 60, "test_state_clients.py": 86, "test_state_unit.py": 3,
    "test_magics_ipython.py": 75, "test_magics_ipython_unit.py": 7,
    # With its two MCP servers' venvs cached; a first run builds them (about 40 s, up to 80 s busy).
    "test_recipes_agents.py": 90, "test_install_alias.py": 5, "test_vscode.py": 12,
    # With their venvs cached; a first run builds the two IPython venvs (about a minute each).
    "test_sandbox.py": 44, "test_ipython_versions.py": 70, "test_tracebacks_unit.py": 2, "test_layers_unit.py": 3,
    "test_session.py": 22, "test_inmarimo_unit.py": 3, "test_kernel_abort.py": 4, "test_readme_env_unit.py": 1,
    "test_bench_widgets_smoke.py": 20,
    "test_requests_per_op.py": 8,
}
DEFAULT_SECONDS = 20.0
CACHE_KEY = "marimo-pair-kernel/file-seconds"
_seconds: dict[str, float] = {}


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    cache = getattr(config, "cache", None)  # absent with -p no:cacheprovider
    known = {**FILE_SECONDS, **(cache.get(CACHE_KEY, {}) if cache else {})}
    items.sort(key=lambda item: -known.get(item.path.name, DEFAULT_SECONDS))  # stable: a file's order kept


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Runs where reports arrive: the xdist controller (or the only process with -n 0).
    name = report.nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    _seconds[name] = _seconds.get(name, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    opt = session.config.option
    # Only whole files that passed: a -k subset or a run stopped early would record too little.
    partial = (opt.keyword or opt.markexpr or getattr(opt, "deselect", None) or getattr(opt, "lf", False)
               or any("::" in arg for arg in session.config.args))
    no_cache = getattr(session.config, "cache", None) is None
    if exitstatus != 0 or partial or no_cache or hasattr(session.config, "workerinput"):
        return
    if _seconds:
        known = session.config.cache.get(CACHE_KEY, {})
        session.config.cache.set(CACHE_KEY, {**known, **{k: round(v, 1) for k, v in _seconds.items()}})


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: one worker per CPU, at least 2 (most of a test is waiting), at most 4."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(max(cpus, 2), 4)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A marimo notebook server with one browserless session, its cells run once."""
    srv = MarimoServer.start(tmp_path_factory.mktemp("marimo"))
    try:
        yield srv
    finally:
        srv.stop()


# (KernelManager, client) of a marimo-pair kernel that auto-selects `server`'s notebook.
kernel_pair = kernel_fixture("server", manager=True)


@pytest.fixture(scope="module")
def kernel(kernel_pair):
    """The client of `kernel_pair`."""
    return kernel_pair[1]
