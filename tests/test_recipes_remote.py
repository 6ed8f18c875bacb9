"""Recipe (docs/remote.md): a notebook on another machine, reached over https with a token.

"Another machine" is played by a second loopback address (127.0.0.2) and, for the consent
check, this machine's own non-loopback address, with TLS from a private CA (trustme) in front
of a real marimo started with a token; no traffic leaves the machine. The same setup gives
each failure users meet there: a wrong token, an expired certificate, one for another host,
one from an unknown CA, https to a plain server, and a proxy that strips the event stream.
Each must be one clear error naming the fix, in bounded time, and the token never shows.
"""

from __future__ import annotations

import datetime
import os
import time

import pytest
import trustme
from faults_support import (
    LoggedKernel,
    Recorder,
    assert_secret_kept,
    local_non_loopback_ipv4,
    registry_entry,
)
from recipes_support import StrippingProxy, TlsTerminator
from support import MarimoServer

TOKEN = "tok-REMOTE-8c1d3e-never-shown"
WRONG = "tok-WRONG-41aa07-never-shown"
HOST = "127.0.0.2"  # Linux routes all of 127/8 to lo: a second address, like another machine's
LAN_IP = local_non_loopback_ipv4()
BOUND = 15.0  # seconds: every failure below must be reported well within this


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    """The token marimo behind TLS on several listeners, one per certificate."""
    root = tmp_path_factory.mktemp("remote")
    srv = MarimoServer.start(root / "marimo", token=TOKEN)
    ca = trustme.CA()
    ca_file = root / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    past = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    tls = TlsTerminator(srv.port)
    try:
        hosts = [HOST] + ([LAN_IP] if LAN_IP else [])
        urls = {
            "good": tls.listen(HOST, ca.issue_cert(*hosts)),
            "expired": tls.listen(HOST, ca.issue_cert(HOST, not_before=past,
                                                      not_after=past + datetime.timedelta(days=30))),
            "wrong_host": tls.listen(HOST, ca.issue_cert("marimo.example.org")),
            "unknown_ca": tls.listen(HOST, trustme.CA().issue_cert(HOST)),
        }
        if LAN_IP:
            urls["lan"] = tls.listen(LAN_IP, ca.issue_cert(*hosts))
        yield srv, tls, urls, ca_file
    finally:
        tls.close()
        srv.stop()


def test_remote_notebook_over_tls_with_token(remote, tmp_path):
    srv, tls, urls, ca_file = remote
    state = tmp_path / "state"
    with Recorder() as registry_server:
        # A server in the registry too: it must never see the token.
        registry_entry(state, pid=os.getpid(), port=registry_server.port)
        env = {"MARIMO_PAIR_URL": urls["good"], "MARIMO_TOKEN": TOKEN, "MARIMO_PAIR_CA": str(ca_file),
               "XDG_STATE_HOME": str(state)}
        before = len(tls.received)
        with LoggedKernel(env, tmp_path / "kernel.log", extra_arguments=["--debug"]) as k:
            run = k.execute("answer")
            assert run.status == "ok", run.content
            assert run.result["text/plain"] == "42"
            assert "not on this machine" not in run.stderr  # 127.0.0.2 is loopback: no consent needed
            assert k.execute("print('over tls')").stdout == "over tls\n"
            assert k.execute("1/0").content["ename"] == "ZeroDivisionError"
            status = k.execute("%status").listing
            assert status["application/vnd.marimo-pair+json"]["token"] == "set"
            k.execute("%discover")  # reads the registry: talks to registry_server, without the token
            assert_secret_kept(k, TOKEN)
    sent = b"".join(bytes(b) for b in tls.received[before:])
    requests = sent.count(b"HTTP/1.1\r\n")
    assert requests >= 3
    # Over the TLS connection, the token travels in the Authorization header of every
    # request and nowhere else (not in a URL, not in a body).
    assert sent.lower().count(b"authorization: bearer " + TOKEN.lower().encode()) == requests
    assert sent.count(TOKEN.encode()) == requests
    assert registry_server.requests, "the registry server was not consulted; the check proves nothing"
    assert all(TOKEN.encode() not in r.body and "authorization" not in r.headers for r in registry_server.requests)


@pytest.mark.skipif(LAN_IP is None, reason="this machine has no non-loopback IPv4 address to play a remote host")
def test_non_local_host_needs_consent(remote, tmp_path):
    srv, tls, urls, ca_file = remote
    url = urls["lan"]
    env = {"MARIMO_PAIR_URL": url, "MARIMO_TOKEN": TOKEN, "MARIMO_PAIR_CA": str(ca_file),
           "XDG_STATE_HOME": str(tmp_path / "empty")}
    before = len(tls.received)
    with LoggedKernel(env, tmp_path / "kernel.log") as k:
        refused = k.execute("answer")
        assert refused.content["ename"] == "RefusedURLError"
        text = refused.content["evalue"]
        assert "MARIMO_PAIR_ALLOW_REMOTE=1" in text and f"%connect {url} --allow-remote" in text
        assert len(tls.received) == before, "something was sent before consent"
        ok = k.execute(f"%connect {url} --allow-remote")
        assert ok.status == "ok", ok.content
        assert "not on this machine" in ok.stderr
        assert k.execute("answer").result["text/plain"] == "42"
        assert_secret_kept(k, TOKEN)
    with LoggedKernel({**env, "MARIMO_PAIR_ALLOW_REMOTE": "1"}, tmp_path / "kernel2.log") as k:
        assert k.execute("answer").result["text/plain"] == "42"


def _failure(k: LoggedKernel, code: str, ename: str, *phrases: str) -> str:
    t0 = time.monotonic()
    run = k.execute(code, timeout=BOUND * 2)
    took = time.monotonic() - t0
    assert run.status == "error", (code, run.content)
    assert run.content["ename"] == ename, (code, run.content)
    text = run.content["evalue"]
    for phrase in phrases:
        assert phrase in text, (code, phrase, text)
    assert took < BOUND, f"{code!r} took {took:.1f}s"
    assert "Traceback" not in run.stderr and len(run.of("error")) == 1
    return text


def test_each_failure_names_its_fix(remote, tmp_path):
    srv, tls, urls, ca_file = remote
    # SSL_CERT_FILE works as well as MARIMO_PAIR_CA (the client ignores the rest of the env).
    env = {"MARIMO_TOKEN": WRONG, "SSL_CERT_FILE": str(ca_file), "XDG_STATE_HOME": str(tmp_path / "empty")}
    with LoggedKernel(env, tmp_path / "kernel.log") as k:
        _failure(k, f"%connect {urls['good']}", "AuthenticationError", "refused the token", "%token", "MARIMO_TOKEN")
        _failure(k, f"%connect {urls['expired']}", "CertificateError", "has expired", "Renew the certificate")
        _failure(k, f"%connect {urls['wrong_host']}", "CertificateError", "issued for another name",
                 "MARIMO_PAIR_URL=https://")
        _failure(k, f"%connect {urls['unknown_ca']}", "CertificateError", "does not trust", "MARIMO_PAIR_CA=")
        _failure(k, f"%connect https://127.0.0.1:{srv.port}", "CertificateError", "does not speak TLS", "http://")
        plain = urls["good"].replace("https://", "http://")
        _failure(k, f"%connect {plain}", "ConnectionError", "use an https:// URL")
        _failure(k, "%connect https://127.0.0.2:1", "ConnectionError", "Is it running?")
        assert_secret_kept(k, WRONG)


@pytest.mark.parametrize("mode, ename, phrase", [
    ("empty", "OutcomeUnknownError", "empty event stream"),
    ("rewrite", "UnsupportedMarimoError", "did not answer with an event stream"),
])
def test_proxy_that_strips_the_event_stream(remote, tmp_path, mode, ename, phrase):
    srv, _, _, _ = remote
    proxy = StrippingProxy(srv.url, mode)
    try:
        env = {"MARIMO_PAIR_URL": proxy.url, "MARIMO_TOKEN": TOKEN, "XDG_STATE_HOME": str(tmp_path / "empty")}
        with LoggedKernel(env, tmp_path / "kernel.log") as k:
            text = _failure(k, "answer", ename, phrase, "outcome is unknown", "proxy_buffering off",
                            "unbuffered")
            assert proxy.executes >= 1
            assert "SSH tunnel" in text
            assert_secret_kept(k, TOKEN)
    finally:
        proxy.close()


def test_unreadable_ca_bundle_is_named():
    from marimo_pair_kernel.client import tls_verify
    from marimo_pair_kernel.errors import CertificateError

    with pytest.raises(CertificateError, match="MARIMO_PAIR_CA=/nonexistent/ca.pem cannot be used"):
        tls_verify({"MARIMO_PAIR_CA": "/nonexistent/ca.pem"})
