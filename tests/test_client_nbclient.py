"""nbclient and papermill run a .ipynb on our kernel against a live marimo notebook.

Named `%%cell`s make the .ipynb a repeatable build script: running it again
replaces those marimo cells instead of adding copies. Plain code cells read the
live notebook and their outputs are saved in the .ipynb like any kernel's.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import nbformat
import papermill
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from support import KERNELSPEC

EXAMPLE = Path(__file__).parents[1] / "examples" / "build_notebook.ipynb"


def build_ipynb() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.cells = [
        nbformat.v4.new_markdown_cell("Cells for the marimo notebook, then plain code that reads it."),
        nbformat.v4.new_code_cell("%%cell --name base\nbase = seed * 10\nprint('base is', base)"),
        nbformat.v4.new_code_cell("%%cell --name doubled\ndoubled = base * 2"),
        nbformat.v4.new_code_cell("doubled + 1"),
        nbformat.v4.new_code_cell("print('scratch sees', base, doubled)"),
        nbformat.v4.new_code_cell("%cells"),
    ]
    return nb


def run_nbclient(nb: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    NotebookClient(nb, timeout=120, kernel_name="marimo-pair", resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def stdout(cell: dict) -> str:
    return "".join(o["text"] for o in cell["outputs"] if o["output_type"] == "stream" and o["name"] == "stdout")


def named(server) -> Counter:
    return Counter(c["name"] for c in server.cells() if c["name"] in ("base", "doubled"))


@pytest.fixture
def kernel_env(server, monkeypatch):
    """Kernels started by nbclient/papermill inherit this process's environment."""
    monkeypatch.setenv("XDG_STATE_HOME", str(server.state_home))
    for name in ("MARIMO_TOKEN", "MARIMO_PAIR_URL", "MARIMO_PAIR_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def first_run(server, tmp_path_factory):
    """The .ipynb as nbclient saved it after the first run (written to disk and read back)."""
    work = tmp_path_factory.mktemp("ipynb")
    src = work / "build.ipynb"
    nbformat.write(build_ipynb(), src)
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_STATE_HOME", str(server.state_home))
    try:
        nb = run_nbclient(nbformat.read(src, as_version=4), work)
    finally:
        mp.undo()
    nbformat.write(nb, work / "build.out.ipynb")
    return work, nbformat.read(work / "build.out.ipynb", as_version=4)


def test_outputs_saved_in_the_ipynb(first_run, server):
    _, nb = first_run
    cells = nb.cells
    assert "base is 410" in stdout(cells[1])
    assert not any(o["output_type"] == "error" for c in cells[1:] for o in c["outputs"])

    [result] = cells[3]["outputs"]
    assert result["output_type"] == "execute_result"
    assert result["data"]["text/plain"] == "821"
    assert result["execution_count"] == cells[3]["execution_count"] is not None

    assert stdout(cells[4]) == "scratch sees 410 820\n"

    [listing] = [o for o in cells[5]["outputs"] if o["output_type"] == "execute_result"]  # Out[n], as IPython
    assert listing["execution_count"] == cells[5]["execution_count"]
    assert {"text/plain", "text/html", "application/vnd.marimo-pair+json"} <= set(listing["data"])
    assert {"base", "doubled"} <= {c["name"] for c in listing["data"]["application/vnd.marimo-pair+json"]["cells"]}

    counts = [c["execution_count"] for c in cells if c["cell_type"] == "code"]
    assert counts == sorted(counts) and len(set(counts)) == len(counts)
    assert named(server) == {"base": 1, "doubled": 1}


def test_rerun_with_nbclient_does_not_duplicate(first_run, server, kernel_env):
    work, first = first_run
    before = len(server.cells())
    nb = run_nbclient(nbformat.read(work / "build.ipynb", as_version=4), work)
    assert len(server.cells()) == before
    assert named(server) == {"base": 1, "doubled": 1}
    assert nb.cells[3]["outputs"][0]["data"]["text/plain"] == "821"
    assert stdout(nb.cells[4]) == stdout(first.cells[4])


def test_papermill_runs_it_too_without_duplicates(first_run, server, kernel_env):
    work, _ = first_run
    before = len(server.cells())
    out = work / "build.papermill.ipynb"
    papermill.execute_notebook(
        str(work / "build.ipynb"), str(out), kernel_name="marimo-pair", cwd=str(work),
        progress_bar=False, log_output=False,
    )
    nb = nbformat.read(out, as_version=4)
    assert len(server.cells()) == before
    assert named(server) == {"base": 1, "doubled": 1}
    assert nb.cells[3]["outputs"][0]["data"]["text/plain"] == "821"
    assert stdout(nb.cells[4]) == "scratch sees 410 820\n"
    assert all(c.metadata.papermill["status"] == "completed" for c in nb.cells)


def test_a_failing_cell_stops_the_run(server, kernel_env, tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.cells = [
        nbformat.v4.new_code_cell("%%cell --name broken\nbroken = 1 / 0"),
        nbformat.v4.new_code_cell("print('never runs')"),
    ]
    with pytest.raises(CellExecutionError) as info:
        run_nbclient(nb, tmp_path)
    assert info.value.ename == "ZeroDivisionError"
    assert nb.cells[1]["outputs"] == []


@pytest.mark.skipif(not EXAMPLE.exists(), reason="examples/build_notebook.ipynb not written yet")
def test_example_notebook_runs(server, kernel_env, tmp_path):
    """examples/build_notebook.ipynb, as the README tells people to run it, twice."""
    saved = nbformat.read(EXAMPLE, as_version=4)
    for _ in range(2):
        nb = run_nbclient(nbformat.read(EXAMPLE, as_version=4), tmp_path)
        errors = [o for c in nb.cells if c["cell_type"] == "code" for o in c["outputs"] if o["output_type"] == "error"]
        assert not errors, errors
        # Plain-code values come out as they were saved in the example.
        for old, new in zip(saved.cells, nb.cells, strict=True):
            if old["cell_type"] == "code" and not old["source"].startswith("%"):
                plain = [o["data"]["text/plain"] for o in new["outputs"]]
                assert plain == [o["data"]["text/plain"] for o in old["outputs"]]
    names = Counter(c["name"] for c in server.cells())
    assert all(n == 1 for name, n in names.items() if name and name != "_"), names
