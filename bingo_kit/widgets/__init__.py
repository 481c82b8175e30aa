"""Classroom widgets (ipywidgets + matplotlib). They call the library; the library never imports them.

    PruneSlider(model, data, scores=...)   drag 0–99 % pruned: accuracy, survivors, fit gauge, find the floor
    LiveScores(panels=("prose", "paper"))  watch BINGO's scores while training, both rules side by side
    FlashButton(model, data)               pick a board (or the Simulated Uno), flash, test on the board
    DigitPad(model, data)                  draw a digit; laptop and board predictions side by side
    InstallFirmware()                      put the receiver on a new board (lesson 0), no Arduino IDE needed
    ResetLesson()                          a fresh copy of a lesson beside the student's own ("Reset a lesson.ipynb")
"""
import importlib

# Loaded on first use, so lesson 0 can show the install button on a laptop that has no torch yet.
_MODULE_OF = {"StatusLine": "common", "DigitPad": "digit_pad", "InstallFirmware": "firmware_button",
              "FlashButton": "flash_button", "LiveScores": "live_scores", "PruneSlider": "prune_slider",
              "ResetLesson": "reset_lesson"}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value
