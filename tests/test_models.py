"""TinyMLP: shapes, seeded initial weights it remembers, rewind keeps masks, save/load round trip."""
import pytest
import torch
from torch.nn.utils import prune

from bingo_kit.errors import KitError
from bingo_kit.models import load_model, make_mlp, save_model


def test_shapes_and_layer_names():
    model = make_mlp((64, 16, 10))
    assert model(torch.rand(5, 64)).shape == (5, 10)
    assert [name for name, _ in model.weight_layers()] == ["layers.0", "layers.1"]
    assert set(model.initial_state) == {"layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"}


def test_same_seed_same_weights_and_the_global_rng_is_left_alone():
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = make_mlp((8, 4, 2), seed=7)
    after = torch.rand(3)
    b, c = make_mlp((8, 4, 2), seed=7), make_mlp((8, 4, 2), seed=8)
    assert torch.equal(before, after)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.layers[0].weight, c.layers[0].weight)


def test_initial_state_is_a_copy_and_rewind_restores_it_keeping_masks():
    model = make_mlp((6, 5, 3))
    start = {k: v.clone() for k, v in model.initial_state.items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    assert torch.equal(model.initial_state["layers.0.weight"], start["layers.0.weight"])
    mask = (torch.arange(30).reshape(5, 6) % 2).float()
    prune.custom_from_mask(model.layers[0], "weight", mask)
    model.rewind()
    assert torch.equal(model.layers[0].weight, start["layers.0.weight"] * mask)
    assert torch.equal(model.layers[0].weight_mask, mask)
    assert torch.equal(model.layers[1].weight, start["layers.1.weight"])
    assert torch.equal(model.layers[1].bias, start["layers.1.bias"])


def test_save_and_load_keep_weights_masks_and_initial_state(tmp_path):
    model = make_mlp((6, 5, 3), seed=3)
    prune.custom_from_mask(model.layers[1], "weight", (torch.rand(3, 5) > 0.5).float())
    save_model(model, tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt")
    x = torch.rand(4, 6)
    assert torch.equal(loaded(x), model(x))
    assert torch.equal(loaded.layers[1].weight_mask, model.layers[1].weight_mask)
    assert torch.equal(loaded.initial_state["layers.0.weight"], model.initial_state["layers.0.weight"])


def test_a_loaded_pruned_model_can_be_unpruned_to_its_dense_weights(tmp_path):
    from bingo_kit.pruning import prune_fraction, remove_pruning

    model = make_mlp((6, 5, 3), seed=4)
    dense = [layer.weight.detach().clone() for layer in model.layers]
    prune_fraction(model, 0.5)
    save_model(model, tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt")
    x = torch.rand(4, 6)
    assert torch.equal(loaded(x), model(x))  # pruned behaviour unchanged
    assert all(torch.equal(a.weight, b.weight) for a, b in zip(loaded.layers, model.layers))
    remove_pruning(loaded)
    assert all(torch.equal(layer.weight, w) for layer, w in zip(loaded.layers, dense))  # not zeros


def test_files_without_weights_orig_still_load(tmp_path):
    # the layout written before weights_orig was saved: masked weights only
    model = make_mlp((6, 5, 3), seed=5)
    mask = (torch.rand(3, 5) > 0.5).float()
    prune.custom_from_mask(model.layers[1], "weight", mask)
    old = {
        "sizes": list(model.sizes),
        "weights": [w.detach().clone() for w in model.current_weights()],
        "biases": [layer.bias.detach().clone() for layer in model.layers],
        "masks": [None, mask],
        "initial_state": model.initial_state,
    }
    torch.save(old, tmp_path / "old.pt")
    loaded = load_model(tmp_path / "old.pt")
    x = torch.rand(4, 6)
    assert torch.equal(loaded(x), model(x)) and torch.equal(loaded.layers[1].weight_mask, mask)


def test_bad_sizes_and_missing_file_are_plain_errors(tmp_path):
    with pytest.raises(KitError, match="at least an input and an output"):
        make_mlp((64,))
    with pytest.raises(KitError, match="bingo-kit train"):
        load_model(tmp_path / "nothing.pt")
