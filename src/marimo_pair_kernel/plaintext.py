"""HTML as the text it holds, for the kernel's few HTML-only answers from marimo.

marimo sometimes gives the kernel only HTML where Jupyter wants text: marimo < 0.25 sends
tracebacks as syntax-highlighted HTML (client.py), and a value whose rendering came from marimo
itself rather than our runtime has no `text/plain` (outputs.py). Both want the characters as
they are, whitespace kept, tags dropped and entities decoded.

The runtime has its own `html_text` (inmarimo/formatter.py), and must: it runs in the notebook's
Python, which cannot import this package, and it lays out a value's HTML as blocks and lines
(lists, tables, images) for an object only marimo holds.
"""

from __future__ import annotations

import html
import re

_TAG = re.compile(r"<[^>]+>")


def html_to_text(fragment: str) -> str:
    """The text of an HTML fragment: tags dropped, entities decoded, whitespace as it was."""
    return html.unescape(_TAG.sub("", fragment))
