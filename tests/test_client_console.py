"""`jupyter console` on our kernel, driven through a pseudo-terminal as a person types.

The full prompt_toolkit prompt (not --simple-prompt): it asks the kernel's
`is_complete` on every Enter, so a `%%cell` is typed line by line and ends, as in
IPython, with an empty line. The screen output is ANSI-stripped and searched;
the whole session is saved to tests/artifacts/console.txt.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pexpect
import pytest
from jupyter_client import BlockingKernelClient
from support import ARTIFACTS, PtyScreen

VENV_BIN = str(Path(sys.executable).parent)

CONTINUATION = r"\.\.\.: "


class Console(PtyScreen):
    """A `jupyter console --kernel marimo-pair` in a pty; `expect` searches the text past what was read."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        super().__init__(os.path.join(VENV_BIN, "jupyter"), ["console", "--kernel", "marimo-pair"], env, cwd, 160)
        self.runtime_dir = Path(env["JUPYTER_RUNTIME_DIR"])
        self.count = 0  # the number in the last `In [N]:` prompt seen

    def prompt(self, timeout: float = 30) -> re.Match:
        """The next input prompt, skipping the redraw of the current one that Enter causes."""
        m = self.expect(rf"In \[(?!{self.count}\])(\d+)\]: ", timeout)
        self.count = int(m.group(1))
        return m

    def run(self, code: str, timeout: float = 30) -> str:
        """Type one line of code; return what the console printed before the next prompt."""
        self.line(code)
        start = self.pos
        m = self.prompt(timeout)
        return self.text[start:m.start()]

    def close(self) -> None:
        """Stop the console and the kernel it started, even if the console is stuck."""
        if self.child.isalive():
            self.child.terminate(force=True)
        # Killing the console does not end its kernel (own session, no parent polling):
        # ask the kernel itself to shut down, through its connection file.
        for cf in self.runtime_dir.glob("kernel-*.json"):
            kc = BlockingKernelClient(connection_file=str(cf))
            kc.load_connection_file()
            kc.start_channels(shell=False, iopub=False, stdin=False, hb=False, control=True)
            try:
                kc.shutdown()
            finally:
                kc.stop_channels()


@pytest.fixture(scope="module")
def console(server, tmp_path_factory):
    home = tmp_path_factory.mktemp("console")
    env = {k: v for k, v in os.environ.items() if k not in ("MARIMO_TOKEN", "MARIMO_PAIR_URL", "MARIMO_PAIR_FILE")}
    env.update(
        XDG_STATE_HOME=str(server.state_home),
        TERM="xterm-256color",
        PROMPT_TOOLKIT_NO_CPR="1",  # the pty never answers cursor-position requests
        IPYTHONDIR=str(home / "ipython"),
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        PATH=VENV_BIN + os.pathsep + env.get("PATH", ""),
    )
    con = Console(env, home)
    try:
        con.prompt(timeout=60)
        yield con
    finally:
        con.close()
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "console.txt").write_text(con.text)


def test_prompt_and_plain_code(console):
    out = console.run("answer * 2")
    assert re.search(r"Out\[\d+\]: 84", out), out
    out = console.run("print('hello from', 'marimo')")
    assert "hello from marimo" in out


def test_an_import_in_one_line_is_used_in_the_next(console):
    assert "Error" not in console.run("import statistics")  # names bound here stay for the next line
    out = console.run("statistics.mean([seed, answer])")
    assert re.search(r"Out\[\d+\]: 41.5", out), out


def test_listing_is_the_magics_out(console):
    # As IPython shows a line magic's value: Out[n], then the aligned table.
    out = console.run("%cells")
    assert re.search(r"Out\[\d+\]: ", out) and "seed = 41" in out, out


def test_error_is_shown_once(console):
    out = console.run("1/0")
    # IPython's layout names it twice (header, last line), as ipykernel does; no stderr echo of it.
    assert out.count("ZeroDivisionError: division by zero") == 1, out
    assert "Traceback (most recent call last)" in out and "----> 1 1/0" in out, out


def test_cell_magic_typed_line_by_line(console, server):
    console.line("%%cell --name tripled")
    console.expect(CONTINUATION)  # the kernel said "incomplete": a %% cell goes on
    console.line("tripled = seed * 3")
    console.expect(CONTINUATION)
    console.line("print('tripled is', tripled)")
    console.expect(CONTINUATION)
    console.line("")  # an empty line ...
    console.expect(CONTINUATION)
    start = console.pos
    console.line("")  # ... and Enter on it ends the cell, as in IPython
    m = console.prompt()
    out = console.text[start:m.start()]
    assert "tripled is 123" in out, out
    assert "Error" not in out, out

    cells = [c for c in server.cells() if c["name"] == "tripled"]
    assert [c["code"].strip() for c in cells] == ["tripled = seed * 3\nprint('tripled is', tripled)"]
    out = console.run("tripled + 1")
    assert re.search(r"Out\[\d+\]: 124", out), out


def test_tab_completes_a_notebook_variable(console):
    console.child.send("answ")
    console.child.send("\t")
    console.expect(r"er")  # the completion was inserted on the line
    out = console.run(" // 2")
    assert re.search(r"Out\[\d+\]: 21", out), out


def test_ctrl_c_stops_a_long_run(console):
    console.line("import time; print('sleeping', flush=True); time.sleep(60)")
    console.expect(r"\nsleeping\n")  # the output, not the echo of the typed line
    t0 = time.monotonic()
    console.child.sendintr()
    start = console.pos
    m = console.prompt(timeout=20)
    assert time.monotonic() - t0 < 15
    assert "KeyboardInterrupt" in console.text[start:m.start()]
    # The marimo kernel stopped too: the next run does not wait behind the sleep.
    t0 = time.monotonic()
    out = console.run("answer", timeout=20)
    assert re.search(r"Out\[\d+\]: 42", out), out
    assert time.monotonic() - t0 < 15


def test_exit_ends_the_console(console):
    console.line("exit")
    console.child.expect(pexpect.EOF, timeout=30)
    console.child.close()
    assert console.child.exitstatus == 0
