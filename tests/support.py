"""Real marimo servers and real kernels for tests (and benchmarks).

Every process started here runs in its own process group and is stopped by the
code that started it, including on failure; nothing is ever killed by name.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from jupyter_client import BlockingKernelClient, KernelManager

from marimo_pair_kernel.codemode import RUN_ALL_CELLS
from marimo_pair_kernel.discovery import Notebook
from marimo_pair_kernel.headless import HeadlessSession

PYTHON = sys.executable
# The kernelspec a saved .ipynb names to run on this kernel.
KERNELSPEC = {"name": "marimo-pair", "display_name": "marimo (pair)", "language": "python"}
# Screenshots and pages the browser tests leave for a person to look at.
ARTIFACTS = Path(__file__).parent / "artifacts"
MARIMO = [PYTHON, "-m", "marimo"]

DEFAULT_NOTEBOOK = '''
import marimo

app = marimo.App()


@app.cell
def _():
    seed = 41
    return (seed,)


@app.cell
def _(seed):
    answer = seed + 1
    return (answer,)


if __name__ == "__main__":
    app.run()
'''


CHROMIUM = "/usr/bin/chromium"
# No network here: without these Chromium keeps trying to reach update and sync services.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
CHROMIUM_MISSING = (
    f"{CHROMIUM} is missing, so the browser tests cannot run: install Chromium with "
    "`sudo apt-get install chromium` (Debian/Ubuntu) or run .ci/install-browser"
)


def chromium_or_skip() -> str:
    """The Chromium executable for browser tests (Playwright drives it with executable_path).

    Without it the test is skipped with how to get it, except on CI, which must prove the
    browser path rather than skip it.
    """
    import pytest

    if not os.access(CHROMIUM, os.X_OK):
        if os.environ.get("CI") == "true":
            pytest.fail(CHROMIUM_MISSING)
        pytest.skip(CHROMIUM_MISSING)
    return CHROMIUM


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_group(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop a process we started in its own group, and every descendant: TERM, then KILL.

    marimo starts each notebook kernel in a session of its own (out of reach of killpg), and
    some versions leave it running when the server stops; so descendants are listed first
    and finished off afterwards.
    """
    import psutil

    if proc.poll() is not None:
        return
    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        descendants = []
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    _, alive = psutil.wait_procs(descendants, timeout=3)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()


class PortTaken(RuntimeError):
    """marimo could not bind its port: something else took it first."""


@dataclass
class MarimoServer:
    """A `marimo edit --headless` on loopback with its own XDG_STATE_HOME."""

    root: Path
    notebook: Path
    state_home: Path
    port: int
    token: str | None = None
    proc: subprocess.Popen | None = None
    sessions: list[HeadlessSession] = field(default_factory=list)
    log: Path | None = None
    python: str = PYTHON

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls,
        root: Path,
        *,
        code: str = DEFAULT_NOTEBOOK,
        name: str = "notebook.py",
        token: str | None = None,
        state_home: Path | None = None,
        port: int | None = None,
        extra_args: tuple[str, ...] = (),
        python: str = PYTHON,
        open_session: bool = True,
        run_cells: bool = True,
    ) -> MarimoServer:
        root.mkdir(parents=True, exist_ok=True)
        nb = root / name
        if code is not None and not nb.exists():
            nb.write_text(textwrap.dedent(code).lstrip())
        state = state_home or root / "state"
        state.mkdir(parents=True, exist_ok=True)
        server = cls(root, nb, state, port or free_port(), token, python=python)
        for attempt in range(3):
            try:
                server.launch(extra_args)
                break
            except PortTaken:
                # Another test (an xdist worker) took the port between free_port() and marimo's bind.
                if port is not None or attempt == 2:
                    raise
                server.port = free_port()
        if open_session:
            server.open_session(run_cells=run_cells)
        return server

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["XDG_STATE_HOME"] = str(self.state_home)
        env.pop("MARIMO_TOKEN", None)
        return env

    def launch(self, extra_args: tuple[str, ...] = ()) -> None:
        auth = ["--token-password-file", str(self._token_file())] if self.token else ["--no-token"]
        args = [
            self.python, "-m", "marimo", "edit", str(self.notebook), "--headless",
            "--host", "127.0.0.1", "--port", str(self.port), "--skip-update-check", *auth, *extra_args,
        ]
        self.log = self.root / f"marimo-{self.port}.log"
        self.proc = subprocess.Popen(
            args,
            cwd=self.root,
            env=self.env(),
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.wait_healthy()

    def _token_file(self) -> Path:
        f = self.root / ".token"
        f.write_text(self.token or "")
        f.chmod(0o600)
        return f

    def wait_healthy(self, timeout: float = 60.0) -> None:
        from marimo_pair_kernel.procinfo import pid_owns_port

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                text = self.log.read_text() if self.log else ""
                if "address already in use" in text.lower():
                    raise PortTaken(text)
                raise RuntimeError(f"marimo exited early:\n{text}")
            try:
                # A marimo answering on the port may be another test's: it must be ours.
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200 and (
                    self.proc is None or pid_owns_port(self.proc.pid, self.port) is not False
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"marimo did not become healthy:\n{self.log.read_text() if self.log else ''}")

    def open_session(self, path: Path | None = None, run_cells: bool = True) -> Notebook:
        hs = HeadlessSession(self.url, str(path or self.notebook), token=self.token)
        nb = hs.start()
        self.sessions.append(hs)
        if run_cells:
            self.execute(RUN_ALL_CELLS, nb)
        return nb

    def close_sessions(self) -> None:
        for s in self.sessions:
            s.close()
        self.sessions.clear()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def notebooks(self) -> list[dict[str, Any]]:
        r = httpx.get(self.url + "/api/sessions", headers=self.headers(), timeout=5)
        r.raise_for_status()
        return list(r.json().values())

    def execute(self, code: str, nb: Notebook | None = None) -> tuple[list[tuple[str, Any]], dict]:
        """The raw HTTP floor: POST to /api/kernel/execute, return (events, done)."""
        if nb is None:
            info = self.notebooks()[0]
            nb = Notebook(key="", session_id=info.get("session_id"), path=info.get("path"), filename=None)
        hdr = {"Marimo-Stable-Session-Id": nb.session_id} if nb.session_id else {"Marimo-Session-Id": nb.key}
        events: list[tuple[str, Any]] = []
        with httpx.stream(
            "POST", self.url + "/api/kernel/execute", json={"code": code},
            headers={**hdr, **self.headers()}, timeout=httpx.Timeout(10, read=120),
        ) as r:
            r.raise_for_status()
            name = None
            for line in r.iter_lines():
                if line.startswith("event:"):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    data = json.loads(line.split(":", 1)[1])
                    if name == "done":
                        return events, data
                    events.append((name or "message", data))
        raise RuntimeError("no done event")

    def cells(self) -> list[dict[str, Any]]:
        """Read the notebook document independently of the kernel (code mode over raw HTTP)."""
        events, done = self.execute(
            "import marimo._code_mode as cm, json\n"
            "async with cm.get_context() as ctx:\n"
            "    print('CELLS' + json.dumps([{'id': c.id, 'name': c.name, 'code': c.code,"
            " 'status': c.status} for c in ctx.cells]))\n"
        )
        text = "".join(d["data"] for n, d in events if n == "stdout")
        line = next(ln for ln in text.splitlines() if ln.startswith("CELLS"))
        return json.loads(line[5:])

    def stop(self) -> None:
        self.close_sessions()
        if self.proc is not None:
            stop_group(self.proc)

    def kill(self) -> None:
        """SIGKILL the server (a crash), and its notebook kernels, which would outlive it."""
        import psutil

        if self.proc is not None and self.proc.poll() is None:
            try:
                descendants = psutil.Process(self.proc.pid).children(recursive=True)
            except psutil.Error:
                descendants = []
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            for p in descendants:
                with contextlib.suppress(psutil.Error):
                    p.kill()


# -- kernels --------------------------------------------------------------------------


def start_kernel(
    env: dict[str, str] | None = None,
    kernel_name: str = "marimo-pair",
    cwd: str | None = None,
    stderr: Any = None,
    *,
    stdout: Any = None,
    extra_arguments: list[str] | None = None,
    kernel_spec_manager: Any = None,
    base_env: dict[str, str] | None = None,
) -> tuple[KernelManager, BlockingKernelClient]:
    """A real kernel (our kernelspec by default), ready, in its own process group, `env` overlaid.

    Nothing of ours is inherited from `base_env` (default: the test's environment): no
    MARIMO_PAIR_* and no MARIMO_TOKEN. `stdout`/`stderr` (files) capture the kernel's own output.
    The caller stops it with `stop_kernel`; `started_kernel` does that for you.
    A kernel that dies before answering (jupyter_client picked a port another process took
    first, on a busy machine) is started once more.
    """
    full = {
        k: v for k, v in (os.environ if base_env is None else base_env).items()
        if not k.startswith("MARIMO_PAIR_") and k != "MARIMO_TOKEN"
    }
    full.update(env or {})
    for attempt in (1, 2):
        km = (KernelManager(kernel_name=kernel_name) if kernel_spec_manager is None
              else KernelManager(kernel_name=kernel_name, kernel_spec_manager=kernel_spec_manager))
        km.start_kernel(env=full, cwd=cwd, start_new_session=True, stdout=stdout, stderr=stderr,
                        extra_arguments=extra_arguments or [])
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=60)
        except Exception as e:
            stop_kernel(km, kc)
            if attempt == 1 and isinstance(e, RuntimeError) and "Kernel died" in str(e):
                continue
            raise
        return km, kc
    raise AssertionError("unreachable")


def stop_kernel(km: KernelManager, kc: BlockingKernelClient | None) -> None:
    """Stop a kernel `start_kernel` started: gracefully, then forced; then its process group.

    The group goes last (SIGKILL to whatever is left in it), so nothing the kernel started
    in its own group outlives the test, also when a shutdown request failed.
    """
    pid = getattr(km.provisioner, "pid", None) if km.provisioner is not None else None
    try:
        if kc is not None:
            kc.stop_channels()
    finally:
        try:
            if km.is_alive():
                km.shutdown_kernel(now=False)
            if km.is_alive():
                km.shutdown_kernel(now=True)
        finally:
            if pid:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)


@contextlib.contextmanager
def started_kernel(
    env: dict[str, str] | None = None,
    *,
    kernel_name: str = "marimo-pair",
    cwd: str | Path | None = None,
    stderr: Any = None,
    stdout: Any = None,
    extra_arguments: list[str] | None = None,
    kernel_spec_manager: Any = None,
    base_env: dict[str, str] | None = None,
) -> Iterator[tuple[KernelManager, BlockingKernelClient]]:
    """`start_kernel` for a `with` block: yields (manager, client) and always stops the kernel."""
    km, kc = start_kernel(
        env, kernel_name, None if cwd is None else str(cwd), stderr, stdout=stdout,
        extra_arguments=extra_arguments, kernel_spec_manager=kernel_spec_manager, base_env=base_env,
    )
    try:
        yield km, kc
    finally:
        stop_kernel(km, kc)


def server_fixture(directory: str, **start: Any) -> Any:
    """A module-scoped pytest fixture (assign it to the fixture's name): one `MarimoServer.start`
    in a fresh `directory` under pytest's temp root, with `start`'s arguments; always stopped."""
    import pytest

    def fixture(tmp_path_factory: Any) -> Iterator[MarimoServer]:
        srv = MarimoServer.start(tmp_path_factory.mktemp(directory), **start)
        try:
            yield srv
        finally:
            srv.stop()

    fixture.__doc__ = f"A marimo server in {directory!r}, module-scoped."
    return pytest.fixture(scope="module")(fixture)


def kernel_fixture(
    server: str | None = "server",
    *,
    url: bool = False,
    kernel_name: str = "marimo-pair",
    manager: bool = False,
    scope: str = "module",
) -> Any:
    """A pytest fixture (assign it to the fixture's name): one kernel, stopped when its scope ends.

    It points at the notebook of the fixture named `server` (a `MarimoServer`): that server's
    registry, and with `url` its URL as MARIMO_PAIR_URL too. `server=None`: no server (a
    reference `python3` kernel). It yields the client, or (manager, client) with `manager`.
    """
    import pytest

    def fixture(request: Any) -> Iterator[Any]:
        env: dict[str, str] = {}
        if server is not None:
            srv = request.getfixturevalue(server)
            env["XDG_STATE_HOME"] = str(srv.state_home)
            if url:
                env["MARIMO_PAIR_URL"] = srv.url
        with started_kernel(env, kernel_name=kernel_name) as (km, kc):
            yield (km, kc) if manager else kc

    where = "no server" if server is None else f"`{server}`'s notebook"
    fixture.__doc__ = f"A {kernel_name} kernel on {where}, {scope}-scoped."
    return pytest.fixture(scope=scope)(fixture)  # type: ignore[call-overload]


# Terminal escapes (colors, cursor moves, OSC titles, charset and keypad modes) and carriage returns.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]|\r")


class PtyScreen:
    """A program in a pty (pexpect): `expect` searches its text, escapes removed, past what was matched."""

    def __init__(self, command: str, args: list[str], env: dict[str, str], cwd: Path, columns: int) -> None:
        import pexpect

        self.raw: list[str] = []
        self.pos = 0
        self.child = pexpect.spawn(
            command, args, env=env, cwd=str(cwd), encoding="utf-8", codec_errors="replace", dimensions=(50, columns)
        )

    @property
    def text(self) -> str:
        return _ESCAPES.sub("", "".join(self.raw))

    def expect(self, pattern: str, timeout: float = 30) -> re.Match:
        import pexpect

        deadline = time.monotonic() + timeout
        while True:
            m = re.compile(pattern).search(self.text, self.pos)
            if m:
                self.pos = m.end()
                return m
            if time.monotonic() > deadline:
                raise AssertionError(f"console never showed {pattern!r}; last output:\n{self.text[-2000:]}")
            try:
                self.raw.append(self.child.read_nonblocking(65536, timeout=0.1))
            except pexpect.TIMEOUT:
                pass
            except pexpect.EOF:
                m = re.compile(pattern).search(self.text, self.pos)
                if m:
                    self.pos = m.end()
                    return m
                raise AssertionError(f"console exited before showing {pattern!r}:\n{self.text[-2000:]}") from None

    def line(self, text: str) -> None:
        """Type a line and press Enter."""
        self.child.send(text)
        self.child.send("\r")


class Outputs:
    """Views over one execute's IOPub `messages` (shared by Run and the fault suite's Exchange)."""

    messages: list[dict]

    def of(self, msg_type: str) -> list[dict]:
        return [m["content"] for m in self.messages if m["msg_type"] == msg_type]

    @property
    def stdout(self) -> str:
        return "".join(c["text"] for c in self.of("stream") if c["name"] == "stdout")

    @property
    def stderr(self) -> str:
        return "".join(c["text"] for c in self.of("stream") if c["name"] == "stderr")

    @property
    def result(self) -> dict | None:
        r = self.of("execute_result")
        return r[0]["data"] if r else None

    @property
    def error(self) -> dict | None:
        e = self.of("error")
        return e[0] if e else None

    @property
    def displays(self) -> list[dict]:
        return [c["data"] for c in self.of("display_data")]

    @property
    def listing(self) -> dict:
        """A listing magic's bundle: its one execute_result (Out[n]); no listing also comes as a display."""
        results = self.of("execute_result")
        assert len(results) == 1, [m["msg_type"] for m in self.messages]
        assert not any("application/vnd.marimo-pair+json" in d for d in self.displays), self.displays
        return results[0]["data"]


@dataclass
class Run(Outputs):
    messages: list[dict]
    reply: dict
    times: list[float]
    reply_time: float


def execute(kc, code: str, timeout: float = 60, metadata: dict | None = None, **kw: Any) -> Run:
    """Execute and collect this request's IOPub messages up to idle, plus the reply.

    `metadata` goes in the request's metadata, as JupyterLab sends `{"cellId": ...}`.
    """
    t0 = time.monotonic()
    if metadata is None:
        msg_id = kc.execute(code, **kw)
    else:
        content = {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                   "allow_stdin": False, "stop_on_error": True, **kw}
        msg = kc.session.msg("execute_request", content, metadata=metadata)
        kc.shell_channel.send(msg)
        msg_id = msg["header"]["msg_id"]
    messages, times = [], []
    while True:
        m = kc.get_iopub_msg(timeout=timeout)
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        if m["msg_type"] == "status":
            if m["content"]["execution_state"] == "idle":
                break
            continue
        messages.append(m)
        times.append(time.monotonic() - t0)
    while True:
        reply = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    return Run(messages, reply["content"], times, time.monotonic() - t0)
