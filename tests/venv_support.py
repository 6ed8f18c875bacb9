"""Pythons the way users have them, built once and cached (as the old-marimo venv is).

marimo does not depend on IPython, and a sandboxed (`marimo edit --sandbox`) or `uvx marimo`
notebook runs in an env without it. These venvs play that env for the tests and for
bench/parity.py:

- `no_ipython_python()`: marimo with numpy, pandas, matplotlib and pillow (and polars when this
  env has it), no IPython. The versions are this env's, so the `python3` kernel here is a fair
  reference for what pandas or matplotlib show.
- `marimo_only_python()`: marimo alone (no pandas, no IPython): the notebook env that lacks
  what the code imports.
- `ipython_target()`: IPython (this env's version) installed with `pip --target` into a folder
  of its own, to be copied onto a running notebook's `PYTHONPATH` folder: IPython appearing in
  the notebook's env mid-session without touching a cached venv.
- `project_venv(IPYTHON_8)` / `project_venv(IPYTHON_9)`: this project installed from the checkout
  (not editable, with its dependencies from the package index, as users install it) beside that
  IPython, so building it is itself the proof that the project installs beside that IPython
  without changing it. Tests run this checkout's code there with PYTHONPATH=src (`venv_env`), so
  the key is what pip resolved from: the spec and pyproject.toml's dependency list.

Each lives under faults_support.TEST_CACHE, named by a hash of what is in it, with a
`.complete` marker written last and a lock file so concurrent test processes build it once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from faults_support import TEST_CACHE

PIP = ["-m", "pip", "install", "-q", "--disable-pip-version-check"]
ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"

IPYTHON_8 = "ipython==8.39.0"  # what pip chooses where a project pins IPython below 9
IPYTHON_9 = "ipython==9.18.1"  # PyPI's current when written; what a fresh JupyterLab brings


def _pinned(*names: str, optional: tuple[str, ...] = ()) -> list[str]:
    specs = [f"{n}=={version(n)}" for n in names]
    for n in optional:
        with contextlib.suppress(PackageNotFoundError):
            specs.append(f"{n}=={version(n)}")
    return specs


def _key(kind: str, specs: list[str]) -> str:
    text = "\n".join([kind, sys.version, *specs])
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def _built(path: Path, specs: list[str], build: Callable[[], None]) -> None:
    marker = path / ".complete"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if we crash
        if marker.exists() and marker.read_text() == "\n".join(specs):
            return
        shutil.rmtree(path, ignore_errors=True)
        build()
        marker.write_text("\n".join(specs))


def cached_venv(name: str, specs: list[str]) -> str:
    """The python of a venv holding exactly `specs` (and their dependencies)."""
    venv = TEST_CACHE / f"{name}-{_key('venv', specs)}"
    python = venv / "bin" / "python"

    def build() -> None:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        subprocess.run([str(python), *PIP, *specs], check=True, timeout=900)

    _built(venv, specs, build)
    return str(python)


def no_ipython_python() -> str:
    python = cached_venv("venv-no-ipython",
                         _pinned("marimo", "numpy", "pandas", "matplotlib", "pillow", optional=("polars",)))
    _assert_no_ipython(python)
    return python


def marimo_only_python() -> str:
    python = cached_venv("venv-marimo-only", _pinned("marimo"))
    _assert_no_ipython(python)
    return python


def ipython_target() -> Path:
    """A folder with IPython (and what it needs) importable from it, for PYTHONPATH."""
    specs = _pinned("ipython")
    target = TEST_CACHE / f"ipython-target-{_key('target', specs)}"

    def build() -> None:
        subprocess.run([sys.executable, *PIP, "--target", str(target), *specs], check=True, timeout=900)

    _built(target, specs, build)
    return target


def importable_in(python: str, modules: set[str]) -> set[str]:
    """Which of `modules` the env of `python` can import."""
    import json

    code = "import importlib.util as u, json, sys; print(json.dumps([m for m in sys.argv[1:] if u.find_spec(m)]))"
    done = subprocess.run([python, "-c", code, *sorted(modules)], capture_output=True, text=True, timeout=60,
                          check=True)
    return set(json.loads(done.stdout))


def _assert_no_ipython(python: str) -> None:
    # A dependency that starts pulling IPython in would make these tests prove nothing.
    found = subprocess.run([python, "-c", "import importlib.util as u; print(u.find_spec('IPython') is None)"],
                           capture_output=True, text=True, timeout=60)
    assert found.stdout.strip() == "True", f"{python} has IPython: these tests need an env without it"


def _dependencies() -> str:
    """pyproject.toml's dependency list, as text (what pip resolved a project venv from)."""
    text = (ROOT / "pyproject.toml").read_text()
    start = text.index("\ndependencies = [")
    return text[start : text.index("\n]", start)]


def project_venv(spec: str) -> str:
    """A venv with this project (and its dependencies) installed beside `spec`; its python."""
    venv = TEST_CACHE / f"venv-{spec.replace('==', '-')}-{_key('project', [spec, _dependencies()])}"
    python = venv / "bin" / "python"
    key = [spec, _dependencies()]

    def build() -> None:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        subprocess.run([str(python), *PIP, str(ROOT), spec], check=True, timeout=900)

    _built(venv, key, build)
    return str(python)


def venv_env(python: str) -> dict[str, str]:
    """The environment a kernel of that venv runs with: this checkout's code first on the path."""
    bin_dir = str(Path(python).parent)
    return {
        "PYTHONPATH": str(SRC),
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "VIRTUAL_ENV": str(Path(python).parent.parent),
    }


def write_kernelspecs(python: str, where: Path) -> Path:
    """`python3` and `marimo-pair` kernelspecs that run in that venv, in a folder of their own."""
    kernels = where / "kernels"
    for name, argv in (
        ("python3", [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]),
        ("marimo-pair", [python, "-m", "marimo_pair_kernel", "-f", "{connection_file}"]),
    ):
        d = kernels / name
        d.mkdir(parents=True, exist_ok=True)
        (d / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": name, "language": "python"}))
    return kernels


if __name__ == "__main__":  # build the IPython venvs ahead of a test run: python tests/venv_support.py
    for s in (IPYTHON_8, IPYTHON_9):
        print(project_venv(s))
