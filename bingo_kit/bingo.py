"""BINGO: score every weight's significance *while* the network trains.

After each real training step the scorer draws ``tickets`` random subsets of the weights (each weight in a
subset with probability ``p``), temporarily resets the subset to its initial values, and measures the
accuracy (or loss) on a probe batch before (``A_b``) and after (``A_a``). Every weight in a subset then gets

    prose rule (default): S = (S_prev + |A_b - A_a| / A_b) / 2        high score = resetting it hurt
    paper rule:           S = (S_prev + 1 - |A_b - A_a| / A_b) / 2    the formula exactly as printed

Scores start at 0.5. Pruning removes the weights with the lowest scores, whichever rule made them.

The scorer never loops over weights in Python: the baseline and all tickets go through one batched forward
pass (:func:`batched_logits`, one ``baddbmm`` per layer), so scoring costs a fraction of a training step.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from bingo_kit.data import Dataset
from bingo_kit.errors import KitError
from bingo_kit.models import TinyMLP
from bingo_kit.training import Callback, History, StepState, train

RULES = ("prose", "paper")
PROBES = ("batch", "fixed")
METRICS = ("accuracy", "loss")

# The best of a sweep (benchmarks/bingo_sweep.py) over p ∈ {0.05, 0.1, 0.2, 0.5} × probe × metric × tickets
# ∈ {1, 4}: on digits 64-32-10 (3 seeds) it pruned 24.7 % at the floor on average (range 22-28 %), the most of
# the 32 settings and steadier than the rest; on a Fashion-MNIST subset it pruned 30-32 %. One-shot magnitude
# pruning of the same network reaches 67 % / 65-68 %, random 12.5 % / 25-28 %: BINGO as described does not
# match magnitude here. Four tickets per step cost more time than one (see benchmarks/race.py).
DEFAULT_P = 0.05
DEFAULT_PROBE = "batch"
DEFAULT_METRIC = "accuracy"
DEFAULT_TICKETS = 4
DEFAULT_PROBE_SIZE = 256


class BingoScorer(Callback):
    """A training callback that keeps one significance score per weight (``scores["layers.0"]`` etc.)."""

    def __init__(
        self,
        model: TinyMLP,
        *,
        rule: str = "prose",
        p: float = DEFAULT_P,
        probe: str = DEFAULT_PROBE,
        metric: str = DEFAULT_METRIC,
        tickets: int = DEFAULT_TICKETS,
        seed: int = 0,
        probe_data: tuple[torch.Tensor, torch.Tensor] | None = None,
        probe_size: int = DEFAULT_PROBE_SIZE,
    ):
        _check_choice("rule", rule, RULES)
        _check_choice("probe", probe, PROBES)
        _check_choice("metric", metric, METRICS)
        if not 0.0 < p < 1.0:
            raise KitError(f"p is the fraction of weights reset per ticket; it must be in (0, 1), got {p}.")
        if int(tickets) < 1:
            raise KitError(f"tickets (random subsets per step) must be at least 1, got {tickets}.")
        self.model = model
        self.rule, self.p, self.probe, self.metric = rule, float(p), probe, metric
        self.tickets, self.probe_size = int(tickets), int(probe_size)
        self.probe_data = probe_data
        self.generator = torch.Generator().manual_seed(seed)
        self.layer_names = [name for name, _ in model.weight_layers()]
        self.shapes = [tuple(layer.weight.shape) for _, layer in model.weight_layers()]
        self.numels = [layer.weight.numel() for _, layer in model.weight_layers()]
        self.initial_flat = torch.cat([model.initial_state[f"{n}.weight"].reshape(-1) for n in self.layer_names])
        # one flat tensor; `scores` holds views into it so callers always see the latest values
        self.flat_scores = torch.full((sum(self.numels),), 0.5)
        self.scores: dict[str, torch.Tensor] = {}
        offset = 0
        for name, shape, numel in zip(self.layer_names, self.shapes, self.numels):
            self.scores[name] = self.flat_scores[offset : offset + numel].view(shape)
            offset += numel
        self.n_weights = sum(self.numels)
        self.draws = max(1, round(self.n_weights * math.log(1.0 / (1.0 - self.p))))
        # candidate weights, (1 + tickets, n_weights), and per-layer (1 + tickets, out, in) views into it
        self._candidates = torch.empty(1 + self.tickets, self.n_weights)
        self._layer_views, self._baseline_views = [], []
        offset = 0
        for shape, numel in zip(self.shapes, self.numels):
            block = self._candidates[:, offset : offset + numel]
            # stored transposed, (K, in, out), the layout baddbmm multiplies by
            self._layer_views.append(block.view(1 + self.tickets, *shape).transpose(1, 2))
            self._baseline_views.append(block[0].view(shape))
            offset += numel
        # views of the live bias parameters (the optimizer updates them in place), shaped to broadcast
        self._bias_views = [layer.bias.detach().view(1, 1, -1) for layer in model.layers]
        self._row_offsets = torch.arange(self.tickets).unsqueeze(1) * self.n_weights
        self.steps = 0
        self.last_baseline: float | None = None
        self.last_after: list[float] | None = None

    # --- the callback ----------------------------------------------------------------------------------
    def on_train_begin(self, model, data: Dataset) -> None:
        if self.probe == "fixed" and self.probe_data is None:
            # a seeded sample of the training set, the same for the whole run
            g = torch.Generator().manual_seed(int(torch.randint(2**31 - 1, (1,), generator=self.generator)))
            pick = torch.randperm(len(data.y_train), generator=g)[: self.probe_size]
            self.probe_data = (data.x_train[pick], data.y_train[pick])

    def on_step(self, state: StepState) -> None:
        if self.probe == "fixed":
            if self.probe_data is None:
                raise KitError("probe='fixed' needs probe_data=(x, y) or a dataset given to on_train_begin.")
            x, y = self.probe_data
        else:
            x, y = state.x, state.y
        self.score_step(x, y)

    # --- the work --------------------------------------------------------------------------------------
    def draw_tickets(self) -> torch.Tensor:
        """Int64 (tickets, draws): flat indices (layers in order) of the weights each ticket resets.

        Indices are drawn with replacement, ``draws = n·ln(1/(1-p))`` of them, so each weight is in a ticket
        with probability ``1 - (1 - 1/n)^draws ≈ p``; repeats are harmless. Drawing ~p·n indices is much
        cheaper than a coin flip per weight, and the updates below then touch only the reset weights.
        """
        return torch.randint(self.n_weights, (self.tickets, self.draws), generator=self.generator)

    @torch.no_grad()
    def score_step(self, x: torch.Tensor, y: torch.Tensor, tickets: torch.Tensor | None = None):
        """Measure the baseline and every ticket on (x, y) and update the scores of the reset weights.

        Returns (A_b, [A_a per ticket]) as floats. ``tickets`` defaults to a fresh :meth:`draw_tickets`.
        """
        if tickets is None:
            tickets = self.draw_tickets()
        # row 0 = the network as it is (baseline), rows 1.. = the tickets; rows are views into one buffer
        for row0, layer in zip(self._baseline_views, self.model.layers):
            if hasattr(layer, "weight_mask"):
                torch.mul(layer.weight_orig, layer.weight_mask, out=row0)
            else:
                row0.copy_(layer.weight)
        self._candidates[1:].copy_(self._candidates[0])
        reset_to = self.initial_flat
        if any(hasattr(layer, "weight_mask") for layer in self.model.layers):
            # a pruned weight stays pruned in every ticket
            reset_to = reset_to * torch.cat([_mask_or_ones(layer) for layer in self.model.layers])
        # index_select/scatter_ rather than fancy indexing: several times faster on CPU
        flat_positions = (tickets + self._row_offsets).view(-1) if self.tickets > 1 else tickets.view(-1)
        self._candidates[1:].view(-1).scatter_(0, flat_positions, reset_to.index_select(0, tickets.view(-1)))
        logits = _forward_transposed(self._layer_views, self._bias_views, x)
        # (1 + tickets) numbers: Python floats from here, cheaper than a dozen tiny tensor ops
        baseline, *after = self._measure(logits, y).tolist()
        for t in range(self.tickets):  # a loop over tickets (a handful), never over weights
            reset = tickets[t]
            target = bingo_target(baseline, after[t], self.rule)
            # (S + target) / 2 in place on the gathered copy: same float32 rounding as bingo_update, fewer ops.
            # Repeated indices write the same value, so each reset weight is updated exactly once.
            updated = self.flat_scores.index_select(0, reset).add_(target).mul_(0.5)
            self.flat_scores.scatter_(0, reset, updated)
        self.steps += 1
        self.last_baseline, self.last_after = baseline, after
        return baseline, after

    def _measure(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.metric == "accuracy":
            return (logits.argmax(dim=2) == y).float().mean(dim=1)
        # cross-entropy per candidate: F.cross_entropy wants the class dimension second
        targets = y.expand(logits.shape[0], -1)
        return F.cross_entropy(logits.transpose(1, 2), targets, reduction="none").mean(dim=1)

    def scores_dict(self) -> dict[str, torch.Tensor]:
        """A detached copy of the scores (safe to keep after training continues)."""
        return {name: s.clone() for name, s in self.scores.items()}


def bingo_target(before: float, after: float, rule: str = "prose") -> float:
    """What a score moves halfway towards: |A_b - A_a| / A_b (prose) or 1 - |A_b - A_a| / A_b (paper).

    With A_b = 0 there is nothing to divide by, so the absolute change is used.
    """
    change = abs(before - after)
    relative = change / before if before != 0 else change
    return relative if rule == "prose" else 1 - relative


def bingo_update(previous, before, after, rule: str = "prose"):
    """One score update for weights whose reset changed the measure from ``before`` (A_b) to ``after`` (A_a).

    prose: (S + |A_b - A_a| / A_b) / 2      paper: (S + 1 - |A_b - A_a| / A_b) / 2
    """
    return (previous + bingo_target(before, after, rule)) / 2


def batched_logits(weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """TinyMLP's forward pass for K weight sets at once: weights[i] is (K, out, in), x is (B, in).

    Returns (K, B, classes). One batched matmul per layer (``baddbmm``) — about 8× cheaper per step than
    ``vmap(functional_call(...))``, which matters because it runs after every training step. The tests hold
    it equal to ``vmap(functional_call(model, ...))``.
    """
    return _forward_transposed([w.transpose(1, 2) for w in weights], [b.detach().view(1, 1, -1) for b in biases], x)


def _forward_transposed(weights_t, biases, x):
    h = x.expand(weights_t[0].shape[0], *x.shape)
    last = len(weights_t) - 1
    for i, (w_t, b) in enumerate(zip(weights_t, biases)):
        h = torch.baddbmm(b, h, w_t)
        if i < last:
            h = torch.relu(h)
    return h


def _mask_or_ones(layer) -> torch.Tensor:
    return layer.weight_mask.reshape(-1) if hasattr(layer, "weight_mask") else torch.ones(layer.weight.numel())


def _check_choice(what: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise KitError(f"{what} must be one of {', '.join(map(repr, choices))}; got {value!r}.")


def train_with_bingo(
    model: TinyMLP,
    data: Dataset,
    *,
    epochs: int = 30,
    rule: str = "prose",
    callbacks: Sequence[Callback] = (),
    watchers: Sequence[Callable[[BingoScorer], Callback]] = (),
    seed: int = 0,
    progress: bool = True,
    batch_size: int | None = None,
    lr: float | None = None,
    **scorer_opts,
) -> tuple[History, dict[str, torch.Tensor]]:
    """Train exactly as :func:`bingo_kit.training.train` would, scoring weights along the way.

    The scorer has its own random generator, so the trained weights equal those of plain training.
    ``scorer_opts``: p, probe, metric, tickets, probe_data, probe_size (see :class:`BingoScorer`).
    ``watchers``: functions given the scorer that return a callback (e.g. a live figure of its scores); they
    run right after the scorer, so they see the scores of the step that just ran.
    """
    scorer = BingoScorer(model, rule=rule, seed=seed, **scorer_opts)
    train_opts = {k: v for k, v in (("batch_size", batch_size), ("lr", lr)) if v is not None}
    watching = [watcher(scorer) for watcher in watchers]
    history = train(
        model, data, epochs=epochs, seed=seed, callbacks=[scorer, *watching, *callbacks], progress=progress,
        **train_opts,
    )
    return history, scorer.scores_dict()
