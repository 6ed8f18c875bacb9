"""Translate what marimo sends into what a Jupyter client expects.

- `done` outputs → mimebundles (`text/plain` always, plus the rich form);
- marimo's stderr tracebacks → one Jupyter `error` (ename, evalue, traceback);
- listings → one `display_data` bundle: an aligned text table, an HTML table, and JSON
  under a vendor mimetype (`PAIR_JSON`): frontends rank plain `application/json` above
  `text/html` and would show a folded JSON tree instead of the table.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .plaintext import html_to_text

if TYPE_CHECKING:
    from .client import Output

# The machine-readable form of every listing magic (see the README's "For programs and agents").
PAIR_JSON = "application/vnd.marimo-pair+json"

_HEADER = "Traceback (most recent call last):"
# A stderr chunk that begins an error report: a traceback, or marimo's bare SyntaxError form.
_ERROR_START = re.compile(r"^(Traceback \(most recent call last\):|line \d+\n|  File \")")
# A chained exception whose first part was never raised starts with that exception's line.
_CHAIN_START = re.compile(
    r"^[A-Za-z_][\w.]*(: [^\n]*)?\n\n(The above exception was the direct cause|During handling of the above exception)"
)
_EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::\s?(.*))?$")


@dataclass(frozen=True)
class ErrorInfo:
    ename: str
    evalue: str
    traceback: list[str]
    raw: str = field(default="", compare=False, repr=False)  # marimo's text, to re-format with more sources
    context: Any = field(default=None, compare=False, repr=False)  # the tracebacks.Context it was formatted with

    def content(self) -> dict[str, Any]:
        return {"ename": self.ename, "evalue": self.evalue, "traceback": self.traceback}


def starts_error_report(text: str) -> bool:
    return bool(_ERROR_START.match(text) or _CHAIN_START.match(text))


def parse_error(
    text: str,
    *,
    count: int | None = None,
    source: str | None = None,
    cells: Mapping[str, str] | None = None,
    names: Mapping[str, str | None] | None = None,
    mode: str = "Context",
) -> ErrorInfo:
    """marimo's stderr traceback text → ename, evalue and IPython's colored traceback.

    `count` is the execution count (`Cell In[N]`), `source` the code the user sent to the
    scratchpad, `cells` the code of marimo cells (id → code) and `names` their names: the
    frames show the lines around the failing one from them (see tracebacks.py).
    """
    from . import tracebacks

    ctx = tracebacks.Context(count, source, dict(cells or {}), dict(names or {}), mode)
    done = tracebacks.format_or_none(text, ctx)
    if done is not None:
        excs, colored = done
        return with_module_hint(ErrorInfo(excs[-1].short_name, excs[-1].evalue, colored, text, ctx))
    plain = _parse_plain(text)
    return with_module_hint(ErrorInfo(plain.ename, plain.evalue, plain.traceback, text, ctx))


_NO_MODULE = re.compile(r"No module named '([A-Za-z_]\w*)'")
# Import names whose distribution on PyPI is called otherwise (the common ones).
PYPI_NAMES = {
    "IPython": "ipython", "PIL": "pillow", "sklearn": "scikit-learn", "skimage": "scikit-image",
    "cv2": "opencv-python", "yaml": "pyyaml", "bs4": "beautifulsoup4", "dateutil": "python-dateutil",
    "dotenv": "python-dotenv", "attr": "attrs", "Crypto": "pycryptodome", "jwt": "pyjwt",
    "docx": "python-docx", "pptx": "python-pptx", "serial": "pyserial", "usb": "pyusb",
    "OpenSSL": "pyopenssl", "magic": "python-magic", "fitz": "pymupdf", "jose": "python-jose",
}


def module_hint(ename: str, evalue: str) -> str | None:
    """One line naming the fix for a module the notebook's Python lacks, or None."""
    m = _NO_MODULE.fullmatch(evalue.strip()) if ename == "ModuleNotFoundError" else None
    if m is None:
        return None
    module = m.group(1)
    package = PYPI_NAMES.get(module, module)
    if module == "IPython":
        return (
            "The notebook's Python has no IPython (marimo does not need it, and display() works here "
            "without an import); to install it with marimo's package manager: %packages add ipython"
        )
    return (
        f"The notebook's Python has no module '{module}'. If it is a package on PyPI, marimo's package "
        f"manager installs it (into the script header too, for a sandboxed notebook): %packages add {package}"
    )


def with_module_hint(error: ErrorInfo) -> ErrorInfo:
    hint = module_hint(error.ename, error.evalue)
    if hint is None or (error.traceback and error.traceback[-1] == hint):
        return error
    return ErrorInfo(error.ename, error.evalue, [*error.traceback, hint], error.raw, error.context)


def with_cells(error: ErrorInfo, cells: Mapping[str, str], names: Mapping[str, str | None]) -> ErrorInfo:
    """The same error, its frames in notebook cells now showing those cells' lines (and names)."""
    if not error.raw:
        return error
    ctx = error.context
    count, source = (ctx.count, ctx.scratch) if ctx is not None else (None, None)
    mode = ctx.mode if ctx is not None else "Context"
    return parse_error(error.raw, count=count, source=source, cells=cells, names=names, mode=mode)


def _parse_plain(text: str) -> ErrorInfo:
    """The fallback for text that is not a Python traceback we understand: the lines as they are."""
    lines = text.rstrip("\n").split("\n")
    idx = None
    last_frame = max((i for i, ln in enumerate(lines) if ln.startswith("  File ")), default=None)
    if last_frame is not None:
        for i in range(last_frame + 1, len(lines)):
            if lines[i] and not lines[i].startswith(" ") and _EXC_LINE.match(lines[i]):
                idx = i
                break
    if idx is None:
        for i in range(len(lines) - 1, -1, -1):
            ln = lines[i]
            top_level = ln and not ln.startswith(" ") and ln != _HEADER
            if top_level and _EXC_LINE.match(ln.split(" ", 1)[0].rstrip(":")) and (
                ":" in ln or re.match(r"^[A-Za-z_][\w.]*$", ln)
            ):
                idx = i
                break
    if idx is None:
        summary = next((ln for ln in reversed(lines) if ln.strip()), "marimo reported a failure")
        return ErrorInfo("Error", summary.strip(), lines)
    m = _EXC_LINE.match(lines[idx])
    if m:
        ename, first = m.group(1), m.group(2) or ""
    else:
        ename, _, first = lines[idx].partition(": ")
    rest = lines[idx + 1 :]
    evalue = "\n".join([first, *rest]).strip("\n") if rest else first
    return ErrorInfo(ename.rsplit(".", 1)[-1] if ename.startswith("marimo.") else ename, evalue, lines)


def error_from_exception(exc: BaseException) -> ErrorInfo:
    """One of our own errors as a Jupyter error: the message, no Python traceback."""
    from .tracebacks import plain_message

    ename = getattr(exc, "ename", type(exc).__name__)
    message = str(exc) or ename
    return ErrorInfo(ename, message, plain_message(ename, message))


def value_bundle(payload_value: dict[str, Any] | None, output: Output | None) -> dict[str, Any] | None:
    """The mimebundle for an execute_result, from our helper's payload or marimo's output.

    `payload_value` is the runtime's `bundle()` data (already as Jupyter wants it); without
    it, marimo's own rendering is converted, and HTML made for marimo's page is dropped.
    """
    bundle: dict[str, Any] = {}
    if payload_value:
        for mime, data in payload_value.items():
            if isinstance(data, str) or mime == "application/json" or mime.endswith("+json"):
                bundle[mime] = data
    elif output is not None and output.data:
        # Not our helper's answer (e.g. the value helper failed): keep what marimo gave.
        converted = _convert(output.mimetype, output.data, "")
        if converted is not None:
            bundle[output.mimetype] = converted
        bundle.setdefault("text/plain", html_to_text(output.data).strip())
    return bundle or None


# Displays made while the code runs arrive on stdout as `DISPLAY_MARK + json + "\n"` lines
# (inmarimo/ write them; MARK there must equal this). One display is held at most.
DISPLAY_MARK = "\x1emarimo-pair-kernel:display:"
MAX_DISPLAY_CHARS = 24_000_000


class DisplayStream:
    """Splits marimo's stdout into plain text and the runtime's display messages."""

    def __init__(self) -> None:
        self._held: list[str] | None = None  # the display being received, in pieces
        self._size = 0

    def feed(self, text: str) -> list[tuple[str, Any]]:
        """("text", str) and ("display", dict) items, in order; ("note", str) for a lost display."""
        out: list[tuple[str, Any]] = []
        while text:
            if self._held is not None:
                nl = text.find("\n")
                piece = text if nl < 0 else text[:nl]
                self._size += len(piece)
                if self._size <= MAX_DISPLAY_CHARS:
                    self._held.append(piece)
                if nl < 0:
                    return out
                text = text[nl + 1 :]
                out.append(self._finish())
                continue
            i = text.find(DISPLAY_MARK)
            if i < 0:
                out.append(("text", text))
                break
            if i:
                out.append(("text", text[:i]))
            text = text[i + len(DISPLAY_MARK) :]
            self._held, self._size = [], 0
        return out

    def close(self) -> list[tuple[str, Any]]:
        """At the end of an execute: a display cut off mid-way becomes a note."""
        if self._held is None:
            return []
        self._held = None
        return [("note", "marimo-pair-kernel: a display was cut off before it ended and is not shown.\n")]

    def _finish(self) -> tuple[str, Any]:
        held, size = self._held or [], self._size
        self._held, self._size = None, 0
        if size > MAX_DISPLAY_CHARS:
            return ("note", f"marimo-pair-kernel: a display of {size / 1e6:.0f} MB was not shown "
                    f"(this kernel passes on at most {MAX_DISPLAY_CHARS / 1e6:.0f} MB per display).\n")
        try:
            msg = json.loads("".join(held))
        except ValueError:
            return ("note", "marimo-pair-kernel: a display arrived damaged and is not shown.\n")
        if not isinstance(msg, dict):
            return ("note", "marimo-pair-kernel: a display arrived damaged and is not shown.\n")
        return ("display", msg)


def _convert(mime: str, data: str, text: str) -> Any:
    if mime == "text/plain":
        return data
    if mime == "text/html" and _is_plain_repr(data, text):
        return None  # marimo's fallback `<pre>repr</pre>`: text/plain says it better
    if mime == "text/html" and "<marimo-" in data:
        return None  # made for marimo's page: renders blank anywhere else
    if mime == "application/json":
        try:
            return json.loads(data)
        except ValueError:
            return None
    if mime.startswith("image/") and mime != "image/svg+xml" and data.startswith("data:"):
        return data.split(",", 1)[-1]
    if mime == "application/vnd.marimo+error":
        return None
    return data


def _is_plain_repr(data: str, text: str) -> bool:
    m = re.fullmatch(r"<pre[^>]*>(.*)</pre>", data.strip(), re.S)
    return m is not None and (not text or html.unescape(m.group(1)) == text)


# -- tables ------------------------------------------------------------------------------


def table_bundle(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    json_data: Any,
    title: str | None = None,
    notes: Sequence[str] = (),
    max_width: int = 60,
    *,
    html_cells: Mapping[tuple[int, int], str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An aligned text table, the same as HTML, and JSON for programs.

    Text cells longer than `max_width` are cut in the text and HTML forms; the JSON keeps all.
    `html_cells` gives ready-made HTML for some cells ((row, column) → HTML, e.g. a status
    badge) in place of their escaped text; `extra` adds mimetypes (e.g. a mermaid diagram).
    """
    cells = [[_cell(v, max_width) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    out: list[str] = [title] if title else []
    if rows:
        out.append("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
        out.append("  ".join("-" * w for w in widths))
        out.extend("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)).rstrip() for r in cells)
    out.extend(notes)
    head = f"<p><b>{html.escape(title)}</b></p>" if title else ""
    table = ""
    if rows:
        # JupyterLab right-aligns table cells (made for numbers); these are words and code.
        left = ' style="text-align:left"'
        th = "".join(f"<th{left}>{html.escape(c)}</th>" for c in columns)
        given = html_cells or {}

        def td(i: int, j: int, v: str) -> str:
            if (i, j) in given:
                return f"<td{left}>{given[i, j]}</td>"
            return f"<td{left}><code>{html.escape(v)}</code></td>" if v else f"<td{left}></td>"

        trs = "".join("<tr>" + "".join(td(i, j, v) for j, v in enumerate(r)) + "</tr>" for i, r in enumerate(cells))
        table = f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"
    foot = "".join(f"<p>{html.escape(n)}</p>" for n in notes)
    return {
        "text/plain": "\n".join(out),
        "text/html": head + table + foot,
        PAIR_JSON: json_data,
        **(extra or {}),
    }


def _cell(value: Any, max_width: int) -> str:
    if value is None:
        return ""
    text = str(value).replace("\n", " ⏎ ")
    return text if len(text) <= max_width else text[: max_width - 3] + "..."
