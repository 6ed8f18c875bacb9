"""Late outputs: from a thread's display update after its execute ended to the client's message.

    python bench/late_outputs.py [--updates N] [--json OUT]

Starts its own `marimo edit --headless` server, a marimo-pair kernel on its notebook and a
`python3` ipykernel beside it. In each, one execute displays a handle and starts a thread
that, once the execute has ended, updates the handle N times (0.1 s apart) with
`time.time()`; the client notes when each `update_display_data` arrives. Reported (not
asserted): the median and p90 latency per kernel. Both clocks are this machine's. The
marimo-pair path is: the thread's write in the notebook's kernel → marimo's message stream
→ the kernel's viewer stream (GET /sse) → IOPub. Everything started is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from support import MarimoServer, execute, start_kernel, stop_kernel  # noqa: E402

CODE = """
import threading, time
from IPython.display import display
_h = display("start", display_id=True)
def _updates(h=_h, n={n}):
    time.sleep(0.5)  # the execute has ended by then
    for _ in range(n):
        h.update(time.time())
        time.sleep(0.1)
threading.Thread(target=_updates).start()
"""


def latencies(kc: Any, n: int) -> list[float]:
    """Seconds from each update's time.time() in the thread to its arrival here."""
    msg_id = kc.execute(CODE.format(n=n))
    out: list[float] = []
    other: list[str] = []  # what else came, for the report when no update does
    deadline = time.monotonic() + 30 + n * 0.2
    while len(out) < n and time.monotonic() < deadline:
        try:
            m = kc.get_iopub_msg(timeout=0.5)
        except queue.Empty:
            continue
        now = time.time()
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        if m["msg_type"] == "update_display_data":
            out.append(now - float(m["content"]["data"]["text/plain"]))
        elif m["msg_type"] in ("error", "stream"):
            other.append(str(m["content"])[:300])
    if not out:
        print(f"no update arrived; the execute sent: {other}", file=sys.stderr)
    return out


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    q = statistics.quantiles(values, n=10) if len(values) > 1 else values
    return {"n": len(values), "median_ms": round(1000 * statistics.median(values), 2),
            "p90_ms": round(1000 * q[-1], 2), "max_ms": round(1000 * max(values), 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--updates", type=int, default=40, help="updates per kernel (default 40)")
    ap.add_argument("--json", type=Path, help="write the figures as JSON here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mpk-bench-late-") as tmp:
        server = MarimoServer.start(Path(tmp) / "marimo")
        started: dict[str, Any] = {}
        try:
            started["marimo-pair"] = start_kernel({"XDG_STATE_HOME": str(server.state_home)})
            started["python3"] = start_kernel({}, kernel_name="python3")
            figures: dict[str, Any] = {}
            for name, (_, kc) in started.items():
                for _ in range(5):  # IPython loads in marimo first (see tests/test_late_outputs.py)
                    if execute(kc, "import IPython.display").reply["status"] == "ok":
                        break
                latencies(kc, 3)  # the viewer stream opens on the first such execute: warm it
                figures[name] = summary(latencies(kc, args.updates))
        finally:
            for km, kc in started.values():
                stop_kernel(km, kc)
            server.stop()
    print("thread's update_display → client's update_display_data, after the execute ended")
    for name, f in figures.items():
        if f["n"]:
            print(f"  {name:12} median {f['median_ms']:7.2f} ms   p90 {f['p90_ms']:7.2f} ms   "
                  f"max {f['max_ms']:7.2f} ms   (n={f['n']})")
        else:
            print(f"  {name:12} no update arrived")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if all(f["n"] for f in figures.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
