"""The lesson exercise checks: right answers get a ✅, wrong ones a hint that points the right way."""
import numpy as np
import pytest
import torch

from bingo_kit import lessons
from bingo_kit.lessons import lottery_tickets
from bingo_kit.lessons.challenge import seed_for
from bingo_kit.pruning import pruned_accuracy
from bingo_kit.lessons import (ChallengeEntry, Feedback, ResultsTable, check_capacity, check_challenge,
                               check_float_bytes, check_index_list_bytes, check_inference_time,
                               check_kept_by_magnitude, check_race_winner, check_significance, check_verdict,
                               check_weight_count)


def assert_right(feedback: Feedback):
    assert isinstance(feedback, Feedback)
    assert feedback.ok and bool(feedback), feedback.message
    assert repr(feedback).startswith("✅")


def assert_hint(feedback: Feedback, *words: str):
    assert not feedback.ok and not bool(feedback), feedback.message
    assert repr(feedback).startswith("🤔 Not yet.")
    for word in words:
        assert word in feedback.message, (word, feedback.message)


def test_unfilled_exercise_asks_for_an_answer():
    for check in (check_weight_count, check_float_bytes, check_capacity, check_kept_by_magnitude):
        assert_hint(check(...), "Replace the ...")


def test_weight_count_default_network():
    assert lessons.weight_count((64, 16, 10)) == 64 * 16 + 16 * 10 == 1184
    assert_right(check_weight_count(1184))
    assert "64×16 + 16×10 = 1184" in check_weight_count(1184).message
    assert_hint(check_weight_count(1210), "too big", "Biases don't count")  # counted the biases too
    assert_hint(check_weight_count(80), "too small")                       # added instead of multiplied
    assert_hint(check_weight_count("lots"), "should be a number")
    assert_right(check_weight_count(64 * 32 + 32 * 10, sizes=(64, 32, 10)))


def test_capacity_is_eeprom_minus_record_header():
    assert_right(check_capacity(1020))
    assert_right(check_capacity(4092, board="mega"))
    assert_hint(check_capacity(1024), "too big")


def test_kept_by_magnitude_compares_sizes_not_signs():
    assert lessons.largest_by_magnitude(lessons.HAND_WEIGHTS, 3) == [0.8, -0.9, -0.4]
    assert_right(check_kept_by_magnitude([-0.9, 0.8, -0.4]))          # order does not matter
    assert_hint(check_kept_by_magnitude([0.8, 0.3, 0.02]), "POSITIVE")  # forgot the minus signs
    assert_hint(check_kept_by_magnitude([0.8, -0.9]), "exactly 3")
    assert_hint(check_kept_by_magnitude([0.8, -0.9, 0.3]), "size")
    assert_hint(check_kept_by_magnitude("big ones"), "list of numbers")


def test_float_bytes_counts_weights_and_biases():
    assert lessons.float_bytes((64, 16, 10)) == (1184 + 26) * 4 == 4840
    assert_right(check_float_bytes(4840))
    assert_hint(check_float_bytes(1184 * 4), "too small", "biases")


def test_index_list_bytes_follows_the_protocol():
    # PROTOCOL.md §2.2: out row counts + nnz column indices + nnz values
    assert lessons.index_list_bytes(16, 100) == 216
    assert_right(check_index_list_bytes(216, out=16, nnz=100))
    assert_hint(check_index_list_bytes(100, out=16, nnz=100), "TWO bytes")


def test_inference_time_from_cycles():
    assert_right(check_inference_time(1.0, cycles=16_000))
    assert_right(check_inference_time(0.5, cycles=8_000))
    assert_hint(check_inference_time(8.0, cycles=8_000), "too big", "16000 cycles per millisecond")
    assert "16747" not in check_inference_time(16747 / 16000, cycles=16747).message


def test_significance_by_hand():
    # S_prev 0.5, accuracy 0.9 before the fake pass and 0.6 after: change 0.3/0.9 = 1/3
    assert lessons.bingo_update(0.5, 0.9, 0.6, "prose") == pytest.approx((0.5 + 1 / 3) / 2)
    assert lessons.bingo_update(0.5, 0.9, 0.6, "paper") == pytest.approx((0.5 + 2 / 3) / 2)
    assert_right(check_significance(0.417, previous=0.5, before=0.9, after=0.6))
    assert_right(check_significance(0.42, previous=0.5, before=0.9, after=0.6))
    assert_hint(check_significance(0.583, previous=0.5, before=0.9, after=0.6), "too big")  # the paper rule
    assert_hint(check_significance(0.167, previous=0.5, before=0.9, after=0.6), "too small")  # forgot S_prev


def test_hand_formula_is_the_one_bingo_kit_uses():
    """The lesson's formula must be the library's: run one real fake pass and compare every score."""
    from bingo_kit.bingo import BingoScorer
    from bingo_kit.models import make_mlp

    for rule in ("prose", "paper"):
        model = make_mlp((4, 3, 2), seed=1)
        with torch.no_grad():
            for layer in model.layers:  # move away from the initial weights so a reset changes something
                layer.weight.mul_(-3)
        scorer = BingoScorer(model, rule=rule, seed=0, p=0.99, tickets=1)  # p high: room for 12+ weights
        x = torch.rand(64, 4, generator=torch.Generator().manual_seed(0))
        y = model(x).argmax(dim=1)  # the current network is 100% right, so A_b = 1
        ticket = scorer.draw_tickets()
        # flat indices of the weights it resets (repeats allowed): the whole first layer
        ticket = torch.arange(ticket.numel()).view_as(ticket) % 12
        assert lottery_tickets._ticket_mask(ticket[0], model)[0].all() and not lottery_tickets._ticket_mask(ticket[0], model)[1].any()
        before, after = scorer.score_step(x, y, tickets=ticket)
        expected = lessons.bingo_update(0.5, float(before), float(after[0]), rule)
        assert float(after[0]) < 1.0  # the reset really changed the answers
        assert torch.allclose(scorer.scores["layers.0"], torch.full((3, 4), expected))
        assert torch.equal(scorer.scores["layers.1"], torch.full((2, 3), 0.5))


def test_verdict_follows_the_evidence_not_a_fixed_answer():
    evidence = {"paper": 0.31, "prose": 0.88}
    assert_right(check_verdict("prose", evidence))
    assert "'prose' rule" in check_verdict("prose", evidence).message
    wrong = check_verdict("paper", evidence)
    assert_hint(wrong, "Look at the bars again")
    for answer_given_away in ("prose", "88", "31"):  # the hint sends the student back to the evidence, no further
        assert answer_given_away not in wrong.message
    assert_hint(check_verdict("the formula", evidence), "['paper', 'prose']")
    flipped = {"paper": 0.9, "prose": 0.2}  # if the measurement said otherwise, so would the check
    assert_right(check_verdict("paper", flipped))


def test_race_winner_reads_the_table():
    seconds = {"bingo": 1.2, "imp": 9.5, "magnitude": 0.8, "random": 0.7}
    assert_right(check_race_winner("random", seconds))
    assert_hint(check_race_winner("imp", seconds), "smallest time")
    pruned = {"bingo": 0.8, "imp": 0.85, "magnitude": 0.75, "random": 0.3}
    assert_right(check_race_winner("imp", pruned, question="most pruned"))
    assert_hint(check_race_winner("random", pruned, question="most pruned"), "30% pruned")
    assert_hint(check_race_winner("fast", seconds), "one of")


def test_challenge_table_ranks_fitting_entries_by_accuracy():
    table = ResultsTable()
    table.add(ChallengeEntry("big", 32, "magnitude", 0.5, 1900, 0.97))
    table.add(ChallengeEntry("ok", 16, "bingo", 0.6, 900, 0.90))
    table.add(ChallengeEntry("best", 16, "magnitude", 0.6, 1000, 0.93))
    assert [e.name for e in table.ranked()] == ["best", "ok", "big"]
    text = repr(table)
    assert text.splitlines()[2].startswith("1.  best") and "✗" in text.splitlines()[-1]
    assert_right(check_challenge(table.entries[2]))
    assert_hint(check_challenge(table.entries[0]), "880 bytes over", "1020")


def test_start_lesson_makes_random_numbers_repeat():
    lessons.start_lesson(seed=3)
    first = torch.rand(3)
    lessons.start_lesson(seed=3)
    assert torch.equal(first, torch.rand(3))
    assert torch.get_num_threads() == 1


# --- the lesson glue that touches the library ---------------------------------------------------------

@pytest.fixture
def headless_plots(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.gcf()))
    yield shown
    plt.close("all")


def test_setup_report_on_this_machine_is_ready():
    report = lessons.setup_report(check_simulator=False)
    assert report.ready, repr(report)
    assert report.item("8×8 digits").detail == "1347 training and 450 test images of size (8, 8)"
    assert report.item("torch").ok


def test_pruned_accuracy_prunes_a_copy(digits):
    from bingo_kit.models import make_mlp
    from bingo_kit.pruning import prune_fraction
    from bingo_kit.training import accuracy, train

    model = make_mlp((64, 8, 10), seed=0)
    train(model, digits, epochs=3, seed=0, progress=False)
    dense = accuracy(model, digits.x_test, digits.y_test)
    assert pruned_accuracy(model, digits, 0.0, method="magnitude") == dense
    cut = pruned_accuracy(model, digits, 0.7, method="magnitude")
    assert accuracy(model, digits.x_test, digits.y_test) == dense  # the model itself is untouched
    assert not hasattr(model.layers[0], "weight_mask")
    prune_fraction(model, 0.7, method="magnitude")
    assert cut == accuracy(model, digits.x_test, digits.y_test) < dense
    scores = {name: layer.weight.detach().abs() for name, layer in model.weight_layers()}
    assert pruned_accuracy(model, digits, 0.7, method="bingo", scores=scores) == cut  # |w| as scores = magnitude


def test_challenge_entry_measures_what_the_board_would_store(digits):
    from bingo_kit.errors import KitError
    from bingo_kit.export import decode_blob, inputs_to_bytes

    entry = lessons.challenge_entry("t", digits, hidden=8, method="magnitude", fraction=0.5, epochs=2,
                                    practice_epochs=1)
    board_model = decode_blob(entry.blob)      # the bytes the board (and the leaderboard) will read
    total = 64 * 8 + 8 * 10
    kept = sum(int(np.count_nonzero(w)) for w in board_model.weights)
    assert kept <= total - round(0.5 * total)  # practice kept the pruned zeros (int8 may round a few more to 0)
    assert entry.size == len(entry.blob) and entry.fits and board_model.sizes == (64, 8, 10)
    right = int(np.sum(board_model.predict(inputs_to_bytes(digits.x_test)) == digits.y_test.numpy()))
    assert (entry.correct, entry.total) == (right, len(digits.y_test)) and entry.accuracy == right / entry.total
    assert entry.settings == {"hidden": 8, "method": "magnitude", "fraction": 0.5, "epochs": 2,
                              "practice_epochs": 1, "seed": seed_for("t")}
    with pytest.raises(KitError, match="method should be one of"):
        lessons.challenge_entry("t", digits, hidden=8, method="biggest")
    with pytest.raises(KitError, match="hidden should be a whole number from 1 to 64"):  # the Uno's widest layer
        lessons.challenge_entry("t", digits, hidden=80)


def test_an_entry_that_is_not_pruned_trains_all_its_epochs_whole(digits):
    from bingo_kit.export import decode_blob

    entry = lessons.challenge_entry("t", digits, hidden=6, fraction=0, epochs=1, practice_epochs=1)
    assert entry.settings["method"] == "none" and not entry.pruned
    assert all(np.count_nonzero(w) > 0.9 * w.size for w in decode_blob(entry.blob).weights)


@pytest.mark.parametrize("arguments, message", [
    ({"hidden": "big"}, "hidden should be a number like 24; you wrote 'big'"),
    ({"hidden": 16.7}, "hidden should be a whole number like 24, not 16.7"),
    ({"hidden": 16, "fraction": 80}, "Did you mean 0.8"),
    ({"hidden": 16, "fraction": -0.1}, "fraction should be a share between 0 and 1"),
    ({"hidden": 16, "method": "biggest"}, "method should be one of 'magnitude'"),
    ({"hidden": 16, "epochs": 0}, "epochs should be a whole number from 1"),
])
def test_challenge_entry_refuses_bad_arguments_before_any_training(digits, monkeypatch, arguments, message):
    from bingo_kit.errors import KitError
    from bingo_kit.lessons import challenge

    def no_training(*args, **kwargs):
        raise AssertionError("training started before the arguments were checked")

    monkeypatch.setattr(challenge, "trained_network", no_training)
    with pytest.raises(KitError, match=message):
        lessons.challenge_entry("t", digits, **arguments)


def test_challenge_accepts_method_names_as_people_write_them(digits):
    entry = lessons.challenge_entry("t", digits, hidden=4, method=" BINGO ", fraction=0.5, epochs=1,
                                    practice_epochs=0)
    assert entry.method == "bingo"


def test_re_running_an_entry_replaces_its_row():
    table = ResultsTable()
    first = ChallengeEntry("Ada", 16, "magnitude", 0.8, 700, 0.9)
    table.add(first)
    table.add(ChallengeEntry("Ada", 12, "magnitude", 0.6, 600, 0.95))
    table.add(ChallengeEntry("Bo", 12, "random", 0.6, 600, 0.5))
    assert [(e.name, e.hidden) for e in table.entries] == [("Ada", 12), ("Bo", 12)]


def test_a_kit_error_in_a_lesson_is_one_line_and_other_errors_keep_their_traceback(capsys):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        shell.run_cell("from bingo_kit.lessons import start_lesson; start_lesson(0)")
        result = shell.run_cell("from bingo_kit.errors import KitError\nraise KitError('Prune less.')")
        captured = capsys.readouterr()
        assert not result.success
        assert captured.err.strip() == "❌ Prune less." and "Traceback" not in captured.out + captured.err
        result = shell.run_cell("1 / 0")
        captured = capsys.readouterr()
        assert not result.success and "ZeroDivisionError" in captured.out + captured.err
    finally:
        InteractiveShell.clear_instance()


def test_pictures_draw_and_leave_the_model_dense(digits, headless_plots):
    from bingo_kit.models import make_mlp
    from bingo_kit.training import train

    lessons.start_lesson(0)
    model = make_mlp((64, 8, 10), seed=0)
    train(model, digits, epochs=3, seed=0, progress=False)
    lessons.show_digits(digits, 5)
    lessons.show_pixels(digits.x_train[0])
    lessons.draw_network(model=model)
    lessons.show_first_layer(model)
    lessons.show_hand_weights()
    lessons.show_boards()
    lessons.show_quantisation(model)
    curves = lessons.pruning_curve(model, digits, fractions=(0.0, 0.9))
    assert curves["magnitude"][0] == curves["random"][0]  # 0% pruned is the same network
    assert curves["magnitude"][1] > curves["random"][1]
    rows = lessons.show_sizes(model, fractions=(0.0, 0.9))
    assert rows[0][1] == rows[1][1] and rows[1][3] < rows[0][3]  # float bytes stay, the blob shrinks
    before, after = lessons.show_fake_pass(model, digits)
    assert 0.0 <= after <= 1.0 and before > 0.5
    assert not any(hasattr(layer, "weight_mask") for layer in model.layers)
    assert len(headless_plots) == 10


def test_live_accuracy_plot_draws_every_epoch(digits, monkeypatch):
    from bingo_kit.lessons import meet_the_network

    shown = []

    class Handle:
        def update(self, image):
            shown.append(image)

    def fake_display(image, display_id=False):
        shown.append(image)
        return Handle()

    monkeypatch.setattr(meet_the_network, "display", fake_display)
    from bingo_kit.models import make_mlp
    from bingo_kit.training import train

    live = lessons.live_accuracy_plot(epochs=3)
    history = train(make_mlp((64, 4, 10)), digits, epochs=3, callbacks=[live], progress=False)
    assert live.accuracies == history.test_accuracy
    assert len(shown) == 3 and all(image.data.startswith(b"\x89PNG") for image in shown)


def test_pruned_fraction_check_reads_the_model():
    from bingo_kit.models import make_mlp
    from bingo_kit.pruning import prune_fraction

    model = make_mlp((64, 16, 10), seed=0)
    prune_fraction(model, 0.5)
    assert_hint(lessons.check_pruned_fraction(model, 0.9), "50%", "not 90%")
    prune_fraction(model, 0.9)
    assert_right(lessons.check_pruned_fraction(model, 0.9))
    assert "1066 of 1184" in lessons.check_pruned_fraction(model, 0.9).message
    assert_hint(lessons.check_pruned_fraction(model, "ninety"), "between 0 and 1")  # a hint, not a ValueError


def test_challenge_budget_is_what_an_uno_holds():
    from bingo_kit.boards import get_board

    assert lessons.challenge_budget() == get_board("uno").model_capacity == 1020
    assert ChallengeEntry("edge", 16, "magnitude", 0.5, 1020, 0.9).fits
    assert not ChallengeEntry("kilobyte", 16, "magnitude", 0.5, 1024, 0.9).fits  # 1 KB is 4 bytes too many
    assert_hint(check_challenge(ChallengeEntry("kilobyte", 16, "magnitude", 0.5, 1024, 0.9)), "4 bytes over")


def test_significance_check_shows_the_arithmetic_of_the_chosen_rule():
    paper = check_significance(0.583, previous=0.5, before=0.9, after=0.6, rule="paper")
    assert_right(paper)
    assert "1 - 0.333" in paper.message
    assert "1 -" not in check_significance(0.417, previous=0.5, before=0.9, after=0.6).message
    assert_hint(check_significance(0.417, previous=0.5, before=0.9, after=0.6, rule="paper"), "subtract")


def test_pruning_curve_takes_one_score_set_or_one_per_method(digits, headless_plots):
    from bingo_kit.bingo import train_with_bingo
    from bingo_kit.errors import KitError
    from bingo_kit.models import make_mlp

    model = make_mlp((64, 8, 10), seed=0)
    _, scores = train_with_bingo(model, digits, epochs=1, seed=0, progress=False)
    one = lessons.pruning_curve(model, digits, methods=("bingo",), scores=scores, fractions=(0.5,))
    per = lessons.pruning_curve(model, digits, methods=("prose",), scores_by_method={"prose": scores},
                                fractions=(0.5,))
    assert one["bingo"] == per["prose"]
    with pytest.raises(KitError, match="not both"):
        lessons.pruning_curve(model, digits, methods=("bingo",), scores=scores, scores_by_method={"bingo": scores})


def test_mirror_gap_measures_how_far_paper_is_from_one_minus_prose():
    prose = {"a": torch.tensor([0.2, 0.4])}
    assert lessons.mirror_gap(prose, {"a": torch.tensor([0.8, 0.6])}) < 1e-6
    assert lessons.mirror_gap(prose, {"a": torch.tensor([0.8, 0.5])}) == pytest.approx(0.1)


def test_concept_pictures_draw(headless_plots):
    lessons.show_lottery_ticket()
    lessons.show_sparse_formats()
    lessons.show_flash_pipeline()
    assert len(headless_plots) == 3


def test_show_clothes_draws_every_kind_as_the_board_sees_it(clothes, headless_plots):
    lessons.show_clothes(clothes, per_class=2)
    (figure,) = headless_plots
    images = [ax.images[0].get_array() for ax in figure.axes if ax.images]
    assert len(images) == 20 and all(image.shape == (8, 8) for image in images)
    assert [ax.get_title() for ax in figure.axes[:10]][:2] == ["T-shirt/\ntop", "Trouser"]


def test_the_results_table_plot_marks_pruned_entries(headless_plots):
    table = ResultsTable()
    table.add(ChallengeEntry("no pruning", 12, "magnitude", 0.0, 997, 0.80))
    table.add(ChallengeEntry("pruned", 24, "magnitude", 0.65, 1016, 0.82))
    table.plot()
    (figure,) = headless_plots
    faces = [tuple(c.get_facecolors()[0]) for c in figure.axes[0].collections]
    assert faces[0] == (1.0, 1.0, 1.0, 1.0) and faces[1] != faces[0]  # hollow: not pruned; filled: pruned


def test_a_check_given_the_wrong_kind_of_thing_hints_instead_of_crashing():
    from bingo_kit.lessons import check_pruned_fraction, check_verdict

    for feedback in (check_pruned_fraction("model", 0.9), check_verdict(["prose"], {"prose": 0.4, "paper": 0.2}),
                     check_race_winner({"imp"}, {"imp": 0.9, "random": 0.1}, question="most pruned"),
                     check_challenge(5), check_weight_count([1184]), check_capacity(None)):
        assert isinstance(feedback, Feedback) and not feedback and "Not yet" in feedback.message, feedback
    assert check_race_winner("IMP", {"imp": 0.9, "random": 0.1}, question="most pruned")  # lenient names


# --- one rule for how answers may be written (bingo_kit/lessons/feedback.py) ------------------------------

def test_words_count_whatever_their_capitals_spaces_or_quotes():
    evidence = {"paper": 0.22, "prose": 0.42}
    for typed in ("prose", "Prose", " PROSE ", "'prose'", '"prose"'):
        assert_right(check_verdict(typed, evidence))
    pruned = {"imp": 0.96, "random": 0.08}
    for typed in ("imp", "IMP", " Imp", "'imp'"):
        assert_right(check_race_winner(typed, pruned, question="most pruned"))
    from bingo_kit.lessons.challenge import _challenge_method

    assert _challenge_method("'BINGO'") == _challenge_method(" Bingo ") == "bingo"


def test_numbers_typed_as_text_count_with_a_gentle_note(digits, capsys):
    for feedback in (check_capacity("1020"), check_weight_count(" 1184 "),
                     check_kept_by_magnitude(["0.8", "-0.9", -0.4])):
        assert_right(feedback)
        assert "leave out the quotes" in feedback.message
    assert "leave out the quotes" in check_capacity("1000").message  # a wrong one gets the note too
    assert "quotes" not in check_capacity(1020).message
    # the numbers typed into lesson calls follow the same rule: lesson 8's "0.8" counts too
    entry = lessons.challenge_entry("t", digits, hidden=4, fraction="0.5", epochs=1, practice_epochs=0)
    assert entry.fraction == 0.5
    assert "fraction: (Next time leave out the quotes: 0.5 is a number.)" in capsys.readouterr().out


def test_a_number_too_big_for_a_float_is_simply_too_big():
    from bingo_kit import arguments
    from bingo_kit.errors import KitError
    from bingo_kit.models import make_mlp

    huge = 10**400  # float(huge) raises OverflowError
    assert_hint(check_capacity(huge), "That number is too big")
    assert_hint(check_capacity(-huge), "too small")
    assert_hint(check_significance(huge, previous=0.5, before=0.9, after=0.6), "too big")
    assert_hint(check_kept_by_magnitude([huge, 0.8, -0.9]), "size")
    assert_hint(lessons.check_pruned_fraction(make_mlp((64, 4, 10)), huge), "between 0 and 1")
    with pytest.raises(KitError, match="a 401-digit number"):
        arguments.whole_number(huge, "hidden", low=1, high=255)
    with pytest.raises(KitError, match="should be a share between 0 and 1"):
        arguments.fraction(huge)
    with pytest.raises(KitError, match="whole number like 1, not inf"):
        arguments.whole_number(float("inf"), "hidden", low=1, high=255)


# --- pictures a class reads on a projector ---------------------------------------------------------------

def _title_boxes(figure):
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    return [(axes.title.get_text(), axes.title.get_window_extent(renderer)) for axes in figure.axes
            if axes.title.get_text()]


def test_lesson_3_picture_titles_do_not_overlap(digits, headless_plots):
    from bingo_kit.models import make_mlp

    lessons.show_lottery_ticket()
    lessons.show_fake_pass(make_mlp((64, 16, 10), seed=0), digits)
    for figure in headless_plots:
        boxes = _title_boxes(figure)
        assert len(boxes) == 2
        (left, left_box), (right, right_box) = boxes
        assert not left_box.overlaps(right_box), (left, right)


def test_lesson_6_board_lines_pass_behind_the_byte_labels(digits, headless_plots):
    from matplotlib.text import Annotation
    from bingo_kit.models import make_mlp

    lessons.show_sizes(make_mlp((64, 16, 10), seed=0), fractions=(0.0, 0.5, 0.8, 0.9))
    figure = headless_plots[0]
    axes = figure.axes[0]
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    board_lines = [line for line in axes.get_lines() if line.get_linestyle() in ("--", ":")]
    labels = [text for text in axes.texts if isinstance(text, Annotation) and text.get_text().isdigit()]
    assert len(board_lines) == 2 and len(labels) == 12
    crossed = 0
    for line in board_lines:
        y = axes.transData.transform((0, line.get_ydata()[0]))[1]
        for label in labels:
            box = label.get_window_extent(renderer)
            if box.y0 <= y <= box.y1:  # the line runs through this label: it must pass behind it, on white
                crossed += 1
                patch = label.get_bbox_patch()
                assert patch is not None and patch.get_facecolor() == (1.0, 1.0, 1.0, 1.0), label.get_text()
                assert label.get_zorder() > line.get_zorder()
    assert crossed >= 1  # the untrained model's 50 % blob sits on the Uno's line, as in the lesson
