"""Lesson 7 — flash it: the journey of a model from laptop to board, and reading the board's cycle count.
"""
from __future__ import annotations

import matplotlib.pyplot as plt

from bingo_kit.lessons.feedback import Feedback, check_number, exercise

# A classic AVR board (Uno, Nano, Mega) runs at 16 MHz: 16 000 clock cycles per millisecond.
AVR_CLOCK_HZ = 16_000_000


def show_flash_pipeline() -> None:
    """The journey of a model in lesson 7: laptop → USB cable → board → EEPROM → a prediction."""
    steps = [("laptop", "train, prune,\nexport the blob", "tab:blue"),
             ("USB cable", "blob sent in\nsmall chunks", "tab:grey"),
             ("board", "checks length\nand checksum", "tab:green"),
             ("EEPROM", "keeps the model\nwith power off", "tab:purple"),
             ("predict", "8×8 pixels in,\na digit out (~1 ms)", "tab:orange")]
    fig, ax = plt.subplots(figsize=(9, 1.8))
    for x, (name, detail, colour) in enumerate(steps):
        ax.add_patch(plt.Rectangle((2 * x, 0), 1.5, 1, color=colour, alpha=0.25))
        ax.text(2 * x + 0.75, 0.68, name, ha="center", va="center", fontsize=10, weight="bold")
        ax.text(2 * x + 0.75, 0.3, detail, ha="center", va="center", fontsize=10)
        if x < len(steps) - 1:
            ax.annotate("", xy=(2 * x + 2, 0.5), xytext=(2 * x + 1.5, 0.5),
                        arrowprops={"arrowstyle": "->", "linewidth": 1.5})
    ax.set_xlim(-0.1, 2 * len(steps) - 0.4)
    ax.set_ylim(-0.1, 1.1)
    ax.axis("off")
    ax.set_title("what the flash button does", fontsize=10)
    plt.show()


def show_wobbled_copies(data, practice, count: int = 6) -> None:
    """Lesson 7: the first `count` training digits (top row) and their wobbled copies in `practice` below them
    (`practice` = augment.with_wobbled_copies(data), which puts the copies after the originals)."""
    originals = len(data.y_train)
    copies = len(practice.y_train) // originals - 1
    fig, axes = plt.subplots(copies + 1, count, figsize=(1.1 * count + 1.2, 1.1 * (copies + 1) + 0.5),
                             squeeze=False, layout="constrained")
    for row in range(copies + 1):
        for col in range(count):
            ax = axes[row, col]
            ax.imshow(practice.x_train[row * originals + col].reshape(data.image_shape), cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():  # a light frame: where the 8×8 square ends
                side.set_visible(True)
                side.set_color("lightgrey")
        axes[row, 0].set_ylabel("written" if row == 0 else f"copy {row}", rotation=0, ha="right", va="center")
    fig.suptitle("the same digits, tilted a little: new handwriting for practice")
    plt.show()


@exercise
def check_inference_time(answer_ms, cycles: int, clock_hz: int = AVR_CLOCK_HZ) -> Feedback:
    """Lesson 7: turn the board's cycle count into milliseconds."""
    expected = cycles / clock_hz * 1000
    per_ms = clock_hz // 1000
    # the right-answer message has no cycle count in it: on a board, timer interrupts shift it a little
    return check_number(
        answer_ms, expected, rel_tol=0.01,
        right=f"Cycles ÷ {per_ms} cycles per millisecond: the board reads a digit in about a millisecond.",
        hint=f"The chip does {clock_hz // 1_000_000} million cycles per second, so {per_ms} cycles per "
             "millisecond. Divide the cycles by that.")
