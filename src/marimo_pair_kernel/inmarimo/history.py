"""IPython's input and output history in a Jupyter kernel's own namespace (state.py's pair dict).

As IPython's HistoryManager and DisplayHook keep them: `In[N]` and `_iN` the source of execute N
(as it ran, after the kernel rewrote IPython's syntax), `_i`, `_ii`, `_iii` the three before it;
`Out[N]` and `_N` the value execute N showed, and `_`, `__`, `___` the last three such values
(unless the user bound one of those names, or `_` is a builtin, e.g. gettext's). `_ih` and `_oh`
are `In` and `Out`. A notebook that defines `In` or `Out` itself keeps its own: the pair then
has none. Executes that store no history (silent ones, `store_history=False`) change nothing.
"""

NAMES = frozenset(("In", "Out"))  # hidden from %who, as IPython hides them
_UNDERS = ("_", "__", "___")


class History:
    """The rotating inputs and outputs IPython keeps besides the namespace, for one kernel."""

    __slots__ = ("inputs", "outputs", "fresh")

    def __init__(self):
        self.inputs = ["", "", ""]  # IPython's _i00 (the current input), _i, _ii
        self.outputs = ["", "", ""]  # _, __, ___ as this module last set them ('' at first, as IPython's)
        self.fresh = True


def _shared(ns, main, name, kind):
    """The pair's `In`/`Out`, made on first use; None where the user or the notebook owns the name."""
    value = ns.get(name)
    if type(value) is kind:
        return value
    if name in ns or name in main:
        return None
    value = ns[name] = [""] if kind is list else {}
    return value


def before(hist, ns, main, src, count):
    """Execute `count` is about to run `src` (IPython's store_inputs)."""
    inputs = _shared(ns, main, "In", list)
    if inputs is not None:
        while len(inputs) <= count:
            inputs.append("")
        inputs[count] = src
        ns["_ih"] = inputs
    if hist.fresh:
        hist.fresh = False
        for n, k in enumerate(_UNDERS):
            ns.setdefault(k, hist.outputs[n])
    i00, i, ii = hist.inputs
    hist.inputs = [src, i00, i]
    ns.update({"_i": i00, "_ii": i, "_iii": ii, "_i%d" % count: src})


def after(hist, ns, main, count, value):
    """Execute `count` showed `value` (IPython's display hook: nothing for None)."""
    import builtins
    if value is None:
        return
    outputs = _shared(ns, main, "Out", dict)
    if value is outputs:
        return  # as IPython: showing Out itself records nothing
    if outputs is not None:
        outputs[count] = value
        ns["_oh"] = outputs
    ns["_%d" % count] = value
    ours = all(ns.get(k, hist.outputs[n]) is hist.outputs[n] for n, k in enumerate(_UNDERS))
    hist.outputs = [value] + hist.outputs[:2]
    if ours and "_" not in builtins.__dict__:
        for n, k in enumerate(_UNDERS):
            ns[k] = hist.outputs[n]


def reset(ns):
    """%reset -f: IPython empties the output history and keeps the input history."""
    outputs = ns.get("Out")
    if type(outputs) is dict:
        outputs.clear()
