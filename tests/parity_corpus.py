"""Output parity with ipykernel: a corpus of common objects, run in both kernels, compared.

Shared by tests/test_outputs_parity.py (asserts 100%) and bench/parity.py (prints the figure).
Every snippet runs in a `python3` ipykernel and in a marimo-pair kernel through
jupyter_client. ipykernel's IOPub outputs are the reference. A snippet matches when:

- the sequence of outputs is the same (message types in order, adjacent stream chunks merged:
  execute_result, display_data, update_display_data, clear_output, stream:stdout/stderr, error);
- every rich output has the same set of renderable mimetypes (issue 10's list: image/png,
  image/svg+xml, text/html, text/markdown, text/latex, application/json);
- `text/plain` equals ipykernel's (memory addresses normalized) unless `plain=False`;
- with `content=True` (the default) the text forms are equal too, PNGs have the same pixel
  size and the mimetype metadata (image width, JSON expansion) is the same: the same picture,
  stricter than the issue asks;
- a display carries a display_id where ipykernel's does, and updates name the display they
  replace;
- stdout is equal; stderr is equal, except that for a warning only its `Category: message`
  line is compared (the file named before it differs between the kernels);
- an error has ipykernel's ename and evalue and shows the user's last line with nothing of
  ours glued to it, and neither marimo's temp file names nor our wrapper's code.

None of our `text/html` may contain a `<marimo-…>` custom element (blank outside marimo's
page). Each snippet is self-contained (imports included): the marimo scratchpad forgets
names between executes. Both kernels run in the same working directory (the marimo
notebook's), so FileLink/FileLinks read the same. A snippet that differs on purpose
carries `exception` (the reason) and its own `check`, which replaces the comparison.

Every public IPython.display class is here except the base classes DisplayObject and
TextDisplayObject (not displayable by themselves); DisplayHandle is exercised through
`display(..., display_id=True)` and `.update()`.
"""

from __future__ import annotations

import base64
import html
import re
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from support import execute

RENDERABLE = frozenset({"image/png", "image/svg+xml", "text/html", "text/markdown", "text/latex", "application/json"})
TEXT_FORMS = ("text/html", "text/markdown", "text/latex", "image/svg+xml", "application/json")
RICH = ("execute_result", "display_data", "update_display_data")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# `path:12: UserWarning: message` and, when the source is known, the line itself indented below.
_WARNING = re.compile(r"^\S.*?:\d+: (\w*Warning): (.*)\n(?:  .*\n)?", re.M)
# ipykernel names its temp file in a SyntaxError's evalue, `invalid syntax (1234.py, line 1)`;
# the traceback says where, so the location is not compared.
_SYNTAX_WHERE = re.compile(r" \([^()]*, line \d+\)$")
_TAG = re.compile(r"<[^>]+>")

TINY_PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
TINY_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"><rect width="20" height="20" fill="teal"/></svg>'
)


@dataclass(frozen=True)
class Out:
    """One IOPub output: `kind` is a message type, or `stream:stdout` / `stream:stderr`
    (for streams `data` is `{"text": ...}`; for errors ename, evalue, traceback)."""

    kind: str
    data: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    display_id: str | None = None  # transient display_id (display handles, update_display_data)

    @property
    def mimes(self) -> frozenset[str]:
        return frozenset(self.data) & RENDERABLE

    @property
    def plain(self) -> str | None:
        text = self.data.get("text/plain")
        return text if isinstance(text, str) else None


Check = Callable[[list[Out], list[Out]], list[str]]


@dataclass(frozen=True)
class Snippet:
    name: str
    kind: str  # python, numpy, pandas, polars, matplotlib, pil, ipython, repr, warning, error, marimo
    code: str
    plain: bool = True  # text/plain must equal ipykernel's
    content: bool = True  # the text forms must equal ipykernel's, PNGs have its pixel size
    requires: tuple[str, ...] = ()  # importable modules, else the snippet is skipped (and reported)
    exception: str | None = None  # why ours differs from ipykernel on purpose; `check` says how
    check: Check | None = None  # (ours, ipykernel) -> problems; replaces the standard comparison
    note: str | None = None  # shown with a mismatch: what a fix looks like
    shows: tuple[str, ...] = ()  # text our HTML/markdown must show (checked even when `check` is set)


# -- rules for the snippets that differ from ipykernel on purpose -------------------------


def _one_display(ours: list[Out], text: str) -> list[str]:
    """One display_data whose HTML or markdown shows `text`."""
    rich = [o for o in ours if o.kind in RICH]
    if [o.kind for o in rich] != ["display_data"]:
        return [f"expected one display_data, got {[o.kind for o in ours]}"]
    shown = [v for k, v in rich[0].data.items() if k in ("text/html", "text/markdown") and isinstance(v, str)]
    return [] if any(text in v for v in shown) else [f"no text/html or text/markdown showing {text!r}"]


def ui_snapshot(kind: str, label: str, value: str, extent: str | None = None) -> Check:
    """Issue 10 item 2: the element's label and current value shown in HTML, a `text/plain` that
    names the kind (and `extent`, a regex for its range or options) and the value, and a note
    that it is live on the marimo page, with the page's URL."""

    def check(ours: list[Out], ref: list[Out]) -> list[str]:
        rich = [o for o in ours if o.kind in RICH]
        if [o.kind for o in rich] != ["execute_result"]:
            return [f"expected one execute_result, got {[o.kind for o in rich]}"]
        data = rich[0].data
        page, text = data.get("text/html"), rich[0].plain or ""
        if not isinstance(page, str):
            return [f"no text/html snapshot (mimetypes {sorted(data)})"]
        problems = []
        shown = _TAG.sub(" ", page)
        if label not in shown or not re.search(rf"\b{re.escape(value)}\b", shown):
            problems.append(f"the HTML snapshot does not show the label {label!r} and the value {value!r} as text")
        if not re.search(r"https?://", page):
            problems.append("the HTML snapshot gives no URL of the marimo page where the element is live")
        named = kind in text.lower() and re.search(rf"\b{re.escape(value)}\b", text)
        if not named or (extent and not re.search(extent, text)):
            problems.append(f"text/plain should name the kind, {'range/options and ' if extent else ''}value: {text!r}")
        return problems

    return check


def _marimo(name: str, code: str, shows: tuple[str, ...], note: str | None = None) -> Snippet:
    """A marimo object: ipykernel's mimetypes are the reference, not its text (`_md()`) or HTML,
    which may be marimo's custom elements; what ours shows is checked by `shows`."""
    return Snippet(name, "marimo", "import marimo as mo\n" + code, plain=False, content=False, note=note, shows=shows)


_CUSTOM_ONLY = (
    "marimo renders this only as custom elements (<marimo-json-output>, <marimo-mermaid>, …); "
    "give text/html that renders without them (e.g. the data as a <pre> block, a stat's label "
    "and value), not text/plain 'Html()' alone"
)
_UI_REASON = (
    "issue 10 item 2: outside marimo's page a mo.ui element becomes a static snapshot (label and "
    "value in HTML, kind/range/value in text/plain, a note with the page URL); ipykernel shows "
    "marimo's live-only HTML (<marimo-ui-element>) and a bare text/plain like 'slider()'"
)


# -- the corpus --------------------------------------------------------------------------

_WAV = (
    "import io, wave\n"
    "_buf = io.BytesIO()\n"
    "with wave.open(_buf, 'wb') as _w:\n"
    "    _w.setnchannels(1); _w.setsampwidth(2); _w.setframerate(8000); _w.writeframes(b'\\x00\\x00' * 800)\n"
)

SNIPPETS: list[Snippet] = [
    # builtins
    Snippet("int", "python", "6 * 7"),
    Snippet("float", "python", "1 / 3"),
    Snippet("str", "python", "'hello' + ' world'"),
    Snippet("multiline str", "python", "'line one\\nline two'"),
    Snippet("list", "python", "[1, 'two', 3.0]"),
    Snippet("dict", "python", "{'a': 1, 'b': [1, 2], 'c': None}"),
    Snippet("tuple with None", "python", "(1, None, 'x')"),
    Snippet("set", "python", "{3, 1, 2}"),
    Snippet("bytes", "python", "b'\\x00abc' * 3"),
    Snippet("long list (truncated)", "python", "list(range(2000))"),
    Snippet("wide dict (wrapped)", "python", "{i: str(i) * 3 for i in range(30)}"),
    Snippet("range", "python", "range(10)"),
    Snippet("date", "python", "import datetime\ndatetime.date(2024, 1, 2)"),
    Snippet("instance default repr", "python", "class Plain:\n    pass\nPlain()"),
    Snippet("function", "python", "def twice(x):\n    return 2 * x\ntwice"),
    Snippet("dataclass", "python", "import dataclasses\n@dataclasses.dataclass\nclass P:\n    x: int\nP(1)"),
    Snippet("help()", "python", "help(len)"),
    Snippet("print returns None", "python", "print('hi')"),
    Snippet("None", "python", "None"),
    Snippet("assignment", "python", "x = 5"),
    Snippet("semicolon", "python", "1 + 1;"),
    Snippet("print then value", "python", "print('side')\n42"),
    Snippet(
        "partial lines and carriage return",
        "python",
        "import sys\nsys.stdout.write('10%\\r100%\\n')\nprint('no newline', end='')",
    ),
    Snippet("print to stderr", "python", "import sys\nprint('oops', file=sys.stderr)"),
    # numpy
    Snippet("numpy 2x3", "numpy", "import numpy as np\nnp.arange(6).reshape(2, 3)"),
    Snippet("numpy large (truncated)", "numpy", "import numpy as np\nnp.arange(10_000)"),
    Snippet("numpy floats", "numpy", "import numpy as np\nnp.linspace(0, 1, 5)"),
    Snippet("numpy scalar", "numpy", "import numpy as np\nnp.float64(1.5)"),
    Snippet("numpy random (seeded)", "numpy", "import numpy as np\nnp.random.default_rng(0).random((2, 3))"),
    # pandas / polars
    Snippet("pandas DataFrame", "pandas", "import pandas as pd\npd.DataFrame({'a': [1, 2, 3], 'b': ['x', 'y', 'z']})"),
    Snippet("pandas Series", "pandas", "import pandas as pd\npd.Series([1.5, 2.5], name='s')"),
    Snippet(
        "pandas describe()",
        "pandas",
        "import pandas as pd\npd.DataFrame({'a': [1, 2, 3, 4], 'b': [0.5, 1.5, 2.5, 3.5]}).describe()",
    ),
    Snippet(
        "pandas large DataFrame (truncated)",
        "pandas",
        "import numpy as np, pandas as pd\npd.DataFrame(np.arange(20_000).reshape(1000, 20))",
    ),
    Snippet(
        "pandas display(df)",
        "pandas",
        "import pandas as pd\nfrom IPython.display import display\ndisplay(pd.DataFrame({'n': [1, 2]}))",
    ),
    Snippet("pandas 10**6 rows (truncated)", "pandas", "import pandas as pd\npd.DataFrame({'n': range(1_000_000)})"),
    # A Styler's HTML carries a random uuid: only the mimetypes and text/plain are compared.
    Snippet(
        "pandas Styler",
        "pandas",
        "import pandas as pd\npd.DataFrame({'a': [1, 5]}).style.bar()",
        content=False,
        requires=("jinja2",),  # pandas' Styler needs it (an optional dependency of pandas)
    ),
    Snippet("pandas df.plot()", "pandas", "import pandas as pd\npd.DataFrame({'a': [1, 3, 2]}).plot()"),
    Snippet(
        "polars DataFrame",
        "polars",
        "import polars as pl\npl.DataFrame({'a': [1, 2], 'b': ['x', 'y']})",
        requires=("polars",),
    ),
    Snippet("polars Series", "polars", "import polars as pl\npl.Series('s', [1, 2, 3])", requires=("polars",)),
    # matplotlib (ipykernel: the inline backend)
    Snippet(
        "matplotlib Figure as last value",
        "matplotlib",
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 2])\nfig",
    ),
    Snippet("matplotlib plt.show()", "matplotlib", "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3]); plt.show()"),
    Snippet("matplotlib artists as last value", "matplotlib", "import matplotlib.pyplot as plt\nplt.plot([1, 2])"),
    Snippet("matplotlib plt.subplots() tuple", "matplotlib", "import matplotlib.pyplot as plt\nplt.subplots(1, 2)"),
    Snippet("matplotlib imshow", "matplotlib", "import numpy as np, matplotlib.pyplot as plt\nplt.imshow(np.eye(3))"),
    Snippet(
        "matplotlib figures made in a loop",
        "matplotlib",
        "import matplotlib.pyplot as plt\nfor k in range(2):\n    plt.figure()\n    plt.plot([k])",
    ),
    Snippet(
        "matplotlib display(fig)",
        "matplotlib",
        "import matplotlib.pyplot as plt\nfrom IPython.display import display\nfig = plt.figure()\n"
        "plt.plot([1])\ndisplay(fig)",
    ),
    Snippet("matplotlib open figure at the end", "matplotlib", "import matplotlib.pyplot as plt\nplt.plot([3, 1]);"),
    Snippet(
        "matplotlib two plt.show()",
        "matplotlib",
        "import matplotlib.pyplot as plt\nplt.plot([1]); plt.show()\nplt.plot([2]); plt.show()",
    ),
    Snippet(
        "matplotlib Figure without pyplot",
        "matplotlib",
        "from matplotlib.figure import Figure\nf = Figure()\nf.add_subplot().plot([1, 2])\nf",
    ),
    Snippet(
        "prints around plt.show()",
        "matplotlib",
        "import matplotlib.pyplot as plt\nprint('before')\nplt.plot([2, 1])\nplt.show()\nprint('after')",
    ),
    Snippet("%matplotlib inline", "matplotlib", "%matplotlib inline"),
    # after the figures above: the inline backend closes what it showed, so none pile up
    Snippet("no figures left open", "matplotlib", "import matplotlib.pyplot as plt\nplt.get_fignums()"),
    # PIL
    Snippet("PIL image", "pil", "from PIL import Image\nImage.new('RGB', (8, 8), 'red')"),
    # every IPython.display class that works offline
    Snippet("IPython HTML", "ipython", "from IPython.display import HTML\nHTML('<b>bold</b>')"),
    Snippet("IPython Markdown", "ipython", "from IPython.display import Markdown\nMarkdown('*emphasis*')"),
    Snippet("IPython Latex", "ipython", "from IPython.display import Latex\nLatex(r'$x^2$')"),
    Snippet("IPython Math", "ipython", "from IPython.display import Math\nMath(r'\\int_0^1 x\\,dx')"),
    Snippet("IPython JSON", "ipython", "from IPython.display import JSON\nJSON({'a': [1, 2], 'b': None})"),
    Snippet(
        "IPython Image (png)",
        "ipython",
        f"import base64\nfrom IPython.display import Image\nImage(base64.b64decode({TINY_PNG_B64!r}))",
    ),
    Snippet(
        "IPython Image (url)", "ipython", "from IPython.display import Image\nImage(url='https://example.org/a.png')"
    ),
    Snippet(
        "IPython Image (png, width)",
        "ipython",
        f"import base64\nfrom IPython.display import Image\nImage(base64.b64decode({TINY_PNG_B64!r}), width=40)",
    ),
    Snippet("IPython SVG", "ipython", f"from IPython.display import SVG\nSVG({TINY_SVG!r})"),
    Snippet("IPython Javascript", "ipython", "from IPython.display import Javascript\nJavascript('console.log(1)')"),
    Snippet("IPython Pretty", "ipython", "from IPython.display import Pretty\nPretty('pretty text')"),
    Snippet("IPython Code", "ipython", "from IPython.display import Code\nCode('x = 1', language='python')"),
    Snippet("IPython FileLink", "ipython", "from IPython.display import FileLink\nFileLink('notebook.py')"),
    Snippet(
        "IPython FileLinks",
        "ipython",
        "import os\nfrom IPython.display import FileLinks\nos.makedirs('parity_links', exist_ok=True)\n"
        "open('parity_links/a.txt', 'w').close()\nFileLinks('parity_links')",
    ),
    Snippet("IPython IFrame", "ipython", "from IPython.display import IFrame\nIFrame('https://example.org', 300, 200)"),
    Snippet("IPython YouTubeVideo", "ipython", "from IPython.display import YouTubeVideo\nYouTubeVideo('dQw4w9WgXcQ')"),
    Snippet("IPython VimeoVideo", "ipython", "from IPython.display import VimeoVideo\nVimeoVideo('1')"),
    Snippet("IPython ScribdDocument", "ipython", "from IPython.display import ScribdDocument\nScribdDocument('1')"),
    Snippet("IPython Audio (wav bytes)", "ipython", _WAV + "from IPython.display import Audio\nAudio(_buf.getvalue())"),
    Snippet(
        "IPython Video (embedded)",
        "ipython",
        "from IPython.display import Video\nVideo(b'\\x00' * 64, embed=True, mimetype='video/mp4')",
    ),
    Snippet("IPython ProgressBar", "ipython", "from IPython.display import ProgressBar\nProgressBar(10)"),
    Snippet(
        "IPython GeoJSON",
        "ipython",
        "from IPython.display import GeoJSON\nGeoJSON({'type': 'Point', 'coordinates': [0, 0]})",
    ),
    Snippet(
        "IPython DisplayHandle update",
        "ipython",
        "from IPython.display import display\nh = display('first', display_id=True)\nh.update('second')",
    ),
    Snippet(
        "several display() calls",
        "ipython",
        "from IPython.display import display, HTML, Markdown\n"
        "display(HTML('<i>one</i>'))\ndisplay(Markdown('**two**'))\ndisplay(3, [4])\n'last'",
    ),
    Snippet(
        "prints around display()",
        "ipython",
        "from IPython.display import display, Markdown\nprint('before')\ndisplay(Markdown('*middle*'))\nprint('after')",
    ),
    Snippet(
        "clear_output",
        "ipython",
        "from IPython.display import clear_output\nprint('gone')\nclear_output()\nprint('kept')",
    ),
    Snippet("display() without import", "ipython", "display('shown'); 1"),
    Snippet(
        "display() inside a function",
        "ipython",
        "from IPython.display import display, HTML\ndef show():\n    display(HTML('<p>in f</p>'))\n"
        "    return 5\nshow()",
    ),
    Snippet(
        "display raw bundle",
        "ipython",
        "from IPython.display import display\ndisplay({'text/html': '<u>raw</u>', 'text/plain': 'raw'}, raw=True)",
    ),
    # objects with IPython's repr methods
    Snippet("_repr_html_", "repr", "class H:\n    def _repr_html_(self):\n        return '<em>h</em>'\nH()"),
    Snippet(
        "_repr_png_",
        "repr",
        f"import base64\nclass P:\n    def _repr_png_(self):\n        return base64.b64decode({TINY_PNG_B64!r})\nP()",
    ),
    Snippet("_repr_svg_", "repr", f"class S:\n    def _repr_svg_(self):\n        return {TINY_SVG!r}\nS()"),
    Snippet("_repr_markdown_", "repr", "class M:\n    def _repr_markdown_(self):\n        return '# heading'\nM()"),
    Snippet("_repr_latex_", "repr", "class L:\n    def _repr_latex_(self):\n        return r'$\\alpha$'\nL()"),
    Snippet("_repr_json_", "repr", "class J:\n    def _repr_json_(self):\n        return {'k': [1, 2]}\nJ()"),
    Snippet("_repr_pretty_", "repr", "class R:\n    def _repr_pretty_(self, p, cycle):\n        p.text('R!')\nR()"),
    Snippet(
        "sympy expression (_repr_latex_)",
        "repr",
        "import sympy\nx = sympy.Symbol('x')\nx**2 + 1",
        requires=("sympy",),
    ),
    Snippet(
        "_repr_mimebundle_",
        "repr",
        "class B:\n    def _repr_mimebundle_(self, include=None, exclude=None):\n"
        "        return {'text/html': '<b>b</b>', 'text/markdown': '**b**', 'text/plain': 'B!'}\nB()",
    ),
    Snippet(
        "_repr_mimebundle_ with _repr_latex_",
        "repr",
        "class BL:\n    def _repr_mimebundle_(self, include=None, exclude=None):\n"
        "        return {'text/html': '<b>bl</b>'}\n"
        "    def _repr_latex_(self):\n        return '$bl$'\nBL()",
    ),
    Snippet(
        "_repr_html_ returning None",
        "repr",
        "class N:\n    def _repr_html_(self):\n        return None\n    def __repr__(self):\n        return 'N()'\nN()",
    ),
    Snippet(
        "_ipython_display_",
        "repr",
        "from IPython.display import display, HTML\nclass D:\n    def _ipython_display_(self):\n"
        "        display(HTML('<s>d</s>'))\nD()",
    ),
    # warnings
    Snippet("warnings.warn", "warning", "import warnings\nwarnings.warn('careful')"),
    Snippet("warning then value", "warning", "import warnings\nwarnings.warn('mind the gap', RuntimeWarning)\n7"),
    # errors
    Snippet("ZeroDivisionError", "error", "1/0"),
    Snippet("error line ending in a comment", "error", "x = 1\n1/0  # note"),
    Snippet("NameError", "error", "undefined_parity_name + 1"),
    Snippet("SyntaxError", "error", "def f(:\n    pass"),
    Snippet("error in a function", "error", "def check(v):\n    raise ValueError(f'bad value: {v}')\ncheck(3)"),
    Snippet("AssertionError", "error", "assert 1 + 1 == 3, 'arithmetic'"),
    # marimo objects: ipykernel's view is the reference for the mimetypes
    _marimo("mo.md", "mo.md('# Title\\n\\nsome *text*')", ("Title", "some")),
    _marimo("mo.hstack", "mo.hstack([mo.md('left'), mo.md('right')])", ("left", "right")),
    _marimo("mo.callout", "mo.callout(mo.md('careful'), kind='warn')", ("careful",)),
    _marimo(
        "mo.accordion",
        "mo.accordion({'More': mo.md('hidden text')})",
        ("More", "hidden text"),
        "show each section's title with its content, e.g. <details><summary>More</summary>…</details>",
    ),
    # ipykernel's HTML for these is marimo's custom elements (blank outside marimo): ours must
    # be HTML that renders, not just text/plain 'Html()'.
    _marimo("mo.tree", "mo.tree({'a': [1, 2], 'b': {'c': None}})", ("a", "c"), _CUSTOM_ONLY),
    _marimo("mo.json", "mo.json({'key': 1})", ("key",), _CUSTOM_ONLY),
    _marimo("mo.stat", "mo.stat(value='12', label='Count')", ("12", "Count"), _CUSTOM_ONLY),
    _marimo("mo.mermaid", "mo.mermaid('graph LR; Alpha-->Beta')", ("Alpha",), _CUSTOM_ONLY),
    Snippet(
        "mo.output.append",
        "marimo",
        "import marimo as mo\nmo.output.append(mo.md('appended *text*'))",
        plain=False,
        content=False,
        exception=(
            "outside marimo's runtime (ipykernel) mo.output.append shows nothing; in the notebook's "
            "scratchpad it displays, so ours must give one display_data that renders"
        ),
        check=lambda ours, ref: _one_display(ours, "appended"),
    ),
    Snippet(
        "mo.ui.slider",
        "marimo",
        "import marimo as mo\nmo.ui.slider(1, 10, value=3, label='Speed')",
        plain=False,
        content=False,
        exception=_UI_REASON,
        check=ui_snapshot("slider", "Speed", "3", r"\b1\b.*\b10\b"),
    ),
    Snippet(
        "mo.ui.dropdown",
        "marimo",
        "import marimo as mo\nmo.ui.dropdown(['apple', 'pear'], value='pear', label='Fruit')",
        plain=False,
        content=False,
        exception=_UI_REASON,
        check=ui_snapshot("dropdown", "Fruit", "pear"),
    ),
]


# -- running -----------------------------------------------------------------------------


def collect(kc: Any, code: str, timeout: float = 120) -> list[Out]:
    """The outputs one execute published on IOPub, in order; adjacent chunks of a stream merged."""
    run = execute(kc, code, timeout=timeout)
    outs: list[Out] = []
    for m in run.messages:
        t, c = m["msg_type"], m["content"]
        if t in RICH:
            transient = c.get("transient") or {}
            outs.append(Out(t, dict(c.get("data", {})), dict(c.get("metadata") or {}), transient.get("display_id")))
        elif t == "stream":
            kind = f"stream:{c['name']}"
            if outs and outs[-1].kind == kind:
                outs[-1] = Out(kind, {"text": outs[-1].data["text"] + c["text"]})
            else:
                outs.append(Out(kind, {"text": c["text"]}))
        elif t == "clear_output":
            outs.append(Out(t, {}))
        elif t == "error":
            outs.append(Out("error", {"ename": c["ename"], "evalue": c["evalue"], "traceback": list(c["traceback"])}))
    return outs


def normalize(text: str) -> str:
    return _ADDRESS.sub("0x…", text)


def _stderr(text: str) -> str:
    """stderr with each warning reduced to `Category: message` (the file and source line before
    and after it name each kernel's own temp file)."""
    return _WARNING.sub(r"\1: \2\n", normalize(text))


def _png_size(data: Any) -> tuple[int, int] | None:
    try:
        head = base64.b64decode(str(data)[:64])
        return struct.unpack(">II", head[16:24]) if head[:8] == b"\x89PNG\r\n\x1a\n" else None
    except (ValueError, struct.error):
        return None


def _describe(o: Out) -> str:
    if o.kind.startswith("stream:"):
        return f"{o.kind} {o.data['text'][:160]!r}"
    if o.kind == "error":
        return f"error {o.data['ename']}: {o.data['evalue'][:120]!r}"
    if o.kind == "clear_output":
        return "clear_output"
    plain = o.plain
    shown = "" if plain is None else f" text/plain={normalize(plain)[:160]!r}"
    return f"{o.kind} {sorted(o.data)}{shown}"


def _short(value: Any, n: int = 160) -> str:
    text = value if isinstance(value, str) else repr(value)
    return repr(normalize(text)[:n])


def compare(snippet: Snippet, ours: list[Out], ref: list[Out]) -> list[str]:
    """What differs between our outputs and ipykernel's for `snippet` (empty: parity)."""
    problems: list[str] = []
    for o in ours:
        page = o.data.get("text/html")
        if isinstance(page, str) and "<marimo-" in page:
            problems.append(f"{o.kind} text/html contains a <marimo-…> custom element (blank outside marimo)")
    if snippet.shows:
        rendered = " ".join(
            html.unescape(_TAG.sub(" ", v))
            for o in ours
            if o.kind in RICH
            for k, v in o.data.items()
            if k in ("text/html", "text/markdown") and isinstance(v, str)
        )
        missing = [t for t in snippet.shows if t not in rendered]
        if missing:
            problems.append(f"our HTML/markdown does not show {missing}")
    if snippet.check is not None:
        return problems + snippet.check(ours, ref)

    if [o.kind for o in ours] != [o.kind for o in ref]:
        problems.append(f"outputs {[o.kind for o in ours]} vs ipykernel {[o.kind for o in ref]}")
    rich_o = [o for o in ours if o.kind in RICH]
    rich_r = [o for o in ref if o.kind in RICH]
    for i, (a, b) in enumerate(zip(rich_o, rich_r, strict=False)):
        if a.mimes != b.mimes:
            problems.append(f"output {i} ({b.kind}) mimetypes {sorted(a.mimes)} vs ipykernel {sorted(b.mimes)}")
        if snippet.plain and b.plain is not None and normalize(a.plain or "") != normalize(b.plain):
            problems.append(f"output {i} text/plain {_short(a.plain or '')} vs ipykernel {_short(b.plain)}")
        if (a.display_id is None) != (b.display_id is None):
            problems.append(f"output {i} display_id {a.display_id!r} where ipykernel has {b.display_id!r}")
        if not snippet.content:
            continue
        meta_a = {k: v for k, v in a.metadata.items() if k in RENDERABLE}
        meta_b = {k: v for k, v in b.metadata.items() if k in RENDERABLE}
        if meta_a != meta_b:
            problems.append(f"output {i} metadata {meta_a!r} vs ipykernel {meta_b!r}")
        for mime in sorted(a.mimes & b.mimes):
            x, y = a.data[mime], b.data[mime]
            if mime == "image/png":
                if _png_size(x) != _png_size(y):
                    problems.append(f"output {i} image/png is {_png_size(x)} pixels vs ipykernel {_png_size(y)}")
            elif (normalize(x) != normalize(y)) if isinstance(x, str) and isinstance(y, str) else x != y:
                problems.append(f"output {i} {mime} {_short(x)} vs ipykernel {_short(y)}")

    # An update must name the display it replaces, as ipykernel's does.
    ids_o = [o.display_id for o in rich_o]
    ids_r = [o.display_id for o in rich_r]
    if len(ids_o) == len(ids_r):
        pairs = {(x, y) for x, y in zip(ids_o, ids_r, strict=True) if y is not None}
        if len({x for x, _ in pairs}) != len({y for _, y in pairs}) or len(pairs) != len({y for _, y in pairs}):
            problems.append(f"display ids {ids_o} do not pair up with ipykernel's {ids_r}")

    def stream(outs: list[Out], name: str) -> str:
        return "".join(o.data["text"] for o in outs if o.kind == f"stream:{name}")

    if normalize(stream(ours, "stdout")) != normalize(stream(ref, "stdout")):
        out_o, out_r = stream(ours, "stdout"), stream(ref, "stdout")
        problems.append(f"stdout {_short(out_o, 200)} vs ipykernel {_short(out_r, 200)}")
    err_o, err_r = _stderr(stream(ours, "stderr")), _stderr(stream(ref, "stderr"))
    if err_o != err_r:
        # (warnings reduced to `Category: message`)
        problems.append(f"stderr {_short(err_o, 200)} vs ipykernel {_short(err_r, 200)}")

    errs_o = [o for o in ours if o.kind == "error"]
    errs_r = [o for o in ref if o.kind == "error"]
    for a, b in zip(errs_o, errs_r, strict=False):
        if a.data["ename"] != b.data["ename"]:
            problems.append(f"ename {a.data['ename']!r} vs ipykernel {b.data['ename']!r}")
        ev_a, ev_b = (_SYNTAX_WHERE.sub("", e.data["evalue"]) for e in (a, b))
        if ev_a != ev_b:
            problems.append(f"evalue {a.data['evalue']!r} vs ipykernel {b.data['evalue']!r}")
        shown = _ANSI.sub("", "\n".join(a.data["traceback"]))
        last = snippet.code.strip().splitlines()[-1]
        if a.data["ename"] != "SyntaxError" and last not in shown:
            problems.append(f"the traceback does not show the user's line {last!r}")
        leaked = [ln.strip() for ln in shown.splitlines() if re.search(r"__marimo__cell|__scratch__|_mpk_", ln)]
        if leaked:
            problems.append(f"the traceback shows marimo's temp file or our wrapper's code: {leaked[0][:160]!r}")
        glued = re.escape(last) + r"\S|" + re.escape(last.split("#")[0].rstrip()) + r"\)"
        if re.search(glued, shown):
            problems.append(f"the traceback glues something to the user's line {last!r}")
    return problems


@dataclass
class Result:
    snippet: Snippet
    ours: list[Out]
    ref: list[Out]
    problems: list[str]


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)

    @property
    def matching(self) -> int:
        return sum(1 for r in self.results if not r.problems)

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def figure(self) -> str:
        pct = 100.0 * self.matching / self.total if self.total else 0.0
        return f"{self.matching}/{self.total} ({pct:.0f}%)"

    def mismatches(self) -> list[Result]:
        return [r for r in self.results if r.problems]

    def text(self) -> str:
        """The mismatch list: a to-do list for whoever works on outputs."""
        lines = [f"output parity with ipykernel: {self.figure} snippets match"]
        for name, why in self.skipped:
            lines.append(f"skipped: {name} ({why})")
        lines.append("")
        for r in self.mismatches():
            lines.append(f"== {r.snippet.name} [{r.snippet.kind}]")
            lines.extend("   | " + ln for ln in r.snippet.code.splitlines())
            lines.extend(f"   - {p}" for p in r.problems)
            if r.snippet.note:
                lines.append(f"   hint: {r.snippet.note}")
            lines.append("   ours:      " + ("; ".join(_describe(o) for o in r.ours) or "(nothing)"))
            lines.append("   ipykernel: " + ("; ".join(_describe(o) for o in r.ref) or "(nothing)"))
            lines.append("")
        exceptions = [s for s in SNIPPETS if s.exception]
        if exceptions:
            lines.append("documented exceptions (checked by their own rule, not against ipykernel):")
            lines.extend(f"   {s.name}: {s.exception}" for s in exceptions)
        return "\n".join(lines) + "\n"


def available(snippet: Snippet, importable: Callable[[str], bool] | None = None) -> str | None:
    """Why the snippet cannot run here (or where `importable` says what the notebook's env has), or None."""
    import importlib.util

    found = importable or (lambda m: importlib.util.find_spec(m) is not None)
    missing = [m for m in snippet.requires if not found(m)]
    return f"{', '.join(missing)} not installed" if missing else None


def run_corpus(
    ours_kc: Any, ref_kc: Any, snippets: list[Snippet] | None = None, importable: Callable[[str], bool] | None = None
) -> Report:
    """Run every snippet in both kernels (the two kernels in parallel) and compare.

    `importable` tells which modules the notebook's env has, when that is not this env.
    """
    report = Report()
    todo = []
    for s in snippets if snippets is not None else SNIPPETS:
        why = available(s) or available(s, importable)
        if why:
            report.skipped.append((s.name, why))
        else:
            todo.append(s)

    def run_all(kc: Any, into: list[list[Out]]) -> None:
        for s in todo:
            try:
                into.append(collect(kc, s.code))
            except Exception as e:  # noqa: BLE001 - a hung or broken snippet is a mismatch, not the end of the run
                into.append([Out("error", {"ename": "HARNESS", "evalue": f"{type(e).__name__}: {e}", "traceback": []})])

    ours: list[list[Out]] = []
    ref: list[list[Out]] = []
    worker = threading.Thread(target=run_all, args=(ref_kc, ref), daemon=True)
    worker.start()
    run_all(ours_kc, ours)
    worker.join()
    for s, o, r in zip(todo, ours, ref, strict=True):
        report.results.append(Result(s, o, r, compare(s, o, r)))
    return report
