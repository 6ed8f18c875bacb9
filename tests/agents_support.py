"""Venvs for the agent recipes (tests/test_recipes_agents.py, docs/agents.md): each MCP server in
a venv of its own, as `uvx` would run it, with the versions the recipe was tested with.

A venv is built once and reused: under TEST_CACHE (see faults_support.py), named by a hash of
its requirements, so a change of pin builds a new one. Built without pip of its own (this
Python's pip installs into it) and without byte-compiling: both only save time.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

from faults_support import TEST_CACHE

# As tested. Both servers accept mcp 2, whose API they do not support: pin it below 2.
MCP_JUPYTER = ("mcp-jupyter==2.0.2", "mcp<2", "jupyter-kernel-client<1")
JUPYTER_KERNEL_MCP = ("jupyter-kernel-mcp==0.2.0", "mcp<2")


def cached_venv(requirements: tuple[str, ...]) -> Path:
    """The venv holding `requirements` (its bin/ folder), built the first time.

    A `.complete` marker is written last, so an interrupted build is redone, not trusted; a
    lock file makes concurrent test processes build it once.
    """
    key = hashlib.sha256("\n".join(sorted(requirements)).encode()).hexdigest()[:12]
    root = TEST_CACHE / f"venv-agents-{key}"
    marker = root / ".complete"
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if we crash
        if not (marker.exists() and (root / "bin" / "python").exists()):
            shutil.rmtree(root, ignore_errors=True)
            venv.EnvBuilder(with_pip=False).create(root)
            subprocess.run(
                [sys.executable, "-m", "pip", "--python", str(root / "bin" / "python"), "install", "-q",
                 "--disable-pip-version-check", "--no-compile", *requirements],
                check=True, timeout=900,
            )
            marker.write_text("\n".join(requirements))
    return root / "bin"


def make_wheel(where: Path, name: str = "mpk_agent_pkg", version: str = "0.1") -> Path:
    """A tiny pure-Python wheel, so an install needs no network."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": "VALUE = 42\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: marimo-pair-kernel-tests\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    wheel = where / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
        z.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return wheel
