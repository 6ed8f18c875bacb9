"""%graph's mermaid diagram and %cells' state marks, against real marimo servers and real kernels.

The diagram is read back as text: nodes `cN["label"]` (N = the cell's index), edges
`cA -->|"names"| cB`, and `class cN,cM STATE` lines. Labels are unescaped as mermaid does
(`#N;` → the character). That JupyterLab really draws it is tests/test_client_jupyterlab_graph.py.
"""

from __future__ import annotations

import re
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient
from support import KERNELSPEC, MarimoServer, Run, execute, started_kernel

from marimo_pair_kernel.mermaid import unescape

pytestmark = pytest.mark.timeout(240)

PAIR = "application/vnd.marimo-pair+json"
MERMAID = "text/vnd.mermaid"


def ok(run: Run) -> Run:
    assert run.reply["status"] == "ok", (run.reply, run.stdout, run.stderr)
    return run


def graph(kc, line: str = "%graph") -> tuple[str | None, dict]:
    """(the diagram drawn on its own, the listing's bundle) of one %graph."""
    run = ok(execute(kc, line))
    bundles = [*run.displays, *([run.result] if run.result else [])]
    listing = [b for b in bundles if PAIR in b]
    assert len(listing) == 1, bundles
    drawn = [b for b in bundles if PAIR not in b]
    if listing[0].get(MERMAID) is None:
        assert drawn == [], drawn
        return None, listing[0]
    assert drawn == [{MERMAID: listing[0][MERMAID]}], drawn
    return listing[0][MERMAID], listing[0]


def nodes(text: str) -> dict[str, str]:
    """node id → its label as mermaid shows it."""
    return {m[1]: unescape(m[2]) for m in re.finditer(r'^\s+(\w+)\[?\(?\["([^"\n]*)"\]\)?\]?$', text, re.M)}


def edges(text: str) -> dict[tuple[str, str], list[str]]:
    """(from, to) → the names on the edge."""
    found = {}
    for m in re.finditer(r'^\s+(\w+) -\.?->?\|"([^"\n]*)"\| (\w+)$', text, re.M):
        found[m[1], m[3]] = [n.strip() for n in unescape(m[2]).split(",")]
    return found


def classes(text: str) -> dict[str, set[str]]:
    """class name → node ids in it."""
    out: dict[str, set[str]] = {}
    for m in re.finditer(r"^\s+class ([\w,]+) (\w+)$", text, re.M):
        out.setdefault(m[2], set()).update(m[1].split(","))
    return out


def node_of(cell: dict) -> str:
    return f"c{cell['index']}"


# -- the diagram names what each cell defines and draws an edge per ref ----------------------------


def test_diagram_has_every_cells_defs_and_an_edge_per_ref(kernel):
    ok(execute(kernel, "%%cell --name graph_mid\nmid_v = answer + seed\n"))
    ok(execute(kernel, "%%cell --name graph_end\nend_v, end_w = mid_v * 2, answer\n"))
    ok(execute(kernel, "%%cell\nprint(end_v)\n"))  # defines nothing: labelled with its code
    text, listing = graph(kernel)
    assert text is not None and text.startswith("flowchart TD\n")
    cells = listing[PAIR]["cells"]
    shown = nodes(text)
    assert set(shown) == {node_of(c) for c in cells}
    definers: dict[str, list[dict]] = {}
    for c in cells:
        label = shown[node_of(c)]
        assert label.startswith(c["name"] or c["id"]) and c["id"] in label, label
        for d in c["defs"]:
            assert re.search(rf"\b{d}\b", label), (d, label)
            definers.setdefault(d, []).append(c)
    assert "print(end_v)" in shown[node_of(cells[-1])]
    drawn = edges(text)
    count = 0
    for c in cells:
        for r in c["refs"]:
            for d in definers[r]:
                assert r in drawn[node_of(d), node_of(c)], (r, d["id"], c["id"], text)
                count += 1
    assert count >= 5  # answer←seed, mid←answer,seed, end←mid,answer, print←end
    assert sum(len(v) for v in drawn.values()) == count  # and no edge that is not a ref
    # The table and the JSON stay as they were, beside the diagram.
    assert "defs" in listing["text/plain"] and "<table>" in listing["text/html"]
    assert listing[PAIR]["problems"] == []


def test_graph_target_marks_the_cell_and_its_neighbourhood(kernel):
    text, listing = graph(kernel, "%graph graph_mid")
    data = listing[PAIR]
    cells = {c["id"]: c for c in [data["cell"], *data["ancestors"], *data["descendants"]]}
    marks = classes(text)
    assert marks["target"] == {node_of(data["cell"])}
    assert marks["near"] == {node_of(c) for c in [*data["ancestors"], *data["descendants"]]}
    assert {"Hbol", "MJUe"} <= set(cells)  # seed and answer feed it
    # The whole notebook is drawn (small), the rest faded.
    everything = nodes(text)
    assert set(everything) - {node_of(c) for c in cells.values()} == marks.get("far", set())


# -- states: an error, a stale cell --------------------------------------------------------------


def test_errored_and_stale_cells_are_marked_in_graph_and_cells(kernel):
    run = execute(kernel, "%%cell --name graph_boom\nboom_v = 1 / 0\n")
    assert run.reply["status"] == "error"
    # Edited without running: stale until it runs again.
    ok(execute(kernel, "%%cell edit graph_mid --no-run\nmid_v = answer + seed + 1\n"))
    text, listing = graph(kernel)
    by_name = {c["name"]: c for c in listing[PAIR]["cells"]}
    boom, mid = by_name["graph_boom"], by_name["graph_mid"]
    assert boom["status"] == "exception" and mid["status"] == "stale"
    marks, shown = classes(text), nodes(text)
    assert node_of(boom) in marks["error"] and "exception" in shown[node_of(boom)]
    assert node_of(mid) in marks["stale"] and "stale" in shown[node_of(mid)]
    assert "Hbol" not in {c["id"] for c in listing[PAIR]["cells"] if node_of(c) in marks.get("error", ())}

    run = ok(execute(kernel, "%cells"))
    (bundle,) = [b for b in [*run.displays, run.result] if b and PAIR in b]
    rows = {ln.split()[1]: ln for ln in bundle["text/plain"].splitlines() if re.match(r"^\d+\s", ln)}
    assert "exception" in rows[boom["id"]] and "stale" in rows[mid["id"]]
    html = bundle["text/html"]
    # Colour and the word: the badge carries the status word itself.
    assert re.search(r'class="mpk-status mpk-error"[^>]*>[^<]*exception</span>', html), html
    assert re.search(r'class="mpk-status mpk-stale"[^>]*>stale</span>', html), html
    assert html.count("mpk-status") == sum(
        c["status"] in ("exception", "stale", "cancelled", "marimo-error") for c in listing[PAIR]["cells"]
    )
    assert "Not run to the end: graph_boom" in bundle["text/plain"]
    ok(execute(kernel, "%cell run graph_mid"))
    ok(execute(kernel, "%cell delete graph_boom"))


# -- a notebook whose graph marimo refuses to run ----------------------------------------------------

BROKEN = '''
import marimo

app = marimo.App()


@app.cell
def _():
    x = 1
    return (x,)


@app.cell
def _():
    x = 2
    return (x,)


@app.cell
def _(x):
    y = x + 1
    return (y,)


@app.cell
def _(b):
    a = b + 1
    return (a,)


@app.cell
def _(a):
    b = a + 1
    return (b,)


if __name__ == "__main__":
    app.run()
'''


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    srv = MarimoServer.start(tmp_path_factory.mktemp("broken"), code=BROKEN)
    try:
        with started_kernel({"XDG_STATE_HOME": str(srv.state_home)}) as (_, kc):
            yield kc
    finally:
        srv.stop()


def test_multiply_defined_name_and_cycle_are_drawn_and_named(broken):
    text, listing = graph(broken)
    cells = listing[PAIR]["cells"]
    ids = [c["id"] for c in cells]
    drawn = edges(text)
    # Both definitions of x feed y; the cycle's two edges are drawn.
    assert drawn["c0", "c2"] == ["x"] and drawn["c1", "c2"] == ["x"]
    assert drawn["c4", "c3"] == ["b"] and drawn["c3", "c4"] == ["a"]
    assert {"c0", "c1", "c3", "c4"} <= classes(text)["error"]
    problems = listing[PAIR]["problems"]
    assert problems[0].startswith(f"'x' is defined by 2 cells ({ids[0]}, {ids[1]})")
    assert problems[1].startswith(f"cycle: {ids[3]} → {ids[4]} → {ids[3]}")
    for p in problems:
        assert p in listing["text/plain"]
    one_text, one = graph(broken, f"%graph {ids[3]}")
    assert one[PAIR]["problems"] == problems and problems[1] in one["text/plain"]
    assert classes(one_text)["target"] == {"c3"}


# -- large notebooks ----------------------------------------------------------------------------------


def _big() -> str:
    """A chain v0 → … → v9, and a hub whose 62 spokes read it: 73 cells."""
    cells = ["def _():\n    v0 = 0\n    return (v0,)\n"]
    cells += [f"def _(v{i - 1}):\n    v{i} = v{i - 1} + 1\n    return (v{i},)\n" for i in range(1, 10)]
    cells.append("def _():\n    hub = 1\n    return (hub,)\n")
    cells += [f"def _(hub):\n    w{i} = hub + {i}\n    return (w{i},)\n" for i in range(62)]
    body = "\n\n".join("@app.cell\n" + c for c in cells)
    return f"import marimo\n\napp = marimo.App()\n\n\n{body}\n"


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    srv = MarimoServer.start(tmp_path_factory.mktemp("large"), code=_big())
    try:
        with started_kernel({"XDG_STATE_HOME": str(srv.state_home)}) as (_, kc):
            yield kc
    finally:
        srv.stop()


def test_large_notebook_says_how_to_ask_and_draws_a_neighbourhood(large):
    text, listing = graph(large)
    assert text is None and MERMAID not in listing
    assert len(listing[PAIR]["cells"]) == 73
    assert "up to 60 cells; this notebook has 73" in listing["text/plain"]
    assert "%graph TARGET draws one cell" in listing["text/plain"]

    text, listing = graph(large, "%graph v5")  # its ancestors and descendants: the chain
    assert set(nodes(text)) == {f"c{i}" for i in range(10)}
    assert classes(text)["target"] == {"c5"}
    assert "with its ancestors and descendants only" in listing["text/plain"]

    text, listing = graph(large, "%graph hub")  # 62 descendants: more than a readable drawing
    drawn = set(nodes(text))
    assert len(drawn) == 60 and "c10" in drawn
    assert "parents and children only" in listing["text/plain"] and "Only 60" in listing["text/plain"]
    assert len(listing[PAIR]["descendants"]) == 62  # the table and JSON keep them all


# -- frontends without mermaid: the table ------------------------------------------------------------


def test_nbconvert_html_and_markdown_show_the_table(kernel, server, tmp_path):
    # nbconvert's HTML puts the mermaid text into the page as it is: a cell's code must not become markup.
    ok(execute(kernel, '%%cell\nprint("</pre><b>bold</b>")\n'))
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.cells = [nbformat.v4.new_code_cell("%graph"), nbformat.v4.new_code_cell("%cells")]
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_STATE_HOME", str(server.state_home))
    for name in ("MARIMO_TOKEN", "MARIMO_PAIR_URL", "MARIMO_PAIR_FILE"):
        mp.delenv(name, raising=False)
    try:
        NotebookClient(
            nb, timeout=120, kernel_name="marimo-pair", resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    finally:
        mp.undo()
    outputs = nb.cells[0].outputs
    assert any(MERMAID in o.get("data", {}) for o in outputs)  # saved for frontends that draw it
    nbformat.write(nb, tmp_path / "graph.ipynb")
    for to, suffix in (("html", "html"), ("markdown", "md")):
        proc = subprocess.run(
            [sys.executable, "-m", "nbconvert", "--to", to, str(tmp_path / "graph.ipynb")],
            cwd=tmp_path, capture_output=True, text=True, timeout=120, start_new_session=True,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        out = (tmp_path / f"graph.{suffix}").read_text()
        tables = re.findall(r"<table[\s\S]*?</table>", out)
        assert any("Hbol" in t and "ancestors" in t for t in tables), (to, out[-3000:])
        assert any("Hbol" in t and "code" in t for t in tables), to
        if to == "html":
            (pre,) = re.findall(r'<pre class="mermaid">([\s\S]*?)</pre>', out)
            assert "flowchart TD" in pre and "<b>" not in pre and "#60;/pre#62;#60;b#62;bold" in pre
