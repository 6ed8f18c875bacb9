"""Malformed magics and random input: always a reply, never an error from the kernel's own code.

The bad-argument cases are derived from each magic's declared parser, so a magic
added later is covered without editing this file. The property test (hypothesis)
throws random magic lines and random code at a real kernel on a throwaway notebook.
"""

from __future__ import annotations

import argparse
import os
import shlex
import string

import pytest
from faults_support import LoggedKernel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marimo_pair_kernel.magics import REGISTRY, Magic, load_all
from marimo_pair_kernel.magics.ipython import FORWARDED

load_all()
# IPython's magics (magics/ipython.py) run in the notebook's process by IPython's own rules, not
# their (documentation) parsers': `%time --x` times the code `--x`, `%run a.py` runs a file, `%cd`
# moves the notebook. test_magics_ipython*.py covers their bad input.
MAGICS = sorted(n for n in REGISTRY if n not in FORWARDED)
# Magics whose valid-looking random calls would reach outside the test: pip installs, new
# servers and files. Their argument parsing is still covered by the deterministic cases.
NO_FUZZ = {"packages", "pip", "open"}


@pytest.fixture(scope="module")
def k(server, tmp_path_factory):
    log = tmp_path_factory.mktemp("magics") / "kernel.log"
    with LoggedKernel({"XDG_STATE_HOME": str(server.state_home)}, log) as kernel:
        assert kernel.execute("answer").result["text/plain"] == "42"
        yield kernel
    assert "internal error" not in log.read_text().lower()


def _positionals(m: Magic) -> list[argparse.Action]:
    return [a for a in m.parser._actions if not a.option_strings]


def _value_options(m: Magic) -> list[str]:
    """Options that need a value (not those whose value may be left out, as `%history -g`)."""
    return [a.option_strings[-1] for a in m.parser._actions if a.option_strings and a.nargs not in (0, "?")]


def _flag_options(m: Magic) -> list[str]:
    return [a.option_strings[-1] for a in m.parser._actions if a.option_strings and a.nargs == 0]


def _filler(a: argparse.Action) -> str:
    return str(list(a.choices)[0]) if a.choices else "x"


def bad_lines() -> list[tuple[str, str]]:
    """(magic, code) pairs that must each give a usage error, derived from the parsers."""
    cases: list[tuple[str, str]] = []
    for name in MAGICS:
        m = REGISTRY[name]
        pos = _positionals(m)
        head = f"%{name}" if m.line else f"%%{name}"
        body = "" if m.line else "\nx = 1"
        cases.append((name, f"{head} --no-such-option{body}"))
        cases.append((name, f"{head} 'unbalanced{body}"))
        if all(a.nargs in (None, "?") for a in pos):  # a finite number of positionals: one too many
            cases.append((name, f"{head} {' '.join(_filler(a) for a in pos)} one-too-many{body}"))
        required = [a for a in pos if a.nargs not in ("?", "*")]
        if required:
            cases.append((name, f"{head}{body}"))  # missing
        for a in pos:
            if a.choices:  # wrong kind of value
                before = " ".join(_filler(p) for p in pos[: pos.index(a)])
                cases.append((name, f"{head} {before} not-a-choice x{body}".replace("  ", " ")))
        for opt in _value_options(m):
            cases.append((name, f"{head} {opt}{body}"))  # option without its value
        for opt in _flag_options(m):
            cases.append((name, f"{head} {opt}=yes{body}"))  # flag given a value
        if not m.cell:
            cases.append((name, f"%%{name}\nx = 1"))  # a line magic used as a cell magic
    # Rules the handlers enforce beyond argparse.
    cases += [
        ("cell", "%cell"), ("cell", "%cell show"), ("cell", "%cell move 0"), ("cell", "%cell edit 0"),
        ("cell", "%cell show 0 --name n"), ("cell", "%%cell\n"), ("cell", "%%cell edit\nx = 1"),
        ("cell", "%%cell show 0\nx = 1"), ("cell", "%%cell --before 0 --after 0\nx = 1"),
        ("connect", "%connect --session abc"), ("connect", "%connect 0 --session abc"),
        ("nope", "%nope"), ("nope", "%%nope\nx"),
    ]
    return cases


BAD = bad_lines()


@pytest.mark.parametrize("code", [c for _, c in BAD], ids=[f"{n}:{c.splitlines()[0]}" for n, c in BAD])
def test_bad_magic_line_is_a_usage_error(k, code):
    run = k.execute(code)
    assert run.status == "error", (code, run.content)
    assert run.content["ename"] == "UsageError", (code, run.content)
    assert len(run.of("error")) == 1
    text = run.content["evalue"]
    assert "usage" in text.lower() or "%help" in text, (code, text)
    assert "Traceback" not in "".join(run.content["traceback"])


def test_every_magic_has_help(k):
    for name in sorted(REGISTRY):
        run = k.execute(f"%{name}?")
        assert run.status == "ok"
        assert "usage:" in run.content["payload"][0]["data"]["text/plain"]


@pytest.mark.parametrize("line", ["%token {}", "%token --x {}", "%token -- {}", "%token '{}"])
def test_token_typed_as_an_argument_is_not_echoed(k, line):
    secret = "tok-typed-on-the-line-1234"
    run = k.execute(line.format(secret))
    assert run.content["ename"] == "UsageError"
    assert secret not in repr(run.content)
    assert k.execute("answer").result["text/plain"] == "42"


# -- property test ------------------------------------------------------------------------------

_WORDS = st.sampled_from(["0", "1", "-1", "99", "x", "answer", "seed", "--", "-", "=", "''", '"', "\\",
                          "%", "%%", "?", "??", "http://127.0.0.1:1", "a.py", "é", "🙂", "\t"])
_TEXT = st.text(alphabet=string.ascii_letters + string.digits + " -_=.,:;'\"\\/%?!()[]{}#@$&|<>^~é🙂\t",
                max_size=30)


_WORD = st.one_of(_WORDS, _TEXT.map(shlex.quote))


@st.composite
def magic_lines(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from([n for n in MAGICS if n not in NO_FUZZ] + ["bogus", ""]))
    m = REGISTRY.get(name)
    args: list[str] = []
    if m is not None and draw(st.booleans()):
        # Shaped like a real call, so that it gets past parsing into the magic's own code.
        for a in _positionals(m):
            if a.nargs in ("?", "*") and draw(st.booleans()):
                continue
            for _ in range(draw(st.integers(1, 2)) if a.nargs in ("+", "*") else 1):
                args.append(draw(st.sampled_from([str(c) for c in a.choices]) if a.choices else _WORD))
        for opt in _flag_options(m) + _value_options(m):
            if draw(st.integers(0, 3)) == 0:
                args.append(opt)
                if opt in _value_options(m):
                    args.append(draw(_WORD))
    else:
        pool = [_WORDS, _TEXT]
        if m is not None:
            choices = [str(c) for a in _positionals(m) if a.choices for c in a.choices]
            opts = [o for a in m.parser._actions for o in a.option_strings]
            if choices or opts:
                pool.append(st.sampled_from(choices + opts))
        args = draw(st.lists(st.one_of(*pool), max_size=5))
    cell = bool(m and m.cell) and draw(st.booleans())
    line = ("%%" if cell else "%") + name + (" " + " ".join(args) if args else "")
    if cell:
        line += "\n" + draw(st.sampled_from(["", "x = 1", "1/0", "def f(:", "print('hi')", "%x", "seed = 1"]))
    elif draw(st.integers(0, 4)) == 0:
        line += draw(st.sampled_from(["?", "??", " ?"]))
    return line


# No "*": a random `9**9**9` would keep marimo busy for hours, which is not the kernel's fault.
_CODE = st.text(alphabet=string.ascii_letters + string.digits + " \n\t()[]{}:;,.=+-/%?!'\"#@\\<>é", max_size=60)

SETTINGS = settings(
    max_examples=int(os.environ.get("MPK_FUZZ_EXAMPLES", "50")),
    deadline=None,
    derandomize=not os.environ.get("MPK_FUZZ_EXAMPLES"),
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _check(k: LoggedKernel, code: str) -> None:
    run = k.execute(code, timeout=60)
    assert run.status in ("ok", "error"), (code, run.content)
    if run.status == "error":
        assert run.content["ename"] != "InternalError", (code, run.content)
        assert "marimo_pair_kernel" not in "".join(run.content["traceback"]), (code, run.content)
    assert len(run.of("error")) <= 1


@SETTINGS
@given(line=magic_lines())
def test_random_magic_lines_never_break_the_kernel(k, line):
    _check(k, line)


@SETTINGS
@given(code=_CODE)
def test_random_code_never_breaks_the_kernel(k, code):
    _check(k, code)


def test_kernel_still_fine_after_fuzzing(k):
    assert k.kernel_info()["content"]["status"] == "ok"
    assert k.execute("6 * 7").result["text/plain"] == "42"
