"""Benchmarks: what the kernel costs over marimo's own HTTP endpoint, and over the alternatives.

    python bench/run.py [--quick] [--json OUT]

Starts a real `marimo edit --headless` server, a crowded registry (1 live, 5 hung,
20 dead entries) and real kernels; prints a table of ratios against baselines
measured in the same run and writes the figures as JSON (default: bench/results/).
`--quick` uses few iterations and smaller outputs: a smoke run, not a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from harness import Floor, install_echo_kernel  # noqa: E402
from registry import HungListeners, build_registry  # noqa: E402
from responsiveness import console_start, editing_help, lifecycle  # noqa: E402
from sections import (  # noqa: E402
    Bench,
    Config,
    PairList,
    Section,
    agent_per_call,
    bulk_output,
    discovery,
    kernel_start,
    memory,
    output_conversion,
    pair_namespace,
    trivial_execute,
)
from support import MarimoServer, start_kernel, stop_kernel  # noqa: E402
from wire import bytes_per_request  # noqa: E402

SECTION_KEYS = (
    "trivial_execute", "bulk_output", "discovery", "kernel_start", "agent_per_call", "memory", "output_conversion",
    "editing_help", "lifecycle", "console_start", "pair_namespace", "request_bytes",
)


def _guarded(key: str, title: str, fn: Callable[[], Section]) -> Section:
    """One section failing must not lose the others' figures."""
    t0 = time.monotonic()
    print(f"[bench] {title} ...", file=sys.stderr, flush=True)
    try:
        s = fn()
    except Exception as e:  # noqa: BLE001 - reported in the table and the JSON
        s = Section(key, title, "", met=False)
        s.figures = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
        s.row("ERROR", f"{type(e).__name__}: {e}"[:60])
    s.figures["section_seconds"] = round(time.monotonic() - t0, 1)
    return s


def run(cfg: Config, work: Path) -> list[Section]:
    server = MarimoServer.start(work / "marimo")
    hung = HungListeners(5).start()
    pair = None
    km = kc = floor = None
    try:
        mversion = version("marimo")
        crowded = work / "crowded-state"
        dead_only = work / "dead-state"
        build_registry(crowded, server.state_home, hung, 20, mversion)
        build_registry(dead_only, server.state_home, None, 20, mversion)
        env = dict(os.environ, XDG_STATE_HOME=str(crowded))
        env.pop("MARIMO_TOKEN", None)
        pair = PairList(env, cfg.pair_cap).start(work / "marimo-pair-list.log")
        # Let it get stuck (or finish) before measuring anything, so its start-up CPU is not in our figures.
        hung.wait_accept(timeout=30)

        session_id = server.notebooks()[0]["session_id"]
        floor = Floor(server.url, session_id)
        jupyter_dir = work / "jupyter"
        echo = install_echo_kernel(jupyter_dir)
        os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(jupyter_dir), os.environ.get("JUPYTER_PATH")]))
        km, kc = start_kernel({"XDG_STATE_HOME": str(server.state_home)})
        b = Bench(cfg, work, server, session_id, floor, km, kc, echo)
        return [
            _guarded("trivial_execute", "1. trivial execute", lambda: trivial_execute(b)),
            _guarded("bulk_output", "2. bulk output", lambda: bulk_output(b)),
            _guarded("agent_per_call", "5. agent per call", lambda: agent_per_call(b)),
            _guarded("kernel_start", "4. kernel start", lambda: kernel_start(b)),
            _guarded("memory", "6. memory", lambda: memory(b)),
            _guarded("output_conversion", "7. output conversion", lambda: output_conversion(b)),
            _guarded("editing_help", "8. editing help", lambda: editing_help(b)),
            _guarded("lifecycle", "9. lifecycle", lambda: lifecycle(b)),
            _guarded("console_start", "10. console start", lambda: console_start(b)),
            _guarded("pair_namespace", "11. pair namespace", lambda: pair_namespace(b)),
            _guarded("request_bytes", "12. bytes per request", lambda: bytes_per_request(b)),
            # Last: it waits out what is left of marimo pair's cap.
            _guarded("discovery", "3. discovery", lambda: discovery(b, crowded, dead_only, pair, hung)),
        ]
    finally:
        if km is not None:
            stop_kernel(km, kc)
        if floor is not None:
            floor.close()
        if pair is not None:
            pair.stop()
        hung.stop()
        server.stop()


def table(sections: list[Section]) -> str:
    head = ("section / measure", "ours", "baseline", "ratio", "target", "")
    rows: list[tuple[str, ...]] = []
    order = {k: i for i, k in enumerate(SECTION_KEYS)}
    for s in sorted(sections, key=lambda s: order.get(s.key, 99)):
        rows.append((f"{order.get(s.key, 0) + 1}. {s.title}", "", "", "", "", ""))
        rows.extend(("   " + r[0], *r[1:]) for r in s.rows)
    data = [head, *(r for r in rows if any(r[1:]))]  # section titles span the whole line
    widths = [max(len(r[i]) for r in data) for i in range(len(head))]
    lines = []
    for r in [head, *rows]:
        if not any(r[1:]) and r is not head:
            lines.append(r[0])
            continue
        cells = (c.ljust(w) if i in (0, 5) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=False)))
        lines.append("  ".join(cells).rstrip())
    notes = [f"note ({s.key}): {n}" for s in sections for n in s.notes]
    return "\n".join(lines + ([""] + notes if notes else []))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="few iterations, small outputs (CI smoke run)")
    p.add_argument("--json", metavar="OUT", help="where to write the JSON (default: bench/results/<time>.json)")
    args = p.parse_args(argv)
    cfg = Config.make(args.quick)
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    if load_before and load_before[0] > 1.0:
        print(
            f"[bench] warning: load average {load_before[0]:.1f} before start; "
            "other work on this machine skews ratios",
            file=sys.stderr,
        )
    started = time.monotonic()
    stamp = datetime.now(timezone.utc)
    with tempfile.TemporaryDirectory(prefix="mpk-bench-") as tmp:
        sections = run(cfg, Path(tmp))
    total = time.monotonic() - started
    default_out = HERE / "results" / f"{stamp:%Y%m%d-%H%M%S}{'-quick' if args.quick else ''}.json"
    out = Path(args.json) if args.json else default_out
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "meta": {
            "command": "python bench/run.py" + (" --quick" if args.quick else ""),
            "quick": args.quick,
            "started_utc": stamp.isoformat(timespec="seconds"),
            "total_seconds": round(total, 1),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_before_after": [load_before, os.getloadavg() if hasattr(os, "getloadavg") else None],
            "versions": {
                n: version(n) for n in ("marimo", "marimo-pair-kernel", "ipykernel", "jupyter_client", "httpx")
            },
            "config": cfg.__dict__,
        },
        "sections": {s.key: s.to_json() for s in sections},
    }
    out.write_text(json.dumps(doc, indent=2))
    print(table(sections))
    print(f"\ntotal {total:.0f} s; JSON: {out}")
    return 0 if all("error" not in s.figures for s in sections) else 1


if __name__ == "__main__":
    sys.exit(main())
