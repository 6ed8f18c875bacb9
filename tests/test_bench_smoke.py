"""The benchmarks still run: `bench/run.py --quick` end to end, never gated on time.

Times on shared CI machines mean nothing, so this checks only that every section
ran and produced its figures, and the figures that are facts rather than timings
(all output lines arrived, every registry entry was accounted for).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = {
    "trivial_execute", "bulk_output", "discovery", "kernel_start", "agent_per_call", "memory", "output_conversion",
    "editing_help", "lifecycle", "console_start", "pair_namespace", "request_bytes",
}


@pytest.mark.timeout(290)
def test_bench_quick_produces_every_section(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["meta"]["quick"] is True
    sections = doc["sections"]
    assert set(sections) == SECTIONS
    for key, section in sections.items():
        figures = section["figures"]
        assert "error" not in figures, f"{key}: {figures.get('traceback', figures.get('error'))}"
        assert section["met"] in (True, False, None)

    trivial = sections["trivial_execute"]["figures"]
    assert trivial["kernel"]["n"] >= 3 and trivial["ratio_kernel_over_floor"] > 0
    assert "jupyter_protocol_echo_kernel" in trivial["decomposition_ms"]

    bulk = sections["bulk_output"]["figures"]
    assert bulk["all_lines_arrived"], bulk
    assert bulk["first_line"]["kernel"]["n"] >= 1

    disc = sections["discovery"]["figures"]
    assert disc["found_live_servers"] + disc["reported_stale"] == 1 + 5 + 20
    assert "exceeded_cap" in disc["marimo_pair_notebook_list"]

    assert sections["kernel_start"]["figures"]["ratio"] > 0
    assert sections["agent_per_call"]["figures"]["marimo_pair_answered"]

    mem = sections["memory"]["figures"]
    assert mem["marimo_pair"]["output_bytes"] == mem["output_bytes_expected"]
    assert mem["marimo_pair"]["peak_rss_mb"] > 0

    conv = sections["output_conversion"]["figures"]
    assert conv["show_value_us_in_marimo"] > 0 and conv["added_ms"] > 0

    assert "own_cost_over_floor_plus_echo_ms" in trivial
    assert sections["editing_help"]["figures"]["later_name"]["n"] >= 3
    life = sections["lifecycle"]["figures"]
    assert life["forced_marimo_pair"] == 0, life  # a forced shutdown is a fact, not a timing
    assert sections["console_start"]["figures"]["console_first_answer"]["n"] >= 1
    pair = sections["pair_namespace"]["figures"]
    assert pair["run_empty_us_in_marimo"] > 0 and pair["run_100_held_us_in_marimo"] > 0

    wire = sections["request_bytes"]["figures"]
    for kind in ("trivial", "cells", "cell_edit"):  # every execute went through the relay, and was counted
        assert wire[kind]["sent_bytes_median"] > wire[kind]["code_chars_in_execute_posts_median"] > 0, wire[kind]
        assert wire[kind]["received_bytes_median"] > 0 and wire[kind]["latency"]["n"] >= 3, wire[kind]
    assert wire["cell_edit"]["code_chars_in_execute_posts_median"] > len(wire["cell_edit"]["code"].split("\n")[1])

    assert "section / measure" in proc.stdout
