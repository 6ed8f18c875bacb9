"""Recipe (docs/remote.md): marimo behind a base URL, as under a JupyterHub-style proxy.

A real `marimo edit --base-url /marimo`: the kernel finds it through marimo's registry
(which records the prefix) and by a URL that includes the prefix; a URL typed without the
prefix gets one error that names the URL to use, in bounded time.
"""

from __future__ import annotations

import time

import pytest
from faults_support import LoggedKernel
from recipes_support import PrefixedMarimo


@pytest.fixture(scope="module")
def prefixed(tmp_path_factory):
    srv = PrefixedMarimo.start_prefixed(tmp_path_factory.mktemp("prefixed"))
    try:
        yield srv
    finally:
        srv.stop()


def test_found_through_the_registry(prefixed, tmp_path):
    with LoggedKernel({"XDG_STATE_HOME": str(prefixed.state_home)}, tmp_path / "k.log") as k:
        run = k.execute("answer")
        assert run.status == "ok", run.content
        assert run.result["text/plain"] == "42"
        status = k.execute("%status").listing["application/vnd.marimo-pair+json"]
        assert status["url"].endswith("/marimo"), status


def test_url_with_the_prefix(prefixed, tmp_path):
    env = {"MARIMO_PAIR_URL": prefixed.url, "XDG_STATE_HOME": str(tmp_path / "empty")}
    with LoggedKernel(env, tmp_path / "k.log") as k:
        assert k.execute("answer").result["text/plain"] == "42"
        cell = k.execute("%%cell --name via_prefix\nvia_prefix = answer + 1\n")
        assert cell.status == "ok", cell.content
        assert any(c["name"] == "via_prefix" for c in prefixed.cells())


@pytest.mark.parametrize("registry", [True, False], ids=["registry-knows-prefix", "token-server-style"])
def test_url_without_the_prefix_names_it(prefixed, tmp_path, registry):
    # With the registry readable the error names the exact URL; without (a token server never
    # registers), it still says what is missing and how to write it.
    state = prefixed.state_home if registry else tmp_path / "empty"
    env = {"XDG_STATE_HOME": str(state)}
    with LoggedKernel(env, tmp_path / "k.log") as k:
        t0 = time.monotonic()
        run = k.execute(f"%connect {prefixed.root_url}")
        assert time.monotonic() - t0 < 10
        assert run.content["ename"] == "ConnectionError", run.content
        text = run.content["evalue"]
        assert "--base-url" in text and "include that prefix" in text
        if registry:
            assert f"MARIMO_PAIR_URL={prefixed.url}" in text and "runs under /marimo" in text
        else:
            assert f"MARIMO_PAIR_URL={prefixed.root_url}/PREFIX" in text
