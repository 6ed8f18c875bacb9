"""Every use of marimo's code mode (`marimo._code_mode`): the code we send, and reading its answers.

Code mode is a private marimo API that only works inside the scratchpad, so each
operation here is Python *text*: one small op function plus a shared wrapper, run
with one scratchpad round trip (`ctx.run`). The wrapper

- checks that the running marimo has the code-mode attributes the op needs (else
  the kernel says which marimo version it takes);
- turns code mode's refusals (multiply-defined names, cycles, syntax, unknown
  cell) into a structured answer, so no marimo-internal frames reach the user;
- returns its answer as the last expression (see scratchpad.read_payload).

Code mode queues edits and applies them all-or-nothing when its `async with`
block exits, so a refused edit leaves the notebook unchanged.

When a cell that an op ran raises, marimo drops the scratchpad's value from
`done`; ops whose answer the kernel still needs (the id of a cell `%%cell`
created) leave it in a small in-process stash that `recover` fetches.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from .errors import PairError, UnsupportedServer
from .outputs import ErrorInfo

if TYPE_CHECKING:
    from .magics import MagicContext

# The first marimo release with each code-mode attribute we use (read from the released wheels).
CODE_MODE_SINCE = "0.21.1"
SINCE = {
    "cells": "0.21.1",
    "graph": "0.21.1",
    "globals": "0.21.1",
    "create_cell": "0.21.1",
    "edit_cell": "0.21.1",
    "delete_cell": "0.21.1",
    "move_cell": "0.21.1",
    "run_cell": "0.21.1",
    "set_ui_value": "0.21.1",
    "packages": "0.24.0",
}

INDEX_KEY = "codemode.index"  # ctx.state: (monotonic time, [[id, name], ...]) for completion
INDEX_TTL = 10.0


class CodeModeRefused(PairError):
    """marimo's code mode refused an operation; the notebook is unchanged."""

    ename = "CodeModeError"

    def __init__(self, message: str, ename: str | None = None) -> None:
        super().__init__(message)
        if ename:
            self.ename = ename


@dataclass(frozen=True)
class Answer:
    """What an op returned, and the error of a cell it ran (already streamed output aside)."""

    payload: dict[str, Any]
    error: ErrorInfo | None  # a cell the op ran raised: its traceback


# -- the code we send -------------------------------------------------------------------------

_WRAPPER = r'''
def _mpk_unnamed(name):
    return not name or name == "_"


def _mpk_cid(c):
    # NotebookCell.id; marimo 0.21's NotebookCellData called it cell_id.
    return c.id if hasattr(c, "id") else c.cell_id


def _mpk_ids(ctx):
    return [_mpk_cid(c) for c in ctx.cells]


def _mpk_resolve(ctx, target):
    ids = _mpk_ids(ctx)
    if target in ids:
        return target
    named = [_mpk_cid(c) for c in ctx.cells if c.name == target and not _mpk_unnamed(c.name)]
    if len(named) > 1:
        raise LookupError("%d cells are named %r (%s); use an id" % (len(named), target, ", ".join(named)))
    if named:
        return named[0]
    try:
        i = int(target)
    except ValueError:
        i = None
    if i is not None and -len(ids) <= i < len(ids):
        return ids[i]
    # Last: the one cell that defines a variable of that name (`%graph answer`).
    try:
        defining = sorted(ctx.graph.get_defining_cells(target))
    except Exception:
        defining = []
    if len(defining) == 1 and defining[0] in ids:
        return defining[0]
    raise LookupError(
        "No cell %r: give a cell id, a cell name, an index 0..%d, or a variable one cell defines. Run %%cells to list them."
        % (target, len(ids) - 1)
    )


def _mpk_cell_info(ctx, i, c, order=None):
    # `order` (id → position) asks for the cell's place in the graph too.
    import builtins
    g = ctx.graph
    cid = _mpk_cid(c)
    impl = g.cells.get(cid)
    defs = sorted(impl.defs) if impl is not None else []
    refs = sorted(
        r for r in (impl.refs if impl is not None else ())
        if r in g.definitions or not hasattr(builtins, r)
    )
    status = getattr(c, "status", None)
    status = getattr(status, "value", status)
    cfg = c.config
    info = {
        "index": i,
        "id": cid,
        "name": None if _mpk_unnamed(c.name) else c.name,
        "code": c.code or "",
        "status": None if status is None else str(status),
        "defs": defs,
        "refs": refs,
        "hide_code": bool(getattr(cfg, "hide_code", False)),
        "disabled": bool(getattr(cfg, "disabled", False)),
        "errors": [str(getattr(e, "msg", e)) for e in getattr(c, "errors", ())],
    }
    if order is not None:
        def ordered(ids):
            return sorted(ids, key=lambda x: order.get(x, len(order)))
        known = impl is not None
        info["parents"] = ordered(g.parents.get(cid, ())) if known else []
        info["children"] = ordered(g.children.get(cid, ())) if known else []
        info["ancestors"] = ordered(g.ancestors(cid)) if known else []
        info["descendants"] = ordered(g.descendants(cid)) if known else []
    return info


def _mpk_index(ctx):
    return [[_mpk_cid(c), None if _mpk_unnamed(c.name) else c.name] for c in ctx.cells]


async def _mpk_codemode(op, args, needs, nonce):
    import sys, types
    version = None
    try:
        import marimo
        version = getattr(marimo, "__version__", None)
        import marimo._code_mode as cm
        ctx = cm.get_context()
    except Exception as e:
        return {"unsupported": ["code mode"], "version": version, "detail": str(e)}
    missing = [m for m in needs if not hasattr(ctx, m)]
    if missing:
        return {"unsupported": missing, "version": version}
    try:
        out = await op(ctx, args)
    except SyntaxError as e:
        return {"error": {"kind": "SyntaxError", "message": str(e.msg), "lineno": e.lineno,
                          "text": e.text, "offset": e.offset}}
    except Exception as e:
        msg = str(e.args[0] if isinstance(e, KeyError) and e.args else e)
        err = {"kind": type(e).__name__, "message": msg, "target": args.get("_target")}
        if msg.startswith("Cycles detected"):
            # What each cell on the cycle defines and reads, so the message can name the variables.
            import re
            g = ctx.graph
            err["cells"] = {
                i: {"defs": sorted(g.cells[i].defs), "refs": sorted(g.cells[i].refs)}
                for i in set(re.findall(r"'([^']+)'", msg)) if i in g.cells
            }
        return {"error": err, "index": _mpk_index(ctx)}
    out["index"] = _mpk_index(ctx)
    out["version"] = version
    if nonce:
        stash = sys.modules.get("_marimo_pair_kernel_stash")
        if stash is None:
            stash = sys.modules["_marimo_pair_kernel_stash"] = types.ModuleType("_marimo_pair_kernel_stash")
            stash.answers = {}
        while len(stash.answers) >= 16:
            stash.answers.pop(next(iter(stash.answers)))
        stash.answers[nonce] = out
    return out
'''

_OPS: dict[str, str] = {
    # Read the notebook: every cell, optionally with its place in the graph.
    "cells": r'''
async def _mpk_op(ctx, a):
    cells = list(ctx.cells)
    order = {_mpk_cid(c): k for k, c in enumerate(cells)} if a["detail"] else None
    return {"cells": [_mpk_cell_info(ctx, i, c, order) for i, c in enumerate(cells)]}
''',
    "index": r'''
async def _mpk_op(ctx, a):
    return {}
''',
    # %%cell: replace the cell named N (or the one this Jupyter cell made), else create one.
    "put": r'''
async def _mpk_op(ctx, a):
    ids = _mpk_ids(ctx)
    target = None
    if a["name"]:
        target = next((_mpk_cid(c) for c in ctx.cells if c.name == a["name"]), None)
    if target is None and a["bound"] in ids:
        target = a["bound"]
    a["_target"] = target
    before = _mpk_resolve(ctx, a["before"]) if a["before"] else None
    after = _mpk_resolve(ctx, a["after"]) if a["after"] else None
    async with ctx:
        if target is not None:
            old_name = ctx.cells[target].name
            ctx.cells[target].code  # code mode refuses to overwrite code it has not read
            kw = {}
            if a["hide_code"]:
                kw["hide_code"] = True
            if a["name"] and a["name"] != old_name:
                kw["name"] = a["name"]
            ctx.edit_cell(target, a["code"], **kw)
            if (before or after) and target not in (before, after):
                ctx.move_cell(target, before=before, after=after)
            action = "edited"
        else:
            target = ctx.create_cell(a["code"], before=before, after=after,
                                     hide_code=a["hide_code"], name=a["name"] or None)
            action = "created"
        if a["run"]:
            ctx.run_cell(target)
    return {"action": action, "id": target, "ran": a["run"]}
''',
    "edit": r'''
async def _mpk_op(ctx, a):
    target = a["_target"] = _mpk_resolve(ctx, a["target"])
    async with ctx:
        ctx.cells[target].code  # code mode refuses to overwrite code it has not read
        ctx.edit_cell(target, a["code"])
        if a["run"]:
            ctx.run_cell(target)
    return {"action": "edited", "id": target, "ran": a["run"]}
''',
    "run": r'''
async def _mpk_op(ctx, a):
    target = _mpk_resolve(ctx, a["target"])
    async with ctx:
        ctx.run_cell(target)
    return {"action": "ran", "id": target, "ran": True}
''',
    "move": r'''
async def _mpk_op(ctx, a):
    target = _mpk_resolve(ctx, a["target"])
    before = _mpk_resolve(ctx, a["before"]) if a["before"] else None
    after = _mpk_resolve(ctx, a["after"]) if a["after"] else None
    if target in (before, after):
        raise ValueError("A cell cannot be moved relative to itself.")
    async with ctx:
        ctx.move_cell(target, before=before, after=after)
    return {"action": "moved", "id": target, "order": _mpk_ids(ctx)}
''',
    # The children of a deleted cell lose the names it defined; their descendants are affected too.
    "delete": r'''
async def _mpk_op(ctx, a):
    target = _mpk_resolve(ctx, a["target"])
    g = ctx.graph
    cells = list(ctx.cells)
    pos = {_mpk_cid(c): i for i, c in enumerate(cells)}
    names = {_mpk_cid(c): (None if _mpk_unnamed(c.name) else c.name) for c in cells}
    impl = g.cells.get(target)
    defs = set(impl.defs) if impl is not None else set()
    children = set(g.children.get(target, ())) if impl is not None else set()
    lose = [
        {"id": ch, "name": names.get(ch), "names": sorted(set(g.cells[ch].refs) & defs)}
        for ch in sorted(children, key=lambda x: pos.get(x, 0))
    ]
    rest = set(g.descendants(target)) - children if impl is not None else set()
    affected = [{"id": d, "name": names.get(d)} for d in sorted(rest, key=lambda x: pos.get(x, 0))]
    deleted = {"id": target, "name": names.get(target), "defs": sorted(defs), "index": pos.get(target)}
    async with ctx:
        ctx.delete_cell(target)
    return {"action": "deleted", "deleted": deleted, "lose_inputs": lose, "affected": affected}
''',
    "packages": r'''
async def _mpk_op(ctx, a):
    import importlib, importlib.metadata as md
    async with ctx:
        if a["add"]:
            ctx.packages.add(*a["specs"])
        else:
            ctx.packages.remove(*a["specs"])
    importlib.invalidate_caches()
    results = []
    for spec, name in zip(a["specs"], a["names"]):
        present = None
        if name:
            try:
                md.version(name)
                present = True
            except md.PackageNotFoundError:
                present = False
        ok = None if present is None else (present if a["add"] else not present)
        results.append({"package": spec, "name": name, "ok": ok})
    return {"results": results}
''',
    "ui": r'''
def _mpk_ui_lookup(ctx, dotted):
    head, *rest = dotted.split(".")
    g = ctx.globals
    if head not in g:
        raise LookupError("No variable %r in the notebook. Define the element in a cell first." % head)
    obj = g[head]
    for part in rest:
        obj = getattr(obj, part)
    try:
        from marimo._plugins.ui._core.ui_element import UIElement
        ok = isinstance(obj, UIElement)
    except ImportError:
        ok = hasattr(obj, "_id")
    if not ok:
        raise TypeError("%s is a %s, not a mo.ui element." % (dotted, type(obj).__name__))
    return obj


def _mpk_ui_wire(element, name, value):
    # set_ui_value takes the front end's form of the value (a dropdown sends ["red"], not "red"),
    # and a bad one fails only on marimo's stderr. Try the plain value, then it as a one-item
    # list. Containers (array, batch, form) update their children while converting: skip them.
    convert = getattr(element, "_convert_value", None)
    if convert is None or hasattr(element, "_elements"):
        return value
    try:
        convert(value)
        return value
    except Exception as e:
        first = e
    try:
        convert([value])
        return [value]
    except Exception:
        pass
    raise ValueError("%s does not accept %r (%s: %s)" % (name, value, type(first).__name__, first))


async def _mpk_op(ctx, a):
    element = _mpk_ui_lookup(ctx, a["name"])
    wire = _mpk_ui_wire(element, a["name"], a["value"])
    async with ctx:
        ctx.set_ui_value(element, wire)
    value = _mpk_ui_lookup(ctx, a["name"]).value
    try:
        shown = repr(value)
    except Exception:
        shown = "<%s>" % type(value).__name__
    return {"name": a["name"], "value": shown[:2000]}
''',
    "ui_names": r'''
async def _mpk_op(ctx, a):
    try:
        from marimo._plugins.ui._core.ui_element import UIElement
    except ImportError:
        return {"names": []}
    return {"names": sorted(n for n, v in ctx.globals.items() if isinstance(v, UIElement))}
''',
    "recover": r'''
async def _mpk_op(ctx, a):
    import sys
    stash = sys.modules.get("_marimo_pair_kernel_stash")
    found = stash.answers.pop(a["nonce"], None) if stash is not None else None
    return {"answer": found}
''',
}

# Code-mode attributes each op touches, checked before use.
_NEEDS: dict[str, tuple[str, ...]] = {
    "cells": ("cells", "graph"),
    "index": ("cells",),
    "put": ("cells", "create_cell", "edit_cell", "move_cell", "run_cell"),
    "edit": ("cells", "edit_cell", "run_cell"),
    "run": ("cells", "run_cell"),
    "move": ("cells", "move_cell"),
    "delete": ("cells", "graph", "delete_cell"),
    "packages": ("packages",),
    "ui": ("globals", "set_ui_value"),
    "ui_names": ("globals",),
    "recover": (),
}


# Run every cell once, as a browser does when it opens a notebook (marimo 0.21 says cell_id).
RUN_ALL_CELLS = (
    "import marimo._code_mode as cm\n"
    "async with cm.get_context() as ctx:\n"
    "    for c in ctx.cells:\n"
    "        ctx.run_cell(getattr(c, 'id', None) or c.cell_id)\n"
)


def build(op: str, args: dict[str, Any], nonce: str = "") -> str:
    """The scratchpad code for one op: wrapper, op function, and the answer as last expression."""
    call = (
        f"{{'marimo_pair_kernel': __import__('json').dumps(await _mpk_codemode("
        f"_mpk_op, __import__('json').loads({json.dumps(args)!r}), {list(_NEEDS[op])!r}, {nonce!r}))}}\n"
    )
    return _WRAPPER + _OPS[op] + "\n" + call


# -- running ops and reading answers ----------------------------------------------------------


def call(ctx: MagicContext, op: str, args: dict[str, Any], *, what: str, keep: bool = False) -> Answer:
    """Run one op in the scratchpad (its output streams to the client) and read its answer.

    `what` names the magic for messages. `keep` stashes the answer marimo-side so it
    survives a cell error (see module doc). Raises UnsupportedServer / CodeModeRefused.
    """
    nonce = uuid.uuid4().hex if keep else ""
    outcome = ctx.run(build(op, args, nonce))
    payload = outcome.payload
    if payload is None:
        if outcome.error is None:
            raise PairError(f"{what}: marimo finished without an answer from code mode; check the notebook with %cells.")
        recovered = recover(ctx, nonce) if keep else None
        if recovered:
            remember_index(ctx, recovered)
        return Answer(recovered or {}, outcome.error)
    if "unsupported" in payload:
        raise unsupported(what, payload.get("unsupported") or [], payload.get("version"))
    if "error" in payload:
        remember_index(ctx, payload)
        raise refusal(
            payload["error"],
            payload.get("index") or [],
            mutation=op not in ("cells", "index", "ui_names", "recover"),
            code=args.get("code"),
        )
    remember_index(ctx, payload)
    return Answer(payload, outcome.error)


def recover(ctx: MagicContext, nonce: str) -> dict[str, Any] | None:
    outcome = ctx.run(build("recover", {"nonce": nonce}))
    answer = (outcome.payload or {}).get("answer")
    return answer if isinstance(answer, dict) else None


def remember_index(ctx: MagicContext, payload: dict[str, Any]) -> None:
    index = payload.get("index")
    if isinstance(index, list):
        ctx.set_state(INDEX_KEY, (time.monotonic(), index))


def cell_words(ctx: MagicContext) -> list[str]:
    """Cell ids and names for completion: cached briefly, refreshed by every op's answer."""
    cached = ctx.state(INDEX_KEY)
    if not cached or time.monotonic() - cached[0] > INDEX_TTL:
        call(ctx, "index", {}, what="completion")
        cached = ctx.state(INDEX_KEY)
    words: list[str] = []
    for cid, name in (cached[1] if cached else []):
        words.append(str(cid))
        if name:
            words.append(str(name))
    return words


# -- messages ----------------------------------------------------------------------------------


def unsupported(what: str, missing: Sequence[str], version: str | None) -> UnsupportedServer:
    running = f"this server runs marimo {version}" if version else "this server's marimo is older"
    if list(missing) == ["code mode"]:
        need, thing = CODE_MODE_SINCE, "marimo's code mode"
    else:
        need = max((SINCE.get(m, "0.25.2") for m in missing), key=_version_key)
        thing = "code mode's " + ", ".join(f"ctx.{m}" for m in missing)
    return UnsupportedServer(
        f"{what} needs {thing}, which arrived in marimo {need}; {running}. "
        f"Upgrade marimo in the notebook's environment (pip install -U 'marimo>={need}') and restart the server."
    )


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


_SKIP_HINT = re.compile(r"\n*To skip validation.*$", re.S)
_MULTI = re.compile(r"'([^']+)' is already defined in cell ('[^']*'(?: \([^)]*\))?)")
_CYCLE_EDGE = re.compile(r"\('([^']+)', '([^']+)'\)")


def refusal(
    err: dict[str, Any],
    index: Sequence[Sequence[Any]],
    *,
    mutation: bool = True,
    code: str | None = None,
) -> CodeModeRefused:
    """Code mode's refusal as a message naming what to fix.

    `index` is the notebook's [[id, name], ...]; `code` the code we tried to save.
    """
    kind = str(err.get("kind") or "Error")
    message = _SKIP_HINT.sub("", str(err.get("message") or "")).strip()
    tail = " The notebook is unchanged." if mutation else ""
    if kind == "SyntaxError":
        where = f" (line {err['lineno']})" if err.get("lineno") else ""
        text = str(err.get("text") or "").rstrip("\n")
        detail = f"\n    {text.strip()}" if text.strip() else ""
        return CodeModeRefused(f"{message}{where}{detail}\nThe cell was not saved.{tail}", "SyntaxError")
    if message.startswith("Multiply-defined names"):
        found = _MULTI.findall(message)
        if found:
            parts = "; ".join(f"'{n}' is already defined in cell {c.replace(' (_)', '')}" for n, c in found)
        else:
            parts = message.split(":", 1)[-1].strip()
        return CodeModeRefused(
            f"Refused: {parts}. A name may be defined by only one cell: rename it here, or change "
            f"that cell (%%cell edit TARGET).{tail}",
            "MultipleDefinitionError",
        )
    if message.startswith("Cycles detected"):
        return CodeModeRefused(f"Refused: {_describe_cycle(message, err, index, code)}{tail}", "CycleError")
    if kind == "StaleCellError":
        return CodeModeRefused(f"{message}{tail}", "StaleCellError")
    if kind in ("LookupError", "KeyError"):
        return CodeModeRefused(f"{message}{tail}", "CellNotFoundError")
    return CodeModeRefused(f"{message}{tail}", kind if kind.endswith("Error") else "CodeModeError")


def _describe_cycle(message: str, err: dict[str, Any], index: Sequence[Sequence[Any]], code: str | None) -> str:
    """'a (Hbol) defines x, read by b (MJUe); ...' for the first cycle marimo reports."""
    names = {str(row[0]): row[1] for row in index if row}
    cells: dict[str, Any] = dict(err.get("cells") or {})
    edited = err.get("target")
    new_defs, new_refs = _names_in(code or "")

    def label(cid: str) -> str:
        if cid not in names:
            return "the new cell"
        return f"{names[cid]} ({cid})" if names[cid] else cid

    def defs(cid: str) -> set[str]:
        if cid == edited or cid not in names:
            return new_defs
        return set((cells.get(cid) or {}).get("defs") or ())

    def refs(cid: str) -> set[str]:
        if cid == edited or cid not in names:
            return new_refs
        return set((cells.get(cid) or {}).get("refs") or ())

    first = message.split("), (('", 1)[0]  # marimo lists a set of cycles; one is enough
    steps = []
    for a, b in _CYCLE_EDGE.findall(first):
        shared = sorted(defs(a) & refs(b))
        via = f" defines {', '.join(shared)}, read by " if shared else " feeds "
        steps.append(f"{label(a)}{via}{label(b)}")
    if not steps:
        return "the cells would form a cycle."
    return "the cells would form a cycle: " + "; ".join(steps) + ". Each reads a name another defines."


def _names_in(code: str) -> tuple[set[str], set[str]]:
    """Top-level names `code` defines, and the names it reads (roughly, as marimo counts them)."""
    import ast

    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return set(), set()
    defined: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(stmt.name)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            defined |= {(a.asname or a.name).split(".")[0] for a in stmt.names if a.name != "*"}
        else:
            defined |= {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return defined, read - defined


# -- small pure helpers for the magics ---------------------------------------------------------

_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def package_name(spec: str) -> str | None:
    """The distribution name in a pip requirement (`pandas>=2` → `pandas`), or None for paths/URLs."""
    s = spec.strip()
    if not s or "://" in s or s.startswith((".", "/", "~")) or s.startswith("git+"):
        if s.endswith(".whl"):
            return s.rsplit("/", 1)[-1].split("-", 1)[0]
        return None
    if s.endswith(".whl"):
        return s.rsplit("/", 1)[-1].split("-", 1)[0]
    if "/" in s or "\\" in s:
        return None
    m = _REQ_NAME.match(s)
    return m.group(1) if m else None


def parse_ui_value(text: str) -> Any:
    """`%ui set NAME VALUE`: JSON or a Python literal when it parses as one, else the text itself."""
    import ast

    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return text
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return text
    return value
