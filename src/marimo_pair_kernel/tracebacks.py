"""Tracebacks as ipykernel sends them: marimo's plain traceback text, formatted as IPython 8 does.

marimo reports an exception only as the text Python's `traceback` module prints (on
stderr). `parse` (traceback_text.py) reads that text back into frames; `format` lays them out the way
IPython's VerboseTB does in ipykernel (the "Neutral" colors, a red header with the
exception name, `Cell In[N], line L` for the code the user sent, the source lines around
the failing one with a `---->` arrow, pygments colors with the failing expression on
yellow, then `ZeroDivisionError: division by zero`). IPython finds the failing
expression by inspecting the live frame; we take it from the `~^~` markers Python
prints under the line.

Source lines come from what the kernel knows: the user's code (scratchpad frames), a
cell's code (frames of marimo cells), or a file on this machine whose line matches the
one marimo printed. Without a source a frame shows the one line marimo printed.

Frames before the first frame of user code (marimo's runner, our wrapper) are dropped.
This runs in the kernel process (IPython's own dependencies, pygments and stack_data,
are here; marimo is not).
"""

from __future__ import annotations

import ast
import linecache
import os
import re
import shutil
import textwrap
from collections.abc import Sequence
from typing import Any

from . import rebuilt
from .traceback_text import (
    CELL_FILE,
    CONTEXT,
    SCRATCH,
    Context,
    Exc,
    Frame,
    ipython_major,
    pair_count,
    parse,
    user_frames,
    with_shell,
)

# Names other modules read here (the formatter's face): parse, the types, what frames come from.
__all__ = ["SCRATCH", "Context", "Exc", "Frame", "format", "format_or_none", "ipython_major", "parse",
           "plain_message", "user_frames"]

# IPython's "Neutral" scheme, ipykernel's default (IPython.core.excolors).
RED = "\x1b[0;31m"
GREEN = "\x1b[0;32m"
LIGHT_GREEN = "\x1b[1;32m"
CYAN = "\x1b[0;36m"
BLUE = "\x1b[0;34m"
NORMAL = "\x1b[0m"

_ARROW_WIDTH = 7  # IPython's INDENT_SIZE - 1
_MAX_LINES_PER_PIECE = 6  # stack_data's default
_MAX_HIGHLIGHT_LINES = 2000

_KEYWORD_START = re.compile(
    r"^(raise|assert|del|import|from|return|yield|global|nonlocal|pass|break|continue|with|async|await|"
    r"for|while|if|elif|else|try|except|finally|class|def|lambda|match|case)\b"
)


# -- formatting ------------------------------------------------------------------------------


def format(excs: Sequence[Exc], ctx: Context) -> list[str]:
    """The `traceback` list ipykernel would send for this chain of exceptions."""
    last = excs[-1]
    if len(excs) == 1 and not user_frames(last.frames) and last.syntax is not None:
        return _ipython_syntax(last, ctx) or [_format_syntax(last, ctx)]
    major = ipython_major()
    if major >= 9 or (major and ctx.mode in ("Plain", "Minimal")):
        # IPython's own formatter over frames rebuilt from the text (rebuilt.py); with IPython 8,
        # Context marks the failing expression, which only the layout below knows from the text.
        done = rebuilt.format(excs, ctx, _sources(excs, ctx))
        if done is not None:
            return done
    width = min(75, shutil.get_terminal_size()[0])  # as IPython: 75 unless COLUMNS says less
    out = [f"{RED}{'-' * width}{NORMAL}"]
    for k, exc in enumerate(excs):
        final = k == len(excs) - 1
        name = exc.short_name
        out.append(f"{RED}{name}{NORMAL}" + "Traceback (most recent call last)".rjust(width - len(name)))
        out.extend(_format_frame(f, ctx, 5 if final else 3) for f in user_frames(exc.frames))
        evalue = exc.evalue
        if exc.syntax is not None and exc.syntax.filename is not None:
            evalue = f"{evalue} ({os.path.basename(exc.syntax.filename)}, line {exc.syntax.lineno})"
        out.append(f"{RED}{name}{NORMAL}: {evalue}")
        if not final:
            out.append(exc.separator or CONTEXT)
    return out


def _sources(excs: Sequence[Exc], ctx: Context) -> dict[str, str]:
    """The code to show for each frame's file that linecache cannot read: the user's, the cells'."""
    out: dict[str, str] = {}
    for exc in excs:
        for f in exc.frames:
            cell = f.cell_id
            if cell == SCRATCH:
                count = pair_count(f.filename)
                text = ctx.scratch if count is None or count == ctx.count else None  # an earlier execute's
            else:
                text = ctx.cells.get(cell) if cell is not None else None
            if text:
                out[f.filename] = text
    return out


def _link(frame_file: str | None, lineno: int, ctx: Context, color: str, after: str) -> str:
    found = CELL_FILE.search(frame_file) if frame_file else None
    cell = found.group(1) if found else None
    if frame_file is None or cell == SCRATCH:
        count = pair_count(frame_file) or ctx.count
        return f"Cell {color}In[{count if count is not None else ' '}], line {lineno}{after}"
    if cell is not None:
        name = ctx.names.get(cell)
        return f"Cell {color}{f'{name} ({cell})' if name else cell}, line {lineno}{after}"
    return f"File {color}{_compress_user(frame_file)}:{lineno}{after}"


def _compress_user(path: str) -> str:
    home = os.path.expanduser("~")
    if home not in ("", "/") and path.startswith(home + os.sep):
        return "~" + path[len(home) :]
    return path


def _ipython_syntax(exc: Exc, ctx: Context) -> list[str] | None:
    """A SyntaxError laid out by this process's IPython, as ipykernel's showsyntaxerror does.

    marimo reports one it caught before running anything only as text, so there is no
    exception object in marimo to format; one made here from that text is all IPython's
    SyntaxTB reads (file, line, text, caret column, message).
    """
    import builtins

    major = ipython_major()
    s = exc.syntax
    if not major or s is None:
        return None
    try:
        from IPython.core import ultratb

        kind = getattr(builtins, exc.short_name, SyntaxError)
        if not (isinstance(kind, type) and issubclass(kind, SyntaxError)):
            kind = SyntaxError
        filename = s.filename or f"__marimo__cell_{SCRATCH}_.py"
        offset = s.caret + 1 if s.caret is not None else None
        err = kind(exc.evalue, (filename, s.lineno, offset, s.text))
        theme = {"theme_name": "neutral"} if major >= 9 else {"color_scheme": "Neutral"}  # as ipykernel's shell
        tb: Any = ultratb.SyntaxTB(**theme)
        stb = with_shell(ctx, lambda: tb.structured_traceback(kind, err, []))
        return [str(x) for x in stb]
    except Exception:  # noqa: BLE001 - an IPython we do not know: our own layout
        return None


def _format_syntax(exc: Exc, ctx: Context) -> str:
    """IPython's ListTB form of a SyntaxError: where, the line, a caret, the message."""
    s = exc.syntax
    assert s is not None
    out = f"{CYAN}  {_link(s.filename, s.lineno, ctx, GREEN, CYAN)}{NORMAL}\n"
    if s.text:
        out += f"{RED}    {s.text.strip()}{NORMAL}\n"
        if s.caret is not None:
            out += f"{NORMAL}    {' ' * s.caret}^{NORMAL}\n"
    name = exc.short_name
    return out + f"{RED}{name}{NORMAL}{RED}:{NORMAL} {exc.evalue}\n"


def _format_frame(frame: Frame, ctx: Context, context: int) -> str:
    source = _source_lines(frame, ctx)
    layout = _layout(source, frame, context) if source is not None else None
    if layout is None:
        lines, call = _single_line(frame), _call(frame, None, None)
    else:
        lines, call = layout
    head = _link(frame.filename, frame.lineno, ctx, GREEN, NORMAL)
    text = f"{head}{', ' if call else ''}{call}\n" + "".join(lines)
    if frame.repeated:
        similar = f"{frame.name} at line {frame.lineno} ({frame.repeated} times)"
        text += f"    {RED}[... skipping similar frames: {similar}]{NORMAL}\n"
    return text


def _source_lines(frame: Frame, ctx: Context) -> list[str] | None:
    """The frame's whole source, when we have it and it matches the line Python printed."""
    cell = frame.cell_id
    if cell == SCRATCH:
        count = pair_count(frame.filename)
        text = ctx.scratch if count is None or count == ctx.count else None  # an earlier execute's code
    elif cell is not None:
        text = ctx.cells.get(cell)
    else:
        text = "".join(linecache.getlines(frame.filename)) if os.path.isfile(frame.filename) else None
    if not text:
        return None
    lines = text.splitlines(keepends=True)
    if not 1 <= frame.lineno <= len(lines) or lines[frame.lineno - 1].strip() != frame.line.strip():
        return None
    return lines


def _number(lineno: int, current: bool) -> str:
    if current:
        pad = _ARROW_WIDTH - len(str(lineno))
        arrow = "-" * (pad - 2) + "> " if pad >= 2 else (">" if pad == 1 else "")
        return f"{GREEN}{arrow}{lineno}{NORMAL} "
    return f"{LIGHT_GREEN}{lineno:>{_ARROW_WIDTH}}{NORMAL} "


def _gap() -> str:
    return f"{GREEN}   (...){NORMAL}\n"


def _single_line(frame: Frame) -> list[str]:
    line = frame.line.strip()
    ranges = _ranges_in_line(line, frame.span, 0)
    return [_number(frame.lineno, True) + _highlight(line + "\n", ranges)[0] + "\n"]


def _ranges_in_line(stripped: str, span: tuple[int, int] | None, offset: int) -> list[tuple[int, int]]:
    """Where the failing expression is, as character offsets (`offset` = where the line starts)."""
    if span is not None:
        return [(offset + span[0], offset + span[1])]
    # Python prints no markers when the expression is the whole line; IPython then marks it
    # all, except for statements whose failing part it cannot point at (raise, import, ...).
    if not stripped or _KEYWORD_START.match(stripped):
        return []
    return [(offset, offset + len(stripped.split("#", 1)[0].rstrip()))]


def _layout(source: list[str], frame: Frame, context: int) -> tuple[list[str], str] | None:
    """stack_data's choice of lines (the pieces around the failing one, in its scope), highlighted."""
    try:
        import stack_data

        src: Any = stack_data.Source(frame.filename, source)
        pieces: list[range] = list(src.pieces)
        scope: ast.AST | None = None
        if src.tree is not None:
            stmts = sorted(src.statements_at_line(frame.lineno), key=lambda n: (n.lineno, n.col_offset))
            node: Any = stmts[0] if stmts else None
            while node is not None:
                node = getattr(node, "parent", None)
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
                    scope = node
                    break
        if scope is not None and not isinstance(scope, ast.Module):
            start, stop = src.line_range(scope)
            pieces = [p for p in pieces if start <= p.start and p.stop <= stop]
        pos = next((k for k, p in enumerate(pieces) if frame.lineno in p), None)
        if pos is None:
            return None
        after = (context - 1) // 2
        before = context - 1 - after
        included = pieces[max(0, pos - before) : pos + 1 + after]
        shown: list[int | None] = []  # line numbers; None is a gap
        for piece in included:
            nums: list[int | None] = list(piece)
            if frame.lineno not in piece and len(nums) > _MAX_LINES_PER_PIECE:
                right = (_MAX_LINES_PER_PIECE - 1) // 2
                left = _MAX_LINES_PER_PIECE - 1 - right
                nums = [*nums[:left], None, *nums[-right:]]
            shown.extend(nums)
        real = [n for n in shown if n is not None]
        first = real[0]
        if scope is not None and not isinstance(scope, ast.Module):
            first = min(first, max(src.line_range(scope)[0], real[-1] - _MAX_HIGHLIGHT_LINES))
        texts = [source[n - 1].rstrip("\r\n") for n in range(first, real[-1] + 1)]
        current = source[frame.lineno - 1].rstrip("\r\n")
        indent_here = len(current) - len(current.lstrip())
        offset = sum(len(t) + 1 for t in texts[: frame.lineno - first])
        ranges = _ranges_in_line(current.strip(), frame.span, offset + indent_here)
        if frame.span is not None and frame.span[1] >= len(current.strip()) and src.tree is not None:
            # Python marks a multi-line expression only up to the end of its first line;
            # IPython marks all of it: find it in the tree.
            whole = _multiline_node(src.tree, frame.lineno, indent_here + frame.span[0], source)
            if whole is not None and whole[0] >= frame.lineno and whole[2] <= real[-1]:
                def at(line: int, col: int) -> int:
                    return sum(len(t) + 1 for t in texts[: line - first]) + col

                ranges = [(at(whole[0], whole[1]), at(whole[2], whole[3]))]
        highlighted = _highlight("\n".join(texts) + "\n", ranges)
        dedented = textwrap.dedent("\n".join(source[n - 1].rstrip("\r\n") for n in real)).splitlines()
        lead = source[real[0] - 1].rstrip("\r\n")
        indent = lead[: len(lead) - len(dedented[0])] if dedented else ""
        out: list[str] = []
        for n in shown:
            if n is None:
                out.append(_gap())
                continue
            line = highlighted[n - first] if n - first < len(highlighted) else source[n - 1].rstrip("\r\n")
            if indent:
                line = line.replace(indent, "", 1)
            out.append(_number(n, n == frame.lineno) + line + "\n")
        return out, _call(frame, scope, src)
    except Exception:  # noqa: BLE001 - a frame we cannot lay out shows its one line instead
        return None


def _multiline_node(tree: ast.AST, lineno: int, col: int, source: list[str]) -> tuple[int, int, int, int] | None:
    """The widest expression that starts at (lineno, col) and ends on a later line, in characters."""

    def chars(line: int, byte_col: int) -> int:
        return len(source[line - 1].encode()[:byte_col].decode(errors="replace"))

    best: tuple[int, int, int, int] | None = None
    for node in ast.walk(tree):
        if not isinstance(node, ast.expr) or node.lineno != lineno or not node.end_lineno:
            continue
        if node.end_lineno <= lineno or chars(lineno, node.col_offset) != col:
            continue
        end = (node.end_lineno, chars(node.end_lineno, node.end_col_offset or 0))
        if best is None or end > (best[2], best[3]):
            best = (lineno, col, *end)
    return best


def _call(frame: Frame, scope: ast.AST | None, src: Any) -> str:
    """IPython's `in func(a, b)` after the link; nothing for module-level code."""
    if frame.name == "<module>":
        return ""
    qualname, args = frame.name, "()"
    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)) and scope.name == frame.name:
        a = scope.args
        names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
        if a.vararg:
            names.append("*" + a.vararg.arg)
        if a.kwarg:
            names.append("**" + a.kwarg.arg)
        args = "(" + ", ".join(names) + ")"
        parts = [scope.name]
        node: Any = getattr(scope, "parent", None)
        while node is not None and not isinstance(node, ast.Module):
            if isinstance(node, ast.ClassDef):
                parts.append(node.name)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                parts.append(node.name + ".<locals>")
            node = getattr(node, "parent", None)
        qualname = ".".join(reversed(parts))
    return f"in {CYAN}{qualname}{BLUE}{args}{NORMAL}"


# (lexer class, formatter), made once: pygments compiles a lexer class's rules on its first use.
_HIGHLIGHTER: list[Any] = []


def _highlight(code: str, ranges: list[tuple[int, int]]) -> list[str]:
    """pygments' terminal colors (IPython's "default" style), the failing expression on yellow."""
    try:
        import pygments

        if not _HIGHLIGHTER:
            from pygments.formatters import Terminal256Formatter
            from pygments.lexers import PythonLexer
            from pygments.styles import get_style_by_name
            from stack_data import style_with_executing_node

            class Lexer(PythonLexer):
                """Python tokens; those inside `ranges` get stack_data's ExecutingNode variant."""

                ranges: list[tuple[int, int]] = []

                def get_tokens(self, text: str, unfiltered: bool = False) -> Any:  # type: ignore[override]
                    length = 0
                    for ttype, value in super().get_tokens(text):
                        if any(start <= length < end for start, end in self.ranges):
                            ttype = ttype.ExecutingNode
                        length += len(value)
                        yield ttype, value

            style = style_with_executing_node(get_style_by_name("default"), "bg:ansiyellow")
            _HIGHLIGHTER.append((Lexer, Terminal256Formatter(style=style)))
        lexer_class, formatter = _HIGHLIGHTER[0]
        lexer = lexer_class(stripnl=False)
        lexer.ranges = ranges
        return pygments.highlight(code, lexer, formatter).splitlines()
    except Exception:  # noqa: BLE001 - uncolored beats no traceback
        return code.splitlines()


def format_or_none(text: str, ctx: Context) -> tuple[list[Exc], list[str]] | None:
    """Parse and format; None when the text is not a traceback we understand."""
    excs = parse(text)
    if not excs:
        return None
    try:
        return excs, format(excs, ctx)
    except Exception:  # noqa: BLE001 - the caller falls back to the plain text
        return None


def plain_message(ename: str, message: str) -> list[str]:
    """Our own errors (no Python frames), as IPython shows an exception without a traceback."""
    return [f"{RED}{ename}{NORMAL}: {message}"]
