"""Recipe (docs/agents.md): an agent pairs through jupyter-mcp-server on the marimo-pair kernel.

Real components: `jupyter server` with the jupyter-mcp-server extension (MCP over streamable
HTTP at /mcp), jupyter-mcp-server as a separate stdio process, and the `mcp` SDK's client
as the agent. jupyter-mcp-server starts `python3` kernels by itself, so the agent creates a
`marimo-pair` kernel (POST /api/kernels) and hands its id to `use_notebook`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from recipes_support import EXTENSIONS_FOR_NOTEBOOKS, Service, server_config

PAIR_JSON = "application/vnd.marimo-pair+json"


@pytest.fixture(scope="module")
def jupyter(server, tmp_path_factory):
    """jupyter server with the MCP extension; its kernels find `server`'s notebook."""
    config = server_config(
        keep=EXTENSIONS_FOR_NOTEBOOKS,
        # No default document and no kernel of its own: the agent chooses both.
        JupyterMCPServerExtensionApp={"document_id": "", "start_new_code_sandbox": False},
    )
    js = Service.jupyter_server(tmp_path_factory.mktemp("mcp"), {"XDG_STATE_HOME": str(server.state_home)},
                                config=config)
    try:
        yield js.wait_ready()
    finally:
        js.stop()


@pytest.fixture(scope="module")
def kernel_id(jupyter):
    r = jupyter.http.post("/api/kernels", json={"name": "marimo-pair"})
    assert r.status_code == 201, r.text
    kid = r.json()["id"]
    try:
        yield kid
    finally:
        jupyter.http.delete(f"/api/kernels/{kid}")


def _text(result: Any) -> str:
    return "\n".join(getattr(item, "text", "") for item in result.content)


def _http_agent(jupyter: Service) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"token {jupyter.token}"},
                              timeout=httpx2.Timeout(30, read=300))
    return Client(streamable_http_client(f"{jupyter.url}/mcp", http_client=http))


def test_extension_mode(jupyter, kernel_id, server):
    async def agent() -> dict[str, str]:
        seen: dict[str, str] = {}
        async with _http_agent(jupyter) as mcp:
            used = await mcp.call_tool("use_notebook", {
                "notebook_name": "pair", "notebook_path": "agent.ipynb", "mode": "create", "kernel_id": kernel_id})
            seen["use"] = _text(used)
            seen["value"] = _text(await mcp.call_tool("execute_code", {"code": "seed + 1"}))
            seen["print"] = _text(await mcp.call_tool("execute_code", {"code": "print('hi')"}))
            seen["error"] = _text(await mcp.call_tool("execute_code", {"code": "1/0"}))
            seen["bad"] = _text(await mcp.call_tool("execute_code", {"code": "%cell frobnicate"}))
            source = "%%cell --name from_agent\nfrom_agent = seed * 2\nprint(from_agent)"
            cell = {"cell_index": -1, "cell_source": source}
            seen["cell"] = _text(await mcp.call_tool("insert_execute_code_cell", cell))
            seen["again"] = _text(await mcp.call_tool("insert_execute_code_cell", cell))  # same name: replaced
            seen["cells"] = _text(await mcp.call_tool("insert_execute_code_cell", {
                "cell_index": -1, "cell_source": "%cells"}))
            notebook = await mcp.read_resource("notebook://pair")
            seen["notebook"] = notebook.contents[0].text  # type: ignore[union-attr]
        return seen

    seen = asyncio.run(agent())
    assert f"Connected to kernel '{kernel_id}'" in seen["use"], seen["use"]
    assert seen["value"] == "42"
    assert seen["print"].strip() == "hi"
    assert "Traceback" in seen["error"]
    assert "ZeroDivisionError: division by zero" in seen["error"]
    assert "usage: %cell" in seen["bad"], seen["bad"]
    assert "82" in seen["cell"] and "(from_agent)" in seen["cell"], seen["cell"]
    assert "edited code of cell" in seen["again"] and "(from_agent)" in seen["again"], seen["again"]
    assert [c["name"] for c in server.cells()].count("from_agent") == 1
    assert "from_agent" in seen["cells"]  # the tool shows text/plain: the aligned table

    # The machine-readable listing is in the notebook document, under its own mimetype.
    doc = json.loads(seen["notebook"])
    listings = [o["data"][PAIR_JSON] for c in doc["cells"] for o in c.get("outputs", [])
                if PAIR_JSON in o.get("data", {})]
    assert listings, "no listing JSON in the notebook"
    assert {o["output_type"] for c in doc["cells"] for o in c.get("outputs", [])
            if PAIR_JSON in o.get("data", {})} == {"execute_result"}  # Out[n], as IPython
    assert {"seed", "answer", "from_agent"} <= {d for c in listings[-1]["cells"] for d in c["defs"]}


def test_extension_mode_timeout_then_interrupt(jupyter, kernel_id):
    # In extension mode, execute_code's timeout stops waiting but does not interrupt the
    # kernel; the agent interrupts it through the REST API, then carries on.
    async def agent() -> tuple[str, str, float]:
        async with _http_agent(jupyter) as mcp:
            await mcp.call_tool("use_notebook", {
                "notebook_name": "pair", "notebook_path": "agent.ipynb", "mode": "connect", "kernel_id": kernel_id})
            slow = _text(await mcp.call_tool("execute_code", {"code": "import time; time.sleep(60)", "timeout": 2}))
            r = jupyter.http.post(f"/api/kernels/{kernel_id}/interrupt")
            assert r.status_code == 204
            t0 = time.monotonic()
            after = _text(await mcp.call_tool("execute_code", {"code": "answer", "timeout": 20}))
            return slow, after, time.monotonic() - t0

    slow, after, took = asyncio.run(agent())
    assert "TIMEOUT" in slow
    assert after == "42", after  # the sleep was stopped, or this would time out
    assert took < 15


def test_stdio_mode(jupyter, kernel_id, server):
    params = StdioServerParameters(
        # `jupyter-mcp-server start …` as docs/agents.md has it; run through this Python, so the
        # test does not depend on PATH.
        command=sys.executable, args=["-m", "jupyter_mcp_server", "start", "--transport", "stdio"],
        env={"JUPYTER_URL": jupyter.url, "JUPYTER_TOKEN": jupyter.token, "START_NEW_CODE_SANDBOX": "false"},
    )

    async def agent() -> dict[str, str]:
        seen: dict[str, str] = {}
        async with Client(params) as mcp:
            seen["use"] = _text(await mcp.call_tool("use_notebook", {
                "notebook_name": "pair", "notebook_path": "agent-stdio.ipynb", "mode": "create",
                "kernel_id": kernel_id}))
            seen["value"] = _text(await mcp.call_tool("execute_code", {"code": "seed + 1"}))
            seen["cell"] = _text(await mcp.call_tool("insert_execute_code_cell", {
                "cell_index": -1, "cell_source": "%%cell --name from_stdio\nfrom_stdio = seed + 2\n"}))
        return seen

    seen = asyncio.run(agent())
    assert f"Connected to kernel '{kernel_id}'" in seen["use"], seen["use"]
    assert seen["value"] == "42"
    assert "(from_stdio)" in seen["cell"], seen["cell"]
    assert any(c["name"] == "from_stdio" for c in server.cells())
