"""Recipes (docs/remote.md): the kernel served by Jupyter Kernel Gateway, directly and behind
`jupyter server --GatewayClient.url`, and what the kernel says when the gateway filtered
its environment.

Real components: `jupyter kernelgateway` (twice: one with the environment whitelist, one
without) and `jupyter server` pointed at the first through JUPYTER_GATEWAY_URL.
A gateway passes a kernel the request's `env` filtered: PATH, the names in
KG_ENV_PROCESS_WHITELIST (from the gateway's own environment), KERNEL_* names and the
names in KG_ENV_WHITELIST (from the request). jupyter_server's GatewayClient always sends
an `env`, so the tests do too.
"""

from __future__ import annotations

import time

import pytest
from recipes_support import PAIR_VARIABLES, Service, server_config
from test_client_server import KernelSocket, of

from marimo_pair_kernel import discovery

KERNEL = "marimo-pair"


@pytest.fixture(scope="module")
def services(server, tmp_path_factory):
    """(whitelisting gateway, bare gateway, jupyter server through the first), started together."""
    root = tmp_path_factory.mktemp("gateway")
    started: list[Service] = []
    try:
        listed = "--JupyterWebsocketPersonality.list_kernels=True"
        wl = Service.kernel_gateway(root, {"XDG_STATE_HOME": str(server.state_home),
                                           "KG_ENV_PROCESS_WHITELIST": PAIR_VARIABLES}, listed)
        started.append(wl)
        (root / "bare").mkdir()
        bare = Service.kernel_gateway(root / "bare", {"XDG_STATE_HOME": str(root / "no-state"),
                                                      "KG_ENV_WHITELIST": "MARIMO_PAIR_URL,MARIMO_PAIR_FILE"})
        started.append(bare)
        (root / "js").mkdir()
        js = Service.jupyter_server(root / "js", {"JUPYTER_GATEWAY_URL": wl.url,
                                                  "JUPYTER_GATEWAY_AUTH_TOKEN": wl.token}, config=server_config())
        started.append(js)
        for s in started:
            s.wait_ready()
        yield wl, bare, js
    finally:
        for s in started:
            s.stop()


def _kernel(service: Service, env: dict[str, str] | None = None) -> tuple[str, KernelSocket]:
    body: dict = {"name": KERNEL, "env": env if env is not None else {}}
    r = service.http.post("/api/kernels", json=body)
    assert r.status_code == 201, r.text
    kid = r.json()["id"]
    sock = KernelSocket(service.ws_url(kid), service.token)
    sock.collect(sock.send("kernel_info_request", {}), timeout=60)
    return kid, sock


def _close(service: Service, kid: str, sock: KernelSocket) -> None:
    sock.close()
    service.http.delete(f"/api/kernels/{kid}")


def _value(sock: KernelSocket, code: str) -> str:
    iopub, reply = sock.execute(code, timeout=60)
    assert reply["content"]["status"] == "ok", reply["content"]
    return of(iopub, "execute_result")[0]["data"]["text/plain"]


def test_kernel_gateway_with_the_whitelist(services):
    wl, _, _ = services
    kid, sock = _kernel(wl)
    try:
        assert _value(sock, "answer") == "42"
        iopub, _ = sock.execute("print('through the gateway')")
        assert "".join(c["text"] for c in of(iopub, "stream")) == "through the gateway\n"

        # Interrupt through the gateway's REST API stops the marimo execution.
        msg_id = sock.start_sleeping()
        t0 = time.monotonic()
        assert wl.http.post(f"/api/kernels/{kid}/interrupt").status_code == 204
        _, reply = sock.collect(msg_id, timeout=30)
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        assert time.monotonic() - t0 < 15
        assert _value(sock, "answer") == "42"
    finally:
        _close(wl, kid, sock)


def test_jupyter_server_through_the_gateway(services, server):
    wl, _, js = services
    kid, sock = _kernel(js)  # created through jupyter server's own REST API, as JupyterLab does
    try:
        assert kid in [k["id"] for k in wl.http.get("/api/kernels").json()], "the kernel is not on the gateway"
        assert _value(sock, "answer") == "42"
        iopub, reply = sock.execute("%%cell --name via_gateway\nvia_gateway = answer * 10\n")
        assert reply["content"]["status"] == "ok", reply["content"]
        assert any(c["name"] == "via_gateway" for c in server.cells())
    finally:
        _close(js, kid, sock)


def test_filtered_environment_is_explained(services):
    _, bare, _ = services
    # The kernel gets no XDG_STATE_HOME there, so it reads the default registry: the one below.
    if discovery.discover(discovery.registry_dir({})).notebooks:
        pytest.skip("a marimo notebook is open in this user's default registry, which a kernel with "
                    "a filtered environment finds (so there is no 'nothing found' to explain)")
    kid, sock = _kernel(bare)
    try:
        iopub, reply = sock.execute("answer", timeout=60)
        content = reply["content"]
        assert content["status"] == "error"
        assert content["ename"] == "NoNotebookError", content
        text = content["evalue"]
        for phrase in ("Jupyter gateway", "KERNEL_GATEWAY=1", f"KG_ENV_PROCESS_WHITELIST={PAIR_VARIABLES}",
                       "KERNEL_MARIMO_PAIR_URL", "%connect URL"):
            assert phrase in text, (phrase, text)
        assert len(of(iopub, "error")) == 1
    finally:
        _close(bare, kid, sock)


@pytest.mark.parametrize("name", ["MARIMO_PAIR_URL", "KERNEL_MARIMO_PAIR_URL"])
def test_environment_sent_with_the_request(services, server, name):
    # MARIMO_PAIR_URL passes because the gateway allows it (KG_ENV_WHITELIST); the KERNEL_
    # form passes any gateway without configuration.
    _, bare, _ = services
    kid, sock = _kernel(bare, {name: server.url})
    try:
        assert _value(sock, "answer") == "42"
    finally:
        _close(bare, kid, sock)


def test_gateway_signs_and_kernel_prefixed_variables():
    from marimo_pair_kernel.target import env_value, under_gateway

    assert under_gateway({"PATH": "/bin", "KERNEL_GATEWAY": "1"}) == "KERNEL_GATEWAY=1"
    assert under_gateway({"PATH": "/bin", "HOME": "/h", "KERNEL_ID": "k1"}) == "KERNEL_ID is set"
    assert under_gateway({"PATH": "/bin", "JPY_PARENT_PID": "1"})  # reduced to PATH
    assert under_gateway({"PATH": "/bin", "HOME": "/h", "USER": "me"}) is None  # an ordinary login
    # The plain name wins over the KERNEL_ form; empty values count as unset.
    env = {"MARIMO_PAIR_URL": "http://a", "KERNEL_MARIMO_PAIR_URL": "http://b", "KERNEL_MARIMO_PAIR_FILE": "f.py",
           "MARIMO_TOKEN": ""}
    assert env_value(env, "MARIMO_PAIR_URL") == "http://a"
    assert env_value(env, "MARIMO_PAIR_FILE") == "f.py"
    assert env_value(env, "MARIMO_TOKEN") is None
