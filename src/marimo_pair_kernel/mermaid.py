"""The dataflow graph as a mermaid flowchart (`text/vnd.mermaid`), from %graph's cell listing.

Pure: a list of cells (the `cells` op's dicts: id, name, code, status, defs, refs, and for
%graph TARGET ancestors/descendants) in, mermaid text and notes out. JupyterLab 4.1+ draws
`text/vnd.mermaid` with the mermaid it bundles.

What can break a diagram is text: node ids here are ours (`c0`, `c1`, … by notebook index),
and every piece of a cell's text sits inside a double-quoted label with everything outside a
small safe set written as a mermaid entity (`#34;`), which mermaid decodes when it draws.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MIMETYPE = "text/vnd.mermaid"
MAX_NODES = 60  # above this a whole-notebook drawing is unreadable: draw one cell's neighbourhood
MAX_LABEL = 40  # characters of one name, id or code line in a label
MAX_DEFS = 4  # defs listed in a label (then "+N")

# marimo's status → the node's class (and %cells' badge colour); the status itself is the word
# shown beside the colour. Statuses not listed (idle, disabled, None) are not marked.
STATE_CLASS = {
    "exception": "error",
    "marimo-error": "error",
    "cancelled": "error",
    "interrupted": "error",
    "stale": "stale",
    "running": "running",
    "queued": "running",
}

# Colours readable on light and dark themes (fill, stroke, text); the word is always in the label too.
_CLASS_DEFS = {
    "error": "fill:#fde2e1,stroke:#c62828,stroke-width:2px,color:#5f1111",
    "stale": "fill:#fff4cc,stroke:#b7791f,stroke-width:2px,stroke-dasharray:5 3,color:#4a3500",
    "running": "fill:#dbeafe,stroke:#1d4ed8,stroke-width:2px,color:#0b2a66",
    "missing": "fill:#f3f3f3,stroke:#888,stroke-dasharray:3 3,color:#555",
    "far": "fill:#f7f7f7,stroke:#c8c8c8,color:#9a9a9a",
    "near": "stroke:#6d28d9,stroke-width:2.5px",
    "target": "stroke:#6d28d9,stroke-width:4px",
}

# Characters written as themselves inside a quoted label; everything else (quotes, brackets,
# pipes, `<`, `>`, `#`, `;`, `&`, backticks, `%` (mermaid reads `%%{…}%%` anywhere as a directive),
# control and format characters…) becomes `#N;`.
_SAFE_PUNCT = set(" _.,:=+-*/()!?'")


def escape(text: str, limit: int = MAX_LABEL) -> str:
    """`text` as the inside of a double-quoted mermaid label: one line, at most `limit`
    characters (cut with …), letters and digits of any script kept, the rest as entities."""
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    out = []
    for ch in flat:
        if (ch.isalnum() and ch.isprintable()) or ch in _SAFE_PUNCT:
            out.append(ch)
        else:
            out.append(f"#{ord(ch)};")
    # "-->" or "---" stays inside the quotes, but a run of dashes is written as entities anyway:
    # some mermaid versions read arrows before they read strings.
    return "".join(out).replace("--", "-#45;")


def unescape(label: str) -> str:
    """What mermaid shows for an escaped label (for tests): `#N;` → the character N."""
    import re

    return re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), label)


@dataclass(frozen=True)
class Diagram:
    """A flowchart (None when there is nothing readable to draw), and what to tell the reader."""

    text: str | None
    drawn: tuple[str, ...] = ()  # cell ids drawn, in notebook order
    notes: tuple[str, ...] = field(default=())


def _label(c: Mapping[str, Any]) -> str:
    return f"{c['name']} ({c['id']})" if c.get("name") else str(c["id"])


def _first_code_line(code: str) -> str:
    return next((ln.strip() for ln in (code or "").splitlines() if ln.strip()), "")


def node_label(c: Mapping[str, Any]) -> str:
    """Name (or id), what the cell defines (or its first code line), and its state word."""
    lines = [escape(c["name"]) + " #183; " + escape(str(c["id"])) if c.get("name") else escape(str(c["id"]))]
    defs = list(c.get("defs") or ())
    if defs:
        shown = ", ".join(escape(d, 24) for d in defs[:MAX_DEFS])
        more = f" +{len(defs) - MAX_DEFS}" if len(defs) > MAX_DEFS else ""
        lines.append(f"defs: {shown}{more}")
    else:
        code = _first_code_line(str(c.get("code") or ""))
        if code:
            lines.append(escape(code, 30))
    status = str(c.get("status"))
    state = STATE_CLASS.get(status)
    if state:
        lines.append(f"#9888; {escape(status)}" if state == "error" else escape(status))
    return "<br/>".join(lines)


def problems(cells: Sequence[Mapping[str, Any]]) -> list[str]:
    """What marimo refuses to run, named: names defined by more than one cell, and cycles."""
    out = []
    definers = _definers(cells)
    by_id = {c["id"]: c for c in cells}
    for name, ids in sorted(definers.items()):
        if len(ids) > 1:
            out.append(
                f"'{name}' is defined by {len(ids)} cells ({', '.join(_label(by_id[i]) for i in ids)}): "
                "marimo runs none of them until only one does."
            )
    for cycle in _cycles(cells, definers):
        path = " → ".join(_label(by_id[i]) for i in [*cycle, cycle[0]])
        out.append(f"cycle: {path}: each reads a name another defines, so marimo runs none of them.")
    return out


def _definers(cells: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    definers: dict[str, list[str]] = {}
    for c in cells:
        for d in c.get("defs") or ():
            definers.setdefault(d, []).append(c["id"])
    return definers


def _edges(cells: Sequence[Mapping[str, Any]], definers: Mapping[str, list[str]]) -> dict[tuple[str, str], list[str]]:
    """(defining cell, reading cell) → the names it reads, one entry per ref and definer."""
    edges: dict[tuple[str, str], list[str]] = {}
    for c in cells:
        for r in c.get("refs") or ():
            for d in definers.get(r, ()):
                if d != c["id"]:
                    edges.setdefault((d, c["id"]), []).append(r)
    return edges


def _cycles(cells: Sequence[Mapping[str, Any]], definers: Mapping[str, list[str]]) -> list[list[str]]:
    """Strongly connected components of more than one cell (Tarjan, iterative), in notebook order."""
    order = [c["id"] for c in cells]
    succ: dict[str, list[str]] = {i: [] for i in order}
    for a, b in _edges(cells, definers):
        succ[a].append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    for root in order:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = len(index)
                stack.append(v)
                on.add(v)
            if i < len(succ[v]):
                work.append((v, i + 1))
                w = succ[v][i]
                if w not in index:
                    work.append((w, 0))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    pos = {x: k for k, x in enumerate(order)}
                    found.append(sorted(comp, key=pos.__getitem__))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return sorted(found, key=lambda comp: order.index(comp[0]))


def flowchart(
    cells: Sequence[Mapping[str, Any]],
    target: Mapping[str, Any] | None = None,
    max_nodes: int = MAX_NODES,
) -> Diagram:
    """The notebook's dataflow graph: a node per cell, an edge per (defining cell, reading cell)
    labelled with the names read. States are classes (and words in the labels).

    With `target` (one of `cells`, with ancestors/descendants), it and its ancestors and
    descendants are marked and the other cells faded; above `max_nodes` cells only that
    neighbourhood is drawn. Without a target, a notebook above `max_nodes` cells is not drawn
    (the note says how to ask for one cell's neighbourhood).
    """
    notes: list[str] = []
    if not cells:
        return Diagram(None)
    definers = _definers(cells)
    edges = _edges(cells, definers)
    # From the edges drawn, not the op's ancestors: a cell that has not run is not in marimo's
    # graph yet, but its defs and refs (read from its code) are.
    succ: dict[str, set[str]] = {}
    pred: dict[str, set[str]] = {}
    for a, b in edges:
        succ.setdefault(a, set()).add(b)
        pred.setdefault(b, set()).add(a)
    related: set[str] = set()
    if target is not None:
        related = (_reach(succ, target["id"]) | _reach(pred, target["id"])) - {target["id"]}
    if len(cells) <= max_nodes:
        drawn = list(cells)
    elif target is None:
        return Diagram(
            None,
            notes=(
                f"The diagram is drawn for up to {max_nodes} cells; this notebook has {len(cells)}. "
                "%graph TARGET draws one cell with its ancestors and descendants.",
            ),
        )
    else:
        keep = {target["id"], *related}
        if len(keep) > max_nodes:
            keep = {target["id"], *succ.get(target["id"], ()), *pred.get(target["id"], ())}
            notes.append(
                f"{_label(target)} has {len(related)} ancestors and descendants; the diagram shows its "
                "parents and children only (the table lists them all)."
            )
        else:
            notes.append(f"The diagram shows {_label(target)} with its ancestors and descendants only.")
        drawn = [c for c in cells if c["id"] in keep]
        if len(drawn) > max_nodes:
            drawn = [c for c in drawn if c["id"] == target["id"]] + [c for c in drawn if c["id"] != target["id"]]
            drawn = sorted(drawn[:max_nodes], key=lambda c: c["index"])
            notes.append(f"Only {max_nodes} of them are drawn.")
    ids = {c["id"] for c in drawn}
    node = {c["id"]: f"c{c['index']}" for c in cells}
    lines = ["flowchart TD"]
    classes: dict[str, list[str]] = {}
    for c in drawn:
        lines.append(f'    {node[c["id"]]}["{node_label(c)}"]')
        state = STATE_CLASS.get(str(c.get("status")))
        if target is not None and c["id"] != target["id"] and c["id"] not in related:
            classes.setdefault("far", []).append(node[c["id"]])
        elif state:
            classes.setdefault(state, []).append(node[c["id"]])
        if target is not None and c["id"] == target["id"]:
            classes.setdefault("target", []).append(node[c["id"]])
        elif c["id"] in related:
            classes.setdefault("near", []).append(node[c["id"]])
    for (a, b), names in edges.items():
        if a in ids and b in ids:
            lines.append(f'    {node[a]} -->|"{_edge_label(names)}"| {node[b]}')
    missing = sorted({r for c in drawn for r in c.get("refs") or () if r not in definers})
    for k, name in enumerate(missing):
        lines.append(f'    m{k}(["{escape(name, 24)} #183; not defined"])')
        classes.setdefault("missing", []).append(f"m{k}")
        for c in drawn:
            if name in (c.get("refs") or ()):
                lines.append(f'    m{k} -.->|"{escape(name, 24)}"| {node[c["id"]]}')
    # A node's later class wins where two set the same property: states, then the target marks.
    for cls in sorted(classes, key=list(_CLASS_DEFS).index):
        members = classes[cls]
        lines.append(f"    classDef {cls} {_CLASS_DEFS[cls]}")
        lines.append(f"    class {','.join(members)} {cls}")
    return Diagram("\n".join(lines) + "\n", tuple(c["id"] for c in drawn), tuple(notes))


def _reach(step: Mapping[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in step.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _edge_label(names: Sequence[str]) -> str:
    shown = ", ".join(escape(n, 24) for n in names[:MAX_DEFS])
    return shown + (f" +{len(names) - MAX_DEFS}" if len(names) > MAX_DEFS else "")
