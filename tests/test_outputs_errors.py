"""Errors as ipykernel sends them: IPython's colored frames, a plain evalue, only the user's lines.

The reference is the `python3` kernel (ipykernel) in the same environment, run side by side
with this kernel on the same code; the pure tests below cover the parsing of marimo's text.
"""

from __future__ import annotations

import re

import pytest
from support import execute, kernel_fixture

from marimo_pair_kernel import scratchpad, tracebacks
from marimo_pair_kernel.outputs import error_from_exception, parse_error, starts_error_report

pytestmark = pytest.mark.timeout(240)

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def plain(lines: list[str]) -> str:
    return ANSI.sub("", "\n".join(lines))


# -- side by side with ipykernel ------------------------------------------------------------------

# Each runs in both kernels, in this order, so the execution counts (In[N]) agree.
SNIPPETS = [
    "1/0  # note",
    "x = 1\ndef f():\n    return 1/0\nf()",
    "undefined_name_xyz",
    "raise ValueError('multi\\nline')",
    "import json\njson.loads('{')",
    "raise ValueError('a') from KeyError('b')",
    "try:\n  1/0\nexcept Exception:\n  undefined_q",
    "class E(Exception): pass\nraise E()",
    "def g():\n    '''doc'''\n    a = 1\n\n    b = 2\n    c = 3\n    d = 4\n    return a/0\ng()",
    "x = (1,\n  2)[5]",
    "class K:\n    def m(self, a, *r, k=1, **kw):\n        return a[9]\nK().m([])",
    "def f(:\n  pass",
    "for i in range(3):\nprint(i)",
]


python3 = kernel_fixture(None, kernel_name="python3")


def test_tracebacks_are_the_ones_ipykernel_sends(kernel, python3):
    differ = []
    for code in SNIPPETS:
        ours, ref = execute(kernel, code), execute(python3, code)
        assert ours.reply["status"] == ref.reply["status"] == "error", code
        assert len(ours.of("error")) == 1, code  # exactly one error message
        mine, theirs = ours.error, ref.error
        assert mine is not None and theirs is not None
        assert mine["ename"] == theirs["ename"], code
        if mine["ename"] not in ("SyntaxError", "IndentationError"):  # ipykernel adds its temp file's name
            assert mine["evalue"] == theirs["evalue"], code
        if mine["traceback"] != theirs["traceback"]:
            differ.append((code, mine["traceback"], theirs["traceback"]))
    assert not differ, "\n\n".join(f"{c!r}\nours: {o!r}\nipykernel: {t!r}" for c, o, t in differ)


def test_comment_after_the_last_expression_shows_as_written(kernel):
    run = execute(kernel, "value = 3\nvalue / 0  # divide by nothing")
    shown = plain(run.error["traceback"])
    assert "value / 0  # divide by nothing" in shown
    assert "nothing)" not in shown and "_mpk" not in shown
    assert re.search(r"Cell In\[\d+\], line 2", shown)
    assert run.error["evalue"] == "division by zero"
    # ...and a value after a comment still shows, also when the comment has a parenthesis.
    assert execute(kernel, "6 * 7  # the answer (really)").result["text/plain"] == "42"
    assert execute(kernel, "(6 *\n 7)  # two lines").result["text/plain"] == "42"


def test_errors_in_notebook_functions_show_the_cell(kernel, server):
    # A notebook cell defines a function; scratch code calls it: the frame is the cell's.
    assert execute(kernel, "%%cell --name helper\ndef helper_fail(n):\n    return n / 0\n").reply["status"] == "ok"
    run = execute(kernel, "helper_fail(2)")
    shown = plain(run.error["traceback"])
    assert re.search(r"Cell helper \(\w+\), line 2, in helper_fail\(n\)", shown), shown
    assert "----> 2     return n / 0" in shown
    assert "marimo/_" not in shown and "__marimo__" not in shown


def test_our_own_errors_are_one_line_like_ipython(kernel):
    run = execute(kernel, "%cell frobnicate")
    assert run.error["traceback"][0].startswith("\x1b[0;31mUsageError\x1b[0m: ")
    assert run.error["evalue"] in plain(run.error["traceback"])


# -- parsing marimo's text (no marimo needed) --------------------------------------------------------

SCRATCH = "/tmp/marimo_1/__marimo__cell___scratch___.py"


def test_frames_before_the_users_code_are_dropped():
    text = (
        "Traceback (most recent call last):\n"
        '  File "/x/site-packages/marimo/_runtime/executor.py", line 9, in execute\n'
        "    return eval(code)\n"
        f'  File "{SCRATCH}", line 1, in <module>\n'
        "    1/0\n"
        "    ~^~\n"
        "ZeroDivisionError: division by zero\n"
    )
    err = parse_error(text, count=7, source="1/0\n")
    shown = plain(err.traceback)
    assert "executor.py" not in shown and "Cell In[7], line 1" in shown
    assert (err.ename, err.evalue) == ("ZeroDivisionError", "division by zero")


def test_chain_that_starts_without_a_traceback_is_one_error():
    text = (
        "KeyError: 'b'\n\nThe above exception was the direct cause of the following exception:\n\n"
        f'Traceback (most recent call last):\n  File "{SCRATCH}", line 1, in <module>\n'
        "    raise ValueError('a') from KeyError('b')\nValueError: a\n"
    )
    assert starts_error_report(text)
    err = parse_error(text, count=1)
    assert (err.ename, err.evalue) == ("ValueError", "a")
    assert "\nThe above exception was the direct cause of the following exception:\n" in err.traceback


def test_repeated_frames_and_a_frame_without_source():
    text = (
        "Traceback (most recent call last):\n"
        f'  File "{SCRATCH}", line 2, in r\n    return r(n+1)\n           ^^^^^^\n'
        "  [Previous line repeated 968 more times]\n"
        "RecursionError: maximum recursion depth exceeded\n"
    )
    err = parse_error(text, count=3)  # no source: the one line marimo printed
    shown = plain(err.traceback)
    assert "----> 2 return r(n+1)" in shown
    assert "[... skipping similar frames: r at line 2 (968 times)]" in shown


def test_bare_syntax_error_is_ipythons_single_entry():
    err = parse_error("line 1\n    def f(:\n          ^\nSyntaxError: invalid syntax\n", count=4)
    assert len(err.traceback) == 1
    assert plain(err.traceback) == "  Cell In[4], line 1\n    def f(:\n          ^\nSyntaxError: invalid syntax\n"
    assert (err.ename, err.evalue) == ("SyntaxError", "invalid syntax")


def test_text_that_is_not_a_traceback_falls_back_to_its_lines():
    err = parse_error("something odd happened\nKeyError\n")
    assert err.traceback == ["something odd happened", "KeyError"]
    assert tracebacks.parse("no exception line here") is None


def test_qualified_exception_names_are_short_like_ipython():
    text = f'Traceback (most recent call last):\n  File "{SCRATCH}", line 1, in <module>\n    f()\nmarimo._x.Boom: no\n'
    assert parse_error(text).ename == "Boom"
    text = text.replace("marimo._x.Boom", "json.decoder.JSONDecodeError")
    assert parse_error(text).ename == "JSONDecodeError"


def test_our_errors_have_no_frames():
    from marimo_pair_kernel.errors import UsageError

    err = error_from_exception(UsageError("bad line"))
    assert err.traceback == ["\x1b[0;31mUsageError\x1b[0m: bad line"]


@pytest.mark.parametrize(
    "code",
    ["1/0  # note", "x = 1\nx  # (c)\n# trailing\n", "f(\n  1\n)\n", "é = 1; é", "print(1)", "def f(:"],
)
def test_the_users_code_travels_unchanged(code):
    prepared = scratchpad.prepare(code)
    assert scratchpad.user_source(prepared.code) == code  # what the traceback's lines come from
    assert prepared.code.count("\n") == 1  # one scratch statement; the user's lines are a string in it
    assert "_mpk_value = (" not in scratchpad.restore_traceback("    _mpk_value = (1/0  # note")


def test_xmode_switches_the_layout_cycles_and_is_listed(kernel):
    try:
        assert execute(kernel, "%xmode minimal").stdout == "Exception reporting mode: Minimal\n"
        assert plain(execute(kernel, "1/0").error["traceback"]) == "ZeroDivisionError: division by zero\n"
        assert execute(kernel, "%xmode Verbose").stdout == "Exception reporting mode: Verbose\n"
        shown = plain(execute(kernel, "def f(a):\n    return a / 0\nf(21)").error["traceback"])
        assert "f(a=21)" in shown and "a = 21" in shown  # local values: IPython's formatter, in marimo
        # No argument: the next mode, in IPython's order (Plain, Context, Verbose, Minimal).
        assert execute(kernel, "%xmode").stdout == "Exception reporting mode: Minimal\n"
        assert execute(kernel, "%xmode").stdout == "Exception reporting mode: Plain\n"
        bad = execute(kernel, "%xmode Loud")
        assert bad.error["ename"] == "UsageError" and "Plain, Context, Verbose, Minimal" in bad.error["evalue"]
        listed = execute(kernel, "%lsmagic")
        assert "%xmode" in str([m["content"] for m in listed.messages])
    finally:
        assert execute(kernel, "%xmode Context").reply["status"] == "ok"
