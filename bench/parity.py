"""Output parity with ipykernel: the share of tests/parity_corpus.py's snippets whose outputs match.

    python bench/parity.py [--json OUT] [--report PATH] [--only with-ipython|without-ipython]

Two figures, one per notebook env:
- with IPython: marimo runs in this env (which has IPython), every snippet;
- without IPython: marimo runs in a cached venv with marimo, numpy, pandas, matplotlib and
  pillow only (as `marimo edit --sandbox` or `uvx marimo` give; tests/venv_support.py builds
  it once), leaving out the snippets that import IPython themselves.
For each it starts its own `marimo edit --headless` server, a marimo-pair kernel on it and a
`python3` ipykernel of this env in the notebook's directory, runs the snippets in both (see
the corpus module for what "match" means), prints the figure per kind and overall, and writes
the mismatch list to PATH (default bench/results/parity_report.txt, and
parity_report_no_ipython.txt beside it; $MPK_PARITY_REPORT also works). Everything it starts
is stopped when it ends, also on failure.
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

from parity_corpus import SNIPPETS, Report, run_corpus  # noqa: E402
from support import PYTHON, MarimoServer, start_kernel, stop_kernel  # noqa: E402
from venv_support import importable_in, no_ipython_python  # noqa: E402


def measure(ours_kc: Any, server: MarimoServer, snippets: list | None = None, importable: Any = None) -> Report:
    """Run the corpus on `ours_kc` against a fresh python3 kernel in `server`'s notebook directory."""
    km, ref = start_kernel({}, kernel_name="python3", cwd=str(server.root))
    try:
        return run_corpus(ours_kc, ref, snippets, importable)
    finally:
        stop_kernel(km, ref)


def run(python: str, snippets: list | None = None, importable: Any = None) -> Report:
    """The corpus against a marimo started with `python` (its env is the notebook's)."""
    with tempfile.TemporaryDirectory(prefix="mpk-parity-") as tmp:
        server = MarimoServer.start(Path(tmp) / "marimo", python=python)
        try:
            km, kc = start_kernel({"XDG_STATE_HOME": str(server.state_home)})
            try:
                return measure(kc, server, snippets, importable)
            finally:
                stop_kernel(km, kc)
        finally:
            server.stop()


def without_ipython() -> Report:
    python = no_ipython_python()
    snippets = [s for s in SNIPPETS if "IPython" not in s.code]
    there = importable_in(python, {m for s in snippets for m in s.requires})
    return run(python, snippets, there.__contains__)


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
    ap.add_argument("--only", choices=["with-ipython", "without-ipython"], help="measure one notebook env")
    args = ap.parse_args()
    envs = {"with-ipython": lambda: run(PYTHON), "without-ipython": without_ipython}
    reports = {name: measure_env() for name, measure_env in envs.items() if args.only in (None, name)}
    base = args.report or HERE / "results" / "parity_report.txt"
    lines = []
    for name, report in reports.items():
        suffix = "" if name == "with-ipython" else "_no_ipython"
        paths = [base.with_name(base.stem + suffix + base.suffix)]
        if os.environ.get("MPK_PARITY_REPORT"):
            extra = Path(os.environ["MPK_PARITY_REPORT"])
            paths.append(extra.with_name(extra.stem + suffix + extra.suffix))
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(report.text())
        print(f"\nnotebook env {name.replace('-', ' ')}")
        print(f"{'kind':<12} matching")
        for kind, (m, n) in sorted(by_kind(report).items()):
            print(f"{kind:<12} {m}/{n}")
        for skipped, why in report.skipped:
            print(f"skipped: {skipped} ({why})")
        lines.append(f"output parity with ipykernel, notebook env {name.replace('-', ' ')}: "
                     f"{report.figure} snippets match   (mismatch list: {paths[0]})")
    print()
    print("\n".join(lines))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({name: figures(r) for name, r in reports.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
