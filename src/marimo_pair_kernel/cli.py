"""The `marimo-pair-kernel` command: install, discover, console."""

from __future__ import annotations

import argparse
import json
import sys

from . import __version__


class _Help(argparse.RawDescriptionHelpFormatter):
    """Descriptions and examples keep their line breaks; option help is wrapped as usual."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="marimo-pair-kernel",
        description="A Jupyter kernel whose code runs in a live marimo notebook.",
        epilog=(
            "examples:\n"
            "  marimo-pair-kernel console examples/penguins.py   # open a notebook, then a console on it\n"
            "  marimo-pair-kernel discover                       # what marimo has open right now\n"
            "  marimo-pair-kernel install                        # make 'marimo (pair)' a Jupyter kernel\n"
            "\n`marimo-pair-kernel COMMAND --help` says more about each command."
        ),
        formatter_class=_Help,
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    inst = sub.add_parser(
        "install",
        help="install the 'marimo-pair' kernelspec so Jupyter clients list it",
        description=(
            "Install the 'marimo-pair' kernelspec (display name 'marimo (pair)'), run by this Python.\n"
            "\n"
            "With no option it goes where `pip install` would put a package: into this Python\n"
            "environment (sys.prefix/share/jupyter/kernels; inside a venv, that venv), or for the\n"
            "current user (~/.local/share/jupyter/kernels) when that is not writable or when pipx or\n"
            "`uv tool` installed this command. The kernelspec names this Python by its full path."
        ),
        epilog=(
            "examples:\n"
            "  marimo-pair-kernel install                  # the default described above\n"
            "  marimo-pair-kernel install --user           # every Jupyter of yours finds it\n"
            "  marimo-pair-kernel install --prefix /opt/j  # /opt/j/share/jupyter/kernels/marimo-pair\n"
            "  marimo-pair-kernel install --name python3 --prefix DIR\n"
            "      # a `python3` that is marimo-pair, for a tool that starts only python3: run that tool\n"
            "      # alone with JUPYTER_PATH=DIR/share/jupyter (your real python3 kernel stays as it is)"
        ),
        formatter_class=_Help,
    )
    where = inst.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="for the current user (~/.local/share/jupyter/kernels)")
    where.add_argument(
        "--sys-prefix", action="store_true", help="into this Python environment (sys.prefix/share/jupyter/kernels)"
    )
    where.add_argument("--prefix", metavar="P", help="under prefix P (P/share/jupyter/kernels)")
    inst.add_argument(
        "--name",
        default="marimo-pair",
        help="the kernelspec's name (default: marimo-pair). For a tool that starts only `python3` "
        "(jupyter-kernel-mcp, mcp-jupyter): --name python3 --prefix DIR, then run that tool with "
        "JUPYTER_PATH=DIR/share/jupyter; --name python3 needs --prefix, so your real Python kernel "
        "is never replaced",
    )
    inst.add_argument("--display-name", metavar="D", help="the name Jupyter shows (default: marimo (pair))")

    disc = sub.add_parser(
        "discover",
        help="list live marimo servers and their open notebooks",
        description=(
            "List the marimo servers running for you (read from marimo's registry) and the notebooks\n"
            "they have open, with what to run next. Stale entries are listed with the reason."
        ),
        epilog="examples:\n  marimo-pair-kernel discover\n  marimo-pair-kernel discover --json   # for programs",
        formatter_class=_Help,
    )
    disc.add_argument("--json", action="store_true", help="print JSON for programs")

    con = sub.add_parser(
        "console",
        help="open a notebook (a scratch one if none given) and run jupyter console on it",
        description=(
            "Open NOTEBOOK.py in marimo and run jupyter console on the 'marimo-pair' kernel, in this terminal.\n"
            "\n"
            "If no live marimo server has NOTEBOOK.py, this starts `marimo edit NOTEBOOK.py --headless`\n"
            "on a free loopback port and prints its URL (open it to watch); that server stops when the\n"
            "console exits. A server that already had the notebook is used and left running. A missing\n"
            "NOTEBOOK.py is created. Without NOTEBOOK.py, a scratch notebook is made in a new temporary\n"
            "folder (marimo-pair-*/scratch.py under $TMPDIR or /tmp; its path is printed at start) and\n"
            "kept after exit, so nothing you added to it is lost."
        ),
        epilog=(
            "examples:\n"
            "  marimo-pair-kernel console examples/penguins.py\n"
            "  marimo-pair-kernel console                       # a scratch notebook\n"
            "  marimo-pair-kernel console nb.py --python .venv/bin/python   # marimo runs in that venv"
        ),
        formatter_class=_Help,
    )
    con.add_argument("notebook", nargs="?", metavar="NOTEBOOK.py", help="notebook to open or create")
    con.add_argument("--python", metavar="PYTHON", help="Python that runs the marimo server (default: this one)")
    con.add_argument(
        "--no-sandbox",
        action="store_true",
        help="for a notebook with a PEP 723 `# /// script` header: run it with the server's Python, "
        "not in the sandbox uv builds from the header (marimo edit --sandbox)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv if argv is not None else sys.argv[1:])
    if args.command == "install":
        return _install(args)
    if args.command == "discover":
        return _discover(args.json)
    if args.command == "console":
        from .console import run_console

        return run_console(args.notebook, python=args.python, sandbox=not args.no_sandbox)
    _parser().print_help()
    return 2


def _install(args: argparse.Namespace) -> int:
    from .install import InstallRefused, default_location, install

    if args.user or args.sys_prefix or args.prefix:
        user, prefix, why = args.user, (sys.prefix if args.sys_prefix else args.prefix), ""
    else:
        user, prefix, why = default_location()
    try:
        path = install(user=user, prefix=prefix, name=args.name, display_name=args.display_name)
    except InstallRefused as e:
        print(f"marimo-pair-kernel install: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(
            f"marimo-pair-kernel install: could not write the kernelspec ({e.strerror or e}: "
            f"{e.filename or prefix or 'the Jupyter folder'}). Choose a folder you can write to: "
            "--user, --sys-prefix or --prefix P.",
            file=sys.stderr,
        )
        return 1
    note = f" ({why}; --user, --sys-prefix or --prefix P choose another place)" if why else ""
    print(f"Installed kernelspec {args.name} in {path}{note}")
    return 0


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
