"""Hooks in the kernel's own scratchpad runs: display(), plt.show(), mo.output, input(), the last value."""

from . import base, late, sanitize, shell, values

INPUT_REFUSED = (
    "input() cannot be answered here: this code runs in marimo's scratchpad for a Jupyter "
    "client (marimo-pair-kernel), and marimo would wait for a browser prompt that the client "
    "never sees. Put the value in the code instead, or use a mo.ui.text element in a %%cell."
)


def guard_input(ns):
    """Make input() in scratchpad code fail at once instead of waiting for a browser forever.

    marimo gives the notebook's namespace (`__main__`, which each scratchpad run copies) its
    own `input`; cells (the person's own runs) keep it, only code running as the scratch
    cell gets the error.
    """
    current = ns.get("input")
    if current is None or getattr(current, "_mpk_guard", False):
        return
    def input(prompt=""):
        try:
            from marimo._runtime.context import get_context
            in_scratch = get_context().execution_context.cell_id == "__scratch__"
        except Exception:
            in_scratch = False
        if in_scratch:
            raise RuntimeError(INPUT_REFUSED)
        return current(prompt)
    input._mpk_guard = True
    ns["input"] = input


# -- hooks: display(), plt.show(), mo.output in the kernel's own runs ----------------------------

def publish(data, metadata=None, transient=None, update=False):
    late._emit({"k": "update" if update else "display", "data": data, "metadata": metadata or {},
           "transient": transient or {}})


def _merge(md, extra):
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(md.get(k), dict):
            md[k] = dict(md[k], **v)
        else:
            md[k] = v


def _display(*objs, include=None, exclude=None, metadata=None, transient=None, display_id=None,
             raw=False, clear=False, update=False, **kwargs):
    """IPython's display(), publishing to the Jupyter client (see MARK)."""
    import uuid
    transient = dict(transient or {})
    metadata = metadata or {}
    if display_id:
        if display_id is True:
            display_id = uuid.uuid4().hex
        transient["display_id"] = display_id
    if update and "display_id" not in transient:
        raise TypeError("display_id required for update_display")
    if not objs and display_id:
        objs, raw = [{}], True
    if clear:
        late._emit({"k": "clear", "wait": True})
    for obj in objs:
        if raw:
            if type(obj).__name__ == "ReprMimeBundle":
                obj = obj.data
            if isinstance(obj, dict):
                obj, md = values._finish(dict(obj), dict(metadata))  # the same caps as formatted output
                publish(obj, md, transient, update)
            continue
        b = values.bundle(obj, include, exclude)
        if b is None:
            continue
        if metadata:
            _merge(b["metadata"], metadata)
        publish(b["data"], b["metadata"], transient, update)
    if display_id:
        try:
            from IPython.core.display_functions import DisplayHandle as handle
        except Exception:
            handle = DisplayHandle  # without IPython
        return handle(display_id)
    return None


class DisplayHandle:
    """IPython's DisplayHandle, for display(..., display_id=True) without IPython."""

    def __init__(self, display_id=None):
        import uuid
        self.display_id = display_id or uuid.uuid4().hex

    def __repr__(self):
        return "<%s display_id=%s>" % (self.__class__.__name__, self.display_id)

    def display(self, obj, **kwargs):
        _display(obj, display_id=self.display_id, **kwargs)

    def update(self, obj, **kwargs):
        _display(obj, display_id=self.display_id, update=True, **kwargs)


def _patch_ipython():
    try:
        import IPython.core.display_functions as dfn
        import IPython.display as ipd
    except Exception:
        return
    # A runtime of another version may have patched already: wrap what it wrapped.
    marimo_display = base._unwrapped(getattr(dfn, "display", None))
    if getattr(dfn.display, "_mpk", None) == __name__:
        return
    marimo_update = base._unwrapped(getattr(dfn, "update_display", None))
    marimo_clear = base._unwrapped(dfn.clear_output)

    def display(*objs, **kwargs):
        if late._in_our_run():
            return _display(*objs, **kwargs)
        return marimo_display(*objs, **kwargs)

    def update_display(obj, *, display_id, **kwargs):
        if late._in_our_run():
            return _display(obj, display_id=display_id, update=True, **kwargs)
        return marimo_update(obj, display_id=display_id, **kwargs)

    def clear_output(wait=False):
        if late._in_our_run():
            return late._emit({"k": "clear", "wait": bool(wait)})
        return marimo_clear(wait)

    for f, orig in ((display, marimo_display), (update_display, marimo_update), (clear_output, marimo_clear)):
        f._mpk, f._mpk_orig = __name__, orig
        f.__doc__ = getattr(orig, "__doc__", None)
    for mod in (ipd, dfn):
        mod.display, mod.update_display, mod.clear_output = display, update_display, clear_output


def _patch_output(mod):
    """mo.output.append/replace/clear (and marimo's own display(), bound before ours)."""
    if getattr(mod.append, "_mpk", None) == __name__:
        return
    append, replace, clear = base._unwrapped(mod.append), base._unwrapped(mod.replace), base._unwrapped(mod.clear)

    def new_append(value):
        if late._in_our_run():
            return _display(value)
        return append(value)

    def new_replace(value):
        if late._in_our_run():
            return _display(value, clear=True)
        return replace(value)

    def new_clear():
        if late._in_our_run():
            return late._emit({"k": "clear", "wait": False})
        return clear()

    for f, orig in ((new_append, append), (new_replace, replace), (new_clear, clear)):
        f._mpk, f._mpk_orig = __name__, orig
    import sys
    # `mo.output` is the package, which re-exports these functions by value.
    for m in (mod, sys.modules.get("marimo._runtime.output")):
        if m is not None:
            m.append, m.replace, m.clear = new_append, new_replace, new_clear


def _patch_mpl(mod):
    """plt.show() (marimo's backend) shows the figures to Jupyter, then closes them."""
    orig = base._unwrapped(getattr(mod, "_internal_show", None))
    if orig is None or getattr(mod._internal_show, "_mpk", None) == __name__:
        return

    def _internal_show(canvas):
        if not late._in_our_run():
            return orig(canvas)
        fig = canvas.figure
        try:
            b = values.bundle(fig)
            if b is not None:
                publish(b["data"], b["metadata"])
        finally:
            import matplotlib.pyplot as plt
            plt.close(fig)

    _internal_show._mpk, _internal_show._mpk_orig = __name__, orig
    mod._internal_show = _internal_show


class _AfterImport:
    """Patch a module right after it loads: matplotlib may be imported by the code we run."""

    def __init__(self, patches):
        self.patches = patches

    def find_spec(self, name, path=None, target=None):
        import sys
        fn = self.patches.get(name)
        if fn is None:
            return None
        spec = None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            try:
                spec = finder.find_spec(name, path, target)
            except Exception:
                return None  # let the import system ask them itself; we only lose our patch
            if spec is not None:
                break
        if spec is None:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_and_patch(module, exec_module=exec_module, fn=fn):
            exec_module(module)
            try:
                fn(module)
            except Exception:
                pass

        loader.exec_module = exec_and_patch
        return spec


def _ns_display(*objs, **kwargs):
    """display() without an import, as ipykernel's namespace has it: IPython's (hooked here)."""
    try:
        import IPython.display as ipd
        fn = ipd.display
    except Exception:
        fn = None
    if fn is not None and fn is not _ns_display:
        return fn(*objs, **kwargs)
    if late._in_our_run():
        return _display(*objs, **kwargs)
    print(*objs)


def install_hooks(ns):
    """Hook display(), plt.show() and mo.output for the kernel's own runs.

    Modules not imported yet are patched when they are (importing IPython here would cost
    marimo half a second at install, in front of the first completion request).
    """
    import sys
    patches = {
        # marimo patches IPython's display() when the IPython package finishes loading: after it.
        "IPython": lambda mod: _patch_ipython(),
        "marimo._output.mpl": _patch_mpl,
        "marimo._runtime.output._output": _patch_output,
    }
    if "IPython.core.display_functions" in sys.modules:
        _patch_ipython()
    for name, fn in patches.items():
        if name != "IPython" and name in sys.modules:
            fn(sys.modules[name])
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "_AfterImport"]
    sys.meta_path.insert(0, _AfterImport(patches))
    late.install_late_hooks()
    _ns_display._mpk = __name__
    if getattr(ns.get("display", _ns_display), "_mpk", None):
        ns["display"] = _ns_display
    shell.install_ipython(ns)  # get_ipython() (shell.py)


def _open_figures():
    """Figures still open at the end (marimo closes all after every run): ipykernel shows them."""
    import sys
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return []
    try:
        from matplotlib._pylab_helpers import Gcf
        managers = list(Gcf.get_all_fig_managers())
    except Exception:
        return []
    out = []
    for m in managers:
        fig = m.canvas.figure
        try:
            b = values.bundle(fig)
            if b is not None:
                out.append(b)
        finally:
            plt.close(fig)
    return out


def show(value, url="", _same=None):
    """The tail of every kernel run: the value's bundle and the figures still open.

    Without a value the figures go out as displays now (ipykernel sends them last, and nothing
    comes after); with one they travel in the payload, after the execute_result.
    """
    import json
    if url:
        sanitize.URL = url
    result = values.bundle(value)
    after = _open_figures()
    if result is None:
        for b in after:
            publish(b["data"], b["metadata"])
        return None
    payload = {"value": result, "after": after}
    text = json.dumps(payload, default=str)
    if len(text) > 7_000_000:
        # marimo replaces a cell output over 8 MB; keep the value, shrink the rest to notes.
        base._note("this execute's figures add up to %.1f MB; only the first is shown." % (len(text) / 1e6))
        payload["after"] = after[:1]
        text = json.dumps(payload, default=str)
    return {"marimo_pair_kernel": text}
