"""The server dies, restarts elsewhere, or its page reloads: the kernel says so and recovers.

One notebook file, served first by one marimo, then (after a SIGKILL in the middle of an
execution) by another on a different port, then stopped cleanly and served again.
"""

from __future__ import annotations

import time

import pytest
from faults_support import LoggedKernel
from support import MarimoServer

SLEEPER = "import time\nprint('started', flush=True)\ntime.sleep(60)"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("faults-server")


def _started(root, state_home=None) -> MarimoServer:
    return MarimoServer.start(root, state_home=state_home)


def test_death_restart_and_reload(root, tmp_path):
    servers: list[MarimoServer] = []
    try:
        first = _started(root)
        servers.append(first)
        env = {"XDG_STATE_HOME": str(first.state_home)}
        with LoggedKernel(env, tmp_path / "kernel.log") as k:
            assert k.execute("answer").result["text/plain"] == "42"

            # 1. SIGKILL the server while code runs: an error reply within 5 s, saying why.
            msg_id = k.kc.execute(SLEEPER)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                m = k.kc.get_iopub_msg(timeout=30)
                if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "stream":
                    break
            first.kill()
            t0 = time.monotonic()
            reply = k.kc.get_shell_msg(timeout=30)
            waited = time.monotonic() - t0
            assert reply["parent_header"]["msg_id"] == msg_id
            content = reply["content"]
            assert content["status"] == "error"
            print(f"error reply {waited:.2f}s after SIGKILL")
            assert waited < 5.0, waited
            assert content["ename"] == "ServerGoneError"
            assert "went away" in content["evalue"] and "outcome is unknown" in content["evalue"]

            # 2. The kernel itself is fine.
            info = k.kernel_info()
            assert info["content"]["status"] == "ok"

            # 3. The next execute says there is no live notebook, and how to get one.
            run = k.execute("answer")
            assert run.status == "error"
            assert run.content["ename"] == "NoNotebookError"
            text = run.content["evalue"]
            assert str(first.notebook) in text and "%open" in text

            # 4. The same notebook comes back on another port: found again by its path.
            second = _started(root, state_home=first.state_home)
            servers.append(second)
            assert second.port != first.port
            run = k.execute("answer")
            assert run.status == "ok", run.content
            assert run.result["text/plain"] == "42"

            # 5. A "browser reload" (the page's session closes, a new one opens the same file):
            #    nothing is lost, the next execute works.
            created = k.execute("%%cell --name kept\nkept = answer * 2")
            assert created.status == "ok", created.content
            second.close_sessions()
            second.open_session(run_cells=False)
            run = k.execute("kept + 1")
            assert run.status == "ok", run.content
            assert run.result["text/plain"] == "85"
            assert [c["name"] for c in second.cells()].count("kept") == 1

            # 6. A clean stop and a restart between two executes: the next execute just works
            #    (nothing had been sent, so the kernel looks the file up again and retries).
            second.stop()
            third = _started(root, state_home=first.state_home)
            servers.append(third)
            run = k.execute("answer")
            assert run.status == "ok", run.content
            assert run.result["text/plain"] == "42"

            # 7. Chosen by URL this time (%connect URL): when that server moves, same story.
            assert k.execute(f"%connect {third.url} --file {third.notebook}").status == "ok"
            third.stop()
            fourth = _started(root, state_home=first.state_home)
            servers.append(fourth)
            run = k.execute("answer")
            assert run.status == "ok", run.content
            assert run.result["text/plain"] == "42"
            status = k.execute("%status").listing["application/vnd.marimo-pair+json"]
            assert status["url"] == fourth.url
        assert "internal error" not in (tmp_path / "kernel.log").read_text().lower()
    finally:
        for s in servers:
            s.stop()
