"""The code we send into marimo's scratchpad besides the user's own, and how we read its answers.

marimo's `done` event carries one rendered form of the last value (a tuple arrives
as a JSON list), so IPython's `text/plain` has to be computed inside the marimo
kernel. We do that by rewriting the user's last expression into an assignment and
appending a small helper *after* the user's code: line numbers in tracebacks stay
the user's own. The helper returns a dict that marimo renders as
`application/json`; the marker key tells it apart from a user's value.

The helper functions live in one small module that the first request installs in
the marimo kernel's `sys.modules` (`RUNTIME_SOURCES`); later requests send only a short
tail that calls it, so marimo parses and analyses a few lines, not the helpers,
on every execute. The tail reinstalls the module when the marimo kernel restarted.
Names in the tail start with `_`, so marimo keeps them private to the scratch cell.

Code mode (creating and editing cells) is elsewhere: see `codemode.py`.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .client import Output

MARKER = "marimo_pair_kernel"

# Helpers that run inside the marimo kernel: runtime.py, then every runtime_*.py beside it (one
# concern a file), as text (this process never imports them, since they use marimo). They are
# executed in that order into one module's namespace, installed there once (see `_call`), so a
# later file calls an earlier one's functions by name. The module's name carries a hash of the
# texts, so a marimo kernel that has an older runtime gets this one.
_HERE = Path(__file__).parent
RUNTIME_FILES = (_HERE / "runtime.py", *sorted(_HERE.glob("runtime_*.py")))
RUNTIME_SOURCES = tuple(f.read_text(encoding="utf-8") for f in RUNTIME_FILES)
RUNTIME_MODULE = "_marimo_pair_kernel_rt_" + hashlib.sha1("\0".join(RUNTIME_SOURCES).encode()).hexdigest()[:12]


def exec_runtime(ns: dict) -> dict:
    """Run the runtime's files into `ns`, as the marimo kernel gets them (unit tests use this)."""
    for source in RUNTIME_SOURCES:
        exec(source, ns)
    return ns


def _call(expression: str) -> str:
    """Scratchpad lines that make sure the runtime module exists, then evaluate `_mpk_rt.<expression>`."""
    return (
        f"_mpk_rt = __import__('sys').modules.get({RUNTIME_MODULE!r})\n"
        "if _mpk_rt is None:\n"
        f"    _mpk_rt = __import__('types').ModuleType({RUNTIME_MODULE!r})\n"
        f"    for _mpk_src in {RUNTIME_SOURCES!r}: exec(_mpk_src, _mpk_rt.__dict__)\n"
        f"    __import__('sys').modules[{RUNTIME_MODULE!r}] = _mpk_rt\n"
        "    _mpk_rt.guard_input(__import__('sys').modules['__main__'].__dict__)\n"
        "    _mpk_rt.install_hooks(__import__('sys').modules['__main__'].__dict__)\n"
        f"_mpk_rt.{expression}\n"
    )


def _tail(value: str, page_url: str, assign: bool) -> str:
    """The line after the user's code: show `value` through the installed runtime.

    One statement, few tokens: marimo parses, tokenizes and analyses the whole cell on every
    execute (each statement of ours cost it ~0.3 ms), so unlike `_call` this does not carry
    the runtime for a reinstall. If the marimo kernel restarted and lost the module,
    `getattr` stands in for `show` and hands back the value itself (`getattr(v, url, v)` is
    `v`): marimo renders it, and the kernel, seeing no payload, reinstalls before the next run.
    `_mpk_value` in the cell's own code is what marks a run as the kernel's (`_in_our_run`).
    """
    call = (
        f"getattr(__import__('sys').modules.get({RUNTIME_MODULE!r}), 'show', getattr)"
        f"({value}, {page_url!r}, {value})\n"
    )
    return ("_mpk_value = " + call) if assign else call


def install_code() -> str:
    """Install the runtime (and the input() guard) before the first user code runs."""
    return _call("installed()")


def warm_code() -> str:
    """Install the runtime and warm jedi in the background (the kernel sends it at start)."""
    return _call("warm()")


@dataclass(frozen=True)
class Prepared:
    """User code made ready for the scratchpad."""

    code: str
    has_value: bool  # the last statement is an expression whose value we show
    bound_names: frozenset[str]  # top-level names the code binds (they vanish after)
    asks_input: str | None = None  # "input"/"getpass" when the code calls one directly


def prepare(code: str, page_url: str = "") -> Prepared:
    """Rewrite `code` so the scratchpad returns IPython's display of the last expression.

    Every parsed run gets the tail (also without a value): it shows the figures still open,
    as matplotlib's inline backend does, and its name marks the run as the kernel's own, which
    is what the runtime's display()/plt.show() hooks look for. `page_url` (the marimo page)
    is named on snapshots of mo.ui elements.
    """
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        # Let marimo report it: its Python may accept syntax ours does not.
        return Prepared(code, False, frozenset())
    bound = frozenset(_top_level_bindings(tree))
    asks = _input_call(tree)
    if not tree.body or not isinstance(tree.body[-1], ast.Expr) or _ends_with_semicolon(code):
        body = code if code.endswith("\n") else code + "\n"
        return Prepared(body + _tail("None", page_url, assign=True), False, bound, asks)
    last = tree.body[-1]
    lines = code.splitlines(keepends=True)
    # ast offsets are UTF-8 byte offsets: edit the affected lines as bytes.
    start_l, start_c = last.lineno - 1, last.col_offset
    end_l = (last.end_lineno or last.lineno) - 1
    # The closing paren goes on a line of its own, so a comment after the expression stays a
    # comment and the user's lines (and their numbers) are unchanged but for the prefix.
    lines[end_l] = lines[end_l].rstrip("\r\n") + "\n)\n"
    start_b = lines[start_l].encode()
    lines[start_l] = (start_b[:start_c] + _PREFIX.encode() + start_b[start_c:]).decode()
    body = "".join(lines)
    if not body.endswith("\n"):
        body += "\n"
    return Prepared(body + _tail("_mpk_value", page_url, assign=False), True, bound, asks)


_PREFIX = "_mpk_value = ("


def restore_traceback(text: str) -> str:
    """Show the user's own line in a traceback, not our `_mpk_value = (...)` rewrite of it."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        col = line.find(_PREFIX)
        if col < 0:
            continue
        lines[i] = line[:col] + line[col + len(_PREFIX) :]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if nxt.strip() and set(nxt.strip()) <= set("^~") and nxt[col : col + len(_PREFIX)].strip() == "":
            lines[i + 1] = nxt[:col] + nxt[col + len(_PREFIX) :]
    return "\n".join(lines)


def user_source(code: str) -> str:
    """The code the user sent, from what `prepare` made of it (for the lines around an error)."""
    # Our tail (however it is worded) starts on the first line that looks the runtime up.
    marker = f"__import__('sys').modules.get({RUNTIME_MODULE!r})"
    lines = code.splitlines(keepends=True)
    cut = next((i for i, line in enumerate(lines) if marker in line), len(lines))
    body = "".join(lines[:cut])
    if _PREFIX not in body:
        return body
    try:
        last = ast.parse(body).body[-1]
    except (SyntaxError, ValueError, IndexError):
        return body
    lines = body.splitlines(keepends=True)
    if not isinstance(last, ast.Assign) or not last.end_lineno or lines[last.end_lineno - 1].strip() != ")":
        return body
    del lines[last.end_lineno - 1]  # our closing paren's own line
    first = lines[last.lineno - 1].encode()
    col = last.col_offset
    if first[col : col + len(_PREFIX)] == _PREFIX.encode():
        lines[last.lineno - 1] = (first[:col] + first[col + len(_PREFIX) :]).decode()
    return "".join(lines)


def _input_call(tree: ast.Module) -> str | None:
    """A prompt the code asks for directly: it would wait for a browser, so it is refused early."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id in ("input", "raw_input"):
                return f.id
            if isinstance(f, ast.Attribute) and f.attr == "getpass":
                return "getpass"
    return None


def _ends_with_semicolon(code: str) -> bool:
    # IPython: a trailing `;` suppresses the display of the last value.
    stripped = "\n".join(
        line for line in code.rstrip().splitlines() if not line.lstrip().startswith("#")
    ).rstrip()
    return stripped.endswith(";")


def _top_level_bindings(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(stmt.name)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                if alias.name != "*":
                    names.add((alias.asname or alias.name).split(".")[0])
        else:
            for node in ast.walk(stmt):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    names.add(node.id)
                if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Lambda)):
                    break
    return names


def read_payload(output: Output | None) -> dict | None:
    """Our helper's answer in a `done` output, or None when the output is not ours."""
    if output is None or output.mimetype != "application/json":
        return None
    try:
        outer = json.loads(output.data)
    except ValueError:
        return None
    if not isinstance(outer, dict) or set(outer) != {MARKER}:
        return None
    inner = outer[MARKER]
    if isinstance(inner, str):
        # marimo may prefix strings inside JSON output with their mimetype.
        if inner.startswith("text/plain:"):
            inner = inner[len("text/plain:") :]
        try:
            inner = json.loads(inner)
        except ValueError:
            return None
    return inner if isinstance(inner, dict) else None


# -- completion and inspection, run in the live notebook kernel ------------------------

def completion_code(code: str, cursor_pos: int) -> str:
    before = code[:cursor_pos]
    line = before.count("\n") + 1
    column = len(before.rsplit("\n", 1)[-1])
    return _call(f"complete({code!r}, {line}, {column}, globals())")


def inspect_code(name: str, detail: int) -> str:
    return _call(f"inspect_name({name!r}, {bool(detail)}, globals())")


_NAME_AT = re.compile(r"[A-Za-z_][\w.]*$")
_NAME_AFTER = re.compile(r"^\w*")


def name_at(code: str, cursor_pos: int) -> str | None:
    """The dotted name under (or just before) the cursor, for inspect requests."""
    before = code[:cursor_pos]
    after = code[cursor_pos:]
    m = _NAME_AT.search(before)
    head = m.group(0) if m else ""
    tail = _NAME_AFTER.match(after).group(0)  # type: ignore[union-attr]
    name = (head + tail).strip(".")
    if not name:
        # Cursor just after `f(`: inspect the callee, as IPython does.
        m = re.search(r"([A-Za-z_][\w.]*)\s*\($", before)
        name = m.group(1) if m else ""
    return name if re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", name) else None
