"""The package's layers point one way: no import circle among the kernel's modules.

Every import statement counts as an arrow, wherever it stands: at module level, inside a
function (a lazy import still ties the two layers) and under `if TYPE_CHECKING:` (a type one
layer shares with another belongs below both). One kind of arrow is left out: a submodule's
to its own package (`from . import magic` in magics/cells.py). Python imports a package before
any of its submodules, so that arrow is always there; a package's arrows to its submodules (the
magic registry loading its families) count, and so does whatever those submodules import.

The code that runs inside marimo (the inmarimo/ package) is in the graph too: its modules import
each other as the kernel's do (it is installed as a real package there, loader.py), and the
kernel's modules never import it.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from marimo_pair_kernel.client import parse_version
from marimo_pair_kernel.plaintext import html_to_text

PACKAGE = "marimo_pair_kernel"
ROOT = Path(__file__).resolve().parent.parent / "src" / PACKAGE


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imported(module: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that `module` imports anywhere in its text."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            names = [origin] + [f"{origin}.{a.name}" for a in node.names]
        for name in names:
            # `import a.b.c` and `from a.b import c` also import the packages above.
            while name:
                if name in known and name != module:
                    found.add(name)
                name = name.rpartition(".")[0]
    return {m for m in found if not module.startswith(m + ".")}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of two or more modules that each reach all the others (a few dozen modules:
    one walk from each is plenty)."""
    reach: dict[str, set[str]] = {}
    for start in graph:
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            m = todo.pop()
            if m not in seen:
                seen.add(m)
                todo.extend(graph.get(m, ()))
        reach[start] = seen
    groups = {tuple(sorted({m} | {n for n in reach[m] if m in reach[n]})) for m in graph if m in reach[m]}
    return sorted(list(g) for g in groups)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {m: _imported(m, p, known) for m, p in modules.items()}


def test_no_import_circle_among_the_kernels_modules() -> None:
    graph = _graph()
    circles = _circles(graph)
    said = [
        " ; ".join(f"{a} -> {b}" for a in comp for b in sorted(graph[a]) if b in comp) for comp in circles
    ]
    assert not circles, "import circles:\n" + "\n".join(said)


def test_the_circle_finder_sees_a_lazy_and_a_type_only_circle(tmp_path: Path) -> None:
    # The finder itself: an arrow inside a function and one under TYPE_CHECKING still close a circle.
    (tmp_path / "a.py").write_text("def f():\n    from . import b\n")
    (tmp_path / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import f\n")
    (tmp_path / "c.py").write_text("from . import a\n")
    known = {"p.a", "p.b", "p.c"}
    graph = {f"p.{n}": _imported(f"p.{n}", tmp_path / f"{n}.py", known) for n in "abc"}
    assert _circles(graph) == [["p.a", "p.b"]]


def test_the_graph_reads_the_packages_imports() -> None:
    graph = _graph()
    # A module-level, a lazy (function-local) and a type-only import, each seen.
    assert "marimo_pair_kernel.traceback_text" in graph["marimo_pair_kernel.rebuilt"]
    assert "marimo_pair_kernel.tracebacks" in graph["marimo_pair_kernel.outputs"]
    assert "marimo_pair_kernel.client" in graph["marimo_pair_kernel.scratchpad"]
    assert "marimo_pair_kernel.launcher" in graph["marimo_pair_kernel.magics.opening"]
    assert "marimo_pair_kernel.magics.cells" in graph["marimo_pair_kernel.magics"]  # the registry's families
    assert "marimo_pair_kernel.magics" not in graph["marimo_pair_kernel.magics.cells"]  # always there
    assert not any(m.startswith("marimo_pair_kernel.runtime") for m in graph)
    # The code that runs inside marimo: its modules' arrows, lazy ones too, and none from the kernel's.
    inside = "marimo_pair_kernel.inmarimo"
    assert f"{inside}.values" in graph[f"{inside}.hooks"]
    assert f"{inside}.state" in graph[inside]  # the package's face imports what it exports
    assert f"{inside}.values" in graph[f"{inside}.capture"]
    kernels = [m for m in graph if not m.startswith(inside)]
    assert kernels and not [m for m in kernels if any(d.startswith(inside) for d in graph[m])]


def test_the_server_boot_is_stdlib_only_and_never_imported() -> None:
    # It runs in the Python that runs marimo (maybe another venv, without this package).
    boot = ROOT / "server_boot.py"
    tree = ast.parse(boot.read_text(encoding="utf-8"))
    tops = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            tops |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "server_boot.py imports from this package"
            tops.add((node.module or "").split(".")[0])
    assert tops and tops <= set(sys.stdlib_module_names) | {"__future__"}, tops - set(sys.stdlib_module_names)
    graph = _graph()
    assert not [m for m, deps in graph.items() if "marimo_pair_kernel.server_boot" in deps]


def test_html_to_text_keeps_whitespace_and_decodes_entities() -> None:
    highlighted = '<span class="codehilite"><div class="highlight"><pre><span></span>  x = 1 &lt; 2\n\ty</pre></div>'
    assert html_to_text(highlighted + "</span>") == "  x = 1 < 2\n\ty"
    assert html_to_text("<b>a</b> &amp; <i>b</i>") == "a & b"


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("0.23.14", (0, 23, 14)),
        (" 0.25.2\n", (0, 25, 2)),
        ("0.21", (0, 21, 0)),
        ("v0.22.0", (0, 22, 0)),
        ("0.23.14.dev3+gabc", (0, 23, 14)),  # a dev build of a release counts as that release
        ("0.24.0rc1", (0, 24, 0)),
        ("", None),
        (None, None),
        ("not a version", None),
    ],
)
def test_parse_version(text: str | None, want: tuple[int, int, int] | None) -> None:
    assert parse_version(text) == want
