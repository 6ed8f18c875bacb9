"""A mo.ui.form as Jupyter widgets: its buttons, and the values its widgets hold until Submit.

A form is a VBox of its element's widget(s), then a Clear button (with `show_clear_button`), then
Submit. Neither button is a marimo element. The widgets inside hold their moves (`Shown.held`)
until Submit sets the form to them, as marimo's page holds them in the form's buffer.

Clear does what the page's Clear does (FormPlugin's `clearInputs`: every element inside goes back
to its `data-initial-value`, the value it was made with): each held widget goes back to its
element's `initial`, and marimo is not set. With `clear_on_submit` the same happens after a
Submit that marimo took (one its `validate=` refused keeps what was typed, as on the page).

Pure functions over the form's `Shown` tree; widgets.py sends the states and holds the lock.
"""

from __future__ import annotations

from typing import Any

from .widget_models import ElementSpec, Model, Shown

SUBMIT = "form-submit"  # a form's Submit button: no marimo element of its own
CLEAR = "form-clear"  # a form's Clear button (show_clear_button)
BUTTONS = (SUBMIT, CLEAR)


def buttons(form: ElementSpec) -> list[tuple[ElementSpec, Model]]:
    """The form's buttons after its element's widget: Clear (if shown), then Submit."""
    out = []
    if form.args.get("show-clear"):
        out.append((ElementSpec(f"{form.id}/clear", form.cell, CLEAR, "", {}, None), Model(
            "ButtonModel", "ButtonView", "ButtonStyleModel", button_state(form, CLEAR), None)))
    out.append((ElementSpec(f"{form.id}/submit", form.cell, SUBMIT, "", {}, None), Model(
        "ButtonModel", "ButtonView", "ButtonStyleModel", button_state(form, SUBMIT), None)))
    return out


def button_state(form: ElementSpec, kind: str) -> dict[str, Any]:
    """A button's synced state for the form's arguments (a rerun may change them)."""
    a = form.args
    if kind == CLEAR:
        return {"description": str(a.get("clear-label") or "Clear"), "button_style": "", "icon": "",
                "tooltip": a.get("clear-tooltip"), "disabled": False}
    loading = bool(a.get("loading"))  # the page's Submit is disabled and spins while loading
    return {"description": str(a.get("submit-label") or "Submit"), "button_style": "primary",
            "icon": "spinner spin" if loading else "", "tooltip": a.get("submit-tooltip"),
            "disabled": bool(a.get("submit-disabled")) or loading}


def layout(form: ElementSpec) -> dict[str, Any]:
    """The form box's layout: a border as the page draws one (`bordered`, the default)."""
    if form.args.get("bordered") is False:
        return {}
    line = "1px solid var(--jp-border-color1, #ccc)"
    return {"border_top": line, "border_right": line, "border_bottom": line, "border_left": line,
            "padding": "4px 8px"}


def button_of(form: Shown, kind: str) -> Shown | None:
    return next((k for k in form.kids if k.spec.kind == kind), None)


def held(shown: Shown) -> Any:
    """The value a form's widget holds, in marimo's form: a box's is {key: its element's value}."""
    if shown.spec.kind == "dict":
        keys = shown.spec.args.get("keys") or []
        return {str(k): held(kid) for k, kid in zip(keys, shown.kids, strict=False)}
    return shown.held


def to_hold(shown: Shown, wire: Any) -> list[tuple[Shown, Any]]:
    """The form's widgets (a box: its elements') and the value each takes from the form's `wire`."""
    if shown.spec.kind == "dict":
        out: list[tuple[Shown, Any]] = []
        for key, kid in zip(shown.spec.args.get("keys") or [], shown.kids, strict=False):
            if isinstance(wire, dict) and str(key) in wire:
                out += to_hold(kid, wire[str(key)])
        return out
    return [(shown, wire)]


def to_clear(shown: Shown) -> list[tuple[Shown, Any]]:
    """The form's widgets (a box: its elements') and the value each was made with."""
    if shown.spec.kind == "dict":
        return [pair for kid in shown.kids for pair in to_clear(kid)]
    return [(shown, shown.spec.initial)]
