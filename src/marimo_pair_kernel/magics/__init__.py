"""A tiny magic registry: each magic is declared once, with its argparse parser.

`%help`, `%lsmagic`, `%MAGIC?`, usage errors and tab completion all read the
same declaration. Families live in their own modules and register on import.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shlex
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from ..context import MagicContext, RunOutcome
from ..errors import UsageError
from ..outputs import ErrorInfo


class MagicParser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing and exiting."""

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:  # type: ignore[override]
        # argparse %-formats help strings; magic names like "%discover" must survive that.
        if isinstance(kwargs.get("help"), str):
            kwargs["help"] = _escape_percent(kwargs["help"])
        return super().add_argument(*args, **kwargs)

    def add_subparsers(self, **kwargs: Any) -> argparse._SubParsersAction:  # type: ignore[override]
        action = super().add_subparsers(**kwargs)
        original = action.add_parser

        def add_parser(name: str, **kw: Any) -> argparse.ArgumentParser:
            if isinstance(kw.get("help"), str):
                kw["help"] = _escape_percent(kw["help"])
            kw.setdefault("add_help", False)
            return original(name, **kw)

        action.add_parser = add_parser  # type: ignore[method-assign]
        return action

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message}\n\n{self.format_usage().strip()}\n(see %{self.prog.lstrip('%')}? for help)")

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        raise UsageError(message or self.format_usage())


def _escape_percent(text: str) -> str:
    return re.sub(r"%(?!\()", "%%", text.replace("%%", "%"))


# A handler returns the error to show (e.g. a failed run's), or None when it showed everything itself.
Handler = Callable[[MagicContext, argparse.Namespace, "str | None"], "ErrorInfo | None"]


@dataclass(frozen=True)
class Magic:
    name: str
    summary: str
    parser: MagicParser
    handler: Handler
    line: bool = True
    cell: bool = False
    # argument name → function(ctx) returning candidate values, for completion
    completers: dict[str, Callable[[MagicContext], list[str]]] = field(default_factory=dict)

    @property
    def usage(self) -> str:
        return self.parser.format_usage().strip()

    def help(self) -> str:
        return self.parser.format_help().strip()

    def parse(self, argline: str) -> argparse.Namespace:
        try:
            argv = shlex.split(argline)
        except ValueError as e:
            raise UsageError(f"cannot split the arguments: {e}\n\n{self.usage}") from None
        return self.parser.parse_args(argv)

    def options(self) -> list[str]:
        opts: list[str] = []
        for action in self.parser._actions:
            opts.extend(o for o in action.option_strings if o.startswith("--"))
            if isinstance(action, argparse._SubParsersAction):
                opts.extend(action.choices)
        return opts


REGISTRY: dict[str, Magic] = {}


def magic(
    name: str,
    summary: str,
    *,
    line: bool = True,
    cell: bool = False,
    description: str | None = None,
    setup: Callable[[MagicParser], None] | None = None,
    completers: dict[str, Callable[[MagicContext], list[str]]] | None = None,
) -> Callable[[Handler], Handler]:
    """Declare a magic. `setup(parser)` adds its arguments."""

    def register(fn: Handler) -> Handler:
        prefix = "%%" if cell and not line else "%"
        parser = MagicParser(
            prog=f"{prefix}{name}",
            description=description or summary,
            add_help=False,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if setup:
            setup(parser)
        REGISTRY[name] = Magic(name, summary, parser, fn, line, cell, completers or {})
        return fn

    return register


def load_all() -> dict[str, Magic]:
    """Import every family so it registers; returns the registry."""
    from . import cells, help, ipython, namespace, opening, packages, plotting, targeting, xmode  # noqa: F401

    return REGISTRY


def run_magic(ctx: MagicContext, name: str, argline: str, body: str | None, *, cell: bool) -> ErrorInfo | None:
    """Run `%name argline` (or `%%name argline` over `body`): the error to show, or None.

    A bad magic line raises UsageError, and its message carries the magic's usage.
    """
    m = load_all().get(name)
    if m is None:
        raise UsageError(f"There is no magic {'%%' if cell else '%'}{name}. Run %help to list the magics.")
    if cell and not m.cell:
        raise UsageError(f"%{name} is a line magic; write it as %{name} on one line.\n\n{m.usage}")
    if not cell and not m.line:
        raise UsageError(f"%%{name} is a cell magic: put %%{name} on the first line and the code below.\n\n{m.usage}")
    args = m.parse(argline)
    args.raw_line = argline  # the line as typed, for magics that hand it on (%pip list | grep …, %load's header)
    try:
        outcome = m.handler(ctx, args, body)
    except UsageError as e:
        # Every bad magic line's error carries the usage, also when the handler found the problem.
        if "usage:" in str(e).lower():
            raise
        raise UsageError(f"{e}\n\n{m.usage}\n(see %{name}? for help)") from None
    if isinstance(outcome, ErrorInfo):
        return outcome
    if isinstance(outcome, RunOutcome) and outcome.error is not None:
        return outcome.error
    return None


def help_text(name: str) -> str:
    """`%name?`: the magic's help."""
    m = load_all().get(name.lstrip("%"))
    if m is None:
        raise UsageError(f"There is no magic %{name.lstrip('%')}. Run %help to list them.")
    return m.help()


def argument_words(m: Magic, ctx: MagicContext, word: str, deadline: float) -> list[str]:
    """Completions for a magic's arguments that start with `word`: its options, and its completers'
    values as far as they come within `deadline` seconds.

    Some completers ask marimo (cell names, UI elements): on a worker, silently (`ctx` is a quiet
    one), so a running cell never holds the shell channel (is_complete, the next execute) behind a
    Tab. What comes late is cached by the completer for the next Tab.
    """
    words = list(m.options())
    if m.completers:
        job: Future = Future()

        def work() -> None:
            found: list[str] = []
            for fn in m.completers.values():
                with contextlib.suppress(Exception):  # a completion is a courtesy; never fail the request
                    found += fn(ctx)
            job.set_result(found)

        threading.Thread(target=work, name="marimo-pair-magic-words", daemon=True).start()
        with contextlib.suppress(FutureTimeout):
            words += job.result(timeout=deadline)
    return sorted({w for w in words if w.startswith(word)})
