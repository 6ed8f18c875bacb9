"""jupyter_kernel_test's conformance suite against a kernel on a live marimo notebook."""

from __future__ import annotations

import shutil
import tempfile
import unittest
from pathlib import Path

import jupyter_kernel_test as jkt
from support import MarimoServer, start_kernel, stop_kernel


class MarimoPairKernelTests(jkt.KernelTests):
    kernel_name = "marimo-pair"
    language_name = "python"
    file_extension = ".py"

    code_hello_world = "print('hello, world')"
    code_stderr = "import sys; print('oops', file=sys.stderr)"
    code_generate_error = "raise ValueError('boom')"

    # Names that only exist in the live notebook: completion must come from marimo's kernel.
    completion_samples = [
        {"text": "answ", "matches": {"answer"}},
        {"text": "%disc", "matches": {"%discover"}},
    ]
    complete_code_samples = ["1", "print('hello, world')", "def f(x):\n  return x*2\n\n\n", "%%cell\nx = 1\n\n"]
    incomplete_code_samples = ["print('''hello", "def f(x):\n  x += 1", "%%cell\nx = 1"]
    invalid_code_samples = ["import = 7q"]

    code_page_something = "len?"
    code_inspect_sample = "len"

    code_execute_result = [
        {"code": "6 * 7", "result": "42"},
        {"code": "answer", "result": "42"},  # a notebook variable
        {"code": "'a'", "result": "'a'"},
        {"code": "(1, 'a', None)", "result": "(1, 'a', None)"},
    ]
    code_display_data = [
        {"code": "from IPython.display import HTML; display(HTML('<b>hi</b>'))", "mime": "text/html"},
        {"code": "import pandas as pd; display(pd.DataFrame({'a': [1]}))", "mime": "text/html"},
    ]
    code_clear_output = "from IPython.display import clear_output; clear_output()"

    supported_history_operations = ("tail", "range", "search")
    code_history_pattern = "6 *"

    @classmethod
    def setUpClass(cls) -> None:
        cls._root = Path(tempfile.mkdtemp(prefix="mpk-jkt-"))
        cls.server = MarimoServer.start(cls._root)
        try:
            cls.km, cls.kc = start_kernel({"XDG_STATE_HOME": str(cls.server.state_home)})
        except Exception:
            cls.server.stop()
            raise

    @classmethod
    def tearDownClass(cls) -> None:
        try:
            stop_kernel(cls.km, cls.kc)
        finally:
            cls.server.stop()
            shutil.rmtree(cls._root, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
