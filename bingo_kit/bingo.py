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

import numpy as np
import torch
import torch.nn.functional as F

from bingo_kit.data import Dataset
from bingo_kit.errors import KitError
from bingo_kit.models import TinyMLP
from bingo_kit.training import DEFAULT_EPOCHS, Callback, History, StepState, train_with_scorer

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
        # candidate weights, (1 + tickets, n_weights): row 0 the network as it is, rows 1.. the tickets
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
        # NumPy views sharing memory with the tensors above. Scoring is a few dozen operations on small
        # arrays after every training step, so per-call overhead is most of its cost, and a NumPy call on a
        # few hundred elements costs a fraction of a torch call. Both do the same IEEE float32 arithmetic:
        # the scores are bit for bit those of torch ops (tests/test_bingo.py holds them to a plain loop).
        self._scores_np = self.flat_scores.numpy()
        self._candidates_np = self._candidates.numpy()
        self._candidates_flat_np = self._candidates_np.reshape(-1)  # a view: the buffer is contiguous
        self._initial_np = self.initial_flat.numpy()
        self._layer_blocks_np = [view.transpose(1, 2).numpy() for view in self._layer_views]  # (K, out, in)
        self._weight_sources: list = [None] * len(self.numels)  # (parameter, its data pointer, NumPy view)
        # flat position of weight 0 in ticket t's row of _candidates: a flat index is cheaper than a 2-D one
        self._ticket_offsets = np.arange(1, 1 + self.tickets).reshape(-1, 1) * self.n_weights
        # targets are rounded to the scores' dtype before adding, as torch's add_(python_float) rounds them
        self._score_type = self._scores_np.dtype.type
        self._half = self._score_type(0.5)
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
        tickets_np = tickets.numpy()
        # row 0 = the network as it is (baseline), copied into every ticket row, which then get their resets
        reset_to = self._initial_np
        masks = None
        for i, layer in enumerate(self.model.layers):
            # _buffers lookup: hasattr() on a Module goes through __getattr__ and a caught exception
            mask = layer._buffers.get("weight_mask")
            if mask is None:
                np.copyto(self._layer_blocks_np[i], self._weight_np(i, layer.weight))  # broadcast to all rows
            else:
                block = self._layer_blocks_np[i]
                torch.mul(layer.weight_orig, mask, out=self._baseline_views[i])
                block[1:] = block[0]
                masks = masks or [None] * len(self.numels)
                masks[i] = mask
        if masks is not None:  # a pruned weight stays pruned in every ticket
            reset_to = reset_to * np.concatenate(
                [np.ones(n, np.float32) if m is None else m.numpy().reshape(-1) for m, n in zip(masks, self.numels)]
            )
        # repeated indices in a ticket write the same value
        self._candidates_flat_np[tickets_np + self._ticket_offsets] = reset_to[tickets_np]
        logits = _forward_transposed(self._layer_views, self._bias_views, x)
        baseline, *after = self._measure(logits, y)
        scores, half = self._scores_np, self._half
        for t in range(self.tickets):  # a loop over tickets (a handful), never over weights
            reset = tickets_np[t]
            # (S + target) / 2 in float32, rounded as torch's add_(target).mul_(0.5) rounds it. Repeated
            # indices write the same value, so each reset weight is updated exactly once per ticket.
            scores[reset] = (scores[reset] + self._score_type(bingo_target(baseline, after[t], self.rule))) * half
        self.steps += 1
        self.last_baseline, self.last_after = baseline, after
        return baseline, after

    def _weight_np(self, i: int, weight: torch.Tensor) -> np.ndarray:
        """A NumPy view of a layer's live weight, made once: the optimizer updates the weight in place."""
        source = self._weight_sources[i]
        if source is None or source[0] is not weight or source[1] != weight.data_ptr():  # replaced: view anew
            source = self._weight_sources[i] = (weight, weight.data_ptr(), weight.detach().numpy())
        return source[2]

    def _measure(self, logits: torch.Tensor, y: torch.Tensor) -> list[float]:
        """(1 + tickets) Python floats: accuracy (or mean loss) of every candidate, float32-rounded."""
        if self.metric == "accuracy":
            hits = (logits.numpy().argmax(axis=2) == y.numpy()).sum(axis=1)  # correct answers per candidate
            # float32 hits / n: exactly the float32 value torch's (argmax == y).float().mean() gives
            return (hits.astype(np.float32) / np.float32(y.shape[0])).tolist()
        # cross-entropy per candidate: F.cross_entropy wants the class dimension second
        targets = y.expand(logits.shape[0], -1)
        return F.cross_entropy(logits.transpose(1, 2), targets, reduction="none").mean(dim=1).tolist()

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
            h.relu_()  # in place: one allocation fewer, same values
    return h


def _check_choice(what: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise KitError(f"{what} must be one of {', '.join(map(repr, choices))}; got {value!r}.")


def train_with_bingo(
    model: TinyMLP,
    data: Dataset,
    *,
    epochs: int = DEFAULT_EPOCHS,
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
    history = train_with_scorer(model, data, scorer, epochs=epochs, seed=seed, callbacks=callbacks,
                                watchers=watchers, progress=progress, batch_size=batch_size, lr=lr)
    return history, scorer.scores_dict()
