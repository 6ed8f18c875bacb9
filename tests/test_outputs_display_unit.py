"""The runtime's own display protocol (inmarimo/pretty.py, formatter.py), measured against IPython's formatter.

Where the notebook's Python has no IPython, the runtime formats values itself. IPython is
installed here, so its DisplayFormatter is the yardstick: the same objects through both must
give the same bundle (text/plain with memory addresses normalized, every other form equal,
metadata equal) and the same stderr. Also: the text/plain of marimo objects and figures, and
the hint for a missing module. No servers.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime
import io
import re
import sys
import types
import warnings
from typing import Any

import matplotlib
import pytest

from marimo_pair_kernel import outputs
from marimo_pair_kernel.inmarimo import base, formatter, values

matplotlib.use("agg")


@pytest.fixture
def rt(monkeypatch) -> None:
    """The runtime's modules as a fresh marimo kernel has them: no display formatter chosen yet."""
    monkeypatch.setattr(base, "_S", {})


@pytest.fixture(scope="module")
def ipython_fmt() -> Any:
    from IPython.core.formatters import DisplayFormatter

    return DisplayFormatter()


# -- objects both formatters see -------------------------------------------------------------


class Plain:
    pass


def twice(x: int) -> int:
    return 2 * x


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0


class Pretty:
    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        with p.group(4, "Pty(", ")"):
            for i in range(30):
                if i:
                    p.text(",")
                    p.breakable()
                p.pretty({"item": i})


class Html:
    def _repr_html_(self) -> str:
        return "<em>h</em>"


class HtmlNone:
    def _repr_html_(self) -> None:
        return None

    def __repr__(self) -> str:
        return "HtmlNone()"


class WithMeta:
    def _repr_png_(self) -> tuple[bytes, dict]:
        return b"\x89PNG fake", {"width": 40}

    def _repr_json_(self) -> tuple[dict, dict]:
        return {"a": 1}, {"expanded": True}


class Bundle:
    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict:
        return {"text/html": "<b>b</b>", "text/markdown": "**b**", "text/plain": "B!"}


class BundleMeta:
    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> tuple[dict, dict]:
        return {"image/png": "aGk=", "text/html": "<i>m</i>"}, {"image/png": {"width": 3}}

    def _repr_latex_(self) -> str:
        return "$m$"

    def _repr_html_(self) -> str:
        return "<b>not used: the bundle has text/html</b>"


class ListWithBundle(list):
    """A builtin subclass: IPython's registered list printer wins over the bundle's text/plain."""

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict:
        return {"text/plain": "ignored", "text/html": "<ul></ul>"}


class AllForms:
    def _repr_html_(self) -> str:
        return "<p>all</p>"

    def _repr_markdown_(self) -> str:
        return "*all*"

    def _repr_svg_(self) -> str:
        return "<svg></svg>"

    def _repr_jpeg_(self) -> bytes:
        return b"jpeg"

    def _repr_latex_(self) -> str:
        return "$a$"

    def _repr_javascript_(self) -> str:
        return "1"

    def _repr_pdf_(self) -> bytes:
        return b"%PDF"


class WrongType:
    def _repr_html_(self) -> int:
        return 42


class NotImpl:
    def _repr_html_(self) -> str:
        raise NotImplementedError


class Proxy:
    """Claims every attribute: IPython's canary check ignores its _repr_*_."""

    def __getattr__(self, name: str) -> Any:
        return lambda *a, **k: "<b>proxy</b>"

    def __repr__(self) -> str:
        return "Proxy()"


class SelfShown:
    shown = 0

    def _ipython_display_(self) -> None:
        SelfShown.shown += 1


def objects() -> list[Any]:
    import numpy as np
    import pandas as pd

    nested: list = [1]
    nested.append(nested)
    return [
        42, 1 / 3, True, None, "hello", "line one\nline two", b"\x00abc" * 3, 3 + 4j,
        [1, "two", 3.0], (1, None, "x"), (1,), (), {3, 1, 2}, set(), frozenset({2, 1}), frozenset(),
        {"a": 1, "b": [1, 2], "c": None}, list(range(2000)), {i: str(i) * 3 for i in range(30)},
        set(range(1500)), [[i] * 12 for i in range(8)], {"k" * 50: ["v" * 30] * 5}, nested,
        range(10), slice(1, 5), datetime.date(2024, 1, 2), datetime.datetime(2024, 1, 2, 3, 4),
        datetime.timedelta(days=2), Plain(), Plain, int, twice, len, print, Point(1), [Point(i) for i in range(9)],
        ValueError("bad", 3), KeyError("k"), re.compile(r"\s+", re.I | re.M), types.SimpleNamespace(a=1, b=[2]),
        collections.OrderedDict(a=1), collections.OrderedDict(), collections.Counter("abca"),
        collections.deque([1, 2], maxlen=3), collections.defaultdict(list, {1: [2]}), collections.UserList([1]),
        type.__dict__["mro"], Pretty(), Html(), HtmlNone(), WithMeta(), Bundle(), BundleMeta(), ListWithBundle([1]),
        AllForms(), NotImpl(), Proxy(), np.arange(6).reshape(2, 3), np.arange(10_000), np.float64(1.5),
        np.int64(3), pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}), pd.Series([1.5, 2.5], name="s"),
        pd.DataFrame({"a": [1, 2, 3, 4]}).describe(), pd.DataFrame(np.arange(20_000).reshape(1000, 20)),
    ]


def _normal(text: Any) -> Any:
    return re.sub(r"0x[0-9a-f]+", "0x…", text) if isinstance(text, str) else text


def _both(rt: None, ipf: Any, obj: Any, **kw: Any) -> tuple[tuple, tuple, str, str]:
    out = []
    for fmt in (ipf, formatter.MiniFormatter()):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = lambda m, c, *a, **k: print(f"{c.__name__}: {m}", file=sys.stderr)
            data, md = fmt.format(obj, **kw)
        out.append(({k: _normal(v) for k, v in data.items()}, md, err.getvalue()))
    (a, ma, ea), (b, mb, eb) = out
    return (a, ma), (b, mb), ea, eb


@pytest.mark.parametrize("index", range(len(objects())))
def test_the_runtime_formats_as_ipython_does(rt, ipython_fmt, index):
    obj = objects()[index]
    ours_ref, ours, err_ref, err = _both(rt, ipython_fmt, obj)
    assert ours == ours_ref, f"{type(obj).__name__}: {ours} vs IPython {ours_ref}"
    assert err == err_ref


def test_include_exclude_and_warnings_follow_ipython(rt, ipython_fmt):
    for kw in ({"include": ["text/html"]}, {"exclude": ["text/html", "text/plain"]},
               {"include": ["image/png", "text/plain"], "exclude": ["text/plain"]}):
        for obj in (AllForms(), BundleMeta(), Bundle(), [1, 2]):
            ref, ours, _, _ = _both(rt, ipython_fmt, obj, **kw)
            assert ours == ref, (kw, type(obj).__name__)
    ref, ours, err_ref, err = _both(rt, ipython_fmt, WrongType())
    assert ours == ref and "FormatterWarning: text/html formatter returned invalid type <class 'int'>" in err
    assert err == err_ref


def test_a_raising_repr_method_prints_its_traceback_and_is_skipped(rt, ipython_fmt):
    class Raises:
        def _repr_html_(self) -> str:
            raise ValueError("no html today")

        def __repr__(self) -> str:
            return "Raises()"

    ref, ours, err_ref, err = _both(rt, ipython_fmt, Raises())
    assert ours == ref == ({"text/plain": "Raises()"}, {})
    assert "Traceback (most recent call last)" in err and "ValueError: no html today" in err


def test_an_object_that_displays_itself_gives_no_bundle(rt, ipython_fmt):
    before = SelfShown.shown
    ref, ours, _, _ = _both(rt, ipython_fmt, SelfShown())
    assert ours == ref == ({}, {}) and SelfShown.shown == before + 2


def test_figures_are_png_as_the_inline_backend_makes_them(rt):
    import base64
    import struct

    from IPython.core.pylabtools import print_figure
    from matplotlib.figure import Figure

    fig = Figure()
    fig.add_subplot().plot([1, 2])
    ours = formatter.MiniFormatter().format(fig)[0]
    ref = print_figure(fig, "png", base64=True, bbox_inches="tight")
    size = [struct.unpack(">II", base64.b64decode(x)[16:24]) for x in (ours["image/png"], ref)]
    assert size[0] == size[1]
    assert ours["text/plain"] == "<Figure size 640x480 with 1 Axes>"  # ipykernel's, when there are no titles
    assert formatter._print_figure(Figure()) is None  # an empty figure shows nothing, as in IPython


def test_figure_text_names_size_titles_and_labels(rt):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3))
    fig.suptitle("Quarter")
    a, b = fig.subplots(1, 2)
    a.set_title("Sales")
    a.set_xlabel("month")
    a.set_ylabel("EUR")
    b.plot([1])
    text = formatter.plain_text(fig, {})
    assert text.splitlines() == [
        "<Figure size 800x300 with 2 Axes>",
        "  suptitle 'Quarter'",
        "  axes 1: title 'Sales', xlabel 'month', ylabel 'EUR'",
    ]


def test_marimo_objects_text_says_what_they_show(rt):
    import marimo as mo

    md = mo.md("# Title\n\nsome *text*")
    assert values.bundle(md)["data"]["text/plain"] == "# Title\n\nsome *text*"
    cases = [
        (mo.hstack([mo.md("left"), mo.md("right")]), ["left", "right"]),
        (mo.callout(mo.md("careful"), kind="warn"), ["careful"]),
        (mo.json({"key": 1}), ['"key": 1']),
        (mo.stat(value="12", label="Count"), ["Count", "12"]),
        (mo.mermaid("graph LR; Alpha-->Beta"), ["graph LR; Alpha-->Beta"]),
        (mo.accordion({"More": mo.md("hidden text")}), ["More", "hidden text"]),
        (mo.Html("<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>"), ["a | b", "1 | 2"]),
    ]
    for obj, shown in cases:
        text = values.bundle(obj)["data"]["text/plain"]
        assert "Html()" not in text and "<" not in text.replace("<-", ""), text
        for s in shown:
            assert s in text, (type(obj).__name__, text)


def test_html_text(rt):
    html_text = formatter.html_text
    page = "<div><p>one  two</p><ul><li>a</li><li>b</li></ul><style>x{}</style></div>"
    assert html_text(page) == "one two\n- a\n- b"
    assert html_text("<pre>  keep\n    this</pre>") == "  keep\n    this"
    assert html_text('<img alt="chart">') == "[image: chart]"


def test_no_cached_failure_of_the_ipython_import(rt, monkeypatch, tmp_path):
    """IPython missing, then there: the next value uses IPython's formatter."""
    import importlib.util

    real = importlib.util.find_spec
    missing = {"on": True}

    class Block:
        def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
            if missing["on"] and (name == "IPython" or name.startswith("IPython.")):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    def find_spec(name: str, *a: Any) -> Any:
        return None if missing["on"] and name == "IPython" else real(name, *a)

    base._S.pop("fmt", None)
    saved = {k: v for k, v in sys.modules.items() if k == "IPython" or k.startswith("IPython.")}
    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    sys.meta_path.insert(0, Block())
    try:
        for k in saved:
            del sys.modules[k]
        assert type(values._formatter()).__name__ == "MiniFormatter"
        assert formatter.ipython_formatter_failed()
        missing["on"] = False
        # Nothing changed where imports look (sys.path and its folders): no second look, no cost.
        assert type(values._formatter()).__name__ == "MiniFormatter"
        (tmp_path / "installed.txt").write_text("")  # an install writes into a sys.path folder
        monkeypatch.syspath_prepend(str(tmp_path))
        assert type(values._formatter()).__name__ == "DisplayFormatter"
    finally:
        sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "Block"]
        sys.modules.update(saved)


def test_module_hint_names_the_package_to_add():
    assert outputs.module_hint("ModuleNotFoundError", "No module named 'pandas'").endswith("%packages add pandas")
    assert outputs.module_hint("ModuleNotFoundError", "No module named 'sklearn'").endswith(
        "%packages add scikit-learn")
    ipy = outputs.module_hint("ModuleNotFoundError", "No module named 'IPython'")
    assert ipy.endswith("%packages add ipython") and "display()" in ipy
    assert outputs.module_hint("ModuleNotFoundError", "No module named 'pkg.sub'") is None  # pkg is there
    assert outputs.module_hint("ImportError", "No module named 'x'") is None
    err = outputs.parse_error(
        'Traceback (most recent call last):\n  File "<stdin>", line 1, in <module>\n'
        "ModuleNotFoundError: No module named 'polars'\n"
    )
    assert err.traceback[-1].endswith("%packages add polars") and err.evalue == "No module named 'polars'"
