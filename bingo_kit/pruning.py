"""Pruning through ``torch.nn.utils.prune``: a mask per layer, applied in every forward pass.

- :func:`prune_fraction` — remove an exact global fraction of the weights (the prune slider calls it)
- :func:`prune_to_floor` — binary search for a fraction whose test accuracy stays at or above a floor while one
  more pruned weight falls below it (the largest such fraction when accuracy falls monotonically)
- :func:`iterative_magnitude_pruning` — Frankle & Carbin's IMP: train, prune the smallest of the remaining,
  rewind the survivors to their initial values, retrain, repeat
Only weights are pruned, never biases. The methods (``magnitude``, ``random``, ``bingo``, ...) and their
rankings live in one registry, :mod:`bingo_kit.methods`; a method may be given by id, label or alias.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import torch
from torch.nn.utils import prune
from tqdm.auto import tqdm

from bingo_kit.data import Dataset
from bingo_kit.errors import KitError
from bingo_kit.methods import dense_weight, get_method, prune_lowest
from bingo_kit.models import TinyMLP
from bingo_kit.training import DEFAULT_EPOCHS, accuracy, one_thread, train


@dataclass
class FloorResult:
    fraction: float  # of all weights pruned, 0..1
    accuracy: float  # test accuracy at that fraction
    evaluations: int  # test-set evaluations the search used
    kept: int = 0
    total: int = 0
    seconds: float = 0.0


def kept_weights(model: TinyMLP) -> tuple[int, int]:
    """(weights still alive, all weights) — biases are not counted."""
    kept = total = 0
    for _, layer in model.weight_layers():
        mask = getattr(layer, "weight_mask", None)
        total += layer.weight.numel()
        kept += int(mask.sum()) if mask is not None else layer.weight.numel()
    return kept, total


def remove_pruning(model: TinyMLP) -> TinyMLP:
    """Take the masks off: every weight gets back the value it had before it was pruned."""
    for _, layer in model.weight_layers():
        if prune.is_pruned(layer):
            dense = layer.weight_orig.detach().clone()
            prune.remove(layer, "weight")  # makes `weight` a plain parameter again (with zeros baked in) ...
            with torch.no_grad():
                layer.weight.copy_(dense)  # ... so put the pre-pruning values back
    return model


def importance_scores(model: TinyMLP, method: str = "magnitude", scores=None, seed: int = 0) -> dict[str, torch.Tensor]:
    """Per-layer tensors shaped like the weights; the lowest values are pruned first."""
    return get_method(method).importance(model, scores, seed)


def prune_fraction(
    model: TinyMLP, fraction: float, method: str = "magnitude", scores=None, seed: int = 0
) -> TinyMLP:
    """Prune exactly ``round(fraction × weights)`` weights globally, replacing any earlier masks."""
    if not 0.0 <= fraction <= 1.0:
        raise KitError(f"The fraction to prune must be between 0 and 1, got {fraction}.")
    _, total = kept_weights(model)
    return _prune_count(model, round(fraction * total), importance_scores(model, method, scores, seed))


def _prune_count(model: TinyMLP, count: int, importance: dict[str, torch.Tensor]) -> TinyMLP:
    remove_pruning(model)
    return prune_lowest(model, count, importance)


def prune_to_floor(
    model: TinyMLP,
    data: Dataset,
    floor: float,
    method: str = "magnitude",
    scores=None,
    seed: int = 0,
    progress: bool = False,
) -> FloorResult:
    """Prune as much as a binary search finds while test accuracy stays ≥ ``floor``; leave the model there.

    Binary search over the number of pruned weights: about log2(weights) evaluations instead of one per
    count. The contract:

    - if accuracy falls monotonically as more weights are pruned, the result is the *largest* passing
      fraction (what a scan over every count would find);
    - otherwise (near-random rankings, small test sets: the curve can wobble) it is *a boundary*: this
      fraction passes and pruning one more weight fails. A larger passing fraction may exist past a dip.

    If even the dense model is below the floor, nothing is pruned.
    """
    with one_thread():
        return _prune_to_floor(model, data, floor, method, scores, seed, progress)


def _prune_to_floor(model, data, floor, method, scores, seed, progress) -> FloorResult:
    start = time.perf_counter()
    importance = importance_scores(model, method, scores, seed)
    _, total = kept_weights(model)
    evaluations = 0

    def passes(count: int) -> tuple[bool, float]:
        nonlocal evaluations
        _prune_count(model, count, importance)
        evaluations += 1
        acc = accuracy(model, data.x_test, data.y_test)
        return acc >= floor, acc

    # invariant: `good` passes (or is 0), `bad` fails (or is total + 1)
    good, bad = 0, total + 1
    good_accuracy = None
    bar = tqdm(total=max(1, total.bit_length()), desc=f"prune to floor ({get_method(method).id})",
               disable=not progress, leave=False)
    while bad - good > 1:
        middle = (good + bad) // 2
        ok, acc = passes(middle)
        if ok:
            good, good_accuracy = middle, acc
        else:
            bad = middle
        bar.update(1)
    bar.close()
    _prune_count(model, good, importance)
    if good_accuracy is None:  # nothing could be pruned: report the dense model
        good_accuracy = accuracy(model, data.x_test, data.y_test)
        evaluations += 1
    return FloorResult(good / total, good_accuracy, evaluations, total - good, total, time.perf_counter() - start)


@dataclass
class ImpResult:
    fraction: float  # pruned at the last round that stayed above the floor
    accuracy: float
    rounds: int  # pruning rounds that passed
    evaluations: int  # test-set evaluations (one per round)
    seconds: float
    trace: list[tuple[float, float]] = field(default_factory=list)  # (pruned fraction, accuracy) per round


def iterative_magnitude_pruning(
    model: TinyMLP,
    data: Dataset,
    floor: float,
    *,
    rate: float = 0.2,
    epochs: int = DEFAULT_EPOCHS,
    seed: int = 0,
    max_rounds: int = 30,
    trained: bool = False,
    progress: bool = True,
    **train_opts,
) -> ImpResult:
    """Frankle & Carbin's lottery-ticket IMP, stopping when a retrained ticket falls below ``floor``.

    Each round prunes ``rate`` of the *remaining* weights by magnitude, rewinds the survivors to their initial
    values and retrains. The model is left at the last round that passed. ``trained=True`` skips the first
    (dense) training when the model already went through it.
    """
    if not 0.0 < rate < 1.0:
        raise KitError(f"rate is the share of remaining weights pruned per round; it must be in (0, 1), got {rate}.")
    start = time.perf_counter()
    if not trained:
        train(model, data, epochs=epochs, seed=seed, progress=False, **train_opts)
    best_state = copy.deepcopy(model)
    best = (0.0, accuracy(model, data.x_test, data.y_test))
    trace: list[tuple[float, float]] = []
    evaluations, rounds = 1, 0
    bar = tqdm(range(max_rounds), desc="IMP rounds", disable=not progress, leave=False)
    for _ in bar:
        kept, total = kept_weights(model)
        to_prune = round(rate * kept)
        if to_prune == 0:
            break
        # on already-pruned layers torch counts `to_prune` among the weights that are still alive
        prune_lowest(model, to_prune, get_method("magnitude").importance(model))
        model.rewind()
        train(model, data, epochs=epochs, seed=seed, progress=False, **train_opts)
        acc = accuracy(model, data.x_test, data.y_test)
        evaluations += 1
        fraction = 1 - kept_weights(model)[0] / total
        trace.append((fraction, acc))
        bar.set_postfix(pruned=f"{fraction:.1%}", acc=f"{acc:.3f}")
        if acc < floor:
            break
        rounds += 1
        best, best_state = (fraction, acc), copy.deepcopy(model)
    bar.close()
    _copy_into(model, best_state)
    return ImpResult(best[0], best[1], rounds, evaluations, time.perf_counter() - start, trace)


def _copy_into(model: TinyMLP, source: TinyMLP) -> None:
    """Make ``model`` (same object, so callers' references stay valid) equal to ``source``, masks included."""
    remove_pruning(model)
    with torch.no_grad():
        for (_, layer), (_, src) in zip(model.weight_layers(), source.weight_layers()):
            layer.weight.copy_(dense_weight(src))
            layer.bias.copy_(src.bias)
            if hasattr(src, "weight_mask"):
                prune.custom_from_mask(layer, "weight", src.weight_mask.clone())
