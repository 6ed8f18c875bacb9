"""What the cells an op of ours runs leave behind: their value, mo.output items and plt.show() figures.

Hooks registered with marimo outlive any one version of this package (marimo's runner and its
console broadcaster hold them), so their state lives in one module of a fixed name, the stash,
and the hooks look the newest version's functions up there at each call: a kernel of a newer
version, installed beside an older one in the same marimo kernel, takes the hooks over. The stash
also keeps an op's answer when a cell it ran raised (marimo then drops the scratchpad's value),
for the kernel's `recover`.
"""

import sys
import types

from . import formatter, values

STASH = "_marimo_pair_kernel_stash"
MAX_MEDIA, MAX_MEDIA_CHARS = 20, 20_000_000  # what one run may hold here; the page shows them all


def stash():
    """The stash module, made (and pointed at this version's hooks) when needed."""
    mod = sys.modules.get(STASH)
    if mod is None:
        mod = sys.modules[STASH] = types.ModuleType(STASH)
    state = mod.__dict__
    state.setdefault("answers", {})
    state.setdefault("capture", None)  # {cell id: what its run left} while an op of ours runs cells
    state.setdefault("media", {})  # cell id -> [(mimetype, data)] its plt.show() sent, while armed
    state.setdefault("media_dropped", {})  # cell id -> how many more it sent, past the bound
    state.setdefault("hooked", None)  # the marimo kernel's hooks that have run_hook
    state["MAX_MEDIA"], state["MAX_MEDIA_CHARS"] = MAX_MEDIA, MAX_MEDIA_CHARS
    if state.get("keep_output") is not keep_output:
        # An older version's run_hook calls the stash's keep_output by name: this one from now on.
        state["keep_output"] = keep_output
        state["on_media"] = on_media
        state.setdefault("run_hook", run_hook)
    return mod


def keep_answer(nonce, answer):
    """Keep an op's answer under `nonce` (the last 16), for the kernel to fetch after a cell error."""
    answers = stash().answers
    while len(answers) >= 16:
        answers.pop(next(iter(answers)))
    answers[nonce] = answer


def run_hook(*args):
    # What marimo's runner holds; it looks keep_output up at each call (so a newer one applies).
    return sys.modules[STASH].keep_output(*args)


def keep_output(*args):
    # A post-execution hook of marimo's runner: (cell, context, run_result). While an op of
    # ours runs cells, keep the value and the mo.output items of those cells, as marimo
    # holds them right after the run (nothing is run again to show them).
    s = sys.modules[STASH]
    want = s.capture
    if want is None or len(args) < 2:
        return
    cell, run_result = args[0], args[-1]
    cid = getattr(cell, "cell_id", None)
    if cid in want:
        items = getattr(run_result, "accumulated_output", None)
        want[cid] = {
            "value": getattr(run_result, "output", None),
            "items": list(getattr(items, "_items", None) or ()),
            "failed": getattr(run_result, "exception", None) is not None,
            "media": s.media.pop(cid, []),
            "media_dropped": s.media_dropped.pop(cid, 0),
        }


def on_media(channel, mimetype, data, cell_id):
    # plt.show() in a cell sends its figure as console "media", not as the cell's output:
    # while armed, keep a copy of the media our cells send.
    s = sys.modules[STASH]
    want = s.capture
    if want is None or str(getattr(channel, "value", channel)) != "media":
        return
    cid = cell_id
    if cid is None:
        try:
            from marimo._runtime.context import get_context
            cid = get_context().stream.cell_id
        except Exception:
            cid = None
    if cid in want and isinstance(data, str):
        kept = s.media.setdefault(cid, [])
        if len(kept) < MAX_MEDIA and sum(len(d) for _, d in kept) + len(data) <= MAX_MEDIA_CHARS:
            kept.append((str(getattr(mimetype, "value", mimetype)), data))
        else:
            s.media_dropped[cid] = s.media_dropped.get(cid, 0) + 1


def tap(original):
    """marimo's console broadcaster, also handing media to the stash's on_media (then passing it on)."""
    def broadcast_console_output(channel, mimetype, data, cell_id=None, *args, **kwargs):
        hook = getattr(sys.modules.get(STASH), "on_media", None)
        if hook is not None:
            hook(channel, mimetype, data, cell_id)
        return original(channel, mimetype, data, cell_id, *args, **kwargs)
    broadcast_console_output._mpk_tap = True
    return broadcast_console_output


def arm(ctx, ids):
    """Arm the hooks for these cells (installed once per marimo kernel; idle when not armed)."""
    s = stash()
    hooks = getattr(getattr(ctx, "_kernel", None), "_hooks", None)
    if hooks is None or not hasattr(hooks, "add_post_execution"):
        return False
    if s.hooked is not hooks:
        hooks.add_post_execution(s.run_hook)
        s.hooked = hooks
        try:
            from marimo._messaging.notification_utils import CellNotificationUtils as U
            if not getattr(U.broadcast_console_output, "_mpk_tap", False):
                U.broadcast_console_output = staticmethod(tap(U.broadcast_console_output))
        except Exception:
            pass
    s.media.clear()
    s.media_dropped.clear()
    s.capture = {i: None for i in ids}
    return True


def disarm():
    stash().capture = None


def outputs(target):
    """What the cell shows on the page, as Jupyter displays: its value, else its mo.output items."""
    s = stash()
    got = (s.capture or {}).get(target)
    s.capture = None
    s.media.clear()
    s.media_dropped.clear()
    if not got or got["failed"]:
        return []
    out = []
    for mimetype, data in got.get("media") or ():  # figures plt.show() put in the console, as they came
        try:
            shown = values.from_marimo(mimetype, data)
        except Exception:
            shown = None
        if shown:
            out.append({"data": {"text/plain": formatter.media_text(shown), **shown}, "metadata": {}})
    if got.get("media_dropped"):
        note = "... %d more figures, shown on the marimo page" % got["media_dropped"]
        out.append({"data": {"text/plain": note}, "metadata": {}})
    shown_values = [got["value"]] if got["value"] is not None else got["items"]
    for v in shown_values:
        try:
            b = values.bundle(v)
        except Exception:
            b = None
        if b:
            out.append(b)
    return out
