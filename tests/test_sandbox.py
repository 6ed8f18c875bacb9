"""PEP 723 notebooks: `%open` and `console` start `marimo edit --sandbox`, as marimo suggests.

A real sandbox: uv (from the test extra) builds the notebook's environment from its
`# /// script` header, with packages from the package index (PyPI) the first time and from
uv's cache after that. The header asks for `tabulate`, a small pure-Python package that the
kernel's own environment lacks, so a cell that imports it proves where the notebook runs.
Bad input, each with a message and no hang: uv missing (a PATH without it), a build that
fails (a dependency no index has).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pexpect
import psutil
import pytest
from support import execute, started_kernel
from test_console import CLI, ESC, console, prompt, registry

from marimo_pair_kernel.launcher import SANDBOX_TIMEOUT
from marimo_pair_kernel.sandbox import script_dependencies

pytestmark = pytest.mark.timeout(400)

HEADER = '''# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "marimo",
#     "{dep}",
# ]
# ///
'''
NOTEBOOK = '''import marimo

app = marimo.App()


@app.cell
def _():
    import sys

    import tabulate

    version = tabulate.__version__
    where = sys.prefix
    return version, where


if __name__ == "__main__":
    app.run()
'''
GOOD = "tabulate==0.9.0"
BAD = "tabulate==999.0"  # no such release: uv cannot resolve it
NO_UV_PATH = os.pathsep.join(p for p in ("/usr/bin", "/bin") if not os.path.exists(os.path.join(p, "uv")))
URL = re.compile(r"http://127\.0\.0\.1:(\d+)")


def notebook(tmp: Path, dep: str = GOOD, name: str = "script_nb.py") -> Path:
    path = tmp / name
    path.write_text(HEADER.format(dep=dep) + NOTEBOOK)
    return path


@pytest.fixture
def kernel_in(tmp_path):
    """A kernel with its own registry; `extra` env (e.g. a PATH without uv)."""
    with contextlib.ExitStack() as started:

        def start(**extra: str):
            return started.enter_context(started_kernel({"XDG_STATE_HOME": str(tmp_path / "state"), **extra}))[1]

        yield start


def test_header_detection(tmp_path):
    assert script_dependencies(str(notebook(tmp_path)))
    plain = tmp_path / "plain.py"
    plain.write_text(NOTEBOOK)
    assert not script_dependencies(str(plain))
    empty = tmp_path / "empty.py"  # a header with no packages needs no environment of its own
    empty.write_text('# /// script\n# requires-python = ">=3.10"\n# ///\n' + NOTEBOOK)
    assert not script_dependencies(str(empty))
    assert not script_dependencies(str(tmp_path / "missing.py"))


def test_open_runs_a_script_notebook_in_its_sandbox(kernel_in, tmp_path):
    assert shutil.which("uv"), "uv comes with the test extra (pip install -e '.[test]')"
    kc = kernel_in()
    nb = notebook(tmp_path)
    run = execute(kc, f"%open {nb}", timeout=SANDBOX_TIMEOUT + 60)
    assert run.reply["status"] == "ok", run.reply
    out = run.stdout
    # Progress while uv builds: the first line says what and how long at most, then the log's lines.
    assert "marimo edit --sandbox" in out and f"up to {SANDBOX_TIMEOUT:g}s" in out, out
    assert "Synchronizing sandbox" in out, out
    assert out.index("Synchronizing sandbox") < out.index("Connected to"), out
    assert "some cells raised errors" not in run.stderr, run.stderr
    # The cell imported a package only the sandbox has, and runs in uv's environment.
    assert execute(kc, "version").result["text/plain"] == "'0.9.0'"
    where = execute(kc, "where").result["text/plain"].strip("'")
    assert os.path.realpath(where) != os.path.realpath(sys.prefix)
    port = int(URL.search(out).group(1))  # type: ignore[union-attr]
    assert any(e["port"] == port for e in registry(tmp_path / "state"))


def test_no_sandbox_runs_it_with_the_kernels_python_and_needs_no_uv(kernel_in, tmp_path):
    kc = kernel_in(PATH=NO_UV_PATH)
    nb = notebook(tmp_path)
    run = execute(kc, f"%open {nb} --no-sandbox", timeout=120)
    assert run.reply["status"] == "ok", run.reply
    assert "--sandbox" not in run.stdout.split("\n", 1)[0]
    assert "some cells raised errors" in run.stderr  # tabulate is not in the kernel's environment
    err = execute(kc, "import tabulate")
    assert err.error["ename"] == "ModuleNotFoundError"


def test_uv_missing_is_named_with_how_to_get_it(kernel_in, tmp_path):
    kc = kernel_in(PATH=NO_UV_PATH)
    nb = notebook(tmp_path)
    run = execute(kc, f"%open {nb}", timeout=60)
    assert run.reply["status"] == "error"
    err = run.error
    assert err["ename"] == "LaunchError"
    assert "uv is not on this kernel's PATH" in err["evalue"], err["evalue"]
    assert "pip install uv" in err["evalue"] and "docs.marimo.io" in err["evalue"]
    assert f"%open {nb} --no-sandbox" in err["evalue"]
    assert registry(tmp_path / "state") == []  # nothing was started
    assert execute(kc, "%status").reply["status"] in ("ok", "error")  # the kernel carries on


def test_a_failed_build_gives_uvs_error_and_stops_the_server(kernel_in, tmp_path):
    kc = kernel_in()
    nb = notebook(tmp_path, BAD, "unsatisfiable.py")
    run = execute(kc, f"%open {nb}", timeout=SANDBOX_TIMEOUT + 60)
    assert run.reply["status"] == "error", run.reply
    err = run.error
    assert err["ename"] == "LaunchError"
    assert "uv could not build the sandbox" in err["evalue"], err["evalue"]
    assert "tabulate==999.0" in err["evalue"] and "--no-sandbox" in err["evalue"]
    assert "Synchronizing sandbox" in run.stdout  # progress came before the error
    assert f"up to {SANDBOX_TIMEOUT:g}s" in run.stdout
    port = int(URL.search(run.stdout).group(1))  # type: ignore[union-attr]
    assert not any(c.laddr.port == port for c in psutil.net_connections("tcp") if c.status == "LISTEN")


def test_console_without_uv_says_so_and_exits(tmp_path):
    nb = notebook(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARIMO_PAIR")}
    env.update(PATH=NO_UV_PATH, XDG_STATE_HOME=str(tmp_path / "state"))
    done = subprocess.run([CLI, "console", str(nb)], env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 1
    assert "uv is not on this kernel's PATH" in done.stderr and "pip install uv" in done.stderr
    assert "--no-sandbox" in done.stderr
    assert registry(tmp_path / "state") == []


def test_console_builds_the_sandbox_with_progress_then_runs_lines_there(tmp_path):
    state = tmp_path / "state"
    nb = notebook(tmp_path)
    child = console([str(nb)], state, tmp_path)
    try:
        child.expect("marimo edit --sandbox", timeout=60)
        child.expect("Synchronizing sandbox", timeout=SANDBOX_TIMEOUT)
        child.expect(r"marimo is up at http://127\.0\.0\.1:\d+", timeout=SANDBOX_TIMEOUT)
        child.expect(prompt("In", 1), timeout=120)
        child.sendline("version")
        child.expect(prompt("Out", 1) + ESC + r"\s*" + ESC + re.escape("'0.9.0'"), timeout=120)
        child.expect(prompt("In", 2))
        child.sendline("exit")
        child.expect(pexpect.EOF, timeout=60)
    finally:
        child.close(force=True)
    assert registry(state) == []  # the console stopped its sandboxed server


def test_console_no_sandbox_starts_plain_marimo_without_uv(tmp_path):
    state = tmp_path / "state"
    nb = notebook(tmp_path)
    child = console([str(nb), "--no-sandbox"], state, tmp_path, PATH=NO_UV_PATH)
    try:
        child.expect(r"marimo is starting at http://127\.0\.0\.1:\d+", timeout=60)
        assert "sandbox" not in child.before
        child.expect(prompt("In", 1), timeout=120)
        child.sendline("import sys; print(sys.prefix == sys.base_prefix or 'uv' not in sys.prefix)")
        child.expect(r"True", timeout=120)  # the notebook runs in the kernel's own Python, not uv's
        child.expect(prompt("In", 2))
        child.sendline("exit")
        child.expect(pexpect.EOF, timeout=60)
    finally:
        child.close(force=True)
    assert registry(state) == []
