"""%open: the kernel brings its own marimo, owns it, and never touches servers it did not start."""

from __future__ import annotations

import difflib
import json
import os
import re
import signal
import socket
import sys
import textwrap
import time
from pathlib import Path

import pytest
from examples_support import committed
from support import DEFAULT_NOTEBOOK, MarimoServer, execute, free_port, started_kernel

from marimo_pair_kernel.launcher import WATCHDOG_BOUND
from marimo_pair_kernel.procinfo import pid_alive

URL = re.compile(r"http://127\.0\.0\.1:(\d+)")


def registry(state: Path) -> dict[int, dict]:
    d = state / "marimo" / "servers"
    if not d.is_dir():
        return {}
    entries = [json.loads(p.read_text()) for p in d.glob("*.json")]
    return {e["port"]: e for e in entries}


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_until(condition, timeout: float) -> float | None:
    """Seconds until `condition()` held, or None if it did not within `timeout`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if condition():
            return time.monotonic() - t0
        time.sleep(0.05)
    return None


def open_ok(kc, path: Path, *extra: str) -> int:
    """%open PATH; returns the port of the server it started or targeted."""
    run = execute(kc, f"%open {path} {' '.join(extra)}".strip(), timeout=120)
    assert run.reply["status"] == "ok", run.reply
    m = URL.search(run.stdout)
    assert m, run.stdout
    return int(m.group(1))


def kernel_pid(km) -> int:
    return km.provisioner.pid


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("open")


@pytest.fixture(scope="module")
def state(root) -> Path:
    s = root / "state"
    s.mkdir()
    return s


@pytest.fixture(scope="module")
def kernel_pair(state, root):
    with started_kernel({"XDG_STATE_HOME": str(state)}, cwd=str(root)) as (km, kc):
        yield km, kc


@pytest.fixture(scope="module")
def kernel(kernel_pair):
    return kernel_pair[1]


@pytest.fixture(scope="module")
def foreign(root, state):
    """A server this test started itself, registered where the kernels look: not theirs to stop."""
    srv = MarimoServer.start(root / "foreign", state_home=state)
    try:
        yield srv
    finally:
        srv.stop()


# -- the embedded default ----------------------------------------------------------------------


def test_open_new_notebook_then_cell_then_value(kernel, root, state):
    new = root / "NEW.py"
    assert not new.exists() and registry(state) == {}
    run = execute(kernel, f"%open {new}", timeout=120)
    assert run.reply["status"] == "ok", run.reply
    assert "starting marimo" in run.stdout
    port = int(URL.search(run.stdout).group(1))
    assert list(registry(state)) == [port]
    assert new.exists()

    run = execute(kernel, "%%cell --name v\nv = 7\n")
    assert run.reply["status"] == "ok", run.reply
    run = execute(kernel, "v * 6")
    assert run.reply["status"] == "ok", run.reply
    assert run.result["text/plain"] == "42"
    assert "v = 7" in new.read_text()


def test_status_says_the_kernel_started_it_and_reopen_starts_nothing(kernel, root, state):
    run = execute(kernel, "%status")
    info = run.listing["application/vnd.marimo-pair+json"]
    assert info["started_by_kernel"] is True and info["notebook"] == str(root / "NEW.py")
    before = registry(state)
    run = execute(kernel, f"%open {root / 'NEW.py'}")
    assert run.reply["status"] == "ok", run.reply
    assert "starting marimo" not in run.stdout
    assert registry(state) == before


def test_open_of_a_notebook_open_elsewhere_targets_it_and_starts_nothing(kernel, foreign, state, root):
    before = registry(state)
    port = open_ok(kernel, foreign.notebook)
    assert port == foreign.port
    assert registry(state) == before  # nothing new registered, so nothing started
    assert execute(kernel, "answer").result["text/plain"] == "42"
    assert execute(kernel, "%status").listing["application/vnd.marimo-pair+json"]["started_by_kernel"] is False
    open_ok(kernel, root / "NEW.py")  # and back


@pytest.fixture(scope="module")
def tabless(root, state):
    """A server someone started for a notebook and never opened in a browser: no session at all."""
    srv = MarimoServer.start(root / "tabless", state_home=state, open_session=False)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def folder_server(root, state):
    """`marimo edit FOLDER`: it serves every notebook in the folder; none has a tab."""
    folder = root / "folder"
    folder.mkdir()
    (folder / "a.py").write_text(textwrap.dedent(DEFAULT_NOTEBOOK).lstrip())
    srv = MarimoServer(folder, folder, state, free_port())
    try:
        srv.launch()
        yield srv
    finally:
        srv.stop()


def test_open_of_a_served_notebook_without_a_tab_uses_that_server(kernel, tabless, state, root):
    assert tabless.notebooks() == []
    before = registry(state)
    run = execute(kernel, f"%open {tabless.notebook}", timeout=120)
    assert run.reply["status"] == "ok", run.reply
    assert "serves" in run.stdout and "no tab open" in run.stdout, run.stdout
    assert int(URL.search(run.stdout).group(1)) == tabless.port
    assert registry(state) == before  # no second server for the same file
    assert [nb["path"] for nb in tabless.notebooks()] == [str(tabless.notebook)]
    assert execute(kernel, "answer").result["text/plain"] == "42"  # its cells were run
    assert execute(kernel, "%status").listing["application/vnd.marimo-pair+json"]["started_by_kernel"] is False
    open_ok(kernel, root / "NEW.py")


def test_console_start_on_a_notebook_in_a_served_folder_starts_no_server(folder_server, state, root):
    """The console's path (MARIMO_PAIR_OPEN) on a folder server: that server, which outlives the kernel."""
    nb = folder_server.root / "a.py"
    before = registry(state)
    with started_kernel({"XDG_STATE_HOME": str(state), "MARIMO_PAIR_OPEN": str(nb)}, cwd=str(root)) as (_, kc):
        run = execute(kc, "answer", timeout=120)
        assert run.reply["status"] == "ok", (run.reply, run.stdout, run.stderr)
        assert run.result["text/plain"] == "42"
        assert "no tab open" in run.stdout and f"Connected to {nb} on {folder_server.url}" in run.stdout
        assert registry(state) == before
    assert folder_server.proc.poll() is None and registry(state) == before
    assert folder_server.execute("answer")[1]["success"] is True


def test_jupyter_interrupt_does_not_reach_the_server(kernel_pair, state):
    km, kc = kernel_pair
    ports = set(registry(state))
    km.interrupt_kernel()  # SIGINT to the kernel's process group
    time.sleep(1.0)
    assert set(registry(state)) == ports and all(port_open(p) for p in ports)
    assert execute(kc, "6 * 7").result["text/plain"] == "42"


def test_bad_arguments_are_explained(kernel, root):
    run = execute(kernel, f"%open {root}")
    assert run.reply["status"] == "error" and "directory" in run.reply["evalue"]
    run = execute(kernel, f"%open {root / 'x.py'} --python {root / 'no-such-python'}")
    assert run.reply["status"] == "error"
    assert "--python" in run.reply["evalue"]
    run = execute(kernel, "%open")
    assert run.reply["status"] == "error" and "usage" in run.reply["evalue"].lower()


# -- lifecycle: the kernel stops what it started, and only that ------------------------------------


def test_shutdown_stops_the_owned_server_only(state, root, foreign):
    with started_kernel({"XDG_STATE_HOME": str(state)}, cwd=str(root)) as (_, kc):
        port = open_ok(kc, root / "shutdown.py")
        open_ok(kc, foreign.notebook)  # targeted, not owned
        pid = registry(state)[port]["pid"]
    assert not port_open(port)
    assert port not in registry(state)
    assert not pid_alive(pid)
    assert foreign.port in registry(state) and port_open(foreign.port)
    assert foreign.execute("answer")[1]["success"] is True


def test_restart_stops_the_owned_server(state, root):
    with started_kernel({"XDG_STATE_HOME": str(state)}, cwd=str(root)) as (km, kc):
        port = open_ok(kc, root / "restart.py")
        km.restart_kernel(now=False)
        kc.wait_for_ready(timeout=60)
        assert not port_open(port)
        assert port not in registry(state)


def test_sigterm_to_the_kernel_stops_the_owned_server(state, root):
    with started_kernel({"XDG_STATE_HOME": str(state)}, cwd=str(root)) as (km, kc):
        port = open_ok(kc, root / "sigterm.py")
        status = Path(f"/proc/{kernel_pid(km)}/status")
        if status.exists():  # Linux: the kernel catches SIGTERM now (bit 15 of SigCgt)
            caught = int(re.search(r"SigCgt:\s*([0-9a-f]+)", status.read_text()).group(1), 16)
            assert caught & (1 << (signal.SIGTERM - 1))
        os.kill(kernel_pid(km), signal.SIGTERM)
        # Stopped by the kernel's own handler (not the watchdog): the entry is removed cleanly.
        assert wait_until(lambda: not port_open(port) and port not in registry(state), 10) is not None
        assert wait_until(lambda: not km.is_alive(), 10) is not None


def test_sigkill_of_the_kernel_ends_the_server_within_the_watchdog_bound(state, root):
    with started_kernel({"XDG_STATE_HOME": str(state)}, cwd=str(root)) as (km, kc):
        port = open_ok(kc, root / "sigkill.py", "--python", sys.executable)
        pid = registry(state)[port]["pid"]
        os.kill(kernel_pid(km), signal.SIGKILL)
        elapsed = wait_until(lambda: not pid_alive(pid) and not port_open(port), WATCHDOG_BOUND + 5)
        assert elapsed is not None, "the orphaned marimo server is still running"
        print(f"orphaned server gone {elapsed:.2f}s after SIGKILL of the kernel (bound {WATCHDOG_BOUND}s)")
        assert elapsed < WATCHDOG_BOUND
        assert port not in registry(state)


def test_the_example_notebook_opens_with_its_cells_run_and_saves_unchanged(kernel, root):
    """The README's quick start on a copy: only the user's cell shows up in the file's diff.

    examples/penguins.py is kept in marimo's own saved form, so marimo re-saving it (as any
    cell change does) rewrites nothing else. On another marimo version only the
    `__generated_with` line may differ; that line is normalised here. The example is the
    committed one (tests/examples_support.py): trying the quick start changes the working tree's.
    """
    import marimo

    example = committed("examples/penguins.py")
    original = re.sub(
        r'^__generated_with = ".*"$', f'__generated_with = "{marimo.__version__}"', example, flags=re.M,
    )
    copy = root / "penguins.py"  # a copy: opening must not touch the repository's file
    copy.write_text(example)
    open_ok(kernel, copy)
    run = execute(kernel, "mass_by_species['Gentoo'], len(chosen)")
    assert run.reply["status"] == "ok", run.reply
    assert run.result["text/plain"] == "(5087.5, 4)"

    run = execute(kernel, '%%cell --name heavy\nheavy = [p for p in penguins if p["body_mass_g"] > 4000]\n')
    assert run.reply["status"] == "ok", run.reply
    saved = copy.read_text()
    diff = [ln for ln in difflib.ndiff(original.splitlines(), saved.splitlines()) if ln[:1] in "+-"]
    assert not [ln for ln in diff if ln.startswith("-")], "\n".join(diff)  # nothing rewritten
    assert any("heavy = [p for p in penguins" in ln for ln in diff), "\n".join(diff)

    run = execute(kernel, "%cell delete heavy")
    assert run.reply["status"] == "ok", run.reply
    assert copy.read_text() == original  # round trip: the saved form is the example itself
    open_ok(kernel, root / "NEW.py")
