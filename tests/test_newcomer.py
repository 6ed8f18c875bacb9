"""A newcomer's first hour: the README's quick start, followed to the letter, leaves the suite
passing; the advice for a notebook served without a tab leads with the next step."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import psutil
import pytest
from examples_support import ROOT, committed
from install_support import Console, kernels_of, person_env, started_by
from support import MarimoServer, execute, started_kernel

from marimo_pair_kernel.discovery import Discovery, Server
from marimo_pair_kernel.target import _tabless_lead

README = (ROOT / "README.md").read_text()
PROMPT = r"In \[\d+\]: "


def quick_start() -> list[str]:
    """The commands in the README's Quick start block, comments and blank lines left out."""
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [ln for ln in block.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def test_ci_runs_the_readmes_test_command():
    """.ci/run runs the quick start's test command, split so that the lint runs in between."""
    commands = quick_start()
    test_line = commands[-1]
    install, pytest_cmd = (part.strip() for part in test_line.split("&&"))
    ci = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines() if ln.strip() and ln[0] != "#"]
    assert install in ci and pytest_cmd in ci, (install, pytest_cmd, ci)
    assert ci.index(install) < ci.index(pytest_cmd)


def test_the_quick_start_verbatim_then_its_suggestion_then_the_examples_tests(tmp_path):
    """As a newcomer on stock Debian: clone; run the quick start's venv line and main-job line
    as written, with only /usr/bin:/bin on PATH (no `python` there) and a fresh HOME; in the
    console, add the README's `heavy` cell (typed line by line, ended with two Enters); then run
    the suite's example tests in that clone. They read the committed example, so the changed
    working tree does not fail them."""
    if not (ROOT / ".git").exists():
        pytest.skip("this test clones the repository, as a newcomer does: it needs a git checkout, not an sdist")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)], check=True, timeout=120)
    venv_line, main_line = quick_start()[:2]
    assert "venv" in venv_line and "marimo-pair-kernel console examples/penguins.py" in main_line, quick_start()
    assert shutil.which("python", path="/usr/bin:/bin") is None and shutil.which("python3", path="/usr/bin:/bin")
    env = person_env(tmp_path, "/usr/bin:/bin")

    suggestion = re.search(r"`(%%cell --name heavy)` with `(heavy = [^`]+)`", README)
    assert suggestion, "the README's quick start no longer suggests the `heavy` cell"
    con = Console("/bin/sh", ["-c", f"{venv_line} && {main_line}"], env, clone, tmp_path / "console.txt")
    try:
        con.expect(r"marimo is starting at http://127\.0\.0\.1:\d+", timeout=600)  # after pip install .
        con.expect(PROMPT)
        con.line(suggestion.group(1))
        con.expect(r"\.\.\.: ")
        con.line(suggestion.group(2))
        con.expect(r"\.\.\.: ")
        con.line("")  # an empty line, and Enter on it: the two Enters the README mentions
        con.expect(r"\.\.\.: ")
        con.line("")
        con.expect(r"created and ran cell '\w+' \(heavy\)")
        con.expect(PROMPT)
        con.line("len(heavy)")
        con.expect(r"Out\[\d+\]: \d+")
        con.expect(PROMPT)
        (kernel,) = kernels_of(con.child.pid)
        assert os.path.dirname(kernel.cmdline()[0]) == str(clone / ".venv" / "bin"), kernel.cmdline()
        ours = [kernel, *started_by(tmp_path / "state")]
        assert con.exit() == 0
        gone, alive = psutil.wait_procs(ours, timeout=20)
        assert not alive, alive
    finally:
        con.close()
    changed = (clone / "examples" / "penguins.py").read_text()
    assert "heavy = [p for p in penguins" in changed
    assert changed != committed("examples/penguins.py")

    run_env = {k: v for k, v in os.environ.items() if not k.startswith("MARIMO_PAIR_") and k != "MARIMO_TOKEN"}
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "0", "-p", "no:cacheprovider", "-q",
         "tests/test_open.py", "-k", "example"],
        cwd=clone, env={**run_env, "PYTHONPATH": str(clone / "src")}, capture_output=True, text=True, timeout=600,
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert re.search(r"\b1 passed\b", tests.stdout), tests.stdout[-2000:]


# -- a notebook served without a tab ----------------------------------------------------------


def test_a_served_notebook_without_a_tab_leads_with_open(tmp_path):
    """`marimo edit NB.py --headless` that nobody opened: the first line says `%open NB.py`
    (not `marimo edit`, which the person just ran), in at most two lines; doing it works."""
    state = tmp_path / "state"
    srv = MarimoServer.start(tmp_path / "theirs", state_home=state, open_session=False)
    try:
        with started_kernel({"XDG_STATE_HOME": str(state)}, cwd=str(tmp_path)) as (_, kc):
            run = execute(kc, "1+1", timeout=120)
            assert run.reply["status"] == "error" and run.reply["ename"] == "NoNotebookError", run.reply
            text = run.reply["evalue"]
            assert text.startswith(f"Run %open {srv.notebook}: marimo at {srv.url} serves it"), text
            # At most two 100-column lines, for a short path (the test's own path is long).
            short = text.replace(str(srv.notebook), "nb.py").replace(srv.url, "http://127.0.0.1:2718")
            assert "marimo edit" not in text and len(short) <= 200, text
            run = execute(kc, f"%open {srv.notebook}", timeout=120)
            assert run.reply["status"] == "ok", run.reply
            assert execute(kc, "answer").result["text/plain"] == "42"
    finally:
        srv.stop()


@pytest.mark.parametrize(("folder", "named"), [(False, False), (False, True), (True, False), (True, True)])
def test_the_no_tab_advice_reads_well(tmp_path, folder, named):
    """The wording for a file server and a folder server, with and without a file asked for
    (formatting only; the kernel test above shows it end to end)."""
    nb = tmp_path / "nb.py"
    nb.write_text("")
    url = "http://127.0.0.1:1"
    server = Server(url, "0.25.2", 1, (), serves=str(tmp_path if folder else nb), serves_folder=folder)
    text = _tabless_lead(Discovery(servers=(server,)), str(nb) if named else None)
    if folder:
        lead = f"Run %open {nb}: " if named else f"Run %open PATH with a notebook in {tmp_path}: "
        where = f"the folder {tmp_path}" if named else "that folder"
        lead += f"marimo at {url} serves {where} with no tab open"
    else:
        lead = f"Run %open {nb}: marimo at {url} serves it with no tab open"
    assert text and text.startswith(lead) and len(text.replace(str(tmp_path), "F")) <= 200, text
    other = Server("http://127.0.0.1:2", "0.25.2", 2, (), serves="/v/x.py")
    text = _tabless_lead(Discovery(servers=(server, other)))
    assert text and text.startswith("Run %open PATH with one of these notebooks") and "/v/x.py" in text, text


# -- --help -----------------------------------------------------------------------------------


def _help(capsys, *args: str) -> str:
    from marimo_pair_kernel.cli import main

    with pytest.raises(SystemExit) as stop:
        main([*args, "--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", ["install", "discover", "console"])
def test_every_command_has_a_description_and_an_example(capsys, command):
    top = _help(capsys)
    listed = re.search(rf"^\s+{command}\s+(\S.*)$", top, re.M)
    assert listed, top  # a one-line description in the command list
    text = _help(capsys, command)
    description = text.split("\n\n")[1]
    assert description.strip() and not description.startswith(("positional", "options")), text
    assert re.search(rf"^examples:\n  marimo-pair-kernel {command}\b", text, re.M), text


def test_install_and_console_help_say_where_things_go(capsys):
    text = " ".join(_help(capsys, "install").split())
    assert "this Python environment" in text and "inside a venv, that venv" in text, text
    assert "~/.local/share/jupyter/kernels" in text and "pipx" in text, text
    text = " ".join(_help(capsys, "console").split())
    assert "scratch.py under $TMPDIR or /tmp" in text and "kept after exit" in text, text
    assert "that server stops when the console exits" in text, text
