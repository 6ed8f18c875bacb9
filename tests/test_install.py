"""A fresh venv: `pip install .` alone makes `jupyter kernelspec list` show marimo-pair."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_pip_install_shows_kernelspec(tmp_path):
    env_dir = tmp_path / "venv"
    # This pip installs into the new venv (`--python`), so the venv needs no pip of its own;
    # --no-compile skips byte-compiling every dependency. Both only save time (half this test's).
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--disable-pip-version-check",
         "--no-compile", str(ROOT)],
        check=True, timeout=900,
    )
    out = subprocess.run(
        [str(env_dir / "bin" / "jupyter"), "kernelspec", "list"],
        capture_output=True, text=True, check=True, timeout=60,
        env={"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert "marimo-pair" in out.stdout
    spec = subprocess.run(
        [str(py), "-c", "from jupyter_client.kernelspec import KernelSpecManager as K;"
         "s=K().get_kernel_spec('marimo-pair'); print(s.display_name, s.language, s.argv)"],
        capture_output=True, text=True, check=True, timeout=60, env={"HOME": str(tmp_path)},
    )
    assert spec.stdout.startswith("marimo (pair) python")
    # The CLI installs it elsewhere too, like ipykernel's.
    prefix = tmp_path / "prefix"
    subprocess.run([str(env_dir / "bin" / "marimo-pair-kernel"), "install", "--prefix", str(prefix)],
                   check=True, timeout=60, env={"HOME": str(tmp_path)})
    assert (prefix / "share/jupyter/kernels/marimo-pair/kernel.json").exists()
    assert (prefix / "share/jupyter/kernels/marimo-pair/logo-64x64.png").exists()
