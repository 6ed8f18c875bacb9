"""Older marimo: the core works against marimo 0.22.x, and a too-old server is named as such.

marimo 0.22 has no stable session ids: the kernel addresses a session by its per-tab
key (`Marimo-Session-Id`), which changes when the page reloads, so after a reload it
must find the notebook again by its file path. 0.22 also has no `/sse`, so the test
holds the session open the way a browser tab does, with marimo's websocket.

The old marimo lives in its own venv (about 240 MB), created by the test session the first
time and reused after that: under $MARIMO_PAIR_TEST_CACHE, else
${XDG_CACHE_HOME:-~/.cache}/marimo-pair-kernel-tests/ (MPK_OLD_MARIMO_VENV names the venv
itself). It is used as a user would: `python -m marimo edit` from that venv.

The oldest supported marimo is 0.21.1 (client.MIN_MARIMO). A server that lacks the
execute endpoint is played by a small fake (only for that: real old wheels need
network and minutes), and the kernel must name the version it needs.
"""

from __future__ import annotations

import os

import pytest
from faults_support import OLD_MARIMO_VERSION, LoggedKernel, Recorder, WsSession, old_marimo_python, registry_entry
from support import MarimoServer

from marimo_pair_kernel.client import MIN_MARIMO_TEXT
from marimo_pair_kernel.codemode import RUN_ALL_CELLS
from marimo_pair_kernel.discovery import Notebook


@pytest.fixture(scope="module")
def old_server(tmp_path_factory):
    python = old_marimo_python()
    # marimo 0.21 lists sessions only without skew protection (as its users must run it for us).
    extra = ("--no-skew-protection",) if OLD_MARIMO_VERSION.startswith("0.21") else ()
    srv = MarimoServer.start(tmp_path_factory.mktemp(f"marimo-{OLD_MARIMO_VERSION}"), python=python,
                             open_session=False, extra_args=extra)
    tab = None
    try:
        tab = WsSession(srv.url, str(srv.notebook)).start()
        srv.tabs = [tab]  # type: ignore[attr-defined]
        notebook = Notebook(key=tab.key, session_id=None, path=str(srv.notebook), filename=None)
        _, done = srv.execute(RUN_ALL_CELLS, notebook)
        assert done["success"], done
        yield srv
    finally:
        for t in getattr(srv, "tabs", []):
            t.close()
        srv.stop()


def test_old_server_is_what_we_think(old_server):
    import httpx

    assert httpx.get(old_server.url + "/api/version").text.startswith(OLD_MARIMO_VERSION)
    info = next(iter(httpx.get(old_server.url + "/api/sessions").json().values()))
    assert "session_id" not in info  # no stable ids before 0.25


def test_core_works_on_old_marimo_and_survives_a_reload(old_server, tmp_path):
    with LoggedKernel({"XDG_STATE_HOME": str(old_server.state_home)}, tmp_path / "k.log") as k:
        run = k.execute("answer")
        assert run.status == "ok", run.content
        assert run.result["text/plain"] == "42"
        assert k.execute("(1, None)").result["text/plain"] == "(1, None)"
        assert k.execute("print('out')").stdout == "out\n"
        # 0.22 sends tracebacks as highlighted HTML, and a SyntaxError only inside `done`.
        err = k.execute("1/0")
        assert err.content["ename"] == "ZeroDivisionError"
        assert len(err.of("error")) == 1 and "<span" not in repr(err.content)
        assert err.stderr == ""
        err = k.execute("x = 1\nraise ValueError('bad')")
        assert (err.content["ename"], err.content["evalue"]) == ("ValueError", "bad")
        assert any("line 2" in line for line in err.content["traceback"])
        err = k.execute("def f(:")
        assert err.content["ename"] == "SyntaxError", err.content
        assert len(err.of("error")) == 1
        made = k.execute("%%cell --name from_kernel\nfrom_kernel = answer + 1")
        assert made.status == "ok", made.content
        assert k.execute("from_kernel").result["text/plain"] == "43"

        # Reload the page: the old tab's key dies, marimo hands the session to the new tab's key.
        old_tab = old_server.tabs[0]
        old_tab.close()
        new_tab = WsSession(old_server.url, str(old_server.notebook)).start()
        old_server.tabs.append(new_tab)
        run = k.execute("from_kernel + answer")
        assert run.status == "ok", run.content
        assert run.result["text/plain"] == "85"
        status = k.execute("%status").listing["application/vnd.marimo-pair+json"]
        assert status["session_key"] == new_tab.key
        assert status["marimo_version"].startswith(OLD_MARIMO_VERSION)
    assert "internal error" not in (tmp_path / "k.log").read_text().lower()


# -- servers that lack something: the kernel names what it needs ------------------------------


def _url_kernel(tmp_path, url):
    return LoggedKernel({"MARIMO_PAIR_URL": url, "XDG_STATE_HOME": str(tmp_path / "empty")}, tmp_path / "k.log")


def test_old_version_in_registry_is_named(tmp_path):
    state = tmp_path / "state"
    with Recorder(notebook_path=str(tmp_path / "nb.py"), version="0.20.4") as rec:
        registry_entry(state, pid=os.getpid(), port=rec.port, version="0.20.4")
        with LoggedKernel({"XDG_STATE_HOME": str(state)}, tmp_path / "k.log") as k:
            run = k.execute("1 + 1")
        assert run.content["ename"] == "UnsupportedMarimoError", run.content
        assert "0.20.4" in run.content["evalue"] and f">= {MIN_MARIMO_TEXT}" in run.content["evalue"]
        assert not any(r.method == "POST" for r in rec.requests)  # no code sent to it


def test_old_version_behind_a_url_is_named(tmp_path):
    with Recorder(version="0.21.0") as rec, _url_kernel(tmp_path, rec.url) as k:
        run = k.execute("1 + 1")
        assert run.content["ename"] == "UnsupportedMarimoError", run.content
        assert "0.21.0" in run.content["evalue"] and MIN_MARIMO_TEXT in run.content["evalue"]
        assert not any(r.method == "POST" for r in rec.requests)


@pytest.mark.parametrize(
    "status,body",
    [(404, {"detail": "Not Found"}), (405, {"detail": "Method Not Allowed"}),
     (401, {"error": "Missing server token"})],  # marimo <= 0.20: skew protection, not auth
    ids=["404", "405", "skew-token"],
)
def test_missing_execute_endpoint_is_named(tmp_path, status, body):
    # A server that reports no version at all, so only the endpoint's absence can tell.
    with Recorder(execute_status=status, execute_body=body, version="") as rec, _url_kernel(tmp_path, rec.url) as k:
        run = k.execute("1 + 1")
        assert run.content["ename"] == "UnsupportedMarimoError", run.content
        assert MIN_MARIMO_TEXT in run.content["evalue"]


def test_session_listing_needing_flags_is_explained(tmp_path):
    body = {"error": "Session listing requires --no-token and --no-skew-protection"}
    with (
        Recorder(sessions_status=403, sessions_body=body, version="0.21.1") as rec,
        _url_kernel(tmp_path, rec.url) as k,
    ):
        run = k.execute("1 + 1")
        assert run.content["ename"] == "UnsupportedMarimoError", run.content
        assert "--no-token --no-skew-protection" in run.content["evalue"]
        assert "0.22" in run.content["evalue"]
