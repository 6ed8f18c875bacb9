"""A server that is not on loopback is refused unless the user says so, and then warned about once.

No network is needed: the refusal happens before any connection (checked with a
recorder listening on this machine's own non-loopback address, and with an address
that routes nowhere), and the allowed path uses a real marimo bound to all interfaces,
reached through this machine's non-loopback address.
"""

from __future__ import annotations

import time

import pytest
from faults_support import LoggedKernel, Recorder, local_non_loopback_ipv4
from support import MarimoServer

LAN_IP = local_non_loopback_ipv4()
needs_lan_ip = pytest.mark.skipif(LAN_IP is None, reason="this machine has no non-loopback IPv4 address")
NOWHERE = "http://10.255.255.1:2718"


@pytest.fixture(scope="module")
def wide_server(tmp_path_factory):
    """A real marimo listening on every interface (so also on LAN_IP)."""
    if LAN_IP is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    srv = MarimoServer.start(tmp_path_factory.mktemp("marimo-wide"), extra_args=("--host", "0.0.0.0"))
    try:
        yield srv
    finally:
        srv.stop()


def _empty(tmp_path):
    return {"XDG_STATE_HOME": str(tmp_path / "empty-state")}


def test_refused_without_consent_and_nothing_is_sent(tmp_path):
    with Recorder(host=LAN_IP or "127.0.0.1") as rec, LoggedKernel(_empty(tmp_path), tmp_path / "k.log") as k:
        urls = [NOWHERE, "https://10.255.255.1", "http://example.invalid:2718"]
        if LAN_IP:
            urls.append(rec.url)
        for url in urls:
            t0 = time.monotonic()
            run = k.execute(f"%connect {url}")
            assert time.monotonic() - t0 < 5  # refused before any connection attempt
            assert run.content["ename"] == "RefusedURLError", run.content
            text = run.content["evalue"]
            assert "not on this machine" in text
            assert "--allow-remote" in text and "MARIMO_PAIR_ALLOW_REMOTE=1" in text
        assert rec.requests == []
    # The same through the environment: MARIMO_PAIR_URL alone is not consent.
    with Recorder(host=LAN_IP or "127.0.0.1") as rec:
        env = {**_empty(tmp_path), "MARIMO_PAIR_URL": rec.url if LAN_IP else NOWHERE}
        with LoggedKernel(env, tmp_path / "k2.log") as k:
            run = k.execute("1 + 1")
            assert run.content["ename"] == "RefusedURLError"
        assert rec.requests == []


def test_loopback_spellings_are_local(tmp_path):
    from marimo_pair_kernel.client import is_loopback

    for url in ("http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1", "http://127.1.2.3:1",
                "http://[::ffff:127.0.0.1]:1"):
        assert is_loopback(url), url
    # Names are not addresses: a DNS name that merely starts like one can point anywhere.
    for url in (NOWHERE, "http://0.0.0.0:1", "http://localhost.evil.com:1", "http://127.0.0.1.nip.io:1",
                "http://[::ffff:10.0.0.1]:1"):
        assert not is_loopback(url), url


@needs_lan_ip
def test_allow_remote_option_warns_once(wide_server, tmp_path):
    url = f"http://{LAN_IP}:{wide_server.port}"
    with LoggedKernel(_empty(tmp_path), tmp_path / "k.log") as k:
        run = k.execute(f"%connect {url} --allow-remote")
        assert run.status == "ok", run.content
        assert run.stderr.count("not on this machine") == 1
        again = k.execute("answer")
        assert again.result["text/plain"] == "42"
        assert "not on this machine" not in again.stderr
        assert "not on this machine" not in k.execute(f"%connect {url} --allow-remote").stderr


@needs_lan_ip
def test_allow_remote_environment_warns_once(wide_server, tmp_path):
    env = {**_empty(tmp_path), "MARIMO_PAIR_URL": f"http://{LAN_IP}:{wide_server.port}",
           "MARIMO_PAIR_ALLOW_REMOTE": "1"}
    with LoggedKernel(env, tmp_path / "k.log") as k:
        first = k.execute("answer")
        assert first.result["text/plain"] == "42"
        assert first.stderr.count("not on this machine") == 1  # with the first execute, not later
        second = k.execute("answer")
        assert "not on this machine" not in second.stderr
