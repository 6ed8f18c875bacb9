"""`python -m marimo_pair_kernel -f CONNECTION_FILE` starts the kernel; a subcommand runs the CLI."""

import atexit
import contextlib
import errno
import logging
import os
import sys
import time
from typing import Any


class _QuietRoutineWarnings(logging.Filter):
    # ipykernel warns on every start that loopback TCP is unencrypted (jupyter_client chose
    # the transport, not the user), and after `exit` that the console has gone; in a
    # console both land in the user's terminal and neither asks anything of them.
    QUIET = ("running over TCP without encryption", "Parent appears to have exited")

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(q in str(record.msg) for q in self.QUIET)


# A port from the connection file can be held for an instant by someone else's bind-to-0 probe
# (jupyter_client and marimo launchers pick free ports that way); ipykernel tries a fixed port
# once and, for the heartbeat, dies with "Address already in use". Try again for a while.
BIND_TRIES = 40
BIND_PAUSE = 0.05


def _retry_in_use(bind: Any) -> Any:
    import zmq

    for attempt in range(BIND_TRIES):
        try:
            return bind()
        except zmq.ZMQError as e:
            if e.errno != errno.EADDRINUSE or attempt == BIND_TRIES - 1:
                raise
            time.sleep(BIND_PAUSE)
    return None


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("install", "discover", "console", "--help", "-h", "--version"):
        from .cli import main as cli_main

        sys.exit(cli_main())
    # debugpy (imported by ipykernel) otherwise prints a "frozen modules" warning on first use.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    from .fastimport import without_ipython_terminal

    with without_ipython_terminal():
        from ipykernel import kernelapp
        from ipykernel.heartbeat import Heartbeat
        from ipykernel.kernelapp import IPKernelApp

        from .kernel import MarimoPairKernel

    class PatientHeartbeat(Heartbeat):
        def _bind_socket(self) -> None:
            _retry_in_use(super()._bind_socket)

    # The name init_heartbeat looks up.
    kernelapp.Heartbeat = PatientHeartbeat  # type: ignore[misc]

    class MarimoPairKernelApp(IPKernelApp):
        name = "marimo-pair-kernel"

        def init_sockets(self) -> None:
            self.log.addFilter(_QuietRoutineWarnings())
            super().init_sockets()

        def _bind_socket(self, s: Any, port: Any) -> Any:
            return _retry_in_use(lambda: IPKernelApp._bind_socket(self, s, port))

    MarimoPairKernelApp.launch_instance(kernel_class=MarimoPairKernel)
    # A normal end (shutdown_request): run the exit handlers now (ipykernel closes its sockets
    # and connection file, the launcher stops the marimo servers this kernel started), then
    # leave without the interpreter's teardown of every module, which on a loaded machine takes
    # longer than all the rest of a shutdown and adds nothing for a process that is done.
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
