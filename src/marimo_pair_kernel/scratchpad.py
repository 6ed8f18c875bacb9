"""The code we send into marimo's scratchpad besides the user's own, and how we read its answers.

marimo's scratchpad throws away what a run binds, and its `done` event carries one rendered form
of the last value (a tuple arrives as a JSON list), so IPython's `text/plain` has to be computed
inside the marimo kernel. The scratch cell we send is therefore one line that hands the user's
source to our runtime (see `prepare`): it runs the code in this Jupyter kernel's own namespace,
laid over the notebook's globals (inmarimo/state.py), and returns a dict that marimo renders as
`application/json`; the marker key tells it apart from a user's value.

The helper functions live in a package (inmarimo/) that the kernel installs once per marimo
kernel (`install_code`); every other request sends only a short line that calls it, so marimo
parses and analyses one statement, not the helpers, on every execute. Names in the line start
with `_`, so marimo keeps them private to the scratch cell.

Code mode (creating and editing cells) is elsewhere: see `codemode.py`.
"""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .client import ExecuteResult, MarimoClient, Notebook, Output

MARKER = "marimo_pair_kernel"

# The code that runs inside the marimo kernel: the package inmarimo/, read as text (this process
# never imports it, since it uses marimo). install_code() sends the texts once per marimo kernel;
# there inmarimo/loader.py makes a package of them, named with a hash of the texts, so a marimo
# kernel that holds an older version gets this one beside it.
_PACKAGE_DIR = Path(__file__).parent / "inmarimo"
RUNTIME_SOURCES: tuple[tuple[str, str], ...] = tuple(
    (f.stem, f.read_text(encoding="utf-8")) for f in sorted(_PACKAGE_DIR.glob("*.py"))
)
# Frames of the runtime carry this file name: tracebacks drop the ones between marimo and user code.
RUNTIME_FILENAME = "<marimo-pair-kernel>"
RUNTIME_MODULE = "_mpk_" + hashlib.sha1(
    "\0".join(f"{stem}\0{text}" for stem, text in RUNTIME_SOURCES).encode()
).hexdigest()[:12]
_LOADER = dict(RUNTIME_SOURCES)["loader"]


def _call(expression: str) -> str:
    """One scratchpad line that evaluates `<package>.<expression>` in the installed runtime.

    If the marimo kernel lost the package (it restarted), the line fails with a KeyError naming
    it (`runtime_missing`), having run nothing else.
    """
    return f"__import__('sys').modules[{RUNTIME_MODULE!r}].{expression}\n"


def install_code() -> str:
    """Install the runtime (and the input() guard, the display hooks): the only code that carries its text."""
    return _install("installed()")


def _install(then: str) -> str:
    # Where the runtime is in already, nothing is unpacked. The texts travel compressed (a third
    # of their size): marimo parses one short literal.
    return (
        f"_mpk_rt = __import__('sys').modules.get({RUNTIME_MODULE!r})\n"
        "if _mpk_rt is None:\n"
        "    _mpk_boot = {'__name__': '_mpk_loader'}\n"
        f"    exec(compile({_LOADER!r}, {RUNTIME_FILENAME!r}, 'exec'), _mpk_boot)\n"
        f"    _mpk_rt = _mpk_boot['install']({RUNTIME_MODULE!r}, __import__('json').loads(__import__('zlib')"
        f".decompress(__import__('base64').b85decode({_packed()!r}))), {RUNTIME_FILENAME!r})\n"
        "    _mpk_rt.setup()\n"
        f"_mpk_rt.{then}\n"
    )


_PACKED: list[str] = []


def _packed() -> str:
    if not _PACKED:
        import base64
        import zlib

        _PACKED.append(base64.b85encode(zlib.compress(json.dumps(RUNTIME_SOURCES).encode(), 9)).decode())
    return _PACKED[0]


def warm_code() -> str:
    """Install the runtime and warm jedi in the background (the kernel sends it once, at start)."""
    return _install("warm()")


@dataclass(frozen=True)
class Prepared:
    """User code made ready for the scratchpad."""

    code: str
    has_value: bool  # the last statement is an expression whose value we show
    bound_names: frozenset[str]  # top-level names the code binds (kept in the pair namespace)
    asks_input: str | None = None  # "input"/"getpass" when the code calls one directly
    source: str = ""  # the code the user sent


@dataclass(frozen=True)
class Owner:
    """Which Jupyter kernel a run is for: its namespace in the marimo kernel (see inmarimo/state.py)."""

    kernel_id: str | None  # None: nothing persists (marimo's own scratchpad semantics)
    host: str = ""
    pid: int = 0


# ctx.state keys (kernel state shared with magics/namespace.py) and the environment switch.
PAIR_ID_KEY = "pairns.id"  # this kernel's namespace id in the marimo kernel (a new one per process)
PAIR_ON_KEY = "pairns.on"  # whether names persist (%pairns on|off)
NO_STATE_ENV = "MARIMO_PAIR_NO_STATE"


def new_pair_id() -> str:
    import uuid

    return uuid.uuid4().hex[:16]


def state_wanted(environ: dict[str, str] | None = None) -> bool:
    """False when MARIMO_PAIR_NO_STATE asks for marimo's own semantics (nothing persists)."""
    import os

    env = os.environ if environ is None else environ
    return env.get(NO_STATE_ENV, "").strip().lower() in ("", "0", "false", "no")


_MACHINE: list[str] = []


def machine() -> str:
    """Where this process's pids mean something: host name, boot id and pid namespace.

    runtime_state._machine computes the same in the marimo kernel: only when they match does a
    missing pid there mean that this kernel is gone (a container on the host's network shares
    the host name, not the pids).
    """
    if not _MACHINE:
        import os
        import socket

        parts = [socket.gethostname()]
        for path in ("/proc/sys/kernel/random/boot_id", "/proc/self/ns/pid"):
            try:
                parts.append(os.readlink(path) if path.endswith("/pid") else Path(path).read_text().strip())
            except OSError:
                parts.append("")
        _MACHINE.append("|".join(parts))
    return _MACHINE[0]


def owner_of(pair_id: str | None, on: bool) -> Owner:
    import os

    return Owner(pair_id, machine(), os.getpid()) if on and pair_id else Owner(None)


def prepare(
    code: str,
    page_url: str = "",
    owner: Owner | None = None,
    count: int | None = None,
    mode: str = "Context",
    store: bool = True,
    shown: bool = True,
) -> Prepared:
    """The scratch cell that runs `code` in the kernel's own namespace and shows its last value.

    The scratch cell is one statement: it hands the user's source, as a string, to the runtime's
    `run` (inmarimo/state.py), which compiles it under a file name of its own (tracebacks show the
    user's lines and numbers as `Cell In[N]`), executes it with this kernel's pair namespace as
    globals and returns IPython's display of the last expression with the figures still open.
    The name `_mpk_value` in the cell marks the run as the kernel's (`_in_our_run`). One short
    statement keeps marimo's per-execute parse and analysis small. The runtime must be installed
    (the session layer does it once per session); if the marimo kernel restarted and lost it, the cell
    fails with a KeyError naming the module and the kernel reinstalls and sends it again
    (nothing of the user's ran). `page_url` (the marimo page) is named on snapshots of mo.ui elements.
    `count` and `mode` (%xmode) are for the error: where marimo has IPython, a failing run sends
    IPython's layout of its exception with the failure (inmarimo/tracebacks.py), so the kernel
    needs no second request. The default mode is left out of the line. IPython's history
    (inmarimo/history.py): `store` (store_history) records the input as In[N], `shown` (not
    silent) the value as Out[N] and `_`; the defaults are left out of the line.
    """
    asks = None
    bound: frozenset[str] = frozenset()
    has_value = False
    is_async = False
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        tree = None  # the notebook's Python reports it (it may accept syntax ours does not)
    if tree is not None:
        bound = frozenset(defined_names(tree))
        asks = _input_call(tree)
        has_value = bool(tree.body) and isinstance(tree.body[-1], ast.Expr) and not _ends_with_semicolon(code)
        is_async = _top_level_await(tree)
    owner = owner or Owner(None)
    fn = "run_async" if is_async else "run"
    args = (
        f"{owner.kernel_id!r}, {code!r}, {count if count is not None else 0!r}, {page_url!r}, {has_value!r}, "
        f"{(owner.host, owner.pid) if owner.kernel_id else None!r}{'' if mode == 'Context' else f', {mode!r}'}"
        f"{'' if store else ', store=False'}{'' if shown else ', shown=False'}"
    )
    call = f"__import__('sys').modules[{RUNTIME_MODULE!r}].{fn}({args})"
    stub = f"(_mpk_value := {'await ' if is_async else ''}{call})\n"
    return Prepared(stub, has_value, bound, asks, code)


def _top_level_await(tree: ast.Module) -> bool:
    """Whether the code awaits outside any function (then the scratch cell awaits the run)."""
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Await, ast.AsyncFor, ast.AsyncWith)):
            return True
        if isinstance(node, ast.comprehension) and node.is_async:
            return True
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        todo.extend(ast.iter_child_nodes(node))
    return False


def runtime_missing(error_name: str, error_value: str) -> bool:
    """The scratch cell failed because the marimo kernel lost our runtime (it restarted)."""
    return error_name == "KeyError" and RUNTIME_MODULE in error_value


def execute_installed(
    client: MarimoClient, notebook: Notebook, code: str, timeout: float | None = None
) -> ExecuteResult:
    """Send a short line outside the kernel's session layer (widget threads), silently.

    When the line finds no runtime (a marimo kernel that restarted, or one this client never
    installed into), install it and send the line once more (nothing of the line ran).
    """
    errors: list[str] = []

    def keep(name: str, text: str) -> None:
        if name == "stderr":
            errors.append(text)

    result = client.execute(code, notebook, keep, timeout=timeout)
    if not result.success and f"KeyError: {RUNTIME_MODULE!r}" in "".join(errors):
        client.execute(install_code(), notebook, lambda name, text: None, timeout=timeout)
        result = client.execute(code, notebook, lambda name, text: None, timeout=timeout)
    return result


_PREFIX = "_mpk_value = ("


def restore_traceback(text: str) -> str:
    """Show the user's own line in a traceback, not a `_mpk_value = (...)` rewrite of it (older kernels' form)."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        col = line.find(_PREFIX)
        if col < 0:
            continue
        lines[i] = line[:col] + line[col + len(_PREFIX) :]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if nxt.strip() and set(nxt.strip()) <= set("^~") and nxt[col : col + len(_PREFIX)].strip() == "":
            lines[i + 1] = nxt[:col] + nxt[col + len(_PREFIX) :]
    return "\n".join(lines)


def user_source(code: str) -> str:
    """The code the user sent, from the scratch cell `prepare` made of it (for the lines around an error)."""
    if not code.startswith("(_mpk_value := "):
        return code
    try:
        node = ast.parse(code).body[0]
        call = node.value.value  # type: ignore[attr-defined]
        if isinstance(call, ast.Await):
            call = call.value
        src = call.args[1].value
    except (SyntaxError, ValueError, IndexError, AttributeError):
        return code
    return src if isinstance(src, str) else code


def _input_call(tree: ast.Module) -> str | None:
    """A prompt the code asks for directly: it would wait for a browser, so it is refused early."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id in ("input", "raw_input"):
                return f.id
            if isinstance(f, ast.Attribute) and f.attr == "getpass":
                return "getpass"
    return None


def _ends_with_semicolon(code: str) -> bool:
    # IPython: a trailing `;` suppresses the display of the last value.
    stripped = "\n".join(
        line for line in code.rstrip().splitlines() if not line.lstrip().startswith("#")
    ).rstrip()
    return stripped.endswith(";")


_SCOPES = (
    ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
    ast.GeneratorExp,
)


def defined_names(tree: ast.Module) -> set[str]:
    """The names code's top level binds: what stays in the pair namespace, and what a cell defines.

    The kernel process's one copy; inmarimo/cells.py's `top_level_names` is the marimo side's
    (used there only when marimo's own compiler is missing), since this process never imports that.
    """
    names: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(stmt.name)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in stmt.names if a.name != "*"}
        else:
            todo: list[ast.AST] = [stmt]
            while todo:
                node = todo.pop()
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    names.add(node.id)
                todo.extend(c for c in ast.iter_child_nodes(node) if not isinstance(c, _SCOPES))
    return names


def read_payload(output: Output | None) -> dict | None:
    """Our helper's answer in a `done` output, or None when the output is not ours."""
    if output is None or output.mimetype != "application/json":
        return None
    try:
        outer = json.loads(output.data)
    except ValueError:
        return None
    if not isinstance(outer, dict) or set(outer) != {MARKER}:
        return None
    inner = outer[MARKER]
    if isinstance(inner, str):
        # marimo may prefix strings inside JSON output with their mimetype.
        if inner.startswith("text/plain:"):
            inner = inner[len("text/plain:") :]
        try:
            inner = json.loads(inner)
        except ValueError:
            return None
    return inner if isinstance(inner, dict) else None


def answer_of(result: ExecuteResult) -> dict | None:
    """Our helper's answer in a run's result: None when the run failed or gave no answer of ours."""
    return read_payload(result.output) if result.success else None


# -- completion and inspection, run in the live notebook kernel ------------------------

def completion_code(code: str, cursor_pos: int, kernel_id: str | None = None) -> str:
    before = code[:cursor_pos]
    line = before.count("\n") + 1
    column = len(before.rsplit("\n", 1)[-1])
    return _with_runtime(f"complete({code!r}, {line}, {column}, _mpk_rt.visible_ns({kernel_id!r}, globals()))")


def inspect_code(name: str, detail: int, kernel_id: str | None = None) -> str:
    return _with_runtime(f"inspect_name({name!r}, {bool(detail)}, _mpk_rt.visible_ns({kernel_id!r}, globals()))")


def _with_runtime(expression: str) -> str:
    """`_call`, for an expression that names the package again (as `_mpk_rt`)."""
    return f"_mpk_rt = __import__('sys').modules[{RUNTIME_MODULE!r}]\n_mpk_rt.{expression}\n"


def state_code(expression: str) -> str:
    """The scratchpad line that evaluates `expression` in the runtime (inmarimo/__init__.py's names)."""
    return _call(expression)
