"""Prune slider: drag 0–99 % pruned and watch accuracy, survivors and the fit on the board change at once.

Every move calls the core's `prune_fraction` on the student's model (so what they flash next is what they
see), then updates the view in place: text widgets, a progress bar as the fit gauge, and one matplotlib
figure rendered to a PNG in a `widgets.Image` (swapping bytes is faster and flicker-free compared with
clearing an Output area). The goal is ≤ 100 ms per move for the digits model; benchmarks/widgets.py
measures it.
"""
from __future__ import annotations

import math
import time

import numpy as np

import ipywidgets as widgets

from bingo_kit import pruning
from bingo_kit.methods import find_method, get_method
from bingo_kit.boards import BOARDS, get_board
from bingo_kit.errors import KitError
from bingo_kit.export import blob_size
from bingo_kit.training import accuracy
from bingo_kit.widgets.common import (GREEN, RED, ChoiceDropdown, KitWidget, StatusLine, figure_png, new_figure,
                                      reporting)

BASELINES = ("magnitude", "random")  # offered always; the scored method is offered beside them
PRUNED_GREY = np.array([0.82, 0.82, 0.82, 1.0])
GAP_WHITE = np.array([1.0, 1.0, 1.0, 1.0])


class PruneSlider(KitWidget):
    """Pick a method, drag the slider, see what is left.

    model:  the trained TinyMLP; the slider prunes it in place.
    data:   the Dataset it was trained on (test accuracy, and the 8×8 picture shape).
    scores: significance scores ({"layers.0": tensor, ...}) from a scored training run. The method that made
            them is offered in the menu only when they are given (a lesson before BINGO shows no BINGO).
    scored_by: the method (id, label or alias of bingo_kit.methods) that made ``scores``.
    board:  the board the fit gauge compares against ("uno", "nano", "mega").
    fit_gauge, floor_button: show the board's fit gauge and the "find the floor" search (lessons show them
            once they have been taught).
    """

    kind = "prune_slider"

    def __init__(self, model, data, *, scores=None, scored_by: str = "bingo", board: str = "uno",
                 method: str | None = None, seed: int = 0, floor_drop: float = 1.0, fit_gauge: bool = True,
                 floor_button: bool = True):
        super().__init__()
        self.model, self.data, self.scores, self.seed = model, data, scores, seed

        scored = get_method(scored_by)
        if not scored.scored_while_training:
            raise KitError(f"scored_by names the method that made the scores; {scored.id!r} makes none.")
        offered = [get_method(m) for m in BASELINES] + ([scored] if scores is not None else [])
        default_method = get_method(method or (scored.id if scores is not None else "magnitude")).id
        if default_method == scored.id and scores is None:
            raise KitError(f"{scored.label} needs significance scores: train with train_scored(...) and pass "
                           "scores=... to the slider, or pick magnitude or random.")
        if default_method not in [m.id for m in offered]:
            raise KitError(f"The slider offers {', '.join(m.id for m in offered)}; got method={method!r}.")
        self.method = ChoiceDropdown(options=[(m.label, m.id) for m in offered], value=default_method,
                                     description="method", layout=widgets.Layout(width="340px"),
                                     name="method", match=_method_id, refusal=self._method_refusal)
        self.method.add_class("bingo-prune-method")
        self.fraction = widgets.IntSlider(value=0, min=0, max=99, step=1, description="pruned %",
                                          continuous_update=True, layout=widgets.Layout(width="420px"))
        self.fraction.add_class("bingo-prune-fraction")
        self.board = ChoiceDropdown(options=[(b.name, key) for key, b in BOARDS.items()], value=board,
                                    description="board", layout=widgets.Layout(width="260px"),
                                    name="board", match=_board_key)
        self.board.add_class("bingo-prune-board")

        self.accuracy_text = widgets.HTML()
        self.accuracy_text.add_class("bingo-prune-accuracy")
        self.kept_text = widgets.HTML()
        self.kept_text.add_class("bingo-prune-kept")
        self.fit_gauge = widgets.FloatProgress(min=0, max=1, value=0, description="fit",
                                               layout=widgets.Layout(width="300px"))
        self.fit_gauge.add_class("bingo-fit-gauge")
        self.fit_text = widgets.HTML()
        self.fit_text.add_class("bingo-fit-text")
        self.floor_drop = widgets.BoundedFloatText(value=floor_drop, min=0.0, max=50.0, step=0.5,
                                                   description="may lose", layout=widgets.Layout(width="160px"))
        self.floor_button = widgets.Button(description="find the floor", icon="search",
                                           tooltip="prune as much as possible while losing at most this many "
                                                   "percentage points of accuracy")
        self.floor_button.add_class("bingo-prune-floor")
        # captions live in HTML, not in the figure: text is the slowest thing matplotlib draws
        self.picture_caption = widgets.HTML()
        self.picture_caption.add_class("bingo-prune-caption")
        self.picture = widgets.Image(format="png")
        self.picture.add_class("bingo-prune-picture")
        self.status = StatusLine()

        self.children = [
            widgets.HBox([self.method, self.fraction]),
            widgets.HBox([self.accuracy_text, widgets.HTML("&nbsp;·&nbsp;"), self.kept_text]),
            *([widgets.HBox([self.board, self.fit_gauge, self.fit_text])] if fit_gauge else []),
            *([widgets.HBox([self.floor_drop, widgets.Label("points of accuracy →"), self.floor_button])]
              if floor_button else []),
            self.picture_caption,
            self.picture,
            self.status,
        ]
        self.add_class("bingo-prune-slider")

        self._claim(model)
        self.last_update_seconds = float("nan")
        self._figure = None
        # Dense accuracy is the yardstick every later number is compared with.
        pruning.remove_pruning(model)
        model.eval()
        self.dense_accuracy = accuracy(model, data.x_test, data.y_test)
        self._observe(self.fraction, self._on_change)
        self._observe(self.method, self._on_change)
        self._observe(self.board, self._on_change)
        self._on_click(self.floor_button, self._on_floor)
        self.update()

    def _method_refusal(self, value) -> str | None:
        """A scored method the menu does not offer: it needs scores (the slider's own sentence for that)."""
        method = find_method(value)
        if method is not None and method.scored_while_training and self.scores is None:
            return (f"{method.label} needs significance scores: train with train_scored(...) and pass scores=... "
                    "to the slider, or pick magnitude or random.")
        return None

    # --- callbacks -------------------------------------------------------------------------------
    def _on_change(self, _change=None) -> None:
        self.update()

    @reporting(lambda self: self.status)
    def update(self) -> None:
        """Apply the chosen method at the chosen fraction and redraw everything (one slider move)."""
        start = time.perf_counter()
        method = self.method.value
        fraction = self.fraction.value / 100
        if get_method(method).scored_while_training and self.scores is None:
            raise KitError(f"{get_method(method).label} needs significance scores: train with "
                           "train_scored(...) and pass scores=... to the slider, or pick magnitude or random.")
        self.status.clear()
        pruning.prune_fraction(self.model, fraction, method=method, scores=self.scores, seed=self.seed)
        self.accuracy = accuracy(self.model, self.data.x_test, self.data.y_test)
        change = 100 * (self.accuracy - self.dense_accuracy)
        colour = GREEN if change >= -1.0 else RED
        self.accuracy_text.value = (f"test accuracy <b>{100 * self.accuracy:.1f} %</b> "
                                    f"(<span style='color:{colour}'>{change:+.1f} points</span> vs the whole network)")
        self.kept, self.total = pruning.kept_weights(self.model)
        self.kept_text.value = f"weights kept <b>{self.kept} / {self.total}</b>"
        self._update_fit(blob_size(self.model))
        self._draw()
        self.last_update_seconds = time.perf_counter() - start

    def _update_fit(self, size: int) -> None:
        board = get_board(self.board.value)
        self.size, self.capacity = size, board.model_capacity
        self.fits = size <= board.model_capacity
        self.fit_gauge.max = max(size, board.model_capacity)
        self.fit_gauge.value = size
        self.fit_gauge.bar_style = ""
        self.fit_gauge.style.bar_color = GREEN if self.fits else RED
        if self.fits:
            verdict = f"fits the {board.name} ({board.model_capacity - size} bytes to spare)"
        else:
            verdict = f"too big for the {board.name} by {size - board.model_capacity} bytes: prune more"
        colour = GREEN if self.fits else RED
        self.fit_text.value = (f"<span style='color:{colour}'>{size} / {board.model_capacity} bytes — "
                               f"{verdict}</span>")

    @reporting(lambda self: self.status)
    def _on_floor(self, _button=None) -> None:
        """Find the most pruning that keeps accuracy within `floor_drop` points of dense, then go there."""
        method = self.method.value
        if get_method(method).scored_while_training and self.scores is None:
            raise KitError(f"{get_method(method).label} needs significance scores: "
                           "pass scores=... to the slider first.")
        floor = self.dense_accuracy - self.floor_drop.value / 100
        self.status.info(f"Searching for the floor (accuracy ≥ {100 * floor:.1f} %)…")
        result = pruning.prune_to_floor(self.model, self.data, floor, method=method, scores=self.scores,
                                              seed=self.seed)
        self.floor_result = result
        target = min(99, int(math.floor(100 * result.fraction + 1e-9)))
        if self.fraction.value == target:
            self.update()
        else:
            self.fraction.value = target  # the observer redraws
        if self.status.kind != "error":
            self.status.ok(f"Floor: {target} % pruned keeps {100 * self.accuracy:.1f} % accuracy "
                           f"({result.evaluations} tries).")

    # --- the survivors picture -------------------------------------------------------------------
    def _layer_images(self) -> list[tuple[str, np.ndarray]]:
        """One RGBA picture per layer (weights coloured by sign and size, pruned ones grey) + its caption."""
        from matplotlib import colormaps

        cmap = colormaps["RdBu_r"]
        pictures = []
        for index, weight in enumerate(self.model.current_weights()):
            weight = weight.detach().numpy()
            scale = float(np.abs(weight).max()) or 1.0
            rgba = cmap(0.5 + 0.5 * weight / scale)
            rgba[weight == 0] = PRUNED_GREY
            caption = f"<b>layer {index + 1}</b>: {int(np.count_nonzero(weight))}/{weight.size} kept"
            if index == 0 and self._tile_shape() is not None:
                rgba = _tile(rgba, self._tile_shape())
                caption += " (one tile per hidden neuron: the pixels it looks at)"
            else:
                caption += " (rows: outputs, columns: inputs)"
            pictures.append((caption, rgba))
        return pictures

    def _tile_shape(self):
        shape = tuple(self.data.image_shape)
        return shape if math.prod(shape) == self.model.sizes[0] else None

    def _draw(self) -> None:
        pictures = self._layer_images()
        if self._figure is None:
            widths = [rgba.shape[1] for _, rgba in pictures]
            self._figure = new_figure(7.5, 3.0)
            grid = self._figure.add_gridspec(1, len(pictures), width_ratios=widths)
            self._images = []
            for column, (_, rgba) in enumerate(pictures):
                axes = self._figure.add_subplot(grid[0, column])
                axes.set_axis_off()
                self._images.append(axes.imshow(rgba, interpolation="nearest"))
        else:  # redraw in place: only the pixel data changes
            for image, (_, rgba) in zip(self._images, pictures):
                image.set_data(rgba)
        self.picture_caption.value = " &nbsp;·&nbsp; ".join(caption for caption, _ in pictures) + \
            " &nbsp;·&nbsp; <span style='color:#9e9e9e'>grey = pruned</span>, red/blue = positive/negative"
        self.picture.value = figure_png(self._figure)


def _method_id(value):
    method = find_method(value)  # "Magnitude", "'random'", the label in the menu
    return None if method is None else method.id


def _board_key(value):
    try:
        return get_board(value).key
    except KitError:
        return None


def _tile(rgba: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(neurons, h*w, 4) → one mosaic of h×w tiles with a 1-pixel white gap, as square as possible."""
    neurons = rgba.shape[0]
    height, width = shape
    columns = math.ceil(math.sqrt(neurons))
    rows = math.ceil(neurons / columns)
    mosaic = np.tile(GAP_WHITE, (rows * (height + 1) - 1, columns * (width + 1) - 1, 1))
    for neuron in range(neurons):
        top, left = (neuron // columns) * (height + 1), (neuron % columns) * (width + 1)
        mosaic[top:top + height, left:left + width] = rgba[neuron].reshape(height, width, 4)
    return mosaic
