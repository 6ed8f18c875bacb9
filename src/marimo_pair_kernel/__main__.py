"""`python -m marimo_pair_kernel -f CONNECTION_FILE` starts the kernel; a subcommand runs the CLI."""

import logging
import os
import sys


class _QuietRoutineWarnings(logging.Filter):
    # ipykernel warns on every start that loopback TCP is unencrypted (jupyter_client chose
    # the transport, not the user), and after `exit` that the console has gone; in a
    # console both land in the user's terminal and neither asks anything of them.
    QUIET = ("running over TCP without encryption", "Parent appears to have exited")

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(q in str(record.msg) for q in self.QUIET)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("install", "discover", "console", "--help", "-h", "--version"):
        from .cli import main as cli_main

        sys.exit(cli_main())
    # debugpy (imported by ipykernel) otherwise prints a "frozen modules" warning on first use.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    from ipykernel.kernelapp import IPKernelApp

    from .kernel import MarimoPairKernel

    class MarimoPairKernelApp(IPKernelApp):
        name = "marimo-pair-kernel"

        def init_sockets(self) -> None:
            self.log.addFilter(_QuietRoutineWarnings())
            super().init_sockets()

    MarimoPairKernelApp.launch_instance(kernel_class=MarimoPairKernel)


if __name__ == "__main__":
    main()
