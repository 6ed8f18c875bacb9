"""Bytes per request (issue 19): what the kernel sends to marimo, and gets back, once warm.

    python bench/wire.py [--n 10] [--json OUT]   # this section alone, on a server of its own
    (also section 12 of `python bench/run.py`)

A kernel is pointed at a byte-counting relay (bench/relay.py) in front of a real
`marimo edit --headless`; each Jupyter execute is matched with the HTTP requests that went
through the relay while it ran. Measured, interleaved, after one warm-up round (which carries
the one-time runtime install, reported apart): a trivial execute `1 + 1`, a failing execute
`1/0` (its error laid out as IPython does), `%cells`, and a `%%cell edit` of a one-line cell.
Latency is the jupyter_client round trip to the reply.
The relay only observes bytes, so this reads the same whatever the kernel sends.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if __name__ == "__main__":
    sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from harness import interleave, kernel_run, summary  # noqa: E402
from relay import CountingRelay, Exchange  # noqa: E402
from sections import Bench, Section  # noqa: E402
from support import MarimoServer, started_kernel  # noqa: E402

CELL = "mpk_bench_edit"  # the cell `%%cell edit` rewrites; deleted at the end
KB = 1024
# Issue 19's targets for what the kernel sends per request once warm (bytes; the edit's own code added).
TARGETS = {"trivial": 2 * KB, "cells": 4 * KB, "cell_edit": 6 * KB}


@dataclass(frozen=True)
class Measured:
    """One Jupyter execute and the HTTP requests it made (long-lived /sse streams aside)."""

    seconds: float
    sent: int  # kernel → marimo, all requests, as on the wire
    received: int  # marimo → kernel
    requests: tuple[str, ...]  # "POST /api/kernel/execute 512 B sent, 402 B received", ...
    code_chars: int  # the `code` of every execute POST, summed
    http_seconds: float  # first request byte to last response byte, summed over requests


def measure(kc: Any, relay: CountingRelay, code: str, *, fails: bool = False) -> Measured:
    mark = relay.mark()
    t = kernel_run(kc, code)
    if t.ok == fails:
        raise RuntimeError(f"{code.splitlines()[0]!r} {'succeeded' if fails else 'failed'} through the relay")
    relay.settle()
    ex: list[Exchange] = relay.since(mark)
    return Measured(
        seconds=t.total,
        sent=sum(e.request_bytes for e in ex),
        received=sum(e.response_bytes for e in ex),
        requests=tuple(f"{e.method} {e.path} {e.request_bytes} B sent, {e.response_bytes} B received" for e in ex),
        code_chars=sum(e.code_chars or 0 for e in ex),
        http_seconds=sum(e.seconds for e in ex),
    )


def size(n: float) -> str:
    return f"{n:.0f} B" if n < KB else f"{n / KB:.1f} KB"


def _med(xs: list[Measured], key: Callable[[Measured], float]) -> float:
    return statistics.median(key(m) for m in xs)


Row = tuple[str, str, str, str, str, "bool | None"]


def request_bytes(n: int, work: Path, server: MarimoServer) -> tuple[dict[str, Any], list[Row], bool]:
    """Figures, table rows (measure, ours, baseline, ratio, target, ok) and whether all targets were met."""
    state = work / "relay-state"  # an empty registry: the kernel knows marimo only by the relay's URL
    state.mkdir(parents=True, exist_ok=True)
    edit = "%%cell edit " + CELL + "\nmpk_bench_value = {i}"
    cases: dict[str, Callable[[int], str]] = {
        "trivial": lambda i: "1 + 1",
        "failed": lambda i: "1/0",
        "cells": lambda i: "%cells",
        "cell_edit": lambda i: edit.format(i=i),
    }
    with (
        CountingRelay(server.port) as relay,
        started_kernel({"MARIMO_PAIR_URL": relay.url, "XDG_STATE_HOME": str(state)}) as (_, kc),
    ):
        measure(kc, relay, "1 + 1")
        # Start and first execute: the runtime's one-time install is in there (in the background
        # at start, or with the first execute if that comes first).
        boot = relay.since(0)
        create = measure(kc, relay, f"%%cell --name {CELL}\nmpk_bench_value = 0")
        try:
            counter = iter(range(1, 1_000_000))
            runners = [lambda k=k, f=f: measure(kc, relay, f(next(counter)), fails=k == "failed")
                       for k, f in cases.items()]
            warm = interleave(1, *runners)
            runs = dict(zip(cases, interleave(n, *runners), strict=True))
        finally:
            deleted = kernel_run(kc, f"%cell delete {CELL}")
        stream_bytes = sum(e.response_bytes for e in relay.since(0, streams=True) if e.stream)
    if not deleted.ok:
        raise RuntimeError(f"%cell delete {CELL} failed")
    figures: dict[str, Any] = {
        "n": n,
        "relay": "asyncio TCP relay on 127.0.0.1 (bench/relay.py); HTTP/1.1 requests split by Content-Length",
        "targets_sent_bytes": TARGETS,
        "start_and_first_execute_with_runtime_install": {
            "sent": sum(e.request_bytes for e in boot),
            "received": sum(e.response_bytes for e in boot),
            "requests": [f"{e.method} {e.path} {e.request_bytes} B sent, {e.response_bytes} B received" for e in boot],
        },
        "cell_create": {"sent": create.sent, "received": create.received, "requests": list(create.requests)},
        "warm_up_round": {k: {"sent": w[0].sent, "requests": list(w[0].requests)}
                          for k, w in zip(cases, warm, strict=True)},
        "viewer_stream_bytes_received_whole_run": stream_bytes,
    }
    trivial_s = _med(runs["trivial"], lambda m: m.seconds)
    rows: list[Row] = []
    met = True
    labels = {
        "trivial": "1 + 1", "failed": "1/0 (fails)", "cells": "%cells", "cell_edit": "%%cell edit (1-line cell)",
    }
    for key, ms_list in runs.items():
        sent = _med(ms_list, lambda m: m.sent)
        code = _med(ms_list, lambda m: m.code_chars)
        own_code = len("mpk_bench_value = 0") if key == "cell_edit" else 0
        target = TARGETS[key] + own_code if key in TARGETS else None  # the failing execute: reported only
        ok = max(m.sent for m in ms_list) <= target if target is not None else None
        met = met and ok is not False
        secs = _med(ms_list, lambda m: m.seconds)
        figures[key] = {
            "code": cases[key](0),
            "sent_bytes_median": sent,
            "sent_bytes_max": max(m.sent for m in ms_list),
            "received_bytes_median": _med(ms_list, lambda m: m.received),
            "code_chars_in_execute_posts_median": code,
            "http_requests_last": list(ms_list[-1].requests),
            "http_requests_per_execute_median": _med(ms_list, lambda m: len(m.requests)),
            "latency": summary([m.seconds for m in ms_list]),
            "http_time": summary([m.http_seconds for m in ms_list]),
            "target_sent_bytes": target,
            "met": ok,
        }
        reqs = _med(ms_list, lambda m: len(m.requests))
        label = labels[key]
        if target is None:
            target_text = ""
        else:
            target_text = "<= 6 KB + code" if key == "cell_edit" else f"<= {TARGETS[key] // KB} KB"
        rows.append((f"{label}: sent, {reqs:g} request(s), median of {len(ms_list)}", size(sent), "", "",
                     target_text, ok))
        rows.append((f"  {label}: received", size(figures[key]["received_bytes_median"]), "", "", "", None))
        rows.append((f"  {label}: of the sent, code in execute POSTs", size(code), "", "", "", None))
        base = "" if key == "trivial" else f"{trivial_s * 1000:.1f} ms"
        r = "" if key == "trivial" else f"{secs / trivial_s:.2f}"
        vs = "" if key == "trivial" else " (vs 1 + 1)"
        rows.append((f"  {label}: latency{vs}", f"{secs * 1000:.1f} ms", base, r, "", None))
    rows.append(("  a new kernel's start + first 1 + 1 (runtime install): sent",
                 size(figures["start_and_first_execute_with_runtime_install"]["sent"]), "", "", "", None))
    return figures, rows, met


def bytes_per_request(b: Bench) -> Section:
    """Section 12 of bench/run.py, on the run's own server (the cell it makes is deleted)."""
    figures, rows, met = request_bytes(3 if b.cfg.quick else 10, b.work, b.server)
    s = Section("request_bytes", "Bytes per request once warm (issue 19), through a counting relay",
                "sent <= 2 KB / 4 KB / 6 KB + code", met=met)
    s.figures = figures
    for r in rows:
        s.row(*r)
    return s


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10, help="measured executes of each kind (default 10)")
    p.add_argument("--json", metavar="OUT", help="also write the figures as JSON to OUT")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mpk-bench-wire-") as tmp:
        server = MarimoServer.start(Path(tmp) / "marimo")
        try:
            figures, rows, met = request_bytes(args.n, Path(tmp), server)
        finally:
            server.stop()
    width = max(len(r[0]) for r in rows)
    for measure_, ours, base, r, target, ok in rows:
        flag = "" if ok is None else ("met" if ok else "MISSED")
        print(f"{measure_.ljust(width)}  {ours:>9}  {base:>9}  {r:>5}  {target:>15}  {flag}".rstrip())
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
