"""IPython's everyday magics: declared here (for %help, %lsmagic, %MAGIC? and completion), run
in the notebook's process by inmarimo/shell.py, except %history, which is this kernel's own.

A magic declared with `forwarded=True` never reaches a handler here: transform.py turns the
cell into `get_ipython().run_line_magic(...)` and the like, which the runtime answers where
the code runs (inmarimo/shell.py's `line_magic_<name>` / `cell_magic_<name>`).
"""

from __future__ import annotations

import argparse
import fnmatch
import re
from collections.abc import Callable
from typing import Any

from ..context import MagicContext
from ..errors import UsageError
from . import MagicParser, magic

FORWARDED: set[str] = set()  # magics that run in the notebook's process (see transform.py)


def forwarded(
    name: str,
    summary: str,
    *,
    cell: bool = False,
    line: bool = True,
    setup: Callable[[MagicParser], None] | None = None,
) -> None:
    """Declare a magic whose work is done by the runtime in the notebook's process."""

    def handler(ctx: MagicContext, args: argparse.Namespace, body: str | None) -> None:
        raise UsageError(f"%{name} runs in the notebook's process; this kernel did not send it there.")

    magic(name, summary, line=line, cell=cell, setup=setup)(handler)
    FORWARDED.add(name)


def _stmt(p: MagicParser) -> None:
    p.add_argument("statement", nargs="*", help="the code (for %%%%: the cell below)")


def _timeit(p: MagicParser) -> None:
    p.add_argument("-n", type=int, metavar="N", help="loops per run (default: as many as fill 0.2 s)")
    p.add_argument("-r", type=int, metavar="R", help="runs (default 7)")
    p.add_argument("-p", type=int, metavar="P", help="digits shown (default 3)")
    p.add_argument("-q", action="store_true", help="print nothing")
    p.add_argument("-o", action="store_true", help="return the TimeitResult")
    _stmt(p)


def _prun(p: MagicParser) -> None:
    p.add_argument("-s", metavar="KEY", help="sort key (default: time)")
    p.add_argument("-l", metavar="LIMIT", help="lines to show: a number, a fraction or a name")
    p.add_argument("-r", action="store_true", help="return the pstats.Stats")
    p.add_argument("-q", action="store_true", help="print nothing")
    _stmt(p)


def _words(metavar: str, help: str) -> Callable[[MagicParser], None]:
    def setup(p: MagicParser) -> None:
        p.add_argument("args", nargs="*", metavar=metavar, help=help)

    return setup


_WHERE = "where it runs, as IPython does"
forwarded("time", f"Time one statement (or the cell) {_WHERE}: CPU and wall time.", cell=True, setup=_stmt)
forwarded("timeit", f"Time a statement (or the cell) over many loops {_WHERE}: -n N -r R -q -o.", cell=True,
          setup=_timeit)
forwarded("prun", f"Profile a statement (or the cell) with cProfile {_WHERE}: IPython's table.", cell=True,
          setup=_prun)
forwarded("env", "The notebook process's environment: %env, %env NAME, %env NAME=VALUE.",
          setup=_words("NAME[=VALUE]", ""))
forwarded("pwd", "The notebook process's working directory.")
forwarded(
    "cd",
    "Change the notebook process's working directory (the person's cells too): %cd --yes DIR.",
    setup=_words("[--yes] DIR", "the person's notebook moves too, so --yes is needed"),
)
forwarded(
    "load_ext",
    "%load_ext autoreload is accepted (marimo reloads modules itself); other IPython extensions can't load here.",
    setup=_words("NAME", "an extension module"),
)
forwarded("autoreload", "Accepted with a note: marimo's own module reloader (runtime.auto_reload) does this.",
          setup=_words("MODE", "0|1|2|off|..."))
forwarded(
    "config",
    "%config InlineBackend.figure_format = 'png'|'retina'|'svg': how figures are drawn; other keys: a note.",
    setup=_words("KEY = VALUE", ""),
)
forwarded("precision", "Float precision of plain-text values: %precision 3 (none: back to repr).",
          setup=_words("[N|FORMAT]", ""))
forwarded("run", "Run a Python file in the notebook's process: %run script.py [args]; its names become the pair's.",
          setup=_words("[-i] FILE [ARGS]", "-i: the file sees the pair's names"))
_NO_DEBUG = "Not available: post-mortem debugging can't reach marimo's process from here."
forwarded("debug", _NO_DEBUG)
forwarded("pdb", "Automatic post-mortem debugging: not available either, as %debug.", setup=_words("[on|off]", ""))

# IPython's other everyday magics (inmarimo/moremagics.py): files, scripts, rich cells, aliases.
forwarded("writefile", "Write the cell below to a file in the notebook's working directory: %%writefile [-a] FILE.",
          line=False, cell=True, setup=_words("[-a] FILE", "-a: append"))
forwarded("file", "%%file is %%writefile.", line=False, cell=True, setup=_words("[-a] FILE", "-a: append"))
forwarded("script", "Run the cell with a program (on its stdin) where the notebook runs: %%script bash.",
          line=False, cell=True, setup=_words("[--no-raise-error] PROGRAM [ARGS]", ""))
for _prog in ("bash", "sh", "python3", "perl", "ruby"):
    forwarded(_prog, f"Run the cell with {_prog} where the notebook runs (%%script {_prog}).", line=False, cell=True,
              setup=_words("[--no-raise-error] [ARGS]", ""))
for _name, _what in (("html", "HTML (--isolated: in an iframe)"), ("markdown", "Markdown"), ("latex", "LaTeX"),
                     ("svg", "SVG"), ("javascript", "JavaScript")):
    forwarded(_name, f"Show the cell as {_what}.", line=False, cell=True, setup=_words("[--isolated]", "")
              if _name == "html" else None)
for _name, _same in (("HTML", "html"), ("SVG", "svg"), ("js", "javascript")):
    forwarded(_name, f"%%{_name} is %%{_same}.", line=False, cell=True)
forwarded("capture", "Run the cell keeping its output: %%capture [--no-stdout] [--no-stderr] [--no-display] [NAME].",
          line=False, cell=True, setup=_words("[--no-stdout] [--no-stderr] [--no-display] [NAME]", ""))
for _name, _cmd in (("ls", "ls -F"), ("ll", "ls -F -o"), ("lf", "ls -F -o ... | grep ^-"),
                    ("lk", "ls -F -o ... | grep ^l"), ("ldir", "ls -F -o ... | grep /$"),
                    ("lx", "ls -F -o ... | grep ^-..x"), ("cat", "cat"), ("cp", "cp"), ("mv", "mv"), ("rm", "rm"),
                    ("mkdir", "mkdir"), ("rmdir", "rmdir")):
    forwarded(_name, f"`{_cmd}` in the notebook's working directory (IPython's alias).", setup=_words("ARGS", ""))
forwarded("sx", "A shell command's output lines, as !!cmd: %sx cmd.", setup=_words("COMMAND", ""))
forwarded("system", "%system is %sx.", setup=_words("COMMAND", ""))
forwarded("pinfo", "What an object is, as `obj?`: %pinfo obj.", setup=_words("OBJECT", ""))
forwarded("pinfo2", "More about an object, with its source, as `obj??`: %pinfo2 obj.", setup=_words("OBJECT", ""))
forwarded("reload_ext", "As %load_ext: %reload_ext autoreload is accepted (marimo reloads modules itself).",
          setup=_words("NAME", "an extension module"))
forwarded("set_env", "Set an environment variable in the notebook's process: %set_env NAME VALUE.",
          setup=_words("NAME VALUE", ""))

def _setup_history(p: MagicParser) -> None:
    p.add_argument("-n", action="store_true", help="show the line numbers")
    p.add_argument("-l", type=int, metavar="N", help="the last N lines")
    p.add_argument("-g", nargs="?", const="*", metavar="PATTERN", help="search (glob) the history; shows numbers")
    p.add_argument("range", nargs="*", help="line numbers: 4, 4-6")


@magic("history", "This kernel's input history: %history [-n] [-l N] [-g PATTERN] [4-6].", setup=_setup_history)
def history_magic(ctx: MagicContext, args: argparse.Namespace, body: str | None) -> None:
    entries = ctx.history()
    numbers = args.n
    if args.g is not None:
        pattern = args.g if any(c in args.g for c in "*?[") else f"*{args.g}*"
        entries = [e for e in entries if fnmatch.fnmatch(e[2], pattern)]
        numbers = True
    elif args.range:
        wanted: set[int] = set()
        for r in args.range:
            lo, _, hi = r.partition("-")
            try:
                wanted.update(range(int(lo), int(hi or lo) + 1))
            except ValueError:
                raise UsageError(f"{r!r} is not a line number or a range like 4-6") from None
        entries = [e for e in entries if e[1] in wanted]
    if args.l is not None:  # as IPython: the last N lines before this one
        entries = entries[:-1][-args.l :] if args.l > 0 else []
    out: list[str] = []
    for _, n, src in entries:
        if numbers:
            lines = src.split("\n")
            out.append(f"{n:>4}: {lines[0]}")
            out.extend(f"      {line}" for line in lines[1:])
        else:
            out.append(src)
    if out:
        ctx.stream("stdout", "\n".join(out) + "\n")


def forwarded_names() -> frozenset[str]:
    return frozenset(FORWARDED)


__all__: list[Any] = ["FORWARDED", "forwarded", "forwarded_names", "history_magic"]


# -- %load: code into the cell, as IPython's set_next_input ----------------------------------------

_INPUT_RANGES = re.compile(r"^\d+(-\d+)?(\s+\d+(-\d+)?)*$")
_BIG = 200_000  # characters: IPython asks before loading more (here: -y, as there is no one to ask)


def _setup_load(p: MagicParser) -> None:
    p.add_argument("-r", metavar="RANGES", help="only these lines: 5-10, or 10-20,30,40:")
    p.add_argument("-s", metavar="SYMBOLS", help="only these functions or classes: MyClass,wonder_function")
    p.add_argument("-y", action="store_true", help="load a file over 200,000 characters without asking")
    p.add_argument("-n", action="store_true", help="(IPython's search of the namespace: not available here)")
    p.add_argument("source", nargs="+", help="a file (in the notebook's working directory), a URL, or input lines: 3-5")


@magic(
    "load",
    "Put a file's (or URL's, or earlier inputs') code in the cell, as IPython: %load [-r 5-10] [-s NAME] FILE.",
    setup=_setup_load,
)
def load_magic(ctx: MagicContext, args: argparse.Namespace, body: str | None) -> None:
    from IPython.core.magics.code import extract_code_ranges, extract_symbols, strip_initial_indent

    source = " ".join(args.source)
    if args.n:
        raise UsageError("%load -n (an object's source by name) is not available here: use obj?? to read it.")
    text = _load_text(ctx, source)
    if args.s:
        try:
            blocks, missing = extract_symbols(text, args.s)
        except SyntaxError:
            raise UsageError(f"-s: {source} is not Python that parses, so it has no symbols to pick.") from None
        if missing:
            many = len(missing) > 1
            names = ", ".join(f"`{m}`" for m in missing)
            ctx.stream("stderr", f"The symbol{'s' if many else ''} {names} {'were' if many else 'was'} not found\n")
        text = "\n".join(blocks)
    if args.r:
        lines = text.split("\n")
        try:
            slices = list(extract_code_ranges(args.r.replace(",", " ")))
        except ValueError:
            raise UsageError(f"-r {args.r}: line ranges look like 5-10, or 10-20,30,40:") from None
        picked = [ln for s in slices for ln in lines[slice(*s)]]
        text = "\n".join(strip_initial_indent(picked)) if picked else ""
    if len(text) > _BIG and not args.y:
        raise UsageError(f"{source} is {len(text):,} characters long; IPython would ask first. Add -y to load it.")
    typed = getattr(args, "raw_line", "") or " ".join(args.source)
    ctx.next_input("# %load " + typed.strip() + "\n" + text, True)


def _load_text(ctx: MagicContext, source: str) -> str:
    """The code to load: earlier inputs (3-5), a URL, or a file where the notebook runs."""
    if _INPUT_RANGES.match(source):
        wanted: set[int] = set()
        for part in source.split():
            lo, _, hi = part.partition("-")
            wanted.update(range(int(lo), int(hi or lo) + 1))
        found = [code for _, n, code in ctx.history() if n in wanted]
        if not found:
            raise UsageError(f"No input {source} in this kernel's history (%history -n lists it).")
        return "\n".join(found)
    if source.startswith(("http://", "https://")):
        import httpx

        try:
            r = httpx.get(source, follow_redirects=True, timeout=30)
            r.raise_for_status()
        except httpx.HTTPError as e:
            raise UsageError(f"Could not fetch {source}: {type(e).__name__}: {e}") from None
        return r.text
    from .. import scratchpad

    outcome = ctx.run(scratchpad.state_code(f"moremagics.read_source({source!r})"))
    answer = outcome.payload or {}
    if outcome.error is not None or "text" not in answer:
        why = answer.get("error") or (outcome.error.evalue if outcome.error else "no answer from the notebook")
        raise UsageError(
            f"Could not read {answer.get('path', source)} in the notebook's process ({why}). A relative "
            "path is from the notebook process's working directory (%pwd)."
        )
    return str(answer["text"])
