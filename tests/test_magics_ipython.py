"""IPython's everyday magics and `!` lines, side by side with the `python3` kernel (ipykernel).

Each line of issue 23 runs on both kernels: the same reply status and the same output shape
(a regex on the text, since times and paths differ). Ours runs in the live marimo notebook's
process; the timed code sees the notebook's names.
"""

from __future__ import annotations

import os
import re
import threading
import time

import nbformat
import papermill
import pytest
from nbclient import NotebookClient
from support import execute, started_kernel

pytestmark = pytest.mark.timeout(300)

TIME = r"CPU times: user \S+ \S+, sys: \S+ \S+, total: \S+ \S+\nWall time: \S+ \S+\n"
# ... and, as IPython does, a line each for a parse or compile that took over 0.1 s (a loaded machine).
TIME += r"(?:Compiler : \S+ \S+\n)?(?:Parser   : \S+ \S+\n)?"
# IPython (and so python3) adds the first line when the slowest run took over 4x the fastest, and the
# last when compiling took over 0.1 s: noise on a loaded machine, not a difference between the kernels
# (test_magics_ipython_unit checks that ours prints the first when IPython would).
SLOWEST = (r"(?:The slowest run took \S+ times longer than the fastest\. "
           r"This could mean that an intermediate result is being cached\.\n)?")
TIMEIT_RESULT = r"\S+ \S+ ± \S+ \S+ per loop \(mean ± std\. dev\. of {runs} runs?, {loops} loops? each\)\n"
TIMEIT = SLOWEST + TIMEIT_RESULT + r"(?:Compiler time: \S+ s\n)?"


@pytest.fixture(scope="module")
def py3(tmp_path_factory):
    """ipykernel's own kernel, the reference."""
    with started_kernel({}, kernel_name="python3", cwd=str(tmp_path_factory.mktemp("py3"))) as (_, kc):
        yield kc


def both(kernel, py3, code: str, **kw):
    return execute(kernel, code, **kw), execute(py3, code, **kw)


def text(run) -> str:
    """stdout, then the result's text/plain (where IPython's line magics put their value)."""
    result = run.result or {}
    return run.stdout + result.get("text/plain", "")


def same(kernel, py3, code: str, pattern: str, status: str = "ok"):
    ours, theirs = both(kernel, py3, code)
    for who, run in (("marimo-pair", ours), ("python3", theirs)):
        assert run.reply["status"] == status, (who, run.reply, run.messages)
        if status == "ok":
            assert re.fullmatch(pattern, text(run).replace("\r\n", "\n"), re.S), (who, text(run), run.stderr)
    return ours, theirs


# -- 1. %time, %%time, %timeit, %%timeit -----------------------------------------------------------


def test_time_line(kernel, py3):
    same(kernel, py3, "%time x = sum(range(100))", TIME)


def test_time_cell_shows_the_last_value(kernel, py3):
    ours, theirs = same(kernel, py3, "%%time\ny = 20\ny * 2 + 2", TIME + "42")


def test_time_sees_the_notebook_and_the_cells_names(kernel):
    r = execute(kernel, "y = seed\n%time z = y * 2\nprint(z)")
    assert r.reply["status"] == "ok", r.messages
    assert re.fullmatch(TIME + "82\n", r.stdout), r.stdout


def test_timeit_options(kernel, py3):
    same(kernel, py3, "%timeit -n 10 -r 3 sum(range(10))", TIMEIT.format(runs=3, loops=10))


def test_timeit_cell_with_setup_line(kernel, py3):
    same(kernel, py3, "%%timeit -n 5 -r 2 base = 3\nbase * 2", TIMEIT.format(runs=2, loops=5))


def test_timeit_quiet_returns_the_result(kernel, py3):
    ours, theirs = same(kernel, py3, "%timeit -q -o -n 3 -r 2 1 + 1", r"<TimeitResult : " + TIMEIT_RESULT.format(
        runs=2, loops=3).rstrip("\\n") + ">")
    assert ours.stdout == theirs.stdout == ""


def test_timeit_of_code_that_raises(kernel, py3):
    ours, theirs = both(kernel, py3, "%timeit -n 1 -r 1 1/0")
    for run in (ours, theirs):
        assert run.reply["status"] == "error"
        assert run.error["ename"] == "ZeroDivisionError"


# -- 2. !cmd, !!cmd, x = !cmd -----------------------------------------------------------------------


def test_bang_echo(kernel, py3):
    same(kernel, py3, "!echo hi", "hi\n")


def test_bang_expands_braces_and_dollar_names(kernel, py3):
    same(kernel, py3, "n = 41\n!echo {n + 1} $n '$n'", r"42 41 \$n\n")


def test_bang_assign_gives_a_list_of_lines(kernel, py3):
    ours, _ = same(kernel, py3, "files = !printf 'a\\nb\\n'\nfiles", r"\['a', 'b'\]")
    r = execute(kernel, "files = !printf 'a\\nb\\n'\nprint(type(files).__name__, files.n)")
    assert r.stdout == "SList a\nb\n", r.messages


def test_double_bang_is_a_value(kernel, py3):
    same(kernel, py3, "!!echo a", r"\['a'\]")


def test_bang_runs_in_the_notebooks_process(kernel, server):
    r = execute(kernel, "!echo $PPID")
    pids = execute(kernel, "import os; os.getpid()")
    assert r.stdout.strip() == pids.result["text/plain"], (r.stdout, pids.result)
    assert int(r.stdout) != os.getpid()


def test_bang_output_streams_while_it_runs(kernel):
    r = execute(kernel, "!echo start; sleep 2; echo end")
    chunks = [(t, m["content"]["text"]) for t, m in zip(r.times, r.messages, strict=True) if m["msg_type"] == "stream"]
    start = next(t for t, s in chunks if "start" in s)
    end = next(t for t, s in chunks if "end" in s)
    assert end - start > 1.0, chunks


def test_bang_of_a_missing_command(kernel, py3):
    same(kernel, py3, "!no_such_command_mpk", r".*no_such_command_mpk.*not found\n")


def test_bang_pip_install_goes_through_marimos_package_manager(kernel):
    r = execute(kernel, "!pip install -q marimo", timeout=180)
    assert r.reply["status"] == "ok", r.messages
    assert "marimo's package manager" in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_a_captured_pip_install_goes_through_marimos_package_manager_quietly(kernel):
    r = execute(kernel, "%%capture\n!pip install -q marimo", timeout=180)
    assert r.reply["status"] == "ok" and not r.of("stream"), r.messages  # no note, no install log


def test_bang_pip_in_the_middle_of_a_cell_says_where_it_goes(kernel):
    r = execute(kernel, "x = 1\n!pip install marimo")
    assert r.reply["status"] == "error"
    assert r.error["ename"] == "UsageError"
    assert "on a line of its own" in r.error["evalue"] and "%packages add" in r.error["evalue"]


# A `%%bash` cell ends the same way (IPython's %%script prints "Process is interrupted." instead).
@pytest.mark.parametrize("code", ["!echo $$ > {pidfile}; sleep 30", "%%bash\necho $$ > {pidfile}\nsleep 30"])
def test_interrupt_stops_the_command(kernel_pair, tmp_path, code):
    km, kc = kernel_pair
    pidfile = tmp_path / "shell.pid"
    result: dict = {}
    worker = threading.Thread(target=lambda: result.setdefault("run", execute(kc, code.format(pidfile=pidfile))))
    worker.start()
    deadline = time.monotonic() + 60
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.1)
    km.interrupt_kernel()
    worker.join(60)
    run = result["run"]
    assert run.reply["status"] == "error" and run.error["ename"] == "KeyboardInterrupt", run.messages
    assert _gone(int(pidfile.read_text())), f"the shell of {code!r} still runs"
    after = execute(kc, "seed + 1")
    assert after.result["text/plain"] == "42"


def _gone(pid: int) -> bool:
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


# -- 3. %env, %pwd, %cd ---------------------------------------------------------------------------


def test_env_name(kernel, py3):
    same(kernel, py3, "%env PATH", r"'.+'")


def test_env_set_says_so_in_one_line(kernel, py3):
    ours, _ = same(kernel, py3, "%env MPK_MAGIC_TEST=1", r"env: MPK_MAGIC_TEST=1.*\n")
    assert ours.stdout.count("\n") == 1 and "notebook" in ours.stdout
    assert execute(kernel, "import os; os.environ['MPK_MAGIC_TEST']").result["text/plain"] == "'1'"


def test_env_lists_and_hides_secrets(kernel, py3):
    ours, theirs = both(kernel, py3, "%env")
    for run in (ours, theirs):
        assert run.result["text/plain"].startswith("{")
    os_token = execute(kernel, "import os; os.environ['MY_API_TOKEN'] = 'sekrit'")
    assert os_token.reply["status"] == "ok"
    assert "sekrit" not in execute(kernel, "%env").result["text/plain"]


def test_pwd(kernel, py3, server):
    ours, _ = same(kernel, py3, "%pwd", r"'/.+'")
    assert ours.result == execute(kernel, "import os; os.getcwd()").result


def test_cd_asks_for_yes(kernel, tmp_path):
    r = execute(kernel, f"%cd {tmp_path}")
    assert r.reply["status"] == "error" and r.error["ename"] == "UsageError"
    assert "--yes" in r.error["evalue"] and "os.chdir(" in r.error["evalue"]
    assert r.error["traceback"] == [f"\x1b[0;31mUsageError\x1b[0m: {r.error['evalue']}"]
    before = execute(kernel, "%pwd").result["text/plain"]
    moved = execute(kernel, f"%cd --yes {tmp_path}")
    assert moved.reply["status"] == "ok" and moved.stdout == f"{tmp_path}\n"
    execute(kernel, f"%cd --yes {before[1:-1]}")
    assert execute(kernel, "%pwd").result["text/plain"] == before


# -- 4. %load_ext autoreload, %autoreload ------------------------------------------------------------


def test_load_ext_autoreload_is_silent(kernel, py3):
    same(kernel, py3, "%load_ext autoreload", "")


def test_autoreload_accepted_with_a_note(kernel, py3):
    ours, _ = same(kernel, py3, "%autoreload 2", "")
    assert ours.stderr.count("\n") == 1 and "marimo" in ours.stderr, ours.stderr


def test_other_extensions_say_why(kernel):
    r = execute(kernel, "%load_ext line_profiler")
    assert r.reply["status"] == "ok" and "nothing was loaded" in r.stderr


# -- 5. %config InlineBackend.figure_format, %matplotlib ---------------------------------------------

PLOT = "import matplotlib.pyplot as plt\nplt.plot([1, 2]);"


def _figure(run) -> tuple[dict, dict]:
    shown = run.of("display_data")
    assert shown, run.messages
    return shown[-1]["data"], shown[-1]["metadata"]


def test_figure_format_retina(kernel, py3):
    try:
        ours, theirs = both(kernel, py3, "%config InlineBackend.figure_format = 'retina'\n" + PLOT)
        for run in (ours, theirs):
            assert run.reply["status"] == "ok", run.messages
            data, md = _figure(run)
            assert "image/png" in data
            assert set(md["image/png"]) == {"width", "height"}, md
        assert _figure(ours)[1] == _figure(theirs)[1]
    finally:
        both(kernel, py3, "%config InlineBackend.figure_format = 'png'")


def test_figure_format_svg(kernel, py3):
    try:
        ours, theirs = both(kernel, py3, "%config InlineBackend.figure_format = 'svg'\n" + PLOT)
        for run in (ours, theirs):
            data, _ = _figure(run)
            assert "image/svg+xml" in data and "image/png" not in data
    finally:
        both(kernel, py3, "%config InlineBackend.figure_format = 'png'")
    data, md = _figure(execute(kernel, PLOT))
    assert "image/png" in data and not md


def test_other_config_keys_get_a_note(kernel, py3):
    ours, _ = same(kernel, py3, "%config Completer.greedy = True", "")
    assert "nothing changed" in ours.stderr


def test_matplotlib_inline_and_other_backends(kernel, py3):
    same(kernel, py3, "x = 1\n%matplotlib inline", "")
    r = execute(kernel, "x = 1\n%matplotlib qt")
    assert r.reply["status"] == "ok" and "inline" in r.stderr


def test_the_usual_preamble_in_one_cell(kernel, py3):
    code = ("%load_ext autoreload\n%autoreload 2\n%matplotlib inline\n"
            "%config InlineBackend.figure_format = 'retina'")
    try:
        same(kernel, py3, code, "(The autoreload extension is already loaded.*)?")
    finally:
        both(kernel, py3, "%config InlineBackend.figure_format = 'png'")


# -- 6. %history, %run ---------------------------------------------------------------------------------


def test_history(kernel, py3):
    for code in ("a_hist = 1", "b_hist = 2"):
        both(kernel, py3, code)
    same(kernel, py3, "%history -l 2", "a_hist = 1\nb_hist = 2\n")  # -l: the lines before this one
    same(kernel, py3, "%history -n -l 2", r" *\d+: b_hist = 2\n *\d+: %history -l 2\n")
    # IPython's -g also finds other sessions' lines (SESSION/LINE: ...) in its database; ours has one session
    same(kernel, py3, "%history -g b_hist =", r"(?:\d+/\d+: [^\n]*\n)* *\d+: b_hist = 2\n *\d+: %history -g b_hist =\n")


def test_run_a_script(kernel, py3, tmp_path):
    script = tmp_path / "script.py"
    script.write_text("import sys\nran_with = sys.argv[1:]\nprint('ran', __name__, ran_with)\n")
    code = f"%run {script} one two\nprint(ran_with)"
    same(kernel, py3, code, r"ran __main__ \['one', 'two'\]\n\['one', 'two'\]\n")


def test_names_that_magics_bind_stay_the_pairs(kernel, tmp_path):
    script = tmp_path / "defs.py"
    script.write_text("from_script = 7\n")
    assert execute(kernel, f"%run {script}").reply["status"] == "ok"
    assert execute(kernel, "%time timed_name = 5").reply["status"] == "ok"
    assert execute(kernel, "listed = !echo a").reply["status"] == "ok"
    r = execute(kernel, "from_script + timed_name, listed")
    assert r.result["text/plain"] == "(12, ['a'])"


def test_who_ls_in_the_middle_of_a_cell(kernel):
    # VS Code's Variables view: `_names = %who_ls`, then JSON on stdout.
    r = execute(kernel, "vsc_var = 1\n_names = %who_ls\nimport json\nprint(json.dumps(['vsc_var' in _names, "
                        "'seed' in _names]))")
    assert r.stdout == "[true, true]\n", r.messages


def test_run_a_missing_file(kernel, py3):
    ours, theirs = both(kernel, py3, "%run no_such_script.py")
    assert ours.reply["status"] == theirs.reply["status"] == "error"
    assert "no_such_script.py" in ours.error["evalue"] and "not found" in ours.error["evalue"]
    assert ours.error["traceback"] == [f"\x1b[0;31mUsageError\x1b[0m: {ours.error['evalue']}"]


# -- 7. %precision, %prun, %debug, %pdb -------------------------------------------------------------------


def test_precision(kernel, py3):
    try:
        same(kernel, py3, "%precision 3", r"'%\.3f'")
        same(kernel, py3, "1.23456", r"1\.235")
    finally:
        same(kernel, py3, "%precision", r"'%r'")
    same(kernel, py3, "1.23456", r"1\.23456")


def test_prun_prints_the_profile_table(kernel, py3):
    ours, theirs = both(kernel, py3, "%prun sum(range(10))")
    paged = theirs.reply["payload"][0]["data"]["text/plain"]  # ipykernel pages it
    pattern = r"\s*\d+ function calls in \S+ seconds\n\n   Ordered by: internal time\n\n   ncalls  tottime .*"
    assert re.match(pattern, paged, re.S)
    assert re.match(pattern, ours.stdout, re.S), ours.stdout


def test_debug_and_pdb_say_why_not(kernel):
    r = execute(kernel, "%debug")
    assert r.reply["status"] == "error" and "post-mortem debugging" in r.error["evalue"]
    r = execute(kernel, "%pdb on")
    assert r.reply["status"] == "ok" and "post-mortem debugging" in r.stderr


# -- 7b. IPython's other everyday magics: files, scripts, rich cells, %%capture, aliases ----------------


def test_writefile_writes_appends_and_says_which(kernel, py3, tmp_path):
    for who, kc in (("ours", kernel), ("py3", py3)):
        path = tmp_path / who / "out.txt"
        path.parent.mkdir()
        r = execute(kc, f"%%writefile {path}\nline = {{x}}\n")
        assert r.reply["status"] == "ok" and r.stdout == f"Writing {path}\n", (who, r.messages)
        assert execute(kc, f"%%writefile -a '{path}'\nmore\n").stdout == f"Appending to {path}\n"
        assert execute(kc, f"%%file {path}\nnew\n").stdout == f"Overwriting {path}\n"
        assert path.read_text() == "new\n", who


def test_writefile_without_a_name_is_a_usage_error(kernel):
    r = execute(kernel, "%%writefile\ntext")
    assert r.reply["status"] == "error" and r.error["ename"] == "UsageError", r.messages
    assert "%%writefile [-a] FILENAME" in r.error["evalue"]


def test_file_aliases(kernel, py3, tmp_path):
    (tmp_path / "a.txt").write_text("one\ntwo\n")
    (tmp_path / "sub").mkdir()
    for code in (f"%cat {tmp_path}/a.txt", f"%ls {tmp_path}", f"%ldir {tmp_path}", f"%lf {tmp_path}"):
        ours, theirs = both(kernel, py3, code)
        assert ours.reply["status"] == theirs.reply["status"] == "ok", code
        assert ours.stdout.replace("\r\n", "\n") == theirs.stdout.replace("\r\n", "\n") != "", code
    both(kernel, py3, f"%mkdir {tmp_path}/made")
    assert (tmp_path / "made").is_dir()
    ours = execute(kernel, f"files = %sx ls {tmp_path}\nfiles")
    assert ours.result["text/plain"] == "['a.txt', 'made', 'sub']", ours.messages


def test_bash_streams_both_and_raises_on_failure(kernel, py3):
    ours, theirs = both(kernel, py3, "%%bash\necho out; echo err >&2")
    for run in (ours, theirs):
        assert (run.reply["status"], run.stdout, run.stderr) == ("ok", "out\n", "err\n")
    ours, theirs = both(kernel, py3, "%%bash\nexit 3")
    assert ours.error["ename"] == theirs.error["ename"] == "CalledProcessError"
    assert ours.error["evalue"] == theirs.error["evalue"]
    ours, theirs = both(kernel, py3, "%%sh --no-raise-error\necho $0 >/dev/null; exit 3")
    assert ours.reply["status"] == theirs.reply["status"] == "ok"


def test_script_runs_the_cell_with_the_program(kernel, py3):
    same(kernel, py3, "%%script python3\nprint(6 * 7)", "42\n")
    same(kernel, py3, "%%script no-such-program-here\nx", "Couldn't find program: 'no-such-program-here'\n")


def test_script_runs_in_the_notebooks_process(kernel, server):
    r = execute(kernel, "%%bash\necho $PPID")
    assert r.reply["status"] == "ok", r.messages
    ppid = int(r.stdout)
    assert ppid != os.getpid() and execute(kernel, "import os\nos.getpid()").result["text/plain"] == str(ppid)


@pytest.mark.parametrize(("magic", "body"), [
    ("html", "<b>hi</b>"),
    ("html --isolated", "<b>boxed</b>"),
    ("HTML", "<i>x</i>"),
    ("markdown", "# Title\n\n*text*"),
    ("latex", "$$x^2$$"),
    ("javascript", "console.log(1)"),
    ("js", "console.log(2)"),
    ("svg", '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'),
])
def test_rich_cells_display_as_in_ipython(kernel, py3, magic, body):
    ours, theirs = both(kernel, py3, f"%%{magic}\n{body}")
    assert ours.reply["status"] == theirs.reply["status"] == "ok", ours.messages
    ours_d, theirs_d = ours.of("display_data"), theirs.of("display_data")
    assert len(ours_d) == len(theirs_d) == 1, (ours.messages, theirs.messages)
    assert ours_d[0]["data"] == theirs_d[0]["data"]
    assert ours_d[0]["metadata"] == theirs_d[0]["metadata"]


def test_capture_keeps_prints_displays_and_the_value(kernel, py3):
    cell = ("%%capture cap\nprint('quiet')\nimport sys; print('e', file=sys.stderr)\n"
            "from IPython.display import display, HTML\ndisplay(HTML('<i>x</i>'))\n41 + 1")
    ours, theirs = both(kernel, py3, cell)
    for run in (ours, theirs):
        assert run.reply["status"] == "ok" and not run.of("stream") and not run.displays, run.messages
        assert run.result is None
    probe = "cap.stdout, cap.stderr, [o.data for o in cap.outputs], type(cap).__name__, str(cap)"
    ours, theirs = both(kernel, py3, probe)
    assert ours.result["text/plain"] == theirs.result["text/plain"], (ours.messages, theirs.messages)
    ours, theirs = both(kernel, py3, "cap.show()")
    for run in (ours, theirs):
        assert (run.stdout, run.stderr) == ("quiet\n", "e\n")
        assert run.displays == [{"text/html": "<i>x</i>", "text/plain": "<IPython.core.display.HTML object>"},
                                {"text/plain": "42"}], run.messages
    ours, theirs = both(kernel, py3, "%%capture --no-stdout\nprint('shown')\nprint('hid', file=sys.stderr)")
    for run in (ours, theirs):
        assert (run.stdout, run.stderr) == ("shown\n", ""), run.messages


def test_capture_sets_nothing_in_the_notebook_and_names_stay_the_pairs(kernel, server):
    execute(kernel, "%%capture kept\nprint(seed)")
    assert execute(kernel, "kept.stdout").result["text/plain"] == "'41\\n'"
    assert "kept" in execute(kernel, "%who_ls").result["text/plain"]
    events, _ = server.execute("print('kept' in globals())")
    assert "False" in "".join(d["data"] for n, d in events if n == "stdout")


def test_set_env_and_sx(kernel, py3):
    ours, theirs = both(kernel, py3, "%set_env MPK_SET_ENV_TEST hello there")
    assert theirs.stdout == "env: MPK_SET_ENV_TEST=hello there\n"
    assert ours.stdout.startswith("env: MPK_SET_ENV_TEST=hello there  (set in the marimo notebook's process")
    same(kernel, py3, "import os\nos.environ['MPK_SET_ENV_TEST']", "'hello there'")
    same(kernel, py3, "%sx echo a; echo b", r"\['a', 'b'\]")
    same(kernel, py3, "%system echo c", r"\['c'\]")


# -- 7c. IPython's history names: In, Out, _, __, ___, _N, _i, _iN -----------------------------------------


def _value(kc, code: str) -> str:
    r = execute(kc, code)
    assert r.reply["status"] == "ok", (code, r.error)
    return r.result["text/plain"] if r.result else ""


def test_output_and_input_history_names_as_in_ipython(kernel, py3):
    seen = []
    for kc in (kernel, py3):
        n = execute(kc, "6 * 7").reply["execution_count"]
        row = [_value(kc, f"(_, Out[{n}], _{n}, In[{n}], _i{n}, _i)")]
        row.append(_value(kc, "'a' + 'b'"))
        row.append(_value(kc, "(_, __, ___)"))
        execute(kc, "8 * 8;")  # a trailing semicolon shows nothing and records nothing
        execute(kc, "None")
        row.append(_value(kc, "_"))
        seen.append(row)
    probe = "(42, 42, 42, '6 * 7', '6 * 7', '6 * 7')"
    assert seen[0] == seen[1] == [probe, "'ab'", f"('ab', {probe}, 42)", f"('ab', {probe}, 42)"], seen


def test_silent_and_unstored_executes_and_a_name_the_user_bound(kernel, py3):
    for kc in (kernel, py3):
        n = execute(kc, "10").reply["execution_count"]
        execute(kc, "11", silent=True)
        execute(kc, "12", store_history=False)
        # As IPython: a silent execute records nothing; one with store_history off shows its value, so
        # `_` and Out[N] (the number the next stored execute gets) take it, and no input is kept.
        assert _value(kc, f"Out[{n}], max(Out) == {n} + 1, _{n}, _, In[-2]") == "(10, True, 10, 12, '10')"
        execute(kc, "_ = 'mine'")
        execute(kc, "7")
        assert _value(kc, "_") == "'mine'"  # as IPython: from then on `_` is the user's


def test_history_names_stay_the_kernels(kernel, server):
    execute(kernel, "41 + 1")
    assert _value(kernel, "'Out' in dir(), '_i' in dir()") == "(True, True)"
    assert "Out" not in execute(kernel, "%who").stdout and "In" not in _value(kernel, "%who_ls")
    events, _ = server.execute("print('Out' in globals(), 'In' in globals(), '_i' in globals())")
    assert "".join(d["data"] for n, d in events if n == "stdout").strip() == "False False False"


def test_reset_empties_out_and_keeps_in(kernel, py3):
    for kc in (kernel, py3):
        execute(kc, "5 + 5")
        execute(kc, "%reset -f")
        assert _value(kc, "len(Out), len(In) > 3") == "(0, True)", kc


# -- 8. %lsmagic, %help, unknown magics -------------------------------------------------------------------

IPYTHON_LINES = ["time", "timeit", "env", "pwd", "cd", "load_ext", "autoreload", "config", "matplotlib", "history",
                 "run", "precision", "prun", "debug", "pdb"]


def test_lsmagic_and_help_list_them(kernel):
    listed = execute(kernel, "%lsmagic").listing["text/plain"]
    helped = execute(kernel, "%help").listing["text/plain"]
    for name in IPYTHON_LINES:
        assert f"%{name}" in listed and f"%{name}" in helped, name
    assert "%%time" in listed and "%%timeit" in listed
    for name in ("%%writefile", "%%bash", "%%script", "%%html", "%%capture", "%ls", "%cat", "%sx", "%set_env"):
        assert name in listed and name in helped, name
    assert "cProfile" in execute(kernel, "%prun?").reply["payload"][0]["data"]["text/plain"]


def test_unknown_magics_keep_todays_message(kernel):
    r = execute(kernel, "%nosuchmagic 1")
    assert r.error["evalue"] == "There is no magic %nosuchmagic. Run %help to list the magics."
    r = execute(kernel, "x = 1\n%nosuchmagic 1")
    assert r.error["evalue"].startswith("There is no magic %nosuchmagic. Run %help to list the magics")
    assert r.error["traceback"] == [f"\x1b[0;31mUsageError\x1b[0m: {r.error['evalue']}"]


def test_our_own_magics_stay_ours(kernel):
    r = execute(kernel, "%cells")
    assert r.reply["status"] == "ok" and "seed" in r.listing["text/plain"]


# -- VS Code's hidden start-up code (issue 25) ------------------------------------------------------------


def test_hidden_config_is_silent_and_uncounted(kernel, py3):
    code = "__vsc_ipynb_file__ = '/tmp/x.ipynb'\n%config Completer.use_jedi = False"
    for kc in (kernel, py3):
        before = execute(kc, "1").reply["execution_count"]
        r = execute(kc, code, silent=False, store_history=False)
        assert r.reply["status"] == "ok", r.messages
        assert [m["msg_type"] for m in r.messages] == ["execute_input"], r.messages
        assert execute(kc, "1").reply["execution_count"] == before + 1


def test_get_ipython_kernel_completes_and_inspects(kernel, py3):
    ours = execute(kernel, "r = get_ipython().kernel.do_complete('se', 2)\nsorted(r)")
    assert ours.result["text/plain"] == "['cursor_end', 'cursor_start', 'matches', 'metadata', 'status']"
    r = execute(kernel, "'seed' in get_ipython().kernel.do_complete('se', 2)['matches']")
    assert r.result["text/plain"] == "True"
    r = execute(kernel, "i = get_ipython().kernel.do_inspect('seed', 4, 0)\ni['found'], sorted(i['data'])")
    assert r.result["text/plain"] == "(True, ['text/plain'])"


def test_get_ipython_is_not_given_to_the_persons_cells(server, kernel):
    r = execute(kernel, "%%cell --name uses_ip\ntry:\n    get_ipython()\n    ip_seen = 'yes'\nexcept NameError:\n"
                "    ip_seen = 'no'")
    assert r.reply["status"] == "ok", r.messages
    assert execute(kernel, "ip_seen").result["text/plain"] == "'no'"


# -- nbclient and papermill: the usual preamble, a %%time cell and a !echo cell ----------------------------


def preamble_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "marimo-pair", "display_name": "marimo (pair)", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext autoreload\n%autoreload 2\n%matplotlib inline\n"
                                  "%config InlineBackend.figure_format = 'retina'"),
        nbformat.v4.new_code_cell("%%time\ntotal = sum(range(seed))\ntotal"),
        nbformat.v4.new_code_cell("!echo done"),
    ]
    return nb


@pytest.fixture
def kernel_env(server, monkeypatch, kernel):
    """Kernels nbclient/papermill start find `server`; the figure format they set is put back."""
    yield from _env(server, monkeypatch)
    execute(kernel, "%config InlineBackend.figure_format = 'png'")


def _env(server, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(server.state_home))
    for name in ("MARIMO_TOKEN", "MARIMO_PAIR_URL", "MARIMO_PAIR_FILE"):
        monkeypatch.delenv(name, raising=False)
    yield


def _check_ran(nb: nbformat.NotebookNode) -> None:
    timed = nb.cells[1]["outputs"]
    assert re.fullmatch(TIME, "".join(o.get("text", "") for o in timed if o["output_type"] == "stream")), timed
    assert [o["data"]["text/plain"] for o in timed if o["output_type"] == "execute_result"] == ["820"]
    assert nb.cells[2]["outputs"][0]["text"] == "done\n"


def test_nbclient_runs_the_preamble_to_the_end(kernel_env, tmp_path):
    nb = preamble_notebook()
    resources = {"metadata": {"path": str(tmp_path)}}
    NotebookClient(nb, timeout=120, kernel_name="marimo-pair", resources=resources).execute()
    _check_ran(nb)
    assert not [o for o in nb.cells[0]["outputs"] if o["output_type"] == "error"]


def test_papermill_runs_the_preamble_to_the_end(kernel_env, tmp_path):
    src, out = tmp_path / "pre.ipynb", tmp_path / "pre.out.ipynb"
    nbformat.write(preamble_notebook(), src)
    papermill.execute_notebook(str(src), str(out), kernel_name="marimo-pair", cwd=str(tmp_path),
                               progress_bar=False, log_output=False)
    nb = nbformat.read(out, as_version=4)
    _check_ran(nb)
    assert all(c.metadata.papermill["status"] == "completed" for c in nb.cells)


def test_pinfo_pages_as_obj_question_and_reload_ext_is_accepted(kernel, py3):
    for kc in (kernel, py3):
        execute(kc, "def documented(a):\n    'Adds one.'\n    return a + 1")
        for line, want in (("%pinfo documented", "Adds one."), ("%pinfo2 documented", "return a + 1")):
            r = execute(kc, line)
            assert r.reply["status"] == "ok", r.messages
            [page] = r.reply["payload"]
            assert page["source"] == "page" and want in re.sub(r"\x1b\[[0-9;]*m", "", page["data"]["text/plain"]), page
        r = execute(kc, "%reload_ext autoreload")
        assert r.reply["status"] == "ok" and not r.of("stream"), r.messages


# -- %load: IPython's set_next_input --------------------------------------------------------------------

LOADED = "import math\n\n\ndef area(r):\n    return math.pi * r ** 2\n\n\nclass Box:\n    pass\n"


def _next_input(run) -> list[dict]:
    assert run.reply["status"] == "ok", run.messages
    return [p for p in run.reply["payload"] if p["source"] == "set_next_input"]


@pytest.mark.parametrize("options", ["", "-r 4-5 ", "-s area ", "-s Box,area "])
def test_load_a_file_puts_it_in_the_cell_as_ipython(kernel, py3, tmp_path, options):
    path = tmp_path / "loaded.py"
    path.write_text(LOADED)
    ours, theirs = both(kernel, py3, f"%load {options}{path}")
    assert _next_input(ours) == _next_input(theirs) != [], (ours.reply, theirs.reply)
    assert _next_input(ours)[0]["replace"] is True


def test_load_earlier_inputs_and_a_url(kernel, py3, tmp_path):
    import http.server
    import socketserver

    (tmp_path / "remote.py").write_text("remote = 1\n")
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    with socketserver.TCPServer(("127.0.0.1", 0), handler) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{httpd.server_address[1]}/remote.py"
            ours, theirs = both(kernel, py3, f"%load {url}")
        finally:
            httpd.shutdown()
    assert _next_input(ours) == _next_input(theirs) == [
        {"source": "set_next_input", "text": f"# %load {url}\nremote = 1\n", "replace": True}]
    texts = []
    for kc in (kernel, py3):
        n = execute(kc, "loaded_line = 'x'").reply["execution_count"]
        texts.append(_next_input(execute(kc, f"%load {n}"))[0]["text"])
    assert texts[0].split("\n", 1)[1] == texts[1].split("\n", 1)[1] == "loaded_line = 'x'", texts


def test_load_of_a_missing_file_says_where_it_looked(kernel):
    r = execute(kernel, "%load no/such/file.py")
    assert r.error["ename"] == "UsageError" and "no/such/file.py" in r.error["evalue"], r.messages
    assert "%pwd" in r.error["evalue"] and r.reply.get("payload", []) == []


def test_pip_list_and_show_run_pip_in_the_notebooks_python(kernel, py3):
    ours, theirs = both(kernel, py3, '%pip list | grep -i "^marimo "')
    assert ours.reply["status"] == theirs.reply["status"] == "ok", ours.messages
    assert ours.stdout.split() == theirs.stdout.split()[:2] == ["marimo", marimo_version()], theirs.stdout
    ours = execute(kernel, "%pip show marimo")
    assert ours.stdout.startswith("Name: marimo\n"), ours.messages


def marimo_version() -> str:
    from importlib.metadata import version

    return version("marimo")
