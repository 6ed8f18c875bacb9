"""Token servers: reachable only through MARIMO_PAIR_URL, and the token never shows anywhere.

The token must not appear in any IOPub/shell/stdin message, in the kernel's own output
(its log), in an error text, or in the argument list of the kernel or its children; and
it is sent only to the server the user named, never to one found in the registry.
"""

from __future__ import annotations

import os

from faults_support import LoggedKernel, Recorder, assert_secret_kept, registry_entry
from support import server_fixture

TOKEN = "tok-SECRET-5f3a9c-do-not-leak"
WRONG = "tok-WRONG-77e1-do-not-leak-either"


token_server = server_fixture("marimo-token", token=TOKEN)


def _assert_clean(k: LoggedKernel, *secrets: str) -> None:
    assert_secret_kept(k, *secrets)
    assert "internal error" not in k.log.read_text(errors="replace").lower()


def test_token_server_is_not_registered(token_server):
    directory = token_server.state_home / "marimo" / "servers"
    assert not directory.exists() or not any(directory.iterdir())


def test_without_token_the_error_says_how(token_server, tmp_path):
    env = {"MARIMO_PAIR_URL": token_server.url, "XDG_STATE_HOME": str(tmp_path / "empty-state")}
    with LoggedKernel(env, tmp_path / "kernel.log", extra_arguments=["--debug"]) as k:
        run = k.execute("answer")
        assert run.status == "error"
        assert run.content["ename"] == "AuthenticationError"
        assert "MARIMO_TOKEN" in run.content["evalue"] and "%token" in run.content["evalue"]
        assert len(run.of("error")) == 1

        # %token asks with hidden input; the answer is kept in memory and then used.
        tok = k.execute("%token", stdin_answers=[TOKEN])
        assert tok.status == "ok", tok.content
        assert tok.input_requests and tok.input_requests[0]["password"] is True
        run = k.execute("answer")
        assert run.status == "ok", run.content
        assert run.result["text/plain"] == "42"
        status = k.execute("%status")
        info = status.listing["application/vnd.marimo-pair+json"]
        assert info["token"] == "set"
        _assert_clean(k, TOKEN)  # `seen` is what the kernel sent, so the input_reply is not in it


def test_with_token_everything_works_and_nothing_leaks(token_server, tmp_path):
    env = {"MARIMO_PAIR_URL": token_server.url, "MARIMO_TOKEN": TOKEN,
           "XDG_STATE_HOME": str(tmp_path / "empty-state")}
    # --debug: ipykernel logs every message it handles, so the log check covers them too.
    with LoggedKernel(env, tmp_path / "kernel.log", extra_arguments=["--debug"]) as k:
        assert k.execute("answer").result["text/plain"] == "42"
        assert k.execute("print('hi')").stdout == "hi\n"
        err = k.execute("1/0")
        assert err.content["ename"] == "ZeroDivisionError"
        for code in ("%status", "%discover", f"%connect {token_server.url}", "%cells", "%graph",
                     "import os; os.environ.get('MARIMO_TOKEN')", "%connect --nope", "%cell show nope",
                     "%connect http://127.0.0.1:1", "answer?", "answer"):
            k.execute(code)
        _assert_clean(k, TOKEN)


def test_wrong_token_is_refused_without_echo(token_server, tmp_path):
    env = {"MARIMO_PAIR_URL": token_server.url, "MARIMO_TOKEN": WRONG,
           "XDG_STATE_HOME": str(tmp_path / "empty-state")}
    with LoggedKernel(env, tmp_path / "kernel.log") as k:
        run = k.execute("answer")
        assert run.content["ename"] == "AuthenticationError"
        assert "refused the token" in run.content["evalue"]
        # A token typed into a URL is refused, and the error does not repeat it. (The client's own
        # echo of what was typed, execute_input, is the user's text: left out of the check.)
        bad_url = k.execute(f"%connect http://user:{TOKEN}@127.0.0.1:{token_server.port}")
        assert bad_url.content["ename"] == "RefusedURLError"
        k.seen = [m for m in k.seen if m.get("msg_type") != "execute_input"]
        _assert_clean(k, WRONG, TOKEN)


def test_token_in_the_url_marimo_prints(token_server, tmp_path):
    # marimo prints `http://host:port?access_token=…`; pasting that works and is never echoed.
    env = {"MARIMO_PAIR_URL": f"{token_server.url}?access_token={TOKEN}",
           "XDG_STATE_HOME": str(tmp_path / "empty-state")}
    with LoggedKernel(env, tmp_path / "kernel.log") as k:
        assert k.execute("answer").result["text/plain"] == "42"
        k.execute("%status")
        k.execute("%connect")
        _assert_clean(k, TOKEN)


def test_token_goes_only_to_the_named_server(tmp_path):
    # A registry server (one that really holds its port: this process) gets the code but not
    # the token: registry servers run without one, so it would only leak.
    state = tmp_path / "state"
    with Recorder(notebook_path=str(tmp_path / "nb.py")) as rec:
        registry_entry(state, pid=os.getpid(), port=rec.port)
        with LoggedKernel({"XDG_STATE_HOME": str(state), "MARIMO_TOKEN": TOKEN}, tmp_path / "k.log") as k:
            k.execute("1 + 1")
            k.execute("%connect 0")
            k.execute("%status")
        assert any(r.path == "/api/kernel/execute" for r in rec.requests)
        assert all("authorization" not in r.headers for r in rec.requests)
        assert all(TOKEN.encode() not in r.body for r in rec.requests)
