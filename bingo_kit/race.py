"""The paper's Table 1 as an experiment anyone can run.

Every method starts from the same initial weights and sees the same data. A seeded validation split is
carved out of the training set; the floor is the dense network's *validation* accuracy minus ``drop``
(0.07 by default, the paper's 97 % → 90 %), every method chooses how much to prune on that split, and the
test set is only used to report each result's test accuracy. For each method the race reports the
accuracy at the floor (validation), the test accuracy, the share of weights it removed, the seconds it took
and how many evaluations it needed.

- dense          plain training, nothing pruned
- bingo          the paper's fake pass with the kit's update rule: a running mean of the loss change
- bingo_classic  the fake pass with the two-sample average S = (S + x) / 2 the paper's text describes
- bingo_paper    the same with the formula as printed in the paper
- bingo_grad     the kit's variant: saliency from the training step's own gradients (bingo_kit.saliency)
- gradual        the kit's variant: prune while training, by BINGO-grad, until the floor (bingo_kit.gradual)
- magnitude      the dense network, one-shot global magnitude pruning to the floor
- random         the dense network, one-shot random pruning to the floor
- imp            Frankle & Carbin's iterative magnitude pruning with rewinding, until it falls below the floor

Scored methods train their own network (scoring never changes the training); their time is that run plus
the floor search. Magnitude, random and IMP start from the dense run and include its time.
"""
from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
from tqdm.auto import tqdm

from bingo_kit.data import Dataset, load_dataset, with_validation
from bingo_kit.errors import KitError
from bingo_kit.gradual import gradual_pruning
from bingo_kit.methods import get_method, train_scored
from bingo_kit.models import make_mlp
from bingo_kit.pruning import iterative_magnitude_pruning, kept_weights, prune_to_floor
from bingo_kit.training import accuracy, one_thread, steps_per_run, train

# ids of bingo_kit.methods, plus dense. The default race is the paper's Table 1 runners; lesson 5 races them all.
ALL_RACE_METHODS = ("dense", "bingo", "bingo_classic", "bingo_paper", "bingo_grad", "gradual", "magnitude",
                    "random", "imp")
RACE_METHODS = ("dense", "bingo", "bingo_paper", "magnitude", "random", "imp")
DEFAULT_DROP = 0.07
DEFAULT_IMP_RATE = 0.2  # Frankle & Carbin prune 20 % of the remaining fully-connected weights per round
DEFAULT_VALIDATION = 0.2  # of the training set, carved out (seeded) to choose the pruning amount on


def default_hidden(data: Dataset) -> tuple[int, ...]:
    """64 inputs (digits or downsampled images) → one hidden layer of 32; 784 inputs → 128-64."""
    return (32,) if data.n_features <= 64 else (128, 64)


def default_epochs(data: Dataset) -> int:
    return 30 if len(data.y_train) <= 5000 else 10


@dataclass
class MethodResult:
    accuracy: float  # on the split the floor was checked on (validation)
    pruned_fraction: float
    seconds: float  # wall clock
    evaluations: int
    kept: int = 0
    total: int = 0
    test_accuracy: float = float("nan")
    cpu_seconds: float = 0.0  # time.process_time: steadier than the wall clock on a shared machine
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
    bingo_options: dict  # the race's overrides of the scorers' settings (None: each method's default)
    methods: dict[str, MethodResult]
    split: str = "validation"
    validation_samples: int = 0

    def to_json(self) -> dict:
        """The stable interface: {"dataset", "floor", "methods": {name: {"accuracy", "pruned_fraction",
        "seconds", "evaluations", "test_accuracy", "cpu_seconds", ...}}} plus the settings that produced it.
        "accuracy" and "floor" are on the split named by "split" (validation)."""
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
            "split": self.split,
            "validation_samples": self.validation_samples,
        }

    def save_json(self, path) -> None:
        with open(path, "w") as f:
            json.dump(self.to_json(), f, indent=2)
            f.write("\n")

    def table(self) -> str:
        sizes = "-".join(map(str, self.sizes))
        lines = [
            f"{self.dataset} {sizes}, {self.epochs} epochs, {self.train_samples} training samples "
            f"(+{self.validation_samples} for {self.split}), seed {self.seed}",
            f"floor = dense {self.dense_accuracy:.1%} - {self.drop:.1%} = {self.floor:.1%} (on the {self.split} split)",
            f"{'method':<14} {'accuracy':>9} {'test acc':>9} {'pruned':>8} {'seconds':>9} {'evaluations':>12}",
        ]
        for name, r in self.methods.items():
            lines.append(f"{name:<14} {r.accuracy:>9.1%} {r.test_accuracy:>9.1%} {r.pruned_fraction:>8.1%} "
                         f"{r.seconds:>9.2f} {r.evaluations:>12d}")
        # the evaluations column counts floor checks only; BINGO's scoring forward passes are extra
        passes = {name: r.extra["fake_passes"] for name, r in self.methods.items() if "fake_passes" in r.extra}
        if passes:
            lines.append(f"accuracy: on the {self.split} split the floor is checked on; test acc: the test set, "
                         "never used for a choice")
            lines.append("evaluations: floor checks (one-shot methods: the floor search; IMP: one per round)")
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
    p: float | None = None,
    probe: str | None = None,
    metric: str | None = None,
    tickets: int | None = None,
    imp_rate: float = DEFAULT_IMP_RATE,
    methods: Sequence[str] = RACE_METHODS,
    validation: float = DEFAULT_VALIDATION,
    downsample: bool = False,
    train_limit: int | None = None,
    test_limit: int | None = None,
    progress: bool = True,
) -> RaceResult:
    """Run the race; ``dataset`` is a name for :func:`load_dataset` or an already loaded Dataset.

    ``p``, ``probe``, ``metric``, ``tickets`` override the fake-pass scorers' settings where a scorer has
    them (None: each method's own default). A dataset without a validation split gets one (``validation``
    of its training set, seeded by ``seed``).
    """
    if not 0.0 <= drop < 1.0:
        raise KitError(f"drop is how much accuracy pruning may cost (0.07 = 7 points); got {drop}.")
    methods = [race_method_id(m) for m in methods]
    if isinstance(dataset, Dataset):
        data = dataset
    else:
        data = load_dataset(dataset, downsample=downsample, seed=seed, train_limit=train_limit, test_limit=test_limit)
    if not data.has_validation:
        data = with_validation(data, validation, seed)
    options = {"p": p, "probe": probe, "metric": metric, "tickets": tickets}
    with one_thread():  # the whole race, so that evaluations between trainings are single-threaded too
        return _run_race(data, drop, epochs, hidden, seed, options, imp_rate, methods, progress)


def _run_race(data, drop, epochs, hidden, seed, options, imp_rate, methods, progress) -> RaceResult:
    hidden = tuple(hidden) if hidden else default_hidden(data)
    epochs = default_epochs(data) if epochs is None else epochs
    sizes = (data.n_features, *hidden, data.n_classes)

    def fresh():  # every method starts from exactly these initial weights
        return make_mlp(sizes, seed=seed)

    # the first optimizer a process builds imports torch._dynamo (seconds); keep that out of the timings
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    results: dict[str, MethodResult] = {}
    # one step for the dense run every method starts from, one per pruning method: the bar ends full (a tqdm
    # bar closed short of its total turns red in a notebook, and looks broken)
    runners = [name for name in methods if name != "dense"]
    bar = tqdm(total=len(runners) + 1, desc=f"race on {data.name}", unit="method", disable=not progress)

    # The dense run is needed by everyone: it sets the floor and is the start for one-shot pruning.
    bar.set_postfix_str("dense")
    clock = _Clock()
    dense = fresh()
    train(dense, data, epochs=epochs, seed=seed, progress=False, test_each_epoch=False)
    dense_seconds, dense_cpu = clock.read()
    dense_accuracy = accuracy(dense, data.x_val, data.y_val)
    floor = dense_accuracy - drop
    total = kept_weights(dense)[1]
    if "dense" in methods:
        results["dense"] = MethodResult(dense_accuracy, 0.0, dense_seconds, 1, total, total,
                                        accuracy(dense, data.x_test, data.y_test), dense_cpu)
    bar.update(1)

    for name in methods:
        if name == "dense":
            continue
        bar.set_postfix_str(name)
        method = get_method(name)
        clock = _Clock()
        if method.scored_while_training:
            model = fresh()
            settings = method.settings(**options)
            _, scores = train_scored(model, data, method, epochs=epochs, seed=seed, progress=False,
                                     test_each_epoch=False, **settings)
            found = prune_to_floor(model, data, floor, method=name, scores=scores, seed=seed)
            extra = {"settings": settings}
            if "tickets" in settings:  # the scoring's forward passes, reported beside the floor checks
                extra["fake_passes"] = steps_per_run(data, epochs) * settings["tickets"]
            seconds, cpu = clock.read()
            results[name] = MethodResult(found.accuracy, found.fraction, seconds, found.evaluations, found.kept,
                                         total, found.test_accuracy, cpu, extra)
        elif method.ranks_trained_model:  # one-shot pruning of the dense network
            model = copy_model(dense, sizes, seed)
            found = prune_to_floor(model, data, floor, method=name, seed=seed)
            seconds, cpu = clock.read()
            results[name] = MethodResult(found.accuracy, found.fraction, dense_seconds + seconds, found.evaluations,
                                         found.kept, total, found.test_accuracy, dense_cpu + cpu)
        elif name == "gradual":
            model = fresh()
            run = gradual_pruning(model, data, floor, epochs=epochs, seed=seed, progress=False, test_each_epoch=False)
            seconds, cpu = clock.read()
            kept = kept_weights(model)[0]
            results[name] = MethodResult(
                run.accuracy, run.fraction, seconds, run.evaluations, kept, total, run.test_accuracy, cpu,
                extra={"prunes": run.prunes, "epochs_trained": run.epochs, "stopped_at_floor": run.stopped_at_floor},
            )
        elif name == "imp":
            model = copy_model(dense, sizes, seed)
            imp = iterative_magnitude_pruning(
                model, data, floor, rate=imp_rate, epochs=epochs, seed=seed, trained=True, progress=False,
                test_each_epoch=False,
            )  # the race's own bar says "imp"; a second bar would stop short (IMP ends at the floor, not round 30)
            seconds, cpu = clock.read()
            results[name] = MethodResult(
                imp.accuracy, imp.fraction, dense_seconds + seconds, imp.evaluations, kept_weights(model)[0], total,
                imp.test_accuracy, dense_cpu + cpu, extra={"rounds": imp.rounds, "rate": imp_rate},
            )
        bar.update(1)
    bar.close()
    ordered = {name: results[name] for name in ALL_RACE_METHODS if name in results}
    return RaceResult(data.name, floor, drop, dense_accuracy, sizes, epochs, seed, len(data.y_train), options,
                      ordered, "validation", len(data.y_val))


class _Clock:
    """Wall-clock and CPU seconds since it was made."""

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def training_overhead(data: Dataset, methods: Sequence[str], *, sizes: Sequence[int], epochs: int, seed: int = 0,
                      repeats: int = 3, **options) -> dict[str, float]:
    """{method: CPU time of its scored training run ÷ CPU time of plain training}, paired and repeated.

    Both runs time training alone: no test-set pass after each epoch (``options`` as in :func:`run_race`).
    Every repeat runs plain training right before each method, so a burst of load elsewhere hits both
    alike; the ratio reported is the median of the paired ratios. ``time.process_time`` counts this
    process's CPU only, and torch runs on one thread. Gradual pruning has no overhead of this kind (it ends
    when it reaches the floor, often epochs early): the race compares its CPU time with IMP's.
    """
    ratios: dict[str, list[float]] = {race_method_id(m): [] for m in methods}
    for name in ratios:
        if not get_method(name).scored_while_training:
            raise KitError(f"{name!r} does not score while training, so it has no training overhead; compare "
                           "its CPU seconds in the race instead (gradual: with IMP's).")
    with one_thread():
        torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # one-time import cost out of the timings
        for _ in range(repeats):
            for name in ratios:
                start = time.process_time()
                train(make_mlp(sizes, seed=seed), data, epochs=epochs, seed=seed, progress=False,
                      test_each_epoch=False)
                plain = time.process_time() - start
                method = get_method(name)
                start = time.process_time()
                train_scored(make_mlp(sizes, seed=seed), data, method, epochs=epochs, seed=seed, progress=False,
                             test_each_epoch=False, **method.settings(**options))
                ratios[name].append((time.process_time() - start) / plain)
    return {name: statistics.median(values) for name, values in ratios.items()}


def race_method_id(name: str) -> str:
    """The id of a race runner: "dense" or a pruning method of :mod:`bingo_kit.methods` the race knows."""
    if isinstance(name, str) and name.strip().casefold() == "dense":
        return "dense"
    try:
        found = get_method(name).id
    except KitError:
        found = None
    if found not in ALL_RACE_METHODS:
        raise KitError(f"Unknown race method {name!r}. Choose from: {', '.join(ALL_RACE_METHODS)}.")
    return found


def race_label(name: str) -> str:
    """What people see for a race runner (the method's label from the registry)."""
    return "dense" if race_method_id(name) == "dense" else get_method(name).label


def copy_model(trained, sizes, seed):
    """A new model with the same initial weights (for rewinding) and the trained weights."""
    model = make_mlp(sizes, seed=seed)
    model.load_state_dict(trained.state_dict())
    return model
