"""Unit tests of the IPython-magic pieces that need no marimo: the cell rewrite (transform.py),
and inmarimo/shell.py's and magics.py's parsing and formatting, also as they run without IPython."""

from __future__ import annotations

import builtins
import sys

import pytest

from marimo_pair_kernel import transform
from marimo_pair_kernel.errors import UsageError
from marimo_pair_kernel.inmarimo import base, magics, shell, values
from marimo_pair_kernel.outputs import ErrorInfo


@pytest.fixture
def rt(monkeypatch) -> None:
    """The runtime's modules as a fresh marimo kernel has them: no shell state, no formatter yet."""
    monkeypatch.setattr(shell, "_IP", {})
    monkeypatch.setattr(base, "_S", {})


@pytest.fixture
def no_ipython(monkeypatch):
    """The notebook's Python without IPython (marimo --sandbox, uvx marimo)."""
    real = builtins.__import__

    def fake(name, *args, **kw):
        if name == "IPython" or name.startswith("IPython."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", fake)


# -- transform.rewrite ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("1 + 1", "1 + 1"),
        ("print('%d' % 3)", "print('%d' % 3)"),
        ("a != b", "a != b"),
        ("%time x = 1", "get_ipython().run_line_magic('time', 'x = 1')\n"),
        ("y = 1\n%time z = y", "y = 1\nget_ipython().run_line_magic('time', 'z = y')\n"),
        ("x = !ls", "x = get_ipython().getoutput('ls')\n"),
        ("!!ls", "get_ipython().getoutput('ls')\n"),
        ("!echo {x}", "get_ipython().system('echo {x}')\n"),
        ("%%timeit -n 3\nx = 1", "get_ipython().run_cell_magic('timeit', '-n 3', 'x = 1\\n')\n"),
        # kernel-side: ours, unknown, pager lines
        ("%cells", "%cells"),
        ("%%cell --name a\nx = 1", "%%cell --name a\nx = 1"),
        ("%history -l 3", "%history -l 3"),
        ("%nosuchmagic", "%nosuchmagic"),
        ("seed?", "seed?"),
        ("%time?", "%time?"),
        ("%pinfo seed", "seed?"),
        ("%%capture\n!pip install -q a 'b>=2'\n# then\n!uv add c", "%packages add -q a 'b>=2' c"),
        ("%%capture\n!pip install a\nprint(1)",
         "get_ipython().run_cell_magic('capture', '', '!pip install a\\nprint(1)\\n')\n"),
        ("%pinfo2 seed", "seed??"),
    ],
)
def test_rewrite(code: str, expected: str) -> None:
    assert transform.rewrite(code).code == expected


def test_hidden_executes_tell_the_runtime() -> None:
    out = transform.rewrite("%config Completer.use_jedi = False", hidden=True).code
    assert out == "get_ipython(True).run_line_magic('config', 'Completer.use_jedi = False')\n"


def test_our_magics_in_the_middle_of_a_cell_say_where_they_go() -> None:
    with pytest.raises(UsageError, match="only on a line of its own"):
        transform.rewrite("x = 1\n%cells")
    assert "run_line_magic('matplotlib'" in transform.rewrite("x = 1\n%matplotlib inline").code


@pytest.mark.parametrize(
    ("command", "magic"),
    [
        ("!pip install pandas", "%packages add pandas"),
        ("!pip install -q -U 'numpy>=2'", "%packages add 'numpy>=2'"),
        ("!uv pip install polars", "%packages add polars"),
        ("!uv add httpx", "%packages add httpx"),
        ("!conda install scipy", "%packages add scipy"),
        ("!pip uninstall -y six", "%packages remove six"),
        ("!python -m pip install rich", "%packages add rich"),
    ],
)
def test_package_commands_become_packages(command: str, magic: str) -> None:
    r = transform.rewrite(command)
    assert r.code == magic
    assert "marimo's package manager" in r.note and r.note.count("\n") == 1


@pytest.mark.parametrize("command", ["!pip list", "!uv run x.py", "!uv sync", "!{sys.executable} -m pip install x"])
def test_other_package_tool_commands_run_as_shell(command: str) -> None:
    assert transform.rewrite(command).code.startswith("get_ipython().system(")


def test_package_options_only_the_tool_knows_say_what_to_do() -> None:
    with pytest.raises(UsageError, match=r"package names only.*sys\.executable"):
        transform.rewrite("!pip install -r requirements.txt")


def test_usage_errors_from_the_runtime_lose_our_frames() -> None:
    raw = ('Traceback (most recent call last):\n  File "x", line 1, in <module>\n  File "<string>", line 9, in f\n'
           "_mpk_0123456789ab.shell.UsageError: do this instead\n")
    e = transform.usage_error(ErrorInfo("UsageError", "do this instead", ["..."], raw))
    assert e is not None and e.traceback == ["\x1b[0;31mUsageError\x1b[0m: do this instead"]
    assert transform.usage_error(ErrorInfo("UsageError", "click's", ["..."], "click.UsageError: click's")) is None


# -- inmarimo/shell.py ---------------------------------------------------------------------------------


def test_options_as_ipython_parses_them(rt: None) -> None:
    opts = magics._options
    assert opts("-n 10 -r3 -q sum(range(10))", "n:r:tcp:qo") == ({"n": ["10"], "r": ["3"], "q": [True]},
                                                                   "sum(range(10))")
    assert opts("-1 + 2", "n:r:tcp:qo") == ({}, "-1 + 2")
    assert opts("  x  =  1", "n:") == ({}, "x  =  1")
    with pytest.raises(Exception, match="needs a value"):
        opts("-n", "n:")


def test_expansion_without_ipython(rt: None) -> None:
    ns = {"n": 41, "name": "x y"}
    assert shell._expand("echo {n + 1} $n $$HOME {{lit}}", ns) == "echo 42 41 $HOME {lit}"
    assert shell._expand("echo {n:>4}", ns) == "echo   41"
    assert shell.var_expand("echo {undefined_name}", ns) == "echo {undefined_name}"  # as IPython: unchanged


def test_expansion_matches_ipythons(rt: None) -> None:
    from IPython.utils.text import DollarFormatter

    ns = {"n": 41, "xs": [1, 2]}
    for cmd in ("echo {n + 1} $n", "echo {xs[0]} ${n}", "ls $$HOME"):
        assert shell._expand(cmd, ns) == DollarFormatter().vformat(cmd, args=[], kwargs=ns), cmd


def test_time_formats_without_ipython_match_ipythons(rt: None, monkeypatch) -> None:
    from IPython.core.magics.execution import TimeitResult, _format_time

    samples = [0.0, 3e-9, 5.96e-6, 0.0123, 1.5, 75.0, 3725.2]
    expected = [_format_time(t) for t in samples]
    result = str(TimeitResult(10, 3, 1e-6, 2e-6, [1.2e-5, 1.1e-5, 1.4e-5], 0.0, 3))
    monkeypatch.setitem(sys.modules, "IPython.core.magics.execution", None)  # the import fails
    assert [magics._format_time(t) for t in samples] == expected
    assert str(magics._timeit_result(10, 3, 1e-6, 2e-6, [1.2e-5, 1.1e-5, 1.4e-5], 0.0, 3)) == result
    assert repr(magics._timeit_result(1, 1, 1.0, 1.0, [1.0], 0.0, 3)).startswith("<TimeitResult : 1 s ± 0 ns per loop")


def test_getoutput_without_ipython_is_a_list(rt: None, no_ipython) -> None:
    lines = shell.getoutput("printf 'a\\nb\\n'")
    assert lines == ["a", "b"] and type(lines) is list


def test_shell_output_streams_and_sets_the_exit_code(rt: None) -> None:
    seen: list[str] = []
    assert shell._run_shell("echo one; exit 3", seen.append) == 3
    assert "".join(seen) == "one\n"


def test_mid_cell_package_commands_are_refused(rt: None) -> None:
    with pytest.raises(Exception, match="line of its own"):
        shell.system("pip install pandas", {})


def test_env_hides_secrets(rt: None, monkeypatch) -> None:
    monkeypatch.setenv("SOME_API_TOKEN", "sekrit")
    monkeypatch.setenv("PLAIN_VALUE", "shown")
    env = magics.line_magic_env("")
    assert env["SOME_API_TOKEN"] == "<hidden>" and env["PLAIN_VALUE"] == "shown"


def test_figure_formats(rt: None) -> None:
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    fig = plt.figure()
    plt.plot([1, 2])
    try:
        magics.set_figure_format("retina")
        b = values.bundle(fig)
        from IPython.core.pylabtools import retina_figure

        assert "image/png" in b["data"] and b["metadata"]["image/png"] == retina_figure(fig)[1]  # IPython's
        magics.set_figure_format("svg")
        b = values.bundle(fig)
        assert "image/svg+xml" in b["data"] and "image/png" not in b["data"]
        magics.set_figure_format("png")
        b = values.bundle(fig)
        assert "image/png" in b["data"] and not b["metadata"]
    finally:
        plt.close(fig)


def test_figure_formats_not_drawn_here_are_a_note(rt: None, capsys) -> None:
    magics.line_magic_config("InlineBackend.figure_formats = ['pdf', 'svg']")
    assert shell._IP["figure_format"] == "svg"
    assert "'pdf'" in capsys.readouterr().err
    magics.line_magic_config("InlineBackend.figure_format = 'jpeg'")
    assert shell._IP["figure_format"] == "svg" and "figures stay 'svg'" in capsys.readouterr().err
    magics.line_magic_config("InlineBackend.figure_format = 'png'")
    assert capsys.readouterr().err == ""


def test_figure_format_and_precision_without_ipython_say_so(rt, no_ipython, capsys):
    # The runtime's own formatter (inmarimo/formatter.py) stands in for IPython's: no figure formats or
    # float precision to set there, so both magics say why instead of failing.
    for fmt in ("retina", "svg"):
        magics.set_figure_format(fmt)
    assert magics.line_magic_precision("3") is None
    said = capsys.readouterr()
    text = said.out + said.err
    assert text.count("cannot apply") == 2 and "%precision needs IPython" in text, text


def test_timeit_warns_of_a_slow_run_as_ipython_does(rt: None, monkeypatch, capsys) -> None:
    import timeit

    shell._IP["call"] = ({}, None, False)
    monkeypatch.setattr(timeit.Timer, "repeat", lambda self, repeat, number: [1e-4] + [1e-5] * (repeat - 1))
    magics.line_magic_timeit("-n 1 -r 3 1 + 1")
    out = capsys.readouterr().out
    assert out.startswith("The slowest run took 10.00 times longer than the fastest. This could mean that an "
                          "intermediate result is being cached.\n"), out
    assert magics.line_magic_timeit("-q -n 1 -r 3 1 + 1") is None and capsys.readouterr().out == ""
    monkeypatch.setattr(timeit.Timer, "repeat", lambda self, repeat, number: [1e-5] * repeat)
    magics.line_magic_timeit("-n 1 -r 3 1 + 1")
    assert "slowest" not in capsys.readouterr().out


def test_time_reports_a_slow_parse_and_compile_as_ipython_does(rt: None, monkeypatch, capsys) -> None:
    shell._IP["call"] = ({}, None, False)
    real, clock = magics.time_clock, iter([0.0, 0.5, 1.0, 1.25])  # parse 0.5 s, compile 0.25 s
    monkeypatch.setattr(magics, "time_clock", lambda: next(clock))
    assert magics.line_magic_time("6 * 7") == 42
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("CPU times: user ") and lines[1].startswith("Wall time: ")
    assert lines[2:] == ["Compiler : 250 ms", "Parser   : 500 ms"]
    monkeypatch.setattr(magics, "time_clock", real)
    magics.line_magic_time("6 * 7")  # the real clock: both quick, no such lines
    assert len(capsys.readouterr().out.splitlines()) == 2


# -- inmarimo/moremagics.py ---------------------------------------------------------------------------


def test_aliases_are_ipythons(rt: None) -> None:
    from IPython.core.alias import default_aliases

    from marimo_pair_kernel.inmarimo import moremagics

    assert dict(default_aliases()) == moremagics.ALIASES


def test_capture_without_ipython_has_capturedios_shape(rt: None, no_ipython, capsys) -> None:
    from marimo_pair_kernel.inmarimo import moremagics

    ns: dict = {}
    shell._IP["call"] = (ns, None, False)
    moremagics.cell_magic_capture("kept", "import sys\nprint('a')\nprint('b', file=sys.stderr)\n6 * 7\n")
    assert capsys.readouterr() == ("", "")  # nothing shown
    kept = ns["kept"]
    assert (kept.stdout, kept.stderr, str(kept)) == ("a\n", "b\n", "a\n")
    assert type(kept).__name__ == "CapturedIO" and repr(kept).startswith("<IPython.utils.capture.CapturedIO object")
    assert [o.data for o in kept.outputs] == [{"text/plain": "42"}]
    kept.show()
    out, err = capsys.readouterr()
    assert out.startswith("a\n") and '"text/plain":"42"' in out and err == "b\n"


@pytest.mark.parametrize("line", ["", "-a", "a b", "--no-such 'x"])
def test_writefile_and_capture_usage(rt: None, line: str) -> None:
    from marimo_pair_kernel.inmarimo import moremagics

    shell._IP["call"] = ({}, None, False)
    with pytest.raises(shell.UsageError):
        moremagics.cell_magic_writefile(line, "text")
    if line in ("a b", "--no-such 'x"):
        with pytest.raises(shell.UsageError):
            moremagics.cell_magic_capture(line, "1")


@pytest.mark.parametrize("line", ["", "--bg bash", "--out=x bash", "--no-raise-error"])
def test_script_options_that_cant_run_here_say_so(rt: None, line: str) -> None:
    from marimo_pair_kernel.inmarimo import moremagics

    shell._IP["call"] = ({}, None, False)
    with pytest.raises(shell.UsageError):
        moremagics.cell_magic_script(line, "echo hi")


def test_pip_without_pip_in_the_notebooks_python_says_so(rt: None, monkeypatch) -> None:
    import importlib.util

    from marimo_pair_kernel.inmarimo import moremagics

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(shell.UsageError, match="has no pip"):
        moremagics.pip("list")
