"""The kernel against a real marimo notebook: streaming, values, errors, interrupt, sessions."""

from __future__ import annotations

import re
import time

from support import execute


def test_stream_arrives_while_code_runs(kernel):
    run = execute(kernel, "import time\nprint('a', flush=True)\ntime.sleep(1.5)\nprint('b')")
    assert run.reply["status"] == "ok"
    streams = [
        (t, m["content"]["text"]) for t, m in zip(run.times, run.messages, strict=True) if m["msg_type"] == "stream"
    ]
    assert "".join(s for _, s in streams) == "a\nb\n"
    first_a = next(t for t, s in streams if "a" in s)
    assert run.reply_time - first_a > 1.0, (first_a, run.reply_time)


def test_values_are_ipython_reprs(kernel):
    for code, expected in [("6 * 7", "42"), ("'a'", "'a'"), ("(1, 'a', None)", "(1, 'a', None)"), ("answer", "42")]:
        run = execute(kernel, code)
        assert run.reply["status"] == "ok", run.reply
        assert run.result["text/plain"] == expected
        assert run.of("execute_result")[0]["execution_count"] == run.reply["execution_count"]


def test_rich_value_as_ipykernel_shows_it(kernel):
    # IPython's formatter on marimo's object, as the python3 kernel: its HTML and its markdown;
    # text/plain is the Markdown source (issue 18 item 7: terminals and agents read only that).
    run = execute(kernel, "import marimo as mo\nmo.md('# Title')")
    assert run.result["text/plain"] == "# Title"
    assert "<h1" in run.result["text/html"] and run.result["text/markdown"] == "# Title"
    run = execute(kernel, "{'a': [1, 2]}")
    assert run.result == {"text/plain": "{'a': [1, 2]}"}  # no application/json, as ipykernel


def test_no_value_for_statements_none_and_semicolon(kernel):
    for code in ["x = 1", "None", "6 * 7;"]:
        run = execute(kernel, code)
        assert run.reply["status"] == "ok"
        assert run.result is None, code


def test_error_is_one_message_and_stderr_before_it_arrives(kernel):
    run = execute(kernel, "import sys\nprint('before', file=sys.stderr, flush=True)\n1/0")
    assert run.reply["status"] == "error"
    assert run.reply["ename"] == "ZeroDivisionError"
    errors = run.of("error")
    assert len(errors) == 1 and errors[0]["ename"] == "ZeroDivisionError"
    assert errors[0]["evalue"] == "division by zero"
    assert "before" in run.stderr
    assert "Traceback" not in run.stderr  # not echoed
    shown = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(errors[0]["traceback"]))  # colored as IPython does
    assert "----> 3 1/0" in shown  # the user's line, not our rewrite


def test_syntax_error_and_runtime_error_in_expression(kernel):
    run = execute(kernel, "def f(:")
    assert run.reply["ename"] == "SyntaxError"
    run = execute(kernel, "[][3]")
    assert run.reply["ename"] == "IndexError"
    assert not any("_mpk_" in line for line in run.error["traceback"])


def test_scratch_names_persist_and_vanish_only_with_pairns_off(kernel):
    assert execute(kernel, "scratch_only = 5").reply["status"] == "ok"
    assert execute(kernel, "scratch_only").result["text/plain"] == "5"
    assert "off" in execute(kernel, "%pairns off").stdout
    try:
        assert execute(kernel, "scratch_only").reply["ename"] == "NameError"  # dropped with the namespace
        assert execute(kernel, "gone_next = 5").reply["status"] == "ok"
        run = execute(kernel, "gone_next")
        assert run.reply["ename"] == "NameError"
        assert any("%pairns on" in line and "%%cell" in line for line in run.error["traceback"])
    finally:
        execute(kernel, "%pairns on")
    assert execute(kernel, "kept = 6").reply["status"] == "ok"
    assert execute(kernel, "kept").result["text/plain"] == "6"


def test_execution_count_silent_and_user_expressions(kernel):
    n = execute(kernel, "1").reply["execution_count"]
    assert execute(kernel, "2").reply["execution_count"] == n + 1
    run = execute(kernel, "print('quiet'); 3", silent=True)
    assert run.messages == [] or all(m["msg_type"] == "execute_input" for m in run.messages)
    assert execute(kernel, "4").reply["execution_count"] == n + 2
    # As in IPython: store_history=False runs without taking a number.
    run = execute(kernel, "5", store_history=False)
    assert run.reply["execution_count"] == n + 2 and run.result["text/plain"] == "5"
    run = execute(kernel, "6")
    assert run.reply["execution_count"] == n + 3
    (inp,) = [m["content"] for m in run.messages if m["msg_type"] == "execute_input"]
    assert inp["execution_count"] == n + 3 == run.of("execute_result")[0]["execution_count"]
    run = execute(kernel, "pass", user_expressions={"a": "answer * 2", "bad": "1/0"})
    ue = run.reply["user_expressions"]
    assert ue["a"]["status"] == "ok" and ue["a"]["data"]["text/plain"] == "84"
    assert ue["bad"]["status"] == "error"


def test_exit_asks_the_client_to_exit(kernel):
    for code in ("exit", "quit()"):
        run = execute(kernel, code)
        assert run.reply["status"] == "ok"
        assert run.reply["payload"] == [{"source": "ask_exit", "keepkernel": False}]


def test_input_is_a_clear_error_not_a_hang(kernel):
    t0 = time.monotonic()
    run = execute(kernel, "name = input('name? ')", timeout=10)
    assert time.monotonic() - t0 < 5
    assert run.reply["status"] == "error"
    assert "input()" in run.reply["evalue"]


def test_pager_and_inspect(kernel):
    run = execute(kernel, "len?")
    page = run.reply["payload"][0]
    assert page["source"] == "page" and "Return the number of items" in page["data"]["text/plain"]
    run = execute(kernel, "%connect?")
    assert "usage: %connect" in run.reply["payload"][0]["data"]["text/plain"]
    msg_id = kernel.inspect("answer", 6)
    reply = kernel.get_shell_msg(timeout=20)
    assert reply["parent_header"]["msg_id"] == msg_id
    assert reply["content"]["found"] and "int" in reply["content"]["data"]["text/plain"]


def test_magic_errors_are_usage_errors(kernel):
    run = execute(kernel, "%frobnicate")
    assert run.reply["status"] == "error" and "%help" in run.reply["evalue"]
    run = execute(kernel, "%connect --nope")
    assert run.reply["ename"] == "UsageError" and "usage: %connect" in run.reply["evalue"]


def test_help_lists_every_magic(kernel):
    from marimo_pair_kernel.magics import load_all

    run = execute(kernel, "%help")
    bundle = run.listing
    names = {m["name"] for m in bundle["application/vnd.marimo-pair+json"]}
    assert names == set(load_all())
    for name in names:
        assert f"%{name}" in bundle["text/plain"]


def test_lsmagic_lists_line_and_cell_magics(kernel):
    bundle = execute(kernel, "%lsmagic").listing
    assert {"text/plain", "text/html", "application/vnd.marimo-pair+json"} <= set(bundle)
    assert "%%cell" in bundle["application/vnd.marimo-pair+json"]["cell"]
    assert "%discover" in bundle["application/vnd.marimo-pair+json"]["line"]


def test_discover_display(kernel, server):
    run = execute(kernel, "%discover")
    bundle = run.listing
    assert {"text/plain", "text/html", "application/vnd.marimo-pair+json"} <= set(bundle)
    servers = bundle["application/vnd.marimo-pair+json"]["servers"]
    assert [s["url"] for s in servers] == [server.url]
    assert servers[0]["notebooks"][0]["path"] == str(server.notebook)


def test_completion_never_interrupts_a_running_cell(kernel, server):
    """While the notebook is busy (here: a long run from someone else), completion steps aside."""
    import threading

    outcome = {}

    def person_runs():
        outcome["events"], outcome["done"] = server.execute("import time\ntime.sleep(3)\nprint('finished')")

    t = threading.Thread(target=person_runs)
    t.start()
    time.sleep(1.0)
    t0 = time.monotonic()
    msg_id = kernel.complete("answ")
    reply = kernel.get_shell_msg(timeout=20)
    assert reply["parent_header"]["msg_id"] == msg_id
    assert time.monotonic() - t0 < 1.5  # did not wait for the run to end
    t.join(timeout=30)
    assert outcome["done"]["success"] is True  # and did not cut it short
    assert "finished" in "".join(d["data"] for n, d in outcome["events"] if n == "stdout")
    # Once idle, completion works again.
    kernel.complete("answ")
    assert "answer" in kernel.get_shell_msg(timeout=20)["content"]["matches"]


def test_displayed_output_is_display_data(kernel):
    run = execute(kernel, "import marimo as mo\nmo.output.append(mo.md('**shown**'))")
    assert run.reply["status"] == "ok"
    assert run.result is None
    (bundle,) = run.displays
    assert "<strong>shown</strong>" in bundle["text/html"]
    assert bundle["text/plain"] == "**shown**"  # its Markdown source, not marimo's repr `_md()`


def test_input_inside_a_notebook_function_fails_fast(kernel, server):
    assert execute(kernel, "%%cell --name asker\ndef ask():\n    return input('name? ')\n").reply["status"] == "ok"
    t0 = time.monotonic()
    run = execute(kernel, "ask()", timeout=30)
    assert time.monotonic() - t0 < 5
    assert run.reply["status"] == "error"
    assert "input() cannot be answered here" in run.reply["evalue"]
    assert execute(kernel, "6 * 7").result["text/plain"] == "42"  # and all is well after
