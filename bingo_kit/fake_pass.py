"""BINGO done right, still the paper's fake pass: a running mean of the loss change, evaluated in batches.

The paper resets random groups ("tickets") of weights to their initial values after a training step and
watches what that does. Three changes make the same experiment informative (benchmarks/bingo_findings.py
measures why):

- **A running mean, not ``(S + x) / 2``.** Halving keeps only the last ~2 samples of every weight; the mean
  of all the samples a weight took part in averages the noise away instead of forgetting the signal.
- **The signed change of the loss**, ``loss_after - loss_before`` on the step's batch: a continuous number
  (accuracy on 32 examples moves in steps of 1/32) whose sign says whether the reset hurt or helped.
- **More tickets per step, evaluated in batches.** Every step stores a snapshot (weights, biases, its batch,
  the tickets drawn); once per epoch all snapshots go through one batched forward pass. The scores are
  exactly those of evaluating after every step (tests/test_fake_pass.py holds the two equal), at a
  fraction of the cost.

A weight's score is the mean loss change of all the tickets it was in: high = resetting it hurt.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from bingo_kit.errors import KitError
from bingo_kit.training import Callback, StepState

# A small sweep on digits 64-32-10 (3 seeds, floor on the validation split, CPU time on a quiet machine):
# p 0.01 × 10 tickets pruned 30 ± 10 % at 1.47×; × 12 tickets 36 ± 2 % at 1.49×; × 16 tickets 37 ± 4 % at
# 1.55×; 20 tickets 44 % at ~1.55× (under load), 32 tickets (p 0.02) 44 % at ~1.95×. 12 is the most pruning
# that stays within the 1.5× of plain training.
DEFAULT_P = 0.01
DEFAULT_TICKETS = 12
# Loss changes are added in units of 2^-24 as whole numbers: integer sums do not depend on the order or
# grouping of the additions, so per-epoch batches give bit for bit the scores of per-step evaluation.
UNIT = 2.0**-24
MAX_BATCH_FLOATS = 1 << 22  # candidate weights per batched forward pass (16 MB): bounds memory on big nets


class RunningMeanBingo(Callback):
    """A training callback keeping ``scores[name]``: the mean loss change of the tickets each weight was in.

    ``evaluate="epoch"`` (default) batches the snapshots of a whole epoch; ``"step"`` evaluates after every
    step (slower, same scores).
    """

    def __init__(self, model, *, p: float = DEFAULT_P, tickets: int = DEFAULT_TICKETS, seed: int = 0,
                 evaluate: str = "epoch"):
        if not 0.0 < p < 1.0:
            raise KitError(f"p is the fraction of weights reset per ticket; it must be in (0, 1), got {p}.")
        if int(tickets) < 1:
            raise KitError(f"tickets (random subsets per step) must be at least 1, got {tickets}.")
        if evaluate not in ("epoch", "step"):
            raise KitError(f"evaluate must be 'epoch' or 'step'; got {evaluate!r}.")
        self.model, self.p, self.tickets, self.evaluate = model, float(p), int(tickets), evaluate
        self.generator = torch.Generator().manual_seed(seed)
        layers = model.weight_layers()
        self.layer_names = [name for name, _ in layers]
        self.shapes = [tuple(layer.weight.shape) for _, layer in layers]
        self.numels = [math.prod(shape) for shape in self.shapes]
        self.n_weights = sum(self.numels)
        self.initial_flat = torch.cat([model.initial_state[f"{n}.weight"].reshape(-1) for n in self.layer_names])
        # draws with replacement: each weight lands in a ticket with probability 1 - (1 - 1/n)^draws ≈ p
        self.draws = max(1, round(self.n_weights * math.log(1.0 / (1.0 - self.p))))
        self.sums = np.zeros(self.n_weights, np.float64)  # whole numbers of UNITs
        self.counts = np.zeros(self.n_weights, np.int64)
        self.flat_scores = torch.zeros(self.n_weights)
        self.scores, offset = {}, 0
        for name, shape, numel in zip(self.layer_names, self.shapes, self.numels):
            self.scores[name] = self.flat_scores[offset:offset + numel].view(shape)
            offset += numel
        self.pending: list[tuple] = []  # snapshots not evaluated yet
        self.steps = self.passes = 0

    # --- the callback ----------------------------------------------------------------------------------
    def on_step(self, state: StepState) -> None:
        self.snapshot(state.x, state.y)
        # per epoch, unless the snapshots of a big network would take more than ~64 MB (same scores)
        if self.evaluate == "step" or len(self.pending) * self.n_weights >= 4 * MAX_BATCH_FLOATS:
            self.flush()

    def on_epoch_end(self, model, epoch: int, test_accuracy: float) -> None:
        self.flush()

    def on_train_end(self, model) -> None:
        self.flush()

    # --- the work --------------------------------------------------------------------------------------
    @torch.no_grad()
    def snapshot(self, x: torch.Tensor, y: torch.Tensor, tickets: torch.Tensor | None = None) -> None:
        """Remember the network as it is now, the batch to probe it on, and the tickets to reset."""
        weights = torch.cat([w.reshape(-1) for w in self.model.current_weights()])
        biases = [layer.bias.detach().clone() for layer in self.model.layers]
        reset_to = None
        if any("weight_mask" in layer._buffers for layer in self.model.layers):
            alive = torch.cat([layer._buffers.get("weight_mask", torch.ones(n)).reshape(-1)
                               for layer, n in zip(self.model.layers, self.numels)])
            reset_to = self.initial_flat * alive  # a pruned weight stays pruned in every ticket
        if tickets is None:
            tickets = torch.randint(self.n_weights, (self.tickets, self.draws), generator=self.generator)
        self.pending.append((weights, biases, x, y, tickets, reset_to))
        self.steps += 1

    @torch.no_grad()
    def flush(self) -> None:
        """Evaluate every pending snapshot (batched) and add its loss changes to the scores."""
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        per_batch = max(1, MAX_BATCH_FLOATS // self._floats_per_snapshot(len(pending[0][3])))
        if getattr(self, "_table_size", 0) < min(per_batch, len(pending)):
            self._tables(min(per_batch, len(pending)))
            self._table_size = min(per_batch, len(pending))
        changes = [None] * len(pending)
        # one forward pass per group of snapshots whose batches have the same size (the last batch of an
        # epoch is usually smaller), at most `per_batch` snapshots at a time
        groups: dict[int, list[int]] = {}
        for i, snap in enumerate(pending):
            groups.setdefault(len(snap[3]), []).append(i)
        for members in groups.values():
            for start in range(0, len(members), per_batch):
                chunk = members[start:start + per_batch]
                losses = self._losses([pending[i] for i in chunk])  # (S, 1 + tickets)
                for row, i in enumerate(chunk):
                    changes[i] = losses[row, 1:] - losses[row, 0]
        # the updates, in step order (the order does not matter for integer sums, but it is the natural one)
        tickets = torch.stack([snap[4] for snap in pending]).reshape(-1, self.draws).numpy()
        delta = torch.stack(changes).reshape(-1).double().numpy()
        ordered = np.sort(tickets, axis=1)
        first = np.ones_like(ordered, dtype=bool)
        first[:, 1:] = ordered[:, 1:] != ordered[:, :-1]  # a weight drawn twice in one ticket counts once
        units = np.rint(delta / UNIT)
        self.sums += np.bincount(ordered[first], weights=np.repeat(units, first.sum(axis=1)),
                                 minlength=self.n_weights)
        self.counts += np.bincount(ordered[first], minlength=self.n_weights)
        self.passes += len(delta)
        mean = self.sums * UNIT / np.maximum(self.counts, 1)
        self.flat_scores.copy_(torch.from_numpy(mean.astype(np.float32)))

    def _losses(self, snaps: list[tuple]) -> torch.Tensor:
        """(S, 1 + tickets) mean cross-entropy of each snapshot (candidate 0) and of each of its tickets.

        Activations run transposed, (candidate, features, batch), so every layer is one batched matmul of
        the candidates' weights in their natural (out, in) layout and nothing is transposed on the way; the
        first layer, whose input all of a snapshot's candidates share, is one (k·out, in) x (in, B) product
        per snapshot.
        """
        count, k = len(snaps), 1 + self.tickets
        weights = torch.stack([snap[0] for snap in snaps])  # (S, n)
        reset_to = torch.stack([self.initial_flat if snap[5] is None else snap[5] for snap in snaps])
        drawn = torch.stack([snap[4] for snap in snaps])  # (S, tickets, draws)
        values = reset_to.gather(1, drawn.reshape(count, -1)).view(-1)
        h, offset = None, 0
        for i, ((out, inp), numel) in enumerate(zip(self.shapes, self.numels)):
            # (S, k, out, in): every candidate starts as the snapshot's weights; one spare element at the end
            # takes the resets that fall in other layers
            buffer = torch.empty(count * k * numel + 1)
            candidates = buffer[:-1].view(count, k, numel)
            candidates.copy_(weights[:, offset:offset + numel].unsqueeze(1).expand(-1, k, -1))
            where = self._positions[i][drawn] + self._shift[i][:count]
            buffer[torch.where(where >= 0, where, count * k * numel).view(-1)] = values  # repeats: one value
            bias = torch.stack([snap[1][i] for snap in snaps])  # (S, out)
            if h is None:  # first layer: (S, k·out, in) x (S, in, B)
                x_t = torch.stack([snap[2] for snap in snaps]).transpose(1, 2)
                h = torch.bmm(candidates.view(count, k * out, inp), x_t).view(count, k, out, -1)
                h = h.add_(bias.view(count, 1, out, 1)).view(count * k, out, -1)
            else:
                bias = bias.unsqueeze(1).expand(-1, k, -1).reshape(count * k, out, 1)
                h = torch.baddbmm(bias, candidates.view(count * k, out, inp), h.relu_())
            offset += numel
        y = torch.stack([snap[3] for snap in snaps]).repeat_interleave(k, dim=0)  # (S·k, B)
        loss = F.cross_entropy(h, y, reduction="none").mean(dim=1)  # h is (S·k, classes, B)
        return loss.view(count, k)

    def _tables(self, most_snapshots: int) -> None:
        """Where weight f of ticket t of snapshot s goes in its layer's candidate buffer (-1: another layer).

        position = (s·k + t)·numel + (f - offset), split into a per-weight part and a per-(s, t) shift.
        """
        k = 1 + self.tickets
        self._positions, self._shift, offset = [], [], 0
        flat = torch.arange(self.n_weights)
        for numel in self.numels:
            local = flat - offset
            inside = (local >= 0) & (local < numel)
            # outside the layer: so negative that no shift makes it >= 0
            self._positions.append(torch.where(inside, local, -(1 << 62)))
            s = torch.arange(most_snapshots).view(-1, 1, 1)
            t = torch.arange(1, k).view(1, -1, 1)
            self._shift.append((s * k + t) * numel)
            offset += numel

    def _floats_per_snapshot(self, batch: int) -> int:
        """Roughly how many floats :meth:`_losses` allocates per snapshot (to bound memory)."""
        k = 1 + self.tickets
        return 2 * k * (self.n_weights + batch * max(out for out, _ in self.shapes))

    def scores_dict(self) -> dict[str, torch.Tensor]:
        """A detached copy of the scores (safe to keep after training continues)."""
        self.flush()
        return {name: s.clone() for name, s in self.scores.items()}
