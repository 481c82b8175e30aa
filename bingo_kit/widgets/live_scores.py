"""Live scores: watch BINGO learn which weights matter while the network trains.

One figure, redrawn in place every few steps (the PNG inside one `widgets.Image` is swapped, never a new
figure): per panel an accuracy curve, a histogram of the significance scores, and a heatmap of the scores of
each layer. One panel per update rule, side by side, so the prose and paper rules can be compared live.

    live = LiveScores(panels=("prose", "paper"))
    display(live)
    history, scores = live.train(make_mlp(), data, "prose", epochs=10)
    history, scores = live.train(make_mlp(), data, "paper", epochs=10)

Panels and methods are named by anything bingo_kit.methods.get_method accepts (id, label or alias).

or, with your own scorer: train(model, data, callbacks=[scorer, live.watch(scorer)]).
"""
from __future__ import annotations

import time

import numpy as np
import torch

import ipywidgets as widgets

from bingo_kit.errors import KitError
from bingo_kit.methods import find_method, get_method, train_scored
from bingo_kit.training import Callback, accuracy, steps_per_run
from bingo_kit.widgets.common import KitWidget, StatusLine, canvas_png, figure_png, new_figure

HISTOGRAM_BINS = np.linspace(0.0, 1.0, 41)
SMOOTHING = 0.9  # exponential moving average of batch accuracy: a readable curve, not a scribble
TEXT_PX, TITLE_PX = 14, 15  # the smallest text on screen, in pixels: readable on a projector (issue 18)
COLUMN_INCHES = 5.2  # 374 px per panel at 72 dpi: two panels fit a notebook at their own size


class _Panel:
    """What one column of the figure shows: one training run."""

    def __init__(self, title: str):
        self.title = title
        self.reset()

    def reset(self) -> None:
        self.steps: list[int] = []
        self.batch_accuracy: list[float] = []
        self.epoch_steps: list[int] = []
        self.test_accuracy: list[float] = []
        self.scores: dict[str, torch.Tensor] | None = None
        self.running: float | None = None


class LiveScores(KitWidget):
    """The live figure. `panels` names the columns (the BINGO rules by default)."""

    kind = "live_scores"

    def __init__(self, panels=("prose", "paper"), *, every: int = 10, min_seconds: float = 0.15,
                 layers: int | None = None):
        super().__init__()
        if not panels:
            raise KitError("LiveScores needs at least one panel name, e.g. panels=('prose',).")
        self.every = max(1, int(every))
        self.min_seconds = float(min_seconds)  # at most one redraw per this many seconds: training comes first
        self.panels = {name: _Panel(name) for name in panels}
        self._n_layers = layers
        self._layer_shapes: list[tuple[int, int]] | None = None  # from the first model watched
        self._expected_steps = 0
        self._artists: list = []    # per panel: (curve, test points, histogram, heatmaps, accuracy axes)
        self._animated: list = []   # the artists a blit redraws
        self._background = None     # the saved static part of the figure
        self.picture = widgets.Image(format="png")
        self.picture.add_class("bingo-live-picture")
        self.status = StatusLine()
        self.children = [self.picture, self.status]
        self.add_class("bingo-live-scores")
        self.figure = None
        self.draws = 0
        self._last_draw = 0.0

    # --- hooking into training -------------------------------------------------------------------
    def watch(self, scorer=None, panel: str | None = None) -> Callback:
        """A training callback feeding one panel; `scorer` (a BingoScorer) supplies the scores."""
        name = panel or getattr(scorer, "method_id", None) or getattr(scorer, "rule", None) or next(iter(self.panels))
        return _Watcher(self, self._panel(name), scorer)

    def _panel(self, name: str) -> _Panel:
        """The panel called ``name``, or the one whose name means the same pruning method."""
        if name in self.panels:
            return self.panels[name]
        wanted = find_method(name)
        for key, found in self.panels.items():
            if wanted is not None and find_method(key) is wanted:
                return found
        raise KitError(f"No panel called {name!r}; this LiveScores has {', '.join(self.panels)}.")

    def train(self, model, data, method: str | None = None, *, rule: str | None = None, epochs: int = 10,
              panel: str | None = None, seed: int = 0, progress: bool = True, **scorer_opts):
        """`methods.train_scored` with this figure watching. Returns (history, scores).

        ``method`` (or its older name ``rule``): which scored method, default the first panel's.
        """
        name = method or rule or next(iter(self.panels))
        self.expect_steps(steps_per_run(data, epochs))
        return train_scored(model, data, get_method(name), epochs=epochs, seed=seed, progress=progress,
                            watchers=[lambda scorer: self.watch(scorer, panel or name)], **scorer_opts)

    # --- drawing ---------------------------------------------------------------------------------
    # Blitting: axes, ticks, titles and colour bar are drawn once into a saved background; each redraw
    # restores it and paints only the data artists. Text is most of matplotlib's drawing time, so this
    # is what lets the figure follow training "every few steps" without slowing it much.

    def draw(self) -> None:
        """Redraw the one figure from the panels' current data."""
        if self.figure is None:
            self._build()
        for panel, artists in zip(self.panels.values(), self._artists):
            curve, test_points, hist, heatmaps, accuracy_axes = artists
            curve.set_data(panel.steps, panel.batch_accuracy)
            test_points.set_data(panel.epoch_steps, panel.test_accuracy)
            last_step = panel.steps[-1] if panel.steps else 0
            if last_step > accuracy_axes.get_xlim()[1]:  # grow in big jumps: each one redraws the background
                accuracy_axes.set_xlim(0, max(2 * accuracy_axes.get_xlim()[1], 1.1 * last_step))
                self._background = None
            if panel.scores is not None:
                flat = torch.cat([s.reshape(-1) for s in panel.scores.values()]).numpy()
                counts, _ = np.histogram(np.clip(flat, 0, 1), bins=HISTOGRAM_BINS)
                # bars relative to the tallest: the histogram's shape is the story, and fixed axes blit
                hist.set_data(counts / max(1, counts.max()), HISTOGRAM_BINS)
                # each run's colours span its own scores: only the ranking matters, and the prose rule's scores
                # (0 to about 0.2) would all look equally dark on a 0-1 scale
                low, high = np.percentile(flat, [1, 99]) if flat.size else (0.0, 1.0)
                for image, score in zip(heatmaps, panel.scores.values()):
                    image.set_data(score.numpy())
                    image.set_clim(low, max(high, low + 1e-6))
        if self._background is None:
            figure_png(self.figure)  # attaches the Agg canvas; full draw without animated artists; layout frozen
            self._background = self.figure.canvas.copy_from_bbox(self.figure.bbox)
        else:
            self.figure.canvas.restore_region(self._background)
        canvas = self.figure.canvas
        for artist in self._animated:
            self.figure.draw_artist(artist)
        self.picture.value = canvas_png(canvas)
        self.draws += 1
        self._last_draw = time.perf_counter()

    def expect_steps(self, steps: int) -> None:
        """Size the step axis for a run of this many steps (avoids background redraws while training)."""
        for _, _, _, _, accuracy_axes in self._artists:
            if accuracy_axes.get_xlim()[1] < steps:
                accuracy_axes.set_xlim(0, steps)
                self._background = None
        self._expected_steps = max(self._expected_steps, steps)

    def _build(self) -> None:
        n_layers = self._n_layers or 2
        shapes = self._layer_shapes or [(1, 1)] * n_layers
        columns = len(self.panels)
        # one point is one screen pixel at the figure's 72 dpi, and the picture is shown at its own size: every
        # text is at least TEXT_PX pixels, read on a projector from the back of a room
        self.figure = new_figure(COLUMN_INCHES * columns, 2.6 + 2.0 + 1.7 * n_layers)
        grid = self.figure.add_gridspec(2 + n_layers, columns, height_ratios=[2.6, 2.0] + [1.7] * n_layers)
        self._artists, self._animated, self._background = [], [], None
        for column, panel in enumerate(self.panels.values()):
            accuracy_axes = self.figure.add_subplot(grid[0, column])
            accuracy_axes.set_title(f"{panel.title}: accuracy", fontsize=TITLE_PX)
            accuracy_axes.set_ylim(0, 1.02)
            accuracy_axes.set_xlim(0, max(10, self._expected_steps))
            accuracy_axes.set_xlabel("training step", fontsize=TEXT_PX)
            (curve,) = accuracy_axes.plot([], [], lw=1.5, label="batch (smoothed)", animated=True)
            (test_points,) = accuracy_axes.plot([], [], "o", ms=4, label="test, per epoch", animated=True)
            accuracy_axes.legend(fontsize=TEXT_PX, loc="lower right")
            hist_axes = self.figure.add_subplot(grid[1, column])
            hist_axes.set_title("significance scores (0 to 1)", fontsize=TITLE_PX)
            hist_axes.set_xlim(0, 1)
            hist_axes.set_ylim(0, 1.05)
            hist_axes.set_yticks([])
            hist_axes.set_ylabel("weights", fontsize=TEXT_PX)  # how many: "how many weights" is taller than the axes
            hist = hist_axes.stairs(np.zeros(len(HISTOGRAM_BINS) - 1), HISTOGRAM_BINS, fill=True, animated=True)
            heatmaps = []
            for layer in range(n_layers):
                axes = self.figure.add_subplot(grid[2 + layer, column])
                axes.set_title(f"layer {layer + 1}: bright = high score", fontsize=TITLE_PX)
                axes.set_xticks([])
                axes.set_yticks([])
                heatmaps.append(axes.imshow(np.full(shapes[layer], 0.5), vmin=0, vmax=1, cmap="viridis",
                                            aspect="auto", interpolation="nearest", animated=True))
            for axes in self.figure.axes:
                axes.tick_params(labelsize=TEXT_PX)
            self._artists.append((curve, test_points, hist, heatmaps, accuracy_axes))
            self._animated += [curve, test_points, hist, *heatmaps]

    def _note_model(self, model) -> None:
        shapes = [tuple(layer.weight.shape) for _, layer in model.weight_layers()]
        if self.figure is not None and shapes != self._layer_shapes:
            raise KitError("All panels of one LiveScores must watch the same network shape; "
                           "make a new LiveScores for a different network.")
        self._layer_shapes, self._n_layers = shapes, len(shapes)

    def _maybe_draw(self, step: int) -> None:
        if step % self.every == 0 and time.perf_counter() - self._last_draw >= self.min_seconds:
            self.draw()


class _Watcher(Callback):
    """Feeds one panel from the training loop. Errors go to the status line, never stop training."""

    def __init__(self, live: LiveScores, panel: _Panel, scorer):
        self.live, self.panel, self.scorer = live, panel, scorer
        self.failed = False

    def _safely(self, action) -> None:
        try:
            action()
        except Exception as error:  # noqa: BLE001 - a broken plot must not cost the student a training run
            self.failed = True
            self.live.status.report(error)

    def on_train_begin(self, model, data) -> None:
        def begin():
            self.failed = False
            self.live._note_model(model)
            self.panel.reset()  # training the same panel again starts its curves afresh
            self.panel.scores = self.scorer.scores if self.scorer is not None else None
            self.live.status.info(f"{self.panel.title}: training…")
        self._safely(begin)

    def on_step(self, state) -> None:
        def step():
            correct = accuracy(state.model, state.x, state.y)
            panel = self.panel
            panel.running = correct if panel.running is None else SMOOTHING * panel.running + (1 - SMOOTHING) * correct
            panel.steps.append(state.step)
            panel.batch_accuracy.append(panel.running)
            self.live._maybe_draw(state.step)
        self._safely(step)

    def on_epoch_end(self, model, epoch, test_accuracy) -> None:
        def epoch_end():
            self.panel.epoch_steps.append(self.panel.steps[-1] if self.panel.steps else 0)
            self.panel.test_accuracy.append(test_accuracy)
        self._safely(epoch_end)

    def on_train_end(self, model) -> None:
        def end():
            self.live.draw()
            if self.failed:  # keep the error on screen
                return
            final = self.panel.test_accuracy[-1] if self.panel.test_accuracy else float("nan")
            self.live.status.ok(f"{self.panel.title}: done, test accuracy {100 * final:.1f} %.")
        self._safely(end)
