"""The race: every method from the same start, the stable JSON shape, a readable table, determinism."""
import json

import pytest

from bingo_kit.errors import KitError
from bingo_kit.race import run_race
from core_helpers import blobs

FIGURES = ("accuracy", "pruned_fraction", "evaluations")
# written out here, not imported from the code under test: the JSON's method names are a stable interface
METHODS = {"dense", "bingo", "bingo_classic", "bingo_paper", "bingo_grad", "gradual", "magnitude", "random", "imp"}
LESSON_METHODS = ["dense", "bingo", "bingo_paper", "magnitude", "random", "imp"]  # lesson 4's runners


@pytest.fixture(scope="module")
def race_twice():
    data = blobs(n_train=150, n_test=90, n_features=6)
    options = dict(epochs=6, hidden=(8,), drop=0.1, seed=3, progress=False, methods=sorted(METHODS))
    return run_race(data, **options), run_race(data, **options), data


def test_json_has_the_stable_shape(race_twice, tmp_path):
    result, _, _ = race_twice
    result.save_json(tmp_path / "race.json")
    loaded = json.loads((tmp_path / "race.json").read_text())
    assert loaded["dataset"] == "blobs" and set(loaded["methods"]) == METHODS
    assert loaded["floor"] == pytest.approx(loaded["dense_accuracy"] - 0.1)
    # the floor is checked on a validation split carved from the 150 training samples; test is reported apart
    assert loaded["split"] == "validation" and loaded["validation_samples"] == 30 and loaded["train_samples"] == 120
    for name, entry in loaded["methods"].items():
        assert isinstance(entry["seconds"], float) and entry["seconds"] > 0 and entry["cpu_seconds"] > 0
        assert 0.0 <= entry["pruned_fraction"] <= 1.0 and 0.0 <= entry["accuracy"] <= 1.0
        assert 0.0 <= entry["test_accuracy"] <= 1.0
        assert isinstance(entry["evaluations"], int) and entry["evaluations"] >= 1
        if name != "dense":
            assert entry["accuracy"] >= loaded["floor"]  # every method stopped at or above the floor
    assert loaded["methods"]["dense"]["pruned_fraction"] == 0.0
    assert loaded["methods"]["imp"]["rounds"] >= 1  # IMP is at least one prune-rewind-retrain round in


def test_imp_retrains_round_by_round_and_one_shot_methods_search_once(race_twice):
    # counted, not timed: wall-clock seconds on a shared machine can come out in any order
    result, _, data = race_twice
    imp = result.to_json()["methods"]["imp"]
    assert imp["rounds"] >= 1
    # one evaluation of the dense model, one per passing round, plus the failing round unless it ran out
    assert imp["evaluations"] in (imp["rounds"] + 1, imp["rounds"] + 2)
    total = sum(w * v for w, v in zip(result.sizes, result.sizes[1:]))
    for name in ("magnitude", "random", "bingo", "bingo_paper", "bingo_grad"):
        # a scan from below one weight at a time (72 weights) stops at the first failure: no more than the
        # weights it pruned plus the failing one, and one last look at the model it hands back
        found = result.methods[name]
        assert found.evaluations <= round(found.pruned_fraction * total) + 2, name
    gradual = result.to_json()["methods"]["gradual"]
    assert gradual["epochs_trained"] <= 6 and gradual["evaluations"] >= 1


def test_bingo_reports_its_scoring_forward_passes(race_twice):
    result, _, data = race_twice
    steps = 6 * -(-result.train_samples // 32)  # 6 epochs of batches of 32 (validation carved out)
    methods = result.to_json()["methods"]
    for name in ("bingo", "bingo_classic", "bingo_paper"):
        assert methods[name]["fake_passes"] == steps * methods[name]["settings"]["tickets"]
    assert methods["bingo_paper"]["settings"]["rule"] == "paper"
    assert all("fake_passes" not in methods[name] for name in ("dense", "magnitude", "random", "imp", "bingo_grad"))
    assert "fake_passes" in result.table().splitlines()[-1]


def test_table_lists_every_method_with_its_figures(race_twice):
    result, _, _ = race_twice
    table = result.table()
    assert "floor = dense" in table
    for name, r in result.methods.items():
        assert any(line.startswith(name) and f"{r.pruned_fraction:.1%}" in line for line in table.splitlines())


def test_same_seed_same_figures(race_twice):
    first, second, _ = race_twice
    assert first.floor == second.floor
    for name in sorted(METHODS):
        a, b = first.to_json()["methods"][name], second.to_json()["methods"][name]
        assert [a[k] for k in FIGURES] == [b[k] for k in FIGURES], name


def test_a_subset_of_methods_and_bad_arguments(race_twice):
    _, _, data = race_twice
    result = run_race(data, epochs=2, hidden=(4,), methods=("dense", "Magnitude", "BINGO-grad (kit's variant)"),
                      progress=False, tickets=2)
    assert list(result.methods) == ["dense", "bingo_grad", "magnitude"]  # looked up, in the race's order
    assert list(run_race(data, epochs=1, hidden=(4,), progress=False).methods) == LESSON_METHODS
    with pytest.raises(KitError, match="Choose from"):
        run_race(data, methods=("dense", "lottery"), progress=False)
    with pytest.raises(KitError, match="drop"):
        run_race(data, drop=1.5, progress=False)


def test_training_overhead_times_training_alone_and_leaves_gradual_to_the_race(monkeypatch):
    # issue 18 C2: plain training's per-epoch test pass (a quarter of its CPU time on Fashion-MNIST) made every
    # overhead look smaller; gradual's "overhead" compared a run that ends at the floor with a full run
    import bingo_kit.training as training
    from bingo_kit.race import training_overhead

    data = blobs(n_train=120, n_test=90, n_features=6)
    real_accuracy, test_passes = training.accuracy, []

    def counting_accuracy(model, x, y):
        test_passes.append(x is data.x_test)
        return real_accuracy(model, x, y)

    monkeypatch.setattr(training, "accuracy", counting_accuracy)
    ratios = training_overhead(data, ["bingo_grad"], sizes=(6, 8, 3), epochs=3, repeats=1)
    assert set(ratios) == {"bingo_grad"} and ratios["bingo_grad"] > 0
    assert not any(test_passes)  # neither the plain run nor the scored one looked at the test set
    with pytest.raises(KitError, match="IMP"):
        training_overhead(data, ["gradual"], sizes=(6, 8, 3), epochs=3)
