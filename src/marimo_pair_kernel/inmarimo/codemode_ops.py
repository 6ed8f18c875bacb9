"""marimo's code mode (`marimo._code_mode`), one op at a time: what the kernel's cell magics do.

The kernel sends one line per op, `await <package>.codemode_ops.answer(op, args_json, nonce)`
(codemode.build in the kernel process). `run`

- for a %%cell, checks the cell's names against the Jupyter kernel's own (state.py) in the same
  request: a cell that reads a name only that kernel has is refused, the notebook unchanged;
- checks that the running marimo has the code-mode attributes the op needs (else the kernel
  says which marimo version it takes);
- turns code mode's refusals (multiply-defined names, cycles, syntax, unknown cell) into a
  structured answer, so no marimo-internal frames reach the user;
- adds the notebook's [[id, name], ...] index to every answer (the kernel completes cell words
  from it).

Code mode queues edits and applies them all-or-nothing when its `async with` block exits, so a
refused edit leaves the notebook unchanged. When a cell an op ran raises, marimo drops the
scratchpad's value from `done`: with a nonce, the answer is also kept in the stash (capture.py)
for the kernel's `recover`.
"""

import json
import re

from . import capture, cells, state, ui


async def op_cells(ctx, a):
    """Every cell (with its place in the graph when `detail`); with `target`, which one it names."""
    listed = list(ctx.cells)
    order = {cells.cid(c): k for k, c in enumerate(listed)} if a["detail"] else None
    out = {"cells": [cells.cell_info(ctx, i, c, order) for i, c in enumerate(listed)]}
    if a.get("target") is not None:
        out["target"] = cells.resolve(ctx, a["target"])
    return out


async def op_index(ctx, a):
    return {}


async def op_put(ctx, a):
    ids = cells.ids(ctx)
    target = None
    if a["name"]:
        target = next((cells.cid(c) for c in ctx.cells if c.name == a["name"]), None)
    if target is None and a["bound"] in ids:
        target = a["bound"]
    a["_target"] = target
    before = cells.resolve(ctx, a["before"]) if a["before"] else None
    after = cells.resolve(ctx, a["after"]) if a["after"] else None
    async with ctx:
        if target is not None:
            old_name = ctx.cells[target].name
            _ = ctx.cells[target].code  # code mode refuses to overwrite code it has not read
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
            capture.arm(ctx, [target])
    return {"action": action, "id": target, "ran": a["run"], "outputs": capture.outputs(target)}


async def op_edit(ctx, a):
    target = a["_target"] = cells.resolve(ctx, a["target"])
    async with ctx:
        _ = ctx.cells[target].code  # code mode refuses to overwrite code it has not read
        ctx.edit_cell(target, a["code"])
        if a["run"]:
            ctx.run_cell(target)
            capture.arm(ctx, [target])
    return {"action": "edited", "id": target, "ran": a["run"], "outputs": capture.outputs(target)}


async def op_run(ctx, a):
    target = a["_target"] = cells.resolve(ctx, a["target"])
    async with ctx:
        ctx.run_cell(target)
        capture.arm(ctx, [target])
    return {"action": "ran", "id": target, "ran": True, "outputs": capture.outputs(target)}


async def op_move(ctx, a):
    target = cells.resolve(ctx, a["target"])
    before = cells.resolve(ctx, a["before"]) if a["before"] else None
    after = cells.resolve(ctx, a["after"]) if a["after"] else None
    if target in (before, after):
        raise ValueError("A cell cannot be moved relative to itself.")
    async with ctx:
        ctx.move_cell(target, before=before, after=after)
    return {"action": "moved", "id": target, "order": cells.ids(ctx)}


async def op_delete(ctx, a):
    target = cells.resolve(ctx, a["target"])
    g = ctx.graph
    listed = list(ctx.cells)
    pos = {cells.cid(c): i for i, c in enumerate(listed)}
    names = {cells.cid(c): (None if cells.unnamed(c.name) else c.name) for c in listed}
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


async def op_packages(ctx, a):
    import contextlib
    import importlib
    import importlib.metadata as md
    import io
    quiet = io.StringIO() if a.get("quiet") else None  # %packages -q: the install log is dropped
    with contextlib.redirect_stdout(quiet) if quiet else contextlib.nullcontext(), \
            contextlib.redirect_stderr(quiet) if quiet else contextlib.nullcontext():
        async with ctx:
            if a["add"]:
                ctx.packages.add(*a["specs"])
            else:
                ctx.packages.remove(*a["specs"])
    importlib.invalidate_caches()
    results = []
    for spec, name in zip(a["specs"], a["names"]):  # noqa: B905 - strict= is 3.10+; the notebook's may be older
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


async def op_run_all(ctx, a):
    listed = list(ctx.cells)
    stale = [cells.cid(c) for c in listed if cells.status(c) == "stale"]
    g = ctx.graph
    names, deps = {}, {}
    for c in listed:
        cid = cells.cid(c)
        impl = g.cells.get(cid)
        defs, refs = (set(impl.defs), set(impl.refs)) if impl is not None else cells.parse_names(c.code)
        deps[cid] = refs
        for d in defs:
            names.setdefault(d, cid)
    order = []
    pending = list(stale)
    while pending:
        ready = [cid for cid in pending
                 if not any(names.get(r) in pending and names.get(r) != cid for r in deps[cid])]
        if not ready:  # a cycle, or names defined twice: marimo will say what is wrong
            ready = pending[:1]
        for cid in ready:
            order.append(cid)
            pending.remove(cid)
    label = {
        cells.cid(c): cells.cid(c) if cells.unnamed(c.name) else "%s (%s)" % (c.name, cells.cid(c)) for c in listed
    }
    total = len(order)
    ran = []
    for k, cid in enumerate(order, 1):
        if cells.status(ctx.cells[cid]) != "stale":
            continue
        print("running cell %d/%d: %s" % (k, total, label[cid]), flush=True)
        async with ctx:
            ctx.run_cell(cid)
        ran.append(cid)
    after = {cells.cid(c): cells.status(c) for c in ctx.cells}
    return {
        "action": "ran_all",
        "stale": stale,
        "ran": [cid for cid in stale if after.get(cid) != "stale"],
        "failed": [cid for cid in stale if after.get(cid) == "exception"],
        "still_stale": [cid for cid in stale if after.get(cid) == "stale"],
    }


async def op_recover(ctx, a):
    found = capture.stash().answers.pop(a["nonce"], None) if a["nonce"] else None
    known = set(cells.ids(ctx))
    sources = {cid: ctx.cells[cid].code or "" for cid in a.get("cells") or () if cid in known}
    return {"answer": found, "sources": sources}


OPS = {
    "cells": op_cells,
    "index": op_index,
    "put": op_put,
    "edit": op_edit,
    "run": op_run,
    "run_all": op_run_all,
    "move": op_move,
    "delete": op_delete,
    "packages": op_packages,
    "ui": ui.op_ui,
    "ui_names": ui.op_ui_names,
    "ui_list": ui.op_ui_list,
    "recover": op_recover,
}

# Code-mode attributes each op touches, checked before use.
NEEDS = {
    "cells": ("cells", "graph"),
    "index": ("cells",),
    "put": ("cells", "create_cell", "edit_cell", "move_cell", "run_cell"),
    "edit": ("cells", "edit_cell", "run_cell"),
    "run": ("cells", "run_cell"),
    "run_all": ("cells", "graph", "run_cell"),
    "move": ("cells", "move_cell"),
    "delete": ("cells", "graph", "delete_cell"),
    "packages": ("packages",),
    "ui": ("globals", "set_ui_value"),
    "ui_names": ("globals",),
    "ui_list": ("globals",),
    "recover": ("cells",),
}


async def run(op, args, nonce=""):
    """Run op `op` with `args` in code mode; its answer (or refusal) as a dict.

    A %%cell (put, edit) names the Jupyter kernel whose own names it checks (`pair`, None when
    nothing persists there): a cell that reads a name only that kernel has is refused before
    anything changes (`only_pair`: the kernel says why); names the cell defines that the kernel
    held are dropped there once the op went through (`held`: the notebook's definition wins).
    """
    pair = args.get("pair") if op in ("put", "edit") else None
    names = state.cell_names(pair, args["code"]) if pair else None
    if names and names["only_pair"]:
        return {"only_pair": names["only_pair"]}
    version = None
    try:
        import marimo
        version = getattr(marimo, "__version__", None)
        import marimo._code_mode as cm
        ctx = cm.get_context()
    except Exception as e:
        return {"unsupported": ["code mode"], "version": version, "detail": str(e)}
    missing = [m for m in NEEDS[op] if not hasattr(ctx, m)]
    if missing:
        return {"unsupported": missing, "version": version}
    try:
        out = await OPS[op](ctx, args)
    except SyntaxError as e:
        return {"error": {"kind": "SyntaxError", "message": str(e.msg), "lineno": e.lineno,
                          "text": e.text, "offset": e.offset}}
    except Exception as e:
        msg = str(e.args[0] if isinstance(e, KeyError) and e.args else e)
        err = {"kind": type(e).__name__, "message": msg, "target": args.get("_target")}
        if msg.startswith("Cycles detected"):
            # What each cell on the cycle defines and reads, so the message can name the variables.
            g = ctx.graph
            err["cells"] = {
                i: {"defs": sorted(g.cells[i].defs), "refs": sorted(g.cells[i].refs)}
                for i in set(re.findall(r"'([^']+)'", msg)) if i in g.cells
            }
        return {"error": err, "index": cells.index(ctx)}
    finally:
        capture.disarm()
    if names and names["held"]:
        state.take_over(pair, names["held"])
        out["held"] = names["held"]
    out["index"] = cells.index(ctx)
    out["version"] = version
    if nonce:
        capture.keep_answer(nonce, {k: v for k, v in out.items() if k != "outputs"})
    return out


async def answer(op, args_json, nonce=""):
    """`run`'s answer as the scratchpad's last value (see scratchpad.read_payload in the kernel)."""
    return {"marimo_pair_kernel": json.dumps(await run(op, json.loads(args_json), nonce), default=str)}


async def widget_answer(args_json):
    """ui.widget_set's answer as the scratchpad's last value."""
    return {"marimo_pair_kernel": json.dumps(await ui.widget_set(json.loads(args_json)), default=str)}


def kept_answer(nonce):
    """The answer a widget set kept under `nonce` (None if none), as the scratchpad's last value."""
    return {"marimo_pair_kernel": json.dumps(capture.stash().answers.pop(nonce, None), default=str)}
