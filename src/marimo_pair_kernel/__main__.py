"""`python -m marimo_pair_kernel -f CONNECTION_FILE` starts the kernel; a subcommand runs the CLI."""

import sys


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("install", "discover", "console", "--help", "-h", "--version"):
        from .cli import main as cli_main

        sys.exit(cli_main())
    from ipykernel.kernelapp import IPKernelApp

    from .kernel import MarimoPairKernel

    IPKernelApp.launch_instance(kernel_class=MarimoPairKernel)


if __name__ == "__main__":
    main()
