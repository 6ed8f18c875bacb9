"""What a Python user sees, measured against ipykernel: the parity corpus in both kernels.

Runs tests/parity_corpus.py's snippets in a `python3` ipykernel and in a marimo-pair
kernel (on this module's marimo server) and asserts that every one matches (issue 10:
target 100%). The mismatch list goes to tests/artifacts/parity_report.txt, and also to
$MPK_PARITY_REPORT when that is set.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from parity_corpus import SNIPPETS, Out, Report, Snippet, compare, run_corpus
from support import started_kernel

ARTIFACTS = Path(__file__).parent / "artifacts"


def write_report(report: Report, name: str = "parity_report.txt") -> str:
    text = report.text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / name).write_text(text)
    extra = os.environ.get("MPK_PARITY_REPORT")
    if extra:
        path = Path(extra)
        (path if name == "parity_report.txt" else path.with_name(name)).write_text(text)
    return text


@pytest.fixture(scope="module")
def reference(server):
    """ipykernel, in the notebook's directory (where marimo runs the notebook's code)."""
    with started_kernel({}, kernel_name="python3", cwd=str(server.root)) as (_, kc):
        yield kc


@pytest.fixture(scope="module")
def report(kernel, reference) -> Report:
    rep = run_corpus(kernel, reference)
    write_report(rep)
    print(f"\noutput parity with ipykernel: {rep.figure}")
    return rep


def test_corpus_is_big_enough_and_names_are_unique():
    assert len(SNIPPETS) >= 30
    assert len({s.name for s in SNIPPETS}) == len(SNIPPETS)
    assert all(s.check is not None for s in SNIPPETS if s.exception), "an exception needs its own rule"


def test_the_comparison_can_fail():
    """The yardstick itself, on made-up outputs: each kind of difference is caught."""
    plain = Snippet("x", "python", "x")
    ref = [Out("execute_result", {"text/plain": "<A at 0x7f00>", "text/html": "<b>a</b>"})]
    assert compare(plain, [Out("execute_result", {"text/plain": "<A at 0x1234>", "text/html": "<b>a</b>"})], ref) == []
    wrong = [
        [Out("execute_result", {"text/plain": "<A at 0x1>"})],  # a mimetype missing
        [Out("execute_result", {"text/plain": "A", "text/html": "<b>a</b>"})],  # text/plain differs
        [Out("execute_result", {"text/plain": "<A at 0x1>", "text/html": "<b>b</b>"})],  # html differs
        [Out("display_data", {"text/plain": "<A at 0x1>", "text/html": "<b>a</b>"})],  # message type
        [*ref, Out("stream:stderr", {"text": "noise"})],  # stray stderr
        [Out("execute_result", {"text/plain": "<A at 0x1>", "text/html": "<marimo-table></marimo-table>"})],
    ]
    for ours in wrong:
        assert compare(plain, ours, ref), ours
    err = Snippet("e", "error", "1/0  # note")
    ref_err = [Out("error", {"ename": "ZeroDivisionError", "evalue": "division by zero", "traceback": ["1/0  # note"]})]
    glued = [Out("error", {"ename": "ZeroDivisionError", "evalue": "division by zero", "traceback": ["1/0)  # note"]})]
    assert compare(err, glued, ref_err)


def test_the_harness_sees_ipykernels_outputs(report):
    """Guard against a vacuous comparison: the reference side must produce what it is known to."""
    by_name = {r.snippet.name: r for r in report.results}
    df = by_name["pandas DataFrame"].ref
    assert [o.kind for o in df if o.kind == "execute_result"] and "text/html" in df[0].data
    shown = by_name["matplotlib plt.show()"].ref
    assert any(o.kind == "display_data" and "image/png" in o.data for o in shown)
    assert by_name["int"].ref[0].plain == "42"


def test_outputs_match_ipykernel(report):
    bad = report.mismatches()
    summary = "\n".join(f"- {r.snippet.name}: {' | '.join(r.problems)}" for r in bad)
    assert not bad, f"output parity {report.figure}; mismatching snippets:\n{summary}"
