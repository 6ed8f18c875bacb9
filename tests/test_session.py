"""The session layer's install contract (session.py): when the marimo kernel loses our runtime (it
restarted, or someone dropped it), every way of running code installs it again and retries once,
and the user sees the answer, not the KeyError. Real marimo, a real kernel, jupyter_client."""

from __future__ import annotations

import time

from support import execute

from marimo_pair_kernel import scratchpad

# What installs the runtime puts in the marimo kernel's sys.modules: the module (or package and
# its submodules) under the content-hash name. Dropped over raw HTTP, behind the kernel's back,
# so the kernel still believes the runtime is there.
DROP_RUNTIME = (
    "import sys\n"
    f"_dropped = [sys.modules.pop(k) for k in list(sys.modules) if k.startswith({scratchpad.RUNTIME_MODULE!r})]\n"
    "print(len(_dropped))"
)


def drop_runtime(server) -> None:
    events, done = server.execute(DROP_RUNTIME)
    assert done["success"], done
    printed = "".join(d.get("data", "") for name, d in events if name == "stdout" and isinstance(d, dict))
    assert int(printed.strip()) > 0, events  # there was a runtime to drop


def ok(run):
    assert run.reply["status"] == "ok", (run.reply, run.stderr)
    assert "KeyError" not in run.stderr and scratchpad.RUNTIME_MODULE not in run.stderr, run.stderr
    return run


def until(ask, found, seconds: float = 20.0):
    """Ask as a person would press Tab again: the first ask may come back empty past its deadline."""
    deadline = time.monotonic() + seconds
    while True:
        reply = ask()
        if found(reply) or time.monotonic() > deadline:
            return reply
        time.sleep(0.2)


def test_execute_after_the_runtime_is_gone(server, kernel):
    assert ok(execute(kernel, "answer")).result["text/plain"] == "42"  # the runtime is installed
    drop_runtime(server)
    run = ok(execute(kernel, "answer"))
    assert run.result["text/plain"] == "42", run.messages
    drop_runtime(server)
    assert ok(execute(kernel, "print(seed)")).stdout == "41\n"


def test_silent_helpers_after_the_runtime_is_gone(server, kernel):
    ok(execute(kernel, "1"))
    drop_runtime(server)
    run = ok(execute(kernel, "", user_expressions={"a": "answer"}))
    assert run.reply["user_expressions"]["a"]["data"]["text/plain"] == "42", run.reply
    drop_runtime(server)
    run = ok(execute(kernel, "answer?"))
    assert "int" in run.reply["payload"][0]["data"]["text/plain"], run.reply


def test_completion_and_inspection_after_the_runtime_is_gone(server, kernel):
    ok(execute(kernel, "1"))
    drop_runtime(server)
    reply = until(lambda: kernel.complete("se", 2, reply=True, timeout=10)["content"],
                  lambda r: "seed" in r["matches"])
    assert "seed" in reply["matches"], reply
    drop_runtime(server)
    reply = until(lambda: kernel.inspect("answer", 6, reply=True, timeout=10)["content"], lambda r: r["found"])
    assert reply["found"] and "int" in reply["data"]["text/plain"], reply


def test_magics_after_the_runtime_is_gone(server, kernel):
    ok(execute(kernel, "1"))
    drop_runtime(server)
    run = ok(execute(kernel, "%cells"))
    assert "seed" in (run.result or {}).get("text/plain", "") + run.stdout, run.messages
    ok(execute(kernel, "kept_here = 5"))
    drop_runtime(server)
    ok(execute(kernel, "%who"))
    drop_runtime(server)
    # A magic's argument completion asks marimo from a worker (the quiet context).
    reply = until(lambda: kernel.complete("%cell show ", 11, reply=True, timeout=10)["content"],
                  lambda r: bool(r["matches"]))
    assert reply["matches"], reply
