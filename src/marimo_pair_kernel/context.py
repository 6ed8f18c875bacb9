"""Types shared by the layers: what a magic may do (MagicContext), what a run gave (RunOutcome),
and where a run's output goes (Sink).

A low module: it imports nothing of this package above errors/outputs/target (and those only for
type checking), so codemode, the magics, the session layer and the kernel can all name these
types without importing one another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .client import Output
    from .outputs import ErrorInfo
    from .target import Targeter


class MagicContext(Protocol):
    """What a magic may do; the session layer implements it (session.NotebookContext, QuietContext)."""

    # A property: the session creates its Targeter lazily and magics never replace it.
    @property
    def targeter(self) -> Targeter: ...

    cell_id: str | None  # the client's cell id (JupyterLab's `cellId`), if sent
    launcher: Any  # the embedded-server launcher (see launcher.py), or None

    def stream(self, name: str, text: str) -> None: ...

    def display(self, bundle: dict[str, Any], metadata: dict[str, Any] | None = None) -> None: ...

    # What a listing magic returns: one execute_result (Out[n]), as IPython shows a line magic's
    # return value, so clients that read only results and streams (some MCP servers) see it too.
    def result(self, bundle: dict[str, Any], metadata: dict[str, Any] | None = None) -> None: ...

    def run(self, code: str) -> RunOutcome: ...

    def ask(self, prompt: str) -> str | None: ...  # a line typed in answer; None: the client cannot answer

    def ask_password(self, prompt: str) -> str: ...

    def history(self) -> list[tuple[int, int, str]]: ...  # this kernel's inputs: (session, line, source)

    # IPython's set_next_input: the client puts `text` in this cell (replace) or the next one.
    def next_input(self, text: str, replace: bool) -> None: ...

    def state(self, key: str, default: Any = None) -> Any: ...

    def set_state(self, key: str, value: Any) -> None: ...


@dataclass(frozen=True)
class RunOutcome:
    """A scratchpad run: its output was already streamed to the client (or dropped, if silent).

    `payload` is what our helper code returned (see scratchpad.read_payload);
    `error` is set when marimo reported a failure (it has not been shown yet);
    `output` is marimo's own `done` output when it is not our payload (a bare expression's value).
    """

    success: bool
    payload: dict | None
    error: ErrorInfo | None
    output: Output | None = None


class Sink(Protocol):
    """Where a streamed run's output goes: the client's request in progress (the kernel makes one)."""

    @property
    def silent(self) -> bool: ...  # as ipykernel's silent execute: no output, no result

    @property
    def count(self) -> int: ...  # the execution count, for `Cell In[N]` in tracebacks

    def stream(self, name: str, text: str) -> None: ...

    # One display message of the runtime's (see outputs.DisplayStream): display, update, clear, origin.
    def publish(self, msg: dict[str, Any]) -> None: ...

    def display(self, bundle: dict[str, Any], metadata: dict[str, Any] | None = None) -> None: ...

    def result(self, bundle: dict[str, Any], metadata: dict[str, Any] | None = None) -> None: ...

    def ask(self, prompt: str) -> str | None: ...

    def ask_password(self, prompt: str) -> str: ...

    def history(self) -> list[tuple[int, int, str]]: ...

    def next_input(self, text: str, replace: bool) -> None: ...
