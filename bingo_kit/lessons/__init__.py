"""Lesson glue: one module per lesson, holding that lesson's pictures and its `check_...()` exercises.

    setup_check       lesson 0   is this laptop ready? room for a model on each board
    meet_the_network  lesson 1   digits, pixels, weights, a live accuracy curve
    pruning_by_hand   lesson 2   six weights pruned by hand, then a whole network
    lottery_tickets   lesson 3   the lottery ticket, the fake pass, the significance formula by hand
    be_a_scientist    lesson 4   two formulas for one score: the evidence decides
    the_race          lesson 5   the paper's Table 1 re-run
    will_it_fit       lesson 6   float32, int8 and sparse bytes against a board
    flash_it          lesson 7   wobbled practice digits, laptop → board, the board's cycle count
    challenge         lesson 8   the best clothes reader that fits an Uno; entries saved for the leaderboard
    feedback                     the ✅ / 🤔 answers every check gives
    common                       start_lesson and what the pictures share

Notebooks import every name from `bingo_kit.lessons` itself. The names load lazily, each from its lesson's
module, so lesson 0 can import this package (and report a missing package) on a laptop without torch.
"""
from __future__ import annotations

import importlib

_HOME = {
    "common": ("start_lesson",),
    "feedback": ("Feedback",),
    "setup_check": ("SetupItem", "SetupReport", "setup_report", "check_page_uno", "show_boards", "check_capacity"),
    "meet_the_network": ("show_digits", "show_pixels", "draw_network", "show_first_layer", "live_accuracy_plot",
                         "weight_count", "check_weight_count"),
    "pruning_by_hand": ("HAND_WEIGHTS", "show_hand_weights", "pruning_curve", "largest_by_magnitude",
                        "check_kept_by_magnitude", "check_pruned_fraction"),
    "lottery_tickets": ("show_lottery_ticket", "show_fake_pass", "bingo_update", "check_significance",
                        "check_shared_weights"),
    "be_a_scientist": ("show_evidence", "mirror_gap", "check_verdict"),
    "the_race": ("plot_race", "show_race_table", "race_column", "check_race_winner"),
    "will_it_fit": ("show_sizes", "show_quantisation", "float_bytes", "check_float_bytes", "index_list_bytes",
                    "show_sparse_formats", "check_index_list_bytes"),
    "flash_it": ("AVR_CLOCK_HZ", "show_flash_pipeline", "show_wobbled_copies", "check_inference_time"),
    "challenge": ("CHALLENGE_BOARD", "CHALLENGE_METHODS", "challenge_budget", "challenge_data", "ChallengeEntry",
                  "ResultsTable", "challenge_entry", "newest_entry", "show_clothes", "check_challenge"),
}
_MODULE_OF = {name: module for module, names in _HOME.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value  # next time, no lookup
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
