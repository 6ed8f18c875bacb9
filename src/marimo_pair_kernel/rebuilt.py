"""Tracebacks rebuilt from marimo's text, for this process's IPython to lay out.

Where the notebook's Python has no IPython (a sandbox, `uvx marimo`), marimo's text is all
that reaches the kernel (traceback_text.parse reads it). IPython's formatter needs an exception
with real frames, so one is rebuilt here: for each frame marimo printed, a stand-in function
whose code has that frame's file, line and name (and its parameters' names) calls the next,
and the innermost raises a stand-in of the exception (its class named as marimo printed it).
The frames' lines come from linecache, where the user's code (scratch frames) and the cells'
code are put for the time of the layout. IPython then lays it out in the kernel's %xmode
exactly as the python3 kernel beside ours would, for the IPython installed here (8 or 9).

What a rebuilt frame cannot carry: local values (Verbose is laid out as Context) and the
position of the failing expression inside its line, which IPython 8 marks on yellow by
inspecting the live frame: with IPython 8 the Context layout stays tracebacks.py's own,
which takes that position from Python's `~^~` marks.
"""

from __future__ import annotations

import ast
import builtins
import linecache
import types
from collections.abc import Callable, Sequence
from typing import Any

from .traceback_text import CAUSE, Context, Exc, Frame, ipython_major, user_frames, with_shell

_SCRATCH_FILE_HINT = "__marimo__cell___scratch___"


def format(excs: Sequence[Exc], ctx: Context, sources: dict[str, str]) -> list[str] | None:
    """IPython's `structured_traceback` for this chain, in `ctx.mode`; None if it cannot be had.

    `sources` maps a frame's file name to the code to show for it (the user's code for the
    scratch cell, a cell's code for its file); other files are read from disk by linecache.
    """
    major = ipython_major()
    if not major:
        return None
    mode = "Context" if ctx.mode == "Verbose" else ctx.mode
    saved = {name: linecache.cache.get(name) for name in sources}
    for name, text in sources.items():
        text = text if text.endswith("\n") else text + "\n"
        linecache.cache[name] = (len(text), None, text.splitlines(True), name)
    if major >= 9 and mode == "Context":
        excs = _as_frames_stand(excs)
    try:
        exc = _rebuild_chain(excs, sources)
        if exc is None:
            return None
        from IPython.core import ultratb

        theme = {"theme_name": "neutral"} if major >= 9 else {"color_scheme": "Neutral"}  # as ipykernel's shell
        formatter: Any = ultratb.AutoFormattedTB(mode=mode, **theme)
        tb = exc.__traceback__
        stb = with_shell(ctx, lambda: formatter.structured_traceback(type(exc), exc, tb, tb_offset=0))
        return [str(x) for x in stb]
    except Exception:  # noqa: BLE001 - our own layout instead
        return None
    finally:
        for name, entry in saved.items():
            if entry is None:
                linecache.cache.pop(name, None)
            else:
                linecache.cache[name] = entry


def _as_frames_stand(excs: Sequence[Exc]) -> list[Exc]:
    """IPython 9 reads a frame's line from the frame (where it is now), not from the traceback.

    A frame that an earlier exception of the chain shares with the last one (the code handling
    it raised the last one) has moved on to the last one's line by the time IPython looks:
    python3's kernel shows that line for both, and so do these rebuilt frames.
    """
    import dataclasses

    final = user_frames(excs[-1].frames)
    out = []
    for exc in excs[:-1]:
        mine = user_frames(exc.frames)
        moved = list(mine)
        for k, (a, b) in enumerate(zip(mine, final, strict=False)):
            if (a.filename, a.name) != (b.filename, b.name):
                break
            moved[k] = dataclasses.replace(a, lineno=b.lineno, line=b.line, span=b.span)
        out.append(dataclasses.replace(exc, frames=moved))
    return [*out, excs[-1]]


def _rebuild_chain(excs: Sequence[Exc], sources: dict[str, str]) -> BaseException | None:
    built: list[BaseException] = []
    for exc in excs:
        one = _stand_in(exc)
        if exc.frames:
            one = _raise_through(exc.frames, one, sources)
        built.append(one)
    for older, newer, info in zip(built, built[1:], excs, strict=False):
        if info.separator == CAUSE:
            newer.__cause__ = older
            newer.__suppress_context__ = True
        else:
            newer.__context__ = older
    return built[-1] if built else None


def _stand_in(exc: Exc) -> BaseException:
    """An exception whose class has the printed name and whose str() is the printed value."""
    module, _, name = exc.ename.rpartition(".")
    known = getattr(builtins, name, None) if not module else None
    base: type[BaseException] = known if isinstance(known, type) and issubclass(known, BaseException) else Exception
    value = exc.evalue
    cls = type(name, (base,), {"__str__": lambda self: value, "__module__": module or "builtins"})
    cls.__qualname__ = name
    try:
        return cls()
    except Exception:  # noqa: BLE001 - a builtin whose constructor wants arguments
        plain = type(name, (Exception,), {"__str__": lambda self: value, "__module__": module or "builtins"})
        return plain()


def _raise_through(frames: Sequence[Frame], exc: BaseException, sources: dict[str, str]) -> BaseException:
    """`exc`, raised through stand-ins of `frames` (outermost first); its traceback is theirs alone."""

    def innermost() -> None:
        raise exc

    codes: set[types.CodeType] = set()
    call: Callable[[], None] = innermost
    for frame in reversed(user_frames(frames)):
        call = _stand_in_frame(frame, call, sources.get(frame.filename), codes)
    try:
        call()
    except BaseException as e:  # noqa: BLE001 - the one we raised
        chain, t = [], e.__traceback__
        while t is not None:
            if t.tb_frame.f_code in codes:  # not this module's own frames
                chain.append(t)
            t = t.tb_next
        for outer, inner in zip(chain, chain[1:], strict=False):
            outer.tb_next = inner
        if chain:
            chain[-1].tb_next = None
        return e.with_traceback(chain[0] if chain else None)
    return exc


def _stand_in_frame(
    frame: Frame, then: Callable[[], None], source: str | None, codes: set[types.CodeType]
) -> Callable[[], None]:
    """A function whose code says: file `frame.filename`, line `frame.lineno`, name `frame.name`."""
    if source is None and not frame.filename.startswith("<"):
        source = "".join(linecache.getlines(frame.filename)) or None
    params, qualname, first = _signature(frame, source)
    col, call_text = _positioned_call(frame, source)
    if frame.name == "<module>":
        # Module code cannot be indented: the positioned call only where the expression starts a line.
        text = "\n" * (frame.lineno - 1) + (call_text if call_text and col == 0 else "__mpk_next()") + "\n"
        module = compile(text, frame.filename, "exec")
        codes.add(module)
        return types.FunctionType(module, {"__mpk_next": then, "__name__": "__main__"})
    # The stand-in's `def` where the real one starts (IPython shows a function's lines from
    # its code's first line on), its call on the frame's line.
    first = first if first is not None and first < frame.lineno else max(frame.lineno - 1, 0)
    if first >= 1:
        text = "\n" * (first - 1) + f"def __mpk_f({params}):\n" + "\n" * (frame.lineno - first - 1)
        text += (" " * col + call_text if col > 0 else "    __mpk_next()") + "\n"
    else:
        text = "\n" * (frame.lineno - 1) + f"def __mpk_f({params}): __mpk_next()\n"
    ns: dict[str, Any] = {"__mpk_next": then, "__name__": "__main__"}
    exec(compile(text, frame.filename, "exec"), ns)
    fn = ns["__mpk_f"]
    code = fn.__code__.replace(co_name=frame.name)
    if hasattr(code, "co_qualname"):
        code = code.replace(co_qualname=qualname or frame.name)
    codes.add(code)
    stand_in = types.FunctionType(code, ns, frame.name)
    args, kwargs = _arguments(code)
    return lambda: stand_in(*args, **kwargs)


def _positioned_call(frame: Frame, source: str | None) -> tuple[int, str]:
    """A call to the next stand-in that covers the columns of the frame's failing expression.

    IPython finds the failing expression by the position of the frame's current instruction
    (`executing`), and marks it: a call at those very columns is found as that expression
    (a call is what a frame that is not the innermost one is running). (0, "") when unknown.
    """
    lines = (source or "").splitlines()
    if frame.span is None or not 1 <= frame.lineno <= len(lines):
        return 0, ""
    real = lines[frame.lineno - 1]
    indent = len(real) - len(real.lstrip())
    start, end = indent + frame.span[0], indent + frame.span[1]
    width = end - start
    if width < len("__mpk_next()") or real[start:end].strip() != real[start:end]:
        return 0, ""
    return start, "__mpk_next(" + " " * (width - len("__mpk_next()")) + ")"


def _signature(frame: Frame, source: str | None) -> tuple[str, str | None, int | None]:
    """The function the frame runs in, from its source: its parameters' names, its qualified
    name and its code's first line (its first decorator's, else its `def`'s)."""
    if not source:
        return "", None, None
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return "", None, None
    best: ast.FunctionDef | ast.AsyncFunctionDef | None = None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == frame.name:
            end = node.end_lineno or node.lineno
            if node.lineno <= frame.lineno <= end and (best is None or node.lineno > best.lineno):
                best = node
    if best is None:
        return "", None, None
    a = best.args
    parts = [x.arg for x in a.posonlyargs] + (["/"] if a.posonlyargs else []) + [x.arg for x in a.args]
    if a.vararg:
        parts.append("*" + a.vararg.arg)
    elif a.kwonlyargs:
        parts.append("*")
    parts += [x.arg for x in a.kwonlyargs]
    if a.kwarg:
        parts.append("**" + a.kwarg.arg)
    first = min([best.lineno, *(d.lineno for d in best.decorator_list)])
    return ", ".join(parts), _qualname(tree, best), first


def _qualname(tree: ast.AST, target: ast.AST) -> str:
    """`Class.method`, `outer.<locals>.inner`: the function's __qualname__, from the tree."""

    def walk(node: ast.AST, prefix: list[str]) -> list[str] | None:
        for child in ast.iter_child_nodes(node):
            if child is target:
                return [*prefix, target.name]  # type: ignore[attr-defined]
            if isinstance(child, ast.ClassDef):
                found = walk(child, [*prefix, child.name])
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found = walk(child, [*prefix, child.name, "<locals>"])
            else:
                found = walk(child, prefix)
            if found is not None:
                return found
        return None

    return ".".join(walk(tree, []) or [getattr(target, "name", "?")])


def _arguments(code: types.CodeType) -> tuple[list[None], dict[str, None]]:
    """Placeholder arguments for a stand-in's parameters (Context shows their names only)."""
    positional = [None] * (code.co_posonlyargcount + code.co_argcount - code.co_posonlyargcount)
    names = code.co_varnames[code.co_argcount : code.co_argcount + code.co_kwonlyargcount]
    return positional, dict.fromkeys(names)
