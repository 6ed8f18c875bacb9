"""inmarimo/state.py's namespace semantics, in process (the marimo-side module, imported here; the
notebook's globals are a stand-in `__main__`). The real-marimo proofs are test_state.py."""

from __future__ import annotations

import contextlib
import json
import sys
import types

import pytest

from marimo_pair_kernel import scratchpad
from marimo_pair_kernel.inmarimo import state


@pytest.fixture
def rt(monkeypatch):
    main = types.ModuleType("__main__")
    main.seed = 41
    main.max = lambda *a: "the notebook's max"  # a notebook global named like a builtin wins over it
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.setattr(state, "_notebook_defs", lambda: {"seed", "max"})
    state._PAIRS.clear()
    yield state, main
    state._PAIRS.clear()


def run(rt, code, kid="k1"):
    out = state.run(kid, code, 1, "", True, None)
    if out is None:
        return None
    return json.loads(out["marimo_pair_kernel"])["value"]["data"]["text/plain"]


def test_bindings_persist_and_notebook_names_are_read_live(rt):
    _, main = rt
    run(rt, "import math\ndef f():\n    return seed\nfor i in range(2): pass\n(w := 3)\n"
            "def g():\n    global gg\n    gg = 1\ng()")
    got = run(rt, "math.floor(2.5), f(), i, w, gg, max(1, 2), len('ab')")
    assert got == "(2, 41, 1, 3, 1, \"the notebook's max\", 2)"
    main.seed = 99  # a cell reran
    assert run(rt, "f()") == "99"
    assert "seed" not in state._PAIRS["k1"].ns


def test_names_before_an_exception_persist_del_removes_and_kernels_are_apart(rt):
    with pytest.raises(ZeroDivisionError):
        run(rt, "kept = 1\n1/0")
    assert run(rt, "kept") == "1"
    run(rt, "del kept")
    with pytest.raises(NameError):
        run(rt, "kept")
    run(rt, "mine = 1")
    with pytest.raises(NameError):
        run(rt, "mine", kid="k2")
    assert run(rt, "x = 1\nx", kid=None) == "1"
    with pytest.raises(NameError):
        run(rt, "x", kid=None)  # nothing persists without an id


def test_shadowing_note_once_and_the_notebook_keeps_its_value(rt, capsys):
    run(rt, "seed = 1")
    run(rt, "seed = 2")
    err = capsys.readouterr().err
    assert err.count("seed") >= 1 and len(err.strip().splitlines()) == 1
    assert run(rt, "seed") == "2" and rt[1].seed == 41


def test_who_whos_who_ls_reset_and_current_user_ns(rt, capsys):
    run(rt, "import os\nsmall = 5")
    state.line_magic_who("", "k1")
    assert capsys.readouterr().out == "os\t small\t \n"
    state.line_magic_whos("int", "k1")
    assert "small" in capsys.readouterr().out
    assert state.line_magic_who_ls("", "k1") == ["max", "os", "seed", "small"]
    assert state.current_user_ns() is None
    state._main_globals()["probe"] = state.current_user_ns
    assert run(rt, "probe() is globals()") == "True"
    state.line_magic_reset("-f", "k1")
    assert state._own(state._PAIRS["k1"].ns) == []


def test_cell_check_and_adopt(rt):
    run(rt, "helper = 1\nshared = 2")
    found = state.cell_names("k1", "y = helper + seed\nshared = 3")
    assert found == {"only_pair": ["helper"], "held": ["shared"]}
    state.take_over("k1", ["shared"])
    assert "shared" not in state._PAIRS["k1"].ns


def test_the_kernel_and_the_runtime_agree_on_the_machine(rt):
    assert state._machine() == scratchpad.machine()
    assert scratchpad.owner_of("k", True).kernel_id == "k" and scratchpad.owner_of("k", False).kernel_id is None
    assert not scratchpad.state_wanted({"MARIMO_PAIR_NO_STATE": "1"}) and scratchpad.state_wanted({})


def test_a_gone_local_kernel_is_swept_a_remote_one_after_the_ttl(rt):
    import subprocess

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state.run("gone", "a = 1", 1, "", False, (state._machine(), dead.pid))
    state.run("remote", "a = 1", 1, "", False, ("elsewhere", 1))
    state.run("k1", "1", 1, "", True, None)
    assert "gone" not in state._PAIRS and "remote" in state._PAIRS
    state._PAIRS["remote"].last -= state.PAIR_TTL + 1
    state.run("k1", "1", 1, "", True, None)
    assert "remote" not in state._PAIRS


@pytest.mark.parametrize("code", ["1/0", "40 + 2"])
def test_a_runs_error_layout_and_value_wait_for_the_warm_ups_imports(rt, monkeypatch, code):
    """Laying out a failure (IPython's ultratb) and showing a value (IPython's formatters) import
    IPython on the run's thread: never while the warm-up imports on its own (completion.warm_lock),
    where a partially initialized module would cost IPython's layout."""
    import threading

    from marimo_pair_kernel.inmarimo import completion, hooks, tracebacks

    seen: list[bool] = []
    lock = completion.warm_lock()

    def probe(*args, **kwargs):
        # Is the lock free for a thread that is not the run's (the warm-up's)? It must not be.
        got = []
        t = threading.Thread(target=lambda: got.append(lock.acquire(timeout=0.05)) or (got[0] and lock.release()))
        t.start()
        t.join()
        seen.append(got[0])
        return None

    monkeypatch.setattr(tracebacks, "format_error", probe)
    monkeypatch.setattr(hooks, "show", probe)
    with pytest.raises(ZeroDivisionError) if code == "1/0" else contextlib.nullcontext():
        rt[0].run("k1", code, 1, "", True, None)
    assert seen == [False]


# -- history.py: In, Out, _ ---------------------------------------------------------------------------


def test_history_as_ipythons_display_hook() -> None:
    from marimo_pair_kernel.inmarimo import history

    h, ns = history.History(), {}
    history.before(h, ns, {}, "6 * 7", 1)
    assert (ns["_"], ns["__"], ns["_i"], ns["_i1"], ns["In"]) == ("", "", "", "6 * 7", ["", "6 * 7"])
    history.after(h, ns, {}, 1, 42)
    history.before(h, ns, {}, "Out", 2)
    history.after(h, ns, {}, 2, ns["Out"])  # showing Out itself records nothing
    assert (ns["_"], ns["Out"], ns["_oh"] is ns["Out"], ns["_i"], "_2" in ns) == (42, {1: 42}, True, "6 * 7", False)
    history.before(h, ns, {}, "None", 4)  # 3 was one of the kernel's own magics: In keeps the place
    history.after(h, ns, {}, 4, None)
    assert ns["In"] == ["", "6 * 7", "Out", "", "None"] and ns["_"] == 42
    history.reset(ns)
    assert ns["Out"] == {} and len(ns["In"]) == 5


def test_history_leaves_the_notebooks_in_and_out_and_a_builtin_underscore(monkeypatch) -> None:
    import builtins

    from marimo_pair_kernel.inmarimo import history

    h, ns = history.History(), {}
    notebook = {"In": "the notebook's", "Out": "its own too"}
    history.before(h, ns, notebook, "1", 1)
    history.after(h, ns, notebook, 1, 1)
    assert "In" not in ns and "Out" not in ns and ns["_1"] == 1 and ns["_"] == 1
    monkeypatch.setattr(builtins, "_", lambda s: s, raising=False)  # gettext's
    history.before(h, ns, {}, "2", 2)
    history.after(h, ns, {}, 2, 2)
    assert ns["_"] == 1 and ns["_2"] == 2
