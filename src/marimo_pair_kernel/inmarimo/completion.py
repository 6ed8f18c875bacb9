"""Completion and inspection in the live notebook namespace (jedi when it is there)."""

from . import base, values


def _simple_complete(code, line, column, ns):
    """Names for a bare `name` or `obj.attr` prefix without jedi (~1 ms instead of 50+).

    None hands the request to jedi: imports, strings, calls, anything not a plain dotted name.
    """
    import builtins
    import inspect
    import keyword
    import re
    import types
    lines = code.split("\n")
    text = lines[line - 1][:column] if 0 < line <= len(lines) else ""
    if re.match(r"\s*(import|from)\s", text) or "#" in text or text.count("'") % 2 or text.count('"') % 2:
        return None
    m = re.search(r"(?<![\w.])((?:[A-Za-z_]\w*\.)+)?([A-Za-z_]\w*)?$", text)
    if m is None or not (m.group(1) or m.group(2)):
        return None
    base, word = m.group(1), m.group(2) or ""
    if base:
        parts = base[:-1].split(".")
        if parts[0] in ns:
            obj = ns[parts[0]]
        elif hasattr(builtins, parts[0]):
            obj = getattr(builtins, parts[0])
        else:
            return None
        for p in parts[1:]:
            # Never run a property or other descriptor just to list names: jedi decides those.
            try:
                raw = inspect.getattr_static(obj, p)
            except AttributeError:
                return None
            if not isinstance(obj, types.ModuleType) and hasattr(type(raw), "__get__"):
                return None
            obj = getattr(obj, p)
        try:
            names = dir(obj)
        except Exception:
            return None
    else:
        rest = "\n".join(
            lines[: line - 1] + [text[: len(text) - len(word)]] + [lines[line - 1][column:]] + lines[line:]
        )
        names = [*ns, *dir(builtins), *keyword.kwlist, *re.findall(r"[A-Za-z_]\w*", rest)]
    hide = not word.startswith("_")
    found = sorted({n for n in names if n.startswith(word) and not (hide and n.startswith("_"))})
    return found[:500], len(word)


def warm_lock():
    """Held by the warm-up while it imports, and by each of the kernel's runs (state.py).

    An import on the warm-up's thread while the user's first line imports the same package hands
    that line a module whose hooks are not in yet (`from IPython.display import display` got
    IPython's own, unhooked display): so the two never overlap. A run waits for an import under
    way (a fraction of a second, once); the warm-up waits for a run to end.
    """
    lock = globals().get("_warm_lock")
    if lock is None:
        import threading
        lock = globals()["_warm_lock"] = threading.RLock()
    return lock


def warm():
    """Import jedi and IPython's formatter on a thread, so a later completion or value is quick.

    A second later: the import holds the GIL for a while, and the requests right after
    start-up (the first Tab, the first execute) should not wait for it.
    """
    import threading
    import time
    def work():
        time.sleep(1.0)
        with warm_lock():
            try:
                import jedi
                jedi.Interpreter("int.", [{}]).complete(1, 4)
            except Exception:
                pass
            values._formatter()  # IPython's display formatter, for the first rich value
    warm_lock()
    if not globals().get("_warming"):
        globals()["_warming"] = True
        threading.Thread(target=work, name="marimo-pair-kernel-warm", daemon=True).start()
    return base.installed()


def complete(code, line, column, ns):
    import json as _j
    matches, start_back = [], 0
    try:
        simple = _simple_complete(code, line, column, ns)
    except Exception:
        simple = None
    if simple is not None:
        warm()  # for the next completion that needs jedi
        return {"marimo_pair_kernel": _j.dumps({"matches": simple[0], "start_back": simple[1]})}
    try:
        import jedi
        comps = jedi.Interpreter(code, [ns]).complete(line, column)
        if comps:
            start_back = len(comps[0].name) - len(comps[0].complete)
        matches = [c.name for c in comps if len(c.name) - len(c.complete) == start_back][:500]
    except Exception:
        import re
        import rlcompleter
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
    import inspect as _i
    import json as _j
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
