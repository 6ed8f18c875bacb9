"""The HTTP client for one marimo server: health, sessions, streaming execute.

One persistent `httpx.Client` per server keeps the connection warm, so a trivial
execute costs what marimo's endpoint costs. The token, when there is one, lives
only in the client's default headers and is sent to this server alone.
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
from httpx_sse import EventSource

from . import offload
from .discovery import Notebook, parse_sessions, read_registry
from .errors import (
    AuthError,
    CertificateError,
    ConnectionFailed,
    OutcomeUnknown,
    PairError,
    RefusedURL,
    ServerGone,
    ServerUnreachable,
    SessionGone,
    UnsupportedServer,
)
from .plaintext import html_to_text

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
StreamCallback = Callable[[str, str], None]

# The oldest marimo the kernel supports. 0.21.0 already has /api/kernel/execute, but it
# stops every execution after 30 s and ignores a closed stream (no interrupt).
MIN_MARIMO = (0, 21, 1)
MIN_MARIMO_TEXT = "0.21.1"
_SESSION_DETAIL = ("Invalid stable session id", "Invalid session id", "Missing Marimo-Session-Id")
CA_ENV = "MARIMO_PAIR_CA"
_TLS_CONTEXTS: dict[tuple[str, str, str], ssl.SSLContext] = {}


def parse_version(text: str | None) -> tuple[int, int, int] | None:
    """A marimo version's release numbers (major, minor, micro); None when `text` is not a version.

    Only the release counts: a pre-release or dev build of 0.23.14 has 0.23.14's endpoints as
    far as our checks go (they compare against the first release that had a feature).
    """
    # Imported here: packaging.version costs milliseconds at kernel start, and is needed only
    # once a server's version is known.
    from packaging.version import InvalidVersion, Version

    try:
        release = Version((text or "").strip()).release
    except InvalidVersion:
        return None
    major, minor, micro = (*release, 0, 0)[:3]
    return major, minor, micro


@dataclass(frozen=True)
class Output:
    mimetype: str
    data: str


@dataclass(frozen=True)
class ExecuteResult:
    """What `done` said. `success` False means an error was reported on stderr."""

    success: bool
    output: Output | None


def _shut(response: httpx.Response) -> None:
    """Wake the thread blocked reading `response`: shut its socket down, which marimo sees as the
    stream closed (it interrupts the run), and the reader as the end of the stream."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is not None:
        # The plain socket's own shutdown, also under TLS: the reader owns the TLS state.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


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


def tls_verify(environ: Mapping[str, str] | None = None) -> ssl.SSLContext:
    """What an https connection to marimo trusts.

    The client ignores the environment (trust_env=False, so that no proxy from it is ever
    used), and with it httpx would also drop SSL_CERT_FILE / SSL_CERT_DIR; they are read
    here instead. MARIMO_PAIR_CA names a CA bundle (PEM file or directory) trusted in
    addition to the usual ones: the way to reach a server behind a private or self-signed CA.
    """
    env = os.environ if environ is None else environ
    ca = env.get(CA_ENV) or env.get("KERNEL_" + CA_ENV) or ""  # KERNEL_: see target.env_value
    key = (ca, env.get("SSL_CERT_FILE", ""), env.get("SSL_CERT_DIR", ""))
    ctx = _TLS_CONTEXTS.get(key)
    if ctx is not None:
        return ctx
    extra, cert_file, cert_dir = key
    try:
        if cert_file or cert_dir:
            ctx = ssl.create_default_context(cafile=cert_file or None, capath=cert_dir or None)
        else:
            import certifi  # what httpx trusts by default

            ctx = ssl.create_default_context(cafile=certifi.where())
        if extra:
            if os.path.isdir(extra):
                ctx.load_verify_locations(capath=extra)
            else:
                ctx.load_verify_locations(cafile=extra)
    except (OSError, ssl.SSLError, ValueError) as e:
        name = f"{CA_ENV}={extra}" if extra else (
            f"SSL_CERT_FILE={cert_file}" if cert_file else f"SSL_CERT_DIR={cert_dir}"
        )
        raise CertificateError(
            f"{name} cannot be used as a certificate authority bundle ({_why(e)}). Point it at the "
            "PEM file of the authority that signed the marimo server's certificate, then restart "
            "the kernel."
        ) from None
    _TLS_CONTEXTS[key] = ctx
    return ctx


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
            # Plain http has no TLS to verify: skip loading a certificate store (slow) for it.
            verify=tls_verify() if self.url.startswith("https://") else False,
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

    def auth_headers(self) -> dict[str, str]:
        """The Authorization header this client sends, for another connection to this same server."""
        auth = self._http.headers.get("Authorization")
        return {"Authorization": auth} if auth else {}

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What this client's https connections trust (False for plain http)."""
        return tls_verify() if self.url.startswith("https://") else False

    def _get(self, path: str, timeout: float = 3.0, check_auth: bool = True) -> httpx.Response:
        try:
            r = self._http.get(self.url + path, timeout=timeout)
        except httpx.TimeoutException:
            raise ConnectionFailed(
                f"The marimo server at {self.shown_url} did not answer within {timeout:g}s. "
                "It may be busy or hung; try again, or pick another with %connect."
            ) from None
        except httpx.HTTPError as e:
            self._raise_tls(e)
            raise ConnectionFailed(
                f"Cannot reach a marimo server at {self.shown_url} ({_why(e)}). "
                "Is it running? Run %discover to see live servers, or %open PATH to start one."
                + self._scheme_hint(e)
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
            self._raise_missing_prefix()
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
        result: ExecuteResult | None = None
        try:
            for event, data in self._events(code, notebook, timeout):
                if result is not None:
                    # Read on to the end of the stream (marimo ends it right after `done`): a stream
                    # closed early is a disconnect, which makes marimo interrupt its kernel, and its
                    # connection cannot go back to the pool for the next execute.
                    continue
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
                    result = ExecuteResult(success=success, output=output)
        except ServerGone:
            if result is None:
                raise  # after `done`, a broken end of stream changes nothing
        if result is not None:
            return result
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
            self._raise_tls(e)
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
                    f"({kind.split(';')[0] or 'no content type'}), so the outcome is unknown: the "
                    f"code may or may not have run. Either this is not a marimo >= "
                    f"{MIN_MARIMO_TEXT} server, or a proxy in between rewrote the answer: "
                    + _PROXY_FIX
                )
            seen = False
            try:
                with offload.wakes(lambda: _shut(response)):  # an interrupt of an execute in a worker
                    for sse in EventSource(response).iter_sse():
                        seen = True
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
            if not seen:
                # marimo always sends at least `done`: an empty stream is something in between.
                raise OutcomeUnknown(
                    f"{self.shown_url}/api/kernel/execute answered with an empty event stream "
                    "(no output and no result), so the outcome is unknown: the code may or may not "
                    "have run. Usually a proxy in between dropped or held back the stream: " + _PROXY_FIX
                )
        finally:
            # Closing the stream is what interrupts a still-running marimo execution.
            response.close()

    # -- explaining failures -----------------------------------------------------------

    def _raise_tls(self, e: Exception) -> None:
        """A TLS failure says which one and how to fix it (nothing was sent)."""
        message = _tls_failure(e, self.shown_url)
        if message:
            raise CertificateError(message) from None

    def _scheme_hint(self, e: Exception) -> str:
        # A TLS-only server (or proxy) drops a plain-http request without an HTTP answer.
        if self.url.startswith("http://") and isinstance(e, (httpx.ReadError, httpx.RemoteProtocolError)):
            return " If the server only speaks https, use an https:// URL."
        return ""

    def _raise_missing_prefix(self) -> None:
        """/api/sessions is missing: a marimo behind a base URL, reached without its prefix?"""
        try:
            health = self._http.get(self.url + "/health", timeout=2.0).status_code
        except httpx.HTTPError:
            return
        if health != 404:
            return  # /health is there, so this is the right place: an old marimo
        port = urlsplit(self.url).port
        # The registry describes this machine's servers only: no hint for another host's port.
        entries = read_registry()[0] if is_loopback(self.url) else []
        prefixes = sorted({e.base_url.rstrip("/") for e in entries if e.port == port and e.base_url.strip("/")})
        example = f"{self.shown_url}{prefixes[0]}" if prefixes else f"{self.shown_url}/PREFIX"
        known = (
            f" marimo's registry says the server on port {port} runs under {prefixes[0]}."
            if prefixes else ""
        )
        raise ConnectionFailed(
            f"Nothing at {self.shown_url} answers like marimo (/health and /api/sessions are not "
            f"found there). If marimo runs behind a base URL (marimo edit --base-url PREFIX, or a "
            f"JupyterHub/proxy path), include that prefix: MARIMO_PAIR_URL={example} or "
            f"%connect {example}.{known}"
        )

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
    return html_to_text(text).rstrip("\n") + "\n"


def _error_report(error: dict) -> str:
    """`done`'s error object (marimo < 0.25) as the stderr text newer marimo would send."""
    msg = str(error.get("msg") or "")
    kind = str(error.get("exception_type") or error.get("type") or "Error")
    if error.get("type") == "MarimoSyntaxError" and _ERROR_REPORT.match(msg):
        return msg if msg.endswith("\n") else msg + "\n"
    first, _, rest = msg.partition("\n")
    return f"Traceback (most recent call last):\n{kind}: {first}\n" + (rest + "\n" if rest else "")


_PROXY_FIX = (
    "let the proxy pass text/event-stream responses through unbuffered and uncompressed "
    "(nginx: proxy_buffering off; proxy_http_version 1.1), or point MARIMO_PAIR_URL at "
    "marimo itself (an SSH tunnel keeps the stream intact)."
)


def _tls_failure(e: BaseException, shown_url: str) -> str | None:
    """The one-paragraph explanation of a TLS failure in `e`'s cause chain, or None."""
    cause: BaseException | None = e
    verify: ssl.SSLCertVerificationError | None = None
    text = ""
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            verify = cause
        text += " " + str(cause)
        cause = cause.__cause__ or cause.__context__
    reason = ((verify.verify_message if verify is not None else "") or "").rstrip(".")
    if verify is None and "CERTIFICATE_VERIFY_FAILED" in text:
        reason = text.split("certificate verify failed:", 1)[-1].split("(_ssl", 1)[0].strip()
    elif verify is None:
        if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
            return (
                f"{shown_url} does not speak TLS (its answer is not an https handshake). Use "
                f"an http:// URL for it, or put the TLS-terminating proxy in front of marimo."
            )
        return None
    low = reason.lower()
    where = f"The TLS certificate of {shown_url}"
    refused = "so the kernel sent nothing there (no code, no token)."
    if "expired" in low or "not yet valid" in low:
        return (
            f"{where} {'has expired' if 'expired' in low else 'is not valid yet'} ({reason}), "
            f"{refused} Renew the certificate on the server or on the proxy in front of marimo "
            "(and check this machine's clock), then run the code again."
        )
    if "mismatch" in low or "hostname" in low or "not valid for" in low:
        return (
            f"{where} was issued for another name ({reason}), {refused} Connect with the host "
            "name the certificate was issued for (MARIMO_PAIR_URL=https://THAT-NAME:PORT, or "
            "%connect https://THAT-NAME:PORT), or reissue the certificate to cover this one."
        )
    if "issuer" in low or "self-signed" in low or "self signed" in low or "unknown ca" in low:
        return (
            f"{where} is signed by an authority this kernel does not trust ({reason}), {refused} "
            f"Set {CA_ENV}=/path/to/ca.pem (the authority's certificate, PEM) in the kernel's "
            "environment and restart the kernel; SSL_CERT_FILE works too."
        )
    return (
        f"{where} could not be verified ({reason or 'verification failed'}), {refused} Fix the "
        f"certificate, or trust its authority with {CA_ENV}=/path/to/ca.pem and restart the kernel."
    )


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
