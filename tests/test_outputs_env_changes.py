"""A notebook env that lacks what the code imports, and IPython arriving there mid-session.

The marimo server runs from a cached venv with marimo alone (no pandas, no IPython;
tests/venv_support.py), with an empty folder of this test's own on its PYTHONPATH. A missing
module's error names `%packages add NAME`. Then IPython (a cached `pip install --target` of
this env's version) is linked into that folder while marimo runs: the next execute must use
it, as after `%packages add ipython`. The cached venv itself is never changed.
"""

from __future__ import annotations

import os
import re

import pytest
from support import MarimoServer, execute, kernel_fixture
from venv_support import ipython_target, marimo_only_python

from marimo_pair_kernel.scratchpad import RUNTIME_MODULE

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def extra_path(tmp_path_factory):
    # Made before marimo starts: Python caches a missing sys.path folder as "nothing there" for good.
    return tmp_path_factory.mktemp("notebook-site")


@pytest.fixture(scope="module")
def server(tmp_path_factory, extra_path):
    """This module's marimo runs in the marimo-only venv, `extra_path` on its PYTHONPATH."""

    class Server(MarimoServer):
        def env(self) -> dict[str, str]:
            env = super().env()
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(extra_path), env.get("PYTHONPATH")) if p)
            return env

    srv = Server.start(tmp_path_factory.mktemp("marimo-only"), python=marimo_only_python())
    try:
        yield srv
    finally:
        srv.stop()


kernel = kernel_fixture("server")


def _error_text(run) -> str:
    assert run.error is not None, run.messages
    return _ANSI.sub("", "\n".join(run.error["traceback"]))


def test_missing_pandas_names_the_package_to_add(kernel):
    run = execute(kernel, "import pandas as pd\npd.DataFrame({'a': [1]})", timeout=60)
    assert run.error["ename"] == "ModuleNotFoundError" and run.error["evalue"] == "No module named 'pandas'"
    text = _error_text(run)
    assert text.splitlines()[-1].endswith("%packages add pandas"), text
    assert text.count("%packages add") == 1
    assert run.reply["status"] == "error"


def test_ipython_display_import_without_ipython_names_the_fix(kernel):
    run = execute(kernel, "from IPython.display import HTML\nHTML('<b>x</b>')")
    last = _error_text(run).splitlines()[-1]
    assert last.endswith("%packages add ipython") and "display()" in last
    # display() itself needs no import there.
    run = execute(kernel, "display({'a': 1}); 2")
    assert run.displays == [{"text/plain": "{'a': 1}"}] and run.result == {"text/plain": "2"}


def test_a_cell_importing_a_missing_module_names_the_package(kernel):
    run = execute(kernel, "%%cell --name needs_sklearn\nimport sklearn")
    text = _error_text(run)
    assert "No module named 'sklearn'" in text and text.splitlines()[-1].endswith("%packages add scikit-learn")


def test_ipython_installed_mid_session_is_used_by_the_next_execute(kernel, extra_path):
    fmt = f"import sys\ntype(sys.modules[{RUNTIME_MODULE!r}].values._formatter()).__name__"
    assert execute(kernel, fmt).result == {"text/plain": "'MiniFormatter'"}
    run = execute(kernel, "class H:\n    def _repr_html_(self):\n        return '<i>h</i>'\nH()")
    assert run.result["text/html"] == "<i>h</i>"

    target = ipython_target()
    for entry in target.iterdir():
        if not entry.name.startswith("."):
            os.symlink(entry, extra_path / entry.name)

    assert execute(kernel, fmt).result == {"text/plain": "'DisplayFormatter'"}
    run = execute(kernel, "from IPython.display import HTML\nHTML('<b>now</b>')")
    assert run.error is None, run.messages
    assert run.result == {"text/plain": "<IPython.core.display.HTML object>", "text/html": "<b>now</b>"}
    # IPython's display() imported after the install reaches the client too (hooked on import).
    run = execute(kernel, "from IPython.display import display, Markdown\ndisplay(Markdown('*m*'))")
    assert [d.get("text/markdown") for d in run.displays] == ["*m*"], run.messages
