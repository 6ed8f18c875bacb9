"""What a Jupyter client sees for values and displays, as ipykernel shows them (issue 10).

One real marimo server whose notebook owns a figure and a slider, one real kernel on it.
"""

from __future__ import annotations

import base64
import struct
import time

from support import execute, kernel_fixture, server_fixture

NOTEBOOK = """
import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo
    import matplotlib.pyplot as plt
    return mo, plt


@app.cell
def _(plt):
    fig_cell, ax_cell = plt.subplots()
    ax_cell.plot([3, 1, 2])
    fig_cell
    return (fig_cell,)


@app.cell
def _(mo):
    slider = mo.ui.slider(0, 10, value=3, label="n")
    slider
    return (slider,)


if __name__ == "__main__":
    app.run()
"""


nb_server = server_fixture("values", code=NOTEBOOK)


kc = kernel_fixture("nb_server")


def kinds(run) -> list[str]:
    return [m["msg_type"] for m in run.messages if m["msg_type"] != "execute_input"]


def png_size(b64: str) -> tuple[int, int]:
    raw = base64.b64decode(b64)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", raw[16:24])


def no_marimo_elements(data: dict) -> None:
    for mime in ("text/html", "text/markdown"):
        assert "<marimo-" not in data.get(mime, ""), data[mime][:300]


def test_values_as_ipykernel_shows_them(kc):
    assert execute(kc, "6 * 7").result == {"text/plain": "42"}
    assert execute(kc, "(1, None)").result == {"text/plain": "(1, None)"}
    df = execute(kc, "import pandas as pd\npd.DataFrame({'a': [1, 2], 'b': [3.5, 4]})").result
    assert df["text/plain"] == "   a    b\n0  1  3.5\n1  2  4.0"
    assert '<table border="1" class="dataframe">' in df["text/html"]  # pandas' own table
    no_marimo_elements(df)
    run = execute(kc, "from IPython.display import JSON\nJSON({'a': [1, 2]})")
    assert run.result["application/json"] == {"a": [1, 2]}  # an object, as ipykernel sends it
    assert run.of("execute_result")[0]["metadata"] == {"application/json": {"expanded": False, "root": "root"}}
    md = execute(kc, "mo.md('# hi *there*')").result
    assert md["text/markdown"] == "# hi *there*" and "<h1" in md["text/html"]
    assert kinds(execute(kc, "1;")) == []  # a trailing semicolon hides the value, as in IPython


def test_displays_arrive_in_order_with_prints(kc):
    run = execute(
        kc,
        "from IPython.display import display, HTML, Markdown\n"
        "display(1); print('x'); display(HTML('<b>h</b>'), Markdown('*m*'))\n'end'",
    )
    assert kinds(run) == ["display_data", "stream", "display_data", "display_data", "execute_result"]
    assert run.displays[0] == {"text/plain": "1"}
    assert run.displays[1]["text/html"] == "<b>h</b>"
    assert run.displays[2]["text/markdown"] == "*m*"
    # display() without an import, as in ipykernel; what came before an error is kept.
    run = execute(kc, "display('kept'); 1/0")
    assert kinds(run) == ["display_data", "error"] and run.displays == [{"text/plain": "'kept'"}]
    run = execute(
        kc,
        "h = display('a', display_id=True); h.update('b')\n"
        "from IPython.display import clear_output; clear_output(wait=True)\nmo.output.append(mo.md('hi'))",
    )
    assert kinds(run) == ["display_data", "update_display_data", "clear_output", "display_data"]
    first, update = run.of("display_data")[0], run.of("update_display_data")[0]
    assert first["transient"]["display_id"] == update["transient"]["display_id"]
    assert update["data"] == {"text/plain": "'b'"}
    assert run.displays[1]["text/markdown"] == "hi"
    # An object that displays itself, and one with a mimebundle (with metadata), as IPython does.
    run = execute(kc, "class D:\n    def _ipython_display_(self):\n        display('from D')\nD()")
    assert kinds(run) == ["display_data"] and run.displays == [{"text/plain": "'from D'"}]
    run = execute(
        kc,
        "class B:\n    def _repr_mimebundle_(self, include=None, exclude=None):\n"
        "        return {'text/html': '<i>b</i>'}, {'text/html': {'isolated': True}}\nB()",
    )
    assert run.result["text/html"] == "<i>b</i>" and run.result["text/plain"].startswith("<__main__.B")
    assert run.of("execute_result")[0]["metadata"] == {"text/html": {"isolated": True}}


def test_matplotlib_as_the_inline_backend(kc):
    run = execute(kc, "%matplotlib inline")  # what notebooks written for ipykernel start with
    assert run.reply["status"] == "ok" and kinds(run) == []
    run = execute(kc, "plt.plot([1, 2, 3]); plt.show()\nprint('after')")
    assert kinds(run) == ["display_data", "stream"]
    shown = run.displays[0]
    assert shown["text/plain"] == "<Figure size 640x480 with 1 Axes>"
    assert 400 < png_size(shown["image/png"])[0] < 700  # the figure's own dpi, as matplotlib_inline
    run = execute(kc, "plt.plot([1, 2])")
    assert kinds(run) == ["execute_result", "display_data"]  # the value, then the open figure
    assert run.result["text/plain"].startswith("[<matplotlib.lines.Line2D at 0x")
    assert "image/png" in run.displays[0]
    assert execute(kc, "plt.get_fignums()").result == {"text/plain": "[]"}  # closed afterwards
    # The person's figure: shown as a value, neither closed nor changed.
    assert "image/png" in execute(kc, "fig_cell").result
    assert execute(kc, "len(fig_cell.axes), [l.get_ydata().tolist() for l in fig_cell.axes[0].lines]").result == {
        "text/plain": "(1, [[3, 1, 2]])"
    }


def test_person_runs_keep_marimo_behaviour(nb_server, kc):
    execute(kc, "1")  # the runtime and its hooks are installed
    events, done = nb_server.execute("from IPython.display import display\ndisplay(5)\nprint('plain')")
    assert "".join(d["data"] for n, d in events if n == "stdout") == "plain\n"  # no display lines
    assert done["success"] and "<span>5</span>" in done["output"]["data"]  # marimo's own display


def test_ui_elements_become_snapshots(nb_server, kc):
    snap = execute(kc, "slider").result
    assert snap["text/plain"].startswith("slider(start=0, stop=10, value=3, label='n')")
    assert nb_server.url in snap["text/plain"] and nb_server.url in snap["text/html"]
    assert "<b>n</b>" in snap["text/html"] and "<code>3</code>" in snap["text/html"]
    no_marimo_elements(snap)
    stack = execute(kc, "mo.hstack([mo.md('left'), slider, mo.ui.checkbox(label='c')])").result
    assert "left" in stack["text/html"] and "<code>3</code>" in stack["text/html"]
    no_marimo_elements(stack)


def test_warnings_show_the_users_line(kc):
    run = execute(kc, "import warnings\nwarnings.warn('careful')")
    assert "UserWarning: careful\n  warnings.warn('careful')\n" in run.stderr
    assert run.error is None


def test_bad_input_gives_text_and_a_note(kc):
    run = execute(kc, "class R:\n    def __repr__(self):\n        raise ValueError('boom')\nR()")
    assert run.error is None and run.result["text/plain"].startswith("<__main__.R object at 0x")
    assert "repr() of this R object raised ValueError: boom" in run.stderr
    for ret in ("None", "5"):
        run = execute(kc, f"class H:\n    def _repr_html_(self):\n        return {ret}\nH()")
        assert run.error is None and set(run.result) == {"text/plain"}
    run = execute(kc, "import numpy as np, pandas as pd\npd.DataFrame({'a': np.arange(10**6)})")
    assert "[1000000 rows x 1 columns]" in run.result["text/plain"]
    assert len(run.result["text/html"]) < 50_000  # pandas truncates; nothing else serialized it
    run = execute(kc, "f = plt.figure(figsize=(200, 200)); f.add_subplot().plot([1, 2]); f")
    assert run.result["text/plain"] == "<Figure size 20000x20000 with 1 Axes>"
    w, h = png_size(run.result["image/png"])
    assert w * h <= 4096 * 4096 and "shown downscaled" in run.stderr
    run = execute(kc, "'x' * 6_000_000")
    assert run.error is None and len(run.result["text/plain"]) < 4_100_000
    assert "over the 4 MB this kernel sends per output" in run.stderr
    run = execute(kc, "from IPython.display import display\ndisplay('y' * 3_000_000)")  # > marimo's 1 MB console cap
    assert run.displays[0]["text/plain"] == repr("y" * 3_000_000)


def test_a_lost_runtime_is_reinstalled(nb_server, kc):
    # As after a restart of marimo's kernel: our module is gone, the kernel does not know yet.
    nb_server.execute(
        "import sys\n"
        "for _k in [k for k in sys.modules if k.startswith('_mpk_')]:\n"
        "    del sys.modules[_k]"
    )
    run = execute(kc, "6 * 7")
    assert run.error is None and run.result == {"text/plain": "42"}  # marimo's own form
    assert execute(kc, "(1, None)").result == {"text/plain": "(1, None)"}  # IPython's repr again


LOSE_RUNTIME = "import sys\nfor _k in [k for k in sys.modules if k.startswith('_mpk_')]:\n    del sys.modules[_k]"


def test_every_kind_of_request_survives_a_lost_runtime(nb_server, kc):
    # Every line but the install is one short call into the runtime: each kind of request, finding
    # it gone (a restarted marimo kernel), has the kernel install it again and answers.
    nb_server.execute(LOSE_RUNTIME)
    cells = execute(kc, "%cells")
    assert cells.error is None and "cells" in cells.result["text/plain"].splitlines()[0]
    nb_server.execute(LOSE_RUNTIME)
    who = execute(kc, "%who")
    assert who.error is None and who.stdout
    nb_server.execute(LOSE_RUNTIME)
    matches: list[str] = []
    for _ in range(20):  # completion answers within a deadline; a late answer comes with the next ask
        msg_id = kc.complete("import o", len("import o"))
        reply = kc.get_shell_msg(timeout=30)
        assert reply["parent_header"]["msg_id"] == msg_id
        matches = reply["content"]["matches"]
        if matches:
            break
        time.sleep(0.5)
    assert "os" in matches
    nb_server.execute(LOSE_RUNTIME)
    assert execute(kc, "%%cell --name after_loss\nafter_loss_v = 6 * 7\nafter_loss_v").error is None


def test_a_control_made_by_scratch_code_says_where_to_make_it_live(nb_server, kc):
    snap = execute(kc, "mo.ui.dropdown(['a', 'b'], value='a', label='pick')").result
    assert snap["text/plain"].startswith("dropdown(options=['a', 'b'], value='a', label='pick')")
    assert "made by this code, so not on the marimo page" in snap["text/plain"]
    assert nb_server.url in snap["text/plain"]
    no_marimo_elements(snap)
