"""State across cells (issue 21): the pair's own names persist between executes, in a namespace of
each Jupyter kernel's own inside the marimo kernel, laid over the notebook's globals, never in the
notebook. Real marimo, real kernels, jupyter_client."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from support import execute, started_kernel

from marimo_pair_kernel import scratchpad


def ok(run):
    assert run.reply["status"] == "ok", (run.reply, run.stderr)
    return run


def value(kc, code: str) -> str:
    run = ok(execute(kc, code))
    assert run.result is not None, run.messages
    return run.result["text/plain"]


def raw(server, expression: str) -> dict:
    """Ask the runtime in the marimo kernel directly, over HTTP (not through any kernel)."""
    _, done = server.execute(scratchpad.state_code(expression))
    assert done["success"], done
    inner = json.loads(done["output"]["data"])["marimo_pair_kernel"]
    if inner.startswith("text/plain:"):
        inner = inner[len("text/plain:") :]
    return json.loads(inner)


def notebook_global(server, name: str) -> str:
    """A notebook global as the marimo kernel holds it (not a scratch copy), read over raw HTTP."""
    code = f"print(repr(__import__('sys').modules['__main__'].__dict__.get({name!r}, 'ABSENT')))"
    events, done = server.execute(code)
    assert done["success"], (events, done)
    return "".join(d["data"] for n, d in events if n == "stdout").strip()


def test_every_kind_of_binding_persists(kernel):
    ok(execute(kernel, "import math\nfrom os import path as osp\nplain = 3"))
    ok(execute(kernel, "def helper(n):\n    return n * 2\nclass Box:\n    size = 4"))
    ok(execute(kernel, "for loop_i in range(3):\n    pass\nwith open(__file__) as fh:\n    pass\n(walrus := 7)"))
    ok(execute(kernel, "def set_g():\n    global made_global\n    made_global = 'g'\nset_g()"))
    got = value(kernel, "math.pi, osp.sep, plain, helper(2), Box.size, loop_i, fh.closed, walrus, made_global")
    assert got == "(3.141592653589793, '/', 3, 4, 4, 2, True, 7, 'g')"


def test_names_bound_before_an_exception_persist_and_del_removes(kernel):
    run = execute(kernel, "before_error = 'kept'\n1/0\nafter_error = 1")
    assert run.reply["ename"] == "ZeroDivisionError"
    assert value(kernel, "before_error") == "'kept'"
    assert execute(kernel, "after_error").reply["ename"] == "NameError"
    ok(execute(kernel, "del before_error"))
    assert execute(kernel, "before_error").reply["ename"] == "NameError"


def test_functions_defined_here_read_the_notebooks_globals_live(kernel, server):
    ok(execute(kernel, "def peek():\n    return answer"))
    assert value(kernel, "peek(), seed") == "(42, 41)"
    ok(execute(kernel, "%%cell edit answer\nanswer = seed + 100"))
    try:
        assert value(kernel, "peek()") == "141"  # the notebook's current value, not a copy
    finally:
        ok(execute(kernel, "%%cell edit answer\nanswer = seed + 1"))


def test_the_notebook_never_sees_pair_names(kernel, server):
    before_file = server.notebook.read_text()
    before_cells = [(c["id"], c["code"]) for c in server.cells()]
    ok(execute(kernel, "pair_private = 123\nimport json as pair_json"))
    assert value(kernel, "pair_private") == "123"
    for name in ("pair_private", "pair_json"):
        assert notebook_global(server, name) == "'ABSENT'"
    # A plain scratchpad run (marimo's own semantics, as the seed skill sends) cannot see them either.
    events, done = server.execute("print('pair_private' in globals())")
    assert "".join(d["data"] for n, d in events if n == "stdout").strip() == "False"
    assert server.notebook.read_text() == before_file
    assert [(c["id"], c["code"]) for c in server.cells()] == before_cells


def test_the_marimo_page_is_told_nothing_of_pair_names(kernel, server):
    # Watch the notebook as a page does (a kiosk viewer gets every notification the page gets). A
    # notebook variable made by a %%cell reaches the page (the control: the watch sees variables);
    # a pair name never does.
    from marimo_pair_kernel.viewer import Notification, ViewerStream

    seen: list[str] = []
    viewer = ViewerStream(server.url, str(server.notebook),
                          lambda e: seen.append(json.dumps(e.data)) if isinstance(e, Notification) else None)
    viewer.start()
    try:
        assert viewer.connected.wait(30)
        time.sleep(1.0)  # the session's replay on connect
        seen.clear()
        ok(execute(kernel, "pair_only_on_page = 31337\nimport json as pair_json_on_page\npair_only_on_page"))
        ok(execute(kernel, "%%cell --name page_control\npage_visible = 7"))
        deadline = time.monotonic() + 30
        while not any("page_visible" in s for s in seen) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        viewer.stop()
        ok(execute(kernel, "%cell delete page_control"))
    assert any("page_visible" in s for s in seen), seen
    # The scratch cell's own notifications (the code being run, its console) are what every
    # scratchpad request has always sent the page; the names must reach nothing else there.
    leaked = [s for s in seen if ("pair_only_on_page" in s or "pair_json_on_page" in s)
              and json.loads(s).get("cell_id") != "__scratch__"]
    assert leaked == [], leaked


def test_shadowing_a_notebook_global_says_so_once_and_the_notebook_keeps_its_own(kernel, server):
    run = ok(execute(kernel, "seed = 1"))
    notes = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert len(notes) == 1 and "seed" in notes[0] and "%%cell edit seed" in notes[0], run.stderr
    assert "seed" not in ok(execute(kernel, "seed = 2")).stderr  # once per name
    assert value(kernel, "seed") == "2"
    assert notebook_global(server, "seed") == "41"  # over HTTP: the notebook's own is untouched
    assert value(kernel, "answer") == "42"
    ok(execute(kernel, "del seed"))
    assert value(kernel, "seed") == "41"  # the notebook's shows through again


def test_who_whos_who_ls_and_reset(kernel):
    ok(execute(kernel, "%reset -f"))
    assert ok(execute(kernel, "%who")).stdout == "Interactive namespace is empty.\n"
    ok(execute(kernel, "import os\nsmall = 5\nbig = list(range(100000))"))
    assert ok(execute(kernel, "%who")).stdout == "big\t os\t small\t \n"  # IPython's layout
    assert ok(execute(kernel, "%who int")).stdout == "small\t \n"
    whos = ok(execute(kernel, "%whos")).stdout.splitlines()
    assert whos[0].split() == ["Variable", "Type", "Size", "Data/Info"]
    row = next(ln for ln in whos if ln.startswith("big"))
    # Its size, the ints in it included (a list of 100,000 ints holds about 3.4 MB).
    assert row.split()[1:2] == ["list"] and row.split()[3] == "MB" and row.endswith(" n=100000"), row
    assert 3.0 < float(row.split()[2]) < 4.0, row
    names = json.loads(value(kernel, "%who_ls").replace("'", '"'))
    assert {"big", "os", "small", "seed", "answer"} <= set(names) and names == sorted(names)
    ok(execute(kernel, "%reset -f"))
    assert execute(kernel, "small").reply["ename"] == "NameError"
    assert value(kernel, "seed") == "41"  # the notebook's names stay
    assert ok(execute(kernel, "%who")).stdout == "Interactive namespace is empty.\n"


def test_reset_without_f_asks_and_says_to_use_f_without_stdin(kernel):
    ok(execute(kernel, "asked = 1"))
    run = execute(kernel, "%reset", allow_stdin=False)
    assert run.reply["status"] == "error" and "%reset -f" in run.reply["evalue"]
    assert value(kernel, "asked") == "1"
    msg_id = kernel.execute("%reset", allow_stdin=True)
    req = kernel.get_stdin_msg(timeout=30)
    assert req["content"]["prompt"] == "Once deleted, variables cannot be recovered. Proceed (y/[n])? "
    kernel.input("y")
    while kernel.get_shell_msg(timeout=30)["parent_header"].get("msg_id") != msg_id:
        pass
    assert execute(kernel, "asked").reply["ename"] == "NameError"


def test_completion_and_inspection_see_the_pairs_names(kernel):
    ok(execute(kernel, "import statistics as pair_stats"))
    kernel.complete("pair_st")
    reply = kernel.get_shell_msg(timeout=30)["content"]
    if "pair_stats" not in reply["matches"]:  # the first Tab may come back empty, past its deadline
        time.sleep(1)
        kernel.complete("pair_st")
        reply = kernel.get_shell_msg(timeout=30)["content"]
    assert "pair_stats" in reply["matches"], reply
    run = ok(execute(kernel, "pair_stats.mean?"))
    assert "Signature: pair_stats.mean" in run.reply["payload"][0]["data"]["text/plain"]


def test_top_level_await_keeps_its_names(kernel):
    ok(execute(kernel, "import asyncio\nawait asyncio.sleep(0)\nawaited = 9"))
    assert value(kernel, "awaited") == "9"


def test_a_traceback_names_the_execute_that_defined_the_function(kernel):
    first = ok(execute(kernel, "def fails():\n    return 1/0"))
    n = first.reply["execution_count"]
    run = execute(kernel, "x = 0\nfails()")
    import re

    shown = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(run.error["traceback"]))
    assert f"Cell In[{n + 1}], line 2" in shown and f"Cell In[{n}], line 2, in fails()" in shown, shown
    assert "return 1/0" in shown and "marimo-pair-kernel" not in shown and "_mpk" not in shown


def test_cell_reading_a_pair_only_name_is_refused_with_the_fix(kernel, server):
    ok(execute(kernel, "only_here = 5"))
    before = [c["id"] for c in server.cells()]
    run = execute(kernel, "%%cell --name uses_it\nderived = only_here * 2")
    assert run.reply["status"] == "error"
    assert "only_here" in run.reply["evalue"] and "%%cell" in run.reply["evalue"]
    assert [c["id"] for c in server.cells()] == before  # nothing added


def test_cell_defining_a_held_name_makes_the_notebooks_win(kernel, server):
    ok(execute(kernel, "taken_over = 'pair'"))
    run = ok(execute(kernel, "%%cell --name takes_over\ntaken_over = 'notebook'"))
    assert "taken_over" in run.stdout and "notebook's definition wins" in run.stdout
    assert value(kernel, "taken_over") == "'notebook'"
    assert notebook_global(server, "taken_over") == "'notebook'"
    ok(execute(kernel, "%cell delete takes_over"))


def test_two_kernels_on_one_notebook_do_not_see_each_others_names(kernel, server):
    with started_kernel({"XDG_STATE_HOME": str(server.state_home)}) as (_, kc2):
        ok(execute(kernel, "mine = 'first'"))
        ok(execute(kc2, "mine = 'second'\ntheirs = 2"))
        assert value(kernel, "mine") == "'first'" and value(kc2, "mine") == "'second'"
        assert execute(kernel, "theirs").reply["ename"] == "NameError"
        assert value(kc2, "seed") == "41"
    # Its shutdown dropped its names in the marimo kernel.
    owners = raw(server, "pairs_info()")
    assert all("theirs" not in v["names"] for v in owners.values()), owners


PICKLING = [
    "class Point:\n    def __init__(self, x):\n        self.x = x\n\ndef square(n):\n    return n * n",
    "import pickle\nback = pickle.loads(pickle.dumps(Point(3)))\ntype(back) is Point, back.x",
    "pickle.loads(pickle.dumps(square))(4)",
    # multiprocessing's own pickler, as Pool.map uses it to send the function (by name) to a worker.
    # (No real fork here: forking the marimo kernel, a process with threads, can deadlock the child.)
    "from multiprocessing.reduction import ForkingPickler\n"
    "got = [pickle.loads(ForkingPickler.dumps(square))(n) for n in range(4)]\ngot",
    "Point.__module__, square.__module__",
]


def test_classes_and_functions_defined_here_pickle_by_name_as_in_ipython(kernel, server):
    with (
        started_kernel({}, kernel_name="python3") as (_, reference),
        started_kernel({"XDG_STATE_HOME": str(server.state_home)}) as (_, other),
    ):
        # Another kernel on the notebook has a Point of its own: each kernel pickles its own.
        ok(execute(other, "class Point:\n    other = True"))
        for code in PICKLING:
            ours, theirs = execute(kernel, code), execute(reference, code)
            assert ours.reply["status"] == theirs.reply["status"] == "ok", (code, ours.reply, ours.stderr)
            assert ours.result == theirs.result, code
        assert value(kernel, "got") == "[0, 1, 4, 9]"
        assert value(other, "import pickle\npickle.loads(pickle.dumps(Point())).other") == "True"
    assert notebook_global(server, "Point") == "'ABSENT'"  # still the pair's alone


def test_restart_clears_the_namespace(server):
    with started_kernel({"XDG_STATE_HOME": str(server.state_home)}) as (km, kc):
        ok(execute(kc, "before_restart = 1"))
        assert any("before_restart" in v["names"] for v in raw(server, "pairs_info()").values())
        km.restart_kernel(now=False)
        kc.wait_for_ready(timeout=60)
        assert execute(kc, "before_restart").reply["ename"] == "NameError"
        assert not any("before_restart" in v["names"] for v in raw(server, "pairs_info()").values())


def test_a_killed_kernels_names_go_at_the_next_execute_here(kernel, server):
    with started_kernel({"XDG_STATE_HOME": str(server.state_home)}) as (km, kc):
        ok(execute(kc, "killed_holds = 1"))
        pid = km.provisioner.process.pid
        os.kill(pid, signal.SIGKILL)
        km.provisioner.process.wait(timeout=10)
    assert any("killed_holds" in v["names"] for v in raw(server, "pairs_info()").values())
    ok(execute(kernel, "1"))  # any pair kernel's execute sweeps the gone kernel's namespace
    assert not any("killed_holds" in v["names"] for v in raw(server, "pairs_info()").values())


@pytest.mark.parametrize("how", ["env", "magic"])
def test_the_way_back_to_marimos_semantics(server, how):
    env = {"XDG_STATE_HOME": str(server.state_home)}
    if how == "env":
        env["MARIMO_PAIR_NO_STATE"] = "1"
    with started_kernel(env) as (_, kc):
        if how == "magic":
            ok(execute(kc, "%pairns off"))
        assert "off" in ok(execute(kc, "%pairns")).stdout
        ok(execute(kc, "vanishes = 1"))
        run = execute(kc, "vanishes")
        assert run.reply["ename"] == "NameError"
        assert value(kc, "seed") == "41"
        ok(execute(kc, "%pairns on"))
        ok(execute(kc, "stays = 1"))
        assert value(kc, "stays") == "1"


def test_interrupt_still_stops_a_run_and_names_bound_before_it_persist(kernel_pair):
    km, kc = kernel_pair
    msg_id = kc.execute("before_interrupt = 1\nimport time\ntime.sleep(60)")
    time.sleep(3)
    km.interrupt_kernel()
    reply = None
    while reply is None:
        m = kc.get_shell_msg(timeout=60)
        if m["parent_header"].get("msg_id") == msg_id:
            reply = m["content"]
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt"
    assert value(kc, "before_interrupt") == "1"
