"""The errors this package raises, each one saying what the user can do next.

Every error crossing into the kernel is a `PairError`; the kernel shows its
message as one paragraph (no traceback from our own code ever reaches a user).
Messages never contain a token: URLs are shown without credentials or query.
"""

from __future__ import annotations


class PairError(Exception):
    """Base class: a failure the kernel reports to the user as a message."""

    ename = "MarimoPairError"


class UsageError(PairError):
    """A magic line that does not parse; the message carries the usage."""

    ename = "UsageError"


class NoTargetError(PairError):
    """No notebook is chosen and none can be chosen by itself: one of the two cases below."""

    ename = "NoNotebookError"


class NoNotebookError(NoTargetError):
    """No open notebook matches: none is open, or not the file, session or number asked for."""

    ename = "NoNotebookError"


class SeveralNotebooksError(NoTargetError):
    """More than one open notebook matches, so the user has to choose one."""

    ename = "SeveralNotebooksError"


class ConnectionFailed(PairError):
    """The marimo server cannot be reached (closed port, refused, timed out)."""

    ename = "ConnectionError"


class CertificateError(PairError):
    """The server's TLS certificate failed verification (expired, wrong host, unknown CA) or
    it does not speak TLS: nothing was sent, and looking for the notebook elsewhere would
    hide the reason, so this is not a ConnectionFailed."""

    ename = "CertificateError"


class ServerGone(PairError):
    """The server went away while a request was running."""

    ename = "ServerGoneError"


class AuthError(PairError):
    """The server wants a token, or refused the one we have."""

    ename = "AuthenticationError"


class SessionGone(PairError):
    """The session we had cannot be used, and nothing was sent: its id is unknown to the
    server (reload, reopen), or its server is gone. Safe to find the notebook again
    by path and retry, because the code did not run."""

    ename = "SessionGoneError"


class ServerUnreachable(SessionGone):
    """The server did not accept a connection, so the request was never sent."""

    ename = "ServerGoneError"


class UnsupportedServer(PairError):
    """The running marimo lacks an endpoint or code-mode method we need."""

    ename = "UnsupportedMarimoError"


class OutcomeUnknown(PairError):
    """The execute stream ended without `done`: the code may or may not have run."""

    ename = "OutcomeUnknownError"


class RefusedURL(PairError):
    """A URL we will not send code to (not loopback without consent, not http)."""

    ename = "RefusedURLError"


class LaunchError(PairError):
    """An embedded marimo server could not be started."""

    ename = "LaunchError"
