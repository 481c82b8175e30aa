"""What every classroom widget shares: a status line, error reporting, figure→PNG, the port list, and re-run
hygiene.

Re-running a notebook cell builds a *new* widget while the old one is still alive in the kernel. Each
widget therefore claims a slot (its model + its kind); claiming closes whoever held the slot before, which
removes that widget's observers and releases any serial port it holds. So there is one live prune slider,
flash button and digit pad per model: the newest.
"""
from __future__ import annotations

import functools
import html
import io
import logging
import traceback
import weakref
from typing import Any, Callable

import ipywidgets as widgets
from traitlets import Bunch, TraitError, validate

from bingo_kit.errors import KitError
from bingo_kit.board.ports import PortInfo, list_ports

log = logging.getLogger("bingo_kit.widgets")

GREEN = "#2e7d32"
RED = "#c62828"
GREY = "#757575"


class StatusLine(widgets.HTML):
    """One line telling the student what just happened, in plain words (never a traceback)."""

    _COLOURS = {"info": GREY, "ok": GREEN, "error": RED}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.kind = "info"
        self.text = ""
        self.last_error: BaseException | None = None
        self.add_class("bingo-status")

    def show(self, text: str, kind: str = "info") -> None:
        self.kind, self.text = kind, text
        colour = self._COLOURS[kind]
        # the class lets a browser test wait for "done" (ok/error) without parsing colours
        self.value = (f'<span class="bingo-status-{kind}" style="color:{colour}">{html.escape(text)}</span>'
                      if text else "")

    def info(self, text: str) -> None:
        self.show(text, "info")

    def ok(self, text: str) -> None:
        self.show(text, "ok")

    def error(self, text: str) -> None:
        self.show(text, "error")

    def clear(self) -> None:
        self.show("", "info")

    def report(self, error: BaseException) -> None:
        """Show an exception: a KitError's own sentence, anything else as a bug with its type."""
        self.last_error = error
        if isinstance(error, KitError):
            self.error(str(error))
        else:
            # Not something the student did: keep the traceback for whoever debugs it, show the gist.
            log.error("widget callback failed:\n%s", "".join(traceback.format_exception(error)))
            self.error(f"Something went wrong inside bingo-kit ({type(error).__name__}: {error}). "
                       "This is a bug; please tell your teacher.")


class ChoiceError(KitError, TraitError):
    """A dropdown set from code to something it does not offer. A TraitError too, so traitlets rolls back."""


class ChoiceDropdown(widgets.Dropdown):
    """A Dropdown that, set from code to a value it does not offer (`slider.board.value = "esp32"`), says so
    in one sentence listing its choices, instead of traitlets' 30-line TraitError.

    name:    what the student calls it ("method", "board").
    match:   maps what a student typed to an offered value, leniently ("Uno" -> "uno"), or returns None.
    refusal: a better sentence for a value that is known but not offered here, or None.
    """

    def __init__(self, *, name: str, match: Callable[[Any], Any] | None = None,
                 refusal: Callable[[Any], str | None] | None = None, **kwargs):
        self._choice_name, self._match, self._refusal = name, match, refusal
        super().__init__(**kwargs)

    @validate("value")
    def _validate_value(self, proposal):
        value = proposal.value
        offered = self._options_values
        if value is not None and value not in offered:
            matched = self._match(value) if self._match is not None else None
            if matched not in offered:
                sentence = self._refusal(value) if self._refusal is not None else None
                raise ChoiceError(sentence or f"{self._choice_name} can be {_either(offered)}; you wrote {value!r}.")
            value = matched
        return super()._validate_value(Bunch(proposal, value=value))


def _either(values) -> str:
    """'a' · 'a' or 'b' · 'a', 'b' or 'c'."""
    shown = [repr(value) for value in values]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"


def reporting(status_of: Callable[[Any], StatusLine], failed: Callable[[], Any] = lambda: None):
    """Decorate a widget callback so any exception lands in the widget's status line.

    ipywidgets would otherwise send it to the browser's log console, where no student ever looks.
    `status_of(self)` picks the status line; after a failure the wrapped method returns `failed()` (None, or
    e.g. a finished BoardJob for a method a cell may `await`).
    """
    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except Exception as error:  # noqa: BLE001 - reported, not swallowed
                status_of(self).report(error)
                return failed()
        return wrapper
    return decorate


def figure_png(figure) -> bytes:
    """Render a matplotlib figure (from `new_figure`) to PNG bytes, for a `widgets.Image`.

    The first render lays the figure out; later renders keep that layout, because re-solving the
    constrained layout costs more than drawing (the widgets change artists' data, never their size).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(figure.canvas, FigureCanvasAgg):
        FigureCanvasAgg(figure)  # attach once: savefig would build a new canvas and renderer every call
    buffer = io.BytesIO()
    figure.canvas.print_png(buffer)
    if figure.get_layout_engine() is not None and not getattr(figure, "_bingo_layout_frozen", False):
        figure.set_layout_engine("none")
        figure._bingo_layout_frozen = True
    return buffer.getvalue()


def canvas_png(canvas) -> bytes:
    """PNG of what is on an Agg canvas now, without redrawing it (for blitted figures)."""
    import numpy as np
    from PIL import Image  # matplotlib depends on Pillow

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(canvas.buffer_rgba())).save(buffer, format="png", compress_level=1)
    return buffer.getvalue()


def new_figure(width: float, height: float, dpi: int = 72):
    """A matplotlib Figure that is not registered with pyplot (so nothing pops up or leaks)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=dpi, layout="constrained")


# --- the port list -------------------------------------------------------------------------------

def fill_port_dropdown(dropdown: widgets.Dropdown, *simulated: tuple[str, str]) -> list[PortInfo]:
    """Put the USB serial ports (Arduino-looking first) and then the simulated boards (label, value) in
    `dropdown`, keeping the chosen port when it is still there. Returns the USB ports it listed.

    Ports without a USB id (a PC's built-in COM1 / ttyS0) are left out: no Arduino lives there. Even if
    listing fails, the simulated boards stay selectable.
    """
    previous = dropdown.value
    usb: list[PortInfo] = []
    try:
        usb = [info for info in list_ports() if info.is_arduino or info.vid is not None]
    finally:
        options = [(f"{info.device} — {info.board_guess or info.description or 'unknown USB serial'}", info.device)
                   for info in usb] + list(simulated)
        dropdown.options = options
        values = [value for _, value in options]
        dropdown.value = previous if previous in values else values[0]
    return usb


# --- re-run hygiene ------------------------------------------------------------------------------

# owner (usually the torch model) -> {widget kind -> the live widget}; weak on both sides so a dropped
# model or widget is simply forgotten.
_SLOTS: "weakref.WeakKeyDictionary[Any, dict[str, weakref.ref]]" = weakref.WeakKeyDictionary()


def live_widget(owner: Any, kind: str):
    """The widget of this kind currently claiming `owner`, or None."""
    try:
        ref = _SLOTS.get(owner, {}).get(kind)
    except TypeError:  # owner cannot be weakly referenced
        return None
    widget = ref() if ref else None
    return None if widget is None or widget.closed else widget


class KitWidget(widgets.VBox):
    """Base of the classroom widgets: tracks its observers so `close()` really detaches everything."""

    kind = "widget"
    closed = False

    def __init__(self, children=(), **kwargs):
        super().__init__(children=list(children), **kwargs)
        self.closed = False
        self._observers: list[tuple[widgets.Widget, Callable, str]] = []
        self._click_handlers: list[tuple[widgets.Button, Callable]] = []

    def _claim(self, owner: Any) -> None:
        """Become the live widget of this kind for `owner`, closing the previous one (re-run cell)."""
        previous = live_widget(owner, self.kind)
        if previous is not None and previous is not self:
            previous.close()
        try:
            _SLOTS.setdefault(owner, {})[self.kind] = weakref.ref(self)
        except TypeError:
            pass

    def _observe(self, control: widgets.Widget, handler: Callable, name: str = "value") -> None:
        control.observe(handler, names=name)
        self._observers.append((control, handler, name))

    def _on_click(self, button: widgets.Button, handler: Callable) -> None:
        button.on_click(handler)
        self._click_handlers.append((button, handler))

    def observer_count(self) -> int:
        """How many callbacks this widget has attached (tests use it to prove re-runs don't pile up)."""
        return len(self._observers) + len(self._click_handlers)

    def _release(self) -> None:
        """Subclasses free external resources here (serial ports, ...)."""

    def close(self) -> None:
        if self.closed or not hasattr(self, "_observers"):  # twice, or a constructor that raised early
            return
        self.closed = True
        for control, handler, name in self._observers:
            control.unobserve(handler, names=name)
        for button, handler in self._click_handlers:
            button.on_click(handler, remove=True)
        self._observers.clear()
        self._click_handlers.clear()
        try:
            self._release()
        finally:
            _close_tree(self)


def _close_tree(widget: widgets.Widget) -> None:
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widgets.Widget.close(widget)
