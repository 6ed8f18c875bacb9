"""The pieces of the traceback layout that need no marimo: our rewrite taken out of IPython's
layout, frames rebuilt from text against IPython's layout of the real exception, and the
runtime package installed from its text as marimo gets it."""

from __future__ import annotations

import linecache
import re
import traceback

import pytest

from marimo_pair_kernel import rebuilt, scratchpad, traceback_text, tracebacks

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_the_runtime_installs_from_text_without_ipython_or_marimo(monkeypatch):
    # The runtime's modules call each other through relative imports (no shared namespace whose
    # names could replace each other's): installed from their text, as the marimo kernel gets them,
    # in a Python where neither IPython nor marimo can be imported, every one resolves, and every
    # frame of theirs carries the file name the traceback code drops.
    import builtins
    import sys

    from marimo_pair_kernel.inmarimo import loader

    real = builtins.__import__

    def refuse(name, *args, **kw):
        if name.split(".")[0] in ("IPython", "marimo"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", refuse)
    name = "_mpk_tracebacks_unit"
    try:
        pkg = loader.install(name, scratchpad.RUNTIME_SOURCES, scratchpad.RUNTIME_FILENAME)
        stems = {stem for stem, _ in scratchpad.RUNTIME_SOURCES if stem != "__init__"}
        assert {m for m in sys.modules if m.startswith(name + ".")} == {f"{name}.{s}" for s in stems}
        for stem in stems:
            module = sys.modules[f"{name}.{stem}"]
            for value in vars(module).values():  # each `from . import x` is the installed x
                if isinstance(value, type(sys)) and value.__name__.startswith("_mpk"):
                    assert value is sys.modules[value.__name__] and value.__name__.startswith(name + ".")
        assert pkg.values.bundle([1, 2])["data"]["text/plain"] == "[1, 2]"  # MiniFormatter: no IPython
        assert pkg.format_error.__code__.co_filename == traceback_text.RUNTIME_FILE
        assert loader.install(name, (), "") is pkg  # once per marimo kernel
    finally:
        for m in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[m]


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
