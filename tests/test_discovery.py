"""Discovery beside junk: corrupt, partial and dead registry entries next to a live server."""

from __future__ import annotations

import json
import time

from support import MarimoServer, execute, started_kernel

from marimo_pair_kernel.discovery import discover, registry_dir


def _junk(directory):
    (directory / "127.0.0.1_1.json").write_text("{not json")  # corrupt
    (directory / "127.0.0.1_2.json").write_text('{"server_id": "127.0.0.1:2", "pid": 12')  # partial write
    dead = {"server_id": "127.0.0.1:3", "pid": 2**22 + 7, "host": "127.0.0.1", "port": 3,
            "base_url": "", "started_at": "2026-01-01T00:00:00", "version": "0.25.2"}
    (directory / "127.0.0.1_3.json").write_text(json.dumps(dead))  # process long gone


def test_finds_exactly_the_live_server(server):
    directory = registry_dir({"XDG_STATE_HOME": str(server.state_home)})
    _junk(directory)
    try:
        t0 = time.monotonic()
        found = discover(directory)
        elapsed = time.monotonic() - t0
        assert [s.url for s in found.servers] == [server.url]
        assert [nb.path for nb in found.servers[0].notebooks] == [str(server.notebook)]
        reasons = {p.split("/")[-1]: r for p, r in ((s.path, s.reason) for s in found.stale)}
        assert set(reasons) == {"127.0.0.1_1.json", "127.0.0.1_2.json", "127.0.0.1_3.json"}
        assert "not valid JSON" in reasons["127.0.0.1_1.json"]
        assert "not running" in reasons["127.0.0.1_3.json"]
        assert elapsed < 5  # generous: liveness checks run concurrently with short timeouts
        # Nothing is deleted: stale files are only reported.
        assert len(list(directory.glob("*.json"))) == 4

        # Through the kernel: %discover reports the same, and auto-select still works.
        with started_kernel({"XDG_STATE_HOME": str(server.state_home)}) as (_, kc):
            run = execute(kc, "%discover")
            data = run.listing["application/vnd.marimo-pair+json"]
            assert [s["url"] for s in data["servers"]] == [server.url]
            assert len(data["stale"]) == 3
            assert execute(kc, "answer").result["text/plain"] == "42"
    finally:
        for n in (1, 2, 3):
            (directory / f"127.0.0.1_{n}.json").unlink(missing_ok=True)


def test_cli_discover_json(server):
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "marimo_pair_kernel", "discover", "--json"],
        env={**server.env()}, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["servers"][0]["notebooks"][0]["path"] == str(server.notebook)


def _served(tmp_path, *args: str):
    """served_path() of a real process whose command line looks like `marimo edit ARGS…`."""
    import subprocess
    import sys

    from marimo_pair_kernel.procinfo import served_path

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "edit", *args],
                            cwd=tmp_path, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while True:  # until the process has exec'd (its command line is the new one)
            got = served_path(proc.pid)
            if got is not None or time.monotonic() > deadline:
                return got
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait()


def test_what_a_server_serves_comes_from_its_command_line(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.py").write_text("")
    nb = str(tmp_path / "nb.py")
    assert _served(tmp_path, "nb.py", "--headless", "--port", "1234") == (nb, False)
    assert _served(tmp_path, "--port", "1234", "--host", "127.0.0.1", "--no-token", "nb.py") == (nb, False)
    assert _served(tmp_path, "-p", "1", "sub") == (str(tmp_path / "sub"), True)
    assert _served(tmp_path, "--headless") == (str(tmp_path), True)  # no argument: the working directory
    assert _served(tmp_path, "--headless", "--", "other.py") == (str(tmp_path), True)  # the notebook's own argv


def test_a_folder_server_opens_existing_notebooks_under_it_only(tmp_path):
    from marimo_pair_kernel.discovery import Server

    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.py").write_text("")
    folder = Server("http://127.0.0.1:1", None, 1, (), serves=str(tmp_path), serves_folder=True)
    assert folder.can_open(str(tmp_path / "sub" / "x.py"))
    assert not folder.can_open(str(tmp_path / "missing.py"))
    assert not folder.can_open(str(tmp_path.parent / "x.py"))
    single = Server("http://127.0.0.1:2", None, 2, (), serves=str(tmp_path / "nb.py"))
    assert single.can_open(str(tmp_path / "nb.py")) and not single.can_open(str(tmp_path / "sub" / "x.py"))


# -- next steps: in the words of where they are read, and only ones that exist ------------------


def test_cli_discover_suggests_shell_commands(server):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "marimo_pair_kernel", "discover"],
                         env={**server.env()}, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert str(server.notebook) in out.stdout
    assert "%" not in out.stdout, out.stdout  # no magic: a shell user cannot type one there
    assert "marimo-pair-kernel console" in out.stdout


def test_a_server_without_a_tab_offers_no_number_to_connect_to():
    from marimo_pair_kernel.discovery import Discovery, Server
    from marimo_pair_kernel.magics.targeting import discovery_bundle

    found = Discovery((Server("http://127.0.0.1:1", "0.25.2", 1, (), serves="/w/nb.py"),))
    text = discovery_bundle(found)["text/plain"]
    assert "%connect" not in text and "%open /w/nb.py" in text, text
    assert "\n   http://127.0.0.1:1" in text  # the # column is empty on that row
    shell = discovery_bundle(found, shell=True)["text/plain"]
    assert "%" not in shell and "marimo-pair-kernel console /w/nb.py" in shell, shell


def test_several_notebooks_is_its_own_error_and_names_the_choice(server, tmp_path):
    # marimo gives one file one session, so the second notebook is on a second server.
    other = MarimoServer.start(tmp_path, state_home=server.state_home, run_cells=False)
    try:
        with started_kernel({"XDG_STATE_HOME": str(server.state_home)}) as (_, kc):
            run = execute(kc, "answer")
            assert run.reply["ename"] == "SeveralNotebooksError", run.reply
            assert "2 notebooks are open" in run.reply["evalue"] and "%connect N" in run.reply["evalue"]
            assert "[0]" in run.reply["evalue"] and "[1]" in run.reply["evalue"]
            run = execute(kc, "%connect 7")
            assert run.reply["ename"] == "NoNotebookError" and "number 7" in run.reply["evalue"]
            listed = execute(kc, "%discover").listing
            assert "%connect N" in listed["text/plain"]
            paths = [nb["path"] for s in listed["application/vnd.marimo-pair+json"]["servers"] for nb in s["notebooks"]]
            number = paths.index(str(other.notebook))  # the # column numbers them in this order
            assert f"\n{number}  http://" in listed["text/plain"]
            run = execute(kc, f"%connect {number}")
            assert run.reply["status"] == "ok", run.reply
            assert f"Connected to {other.notebook}" in run.stdout
    finally:
        other.stop()
