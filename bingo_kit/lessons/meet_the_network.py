"""Lesson 1 — meet the network: the digits, the pixels the network sees, its weights, and a live accuracy curve.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image, display
from matplotlib.figure import Figure

from bingo_kit.lessons.common import as_numpy, figure_png
from bingo_kit.lessons.feedback import Feedback, check_number, exercise
from bingo_kit.training import Callback


def show_digits(data, count: int = 10, *, title: str | None = None) -> None:
    """The first `count` training images with their labels."""
    fig, axes = plt.subplots(1, count, figsize=(1.1 * count, 1.6))
    for ax, image, label in zip(axes, data.x_train[:count], data.y_train[:count]):
        ax.imshow(as_numpy(image).reshape(data.image_shape), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(data.class_names[int(label)])
        ax.axis("off")
    if title:
        fig.suptitle(title)
    plt.show()


def show_pixels(image, shape=(8, 8)) -> None:
    """One image twice: as a picture and as the numbers the network really sees."""
    grid = as_numpy(image).reshape(shape)
    fig, (left, right) = plt.subplots(1, 2, figsize=(7, 3.3))
    left.imshow(grid, cmap="gray_r", vmin=0, vmax=1)
    left.set_title("what you see")
    left.axis("off")
    right.imshow(grid, cmap="gray_r", vmin=0, vmax=3)  # lighter, so the numbers stay readable
    for (row, col), value in _enumerate_grid(grid):
        right.text(col, row, f"{value:.1f}".lstrip("0") if value else "0", ha="center", va="center", fontsize=10)
    right.set_title("what the network sees")
    right.axis("off")
    plt.show()


def _enumerate_grid(grid):
    rows, cols = grid.shape
    for row in range(rows):
        for col in range(cols):
            yield (row, col), float(grid[row, col])


def draw_network(sizes: Sequence[int] = (64, 16, 10), *, max_drawn: int = 16, model=None) -> None:
    """Neurons as dots, weights as lines. With a (pruned) `model`, pruned weights are not drawn and line
    strength follows |weight|. Big layers show only `max_drawn` neurons so the picture stays readable."""
    sizes = tuple(model.sizes) if model is not None else tuple(sizes)
    shown = [min(n, max_drawn) for n in sizes]
    positions = [np.linspace(-1, 1, n) * (n / max(shown)) for n in shown]
    weights = [w.detach().abs().numpy() for w in model.current_weights()] if model is not None else None
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for i in range(len(sizes) - 1):
        strength = None
        if weights is not None:
            w = weights[i][: shown[i + 1], : shown[i]]
            strength = w / (w.max() or 1.0)
        for a, ya in enumerate(positions[i]):
            for b, yb in enumerate(positions[i + 1]):
                alpha = 0.15 if strength is None else float(strength[b, a]) * 0.8
                if alpha > 0:
                    ax.plot([i, i + 1], [ya, yb], color="tab:blue", alpha=alpha, linewidth=0.6)
    for i, ys in enumerate(positions):
        ax.scatter([i] * len(ys), ys, s=40, color="tab:orange", zorder=3)
        more = f" (showing {shown[i]})" if shown[i] < sizes[i] else ""
        ax.text(i, 1.15, f"{sizes[i]} neurons{more}", ha="center", fontsize=11)
    labels = ["input: pixels"] + ["hidden"] * (len(sizes) - 2) + ["output: digits"]
    for i, label in enumerate(labels):
        ax.text(i, -1.25, label, ha="center", fontsize=11)
    ax.set_xlim(-0.5, len(sizes) - 0.5)
    ax.set_ylim(-1.4, 1.3)
    ax.axis("off")
    plt.show()


def show_first_layer(model, shape=(8, 8), *, title: str = "What each hidden neuron looks for") -> None:
    """Each hidden neuron's 64 input weights drawn as an 8×8 picture: red = pushes up, blue = pushes down."""
    weight = as_numpy(model.current_weights()[0])
    count = weight.shape[0]
    columns = min(count, 8)
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.1 * columns, 1.2 * rows + 0.4), squeeze=False)
    limit = float(abs(weight).max()) or 1.0
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index < count:
            ax.imshow(weight[index].reshape(shape), cmap="RdBu_r", vmin=-limit, vmax=limit)
    fig.suptitle(title)
    plt.show()


def live_accuracy_plot(epochs: int):
    """A training callback that redraws the accuracy curve after every epoch, in place in the notebook."""
    class LiveAccuracy(Callback):
        def __init__(self):
            self.accuracies: list[float] = []
            self.handle = None

        def on_epoch_end(self, model, epoch, test_accuracy):
            self.accuracies.append(test_accuracy)
            # a fresh Figure (not pyplot) each time: nothing leaks, and the cell shows exactly one picture
            figure = Figure(figsize=matplotlib.rcParams["figure.figsize"])
            ax = figure.subplots()
            ax.plot(range(1, len(self.accuracies) + 1), [100 * a for a in self.accuracies], marker=".")
            ax.set_xlim(0.5, epochs + 0.5)
            ax.set_ylim(0, 100)
            ax.set_xlabel("epoch")
            ax.set_ylabel("test accuracy (%)")
            ax.set_title(f"epoch {epoch + 1}/{epochs}: {test_accuracy:.1%} of test digits right")
            png = figure_png(figure)
            if self.handle is None:
                self.handle = display(Image(png), display_id=True)
            else:
                self.handle.update(Image(png))

    return LiveAccuracy()


def weight_count(sizes: Sequence[int]) -> int:
    """Weights (not biases) of a fully connected network: in × out for every layer."""
    return sum(n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


@exercise
def check_weight_count(answer, sizes: Sequence[int] = (64, 16, 10)) -> Feedback:
    """Lesson 1: how many weights (connections) does a network with these layer sizes have?"""
    sizes = tuple(sizes)
    products = " + ".join(f"{a}×{b}" for a, b in zip(sizes[:-1], sizes[1:]))
    return check_number(
        answer, weight_count(sizes),
        right=f"{products} = {weight_count(sizes)} weights. Every one of them is a number the training adjusts.",
        hint="Every neuron in one layer connects to every neuron in the next: multiply the sizes of "
             f"neighbouring layers ({' then '.join(f'{a} and {b}' for a, b in zip(sizes[:-1], sizes[1:]))}) "
             "and add the results. Biases don't count here.")
