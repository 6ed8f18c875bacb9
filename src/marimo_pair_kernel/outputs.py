"""Translate what marimo sends into what a Jupyter client expects.

- `done` outputs → mimebundles (`text/plain` always, plus the rich form);
- marimo's stderr tracebacks → one Jupyter `error` (ename, evalue, traceback);
- listings → one `display_data` bundle: an aligned text table, an HTML table, JSON.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any, Sequence

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .client import Output

_HEADER = "Traceback (most recent call last):"
# A stderr chunk that begins an error report: a traceback, or marimo's bare SyntaxError form.
_ERROR_START = re.compile(r"^(Traceback \(most recent call last\):|line \d+\n|  File \")")
_EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::\s?(.*))?$")


@dataclass(frozen=True)
class ErrorInfo:
    ename: str
    evalue: str
    traceback: list[str]

    def content(self) -> dict[str, Any]:
        return {"ename": self.ename, "evalue": self.evalue, "traceback": self.traceback}


def starts_error_report(text: str) -> bool:
    return bool(_ERROR_START.match(text))


def parse_error(text: str) -> ErrorInfo:
    """marimo's stderr traceback text → ename, evalue and traceback lines."""
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
            if ln and not ln.startswith(" ") and ln != _HEADER and _EXC_LINE.match(ln.split(" ", 1)[0].rstrip(":")):
                if ":" in ln or re.match(r"^[A-Za-z_][\w.]*$", ln):
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
    ename = getattr(exc, "ename", type(exc).__name__)
    message = str(exc) or ename
    return ErrorInfo(ename, message, [f"{ename}: {message}"])


def value_bundle(payload_value: dict[str, Any] | None, output: Output | None) -> dict[str, Any] | None:
    """The mimebundle for an execute_result, from our helper's payload or marimo's output."""
    bundle: dict[str, Any] = {}
    if payload_value:
        for mime, data in payload_value.items():
            if not isinstance(data, str):
                continue
            converted = _convert(mime, data, payload_value.get("text/plain", ""))
            if converted is not None:
                bundle[mime] = converted
    elif output is not None and output.data:
        # Not our helper's answer (e.g. the value helper failed): keep what marimo gave.
        converted = _convert(output.mimetype, output.data, "")
        if converted is not None:
            bundle[output.mimetype] = converted
        bundle.setdefault("text/plain", _plain_from_html(output.data))
    return bundle or None


def _convert(mime: str, data: str, text: str) -> Any:
    if mime == "text/plain":
        return data
    if mime == "text/html" and _is_plain_repr(data, text):
        return None  # marimo's fallback `<pre>repr</pre>`: text/plain says it better
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
    return bool(m) and (not text or html.unescape(m.group(1)) == text)


def _plain_from_html(data: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", data)).strip()


# -- tables ------------------------------------------------------------------------------


def table_bundle(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    json_data: Any,
    title: str | None = None,
    notes: Sequence[str] = (),
    max_width: int = 60,
) -> dict[str, Any]:
    """An aligned text table, the same as HTML, and JSON for programs.

    Text cells longer than `max_width` are cut in the text and HTML forms; the JSON keeps all.
    """
    cells = [[_cell(v, max_width) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    out: list[str] = [title] if title else []
    if rows:
        out.append("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
        out.append("  ".join("-" * w for w in widths))
        out.extend("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells)
    out.extend(notes)
    head = f"<p><b>{html.escape(title)}</b></p>" if title else ""
    table = ""
    if rows:
        th = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        trs = "".join(
            "<tr>" + "".join(f"<td><code>{html.escape(v)}</code></td>" for v in r) + "</tr>" for r in cells
        )
        table = f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"
    foot = "".join(f"<p>{html.escape(n)}</p>" for n in notes)
    return {
        "text/plain": "\n".join(out),
        "text/html": head + table + foot,
        "application/json": json_data,
    }


def _cell(value: Any, max_width: int) -> str:
    if value is None:
        return ""
    text = str(value).replace("\n", " ⏎ ")
    return text if len(text) <= max_width else text[: max_width - 3] + "..."
