"""Code that runs inside the marimo notebook's kernel, never in the Jupyter kernel's process.

The kernel process reads these files as text (scratchpad.install_code sends them once per marimo
kernel; loader.py makes them a package there, named with a hash of the texts). Every other line
the kernel sends is one short call into the installed package: the names below, and
`codemode_ops.answer(...)` for code mode. The code runs in the notebook's Python, with whatever
marimo and IPython are there, so every import of theirs is local and optional, and failures fall
back rather than raise.

  values, formatter, pretty   what Jupyter gets for a value (IPython's formatter, or a port of it)
  sanitize, widgets           mo.ui elements: snapshots, HTML that renders outside marimo, widgets
  hooks, late                 display(), plt.show(), mo.output in the kernel's runs; late output
  state                       each Jupyter kernel's own names, and running its code
  shell, magics               get_ipython() and IPython's everyday magics
  completion, tracebacks      completion and inspection; IPython's traceback layout
  cells, capture, ui, codemode_ops   marimo's code mode: the cell magics and %ui
"""

from . import codemode_ops
from .completion import complete, inspect_name, warm
from .hooks import guard_input, install_hooks, installed, show
from .state import (
    adopt,
    cell_check,
    forget,
    line_magic_who,
    line_magic_whos,
    pair_listing,
    pair_reset,
    pairs_info,
    run,
    run_async,
    visible_ns,
)
from .tracebacks import format_error
from .widgets import widget_states

__all__ = [
    "adopt",
    "cell_check",
    "codemode_ops",
    "complete",
    "forget",
    "format_error",
    "guard_input",
    "inspect_name",
    "install_hooks",
    "installed",
    "line_magic_who",
    "line_magic_whos",
    "pair_listing",
    "pair_reset",
    "pairs_info",
    "run",
    "run_async",
    "setup",
    "show",
    "visible_ns",
    "warm",
    "widget_states",
]


def setup():
    """Right after install: the input() guard and the display hooks in the notebook's namespace."""
    import sys

    main = sys.modules["__main__"].__dict__
    guard_input(main)
    install_hooks(main)
