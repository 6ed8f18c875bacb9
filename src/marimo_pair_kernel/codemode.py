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
        "No cell %r: give a cell id, a cell name, an index 0..%d, or a variable one cell defines. "
        "Run %%cells to list them." % (target, len(ids) - 1)
    )


def _mpk_parse_names(code):
    # What a cell marimo has not compiled yet (a notebook nobody ran) defines and reads: marimo's
    # own compiler when it has one, else the top-level bindings; `_private` names stay local.
    import ast, builtins
    try:
        from marimo._ast.compiler import compile_cell
        impl = compile_cell(code or "", cell_id="_mpk_unrun")
        defined, read = set(impl.defs), set(impl.refs)
    except Exception:
        defined, read = set(), set()
        try:
            tree = ast.parse(code or "")
        except (SyntaxError, ValueError):
            tree = None
        scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda,
                  ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
        for stmt in (tree.body if tree is not None else ()):
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined.add(stmt.name)
            elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
                defined |= {(a.asname or a.name).split(".")[0] for a in stmt.names if a.name != "*"}
            else:
                todo = [stmt]
                while todo:
                    node = todo.pop()
                    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                        defined.add(node.id)
                    todo.extend(c for c in ast.iter_child_nodes(node) if not isinstance(c, scopes))
        if tree is not None:
            nodes = list(ast.walk(tree))
            local = {n.id for n in nodes if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
            local |= {n.arg for n in nodes if isinstance(n, ast.arg)}
            read = {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - local
    defined = {d for d in defined if not d.startswith("_")}
    return defined, {r for r in read - defined if not r.startswith("_") and not hasattr(builtins, r)}


def _mpk_status(c):
    status = getattr(c, "status", None)
    status = getattr(status, "value", status)
    return None if status is None else str(status)


def _mpk_cell_info(ctx, i, c, order=None):
    # `order` (id → position) asks for the cell's place in the graph too.
    import builtins
    g = ctx.graph
    cid = _mpk_cid(c)
    impl = g.cells.get(cid)
    if impl is not None:
        defs = sorted(impl.defs)
        refs = sorted(r for r in impl.refs if r in g.definitions or not hasattr(builtins, r))
    else:
        parsed = _mpk_parse_names(c.code)
        defs, refs = sorted(parsed[0]), sorted(parsed[1])
    cfg = c.config
    info = {
        "index": i,
        "id": cid,
        "name": None if _mpk_unnamed(c.name) else c.name,
        "code": c.code or "",
        "status": _mpk_status(c),
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
    finally:
        _mpk_stash().capture = None
    out["index"] = _mpk_index(ctx)
    out["version"] = version
    if nonce:
        stash = _mpk_stash()
        while len(stash.answers) >= 16:
            stash.answers.pop(next(iter(stash.answers)))
        stash.answers[nonce] = {k: v for k, v in out.items() if k != "outputs"}
    return out


def _mpk_stash():
    # A module of ours in the marimo kernel: answers kept for `recover`, and the output capture.
    import sys, types
    stash = sys.modules.get("_marimo_pair_kernel_stash")
    if stash is None:
        stash = types.ModuleType("_marimo_pair_kernel_stash")
        stash.answers = {}
        sys.modules["_marimo_pair_kernel_stash"] = stash
    if getattr(stash, "hook_version", None) != 2:
        # Defined in the stash's own namespace, so the hook holds no scratchpad globals alive.
        exec(_MPK_HOOK, stash.__dict__)
        stash.hook_version = 2
    return stash


_MPK_HOOK = """
capture = None  # {cell id: what its run left} while an op of ours runs cells
media = {}  # cell id -> [(mimetype, data)] its plt.show() sent, while armed
media_dropped = {}  # cell id -> how many more it sent, past the bound
MAX_MEDIA, MAX_MEDIA_CHARS = 20, 20_000_000  # what one run may hold here; the page shows them all
hooked = globals().get("hooked")  # the marimo kernel's hooks that have run_hook


def run_hook(*args):
    # What marimo's runner holds; it looks keep_output up at each call (so a newer one applies).
    return keep_output(*args)


def keep_output(*args):
    # A post-execution hook of marimo's runner: (cell, context, run_result). While an op of
    # ours runs cells, keep the value and the mo.output items of those cells, as marimo
    # holds them right after the run (nothing is run again to show them).
    want = capture
    if want is None or len(args) < 2:
        return
    cell, run_result = args[0], args[-1]
    cid = getattr(cell, "cell_id", None)
    if cid in want:
        items = getattr(run_result, "accumulated_output", None)
        want[cid] = {
            "value": getattr(run_result, "output", None),
            "items": list(getattr(items, "_items", None) or ()),
            "failed": getattr(run_result, "exception", None) is not None,
            "media": media.pop(cid, []),
            "media_dropped": media_dropped.pop(cid, 0),
        }


def tap(original):
    # plt.show() in a cell sends its figure as console "media", not as the cell's output:
    # while armed, keep a copy of the media our cells send (then pass it on unchanged).
    def broadcast_console_output(channel, mimetype, data, cell_id=None, *args, **kwargs):
        want = capture
        if want is not None and str(getattr(channel, "value", channel)) == "media":
            cid = cell_id
            if cid is None:
                try:
                    from marimo._runtime.context import get_context
                    cid = get_context().stream.cell_id
                except Exception:
                    cid = None
            if cid in want and isinstance(data, str):
                kept = media.setdefault(cid, [])
                if len(kept) < MAX_MEDIA and sum(len(d) for _, d in kept) + len(data) <= MAX_MEDIA_CHARS:
                    kept.append((str(getattr(mimetype, "value", mimetype)), data))
                else:
                    media_dropped[cid] = media_dropped.get(cid, 0) + 1
        return original(channel, mimetype, data, cell_id, *args, **kwargs)
    broadcast_console_output._mpk_tap = True
    return broadcast_console_output
"""


def _mpk_capture(ctx, ids):
    # Arm the hook for these cells (installed once per marimo kernel; idle when not armed).
    stash = _mpk_stash()
    hooks = getattr(getattr(ctx, "_kernel", None), "_hooks", None)
    if hooks is None or not hasattr(hooks, "add_post_execution"):
        return False
    if stash.hooked is not hooks:
        hooks.add_post_execution(stash.run_hook)
        stash.hooked = hooks
        try:
            from marimo._messaging.notification_utils import CellNotificationUtils as U
            if not getattr(U.broadcast_console_output, "_mpk_tap", False):
                U.broadcast_console_output = staticmethod(stash.tap(U.broadcast_console_output))
        except Exception:
            pass
    stash.media.clear()
    stash.media_dropped.clear()
    stash.capture = {i: None for i in ids}
    return True


def _mpk_outputs(target):
    # What the cell shows on the page, as Jupyter displays: its value, else its mo.output items.
    import sys
    stash = _mpk_stash()
    got = (stash.capture or {}).get(target)
    stash.capture = None
    rt = sys.modules.get(_MPK_RUNTIME)
    stash.media.clear()
    stash.media_dropped.clear()
    if not got or got["failed"] or rt is None:
        return []
    out = []
    for mimetype, data in got.get("media") or ():  # figures plt.show() put in the console, as they came
        try:
            shown = rt.from_marimo(mimetype, data)
        except Exception:
            shown = None
        if shown:
            out.append({"data": {"text/plain": rt.media_text(shown), **shown}, "metadata": {}})
    if got.get("media_dropped"):
        note = "... %d more figures, shown on the marimo page" % got["media_dropped"]
        out.append({"data": {"text/plain": note}, "metadata": {}})
    values = [got["value"]] if got["value"] is not None else got["items"]
    for v in values:
        try:
            b = rt.bundle(v)
        except Exception:
            b = None
        if b:
            out.append(b)
    return out
'''

# What setting a mo.ui element did to the notebook (`%ui set` and widget moves): the cells that
# read it, with their descendants, are what marimo reruns; their status afterwards says which
# ran, which now fail, and which only went stale (a notebook in lazy mode).
_EFFECTS = r"""
def _mpk_effects_before(ctx, registry, element_id):
    g = ctx.graph
    try:  # an array's element is set through the array (a lens): the array's names count
        element_id = registry.resolve_lens(element_id, None)[0]
    except Exception:
        pass
    try:
        names = set(registry.bound_names(element_id))
    except Exception:
        names = set()
    direct = {cid for cid, impl in g.cells.items() if names & set(impl.refs)}
    hit = set(direct)
    for cid in direct:
        hit |= set(g.descendants(cid))
    return hit


def _mpk_effects_after(ctx, hit):
    reran, failed, stale = [], [], []
    for c in ctx.cells:
        cid = c.id if hasattr(c, "id") else c.cell_id
        if cid not in hit:
            continue
        status = getattr(c, "status", None)
        status = str(getattr(status, "value", status))
        row = {"id": cid, "name": None if not c.name or c.name == "_" else c.name, "status": status}
        if status in ("exception", "marimo-error", "cancelled", "interrupted"):
            failed.append(row)
        elif status == "stale":
            stale.append(row)
        else:
            reran.append(row)
    return {"reran": reran, "failed": failed, "stale": stale}
"""

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
            _mpk_capture(ctx, [target])
    return {"action": action, "id": target, "ran": a["run"], "outputs": _mpk_outputs(target)}
''',
    "edit": r'''
async def _mpk_op(ctx, a):
    target = a["_target"] = _mpk_resolve(ctx, a["target"])
    async with ctx:
        ctx.cells[target].code  # code mode refuses to overwrite code it has not read
        ctx.edit_cell(target, a["code"])
        if a["run"]:
            ctx.run_cell(target)
            _mpk_capture(ctx, [target])
    return {"action": "edited", "id": target, "ran": a["run"], "outputs": _mpk_outputs(target)}
''',
    "run": r'''
async def _mpk_op(ctx, a):
    target = a["_target"] = _mpk_resolve(ctx, a["target"])
    async with ctx:
        ctx.run_cell(target)
        _mpk_capture(ctx, [target])
    return {"action": "ran", "id": target, "ran": True, "outputs": _mpk_outputs(target)}
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
    try:
        from marimo._runtime.context import get_context
        hit = _mpk_effects_before(ctx, get_context().ui_element_registry, element._id)
    except Exception:
        hit = None
    async with ctx:
        ctx.set_ui_value(element, wire)
    value = _mpk_ui_lookup(ctx, a["name"]).value
    try:
        shown = repr(value)
    except Exception:
        shown = "<%s>" % type(value).__name__
    out = {"name": a["name"], "value": shown[:2000], "id": str(element._id)}
    if hit is not None:
        out.update(_mpk_effects_after(ctx, hit))
    return out
''' + _EFFECTS,
    "ui_names": r'''
async def _mpk_op(ctx, a):
    try:
        from marimo._plugins.ui._core.ui_element import UIElement
    except ImportError:
        return {"names": []}
    return {"names": sorted(n for n, v in ctx.globals.items() if isinstance(v, UIElement))}
''',
    # %ui list: the notebook's elements (bound to a global name), in name order.
    "ui_list": r'''
async def _mpk_op(ctx, a):
    try:
        from marimo._plugins.ui._core.ui_element import UIElement
        from marimo._runtime.context import get_context
        registry = get_context().ui_element_registry
    except ImportError:
        return {"elements": []}
    rows = []
    for name, el in sorted(ctx.globals.items()):
        if not isinstance(el, UIElement) or name.startswith("_"):
            continue
        kind = str(getattr(el, "_name", "") or type(el).__name__)
        kind = kind[len("marimo-"):] if kind.startswith("marimo-") else kind
        try:
            value = repr(el.value)
        except Exception:
            value = "<%s>" % type(el).__name__
        if (getattr(el, "_component_args", None) or {}).get("kind") == "password":
            value = "<hidden>" if el.value else "''"
        try:
            cell = str(registry.get_cell(el._id))
        except Exception:
            cell = None
        rows.append({"name": name, "kind": kind, "value": value[:2000], "id": str(el._id), "cell": cell})
    return {"elements": rows}
''',
    # %cell run --all: every stale cell, one code-mode batch each (so progress shows as it
    # goes), parents first; a cell that already ran as a descendant of an earlier one is skipped.
    "run_all": r'''
async def _mpk_op(ctx, a):
    cells = list(ctx.cells)
    stale = [_mpk_cid(c) for c in cells if _mpk_status(c) == "stale"]
    g = ctx.graph
    names, deps = {}, {}
    for c in cells:
        cid = _mpk_cid(c)
        impl = g.cells.get(cid)
        defs, refs = (set(impl.defs), set(impl.refs)) if impl is not None else _mpk_parse_names(c.code)
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
        _mpk_cid(c): _mpk_cid(c) if _mpk_unnamed(c.name) else "%s (%s)" % (c.name, _mpk_cid(c)) for c in cells
    }
    total = len(order)
    ran = []
    for k, cid in enumerate(order, 1):
        if _mpk_status(ctx.cells[cid]) != "stale":
            continue
        print("running cell %d/%d: %s" % (k, total, label[cid]), flush=True)
        async with ctx:
            ctx.run_cell(cid)
        ran.append(cid)
    after = {_mpk_cid(c): _mpk_status(c) for c in ctx.cells}
    return {
        "action": "ran_all",
        "stale": stale,
        "ran": [cid for cid in stale if after.get(cid) != "stale"],
        "failed": [cid for cid in stale if after.get(cid) == "exception"],
        "still_stale": [cid for cid in stale if after.get(cid) == "stale"],
    }
''',
    # The answer an op left before a cell it ran raised, and the code of the cells in the traceback.
    "recover": r'''
async def _mpk_op(ctx, a):
    import sys
    stash = sys.modules.get("_marimo_pair_kernel_stash")
    found = stash.answers.pop(a["nonce"], None) if stash is not None and a["nonce"] else None
    ids = set(_mpk_ids(ctx))
    sources = {cid: ctx.cells[cid].code or "" for cid in a.get("cells") or () if cid in ids}
    return {"answer": found, "sources": sources}
''',
}

# Code-mode attributes each op touches, checked before use.
_NEEDS: dict[str, tuple[str, ...]] = {
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

# Ops whose answer carries a cell's output, made by the runtime's bundle() (scratchpad.RUNTIME_SOURCES).
_SHOWS_OUTPUT = ("put", "edit", "run")


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
        f"_mpk_op, __import__('json').loads({json.dumps(args)!r}), {list(_NEEDS[op])!r}, {nonce!r}), default=str)}}\n"
    )
    # Ops that show a cell's output need the runtime module (installed if marimo restarted).
    runtime = scratchpad.install_code() if op in _SHOWS_OUTPUT else ""
    return runtime + f"_MPK_RUNTIME = {scratchpad.RUNTIME_MODULE!r}\n" + _WRAPPER + _OPS[op] + "\n" + call


# A Jupyter widget moved (widgets.py): set the element by its id, as `%ui set` does by name.
# Sent on every move, so it is lean: no shared wrapper for marimo to compile each time. `clicks`
# presses a button that many times. The answer is marimo's value afterwards (a refused value
# snaps the widget back) with the cells it reran or made fail (_EFFECTS), or {"gone"}, {"refused"},
# {"unsupported"}, {"error"}.
_WIDGET_SET = r'''
async def _mpk_widget_set(a):
    try:
        import marimo._code_mode as cm
        from marimo._runtime.context import get_context
        ctx = cm.get_context()
        registry = get_context().ui_element_registry
    except Exception as e:
        return {"unsupported": ["code mode"], "detail": str(e)}
    if not hasattr(ctx, "set_ui_value"):
        return {"unsupported": ["set_ui_value"]}
    try:
        element = registry.get_object(a["id"])
    except Exception:
        return {"gone": True}
    wire = a.get("wire")
    if a.get("clicks"):
        wire = (element._value_frontend or 0) + int(a["clicks"])
    try:
        element._convert_value(wire)
    except Exception as e:
        return {"refused": "%s: %s" % (type(e).__name__, e), "wire": element._value_frontend}
    try:
        hit = _mpk_effects_before(ctx, registry, a["id"])
    except Exception:
        hit = None
    try:
        async with ctx:
            ctx.set_ui_value(element, wire)
        element = registry.get_object(a["id"])
    except KeyError:
        return {"gone": True}
    except Exception as e:
        return {"error": "%s: %s" % (type(e).__name__, e)}
    out = {"wire": element._value_frontend}
    if hit is not None:
        out.update(_mpk_effects_after(ctx, hit))
    if a.get("nonce"):
        # A rerun cell that raised makes marimo drop this answer: keep it for widget_answer_code.
        import sys, types
        stash = sys.modules.get("_marimo_pair_kernel_stash")
        if stash is None:
            stash = sys.modules["_marimo_pair_kernel_stash"] = types.ModuleType("_marimo_pair_kernel_stash")
        answers = stash.__dict__.setdefault("answers", {})
        while len(answers) >= 16:
            answers.pop(next(iter(answers)))
        answers[a["nonce"]] = out
    return out
'''


def widget_set_code(element_id: str, wire: Any, clicks: int = 0, nonce: str = "") -> str:
    """The scratchpad code that sets one element by id (see _WIDGET_SET); its answer is the payload.

    With `nonce`, the answer is also kept marimo-side, for `widget_answer_code` to fetch when a
    cell the set reran raised (marimo then drops the scratchpad's value).
    """
    args = json.dumps({"id": element_id, "wire": wire, "clicks": clicks, "nonce": nonce})
    return (
        _WIDGET_SET
        + _EFFECTS
        + "{'marimo_pair_kernel': __import__('json').dumps(await _mpk_widget_set("
        + f"__import__('json').loads({args!r})), default=str)}}\n"
    )


def widget_answer_code(nonce: str) -> str:
    """The scratchpad code that fetches the answer a widget set kept under `nonce` (None if none)."""
    return (
        "{'marimo_pair_kernel': __import__('json').dumps(getattr(__import__('sys').modules.get("
        f"'_marimo_pair_kernel_stash'), 'answers', {{}}).pop({nonce!r}, None), default=str)}}\n"
    )


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
