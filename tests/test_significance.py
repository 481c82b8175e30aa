"""The new significance methods against plain loops: BINGO's running mean, the kit's rule (batched per epoch =
per step = a loop over tickets and weights), BINGO-grad's saliency, and gradual pruning's choices."""
import pytest
import torch
import torch.nn.functional as F

import bingo_kit.fake_pass as fake_pass
from bingo_kit.errors import KitError
from bingo_kit.fake_pass import RunningMeanBingo
from bingo_kit.gradual import DEFAULT_MARGIN, cubic_sparsity, gradual_pruning
from bingo_kit.methods import train_scored
from bingo_kit.models import make_mlp
from bingo_kit.pruning import kept_weights, prune_fraction
from bingo_kit.saliency import GradientSaliency
from bingo_kit.training import Callback, accuracy, train
from core_helpers import blobs


def _scores(model, data, **options):
    _, scores = train_scored(model, data, "bingo", epochs=2, seed=0, progress=False, **options)
    return torch.cat([s.reshape(-1) for s in scores.values()])


@pytest.mark.parametrize("sizes", [(4, 6, 3), (4, 5, 4, 3)])
def test_batched_evaluation_gives_exactly_the_per_step_scores(sizes, monkeypatch):
    data = blobs(n_train=150)  # 5 batches an epoch, the last one smaller
    per_step = _scores(make_mlp(sizes, seed=2), data, evaluate="step", p=0.3, tickets=5)
    per_epoch = _scores(make_mlp(sizes, seed=2), data, evaluate="epoch", p=0.3, tickets=5)
    assert torch.equal(per_step, per_epoch) and per_step.abs().sum() > 0
    monkeypatch.setattr(fake_pass, "MAX_BATCH_FLOATS", 1)  # one snapshot per forward pass
    assert torch.equal(_scores(make_mlp(sizes, seed=2), data, p=0.3, tickets=5), per_epoch)


def test_scoring_leaves_training_as_it_was():
    data = blobs()
    plain, scored = make_mlp((4, 6, 3), seed=1), make_mlp((4, 6, 3), seed=1)
    train(plain, data, epochs=2, progress=False)
    train_scored(scored, data, "bingo", epochs=2, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(plain.parameters(), scored.parameters()))


def _loop_loss(model, weights, initial, reset, x, y):
    """The plain way: a copy of the net, its weights set one by one, ticket weights reset one by one."""
    net = make_mlp(model.sizes)
    flat = weights.clone()
    for index in reset.tolist():
        flat[index] = initial[index]
    with torch.no_grad():
        offset = 0
        for layer, source in zip(net.layers, model.layers):
            n = layer.weight.numel()
            layer.weight.copy_(flat[offset:offset + n].view_as(layer.weight))
            layer.bias.copy_(source.bias)
            offset += n
        return F.cross_entropy(net(x), y).item()


@pytest.mark.parametrize("pruned", [False, True])
def test_running_mean_equals_a_plain_loop_over_tickets_and_weights(pruned):
    torch.manual_seed(0)
    model = make_mlp((5, 4, 3), seed=3)
    with torch.no_grad():
        for layer in model.layers:
            layer.weight.mul_(3)  # far from the initial values, so a reset changes the loss visibly
    if pruned:
        prune_fraction(model, 0.3, method="magnitude")
    scorer = RunningMeanBingo(model, p=0.3, tickets=3, seed=1)
    n = scorer.n_weights
    initial = scorer.initial_flat.clone()
    if pruned:
        initial *= torch.cat([layer.weight_mask.reshape(-1) for layer in model.layers])  # pruned stays pruned
    sums, counts = torch.zeros(n, dtype=torch.float64), torch.zeros(n)
    for step in range(4):
        x, y = torch.rand(7, 5), torch.randint(3, (7,))
        tickets = torch.randint(n, (3, scorer.draws), generator=torch.Generator().manual_seed(step))
        weights = torch.cat([w.reshape(-1) for w in model.current_weights()]).detach()
        scorer.snapshot(x, y, tickets)
        before = _loop_loss(model, weights, initial, torch.tensor([], dtype=torch.long), x, y)
        for ticket in tickets:
            change = _loop_loss(model, weights, initial, ticket, x, y) - before
            for index in set(ticket.tolist()):  # a weight drawn twice in a ticket counts once
                sums[index] += change
                counts[index] += 1
        with torch.no_grad():  # the network moves between steps
            model.layers[0].bias.add_(0.1)
    scorer.flush()
    expected = (sums / counts.clamp(min=1)).float()
    assert counts.min() >= 0 and counts.max() >= 2
    assert torch.allclose(scorer.flat_scores, expected, atol=2e-6), (scorer.flat_scores - expected).abs().max()


def test_fake_pass_arguments_are_checked():
    model = make_mlp((4, 3))
    for bad, says in [({"p": 0.0}, "p is"), ({"tickets": 0}, "tickets"), ({"evaluate": "sometimes"}, "evaluate")]:
        with pytest.raises(KitError, match=says):
            RunningMeanBingo(model, **bad)


class _Recorder(Callback):
    """Records each step's gradient and weight, as the loop left them."""

    def __init__(self, model):
        self.model, self.products = model, []

    def on_step(self, state):
        for i, layer in enumerate(self.model.layers):
            weight = layer.weight_orig if hasattr(layer, "weight_orig") else layer.weight
            mask = layer.weight_mask if hasattr(layer, "weight_mask") else 1.0
            self.products.append((i, (weight.grad.double() * weight.detach().double() * mask)))


@pytest.mark.parametrize("pruned", [False, True])
def test_gradient_saliency_equals_the_sum_over_steps_of_grad_times_weight_squared(pruned):
    data = blobs()
    model = make_mlp((4, 6, 3), seed=0)
    if pruned:
        prune_fraction(model, 0.4, method="random")
    saliency, recorder = GradientSaliency(model), _Recorder(model)
    train(model, data, epochs=2, callbacks=[saliency, recorder], progress=False)
    for i, name in enumerate(saliency.scores):
        expected = sum(p ** 2 for layer, p in recorder.products if layer == i)
        assert torch.allclose(saliency.scores[name].double(), expected, rtol=1e-5, atol=1e-12)
        if pruned:  # a pruned weight has no saliency
            assert torch.all(saliency.scores[name][model.layers[i].weight_mask == 0] == 0)
    assert saliency.steps == 2 * 4


def test_cubic_schedule_by_hand():
    assert cubic_sparsity(0, 0, 10, 0.9) == 0.0
    assert cubic_sparsity(5, 0, 10, 0.9) == pytest.approx(0.9 - 0.9 * 0.5 ** 3)
    assert cubic_sparsity(10, 0, 10, 0.9) == cubic_sparsity(99, 0, 10, 0.9) == pytest.approx(0.9)


class _PruneSpy(Callback):
    """After each step, checks that newly pruned weights were the least salient of those alive before."""

    def __init__(self, model, saliency):
        self.model, self.saliency, self.alive, self.checked = model, saliency, None, 0

    def on_step(self, state):
        masks = torch.cat([getattr(l, "weight_mask", torch.ones_like(l.weight)).reshape(-1) for l in self.model.layers])
        if self.alive is not None and not torch.equal(masks, self.alive):
            assert torch.all(masks <= self.alive)  # a pruned weight never comes back
            gone = (self.alive == 1) & (masks == 0)
            survivors = masks == 1
            before = self.before
            # by hand: every weight pruned now had a saliency no higher than any survivor's
            assert max(before[i].item() for i in range(len(before)) if gone[i]) <= \
                min(before[i].item() for i in range(len(before)) if survivors[i])
            self.checked += 1
        self.alive = masks
        # the pruner runs after this spy in the next step: remember the saliency it will rank by
        self.before = torch.cat([s.reshape(-1) for s in self.saliency.scores.values()]).clone()


def test_gradual_prunes_the_least_salient_and_stops_at_the_floor(monkeypatch):
    import bingo_kit.gradual as gradual

    data = blobs(n_train=300, n_test=90)
    dense = make_mlp((4, 12, 3), seed=0)
    train(dense, data, epochs=20, lr=0.02, progress=False)
    floor = accuracy(dense, data.x_test, data.y_test) - 0.05
    spies = []
    real_pruner = gradual.GradualPruner

    def pruner_with_spy(model, saliency, *args, **kwargs):
        spies.append(_PruneSpy(model, saliency))
        pruner = real_pruner(model, saliency, *args, **kwargs)
        real_step = pruner.on_step

        def on_step(state):
            spies[0].before = torch.cat([s.reshape(-1) for s in saliency.scores.values()]).clone()
            real_step(state)
            spies[0].on_step(state)
        pruner.on_step = on_step
        return pruner

    monkeypatch.setattr(gradual, "GradualPruner", pruner_with_spy)
    model = make_mlp((4, 12, 3), seed=0)
    result = gradual_pruning(model, data, floor, epochs=20, lr=0.02, progress=False)
    assert spies[0].checked >= 3  # several prunes, each checked by hand
    assert result.split == "test" and result.accuracy >= floor + DEFAULT_MARGIN  # every check kept the margin
    assert result.accuracy == accuracy(model, data.x_test, data.y_test)
    assert result.fraction == pytest.approx(1 - kept_weights(model)[0] / 84) and result.fraction > 0.3
    assert result.evaluations >= result.prunes


def test_gradual_prunes_nothing_when_the_floor_is_out_of_reach():
    data = blobs()
    model = make_mlp((4, 6, 3), seed=0)
    result = gradual_pruning(model, data, 1.01, epochs=3, progress=False)
    assert result.fraction == 0.0 and result.prunes == 0 and kept_weights(model) == (42, 42)


def test_gradual_reaches_imps_sparsity_on_fashion_mnist_and_its_floor_holds_on_test():
    # issue 18 C4, the race's set-up on seed 1: with the 98 % cap the schedule, not the floor, ended the run;
    # with the cap raised and no margin the most pruned of ~60 passing checkpoints read 0.3 points under the
    # floor on the test set (the best of many noisy checks flatters); checks at floor + 1 point hold on test
    from bingo_kit.data import load_dataset, with_validation

    data = with_validation(load_dataset("fashion-mnist", train_limit=10_000, seed=1), 0.2, 1)
    sizes = (data.n_features, 128, 64, data.n_classes)
    dense = make_mlp(sizes, seed=1)
    train(dense, data, epochs=5, seed=1, progress=False, test_each_epoch=False)
    floor = accuracy(dense, data.x_val, data.y_val) - 0.07
    result = gradual_pruning(make_mlp(sizes, seed=1), data, floor, epochs=5, seed=1, progress=False,
                             test_each_epoch=False)
    assert result.stopped_at_floor and result.fraction >= 0.99, result
    assert result.accuracy >= floor + DEFAULT_MARGIN and result.test_accuracy >= floor, (result, floor)
