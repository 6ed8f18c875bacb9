"""Third-party components for the recipe tests (tests/test_recipes_*.py, docs/agents.md, docs/remote.md).

- `Service`: a Jupyter-style server process (`jupyter server`, `jupyter kernelgateway`) on
  loopback with a token, in its own process group, stopped by the test that started it.
- `TlsTerminator`: TLS in front of a plain-HTTP marimo, as nginx or caddy would put it on
  another machine; it keeps the plaintext each client sent, to show where the token went.
- `StrippingProxy`: an HTTP proxy that forwards everything but answers marimo's execute
  request without its event stream (what a buffering proxy does to text/event-stream).
- `PrefixedMarimo`: `marimo edit --base-url PREFIX`, as behind a JupyterHub-style proxy.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import trustme
from support import MarimoServer, free_port, stop_group

PAIR_VARIABLES = "MARIMO_PAIR_URL,MARIMO_PAIR_FILE,MARIMO_TOKEN,XDG_STATE_HOME,MARIMO_PAIR_ALLOW_REMOTE,MARIMO_PAIR_CA"

# Server extensions a recipe does not use, switched off: `jupyter server` then starts and stops
# several seconds faster (they are installed beside JupyterLab; `True` ones are kept as given).
UNUSED_EXTENSIONS = ("jupyterlab", "jupyter_lsp", "notebook_shim", "jupyter_server_terminals")
EXTENSIONS_FOR_NOTEBOOKS = ("jupyter_server_ydoc", "jupyter_server_fileid", "jupyter_server_nbmodel",
                            "jupyter_collaboration", "jupyter_mcp_server")


def server_config(keep: tuple[str, ...] = (), **sections: dict[str, Any]) -> dict[str, Any]:
    """A jupyter_server_config.json body: every extension above off except `keep`, plus `sections`."""
    off = {name: False for name in UNUSED_EXTENSIONS + EXTENSIONS_FOR_NOTEBOOKS if name not in keep}
    return {"ServerApp": {"jpserver_extensions": {**off, **{name: True for name in keep}}}, **sections}


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the kernel's variables, plus `extra`."""
    env = dict(os.environ)
    for name in PAIR_VARIABLES.split(",") + ["MARIMO_PAIR_OPEN", "MARIMO_PAIR_PYTHON"]:
        env.pop(name, None)
    env.update(extra)
    return env


class Service:
    """A server process on 127.0.0.1 with a token, in its own process group."""

    def __init__(self, root: Path, args: list[str], env: dict[str, str], ready_path: str, name: str,
                 config: dict[str, Any] | None = None) -> None:
        self.root = root
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root / f"{name}.log"
        jupyter = root / f"{name}-dirs"
        # Own config/runtime dirs so a developer's Jupyter settings cannot leak in; kernelspecs
        # are still found under sys.prefix, where ours is installed.
        full = clean_env(JUPYTER_CONFIG_DIR=str(jupyter / "config"), JUPYTER_RUNTIME_DIR=str(jupyter / "runtime"))
        if config:
            (jupyter / "config").mkdir(parents=True, exist_ok=True)
            (jupyter / "config" / "jupyter_server_config.json").write_text(json.dumps(config))
        full.update(env)
        argv = [a.format(port=self.port, token=self.token) for a in args]
        self.proc = subprocess.Popen(
            argv, cwd=root, env=full, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        self.http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"token {self.token}"}, timeout=30, trust_env=False
        )
        self._ready_path = ready_path

    @classmethod
    def jupyter_server(cls, root: Path, env: dict[str, str], *extra: str,
                       config: dict[str, Any] | None = None) -> Service:
        args = [
            sys.executable, "-m", "jupyter_server", "--ServerApp.ip=127.0.0.1", "--ServerApp.port={port}",
            "--ServerApp.port_retries=0", "--IdentityProvider.token={token}", "--ServerApp.open_browser=False",
            f"--ServerApp.root_dir={root}", "--ServerApp.terminals_enabled=False", "--allow-root", *extra,
        ]
        return cls(root, args, env, "/api/status", "jupyter_server", config)

    @classmethod
    def kernel_gateway(cls, root: Path, env: dict[str, str], *extra: str) -> Service:
        args = [
            sys.executable, "-m", "kernel_gateway", "--KernelGatewayApp.ip=127.0.0.1",
            "--KernelGatewayApp.port={port}", "--KernelGatewayApp.port_retries=0",
            "--KernelGatewayApp.auth_token={token}", *extra,
        ]
        return cls(root, args, env, "/api", "kernel_gateway")

    def wait_ready(self, timeout: float = 60) -> Service:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.log.name}: exited:\n{self.log.read_text()}")
            try:
                if self.http.get(self._ready_path, timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.log.name}: not ready:\n{self.log.read_text()}")

    def ws_url(self, kernel_id: str) -> str:
        return f"ws://127.0.0.1:{self.port}/api/kernels/{kernel_id}/channels"

    def stop(self) -> None:
        self.http.close()
        stop_group(self.proc)


# -- TLS ----------------------------------------------------------------------------------------


class TlsTerminator:
    """Listens with TLS on `host` (one port per certificate) and pipes the plaintext to a
    plain-HTTP server on 127.0.0.1:`upstream_port`; `received` holds, per connection, the
    bytes a client sent after decryption."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.received: list[bytearray] = []
        self.handshake_failures = 0
        self._loop = asyncio.new_event_loop()
        self._servers: list[asyncio.base_events.Server] = []
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def listen(self, host: str, cert: trustme.LeafCert) -> str:
        """Serve `cert` on a new port of `host`; returns the https URL."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)

        async def start() -> asyncio.base_events.Server:
            return await asyncio.start_server(self._handle, host, 0, ssl=ctx, ssl_handshake_timeout=5)

        server = asyncio.run_coroutine_threadsafe(start(), self._loop).result(10)
        self._servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return f"https://{host}:{port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        seen = bytearray()
        self.received.append(seen)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, record: bytearray | None) -> None:
            try:
                while data := await src.read(65536):
                    if record is not None:
                        record.extend(data)
                    dst.write(data)
                    await dst.drain()
            except (OSError, ssl.SSLError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer, seen), pipe(up_reader, writer, None))

    def plaintext(self) -> bytes:
        return b"".join(bytes(b) for b in self.received)

    def close(self) -> None:
        async def stop() -> None:
            for s in self._servers:
                s.close()
            # Open pipes end with the test's kernels; do not wait for them here.

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


# -- a proxy that breaks the event stream -------------------------------------------------------


class StrippingProxy:
    """Forwards every request to `upstream`; the answer to POST /api/kernel/execute is read
    whole and sent back without its events: an empty `text/event-stream` body (mode "empty")
    or a page of another type (mode "rewrite"), as misconfigured buffering proxies do."""

    def __init__(self, upstream: str, mode: str = "empty") -> None:
        self.executes = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                with httpx.Client(trust_env=False, timeout=60) as http:
                    r = http.request(self.command, upstream + self.path, content=body, headers=headers)
                kind = r.headers.get("content-type", "application/octet-stream")
                payload = r.content
                if self.path.startswith("/api/kernel/execute"):
                    proxy.executes += 1
                    payload = b"" if mode == "empty" else b"<html><body>buffered</body></html>"
                    kind = kind if mode == "empty" else "text/html"
                self.send_response(r.status_code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _forward  # noqa: N815 - http.server's naming

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# -- marimo behind a base URL -------------------------------------------------------------------


class PrefixedMarimo(MarimoServer):
    """`marimo edit --base-url PREFIX`: every route, /health included, lives under PREFIX."""

    prefix = "/marimo"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start_prefixed(cls, root: Path, **kw: Any) -> PrefixedMarimo:
        return cls.start(root, extra_args=("--base-url", cls.prefix), **kw)  # type: ignore[return-value]
