"""Digit pad: draw an 8×8 digit by clicking squares; the host model and the board each say what it is.

Pure ipywidgets (a grid of Buttons): no extra dependency, every square is clickable from Python
(`pad.cells[row][col].click()`), and 64 squares are few enough that a click round trip stays instant.
"""
from __future__ import annotations

import numpy as np
import torch

import ipywidgets as widgets

from bingo_kit.errors import KitError
from bingo_kit.export import inputs_to_bytes
from bingo_kit.widgets.common import KitWidget, StatusLine, live_widget, reporting

SIDE = 8
CELL_PX = 30


class PadInputError(KitError, ValueError):
    """The model does not take 8×8 pictures, so the pad cannot feed it."""


def _grey(value: float) -> str:
    """Ink colour of a square: white paper, black ink, greys for the dataset's soft strokes."""
    level = int(round(255 * (1.0 - float(value))))
    return f"#{level:02x}{level:02x}{level:02x}"


class DigitPad(KitWidget):
    """An 8×8 drawing grid with a clear button, example digits and host-vs-board predictions.

    model: the (possibly pruned) TinyMLP taking 64 inputs in [0, 1].
    data:  a Dataset whose test set supplies the example digits (digits is loaded if omitted).
    board: a BingoBoard, a FlashButton, or None = the FlashButton currently showing this model.
    """

    kind = "digit_pad"

    def __init__(self, model, data=None, *, board=None):
        if model.sizes[0] != SIDE * SIDE:
            raise PadInputError(f"The digit pad draws 8×8 = 64 pixels, but this model takes {model.sizes[0]} "
                                "inputs. Use an 8×8 dataset (digits, or downsample=True).")
        super().__init__()
        self.model = model
        self._data = data
        self._board = board
        self.pixels = np.zeros((SIDE, SIDE), dtype=np.float32)

        self.cells = [[self._make_cell(row, col) for col in range(SIDE)] for row in range(SIDE)]
        grid = widgets.GridBox(
            [cell for row in self.cells for cell in row],
            # fixed size: inside an HBox the grid would otherwise shrink and hide its last column
            layout=widgets.Layout(grid_template_columns=f"repeat({SIDE}, {CELL_PX}px)", grid_gap="2px",
                                  width=f"{SIDE * CELL_PX + (SIDE - 1) * 2 + 4}px", flex="0 0 auto"))
        grid.add_class("bingo-pad-grid")

        self.clear_button = widgets.Button(description="Clear", icon="eraser",
                                           layout=widgets.Layout(width="90px"))
        self.clear_button.add_class("bingo-pad-clear")
        self._on_click(self.clear_button, lambda _: self.clear())
        self.example_buttons = []
        for digit in range(10):
            button = widgets.Button(description=str(digit), tooltip=f"load an example {digit}",
                                    layout=widgets.Layout(width="34px"))
            button.add_class(f"bingo-pad-example-{digit}")
            self._on_click(button, lambda _, d=digit: self.load_example(d))
            self.example_buttons.append(button)

        self.host_text = widgets.HTML()
        self.host_text.add_class("bingo-pad-host")
        self.board_text = widgets.HTML()
        self.board_text.add_class("bingo-pad-board")
        self.status = StatusLine()
        self.host_prediction: int | None = None
        self.board_prediction: int | None = None

        answers = widgets.VBox([widgets.HTML("<b>What does each one see?</b>"), self.host_text,
                                self.board_text], layout=widgets.Layout(margin="0 0 0 24px"))
        self.children = [
            widgets.HBox([grid, answers]),
            widgets.HBox([self.clear_button, widgets.Label("examples:"), *self.example_buttons]),
            self.status,
        ]
        self.add_class("bingo-digit-pad")
        self._claim(model)
        self.predict()

    # --- drawing ---------------------------------------------------------------------------------
    def _make_cell(self, row: int, col: int) -> widgets.Button:
        cell = widgets.Button(description="", layout=widgets.Layout(width=f"{CELL_PX}px", height=f"{CELL_PX}px",
                                                                    padding="0", margin="0",
                                                                    border="1px solid #bdbdbd"))
        cell.style.button_color = _grey(0.0)
        cell.add_class("bingo-pad-cell")
        self._on_click(cell, lambda _: self.toggle(row, col))
        return cell

    def _paint(self) -> None:
        for row in range(SIDE):
            for col in range(SIDE):
                self.cells[row][col].style.button_color = _grey(self.pixels[row, col])

    def toggle(self, row: int, col: int) -> None:
        """Ink a blank square, or erase an inked one, then ask both models again."""
        self.pixels[row, col] = 0.0 if self.pixels[row, col] > 0 else 1.0
        self.cells[row][col].style.button_color = _grey(self.pixels[row, col])
        self.predict()

    def set_pixels(self, pixels) -> None:
        """Show an 8×8 (or 64-long) picture with values in [0, 1] and predict it."""
        array = np.asarray(pixels, dtype=np.float32).reshape(SIDE, SIDE)
        self.pixels = np.clip(array, 0.0, 1.0).copy()
        self._paint()
        self.predict()

    def clear(self) -> None:
        self.set_pixels(np.zeros((SIDE, SIDE)))

    @reporting(lambda self: self.status)
    def load_example(self, digit: int) -> None:
        data = self._dataset()
        matches = (data.y_test == digit).nonzero().flatten()
        if len(matches) == 0:
            raise KitError(f"The test set has no example of a {digit}.")
        # say it first: a board error while predicting must not be overwritten by this line
        self.status.info(f"Loaded a {digit} from the test set. Click squares to change it.")
        self.set_pixels(data.x_test[int(matches[0])].numpy())

    def _dataset(self):
        if self._data is None:
            from bingo_kit.data import load_dataset  # only now: loading digits takes a moment

            self._data = load_dataset("digits")
        return self._data

    # --- predicting ------------------------------------------------------------------------------
    def board(self):
        """The connected board to ask, or None (a FlashButton that has not flashed yet counts as None)."""
        source = self._board if self._board is not None else live_widget(self.model, "flash_button")
        if source is not None and hasattr(source, "connected_board"):
            return source.connected_board()
        return source

    @reporting(lambda self: self.status)
    def predict(self) -> None:
        if not self.pixels.any():
            self.host_prediction = self.board_prediction = None
            self.host_text.value = "Host model: <i>draw a digit</i>"
            self.board_text.value = "Board: <i>draw a digit</i>"
            return
        self._predict_host()
        self._predict_board()

    def _predict_host(self) -> None:
        x = torch.from_numpy(self.pixels.reshape(1, -1))
        with torch.no_grad():
            probabilities = torch.softmax(self.model(x), dim=1)[0]
        label = int(probabilities.argmax())
        self.host_prediction = label
        self.host_text.value = (f"Host model: <b style='font-size:1.4em'>{label}</b> "
                                f"({100 * float(probabilities[label]):.0f} % sure)")

    def _predict_board(self) -> None:
        self.board_prediction = None
        board = self.board()
        if board is None:
            self.board_text.value = "Board: <i>not connected — flash the model first</i>"
            return
        self.board_text.value = "Board: <i>thinking…</i>"
        try:
            answer = board.predict(inputs_to_bytes(self.pixels.reshape(1, -1))[0])
        except Exception:
            self.board_text.value = "Board: <i>no answer</i>"
            raise
        self.board_prediction = int(answer.label)
        self.board_text.value = (f"Board: <b style='font-size:1.4em'>{answer.label}</b> "
                                 f"(thought for {answer.micros / 1000:.2f} ms)")
