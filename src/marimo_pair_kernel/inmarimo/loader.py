"""Installs this package in a marimo kernel from the text of its files (the kernel sends them once).

The Jupyter kernel process never imports the package: it reads the files as text
(scratchpad.install_code) and this module, run in the notebook's Python, makes real modules of
them under a name that carries a hash of the texts (`_mpk_<hash>`, submodules
`_mpk_<hash>.<stem>`), so relative imports between them work, and a marimo kernel that holds an
older version gets this one beside it. Every frame of these modules carries one file name, which
the kernel's traceback code recognises and drops.
"""

import importlib.util
import sys


class _Source:
    """An importlib finder and loader for the package's texts, while `install` runs."""

    def __init__(self, name, texts, filename):
        self.name, self.texts, self.filename = name, texts, filename

    def find_spec(self, fullname, path=None, target=None):
        if fullname == self.name:
            return importlib.util.spec_from_loader(fullname, self, origin=self.filename, is_package=True)
        head, _, stem = fullname.rpartition(".")
        if head == self.name and stem in self.texts:
            return importlib.util.spec_from_loader(fullname, self, origin=self.filename)
        return None

    def create_module(self, spec):
        return None  # the default module

    def exec_module(self, module):
        exec(compile(self.get_source(module.__name__), self.filename, "exec"), module.__dict__)

    def get_source(self, fullname):
        return self.texts["__init__" if fullname == self.name else fullname.rpartition(".")[2]]


def install(name, sources, filename):
    """The package `name` made of `sources` ([(stem, text)], "__init__" among them), installed once.

    It is imported as any package is (its modules import each other in the usual order), through
    a finder that is in sys.meta_path only meanwhile; then every module the package did not import.
    If one fails, none stays installed.
    """
    if name in sys.modules:
        return sys.modules[name]
    texts = dict(sources)
    finder = _Source(name, texts, filename)
    sys.meta_path.insert(0, finder)
    try:
        package = importlib.import_module(name)
        for stem in texts:
            if stem != "__init__":
                importlib.import_module(name + "." + stem)
    except BaseException:
        for full in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[full]
        raise
    finally:
        sys.meta_path.remove(finder)
    return package
