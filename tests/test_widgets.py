"""The classroom widgets, driven from Python exactly as a lesson (or nbval) would: `.value = …`, `.click()`.

Real library underneath (training, pruning, export, flash; the Simulated Uno for the firmware-marked ones).
"""
from __future__ import annotations

import copy
import math
import re

import numpy as np
import pytest
import torch

from bingo_kit import pruning
from bingo_kit.drawing import strokes_to_features
from bingo_kit.errors import KitError
from bingo_kit.export import blob_size, export_model, inputs_to_bytes
from bingo_kit.board.board import BoardDisconnectedError
from bingo_kit.models import make_mlp
from bingo_kit.training import accuracy
from bingo_kit.widgets import DigitPad, FlashButton, LiveScores, PruneSlider, StatusLine
from bingo_kit.widgets.common import KitWidget, reporting
from bingo_kit.widgets.prune_slider import _tile
from fake_board import FakeBoard

PNG_MAGIC = b"\x89PNG"


# `digits` is the session fixture of tests/conftest.py. The model here is trained *with BINGO* (the slider's
# default method needs its scores), so it cannot be conftest's plainly trained `trained_mlp`.
@pytest.fixture(scope="module")
def trained(digits):
    from bingo_kit.bingo import train_with_bingo

    model = make_mlp((64, 16, 10), seed=0)
    _, scores = train_with_bingo(model, digits, epochs=12, progress=False)
    return model, scores


@pytest.fixture
def private_sim_eeprom(tmp_path, monkeypatch):
    """The Simulated Uno keeps its EEPROM under $BINGO_KIT_CACHE: give each test its own board."""
    monkeypatch.setenv("BINGO_KIT_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def model(trained):
    return copy.deepcopy(trained[0])  # each test prunes its own copy


@pytest.fixture
def scores(trained):
    return trained[1]


# --- the shared status line ------------------------------------------------------------------------

class _Failing(KitWidget):
    def __init__(self, error):
        super().__init__()
        self.status, self.error = StatusLine(), error

    @reporting(lambda self: self.status)
    def act(self):
        raise self.error


def test_status_line_shows_a_kit_error_as_its_own_sentence():
    widget = _Failing(KitError("Plug the board in, then press refresh."))
    assert widget.act() is None  # reported, not raised
    assert widget.status.kind == "error"
    assert widget.status.text == "Plug the board in, then press refresh."
    assert "bingo-status-error" in widget.status.value


def test_status_line_marks_anything_else_as_a_bug_without_swallowing_it():
    widget = _Failing(ZeroDivisionError("division by zero"))
    widget.act()
    assert widget.status.kind == "error"
    assert "ZeroDivisionError: division by zero" in widget.status.text
    assert "bug" in widget.status.text
    assert isinstance(widget.status.last_error, ZeroDivisionError)


# --- prune slider ----------------------------------------------------------------------------------

def test_slider_prunes_the_model_in_place_and_updates_every_readout(model, digits, scores):
    slider = PruneSlider(model, digits, scores=scores, method="magnitude")
    assert slider.kept == slider.total == 1184
    dense_picture = bytes(slider.picture.value)
    slider.fraction.value = 50
    assert pruning.kept_weights(model) == (592, 1184)
    assert "592 / 1184" in slider.kept_text.value
    model_accuracy = accuracy(model, digits.x_test, digits.y_test)
    assert f"{100 * model_accuracy:.1f} %" in slider.accuracy_text.value
    change = 100 * (model_accuracy - slider.dense_accuracy)
    assert f"{change:+.1f} points" in slider.accuracy_text.value
    assert bytes(slider.picture.value).startswith(PNG_MAGIC) and bytes(slider.picture.value) != dense_picture
    assert slider.status.text == ""


def test_fit_gauge_turns_green_when_the_export_fits_the_board(model, digits):
    slider = PruneSlider(model, digits, method="magnitude")
    assert slider.size == blob_size(model) == 1309 and not slider.fits  # dense 64-16-10 > 1020 bytes
    assert slider.fit_gauge.style.bar_color == "#c62828" and "too big" in slider.fit_text.value
    slider.fraction.value = 60
    assert slider.fits and slider.size == blob_size(model) <= 1020
    assert slider.fit_gauge.value == slider.size and slider.fit_gauge.style.bar_color == "#2e7d32"
    assert export_model(model, digits, board="uno").fits  # the gauge agrees with the real exporter
    slider.board.value = "mega"
    assert slider.capacity == 4092 and "/ 4092 bytes" in slider.fit_text.value


def test_method_dropdown_changes_which_weights_survive(model, digits, scores):
    slider = PruneSlider(model, digits, scores=scores)
    assert slider.method.value == "bingo"  # scores given → BINGO by default
    slider.fraction.value = 70
    masks = {}
    for method in ("bingo", "magnitude", "random"):
        slider.method.value = method
        assert slider.status.kind != "error", slider.status.text
        masks[method] = torch.cat([layer.weight_mask.flatten() for layer in model.layers])
        assert int(masks[method].sum()) == round(0.3 * 1184)
    assert not torch.equal(masks["bingo"], masks["magnitude"])
    assert not torch.equal(masks["random"], masks["magnitude"])


def test_without_scores_bingo_is_not_offered_and_asking_for_it_says_what_to_do(model, digits):
    slider = PruneSlider(model, digits)
    assert [value for _, value in slider.method.options] == ["magnitude", "random"]
    with pytest.raises(KitError, match="needs significance scores: train with train_scored"):
        PruneSlider(model, digits, method="BINGO")


def test_a_lesson_can_hide_what_it_has_not_taught_yet(model, digits):
    slider = PruneSlider(model, digits, fit_gauge=False, floor_button=False)
    shown = set()

    def walk(widget):
        shown.add(widget)
        for child in getattr(widget, "children", ()):
            walk(child)

    walk(slider)
    assert slider.fit_gauge not in shown and slider.floor_button not in shown
    assert slider.fraction in shown and slider.picture in shown
    slider.fraction.value = 50  # the hidden parts still keep up, so nothing breaks if a lesson reads them
    assert slider.status.kind != "error" and slider.kept < slider.total


def test_library_errors_land_in_the_status_line(model, digits):
    wrong_scores = {"layers.0": torch.rand(3, 3), "layers.1": torch.rand(3, 3)}
    slider = PruneSlider(model, digits, scores=wrong_scores, method="magnitude")
    slider.method.value = "bingo"
    assert slider.status.kind == "error"
    assert "do not match this model" in slider.status.text  # pruning's own sentence


def test_a_crashing_update_is_reported_not_swallowed(model, digits, monkeypatch):
    slider = PruneSlider(model, digits)

    def broken(*args, **kwargs):
        raise RuntimeError("mask went missing")

    monkeypatch.setattr(pruning, "prune_fraction", broken)
    slider.fraction.value = 10
    assert slider.status.kind == "error"
    assert "RuntimeError: mask went missing" in slider.status.text


def test_find_the_floor_moves_the_slider_there(model, digits):
    slider = PruneSlider(model, digits, method="magnitude", floor_drop=2.0)
    slider.floor_button.click()
    result = slider.floor_result
    assert slider.status.kind == "ok", slider.status.text
    assert slider.fraction.value == min(99, math.floor(100 * result.fraction + 1e-9)) > 0
    assert result.accuracy >= slider.dense_accuracy - 0.02
    # the view shows the slider's position, and the model is pruned to it
    kept, total = pruning.kept_weights(model)
    assert kept == total - round(slider.fraction.value / 100 * total)


def test_rerunning_the_cell_leaves_one_live_slider(model, digits, monkeypatch):
    calls = []
    real = pruning.prune_fraction

    def counting(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(pruning, "prune_fraction", counting)
    first = PruneSlider(model, digits)
    observers = first.observer_count()
    second = PruneSlider(model, digits)  # the same cell run again
    assert first.closed and not second.closed
    assert first.observer_count() == 0 and second.observer_count() == observers
    calls.clear()
    second.fraction.value = 30
    assert calls == [0.3]  # exactly one prune per move, not one per run of the cell
    first.fraction.value = 80  # the stale slider no longer touches the model
    assert calls == [0.3]
    assert pruning.kept_weights(model)[0] == 1184 - round(0.3 * 1184)


def test_first_layer_is_tiled_as_8x8_pictures():
    rgba = np.random.default_rng(0).random((16, 64, 4))
    mosaic = _tile(rgba, (8, 8))
    assert mosaic.shape == (4 * 9 - 1, 4 * 9 - 1, 4)
    assert np.array_equal(mosaic[9:17, 18:26], rgba[6].reshape(8, 8, 4))  # neuron 6: row 1, column 2
    assert np.all(mosaic[8, :] == 1.0)  # white gap between tiles


# --- live scores -----------------------------------------------------------------------------------

def test_live_scores_redraw_one_figure_in_place_for_both_rules(digits):
    import matplotlib.pyplot as plt

    live = LiveScores(panels=("prose", "paper"), every=5, min_seconds=0.0)
    figures_before = plt.get_fignums()
    _, prose_scores = live.train(make_mlp(seed=1), digits, rule="prose", epochs=2, progress=False)
    figure, draws, picture = live.figure, live.draws, bytes(live.picture.value)
    _, paper_scores = live.train(make_mlp(seed=1), digits, rule="paper", epochs=2, progress=False)
    assert live.figure is figure and plt.get_fignums() == figures_before  # one figure, no pyplot windows
    steps_per_run = 2 * math.ceil(len(digits.y_train) / 32)
    assert draws >= steps_per_run // 5 and live.draws >= 2 * draws
    assert bytes(live.picture.value).startswith(PNG_MAGIC) and bytes(live.picture.value) != picture
    prose, paper = live.panels["prose"], live.panels["paper"]
    assert len(prose.test_accuracy) == len(paper.test_accuracy) == 2
    assert len(prose.steps) == steps_per_run
    # the panels show the scorers' live tensors: final values equal what training returned
    assert torch.equal(prose.scores["layers.0"], prose_scores["layers.0"])
    assert torch.equal(paper.scores["layers.1"], paper_scores["layers.1"])
    assert live.status.kind == "ok" and "paper: done" in live.status.text


def test_live_scores_text_is_big_enough_for_a_projector(digits):
    """Lesson 4 shows this figure on a projector: every word in it is at least 14 px in the PNG, and the PNG is
    narrow enough to be shown at its own size (test_browser.py checks that in Chromium)."""
    from matplotlib.text import Text
    from PIL import Image
    import io

    live = LiveScores(panels=("prose", "paper"))
    live.train(make_mlp(seed=1), digits, rule="prose", epochs=1, progress=False)
    texts = [t for t in live.figure.findobj(Text) if t.get_visible() and t.get_text().strip()]
    assert len(texts) > 20  # titles, axis labels, tick labels, legend
    smallest = min(t.get_fontsize() * live.figure.dpi / 72 for t in texts)
    assert smallest >= 14, f"smallest text {smallest:.1f} px"
    width, _ = Image.open(io.BytesIO(bytes(live.picture.value))).size
    assert width <= 800, width


def test_live_scores_errors_go_to_the_status_and_training_goes_on(digits):
    live = LiveScores(panels=("prose",), every=50)
    live.train(make_mlp(seed=0), digits, rule="prose", epochs=1, progress=False)
    history, _ = live.train(make_mlp((64, 8, 10), seed=0), digits, rule="prose", epochs=2, progress=False)
    assert len(history.test_accuracy) == 2  # the broken plot did not stop training
    assert live.status.kind == "error" and "same network shape" in live.status.text
    with pytest.raises(KitError, match="No panel called 'paper'"):
        live.watch(panel="paper")


# --- digit pad -------------------------------------------------------------------------------------

SEVEN = [[(7, 6), (24, 6), (13, 28)], [(11, 17), (21, 17)]]  # a 7 with a bar, drawn in two strokes


def _mouse(pad, event, x, y):
    """What ipycanvas receives from the browser when the pointer does `event` at screen pixel (x, y)."""
    pad.canvas._handle_frontend_event(pad.canvas, {"event": event, "x": x, "y": y}, [])


def test_pad_draws_and_the_laptop_answers(model, digits):
    pad = DigitPad(model, digits)
    assert pad.host_prediction is None and "draw a digit" in pad.host_text.value
    pad.draw(SEVEN)
    assert pad.status.kind != "error", pad.status.text
    assert len(pad.strokes) == 2
    assert np.array_equal(pad.pixels.reshape(-1), strokes_to_features(SEVEN))  # the library's reduction
    # the laptop answers with the int8 model the board runs, quantised as the flash button quantises it
    logits = export_model(model, calibration_x=digits.x_train).quantized.logits(inputs_to_bytes(pad.pixels.reshape(-1)))
    expected = int(np.argmax(logits))
    assert pad.host_prediction == expected and f">{expected}</b>" in pad.host_text.value
    assert [d for d, _ in pad.top3] == np.argsort(-logits, kind="stable")[:3].tolist()
    assert f"Top 3: {expected} (" in pad.top3_text.value
    assert abs(sum(p for _, p in pad.top3) - 1) < 0.5 and pad.top3[0][1] >= pad.top3[1][1] >= pad.top3[2][1]
    assert f"({100 * pad.top3[0][1]:.0f} % sure)" in pad.host_text.value
    assert "not connected" in pad.board_text.value and pad.board_prediction is None
    assert bytes(pad.picture.value).startswith(PNG_MAGIC) and "stretched" in pad.bitmap_caption.value
    pad.clear_button.click()
    assert not pad.pixels.any() and pad.strokes == [] and pad.host_prediction is None and pad.top3 == []


def test_the_laptop_answer_is_the_int8_answer_the_board_gives(trained_mlp, digits):
    """Float and int8 disagree on a few digits; the pad shows the int8 one, which is what the board computes."""
    trained_mlp = copy.deepcopy(trained_mlp)  # a session fixture: prune a copy
    quantized = export_model(trained_mlp, calibration_x=digits.x_train).quantized
    with torch.no_grad():
        by_float = trained_mlp(digits.x_test).argmax(dim=1).numpy()
    by_int8 = quantized.predict(inputs_to_bytes(digits.x_test))
    disagree = np.nonzero(by_float != by_int8)[0]
    assert len(disagree) > 0  # else this test proves nothing: pick another model
    pad = DigitPad(trained_mlp, digits)
    for index in disagree:
        pad.set_pixels(digits.x_test[index].numpy())
        assert pad.host_prediction == by_int8[index] != by_float[index]
    # the int8 model is made once per model and made again when its weights change
    cached = pad._int8_model()[0]
    pad.set_pixels(digits.x_test[0].numpy())
    assert pad._int8_model()[0] is cached
    pruning.prune_fraction(trained_mlp, 0.5)
    pad.set_pixels(digits.x_test[0].numpy())
    assert pad._int8_model()[0] is not cached
    assert np.array_equal(pad._int8_model()[0].weights[0],
                          export_model(trained_mlp, calibration_x=digits.x_train).quantized.weights[0])


def test_mouse_moves_and_pad_draw_take_the_same_path(model, digits):
    by_code, by_mouse = DigitPad(make_mlp(seed=3), digits), DigitPad(model, digits)
    by_code.draw(SEVEN)
    for stroke in SEVEN:  # the canvas is shown 10× larger: screen pixels are canvas pixels × 10
        (x0, y0), *rest = stroke
        _mouse(by_mouse, "mouse_down", 10 * x0, 10 * y0)
        for x, y in rest:
            _mouse(by_mouse, "mouse_move", 10 * x, 10 * y)
        _mouse(by_mouse, "mouse_up", 10 * rest[-1][0], 10 * rest[-1][1])
    assert by_mouse.strokes == by_code.strokes == [[(float(x), float(y)) for x, y in s] for s in SEVEN]
    assert np.array_equal(by_mouse.pixels, by_code.pixels)
    # a pointer on the canvas border stays on the canvas instead of failing
    _mouse(by_mouse, "mouse_down", 320, 0)
    _mouse(by_mouse, "mouse_up", 325, -3)
    assert by_mouse.status.kind != "error", by_mouse.status.text
    assert by_mouse.strokes[-1] == [(31.999, 0.0)]


def test_a_drawing_the_pad_cannot_read_is_one_line_and_loses_nothing(model, digits):
    pad = DigitPad(model, digits)
    pad.draw(SEVEN)
    pixels, answer = pad.pixels.copy(), pad.host_text.value
    for bad, words in (([[(40, 3), (5, 5)]], "outside the 32×32 canvas"), ([], "Nothing is drawn yet"),
                       ([[(3, float("nan"))]], "not a number")):
        pad.draw(bad)
        assert pad.status.kind == "error" and words in pad.status.text and "\n" not in pad.status.text
        assert np.array_equal(pad.pixels, pixels) and pad.host_text.value == answer and len(pad.strokes) == 2


def test_pad_example_digits_come_from_the_test_set(model, digits):
    pad = DigitPad(model, digits)
    pad.example_buttons[7].click()
    first_seven = digits.x_test[(digits.y_test == 7).nonzero().flatten()[0]]
    assert np.allclose(pad.pixels.reshape(-1), first_seven.numpy())
    assert pad.host_prediction == int(model(first_seven[None]).argmax()) == 7
    assert "A 7 from the test set" in pad.status.text
    pad.example_buttons[8].click()
    assert pad.status.text.startswith("An 8 from the test set")  # not "A 8"
    pad.example_buttons[7].click()
    pad.draw(SEVEN)  # drawing after an example starts a new drawing
    assert np.array_equal(pad.pixels.reshape(-1), strokes_to_features(SEVEN))


class _UnpluggedBoard:
    """A board whose cable was just pulled: the flash layer's own error, raised on every request."""

    def predict(self, x_u8):
        raise BoardDisconnectedError("The board on /dev/ttyACM0 stopped answering — was it unplugged or reset?")


def test_pad_reports_a_board_error_and_keeps_the_laptop_answer(model, digits):
    pad = DigitPad(model, digits, board=_UnpluggedBoard())
    pad.example_buttons[2].click()
    assert pad.status.kind == "error" and "unplugged" in pad.status.text
    assert pad.host_prediction == 2 and "no answer" in pad.board_text.value


def test_pad_needs_an_8x8_model():
    with pytest.raises(KitError, match="8×8 = 64 pixels"):
        DigitPad(make_mlp((784, 16, 10)))


def test_rerunning_the_pad_cell_detaches_the_old_pad(model, digits):
    first = DigitPad(model, digits)
    observers = first.observer_count()
    second = DigitPad(model, digits)
    assert first.closed and first.observer_count() == 0 and second.observer_count() == observers
    _mouse(first, "mouse_down", 100, 100)
    _mouse(first, "mouse_up", 100, 200)
    assert first.strokes == [] and not first.pixels.any()  # the stale pad no longer reacts
    _mouse(second, "mouse_down", 100, 100)
    _mouse(second, "mouse_up", 100, 200)
    assert len(second.strokes) == 1 and second.pixels.any()


# --- flash button ----------------------------------------------------------------------------------

def _flash_button_on(port, label, model, digits):
    """A FlashButton with `port` in its dropdown, as if refresh() had listed it."""
    flash = FlashButton(model, digits)
    flash.port.options = [*flash.port.options, (label, port)]
    flash.port.value = port
    return flash


def test_flash_checks_the_fit_before_sending_any_model_byte(model, digits):
    with FakeBoard(capacity=1020) as fake:
        flash = _flash_button_on(fake.port, "ttyUSB0 — Uno/Nano clone (CH340)", model, digits)
        assert [label for label, _ in flash.port.options][-4:-1] == ["Simulated Uno", "Simulated Uno in this page",
                                                                    "USB board, through this browser"]
        try:
            flash.flash_button.click()  # dense: 1309 bytes
            assert flash.status.kind == "error"
            assert "1309 bytes" in flash.status.text and "289 bytes too many" in flash.status.text
            assert flash.progress.value == 0 and fake.model_blob is None
            assert fake.requests == [0x49]   # only IDENTIFY (it reads the capacity): no UPLOAD_BEGIN
        finally:
            flash.close()


def test_flash_fit_check_uses_the_boards_own_capacity_not_the_usb_guess(model, digits):
    # A Mega 2560 clone with a CH340 chip has the same USB id as an Uno clone; only IDENTIFY tells them apart.
    with FakeBoard(capacity=4092, board_code=2) as fake:
        flash = _flash_button_on(fake.port, "ttyUSB0 — Uno/Nano clone (CH340)", model, digits)
        try:
            flash.flash_button.click()  # dense 1309 bytes: too big for an Uno, fine for a Mega
            assert flash.status.kind == "ok", flash.status.text
            assert flash.last_report.capacity == 4092 and flash.last_report.board.key == "mega"
            assert fake.model_blob == flash.last_report.blob and len(fake.model_blob) == 1309
        finally:
            flash.close()


def test_flash_to_a_vanished_port_says_so_in_plain_words(model, digits):
    pruning.prune_fraction(model, 0.6)
    flash = FlashButton(model, digits)
    flash.port.options = [*flash.port.options, ("/dev/ttyACM9 — Arduino Uno", "/dev/ttyACM9")]
    flash.port.value = "/dev/ttyACM9"  # listed at refresh time, unplugged since
    flash.flash_button.click()
    assert flash.status.kind == "error"
    assert "Could not open /dev/ttyACM9" in flash.status.text
    assert flash.connected_board() is None and flash.progress.bar_style == ""


def test_test_on_board_turns_red_when_the_board_disagrees(model, digits):
    pruning.prune_fraction(model, 0.6)
    with FakeBoard() as fake:
        flash = _flash_button_on(fake.port, "ttyACM0 — Arduino Uno", model, digits)
        flash.test_count.value = 10
        try:
            flash.flash_button.click()
            assert flash.status.kind == "ok", flash.status.text
            flash.test_button.click()
            assert flash.status.kind == "ok" and flash.last_test["agree"] == 10
            fake.logit_error = 1   # one logit off by one: labels may still match, logits do not
            flash.test_button.click()
            assert flash.last_test["agree"] == 0 and flash.last_test["agreement"] == 0.0
            assert flash.status.kind == "error" and "disagrees" in flash.status.text
            assert flash.progress.bar_style == "danger" and "0/10" in flash.test_text.value
        finally:
            flash.close()


def test_test_on_board_before_flashing_explains_itself(model, digits):
    flash = FlashButton(model, digits)
    flash.test_button.click()
    assert flash.status.kind == "error" and "Flash the model first" in flash.status.text


@pytest.mark.firmware
def test_flash_the_simulated_uno_then_test_on_it(model, digits, private_sim_eeprom):
    pruning.prune_fraction(model, 0.6, method="magnitude")
    flash = FlashButton(model, digits, port="sim", test_digits=25)
    try:
        flash.flash_button.click()
        assert flash.status.kind == "ok", flash.status.text
        size = blob_size(model)
        assert f"Flashed {size} bytes to the Simulated Uno" in flash.status.text
        assert flash.progress.value == flash.progress.max == size and flash.progress.bar_style == "success"
        assert flash.last_upload.bytes == size

        flash.test_button.click()
        assert flash.status.kind == "ok", flash.status.text
        result = flash.last_test
        assert result["count"] == 25 and result["agree"] == 25  # the board is bit-exact with the host int8
        assert result["mean_micros"] > 0 and "25/25" in flash.test_text.value

        # the digit pad finds the flashed board by itself and shows both answers
        pad = DigitPad(model, digits)
        pad.example_buttons[4].click()
        assert pad.status.kind != "error", pad.status.text
        q = flash.last_report.quantized
        assert pad.board_prediction == int(q.predict(inputs_to_bytes(pad.pixels.reshape(1, -1)))[0])
        assert "thought for" in pad.board_text.value and " ms" in pad.board_text.value

        # a drawn digit reaches the board too, through the same path as the mouse
        pad.draw(SEVEN)
        assert pad.status.kind != "error", pad.status.text
        drawn = inputs_to_bytes(strokes_to_features(SEVEN).reshape(1, -1))
        assert pad.board_prediction == int(q.predict(drawn)[0])
        assert re.search(r"Board: <b[^>]*>\d</b> \(thought for \d+\.\d\d ms\)", pad.board_text.value)
    finally:
        flash.close()


@pytest.mark.firmware
def test_a_released_board_reconnects_when_its_button_is_clicked(model, digits, private_sim_eeprom):
    """Run All in a lesson: a later widget takes the port; the earlier button still works when clicked."""
    pruning.prune_fraction(model, 0.6)
    first = FlashButton(model, digits, port="sim", test_digits=10)
    first.flash_button.click()
    assert first.status.kind == "ok", first.status.text
    other = FlashButton(make_mlp((64, 16, 10), seed=1), digits, port="sim")  # another model's button
    try:
        assert not first.closed
        other._connect("sim")  # it opens the same port (as lesson 8's button would after lesson 7's)
        assert first._board is None  # ... which released the first one's connection
        first.test_button.click()  # clicking the first button again connects again and tests
        assert first.status.kind == "ok", first.status.text
        assert first.last_test["agree"] == 10
    finally:
        first.close()
        other.close()


@pytest.mark.firmware
def test_rerunning_the_flash_cell_releases_the_board(model, digits, private_sim_eeprom):
    pruning.prune_fraction(model, 0.6)
    first = FlashButton(model, digits, port="sim")
    first.flash_button.click()
    assert first.status.kind == "ok", first.status.text
    runner = first.connected_board().simulator.process
    second = FlashButton(model, digits, port="sim")  # the same cell run again
    try:
        assert first.closed and first.connected_board() is None
        assert runner.poll() is not None  # the old simulated Uno was powered off
        second.flash_button.click()  # and the port opens again for the new widget
        assert second.status.kind == "ok", second.status.text
    finally:
        second.close()
    assert second.connected_board() is None


@pytest.mark.firmware
def test_lesson_8s_button_flashes_the_entry_made_last_not_the_one_it_was_built_with(digits, private_sim_eeprom):
    """Run All makes a too-big entry and the button; the student fixes the entry and presses Flash without
    running the button's cell again: the board must get the fixed entry's own blob."""
    from bingo_kit.board.protocol import crc16
    from bingo_kit.lessons import challenge_entry, newest_entry

    too_big = challenge_entry("Ada", digits, hidden=32, method="magnitude", fraction=0.3, epochs=1, practice_epochs=0)
    assert not too_big.fits
    flash = FlashButton(newest_entry, digits, port="sim", test_digits=20)
    try:
        flash.flash_button.click()
        assert flash.status.kind == "error" and f"{too_big.size} bytes" in flash.status.text
        assert "slider" not in flash.status.text and "fewer hidden neurons" in flash.status.text  # lesson 8's words
        fixed = challenge_entry("Ada", digits, hidden=12, method="magnitude", fraction=0.5, epochs=1,
                                practice_epochs=0)
        flash.flash_button.click()
        assert flash.status.kind == "ok", flash.status.text
        assert flash.last_report.blob == fixed.blob
        assert (flash.last_upload.bytes, flash.last_upload.crc) == (fixed.size, crc16(fixed.blob))
        flash.test_button.click()   # the board answers with the fixed entry, bit for bit like the laptop
        assert flash.status.kind == "ok" and flash.last_test["agree"] == 20
    finally:
        flash.close()


def test_a_plain_models_too_big_message_names_no_widget_the_lesson_lacks(model, digits):
    with FakeBoard(capacity=1020) as fake:
        flash = _flash_button_on(fake.port, "ttyACM0 — Arduino Uno", model, digits)
        try:
            flash.flash_button.click()  # dense: 1309 bytes
            assert flash.status.kind == "error" and "slider" not in flash.status.text
            assert "Prune more weights, then flash again." in flash.status.text
        finally:
            flash.close()


@pytest.mark.firmware
@pytest.mark.parametrize("installer", ["avrdude", "kit"])
def test_install_button_puts_the_receiver_on_a_blank_board(installer, monkeypatch):
    """Lesson 0's button, on the Simulated blank Uno (only Optiboot in its flash): install, then it answers; the
    progress bar follows the write and the read-back with either installer (the kit's own where there is no
    avrdude). A second click finds the receiver there and offers to install anyway."""
    from bingo_kit.board import install
    from bingo_kit.board.simavr import BlankSimulatedUno
    from bingo_kit.widgets import InstallFirmware

    if installer == "kit":
        monkeypatch.setattr(install, "avrdude_path", lambda: None)  # a computer without avrdude
    BlankSimulatedUno.default().erase()
    button = InstallFirmware(port="sim-blank", board="uno")
    seen = []
    button.progress.observe(lambda change: seen.append(change["new"]), names="value")
    try:
        assert [value for _, value in button.port.options][-2:] == ["sim-blank", "web-serial"]
        button.install_button.click()
        assert button.status.kind == "ok", button.status.text
        assert button.progress.value == 1.0 and button.progress.bar_style == "success"
        assert button.last_result.info.capacity == 1020 and button.last_result.using == installer
        assert len(seen) > 20 and seen == sorted(seen) and any(0.4 < f < 0.6 for f in seen)  # write, then read back
        button.install_button.click()  # the receiver is there now: nothing is written, and it says so
        assert button.status.kind == "ok" and "already" in button.status.text, button.status.text
        assert button.install_button.description == "Install anyway"
        button.board.value = "mega"  # the wrong board, installed anyway: one clear line, and the board still works
        assert button.install_button.description == "Install the receiver"
        button.install_button.click()
        assert "already on this Arduino Uno" in button.status.text, button.status.text
        button.install_button.click()
        assert button.status.kind == "error" and "Uno" in button.status.text, button.status.text
        button.board.value = "uno"
        button.install_button.click()
        assert button.status.kind == "ok" and "already" in button.status.text, button.status.text
    finally:
        button.close()
