"""Two kernels on one notebook, executing and creating cells at the same time.

Both succeed; every cell each of them created is in the notebook exactly once (in
marimo's document and in the .py file), and a cell both of them write by the same
--name exists once, holding one of the two versions.
"""

from __future__ import annotations

import re
import threading
import time

from faults_support import LoggedKernel

ROUNDS = 6


def _work(k: LoggedKernel, who: str, results: list, errors: list) -> None:
    try:
        for i in range(ROUNDS):
            results.append(k.execute(f"%%cell --name {who}_{i}\n{who}_{i} = {i} * 10"))
            results.append(k.execute("sum(range(300_000))"))
            results.append(k.execute(f"%%cell --name shared\nshared = '{who}{i}'"))
            results.append(k.execute(f"print('{who}', {i})"))
    except Exception as e:  # noqa: BLE001 - reported by the test thread
        errors.append(e)


def test_two_kernels_at_once(server, tmp_path):
    env = {"XDG_STATE_HOME": str(server.state_home)}
    before = server.cells()
    with LoggedKernel(env, tmp_path / "a.log") as a, LoggedKernel(env, tmp_path / "b.log") as b:
        results: dict[str, list] = {"a": [], "b": []}
        errors: list[Exception] = []
        threads = [threading.Thread(target=_work, args=(k, who, results[who], errors))
                   for k, who in ((a, "a"), (b, "b"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert not errors, errors
        for who, runs in results.items():
            assert len(runs) == 4 * ROUNDS
            bad = [r.content for r in runs if r.status != "ok"]
            assert not bad, (who, bad)
            sums = [r.result["text/plain"] for r in runs[1::4]]
            assert sums == [str(sum(range(300_000)))] * ROUNDS
            assert [r.stdout for r in runs[3::4]] == [f"{who} {i}\n" for i in range(ROUNDS)]
        # Values made by each kernel's cells are visible to the other.
        check = a.execute("[b_0, b_5, a_3]")
        assert check.result["text/plain"] == "[0, 50, 30]"

    cells = server.cells()
    names = [c["name"] for c in cells]
    for who in "ab":
        for i in range(ROUNDS):
            assert names.count(f"{who}_{i}") == 1, (who, i, names)
    assert names.count("shared") == 1
    shared = next(c for c in cells if c["name"] == "shared")
    assert re.fullmatch(r"shared = '[ab]\d'", shared["code"].strip())
    assert len(cells) == len(before) + 2 * ROUNDS + 1
    assert len({c["id"] for c in cells}) == len(cells)

    # The file marimo writes has each of them exactly once too (it may lag the document a little).
    deadline = time.monotonic() + 10
    while True:
        source = server.notebook.read_text()
        wanted = [*(f"{w}_{i}" for w in "ab" for i in range(ROUNDS)), "shared"]
        counts = {n: len(re.findall(rf"^def {n}\(", source, re.M)) for n in wanted}
        if all(v == 1 for v in counts.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert all(v == 1 for v in counts.values()), counts
