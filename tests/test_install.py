"""Installing the kernelspec: what `pip install .` ships, where `install` writes, and what
Jupyter clients (jupyter_client, VS Code's Jupyter extension) need to find and start it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

from install_support import installed
from jupyter_client.kernelspec import KernelSpec

from marimo_pair_kernel.install import LAUNCHER_PYTHON_NAMES, spec_problem

ROOT = Path(__file__).resolve().parent.parent
SRC = str(ROOT / "src")


def test_pip_install_shows_kernelspec(tmp_path):
    """A fresh venv (built once per source tree): `pip install .` alone makes `jupyter
    kernelspec list` show marimo-pair, and the CLI installs it elsewhere too, like ipykernel's."""
    inst = installed("venv")
    env = {"PATH": f"{inst.bin}:/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run(
        [str(inst.bin / "jupyter"), "kernelspec", "list"], capture_output=True, text=True, check=True, timeout=60,
        env=env,
    )
    assert "marimo-pair" in out.stdout
    spec = subprocess.run(
        [str(inst.python), "-c", "from jupyter_client.kernelspec import KernelSpecManager as K;"
         "s=K().get_kernel_spec('marimo-pair'); print(s.display_name, s.language, s.argv)"],
        capture_output=True, text=True, check=True, timeout=60, env={"HOME": str(tmp_path)},
    )
    assert spec.stdout.startswith("marimo (pair) python")
    prefix = tmp_path / "prefix"
    subprocess.run([inst.command, "install", "--prefix", str(prefix)], check=True, timeout=60, env=env)
    assert (prefix / "share/jupyter/kernels/marimo-pair/kernel.json").exists()
    assert (prefix / "share/jupyter/kernels/marimo-pair/logo-64x64.png").exists()


def _spec(argv0: str, where: Path) -> KernelSpec:
    return KernelSpec(argv=[argv0, "-m", "marimo_pair_kernel", "-f", "{connection_file}"],
                      display_name="marimo (pair)", language="python", resource_dir=str(where))


def test_a_bare_python_is_the_launching_interpreter_not_a_path_lookup(tmp_path, monkeypatch):
    """jupyter_client runs `python`, `python3` and `python3.X` with its own sys.executable, so
    those never need a `python` on PATH; any other name or path must exist."""
    from jupyter_client.manager import KernelManager

    monkeypatch.setenv("PATH", str(tmp_path))  # nothing at all on PATH
    major = sys.version_info[0]
    for name in sorted(LAUNCHER_PYTHON_NAMES):
        km = KernelManager()
        km._kernel_spec = _spec(name, tmp_path)
        assert km.format_kernel_cmd()[0] == sys.executable, name  # jupyter_client's own rule
        assert spec_problem(_spec(name, tmp_path)) is None, name
    assert spec_problem(_spec(sys.executable, tmp_path)) is None
    gone = str(tmp_path / "removed-venv" / "bin" / "python")
    problem = spec_problem(_spec(gone, tmp_path))
    assert problem and gone in problem and "marimo-pair-kernel install" in problem and str(tmp_path) in problem
    # Another version's name is a PATH lookup for jupyter_client too: absent here, so refused.
    other = "python2" if major == 3 else "python3"
    assert spec_problem(_spec(other, tmp_path)) is not None


def test_install_with_no_option_writes_into_the_venv_it_runs_in(tmp_path):
    """`marimo-pair-kernel install` in a venv goes into that venv, as `pip install` does there."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, system_site_packages=True).create(env_dir)
    home = tmp_path / "home"
    home.mkdir()
    out = subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", "import sys; from marimo_pair_kernel.cli import main; sys.exit(main())",
         "install"],
        capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home), "PYTHONPATH": SRC},
    )
    assert out.returncode == 0, out.stderr
    where = env_dir / "share/jupyter/kernels/marimo-pair"
    assert str(where) in out.stdout and "virtual environment" in out.stdout, out.stdout
    assert not (home / ".local").exists()
    spec = json.loads((where / "kernel.json").read_text())
    assert spec["argv"][0] == str(env_dir / "bin" / "python")


def test_installed_kernelspec_meets_vscode_jupyters_rules(tmp_path):
    """What microsoft/vscode-jupyter checks before listing a Python kernelspec found in a shared
    Jupyter folder (src/kernels/raw/finder/interpreterKernelSpecFinderHelper.node.ts,
    src/kernels/helpers.ts): a name and display name that are not a default Python kernel's
    (those are hidden), a module other than ipykernel_launcher (so it is listed as a kernel of
    its own), and an interpreter it can tell: `metadata.interpreter.path` or an absolute
    `argv[0]` (a bare `python` there is hidden, "cannot find a matching interpreter")."""
    prefix = tmp_path / "prefix"
    subprocess.run(
        [sys.executable, "-c", "import sys; from marimo_pair_kernel.cli import main; sys.exit(main())",
         "install", "--prefix", str(prefix)],
        check=True, timeout=120, env={**os.environ, "PYTHONPATH": SRC},
    )
    folder = prefix / "share/jupyter/kernels/marimo-pair"
    spec = json.loads((folder / "kernel.json").read_text())
    assert not re.match(r"^python\d*.?\d*$", folder.name)  # isDefaultPythonKernelSpecName
    assert spec["display_name"].lower() not in ("python 3", "python 3 (ipykernel)")
    assert spec["language"] == "python"
    argv = spec["argv"]
    assert argv[argv.index("-m") + 1] == "marimo_pair_kernel"
    assert os.path.isabs(argv[0]) and spec["metadata"]["interpreter"]["path"] == argv[0]
    # That interpreter exists and runs this kernel.
    subprocess.run([argv[0], "-c", "import marimo_pair_kernel"], check=True, timeout=60,
                   env={**os.environ, "PYTHONPATH": SRC})
    assert spec["metadata"]["debugger"] is False


def test_install_into_a_folder_it_cannot_write_says_so_without_a_traceback():
    out = subprocess.run(
        [sys.executable, "-c", "import sys; from marimo_pair_kernel.cli import main; sys.exit(main())",
         "install", "--prefix", "/proc/no-such-folder"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": SRC},
    )
    assert out.returncode == 1, out
    assert "could not write the kernelspec" in out.stderr and "--user" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr + out.stdout
