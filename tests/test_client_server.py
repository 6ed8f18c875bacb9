"""jupyter_server — what JupyterLab and agent tools talk to — running our kernel.

A real `jupyter server` on loopback: the kernel is created through its REST API
and driven over its kernel WebSocket, the way JupyterLab and jupyter-mcp-server do.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import websocket
from support import free_port, stop_group

KERNEL = "marimo-pair"


class JupyterServer:
    """`jupyter server` on 127.0.0.1 with a token, in its own process group."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.log = root / "jupyter_server.log"
        jupyter = root / "jupyter-dirs"
        full = dict(os.environ)
        for name in ("MARIMO_TOKEN", "MARIMO_PAIR_URL", "MARIMO_PAIR_FILE"):
            full.pop(name, None)
        # Own config/runtime dirs so a developer's Jupyter settings cannot leak in; kernelspecs
        # are still found under sys.prefix, where ours is installed.
        full.update(
            JUPYTER_CONFIG_DIR=str(jupyter / "config"),
            JUPYTER_RUNTIME_DIR=str(jupyter / "runtime"),
            **env,
        )
        args = [
            sys.executable, "-m", "jupyter_server",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}", "--ServerApp.open_browser=False",
            f"--ServerApp.root_dir={root}", "--ServerApp.terminals_enabled=False",
            "--allow-root",  # CI runs as root
        ]
        self.proc = subprocess.Popen(
            args, cwd=root, env=full, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        self.http = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}", headers={"Authorization": f"token {self.token}"},
            timeout=30, trust_env=False,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter server exited:\n{self.log.read_text()}")
            try:
                if self.http.get("/api/status", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"jupyter server did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        self.http.close()
        stop_group(self.proc)


class KernelSocket:
    """The kernel WebSocket, JSON protocol (one message per text frame, `channel` inside)."""

    def __init__(self, url: str, token: str) -> None:
        self.ws = websocket.create_connection(
            url, header=[f"Authorization: token {token}"], suppress_origin=True, timeout=60
        )
        self.session = uuid.uuid4().hex

    def send(self, msg_type: str, content: dict[str, Any], channel: str = "shell") -> str:
        msg_id = uuid.uuid4().hex
        header = {
            "msg_id": msg_id, "msg_type": msg_type, "session": self.session, "username": "test",
            "version": "5.3", "date": datetime.now(timezone.utc).isoformat(),
        }
        self.ws.send(json.dumps({
            "header": header, "parent_header": {}, "metadata": {}, "content": content,
            "channel": channel, "buffers": [],
        }))
        return msg_id

    def collect(self, msg_id: str, timeout: float = 60) -> tuple[list[dict], dict]:
        """This request's IOPub messages up to idle, and its reply."""
        deadline = time.monotonic() + timeout
        iopub: list[dict] = []
        reply: dict | None = None
        idle = False
        while not (idle and reply is not None):
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            msg = json.loads(self.ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["channel"] == "iopub":
                iopub.append(msg)
                idle = idle or (msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle")
            elif msg["channel"] == "shell":
                reply = msg
        return iopub, reply

    def execute(self, code: str, timeout: float = 60) -> tuple[list[dict], dict]:
        msg_id = self.send("execute_request", {
            "code": code, "silent": False, "store_history": True, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True,
        })
        return self.collect(msg_id, timeout)

    def start_sleeping(self, timeout: float = 30) -> str:
        """Start a 60 s run and return once marimo is really running it (its first line came)."""
        msg_id = self.send("execute_request", {
            "code": "import time\nprint('sleeping', flush=True)\ntime.sleep(60)", "silent": False,
            "store_history": True, "user_expressions": {}, "allow_stdin": False,
        })
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            msg = json.loads(self.ws.recv())
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
                break
        return msg_id

    def close(self) -> None:
        self.ws.close()


def types(iopub: list[dict]) -> list[str]:
    return [m["msg_type"] for m in iopub]


def of(iopub: list[dict], msg_type: str) -> list[dict]:
    return [m["content"] for m in iopub if m["msg_type"] == msg_type]


@pytest.fixture(scope="module")
def jserver(server, tmp_path_factory):
    js = JupyterServer(tmp_path_factory.mktemp("jupyter"), {"XDG_STATE_HOME": str(server.state_home)})
    try:
        js.wait_ready()
        yield js
    finally:
        js.stop()


@pytest.fixture(scope="module")
def kernel_id(jserver):
    r = jserver.http.post("/api/kernels", json={"name": KERNEL})
    assert r.status_code == 201, r.text
    kid = r.json()["id"]
    try:
        yield kid
    finally:
        jserver.http.delete(f"/api/kernels/{kid}")


@pytest.fixture(scope="module")
def sock(jserver, kernel_id):
    s = KernelSocket(f"ws://127.0.0.1:{jserver.port}/api/kernels/{kernel_id}/channels", jserver.token)
    try:
        yield s
    finally:
        s.close()


def test_kernelspec_is_listed(jserver):
    specs = jserver.http.get("/api/kernelspecs").json()["kernelspecs"]
    assert KERNEL in specs
    spec = specs[KERNEL]["spec"]
    assert spec["display_name"] == "marimo (pair)"
    assert spec["language"] == "python"


def test_kernel_info_over_websocket(sock):
    _, reply = sock.collect(sock.send("kernel_info_request", {}))
    content = reply["content"]
    assert content["status"] == "ok"
    assert content["implementation"] == "marimo-pair-kernel"
    assert content["language_info"]["name"] == "python"


def test_execute_value_over_websocket(sock):
    iopub, reply = sock.execute("answer * 2")
    assert reply["content"]["status"] == "ok", reply["content"]
    assert types(iopub) == ["status", "execute_input", "execute_result", "status"]
    result = of(iopub, "execute_result")[0]
    assert result["data"]["text/plain"] == "84"
    assert result["execution_count"] == reply["content"]["execution_count"]


def test_stream_and_error_over_websocket(sock):
    iopub, reply = sock.execute("print('from marimo', answer)")
    assert reply["content"]["status"] == "ok"
    assert "".join(s["text"] for s in of(iopub, "stream")) == "from marimo 42\n"

    iopub, reply = sock.execute("1/0")
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "ZeroDivisionError"
    outputs = [t for t in types(iopub) if t not in ("status", "execute_input")]
    assert outputs == ["error"]  # one error message, no stderr echo of the traceback


def test_completion_over_websocket(sock):
    _, reply = sock.collect(sock.send("complete_request", {"code": "answ", "cursor_pos": 4}))
    assert "answer" in reply["content"]["matches"]


def test_cell_magic_over_websocket(sock, server):
    iopub, reply = sock.execute("%%cell --name from_server\nfrom_server = answer + 1\nfrom_server")
    assert reply["content"]["status"] == "ok", (reply["content"], iopub)
    cells = [c for c in server.cells() if c["name"] == "from_server"]
    assert len(cells) == 1
    assert cells[0]["code"].strip() == "from_server = answer + 1\nfrom_server"

    iopub, reply = sock.execute("from_server")
    assert of(iopub, "execute_result")[0]["data"]["text/plain"] == "43"


def test_interrupt_through_rest(sock, jserver, kernel_id):
    msg_id = sock.start_sleeping()
    t0 = time.monotonic()
    assert jserver.http.post(f"/api/kernels/{kernel_id}/interrupt").status_code == 204
    iopub, reply = sock.collect(msg_id, timeout=30)
    assert time.monotonic() - t0 < 15
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "KeyboardInterrupt"

    # The notebook's kernel was stopped too: the next request does not wait for the sleep.
    t0 = time.monotonic()
    iopub, reply = sock.execute("answer", timeout=30)
    assert of(iopub, "execute_result")[0]["data"]["text/plain"] == "42"
    assert time.monotonic() - t0 < 15


def test_shutdown_through_rest(jserver):
    r = jserver.http.post("/api/kernels", json={"name": KERNEL})
    kid = r.json()["id"]
    assert jserver.http.delete(f"/api/kernels/{kid}").status_code == 204
    assert kid not in [k["id"] for k in jserver.http.get("/api/kernels").json()]
