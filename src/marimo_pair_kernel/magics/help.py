"""%help and %lsmagic: what exists and how to call it."""

from __future__ import annotations

import argparse

from ..context import MagicContext
from ..outputs import PAIR_JSON, table_bundle
from . import REGISTRY, MagicParser, magic


def _forms(name: str) -> str:
    m = REGISTRY[name]
    return " ".join(f for f, ok in ((f"%{name}", m.line), (f"%%{name}", m.cell)) if ok)


def _setup_help(p: MagicParser) -> None:
    p.add_argument("magic", nargs="?", help="a magic name, with or without %")


@magic("help", "List every magic with one line each, or show one magic's usage.", setup=_setup_help)
def help_magic(ctx: MagicContext, args: argparse.Namespace, body: str | None) -> None:
    if args.magic:
        show_magic_help(ctx, args.magic)
        return
    names = sorted(REGISTRY)
    rows = [(_forms(n), REGISTRY[n].summary) for n in names]
    data = [
        {"name": n, "forms": _forms(n).split(), "summary": REGISTRY[n].summary, "usage": REGISTRY[n].usage}
        for n in names
    ]
    notes = [
        "",
        "Plain code runs in the notebook's kernel: notebook variables are readable (live), and the names it",
        "binds persist in this kernel's own namespace, never in the notebook (%who; %pairns off: nothing persists).",
        "Use %%cell to add durable cells. obj? / obj?? show docs / source. %MAGIC? shows one magic's usage.",
    ]
    ctx.result(table_bundle(["magic", "does"], rows, data, title="marimo-pair magics", notes=notes, max_width=200))


@magic("lsmagic", "List the names of all magics.")
def lsmagic(ctx: MagicContext, args: argparse.Namespace, body: str | None) -> None:
    line = sorted(f"%{n}" for n, m in REGISTRY.items() if m.line)
    cell = sorted(f"%%{n}" for n, m in REGISTRY.items() if m.cell)
    text = "Available line magics:\n" + "  ".join(line) + "\n\nAvailable cell magics:\n" + "  ".join(cell)
    html = "".join(
        f"<p><b>{title}</b> " + " ".join(f"<code>{n}</code>" for n in names) + "</p>"
        for title, names in (("Line magics:", line), ("Cell magics:", cell))
    )
    ctx.result({"text/plain": text, "text/html": html, PAIR_JSON: {"line": line, "cell": cell}})


def show_magic_help(ctx: MagicContext, name: str) -> None:
    from ..errors import UsageError

    m = REGISTRY.get(name.lstrip("%"))
    if m is None:
        raise UsageError(f"There is no magic %{name.lstrip('%')}. Run %help to list them.")
    ctx.result({"text/plain": m.help()})
