"""`jupyter nbconvert --to html` of a notebook that nbclient executed on the marimo-pair kernel.

The saved outputs must be ones a static renderer shows: the DataFrame as an HTML
table with its values, the plt.show() figure as a PNG <img>, and no marimo custom
elements (which render blank outside marimo's page).
"""

from __future__ import annotations

import re
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient
from support import KERNELSPEC


@pytest.fixture(scope="module")
def exported(server, tmp_path_factory) -> str:
    work = tmp_path_factory.mktemp("nbconvert")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import pandas as pd\npd.DataFrame({'species': ['Adelie', 'Gentoo'], 'mass_g': [3700, 5076]})"
        ),
        nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()"),
    ]
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_STATE_HOME", str(server.state_home))  # the kernel nbclient starts finds the server
    for name in ("MARIMO_TOKEN", "MARIMO_PAIR_URL", "MARIMO_PAIR_FILE"):
        mp.delenv(name, raising=False)
    try:
        NotebookClient(
            nb, timeout=120, kernel_name="marimo-pair", resources={"metadata": {"path": str(work)}}
        ).execute()
    finally:
        mp.undo()
    nbformat.write(nb, work / "executed.ipynb")
    proc = subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "html", str(work / "executed.ipynb")],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return (work / "executed.html").read_text()


def test_html_shows_the_dataframe_as_a_table(exported):
    tables = re.findall(r"<table[\s\S]*?</table>", exported)
    assert any("Adelie" in t and "5076" in t for t in tables), f"{len(tables)} tables, none with the DataFrame's values"


def test_html_shows_the_figure_as_an_image(exported):
    found = re.search(r'<img[^>]+src="data:image/png;base64,', exported) is not None
    assert found, "no PNG <img> in the exported HTML"


def test_html_has_no_marimo_custom_elements(exported):
    assert "<marimo-" not in exported
