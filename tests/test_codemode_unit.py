"""Pure parsing and formatting around code mode (no marimo, no kernel)."""

from __future__ import annotations

import ast
import json

import pytest

from marimo_pair_kernel import codemode
from marimo_pair_kernel.errors import UnsupportedServer, UsageError
from marimo_pair_kernel.inmarimo import cells, codemode_ops
from marimo_pair_kernel.magics import load_all

MULTI = (
    "Multiply-defined names:\n"
    "  - 'seed' is already defined in cell 'Hbol' (_)\n"
    "  - 'total' is already defined in cell 'SoPS' (total)\n\n"
    "To skip validation, use: async with cm.get_context(skip_validation=True) as ctx"
)
CYCLE = (
    "Cycles detected: {(('Aaaa', 'Bbbb'), ('Bbbb', 'Aaaa'))}\n\n"
    "To skip validation, use: async with cm.get_context(skip_validation=True) as ctx"
)
INDEX = [["Hbol", None], ["SoPS", "total"], ["Aaaa", "cyc_a"], ["Bbbb", None]]


@pytest.mark.parametrize(
    "spec, name",
    [
        ("pandas", "pandas"),
        ("numpy>=1.26", "numpy"),
        ("scikit-learn[alldeps]==1.5", "scikit-learn"),
        ("typing_extensions; python_version<'3.12'", "typing_extensions"),
        ("/tmp/w/mpk_probe_pkg-0.1-py3-none-any.whl", "mpk_probe_pkg"),
        ("./dist/foo_bar-2.0-py3-none-any.whl", "foo_bar"),
        ("https://example.org/pkg.tar.gz", None),
        ("git+https://github.com/a/b", None),
        ("./local/project", None),
        ("", None),
    ],
)
def test_package_name(spec, name):
    assert codemode.package_name(spec) == name


@pytest.mark.parametrize(
    "text, value",
    [
        ("7", 7),
        ("2.5", 2.5),
        ("true", True),
        ("True", True),
        ("'red'", "red"),
        ('"red"', "red"),
        ("red", "red"),
        ("hello world", "hello world"),
        ("[1, 5]", [1, 5]),
        ("(1, 5)", (1, 5)),
        ('{"a": 1}', {"a": 1}),
        ("{1, 2}", "{1, 2}"),  # a set cannot travel as JSON: keep the text
        ("null", None),
    ],
)
def test_parse_ui_value(text, value):
    assert codemode.parse_ui_value(text) == value


def test_multiply_defined_names_every_offending_name_without_marimo_hints():
    e = codemode.refusal({"kind": "RuntimeError", "message": MULTI}, INDEX)
    assert e.ename == "MultipleDefinitionError"
    msg = str(e)
    assert "'seed' is already defined in cell 'Hbol'" in msg
    assert "'total' is already defined in cell 'SoPS' (total)" in msg
    assert "(_)" not in msg and "skip_validation" not in msg
    assert msg.endswith("The notebook is unchanged.")


def test_cycle_names_the_cells_and_the_variables_that_close_it():
    # %%cell edit cyc_a with `a_v = b_v + 1`, while Bbbb reads a_v and defines b_v.
    err = {
        "kind": "RuntimeError",
        "message": CYCLE,
        "target": "Aaaa",
        "cells": {"Aaaa": {"defs": ["a_v"], "refs": []}, "Bbbb": {"defs": ["b_v"], "refs": ["a_v"]}},
    }
    e = codemode.refusal(err, INDEX, code="a_v = b_v + 1\n")
    assert e.ename == "CycleError"
    msg = str(e)
    assert "cyc_a (Aaaa) defines a_v, read by Bbbb; Bbbb defines b_v, read by cyc_a (Aaaa)" in msg
    assert "skip_validation" not in msg and msg.endswith("The notebook is unchanged.")


def test_cycle_through_a_new_cell():
    err = {"kind": "RuntimeError", "message": "Cycles detected: {(('Bbbb', 'Zzzz'), ('Zzzz', 'Bbbb'))}",
           "target": None, "cells": {"Bbbb": {"defs": ["b_v"], "refs": ["z_v"]}}}
    msg = str(codemode.refusal(err, INDEX, code="z_v = b_v * 2"))
    assert "Bbbb defines b_v, read by the new cell; the new cell defines z_v, read by Bbbb" in msg


def test_syntax_error_message():
    e = codemode.refusal({"kind": "SyntaxError", "message": "invalid syntax", "lineno": 1, "text": "def f(:\n"}, [])
    assert e.ename == "SyntaxError"
    assert "invalid syntax (line 1)" in str(e) and "def f(:" in str(e) and "unchanged" in str(e)


def test_lookup_and_other_errors():
    e = codemode.refusal({"kind": "LookupError", "message": "No cell 'x'"}, [])
    assert e.ename == "CellNotFoundError" and str(e).startswith("No cell 'x'")
    e = codemode.refusal({"kind": "ValueError", "message": "Invalid cell name '1x'."}, [])
    assert e.ename == "ValueError"
    e = codemode.refusal({"kind": "Weird", "message": "boom"}, [], mutation=False)
    assert e.ename == "CodeModeError" and str(e) == "boom"


def test_unsupported_names_the_version_needed():
    e = codemode.unsupported("%packages add", ["packages"], "0.23.0")
    assert isinstance(e, UnsupportedServer)
    assert "0.24.0" in str(e) and "0.23.0" in str(e) and "ctx.packages" in str(e)
    e = codemode.unsupported("%cells", ["code mode"], None)
    assert codemode.CODE_MODE_SINCE in str(e)
    e = codemode.unsupported("%%cell", ["move_cell", "packages"], "0.20.0")
    assert "0.24.0" in str(e)


@pytest.mark.parametrize("op", sorted(codemode.OPS))
def test_every_op_builds_valid_python_ending_in_the_answer(op):
    args = {"code": "x = '''quotes\" and \\\\ back'''", "target": "a'b", "nonce": "n"}
    code = codemode.build(op, args, nonce="abc")
    tree = ast.parse(code)  # top-level await parses; marimo compiles it as a cell
    last = tree.body[-1]
    assert isinstance(last, ast.Expr) and isinstance(last.value, ast.Await)
    assert json.dumps(args) in code or repr(json.dumps(args)) in code
    # The op the line names is one the runtime has, with the code-mode attributes it needs.
    assert op in codemode_ops.OPS and op in codemode_ops.NEEDS


# -- the %cell parser (one parser for the line and cell forms) ----------------------------------


@pytest.fixture(scope="module")
def cell():
    return load_all()["cell"]


def test_cell_parser_forms(cell):
    a = cell.parse("show total")
    assert (a.command, a.target) == ("show", "total")
    a = cell.parse("move 3 --after Hbol")
    assert (a.command, a.target, a.after, a.before) == ("move", "3", "Hbol", None)
    a = cell.parse("--name total --before 0 --hide-code --no-run")
    assert (a.command, a.name, a.before, a.hide_code, a.no_run) == (None, "total", "0", True, True)
    a = cell.parse("edit Hbol --no-run")
    assert (a.command, a.target, a.no_run) == ("edit", "Hbol", True)


@pytest.mark.parametrize("line", ["frobnicate", "show --before a --after b", "--bogus", "show 'unclosed"])
def test_cell_parser_errors_carry_usage(cell, line):
    with pytest.raises(UsageError) as e:
        cell.parse(line)
    assert "%cell show|run|delete TARGET" in str(e.value) or "usage" in str(e.value)


def test_cell_help_and_usage_render(cell):
    assert cell.usage.startswith("usage: %cell show|run|delete TARGET")
    assert "%%cell edit TARGET" in cell.help()
    assert "%cell run --all" in cell.help()


def test_run_all_parses(cell):
    a = cell.parse("run --all")
    assert (a.command, a.target, a.all) == ("run", None, True)


# -- a notebook nobody has run ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "code, defs, refs",
    [
        ("seed = 41", {"seed"}, set()),
        ("answer = seed + 1\nprint(answer)", {"answer"}, {"seed"}),
        (
            "import numpy as np\nfrom os import path\ndef f(x):\n    return x + y\nclass C: pass",
            {"np", "path", "f", "C"},
            {"y"},
        ),
        ("_private = 1\nout = _private + len([])", {"out"}, set()),  # marimo keeps _names to the cell
        ("heavy = [p for p in penguins if p > 4]", {"heavy"}, {"penguins"}),
        ("def f(:", set(), set()),
    ],
)
def test_unrun_cells_names_are_read_from_their_code(code, defs, refs):
    assert cells.parse_names(code) == (defs, refs)


def test_stale_note_only_when_cells_have_not_run():
    idle = {"id": "a", "status": "idle"}
    stale = {"id": "b", "status": "stale"}
    assert codemode.stale_note([idle]) is None
    assert "1 of 2 cells have not run" in (codemode.stale_note([idle, stale]) or "")
    assert "No cell of this notebook has run yet" in (codemode.stale_note([stale]) or "")
    assert "%cell run --all" in (codemode.stale_note([stale]) or "")


def test_ops_are_one_short_line_into_the_installed_runtime():
    from marimo_pair_kernel import scratchpad

    for op in codemode.OPS:
        code = codemode.build(op, {"code": "x = 1"})
        assert code.count("\n") == 1 and scratchpad.RUNTIME_MODULE in code and len(code) < 200, code
    assert set(codemode.OPS) == set(codemode_ops.OPS)
    line = codemode.widget_set_code("el", 3, 0, "n1")
    assert line.count("\n") == 1 and len(line) < 200
    assert len(codemode.widget_answer_code("n1")) < 200
    with pytest.raises(ValueError):
        codemode.build("no_such_op", {})


def test_effects_lines_say_what_reran_failed_and_went_stale():
    from marimo_pair_kernel.codemode import effects_lines

    assert effects_lines("Setting s", {}) == ["Setting s: no cell reads it, so nothing reran."]
    lines = effects_lines("Setting s", {
        "reran": [{"id": "a", "name": "doubled"}, {"id": "b", "name": None}],
        "failed": [{"id": "c", "name": None, "status": "exception"}],
        "stale": [{"id": "d", "name": "later"}],
    })
    assert lines == [
        "Setting s: reran 2 cells: doubled (a), b.",
        "Now failing: c [exception]. See %cell show c.",
        "Marked stale, not run (lazy mode): later (d). Run them with %cell run --all.",
    ]
    only = effects_lines("Moving 'n'", {"failed": [{"id": "c", "name": "p", "status": "exception"}]})
    assert only == ["Moving 'n': now failing: p (c) [exception]. See %cell show c."]


def test_cell_targets_resolve_in_one_place():
    # inmarimo/cells.py's resolve is the one resolution (%cell, %graph, the ops): id, name, index,
    # then the one cell defining a variable, also among cells marimo has not compiled.
    from types import SimpleNamespace as NS

    compiled = NS(defs={"seed"}, refs=set())
    cells_ = [
        NS(id="Hbol", name="_", code="seed = 41"),
        NS(id="MJUe", name="total", code="answer = seed + 1"),
        NS(id="vblA", name="twin", code="a = 1"),
        NS(id="bkHC", name="twin", code="b = 1"),
    ]
    ctx = NS(cells=cells_, graph=NS(cells={"Hbol": compiled}))
    assert cells.resolve(ctx, "MJUe") == "MJUe"
    assert cells.resolve(ctx, "total") == "MJUe"
    assert cells.resolve(ctx, "-1") == "bkHC"
    assert cells.resolve(ctx, "seed") == "Hbol"  # from marimo's graph
    assert cells.resolve(ctx, "answer") == "MJUe"  # from the code of a cell nobody ran
    with pytest.raises(LookupError, match=r"2 cells are named 'twin' \(vblA, bkHC\); use an id\."):
        cells.resolve(ctx, "twin")
    with pytest.raises(LookupError, match=r"No cell 'nope': give a cell id, a cell name, an index 0\.\.3"):
        cells.resolve(ctx, "nope")
