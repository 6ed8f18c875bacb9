"""The repository's examples as committed, for tests: never the working tree's copy.

The README invites a newcomer to try the example (`%%cell --name heavy …` on
examples/penguins.py), which changes that file; the suite must pass after that too. So tests
read an example from git (HEAD), and copy it where they run it. Outside a git checkout (an
unpacked sdist) the file as shipped is the committed one.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def committed(relpath: str) -> str:
    """The text of ROOT/relpath as committed at HEAD."""
    if not (ROOT / ".git").exists():
        return (ROOT / relpath).read_text()
    out = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"HEAD:{relpath}"], capture_output=True, text=True, timeout=60
    )
    if out.returncode != 0:
        raise AssertionError(f"{relpath} is not committed at HEAD ({out.stderr.strip()}); commit it to test it")
    return out.stdout


def copy_committed(relpath: str, dest: Path) -> Path:
    """Write the committed ROOT/relpath to dest (a file path); returns dest."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(committed(relpath))
    return dest
