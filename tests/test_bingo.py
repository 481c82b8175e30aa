"""BINGO scoring: both update rules by hand, the vectorised scorer against a plain loop, determinism."""
import copy

import pytest
import torch
from torch.func import functional_call, vmap
from torch.nn.utils import prune

from bingo_kit.bingo import BingoScorer, batched_logits, bingo_target, bingo_update, train_with_bingo
from bingo_kit.errors import KitError
from bingo_kit.models import make_mlp
from bingo_kit.training import Callback, StepState, train
from core_helpers import blobs


def test_update_rules_worked_by_hand():
    # A_b = 0.8, A_a = 0.6: the reset cost a quarter of the accuracy
    assert bingo_update(0.5, 0.8, 0.6, "prose") == pytest.approx((0.5 + 0.25) / 2)  # 0.375
    assert bingo_update(0.5, 0.8, 0.6, "paper") == pytest.approx((0.5 + 0.75) / 2)  # 0.625
    # no change: prose halves the score towards 0, the printed formula pulls it towards 1
    assert bingo_update(0.375, 0.5, 0.5, "prose") == pytest.approx(0.1875)
    assert bingo_update(0.375, 0.5, 0.5, "paper") == pytest.approx(0.6875)
    assert bingo_update(0.5, 0.0, 0.25, "prose") == pytest.approx(0.375)  # zero baseline: absolute change


def one_layer_net():
    """2 outputs from 1 input. Initial weights 0 (reset → logits tie → class 0); trained weights (-1, +1)."""
    model = make_mlp((1, 2))
    with torch.no_grad():
        model.initial_state["layers.0.weight"].zero_()
        model.layers[0].weight.copy_(torch.tensor([[-1.0], [1.0]]))
        model.layers[0].bias.zero_()
    x, y = torch.ones(4, 1), torch.tensor([1, 1, 1, 0])  # A_b = 3/4
    return model, x, y


@pytest.mark.parametrize("rule, expected", [("prose", [7 / 12, 0.5]), ("paper", [5 / 12, 0.5])])
def test_scorer_worked_by_hand(rule, expected):
    model, x, y = one_layer_net()
    scorer = BingoScorer(model, rule=rule, tickets=2, p=0.5)
    # ticket 0 resets both weights: every logit 0 → class 0 → A_a = 1/4, |A_b - A_a| / A_b = 2/3
    # ticket 1 resets only w1 (+1 → 0): logits (-1, 0) still say class 1 → A_a = 3/4, no change
    tickets = torch.tensor([[0, 1], [1, 1]])
    before, after = scorer.score_step(x, y, tickets)
    assert before == 0.75 and after == [0.25, 0.75]
    first = (0.5 + (2 / 3 if rule == "prose" else 1 / 3)) / 2
    second = (first + (0.0 if rule == "prose" else 1.0)) / 2  # w1 was in both tickets
    assert scorer.scores["layers.0"].reshape(-1).tolist() == pytest.approx([first, second])
    assert first == pytest.approx(expected[0])


def reference_scores(model, scores, tickets, x, y, rule, metric):
    """The plain-loop BINGO step: copy the net per ticket, reset weight by weight, evaluate, update one by one."""
    def measure(net):
        logits = net(x)
        if metric == "accuracy":
            return (logits.argmax(1) == y).float().mean().item()
        return torch.nn.functional.cross_entropy(logits, y).item()

    layers = [name for name, _ in model.weight_layers()]
    sizes = [model.initial_state[f"{n}.weight"].numel() for n in layers]
    with torch.no_grad():
        before = measure(model)
        for ticket in tickets.tolist():
            net = copy.deepcopy(model)
            for flat_index in sorted(set(ticket)):
                layer_i = 0
                while flat_index >= sizes[layer_i]:
                    flat_index -= sizes[layer_i]
                    layer_i += 1
                layer = net.layers[layer_i]
                initial = model.initial_state[f"layers.{layer_i}.weight"].reshape(-1)[flat_index]
                target = layer.weight_orig if hasattr(layer, "weight_orig") else layer.weight
                target.view(-1)[flat_index] = initial
            after = measure(net)
            for flat_index in sorted(set(ticket)):
                scores[flat_index] = bingo_update(scores[flat_index], before, after, rule)
    return scores


class CompareWithLoop(Callback):
    def __init__(self, scorer, rule, metric, probe_data):
        self.scorer, self.rule, self.metric, self.probe_data = scorer, rule, metric, probe_data
        self.reference = scorer.flat_scores.clone()
        self.steps = 0

    def on_step(self, state: StepState):
        x, y = self.probe_data or (state.x, state.y)
        tickets = self.scorer.draw_tickets()
        self.scorer.score_step(x, y, tickets)
        reference_scores(state.model, self.reference, tickets, x, y, self.rule, self.metric)
        self.steps += 1


@pytest.mark.parametrize(
    "rule, metric, tickets, probe, pruned",
    [
        ("prose", "accuracy", 1, "batch", False),
        ("paper", "accuracy", 3, "batch", False),
        ("prose", "accuracy", 2, "fixed", True),
        ("prose", "loss", 2, "fixed", False),
        ("paper", "loss", 1, "batch", True),
    ],
)
def test_vectorised_scorer_equals_the_loop_reference(rule, metric, tickets, probe, pruned):
    data = blobs(n_train=64)
    model = make_mlp((4, 5, 3), seed=1)
    if pruned:  # reset weights that are pruned must stay pruned in the ticket
        prune.random_unstructured(model.layers[0], "weight", amount=0.4)
    scorer = BingoScorer(model, rule=rule, metric=metric, tickets=tickets, p=0.3, seed=5)
    probe_data = (data.x_test[:20], data.y_test[:20]) if probe == "fixed" else None
    compare = CompareWithLoop(scorer, rule, metric, probe_data)
    train(model, data, epochs=3, lr=0.05, callbacks=[compare], progress=False)
    assert compare.steps == 6
    assert not torch.all(scorer.flat_scores == 0.5)  # the run really changed scores
    if metric == "accuracy":  # same argmax, same counts: identical
        assert torch.equal(scorer.flat_scores, compare.reference)
    else:  # batched and single matmuls may differ in the last bit of the loss
        assert torch.allclose(scorer.flat_scores, compare.reference, atol=1e-5)


def test_batched_forward_equals_vmap_of_functional_call_on_the_real_module():
    model = make_mlp((6, 5, 4, 3), seed=2)
    weight_sets = [torch.randn(3, *layer.weight.shape) for layer in model.layers]
    x = torch.rand(7, 6)
    expected = vmap(
        lambda ws: functional_call(model, {f"layers.{i}.weight": w for i, w in enumerate(ws)}, (x,))
    )(weight_sets)
    assert torch.allclose(batched_logits(weight_sets, [layer.bias for layer in model.layers], x), expected, atol=1e-6)


def test_tickets_reset_about_p_of_the_weights():
    scorer = BingoScorer(make_mlp((64, 32, 10)), p=0.2, tickets=50)
    tickets = scorer.draw_tickets()
    share = torch.tensor([len(set(t)) for t in tickets.tolist()]) / scorer.n_weights
    assert float(share.mean()) == pytest.approx(0.2, abs=0.005)


def test_same_seed_same_scores_and_bingo_does_not_change_training():
    data = blobs()
    runs = [train_with_bingo(make_mlp((4, 6, 3)), data, epochs=2, seed=s, progress=False)[1] for s in (0, 0, 1)]
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert not torch.equal(runs[0]["layers.0"], runs[2]["layers.0"])
    plain, scored = make_mlp((4, 6, 3)), make_mlp((4, 6, 3))
    train(plain, data, epochs=2, progress=False)
    train_with_bingo(scored, data, epochs=2, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(plain.parameters(), scored.parameters()))


def test_scores_are_live_views_and_options_are_checked():
    model = make_mlp((4, 6, 3))
    scorer = BingoScorer(model)
    live = scorer.scores["layers.1"]
    scorer.score_step(torch.rand(8, 4), torch.zeros(8, dtype=torch.long))
    assert not torch.all(live == 0.5)  # the dict the widgets hold sees the update
    for bad in ({"rule": "printed"}, {"probe": "test"}, {"metric": "f1"}, {"p": 1.0}, {"tickets": 0}):
        with pytest.raises(KitError):
            BingoScorer(model, **bad)


def test_watchers_see_the_scorer_after_each_step():
    data = blobs()
    seen = []

    class Watcher(Callback):
        def __init__(self, scorer):
            self.scorer = scorer

        def on_step(self, state):
            seen.append((state.step, self.scorer.steps))

    _, scores = train_with_bingo(make_mlp((4, 8, 3), seed=0), data, epochs=2, seed=0, progress=False,
                                 watchers=[Watcher])
    assert seen and all(scored == step + 1 for step, scored in seen)  # the scorer already ran this step
    assert set(scores) == {"layers.0", "layers.1"}


def torch_ops_step(model, scores, tickets, x, y, rule, metric):
    """One scoring step written with plain torch ops (float32 mean, add_/mul_ in place): the arithmetic the
    scorer's NumPy bookkeeping must reproduce bit for bit, so the kit's recorded scores never drift."""
    weights = [layer.weight_orig * layer.weight_mask if hasattr(layer, "weight_mask") else layer.weight.detach()
               for layer in model.layers]
    masks = [layer.weight_mask if hasattr(layer, "weight_mask") else torch.ones_like(w)
             for layer, w in zip(model.layers, weights)]
    flat = torch.cat([w.reshape(-1) for w in weights])
    reset_to = torch.cat([model.initial_state[f"layers.{i}.weight"].reshape(-1) * m.reshape(-1)
                          for i, m in enumerate(masks)])
    candidates = flat.repeat(1 + len(tickets), 1)
    for t, ticket in enumerate(tickets):
        candidates[1 + t, ticket] = reset_to[ticket]
    weight_sets, offset = [], 0
    for w in weights:
        weight_sets.append(candidates[:, offset : offset + w.numel()].reshape(-1, *w.shape))
        offset += w.numel()
    logits = batched_logits(weight_sets, [layer.bias for layer in model.layers], x)
    if metric == "accuracy":
        measured = (logits.argmax(dim=2) == y).float().mean(dim=1).tolist()
    else:
        measured = torch.nn.functional.cross_entropy(
            logits.transpose(1, 2), y.expand(len(logits), -1), reduction="none").mean(dim=1).tolist()
    before, *after = measured
    for ticket, a in zip(tickets, after):
        scores[ticket] = scores[ticket].add_(bingo_target(before, a, rule)).mul_(0.5)
    return scores


@pytest.mark.parametrize("rule, metric, pruned", [("prose", "accuracy", False), ("paper", "loss", True),
                                                  ("prose", "loss", False), ("paper", "accuracy", True)])
def test_scores_equal_torch_float32_ops_bit_for_bit(rule, metric, pruned):
    model = make_mlp((6, 9, 4), seed=3)
    with torch.no_grad():  # away from the initial weights, so resets change the answers
        for layer in model.layers:
            layer.weight.mul_(-2).add_(0.1)
    if pruned:
        prune.random_unstructured(model.layers[1], "weight", amount=0.5)
    scorer = BingoScorer(model, rule=rule, metric=metric, tickets=3, p=0.3, seed=4)
    reference = scorer.flat_scores.clone()
    g = torch.Generator().manual_seed(0)
    for batch in (7, 45, 32, 7, 13) * 4:  # batch sizes that are not powers of two round the float32 mean
        x, y = torch.rand(batch, 6, generator=g), torch.randint(4, (batch,), generator=g)
        tickets = scorer.draw_tickets()
        scorer.score_step(x, y, tickets)
        torch_ops_step(model, reference, tickets, x, y, rule, metric)
    assert not torch.all(reference == 0.5)
    assert torch.equal(scorer.flat_scores, reference)
