"""This project installed as people install it, built once per source tree and reused.

Three installs of the package from this checkout, each the way a person makes it:
- `venv`: `python -m venv`, then `pip install .` into it (used unactivated: venv/bin/...);
- `pipx`: `pipx install .` (its own PIPX_HOME and bin folder, never the user's);
- `uv`: `uv tool install .` (its own tool and bin folders).

Each lives under TEST_CACHE (tests/faults_support.py) in a folder named after a hash of what
goes into the wheel (pyproject.toml, src/, kernelspec/), so a run reuses the last
build until the sources change; an older build of the same kind is removed when a new one is
made. A lock file makes concurrent test processes build it once. Tests must not change these
environments (run `install` with --prefix, or as a tool, whose default is the user's folder).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pexpect
import psutil
from faults_support import TEST_CACHE
from support import PtyScreen

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("venv", "pipx", "uv")


def source_hash() -> str:
    """A hash of every file the wheel is built from, as they are in the working tree."""
    h = hashlib.sha256()
    files = [ROOT / "pyproject.toml"]  # README.md only becomes the wheel's long description
    for folder in ("src", "kernelspec"):
        files += sorted(
            p for p in (ROOT / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
        )
    for p in files:
        h.update(str(p.relative_to(ROOT)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Installed:
    kind: str
    bin: Path  # the folder with the `marimo-pair-kernel` command people run
    python: Path  # the interpreter of the environment it runs in
    prefix: Path  # that environment's sys.prefix

    @property
    def command(self) -> str:
        return str(self.bin / "marimo-pair-kernel")


# Shared locks on the builds this process uses, held until it exits: another checkout's run,
# which builds from other sources, removes an old build only when nobody holds one on it.
_IN_USE: dict[str, object] = {}


def installed(kind: str) -> Installed:
    """The `kind` install of this checkout, built now if this source tree has none yet."""
    assert kind in KINDS, kind
    TEST_CACHE.mkdir(parents=True, exist_ok=True)
    name = f"install-{kind}-{source_hash()}"
    home = TEST_CACHE / name
    if name not in _IN_USE:
        use = open(TEST_CACHE / f".{name}.use", "w")  # noqa: SIM115 - held open on purpose
        fcntl.flock(use, fcntl.LOCK_SH)
        _IN_USE[name] = use
    with open(TEST_CACHE / f".install-{kind}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if we crash
        done = home / ".complete"
        if not done.exists():
            _remove_unused(kind, keep=home)
            shutil.rmtree(home, ignore_errors=True)  # a build that was interrupted
            home.mkdir()
            _build(kind, home)
            done.write_text(kind)
    return _layout(kind, home)


def _remove_unused(kind: str, keep: Path) -> None:
    """Delete older builds of `kind` that no test process is using."""
    for old in TEST_CACHE.glob(f"install-{kind}-*"):
        if old == keep:
            continue
        marker = TEST_CACHE / f".{old.name}.use"
        with open(marker, "w") as use:
            try:
                fcntl.flock(use, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # in use by a run of other sources
            shutil.rmtree(old, ignore_errors=True)
        marker.unlink(missing_ok=True)


def _layout(kind: str, home: Path) -> Installed:
    if kind == "venv":
        prefix = home / "venv"
        return Installed(kind, prefix / "bin", prefix / "bin" / "python", prefix)
    if kind == "pipx":
        prefix = home / "pipx" / "venvs" / "marimo-pair-kernel"
        return Installed(kind, home / "bin", prefix / "bin" / "python", prefix)
    prefix = home / "tools" / "marimo-pair-kernel"
    return Installed(kind, home / "bin", prefix / "bin" / "python", prefix)


def tool_env(home: Path) -> dict[str, str]:
    """pipx's and uv's folders, all inside `home` (never the person's ~/.local)."""
    return {
        "PIPX_HOME": str(home / "pipx"), "PIPX_BIN_DIR": str(home / "bin"), "PIPX_MAN_DIR": str(home / "man"),
        "UV_TOOL_DIR": str(home / "tools"), "UV_TOOL_BIN_DIR": str(home / "bin"),
    }


def _build(kind: str, home: Path) -> None:
    env = {**os.environ, **tool_env(home)}
    env.pop("PYTHONPATH", None)  # the install, not this checkout's src, is what runs
    if kind == "venv":
        # This pip installs into the new venv (`--python`), so the venv needs no pip of its own.
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home / "venv")], check=True, timeout=300)
        cmd = [sys.executable, "-m", "pip", "--python", str(home / "venv" / "bin" / "python"), "install", "-q",
               "--disable-pip-version-check", "--no-compile", str(ROOT)]
    elif kind == "pipx":
        cmd = [sys.executable, "-m", "pipx", "install", "--python", sys.executable, str(ROOT)]
    else:
        cmd = [sys.executable, "-m", "uv", "tool", "install", "--python", sys.executable, str(ROOT)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
    layout = _layout(kind, home)
    assert Path(layout.command).exists() and layout.python.exists(), (layout, out.stdout, out.stderr)


# -- the console in a pseudo-terminal, as a person types --------------------------------------


def person_env(tmp: Path, path: str, **extra: str) -> dict[str, str]:
    """A newcomer's environment: a fresh HOME, nothing of ours, and only `path` on PATH."""
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": path, "HOME": str(home), "LANG": "C.UTF-8", "TERM": "xterm-256color", "TMPDIR": str(tmp),
        "XDG_STATE_HOME": str(tmp / "state"),
        "PROMPT_TOOLKIT_NO_CPR": "1",  # the pty never answers cursor-position requests
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    env.update(extra)
    return env


class Console(PtyScreen):
    """`marimo-pair-kernel console ARGS` in a pty; `expect` searches the text (escapes removed)."""

    def __init__(self, command: str, args: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        super().__init__(command, args, env, cwd, 200)
        self.log = log

    def expect(self, pattern: str, timeout: float = 120) -> re.Match:
        return super().expect(pattern, timeout)

    def exit(self) -> int:
        """Type `exit`; the console's exit status."""
        self.line("exit")
        self.child.expect(pexpect.EOF, timeout=60)
        self.child.close()
        return self.child.exitstatus

    def close(self) -> None:
        self.child.close(force=True)
        self.log.write_text(self.text)


def kernels_of(pid: int) -> list[psutil.Process]:
    """The marimo-pair kernels that process `pid` (or a process it started) started."""
    out = []
    for p in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "marimo_pair_kernel" in " ".join(p.cmdline()):
                out.append(p)
    return out


def started_by(state: Path) -> list[psutil.Process]:
    """The marimo servers in the registry under `state`, and their children."""
    procs: list[psutil.Process] = []
    d = state / "marimo" / "servers"
    for f in d.glob("*.json") if d.is_dir() else []:
        with contextlib.suppress(psutil.Error, ValueError, KeyError):
            server = psutil.Process(json.loads(f.read_text())["pid"])
            procs += [server, *server.children(recursive=True)]
    return procs
