"""Lesson 6 — will it fit? Bytes of float32, int8 and sparse blobs against a board's room for a model.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from bingo_kit.boards import get_board
from bingo_kit.export import encoded_sizes, model_sizes, quantize_weight
from bingo_kit.lessons.challenge import challenge_budget
from bingo_kit.lessons.feedback import Feedback, check_number, exercise
from bingo_kit.lessons.meet_the_network import weight_count
from bingo_kit.models import make_mlp
from bingo_kit.pruning import size_sweep


def show_sizes(model, fractions: Sequence[float] = (0.0, 0.5, 0.8, 0.9), *, method: str = "magnitude",
               boards: Sequence[str] = ("uno", "mega")) -> list[tuple[float, int, int, int]]:
    """Bytes of the model at several pruning levels, in three forms (float32, int8 dense, int8 sparse blob),
    against the boards' room for a model. Puts the model back to dense. Returns the rows it drew."""
    rows = [(fraction, sizes.float_bytes, sizes.int8_dense_bytes, sizes.blob_bytes)
            for fraction, sizes in size_sweep(model, fractions, method=method)]
    fig, ax = plt.subplots(figsize=(8, 3.8))
    x = np.arange(len(rows))
    forms = ((-0.27, 1, "float32", "tab:grey"), (0, 2, "int8, every weight stored", "tab:orange"),
             (0.27, 3, "int8 blob (sparse formats)", "tab:green"))
    for offset, column, label, colour in forms:
        bars = ax.bar(x + offset, [row[column] for row in rows], width=0.27, label=label, color=colour)
        # the exact bytes ("1309" must not look like it fits), on white so that a board's line passes behind them
        ax.bar_label(bars, fontsize=9, padding=2, bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
    # the boards' lines go behind the bars, labelled outside the plot on the right, so no bar is hidden
    for key, style in zip(boards, ("--", ":")):
        board = get_board(key)
        ax.axhline(board.model_capacity, color="black", linestyle=style, linewidth=1.2, zorder=0)
        ax.annotate(f"{board.name}: {board.model_capacity} B", (1, board.model_capacity),
                    xycoords=("axes fraction", "data"), xytext=(6, 0), textcoords="offset points",
                    va="center", fontsize=10, annotation_clip=False)
    ax.set_xticks(x, [f"{fraction:.0%} pruned" for fraction, *_ in rows])
    ax.set_ylabel("bytes")
    ax.set_ylim(0, max(row[1] for row in rows) * 1.12)
    ax.set_title("How big is the model?")
    ax.legend(fontsize=10, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, frameon=False)
    plt.show()
    return rows


def show_quantisation(model, layer: int = 0) -> None:
    """Every weight of one layer: its float value against the int8 step it is stored as."""
    weights = model.current_weights()[layer].detach().numpy().reshape(-1)
    stored, scale = quantize_weight(weights)
    stored = stored.astype(float)
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 2.8))
    order = np.argsort(weights)
    left.plot(weights[order], label="float32 (4 bytes each)", linewidth=2)
    left.step(np.arange(len(order)), stored[order] * scale, label="int8 (1 byte each)", linewidth=1)
    left.set_xlabel("weights, smallest to largest")
    left.set_ylabel("value")
    left.legend(fontsize=10)
    left.set_title(f"layer {layer + 1}: {len(weights)} weights")
    zoom = order[len(order) // 2 - 15: len(order) // 2 + 15]
    right.plot(weights[zoom], marker=".", label="float32")
    right.step(np.arange(len(zoom)), stored[zoom] * scale, where="mid", label="int8")
    right.set_title("zoom: int8 rounds to the nearest step")
    right.legend(fontsize=10)
    plt.show()


def float_bytes(sizes: Sequence[int]) -> int:
    """Bytes of a float32 network: 4 bytes for every weight and every bias — what export.model_sizes reports."""
    return model_sizes(make_mlp(tuple(sizes), seed=0)).float_bytes


@exercise
def check_float_bytes(answer, sizes: Sequence[int] = (64, 16, 10)) -> Feedback:
    """Lesson 6: how many bytes does the float32 model take?"""
    sizes = tuple(sizes)
    n_weights, n_biases = weight_count(sizes), sum(sizes[1:])
    return check_number(
        answer, float_bytes(sizes),
        right=f"({n_weights} weights + {n_biases} biases) × 4 bytes = {float_bytes(sizes)} bytes — "
              + (f"far more than the {challenge_budget()} bytes an Uno has for a model." if
                 float_bytes(sizes) > challenge_budget() else
                 f"that would fit in the {challenge_budget()} bytes an Uno has for a model."),
        hint=f"Count weights AND biases ({n_weights} weights; one bias per neuron after the input layer), "
             "then remember that one float32 number takes 4 bytes.")


def index_list_bytes(out: int, nnz: int) -> int:
    """Weight section of a layer in the index-list encoding (PROTOCOL.md §2.2): a count per row,
    then a column index and a value for every kept weight. The export's own size table decides this."""
    return encoded_sizes(n_weights=nnz, n_rows=out, nnz=nnz)["index"]  # the index size ignores the width


def show_sparse_formats(row: Sequence[int] = (0, 0, 37, 0, 0, 0, -12, 0, 0, 0, 0, 90, 0, 0, 0, 0)) -> None:
    """One row of int8 weights stored three ways (hardware/PROTOCOL.md §2.2): dense (every byte), bitmap (one
    bit per weight saying "kept?", then the kept values) and index list (a count, then column + value pairs)."""
    kept = [(column, value) for column, value in enumerate(row) if value]
    n_bitmap = -(-len(row) // 8)
    bitmap_bits = "".join("1" if value else "0" for value in row)
    layouts = [
        ("dense", [(str(v), "tab:orange" if v else "whitesmoke") for v in row]),
        ("bitmap", [(bitmap_bits[8 * i: 8 * i + 8], "tab:cyan") for i in range(n_bitmap)]
         + [(str(v), "tab:orange") for _, v in kept]),
        ("index list", [(f"n={len(kept)}", "tab:green")]
         + [cell for c, v in kept for cell in ((f"@{c}", "tab:purple"), (str(v), "tab:orange"))]),
    ]
    fig, ax = plt.subplots(figsize=(9, 2.6))
    for y, (name, cells) in enumerate(layouts):
        left = 0.0
        for text, colour in cells:
            width = 1.0 if name == "dense" else max(1.6, 0.36 * len(text) + 0.3)  # 8 bits need a wide box
            ax.add_patch(plt.Rectangle((left, -y), width * 0.95, 0.8, color=colour, alpha=0.6))
            ax.text(left + width * 0.47, -y + 0.4, text, ha="center", va="center", fontsize=10)
            left += width
        ax.text(-0.3, -y + 0.4, f"{name}: {len(cells)} bytes", ha="right", va="center", fontsize=11)
    ax.set_xlim(-4.5, len(row) + 0.5)
    ax.set_ylim(-len(layouts) + 0.7, 1.2)
    ax.axis("off")
    ax.set_title(f"one row of {len(row)} int8 weights, {len(kept)} kept: three ways to store it "
                 "(orange = values, cyan = kept? bits, purple = column numbers)", fontsize=11)
    plt.show()


@exercise
def check_index_list_bytes(answer, out: int, nnz: int) -> Feedback:
    """Lesson 6: bytes of a layer's weights stored as an index list."""
    return check_number(
        answer, index_list_bytes(out, nnz),
        right=f"{out} row counts + {nnz} indices + {nnz} values = {index_list_bytes(out, nnz)} bytes.",
        hint="One byte per row (how many weights it keeps), then for every kept weight TWO bytes: "
             "where it is (its column) and its int8 value.")
