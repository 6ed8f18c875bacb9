"""The README's table of environment variables names every one the kernel reads."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_environment_variable_the_code_reads_is_in_the_readme_table():
    used = set()
    for path in (ROOT / "src" / "marimo_pair_kernel").rglob("*.py"):
        used |= set(re.findall(r"\bMARIMO_PAIR_[A-Z_]+\b", path.read_text()))
    readme = (ROOT / "README.md").read_text()
    table = set(re.findall(r"^\| `(MARIMO_[A-Z_]+|XDG_STATE_HOME)` \|", readme, re.M))
    assert len(used) >= 8, used  # the search itself works
    assert used <= table, f"missing from the README's environment table: {sorted(used - table)}"
    assert {"MARIMO_TOKEN", "XDG_STATE_HOME"} <= table
