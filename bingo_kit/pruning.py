"""Pruning through ``torch.nn.utils.prune``: a mask per layer, applied in every forward pass.

- :func:`prune_fraction` — remove an exact global fraction of the weights (the prune slider calls it)
- :func:`prune_to_floor` — the most pruning whose accuracy stays at or above a floor, checked on the validation
  split when there is one (a scan from below in steps of 0.05 % of the weights, stopping at the first that fails)
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

from bingo_kit.arguments import fraction as fraction_argument
from bingo_kit.data import Dataset
from bingo_kit.errors import KitError
from bingo_kit.export import model_sizes
from bingo_kit.methods import dense_weight, get_method, lowest_first, prune_lowest
from bingo_kit.models import TinyMLP
from bingo_kit.training import DEFAULT_EPOCHS, accuracy, one_thread, train


@dataclass
class FloorResult:
    fraction: float  # of all weights pruned, 0..1
    accuracy: float  # accuracy at that fraction on the split the search looked at (`split`)
    evaluations: int  # evaluations the search used
    kept: int = 0
    total: int = 0
    seconds: float = 0.0
    split: str = "test"  # "validation" when the data has a validation split: the test set stays unseen
    test_accuracy: float = float("nan")  # the pruned model's test accuracy, measured once at the end


# The floor search steps up by at most 0.05 % of the weights at a time (at least one weight; every whole percent
# is on its grid too, so the slider's percent below the answer was itself checked). A 5 % grid stepped over
# narrow dips below the floor (magnitude on digits seed 2: 69.0 % instead of 57.7 %), and even a 0.05 % grid that
# skipped single weights answered a point past a scan of every weight; each step costs one forward pass.
FLOOR_STEP = 0.0005


def floor_split(data: Dataset, on: str | None = None) -> tuple[str, torch.Tensor, torch.Tensor]:
    """(name, x, y) of the split a floor is checked on: the validation split when there is one."""
    if on is None:
        on = "validation" if data.has_validation else "test"
    if on == "validation":
        if not data.has_validation:
            raise KitError("This dataset has no validation split; make one with data.with_validation(data).")
        return on, data.x_val, data.y_val
    if on == "test":
        return on, data.x_test, data.y_test
    raise KitError(f"on must be 'validation' or 'test'; got {on!r}.")


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
    fraction = fraction_argument(fraction, below_one=False)  # "0.8" or 80 from a lesson: one clear sentence
    _, total = kept_weights(model)
    return _prune_count(model, round(fraction * total), importance_scores(model, method, scores, seed))


def _prune_count(model: TinyMLP, count: int, importance: dict[str, torch.Tensor]) -> TinyMLP:
    remove_pruning(model)
    return prune_lowest(model, count, importance)


def pruned_accuracy(model: TinyMLP, data: Dataset, fraction: float, *, method: str = "magnitude", scores=None,
                    seed: int = 0) -> float:
    """Test accuracy of a copy of ``model`` with ``fraction`` of its weights pruned (``model`` stays as it is)."""
    pruned = copy.deepcopy(model)
    prune_fraction(pruned, fraction, method=method, scores=scores, seed=seed)
    return accuracy(pruned, data.x_test, data.y_test)


def accuracy_curve(model: TinyMLP, data: Dataset, fractions, *, method: str = "magnitude", scores=None,
                   seed: int = 0) -> list[float]:
    """Test accuracy after pruning each of ``fractions`` by ``method``; ``model`` is left dense afterwards."""
    importance = importance_scores(model, method, scores, seed)  # one ranking: a bigger cut prunes a superset
    _, total = kept_weights(model)
    curve = []
    for fraction in fractions:
        _prune_count(model, round(fraction_argument(fraction, below_one=False) * total), importance)
        curve.append(accuracy(model, data.x_test, data.y_test))
    remove_pruning(model)
    return curve


def size_sweep(model: TinyMLP, fractions, *, method: str = "magnitude", scores=None, seed: int = 0) -> list:
    """[(fraction, export.ModelSizes)] at each pruning level: how the bytes change as more is pruned; ``model`` is
    left dense afterwards."""
    rows = []
    for fraction in fractions:
        prune_fraction(model, fraction, method=method, scores=scores, seed=seed)
        rows.append((fraction, model_sizes(model)))
    remove_pruning(model)
    return rows


def prune_to_floor(
    model: TinyMLP,
    data: Dataset,
    floor: float,
    method: str = "magnitude",
    scores=None,
    seed: int = 0,
    progress: bool = False,
    on: str | None = None,
    step: float = FLOOR_STEP,
) -> FloorResult:
    """Prune as much as possible while accuracy stays ≥ ``floor``, never past a dip; leave the model there.

    The accuracy is checked on the validation split when ``data`` has one (``on="test"`` forces the test
    set); the test accuracy is measured once, at the end, and reported beside it.

    The search prunes *from below* in steps of at most ``step`` of the weights (0.05 %, at least one weight)
    and stops at the first step whose accuracy falls under the floor; a binary search then finds the last
    passing weight count before that step. So:

    - every fraction the search tested below its answer passes: a curve that dips under the floor and
      climbs back is never reported past the dip (a bigger cut further on may pass again, by luck);
    - the answer passes, and pruning one more weight fails;
    - if accuracy falls monotonically, it is the largest passing fraction, as a scan of every count finds.

    If even the dense model is below the floor, nothing is pruned.
    """
    if not 0.0 < step <= 1.0:
        raise KitError(f"step is a fraction of the weights in (0, 1], got {step}.")
    with one_thread():
        return _prune_to_floor(model, data, floor, method, scores, seed, progress, on, step)


def _prune_to_floor(model, data, floor, method, scores, seed, progress, on, step) -> FloorResult:
    start = time.perf_counter()
    split, x, y = floor_split(data, on)
    importance = importance_scores(model, method, scores, seed)
    _, total = kept_weights(model)
    # Written by hand because torch's pruning re-masks every layer per call: the scan zeroes the next weights
    # of one global order in a dense copy, so each step costs one forward pass. The order is prune_lowest's
    # (lowest_first over all layers, in layer order), so the model pruned at the end is the one the scan measured.
    probe = remove_pruning(copy.deepcopy(model))
    weights = [layer.weight.data.view(-1) for _, layer in probe.weight_layers()]
    dense = [w.clone() for w in weights]
    ends = torch.tensor([w.numel() for w in weights]).cumsum(0).tolist()
    order = lowest_first(torch.cat([importance[name].reshape(-1) for name, _ in model.weight_layers()]))
    pruned_in_probe = 0
    evaluations = 0

    def passes(count: int) -> bool:
        nonlocal evaluations, pruned_in_probe
        if count < pruned_in_probe:  # going back down (the binary search): start again from the dense weights
            for layer_weights, dense_weights in zip(weights, dense):
                layer_weights.copy_(dense_weights)
            pruned_in_probe = 0
        chosen = order[pruned_in_probe:count]
        for layer_weights, begin, end in zip(weights, [0, *ends[:-1]], ends):
            layer_weights[chosen[(chosen >= begin) & (chosen < end)] - begin] = 0.0
        pruned_in_probe = count
        evaluations += 1
        return accuracy(probe, x, y) >= floor

    # scan from below: `good` passes (or is 0), `bad` fails (or is total + 1)
    stride = max(1, int(step * total))  # digits' networks: every single weight; Fashion-MNIST's: about 50
    whole_percents = {round(percent / 100 * total) for percent in range(1, 101)}
    grid = sorted(({*range(stride, total + 1, stride), total} | whole_percents) - {0})
    good, bad = 0, total + 1
    bar = tqdm(total=len(grid), desc=f"prune to floor ({get_method(method).id})", disable=not progress,
               leave=False)
    for count in grid:
        bar.update(1)
        if not passes(count):
            bad = count
            break
        good = count
    while bad - good > 1:  # the last passing count inside the failing step
        middle = (good + bad) // 2
        if passes(middle):
            good = middle
        else:
            bad = middle
    bar.total = bar.n  # the search ends when it has its answer: a full bar, not a red one
    bar.refresh()
    bar.close()
    _prune_count(model, good, importance)
    return FloorResult(good / total, accuracy(model, x, y), evaluations + 1, total - good, total,
                       time.perf_counter() - start, split, accuracy(model, data.x_test, data.y_test))


@dataclass
class ImpResult:
    fraction: float  # pruned at the last round that stayed above the floor
    accuracy: float  # on `split`, as the floor was checked
    rounds: int  # pruning rounds that passed
    evaluations: int  # evaluations (one per round)
    seconds: float
    trace: list[tuple[float, float]] = field(default_factory=list)  # (pruned fraction, accuracy) per round
    split: str = "test"
    test_accuracy: float = float("nan")


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
    on: str | None = None,
    **train_opts,
) -> ImpResult:
    """Frankle & Carbin's lottery-ticket IMP, stopping when a retrained ticket falls below ``floor``.

    Each round prunes ``rate`` of the *remaining* weights by magnitude, rewinds the survivors to their initial
    values and retrains. The model is left at the last round that passed. ``trained=True`` skips the first
    (dense) training when the model already went through it. The floor is checked on the validation split
    when ``data`` has one (see :func:`prune_to_floor`).
    """
    if not 0.0 < rate < 1.0:
        raise KitError(f"rate is the share of remaining weights pruned per round; it must be in (0, 1), got {rate}.")
    start = time.perf_counter()
    split, x, y = floor_split(data, on)
    if not trained:
        train(model, data, epochs=epochs, seed=seed, progress=False, **train_opts)
    best_state = copy.deepcopy(model)
    best = (0.0, accuracy(model, x, y))
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
        acc = accuracy(model, x, y)
        evaluations += 1
        fraction = 1 - kept_weights(model)[0] / total
        trace.append((fraction, acc))
        bar.set_postfix(pruned=f"{fraction:.1%}", acc=f"{acc:.3f}")
        if acc < floor:
            break
        rounds += 1
        best, best_state = (fraction, acc), copy.deepcopy(model)
    bar.total = bar.n  # stopping at the floor is the goal, not a failure: the bar ends full, not red
    bar.refresh()
    bar.close()
    copy_into(model, best_state)
    return ImpResult(best[0], best[1], rounds, evaluations, time.perf_counter() - start, trace, split,
                     accuracy(model, data.x_test, data.y_test))


def copy_into(model: TinyMLP, source: TinyMLP) -> None:
    """Make ``model`` (same object, so callers' references stay valid) equal to ``source``, masks included."""
    remove_pruning(model)
    with torch.no_grad():
        for (_, layer), (_, src) in zip(model.weight_layers(), source.weight_layers()):
            layer.weight.copy_(dense_weight(src))
            layer.bias.copy_(src.bias)
            if hasattr(src, "weight_mask"):
                prune.custom_from_mask(layer, "weight", src.weight_mask.clone())
