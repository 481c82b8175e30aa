"""The paper's Table 1 as an experiment anyone can run.

Every method starts from the same initial weights and sees the same data. The floor is the dense network's
test accuracy minus ``drop`` (0.07 by default, the paper's 97 % → 90 %). For each method the race reports the
accuracy at the floor, the share of weights it could remove while staying at or above it, the seconds it
took (training + pruning) and how many test-set evaluations it needed.

- dense        plain training, nothing pruned
- magnitude    the dense network, one-shot global magnitude pruning to the floor
- random       the dense network, one-shot random pruning to the floor
- bingo        training with BINGO scoring (prose rule), then one-shot pruning by score to the floor
- bingo_paper  the same with the formula as printed in the paper
- imp          Frankle & Carbin's iterative magnitude pruning with rewinding, until it falls below the floor
"""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
from tqdm.auto import tqdm

from bingo_kit.bingo import DEFAULT_METRIC, DEFAULT_P, DEFAULT_PROBE, DEFAULT_TICKETS
from bingo_kit.data import Dataset, load_dataset
from bingo_kit.errors import KitError
from bingo_kit.methods import get_method, train_scored
from bingo_kit.models import make_mlp
from bingo_kit.pruning import iterative_magnitude_pruning, kept_weights, prune_to_floor
from bingo_kit.training import one_thread, steps_per_run, train

RACE_METHODS = ("dense", "bingo", "bingo_paper", "magnitude", "random", "imp")  # ids of bingo_kit.methods + dense
DEFAULT_DROP = 0.07
DEFAULT_IMP_RATE = 0.2  # Frankle & Carbin prune 20 % of the remaining fully-connected weights per round


def default_hidden(data: Dataset) -> tuple[int, ...]:
    """64 inputs (digits or downsampled images) → one hidden layer of 32; 784 inputs → 128-64."""
    return (32,) if data.n_features <= 64 else (128, 64)


def default_epochs(data: Dataset) -> int:
    return 30 if len(data.y_train) <= 5000 else 10


@dataclass
class MethodResult:
    accuracy: float
    pruned_fraction: float
    seconds: float
    evaluations: int
    kept: int = 0
    total: int = 0
    extra: dict = field(default_factory=dict)


@dataclass
class RaceResult:
    dataset: str
    floor: float
    drop: float
    dense_accuracy: float
    sizes: tuple[int, ...]
    epochs: int
    seed: int
    train_samples: int
    bingo_options: dict
    methods: dict[str, MethodResult]

    def to_json(self) -> dict:
        """The stable interface: {"dataset", "floor", "methods": {name: {"accuracy", "pruned_fraction",
        "seconds", "evaluations", ...}}} plus the settings that produced it."""
        methods = {}
        for name, result in self.methods.items():
            entry = asdict(result)
            entry.update(entry.pop("extra"))
            methods[name] = entry
        return {
            "dataset": self.dataset,
            "floor": self.floor,
            "methods": methods,
            "drop": self.drop,
            "dense_accuracy": self.dense_accuracy,
            "sizes": list(self.sizes),
            "epochs": self.epochs,
            "seed": self.seed,
            "train_samples": self.train_samples,
            "bingo_options": self.bingo_options,
        }

    def save_json(self, path) -> None:
        with open(path, "w") as f:
            json.dump(self.to_json(), f, indent=2)
            f.write("\n")

    def table(self) -> str:
        sizes = "-".join(map(str, self.sizes))
        lines = [
            f"{self.dataset} {sizes}, {self.epochs} epochs, {self.train_samples} training samples, seed {self.seed}",
            f"floor = dense {self.dense_accuracy:.1%} - {self.drop:.1%} = {self.floor:.1%}",
            f"{'method':<12} {'accuracy':>9} {'pruned':>8} {'seconds':>9} {'evaluations':>12}",
        ]
        for name, r in self.methods.items():
            lines.append(
                f"{name:<12} {r.accuracy:>9.1%} {r.pruned_fraction:>8.1%} {r.seconds:>9.2f} {r.evaluations:>12d}"
            )
        # the evaluations column counts test-set evaluations only; BINGO's scoring forward passes are extra
        passes = {name: r.extra["fake_passes"] for name, r in self.methods.items() if "fake_passes" in r.extra}
        if passes:
            lines.append("evaluations: test-set evaluations (one-shot methods: the floor search; IMP: one per round)")
            lines.append(
                "BINGO's scoring also ran ticket forward passes while training (steps x tickets, JSON fake_passes): "
                + ", ".join(f"{name} {count}" for name, count in passes.items())
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def run_race(
    dataset: str | Dataset = "digits",
    *,
    drop: float = DEFAULT_DROP,
    epochs: int | None = None,
    hidden: Sequence[int] | None = None,
    seed: int = 0,
    p: float = DEFAULT_P,
    probe: str = DEFAULT_PROBE,
    metric: str = DEFAULT_METRIC,
    tickets: int = DEFAULT_TICKETS,
    imp_rate: float = DEFAULT_IMP_RATE,
    methods: Sequence[str] = RACE_METHODS,
    downsample: bool = False,
    train_limit: int | None = None,
    test_limit: int | None = None,
    progress: bool = True,
) -> RaceResult:
    """Run the race; ``dataset`` is a name for :func:`load_dataset` or an already loaded Dataset."""
    with one_thread():  # the whole race, so that evaluations between trainings are single-threaded too
        return _run_race(dataset, drop, epochs, hidden, seed, p, probe, metric, tickets, imp_rate, methods,
                         downsample, train_limit, test_limit, progress)


def _run_race(dataset, drop, epochs, hidden, seed, p, probe, metric, tickets, imp_rate, methods,
              downsample, train_limit, test_limit, progress) -> RaceResult:
    if not 0.0 <= drop < 1.0:
        raise KitError(f"drop is how much accuracy pruning may cost (0.07 = 7 points); got {drop}.")
    methods = [race_method_id(m) for m in methods]
    if isinstance(dataset, Dataset):
        data = dataset
    else:
        data = load_dataset(dataset, downsample=downsample, seed=seed, train_limit=train_limit, test_limit=test_limit)
    hidden = tuple(hidden) if hidden else default_hidden(data)
    epochs = default_epochs(data) if epochs is None else epochs
    sizes = (data.n_features, *hidden, data.n_classes)
    bingo_options = {"p": p, "probe": probe, "metric": metric, "tickets": tickets}

    def fresh():  # every method starts from exactly these initial weights
        return make_mlp(sizes, seed=seed)

    # the first optimizer a process builds imports torch._dynamo (seconds); keep that out of the timings
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    results: dict[str, MethodResult] = {}
    bar = tqdm(total=len(methods) + 1, desc=f"race on {data.name}", unit="method", disable=not progress)

    # The dense run is needed by everyone: it sets the floor and is the start for one-shot pruning.
    bar.set_postfix_str("dense")
    start = time.perf_counter()
    dense = fresh()
    history = train(dense, data, epochs=epochs, seed=seed, progress=False)
    dense_seconds = time.perf_counter() - start
    dense_accuracy = history.final_accuracy
    floor = dense_accuracy - drop
    total = kept_weights(dense)[1]
    if "dense" in methods:
        results["dense"] = MethodResult(dense_accuracy, 0.0, dense_seconds, 1, total, total)
    bar.update(1)

    for name in methods:
        if name == "dense":
            continue
        bar.set_postfix_str(name)
        method = get_method(name)
        if method.scored_while_training:
            start = time.perf_counter()
            model = fresh()
            _, scores = train_scored(model, data, method, epochs=epochs, seed=seed, progress=False, **bingo_options)
            found = prune_to_floor(model, data, floor, method=name, scores=scores, seed=seed)
            # "evaluations" counts only the floor search; the scoring's forward passes are reported beside it
            steps = steps_per_run(data, epochs)
            results[name] = MethodResult(
                found.accuracy, found.fraction, time.perf_counter() - start, found.evaluations, found.kept, total,
                extra={"fake_passes": steps * tickets},
            )
        elif method.ranks_trained_model:  # one-shot pruning of the dense network
            model = copy_model(dense, sizes, seed)
            found = prune_to_floor(model, data, floor, method=name, seed=seed)
            results[name] = MethodResult(
                found.accuracy, found.fraction, dense_seconds + found.seconds, found.evaluations, found.kept, total
            )
        elif name == "imp":
            model = copy_model(dense, sizes, seed)
            imp = iterative_magnitude_pruning(
                model, data, floor, rate=imp_rate, epochs=epochs, seed=seed, trained=True, progress=progress
            )
            kept = round((1 - imp.fraction) * total)
            results[name] = MethodResult(
                imp.accuracy, imp.fraction, dense_seconds + imp.seconds, imp.evaluations, kept, total,
                extra={"rounds": imp.rounds, "rate": imp_rate},
            )
        bar.update(1)
    bar.close()
    ordered = {name: results[name] for name in RACE_METHODS if name in results}
    return RaceResult(
        data.name, floor, drop, dense_accuracy, sizes, epochs, seed, len(data.y_train), bingo_options, ordered
    )


def race_method_id(name: str) -> str:
    """The id of a race runner: "dense" or a pruning method of :mod:`bingo_kit.methods` the race knows."""
    if isinstance(name, str) and name.strip().casefold() == "dense":
        return "dense"
    try:
        found = get_method(name).id
    except KitError:
        found = None
    if found not in RACE_METHODS:
        raise KitError(f"Unknown race method {name!r}. Choose from: {', '.join(RACE_METHODS)}.")
    return found


def race_label(name: str) -> str:
    """What people see for a race runner (the method's label from the registry)."""
    return "dense" if race_method_id(name) == "dense" else get_method(name).label


def copy_model(trained, sizes, seed):
    """A new model with the same initial weights (for rewinding) and the trained weights."""
    model = make_mlp(sizes, seed=seed)
    model.load_state_dict(trained.state_dict())
    return model
