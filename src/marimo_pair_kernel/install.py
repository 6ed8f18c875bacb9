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
# Jupyter's own Python kernel (ipykernel's name). Some tools start only that name; they get
# marimo-pair through an alias of that name in a folder of its own (see alias_problem).
PYTHON3 = "python3"


class InstallRefused(Exception):
    """An install that would shadow or replace a kernelspec that is not ours; the message says what to do."""


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


def install(
    user: bool = False, prefix: str | None = None, name: str = KERNEL_NAME, display_name: str | None = None
) -> str:
    """Install the kernelspec with this Python as its interpreter; returns where it went.

    `name` / `display_name` install it under another name (ipykernel's --name / --display-name),
    for tools that start only a kernelspec name of their own choosing.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    ksm = KernelSpecManager()
    # Where install_kernel_spec will write (its own rule for user/prefix/system).
    problem = alias_problem(name, prefix, Path(ksm._get_destination_dir(name, user=user, prefix=prefix)))
    if problem:
        raise InstallRefused(problem)
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
        if display_name:
            spec["display_name"] = display_name
        (dest / "kernel.json").write_text(json.dumps(spec, indent=2) + "\n")
        return ksm.install_kernel_spec(str(dest), name, user=user, prefix=prefix)


def alias_problem(name: str, prefix: str | None, destination: Path) -> str | None:
    """Why installing as `name` into `destination` must not happen, or None.

    A `python3` kernelspec in the user's or the environment's Jupyter folders would shadow the
    real Python kernel for every notebook and client there, so the alias goes only under a
    --prefix of its own, which a tool is pointed at with JUPYTER_PATH. Nor is any kernelspec that
    is not marimo-pair's replaced (ipykernel's python3 in that prefix, say).
    """
    if name == PYTHON3 and (not prefix or Path(prefix).resolve() == Path(sys.prefix).resolve()):
        return (
            f"--name {PYTHON3} needs --prefix DIR (a folder of its own, not this environment's "
            f"{sys.prefix}): a {PYTHON3} kernelspec for your user or this "
            "environment would replace the real Python kernel in every notebook and Jupyter client. "
            f"Install the alias in a folder of its own: marimo-pair-kernel install --name {PYTHON3} "
            f"--prefix DIR, then start only the tool that needs it with JUPYTER_PATH=DIR/share/jupyter."
        )
    existing = destination / "kernel.json"
    if existing.exists():
        try:
            argv = json.loads(existing.read_text()).get("argv") or []
        except (ValueError, AttributeError):
            argv = []
        if "marimo_pair_kernel" not in argv:
            return (
                f"{destination} already holds a kernelspec that is not marimo-pair's "
                f"({' '.join(map(str, argv)) or 'unreadable'}); it is left as it is. Choose another "
                f"--name or --prefix, or delete that folder first if you mean to replace it."
            )
    return None


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
