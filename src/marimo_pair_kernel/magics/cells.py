"""%cells, %cell show|run|delete|move, %%cell [edit], %graph: read and edit the notebook's cells.

Plain code keeps its names in this kernel only; cells put them in the notebook. Every edit
goes through marimo's code mode (see codemode.py), so marimo itself changes its document and writes the `.py` file.
TARGET is a cell id, a cell name, an index (as %cells numbers them), or a variable one cell defines.
"""

from __future__ import annotations

import argparse
from typing import Any

from .. import codemode, mermaid
from ..context import MagicContext
from ..errors import UsageError
from ..outputs import ErrorInfo, table_bundle
from . import MagicParser, magic, namespace

BINDINGS_KEY = "cells.bindings"  # ctx.state: Jupyter cell id → marimo cell id made by unnamed %%cell
SUBCOMMANDS = ("show", "run", "delete", "move", "edit")

_USAGE = """%cell show|run|delete TARGET
       %cell run --all
       %cell move TARGET (--before T | --after T)
       %%cell [--name N] [--before T | --after T] [--hide-code] [--no-run]   + code below
       %%cell edit TARGET [--no-run]                                        + code below"""

_DESCRIPTION = """Read and edit the notebook's cells. TARGET is a cell id, a cell name, an index, \
or a variable one cell defines.

  %cell show TARGET        the cell's code, status, defs/refs and neighbours
  %cell run TARGET         run it (and, as marimo does, its stale descendants)
  %cell run --all          run every cell that has not run yet (a notebook nobody ran,
                           or cells created or edited without running)
  %cell delete TARGET      delete it; says which cells lose their inputs
  %cell move TARGET --before T | --after T
  %%cell [options]         create a cell from the code below and run it; with --name N,
                           running it again replaces the code of the cell named N
  %%cell edit TARGET       replace that cell's code with the code below, then run it

A %%cell run from JupyterLab stays bound to the marimo cell it created, so
re-running the Jupyter cell updates that marimo cell instead of adding another.
New cells show their code in marimo's editor unless --hide-code is given.
After %%cell, %%cell edit and %cell run, the cell's output shows as it does on the
marimo page (its last value, or what it displayed)."""


def _targets(ctx: MagicContext) -> list[str]:
    return codemode.cell_words(ctx)


def _subcommands(ctx: MagicContext) -> list[str]:
    return list(SUBCOMMANDS)


def _setup_cell(p: MagicParser) -> None:
    p.usage = _USAGE.replace("%", "%%")  # argparse %-formats usage text
    p.add_argument("command", nargs="?", choices=SUBCOMMANDS, help="what to do (line form), or edit (cell form)")
    p.add_argument("target", nargs="?", help="a cell id, name or index")
    p.add_argument("--name", help="cell form: the cell's name; re-running replaces that cell's code")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--before", metavar="T", help="place the cell before cell T")
    where.add_argument("--after", metavar="T", help="place the cell after cell T")
    p.add_argument("--hide-code", action="store_true", help="cell form: collapse the code in marimo's editor")
    p.add_argument("--no-run", action="store_true", help="cell form: save the cell without running it")
    p.add_argument("--all", action="store_true", help="with run: run every cell that has not run yet")


@magic(
    "cell",
    "One cell: %cell show|run|delete|move TARGET; %cell run --all runs what has not run; "
    "%%cell creates (or edits) a cell and runs it.",
    line=True,
    cell=True,
    description=_DESCRIPTION,
    setup=_setup_cell,
    completers={"command": _subcommands, "target": _targets},
)
def cell_magic(ctx: MagicContext, args: argparse.Namespace, body: str | None) -> Any:
    if body is None:
        return _line_form(ctx, args)
    if args.command not in (None, "edit"):
        raise UsageError(
            f"%%cell {args.command} takes no code below it; write %cell {args.command} TARGET.\n\n{_usage()}"
        )
    if args.all:
        raise UsageError(f"--all belongs to the line form: %cell run --all.\n\n{_usage()}")
    if not body.strip():
        raise UsageError(f"%%cell needs the cell's code on the lines below it.\n\n{_usage()}")
    if args.command == "edit":
        return _edit(ctx, args, body)
    if args.target is not None:
        raise UsageError(
            f"unexpected argument {args.target!r}: %%cell takes only options (or `edit TARGET`).\n\n{_usage()}"
        )
    return _put(ctx, args, body)


def _usage() -> str:
    return "usage: " + _USAGE


def _line_form(ctx: MagicContext, args: argparse.Namespace) -> Any:
    cmd = args.command
    if cmd is None:
        raise UsageError(
            f"%cell needs a subcommand: show, run, delete or move (or use %%cell with code below).\n\n{_usage()}"
        )
    if cmd == "edit":
        raise UsageError(
            "%%cell edit is a cell magic: put `%%cell edit TARGET` on the first line and the new code below."
            f"\n\n{_usage()}"
        )
    if args.all:
        others = (args.target, args.name, args.hide_code, args.no_run, args.before, args.after)
        if cmd != "run" or any(o not in (None, False) for o in others):
            raise UsageError(f"--all goes with run alone: %cell run --all.\n\n{_usage()}")
        return _run_all(ctx)
    if args.target is None:
        raise UsageError(f"%cell {cmd} needs a TARGET (a cell id, name or index).\n\n{_usage()}")
    extra = [o for o, v in (("--name", args.name), ("--hide-code", args.hide_code), ("--no-run", args.no_run)) if v]
    if cmd != "move" and (args.before or args.after):
        extra.append("--before" if args.before else "--after")
    if extra:
        raise UsageError(f"%cell {cmd} does not take {', '.join(extra)}.\n\n{_usage()}")
    if cmd == "show":
        return _show(ctx, args.target)
    if cmd == "run":
        return _shown(ctx, codemode.call(ctx, "run", {"target": args.target}, what="%cell run"))
    if cmd == "delete":
        return _delete(ctx, args.target)
    if not (args.before or args.after):
        raise UsageError(f"%cell move needs --before T or --after T.\n\n{_usage()}")
    answer = codemode.call(
        ctx, "move", {"target": args.target, "before": args.before, "after": args.after}, what="%cell move"
    )
    return answer.error


# -- %%cell ----------------------------------------------------------------------------------


def _put(ctx: MagicContext, args: argparse.Namespace, body: str) -> ErrorInfo | None:
    bindings: dict[str, str] = dict(ctx.state(BINDINGS_KEY) or {})
    jupyter_cell = ctx.cell_id
    request = {
        "code": body.rstrip("\n"),
        "name": args.name,
        "bound": bindings.get(jupyter_cell) if jupyter_cell else None,
        "before": args.before,
        "after": args.after,
        "hide_code": bool(args.hide_code),
        "run": not args.no_run,
    }
    try:
        answer = _cell_op(ctx, "put", request, "%%cell", keep=bool(jupyter_cell))
    except codemode.CodeModeRefused as e:
        if e.ename == "MultipleDefinitionError" and not args.name and not request["bound"]:
            # Most often the same %%cell run twice from a client that sends no cell id.
            raise codemode.CodeModeRefused(
                f"{e} If this %%cell was run before, give it a name so re-running replaces "
                "that cell: %%cell --name NAME.",
                e.ename,
            ) from None
        raise
    made = answer.payload.get("id")
    if jupyter_cell and made:
        bindings[jupyter_cell] = str(made)
        ctx.set_state(BINDINGS_KEY, bindings)
    return _shown(ctx, answer)


def _edit(ctx: MagicContext, args: argparse.Namespace, body: str) -> ErrorInfo | None:
    if args.target is None:
        raise UsageError(f"%%cell edit needs a TARGET (a cell id, name or index).\n\n{_usage()}")
    given = (("--name", args.name), ("--hide-code", args.hide_code), ("--before", args.before), ("--after", args.after))
    extra = [o for o, v in given if v]
    if extra:
        raise UsageError(f"%%cell edit does not take {', '.join(extra)}.\n\n{_usage()}")
    request = {"target": args.target, "code": body.rstrip("\n"), "run": not args.no_run}
    return _shown(ctx, _cell_op(ctx, "edit", request, "%%cell edit"))


def _cell_op(ctx: MagicContext, op: str, request: dict[str, Any], what: str, keep: bool = False) -> codemode.Answer:
    """One request does the %%cell: the op also checks the cell's names against this kernel's own.

    With this kernel's names in play the answer is kept marimo-side (`keep`), so that what the
    check found still arrives when the cell raised (marimo then drops the answer).
    """
    pair = namespace.cell_pair(ctx)
    answer = codemode.call(ctx, op, {**request, "pair": pair}, what=what, keep=keep or pair is not None)
    namespace.cell_checked(ctx, answer.payload)  # refuses a cell that reads names only this kernel has
    return answer


def _shown(ctx: MagicContext, answer: codemode.Answer) -> ErrorInfo | None:
    """Show what the cell shows on the marimo page (after code mode's status line); its error, if any."""
    for out in answer.payload.get("outputs") or ():
        if isinstance(out, dict) and isinstance(out.get("data"), dict) and out["data"]:
            ctx.display(out["data"], out.get("metadata") or {})
    return answer.error


def _run_all(ctx: MagicContext) -> ErrorInfo | None:
    payload, error = codemode.run_all(ctx)
    stale, ran, failed = (list(payload.get(k) or ()) for k in ("stale", "ran", "failed"))
    if not payload:
        pass  # a cell raised and took the answer with it: the error says what happened
    elif not stale:
        ctx.stream("stdout", "Nothing to run: every cell has run since it was last edited.\n")
    else:
        text = f"ran {len(ran)} cell{'s' if len(ran) != 1 else ''}"
        if failed:
            text += f"; {len(failed)} raised an error ({', '.join(failed)}): see %cell show {failed[0]}"
        left = [c for c in stale if c not in ran]
        if left:
            text += f"; {len(left)} did not run ({', '.join(left)})"
        ctx.stream("stdout", text + ".\n")
    return error


# -- listings ----------------------------------------------------------------------------------


def _label(cid: str, names: dict[str, str | None]) -> str:
    name = names.get(cid)
    return f"{name} ({cid})" if name else cid


def _first_line(code: str) -> str:
    lines = [ln for ln in code.splitlines() if ln.strip()]
    if not lines:
        return ""
    return lines[0] + (" …" if len(lines) > 1 else "")


def _where(ctx: MagicContext) -> dict[str, Any]:
    target = getattr(ctx.targeter, "target", None)
    if target is None:
        return {}
    return {"url": target.url, "notebook": target.path}


def _read(ctx: MagicContext, what: str, detail: bool) -> list[dict[str, Any]]:
    return list(codemode.call(ctx, "cells", {"detail": detail}, what=what).payload.get("cells") or [])


def _read_one(ctx: MagicContext, what: str, target: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The listing with detail, and the cell `target` names (resolved inside marimo: inmarimo/cells.py)."""
    payload = codemode.call(ctx, "cells", {"detail": True, "target": target}, what=what).payload
    cells = list(payload.get("cells") or [])
    return cells, next(c for c in cells if c["id"] == payload.get("target"))


@magic("cells", "List the notebook's cells: index, id, name, status, defs/refs, first line of code.")
def cells_magic(ctx: MagicContext, args: argparse.Namespace, body: str | None) -> None:
    cells = _read(ctx, "%cells", detail=False)
    rows = [
        (
            c["index"],
            c["id"],
            c["name"] or "",
            c["status"] or "",
            ", ".join(c["defs"]),
            ", ".join(c["refs"]),
            _first_line(c["code"]),
        )
        for c in cells
    ]
    hint = "Use %cell show TARGET for one cell's code; TARGET is the #, id, name or a variable it defines."
    notes = ["(no cells)"] if not cells else [hint]
    unrun = codemode.stale_note(cells)
    if unrun:
        notes.insert(0, unrun)
    failed = _failed_note(cells)
    if failed:
        notes.insert(0, failed)
    ctx.result(
        table_bundle(
            ["#", "id", "name", "status", "defs", "refs", "code"],
            rows,
            {**_where(ctx), "cells": cells},
            title=f"{len(cells)} cell{'s' if len(cells) != 1 else ''}",
            notes=notes,
            html_cells=_status_badges(cells, column=3),
        )
    )


# Badge colours by state (mermaid.STATE_CLASS); the status word is always written in the badge.
_BADGE = {
    "error": "background:#c62828;color:#fff",
    "stale": "background:#f6c343;color:#222",
    "running": "background:#1d4ed8;color:#fff",
}


def _status_badges(cells: list[dict[str, Any]], column: int) -> dict[tuple[int, int], str]:
    """%cells' HTML: errored, stale and running cells' status as a coloured badge with the word."""
    import html

    out = {}
    for row, c in enumerate(cells):
        state = mermaid.STATE_CLASS.get(str(c.get("status")))
        if state:
            mark = "&#9888; " if state == "error" else ""
            out[row, column] = (
                f'<span class="mpk-status mpk-{state}" style="{_BADGE[state]};padding:1px 6px;'
                f'border-radius:3px;font-weight:600;white-space:nowrap">{mark}{html.escape(c["status"])}</span>'
            )
    return out


def _failed_note(cells: list[dict[str, Any]]) -> str | None:
    """For %cells: the cells whose last run raised or that marimo would not run."""
    failed = [c for c in cells if mermaid.STATE_CLASS.get(str(c.get("status"))) == "error"]
    if not failed:
        return None
    listed = ", ".join(f"{codemode.label(c)} [{c['status']}]" for c in failed[:5])
    more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
    return f"Not run to the end: {listed}{more}. See %cell show {failed[0]['id']}."


def _show(ctx: MagicContext, target: str) -> None:
    cells, c = _read_one(ctx, "%cell show", target)
    names = {x["id"]: x["name"] for x in cells}

    def ids(key: str) -> str:
        return ", ".join(_label(i, names) for i in c.get(key, []))

    rows = [
        ("id", c["id"]),
        ("name", c["name"] or ""),
        ("index", c["index"]),
        ("status", c["status"] or ""),
        ("defs", ", ".join(c["defs"])),
        ("refs", ", ".join(c["refs"])),
        ("parents", ids("parents")),
        ("children", ids("children")),
        ("hide_code", c["hide_code"]),
        ("errors", "; ".join(c["errors"])),
    ]
    bundle = table_bundle(["", ""], rows, {**_where(ctx), "cell": c}, title=f"cell {_label(c['id'], names)}")
    import html

    bundle["text/plain"] += "\n\n" + c["code"]
    bundle["text/html"] += f"<pre><code>{html.escape(c['code'])}</code></pre>"
    ctx.result(bundle)


def _delete(ctx: MagicContext, target: str) -> ErrorInfo | None:
    answer = codemode.call(ctx, "delete", {"target": target}, what="%cell delete")
    p = answer.payload
    if not p:  # a cell marimo re-ran raised, and took the answer with it
        return answer.error
    deleted = p.get("deleted") or {}
    lose = p.get("lose_inputs") or []
    affected = p.get("affected") or []
    label = f"{deleted.get('name')} ({deleted.get('id')})" if deleted.get("name") else str(deleted.get("id"))
    lines = [f"Deleted cell {label}."]
    if lose:
        lines.append("These cells lose their inputs:")
        for x in lose:
            who = f"{x['name']} ({x['id']})" if x.get("name") else x["id"]
            lines.append(f"  {who}: {', '.join(x['names'])} no longer defined")
    else:
        lines.append("No cell read what it defined.")
    if affected:
        shown = ", ".join(f"{x['name']} ({x['id']})" if x.get("name") else x["id"] for x in affected)
        lines.append(f"Further descendants, affected through them: {shown}")
    data = {"deleted": deleted, "lose_inputs": lose, "affected": affected}
    ctx.result(table_bundle([], [], data, notes=lines))
    return answer.error


_GRAPH_DESCRIPTION = """The dataflow graph: each cell's status, defs, refs, ancestors and descendants, as a table.

Front ends that draw mermaid (JupyterLab 4.1+) also show it as a diagram above the table: a box
per cell (name, id, what it defines), an arrow per name one cell reads from another; cells that
raised or that marimo would not run are red, stale ones yellow, running ones blue, each with the
word. %graph TARGET outlines TARGET and its ancestors and descendants. Above 60 cells the whole
notebook is not drawn: %graph TARGET draws that cell's neighbourhood. Names defined by more than
one cell, and cycles, are named under the table."""


def _setup_graph(p: MagicParser) -> None:
    p.add_argument("target", nargs="?", help="one cell (id, name or index): its ancestors and descendants")


@magic(
    "graph",
    "The dataflow graph: each cell's defs, refs, ancestors and descendants (or one cell's), "
    "drawn as a diagram where the front end draws mermaid (JupyterLab 4.1+).",
    description=_GRAPH_DESCRIPTION,
    setup=_setup_graph,
    completers={"target": _targets},
)
def graph_magic(ctx: MagicContext, args: argparse.Namespace, body: str | None) -> None:
    if args.target is None:
        cells = _read(ctx, "%graph", detail=True)
    else:
        cells, c = _read_one(ctx, "%graph", args.target)
    names = {c["id"]: c["name"] for c in cells}
    columns = ["#", "id", "name", "status", "defs", "refs", "ancestors", "descendants"]

    def row(c: dict[str, Any], *lead: Any) -> tuple[Any, ...]:
        return (
            *lead,
            c["index"],
            c["id"],
            c["name"] or "",
            c["status"] or "",
            ", ".join(c["defs"]),
            ", ".join(c["refs"]),
            ", ".join(_label(i, names) for i in c["ancestors"]),
            ", ".join(_label(i, names) for i in c["descendants"]),
        )

    problems = mermaid.problems(cells)
    if args.target is None:
        diagram = mermaid.flowchart(cells)
        rows = [row(c) for c in cells]
        data = {**_where(ctx), "cells": cells, "problems": problems}
        notes = [*problems, *diagram.notes] if cells else ["(no cells)"]
        _draw(ctx, diagram)
        ctx.result(
            table_bundle(
                columns, rows, data, title="dataflow graph", notes=notes,
                html_cells=_status_badges(cells, column=3), extra=_diagram_mime(diagram),
            )
        )
        return
    diagram = mermaid.flowchart(cells, target=c)
    by_id = {x["id"]: x for x in cells}
    related = [("ancestor", by_id[i]) for i in c["ancestors"] if i in by_id]
    related.append(("this cell", c))
    related += [("descendant", by_id[i]) for i in c["descendants"] if i in by_id]
    rows = [row(x, rel) for rel, x in related]
    data = {
        **_where(ctx),
        "cell": c,
        "ancestors": [by_id[i] for i in c["ancestors"] if i in by_id],
        "descendants": [by_id[i] for i in c["descendants"] if i in by_id],
        "problems": problems,
    }
    _draw(ctx, diagram)
    ctx.result(
        table_bundle(
            ["relation", *columns], rows, data, title=f"dataflow around {_label(c['id'], names)}",
            notes=[*problems, *diagram.notes],
            html_cells=_status_badges([x for _, x in related], column=4), extra=_diagram_mime(diagram),
        )
    )


def _diagram_mime(diagram: mermaid.Diagram) -> dict[str, str]:
    return {mermaid.MIMETYPE: diagram.text} if diagram.text else {}


def _draw(ctx: MagicContext, diagram: mermaid.Diagram) -> None:
    """The diagram on its own, before the listing: JupyterLab ranks text/html (50) above
    text/vnd.mermaid (61), so in the listing's bundle the table is what it shows. Terminals
    print nothing for it (no text/plain); the listing's table follows."""
    if diagram.text:
        ctx.display({mermaid.MIMETYPE: diagram.text})
