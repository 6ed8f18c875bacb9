"""`python -m marimo_pair_kernel -f CONNECTION_FILE` starts the kernel; a subcommand runs the CLI."""

import logging
import os
import sys


class _QuietTransportWarning(logging.Filter):
    # ipykernel warns on every start that loopback TCP is unencrypted; in a console that
    # lands in the user's terminal. jupyter_client chooses the transport, not the user.
    def filter(self, record: logging.LogRecord) -> bool:
        return "running over TCP without encryption" not in str(record.msg)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("install", "discover", "console", "--help", "-h", "--version"):
        from .cli import main as cli_main

        sys.exit(cli_main())
    # debugpy (imported by ipykernel) otherwise prints a "frozen modules" warning on first use.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    from ipykernel.kernelapp import IPKernelApp

    from .kernel import MarimoPairKernel

    class App(IPKernelApp):
        def init_sockets(self) -> None:
            self.log.addFilter(_QuietTransportWarning())
            super().init_sockets()

    App.launch_instance(kernel_class=MarimoPairKernel)


if __name__ == "__main__":
    main()
