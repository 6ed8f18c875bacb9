"""The registry lies: hung servers, impostors on a port, junk files. None of them is ever used.

One real marimo server shares its registry directory with the fakes; discovery and
auto-select must still find exactly it, within their bound, and send nothing at all
to a port the registered process does not hold.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from faults_support import HungListener, LoggedKernel, Recorder, TrickleServer, dump, registry_entry

from marimo_pair_kernel import discovery, procinfo
from marimo_pair_kernel.discovery import DISCOVERY_BOUND, discover, parse_entry, registry_dir

TOKEN = "tok-IMPOSTOR-must-never-see-this-8841"


@pytest.fixture
def directory(server):
    """The server's registry directory; whatever a test adds is removed afterwards."""
    d = registry_dir({"XDG_STATE_HOME": str(server.state_home)})
    before = set(os.listdir(d))
    yield d
    for name in set(os.listdir(d)) - before:
        p = d / name
        if p.is_dir() and not p.is_symlink():
            p.rmdir()
        else:
            p.unlink()


def _reasons(found: discovery.Discovery) -> dict[str, str]:
    return {Path(s.path).name: s.reason for s in found.stale}


def test_hung_and_trickling_servers_are_never_chosen(server, directory, tmp_path):
    # A hundred ports (more than discovery has threads) that accept and never answer, and one
    # that answers a byte at a time forever, all registered with a pid that really holds them
    # (this test process).
    hung = [HungListener() for _ in range(100)]
    try:
        with TrickleServer() as trickle:
            for h in hung:
                registry_entry(server.state_home, pid=os.getpid(), port=h.port)
            registry_entry(server.state_home, pid=os.getpid(), port=trickle.port)

            t0 = time.monotonic()
            found = discover(directory)
            elapsed = time.monotonic() - t0
            print(f"discovery with 101 hung entries: {elapsed:.2f}s (bound {DISCOVERY_BOUND}s)")
            assert elapsed < DISCOVERY_BOUND + 1.0, elapsed
            assert [s.url for s in found.servers] == [server.url]
            reasons = _reasons(found)
            assert "no complete answer" in reasons[f"127.0.0.1_{trickle.port}.json"]
            assert all("no complete answer" in reasons[f"127.0.0.1_{h.port}.json"] for h in hung)

            # Through a kernel: auto-select picks the real notebook; %discover reports the hung ones.
            with LoggedKernel({"XDG_STATE_HOME": str(server.state_home)}, tmp_path / "kernel.log") as k:
                t0 = time.monotonic()
                run = k.execute("answer")
                first = time.monotonic() - t0
                print(f"first execute (auto-select past them): {first:.2f}s")
                assert run.status == "ok", run.content
                assert run.result["text/plain"] == "42"
                assert first < DISCOVERY_BOUND + 5.0, first
                disc = k.execute("%discover")
                data = disc.listing["application/vnd.marimo-pair+json"]
                assert [s["url"] for s in data["servers"]] == [server.url]
                assert sum("no complete answer" in s["reason"] for s in data["stale"]) == 101
    finally:
        for h in hung:
            h.sock.close()


@pytest.fixture
def sleeper():
    """A live process of ours that holds no port: the registered pid of an impostor entry."""
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    try:
        yield p
    finally:
        p.kill()
        p.wait(timeout=10)


def test_impostor_receives_nothing(server, directory, sleeper, tmp_path):
    # The impostor answers exactly like marimo, and even claims the same notebook.
    with Recorder(notebook_path=str(server.notebook)) as imp, \
            Recorder(notebook_path=str(tmp_path / "only-the-impostor-has-this.py")) as imp2:
        registry_entry(server.state_home, pid=sleeper.pid, port=imp.port)
        registry_entry(server.state_home, pid=sleeper.pid, port=imp2.port)
        assert procinfo.pid_owns_port(sleeper.pid, imp.port) is False

        found = discover(directory)
        assert [s.url for s in found.servers] == [server.url]
        assert "does not listen on port" in _reasons(found)[f"127.0.0.1_{imp.port}.json"]

        env = {"XDG_STATE_HOME": str(server.state_home), "MARIMO_TOKEN": TOKEN}
        with LoggedKernel(env, tmp_path / "kernel.log") as k:
            assert k.execute("answer").result["text/plain"] == "42"  # the real one, unambiguous
            disc = k.execute("%discover")
            data = disc.listing["application/vnd.marimo-pair+json"]
            assert len(data["servers"]) == 1 and len(data["stale"]) == 2
            assert k.execute("%connect 1").status == "error"  # there is no second notebook
            assert k.execute("%connect 0").status == "ok"
            assert k.execute("%status").status == "ok"
            assert k.execute("%cells").status == "ok"
            # A kernel told to find the impostor's notebook finds nothing, and says so.
        env2 = {"XDG_STATE_HOME": str(server.state_home), "MARIMO_TOKEN": TOKEN,
                "MARIMO_PAIR_FILE": str(tmp_path / "only-the-impostor-has-this.py")}
        with LoggedKernel(env2, tmp_path / "kernel2.log") as k2:
            run = k2.execute("1 + 1")
            assert run.status == "error"
            assert run.content["ename"] == "NoNotebookError"
            assert "only-the-impostor-has-this.py" in run.content["evalue"]
            assert TOKEN not in dump(k2.seen)
        # Not one request: no health check, no session listing, no code, no token.
        assert imp.requests == [] and imp2.requests == []


def test_registry_host_is_not_where_we_connect(server, directory):
    # An entry for the real server's pid and port, but naming a remote host: discovery talks to
    # the socket the pid listens on (loopback), never to the host written in the file, and the
    # duplicate does not make auto-select ambiguous.
    registry_entry(server.state_home, pid=server.proc.pid, port=server.port, host="203.0.113.9",
                   name="zz_duplicate.json")
    found = discover(directory)
    assert [s.url for s in found.servers] == [server.url]
    assert "same server as" in _reasons(found)["zz_duplicate.json"]


def _junk(directory: Path, tmp_path: Path) -> dict[str, str]:
    """Write junk registry files; return file name → expected reason fragment."""
    expect: dict[str, str] = {}

    def put(name: str, content: str | bytes, reason: str) -> None:
        p = directory / name
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
        expect[name] = reason

    ok = {"server_id": "x", "pid": os.getpid(), "host": "127.0.0.1", "port": 9, "base_url": "", "version": "0.25.2"}
    put("j_corrupt.json", '{"pid": 1, "port": ', "not valid JSON")
    put("j_empty.json", "", "not valid JSON")
    put("j_binary.json", b"\xff\xfe\x00garbage\x80", "not valid JSON")
    put("j_list.json", "[1, 2, 3]", "not a JSON object")
    put("j_null.json", "null", "not a JSON object")
    put("j_missing.json", json.dumps({"server_id": "x", "host": "127.0.0.1"}), "missing field(s): pid, port")
    put("j_pid_str.json", json.dumps({**ok, "pid": str(os.getpid())}), "'pid' is not a positive integer")
    put("j_pid_bool.json", json.dumps({**ok, "pid": True}), "'pid' is not a positive integer")
    put("j_pid_neg.json", json.dumps({**ok, "pid": -5}), "'pid' is not a positive integer")
    put("j_port_float.json", json.dumps({**ok, "port": 2718.0}), "'port' is not a port number")
    put("j_port_big.json", json.dumps({**ok, "port": 70000}), "'port' is not a port number")
    put("j_host_list.json", json.dumps({**ok, "host": ["127.0.0.1"]}), "'host' is not a string")
    put("j_base_int.json", json.dumps({**ok, "base_url": 7}), "'base_url' is not a string")
    put("j_huge.json", "{" + " " * (5 * 1024 * 1024) + "}", "too large")
    put("j_nested.json", "[" * 30000 + "]" * 30000, "nested too deeply")
    put("j_dead.json", json.dumps({**ok, "pid": 2**22 + 11}), "not running")
    put("j_noport.json", json.dumps({**ok, "port": 9}), "does not listen on port")
    (directory / "j_dir.json").mkdir()
    expect["j_dir.json"] = "not a regular file"
    os.mkfifo(directory / "j_fifo.json")  # opening it would block forever
    expect["j_fifo.json"] = "not a regular file"
    (directory / "j_zero.json").symlink_to("/dev/zero")
    expect["j_zero.json"] = "not a regular file"
    (directory / "j_dangling.json").symlink_to(tmp_path / "does-not-exist")
    expect["j_dangling.json"] = "cannot read the file"
    (directory / "j_loop.json").symlink_to(directory / "j_loop.json")
    expect["j_loop.json"] = "cannot read the file"
    return expect


def test_junk_registry_is_skipped_with_a_reason(server, directory, tmp_path):
    expect = _junk(directory, tmp_path)
    t0 = time.monotonic()
    found = discover(directory)
    assert time.monotonic() - t0 < DISCOVERY_BOUND + 1.0
    assert [s.url for s in found.servers] == [server.url]
    reasons = _reasons(found)
    for name, fragment in expect.items():
        assert fragment in reasons.get(name, "<not skipped>"), (name, reasons.get(name))
    # Nothing was deleted or changed.
    assert all((directory / n).exists() or (directory / n).is_symlink() for n in expect)

    with LoggedKernel({"XDG_STATE_HOME": str(server.state_home)}, tmp_path / "kernel.log") as k:
        assert k.execute("answer").result["text/plain"] == "42"
        disc = k.execute("%discover")
        assert disc.status == "ok"
        text = disc.listing["text/plain"]
        assert "j_fifo.json" in text and "not a regular file" in text
    assert "internal error" not in (tmp_path / "kernel.log").read_text().lower()


_UNREADABLE = r"""
import json, os, sys
from pathlib import Path
from marimo_pair_kernel.discovery import parse_entry
os.setuid(65534)  # this child only: drop root so file permissions apply
print(json.dumps(parse_entry(Path(sys.argv[1])).reason))
"""


def test_unreadable_registry_file(tmp_path):
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="mpk-unreadable-"))
    try:
        d.chmod(0o755)
        f = d / "127.0.0.1_2718.json"
        f.write_text(json.dumps({"pid": 1, "host": "127.0.0.1", "port": 2718}))
        f.chmod(0o000)
        if os.geteuid() != 0:
            reason = parse_entry(f).reason  # type: ignore[union-attr]
        else:
            # root reads any file: check it the way a normal user meets it, in a child that
            # gives up root before reading (the test process keeps its privileges).
            out = subprocess.run([sys.executable, "-c", _UNREADABLE, str(f)], capture_output=True,
                                 text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            reason = json.loads(out.stdout)
        assert "permission denied" in reason
    finally:
        for p in d.iterdir():
            p.unlink()
        d.rmdir()
