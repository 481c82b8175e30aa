"""The race: every method from the same start, the stable JSON shape, a readable table, determinism."""
import json

import pytest

from bingo_kit.errors import KitError
from bingo_kit.race import RACE_METHODS, run_race
from core_helpers import blobs

FIGURES = ("accuracy", "pruned_fraction", "evaluations")


@pytest.fixture(scope="module")
def race_twice():
    data = blobs(n_train=150, n_test=90, n_features=6)
    options = dict(epochs=6, hidden=(8,), drop=0.1, seed=3, progress=False)
    return run_race(data, **options), run_race(data, **options), data


def test_json_has_the_stable_shape(race_twice, tmp_path):
    result, _, _ = race_twice
    result.save_json(tmp_path / "race.json")
    loaded = json.loads((tmp_path / "race.json").read_text())
    assert loaded["dataset"] == "blobs" and set(loaded["methods"]) == set(RACE_METHODS)
    assert loaded["floor"] == pytest.approx(loaded["dense_accuracy"] - 0.1)
    for name, entry in loaded["methods"].items():
        assert isinstance(entry["seconds"], float) and entry["seconds"] > 0
        assert 0.0 <= entry["pruned_fraction"] <= 1.0 and 0.0 <= entry["accuracy"] <= 1.0
        assert isinstance(entry["evaluations"], int) and entry["evaluations"] >= 1
        if name != "dense":
            assert entry["accuracy"] >= loaded["floor"]  # every method stopped at or above the floor
    assert loaded["methods"]["dense"]["pruned_fraction"] == 0.0
    assert loaded["methods"]["imp"]["rounds"] >= 1  # IMP is at least one prune-rewind-retrain round in


def test_imp_costs_more_training_than_one_shot_methods(race_twice):
    result, _, _ = race_twice
    seconds = {name: r.seconds for name, r in result.methods.items()}
    assert seconds["imp"] > seconds["magnitude"] and seconds["imp"] > seconds["dense"]


def test_table_lists_every_method_with_its_figures(race_twice):
    result, _, _ = race_twice
    table = result.table()
    assert "floor = dense" in table
    for name, r in result.methods.items():
        assert any(line.startswith(name) and f"{r.pruned_fraction:.1%}" in line for line in table.splitlines())


def test_same_seed_same_figures(race_twice):
    first, second, _ = race_twice
    assert first.floor == second.floor
    for name in RACE_METHODS:
        a, b = first.to_json()["methods"][name], second.to_json()["methods"][name]
        assert [a[k] for k in FIGURES] == [b[k] for k in FIGURES], name


def test_a_subset_of_methods_and_bad_arguments(race_twice):
    _, _, data = race_twice
    result = run_race(data, epochs=2, hidden=(4,), methods=("dense", "magnitude"), progress=False)
    assert list(result.methods) == ["dense", "magnitude"]
    with pytest.raises(KitError, match="Choose from"):
        run_race(data, methods=("dense", "lottery"), progress=False)
    with pytest.raises(KitError, match="drop"):
        run_race(data, drop=1.5, progress=False)
