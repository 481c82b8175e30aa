"""The method registry: one id per method, lenient lookup, and torch's pruning machinery ranking by value."""
import pytest
import torch
from torch.nn.utils import prune

from bingo_kit.errors import KitError
from bingo_kit.methods import REGISTRY, LowestImportance, get_method, label, method_ids, prune_lowest
from bingo_kit.models import make_mlp
from bingo_kit.pruning import kept_weights, prune_fraction


@pytest.mark.parametrize("typed", ["bingo", "BINGO", "Bingo", " bingo "])
def test_student_spellings_of_bingo_all_find_one_method(typed):
    assert get_method(typed).id == "bingo"


def test_every_label_and_id_finds_its_own_method():
    for method_id, method in REGISTRY.items():
        assert get_method(method.label).id == method_id
        assert get_method(method_id.upper().replace("_", " ")).id == method_id
        assert method.description.endswith(".") and len(method.description) > 40
    assert get_method("BINGO (printed formula)").id == "bingo_paper"  # the label before it named the paper
    assert get_method("BINGO (paper's printed formula)").id == "bingo_paper"
    # issue 18 C3: the running mean is the kit's rule; the paper's exact rules say they are the paper's
    assert label("bingo") == "BINGO (kit's running mean)"
    assert label("paper") == "BINGO (paper's printed formula)" and label("prose") == "BINGO (paper's 2-sample average)"
    # the scorer's rule names (lesson 3 compares them) name today's two-sample rule and the printed one
    assert get_method("prose").id == "bingo_classic" and get_method("Paper").id == "bingo_paper"
    assert "kit's" in label("bingo_grad")
    assert [m for m in REGISTRY.values() if m.kit_variant] == [get_method("bingo_grad"), get_method("gradual")]
    assert all("kit's" in m.label for m in REGISTRY.values() if m.kit_variant)


def test_unknown_method_lists_the_choices():
    with pytest.raises(KitError, match="Unknown pruning method 'lottery'. Choose one of: magnitude, random"):
        get_method("lottery")
    with pytest.raises(KitError, match="Choose one of"):
        get_method(None)


def test_filters_by_what_a_method_can_do():
    assert "imp" not in method_ids(ranks_trained_model=True)
    assert set(method_ids(scored_while_training=True)) == {"bingo", "bingo_classic", "bingo_paper", "bingo_grad"}
    assert "magnitude" not in method_ids(scored_while_training=True)


def test_lowest_importance_ranks_by_value_even_when_scores_are_negative():
    model = make_mlp((3, 2), seed=0)
    # |score| would keep -5 and prune 0.1; by value -5 is the least important
    scores = {"layers.0": torch.tensor([[-5.0, 0.1, 2.0], [-0.2, 3.0, 1.0]])}
    prune_fraction(model, 2 / 6, method="bingo", scores=scores)
    assert model.layers[0].weight_mask.tolist() == [[0.0, 1.0, 1.0], [0.0, 1.0, 1.0]]


def test_lowest_importance_is_a_torch_pruning_method_and_stacks_on_alive_weights():
    model = make_mlp((4, 3), seed=0)
    importance = {"layers.0": torch.arange(12, dtype=torch.float32).reshape(3, 4)}
    prune_lowest(model, 3, importance)
    prune_lowest(model, 3, importance)  # counted among the 9 still alive: 6 gone in all
    layer = model.layers[0]
    assert prune.is_pruned(layer) and kept_weights(model) == (6, 12)
    assert layer.weight_mask.reshape(-1).tolist() == [0.0] * 6 + [1.0] * 6
    assert isinstance(next(iter(layer._forward_pre_hooks.values())), prune.PruningContainer)
    LowestImportance.apply(make_mlp((4, 3)).layers[0], "weight", amount=2)  # the per-tensor front door
    with pytest.raises(KitError, match="Cannot prune 13 of 12"):
        prune_lowest(make_mlp((4, 3)), 13, importance)
