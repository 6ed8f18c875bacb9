"""The Jupyter protocol's own floor: an ipykernel `Kernel` that does nothing.

It answers every execute with `execute_result` `2` (the message a `1 + 1` produces)
and an ok reply, so a round trip through it is what jupyter_client, ZeroMQ and
ipykernel's machinery cost by themselves. The benchmark subtracts it to show
how much of the kernel's overhead is our own code.
"""

from __future__ import annotations

from typing import Any

from ipykernel.kernelbase import Kernel


class EchoKernel(Kernel):
    implementation = "bench-echo"
    implementation_version = "0"
    language_info = {"name": "python", "mimetype": "text/x-python", "file_extension": ".py"}
    banner = "benchmark echo kernel"

    async def do_execute(  # type: ignore[override]
        self,
        code: str,
        silent: bool,
        store_history: bool = True,
        user_expressions: Any = None,
        allow_stdin: bool = False,
        **kw: Any,
    ) -> dict[str, Any]:
        if not silent:
            self.send_response(
                self.iopub_socket,
                "execute_result",
                {"execution_count": self.execution_count, "data": {"text/plain": "2"}, "metadata": {}},
            )
        return {"status": "ok", "execution_count": self.execution_count, "payload": [], "user_expressions": {}}


if __name__ == "__main__":
    from ipykernel.kernelapp import IPKernelApp

    IPKernelApp.launch_instance(kernel_class=EchoKernel)
