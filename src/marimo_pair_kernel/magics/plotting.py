"""%matplotlib: accepted as in IPython, so notebooks written for ipykernel run unchanged.

This kernel always shows figures as matplotlib's inline backend does (inmarimo/:
image/png at plt.show() and at the end of an execute), so `inline` is already in effect;
other backends cannot reach a Jupyter client through marimo's scratchpad.
"""

from __future__ import annotations

import argparse

from ..context import MagicContext
from . import MagicParser, magic


def _setup(p: MagicParser) -> None:
    p.add_argument("gui", nargs="?", default="inline", help="only inline is available (the default)")


@magic("matplotlib", "Figures are shown inline (as image/png), as with `%matplotlib inline`.", setup=_setup)
def matplotlib_magic(ctx: MagicContext, args: argparse.Namespace, body: str | None) -> None:
    if args.gui not in ("inline", "auto"):
        ctx.stream(
            "stderr",
            f"%matplotlib {args.gui} is not available here: figures made by this kernel's code are "
            "shown inline as images (the marimo page keeps its own plots). Carry on with inline.\n",
        )
