"""Output parity with ipykernel: the share of tests/parity_corpus.py's snippets whose outputs match.

    python bench/parity.py [--json OUT] [--report PATH]

Starts its own `marimo edit --headless` server, a marimo-pair kernel on it and a `python3`
ipykernel in the notebook's directory, runs every snippet in both (see the corpus module
for what "match" means), prints the figure per kind and overall, and writes the mismatch
list to PATH (default bench/results/parity_report.txt; $MPK_PARITY_REPORT also works).
Everything it starts is stopped when it ends, also on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from parity_corpus import Report, run_corpus  # noqa: E402
from support import MarimoServer, start_kernel, stop_kernel  # noqa: E402


def measure(ours_kc: Any, server: MarimoServer) -> Report:
    """Run the corpus on `ours_kc` against a fresh python3 kernel in `server`'s notebook directory."""
    km, ref = start_kernel({}, kernel_name="python3", cwd=str(server.root))
    try:
        return run_corpus(ours_kc, ref)
    finally:
        stop_kernel(km, ref)


def by_kind(report: Report) -> dict[str, tuple[int, int]]:
    total = Counter(r.snippet.kind for r in report.results)
    ok = Counter(r.snippet.kind for r in report.results if not r.problems)
    return {kind: (ok[kind], n) for kind, n in total.items()}


def figures(report: Report) -> dict[str, Any]:
    return {
        "matching": report.matching,
        "total": report.total,
        "percent": round(100.0 * report.matching / report.total, 1) if report.total else 0.0,
        "by_kind": {k: {"matching": m, "total": n} for k, (m, n) in by_kind(report).items()},
        "mismatching": {r.snippet.name: r.problems for r in report.mismatches()},
        "skipped": dict(report.skipped),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, help="write the figures as JSON here")
    ap.add_argument("--report", type=Path, help="write the mismatch list here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mpk-parity-") as tmp:
        server = MarimoServer.start(Path(tmp) / "marimo")
        try:
            km, kc = start_kernel({"XDG_STATE_HOME": str(server.state_home)})
            try:
                report = measure(kc, server)
            finally:
                stop_kernel(km, kc)
        finally:
            server.stop()
    text = report.text()
    paths = [args.report or HERE / "results" / "parity_report.txt"]
    if os.environ.get("MPK_PARITY_REPORT"):
        paths.append(Path(os.environ["MPK_PARITY_REPORT"]))
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(f"{'kind':<12} matching")
    for kind, (m, n) in sorted(by_kind(report).items()):
        print(f"{kind:<12} {m}/{n}")
    for name, why in report.skipped:
        print(f"skipped: {name} ({why})")
    print(f"\noutput parity with ipykernel: {report.figure} snippets match   (mismatch list: {paths[0]})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures(report), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
