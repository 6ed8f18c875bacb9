"""The pieces of the traceback layout that need no marimo: our rewrite taken out of IPython's
layout, frames rebuilt from text against IPython's layout of the real exception, and the
runtime files sharing one namespace without replacing each other's names."""

from __future__ import annotations

import ast
import linecache
import re
import traceback

import pytest

from marimo_pair_kernel import rebuilt, scratchpad, traceback_text, tracebacks

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_no_runtime_file_replaces_another_files_name():
    # The runtime files run into one namespace: a name defined twice silently replaces the earlier
    # file's (runtime_widgets' `_plain` once replaced runtime_display's text/plain formatter).
    def top_level(source: str) -> set[str]:
        names = set()
        for node in ast.parse(source).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        return names

    seen: dict[str, str] = {}
    clashes = []
    for path, src in zip(scratchpad.RUNTIME_FILES, scratchpad.RUNTIME_SOURCES, strict=True):
        for name in top_level(src):
            if seen.get(name, path.name) != path.name:
                clashes.append(f"{name}: {seen[name]} and {path.name}")
            seen.setdefault(name, path.name)
    assert clashes == []


def _real_and_text(source: str, filename: str) -> tuple[BaseException, str]:
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        exec(compile(source, filename, "exec"), {"__name__": "__main__"})
    except Exception as e:  # noqa: BLE001 - the one we want
        tb = e.__traceback__.tb_next  # type: ignore[union-attr]  # this function's own frame
        return e.with_traceback(tb), "".join(traceback.format_exception(type(e), e, tb))
    raise AssertionError("no exception")


@pytest.mark.parametrize("mode", ["Plain", "Minimal"] + (["Context"] if tracebacks.ipython_major() >= 9 else []))
@pytest.mark.parametrize(
    "source",
    [
        "def f(a, *r, k=1, **kw):\n    return a / 0\n\nf(2)\n",
        "class K:\n    def m(self):\n        raise ValueError('bad\\nvalue')\nK().m()\n",
        "try:\n    1/0\nexcept Exception:\n    undefined_q\n",
    ],
)
def test_rebuilt_frames_look_as_the_real_ones(source, mode):
    from IPython.core import ultratb

    filename = "/tmp/mpk-unit/__marimo__cell___scratch___.py"
    exc, text = _real_and_text(source, filename)
    ctx = tracebacks.Context(count=7, scratch=source, mode=mode)
    theme = {"theme_name": "neutral"} if tracebacks.ipython_major() >= 9 else {"color_scheme": "Neutral"}
    formatter = ultratb.AutoFormattedTB(mode=mode, **theme)
    real = traceback_text.with_shell(ctx, lambda: formatter.structured_traceback(type(exc), exc, exc.__traceback__))
    excs = tracebacks.parse(text)
    assert excs is not None
    assert rebuilt.format(excs, ctx, {filename: source}) == real
    assert "Cell In[7]" in ANSI.sub("", "".join(real)) or mode == "Minimal"
