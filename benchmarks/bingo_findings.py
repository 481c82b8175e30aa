"""Why the paper's BINGO prunes so little, re-derived (issue 12's findings, measured here, not taken on trust).

1. Little information per fake pass: one pass gives one number shared by about p·n weights, so a score's
   signal-to-noise is at most ~sqrt(passes / weights); split-half reliability = the correlation of the scores
   of two runs that train identically but draw independent tickets.
2. The update forgets: S = (S + x) / 2 keeps ~2 samples. The same fake-pass measurements averaged with a
   running mean instead, at 4 and 64 tickets per step.
3. It measures the cost of undoing learning, not of removing weights: exact single-weight reset-to-init
   ablation (signed and absolute loss change) vs single-weight removal (set to zero).
4. Fake-pass scores beat random mostly by sparing the small output layer: a random prune that never touches
   the later layers.

Digits 64-32-10 (30 epochs, 3 seeds) and a Fashion-MNIST subset 784-128-64-10 (5 000 images, 3 epochs, 1 seed,
parts 1 and 4 only). Floors: dense validation accuracy - 7 points, on a validation split of the training set.

    python benchmarks/bingo_findings.py [--seeds 3] [--no-fashion]
"""
import argparse
import math
import statistics

import numpy as np
import torch
import torch.nn.functional as F

from bingo_kit.bingo import BingoScorer, bingo_target, batched_logits
from bingo_kit.data import load_dataset, with_validation
from bingo_kit.methods import train_scored
from bingo_kit.models import make_mlp
from bingo_kit.pruning import prune_to_floor
from bingo_kit.race import copy_model
from bingo_kit.training import Callback, accuracy, one_thread, steps_per_run, train


def flat(scores) -> np.ndarray:
    return torch.cat([s.reshape(-1) for s in scores.values()]).double().numpy()


def spearman(a, b) -> float:
    rank = lambda v: np.argsort(np.argsort(v, kind="stable"), kind="stable")  # noqa: E731
    return float(np.corrcoef(rank(a), rank(b))[0, 1])


def pruned(model, data, floor, scores) -> float:
    return prune_to_floor(model, data, floor, method="bingo", scores=scores).fraction


def as_scores(model, vector) -> dict:
    out, offset = {}, 0
    for name, layer in model.weight_layers():
        n = layer.weight.numel()
        out[name] = torch.as_tensor(vector[offset:offset + n], dtype=torch.float32).view_as(layer.weight)
        offset += n
    return out


class MeanOfTheSameMeasurements(Callback):
    """Drives a BingoScorer itself and keeps, beside its (S + x) / 2 scores, the running mean of the targets."""

    def __init__(self, scorer: BingoScorer):
        self.scorer = scorer
        self.sums = np.zeros(scorer.n_weights)
        self.counts = np.zeros(scorer.n_weights)

    def on_step(self, state):
        tickets = self.scorer.draw_tickets()
        before, after = self.scorer.score_step(state.x, state.y, tickets)
        for ticket, a in zip(tickets.numpy(), after):
            ticket = np.unique(ticket)
            self.sums[ticket] += bingo_target(before, a, "prose")
            self.counts[ticket] += 1

    def mean(self) -> np.ndarray:
        return self.sums / np.maximum(self.counts, 1)


@torch.no_grad()
def single_weight_ablation(model, x, y, reset_to) -> np.ndarray:
    """Loss change when each weight alone is set to ``reset_to`` (its initial value, or 0), all weights."""
    weights = [layer.weight.detach() for layer in model.layers]
    biases = [layer.bias.detach() for layer in model.layers]
    base = F.cross_entropy(model(x), y).item()
    changes, offset = [], 0
    for i, w in enumerate(weights):
        n = w.numel()
        for start in range(0, n, 256):
            idx = torch.arange(start, min(n, start + 256))
            candidates = [v.expand(len(idx), *v.shape).clone() for v in weights]
            candidates[i].view(len(idx), -1)[torch.arange(len(idx)), idx] = reset_to[offset + idx]
            logits = batched_logits(candidates, biases, x)
            loss = F.cross_entropy(logits.transpose(1, 2), y.expand(len(idx), -1), reduction="none").mean(1)
            changes.append((loss - base).numpy())
        offset += n
    return np.concatenate(changes)


def spare_later_layers(model, seed) -> dict:
    """A random order over the first layer's weights; later layers rank above every first-layer weight."""
    g = torch.Generator().manual_seed(seed)
    return {name: torch.rand(layer.weight.shape, generator=g) + (0.0 if i == 0 else 2.0)
            for i, (name, layer) in enumerate(model.weight_layers())}


def run(name, sizes, epochs, limit, seeds, full):
    rows = {}

    def note(key, value):
        rows.setdefault(key, []).append(value)

    for seed in range(seeds):
        data = with_validation(load_dataset(name, train_limit=limit, seed=seed), 0.2, seed)
        dense = make_mlp(sizes, seed=seed)
        train(dense, data, epochs=epochs, seed=seed, progress=False)
        floor = accuracy(dense, data.x_val, data.y_val) - 0.07
        n = sum(layer.weight.numel() for layer in dense.layers)
        steps = steps_per_run(data, epochs)

        # 1. information per pass: the bound, and split-half reliability (same training, other tickets)
        first_half = {}
        for method, tickets in (("bingo_classic", 4), ("bingo", 16)):
            note(f"1 SNR bound sqrt(passes/weights), {method} ({tickets} tickets)", math.sqrt(steps * tickets / n))
            a = flat(train_scored(make_mlp(sizes, seed=seed), data, method, epochs=epochs, seed=seed,
                                  progress=False)[1])
            b = flat(train_scored(make_mlp(sizes, seed=seed), data, method, epochs=epochs, seed=seed + 100,
                                  progress=False)[1])
            note(f"1 split-half reliability (Spearman), {method}", spearman(a, b))
            first_half[method] = a
        grad = flat(train_scored(make_mlp(sizes, seed=seed), data, "bingo_grad", epochs=epochs, seed=seed,
                                 progress=False)[1])
        for method, scores in first_half.items():
            note(f"1 Spearman(bingo_grad, {method})", spearman(grad, scores))

        # 4. the random prune that spares the later layers
        note("4 pruned %: random", 100 * prune_to_floor(copy_model(dense, sizes, seed), data, floor, "random",
                                                       seed=seed).fraction)
        note("4 pruned %: random sparing later layers",
             100 * pruned(copy_model(dense, sizes, seed), data, floor, spare_later_layers(dense, seed)))
        if not full:
            continue

        # 2. forgetting: the same fake-pass measurements, halving vs running mean, 4 and 64 tickets
        for tickets in (4, 64):
            model = make_mlp(sizes, seed=seed)
            scorer = BingoScorer(model, rule="prose", tickets=tickets, seed=seed)
            mean = MeanOfTheSameMeasurements(scorer)
            train(model, data, epochs=epochs, seed=seed, callbacks=[mean], progress=False)
            note(f"2 pruned %: (S+x)/2, {tickets} tickets", 100 * pruned(model, data, floor, scorer.scores_dict()))
            note(f"2 pruned %: running mean, {tickets} tickets",
                 100 * pruned(model, data, floor, as_scores(model, mean.mean())))

        # 3. exact single-weight ablations of the trained network, on the training set
        initial = torch.cat([dense.initial_state[f"{k}.weight"].reshape(-1) for k, _ in dense.weight_layers()])
        reset = single_weight_ablation(dense, data.x_train, data.y_train, initial)
        removed = single_weight_ablation(dense, data.x_train, data.y_train, torch.zeros_like(initial))
        for label, vector in (("reset-to-init, signed", reset), ("reset-to-init, absolute", np.abs(reset)),
                              ("set to zero (removal)", removed)):
            note(f"3 pruned %: single-weight {label}",
                 100 * pruned(copy_model(dense, sizes, seed), data, floor, as_scores(dense, vector)))

    print(f"\n{name} {'-'.join(map(str, sizes))}, {epochs} epochs, {seeds} seed(s): mean (min-max)")
    for key, values in rows.items():
        print(f"  {key:<58} {statistics.mean(values):7.3f}  ({min(values):.3f}-{max(values):.3f})", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--no-fashion", action="store_true")
    args = parser.parse_args()
    with one_thread():
        run("digits", (64, 32, 10), 30, None, args.seeds, full=True)
        if not args.no_fashion:
            run("fashion-mnist", (784, 128, 64, 10), 3, 5_000, 1, full=False)


if __name__ == "__main__":
    main()
