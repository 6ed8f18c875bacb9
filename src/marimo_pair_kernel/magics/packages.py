"""%packages / %pip (marimo's package manager), %ui set|list (the notebook's mo.ui elements), %token."""

from __future__ import annotations

import argparse
from typing import Any

from .. import codemode
from ..context import MagicContext
from ..errors import NoTargetError, UsageError
from ..outputs import ErrorInfo, table_bundle
from . import MagicParser, magic

UI_NAMES_KEY = "packages.ui_names"


def _install(ctx: MagicContext, specs: list[str], add: bool, what: str, quiet: bool = False) -> ErrorInfo | None:
    request = {"add": add, "specs": specs, "names": [codemode.package_name(s) for s in specs], "quiet": quiet}
    answer = codemode.call(ctx, "packages", request, what=what)
    results = answer.payload.get("results") or []
    failed = [r["package"] for r in results if r.get("ok") is False]
    if failed:
        verb = "install" if add else "remove"
        return ErrorInfo(
            "PackageError",
            f"marimo's package manager could not {verb} {', '.join(failed)}. Check the name "
            "(and the notebook's environment: marimo uses its configured manager, e.g. pip or uv).",
            [f"PackageError: could not {verb} {', '.join(failed)}"],
        )
    return answer.error


def _setup_packages(p: MagicParser) -> None:
    p.add_argument("action", choices=("add", "remove"))
    p.add_argument("packages", nargs="+", metavar="PKG", help="pip-style requirement, e.g. pandas or 'numpy>=2'")
    p.add_argument("-q", "--quiet", action="store_true", help="no install log (a failure is still an error)")


@magic(
    "packages",
    "Add or remove packages through marimo's package manager: %packages add|remove PKG…",
    setup=_setup_packages,
    completers={"action": lambda ctx: ["add", "remove"]},
)
def packages_magic(ctx: MagicContext, args: argparse.Namespace, body: str | None) -> ErrorInfo | None:
    return _install(ctx, list(args.packages), args.action == "add", f"%packages {args.action}", args.quiet)


_PIP_READS = ("list", "show", "freeze", "check")  # pip's commands that change nothing: pip itself runs them


def _setup_pip(p: MagicParser) -> None:
    p.add_argument("action", choices=("install", "uninstall", *_PIP_READS))
    p.add_argument("packages", nargs=argparse.REMAINDER, metavar="PKG", help="packages (for list/show/...: pip's args)")
    p.add_argument("-y", "--yes", action="store_true", help="accepted for habit; uninstall never asks")


@magic(
    "pip",
    "pip install|uninstall PKG… through marimo's package manager (same as %packages); list|show|freeze|check: pip.",
    setup=_setup_pip,
    description=(
        "Install or uninstall packages in the notebook's environment through marimo's package\n"
        "manager (the same as %packages add|remove); pip's own options are not passed on.\n"
        "%pip list|show|freeze|check [ARGS] run pip itself in the notebook's Python (a shell\n"
        "line, so `%pip list | grep marimo` works), as IPython's %pip does."
    ),
    completers={"action": lambda ctx: ["install", "uninstall", *_PIP_READS]},
)
def pip_magic(ctx: MagicContext, args: argparse.Namespace, body: str | None) -> ErrorInfo | None:
    if args.action in _PIP_READS:
        from .. import scratchpad

        line = getattr(args, "raw_line", "") or " ".join([args.action, *args.packages])
        return ctx.run(scratchpad.state_code(f"moremagics.pip({line.strip()!r})")).error
    packages = [p for p in args.packages if p not in ("-y", "--yes")]
    options = [p for p in packages if p.startswith("-")]
    if options or not packages:
        raise UsageError(
            f"%pip {args.action} takes package names"
            + (f"; pip's own options ({' '.join(options)}) are not passed on" if options else "")
            + ": it goes through marimo's package manager. For pip itself: !{sys.executable} -m pip …"
        )
    return _install(ctx, packages, args.action == "install", f"%pip {args.action}")


def _ui_names(ctx: MagicContext) -> list[str]:
    import time

    cached = ctx.state(UI_NAMES_KEY)
    if cached and time.monotonic() - cached[0] < codemode.INDEX_TTL:
        return list(cached[1])
    names = list(codemode.call(ctx, "ui_names", {}, what="completion").payload.get("names") or [])
    ctx.set_state(UI_NAMES_KEY, (time.monotonic(), names))
    return names


def _setup_ui(p: MagicParser) -> None:
    p.usage = "%%ui set NAME VALUE\n       %%ui list"
    p.add_argument("action", choices=("set", "list"), help="set: set an element's value; list: the notebook's elements")
    p.add_argument("name", nargs="?", help="the variable holding the element (dotted access allowed: form.slider)")
    p.add_argument("value", nargs="*", help="JSON or a Python literal (7, 'red', [1, 5], true); else taken as text")


@magic(
    "ui",
    "The notebook's mo.ui elements: %ui list; %ui set NAME VALUE sets one as if the person had used it",
    setup=_setup_ui,
    completers={"action": lambda ctx: ["set", "list"], "name": _ui_names},
)
def ui_magic(ctx: MagicContext, args: argparse.Namespace, body: str | None) -> ErrorInfo | None:
    if args.action == "list":
        if args.name is not None or args.value:
            raise UsageError("%ui list takes no arguments.\n\nusage: %ui set NAME VALUE\n       %ui list")
        return _ui_list(ctx)
    if args.name is None or not args.value:
        raise UsageError("%ui set needs a NAME and a VALUE.\n\nusage: %ui set NAME VALUE\n       %ui list")
    value = codemode.parse_ui_value(" ".join(args.value))
    # keep: a cell the set reruns may raise, and marimo then drops the answer (codemode.call).
    answer = codemode.call(ctx, "ui", {"name": args.name, "value": value}, what="%ui set", keep=True)
    p = answer.payload
    shown = p.get("value")
    if shown is not None:
        ctx.stream("stdout", f"{args.name}.value = {shown}\n")
    if "reran" in p:
        data = {"name": args.name, "id": p.get("id"), "value": shown,
                **{k: list(p.get(k) or ()) for k in ("reran", "failed", "stale")}}
        ctx.result(table_bundle([], [], data, notes=codemode.effects_lines(f"Setting {args.name}", p)))
    return answer.error


def _ui_list(ctx: MagicContext) -> ErrorInfo | None:
    answer = codemode.call(ctx, "ui_list", {}, what="%ui list")
    elements = list(answer.payload.get("elements") or ())
    target = getattr(ctx.targeter, "target", None)
    rows = [[e.get("name"), e.get("kind"), e.get("value"), e.get("id"), e.get("cell") or ""] for e in elements]
    notes = [] if elements else ["No mo.ui element is bound to a name in this notebook (or its cells have not run)."]
    where = {"url": target.url, "notebook": target.path} if target is not None else {}
    data = {**where, "elements": elements}
    ctx.result(table_bundle(["name", "kind", "value", "id", "cell"], rows, data, notes=notes))
    return answer.error


def _setup_token(p: MagicParser) -> None:
    # Anything after %token may be the token itself: take every word as a positional (no
    # option parsing, so argparse never repeats one back in an "unrecognized" error).
    p.prefix_chars = "\0"
    p.add_argument("words", nargs="*", help=argparse.SUPPRESS)


@magic(
    "token",
    "Enter the marimo server's auth token with hidden input; kept in this kernel's memory only.",
    setup=_setup_token,
)
def token_magic(ctx: MagicContext, args: argparse.Namespace, body: str | None) -> Any:
    if args.words:
        raise UsageError(
            "%token takes no arguments: a token typed on the line would stay in the notebook and "
            "the history. Run %token alone and type it at the hidden prompt (or set MARIMO_TOKEN)."
        )
    token = ctx.ask_password("marimo token: ").strip()
    if not token:
        raise UsageError("No token entered; the kernel's token is unchanged.")
    ctx.targeter.set_token(token)
    try:
        target = ctx.targeter.current()
    except NoTargetError:
        ctx.stream("stdout", "Token set (in memory only). No notebook is chosen yet: use %connect URL.\n")
        return None
    target.client.sessions()  # an AuthError here says the server refused this token
    ctx.stream("stdout", f"Token set (in memory only); connected to {target.path} on {target.url}.\n")
    return None
