"""Every use of marimo's code mode (`marimo._code_mode`) from the kernel: the lines we send, and reading answers.

Code mode is a private marimo API that only works inside the scratchpad. Its operations live in
the runtime package (inmarimo/codemode_ops.py), which checks that the running marimo has the
code-mode attributes an op needs (else the kernel says which marimo version it takes) and turns
code mode's refusals (multiply-defined names, cycles, syntax, unknown cell) into a structured
answer, so no marimo-internal frames reach the user. Here: one short line per op (`build`), run
with one scratchpad round trip (`ctx.run`), and the answer made into messages.

Code mode queues edits and applies them all-or-nothing when its `async with` block exits, so a
refused edit leaves the notebook unchanged.

When a cell that an op ran raises, marimo drops the scratchpad's value from `done`; ops whose
answer the kernel still needs (the id of a cell `%%cell` created) leave it in a small
in-process stash that `recover` fetches.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import scratchpad
from .errors import PairError, UnsupportedServer
from .outputs import ErrorInfo, with_cells

if TYPE_CHECKING:
    from .context import MagicContext

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
# The ops themselves run inside marimo: inmarimo/codemode_ops.py (and cells.py, capture.py, ui.py
# beside it), installed once per marimo kernel with the rest of the runtime (scratchpad.install_code).
# Each op is one short line that calls it; if marimo lost the runtime (it restarted), the line
# fails with scratchpad.runtime_missing and the kernel reinstalls and sends it again.

OPS = (
    "cells", "index", "put", "edit", "run", "run_all", "move", "delete", "packages",
    "ui", "ui_names", "ui_list", "recover",
)

# Run every cell once, as a browser does when it opens a notebook (marimo 0.21 says cell_id).
# Sent on its own, also before our runtime is in (the launcher, tests of old marimo releases).
RUN_ALL_CELLS = (
    "import marimo._code_mode as cm\n"
    "async with cm.get_context() as ctx:\n"
    "    for c in ctx.cells:\n"
    "        ctx.run_cell(getattr(c, 'id', None) or c.cell_id)\n"
)


def _package() -> str:
    return f"__import__('sys').modules[{scratchpad.RUNTIME_MODULE!r}]"


def build(op: str, args: dict[str, Any], nonce: str = "") -> str:
    """The scratchpad line for one op; its answer is the last expression (see scratchpad.read_payload)."""
    if op not in OPS:
        raise ValueError(f"unknown code-mode op {op!r}")
    return f"await {_package()}.codemode_ops.answer({op!r}, {json.dumps(args)!r}, {nonce!r})\n"


def widget_set_code(element_id: str, wire: Any, clicks: int = 0, nonce: str = "") -> str:
    """The scratchpad line that sets one element by id (inmarimo/ui.py's widget_set); its answer is the payload.

    With `nonce`, the answer is also kept marimo-side, for `widget_answer_code` to fetch when a
    cell the set reran raised (marimo then drops the scratchpad's value).
    """
    args = json.dumps({"id": element_id, "wire": wire, "clicks": clicks, "nonce": nonce})
    return f"await {_package()}.codemode_ops.widget_answer({args!r})\n"


def widget_answer_code(nonce: str) -> str:
    """The scratchpad line that fetches the answer a widget set kept under `nonce` (None if none)."""
    return f"{_package()}.codemode_ops.kept_answer({nonce!r})\n"


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
            raise PairError(
                f"{what}: marimo finished without an answer from code mode; check the notebook with %cells."
            )
        if scratchpad.runtime_missing(outcome.error.ename, outcome.error.evalue):
            # The kernel reinstalls the runtime and sends the line again; if it still finds none, say so.
            raise PairError(
                f"{what}: marimo's kernel lost this kernel's helpers (it restarted) and they could not be "
                "installed again; run the line once more, or restart this Jupyter kernel."
            )
        recovered, error = with_cell_lines(ctx, outcome.error, nonce)
        if recovered:
            remember_index(ctx, recovered)
        return Answer(recovered or {}, error)
    if "unsupported" in payload:
        raise unsupported(what, payload.get("unsupported") or [], payload.get("version"))
    if "error" in payload:
        remember_index(ctx, payload)
        raise refusal(
            payload["error"],
            payload.get("index") or [],
            mutation=op not in ("cells", "index", "ui_names", "ui_list", "recover"),
            code=args.get("code"),
        )
    remember_index(ctx, payload)
    return Answer(payload, outcome.error)


def with_cell_lines(ctx: MagicContext, error: ErrorInfo, nonce: str = "") -> tuple[dict[str, Any] | None, ErrorInfo]:
    """An error whose frames are in notebook cells: fetch those cells' code (one more round trip)
    and format the traceback with their lines and names. With `nonce`, also the answer an op
    stashed before a cell it ran raised."""
    from . import tracebacks

    excs = tracebacks.parse(error.raw) if error.raw else None
    ids = sorted({f.cell_id for e in excs or () for f in e.frames if f.cell_id and f.cell_id != tracebacks.SCRATCH})
    if not nonce and not ids:
        return None, error
    try:
        outcome = ctx.run(build("recover", {"nonce": nonce, "cells": ids}))
    except PairError:
        return None, error
    payload = outcome.payload or {}
    answer = payload.get("answer")
    sources = payload.get("sources") or {}
    names = {str(row[0]): row[1] for row in payload.get("index") or () if row}
    if excs and sources:
        error = with_cells(error, sources, names)
    return (answer if isinstance(answer, dict) else None), error


def label(cell: dict[str, Any]) -> str:
    return f"{cell['name']} ({cell['id']})" if cell.get("name") else str(cell["id"])


def stale_note(cells: Sequence[dict[str, Any]]) -> str | None:
    """For %cells: say so when cells have not run (their names are undefined until they do)."""
    stale = [c for c in cells if c.get("status") == "stale"]
    if not stale:
        return None
    if len(stale) == len(cells):
        head = "No cell of this notebook has run yet (opening a notebook does not run it)"
    else:
        head = f"{len(stale)} of {len(cells)} cells have not run since they were opened, created or edited"
    return (
        f"{head}: the names they define are undefined until they run. "
        "Run them with %cell run --all, or on the marimo page."
    )


def unrun_note(ctx: MagicContext, name: str, page: str = "") -> str | None:
    """Why `name` is undefined when a notebook cell defines it: the cell has not run, or failed.

    One more round trip, taken only after a NameError. None when no cell defines `name`.
    """
    cells = list(call(ctx, "cells", {"detail": False}, what="the NameError note").payload.get("cells") or [])
    definer = next((c for c in cells if name in (c.get("defs") or ())), None)
    if definer is None:
        return None
    where = f"on the marimo page ({page})" if page else "on the marimo page"
    if definer.get("status") == "stale":
        stale = [c for c in cells if c.get("status") == "stale"]
        if len(stale) > 1:
            return (
                f"Note: '{name}' is defined by cell {label(definer)}, which has not run yet: {len(stale)} of "
                f"{len(cells)} cells of this notebook have not run (opening a notebook does not run it). "
                f"Run them {where} with \"Run all\", or here with %cell run --all."
            )
        return (
            f"Note: '{name}' is defined by cell {label(definer)}, which has not run since it was created "
            f"or edited. Run it here with %cell run {definer['id']}, or {where}."
        )
    if definer.get("status") == "exception":
        return (
            f"Note: '{name}' is defined by cell {label(definer)}, whose last run raised an error, so it "
            f"defined nothing. See %cell show {definer['id']}; fix it with %%cell edit {definer['id']}."
        )
    if definer.get("status") in ("cancelled", "interrupted", "marimo-error", "disabled"):
        return (
            f"Note: '{name}' is defined by cell {label(definer)}, which did not run to the end "
            f"(status: {definer['status']}). See %cell show {definer['id']} and %graph {definer['id']}."
        )
    return None


def run_all(ctx: MagicContext) -> tuple[dict[str, Any], ErrorInfo | None]:
    """%cell run --all: run every stale cell (progress streams as it goes); the op's answer and the last error."""
    answer = call(ctx, "run_all", {}, what="%cell run --all", keep=True)
    return answer.payload, answer.error


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
    from packaging.version import Version

    running = f"this server runs marimo {version}" if version else "this server's marimo is older"
    if list(missing) == ["code mode"]:
        need, thing = CODE_MODE_SINCE, "marimo's code mode"
    else:
        need = max((SINCE.get(m, "0.25.2") for m in missing), key=Version)
        thing = "code mode's " + ", ".join(f"ctx.{m}" for m in missing)
    return UnsupportedServer(
        f"{what} needs {thing}, which arrived in marimo {need}; {running}. "
        f"Upgrade marimo in the notebook's environment (pip install -U 'marimo>={need}') and restart the server."
    )


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
    defined = scratchpad.defined_names(tree)
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


def effects_lines(what: str, payload: dict[str, Any]) -> list[str]:
    """What setting an element did (`_EFFECTS`' answer), in words: cells rerun, failing, stale."""

    def names(rows: Sequence[dict[str, Any]]) -> str:
        return ", ".join(label(r) for r in rows)

    reran, failed, stale = (list(payload.get(k) or ()) for k in ("reran", "failed", "stale"))
    if not (reran or failed or stale):
        return [f"{what}: no cell reads it, so nothing reran."]
    lines = []
    if reran:
        lines.append(f"reran {len(reran)} cell{'s' if len(reran) != 1 else ''}: {names(reran)}.")
    if failed:
        shown = ", ".join(f"{label(r)} [{r.get('status')}]" for r in failed)
        lines.append(f"Now failing: {shown}. See %cell show {failed[0]['id']}.")
    if stale:
        lines.append(f"Marked stale, not run (lazy mode): {names(stale)}. Run them with %cell run --all.")
    lines[0] = f"{what}: {lines[0][0].lower()}{lines[0][1:]}"
    return lines


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
