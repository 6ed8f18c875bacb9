"""Big output arrives whole and in order, and the kernel's memory stays bounded.

The kernel relays each piece of marimo's output as soon as it arrives and keeps none
of it, so its resident memory must not grow with the size of the output. Bound
checked here: the kernel's RSS never rises more than RSS_BOUND_MB above what it was
before the run, while 10 MB (and 200,000 lines) pass through it.
"""

from __future__ import annotations

import threading
import time

import psutil
import pytest
from faults_support import LoggedKernel

RSS_BOUND_MB = 48


class PeakRSS:
    """Samples a process's resident memory every few milliseconds while a run goes on."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.005)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 2**20


@pytest.fixture(scope="module")
def big(server, tmp_path_factory):
    log = tmp_path_factory.mktemp("big") / "kernel.log"
    with LoggedKernel({"XDG_STATE_HOME": str(server.state_home)}, log) as k:
        assert k.execute("answer").result["text/plain"] == "42"  # warm: connected, modules loaded
        yield k


def test_200k_lines_whole_and_in_order(big):
    with PeakRSS(big.pid) as mem:
        run = big.execute("for i in range(200_000):\n    print(i)", timeout=120)
    assert run.status == "ok", run.content
    out = run.stdout
    assert out == "".join(f"{i}\n" for i in range(200_000))
    assert len(run.of("stream")) > 1  # streamed in pieces, not one blob at the end
    print(f"200k lines: {len(out)} bytes in {len(run.of('stream'))} stream messages; "
          f"kernel RSS +{mem.growth_mb:.1f} MB (base {mem.base / 2**20:.0f} MB)")
    assert mem.growth_mb < RSS_BOUND_MB


def test_10mb_in_100_flushes_whole_and_in_order(big):
    code = (
        "import sys\n"
        "for i in range(100):\n"
        "    sys.stdout.write(chr(65 + i % 26) * 100_000)\n"
        "    sys.stdout.flush()\n"
    )
    with PeakRSS(big.pid) as mem:
        run = big.execute(code, timeout=120)
    assert run.status == "ok", run.content
    expected = "".join(chr(65 + i % 26) * 100_000 for i in range(100))
    out = run.stdout
    assert len(out) == len(expected) == 10_000_000
    assert out == expected
    assert "truncated" not in run.stderr
    print(f"10 MB: {len(run.of('stream'))} stream messages; kernel RSS +{mem.growth_mb:.1f} MB "
          f"(base {mem.base / 2**20:.0f} MB)")
    assert mem.growth_mb < RSS_BOUND_MB


def test_marimo_truncation_warning_passes_through(big):
    run = big.execute("print('x' * 3_000_000)", timeout=120)
    assert run.status == "ok", run.content
    assert "marimo truncated a very large console output" in run.stderr
    assert 900_000 < len(run.stdout) < 3_000_000  # marimo kept about 1 MB of it
    # It is a warning, not an error: no error message, and the kernel carries on.
    assert run.of("error") == []
    assert big.execute("answer").result["text/plain"] == "42"


def test_memory_returns_to_baseline_range_after_repeated_big_runs(big):
    # Five more 10 MB runs: if the kernel kept anything per run, the growth would add up.
    code = "import sys\nfor i in range(100):\n    sys.stdout.write('z' * 100_000); sys.stdout.flush()\n"
    with PeakRSS(big.pid) as mem:
        for _ in range(5):
            assert len(big.execute(code, timeout=120).stdout) == 10_000_000
    print(f"5 x 10 MB: kernel RSS +{mem.growth_mb:.1f} MB")
    assert mem.growth_mb < RSS_BOUND_MB
