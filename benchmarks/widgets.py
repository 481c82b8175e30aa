"""How instant do the classroom widgets feel? Measured in one run on the digits model, printed.

Goal (issue 4): ≤ 100 ms from a prune-slider move to the updated view. Measured here in the kernel: the
observer runs prune → accuracy → export size → redraw of the survivors figure → PNG into the Image widget;
the browser then only swaps an image (tests/test_browser.py prints the end-to-end time it sees).

    .venv/bin/python benchmarks/widgets.py
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
import os

import torch

from bingo_kit import pruning
from bingo_kit.bingo import train_with_bingo
from bingo_kit.data import load_dataset
from bingo_kit.export import blob_size
from bingo_kit.models import make_mlp
from bingo_kit.training import accuracy
from bingo_kit.widgets import DigitPad, FlashButton, LiveScores, PruneSlider
from bingo_kit.widgets.common import figure_png

GOAL_MS = 100.0


def ms(seconds: float) -> float:
    return 1000.0 * seconds


def timed(action, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(ms(time.perf_counter() - start))
    return times


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"median {statistics.median(times):6.1f} ms   p95 {p95:6.1f} ms   max {max(times):6.1f} ms"


def main() -> int:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = load_dataset("digits")
    model = make_mlp((64, 16, 10), seed=0)
    _, scores = train_with_bingo(model, data, epochs=15, progress=False)
    print("bingo-kit widgets benchmark — digits, 64-16-10 MLP, 1 torch thread\n")

    slider = PruneSlider(model, data, scores=scores)
    print("prune slider: one move = prune + accuracy + export size + survivors figure → PNG")
    worst_median = 0.0
    for method in ("bingo", "magnitude", "random"):
        slider.method.value = method
        moves = []
        for value in list(range(1, 100, 2)) + list(range(98, 0, -2)):  # drag right, then back left
            slider.fraction.value = value
            moves.append(ms(slider.last_update_seconds))
        worst_median = max(worst_median, statistics.median(moves))
        print(f"  {method:9s} {len(moves)} moves: {summary(moves)}")
    print(f"  goal ≤ {GOAL_MS:.0f} ms: worst median is {worst_median / GOAL_MS:.2f}× the goal "
          f"({'met' if worst_median <= GOAL_MS else 'MISSED'})")

    slider.method.value = "magnitude"
    slider.fraction.value = 60
    parts = {
        "prune_fraction": lambda: pruning.prune_fraction(model, 0.6),
        "test accuracy": lambda: accuracy(model, data.x_test, data.y_test),
        "export size": lambda: blob_size(model),
        "figure → PNG": lambda: figure_png(slider._figure),
    }
    print("  where the time goes (median of 30):")
    for name, action in parts.items():
        print(f"    {name:15s} {statistics.median(timed(action, 30)):6.2f} ms")

    start = time.perf_counter()
    slider.floor_button.click()
    print(f"  find the floor: {ms(time.perf_counter() - start):.0f} ms → {slider.fraction.value} % pruned "
          f"({slider.floor_result.evaluations} evaluations)\n")

    print("live scores: training 15 epochs with BINGO, with and without the live figure")
    plain = timed(lambda: train_with_bingo(make_mlp(seed=1), data, epochs=15, progress=False), 1)[0]
    live = LiveScores(panels=("prose",))
    watched = timed(lambda: live.train(make_mlp(seed=1), data, rule="prose", epochs=15, progress=False), 1)[0]
    draws = timed(live.draw, 10)
    print(f"  plain {plain:.0f} ms, watched {watched:.0f} ms ({watched / plain:.2f}×), {live.draws} redraws; "
          f"one redraw: {summary(draws)}\n")

    print("digit pad: one stroke → host prediction (no board)")
    pad = DigitPad(model, data)
    stroke = [[(16, 4), (16, 16), (16, 28)]]  # what a mouse sends for a "1", in canvas pixels
    clicks = timed(lambda: pad.draw(stroke), 40)
    print(f"  {summary(clicks)}")

    # the Simulated Uno keeps its EEPROM under $XDG_CACHE_HOME: use a private one
    with tempfile.TemporaryDirectory() as cache:
        os.environ["XDG_CACHE_HOME"] = cache
        slider.fraction.value = 60
        flash = FlashButton(model, data, port="sim", test_digits=100)
        start = time.perf_counter()
        flash.flash_button.click()
        first = ms(time.perf_counter() - start)
        if flash.status.kind != "ok":
            print(f"flash failed: {flash.status.text}")
            return 1
        again = timed(flash.flash_button.click, 3)
        print(f"\nflash button → Simulated Uno: {flash.last_upload.bytes} bytes; first click {first:.0f} ms "
              f"(boots the simulator), later clicks {summary(again)}")
        start = time.perf_counter()
        flash.test_button.click()
        test = flash.last_test
        print(f"  test on board: {test['count']} digits in {ms(time.perf_counter() - start):.0f} ms, "
              f"agree {test['agree']}/{test['count']}, board inference {test['mean_micros'] / 1000:.2f} ms "
              "per digit (simulated 16 MHz cycles)")
        board_clicks = timed(lambda: pad.draw(stroke), 20)
        print(f"  digit pad stroke → host + board predictions: {summary(board_clicks)}")
        flash.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
