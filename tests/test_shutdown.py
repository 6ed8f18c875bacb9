"""Graceful shutdown, as jupyter_client does it: 50 cycles, none forced, a clean stderr.

`KernelManager.shutdown_kernel(now=False)` sends SIGINT, then a shutdown_request, then
waits: half its grace period (2.5 s) before SIGTERM, the other half before SIGKILL. A
kernel that needs the SIGTERM is a forced shutdown, and the issue's limit is 1 s each.
Most cycles use a kernel that has found no notebook (the cheap case); some have a
notebook target with an execute done and a completion just answered (that a kernel stops
the marimo server it started, on every path, is tests/test_open.py's). Every kernel's stderr
goes to one file, which must be free of ipykernel's shutdown races: "IOStream.flush timed out",
ZMQError, and the heartbeat's "Address already in use".
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
from jupyter_client import KernelManager
from jupyter_client.manager import _ShutdownStatus
from support import execute, start_kernel

CYCLES = 50
WITH_TARGET_EVERY = 10  # every 10th cycle's kernel targets the module's notebook
AHEAD = 2  # kernels starting while one is shut down
LIMIT = 1.0  # the limit per shutdown; a shutdown here takes about 0.1 s
# Kernels starting meanwhile (AHEAD) load the 2 cores, and the suite runs in parallel: each cycle
# may take twice the limit (still short of jupyter_client's SIGTERM at 2.5 s), the median must
# meet it, and "forced" (SIGTERM/SIGKILL needed) is asserted exactly. Figures:
# tests/artifacts/shutdown.txt.
MARGIN = 2.0
BAD_STDERR = ("IOStream.flush timed out", "ZMQError", "Address already in use", "Traceback")


def _shutdown(km: KernelManager) -> tuple[float, bool]:
    """(seconds, forced) of one graceful shutdown."""
    t0 = time.monotonic()
    km.shutdown_kernel(now=False)
    took = time.monotonic() - t0
    return took, km._shutdown_status != _ShutdownStatus.ShutdownRequest


def test_fifty_graceful_shutdowns_each_quick_none_forced_clean_stderr(server, tmp_path):
    empty_state = tmp_path / "no-servers"
    empty_state.mkdir()
    stderr_file = tmp_path / "kernels-stderr.txt"
    times: list[float] = []
    forced: list[int] = []
    with stderr_file.open("wb") as err, ThreadPoolExecutor(max_workers=AHEAD) as pool:
        # Kernels start AHEAD cycles early (starting is most of a cycle's time); each shutdown
        # is timed on its own.
        def start(i: int):
            targeted = i % WITH_TARGET_EVERY == WITH_TARGET_EVERY - 1
            state = server.state_home if targeted else empty_state
            return targeted, start_kernel({"XDG_STATE_HOME": str(state)}, stderr=err)

        starting = [pool.submit(start, i) for i in range(min(AHEAD, CYCLES))]
        try:
            for i in range(CYCLES):
                targeted, (km, kc) = starting.pop(0).result()
                if i + AHEAD < CYCLES:
                    starting.append(pool.submit(start, i + AHEAD))
                try:
                    if targeted:
                        assert execute(kc, "answer").result["text/plain"] == "42"
                        kc.complete("se", 2, reply=True, timeout=10)
                finally:
                    kc.stop_channels()
                    took, was_forced = _shutdown(km)
                times.append(took)
                if was_forced:
                    forced.append(i)
        finally:
            for fut in starting:  # a failure above: stop what is still starting
                try:
                    km, kc = fut.result()[1]
                except Exception:  # noqa: BLE001 - it failed to start; nothing to stop
                    continue
                kc.stop_channels()
                km.shutdown_kernel(now=True)
    text = stderr_file.read_text(errors="replace")
    report = (
        f"{CYCLES} cycles: median {statistics.median(times):.3f} s, max {max(times):.3f} s, "
        f"over {LIMIT:g} s: {sum(t > LIMIT for t in times)}, forced: {forced}\n" + " ".join(f"{t:.2f}" for t in times)
    )
    (Path(__file__).parent / "artifacts").mkdir(exist_ok=True)
    (Path(__file__).parent / "artifacts" / "shutdown.txt").write_text(report + "\n")
    assert not forced, report
    assert max(times) <= LIMIT * MARGIN, report
    assert statistics.median(times) <= LIMIT / 2, report
    bad = [line for line in text.splitlines() if any(b in line for b in BAD_STDERR)]
    assert not bad, "\n".join(bad[:20])


@pytest.fixture(autouse=True)
def _no_leftover_kernels():
    before = {p.pid for p in psutil.Process().children()}
    yield
    # Every kernel started here was shut down above; a leftover would be a bug in the test.
    left = [
        p
        for p in psutil.Process().children()
        if p.pid not in before and p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    ]
    for p in left:
        p.kill()
    assert not left, left
