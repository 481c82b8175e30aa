"""A seeded, deterministic training loop with callbacks (live plots and BINGO hook in here)."""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from bingo_kit.data import Dataset
from bingo_kit.errors import KitError

DEFAULT_EPOCHS = 30
DEFAULT_BATCH_SIZE = 32
DEFAULT_LR = 3e-3


@dataclass
class StepState:
    model: nn.Module
    epoch: int
    step: int  # global step, counted from 0
    loss: float
    x: torch.Tensor  # the batch this step trained on
    y: torch.Tensor


class Callback:
    """Override any of these; the loop calls them in order of the ``callbacks`` argument.

    A callback that sets ``stop_training = True`` ends the run after the current epoch.
    """

    def on_train_begin(self, model, data: Dataset) -> None: ...

    def on_step(self, state: StepState) -> None: ...

    def on_epoch_end(self, model, epoch: int, test_accuracy: float) -> None: ...

    def on_train_end(self, model) -> None: ...


@dataclass
class History:
    train_loss: list[float] = field(default_factory=list)  # mean over each epoch
    test_accuracy: list[float] = field(default_factory=list)  # after each epoch
    seconds: float = 0.0

    @property
    def final_accuracy(self) -> float:
        return self.test_accuracy[-1] if self.test_accuracy else float("nan")


def steps_per_run(data: Dataset, epochs: int, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """How many optimizer steps (and so callback ``on_step`` calls) :func:`train` makes."""
    return epochs * math.ceil(len(data.y_train) / batch_size)


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread for the duration, then restore the caller's setting.

    A tiny MLP gains nothing from intra-op threads, and on a shared machine (a classroom server, a parallel
    test run) busy-waiting worker threads made training up to 20x slower in our measurements. One thread
    also makes every figure independent of the machine's core count.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction (0..1) of ``x`` that ``model`` classifies as ``y``."""
    if len(y) == 0:
        return float("nan")
    return (model(x).argmax(dim=1) == y).float().mean().item()


def train(
    model: nn.Module,
    data: Dataset,
    *,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lr: float = DEFAULT_LR,
    seed: int = 0,
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
    test_each_epoch: bool = True,
) -> History:
    """Train with Adam on shuffled mini-batches; same model, data and seed → the same weights, bit for bit.

    ``test_each_epoch=False`` skips the test-set pass after each epoch (its accuracy is then nan): timings
    of training alone (on Fashion-MNIST that pass is a quarter of the CPU time).

    Pruned layers keep their masks: torch's pruning hook multiplies by the mask in every forward pass, so a
    pruned weight gets no gradient and stays exactly zero.
    """
    # a silent 0-epoch or empty-data run would report a nan accuracy (and a nan floor) as if all went well
    if int(epochs) < 1:
        raise KitError(f"epochs must be at least 1, got {epochs}.")
    if len(data.y_train) == 0:
        raise KitError("The training set is empty: there is nothing to train on (check train_limit).")
    with one_thread():
        return _train(model, data, epochs, batch_size, lr, seed, list(callbacks), progress, test_each_epoch)


def _train(model, data, epochs, batch_size, lr, seed, callbacks, progress, test_each_epoch) -> History:
    # a private generator: the shuffling depends on `seed` only, not on whatever ran before
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = History()
    n = len(data.y_train)
    step = 0
    # only pruned models need layer.weight recomputed after each step (see TinyMLP.sync_masked_weights)
    keep_masked_weights_fresh = hasattr(model, "sync_masked_weights") and any(
        hasattr(m, "weight_mask") for m in model.modules()
    )
    for cb in callbacks:
        cb.on_train_begin(model, data)
    start = time.perf_counter()
    bar = tqdm(range(epochs), desc="training", unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        order = torch.randperm(n, generator=generator)
        loss_sum = 0.0
        for first in range(0, n, batch_size):
            idx = order[first : first + batch_size]
            x, y = data.x_train[idx], data.y_train[idx]
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if keep_masked_weights_fresh:
                model.sync_masked_weights()
            loss_value = loss.item()
            loss_sum += loss_value * len(idx)
            if callbacks:
                state = StepState(model, epoch, step, loss_value, x, y)
                for cb in callbacks:
                    cb.on_step(state)
            step += 1
        model.eval()
        test_acc = accuracy(model, data.x_test, data.y_test) if test_each_epoch else float("nan")
        history.train_loss.append(loss_sum / n)
        history.test_accuracy.append(test_acc)
        bar.set_postfix(loss=f"{loss_sum / n:.3f}", test_acc=f"{test_acc:.3f}")
        for cb in callbacks:
            cb.on_epoch_end(model, epoch, test_acc)
        if any(getattr(cb, "stop_training", False) for cb in callbacks):  # a callback may end the run early
            break
    history.seconds = time.perf_counter() - start
    bar.close()
    for cb in callbacks:
        cb.on_train_end(model)
    return history


def train_with_scorer(
    model: nn.Module,
    data: Dataset,
    scorer: Callback,
    *,
    watchers: Sequence[Callable[[Callback], Callback]] = (),
    callbacks: Sequence[Callback] = (),
    batch_size: int | None = None,
    lr: float | None = None,
    **train_opts,
) -> History:
    """:func:`train` with ``scorer`` as the first callback.

    ``watchers``: functions given the scorer that return a callback (e.g. a live figure of its scores); they
    run right after the scorer, so they see the scores of the step that just ran.
    """
    optional = {k: v for k, v in (("batch_size", batch_size), ("lr", lr)) if v is not None}
    watching = [watcher(scorer) for watcher in watchers]
    return train(model, data, callbacks=[scorer, *watching, *callbacks], **optional, **train_opts)
