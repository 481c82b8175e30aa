"""The training loop: learns, is deterministic, calls back in order, keeps pruned weights at zero."""
import math

import torch
from torch.nn.utils import prune

from bingo_kit.data import load_dataset
from bingo_kit.models import make_mlp
from bingo_kit.training import Callback, accuracy, steps_per_run, train
from core_helpers import blobs


class Recorder(Callback):
    def __init__(self):
        self.events = []

    def on_train_begin(self, model, data):
        self.events.append("begin")

    def on_step(self, state):
        self.events.append(("step", state.epoch, state.step, len(state.y)))

    def on_epoch_end(self, model, epoch, test_accuracy):
        self.events.append(("epoch", epoch))

    def on_train_end(self, model):
        self.events.append("end")


def test_learns_digits():
    data = load_dataset("digits")
    model = make_mlp((64, 16, 10))
    before = accuracy(model, data.x_test, data.y_test)
    history = train(model, data, epochs=8, progress=False)
    assert before < 0.3 and history.final_accuracy > 0.9
    assert len(history.test_accuracy) == 8 and history.train_loss[-1] < history.train_loss[0]
    assert history.seconds > 0


def test_same_seed_same_weights_different_seed_different_weights():
    data = blobs()
    runs = []
    for seed in (0, 0, 1):
        model = make_mlp((4, 6, 3), seed=0)
        train(model, data, epochs=3, seed=seed, progress=False)
        runs.append(torch.cat([p.detach().reshape(-1) for p in model.parameters()]))
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


def test_callbacks_see_every_step_in_order():
    data = blobs(n_train=70)
    recorder = Recorder()
    train(make_mlp((4, 6, 3)), data, epochs=2, batch_size=32, callbacks=[recorder], progress=False)
    steps = [event[1:] for event in recorder.events if event[0] == "step"]
    assert recorder.events[0] == "begin" and recorder.events[-1] == "end"
    assert steps == [(0, 0, 32), (0, 1, 32), (0, 2, 6), (1, 3, 32), (1, 4, 32), (1, 5, 6)]
    assert recorder.events.index(("epoch", 0)) == 4


def test_pruned_weights_stay_zero_through_training_and_layer_weight_is_fresh():
    data = blobs()
    model = make_mlp((4, 6, 3))
    mask = (torch.rand(6, 4, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    prune.custom_from_mask(model.layers[0], "weight", mask)
    seen = []

    class Peek(Callback):
        def on_step(self, state):
            layer = state.model.layers[0]
            seen.append(torch.equal(layer.weight, layer.weight_orig * layer.weight_mask))

    before = model.layers[0].weight_orig.detach().clone()
    train(model, data, epochs=3, callbacks=[Peek()], progress=False)
    weight = model.layers[0].weight
    assert torch.all(weight[mask == 0] == 0) and torch.all(weight[mask == 1] != 0)
    assert not torch.equal(model.layers[0].weight_orig[mask == 1], before[mask == 1])  # survivors did train
    assert all(seen)  # readers of layer.weight never see the values from before the optimizer step


def test_steps_per_run_counts_the_on_step_calls():
    data = blobs(n_train=70)

    class Count(Callback):
        calls = 0

        def on_step(self, state):
            Count.calls += 1

    train(make_mlp((4, 5, 3), seed=0), data, epochs=3, batch_size=32, callbacks=[Count()], progress=False)
    assert Count.calls == steps_per_run(data, 3, batch_size=32) == 3 * 3  # 70 examples: batches of 32, 32, 6


def test_training_without_the_test_pass_trains_the_same_weights():
    data = blobs(n_train=120, n_test=60)
    tested, untested = make_mlp((4, 6, 3), seed=2), make_mlp((4, 6, 3), seed=2)
    with_test = train(tested, data, epochs=3, seed=2, progress=False)
    without = train(untested, data, epochs=3, seed=2, progress=False, test_each_epoch=False)
    assert all(torch.equal(a, b) for a, b in zip(tested.state_dict().values(), untested.state_dict().values()))
    assert len(without.test_accuracy) == 3 and all(math.isnan(a) for a in without.test_accuracy)
    assert with_test.train_loss == without.train_loss and not math.isnan(with_test.final_accuracy)
