"""Measuring tools shared by the benchmark sections.

The floor is marimo's own endpoint driven the cheapest sensible way: one persistent
`httpx.Client` POSTing to `/api/kernel/execute` and reading the SSE lines to `done`.
Everything else is compared against it in the same run, interleaved, by median,
because absolute times on these machines do not transfer.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from support import execute as kernel_execute  # tests/support.py


@dataclass
class Timed:
    """One end-to-end run: total seconds, when the first output arrived, what came out."""

    total: float
    first_output: float | None = None
    stdout_chars: int = 0
    stdout_lines: int = 0
    ok: bool = True


class Floor:
    """The raw HTTP floor: a persistent client POSTing code and reading SSE to `done`."""

    def __init__(self, url: str, session_id: str) -> None:
        self.url = url
        self.headers = {"Marimo-Stable-Session-Id": session_id, "Accept": "text/event-stream"}
        self.http = httpx.Client(trust_env=False, timeout=httpx.Timeout(10.0, read=300.0))

    def close(self) -> None:
        self.http.close()

    def run(self, code: str) -> Timed:
        t0 = time.perf_counter()
        first: float | None = None
        chars = lines = 0
        result: Timed | None = None
        with self.http.stream(
            "POST", self.url + "/api/kernel/execute", json={"code": code}, headers=self.headers
        ) as r:
            r.raise_for_status()
            event = None
            for line in r.iter_lines():
                if result is not None:
                    continue  # drain (untimed): marimo ends the stream right after `done`
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data = json.loads(line[5:])
                    if event == "done":
                        result = Timed(time.perf_counter() - t0, first, chars, lines, bool(data.get("success")))
                    elif event == "stdout":
                        if first is None:
                            first = time.perf_counter() - t0
                        text = data.get("data", "")
                        chars += len(text)
                        lines += text.count("\n")
        # Read to the end, the connection goes back to the pool: the floor stays persistent.
        if result is None:
            raise RuntimeError("the floor's stream ended without `done`")
        return result


def kernel_run(kc: Any, code: str, timeout: float = 300.0) -> Timed:
    """One execute through jupyter_client, up to the reply (tests/support.py's `execute`)."""
    t0 = time.perf_counter()
    run = kernel_execute(kc, code, timeout=timeout)
    total = time.perf_counter() - t0
    streams = [(t, m["content"]) for t, m in zip(run.times, run.messages, strict=True) if m["msg_type"] == "stream"]
    out = run.stdout
    return Timed(
        total,
        first_output=streams[0][0] if streams else None,
        stdout_chars=len(out),
        stdout_lines=out.count("\n"),
        ok=run.reply.get("status") == "ok",
    )


def install_echo_kernel(jupyter_dir: Path) -> str:
    """A kernelspec for bench/echo_kernel.py under `jupyter_dir` (put it on JUPYTER_PATH)."""
    name = "mpk-bench-echo"
    d = jupyter_dir / "kernels" / name
    d.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, str(Path(__file__).with_name("echo_kernel.py")), "-f", "{connection_file}"]
    (d / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": name, "language": "python"}))
    return name


def cpu_seconds(pid: int) -> float:
    import psutil

    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def as_installed(env: dict[str, str], cache: Path | None) -> dict[str, str]:
    """`env` with bytecode cached in `cache`, as a pip-installed package has it (None: as given).

    This environment may set PYTHONDONTWRITEBYTECODE, which makes an editable install compile
    our modules at every start of every process; a private cache (warmed by a first run) gives
    both sides the installed condition without writing into the source tree.
    """
    if cache is None:
        return env
    out = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out["PYTHONPYCACHEPREFIX"] = str(cache)
    return out


def interleave(n: int, *runners: Callable[[], Any]) -> list[list[Any]]:
    """Run each runner once per round, alternating which goes first, so drift hits all alike."""
    results: list[list[Any]] = [[] for _ in runners]
    order = list(range(len(runners)))
    for i in range(n):
        seq = order if i % 2 == 0 else order[::-1]
        for j in seq:
            results[j].append(runners[j]())
    return results


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def summary(xs: Sequence[float]) -> dict[str, Any]:
    """Median plus spread, in milliseconds, for the JSON."""
    s = sorted(xs)
    return {
        "n": len(s),
        "median_ms": round(statistics.median(s) * 1000, 2),
        "min_ms": round(s[0] * 1000, 2),
        "p90_ms": round(s[min(len(s) - 1, int(0.9 * len(s)))] * 1000, 2),
        "max_ms": round(s[-1] * 1000, 2),
    }


def timed_process(args: list[str], env: dict[str, str], timeout: float) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return time.perf_counter() - t0, proc


# -- memory ----------------------------------------------------------------------------


def proc_status_kb(pid: int, key: str) -> int | None:
    """A `VmRSS`/`VmHWM` figure from /proc/PID/status, in kB (Linux only)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass
class RssSampler:
    """Samples a process's RSS every `interval` seconds on a thread (psutil: portable)."""

    pid: int
    interval: float = 0.005
    samples: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        import psutil

        proc = psutil.Process(self.pid)

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.samples.append(proc.memory_info().rss)
                except psutil.Error:
                    return
                self._stop.wait(self.interval)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)
