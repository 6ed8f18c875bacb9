"""The HTTP client for one marimo server: health, sessions, streaming execute.

One persistent `httpx.Client` per server keeps the connection warm, so a trivial
execute costs what marimo's endpoint costs. The token, when there is one, lives
only in the client's default headers and is sent to this server alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable, Iterator
from urllib.parse import urlsplit

import httpx
from httpx_sse import EventSource

from .discovery import Notebook, parse_sessions
from .errors import (
    AuthError,
    ConnectionFailed,
    OutcomeUnknown,
    PairError,
    RefusedURL,
    ServerGone,
    SessionGone,
    UnsupportedServer,
)

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
StreamCallback = Callable[[str, str], None]


@dataclass(frozen=True)
class Output:
    mimetype: str
    data: str


@dataclass(frozen=True)
class ExecuteResult:
    """What `done` said. `success` False means an error was reported on stderr."""

    success: bool
    output: Output | None


def display_url(url: str) -> str:
    """The URL without credentials, query or fragment: safe for messages."""
    try:
        p = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    return p._replace(netloc=p.netloc.rsplit("@", 1)[-1], query="", fragment="").geturl().rstrip("/")


def normalize_url(url: str) -> str:
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    try:
        p = urlsplit(url)
        p.port  # noqa: B018 - raises on a bad port
    except ValueError as e:
        raise RefusedURL(f"'{display_url(url)}' is not a valid URL ({e}).") from None
    if p.scheme not in ("http", "https") or not p.hostname:
        raise RefusedURL(f"'{display_url(url)}' is not an http(s) URL of a marimo server.")
    if p.username or p.password:
        raise RefusedURL(
            "Put the token in MARIMO_TOKEN or use %token, not in the URL: "
            "credentials in a URL end up in logs."
        )
    return p._replace(query="", fragment="").geturl().rstrip("/")


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in LOOPBACK_HOSTS or host.startswith("127.")


class MarimoClient:
    """Talks to one marimo server. Thread-compatible, not thread-safe."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = normalize_url(url)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._has_token = bool(token)
        # No overall read timeout: an execute may legitimately run for hours.
        self._http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(10.0, connect=2.0, read=None),
            trust_env=False,  # never route notebook code through a proxy from the env
        )

    @property
    def shown_url(self) -> str:
        return display_url(self.url)

    def close(self) -> None:
        self._http.close()

    # -- simple requests -------------------------------------------------------------

    def _get(self, path: str, timeout: float = 3.0) -> httpx.Response:
        try:
            r = self._http.get(self.url + path, timeout=timeout)
        except httpx.TimeoutException:
            raise ConnectionFailed(
                f"The marimo server at {self.shown_url} did not answer within {timeout:g}s. "
                "It may be busy or hung; try again, or pick another with %connect."
            ) from None
        except httpx.HTTPError as e:
            raise ConnectionFailed(
                f"Cannot reach a marimo server at {self.shown_url} ({_why(e)}). "
                "Is it running? Run %discover to see live servers, or %open PATH to start one."
            ) from None
        self._check_auth(r)
        return r

    def _check_auth(self, r: httpx.Response) -> None:
        if r.status_code in (401, 403):
            if self._has_token:
                raise AuthError(
                    f"The marimo server at {self.shown_url} refused the token. "
                    "Set the right one with %token (or MARIMO_TOKEN) and try again."
                )
            raise AuthError(
                f"The marimo server at {self.shown_url} requires a token. Set MARIMO_TOKEN "
                "before starting the kernel, or run %token to enter it (hidden input)."
            )

    def health(self, timeout: float = 2.0) -> bool:
        try:
            r = self._http.get(self.url + "/health", timeout=timeout)
            return r.status_code == 200 and r.json().get("status") == "healthy"
        except (httpx.HTTPError, ValueError, AttributeError):
            return False

    def version(self) -> str | None:
        try:
            r = self._get("/api/version")
        except PairError:
            return None
        return r.text.strip() if r.status_code == 200 else None

    def sessions(self) -> tuple[Notebook, ...]:
        r = self._get("/api/sessions")
        if r.status_code == 404:
            raise UnsupportedServer(
                f"The marimo server at {self.shown_url} does not list sessions "
                "(it needs marimo >= 0.22, or 0.21.1 started with --no-token --no-skew-protection)."
            )
        if r.status_code != 200:
            raise PairError(f"{self.shown_url}/api/sessions answered HTTP {r.status_code}.")
        try:
            return parse_sessions(r.json())
        except ValueError:
            raise PairError(
                f"{self.shown_url} answered /api/sessions with something that is not marimo's "
                "session list. Is this really a marimo server?"
            ) from None

    # -- execute ------------------------------------------------------------------------

    def execute(
        self,
        code: str,
        notebook: Notebook,
        on_stream: StreamCallback,
        timeout: float | None = None,
    ) -> ExecuteResult:
        """Run `code` in the notebook's scratchpad, calling `on_stream(name, text)` as output arrives.

        KeyboardInterrupt (from SIGINT) propagates after the stream is closed, which
        makes marimo interrupt its kernel.
        """
        for event, data in self._events(code, notebook, timeout):
            if event in ("stdout", "stderr"):
                text = data.get("data") if isinstance(data, dict) else None
                if isinstance(text, str) and text:
                    on_stream(event, text)
            elif event == "done":
                if not isinstance(data, dict):
                    break
                out = data.get("output")
                output = None
                if isinstance(out, dict) and out.get("data"):
                    output = Output(str(out.get("mimetype") or "text/plain"), str(out["data"]))
                return ExecuteResult(success=bool(data.get("success")), output=output)
        raise OutcomeUnknown(
            f"The connection to {self.shown_url} ended before marimo confirmed the result, "
            "so the outcome is unknown: the code may or may not have run. Check the notebook "
            "state (for example with %status or a quick look at the variable) before re-running."
        )

    def _headers(self, notebook: Notebook) -> dict[str, str]:
        if notebook.session_id:
            return {"Marimo-Stable-Session-Id": notebook.session_id}
        return {"Marimo-Session-Id": notebook.key}

    def _events(self, code: str, notebook: Notebook, timeout: float | None) -> Iterator[tuple[str, object]]:
        request = self._http.build_request(
            "POST",
            self.url + "/api/kernel/execute",
            json={"code": code},
            headers={**self._headers(notebook), "Accept": "text/event-stream"},
            timeout=httpx.Timeout(10.0, connect=2.0, read=timeout),
        )
        try:
            response = self._http.send(request, stream=True)
        except httpx.TimeoutException:
            raise ConnectionFailed(
                f"The marimo server at {self.shown_url} did not accept the request in time."
            ) from None
        except httpx.HTTPError as e:
            raise ServerGone(
                f"The marimo server at {self.shown_url} is not reachable ({_why(e)}); "
                "it may have stopped. Run %discover to find live notebooks, or %open PATH."
            ) from None
        try:
            self._check_auth(response)
            if response.status_code != 200:
                self._raise_status(response)
            try:
                for sse in EventSource(response).iter_sse():
                    try:
                        data = json.loads(sse.data) if sse.data else None
                    except ValueError:
                        continue
                    yield sse.event, data
            except httpx.HTTPError as e:
                raise ServerGone(
                    f"The marimo server at {self.shown_url} went away while running the code "
                    f"({_why(e)}); the outcome is unknown. Run %discover to find a live "
                    "notebook, or %open PATH to start one."
                ) from None
        finally:
            # Closing the stream is what interrupts a still-running marimo execution.
            response.close()

    def _raise_status(self, response: httpx.Response) -> None:
        response.read()
        try:
            detail = response.json().get("detail")
        except (ValueError, AttributeError):
            detail = None
        detail = detail if isinstance(detail, str) else ""
        if response.status_code == 404 and detail.startswith(
            ("Invalid stable session id", "Invalid session id")
        ):
            raise SessionGone(detail)
        if response.status_code == 404 and not detail:
            raise UnsupportedServer(
                f"The marimo server at {self.shown_url} has no /api/kernel/execute endpoint; "
                "marimo-pair-kernel needs marimo >= 0.21.1 on the server side."
            )
        if "Missing Marimo-Session-Id" in detail:
            raise SessionGone(detail)
        raise PairError(
            f"The marimo server at {self.shown_url} answered HTTP {response.status_code}"
            + (f": {detail}" if detail else ".")
        )


def _why(e: Exception) -> str:
    text = str(e) or type(e).__name__
    return text.split("\n")[0][:200]
