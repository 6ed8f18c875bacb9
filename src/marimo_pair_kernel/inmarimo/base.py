"""What the layers of this package share, at the bottom of them all (it imports none of them).

A module that needs one of these from a module above it would close an import circle; so
they live here. A lower module that must call a higher one at run time is handed the function
when the package loads (see `wire` in __init__.py), never imports it.
"""

NOTE = "marimo-pair-kernel: "
_S: dict = {}  # caches built once: IPython's formatter ("fmt") or ours ("mini"), pretty's printers


def _note(text):
    """A note about bad input: on the run's stderr, where the Jupyter client shows it."""
    import sys
    try:
        sys.stderr.write(NOTE + text + "\n")
    except Exception:
        pass


def installed():
    """The scratchpad's answer when there is nothing more to say: the runtime is in."""
    return {"marimo_pair_kernel": "{}"}


def _unwrapped(f):
    """The function under our hook (installed by this or an older runtime version)."""
    return getattr(f, "_mpk_orig", f)
