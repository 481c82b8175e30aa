"""BINGO-grad, the kit's variant: significance from the training step's own gradients, in the same run.

BINGO's idea is to find out *while training* which weights matter. A fake pass answers with one number for
a whole random group of weights, so it needs thousands of passes to say a little about each weight. But
every training step already computes a gradient for *every* weight, for free. Optimal Brain Damage (LeCun,
Denker & Solla, 1990) estimates how much the loss would rise if a weight were removed as ½·h·w², where h is
the curvature of the loss along that weight; the average squared gradient is a standard, cheap stand-in for
h (the empirical Fisher information). So after every step each weight collects

    S += (gradient · weight)²

and pruning removes the lowest totals: small weights along which the loss never pushed much.
The gradient is the one the step just used; the weight is its value after the step.
"""
from __future__ import annotations

import torch

from bingo_kit.training import Callback, StepState


class GradientSaliency(Callback):
    """A training callback: ``scores[name]`` = Σ over steps of (grad · weight)², one tensor per layer."""

    def __init__(self, model, *, seed: int = 0):
        del seed  # deterministic: nothing is drawn at random (the argument keeps all scorers alike)
        self.model = model
        self.layer_names = [name for name, _ in model.weight_layers()]
        self.scores = {name: torch.zeros_like(layer.weight, memory_format=torch.contiguous_format).detach()
                       for name, layer in model.weight_layers()}
        self._sums = list(self.scores.values())
        self.steps = 0

    def on_step(self, state: StepState) -> None:
        self.add_step()

    @torch.no_grad()
    def add_step(self) -> None:
        """Add the current gradients' saliency (the loop calls this after every optimizer step)."""
        for total, layer in zip(self._sums, self.model.layers):
            # a pruned layer's trainable tensor is weight_orig; its gradient is already zero where masked
            weight = layer._parameters.get("weight_orig")
            if weight is None:
                weight = layer.weight
            grad = weight.grad
            if grad is None:
                continue
            product = grad * weight  # zero where pruned: the mask zeroed that gradient
            total.addcmul_(product, product)
        self.steps += 1

    def scores_dict(self) -> dict[str, torch.Tensor]:
        """A detached copy of the scores (safe to keep after training continues)."""
        return {name: s.clone() for name, s in self.scores.items()}
