"""mermaid.py without marimo: escaping that cannot break a diagram, states, cycles, large notebooks.

A diagram is checked against the only statement forms flowchart() writes; whatever the cells'
names, defs and code, every line must be one of them, and every label must show (after
mermaid's `#N;` decoding) the text it was made from.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from marimo_pair_kernel import mermaid
from marimo_pair_kernel.mermaid import MAX_LABEL, escape, flowchart, problems, unescape

LABEL = r'"(?:[^"\n\[\]{}|<>`]|<br/>)*"'  # nothing mermaid reads as syntax, but our line breaks
STATEMENT = re.compile(
    rf"^    (?:"
    rf"c\d+\[{LABEL}\]"  # a cell
    rf"|m\d+\(\[{LABEL}\]\)"  # a name no cell defines
    rf"|[cm]\d+ -\.?->?\|{LABEL}\| c\d+"  # an edge
    rf"|classDef \w+ [\w:#.,\- ]+"
    rf"|class [cm]\d+(?:,[cm]\d+)* \w+"
    rf")$"
)
NASTY = [
    'say "hi"',
    "a[0] --> b",
    "x-->y---z",
    "]] ) }} {{ (( [[",
    "%%{init: {'theme': 'dark'}}%%",
    "données_Δx_名前",
    "n" * 300,
    "<script>alert(1)</script>",
    "a|b;c#d&e`f`",
    "line1\nline2\r\n\ttab",
    "zero\u200bwidth\u202eRTL",
    "classDef x fill:#f00;",
    "end",
    "style: #x;",
]


def check(text: str) -> None:
    lines = text.rstrip("\n").split("\n")
    assert lines[0] == "flowchart TD"
    for ln in lines[1:]:
        assert STATEMENT.match(ln), ln


def cell(i: int, name: str | None = None, defs=(), refs=(), code: str = "", status: str | None = "idle") -> dict:
    return {"index": i, "id": f"id{i}", "name": name, "defs": list(defs), "refs": list(refs), "code": code,
            "status": status}


def labels(text: str) -> dict[str, str]:
    return {m[1]: unescape(m[2]) for m in re.finditer(r'^    (\w+)\(?\["([^"]*)"\]\)?$', text, re.M)}


@given(st.text())
def test_escape_keeps_the_text_and_leaves_nothing_mermaid_reads(text):
    out = escape(text)
    assert not set(out) & set('"\n\r[]{}|<>`%&\\'), out
    assert "--" not in out
    assert re.fullmatch(r"(?:[^#;]|#\d+;)*", out), out  # every # starts an entity, every ; ends one
    flat = " ".join(text.split())
    shown = unescape(out)
    if len(flat) <= MAX_LABEL:
        assert shown == flat
    else:
        assert len(shown) == MAX_LABEL and shown.endswith("…") and flat.startswith(shown[:-1])


statuses = st.sampled_from([None, "idle", "exception", "marimo-error", "stale", "running", "queued", "cancelled"])
words = st.text(min_size=1, max_size=60)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), words), st.lists(words, max_size=3), st.text(max_size=80), statuses),
                min_size=1, max_size=8),
       st.data())
def test_any_names_defs_and_code_make_a_well_formed_diagram(specs, data):
    cells = [cell(i, name, defs, [], code, status) for i, (name, defs, code, status) in enumerate(specs)]
    all_defs = [d for c in cells for d in c["defs"]]
    for c in cells:  # read some of the names others define, and maybe one nobody does
        c["refs"] = data.draw(st.lists(st.sampled_from(all_defs), max_size=3, unique=True)) if all_defs else []
        c["refs"] = [r for r in c["refs"] if r not in c["defs"]] + data.draw(st.lists(words, max_size=1))
    target = data.draw(st.one_of(st.none(), st.sampled_from(cells)))
    diagram = flowchart(cells, target=target)
    assert diagram.text is not None
    check(diagram.text)
    shown = labels(diagram.text)
    for c in cells:
        head = " ".join((c["name"] or c["id"]).split())[: MAX_LABEL - 1]
        assert shown[f"c{c['index']}"].startswith(head)


def test_nasty_names_and_code_stay_inside_their_labels():
    cells = [cell(i, name, [name.split()[0] if name.split() else "v"], [], name) for i, name in enumerate(NASTY)]
    cells.append(cell(len(NASTY), None, [], [], 'print("a --> [b]") # {x} | <y>'))
    text = flowchart(cells).text
    check(text)
    shown = labels(text)
    assert shown["c0"].startswith('say "hi" · id0')
    assert shown["c1"].startswith("a[0] --> b · id1")
    assert shown["c5"].startswith("données_Δx_名前 · id5")
    assert shown["c6"].startswith("n" * (MAX_LABEL - 1) + "…")
    assert shown[f"c{len(NASTY)}"] == f'id{len(NASTY)}<br/>print("a --> [b]") # {{x}} | <y>'
    assert "%%{" not in text and "<script" not in text


def test_states_are_classes_and_words():
    cells = [
        cell(0, "ok", ["a"]),
        cell(1, "boom", ["b"], ["a"], status="exception"),
        cell(2, "old", ["c"], ["a"], status="stale"),
        cell(3, "busy", ["d"], ["c"], status="running"),
        cell(4, "blocked", ["e"], status="marimo-error"),
    ]
    text = flowchart(cells).text
    assert "    class c1,c4 error\n" in text
    assert "    class c2 stale\n" in text and "    class c3 running\n" in text
    shown = labels(text)
    assert shown["c1"].endswith("⚠ exception") and shown["c4"].endswith("⚠ marimo-error")
    assert shown["c2"].endswith("stale") and shown["c3"].endswith("running")
    assert shown["c0"] == "ok · id0<br/>defs: a"
    assert "c0 -->" in text and "class c0" not in text


def test_target_is_marked_with_its_neighbourhood_and_the_rest_faded():
    cells = [cell(0, None, ["a"]), cell(1, None, ["b"], ["a"]), cell(2, None, ["c"], ["b"]), cell(3, None, ["z"])]
    text = flowchart(cells, target=cells[1]).text
    assert "    class c1 target\n" in text and "    class c0,c2 near\n" in text and "    class c3 far\n" in text
    # The target's mark comes last, so it wins over a state's stroke.
    assert text.index("class c1 target") > text.index("class c0,c2 near")


def test_edge_per_ref_multiply_defined_and_undefined_names():
    cells = [cell(0, None, ["x"]), cell(1, None, ["x"]), cell(2, None, ["y"], ["x", "nowhere"])]
    text = flowchart(cells).text
    check(text)
    assert '    c0 -->|"x"| c2\n' in text and '    c1 -->|"x"| c2\n' in text
    assert '    m0(["nowhere #183; not defined"])\n' in text and '    m0 -.->|"nowhere"| c2\n' in text
    assert problems(cells) == [
        "'x' is defined by 2 cells (id0, id1): marimo runs none of them until only one does."
    ]


def test_cycles_are_found_and_named():
    cells = [
        cell(0, "a", ["a"], ["c"]),
        cell(1, "b", ["b"], ["a"]),
        cell(2, "c", ["c"], ["b"]),
        cell(3, "d", ["d"], ["a"]),
        cell(4, "e", ["e"], ["f"]),
        cell(5, "f", ["f"], ["e"]),
    ]
    assert problems(cells) == [
        "cycle: a (id0) → b (id1) → c (id2) → a (id0): each reads a name another defines, so marimo runs none of them.",
        "cycle: e (id4) → f (id5) → e (id4): each reads a name another defines, so marimo runs none of them.",
    ]
    check(flowchart(cells).text)


def test_large_notebooks_draw_a_neighbourhood_or_say_how_to_ask():
    cells = [cell(0, None, ["v0"])] + [cell(i, None, [f"v{i}"], [f"v{i - 1}"]) for i in range(1, 70)]
    whole = flowchart(cells)
    assert whole.text is None and "this notebook has 70" in whole.notes[0] and "%graph TARGET" in whole.notes[0]
    near = flowchart(cells, target=cells[30])
    assert set(labels(near.text)) == {"c29", "c30", "c31"} and "parents and children only" in near.notes[0]
    small = flowchart(cells, target=cells[3], max_nodes=100)
    assert len(labels(small.text)) == 70  # a notebook under the limit is drawn whole
    hub = [cell(0, None, ["h"])] + [cell(i, None, [f"w{i}"], ["h"]) for i in range(1, 80)]
    drawn = flowchart(hub, target=hub[0])
    assert len(labels(drawn.text)) == mermaid.MAX_NODES and "c0" in labels(drawn.text)
    assert drawn.notes[-1] == f"Only {mermaid.MAX_NODES} of them are drawn."
    assert flowchart([]).text is None
