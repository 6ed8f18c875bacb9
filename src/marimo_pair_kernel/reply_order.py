"""After an error, abort the executes queued behind it, never one sent after the reply.

ipykernel (7, with its shell channel thread) sends an error execute_reply and only then posts
the marker that ends "abort queued execute requests". A client that answers the reply at once,
such as an agent's next line or the documented jupyter_client recipe after an interrupt, can
get its request forwarded before the marker when the kernel's main thread is held up for a
moment (a loaded machine, other threads of ours holding the GIL). That request is aborted,
though it was sent after the error was known. CI saw this once.

Here the marker is posted just before the reply goes out (`finish_metadata` is ipykernel's last
call before sending it), so every request the client sends after seeing the reply comes after
the marker, and everything already queued still comes before it. ipykernel's own call, after
the reply, is then skipped. Without a shell channel thread (ipykernel 6) the order stays
ipykernel's.
"""

from __future__ import annotations

from typing import Any

from ipykernel.kernelbase import Kernel


class AbortBeforeReply(Kernel):
    """A Kernel whose "abort the queue after an error" takes effect before the error reply is sent."""

    _abort_posted: set[str | None]

    def finish_metadata(self, parent: dict, metadata: dict, reply_content: dict) -> dict:
        content = parent.get("content") or {}
        if (
            reply_content.get("status") == "error"
            and not content.get("silent", False)
            and content.get("stop_on_error", True)
            and getattr(self, "shell_channel_thread", None) is not None
        ):
            subshell_id = parent["header"].get("subshell_id")
            super()._abort_queues(subshell_id)
            if not hasattr(self, "_abort_posted"):
                self._abort_posted = set()
            self._abort_posted.add(subshell_id)
        return super().finish_metadata(parent, metadata, reply_content)  # type: ignore[no-any-return]

    def _abort_queues(self, subshell_id: Any = None) -> None:
        posted: set[str | None] = getattr(self, "_abort_posted", set())
        if subshell_id in posted:
            posted.discard(subshell_id)  # done before the reply went out
            return
        super()._abort_queues(subshell_id)
