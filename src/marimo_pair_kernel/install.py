"""Install the `marimo-pair` kernelspec, like `python -m ipykernel install`."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jupyter_client.kernelspec import KernelSpec

KERNEL_NAME = "marimo-pair"
# jupyter_client starts a kernelspec whose argv[0] is one of these with the interpreter that
# launches it (sys.executable), not with whatever PATH finds: pipx, `uv tool` and unactivated
# venvs rely on that (jupyter_client.manager.KernelManager.format_kernel_cmd).
LAUNCHER_PYTHON_NAMES = frozenset(
    {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}
)
# Files that pipx and `uv tool` leave in the environments they make for an application.
TOOL_ENV_MARKERS = ("pipx_metadata.json", "uv-receipt.toml")


def kernelspec_source() -> Path:
    """The kernelspec folder: in a source checkout, or installed as shared data."""
    here = Path(__file__).resolve().parent
    for candidate in (
        here.parent.parent / "kernelspec",
        Path(sys.prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME,
    ):
        if (candidate / "kernel.json").exists():
            return candidate
    raise FileNotFoundError("kernelspec files not found; reinstall marimo-pair-kernel")


def default_location() -> tuple[bool, str | None, str]:
    """Where `install` writes with no flag: (user, prefix, why), as pip chooses for packages.

    The environment this command runs in (sys.prefix: a venv, conda, pyenv), as `pip install`
    in a venv installs into it; the user's folder when that is not writable (pip's "defaulting
    to user installation") or when pipx / `uv tool` made the environment for this command
    alone, since no Jupyter of the person's looks inside a tool's environment.
    """
    prefix = Path(sys.prefix)
    if any((prefix / marker).exists() for marker in TOOL_ENV_MARKERS):
        return True, None, "for the current user, since pipx / uv tool installed this command"
    target = prefix / "share" / "jupyter" / "kernels"
    existing = next((p for p in (target, *target.parents) if p.exists()), prefix)
    if os.access(existing, os.W_OK):
        venv = sys.prefix != sys.base_prefix or os.environ.get("CONDA_PREFIX") == sys.prefix
        return False, sys.prefix, f"into this {'virtual' if venv else 'Python'} environment"
    return True, None, f"for the current user, since {sys.prefix} is not writable"


def install(user: bool = False, prefix: str | None = None) -> str:
    """Install the kernelspec with this Python as its interpreter; returns where it went."""
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / KERNEL_NAME
        shutil.copytree(kernelspec_source(), dest)
        spec = json.loads((dest / "kernel.json").read_text())
        # Pin the interpreter that has this package, in argv and where VS Code's Jupyter
        # extension looks first: it hides a kernelspec in a shared Jupyter folder whose Python
        # it cannot tell (a bare `python`), and matches `metadata.interpreter.path` to the
        # interpreters it knows.
        spec["argv"][0] = sys.executable
        spec.setdefault("metadata", {})["interpreter"] = {"path": sys.executable}
        (dest / "kernel.json").write_text(json.dumps(spec, indent=2) + "\n")
        return KernelSpecManager().install_kernel_spec(str(dest), KERNEL_NAME, user=user, prefix=prefix)


def installed_spec() -> KernelSpec | None:
    """The `marimo-pair` kernelspec Jupyter would use, or None."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        return KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        return None


def spec_problem(spec: KernelSpec) -> str | None:
    """Why `spec` cannot start a kernel, or None.

    A kernelspec names the Python it runs; that Python can be gone (a deleted virtualenv)
    while the kernelspec, installed with --user, stays and is found first. A bare `python`
    is jupyter_client's name for the launching interpreter (this one), whatever PATH holds.
    """
    python = spec.argv[0] if spec.argv else ""
    if python in LAUNCHER_PYTHON_NAMES or (python and shutil.which(python)):
        return None
    return (
        f"the {KERNEL_NAME} kernelspec in {spec.resource_dir} runs {python or 'nothing'}, which does not "
        f"exist (was its Python environment removed?). Reinstall it from this environment: "
        f"marimo-pair-kernel install --user (or --sys-prefix), or delete {spec.resource_dir}."
    )
