"""BINGO's speed and pruning ratios, measured in one run and printed (not a timed test).

For digits 64-32-10 (full data, 30 epochs) and Fashion-MNIST 784-128-64-10 (a seeded 10 000-image subset of
the 60 000 training images, 5 epochs, all 10 000 test images — to keep the run to a few minutes):

- BINGO training time ÷ plain training time, same epochs      goal ≤ 1.2×
- IMP time ÷ BINGO time at the same floor (dense − 7 points)   goal ≥ 10× (paper: 7.2×)
- % of weights pruned at the floor by every method              goal: best BINGO ≥ one-shot magnitude

Training times are the minimum of three interleaved runs of each (the machine may be shared).

    python benchmarks/race.py [--quick]
"""
import argparse
import sys
import time

import torch

from bingo_kit.bingo import DEFAULT_METRIC, DEFAULT_P, DEFAULT_PROBE, DEFAULT_TICKETS, train_with_bingo
from bingo_kit.data import load_dataset
from bingo_kit.models import make_mlp
from bingo_kit.race import run_race
from bingo_kit.training import one_thread, train

SETUPS = [
    # (dataset, hidden, epochs, train_limit)
    ("digits", (32,), 30, None),
    ("fashion-mnist", (128, 64), 5, 10_000),
]


def training_time_ratio(data, sizes, epochs, repeats=3, **scorer_options):
    plain, scored = [], []
    with one_thread():
        for _ in range(repeats):  # interleaved, so a burst of load elsewhere hits both alike
            plain.append(train(make_mlp(sizes), data, epochs=epochs, progress=False).seconds)
            history, _ = train_with_bingo(make_mlp(sizes), data, epochs=epochs, progress=False, **scorer_options)
            scored.append(history.seconds)
    return min(scored) / min(plain), min(plain), min(scored)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="digits only")
    args = parser.parse_args()
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # one-time import cost out of the timings
    print(f"BINGO defaults: p={DEFAULT_P} probe={DEFAULT_PROBE} metric={DEFAULT_METRIC} tickets={DEFAULT_TICKETS}")
    for name, hidden, epochs, limit in SETUPS[:1] if args.quick else SETUPS:
        start = time.perf_counter()
        data = load_dataset(name, train_limit=limit)
        sizes = (data.n_features, *hidden, data.n_classes)
        ratio, plain_s, bingo_s = training_time_ratio(data, sizes, epochs)
        race = run_race(data, hidden=hidden, epochs=epochs, progress=False)
        m = race.methods
        print()
        print(race.table())
        print(f"BINGO training ÷ plain training ({epochs} epochs): {ratio:.2f}x  ({bingo_s:.2f} s / {plain_s:.2f} s)"
              f"   goal <= 1.2x")
        one_ticket, _, _ = training_time_ratio(data, sizes, epochs, tickets=1)
        print(f"  (the same with tickets=1 instead of {DEFAULT_TICKETS}: {one_ticket:.2f}x)")
        print(f"IMP ÷ BINGO at the same floor: {m['imp'].seconds / m['bingo'].seconds:.1f}x"
              f"  ({m['imp'].seconds:.1f} s / {m['bingo'].seconds:.1f} s, {m['imp'].extra['rounds']} IMP rounds)"
              f"   goal >= 10x (paper 7.2x)")
        best = max(("bingo", "bingo_paper"), key=lambda k: m[k].pruned_fraction)
        print("pruned at the floor: " + ", ".join(f"{k} {r.pruned_fraction:.1%}" for k, r in m.items()))
        verdict = "met" if m[best].pruned_fraction >= m["magnitude"].pruned_fraction else "NOT met"
        print(f"best BINGO ({best}) {m[best].pruned_fraction:.1%} vs one-shot magnitude "
              f"{m['magnitude'].pruned_fraction:.1%}: goal {verdict}")
        print(f"({name}: {time.perf_counter() - start:.0f} s for this block)")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
