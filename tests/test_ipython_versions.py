"""IPython 8 and 9 side by side: errors byte for byte as the `python3` kernel of the same env shows them.

One venv with IPython 8 and one with IPython 9, each with this project installed from the
checkout as users install it (which is itself the proof that it installs beside that IPython
without changing it), built once and cached (tests/venv_support.py). In each, a marimo from
that venv, our kernel and that venv's `python3` kernel run the same code, and the `error`
messages must be equal:

- where the notebook's Python has IPython, IPython's own formatter lays the exception out in
  marimo (inmarimo/tracebacks.py), in every `%xmode`;
- where it has none (marimo from a venv of its own with marimo alone, as in a sandbox or under
  `uvx marimo`), this process lays out marimo's text as its own IPython does.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from support import MarimoServer, execute, start_kernel, stop_kernel
from test_outputs_errors import SNIPPETS
from venv_support import IPYTHON_8, IPYTHON_9, marimo_only_python, project_venv, venv_env, write_kernelspecs

pytestmark = pytest.mark.timeout(600)

# Each defines what it uses: Verbose shows local values, and names do not outlive a scratchpad run.
MODE_SNIPPETS = [
    "def f(a):\n    return a / 0\nf(2)",
    "def h(items):\n    return items[9]\n\nh([1, 2])  # c\n# d",
    "raise ValueError('a') from KeyError('b')",
    "1/0",
    "def f(:",
]


class Side:
    """A venv's marimo with our kernel on its notebook, and that venv's python3 kernel."""

    def __init__(self, python: str, root: Path, *, notebook_python: str | None = None) -> None:
        self.python = python
        self.kernels = write_kernelspecs(python, root)
        self.env = dict(os.environ, **venv_env(python))  # start_kernel drops MARIMO_PAIR_* and MARIMO_TOKEN
        self.started: list = []
        self.server = MarimoServer.start(root / "marimo", python=notebook_python or python)
        try:
            self.ours = self._start("marimo-pair", {"XDG_STATE_HOME": str(self.server.state_home)})
            self.ref = self._start("python3", {})
        except BaseException:
            self.stop()
            raise

    def _start(self, name: str, extra: dict[str, str]):
        specs = KernelSpecManager(kernel_dirs=[str(self.kernels)])
        km, kc = start_kernel(extra, kernel_name=name, kernel_spec_manager=specs, base_env=self.env)
        self.started.append((km, kc))
        return kc

    def stop(self) -> None:
        try:
            for km, kc in self.started:
                stop_kernel(km, kc)
        finally:
            self.server.stop()

    def both(self, code: str):
        return execute(self.ours, code), execute(self.ref, code)


@pytest.fixture(scope="module", params=[IPYTHON_8, IPYTHON_9], ids=["ipython8", "ipython9"])
def venv(request) -> str:
    return project_venv(request.param)


@pytest.fixture(scope="module")
def side(venv, tmp_path_factory):
    s = Side(venv, tmp_path_factory.mktemp("with-ipython"))
    try:
        yield s
    finally:
        s.stop()


def _differences(side: Side, snippets: list[str]) -> list[str]:
    out = []
    for code in snippets:
        mine, theirs = side.both(code)
        assert mine.reply["status"] == theirs.reply["status"] == "error", (code, mine.reply)
        assert len(mine.of("error")) == 1, code
        a, b = mine.error, theirs.error
        if a["ename"] != b["ename"] or a["traceback"] != b["traceback"]:
            out.append(f"{code!r}\nours:    {a['traceback']!r}\npython3: {b['traceback']!r}")
        elif a["ename"] not in ("SyntaxError", "IndentationError") and a["evalue"] != b["evalue"]:
            out.append(f"{code!r}: evalue {a['evalue']!r} != {b['evalue']!r}")
    return out


def test_the_venv_keeps_its_ipython(venv, request):
    spec = request.node.callspec.params["venv"]
    done = subprocess.run([venv, "-c", "import IPython, marimo_pair_kernel; print(IPython.__version__)"],
                          capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == spec.split("==")[1], done.stdout  # pip changed nothing
    check = subprocess.run([venv, "-m", "pip", "check"], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr


def test_errors_are_the_python3_kernels(side):
    differ = _differences(side, SNIPPETS)
    assert not differ, "\n\n".join(differ)


@pytest.mark.parametrize("mode", ["Plain", "Verbose", "Minimal", "Context"])
def test_xmode_lays_errors_out_as_python3_does(side, mode):
    mine, theirs = side.both(f"%xmode {mode}")
    assert mine.reply["status"] == theirs.reply["status"] == "ok"
    assert mine.stdout == theirs.stdout == f"Exception reporting mode: {mode}\n"
    differ = _differences(side, MODE_SNIPPETS)
    assert not differ, "\n\n".join(differ)


def test_without_ipython_in_the_notebook_errors_are_laid_out_here(venv, tmp_path):
    s = Side(venv, tmp_path, notebook_python=marimo_only_python())
    try:
        mine, _ = s.both("import importlib.util; print(importlib.util.find_spec('IPython') is None)")
        assert mine.stdout == "True\n"  # the notebook's Python really has none
        differ = _differences(s, SNIPPETS)
        for mode in ("Minimal", "Plain", "Context"):
            s.both(f"%xmode {mode}")
            differ += [f"[{mode}] {d}" for d in _differences(s, MODE_SNIPPETS)]
        assert not differ, "\n\n".join(differ)
    finally:
        s.stop()


def _is_complete(kc, code: str) -> dict:
    msg_id = kc.is_complete(code)
    while True:
        reply = kc.get_shell_msg(timeout=30)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"]


def test_is_complete_answers_as_python3(side):
    # IPython's own rules in the kernel process (inputtransformer2), 8 or 9.
    for code in ["for i in range(3):", "x = (1,", "1 + 1", "def f(:", "%%cell\nx = 1\n", "  if True:\n"]:
        mine, theirs = _is_complete(side.ours, code), _is_complete(side.ref, code)
        assert mine == theirs, (code, mine, theirs)
