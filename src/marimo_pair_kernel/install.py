"""Install the `marimo-pair` kernelspec, like `python -m ipykernel install`."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jupyter_client.kernelspec import KernelSpec

KERNEL_NAME = "marimo-pair"


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


def install(user: bool = False, prefix: str | None = None) -> str:
    """Install the kernelspec with this Python as its interpreter; returns where it went."""
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / KERNEL_NAME
        shutil.copytree(kernelspec_source(), dest)
        spec = json.loads((dest / "kernel.json").read_text())
        spec["argv"][0] = sys.executable  # pin the interpreter that has this package
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
    while the kernelspec, installed with --user, stays and is found first.
    """
    python = spec.argv[0] if spec.argv else ""
    if python and shutil.which(python):
        return None
    return (
        f"the {KERNEL_NAME} kernelspec in {spec.resource_dir} runs {python or 'nothing'}, which does not "
        f"exist (was its Python environment removed?). Reinstall it from this environment: "
        f"marimo-pair-kernel install --user (or --sys-prefix), or delete {spec.resource_dir}."
    )
