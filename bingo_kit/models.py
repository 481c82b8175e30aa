"""Tiny fully-connected networks that remember the weights they started with.

Remembering the start matters twice: BINGO resets weights to their initial values to see whether they
mattered, and iterative magnitude pruning (IMP) rewinds the surviving weights to them after each round.
"""
from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils import prune

from bingo_kit.errors import KitError


class TinyMLP(nn.Module):
    """``sizes=(64, 16, 10)``: Linear layers with ReLU between them and raw logits out."""

    def __init__(self, sizes: Sequence[int]):
        super().__init__()
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 2 or any(s < 1 for s in sizes):
            raise KitError(f"A network needs at least an input and an output size, all positive; got {sizes}.")
        self.sizes = sizes
        self.layers = nn.ModuleList(nn.Linear(n_in, n_out) for n_in, n_out in zip(sizes[:-1], sizes[1:]))
        self.initial_state = {name: p.detach().clone() for name, p in self.named_parameters()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x

    def weight_layers(self) -> list[tuple[str, nn.Linear]]:
        return [(f"layers.{i}", layer) for i, layer in enumerate(self.layers)]

    def current_weights(self) -> list[torch.Tensor]:
        """Each layer's effective (masked) weight, computed now — never stale after an optimizer step."""
        return [_effective_weight(layer) for layer in self.layers]

    @torch.no_grad()
    def rewind(self) -> None:
        """Put every surviving weight and bias back to its initial value; pruning masks stay as they are."""
        for name, layer in self.weight_layers():
            dense = layer.weight_orig if prune.is_pruned(layer) else layer.weight
            dense.copy_(self.initial_state[f"{name}.weight"])
            layer.bias.copy_(self.initial_state[f"{name}.bias"])
        self.sync_masked_weights()

    @torch.no_grad()
    def sync_masked_weights(self) -> None:
        """Recompute ``layer.weight`` of pruned layers from ``weight_orig * weight_mask``.

        torch's pruning hook refreshes it only on the next forward pass, so after an optimizer step or a
        rewind readers of ``layer.weight`` (exporter, widgets) would otherwise see the previous values.
        """
        for layer in self.layers:
            if prune.is_pruned(layer):
                layer.weight = layer.weight_orig * layer.weight_mask

    def extra_repr(self) -> str:
        return "-".join(str(s) for s in self.sizes)


def _effective_weight(layer: nn.Linear) -> torch.Tensor:
    if hasattr(layer, "weight_mask"):
        return layer.weight_orig * layer.weight_mask
    return layer.weight


def make_mlp(sizes: Sequence[int] = (64, 16, 10), seed: int = 0) -> TinyMLP:
    """Build a TinyMLP whose initial weights depend only on ``sizes`` and ``seed``."""
    # fork_rng: seed the initialisation without disturbing the caller's global random state
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return TinyMLP(sizes)


def save_model(model: TinyMLP, path: str | os.PathLike) -> None:
    """Save sizes, current (masked) weights, masks, pre-pruning weights and initial weights to one file.

    ``weights_orig`` (the values under the mask) lets a loaded model be un-pruned by ``remove_pruning``
    exactly like the one saved; without it the pruned weights would come back as zeros.
    """
    torch.save(
        {
            "sizes": list(model.sizes),
            "weights": [w.detach().clone() for w in model.current_weights()],
            "weights_orig": [
                layer.weight_orig.detach().clone() if prune.is_pruned(layer) else None for layer in model.layers
            ],
            "biases": [layer.bias.detach().clone() for layer in model.layers],
            "masks": [layer.weight_mask.clone() if hasattr(layer, "weight_mask") else None for layer in model.layers],
            "initial_state": model.initial_state,
        },
        path,
    )


def load_model(path: str | os.PathLike) -> TinyMLP:
    """Load a model written by :func:`save_model` (pruned layers come back pruned)."""
    try:
        saved = torch.load(path, weights_only=True)
        model = TinyMLP(saved["sizes"])
    except FileNotFoundError:
        raise KitError(f"No model file at {path}. Train one first: bingo-kit train --out {path}") from None
    except Exception:  # not a file we wrote (torch's own explanation runs to several lines about pickles)
        raise KitError(f"{path} is not a model file written by bingo-kit: make one with `bingo-kit train -o "
                       f"{Path(path).name}` or save_model().") from None
    model.initial_state = saved["initial_state"]
    # files written before weights_orig existed hold only the masked weights: their pruned values are lost
    originals = saved.get("weights_orig") or [None] * len(model.layers)
    with torch.no_grad():
        for layer, weight, original, bias, mask in zip(
            model.layers, saved["weights"], originals, saved["biases"], saved["masks"]
        ):
            layer.weight.copy_(weight if original is None or mask is None else original)
            layer.bias.copy_(bias)
            if mask is not None:
                prune.custom_from_mask(layer, "weight", mask)  # weight_orig ← layer.weight, weight = orig × mask
    return model
