"""IPython's own syntax (`%magic`, `%%magic`, `!cmd`, `x = !cmd`) made into code marimo can run.

IPython's input transformers (the ones IPython runs on every cell) turn a cell into plain
Python that calls `get_ipython().run_line_magic(...)`, `.run_cell_magic(...)`, `.system(...)`
and `.getoutput(...)`; the runtime (inmarimo/shell.py) puts a `get_ipython()` into the
notebook's process that answers those calls there, where the code runs. So a magic works on
any line of a cell, as in IPython.

What stays with the kernel (this process): a cell that is one of our own magics as a whole
(`%cells`, `%%cell`, `%history`, ...), `obj?` pager lines, and an unknown magic as a whole cell
(today's "There is no magic" message). A whole-cell `!pip install X` (and `!uv pip install`,
`!uv add`, `!conda install`) becomes `%packages add X`: marimo's package manager, as `%pip`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import UsageError
from .outputs import ErrorInfo

# Kernel-side magics that the runtime also answers in the middle of a cell (inmarimo/shell.py).
ANSWERED_IN_RUNTIME = frozenset({"matplotlib", "who", "whos", "who_ls", "reset"})  # + inmarimo/state.py
# Only cells with one of these can hold IPython syntax: the transformers cost ~0.3 ms a line.
# (`obj?` help is a `?` at a line's end or start; one inside a string is not.)
_MAYBE_IPYTHON = re.compile(r"(?:^|\n)[ \t]*[%!?]|=[ \t]*[%!]|\?[ \t]*(?:\n|$)")
_PACKAGE_CMD = re.compile(
    r"^(?:(?:python3?\s+-m\s+)?pip3?|uv\s+pip|uv|conda|mamba)\s+(install|uninstall|add|remove)\b\s*(.*)$", re.S
)
# pip/uv/conda options that change nothing marimo's package manager does: dropped, with the note.
_IGNORED_FLAGS = {"-q", "--quiet", "-U", "--upgrade", "-y", "--yes", "--no-input", "--progress-bar=off"}


@dataclass(frozen=True)
class Rewrite:
    """What the kernel runs instead of the cell: `code` (maybe the cell itself) and a note to show."""

    code: str
    note: str = ""


def rewrite(code: str, hidden: bool = False, forwarded: set[str] | frozenset[str] | None = None) -> Rewrite:
    """The cell as the kernel should run it (see the module's docstring).

    `forwarded` are the magics that run in the notebook's process (IPython's; by default those
    magics/ipython.py declares): any other magic that is the whole cell stays kernel-side
    (ours, or unknown: today's message). `hidden` (an execute with store_history off, as VS Code's start-up code) is
    passed on so the runtime can keep quiet about `%config` keys it does not know.
    """
    if not _MAYBE_IPYTHON.search(code):
        return Rewrite(code)
    registry: Mapping[str, Any] = {}
    if forwarded is None:
        from .magics import load_all
        from .magics.ipython import FORWARDED

        registry = load_all()
        forwarded = FORWARDED
    stripped = code.strip()
    if stripped.startswith("%%capture"):
        installs = _captured_installs(stripped)
        if installs is not None:
            return installs
    if stripped.startswith("%%"):
        name = stripped[2:].split(None, 1)[0] if len(stripped) > 2 else ""
        if name not in forwarded:
            return Rewrite(code)  # ours (%%cell) or unknown: the kernel says which
    elif stripped.startswith("%") and "\n" not in stripped:
        name = stripped[1:].split(None, 1)[0] if len(stripped) > 1 else ""
        target = stripped[1:].split(None, 1)[1:]
        if name in ("pinfo", "pinfo2") and target:  # IPython's `%pinfo x` is `x?`: the kernel's pager
            return Rewrite(target[0].strip() + ("??" if name == "pinfo2" else "?"))
        if name.endswith("?") or name not in forwarded:
            return Rewrite(code)  # %MAGIC?, ours, or unknown
    elif stripped.startswith("!") and "\n" not in stripped:
        packages = package_magic(stripped.lstrip("!").lstrip("!"))
        if packages is not None:
            return packages
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        out = TransformerManager().transform_cell(code)
    except Exception:  # noqa: BLE001 - marimo reports the code's own errors, as it would without us
        return Rewrite(code)
    if out.rstrip("\n") == code.rstrip("\n"):
        return Rewrite(code)
    if "\n" not in stripped and re.match(r"get_ipython\(\)\.run_line_magic\('pinfo2?'", out):
        return Rewrite(code)  # `obj?` as a whole line: the kernel's pager
    for name in re.findall(r"get_ipython\(\)\.run_(?:line|cell)_magic\('(\w+)'", out):
        if name in registry and name not in forwarded and name not in ANSWERED_IN_RUNTIME:
            raise UsageError(
                f"%{name} works only on a line of its own (a cell with just that magic): it is one of "
                "marimo-pair's own magics, which the kernel runs, not the notebook's process."
            )
    if hidden:
        out = out.replace("get_ipython().", "get_ipython(True).")
    return Rewrite(out)


def _captured_installs(cell: str) -> Rewrite | None:
    """`%%capture` over `!pip install …` lines only (Colab's quiet install): one `%packages add -q`,
    without the note or the install log, as the cell asked for quiet. None for any other %%capture cell."""
    lines = [ln.strip() for ln in cell.split("\n")[1:] if ln.strip() and not ln.strip().startswith("#")]
    if not lines or not all(ln.startswith("!") for ln in lines):
        return None
    found = [package_magic(ln.lstrip("!")) for ln in lines]
    parts = [r.code.split(None, 2) for r in found if r is not None]  # ["%packages", "add", "a b"]
    actions = {p[1] for p in parts}
    if len(parts) != len(lines) or len(actions) != 1:
        return None  # not all installs (or installs and removals mixed): the runtime says why
    return Rewrite(f"%packages {actions.pop()} -q " + " ".join(p[2] for p in parts))


def package_magic(command: str) -> Rewrite | None:
    """`pip install X` (and friends) as `%packages add X` with a one-line note; None if not one.

    Options marimo's package manager has no use for (-q, -U, -y) are dropped; others (-r FILE,
    -e PATH, --index-url ...) are a UsageError: only the real tool can do those.
    """
    m = _PACKAGE_CMD.match(command.strip())
    if m is None:
        return None
    verb, rest = m.group(1), m.group(2)
    tool = command.strip()[: m.start(1)].strip()
    if tool == "uv" and verb not in ("add", "remove"):
        return None  # `uv install` is no uv command: let the shell say so
    if tool != "uv" and verb in ("add", "remove") and not tool.startswith("uv"):
        return None
    try:
        words = shlex.split(rest)
    except ValueError:
        return None
    dropped = [w for w in words if w in _IGNORED_FLAGS]
    specs = [w for w in words if w not in _IGNORED_FLAGS]
    if not specs or any(w.startswith("-") for w in specs):
        raise UsageError(
            f"`{command.strip()}`: here {tool} {verb} goes through marimo's package manager, which takes "
            "package names only (no -r FILE, -e PATH or index options). List the packages instead, or "
            "run the tool itself in the notebook's environment, bypassing marimo's package manager: "
            f"`!{{sys.executable}} -m pip {verb} …`."
        )
    action = "add" if verb in ("install", "add") else "remove"
    note = (
        f"marimo-pair: `{tool} {verb}` runs through marimo's package manager here (as %packages {action} does), "
        "so the notebook's own environment changes"
        + (f" ({' '.join(dropped)} not needed)" if dropped else "")
        + ".\n"
    )
    return Rewrite(f"%packages {action} " + " ".join(shlex.quote(s) for s in specs), note)


def usage_error(error: ErrorInfo) -> ErrorInfo | None:
    """A magic's UsageError from the runtime as IPython shows one: the message, no frames of ours."""
    if error.ename != "UsageError" or not re.search(r"_mpk_[0-9a-f]+\.shell\.UsageError:", error.raw or ""):
        return None
    from .tracebacks import NORMAL, RED

    return ErrorInfo("UsageError", error.evalue, [f"{RED}UsageError{NORMAL}: {error.evalue}"])
