"""Find running marimo servers: read marimo's registry, decide liveness, list notebooks.

A registry entry is *live* only when both signals agree: its pid is alive, and a
marimo answers `/health` at its address. When the platform lets us see sockets,
we also require that the registry's pid owns the listening port, so a different
program squatting on a dead server's port (an impostor) is never sent code or a
token. Entries are checked concurrently with short timeouts, so a hung server
(accepts, never answers) costs one timeout, not one per entry.

Nothing here deletes registry files: a file whose process is alive belongs to
someone, and a stale one is only reported.
"""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import httpx

# A registry file is a few hundred bytes; anything larger is not marimo's.
MAX_REGISTRY_BYTES = 64 * 1024
HEALTH_TIMEOUT = httpx.Timeout(0.4, connect=0.25)


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


@dataclass(frozen=True)
class Discovery:
    servers: tuple[Server, ...]
    stale: tuple[Skipped, ...] = field(default=())

    @property
    def notebooks(self) -> list[tuple[Server, Notebook]]:
        return [(s, nb) for s in self.servers for nb in s.notebooks]

    def to_json(self) -> dict:
        return {
            "servers": [
                {
                    "url": s.url,
                    "version": s.version,
                    "pid": s.pid,
                    "registry_file": s.registry_file,
                    "notebooks": [
                        {"path": nb.path, "session_id": nb.session_id, "key": nb.key}
                        for nb in s.notebooks
                    ],
                }
                for s in self.servers
            ],
            "stale": [{"file": x.path, "reason": x.reason} for x in self.stale],
        }


def registry_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where marimo writes its server registry on this platform."""
    if sys.platform == "win32":
        return Path(environ.get("USERPROFILE", Path.home())) / ".marimo" / "servers"
    state = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "marimo" / "servers"


def parse_entry(path: Path) -> RegistryEntry | Skipped:
    """Read one registry file; anything unexpected becomes a `Skipped` with a reason."""
    try:
        size = path.stat().st_size
        if size > MAX_REGISTRY_BYTES:
            return Skipped(str(path), f"file is {size} bytes, too large to be a registry entry")
        raw = path.read_bytes()
    except PermissionError:
        return Skipped(str(path), "cannot read the file (permission denied)")
    except OSError as e:
        return Skipped(str(path), f"cannot read the file ({e.strerror or e})")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return Skipped(str(path), "not valid JSON (corrupt or partly written)")
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
    for path in files:
        parsed = parse_entry(path)
        (entries if isinstance(parsed, RegistryEntry) else skipped).append(parsed)
    return entries, skipped


def pid_alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, OSError):
        return False


def pid_owns_port(pid: int, port: int) -> bool | None:
    """True/False when we can tell whether `pid` (or a child) listens on `port`; None if we cannot."""
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
        for p in procs:
            for conn in p.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                    return True
        return False
    except psutil.AccessDenied:
        return None
    except (psutil.Error, OSError):
        return False


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


def _probe(entry: RegistryEntry) -> Server | Skipped:
    where = f"{entry.url} (pid {entry.pid})"
    if not pid_alive(entry.pid):
        return Skipped(str(entry.path), f"{where}: process is not running (stale entry)")
    try:
        with httpx.Client(timeout=HEALTH_TIMEOUT, trust_env=False) as http:
            r = http.get(entry.url + "/health")
            if r.status_code != 200 or r.json() != {"status": "healthy"}:
                return Skipped(str(entry.path), f"{where}: /health did not answer like marimo")
            owns = pid_owns_port(entry.pid, entry.port)
            if owns is False:
                return Skipped(
                    str(entry.path),
                    f"{where}: the port is held by another process, not the registered marimo",
                )
            s = http.get(entry.url + "/api/sessions")
            notebooks = parse_sessions(s.json()) if s.status_code == 200 else ()
    except httpx.TimeoutException:
        return Skipped(str(entry.path), f"{where}: no answer within {HEALTH_TIMEOUT.read}s (hung?)")
    except (httpx.HTTPError, ValueError) as e:
        return Skipped(str(entry.path), f"{where}: not answering ({type(e).__name__})")
    return Server(
        url=entry.url,
        version=entry.version,
        pid=entry.pid,
        notebooks=notebooks,
        registry_file=str(entry.path),
    )


def discover(directory: Path | None = None) -> Discovery:
    """Check every registry entry concurrently; bounded by one health timeout."""
    entries, skipped = read_registry(directory)
    servers: list[Server] = []
    stale: list[Skipped] = list(skipped)
    if entries:
        with ThreadPoolExecutor(max_workers=min(32, len(entries))) as pool:
            for result in pool.map(_probe, entries):
                (servers if isinstance(result, Server) else stale).append(result)
    return Discovery(servers=tuple(servers), stale=tuple(stale))
