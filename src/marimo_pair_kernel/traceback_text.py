"""marimo's traceback text read back into exceptions and frames, and what both layouts share.

marimo reports an exception only as the text Python's `traceback` module prints (on stderr).
`parse` reads it into `Exc`/`Frame`; tracebacks.py lays those out as IPython 8 does, and
rebuilt.py rebuilds them for this process's IPython to lay out. Both read the same `Context`
(what the kernel knows of the code behind the frames), drop marimo's own frames the same way
(`user_frames`), and let IPython's formatters see a shell that names cells as ipykernel's does
(`with_shell`).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SCRATCH = "__scratch__"

CAUSE = "\nThe above exception was the direct cause of the following exception:\n"
CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n"
_SEPARATORS = re.compile(r"\n(The above exception was the direct cause of the following exception:|"
                         r"During handling of the above exception, another exception occurred:)\n\n")
_HEADER = "Traceback (most recent call last):"
_FRAME = re.compile(r'^  File "(.*)", line (\d+), in (.*)$')
_SYNTAX_FILE = re.compile(r'^  File "(.*)", line (\d+)$')
_SYNTAX_BARE = re.compile(r"^line (\d+)$")
_REPEATED = re.compile(r"^  \[Previous line repeated (\d+) more times?\]$")
_EXC = re.compile(r"^([A-Za-z_][\w.]*)(?::\s?(.*))?$")
CELL_FILE = re.compile(r"__marimo__cell_(.+?)_\.py$")
# The file name the kernel's runtime gives one execute's code (runtime_state._filename): In[N] is its count.
_PAIR_FILE = re.compile(r"marimo-pair-kernel[/\\][^/\\]*-In(\d+)[/\\]__marimo__cell___scratch___\.py$")
RUNTIME_FILE = "<marimo-pair-kernel>"  # scratchpad.RUNTIME_FILENAME: the frames of our runtime


@dataclass
class Frame:
    filename: str
    lineno: int
    name: str
    line: str = ""  # the source line as Python printed it (stripped)
    span: tuple[int, int] | None = None  # the failing expression's columns in `line`
    repeated: int = 0  # "[Previous line repeated N more times]" after this frame

    @property
    def cell_id(self) -> str | None:
        m = CELL_FILE.search(self.filename)
        return m.group(1) if m else None


@dataclass
class SyntaxDetail:
    filename: str | None  # None: marimo's bare form for the scratchpad's own code
    lineno: int
    text: str
    caret: int | None  # column of the first caret in `text`


@dataclass
class Exc:
    """One exception of a chain, as Python printed it."""

    ename: str
    evalue: str
    frames: list[Frame] = field(default_factory=list)
    syntax: SyntaxDetail | None = None
    separator: str | None = None  # how the next exception of the chain relates to this one

    @property
    def short_name(self) -> str:
        return self.ename.rsplit(".", 1)[-1]


def parse(text: str) -> list[Exc] | None:
    """Python's printed traceback (with chained exceptions) → exceptions, oldest first; None if unparseable."""
    chunks = _SEPARATORS.split(text.rstrip("\n"))
    out: list[Exc] = []
    for k in range(0, len(chunks), 2):
        exc = _parse_one(chunks[k])
        if exc is None:
            return None
        if k + 1 < len(chunks):
            exc.separator = CAUSE if chunks[k + 1].startswith("The above") else CONTEXT
        out.append(exc)
    return out or None


def _parse_one(chunk: str) -> Exc | None:
    lines = chunk.split("\n")
    i = 1 if lines and lines[0] == _HEADER else 0
    frames: list[Frame] = []
    while i < len(lines):
        m = _FRAME.match(lines[i])
        r = _REPEATED.match(lines[i])
        if r and frames:
            frames[-1].repeated = int(r.group(1))
            i += 1
            continue
        if not m:
            break
        frame = Frame(m.group(1), int(m.group(2)), m.group(3))
        i += 1
        if i < len(lines) and lines[i].startswith("    "):
            frame.line = lines[i][4:]
            i += 1
            if i < len(lines) and _is_caret_line(lines[i]):
                marks = lines[i]
                start = len(marks) - len(marks.lstrip()) - 4
                frame.span = (max(start, 0), len(marks.rstrip()) - 4)
                i += 1
        frames.append(frame)
    syntax = None
    where = _SYNTAX_FILE.match(lines[i]) if i < len(lines) else None
    bare = _SYNTAX_BARE.match(lines[i]) if i < len(lines) and not frames else None
    if where or bare:
        filename: str | None = where.group(1) if where else None
        lineno = int(where.group(2) if where else bare.group(1))  # type: ignore[union-attr]
        i += 1
        text, caret = "", None
        if i < len(lines) and lines[i].startswith("    "):
            text = lines[i][4:]
            i += 1
            if i < len(lines) and _is_caret_line(lines[i]):
                caret = max(len(lines[i]) - len(lines[i].lstrip()) - 4, 0)
                i += 1
        syntax = SyntaxDetail(filename, lineno, text, caret)
    if i >= len(lines):
        return None
    m = _EXC.match(lines[i])
    if not m:
        return None
    rest = lines[i + 1 :]
    evalue = "\n".join([m.group(2) or "", *rest]).strip("\n") if rest else (m.group(2) or "")
    return Exc(m.group(1), evalue, frames, syntax)


def _is_caret_line(line: str) -> bool:
    s = line.strip()
    return bool(s) and set(s) <= set("^~") and line.startswith("    ")


@dataclass(frozen=True)
class Context:
    """What the kernel knows about the code behind the frames."""

    count: int | None = None  # the execution count, for `Cell In[N]`
    scratch: str | None = None  # the code the user sent (scratchpad frames)
    cells: Mapping[str, str] = field(default_factory=dict)  # cell id → code
    names: Mapping[str, str | None] = field(default_factory=dict)  # cell id → name
    mode: str = "Context"  # %xmode: Plain, Context, Verbose (laid out as Context here) or Minimal


def user_frames(frames: Sequence[Frame]) -> list[Frame]:
    """Frames from the first one in user code (scratchpad or a cell) on; marimo's own drop out."""
    first = next((i for i, f in enumerate(frames) if f.cell_id is not None), None)
    if first is not None:
        # The scratch cell hands the user's code to our runtime: its frames and the runtime's are not the user's.
        k = first + 1
        while k < len(frames) and frames[k].filename == RUNTIME_FILE:
            k += 1
        return list(frames[k if k > first + 1 else first :])
    ours = ("<string>", RUNTIME_FILE)
    return [f for f in frames if f"{os.sep}marimo{os.sep}_" not in f.filename and f.filename not in ours]


def pair_count(filename: str | None) -> int | None:
    """The execution count of the kernel's execute that `filename` holds, if it is one (0: none)."""
    m = _PAIR_FILE.search(filename) if filename else None
    return int(m.group(1)) or None if m else None


def ipython_major() -> int:
    """The major version of the IPython beside this kernel (the python3 kernel's), 0 if none."""
    try:
        import IPython

        return int(IPython.version_info[0])
    except Exception:  # noqa: BLE001 - no usable IPython: our own layout
        return 0


class _Names:
    """IPython's `shell.compile.format_code_name`: a frame's file as ipykernel names it."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def format_code_name(self, name: str) -> tuple[str, str] | None:
        found = CELL_FILE.search(name or "")
        if found is None:
            return None
        cell = found.group(1)
        if cell == SCRATCH:
            count = pair_count(name) or self.ctx.count
            return "Cell", f"In[{count if count is not None else ' '}]"
        title = self.ctx.names.get(cell)
        return "Cell", f"{title} ({cell})" if title else cell


class _Shell:
    """What IPython's traceback formatters ask of `get_ipython()` (there is no shell here)."""

    def __init__(self, ctx: Context) -> None:
        self.compile = _Names(ctx)
        self.hooks = self

    def synchronize_with_editor(self, *args: Any) -> None:
        pass


def with_shell(ctx: Context, work: Any) -> Any:
    """Run `work()` while IPython's traceback modules see a shell that names cells as ipykernel's."""
    import importlib

    modules = []
    for name in ("IPython.core.ultratb", "IPython.core.tbtools"):
        with contextlib.suppress(ImportError):
            modules.append(importlib.import_module(name))
    saved = [(m, m.__dict__["get_ipython"]) for m in modules if "get_ipython" in m.__dict__]
    shell = _Shell(ctx)
    for m, _ in saved:
        m.get_ipython = lambda: shell  # type: ignore[attr-defined]
    try:
        return work()
    finally:
        for m, fn in saved:
            m.get_ipython = fn  # type: ignore[attr-defined]
