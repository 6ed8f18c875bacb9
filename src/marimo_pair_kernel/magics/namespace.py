"""%who, %whos, %who_ls, %reset, %pairns: this kernel's own names, kept beside the notebook.

Code run here keeps the names it binds (imports, defs, variables) for the next execute, as in
ipykernel, in a namespace of this Jupyter kernel's own inside the marimo kernel, laid over the
notebook's globals (read live). The notebook's globals, cells, file and page never see them.
The marimo side is inmarimo/state.py; this module is the kernel side: the magics, the kernel's id,
and what the %%cell checks say (a cell cannot read a name only this kernel has; a cell that
defines one makes the notebook's definition win): the cell op itself makes them, in marimo.

`%pairns off` (or MARIMO_PAIR_NO_STATE=1 in the kernel's environment) returns to marimo's own
scratchpad semantics: nothing a run binds persists.
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

from .. import scratchpad
from ..context import MagicContext
from ..errors import PairError, UsageError
from . import MagicParser, magic

ID_KEY = scratchpad.PAIR_ID_KEY
ON_KEY = scratchpad.PAIR_ON_KEY
NO_STATE_ENV = scratchpad.NO_STATE_ENV
RESET_QUESTION = "Once deleted, variables cannot be recovered. Proceed (y/[n])? "


def owner(ctx: Any) -> scratchpad.Owner:
    return scratchpad.owner_of(ctx.state(ID_KEY), bool(ctx.state(ON_KEY, True)))


def _kid(ctx: MagicContext) -> str | None:
    return owner(ctx).kernel_id


def _call(ctx: MagicContext, expression: str, what: str) -> dict:
    outcome = ctx.run(scratchpad.state_code(expression))
    if outcome.error is not None:
        raise PairError(f"{what} failed in the notebook's kernel: {outcome.error.ename}: {outcome.error.evalue}")
    return outcome.payload or {}


def _off_note(ctx: MagicContext) -> bool:
    if ctx.state(ON_KEY, True):
        return False
    ctx.stream(
        "stdout", "Nothing is kept: %pairns is off (marimo's own scratchpad semantics). %pairns on keeps names.\n"
    )
    return True


def _setup_types(p: MagicParser) -> None:
    p.add_argument("types", nargs="*", help="only names whose type is one of these (e.g. int DataFrame module)")


@magic("who", "This kernel's own names (what earlier executes bound), as IPython's %who.", setup=_setup_types)
def who_magic(ctx: MagicContext, args: argparse.Namespace, body: str | None) -> Any:
    if _off_note(ctx):
        return None
    return ctx.run(scratchpad.state_code(f"line_magic_who({' '.join(args.types)!r}, {_kid(ctx)!r})")).error


@magic(
    "whos",
    "This kernel's own names with type, size and value, as IPython's %whos (plus a Size column).",
    setup=_setup_types,
)
def whos_magic(ctx: MagicContext, args: argparse.Namespace, body: str | None) -> Any:
    if _off_note(ctx):
        return None
    return ctx.run(scratchpad.state_code(f"line_magic_whos({' '.join(args.types)!r}, {_kid(ctx)!r})")).error


@magic(
    "who_ls",
    "A sorted list of the names code here can see: this kernel's own and the notebook's globals.",
    setup=_setup_types,
)
def who_ls_magic(ctx: MagicContext, args: argparse.Namespace, body: str | None) -> None:
    payload = _call(ctx, f"pair_listing({_kid(ctx)!r}, 'who_ls', {' '.join(args.types)!r})", "%who_ls")
    names = [str(n) for n in payload.get("rows") or []]
    ctx.result({"text/plain": repr(names)})


def _setup_reset(p: MagicParser) -> None:
    p.add_argument("-f", dest="force", action="store_true", help="do not ask for confirmation")


@magic(
    "reset",
    "Delete this kernel's own names (the notebook's are untouched); -f skips the question.",
    setup=_setup_reset,
)
def reset_magic(ctx: MagicContext, args: argparse.Namespace, body: str | None) -> None:
    if _off_note(ctx):
        return
    if not args.force:
        answer = ctx.ask(RESET_QUESTION)
        if answer is None:
            raise UsageError(
                "%reset asks for confirmation, and this client cannot answer questions (no stdin). "
                "Use %reset -f to delete this kernel's names without asking."
            )
        if answer.strip().lower() not in ("y", "yes"):
            ctx.stream("stdout", "Nothing done.\n")
            return
    _call(ctx, f"pair_reset({_kid(ctx)!r})", "%reset")


def _setup_pairns(p: MagicParser) -> None:
    p.add_argument("mode", nargs="?", choices=("on", "off"), help="on: keep names (default); off: nothing persists")


@magic(
    "pairns",
    "Whether names persist between executes: %pairns on (default) | off (marimo's scratchpad semantics).",
    setup=_setup_pairns,
    description=(
        "Names that code here binds (imports, defs, variables) persist for the next execute, in a\n"
        "namespace of this kernel's own inside the notebook's process, laid over the notebook's\n"
        "globals; the notebook never sees them. %pairns off drops them and returns to marimo's\n"
        "own scratchpad semantics (nothing persists); %pairns on starts a fresh namespace.\n"
        f"{NO_STATE_ENV}=1 in the kernel's environment starts the kernel with it off."
    ),
)
def pairns_magic(ctx: MagicContext, args: argparse.Namespace, body: str | None) -> None:
    on = bool(ctx.state(ON_KEY, True))
    if args.mode is None:
        if on:
            ctx.stream(
                "stdout",
                "%pairns is on: names bound here persist in this kernel's own namespace inside the "
                "notebook's process (never in the notebook). %who lists them; %pairns off stops it.\n",
            )
        else:
            ctx.stream("stdout", "%pairns is off: nothing persists between executes. %pairns on keeps names.\n")
        return
    if args.mode == "off" and on:
        with contextlib.suppress(PairError):  # no notebook yet: there is nothing to drop
            _call(ctx, f"forget({_kid(ctx)!r})", "%pairns off")
        ctx.set_state(ON_KEY, False)
        ctx.stream(
            "stdout", "%pairns off: names no longer persist between executes (this kernel's names were dropped).\n"
        )
    elif args.mode == "on" and not on:
        ctx.set_state(ID_KEY, scratchpad.new_pair_id())
        ctx.set_state(ON_KEY, True)
        ctx.stream("stdout", "%pairns on: names bound here persist again, from a fresh namespace.\n")


# -- for the kernel and %%cell -------------------------------------------------------------------


def forget_quietly(kernel: Any) -> None:
    """At shutdown or restart: ask the marimo kernel to drop this kernel's names, if that is quick.

    A busy notebook is left alone (waiting would hold the shutdown, and closing the request would
    interrupt the person's cell); runtime_state sweeps a gone kernel's names anyway.
    """
    kid = kernel.state(ID_KEY)
    targeter = getattr(kernel, "_targeter", None)
    target = getattr(targeter, "target", None)
    if not kid or target is None:
        return
    with contextlib.suppress(Exception):
        if target.client.busy(target.notebook):
            return
        code = scratchpad.state_code(f"forget({kid!r})")
        target.client.execute(code, target.notebook, lambda n, t: None, timeout=5.0)


def cell_pair(ctx: MagicContext) -> str | None:
    """The id a %%cell sends with its op: the cell op checks the cell's names against this kernel's
    own (inmarimo/codemode_ops.py, in the same request). None when nothing persists here."""
    return _kid(ctx)


def cell_checked(ctx: MagicContext, answer: dict) -> None:
    """After the cell op: refuse a cell that reads names only this kernel has (the op changed
    nothing); say that the notebook's definitions win for the names this kernel held (dropped here)."""
    only = [str(n) for n in answer.get("only_pair") or []]
    if only:
        names = ", ".join(only)
        one = len(only) == 1
        raise PairError(
            f"This cell reads {names}, which {'is' if one else 'are'} only this Jupyter kernel's "
            f"(bound by code run here, not by a notebook cell), so the notebook cannot see "
            f"{'it' if one else 'them'}: the cell would fail with a NameError. Define {names} in the "
            "cell's own code, or %%cell the code that defines "
            f"{'it' if one else 'them'} first. Nothing was added to the notebook."
        )
    held = [str(n) for n in answer.get("held") or []]
    if held:
        names = ", ".join(held)
        ctx.stream(
            "stdout",
            f"{names}: the notebook's definition wins from now on; this kernel's own {names} "
            f"{'was' if len(held) == 1 else 'were'} dropped.\n",
        )
