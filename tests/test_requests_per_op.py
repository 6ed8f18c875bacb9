"""One request to marimo per operation once warm: a failed execute and a %%cell (issue 19).

A kernel is pointed (MARIMO_PAIR_URL, with an empty registry) at a counting relay on loopback
(bench/relay.py) in front of this module's real `marimo edit --headless`; each test counts the
POSTs to /api/kernel/execute that one Jupyter execute made. A failing execute brings IPython's
layout of its exception with the failure itself (inmarimo/state.py `run`, tracebacks.py), and a
%%cell's op checks the cell's names against this kernel's own in the same request
(inmarimo/codemode_ops.py).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import Run, execute, started_kernel

sys.path.append(str(Path(__file__).resolve().parent.parent / "bench"))  # the relay bench/wire.py counts with
from relay import CountingRelay  # noqa: E402

EXECUTE = ("POST", "/api/kernel/execute")
CELL = "mpk_req_cell"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def relayed(server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, CountingRelay]]:
    """(client, relay): a kernel that knows marimo only by the relay's URL, warm, with CELL made."""
    state = tmp_path_factory.mktemp("relay-state")  # an empty registry
    with (
        CountingRelay(server.port) as relay,
        started_kernel({"MARIMO_PAIR_URL": relay.url, "XDG_STATE_HOME": str(state)}) as (_, kc),
    ):
        assert ok(execute(kc, "1 + 1")).result == {"text/plain": "2"}
        # Warm: the first failure imports IPython's formatter in marimo; the first %%cell makes CELL.
        assert execute(kc, "1/0").reply["ename"] == "ZeroDivisionError"
        ok(execute(kc, f"%%cell --name {CELL}\nmpk_req_value = 0"))
        try:
            yield kc, relay
        finally:
            execute(kc, f"%cell delete {CELL}")


def ok(run: Run) -> Run:
    assert run.reply["status"] == "ok", (run.reply, run.stderr)
    return run


def counted(relay: CountingRelay, kc: Any, code: str) -> tuple[Run, list[str]]:
    """The execute, and the POSTs to /api/kernel/execute it made (counted once the relay is quiet)."""
    mark = relay.mark()
    run = execute(kc, code)
    relay.settle()
    return run, [f"{e.method} {e.path}" for e in relay.since(mark) if (e.method, e.path) == EXECUTE]


def shown(run: Run) -> str:
    return ANSI.sub("", "\n".join(run.reply.get("traceback") or []))


def test_a_failed_execute_is_one_request(relayed):
    kc, relay = relayed
    run, posts = counted(relay, kc, "1/0")
    assert run.reply["status"] == "error" and run.reply["ename"] == "ZeroDivisionError"
    assert "Cell In[" in shown(run) and "----> 1 1/0" in shown(run), shown(run)
    assert len(posts) == 1, posts


def test_a_verbose_error_is_ipythons_own_layout_in_one_request(relayed):
    # Local values in the frames: only IPython's formatter, run on the exception in marimo, shows
    # them (the kernel's own layout of marimo's text lays Verbose out as Context).
    kc, relay = relayed
    assert ok(execute(kc, "%xmode Verbose")).stdout == "Exception reporting mode: Verbose\n"
    try:
        run, posts = counted(relay, kc, "def mpk_req_f(v):\n    return v / 0\nmpk_req_f(41)")
    finally:
        ok(execute(kc, "%xmode Context"))
    text = shown(run)
    assert run.reply["ename"] == "ZeroDivisionError"
    assert "in mpk_req_f(v=41)" in text and "v = 41" in text, text
    assert len(posts) == 1, posts


def test_a_cell_edit_is_one_request(relayed):
    kc, relay = relayed
    run, posts = counted(relay, kc, f"%%cell edit {CELL}\nmpk_req_value = 1")
    ok(run)
    assert len(posts) == 1, posts
    assert ok(execute(kc, "mpk_req_value")).result == {"text/plain": "1"}
    run, posts = counted(relay, kc, "%%cell --name mpk_req_new\nmpk_req_new_value = 2")
    ok(run)
    assert len(posts) == 1, posts
    ok(execute(kc, "%cell delete mpk_req_new"))


def test_a_cell_reading_a_name_only_this_kernel_has_is_refused_in_one_request(relayed, server):
    kc, relay = relayed
    ok(execute(kc, "mpk_req_only_here = 5"))
    before = [(c["id"], c["code"]) for c in server.cells()]
    run, posts = counted(relay, kc, f"%%cell edit {CELL}\nmpk_req_value = mpk_req_only_here * 2")
    assert run.reply["status"] == "error"
    assert "mpk_req_only_here" in run.reply["evalue"] and "Nothing was added to the notebook" in run.reply["evalue"]
    assert len(posts) == 1, posts
    assert [(c["id"], c["code"]) for c in server.cells()] == before  # unchanged


def test_a_cell_taking_over_a_held_name_is_one_request(relayed):
    kc, relay = relayed
    ok(execute(kc, "mpk_req_held = 'pair'"))
    run, posts = counted(relay, kc, f"%%cell edit {CELL}\nmpk_req_held = 'notebook'")
    assert "mpk_req_held: the notebook's definition wins" in ok(run).stdout, run.stdout
    assert len(posts) == 1, posts
    assert ok(execute(kc, "mpk_req_held")).result == {"text/plain": "'notebook'"}


def test_a_held_name_is_taken_over_also_when_the_cell_raises(relayed):
    # marimo drops the op's answer when the cell it ran raises: the kept answer still says so.
    kc, relay = relayed
    ok(execute(kc, "mpk_req_held2 = 'pair'"))
    run = execute(kc, f"%%cell edit {CELL}\nmpk_req_held2 = 'notebook'\n1/0")
    assert run.reply["status"] == "error" and run.reply["ename"] == "ZeroDivisionError"
    assert "mpk_req_held2: the notebook's definition wins" in run.stdout, run.stdout
    assert ok(execute(kc, "mpk_req_held2")).result == {"text/plain": "'notebook'"}
