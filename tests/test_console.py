"""The README's main-job command, `marimo-pair-kernel console [NB.py]`, driven through a pseudo-terminal."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

import pexpect
import psutil
from support import MarimoServer

CLI = shutil.which("marimo-pair-kernel", path=os.path.dirname(sys.executable)) or "marimo-pair-kernel"
ESC = r"(?:\x1b\[[0-9;?]*[A-Za-z])*"  # prompt_toolkit colours the prompt numbers


def prompt(kind: str, n: int) -> str:
    return (r"In \[" if kind == "In" else r"Out\[") + ESC + str(n) + ESC + r"\]:"


def registry(state: Path) -> list[dict]:
    d = state / "marimo" / "servers"
    return [json.loads(p.read_text()) for p in d.glob("*.json")] if d.is_dir() else []


def our_processes(state: Path) -> list[psutil.Process]:
    """The marimo server the kernel started, its children, and the kernel (the server's parent)."""
    procs: list[psutil.Process] = []
    for entry in registry(state):
        server = psutil.Process(entry["pid"])
        procs += [server, *server.children(recursive=True), server.parent()]
    return procs


def console(args: list[str], state: Path, tmp: Path, **extra_env: str) -> pexpect.spawn:
    env = dict(os.environ, XDG_STATE_HOME=str(state), TMPDIR=str(tmp), **extra_env)
    for var in ("MARIMO_PAIR_URL", "MARIMO_PAIR_FILE", "MARIMO_TOKEN", "MARIMO_PAIR_OPEN"):
        env.pop(var, None)
    child = pexpect.spawn(
        CLI, ["console", *args], env=env, cwd=str(tmp), encoding="utf-8", timeout=120, dimensions=(40, 200)
    )
    child.logfile_read = (tmp / "console.log").open("w")
    return child


def exit_cleanly(child: pexpect.spawn, procs: list[psutil.Process], state: Path) -> None:
    child.sendline("exit")
    child.expect(pexpect.EOF, timeout=60)
    child.close()
    assert child.exitstatus == 0, child.exitstatus
    gone, alive = psutil.wait_procs(procs, timeout=15)
    assert not alive, f"still running after the console exited: {alive}"
    assert registry(state) == []


def test_console_opens_the_notebook_runs_a_line_and_exits_cleanly(tmp_path):
    state, nb = tmp_path / "state", tmp_path / "analysis.py"
    child = console([str(nb)], state, tmp_path)
    try:
        child.expect(prompt("In", 1))
        # A pause first, as a person's: the kernel's background warm-up has finished when the
        # first line arrives, and the value still comes as IPython shows it (not marimo's JSON).
        time.sleep(5)
        child.sendline("{'a': 1.5, 'b': None}")
        child.expect(r"marimo is up at http://127\.0\.0\.1:\d+")
        child.expect(prompt("Out", 1) + ESC + r"\s*" + ESC + re.escape("{'a': 1.5, 'b': None}"))
        child.expect(prompt("In", 2))
        procs = our_processes(state)
        assert len(registry(state)) == 1 and nb.exists()

        # Ctrl-C interrupts the running line; the console, the kernel and the server carry on.
        child.sendline("import time; time.sleep(60)")
        time.sleep(1.5)
        child.sendintr()
        child.expect("KeyboardInterrupt")
        child.expect(prompt("In", 3))
        child.sendline("20 + 22")
        child.expect(prompt("Out", 3) + ESC + r"\s*" + ESC + "42")
        child.expect(prompt("In", 4))
        assert all(p.is_running() for p in procs)

        exit_cleanly(child, procs, state)
    finally:
        child.close(force=True)


def test_console_without_a_notebook_uses_a_scratch_one(tmp_path):
    state = tmp_path / "state"
    child = console([], state, tmp_path)
    try:
        child.expect(r"Scratch notebook: (\S+scratch\.py)")
        scratch = Path(child.match.group(1))
        assert scratch.is_relative_to(tmp_path)
        child.expect(prompt("In", 1))
        child.sendline("6 * 7")
        child.expect(prompt("Out", 1) + ESC + r"\s*" + ESC + "42")
        child.expect(prompt("In", 2))
        assert [os.path.realpath(s) for s in _open_paths(state)] == [os.path.realpath(scratch)]
        exit_cleanly(child, our_processes(state), state)
        assert scratch.exists()  # kept: whatever was put in it is not lost
    finally:
        child.close(force=True)


def _open_paths(state: Path) -> list[str]:
    import httpx

    out = []
    for entry in registry(state):
        r = httpx.get(f"http://127.0.0.1:{entry['port']}/api/sessions", timeout=5)
        out += [s["path"] for s in r.json().values()]
    return out


def test_console_refuses_a_folder(tmp_path):
    child = pexpect.spawn(CLI, ["console", str(tmp_path)], encoding="utf-8", timeout=60)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2
    assert re.search("not a notebook file", child.before)


def test_console_on_a_notebook_already_open_uses_that_server_and_leaves_it_running(tmp_path):
    state = tmp_path / "state"
    srv = MarimoServer.start(tmp_path / "theirs", state_home=state)
    try:
        child = console([str(srv.notebook)], state, tmp_path)
        try:
            child.expect(prompt("In", 1))
            child.sendline("answer")
            child.expect("already open; nothing started")
            child.expect(prompt("Out", 1) + ESC + r"\s*" + ESC + "42")
            child.expect(prompt("In", 2))
            assert [e["pid"] for e in registry(state)] == [srv.proc.pid]
            child.sendline("exit")
            child.expect(pexpect.EOF, timeout=60)
            child.close()
            assert child.exitstatus == 0
        finally:
            child.close(force=True)
        assert srv.proc.poll() is None and [e["pid"] for e in registry(state)] == [srv.proc.pid]
        assert srv.execute("answer")[1]["success"] is True
    finally:
        srv.stop()


NOTEBOOK = '''import marimo

app = marimo.App()


@app.cell
def _():
    x = 41
    return (x,)


if __name__ == "__main__":
    app.run()
'''


def test_console_first_line_typed_at_once_sees_the_notebook_run(tmp_path):
    """Typed the moment the prompt shows (usually before marimo is up): it waits for the
    notebook's cells, and its value comes as IPython shows it (our runtime is in place)."""
    state, nb = tmp_path / "state", tmp_path / "nb.py"
    nb.write_text(NOTEBOOK)
    child = console([str(nb)], state, tmp_path)
    try:
        child.expect(prompt("In", 1))
        child.sendline("x + 1, {'k': 0.5}")
        child.expect(prompt("Out", 1) + ESC + r"\s*" + ESC + re.escape("(42, {'k': 0.5})"))
        child.expect(prompt("In", 2))
        child.sendline("%status")  # a listing is the magic's Out[n], as IPython shows a line magic's value
        child.expect(prompt("Out", 2) + r"[\s\S]*marimo-pair status[\s\S]*healthy\s+True")
        child.expect(prompt("In", 3))
        exit_cleanly(child, our_processes(state), state)
    finally:
        child.close(force=True)


def test_console_stopped_by_sigterm_stops_its_kernel_and_server(tmp_path):
    state, nb = tmp_path / "state", tmp_path / "nb.py"
    child = console([str(nb)], state, tmp_path)
    try:
        child.expect(prompt("In", 1))
        child.sendline("1 + 1")
        child.expect(prompt("Out", 1))
        procs = our_processes(state)
        kernels = [p for p in psutil.Process(child.pid).children() if "marimo_pair_kernel" in " ".join(p.cmdline())]
        assert len(kernels) == 1 and len(registry(state)) == 1
        child.kill(signal.SIGTERM)
        child.expect(pexpect.EOF, timeout=30)
        child.close()  # reaps the console process
        others = [p for p in procs + kernels if p.pid != child.pid]
        gone, alive = psutil.wait_procs(others, timeout=15)
        assert not alive, f"still running after the console was stopped: {alive}"
        assert registry(state) == []
    finally:
        child.close(force=True)


def test_console_ctrl_c_while_marimo_starts_keeps_the_notebook_open(tmp_path):
    """Ctrl-C on a first line still waiting for the notebook (its cells take seconds) ends that
    wait only: the next line finishes opening the notebook, says so, and sees its cells run."""
    state, nb = tmp_path / "state", tmp_path / "nb.py"
    nb.write_text(NOTEBOOK.replace("    x = 41", "    import time\n\n    time.sleep(4)\n    x = 41"))
    child = console([str(nb)], state, tmp_path)
    try:
        child.expect(prompt("In", 1))
        child.sendline("x + 1")
        child.expect("waiting for marimo")
        time.sleep(0.2)
        child.sendintr()
        child.expect("KeyboardInterrupt: stopped waiting for the notebook")
        child.expect(prompt("In", 2))
        child.sendline("x + 1")
        child.expect(r"Connected to \S*nb\.py")
        child.expect(prompt("Out", 2) + ESC + r"\s*" + ESC + "42")
        child.expect(prompt("In", 3))
        exit_cleanly(child, our_processes(state), state)
    finally:
        child.close(force=True)


def test_console_beside_another_notebooks_server_starts_its_own_and_leaves_that_one(tmp_path):
    """With a server registered (so the registry is read, not skipped) that does not have this
    notebook: the console starts its own server for it, and stops only that one on exit."""
    state, nb = tmp_path / "state", tmp_path / "mine.py"
    nb.write_text(NOTEBOOK)
    srv = MarimoServer.start(tmp_path / "theirs", state_home=state)
    try:
        child = console([str(nb)], state, tmp_path)
        try:
            child.expect(r"marimo is starting at http://127\.0\.0\.1:\d+")
            child.expect(prompt("In", 1))
            child.sendline("x + 1")
            child.expect(prompt("Out", 1) + ESC + r"\s*" + ESC + "42")
            child.expect(prompt("In", 2))
            pids = {e["pid"] for e in registry(state)}
            assert srv.proc.pid in pids and len(pids) == 2, pids
            (mine,) = pids - {srv.proc.pid}
            ours = [psutil.Process(mine), *psutil.Process(mine).children(recursive=True)]
            child.sendline("exit")
            child.expect(pexpect.EOF, timeout=60)
            child.close()
            assert child.exitstatus == 0
        finally:
            child.close(force=True)
        assert [e["pid"] for e in registry(state)] == [srv.proc.pid]
        assert srv.proc.poll() is None
        gone, alive = psutil.wait_procs(ours, timeout=15)
        assert not alive, alive
    finally:
        srv.stop()


def test_console_with_a_kernelspec_whose_python_is_gone_says_how_to_fix_it(tmp_path):
    state, nb = tmp_path / "state", tmp_path / "nb.py"
    spec = tmp_path / "jupyter" / "kernels" / "marimo-pair"
    spec.mkdir(parents=True)
    gone = str(tmp_path / "removed-venv" / "bin" / "python")
    (spec / "kernel.json").write_text(
        json.dumps({"argv": [gone, "-m", "marimo_pair_kernel", "-f", "{connection_file}"],
                    "display_name": "marimo (pair)", "language": "python"})
    )
    child = console([str(nb)], state, tmp_path, JUPYTER_PATH=str(tmp_path / "jupyter"))
    try:
        child.expect(pexpect.EOF)
        child.close()
        text = child.before
        assert child.exitstatus == 1, text
        assert gone in text and "marimo-pair-kernel install" in text and str(spec) in text, text
        assert "Traceback" not in text, text
        # The marimo it had started is stopped: its port closes (it may not have opened yet).
        port = int(re.search(r"marimo is starting at http://127\.0\.0\.1:(\d+)", text).group(1))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) != 0:
                    break
            time.sleep(0.2)
        else:
            raise AssertionError(f"marimo still listens on {port}")
        time.sleep(3)  # a start still under way would have opened the port by now
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0
        assert registry(state) == []
    finally:
        child.close(force=True)
