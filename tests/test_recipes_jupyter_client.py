"""Recipe (docs/agents.md, "Plain jupyter_client"): the documented block, run as written.

The block is taken from the document itself, so the document cannot drift from what works.
It runs in a process of its own (in its own process group, stopped here whatever happens),
with the environment a user would have: the notebook's registry, no MARIMO_* variables.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from recipes_support import clean_env
from support import stop_group

DOC = Path(__file__).resolve().parent.parent / "docs" / "agents.md"


def _recipe() -> str:
    text = DOC.read_text()
    section = text.split("## Plain jupyter_client", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python block under 'Plain jupyter_client'"
    return match.group(1)


def test_jupyter_client_recipe_as_documented(server, tmp_path):
    script = tmp_path / "recipe.py"
    script.write_text(_recipe())
    proc = subprocess.Popen(
        [sys.executable, str(script)], env=clean_env(XDG_STATE_HOME=str(server.state_home)), cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=120)
    finally:
        stop_group(proc)
    assert proc.returncode == 0, out
    lines = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    assert lines["value"] == "84", out
    assert lines["look"] == "(55, 41)", out  # state built over several calls
    assert lines["kept"] == "['samples', 'spread', 'statistics']", out
    assert lines["error"] == "error ZeroDivisionError", out
    assert lines["cell"].startswith("123"), out
    assert "tripled" in lines["names"] and "seed" in lines["names"], out
    assert lines["interrupted"] == "KeyboardInterrupt", out
    assert lines["after"] == "42", out
    assert any(c["name"] == "tripled" for c in server.cells())
