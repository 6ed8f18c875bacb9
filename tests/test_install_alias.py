"""`marimo-pair-kernel install --name NAME [--display-name D] --prefix P`: the kernelspec under
another name, for tools that start only `python3` (jupyter-kernel-mcp, mcp-jupyter).

The alias lives in a folder of its own, found through JUPYTER_PATH by the one tool that needs
it; the user's real `python3` is never replaced.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from support import started_kernel

from marimo_pair_kernel.cli import main


@pytest.fixture(autouse=True)
def own_jupyter_dirs(tmp_path, monkeypatch):
    """Whatever these tests get wrong lands in tmp_path, never in a real Jupyter folder."""
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "user-data"))
    monkeypatch.delenv("JUPYTER_PATH", raising=False)


def test_alias_under_a_prefix_is_found_through_jupyter_path(tmp_path, capsys, monkeypatch):
    prefix = tmp_path / "alias"
    assert main(["install", "--name", "python3", "--display-name", "Python 3 (marimo-pair)",
                 "--prefix", str(prefix)]) == 0
    where = prefix / "share/jupyter/kernels/python3"
    assert capsys.readouterr().out.strip() == f"Installed kernelspec python3 in {where}"
    spec = json.loads((where / "kernel.json").read_text())
    assert spec["argv"][:3] == [sys.executable, "-m", "marimo_pair_kernel"]
    assert spec["display_name"] == "Python 3 (marimo-pair)"
    assert (where / "logo-64x64.png").exists()
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share/jupyter"))
    assert KernelSpecManager().get_kernel_spec("python3").resource_dir == str(where)
    # Reinstalling over our own alias is fine (a new Python, say).
    assert main(["install", "--name", "python3", "--prefix", str(prefix)]) == 0
    assert json.loads((where / "kernel.json").read_text())["display_name"] == "marimo (pair)"


def test_a_kernel_started_as_python3_is_marimo_pair(tmp_path, monkeypatch):
    prefix = tmp_path / "alias"
    assert main(["install", "--name", "python3", "--prefix", str(prefix)]) == 0
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share/jupyter"))  # read where the kernel is started
    with started_kernel({}, kernel_name="python3") as (km, kc):
        assert km.kernel_spec.resource_dir == str(prefix / "share/jupyter/kernels/python3")
        msg_id = kc.kernel_info()
        reply = kc.get_shell_msg(timeout=30)
        while reply["parent_header"]["msg_id"] != msg_id:  # late replies to wait_for_ready's own asks
            reply = kc.get_shell_msg(timeout=30)
        assert reply["content"]["implementation"] == "marimo-pair-kernel"


@pytest.mark.parametrize("where", [[], ["--user"], ["--sys-prefix"], ["--prefix", sys.prefix]])
def test_python3_alias_outside_a_prefix_of_its_own_is_refused(tmp_path, capsys, where):
    before = {p: p.stat().st_mtime for p in Path(sys.prefix, "share/jupyter/kernels").glob("*/kernel.json")}
    assert main(["install", "--name", "python3", *where]) == 2
    err = capsys.readouterr().err
    assert err.startswith("marimo-pair-kernel install: --name python3 needs --prefix DIR"), err
    assert "JUPYTER_PATH=DIR/share/jupyter" in err and "Traceback" not in err
    assert not (tmp_path / "user-data" / "kernels" / "python3").exists()
    after = {p: p.stat().st_mtime for p in Path(sys.prefix, "share/jupyter/kernels").glob("*/kernel.json")}
    assert after == before


def test_a_kernelspec_that_is_not_ours_is_never_replaced(tmp_path, capsys):
    prefix = tmp_path / "prefix"
    theirs = prefix / "share/jupyter/kernels/python3"
    theirs.mkdir(parents=True)
    real = {"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (ipykernel)", "language": "python"}
    (theirs / "kernel.json").write_text(json.dumps(real))
    for name in ("python3", "other"):  # any name: here python3, and a second test of the rule
        if name == "other":
            (prefix / "share/jupyter/kernels/other").mkdir()
            (prefix / "share/jupyter/kernels/other/kernel.json").write_text(json.dumps(real))
        assert main(["install", "--name", name, "--prefix", str(prefix)]) == 2
        err = capsys.readouterr().err
        assert "already holds a kernelspec that is not marimo-pair's" in err, err
        assert "ipykernel_launcher" in err and "delete that folder first" in err
    assert json.loads((theirs / "kernel.json").read_text()) == real


def test_default_name_is_unchanged(tmp_path, capsys):
    assert main(["install", "--prefix", str(tmp_path / "p")]) == 0
    spec = json.loads((tmp_path / "p/share/jupyter/kernels/marimo-pair/kernel.json").read_text())
    assert spec["display_name"] == "marimo (pair)" and os.path.basename(spec["argv"][0]).startswith("python")
