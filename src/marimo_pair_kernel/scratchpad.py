"""The code we send into marimo's scratchpad besides the user's own, and how we read its answers.

marimo's `done` event carries one rendered form of the last value (a tuple arrives
as a JSON list), so IPython's `text/plain` has to be computed inside the marimo
kernel. We do that by rewriting the user's last expression into an assignment and
appending a small helper *after* the user's code: line numbers in tracebacks stay
the user's own. The helper returns a dict that marimo renders as
`application/json`; the marker key tells it apart from a user's value.

The helper functions live in one small module that the first request installs in
the marimo kernel's `sys.modules` (`RUNTIME`); later requests send only a short
tail that calls it, so marimo parses and analyses a few lines, not the helpers,
on every execute. The tail reinstalls the module when the marimo kernel restarted.
Names in the tail start with `_`, so marimo keeps them private to the scratch cell.

Code mode (creating and editing cells) is elsewhere: see `codemode.py`.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .client import Output

MARKER = "marimo_pair_kernel"

# Helpers that run inside the marimo kernel, installed once as a module (see `_call`).
RUNTIME_MODULE = "_marimo_pair_kernel_rt_2"  # bump when RUNTIME changes
RUNTIME = r'''
INPUT_REFUSED = (
    "input() cannot be answered here: this code runs in marimo's scratchpad for a Jupyter "
    "client (marimo-pair-kernel), and marimo would wait for a browser prompt that the client "
    "never sees. Put the value in the code instead, or use a mo.ui.text element in a %%cell."
)


def guard_input(ns):
    """Make input() in scratchpad code fail at once instead of waiting for a browser forever.

    marimo gives the notebook's namespace (`__main__`, which each scratchpad run copies) its
    own `input`; cells (the person's own runs) keep it, only code running as the scratch
    cell gets the error.
    """
    current = ns.get("input")
    if current is None or getattr(current, "_mpk_guard", False):
        return
    def input(prompt=""):
        try:
            from marimo._runtime.context import get_context
            in_scratch = get_context().execution_context.cell_id == "__scratch__"
        except Exception:
            in_scratch = False
        if in_scratch:
            raise RuntimeError(INPUT_REFUSED)
        return current(prompt)
    input._mpk_guard = True
    ns["input"] = input


def installed():
    return {"marimo_pair_kernel": "{}"}


def show(value):
    import json as _j
    if value is None:
        return None
    try:
        from IPython.lib.pretty import pretty as _p
        text = _p(value)
    except Exception:
        try:
            text = repr(value)
        except Exception as e:
            text = "<repr failed: %s>" % type(e).__name__
    bundle = {"text/plain": text}
    try:
        from marimo._output.formatting import try_format
        f = try_format(value)
        mt, data = str(f.mimetype), f.data
        if mt == "application/vnd.marimo+mimebundle":
            extra = _j.loads(data) if isinstance(data, str) else dict(data)
            for k, v in extra.items():
                if k != "text/plain" and isinstance(v, str):
                    bundle[k] = v
        elif mt != "text/plain" and isinstance(data, str) and data:
            bundle[mt] = data
    except Exception:
        pass
    return {"marimo_pair_kernel": _j.dumps({"value": bundle})}

def complete(code, line, column, ns):
    import json as _j
    matches, start_back = [], 0
    try:
        import jedi
        comps = jedi.Interpreter(code, [ns]).complete(line, column)
        if comps:
            start_back = len(comps[0].name) - len(comps[0].complete)
        matches = [c.name for c in comps if len(c.name) - len(c.complete) == start_back][:500]
    except Exception:
        import re, rlcompleter
        word = re.search(r"[\w.]*$", code.splitlines()[line - 1][:column] if code else "").group(0)
        comp = rlcompleter.Completer(ns)
        i, seen = 0, []
        while i < 500:
            m = comp.complete(word, i)
            if m is None:
                break
            seen.append(m.rstrip("("))
            i += 1
        prefix = word.rsplit(".", 1)[0] + "." if "." in word else ""
        matches = [m[len(prefix):] for m in seen]
        start_back = len(word) - len(prefix)
    return {"marimo_pair_kernel": _j.dumps({"matches": matches, "start_back": start_back})}

def inspect_name(name, detail, ns):
    import inspect as _i, json as _j
    obj, found = None, False
    try:
        parts = name.split(".")
        import builtins
        obj = ns[parts[0]] if parts[0] in ns else getattr(builtins, parts[0])
        for p in parts[1:]:
            obj = getattr(obj, p)
        found = True
    except Exception:
        pass
    if not found:
        return {"marimo_pair_kernel": _j.dumps({"found": False})}
    out = []
    try:
        out.append("Signature: %s%s" % (name, _i.signature(obj)))
    except Exception:
        pass
    out.append("Type:      %s" % type(obj).__name__)
    if not callable(obj) or isinstance(obj, (int, float, str, bytes, list, dict, tuple, set)):
        r = repr(obj)
        out.append("String form: %s" % (r if len(r) < 2000 else r[:2000] + "..."))
    src = None
    if detail:
        try:
            src = _i.getsource(obj)
        except Exception:
            src = None
    if src:
        out.append("Source:\n%s" % src)
    else:
        doc = _i.getdoc(obj)
        out.append("Docstring: %s" % (doc if doc else "<no docstring>"))
    try:
        f = _i.getsourcefile(obj) or _i.getfile(obj)
        out.append("File:      %s" % f)
    except Exception:
        pass
    return {"marimo_pair_kernel": _j.dumps({"found": True, "text": "\n".join(out)})}
'''


def _call(expression: str) -> str:
    """Scratchpad lines that make sure the runtime module exists, then evaluate `_mpk_rt.<expression>`."""
    return (
        f"_mpk_rt = __import__('sys').modules.get({RUNTIME_MODULE!r})\n"
        "if _mpk_rt is None:\n"
        f"    _mpk_rt = __import__('types').ModuleType({RUNTIME_MODULE!r})\n"
        f"    exec({RUNTIME!r}, _mpk_rt.__dict__)\n"
        f"    __import__('sys').modules[{RUNTIME_MODULE!r}] = _mpk_rt\n"
        "    _mpk_rt.guard_input(__import__('sys').modules['__main__'].__dict__)\n"
        f"_mpk_rt.{expression}\n"
    )


def install_code() -> str:
    """Install the runtime (and the input() guard) before the first user code runs."""
    return _call("installed()")


@dataclass(frozen=True)
class Prepared:
    """User code made ready for the scratchpad."""

    code: str
    has_value: bool  # the last statement is an expression whose value we show
    bound_names: frozenset[str]  # top-level names the code binds (they vanish after)
    asks_input: str | None = None  # "input"/"getpass" when the code calls one directly


def prepare(code: str) -> Prepared:
    """Rewrite `code` so the scratchpad returns IPython's display of the last expression."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        # Let marimo report it: its Python may accept syntax ours does not.
        return Prepared(code, False, frozenset())
    bound = frozenset(_top_level_bindings(tree))
    asks = _input_call(tree)
    if not tree.body or not isinstance(tree.body[-1], ast.Expr) or _ends_with_semicolon(code):
        return Prepared(code, False, bound, asks)
    last = tree.body[-1]
    lines = code.splitlines(keepends=True)
    # ast offsets are UTF-8 byte offsets: edit the affected lines as bytes.
    start_l, start_c = last.lineno - 1, last.col_offset
    end_l, end_c = (last.end_lineno or last.lineno) - 1, last.end_col_offset or 0
    end_b = lines[end_l].encode()
    lines[end_l] = (end_b[:end_c] + b")" + end_b[end_c:]).decode()
    start_b = lines[start_l].encode()
    lines[start_l] = (start_b[:start_c] + _PREFIX.encode() + start_b[start_c:]).decode()
    body = "".join(lines)
    if not body.endswith("\n"):
        body += "\n"
    return Prepared(body + _call("show(_mpk_value)"), True, bound, asks)


_PREFIX = "_mpk_value = ("


def restore_traceback(text: str) -> str:
    """Show the user's own line in a traceback, not our `_mpk_value = (...)` rewrite of it."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        col = line.find(_PREFIX)
        if col < 0:
            continue
        fixed = line[:col] + line[col + len(_PREFIX) :]
        lines[i] = fixed[:-1] if fixed.endswith(")") else fixed
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if nxt.strip() and set(nxt.strip()) <= set("^~") and nxt[col : col + len(_PREFIX)].strip() == "":
            lines[i + 1] = nxt[:col] + nxt[col + len(_PREFIX) :]
    return "\n".join(lines)


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
