"""`pipx install .`, `uv tool install .` and an unactivated venv: the console works from each.

None of them puts a `python` on PATH, and the kernelspec the wheel ships says a bare `python`,
which jupyter_client runs with the interpreter that launches the kernel (its sys.executable):
the console must not refuse it, and the kernel must run in the install's own environment. The
installs are built once per source tree (tests/install_support.py); each test drives the
console through a pseudo-terminal on a copy of the committed example, with a fresh HOME and
PATH=<the install's bin>:/usr/bin:/bin, as on a stock Debian, and stops everything it started.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import psutil
import pytest
from examples_support import copy_committed
from install_support import KINDS, Console, installed, kernels_of, person_env, started_by

PROMPT = r"In \[\d+\]: "


@pytest.mark.parametrize("kind", KINDS)
def test_console_on_the_example_from_an_install_with_no_python_on_path(kind, tmp_path):
    inst = installed(kind)
    # The unactivated venv is run by its full path, so its bin (which has a python) stays off PATH.
    path = "/usr/bin:/bin" if kind == "venv" else f"{inst.bin}:/usr/bin:/bin"
    assert shutil.which("python", path=path) is None, "this test needs a PATH without `python`"
    spec = json.loads((inst.prefix / "share/jupyter/kernels/marimo-pair/kernel.json").read_text())
    assert spec["argv"][0] == "python"  # the wheel's own kernelspec, the case that was refused

    work = tmp_path / "work"
    copy_committed("examples/penguins.py", work / "examples" / "penguins.py")
    env = person_env(tmp_path, path)
    con = Console(inst.command, ["console", "examples/penguins.py"], env, work, tmp_path / "console.txt")
    try:
        con.expect(r"marimo is starting at http://127\.0\.0\.1:\d+")
        con.expect(PROMPT)
        con.line("mass_by_species['Gentoo']")
        con.expect(r"Out\[1\]: 5087\.5")
        con.expect(PROMPT)
        # The kernel runs in the install's environment (jupyter_client's `python` rule).
        (kernel,) = kernels_of(con.child.pid)
        assert kernel.cmdline()[0] == str(inst.python), kernel.cmdline()
        ours = [kernel, *started_by(tmp_path / "state")]
        assert len(ours) >= 2, ours  # the kernel and the marimo server the console started
        assert con.exit() == 0, con.text[-2000:]
        gone, alive = psutil.wait_procs(ours, timeout=20)
        assert not alive, f"still running after the console exited: {alive}"
        assert not list((tmp_path / "state" / "marimo" / "servers").glob("*.json"))
    finally:
        con.close()


@pytest.mark.parametrize("kind", ["pipx", "uv"])
def test_install_from_a_tool_defaults_to_the_users_folder(kind, tmp_path):
    """A tool's environment is its own: no Jupyter of the person's looks there, so `install`
    writes for the user, naming the tool's Python by its full path (VS Code lists it)."""
    inst = installed(kind)
    env = person_env(tmp_path, f"{inst.bin}:/usr/bin:/bin")
    out = subprocess.run([inst.command, "install"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    where = tmp_path / "home" / ".local/share/jupyter/kernels/marimo-pair"
    assert str(where) in out.stdout and "pipx / uv tool" in out.stdout, out.stdout
    spec = json.loads((where / "kernel.json").read_text())
    assert spec["argv"][0] == str(inst.python) and spec["metadata"]["interpreter"]["path"] == str(inst.python)
    assert (where / "logo-64x64.png").exists()
