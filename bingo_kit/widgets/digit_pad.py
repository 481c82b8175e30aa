"""Digit pad: draw a digit with the mouse, a pen or a finger; the laptop and the board each say what it is.

The drawing surface is an ipycanvas Canvas (32×32 pixels shown 10× larger). Each finished stroke goes
through bingo_kit.drawing.strokes_to_features — the same steps that turned the scanned digits into the
dataset — and the pad shows that 8×8 picture beside the answers. The laptop answers with the int8 model the
flash button sends (bingo_kit.int8, the board's arithmetic), so laptop and board agree on every drawing.
`pad.draw(strokes)` feeds strokes from code through the very path the mouse uses, so lessons, nbval and tests
draw like a student.
"""
from __future__ import annotations

import hashlib
import io
import sys

import numpy as np

import ipywidgets as widgets

from bingo_kit import drawing
from bingo_kit.board.session import BoardJob, run_on_board
from bingo_kit.errors import KitError
from bingo_kit.export import inputs_to_bytes
from bingo_kit.int8 import float_weights, quantize, quantize_weight
from bingo_kit.widgets.common import KitWidget, StatusLine, live_widget, reporting

SIDE = drawing.SIDE            # the network sees 8×8
CANVAS = drawing.CANVAS        # the student draws on 32×32
SCALE = 10                     # canvas pixels → screen pixels
PICTURE_PX = 160               # each "what the network sees" picture
INK, PAPER = "#000000", "#ffffff"


class PadInputError(KitError, ValueError):
    """The model does not take 8×8 pictures, so the pad cannot feed it."""


def _grey(value: float) -> str:
    """Ink colour: white paper, black ink, greys for the dataset's part-inked blocks."""
    level = int(round(255 * (1.0 - float(value))))
    return f"#{level:02x}{level:02x}{level:02x}"


def _big(html: str) -> str:
    """Answer lines in a size a class can read off a projector."""
    return f"<span style='font-size:1.3em;line-height:1.6'>{html}</span>"


def _png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="png")
    return buffer.getvalue()


def _picture(values: np.ndarray | None, side: int, grid_every: int) -> bytes:
    """A side×side picture (1 = ink) blown up to PICTURE_PX, with thin lines around each `grid_every` block."""
    from PIL import Image, ImageDraw  # Pillow comes with matplotlib

    cell = PICTURE_PX // side
    grey = np.zeros((side, side)) if values is None else np.asarray(values, dtype=float).reshape(side, side)
    pixels = (255 * (1.0 - np.clip(grey, 0, 1))).round().astype(np.uint8)
    image = Image.fromarray(pixels).resize((side * cell, side * cell), Image.Resampling.NEAREST).convert("RGB")
    pen = ImageDraw.Draw(image)
    for i in range(0, side + 1, grid_every):
        at = min(i * cell, side * cell - 1)
        pen.line([(at, 0), (at, side * cell)], fill=(150, 170, 210), width=1)
        pen.line([(0, at), (side * cell, at)], fill=(150, 170, 210), width=1)
    return _png(image)


class DigitPad(KitWidget):
    """A free-hand drawing pad with clear and example buttons, what the network sees, and both answers.

    model: the (possibly pruned) TinyMLP taking 64 inputs in [0, 1].
    data:  a Dataset whose test set supplies the example digits (digits is loaded if omitted).
    board: a BingoBoard, a FlashButton, or None = the FlashButton currently showing this model.
    """

    kind = "digit_pad"

    def __init__(self, model, data=None, *, board=None):
        if model.sizes[0] != SIDE * SIDE:
            raise PadInputError(f"The digit pad draws 8×8 = 64 pixels, but this model takes {model.sizes[0]} "
                                "inputs. Use an 8×8 dataset (digits, or downsample=True).")
        from ipycanvas import Canvas

        super().__init__()
        self.model = model
        self._data = data
        self._board = board
        self.strokes: list[list[tuple[float, float]]] = []   # what is drawn, in canvas pixels
        self._stroke: list[tuple[float, float]] | None = None  # the stroke the pen is drawing now
        self.pixels = np.zeros((SIDE, SIDE), dtype=np.float32)  # what the network sees, 0..1
        self.host_prediction: int | None = None
        self.board_prediction: int | None = None
        self.top3: list[tuple[int, float]] = []
        self._asked = 0            # drawings asked about so far: a late board answer for an old one is dropped
        self._board_job = None     # the board's answer for what is on the pad now (a BoardJob)
        self._int8 = None  # (weights' fingerprint, the int8 model, its logit scale): see _int8_model

        self.canvas = Canvas(width=CANVAS * SCALE, height=CANVAS * SCALE,
                             layout=widgets.Layout(width=f"{CANVAS * SCALE}px", height=f"{CANVAS * SCALE}px",
                                                   border="2px solid #9e9e9e", flex="0 0 auto"))
        self.canvas.add_class("bingo-pad-canvas")
        self._canvas_handlers = []
        for register, handler in ((self.canvas.on_mouse_down, self._mouse_down),
                                  (self.canvas.on_mouse_move, self._mouse_move),
                                  (self.canvas.on_mouse_up, self._mouse_up),
                                  (self.canvas.on_mouse_out, self._mouse_up),
                                  (self.canvas.on_touch_start, self._touch_start),
                                  (self.canvas.on_touch_move, self._touch_move),
                                  (self.canvas.on_touch_end, self._touch_end),
                                  (self.canvas.on_touch_cancel, self._touch_end)):
            register(handler)
            self._canvas_handlers.append((register, handler))
        self._blank_canvas()

        self.bitmap_picture = widgets.Image(format="png", layout=widgets.Layout(width=f"{PICTURE_PX}px"))
        self.picture = widgets.Image(format="png", layout=widgets.Layout(width=f"{PICTURE_PX}px"))
        self.picture.add_class("bingo-pad-picture")
        caption = "<div style='line-height:1.3;height:2.8em'>{}</div>"
        self.bitmap_caption = widgets.HTML(caption.format("your drawing, stretched to<br>fill the box and straightened"))
        seen = widgets.HBox([
            widgets.VBox([self.bitmap_caption, self.bitmap_picture]),
            widgets.HTML(f"<div style='font-size:2em;padding-top:{PICTURE_PX // 2}px'>→</div>",
                         layout=widgets.Layout(margin="0 6px")),
            widgets.VBox([widgets.HTML(caption.format("<b>what the network sees:</b><br>ink in each 4×4 square")),
                          self.picture]),
        ])
        self.host_text = widgets.HTML()
        self.host_text.add_class("bingo-pad-host")
        self.board_text = widgets.HTML()
        self.board_text.add_class("bingo-pad-board")
        self.top3_text = widgets.HTML()
        self.top3_text.add_class("bingo-pad-top3")
        answers = widgets.VBox([seen, self.host_text, self.board_text, self.top3_text],
                               layout=widgets.Layout(margin="0 0 0 24px"))

        self.clear_button = widgets.Button(description="Clear", icon="eraser", layout=widgets.Layout(width="90px"))
        self.clear_button.add_class("bingo-pad-clear")
        self._on_click(self.clear_button, lambda _: self.clear())
        self.example_buttons = []
        for digit in range(10):
            button = widgets.Button(description=str(digit), tooltip=f"show an example {digit} from the test set",
                                    layout=widgets.Layout(width="34px"))
            button.add_class(f"bingo-pad-example-{digit}")
            self._on_click(button, lambda _, d=digit: self.load_example(d))
            self.example_buttons.append(button)
        self.status = StatusLine()

        self.children = [
            widgets.HTML("<b>Draw a digit</b> with the mouse, a pen or your finger — big, filling the box."),
            widgets.HBox([self.canvas, answers]),
            widgets.HBox([self.clear_button, widgets.Label("examples from the test set:"), *self.example_buttons]),
            self.status,
        ]
        self.add_class("bingo-digit-pad")
        self._claim(model)
        self._show_seen(None)
        self.predict()

    # --- the pen: mouse, touch and code all arrive here ------------------------------------------
    def _begin(self, x: float, y: float) -> None:
        if self.strokes == [] and self.pixels.any():  # an example is showing: a new drawing replaces it
            self._blank_canvas()
        self._stroke = [(x, y)]
        self.canvas.fill_circle(x * SCALE, y * SCALE, drawing.PEN_WIDTH * SCALE / 2)

    def _extend(self, x: float, y: float) -> None:
        if self._stroke is None:
            return
        last_x, last_y = self._stroke[-1]
        self._stroke.append((x, y))
        self.canvas.stroke_line(last_x * SCALE, last_y * SCALE, x * SCALE, y * SCALE)

    def _end(self) -> None:
        if self._stroke is None:
            return
        self.strokes.append(self._stroke)
        self._stroke = None
        self._features_from_strokes()

    @staticmethod
    def _on_canvas(x: float, y: float) -> tuple[float, float]:
        """Screen pixels → canvas pixels; the pointer can sit on the border, so keep it on the canvas."""
        limit = CANVAS - 1e-3
        return min(max(x / SCALE, 0.0), limit), min(max(y / SCALE, 0.0), limit)

    def _mouse_down(self, x, y):
        self._begin(*self._on_canvas(x, y))

    def _mouse_move(self, x, y):
        self._extend(*self._on_canvas(x, y))

    def _mouse_up(self, x, y):
        point = self._on_canvas(x, y)
        if self._stroke is not None and point != self._stroke[-1]:
            self._extend(*point)
        self._end()

    def _touch_start(self, touches):
        if touches:
            self._mouse_down(*touches[0])

    def _touch_move(self, touches):
        if touches:
            self._mouse_move(*touches[0])

    def _touch_end(self, touches):
        self._end()

    @reporting(lambda self: self.status, failed=BoardJob.finished)
    def draw(self, strokes):
        """Draw strokes from code, exactly as a pen would: each a list of (x, y) canvas pixels (0 ≤ x, y < 32).

        A drawing the pad cannot read (empty, off the canvas, not numbers) is reported in the status line and
        in the cell that called draw (the status line may be far above it), and leaves the pad untouched.
        """
        try:
            checked = drawing.check_strokes(strokes, CANVAS)
        except KitError as error:
            print(f"❌ {error}", file=sys.stderr)  # red, like start_lesson's one-line errors
            raise
        for points in checked:
            self._begin(float(points[0][0]), float(points[0][1]))
            for x, y in points[1:]:
                self._extend(float(x), float(y))
            self._end()
        return self._board_job  # `await pad.draw(...)` waits for the board's answer too

    # --- what is on the pad ----------------------------------------------------------------------
    def _blank_canvas(self) -> None:
        from ipycanvas import hold_canvas

        with hold_canvas():
            self.canvas.clear()
            self.canvas.fill_style = PAPER
            self.canvas.fill_rect(0, 0, CANVAS * SCALE, CANVAS * SCALE)
            self.canvas.fill_style = INK
            self.canvas.stroke_style = INK
            self.canvas.line_width = drawing.PEN_WIDTH * SCALE
            self.canvas.line_cap = "round"
            self.canvas.line_join = "round"
        self.strokes = []
        self._stroke = None
        self.pixels = np.zeros((SIDE, SIDE), dtype=np.float32)

    @reporting(lambda self: self.status)
    def _features_from_strokes(self) -> None:
        bitmap = drawing.normalise(drawing.render_strokes(self.strokes, CANVAS))
        self.pixels = drawing.bitmap_to_features(bitmap).reshape(SIDE, SIDE)
        self._show_seen(bitmap)
        self.status.clear()
        self.predict()

    def _show_seen(self, bitmap) -> None:
        """The 32×32 picture the strokes became (blank for an example: the test set keeps only 8×8) → 8×8."""
        self.bitmap_picture.value = _picture(bitmap, CANVAS, grid_every=drawing.BLOCK)
        self.picture.value = _picture(self.pixels, SIDE, grid_every=1)

    def set_pixels(self, pixels) -> None:
        """Show an 8×8 (or 64-long) picture with values in [0, 1] on the pad and predict it."""
        from ipycanvas import hold_canvas

        array = np.clip(np.asarray(pixels, dtype=np.float32).reshape(SIDE, SIDE), 0.0, 1.0)
        self._blank_canvas()
        self.pixels = array.copy()
        block = CANVAS * SCALE // SIDE
        with hold_canvas():
            for row, col in zip(*np.nonzero(array)):
                self.canvas.fill_style = _grey(array[row, col])
                self.canvas.fill_rect(int(col) * block, int(row) * block, block, block)
            self.canvas.fill_style = INK
        self._show_seen(None)
        self.predict()

    def clear(self) -> None:
        self._blank_canvas()
        self._show_seen(None)
        self.status.clear()
        self.predict()

    @reporting(lambda self: self.status, failed=BoardJob.finished)
    def load_example(self, digit: int):
        data = self._dataset()
        matches = (data.y_test == digit).nonzero().flatten()
        if len(matches) == 0:
            raise KitError(f"The test set has no example of a {digit}.")
        # say it first: a board error while predicting must not be overwritten by this line
        article = "An" if digit == 8 else "A"  # "an eight"
        self.status.info(f"{article} {digit} from the test set, as the network sees it. Draw to start your own.")
        self.set_pixels(data.x_test[int(matches[0])].numpy())
        return self._board_job

    def _dataset(self):
        if self._data is None:
            from bingo_kit.data import load_dataset  # only now: loading digits takes a moment

            self._data = load_dataset("digits")
        return self._data

    # --- predicting ------------------------------------------------------------------------------
    def board(self):
        """Where the board's answers come from: the given BingoBoard or FlashButton, else the FlashButton currently
        showing this model; None when there is none."""
        return self._board if self._board is not None else live_widget(self.model, "flash_button")

    @reporting(lambda self: self.status, failed=BoardJob.finished)
    def predict(self):
        """Both answers for what is on the pad now. Returns the board's job: a cell can `await pad.predict()` until
        the board has answered too (at once when there is no board to ask)."""
        self._asked += 1
        if not self.pixels.any():
            self.host_prediction = self.board_prediction = None
            self.top3 = []
            self.host_text.value = _big("Laptop: <i>draw a digit</i>")
            self.board_text.value = _big("Board: <i>draw a digit</i>")
            self.top3_text.value = ""
            self._board_job = BoardJob.finished()
            return self._board_job
        self._predict_host()
        self._board_job = self._predict_board()
        return self._board_job

    def _int8_model(self):
        """The model as the board runs it: quantised as the flash button quantises it (calibrated on the same
        training pictures), and the factor that turns its integer logits back into real ones. Cached until the
        model's weights change (a slider move, more training)."""
        pairs = float_weights(self.model)
        fingerprint = hashlib.blake2b(b"".join(array.tobytes() for pair in pairs for array in pair)).digest()
        if self._int8 is None or self._int8[0] != fingerprint:
            quantized = quantize(self.model, self._dataset().x_train)
            _, last_weight_scale = quantize_weight(pairs[-1][0])
            self._int8 = (fingerprint, quantized, last_weight_scale * quantized.input_scales[-1])
        return self._int8[1], self._int8[2]

    def _predict_host(self) -> None:
        # the int8 answer, not the float one: the board runs int8, and the two disagree on about 1 drawing in 100
        quantized, logit_scale = self._int8_model()
        logits = quantized.logits(inputs_to_bytes(self.pixels.reshape(-1))).astype(np.float64)
        probabilities = np.exp(logit_scale * (logits - logits.max()))
        probabilities /= probabilities.sum()
        best = np.argsort(-logits, kind="stable")[:3]  # ties go to the lower digit, as on the board (§2.3)
        self.top3 = [(int(d), float(probabilities[d])) for d in best]
        label, sure = self.top3[0]
        self.host_prediction = label
        self.host_text.value = _big(f"Laptop: <b style='font-size:1.5em'>{label}</b> ({100 * sure:.0f} % sure)")
        self.top3_text.value = _big("Top 3: " + " · ".join(f"{d} ({100 * p:.0f} %)" for d, p in self.top3))

    def _predict_board(self):
        self.board_prediction = None
        source = self.board()
        if source is None or getattr(source, "flashed", True) is False:
            self.board_text.value = _big("Board: <i>not connected — flash the model first</i>")
            return BoardJob.finished()
        x_u8 = inputs_to_bytes(self.pixels.reshape(1, -1))[0]
        asked = self._asked
        self.board_text.value = _big("Board: <i>thinking…</i>")
        if hasattr(source, "flashed"):    # a FlashButton: its board, in that board's thread
            job = source.predict(x_u8)
        else:                             # a BingoBoard given directly
            job = run_on_board(getattr(source, "port_name", ""), source.predict, x_u8)
        job.add_done_callback(lambda done: self._show_board_answer(done, asked))
        return job

    def _show_board_answer(self, job, asked: int) -> None:
        """The board's answer, when it comes (at once for a USB or simavr board; later for the page's)."""
        if asked != self._asked:  # the drawing changed while the board thought: this answer is for the old one
            return
        error = job.exception()
        if error is not None:
            self.board_text.value = _big("Board: <i>no answer</i>")
            self.status.report(error)
            return
        answer = job.result()
        self.board_prediction = int(answer.label)
        self.board_text.value = _big(f"Board: <b style='font-size:1.5em'>{answer.label}</b> "
                                     f"(thought for {answer.micros / 1000:.2f} ms)")

    # --- re-run hygiene --------------------------------------------------------------------------
    def observer_count(self) -> int:
        return super().observer_count() + len(self._canvas_handlers)

    def _release(self) -> None:
        for register, handler in self._canvas_handlers:
            register(handler, remove=True)
        self._canvas_handlers.clear()
