"""The notebook's cells as code mode shows them: ids, names, what each defines and reads.

The one place that resolves a cell target (`resolve`) and the names a cell defines (`parse_names`,
for a cell marimo has not compiled yet); the kernel process sends the target as the user typed it.
"""

import ast
import builtins


def unnamed(name):
    return not name or name == "_"


def cid(c):
    # NotebookCell.id; marimo 0.21's NotebookCellData called it cell_id.
    return c.id if hasattr(c, "id") else c.cell_id


def ids(ctx):
    return [cid(c) for c in ctx.cells]


def resolve(ctx, target):
    """The id of the cell `target` names: an id, a cell name, an index, or a variable one cell defines."""
    known = ids(ctx)
    if target in known:
        return target
    named = [cid(c) for c in ctx.cells if c.name == target and not unnamed(c.name)]
    if len(named) > 1:
        raise LookupError("%d cells are named %r (%s); use an id." % (len(named), target, ", ".join(named)))
    if named:
        return named[0]
    try:
        i = int(target)
    except ValueError:
        i = None
    if i is not None and -len(known) <= i < len(known):
        return known[i]
    # Last: the one cell that defines a variable of that name (`%graph answer`), also among
    # cells marimo has not compiled yet.
    defining = [cid(c) for c in ctx.cells if target in defined_by(ctx, c)]
    if len(defining) == 1:
        return defining[0]
    raise LookupError(
        "No cell %r: give a cell id, a cell name, an index 0..%d, or a variable one cell defines. "
        "Run %%cells to list them." % (target, len(known) - 1)
    )


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda,
           ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def top_level_names(tree):
    """The names a module's top level binds (what a cell defines), without marimo's compiler."""
    defined = set()
    for stmt in tree.body:
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
                todo.extend(c for c in ast.iter_child_nodes(node) if not isinstance(c, _SCOPES))
    return defined


def parse_names(code):
    """What a cell marimo has not compiled yet (a notebook nobody ran) defines and reads.

    marimo's own compiler when it has one, else the top-level bindings; `_private` names stay local.
    """
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
        if tree is not None:
            defined = top_level_names(tree)
            nodes = list(ast.walk(tree))
            local = {n.id for n in nodes if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
            local |= {n.arg for n in nodes if isinstance(n, ast.arg)}
            read = {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - local
    defined = {d for d in defined if not d.startswith("_")}
    return defined, {r for r in read - defined if not r.startswith("_") and not hasattr(builtins, r)}


def defined_by(ctx, c):
    """The names cell `c` defines: from marimo's graph, else from its code (a cell nobody ran)."""
    try:
        impl = ctx.graph.cells.get(cid(c))
    except Exception:
        impl = None
    return set(impl.defs) if impl is not None else parse_names(c.code)[0]


def status(c):
    value = getattr(c, "status", None)
    value = getattr(value, "value", value)
    return None if value is None else str(value)


def cell_info(ctx, i, c, order=None):
    """One cell for %cells; `order` (id → position) asks for its place in the graph too."""
    g = ctx.graph
    this = cid(c)
    impl = g.cells.get(this)
    if impl is not None:
        defs = sorted(impl.defs)
        refs = sorted(r for r in impl.refs if r in g.definitions or not hasattr(builtins, r))
    else:
        parsed = parse_names(c.code)
        defs, refs = sorted(parsed[0]), sorted(parsed[1])
    cfg = c.config
    info = {
        "index": i,
        "id": this,
        "name": None if unnamed(c.name) else c.name,
        "code": c.code or "",
        "status": status(c),
        "defs": defs,
        "refs": refs,
        "hide_code": bool(getattr(cfg, "hide_code", False)),
        "disabled": bool(getattr(cfg, "disabled", False)),
        "errors": [str(getattr(e, "msg", e)) for e in getattr(c, "errors", ())],
    }
    if order is not None:
        def ordered(found):
            return sorted(found, key=lambda x: order.get(x, len(order)))
        known = impl is not None
        info["parents"] = ordered(g.parents.get(this, ())) if known else []
        info["children"] = ordered(g.children.get(this, ())) if known else []
        info["ancestors"] = ordered(g.ancestors(this)) if known else []
        info["descendants"] = ordered(g.descendants(this)) if known else []
    return info


def index(ctx):
    """[[id, name], ...]: what the kernel completes cell words from."""
    return [[cid(c), None if unnamed(c.name) else c.name] for c in ctx.cells]
