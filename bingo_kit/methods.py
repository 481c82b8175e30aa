"""Pruning methods: one registry, one id per method, a label for people and a sentence for students.

The shape follows ``torch.nn.utils.prune``: a small class per way of ranking the weights, and a functional
front door (:func:`prune_lowest`, :func:`get_method`). Everything that offers a choice of method (the CLI,
the race, the widgets, the lessons) looks it up here, so a method has one name everywhere:

    get_method("BINGO").id == "bingo"             # student input is matched leniently
    get_method("bingo").label                     # what a person sees

Every method ranks weights by an *importance* (one tensor per layer, shaped like its weights) and
:class:`LowestImportance` — a ``torch.nn.utils.prune`` method — masks the lowest values. Methods that score
while training (``scored_while_training``) need ``scores=`` from that training run.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.nn.utils import prune

from bingo_kit.errors import KitError


class LowestImportance(prune.BasePruningMethod):
    """Mask the ``amount`` entries (an int) with the lowest importance *values*.

    torch's ``L1Unstructured`` ranks by |importance|, which would treat a strongly negative score as
    important; BINGO's signed scores need the ranking by value.
    """

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount: int):
        self.amount = int(amount)

    def compute_mask(self, t: torch.Tensor, default_mask: torch.Tensor) -> torch.Tensor:
        if not 0 <= self.amount <= t.nelement():
            raise KitError(f"Cannot prune {self.amount} of {t.nelement()} weights.")
        mask = default_mask.clone(memory_format=torch.contiguous_format)
        if self.amount:
            mask.view(-1)[lowest_first(t)[: self.amount]] = 0
        return mask

    @classmethod
    def apply(cls, module, name, amount, importance_scores=None):
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


def lowest_first(importance: torch.Tensor) -> torch.Tensor:
    """The indices of ``importance`` (flattened), least important first. A stable sort, not topk: ties go in
    index order, so prune_lowest and the floor search's scan (pruning.prune_to_floor) cut the same weights."""
    return torch.sort(importance.reshape(-1), stable=True).indices


def prune_lowest(model, count: int, importance: dict[str, torch.Tensor]):
    """Functional front door: mask the ``count`` weights of lowest importance over all layers at once.

    On layers that are already pruned torch counts ``count`` among the weights still alive.
    """
    layers = model.weight_layers()
    prune.global_unstructured(
        [(layer, "weight") for _, layer in layers],
        pruning_method=LowestImportance,
        importance_scores={(layer, "weight"): importance[name] for name, layer in layers},
        amount=int(count),
    )
    return model


def dense_weight(layer) -> torch.Tensor:
    """A layer's weight as it was before any mask (pruned or not)."""
    return layer.weight_orig if hasattr(layer, "weight_orig") else layer.weight


@dataclass(frozen=True)
class PruningMethod:
    """One way of choosing which weights to remove."""

    id: str
    label: str  # for people: the slider, the race's picture, the challenge table
    description: str  # one sentence for a student
    aliases: tuple[str, ...] = ()
    kit_variant: bool = False  # True: this kit's own method, not one from the paper or the literature

    scored_while_training = False  # needs scores= from a scored training run
    ranks_trained_model = True  # can prune any trained model to any fraction (the slider, prune_fraction)

    def importance(self, model, scores=None, seed: int = 0) -> dict[str, torch.Tensor]:
        """Per-layer tensors shaped like the weights; the lowest values are pruned first."""
        raise NotImplementedError


@dataclass(frozen=True)
class Magnitude(PruningMethod):
    def importance(self, model, scores=None, seed=0):
        return {name: dense_weight(layer).detach().abs() for name, layer in model.weight_layers()}


@dataclass(frozen=True)
class RandomOrder(PruningMethod):
    def importance(self, model, scores=None, seed=0):
        # one seeded order over all weights: a larger fraction prunes a superset of a smaller one
        g = torch.Generator().manual_seed(seed)
        return {name: torch.rand(layer.weight.shape, generator=g) for name, layer in model.weight_layers()}


@dataclass(frozen=True)
class ScoredWhileTraining(PruningMethod):
    """Significance scores gathered during one training run; the lowest score goes first.

    :meth:`make_scorer` gives the training callback that computes them (``options``: its settings).
    """

    scorer: str = "bingo.BingoScorer"  # module.Class in bingo_kit: imported when a run needs it
    options: dict = field(default_factory=dict, hash=False)  # the scorer's settings
    scored_while_training = True

    def scorer_class(self):
        import importlib

        module, name = self.scorer.rsplit(".", 1)
        return getattr(importlib.import_module(f"bingo_kit.{module}"), name)

    def settings(self, **overrides) -> dict:
        """The scorer's settings: this method's options, then those ``overrides`` its scorer accepts
        (e.g. the race's p and tickets), then the scorer's own defaults for the rest."""
        import inspect

        parameters = inspect.signature(self.scorer_class()).parameters
        chosen = {**self.options, **{k: v for k, v in overrides.items() if k in parameters and v is not None}}
        defaults = {k: p.default for k, p in parameters.items()
                    if p.kind == p.KEYWORD_ONLY and p.default is not p.empty and k not in ("seed", "probe_data")}
        return {**defaults, **chosen}

    def make_scorer(self, model, *, seed: int = 0, **overrides):
        """The training callback that scores ``model`` for this method (``.scores``, ``.scores_dict()``)."""
        scorer = self.scorer_class()(model, seed=seed, **{**self.options, **overrides})
        scorer.method_id = self.id  # so a watcher (the live figure) knows which method it shows
        return scorer

    def importance(self, model, scores=None, seed=0):
        layers = model.weight_layers()
        if scores is None:
            raise KitError(f"method={self.id!r} needs scores=... from a training run scored with it "
                           "(train_scored(model, data, method) or train_with_bingo).")
        missing = [name for name, layer in layers if name not in scores or scores[name].shape != layer.weight.shape]
        if missing:
            raise KitError(f"The scores do not match this model (layers {missing}); score this same model.")
        return {name: scores[name].detach().clone() for name, _ in layers}


REGISTRY: dict[str, PruningMethod] = {}


def register(method: PruningMethod) -> PruningMethod:
    for name in (method.id, method.label, *method.aliases):
        key = _key(name)
        if key in _LOOKUP and _LOOKUP[key] != method.id:
            raise ValueError(f"{name!r} already names {_LOOKUP[key]!r}")
        _LOOKUP[key] = method.id
    REGISTRY[method.id] = method
    return method


_LOOKUP: dict[str, str] = {}


def _key(name: str) -> str:
    """Case, surrounding spaces and quotes, and '-' / ' ' vs '_' do not matter: "Bingo Paper" finds bingo_paper."""
    name = str(name).strip().strip("'\"‘’“”")
    return " ".join(name.casefold().replace("_", " ").replace("-", " ").split())


def train_scored(model, data, method, *, epochs: int | None = None, seed: int = 0, progress: bool = True,
                 callbacks=(), watchers=(), batch_size: int | None = None, lr: float | None = None,
                 test_each_epoch: bool = True, **overrides):
    """Train ``model`` with ``method``'s scorer watching; returns (history, scores) for :func:`prune_fraction`.

    The scorers draw from their own random generators: the trained weights equal those of plain training.
    """
    from bingo_kit.training import DEFAULT_EPOCHS, train_with_scorer

    method = get_method(method)
    if not method.scored_while_training:
        raise KitError(f"{method.id!r} does not score while training; choose one of "
                       f"{', '.join(method_ids(scored_while_training=True))}.")
    scorer = method.make_scorer(model, seed=seed, **overrides)
    history = train_with_scorer(model, data, scorer, epochs=DEFAULT_EPOCHS if epochs is None else epochs, seed=seed,
                                progress=progress, callbacks=callbacks, watchers=watchers, batch_size=batch_size,
                                lr=lr, test_each_epoch=test_each_epoch)
    return history, scorer.scores_dict()


def find_method(name) -> PruningMethod | None:
    """The method an id, a label or an alias names, or None (also for anything that is not a name)."""
    if isinstance(name, PruningMethod):
        return name
    found = _LOOKUP.get(_key(name)) if isinstance(name, str) else None
    return None if found is None else REGISTRY[found]


def get_method(name: str | PruningMethod) -> PruningMethod:
    """The method an id, a label or an alias names; a KitError listing the choices otherwise."""
    found = find_method(name)
    if found is None:
        raise KitError(f"Unknown pruning method {name!r}. Choose one of: {', '.join(REGISTRY)}.")
    return found


def method_ids(*, ranks_trained_model: bool | None = None, scored_while_training: bool | None = None) -> tuple:
    """Ids of the registered methods, optionally only those with the given properties."""
    return tuple(
        m.id for m in REGISTRY.values()
        if (ranks_trained_model is None or m.ranks_trained_model == ranks_trained_model)
        and (scored_while_training is None or m.scored_while_training == scored_while_training)
    )


def label(name: str) -> str:
    """The label people see for a method id (or any name :func:`get_method` accepts)."""
    return get_method(name).label


def labels(ids=None) -> dict[str, str]:
    """{id: label} for the given ids (default: every method), e.g. for a legend or a dropdown."""
    return {i: get_method(i).label for i in (REGISTRY if ids is None else ids)}


register(Magnitude(
    "magnitude", "magnitude",
    "Remove the weights closest to zero: a tiny weight barely changes what the network computes.",
))
register(RandomOrder(
    "random", "random",
    "Remove weights in a random (seeded) order: the control every real method must beat.",
))
register(ScoredWhileTraining(
    "bingo", "BINGO (kit's running mean)",
    "The paper's fake pass with this kit's update rule: after every training step, reset random groups of "
    "weights to their starting values and measure how much the loss rises; a weight's score is the average "
    "over all its groups (the paper's own rules are the 2-sample average and the printed formula).",
    scorer="fake_pass.RunningMeanBingo",
))
register(ScoredWhileTraining(
    "bingo_classic", "BINGO (paper's 2-sample average)",
    "The paper's rule as its text describes it, S = (S + |A_b - A_a| / A_b) / 2: each new measurement counts "
    "half, so a score remembers little more than its last two fake passes.",
    aliases=("prose", "bingo prose", "BINGO (2-sample average)"), options={"rule": "prose"},
))
register(ScoredWhileTraining(
    "bingo_paper", "BINGO (paper's printed formula)",
    "BINGO with the score formula exactly as printed in the paper, S = (S + 1 - |A_b - A_a| / A_b) / 2, "
    "which rewards weights whose reset did *not* hurt.",
    aliases=("paper", "printed", "BINGO (printed formula)"), options={"rule": "paper"},
))
register(ScoredWhileTraining(
    "bingo_grad", "BINGO-grad (kit's variant)",
    "This kit's own variant of BINGO: still scored during the one training run, but from the gradients "
    "every training step computes anyway, adding up (gradient x weight)^2 for each weight; remove the lowest.",
    aliases=("grad", "bingo grad", "gradient saliency"), scorer="saliency.GradientSaliency", kit_variant=True,
))


@dataclass(frozen=True)
class IterativeMagnitude(PruningMethod):
    """A procedure, not a ranking of a trained model: see :func:`bingo_kit.pruning.iterative_magnitude_pruning`."""

    ranks_trained_model = False

    def importance(self, model, scores=None, seed=0):
        return REGISTRY["magnitude"].importance(model, scores, seed)  # each round ranks by magnitude


@dataclass(frozen=True)
class GradualPruning(PruningMethod):
    """A procedure that prunes while it trains: see :func:`bingo_kit.gradual.gradual_pruning`."""

    ranks_trained_model = False

    def importance(self, model, scores=None, seed=0):
        return REGISTRY["bingo_grad"].importance(model, scores, seed)  # ranks by BINGO-grad's saliency


register(GradualPruning(
    "gradual", "gradual (kit's variant)",
    "This kit's own method: one training run that prunes as it goes, a little more every few steps "
    "(the least significant by BINGO-grad), until accuracy would drop below the floor.",
    aliases=("gradual pruning", "prune while training"), kit_variant=True,
))
register(IterativeMagnitude(
    "imp", "IMP",
    "Frankle & Carbin's lottery-ticket search: prune the smallest 20 % of the weights left, rewind the rest "
    "to their starting values, retrain, and repeat: strong, but it trains the network many times.",
    aliases=("iterative magnitude pruning",),
))
