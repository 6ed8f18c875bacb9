"""Which notebook the kernel talks to, and how it finds it again.

Order: an explicit `%connect`/`%open`, else `MARIMO_PAIR_URL` (+ `MARIMO_PAIR_FILE`),
else `MARIMO_PAIR_FILE` among discovered servers, else the one notebook open
anywhere. A target remembers its file path, so when its session goes away
(browser reload, notebook reopened, server restarted on another port) the next
execute finds it again by path instead of failing. Once a notebook has been
chosen (even automatically), the kernel sticks to that file: if it closes, the
kernel says so rather than silently running code in whichever other notebook
happens to be open. `%connect` with no argument picks again.

The token is sent only to a server the user named (`MARIMO_PAIR_URL`, `%connect
URL`); servers found in marimo's registry run without a token and never get it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import discovery
from .client import MarimoClient, display_url, is_loopback, normalize_url, token_in_url
from .discovery import Notebook, same_path
from .errors import (
    ConnectionFailed,
    NoNotebookError,
    NoTargetError,
    RefusedURL,
    ServerUnreachable,
    SeveralNotebooksError,
)

if TYPE_CHECKING:
    from .late import ViewerTarget

ALLOW_REMOTE_ENV = "MARIMO_PAIR_ALLOW_REMOTE"


@dataclass
class Target:
    client: MarimoClient
    notebook: Notebook

    @property
    def url(self) -> str:
        return self.client.shown_url

    @property
    def path(self) -> str | None:
        return self.notebook.path

    def viewer_target(self) -> ViewerTarget | None:
        """Where a viewer of this notebook connects (late.py); None when marimo gave no path."""
        from .late import ViewerTarget

        if not self.notebook.path:
            return None
        return ViewerTarget(self.client.url, self.notebook.path, self.client.auth_headers(), self.client.verify)


def _describe(found: discovery.Discovery) -> str:
    """The open notebooks, numbered as %discover's # column (what %connect N takes)."""
    if not found.notebooks:
        return "none"
    return "; ".join(f"[{i}] {s.url} → {nb.path}" for i, (s, nb) in enumerate(found.notebooks))


def _tabless_lead(found: discovery.Discovery, file: str | None = None) -> str | None:
    """The next step first, when live servers serve notebooks that no tab has open: `%open PATH`.

    Someone ran `marimo edit NB.py` and never opened the page; telling them to run `marimo edit`
    again would be the wrong advice, so this leads the message in one or two lines.
    """
    served = [s for s in found.servers if not s.notebooks and s.serves and (file is None or s.can_open(file))]
    if not served:
        return None
    if len(served) == 1:
        s = served[0]
        if s.serves_folder:
            if file:
                return (
                    f"Run %open {file}: marimo at {s.url} serves the folder {s.serves} with no tab open, and "
                    "%open opens it there without a browser."
                )
            return (
                f"Run %open PATH with a notebook in {s.serves}: marimo at {s.url} serves that folder with no "
                "tab open, and %open opens the notebook there without a browser."
            )
        return (
            f"Run %open {file or s.serves}: marimo at {s.url} serves it with no tab open, and %open opens it "
            "there without a browser."
        )
    listing = "; ".join(
        f"{s.url} serves {'the folder ' if s.serves_folder else ''}{s.serves}" for s in served
    )
    return f"Run %open {file or 'PATH'} with one of these notebooks: no tab has them open ({listing})."


class Targeter:
    """Holds the current target and the token; resolves lazily on first use."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.token: str | None = env_value(env, "MARIMO_TOKEN")
        self.env_url = env_value(env, "MARIMO_PAIR_URL")
        self.env_file = env_value(env, "MARIMO_PAIR_FILE")
        self.allow_remote = (env_value(env, ALLOW_REMOTE_ENV) or "").lower() in ("1", "true", "yes")
        self.gateway = under_gateway(env)  # why the environment may have been filtered, if it was
        self.env_missing = [name for name in PAIR_VARIABLES if not env_value(env, name)]
        self._warned_remote: set[str] = set()
        self.warnings: list[str] = []  # for the kernel to show once, then clear
        self.target: Target | None = None
        self._clients: dict[tuple[str, bool], MarimoClient] = {}
        self._url_tokens: dict[str, str] = {}  # access_token given inside a named URL
        self.wanted_path: str | None = None  # remembered across failures, for re-resolution
        self.wanted_url: str | None = None
        self._resolving = threading.RLock()

    # -- clients --------------------------------------------------------------------

    def client_for(self, url: str, *, allow_remote: bool = False, named: bool = False) -> MarimoClient:
        """A client for `url`. Only a `named` URL (one the user gave) gets the token."""
        in_url = token_in_url(url) if named else None
        url = normalize_url(url)
        if in_url:
            self._url_tokens[url] = in_url
        if not is_loopback(url) and not (allow_remote or self.allow_remote):
            raise RefusedURL(
                f"{display_url(url)} is not on this machine. Notebook code, outputs and your "
                f"token would be sent there, so the kernel refuses by default. If you trust it, "
                f"run %connect {display_url(url)} --allow-remote, or set {ALLOW_REMOTE_ENV}=1."
            )
        if not is_loopback(url) and url not in self._warned_remote:
            self._warned_remote.add(url)
            self.warnings.append(
                f"Warning: connecting to {display_url(url)}, which is not on this machine; "
                "code and outputs travel over the network."
            )
        client = self._clients.get((url, named))
        if client is None:
            token = (self.token or self._url_tokens.get(url)) if named else None
            client = self._clients[(url, named)] = MarimoClient(url, token)
        return client

    def token_for(self, client: MarimoClient) -> str | None:
        """The token `client` sends, for a second client of the same server (a worker's own)."""
        return (self.token or self._url_tokens.get(client.url)) if client.has_token else None

    def set_token(self, token: str | None) -> None:
        self.token = token or None
        for c in self._clients.values():
            c.close()
        self._clients.clear()
        if self.target is not None:
            old = self.target.client
            named = old.has_token or old.url == self.wanted_url or old.url == _norm(self.env_url)
            self.target = Target(self.client_for(old.url, allow_remote=True, named=named), self.target.notebook)

    def close(self) -> None:
        for c in self._clients.values():
            c.close()
        self._clients.clear()

    # -- selection ---------------------------------------------------------------------

    def current(self) -> Target:
        # The kernel's warm-up and completion threads resolve too: one resolution at a time.
        with self._resolving:
            if self.target is None:
                self.target = self.resolve()
                # Stick to this file from now on (see the module docstring).
                self.wanted_path = self.wanted_path or self.target.path
            return self.target

    def forget(self) -> None:
        self.target = None

    def resolve(self) -> Target:
        url = self.wanted_url or self.env_url
        path = self.wanted_path or self.env_file
        if url:
            try:
                return self.connect_url(url, file=path, remember=False)
            except (NoTargetError, ConnectionFailed, ServerUnreachable):
                if not path:
                    raise
                # The server at that URL is gone; the notebook may be open elsewhere now.
        return self.auto(file=path)

    def auto(self, file: str | None = None, index: int | None = None) -> Target:
        found = discovery.discover()
        candidates = found.notebooks
        if index is not None:
            # The number is %discover's # column, counted over every open notebook.
            if not 0 <= index < len(candidates):
                raise NoNotebookError(
                    f"There is no notebook number {index}: {len(candidates)} "
                    f"{'is' if len(candidates) == 1 else 'are'} open, numbered from 0: {_describe(found)}."
                    + (" Choose one with %connect N." if candidates else
                       " " + (_tabless_lead(found) or "Run %open NOTEBOOK.py to let the kernel start marimo for one."))
                )
            candidates = [candidates[index]]
            if file and not same_path(candidates[0][1].path, file):
                raise NoNotebookError(
                    f"Notebook number {index} is {candidates[0][1].path}, not {file}. "
                    "Use %connect N alone, or %connect URL --file PATH."
                )
        if file:
            candidates = [(s, nb) for s, nb in candidates if same_path(nb.path, file)]
            if not candidates:
                raise NoNotebookError(
                    _tabless_lead(found, file)
                    or f"No live marimo server has {file} open (open notebooks: {_describe(found)}). "
                    f"Run %open {file}: the kernel starts marimo for it."
                )
        if not candidates:
            stale = f" ({len(found.stale)} stale registry entries ignored)" if found.stale else ""
            if self.gateway and not (self.env_url or self.env_file):
                raise NoNotebookError(
                    "No open marimo notebook was found" + stale + ", and this kernel runs under a "
                    f"Jupyter gateway ({self.gateway}), which passes a kernel only PATH and the "
                    f"variables it is told to pass: {', '.join(self.env_missing)} did not arrive. "
                    "Whitelist them where the gateway runs (Kernel Gateway: KG_ENV_PROCESS_WHITELIST="
                    f"{','.join(PAIR_VARIABLES)}), or send them with the kernel request prefixed "
                    "KERNEL_ (KERNEL_MARIMO_PAIR_URL=…), which every gateway passes; then start a new "
                    "kernel. In this one, %connect URL or %open NOTEBOOK.py works too."
                )
            if lead := _tabless_lead(found):
                raise NoNotebookError(lead)
            raise NoNotebookError(
                "No open marimo notebook was found" + stale + ". Run "
                "%open NOTEBOOK.py to let the kernel start marimo for one, or open one in marimo "
                "(in a terminal: marimo edit NOTEBOOK.py --no-token) and run %connect. For a "
                "server started with a token, run %token, then %connect URL."
            )
        if len(candidates) > 1:
            number = {id(nb): i for i, (_, nb) in enumerate(found.notebooks)}
            listing = "; ".join(f"[{number[id(nb)]}] {s.url} → {nb.path}" for s, nb in candidates)
            raise SeveralNotebooksError(
                f"{len(candidates)} notebooks are open: {listing}. Choose one with %connect N "
                "(the number in brackets), or %connect URL --session ID."
            )
        server, nb = candidates[0]
        client = self.client_for(server.url)
        client.check_version(server.version)
        return Target(client, nb)

    def connect_url(
        self,
        url: str,
        *,
        file: str | None = None,
        session: str | None = None,
        allow_remote: bool = False,
        remember: bool = True,
    ) -> Target:
        client = self.client_for(url, allow_remote=allow_remote, named=True)
        notebooks = client.sessions()  # raises ConnectionFailed/AuthError with advice
        client.check_version()
        if session:
            matches = [nb for nb in notebooks if session in (nb.session_id, nb.key)]
        elif file:
            matches = [nb for nb in notebooks if same_path(nb.path, file)]
        else:
            matches = list(notebooks)
        if len(matches) != 1:
            listing = ", ".join(f"{nb.path} (session {nb.session_id or nb.key})" for nb in notebooks)
            shown = client.shown_url
            if not notebooks:
                raise NoNotebookError(
                    f"{shown} has no notebook open. Open one there in a browser ({shown}), "
                    f"then run %connect {shown} again; or run %open {file or 'PATH'}."
                )
            if not matches:
                what = f"session {session}" if session else file
                raise NoNotebookError(
                    f"{shown} has no open session for {what} (open: {listing}). Pick one of "
                    f"those with %connect {shown} --file PATH, or run %open {file or 'PATH'}."
                )
            raise SeveralNotebooksError(
                f"{shown} has {len(matches)} open notebooks: {listing}. Choose one with "
                f"%connect {shown} --session ID" + ("" if file else " (or --file PATH)") + "."
            )
        target = Target(client, matches[0])
        if remember:
            self.wanted_url = client.url
            self.wanted_path = target.path
        return target

    def choose(self, target: Target) -> Target:
        self.target = target
        self.wanted_url = target.client.url
        self.wanted_path = target.path
        return target

    def refind(self, old: Target) -> Target:
        """The session went away: find the same file again, on the same server first."""
        path = old.path
        server_up = True
        if path:
            try:
                notebooks = old.client.sessions()
            except Exception:  # noqa: BLE001 - any failure here means: look elsewhere
                notebooks = ()
                server_up = False
            same = [nb for nb in notebooks if same_path(nb.path, path)]
            if len(same) >= 1:
                self.target = Target(old.client, same[0])
                return self.target
            try:
                self.target = self.auto(file=path)
                self.wanted_url = self.target.client.url
                return self.target
            except NoTargetError:
                pass
        self.target = None
        where = (
            f"is no longer open on {old.url}"
            if server_up
            else f"is gone: the marimo server at {old.url} is not running any more"
        )
        name = f"notebook {path}" if path else "notebook (it has no file)"
        raise NoNotebookError(
            f"The {name} {where}, and no live server has it open. Run %open {path or 'PATH'} "
            "to open it again (starting marimo for it if needed), or %discover to see what is open."
        )


# What a kernel under a gateway needs passed to it (docs/remote.md).
PAIR_VARIABLES = ("MARIMO_PAIR_URL", "MARIMO_PAIR_FILE", "MARIMO_TOKEN", "XDG_STATE_HOME",
                  ALLOW_REMOTE_ENV, "MARIMO_PAIR_CA")


def env_value(env: Mapping[str, str], name: str) -> str | None:
    """`name`, or else `KERNEL_<name>`: gateways pass every KERNEL_* variable a client sends
    with its kernel request (Kernel Gateway, Enterprise Gateway, jupyter_server's
    GatewayClient), so that prefix reaches a kernel without any gateway configuration."""
    return env.get(name) or env.get("KERNEL_" + name) or None


def under_gateway(env: Mapping[str, str]) -> str | None:
    """The sign that a Jupyter gateway started this kernel (and filtered its environment)."""
    if env.get("KERNEL_GATEWAY") == "1":  # Jupyter Kernel Gateway sets it for every kernel
        return "KERNEL_GATEWAY=1"
    for name in ("KERNEL_ID", "KERNEL_LAUNCH_TIMEOUT"):  # Enterprise Gateway; GatewayClient
        if env.get(name):
            return f"{name} is set"
    if env.get("PATH") and not any(env.get(n) for n in ("HOME", "USER", "LOGNAME")):
        return "the environment has PATH but no HOME or USER"
    return None


def _norm(url: str | None) -> str | None:
    try:
        return normalize_url(url) if url else None
    except RefusedURL:
        return None
