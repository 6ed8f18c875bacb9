"""Profile the kernel side of a benchmark with py-spy (`pip install py-spy`).

    python bench/profile_kernel.py {trivial,bulk,start,discovery} [--out DIR] [--top N]

The kernel runs under `py-spy record` through a temporary kernelspec, so the samples
are the kernel process's own (idle waits excluded). `discovery` profiles the CLI's
`discover --json` over the crowded registry the benchmark uses. Prints the functions
with the most samples, inclusive and self, and writes the raw collapsed stacks.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from harness import kernel_run  # noqa: E402
from registry import HungListeners, build_registry  # noqa: E402
from support import PYTHON, MarimoServer, start_kernel, stop_kernel  # noqa: E402

PY_SPY = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")


def _spec(jupyter_path: Path, raw: Path, rate: int) -> str:
    name = "marimo-pair-pyspy"
    d = jupyter_path / "kernels" / name
    d.mkdir(parents=True)
    argv = [PY_SPY, "record", "--rate", str(rate), "-f", "raw", "-o", str(raw), "--",
            PYTHON, "-m", "marimo_pair_kernel", "-f", "{connection_file}"]
    (d / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": name, "language": "python"}))
    return name


def report(raw: Path, top: int) -> str:
    incl: collections.Counter[str] = collections.Counter()
    self_: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = stack.split(";")
        total += n
        for f in set(frames):
            incl[f] += n
        self_[frames[-1]] += n
    out = [f"{total} samples", "", "inclusive:"]
    out += [f"  {100 * c / total:5.1f}%  {f}" for f, c in incl.most_common(top)]
    out += ["", "self:"]
    out += [f"  {100 * c / total:5.1f}%  {f}" for f, c in self_.most_common(top)]
    return "\n".join(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("workload", choices=("trivial", "bulk", "start", "discovery"))
    p.add_argument("--out", default=str(HERE / "results"), help="where the raw stacks go")
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--rate", type=int, default=1000)
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    raw = out / f"profile-{args.workload}.txt"
    with tempfile.TemporaryDirectory(prefix="mpk-prof-") as tmp:
        work = Path(tmp)
        server = MarimoServer.start(work / "marimo")
        try:
            if args.workload == "discovery":
                hung = HungListeners(5).start()
                try:
                    build_registry(work / "crowded", server.state_home, hung, 20, "0.25.2")
                    env = dict(os.environ, XDG_STATE_HOME=str(work / "crowded"))
                    subprocess.run([PY_SPY, "record", "--rate", str(args.rate), "-f", "raw", "-o", str(raw), "--",
                                    PYTHON, "-m", "marimo_pair_kernel", "discover", "--json"],
                                   env=env, check=True, capture_output=True)
                finally:
                    hung.stop()
            else:
                os.environ["JUPYTER_PATH"] = str(work / "jp")
                name = _spec(work / "jp", raw, args.rate)
                env = {"XDG_STATE_HOME": str(server.state_home)}
                t0 = time.perf_counter()
                km, kc = start_kernel(env, kernel_name=name)
                print(f"started in {time.perf_counter() - t0:.2f} s", file=sys.stderr)
                try:
                    if args.workload == "trivial":
                        for _ in range(200):
                            kernel_run(kc, "1 + 1")
                    elif args.workload == "bulk":
                        for _ in range(3):
                            kernel_run(kc, "for i in range(100000):\n    print(i)\n")
                finally:
                    stop_kernel(km, kc)
                for _ in range(50):  # py-spy writes after the kernel exits
                    if raw.exists():
                        break
                    time.sleep(0.1)
        finally:
            server.stop()
    print(report(raw, args.top))
    print(f"\nraw stacks: {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
