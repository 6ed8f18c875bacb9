"""Recipes (docs/agents.md): an agent through the two other MCP servers on PyPI that give it a
Jupyter kernel, each server in a venv of its own (as `uvx` runs it) with the versions pinned
as tested (tests/agents_support.py), the agent being the `mcp` SDK over stdio.

- mcp-jupyter 2.0.2 drives a running Jupyter server. The kernel name `python3` is fixed in its
  code, so the notebook and its `marimo-pair` session are created first (REST); its
  `setup_notebook` then reuses that session.
- jupyter-kernel-mcp 0.2.0 starts kernels itself, always from the `python3` kernelspec: the
  alias `marimo-pair-kernel install --name python3 --prefix DIR`, found through JUPYTER_PATH.

One marimo server, in a throwaway venv that sees this Python's packages, so that a package
install lands there and nowhere else.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest
from agents_support import JUPYTER_KERNEL_MCP, MCP_JUPYTER, cached_venv, make_wheel
from recipes_support import Service, clean_env, server_config
from support import MarimoServer, stop_group

pytestmark = pytest.mark.timeout(900)

AGENT = Path(__file__).with_name("agent_stdio.py")
PAIR_JSON = "application/vnd.marimo-pair+json"
DATAFRAME = "import pandas as pd\npd.DataFrame({'species': ['Adelie', 'Gentoo'], 'mass_g': [3700, 5076]})"
NAMED_CELL = "%%cell --name {name}\n{name} = seed * 2\nprint({name})"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """marimo in a venv of its own that sees this Python's packages (through a .pth file)."""
    import sysconfig
    import venv

    root = tmp_path_factory.mktemp("agents")
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    site = next((env_dir / "lib").glob("python*/site-packages"))
    dirs = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
                          *(p for p in sys.path if p.endswith("site-packages"))])
    (site / "_marimo_pair_tests.pth").write_text("".join(d + "\n" for d in dirs))
    srv = MarimoServer.start(root / "nb", python=str(env_dir / "bin" / "python"))
    srv.site = site  # type: ignore[attr-defined]
    try:
        yield srv
    finally:
        srv.stop()


def run_agent(bin_dir: Path, command: list[str], env: dict[str, str], calls: list[tuple[str, dict]],
              work: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """The agent's session: (the server's tool names, what each call returned)."""
    marker = uuid.uuid4().hex  # every process of this session carries it, for the clean-up below
    plan = work / "plan.json"
    plan.write_text(json.dumps({"command": command, "env": {**env, "MPK_AGENT_RUN": marker}, "calls": calls}))
    proc = subprocess.Popen([str(bin_dir / "python"), str(AGENT), str(plan)], cwd=work, env=clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=600)
    finally:
        stop_group(proc)
        _stop_marked(marker)
    assert proc.returncode == 0, err[-4000:]
    tools, *results = json.loads(out)
    return tools, results


def _stop_marked(marker: str) -> None:
    """Whatever the session left running (the MCP server, a kernel it started), found by marker."""
    left = []
    for p in psutil.process_iter():
        try:
            if p.environ().get("MPK_AGENT_RUN") == marker:
                p.kill()
                left.append(p)
        except (psutil.Error, OSError):
            pass
    psutil.wait_procs(left, timeout=10)


def by_tool(results: list[dict[str, Any]]) -> list[str]:
    for r in results:
        assert not r["is_error"], r
    return [r["text"] for r in results]


# -- mcp-jupyter --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jupyter(server, tmp_path_factory):
    js = Service.jupyter_server(tmp_path_factory.mktemp("mcp-jupyter"), {"XDG_STATE_HOME": str(server.state_home)},
                                config=server_config())
    try:
        yield js.wait_ready()
    finally:
        js.stop()


def test_mcp_jupyter_recipe(jupyter, server, tmp_path):
    bin_dir = cached_venv(MCP_JUPYTER)
    # 1. The notebook, with the marimo-pair kernelspec, and its session: before the agent starts.
    nb = {"type": "notebook", "content": {
        "metadata": {"kernelspec": {"name": "marimo-pair", "display_name": "marimo (pair)", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5, "cells": []}}
    assert jupyter.http.put("/api/contents/pair.ipynb", json=nb).status_code == 201
    made = jupyter.http.post("/api/sessions", json={
        "path": "pair.ipynb", "name": "pair.ipynb", "type": "notebook", "kernel": {"name": "marimo-pair"}})
    assert made.status_code == 201, made.text
    session = made.json()
    wheel = make_wheel(tmp_path)
    try:
        def add(code: str) -> tuple[str, dict]:
            return ("modify_notebook_cells", {"notebook_path": "pair", "operation": "add_code", "cell_content": code})

        codes = ("seed + 1", DATAFRAME, "%cells", "1/0", NAMED_CELL.format(name="from_goose"))
        calls = [("setup_notebook", {"notebook_path": "pair", "server_url": jupyter.url}), *map(add, codes),
                 ("execute_notebook_code", {"notebook_path": "pair", "execution_type": "install_packages",
                                            "package_names": str(wheel)}),
                 add(f"%pip install {wheel}"), add("import mpk_agent_pkg\nmpk_agent_pkg.VALUE")]
        # 2. The agent: mcp-jupyter over stdio, the Jupyter token in its environment as TOKEN.
        tools, results = run_agent(bin_dir, [str(bin_dir / "mcp-jupyter")], {"TOKEN": jupyter.token},
                                   calls, tmp_path)
        # The session made in step 1 is the only one: setup_notebook started no python3 kernel.
        sessions = jupyter.http.get("/api/sessions").json()
        assert [s["kernel"]["name"] for s in sessions] == ["marimo-pair"], sessions
        assert [k["name"] for k in jupyter.http.get("/api/kernels").json()] == ["marimo-pair"]
    finally:
        jupyter.http.delete(f"/api/sessions/{session['id']}")
    assert tools == ["execute_notebook_code", "modify_notebook_cells", "query_notebook", "setup_notebook"]
    setup, value, frame, listing, error, cell, install, pip, imported = by_tool(results)
    assert "pair.ipynb already exists" in setup, setup

    def outputs(text: str) -> list[dict[str, Any]]:
        return json.loads(text)["outputs"]

    [out] = outputs(value)
    assert out["output_type"] == "execute_result" and out["data"]["text/plain"] == "42", value
    [out] = outputs(frame)
    assert "Adelie" in out["data"]["text/plain"] and "5076" in out["data"]["text/plain"], frame
    assert "<table" in out["data"]["text/html"]
    [out] = outputs(listing)
    assert out["output_type"] == "execute_result" and "seed = 41" in out["data"]["text/plain"], listing
    assert {"seed", "answer"} <= {d for c in out["data"][PAIR_JSON]["cells"] for d in c["defs"]}
    [out] = outputs(error)
    assert out["output_type"] == "error" and out["ename"] == "ZeroDivisionError", error
    streamed = "".join(o.get("text", "") for o in outputs(cell))
    assert "82" in streamed and "(from_goose)" in streamed, cell
    assert [c["name"] for c in server.cells()].count("from_goose") == 1
    # install_packages sends `!uv pip install NAME`: a cell of its own, so marimo's package manager
    # installs it (as %pip does) ...
    assert "Installation of packages" in install and "Error" not in install, install
    assert "`uv pip install` runs through marimo's package manager" in install, install
    assert "Successfully installed mpk-agent-pkg" in install, install
    # ... and %pip in a cell does the same (already there): into the notebook's environment, importable.
    assert json.loads(pip)["status"] == "ok", pip
    assert list(server.site.glob("mpk_agent_pkg*"))
    [out] = outputs(imported)
    assert out["data"]["text/plain"] == "42", imported


# -- jupyter-kernel-mcp -------------------------------------------------------------------------


def test_jupyter_kernel_mcp_recipe(server, tmp_path):
    bin_dir = cached_venv(JUPYTER_KERNEL_MCP)
    # 1. The alias: a `python3` kernelspec that runs marimo-pair, in a folder of its own.
    alias = tmp_path / "pair-as-python3"
    subprocess.run([sys.executable, "-m", "marimo_pair_kernel.cli", "install", "--name", "python3",
                    "--prefix", str(alias)], check=True, timeout=60, env=clean_env())
    spec = json.loads((alias / "share/jupyter/kernels/python3/kernel.json").read_text())
    python = spec["argv"][0]  # the Python that has marimo-pair-kernel: the agent's env_path
    # 2. The agent: jupyter-kernel-mcp over stdio, JUPYTER_PATH in its environment.
    env = {"JUPYTER_PATH": str(alias / "share/jupyter"), "XDG_STATE_HOME": str(server.state_home)}
    env.update({k: v for k, v in clean_env().items() if k == "PYTHONPATH"})  # this checkout's kernel
    wheel = make_wheel(tmp_path, name="mpk_agent_pkg2")  # no install tool: %pip through execute_code
    calls = [("start_kernel", {"env_path": python, "kernel_id": "pair"})]
    calls += [("execute_code", {"code": code, "kernel_id": "pair", "timeout": 120})
              for code in ("seed + 1", DATAFRAME, "%cells", "1/0", NAMED_CELL.format(name="from_kmcp"), "from_kmcp",
                           f"%pip install {wheel}", "import mpk_agent_pkg2\nmpk_agent_pkg2.VALUE",
                           "kept = seed * 10", "kept + 1")]
    calls.append(("stop_kernel", {"kernel_id": "pair"}))
    tools, results = run_agent(bin_dir, [str(bin_dir / "jupyter-kernel-mcp")], env, calls, tmp_path)
    assert {"start_kernel", "execute_code", "stop_kernel"} <= set(tools), tools
    answers = [json.loads(t) for t in by_tool(results)]
    started, value, frame, listing, error, cell, made, pip, imported, bound, kept, stopped = answers
    assert started["success"] is True, started
    assert value["success"] and value["result"] == "42", value
    assert "Adelie" in frame["result"] and "5076" in frame["result"], frame
    # A listing is an execute_result, the only rich output this server reads.
    assert "seed = 41" in listing["result"] and "answer" in listing["result"], listing
    assert error["success"] is False and error["error"]["name"] == "ZeroDivisionError", error
    streamed = "".join(cell["output"])
    assert cell["success"] and "82" in streamed and "(from_kmcp)" in streamed, cell
    assert [c["name"] for c in server.cells()].count("from_kmcp") == 1
    assert made["result"] == "82", made  # what the new cell defines, read back as a value
    assert pip["success"] and list(server.site.glob("mpk_agent_pkg2*")), pip
    assert imported["result"] == "42", imported
    # Variables persist between executions, as its tool description tells the agent.
    assert bound["success"] and kept["result"] == "411", (bound, kept)
    assert stopped["success"] is True, stopped
