"""Classroom widgets (ipywidgets + matplotlib). They call the library; the library never imports them.

    PruneSlider(model, data, scores=...)   drag 0–99 % pruned: accuracy, survivors, fit gauge, find the floor
    LiveScores(panels=("prose", "paper"))  watch BINGO's scores while training, both rules side by side
    FlashButton(model, data)               pick a board (or the Simulated Uno), flash, test on the board
    DigitPad(model, data)                  draw a digit; host and board predictions side by side
"""
from bingo_kit.widgets.common import StatusLine
from bingo_kit.widgets.digit_pad import DigitPad
from bingo_kit.widgets.flash_button import FlashButton
from bingo_kit.widgets.live_scores import LiveScores
from bingo_kit.widgets.prune_slider import PruneSlider

__all__ = ["DigitPad", "FlashButton", "LiveScores", "PruneSlider", "StatusLine"]
