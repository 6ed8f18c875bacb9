"""The HTTP client for one marimo server: health, sessions, streaming execute.

One persistent `httpx.Client` per server keeps the connection warm, so a trivial
execute costs what marimo's endpoint costs. The token, when there is one, lives
only in the client's default headers and is sent to this server alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

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
    ServerUnreachable,
    SessionGone,
    UnsupportedServer,
)

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
StreamCallback = Callable[[str, str], None]

# The oldest marimo the kernel supports. 0.21.0 already has /api/kernel/execute, but it
# stops every execution after 30 s and ignores a closed stream (no interrupt).
MIN_MARIMO = (0, 21, 1)
MIN_MARIMO_TEXT = "0.21.1"
_SESSION_DETAIL = ("Invalid stable session id", "Invalid session id", "Missing Marimo-Session-Id")


def parse_version(text: str | None) -> tuple[int, int, int] | None:
    m = re.match(r"\s*v?(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)) if m else None


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


def token_in_url(url: str) -> str | None:
    """The `access_token` of a URL as marimo prints it (`http://host:port?access_token=…`)."""
    try:
        values = parse_qs(urlsplit(url.strip()).query).get("access_token")
    except ValueError:
        return None
    return values[0] if values and values[0] else None


def is_loopback(url: str) -> bool:
    """Whether the URL's host is this machine's loopback, by address (not by name prefix:
    `127.0.0.1.nip.io` is a DNS name that can point anywhere)."""
    import ipaddress

    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    if host in LOOPBACK_HOSTS:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)


class MarimoClient:
    """Talks to one marimo server. Thread-compatible, not thread-safe."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = normalize_url(url)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._has_token = bool(token)
        self._version_checked = False
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

    @property
    def has_token(self) -> bool:
        return self._has_token

    def _get(self, path: str, timeout: float = 3.0, check_auth: bool = True) -> httpx.Response:
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
        if check_auth:
            self._check_auth(r)
        return r

    def _check_auth(self, r: httpx.Response) -> None:
        if r.status_code in (401, 403) and _json_field(r, "error") == "Missing server token":
            # marimo's skew protection, not authentication: a server older than the endpoint.
            raise UnsupportedServer(
                f"The marimo server at {self.shown_url} does not accept code over HTTP "
                f"(it has no /api/kernel/execute); marimo-pair-kernel needs marimo >= "
                f"{MIN_MARIMO_TEXT}. Upgrade marimo there (pip install -U marimo) and restart it."
            )
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
        return r.text.strip()[:64] if r.status_code == 200 else None

    def check_version(self, known: str | None = None) -> None:
        """Refuse a marimo older than MIN_MARIMO, naming the version needed (once per client).

        `known` is the version the registry gave; otherwise ask the server. A server
        that does not say is given the benefit of the doubt: a missing endpoint is
        reported by name when it is used.
        """
        if self._version_checked:
            return
        text = known or self.version()
        found = parse_version(text)
        if found is not None and found < MIN_MARIMO:
            raise UnsupportedServer(
                f"The marimo server at {self.shown_url} runs marimo {text}; marimo-pair-kernel "
                f"needs marimo >= {MIN_MARIMO_TEXT} (older servers cannot run code over HTTP, or "
                "stop it after 30 s). Upgrade marimo there (pip install -U marimo) and restart it."
            )
        self._version_checked = True

    def sessions(self) -> tuple[Notebook, ...]:
        r = self._get("/api/sessions", check_auth=False)
        if r.status_code == 403 and "--no-skew-protection" in str(_json_field(r, "error") or ""):
            raise UnsupportedServer(
                f"The marimo server at {self.shown_url} (marimo 0.21) lists its notebooks only "
                "when started with --no-token --no-skew-protection. Restart it that way, or "
                "upgrade to marimo >= 0.22."
            )
        self._check_auth(r)
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

    def busy(self, notebook: Notebook) -> bool:
        """Whether the notebook's kernel is running something (a cell, or another execute).

        False when the server cannot say (older marimo): callers then simply go ahead.
        """
        try:
            r = self._http.get(
                self.url + "/api/kernel/status", headers={"Marimo-Session-Id": notebook.key}, timeout=1.0
            )
            return r.status_code == 200 and r.json().get("state") == "running"
        except (httpx.HTTPError, ValueError, AttributeError):
            return False

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
        saw_report = False
        for event, data in self._events(code, notebook, timeout):
            if event in ("stdout", "stderr"):
                text = data.get("data") if isinstance(data, dict) else None
                if isinstance(text, str) and text:
                    if event == "stderr":
                        text = _plain_traceback(text)
                        saw_report = saw_report or _ERROR_REPORT.match(text) is not None
                    on_stream(event, text)
            elif event == "done":
                if not isinstance(data, dict):
                    break
                out = data.get("output")
                output = None
                if isinstance(out, dict) and out.get("data"):
                    output = Output(str(out.get("mimetype") or "text/plain"), str(out["data"]))
                success = bool(data.get("success"))
                error = data.get("error")
                if not success and isinstance(error, dict) and not saw_report:
                    # marimo < 0.25 puts some errors (a SyntaxError) only in `done`.
                    on_stream("stderr", _error_report(error))
                return ExecuteResult(success=success, output=output)
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
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            # No connection, so nothing was sent: the caller may look for the notebook again.
            raise ServerUnreachable(
                f"The marimo server at {self.shown_url} is not reachable ({_why(e)}); it may have "
                "stopped. Run %discover to find live notebooks, or %open PATH."
            ) from None
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
            kind = response.headers.get("content-type", "")
            if not kind.startswith("text/event-stream"):
                raise UnsupportedServer(
                    f"{self.shown_url}/api/kernel/execute did not answer with an event stream "
                    f"({kind.split(';')[0] or 'no content type'}): this is not a marimo >= "
                    f"{MIN_MARIMO_TEXT} server, or something in between changed the answer."
                )
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
        # marimo answers an unknown stable id with 404 and an unknown per-tab key with 500.
        if detail.startswith(_SESSION_DETAIL):
            raise SessionGone(f"The notebook session is gone on {self.shown_url} ({detail[:120]}).")
        if response.status_code in (404, 405) and detail in ("", "Not Found", "Method Not Allowed"):
            raise UnsupportedServer(
                f"The marimo server at {self.shown_url} has no /api/kernel/execute endpoint; "
                f"marimo-pair-kernel needs marimo >= {MIN_MARIMO_TEXT} on the server side. "
                "Upgrade marimo there (pip install -U marimo) and restart it."
            )
        raise PairError(
            f"The marimo server at {self.shown_url} answered HTTP {response.status_code}"
            + (f": {detail[:300]}" if detail else ".")
        )


# The start of an error report on stderr: a traceback, or the bare SyntaxError form.
_ERROR_REPORT = re.compile(r"(Traceback \(most recent call last\):|line \d+\n)")
_HIGHLIGHTED = '<span class="codehilite">'


def _plain_traceback(text: str) -> str:
    """marimo < 0.25 sends tracebacks as syntax-highlighted HTML; Jupyter wants the text."""
    if not text.startswith(_HIGHLIGHTED):
        return text
    import html

    return html.unescape(re.sub(r"<[^>]*>", "", text)).rstrip("\n") + "\n"


def _error_report(error: dict) -> str:
    """`done`'s error object (marimo < 0.25) as the stderr text newer marimo would send."""
    msg = str(error.get("msg") or "")
    kind = str(error.get("exception_type") or error.get("type") or "Error")
    if error.get("type") == "MarimoSyntaxError" and _ERROR_REPORT.match(msg):
        return msg if msg.endswith("\n") else msg + "\n"
    first, _, rest = msg.partition("\n")
    return f"Traceback (most recent call last):\n{kind}: {first}\n" + (rest + "\n" if rest else "")


def _json_field(r: httpx.Response, name: str) -> object:
    try:
        r.read()
        data = r.json()
    except (ValueError, httpx.HTTPError):
        return None
    return data.get(name) if isinstance(data, dict) else None


def _why(e: Exception) -> str:
    text = str(e) or type(e).__name__
    return text.split("\n")[0][:200]
