"""The `marimo-pair-kernel` command: install, discover, console."""

from __future__ import annotations

import argparse
import json
import sys

from . import __version__


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="marimo-pair-kernel",
        description="A Jupyter kernel whose code runs in a live marimo notebook.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    inst = sub.add_parser("install", help="install the 'marimo-pair' kernelspec")
    where = inst.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="for the current user (~/.local/share/jupyter)")
    where.add_argument("--sys-prefix", action="store_true", help="into this Python environment (sys.prefix)")
    where.add_argument("--prefix", metavar="P", help="under prefix P (P/share/jupyter/kernels)")

    disc = sub.add_parser("discover", help="list live marimo servers and their open notebooks")
    disc.add_argument("--json", action="store_true", help="print JSON for programs")

    con = sub.add_parser(
        "console",
        help="open a notebook (a scratch one if none given) and run jupyter console on it",
    )
    con.add_argument("notebook", nargs="?", metavar="NOTEBOOK.py", help="notebook to open or create")
    con.add_argument("--python", metavar="PYTHON", help="Python that runs the marimo server (default: this one)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv if argv is not None else sys.argv[1:])
    if args.command == "install":
        from .install import install

        prefix = sys.prefix if args.sys_prefix else args.prefix
        path = install(user=args.user, prefix=prefix)
        print(f"Installed kernelspec marimo-pair in {path}")
        return 0
    if args.command == "discover":
        return _discover(args.json)
    if args.command == "console":
        from .console import run_console

        return run_console(args.notebook, python=args.python)
    _parser().print_help()
    return 2


def _discover(as_json: bool) -> int:
    from .discovery import discover
    from .magics.targeting import discovery_bundle

    found = discover()
    if as_json:
        print(json.dumps(found.to_json(), indent=2))
    else:
        print(discovery_bundle(found, shell=True)["text/plain"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
