"""The code that runs inside marimo (the inmarimo package) and what the kernel sends of it (no servers).

The kernel process never imports the package (it reads its files as text), nor marimo; only
scratchpad.install_code() carries the package's text, and every other line is one short call.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from marimo_pair_kernel import codemode, scratchpad

PACKAGE = Path(scratchpad.__file__).parent / "inmarimo"


def test_the_kernel_process_never_imports_the_runtime_or_marimo():
    probe = (
        "import sys\n"
        "import marimo_pair_kernel.kernel, marimo_pair_kernel.codemode, marimo_pair_kernel.widgets_live\n"
        "import marimo_pair_kernel.launcher, marimo_pair_kernel.cli, marimo_pair_kernel.console\n"
        "from marimo_pair_kernel import scratchpad, codemode\n"
        "from marimo_pair_kernel.magics import load_all\n"
        "load_all()\n"
        "scratchpad.install_code(); codemode.build('put', {'code': 'x = 1'})\n"
        "print(sorted(m for m in sys.modules if m.startswith(('marimo_pair_kernel.inmarimo', 'marimo'))"
        " and not m.startswith('marimo_pair_kernel') or m.startswith('marimo_pair_kernel.inmarimo')))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_no_runtime_module_is_over_600_lines():
    sizes = {f.name: len(f.read_text(encoding="utf-8").splitlines()) for f in PACKAGE.glob("*.py")}
    assert sizes and all(n <= 600 for n in sizes.values()), sizes


def _carried(install: str) -> list:
    """The package texts an install_code() carries (compressed, in its b85decode call)."""
    import ast
    import base64
    import zlib

    call = next(
        n for n in ast.walk(ast.parse(install))
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "b85decode"
    )
    packed = call.args[0].value  # type: ignore[attr-defined]
    return json.loads(zlib.decompress(base64.b85decode(packed)))


def test_the_package_text_travels_only_in_install_code():
    assert {stem for stem, _ in scratchpad.RUNTIME_SOURCES} == {f.stem for f in PACKAGE.glob("*.py")}
    install = scratchpad.install_code()
    assert _carried(install) == [list(s) for s in scratchpad.RUNTIME_SOURCES]
    shorts = [
        scratchpad.prepare("1 + 1").code,
        scratchpad.completion_code("import o", 8, "kid"),
        scratchpad.inspect_code("print", 0, "kid"),
        scratchpad.prepare("1/0", count=3, mode="Verbose").code,  # a failure's layout comes with it
        scratchpad.state_code("forget('kid')"),
        codemode.build("cells", {"detail": False}),
        codemode.build("put", {"code": "", "name": "", "bound": None, "before": None, "after": None}),
        codemode.widget_set_code("el", 1),
        codemode.widget_answer_code("n"),
    ]
    for code in shorts:
        assert len(code) < 300 and scratchpad.RUNTIME_MODULE in code, code
    # A short line that finds no runtime (the marimo kernel restarted) fails as runtime_missing.
    error = None
    try:
        exec(scratchpad.state_code("installed()"), {})
    except KeyError as e:
        error = e
    assert error is not None and scratchpad.runtime_missing("KeyError", str(error))


def test_bytes_per_request_once_warm():
    # What the kernel sends for a trivial execute, %cells and a %%cell edit (the budget:
    # 2 KB, 4 KB, 6 KB plus the cell's code); bench/ measures the same through a relay.
    owner = scratchpad.Owner("0123456789abcdef", "host|boot|pid:[4026531836]", 12345)
    execute = scratchpad.prepare("1 + 1", "http://127.0.0.1:2718", owner, 7).code
    cells = codemode.build("cells", {"detail": False})
    code = "y = x + 1\ny"
    edit = codemode.build("edit", {"target": "Hbol", "code": code, "run": True}, nonce="0" * 32)
    assert len(execute.encode()) <= 2048
    assert len(cells.encode()) <= 4096
    assert len(edit.encode()) <= 6144 + len(json.dumps(code))


def test_lower_modules_reach_the_higher_ones_they_call_once_the_package_loads():
    # sanitize.py and shell.py sit below values.py, magics.py and state.py (no import circle,
    # tests/test_layers_unit.py); the package hands them those functions when it loads.
    import marimo as mo
    import pandas as pd

    from marimo_pair_kernel.inmarimo import magics, sanitize, shell, state

    table = mo.ui.table(pd.DataFrame({"z": [5, 6]}), selection=None)  # shows data only: no value
    assert 'class="dataframe"' in (sanitize.data_view_html(table) or "")
    assert shell._magic("line_magic_time") is magics.line_magic_time
    assert shell._magic("line_magic_who") is state.line_magic_who
    assert shell._magic("line_magic_no_such") is None
    state._CURRENT.append(ns := {"__name__": "probe"})
    try:
        assert shell._user_ns() is ns  # the namespace the current execute runs in
    finally:
        state._CURRENT.remove(ns)
