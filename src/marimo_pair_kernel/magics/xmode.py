"""%xmode: how tracebacks are laid out, as IPython's %xmode (Plain, Context, Verbose, Minimal).

The mode is this kernel's (every Jupyter kernel has its own, as every IPython shell does) and
applies to the next error: where the notebook's Python has IPython, its own formatter lays the
exception out in that mode there (inmarimo/tracebacks.py); otherwise this process lays out
marimo's text (tracebacks.py), where Verbose has no local values to show and looks as Context.
"""

from __future__ import annotations

import argparse

from ..context import MagicContext
from ..errors import UsageError
from . import MagicParser, magic

# IPython's order: %xmode with no argument moves to the next one.
MODES = ("Plain", "Context", "Verbose", "Minimal")
DEFAULT = "Context"  # ipykernel's
STATE = "xmode"


def _setup(p: MagicParser) -> None:
    p.add_argument("mode", nargs="?", help="Plain, Context (the default), Verbose or Minimal; none: the next one")


@magic(
    "xmode",
    "Switch the traceback layout: Plain, Context, Verbose or Minimal (as IPython's %xmode).",
    setup=_setup,
    description=(
        "Switch how exceptions are shown, as IPython's %xmode does:\n"
        "  Plain    frames as Python prints them, one line each\n"
        "  Context  the lines around each frame's failing line (the default)\n"
        "  Verbose  Context plus the values of the names on those lines\n"
        "  Minimal  only the exception's line\n"
        "With no mode, moves to the next one in that order. The layout is IPython's own where the\n"
        "notebook's Python has IPython; otherwise Verbose looks as Context (no values reach here)."
    ),
)
def xmode_magic(ctx: MagicContext, args: argparse.Namespace, body: str | None) -> None:
    current = ctx.state(STATE, DEFAULT)
    if args.mode is None:
        new = MODES[(MODES.index(current) + 1) % len(MODES)] if current in MODES else DEFAULT
    else:
        new = args.mode.strip().capitalize()
        if new not in MODES:
            raise UsageError(f"Unrecognized mode {args.mode!r}: the modes are {', '.join(MODES)}.")
    ctx.set_state(STATE, new)
    ctx.stream("stdout", f"Exception reporting mode: {new}\n")


def current_mode(ctx: MagicContext) -> str:
    return str(ctx.state(STATE, DEFAULT))
