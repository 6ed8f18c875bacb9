"""Code that runs inside the marimo notebook's kernel, never in the Jupyter kernel's process.

The kernel process reads these files as text (scratchpad.install_code sends them once per marimo
kernel; loader.py makes them a package there, named with a hash of the texts). Every other line
the kernel sends is one short call into the installed package: the names below, and
`codemode_ops.answer(...)` for code mode. The code runs in the notebook's Python, with whatever
marimo and IPython are there, so every import of theirs is local and optional, and failures fall
back rather than raise.

  values, formatter, pretty   what Jupyter gets for a value (IPython's formatter, or a port of it)
  sanitize, widgets           mo.ui elements: snapshots, HTML that renders outside marimo, widgets
  hooks, late                 display(), plt.show(), mo.output in the kernel's runs; display
                              lines and late output
  state, sizes, history       each Jupyter kernel's own names, and running its code; %whos sizes;
                              IPython's In, Out, _, _i
  shell, magics, moremagics    get_ipython() and IPython's everyday magics
  completion, tracebacks      completion and inspection; IPython's traceback layout
  cells, capture, ui, codemode_ops   marimo's code mode: the cell magics and %ui
  base                        what they all share (the caches, notes), below them all

Imports point one way (tests/test_layers_unit.py finds no circle). From the bottom: base, late,
pretty, sanitize, widgets, formatter, values, completion, shell, magics, hooks, moremagics, state, capture,
ui, codemode_ops (a %%cell's op checks its names in state); each imports only modules before it
(and cells, sizes, tracebacks, history, which import none). A lower module that calls a higher one at run
time gets the function from `wire` below when the package loads.
"""

from . import codemode_ops, magics, moremagics, sanitize, shell, state, values
from .base import installed
from .completion import complete, inspect_name, warm
from .hooks import guard_input, install_hooks, show
from .state import (
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
from .widgets import widget_custom, widget_states

__all__ = [
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
    "widget_custom",
    "widget_states",
]


def wire():
    """Hand the lower modules what they call above them (they cannot import it: a circle).

    Run when the package loads (below), so it holds wherever the modules are imported: in the
    marimo kernel (loader.py) and in the unit tests alike.
    """
    sanitize.bundle = values.bundle  # a display-only table in HTML shows its data's own form
    shell.ABOVE["magics"] = (magics, moremagics, state)  # line_magic_<name> / cell_magic_<name>, in this order
    shell.ABOVE["user_ns"] = state.current_user_ns  # the namespace the current execute runs in


wire()


def setup():
    """Right after install: the input() guard and the display hooks in the notebook's namespace."""
    import sys

    main = sys.modules["__main__"].__dict__
    guard_input(main)
    install_hooks(main)
