"""Discovery beside junk: corrupt, partial and dead registry entries next to a live server."""

from __future__ import annotations

import json
import time

from support import execute, start_kernel, stop_kernel

from marimo_pair_kernel.discovery import discover, registry_dir


def _junk(directory):
    (directory / "127.0.0.1_1.json").write_text("{not json")  # corrupt
    (directory / "127.0.0.1_2.json").write_text('{"server_id": "127.0.0.1:2", "pid": 12')  # partial write
    dead = {"server_id": "127.0.0.1:3", "pid": 2**22 + 7, "host": "127.0.0.1", "port": 3,
            "base_url": "", "started_at": "2026-01-01T00:00:00", "version": "0.25.2"}
    (directory / "127.0.0.1_3.json").write_text(json.dumps(dead))  # process long gone


def test_finds_exactly_the_live_server(server):
    directory = registry_dir({"XDG_STATE_HOME": str(server.state_home)})
    _junk(directory)
    try:
        t0 = time.monotonic()
        found = discover(directory)
        elapsed = time.monotonic() - t0
        assert [s.url for s in found.servers] == [server.url]
        assert [nb.path for nb in found.servers[0].notebooks] == [str(server.notebook)]
        reasons = {p.split("/")[-1]: r for p, r in ((s.path, s.reason) for s in found.stale)}
        assert set(reasons) == {"127.0.0.1_1.json", "127.0.0.1_2.json", "127.0.0.1_3.json"}
        assert "not valid JSON" in reasons["127.0.0.1_1.json"]
        assert "not running" in reasons["127.0.0.1_3.json"]
        assert elapsed < 5  # generous: liveness checks run concurrently with short timeouts
        # Nothing is deleted: stale files are only reported.
        assert len(list(directory.glob("*.json"))) == 4

        # Through the kernel: %discover reports the same, and auto-select still works.
        km, kc = start_kernel({"XDG_STATE_HOME": str(server.state_home)})
        try:
            run = execute(kc, "%discover")
            data = run.displays[0]["application/json"]
            assert [s["url"] for s in data["servers"]] == [server.url]
            assert len(data["stale"]) == 3
            assert execute(kc, "answer").result["text/plain"] == "42"
        finally:
            stop_kernel(km, kc)
    finally:
        for n in (1, 2, 3):
            (directory / f"127.0.0.1_{n}.json").unlink(missing_ok=True)


def test_cli_discover_json(server):
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "marimo_pair_kernel", "discover", "--json"],
        env={**server.env()}, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["servers"][0]["notebooks"][0]["path"] == str(server.notebook)
