"""Notebooks that bring their own environment: a PEP 723 `# /// script` header, and the uv that builds it.

A notebook whose header lists dependencies is started with `marimo edit --sandbox`, as marimo
itself suggests for one (launcher.py): uv builds the notebook's own environment from the header.
Here: whether a file asks for that, where uv is, and what to say when it is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

UV_DOCS = "https://docs.marimo.io/guides/package_management/inlining_dependencies/"

# PEP 723's own regular expression for a metadata block (https://peps.python.org/pep-0723/).
_SCRIPT_BLOCK = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")
_DEPENDENCIES = re.compile(r"(?m)^\s*dependencies\s*=")


def script_dependencies(path: str) -> bool:
    """Whether PATH has a PEP 723 `# /// script` header that lists dependencies.

    The condition on which marimo itself offers its sandbox (`marimo edit` asks "Run in a
    sandboxed venv containing this notebook's dependencies?"): a header without packages
    needs no environment of its own.
    """
    try:
        with open(path, encoding="utf-8") as f:
            head = f.read(65536)
    except (OSError, UnicodeDecodeError):
        return False
    for m in _SCRIPT_BLOCK.finditer(head):
        if m.group("type") != "script":
            continue
        toml = "".join(line[2:] if line.startswith("# ") else line[1:] for line in m.group("content").splitlines(True))
        return bool(_DEPENDENCIES.search(toml))
    return False


def find_uv(environ: dict[str, str] | None = None) -> str | None:
    """The uv that `marimo edit --sandbox` will run (marimo honours $UV, then PATH), or None."""
    env = os.environ if environ is None else environ
    named = env.get("UV")
    if named:
        return named if os.path.exists(named) else None
    return shutil.which("uv", path=env.get("PATH"))


def uv_missing_message(path: str, how_to_opt_out: str) -> str:
    """What to say when a script notebook needs uv and there is none."""
    beside = Path(sys.executable).with_name("uv")
    hint = (
        f" There is one at {beside}, beside this kernel's Python: put {beside.parent} on PATH, or set UV={beside}."
        if beside.exists()
        else ""
    )
    return (
        f"{path} has a `# /// script` header (PEP 723) with its own dependencies, so marimo runs it in a "
        f"sandbox that uv builds, and uv is not on this kernel's PATH.{hint} Install uv (`pip install uv`, "
        f"or see {UV_DOCS}), then try again; or {how_to_opt_out} to run it with this Python, without "
        "the header's packages."
    )
