"""Unit tests of the value/display path's parsing and formatting (no servers)."""

from __future__ import annotations

import json

import pytest

from marimo_pair_kernel import outputs, scratchpad
from marimo_pair_kernel.inmarimo import base, sanitize, values
from marimo_pair_kernel.outputs import DISPLAY_MARK, DisplayStream


@pytest.fixture
def rt(monkeypatch) -> None:
    """The runtime's modules as a fresh marimo kernel has them (marimo is importable here)."""
    monkeypatch.setattr(base, "_S", {})


def line(msg: dict) -> str:
    return DISPLAY_MARK + json.dumps(msg) + "\n"


def test_runtime_and_kernel_agree_on_the_display_mark(rt):
    assert values.MARK == DISPLAY_MARK


def test_display_lines_are_taken_out_of_stdout_in_order():
    s = DisplayStream()
    one, two = line({"k": "display", "data": {"text/plain": "1"}}), line({"k": "clear", "wait": True})
    assert s.feed("a" + one + "b\n" + two) == [
        ("text", "a"),
        ("display", {"k": "display", "data": {"text/plain": "1"}}),
        ("text", "b\n"),
        ("display", {"k": "clear", "wait": True}),
    ]
    # A display written in pieces (marimo flushes its console every 10 ms) is put back together.
    big = line({"k": "display", "data": {"text/plain": "x" * 1000}})
    pieces = [big[i : i + 77] for i in range(0, len(big), 77)]
    got = [item for p in pieces for item in s.feed(p)]
    assert got == [("display", {"k": "display", "data": {"text/plain": "x" * 1000}})]
    assert s.close() == []


def test_cut_damaged_and_oversized_displays_become_notes(monkeypatch):
    s = DisplayStream()
    assert s.feed(DISPLAY_MARK + '{"k": "disp') == []
    assert s.close()[0][0] == "note"
    assert s.feed(DISPLAY_MARK + "{not json\nrest")[0][0] == "note"
    monkeypatch.setattr(outputs, "MAX_DISPLAY_CHARS", 100)
    s = DisplayStream()
    items = s.feed(line({"k": "display", "data": {"text/plain": "x" * 500}}) + "after")
    assert items[0][0] == "note" and "not shown" in items[0][1] and items[1] == ("text", "after")


def test_value_bundle_passes_runtime_data_and_drops_marimo_html():
    assert outputs.value_bundle({"text/plain": "1", "application/json": {"a": 1}}, None) == {
        "text/plain": "1",
        "application/json": {"a": 1},
    }

    class Out:
        mimetype = "text/html"
        data = "<marimo-ui-element object-id='x'><marimo-slider></marimo-slider></marimo-ui-element>"

    assert "text/html" not in (outputs.value_bundle(None, Out()) or {})  # type: ignore[arg-type]


def test_sanitize_html(rt):
    clean = sanitize.sanitize_html
    assert clean("<b>plain</b>") == "<b>plain</b>"
    callout = (
        "<marimo-callout-output data-html='\"&lt;b&gt;hi&lt;/b&gt;\"' data-kind='\"warn\"'></marimo-callout-output>"
    )
    assert clean(callout) == "<b>hi</b>"
    assert clean("<marimo-lazy></marimo-lazy>") is None  # nothing visible: drop the HTML
    ui = (
        "<div>a<marimo-ui-element object-id='nope' random-id='r'>"
        "<marimo-slider></marimo-slider></marimo-ui-element></div>"
    )
    out = clean(ui)
    assert "<marimo-" not in out and "a marimo control" in out


def test_bundles(rt):
    import marimo as mo

    b = values.bundle
    assert b(None) is None
    assert b(42) == {"data": {"text/plain": "42"}, "metadata": {}}
    slider = b(mo.ui.slider(0, 10, value=3, label="n"))["data"]
    assert slider["text/plain"].startswith("slider(start=0, stop=10, value=3, label='n')")
    assert "<marimo-" not in slider["text/html"] and "<b>n</b>" in slider["text/html"]
    secret = b(mo.ui.text(kind="password", value="hunter2"))["data"]
    assert "hunter2" not in json.dumps(secret)

    class Bytes:
        def _repr_png_(self) -> bytes:
            return b"\x89PNG"

    assert b(Bytes())["data"]["image/png"] == "iVBORw=="  # base64, as ipykernel encodes bytes


def test_prepare_hands_the_users_code_to_the_runtime():
    owner = scratchpad.Owner("k1", "host", 7)
    for code in ("x = 1", "1;", "for i in []:\n    pass"):
        p = scratchpad.prepare(code, "http://127.0.0.1:1", owner, 3)
        assert p.code == (
            f"(_mpk_value := __import__('sys').modules[{scratchpad.RUNTIME_MODULE!r}]"
            f".run('k1', {code!r}, 3, 'http://127.0.0.1:1', False, ('host', 7)))\n"
        )
        assert not p.has_value and p.source == code
    assert scratchpad.prepare("1 + 1").has_value
    assert ".run(None, '1 + 1', 0, '', True, None)" in scratchpad.prepare("1 + 1").code  # nothing persists
    assert "await __import__" in scratchpad.prepare("import asyncio\nawait asyncio.sleep(0)").code
    assert ".run_async(" not in scratchpad.prepare("async def f():\n    await g()").code


def test_without_ipython_repr_and_marimo_form(monkeypatch):
    import marimo as mo

    monkeypatch.setattr(base, "_S", {"fmt": False})  # IPython not importable there
    b = values.bundle
    assert b([1, 2]) == {"data": {"text/plain": "[1, 2]"}, "metadata": {}}
    md = b(mo.md("**x**"))["data"]
    # text/plain is the Markdown source (issue 18 item 7), not marimo's repr `_md()`.
    assert md["text/plain"] == "**x**" and "<strong>x</strong>" in md.get("text/html", md.get("text/markdown", ""))


def test_marimo_elements_with_their_content_in_attributes(rt):
    import marimo as mo

    html = {
        name: values.bundle(obj)["data"]["text/html"]
        for name, obj in {
            "json": mo.json({"a": 1}),
            "stat": mo.stat(value="12", label="Count"),
            "mermaid": mo.mermaid("graph LR; A-->B"),
            "tree": mo.tree({"a": [1, 2]}),
        }.items()
    }
    assert all("<marimo-" not in h for h in html.values())
    assert html["json"].startswith("<pre>") and "&quot;a&quot;: 1" in html["json"]
    assert "Count" in html["stat"] and "<b>12</b>" in html["stat"]
    assert "graph LR; A--&gt;B" in html["mermaid"]
