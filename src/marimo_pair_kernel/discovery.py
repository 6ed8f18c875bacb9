"""Find running marimo servers: read marimo's registry, decide liveness, list notebooks.

How a real marimo is told from an impostor
------------------------------------------
marimo's registry (one JSON file per `--no-token` server, in a directory only this
user can write) says *which process* serves *which port*. A file outlives its
server when the server crashes, and the freed port can then be taken by any
program, including another user's. So a registry entry is used only when all of
these hold, checked in this order, before a single byte is sent to the port:

1. the registered pid is alive (not a zombie);
2. on POSIX, that process belongs to the user running the kernel (a recycled pid
   of someone else's process is not our marimo);
3. that process, or one of its descendants, holds the *listening* socket on the
   registered port, as the operating system reports it (psutil). If the OS does
   not let us see that, the entry is skipped rather than trusted;
4. the socket's own address is where we connect (loopback for a wildcard bind),
   never the host name written in the file;
5. `GET /health` answers exactly `{"status": "healthy"}` and `GET /api/sessions`
   answers marimo's session map, each within a short timeout and a size cap.

Steps 1-4 involve no network traffic, so a program squatting on a dead server's
port receives nothing at all: no code, no token, not even a health check. No token
is ever sent during discovery, and the kernel never sends its token to a server
found here (registry servers run without one); the token goes only to a URL the
user named (`MARIMO_PAIR_URL`, `%connect URL`). A server the user names is trusted
because they named it; that is also the only way to reach a server whose
ownership cannot be checked.

Entries are probed concurrently, each with a deadline, so a hung server (accepts,
never answers) or one that trickles bytes costs one bounded wait, not one per entry.
Nothing here deletes registry files: a stale one is only reported, with its reason.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .fastimport import import_httpx_lean
from .procinfo import Sockets, listening_address, listening_sockets, pid_alive, pid_is_ours, served_path

if TYPE_CHECKING:
    import httpx

# httpx is imported where a probe is made, not here: `marimo-pair-kernel console` reads the
# registry before it starts marimo, and every import on that path delays marimo's start.


class Wait(NamedTuple):
    """Seconds a probe waits to read and to connect."""

    read: float
    connect: float


# A registry file is a few hundred bytes; anything larger is not marimo's.
MAX_REGISTRY_BYTES = 64 * 1024
# More files than this is not a registry a person has (each is one running server).
MAX_REGISTRY_FILES = 512
# A marimo answers /health from its event loop in milliseconds, even while a cell runs, so
# the first pass is quick: each connect/read waits HEALTH_TIMEOUT, all probes stop at
# PROBE_DEADLINE. Only when that finds no server at all, but some entry was merely slow, are
# the slow ones asked again with PATIENT_TIMEOUT/PATIENT_DEADLINE (a heavily loaded machine).
HEALTH_TIMEOUT = Wait(0.35, connect=0.25)
PROBE_DEADLINE = 0.6
PATIENT_TIMEOUT = Wait(1.0, connect=0.5)
PATIENT_DEADLINE = 2.5
# discover() returns within this many seconds however many entries and however they behave:
# both deadlines, plus one connect and one read already under way when each passes.
DISCOVERY_BOUND = PROBE_DEADLINE + PATIENT_DEADLINE + 2 * 1.5
# /health is a few bytes and /api/sessions a few hundred per notebook.
MAX_ANSWER_BYTES = 1024 * 1024
_WILDCARDS = ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class RegistryEntry:
    path: Path
    server_id: str
    pid: int
    host: str
    port: int
    base_url: str
    version: str | None

    @property
    def url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}{self.base_url.rstrip('/')}"


@dataclass(frozen=True)
class Skipped:
    """A registry file we did not use, and why."""

    path: str
    reason: str
    # Set when the server may well be marimo but could not be verified: naming this URL
    # (`%connect URL`, MARIMO_PAIR_URL) is how a user trusts it explicitly.
    unverified_url: str | None = None


@dataclass(frozen=True)
class Notebook:
    """One open notebook session on a server."""

    key: str  # per-tab session key (`Marimo-Session-Id`), changes on reload
    session_id: str | None  # stable id (marimo >= 0.25), survives reloads
    path: str | None
    filename: str | None


@dataclass(frozen=True)
class Server:
    url: str
    version: str | None
    pid: int | None
    notebooks: tuple[Notebook, ...]
    registry_file: str | None = None
    # What the server was started for (`marimo edit PATH`), read from its command line: the
    # notebook file, or the folder it serves every notebook under. None when unknown.
    serves: str | None = None
    serves_folder: bool = False

    def can_open(self, path: str) -> bool:
        """Whether a session for `path` can be opened here (no tab needed): it is the server's
        notebook, or lies under the folder it serves."""
        if not self.serves:
            return False
        try:
            want, root = os.path.realpath(path), os.path.realpath(self.serves)
        except OSError:
            return False
        if not self.serves_folder:
            return want == root
        # A folder server opens only notebooks that exist under it (it cannot create one there).
        return want.startswith(root.rstrip(os.sep) + os.sep) and os.path.isfile(want)


@dataclass(frozen=True)
class Discovery:
    servers: tuple[Server, ...]
    stale: tuple[Skipped, ...] = field(default=())

    @property
    def notebooks(self) -> list[tuple[Server, Notebook]]:
        return [(s, nb) for s in self.servers for nb in s.notebooks]

    def serving(self, path: str) -> list[Server]:
        """Live servers that can open `path`: the one started for that file first, then the
        ones serving a folder it lies in."""
        return sorted((s for s in self.servers if s.can_open(path)), key=lambda s: s.serves_folder)

    def to_json(self) -> dict:
        return {
            "servers": [
                {
                    "url": s.url,
                    "version": s.version,
                    "pid": s.pid,
                    "registry_file": s.registry_file,
                    "serves": s.serves,
                    "serves_folder": s.serves_folder,
                    "notebooks": [
                        {"path": nb.path, "session_id": nb.session_id, "key": nb.key}
                        for nb in s.notebooks
                    ],
                }
                for s in self.servers
            ],
            "stale": [
                {"file": x.path, "reason": x.reason, **({"url": x.unverified_url} if x.unverified_url else {})}
                for x in self.stale
            ],
        }


def resolve_path(path: str) -> str:
    """A notebook path as servers list it: absolute, `~` expanded, symlinks resolved."""
    return str(Path(path).expanduser().resolve())


def same_path(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except OSError:
        return a == b


def registry_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where marimo writes its server registry on this platform."""
    if sys.platform == "win32":
        return Path(environ.get("USERPROFILE", Path.home())) / ".marimo" / "servers"
    state = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "marimo" / "servers"


def parse_entry(path: Path) -> RegistryEntry | Skipped:
    """Read one registry file; anything unexpected becomes a `Skipped` with a reason."""
    try:
        st = path.stat()
        # A directory, FIFO or device named *.json: opening a FIFO would block forever.
        if not stat.S_ISREG(st.st_mode):
            return Skipped(str(path), "not a regular file")
        if st.st_size > MAX_REGISTRY_BYTES:
            return Skipped(str(path), f"file is {st.st_size} bytes, too large to be a registry entry")
        with path.open("rb") as f:
            raw = f.read(MAX_REGISTRY_BYTES + 1)
        if len(raw) > MAX_REGISTRY_BYTES:
            return Skipped(str(path), "file is too large to be a registry entry")
    except PermissionError:
        return Skipped(str(path), "cannot read the file (permission denied)")
    except OSError as e:
        return Skipped(str(path), f"cannot read the file ({e.strerror or e})")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return Skipped(str(path), "not valid JSON (corrupt or partly written)")
    except RecursionError:
        return Skipped(str(path), "JSON nested too deeply to be a registry entry")
    if not isinstance(data, dict):
        return Skipped(str(path), "not a JSON object")
    pid, host, port = data.get("pid"), data.get("host"), data.get("port")
    base_url = data.get("base_url", "")
    missing = [k for k in ("pid", "host", "port") if k not in data]
    if missing:
        return Skipped(str(path), f"missing field(s): {', '.join(missing)}")
    if type(pid) is not int or pid <= 0:
        return Skipped(str(path), "field 'pid' is not a positive integer")
    if type(port) is not int or not 1 <= port <= 65535:
        return Skipped(str(path), "field 'port' is not a port number")
    if not isinstance(host, str):
        return Skipped(str(path), "field 'host' is not a string")
    if not isinstance(base_url, str):
        return Skipped(str(path), "field 'base_url' is not a string")
    version = data.get("version")
    return RegistryEntry(
        path=path,
        server_id=str(data.get("server_id", f"{host}:{port}")),
        pid=pid,
        host=host,
        port=port,
        base_url=base_url,
        version=version if isinstance(version, str) else None,
    )


def read_registry(directory: Path | None = None) -> tuple[list[RegistryEntry], list[Skipped]]:
    directory = directory or registry_dir()
    entries: list[RegistryEntry] = []
    skipped: list[Skipped] = []
    try:
        files = sorted(directory.glob("*.json"))
    except OSError:
        return [], []
    if len(files) > MAX_REGISTRY_FILES:
        skipped.extend(
            Skipped(str(p), f"more than {MAX_REGISTRY_FILES} registry files; only the first were read")
            for p in files[MAX_REGISTRY_FILES:]
        )
        files = files[:MAX_REGISTRY_FILES]
    for path in files:
        parsed = parse_entry(path)
        if isinstance(parsed, RegistryEntry):
            entries.append(parsed)
        else:
            skipped.append(parsed)
    return entries, skipped


def _socket_url(ip: str, port: int, base_url: str) -> str:
    if ip in _WILDCARDS:
        ip = "::1" if ip == "::" else "127.0.0.1"
    host = f"[{ip}]" if ":" in ip else ip
    return f"http://{host}:{port}{base_url.rstrip('/')}"


def parse_sessions(payload: object) -> tuple[Notebook, ...]:
    """`/api/sessions` → notebooks; tolerant of older servers without stable ids."""
    if not isinstance(payload, dict):
        raise ValueError("unexpected /api/sessions response")
    out = []
    for key, info in payload.items():
        if not isinstance(key, str) or not isinstance(info, dict):
            raise ValueError("unexpected /api/sessions response")
        sid, path, fn = info.get("session_id"), info.get("path"), info.get("filename")
        out.append(
            Notebook(
                key=key,
                session_id=sid if isinstance(sid, str) else None,
                path=path if isinstance(path, str) else (fn if isinstance(fn, str) else None),
                filename=fn if isinstance(fn, str) else None,
            )
        )
    return tuple(out)


class _Slow(Exception):
    pass


def _get_json(http: httpx.Client, url: str, deadline: float) -> tuple[int, object]:
    """GET with a size cap and an overall deadline (a server may trickle bytes forever)."""
    if time.monotonic() > deadline:
        raise _Slow()
    with http.stream("GET", url) as r:
        if r.status_code != 200:
            return r.status_code, None
        body = bytearray()
        for chunk in r.iter_bytes():
            body += chunk
            if len(body) > MAX_ANSWER_BYTES:
                raise ValueError("answer too large")
            if time.monotonic() > deadline:
                raise _Slow()
        if time.monotonic() > deadline:
            raise _Slow()
        try:
            return 200, json.loads(body.decode("utf-8"))
        except RecursionError:
            raise ValueError("answer nested too deeply") from None


def _owner_url(entry: RegistryEntry, sockets: Sockets | None) -> str | Skipped:
    """Where to reach the entry's server, if its registered process really holds the port.

    No network traffic: only the OS's view of processes and sockets.
    """
    where = f"{entry.url} (pid {entry.pid})"
    if not pid_alive(entry.pid):
        return Skipped(str(entry.path), f"{where}: process is not running (stale entry)")
    if pid_is_ours(entry.pid) is False:
        return Skipped(
            str(entry.path),
            f"{where}: the process belongs to another user (the pid was reused; stale entry)",
        )
    addr = listening_address(entry.pid, entry.port, sockets)
    if addr is False:
        return Skipped(
            str(entry.path),
            f"{where}: the registered process does not listen on port {entry.port}; "
            "something else may hold it, so nothing is sent there",
        )
    if addr is None:
        return Skipped(
            str(entry.path),
            f"{where}: cannot check which process holds port {entry.port} (access denied), so "
            "nothing is sent there",
            unverified_url=entry.url,
        )
    return _socket_url(addr[0], entry.port, entry.base_url)


class _TooSlow(Skipped):
    """A probe that ran out of time: maybe hung, maybe only busy."""


def _ask(http: httpx.Client, entry: RegistryEntry, url: str, deadline: float) -> Server | Skipped:
    """Is it marimo, and which notebooks does it have open? Bounded by `deadline`."""
    import httpx

    where = f"{entry.url} (pid {entry.pid})"
    try:
        status, health = _get_json(http, url + "/health", deadline)
        if status != 200 or health != {"status": "healthy"}:
            return Skipped(str(entry.path), f"{where}: /health did not answer like marimo")
        status, sessions = _get_json(http, url + "/api/sessions", deadline)
        notebooks = parse_sessions(sessions) if status == 200 else ()
    except (httpx.TimeoutException, _Slow):
        return _TooSlow(str(entry.path), f"{where}: no complete answer in time (hung or busy?)")
    except (httpx.HTTPError, ValueError) as e:
        return Skipped(str(entry.path), f"{where}: not answering like marimo ({type(e).__name__})")
    served = served_path(entry.pid)
    return Server(
        url=url,
        version=entry.version,
        pid=entry.pid,
        notebooks=notebooks,
        registry_file=str(entry.path),
        serves=served[0] if served else None,
        serves_folder=bool(served and served[1]),
    )


def _ask_all(
    owned: list[tuple[RegistryEntry, str]], wait: Wait, within: float
) -> list[Server | Skipped]:
    """Ask every owned entry at once, one thread each, so a hung one never delays another."""
    if not owned:
        return []
    import_httpx_lean()
    import httpx

    timeout = httpx.Timeout(wait.read, connect=wait.connect)
    deadline = time.monotonic() + within
    # One client for all probes: each new client costs CPU (TLS setup) that would otherwise
    # pile up under the GIL when many entries are probed at once.
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    # Plain http to a loopback socket (_socket_url): no TLS, so no certificate store to load
    # (verify=True costs tens of milliseconds per client, on the way to the first completion).
    with httpx.Client(timeout=timeout, trust_env=False, limits=limits, verify=False) as http, \
            ThreadPoolExecutor(max_workers=len(owned)) as pool:
        return list(pool.map(lambda eu: _ask(http, eu[0], eu[1], deadline), owned))


def discover(directory: Path | None = None) -> Discovery:
    """Check every registry entry; returns within DISCOVERY_BOUND seconds.

    Ownership is checked first for all entries (no network); the servers that pass are
    then asked all at once. Entries that were only slow are asked again, more patiently,
    when nothing else answered.
    """
    entries, skipped = read_registry(directory)
    stale: list[Skipped] = list(skipped)
    sockets = listening_sockets() if entries else None
    owned: list[tuple[RegistryEntry, str]] = []
    for entry in entries:
        url = _owner_url(entry, sockets)
        if isinstance(url, Skipped):
            stale.append(url)
        else:
            owned.append((entry, url))
    results = _ask_all(owned, HEALTH_TIMEOUT, PROBE_DEADLINE)
    slow = [eu for eu, r in zip(owned, results, strict=True) if isinstance(r, _TooSlow)]
    if slow and not any(isinstance(r, Server) for r in results):
        results = [r for r in results if not isinstance(r, _TooSlow)]
        results += _ask_all(slow, PATIENT_TIMEOUT, PATIENT_DEADLINE)
    servers: list[Server] = []
    for result in results:
        if isinstance(result, Skipped):
            stale.append(Skipped(result.path, result.reason, result.unverified_url))
            continue
        # Two files for one socket (a copied or rewritten entry) are one server.
        first = next((s for s in servers if s.url == result.url), None)
        if first is None:
            servers.append(result)
        else:
            reason = f"{result.url}: the same server as {first.registry_file}"
            stale.append(Skipped(result.registry_file or "", reason))
    return Discovery(servers=tuple(servers), stale=tuple(stale))
