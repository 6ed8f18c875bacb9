"""marimo servers the kernel starts itself (for `%open` and `marimo-pair-kernel console`).

The kernel owns what it starts, and only that: kernel shutdown, restart, SIGTERM
and normal interpreter exit stop those servers and remove their registry entries;
a server the kernel did not start is never touched.

If the kernel dies without cleaning up (SIGKILL, OOM), a watchdog thread inside
each server process notices within `WATCH_INTERVAL` seconds (its parent changed,
or the kernel pid is gone) and asks marimo to shut down cleanly; if marimo has not
exited `FORCE_AFTER` seconds later, the watchdog removes the server's registry
entry and SIGKILLs the server's process group. So an orphaned server is gone
within `WATCHDOG_BOUND` seconds. The watchdog is stdlib-only code (server_boot.py,
whose text is passed with `-c`), so it works with any Python that has marimo
(`--python`); the kernel process itself never imports marimo, nor that file.
(marimo's own `--timeout` counts HTTP inactivity, which would also stop a server a
person is merely reading.)

Each server runs in its own session/process group (start_new_session=True): a
Jupyter interrupt (SIGINT to the kernel's group) never reaches it.

A notebook with a PEP 723 `# /// script` header listing dependencies (sandbox.py) is started
with `marimo edit --sandbox`, as marimo itself suggests for one: uv builds the notebook's own
environment from the header (on the first session open; seconds, minutes on a slow index).
`sandbox=False` opts out. Without uv that start fails at once with how to get it; while uv
works, the server's log lines are handed to `progress` as they come (a silent wait of
seconds looks like a hang), and a build that fails ends the wait with uv's error. The wait
is bounded by `SANDBOX_TIMEOUT`, which the first progress line states.

Running a notebook's cells once, as a browser does on opening it, is code sent over HTTP,
which this module does not know: `%open` gives its way to do it (`run_cells`), and the
launcher calls it once a session it opened is up.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import discovery, offload
from .errors import LaunchError, PairError
from .procinfo import pid_owns_port
from .sandbox import find_uv, script_dependencies, uv_missing_message

# The HTTP side (httpx, our client, code mode, sessions) is imported where it is used:
# `marimo-pair-kernel console` imports this module to start marimo first of all, and each
# import before that start delays marimo's (and so the first answer).
if TYPE_CHECKING:
    from .discovery import Notebook
    from .headless import HeadlessSession

# Runs every cell of the notebook on the server at the URL once; problems are added to the notes.
RunCells = Callable[[str, "Notebook", list[str]], object]

# What `marimo-pair-kernel console` tells the kernel it starts (magics/opening.py reads them).
OPEN_ENV = "MARIMO_PAIR_OPEN"  # the notebook to open at start
PYTHON_ENV = "MARIMO_PAIR_PYTHON"  # the Python that runs marimo servers
CONSOLE_URL_ENV = "MARIMO_PAIR_URL"  # set beside OPEN_ENV when the console started marimo for it
SANDBOX_ENV = "MARIMO_PAIR_SANDBOX"  # "0": `console --no-sandbox` (a script header starts no sandbox)

WATCH_INTERVAL = 0.25  # seconds between the watchdog's checks of the kernel
FORCE_AFTER = 5.0  # seconds the watchdog lets marimo shut down cleanly before SIGKILL
WATCHDOG_BOUND = 6.0  # an orphaned server is gone within this many seconds (interval + force + margin)
STOP_GRACE = 3.0  # kernel-side stop: clean-shutdown wait (jupyter_client waits 5 s for shutdown)
START_TIMEOUT = 90.0  # marimo's first start in a fresh environment can be slow
# A sandbox: uv installs marimo's server tools, then (on the session's open) the notebook's
# packages from the index: a first build on a slow connection takes minutes.
SANDBOX_TIMEOUT = 300.0
# The server's first code, read as text (never imported here): see server_boot.py.
_BOOT_FILE = Path(__file__).with_name("server_boot.py")

# Between checks while marimo starts: a refused connect costs next to nothing, and each
# tenth of a second waited is a tenth of a second later for the console's first answer.
POLL = 0.03

@functools.cache
def _boot_code() -> str:
    return _BOOT_FILE.read_text(encoding="utf-8")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Embedded:
    """One marimo server this kernel started, with the browserless session that keeps it open."""

    path: str
    url: str
    port: int
    python: str
    proc: subprocess.Popen
    log: Path
    sandbox: bool = False  # started with --sandbox (uv builds the notebook's environment)
    session: HeadlessSession | None = None
    notebook: Notebook | None = None
    created: bool = False  # the notebook file did not exist before
    notes: list[str] = field(default_factory=list)
    log_seen: int = 0  # bytes of the log already handed to `progress`

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    @property
    def timeout(self) -> float:
        return SANDBOX_TIMEOUT if self.sandbox else START_TIMEOUT


class Launcher:
    """The servers this kernel owns. Thread-safe: a start may run in the background."""

    def __init__(self, run_cells: RunCells | None = None) -> None:
        self._run_cells_with = run_cells  # None: sessions open with the cells as they are
        self._lock = threading.RLock()  # re-entered when SIGTERM's handler runs stop_all mid-call
        self._servers: list[Embedded] = []
        self._pending: dict[str, Future] = {}
        # Browserless sessions on servers we did not start (path → session): ours to close, not the server.
        self._attached: dict[str, HeadlessSession] = {}
        self._hooks_installed = False

    # -- queries ------------------------------------------------------------------

    def owns(self, url: str) -> bool:
        from .client import normalize_url

        try:
            url = normalize_url(url)
        except PairError:
            return False
        with self._lock:
            return any(e.url == url and e.alive for e in self._servers)

    def running(self, path: str) -> Embedded | None:
        with self._lock:
            for e in self._servers:
                if e.path == path and e.alive:
                    return e
        return None

    def servers(self) -> list[Embedded]:
        with self._lock:
            return [e for e in self._servers if e.alive]

    def take_pending(self, path: str) -> Future | None:
        """The background start for `path` (running or finished), handed over once."""
        with self._lock:
            return self._pending.pop(path, None)

    # -- start --------------------------------------------------------------------------

    def start_background(self, path: str, python: str | None = None, sandbox: bool | None = None) -> Future:
        """Start a server for `path` on a thread (the console pre-starts while the prompt appears)."""
        self._install_hooks()
        fut: Future = Future()
        with self._lock:
            self._pending[path] = fut

        def work() -> None:
            try:
                fut.set_result(self.start(path, python, sandbox=sandbox))
            except BaseException as e:  # noqa: BLE001 - handed to whoever waits
                fut.set_exception(e)

        threading.Thread(target=work, name="marimo-pair-start", daemon=True).start()
        return fut

    def spawn(self, path: str, python: str | None = None, sandbox: bool | None = None) -> Embedded:
        """Start `marimo edit PATH` and return at once (its URL is known; it is not up yet).

        For `marimo-pair-kernel console`, which prints the URL and lets marimo start while
        jupyter console and the kernel start; the kernel opens the session. `wait_up` says
        whether the start worked.
        """
        self._install_hooks()
        created = not os.path.exists(path)
        emb = self._spawn(path, python or sys.executable, self._sandbox(path, sandbox))
        emb.created = created
        return emb

    @staticmethod
    def _sandbox(path: str, sandbox: bool | None) -> bool:
        """Whether to start PATH in marimo's sandbox (None: when its script header asks for it).

        LaunchError when it should and uv is missing: said before anything starts.
        """
        if sandbox is False or not script_dependencies(path):
            return False
        if find_uv() is None:
            raise LaunchError(uv_missing_message(path, "pass --no-sandbox"))
        return True

    def wait_up(self, emb: Embedded, progress: Callable[[str], None] | None = None) -> None:
        """Wait until a spawned server answers; LaunchError (server stopped) if it does not."""
        try:
            if self._wait_healthy(emb, progress):
                return
        except BaseException:
            self.stop(emb)
            raise
        self.stop(emb)
        raise LaunchError(f"marimo could not use port {emb.port} for {emb.path} (it was taken); run the command again.")

    def start(
        self,
        path: str,
        python: str | None = None,
        progress: Callable[[str], None] | None = None,
        sandbox: bool | None = None,
    ) -> Embedded:
        """Start `marimo edit PATH`, wait for health, open a browserless session, run all cells.

        `sandbox`: None starts a notebook with a PEP 723 header in marimo's sandbox; False never.
        """
        self._install_hooks()
        python = python or sys.executable
        created = not os.path.exists(path)
        in_sandbox = self._sandbox(path, sandbox)
        if in_sandbox and progress:
            progress(
                f"{os.path.basename(path)} has a `# /// script` header: starting `marimo edit --sandbox` "
                f"(uv builds its environment; up to {SANDBOX_TIMEOUT:g}s; --no-sandbox to skip) …\n"
            )
        for _attempt in range(2):
            emb = self._spawn(path, python, in_sandbox)
            emb.created = created
            try:
                if self._wait_healthy(emb, progress):
                    break
            except BaseException:
                self.stop(emb)
                raise
            # The port was taken between our check and marimo's bind: try once more.
            self.stop(emb)
        else:
            raise LaunchError(f"marimo could not get a free port for {path}; try %open again.")
        if progress:
            progress(f"marimo is up at {emb.url} (open it in a browser to watch live)\n")
        try:
            self.open_session(emb, progress=progress)
        except BaseException:
            self.stop(emb)
            raise
        return emb

    def open_session(
        self, emb: Embedded, run_cells: bool = True, progress: Callable[[str], None] | None = None
    ) -> None:
        """A browserless session on our server, its cells run once (again, if it lost the last one).

        The console opens its session with `run_cells=False`: its kernel runs them, together
        with installing its runtime. In a sandbox, marimo has uv build the notebook's
        environment as the session opens: the log's lines go to `progress` meanwhile, and a
        failed build ends the wait with its error.
        """
        from .headless import HeadlessSession

        if emb.session is not None:
            emb.session.close()
        emb.session = HeadlessSession(emb.url, emb.path)
        watch = (lambda: self._watch_build(emb, progress)) if emb.sandbox else None
        emb.notebook = emb.session.start(timeout=emb.timeout if emb.sandbox else 60.0, watch=watch)
        if run_cells:
            self._run_cells(emb)

    def attach(self, url: str, path: str) -> tuple[Notebook, list[str]]:
        """A browserless session for `path` on a live server this kernel did not start (it
        serves the file, but no tab has it open), its cells run once, as for our own servers.

        Returns the notebook and notes for the user. The session is this kernel's and closes
        when the kernel stops; the server is never stopped.
        """
        from .headless import HeadlessSession

        with self._lock:
            old = self._attached.pop(path, None)
        if old is not None:
            old.close()  # its stream ended (else the server would list it): replace it
        session = HeadlessSession(url, path)
        notebook = session.start(timeout=60.0)
        with self._lock:
            self._attached[path] = session
        notes: list[str] = []
        if self._run_cells_with is not None:
            self._run_cells_with(url, notebook, notes)
        return notebook, notes

    def _spawn(self, path: str, python: str, sandbox: bool = False) -> Embedded:
        port = free_port()
        fd, log_name = tempfile.mkstemp(prefix=f"marimo-pair-{port}-", suffix=".log")
        argv = [
            python, "-c", _boot_code(), str(os.getpid()), str(FORCE_AFTER), str(WATCH_INTERVAL), log_name,
            "edit", path, "--headless", "--no-token", "--host", "127.0.0.1", "--port", str(port),
            "--skip-update-check",
        ]
        if sandbox:
            argv.append("--sandbox")
        try:
            proc = subprocess.Popen(
                argv,
                cwd=os.path.dirname(path) or None,
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own group: a Jupyter interrupt (SIGINT to our group) never hits it
                close_fds=True,
            )
        except OSError as e:
            os.close(fd)
            os.unlink(log_name)
            raise LaunchError(
                f"Cannot run {python} to start marimo ({e.strerror or e}). "
                "Check the --python path (or MARIMO_PAIR_PYTHON), or omit it to use the kernel's Python."
            ) from None
        os.close(fd)
        emb = Embedded(path, f"http://127.0.0.1:{port}", port, python, proc, Path(log_name), sandbox=sandbox)
        with self._lock:
            self._servers.append(emb)
        return emb

    def _wait_healthy(self, emb: Embedded, progress: Callable[[str], None] | None = None) -> bool:
        """True once our process answers /health; False if the port was someone else's."""
        import http.client

        from .headless import http_get

        deadline = time.monotonic() + emb.timeout
        while time.monotonic() < deadline:
            if emb.sandbox:
                self._watch_build(emb, progress)
            if emb.proc.poll() is not None:
                text = self._log_tail(emb)
                low = text.lower()
                if "address already in use" in low or ("port" in low and "in use" in low):
                    return False
                raise LaunchError(self._exit_message(emb, text))
            try:
                if http_get(emb.url + "/health", timeout=1.0)[0] == 200:
                    # A marimo answering is not proof it is ours (port race): check the listener.
                    return pid_owns_port(emb.proc.pid, emb.port) is not False
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(POLL)
        raise LaunchError(
            f"marimo did not answer on {emb.url} within {emb.timeout:g}s. Its log: {emb.log}"
        )

    def _watch_build(self, emb: Embedded, progress: Callable[[str], None] | None) -> None:
        """A sandbox's start: hand the log's new lines to `progress`; LaunchError if uv failed.

        marimo reports a failed build only in its log ("Kernel startup failed: Failed to build
        sandbox environment", then uv's own error); the session it was opening never appears.
        """
        try:
            with emb.log.open("rb") as f:
                f.seek(emb.log_seen)
                chunk = f.read()
        except OSError:
            return
        end = chunk.rfind(b"\n") + 1  # whole lines only
        if not end:
            return
        emb.log_seen += end
        text = chunk[:end].decode("utf-8", "replace")
        if progress:
            for line in text.splitlines():
                # marimo's banner names the page's URL (localhost): our own line says where it is.
                if line.strip() and not _BANNER.search(line):
                    progress(f"  {line.rstrip()}\n")
        failed = _BUILD_FAILED.search(self._log_tail(emb, 20000))
        if failed:
            time.sleep(0.2)  # the rest of the message, if it is still being written
            tail = self._log_tail(emb, 20000)
            detail = tail[tail.rfind("Kernel startup failed") :].split("\n", 1)[-1]
            detail = "\n".join(line.strip() for line in detail.strip().splitlines()[:20])
            raise LaunchError(
                f"uv could not build the sandbox for {emb.path} (from its `# /// script` header), so "
                f"marimo cannot run it:\n{detail}\n"
                "Fix the header's dependencies and try again, or open it with --no-sandbox to use "
                "this Python without them."
            )

    def _exit_message(self, emb: Embedded, text: str) -> str:
        tail = "\n".join(text.strip().splitlines()[-8:])
        if "No module named marimo" in text:
            return (
                f"{emb.python} has no marimo installed. Install it there "
                f"({emb.python} -m pip install marimo), or omit --python to use the kernel's Python."
            )
        return f"marimo exited while starting {emb.path} (exit code {emb.proc.returncode}). Its last output:\n{tail}"

    @staticmethod
    def _log_tail(emb: Embedded, limit: int = 8000) -> str:
        try:
            data = emb.log.read_bytes()[-limit:]
        except OSError:
            return ""
        return data.decode("utf-8", "replace")

    def _run_cells(self, emb: Embedded) -> None:
        assert emb.notebook is not None
        if self._run_cells_with is not None:
            self._run_cells_with(emb.url, emb.notebook, emb.notes)

    # -- stop ---------------------------------------------------------------------------

    def stop(self, emb: Embedded) -> None:
        self._stop_many([emb])

    def stop_all(self) -> None:
        with self._lock:
            servers, self._servers = self._servers, []
            attached, self._attached = list(self._attached.values()), {}
        for session in attached:
            session.close()
        self._stop_many(servers)

    def _stop_many(self, servers: list[Embedded]) -> None:
        """Clean shutdown for all at once (marimo removes its registry entry), then force."""
        with self._lock:
            self._servers = [e for e in self._servers if e not in servers]
        # marimo runs notebook kernels in sessions of their own: remember them to finish them off.
        children = [c for e in servers for c in _children(e.proc)]
        for e in servers:
            if e.session is not None:
                e.session.close()
            if e.alive:
                with contextlib.suppress(ProcessLookupError):
                    e.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for e in servers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                e.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            _kill_group(e.proc)
            _forget_registry(e.proc.pid)
            with contextlib.suppress(OSError):
                e.log.unlink()
        _kill_leftovers(children)

    # -- process hooks --------------------------------------------------------------------

    def _install_hooks(self) -> None:
        """Stop our servers on SIGTERM and at interpreter exit (shutdown_request calls stop_all too)."""
        if self._hooks_installed:
            return
        self._hooks_installed = True
        atexit.register(self.stop_all)
        offload.chain_sigterm(self.stop_all)  # off the main thread: the kernel sets its own there


_BANNER = re.compile(r"in your browser|➜\s+URL:")
_BUILD_FAILED = re.compile(r"Kernel startup failed|Failed to build sandbox environment")


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL what is left of a server's process group (the server itself, or orphans it left)."""
    if os.name != "posix":
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        return
    # While any member lives, the group id cannot be reused, so this only hits our processes.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.poll() is None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def _children(proc: subprocess.Popen) -> list:
    import psutil

    try:
        return psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None else []
    except psutil.Error:
        return []


def _kill_leftovers(children: list) -> None:
    """Give a server's former children a moment to follow it out, then SIGKILL the rest."""
    import psutil

    _, alive = psutil.wait_procs(children, timeout=1.0)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()  # psutil checks the pid still names the same process (create time)


def _forget_registry(pid: int) -> None:
    """Remove registry entries naming `pid` (a server we started), when marimo could not."""
    entries, _ = discovery.read_registry()
    for entry in entries:
        if entry.pid == pid:
            with contextlib.suppress(OSError):
                entry.path.unlink()
