"""A tiny magic registry: each magic is declared once, with its argparse parser.

`%help`, `%lsmagic`, `%MAGIC?`, usage errors and tab completion all read the
same declaration. Families live in their own modules and register on import.
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..context import MagicContext
from ..errors import UsageError

if TYPE_CHECKING:
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
