"""Completion and inspection are quick, bounded, and never in a person's way.

- The first completion of a fresh kernel is answered right after the kernel is ready
  (the notebook was found and our runtime installed in the background at start-up).
- No completion holds the shell channel longer than the deadline (kernel.QUICK_DEADLINE):
  a slow one gets an empty reply in time, the `is_complete` behind it is not delayed, the
  slow request finishes in marimo without being cut (cutting it would interrupt marimo's
  kernel, maybe in a person's cell), and asking again gets its late answer at once.
- `jupyter console`'s first Tab, through a pseudo-terminal: answered, and is_complete
  still works afterwards (the console disables it for the session after one timeout).

Timing limits from the issue are asserted with margins for a loaded shared machine; bench/
reports the figures against the raw HTTP floor.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from pathlib import Path

import pytest
from support import execute, started_kernel
from test_client_console import VENV_BIN, Console

from marimo_pair_kernel.kernel import QUICK_DEADLINE

SLOW_CELL = """%%cell --name slowdir
import time as _time


class Slow:
    def __dir__(self):
        _time.sleep(2.0)
        return ["alpha", "beta"]


slow = Slow()
"""


def _complete(kc, code: str, timeout: float = 10) -> tuple[dict, float]:
    t0 = time.monotonic()
    reply = kc.complete(code, len(code), reply=True, timeout=timeout)
    return reply["content"], time.monotonic() - t0


def _is_complete(kc, code: str, timeout: float = 10) -> tuple[dict, float]:
    t0 = time.monotonic()
    msg_id = kc.is_complete(code)
    while True:
        reply = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"], time.monotonic() - t0


def test_first_completion_right_after_ready_and_later_ones_quick(server):
    with started_kernel({"XDG_STATE_HOME": str(server.state_home)}) as (_, kc):  # returns once the kernel is ready
        ready = time.monotonic()
        first, first_s = _complete(kc, "se")
        answered = first
        while not answered["matches"] and time.monotonic() - ready < 5:
            time.sleep(0.1)  # a second Tab, as a person would press it
            answered = _complete(kc, "se")[0]
        first_answer_s = time.monotonic() - ready
        later = [_complete(kc, "se")[1] for _ in range(20)]
        inspected = kc.inspect("answer", 6, reply=True, timeout=10)["content"]
    # Never later than the deadline; with matches unless the machine is too loaded for that
    # (the issue: 0.3 s after ready; bench/ reports it), and then the next Tab has them.
    assert first_s <= QUICK_DEADLINE + 0.4, first_s
    assert "seed" in answered["matches"], (first, answered)
    assert first_answer_s <= 1.0, first_answer_s  # JupyterLab drops replies after 1 s
    p95 = sorted(later)[int(0.95 * len(later)) - 1]
    assert p95 <= 0.5, later  # the issue: 0.15 s; bench/ measures it against the floor
    assert inspected["found"] and "int" in inspected["data"]["text/plain"]
    with_matches = "with" if first["matches"] else "without"
    print(
        f"first completion {first_s * 1000:.0f} ms ({with_matches} matches); "
        f"later p95 {p95 * 1000:.0f} ms, median {statistics.median(later) * 1000:.0f} ms"
    )


def test_a_slow_completion_is_cut_at_the_deadline_without_interrupting_marimo(kernel, server):
    run = execute(kernel, SLOW_CELL)
    assert run.reply["status"] == "ok", run.reply
    _complete(kernel, "se")  # warm: the runtime is installed, the notebook found

    reply, took = _complete(kernel, "slow.al")
    assert reply["status"] == "ok" and reply["matches"] == [], reply
    assert took <= QUICK_DEADLINE + 0.4, took
    # The shell channel is free again: is_complete is answered at once.
    status, took = _is_complete(kernel, "x = 1")
    assert status["status"] == "complete" and took <= 0.5, (status, took)

    # Meanwhile the slow request still runs in marimo; a person's cell queued behind it runs
    # to the end (a stream cut short would have made marimo interrupt its kernel).
    person: dict = {}
    t = threading.Thread(target=lambda: person.update(done=server.execute("import time\ntime.sleep(0.3)\n40 + 2")[1]))
    t.start()
    t.join(timeout=30)
    assert person["done"]["success"] is True, person

    # The same request again: the late answer, at once.
    reply, took = _complete(kernel, "slow.al")
    assert reply["matches"] == ["alpha"], reply
    assert took <= 0.5, took
    assert execute(kernel, "answer").result["text/plain"] == "42"


def test_magic_argument_completion_never_waits_behind_a_running_cell(server):
    """`%cell show <Tab>` asks marimo for cell names: while someone's code runs there, the
    reply still comes within the deadline (without them) and is_complete right after it."""
    with started_kernel({"XDG_STATE_HOME": str(server.state_home)}) as (_, kc):  # its cell-name cache is empty
        busy = threading.Thread(target=lambda: server.execute("import time\ntime.sleep(4)"))
        busy.start()
        time.sleep(0.5)
        reply, took = _complete(kc, "%cell show ")
        assert reply["status"] == "ok" and took <= QUICK_DEADLINE + 0.4, (reply, took)
        status, took = _is_complete(kc, "x = 1")
        assert status["status"] == "complete" and took <= 0.5, (status, took)
        while_busy = set(reply["matches"])
        busy.join(timeout=30)
        deadline = time.monotonic() + 10
        idle: set[str] = set()
        while not idle - while_busy and time.monotonic() < deadline:
            idle = set(_complete(kc, "%cell show ")[0]["matches"])  # a second Tab, as a person would
            time.sleep(0.2)
        assert idle - while_busy, (while_busy, idle)  # the notebook's cell ids and names, once idle


def test_console_first_tab_is_answered_and_is_complete_keeps_working(server, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("MARIMO_TOKEN", "MARIMO_PAIR_URL", "MARIMO_PAIR_FILE")}
    env.update(
        XDG_STATE_HOME=str(server.state_home),
        TERM="xterm-256color",
        PROMPT_TOOLKIT_NO_CPR="1",
        IPYTHONDIR=str(tmp_path / "ipython"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        PATH=VENV_BIN + os.pathsep + env.get("PATH", ""),
    )
    con = Console(env, tmp_path)
    try:
        con.prompt(timeout=60)
        con.child.send("se")
        con.child.send("\t")  # the first Tab of the session, at once
        con.expect(r"seed", timeout=10)
        con.child.send("\x15")  # Ctrl-U: clear the line
        out = con.run("1/0", timeout=30)  # one Enter is enough: is_complete still answers
        assert "ZeroDivisionError" in out, out
        assert "Unhandled exception" not in con.text and "did not respond" not in con.text, con.text[-2000:]
    finally:
        con.close()
        (Path(__file__).parent / "artifacts").mkdir(exist_ok=True)
        (Path(__file__).parent / "artifacts" / "console-first-tab.txt").write_text(con.text)


@pytest.fixture(scope="module", autouse=True)
def _quick_deadline_is_the_documented_one():
    # The tests above are written against a deadline well under JupyterLab's 1 s.
    assert QUICK_DEADLINE <= 0.5
    yield
