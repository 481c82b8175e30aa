"""Pruning: exact fractions through torch's masks, undo, binary search vs a linear scan, IMP rewinds."""
import pytest
import torch
from torch.nn.utils import prune

from bingo_kit.errors import KitError
from bingo_kit.models import make_mlp
from bingo_kit.pruning import (
    iterative_magnitude_pruning,
    kept_weights,
    prune_fraction,
    prune_to_floor,
    remove_pruning,
)
from bingo_kit.training import accuracy, train
from core_helpers import blobs


@pytest.mark.parametrize("method", ["magnitude", "random", "bingo"])
def test_prune_fraction_is_exact_global_and_uses_torch_masks(method):
    model = make_mlp((10, 8, 4), seed=1)
    total = 10 * 8 + 8 * 4
    scores = {name: torch.rand(layer.weight.shape) for name, layer in model.weight_layers()}
    prune_fraction(model, 0.3, method=method, scores=scores)
    assert kept_weights(model) == (total - round(0.3 * total), total)
    for _, layer in model.weight_layers():
        assert prune.is_pruned(layer)
        assert torch.equal(layer.weight, layer.weight_orig * layer.weight_mask)
        assert torch.all(layer.weight[layer.weight_mask == 0] == 0)
    prune_fraction(model, 0.1, method=method, scores=scores)  # replaces, does not stack
    assert kept_weights(model)[0] == total - round(0.1 * total)


def test_magnitude_prunes_the_smallest_and_bingo_the_lowest_scores():
    model = make_mlp((6, 5, 3), seed=2)
    magnitudes = torch.cat([layer.weight.detach().abs().reshape(-1) for _, layer in model.weight_layers()])
    prune_fraction(model, 0.25, method="magnitude")
    alive = torch.cat([layer.weight_mask.reshape(-1) for _, layer in model.weight_layers()]).bool()
    assert magnitudes[~alive].max() <= magnitudes[alive].min()

    scores = {name: torch.rand(layer.weight.shape) for name, layer in model.weight_layers()}
    flat_scores = torch.cat([s.reshape(-1) for s in scores.values()])
    prune_fraction(model, 0.25, method="bingo_paper", scores=scores)
    alive = torch.cat([layer.weight_mask.reshape(-1) for _, layer in model.weight_layers()]).bool()
    assert flat_scores[~alive].max() <= flat_scores[alive].min()


def test_remove_pruning_gives_the_dense_weights_back():
    model = make_mlp((6, 5, 3))
    dense = [layer.weight.detach().clone() for layer in model.layers]
    prune_fraction(model, 0.6)
    remove_pruning(model)
    assert kept_weights(model) == (45, 45)
    assert all(not prune.is_pruned(layer) for layer in model.layers)
    assert all(torch.equal(layer.weight, w) for layer, w in zip(model.layers, dense))


def test_bad_arguments_are_plain_errors():
    model = make_mlp((6, 5, 3))
    with pytest.raises(KitError, match="between 0 and 1"):
        prune_fraction(model, 1.5)
    with pytest.raises(KitError, match="needs scores"):
        prune_fraction(model, 0.5, method="bingo")
    with pytest.raises(KitError, match="Choose one of"):
        prune_fraction(model, 0.5, method="lottery")


@pytest.mark.parametrize("drop", [0.0, 0.05, 0.15, 0.3])
def test_prune_to_floor_matches_a_linear_scan(drop):
    data = blobs(n_test=90)
    model = make_mlp((4, 5, 3), seed=0)
    train(model, data, epochs=15, lr=0.02, progress=False)
    floor = accuracy(model, data.x_test, data.y_test) - drop
    total = kept_weights(model)[1]
    # linear scan: the first count that fails; every count before it passes
    first_failure = total + 1
    for count in range(1, total + 1):
        prune_fraction(model, count / total)
        if accuracy(model, data.x_test, data.y_test) < floor:
            first_failure = count
            break
    result = prune_to_floor(model, data, floor)
    assert result.fraction * total == pytest.approx(first_failure - 1)
    assert result.accuracy >= floor and result.accuracy == accuracy(model, data.x_test, data.y_test)
    assert kept_weights(model)[0] == total - (first_failure - 1)  # left pruned where it stopped
    assert result.evaluations <= total.bit_length() + 1  # a binary search, not a scan
    print(f"drop {drop}: largest passing count {first_failure - 1} of {total}")


def test_prune_to_floor_keeps_everything_when_the_floor_is_unreachable():
    data = blobs()
    model = make_mlp((4, 5, 3))
    result = prune_to_floor(model, data, floor=1.01)
    assert result.fraction == 0.0 and kept_weights(model) == (35, 35)


def test_imp_rewinds_survivors_to_their_initial_values(monkeypatch):
    import bingo_kit.pruning as pruning

    data = blobs()
    model = make_mlp((4, 8, 3), seed=0)
    initial = {k: v.clone() for k, v in model.initial_state.items()}
    snapshots = []
    real_train = pruning.train

    def spy(m, *args, **kwargs):  # the weights each (re)training starts from
        snapshots.append([(_w(layer).clone(), getattr(layer, "weight_mask", None)) for layer in m.layers])
        return real_train(m, *args, **kwargs)

    monkeypatch.setattr(pruning, "train", spy)
    result = iterative_magnitude_pruning(model, data, floor=0.0, rate=0.5, epochs=2, max_rounds=3, progress=False)
    assert result.rounds == 3 and len(snapshots) == 4  # dense training + 3 rounds
    for round_start in snapshots[1:]:
        for i, (weight, mask) in enumerate(round_start):
            assert torch.equal(weight, initial[f"layers.{i}.weight"] * mask)
    assert [round(f, 3) for f, _ in result.trace] == [0.5, 0.75, 0.875]
    assert kept_weights(model)[0] == round(0.125 * 56)


def test_imp_stops_at_the_floor_and_keeps_the_last_passing_ticket():
    data = blobs()
    model = make_mlp((4, 8, 3), seed=0)
    dense = make_mlp((4, 8, 3), seed=0)
    train(dense, data, epochs=5, progress=False)
    floor = accuracy(dense, data.x_test, data.y_test) - 0.05
    result = iterative_magnitude_pruning(model, data, floor, rate=0.3, epochs=5, progress=False)
    assert result.trace[-1][1] < floor or result.rounds == 30
    assert result.accuracy >= floor and result.accuracy == accuracy(model, data.x_test, data.y_test)
    assert 1 - kept_weights(model)[0] / 56 == pytest.approx(result.fraction)


def _w(layer):
    return layer.weight_orig * layer.weight_mask if hasattr(layer, "weight_mask") else layer.weight.detach()
