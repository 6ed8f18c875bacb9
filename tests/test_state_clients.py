"""State across cells with the clients that run whole notebooks (issue 21): nbclient and papermill
run a multi-cell .ipynb (imports; a DataFrame built from a notebook variable; a function; a plot;
a result) to the end on this kernel, with the same outputs as on the `python3` kernel, where a
first cell stands in for the notebook's own values."""

from __future__ import annotations

import nbformat
import papermill
import pytest
from nbclient import NotebookClient

PAIR = {"name": "marimo-pair", "display_name": "marimo (pair)", "language": "python"}
PYTHON3 = {"name": "python3", "display_name": "Python 3", "language": "python"}
NOTEBOOK_VALUES = "seed = 41\nanswer = seed + 1"  # what the marimo notebook's cells define

CELLS = [
    "import numpy as np\nimport pandas as pd\nimport matplotlib.pyplot as plt",
    "rows = 3",  # papermill's parameters cell
    "df = pd.DataFrame({'x': np.arange(rows), 'y': np.arange(rows) * answer + seed})",
    "def summarize(frame):\n    return frame.describe().loc[['mean', 'max']]",
    "df",
    "plt.plot(df.x, df.y)\nplt.title('y by x')\nplt.show()",
    "print('rows:', len(df))\nsummarize(df)",
    "total = int(df.y.sum())\ntotal",
]


def build(kernelspec: dict) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = kernelspec
    cells = ([NOTEBOOK_VALUES] if kernelspec["name"] == "python3" else []) + CELLS
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    for c in nb.cells:
        if c.source == "rows = 3":
            c.metadata["tags"] = ["parameters"]
    return nb


def shape(nb: nbformat.NotebookNode) -> list[list[tuple]]:
    """Per cell of CELLS (and papermill's injected one): each output's type, mimetypes, text/plain."""
    out = []
    for cell in nb.cells:
        if cell.source == NOTEBOOK_VALUES:
            continue
        outs = []
        for o in cell.get("outputs", []):
            if o["output_type"] == "stream":
                outs.append(("stream", o["name"], o["text"]))
            elif o["output_type"] == "error":
                outs.append(("error", o["ename"], o["evalue"]))
            else:
                data = o["data"]
                text = data.get("text/plain")
                if text and "image/png" in data:
                    # A figure's text adds its titles after ipykernel's first line (for agents, issue 24).
                    text = text.splitlines()[0]
                outs.append((o["output_type"], tuple(sorted(data)), text))
        out.append(outs)
    return out


@pytest.fixture
def kernel_env(server, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(server.state_home))
    for name in ("MARIMO_TOKEN", "MARIMO_PAIR_URL", "MARIMO_PAIR_FILE", "MARIMO_PAIR_NO_STATE"):
        monkeypatch.delenv(name, raising=False)


def test_nbclient_runs_a_stateful_notebook_as_python3_does(kernel_env, tmp_path):
    got = {}
    for spec in (PAIR, PYTHON3):
        nb = build(spec)
        resources = {"metadata": {"path": str(tmp_path)}}
        NotebookClient(nb, timeout=120, kernel_name=spec["name"], resources=resources).execute()
        got[spec["name"]] = shape(nb)
    pair, py = got["marimo-pair"], got["python3"]
    assert not any(o[0] == "error" for cell in pair for o in cell), pair
    assert pair == py
    plot = pair[CELLS.index("plt.plot(df.x, df.y)\nplt.title('y by x')\nplt.show()")]
    assert plot and "image/png" in plot[0][1]
    assert "text/html" in pair[CELLS.index("df")][0][1]  # the DataFrame as pandas' table
    assert pair[-1][0][2] == str(sum(i * 42 + 41 for i in range(3)))


def test_papermill_runs_it_with_parameters_as_python3_does(kernel_env, tmp_path):
    got = {}
    for spec in (PAIR, PYTHON3):
        src, out = tmp_path / f"{spec['name']}.ipynb", tmp_path / f"{spec['name']}.out.ipynb"
        nbformat.write(build(spec), src)
        papermill.execute_notebook(
            str(src), str(out), kernel_name=spec["name"], parameters={"rows": 5}, cwd=str(tmp_path), progress_bar=False
        )
        got[spec["name"]] = shape(nbformat.read(out, as_version=4))
    pair, py = got["marimo-pair"], got["python3"]
    assert pair == py
    assert pair[-1][0][2] == str(sum(i * 42 + 41 for i in range(5)))  # the injected parameter carried on
