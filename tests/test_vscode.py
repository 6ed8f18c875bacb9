"""What VS Code's Jupyter extension sends a Python kernel, replayed through jupyter_client (issue 25).

VS Code can't run here, so these are snippets of our own that use the same constructs as the
extension's hidden requests: a start-up cell that binds a notebook-path variable and runs
`%config Completer.use_jedi = False`; the Variables view's `_names = %who_ls` followed by a helper
that prints JSON; the Data Viewer's look at a DataFrame; completions through
`get_ipython().kernel.do_complete`; hidden executes (`store_history=False`) that leave the count
alone. Each runs on this kernel (over a real marimo notebook) and on the `python3` kernel as the
control, where the notebook's values are made by a first hidden execute.
(`debug_request`: tests/test_kernel_debug_request.py; a display updated from a thread after the
execute ended: tests/test_late_outputs.py.)
"""

from __future__ import annotations

import json

import pytest
from support import execute, server_fixture, started_kernel

NOTEBOOK = '''
import marimo

app = marimo.App()


@app.cell
def _():
    import pandas as pd
    seed = 41
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    return frame, pd, seed


if __name__ == "__main__":
    app.run()
'''

# For the python3 control: the notebook's values, made by a hidden execute.
NOTEBOOK_VALUES = 'import pandas as pd\nseed = 41\nframe = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})'

HIDDEN = {"silent": False, "store_history": False}

STARTUP = "__vsc_ipynb_file__ = '/home/someone/analysis.ipynb'\n%config Completer.use_jedi = False\n"

VARIABLES = """\
_names = %who_ls
import json as _vsc_json
def _vsc_info(name):
    value = eval(name)
    info = {"name": name, "type": type(value).__name__}
    try:
        info["count"] = len(value)
    except TypeError:
        pass
    if hasattr(value, "shape"):
        info["shape"] = str(value.shape)
    return info
print(_vsc_json.dumps([_vsc_info(n) for n in _names if n in ("seed", "frame")]))
"""

DATA_VIEWER = """\
import json as _vsc_json
_vsc_df = frame
print(_vsc_json.dumps({"rowCount": _vsc_df.shape[0], "columns": [str(c) for c in _vsc_df.columns],
                       "rows": _vsc_json.loads(_vsc_df.iloc[0:2].to_json(orient="split"))["data"]}))
"""

COMPLETE = """\
_vsc_r = get_ipython().kernel.do_complete('se', 2)
if hasattr(_vsc_r, '__await__'):
    _vsc_r = await _vsc_r
sorted(m for m in _vsc_r['matches'] if m == 'seed'), _vsc_r['cursor_start'], _vsc_r['status']
"""


server = server_fixture("marimo", code=NOTEBOOK)


@pytest.fixture(scope="module", params=["marimo-pair", "python3"])
def kc(request, server):
    with started_kernel({"XDG_STATE_HOME": str(server.state_home)}, kernel_name=request.param) as (_, client):
        if request.param == "python3":
            assert execute(client, NOTEBOOK_VALUES, **HIDDEN).reply["status"] == "ok"
        client.kernel_name = request.param
        yield client


def test_startup_cell_is_ok_silent_and_uncounted(kc, server):
    before = execute(kc, "1").reply["execution_count"]
    run = execute(kc, STARTUP, **HIDDEN)
    assert run.reply["status"] == "ok", run.messages
    shown = [m for m in run.messages if m["msg_type"] != "execute_input"]
    assert shown == [], shown  # nothing shown for a hidden start-up cell
    after = execute(kc, "__vsc_ipynb_file__")
    assert after.result["text/plain"] == "'/home/someone/analysis.ipynb'"
    assert after.reply["execution_count"] == before + 1  # the hidden execute took no number
    if kc.kernel_name == "marimo-pair":
        # The variable is the pair's: the notebook's own globals never see it.
        _, done = server.execute("'__vsc_ipynb_file__' in globals()")
        assert "False" in done["output"]["data"], done


def test_variables_view_lists_the_notebooks_values(kc):
    run = execute(kc, VARIABLES, **HIDDEN)
    assert run.reply["status"] == "ok", run.messages
    info = {v["name"]: v for v in json.loads(run.stdout)}
    assert info["seed"] == {"name": "seed", "type": "int"}
    assert info["frame"] == {"name": "frame", "type": "DataFrame", "count": 3, "shape": "(3, 2)"}


def test_data_viewer_reads_a_dataframe(kc):
    run = execute(kc, DATA_VIEWER, **HIDDEN)
    assert run.reply["status"] == "ok", run.messages
    assert json.loads(run.stdout) == {"rowCount": 3, "columns": ["a", "b"], "rows": [[1, "x"], [2, "y"]]}


def test_completions_come_from_get_ipython_kernel(kc):
    run = execute(kc, COMPLETE)
    assert run.reply["status"] == "ok", run.messages
    assert run.result["text/plain"] == "(['seed'], 0, 'ok')"


def test_chdir_in_hidden_code_says_it_moved_the_notebook(kc, tmp_path):
    old = execute(kc, "import os\nos.getcwd()").result["text/plain"]
    run = execute(kc, f"import os\nos.chdir({str(tmp_path)!r})", **HIDDEN)
    assert run.reply["status"] == "ok", run.messages
    back = execute(kc, f"import os\nos.chdir({old})\nos.getcwd()")
    assert back.result["text/plain"] == old
    if kc.kernel_name == "marimo-pair":
        # The person's notebook process moved too: it is said, with the way back.
        assert "moved the notebook process's working directory" in run.stderr, run.messages
        assert str(tmp_path) in run.stderr and "%cd --yes" in run.stderr
    else:
        assert run.stderr == ""
