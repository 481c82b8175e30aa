"""`bingo-kit train` and `bingo-kit race` from a terminal: real subprocesses where it matters."""
import json
import subprocess
import sys

import pytest
import torch

from bingo_kit import data as data_module
from bingo_kit.cli import main
from bingo_kit.errors import KitError
from bingo_kit.models import load_model
from bingo_kit.training import accuracy


def test_train_saves_a_model_and_scores(tmp_path, capsys):
    out, scores = tmp_path / "model.pt", tmp_path / "scores.pt"
    code = main(["train", "--epochs", "2", "--hidden", "16", "--out", str(out), "--scores", str(scores), "--no-progress"])
    assert code == 0
    model = load_model(out)
    assert model.sizes == (64, 16, 10)
    assert set(torch.load(scores)) == {"layers.0", "layers.1"}
    assert "test accuracy" in capsys.readouterr().out


def test_race_command_prints_the_table_and_writes_json(tmp_path):
    out = tmp_path / "race.json"
    completed = subprocess.run(
        [sys.executable, "-m", "bingo_kit.cli", "race", "--dataset", "digits", "--epochs", "2", "--hidden", "8",
         "--drop", "0.1", "--p", "0.1", "--json", str(out), "--no-progress"],
        capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    assert "magnitude" in completed.stdout and "imp" in completed.stdout
    result = json.loads(out.read_text())
    assert result["dataset"] == "digits" and result["bingo_options"]["p"] == 0.1
    assert set(result["methods"]) == {"dense", "bingo", "bingo_classic", "bingo_paper", "bingo_grad", "gradual",
                                      "magnitude", "random", "imp"}
    assert result["methods"]["bingo"]["settings"]["p"] == 0.1 and result["split"] == "validation"


def test_race_command_runs_a_chosen_subset(capsys):
    assert main(["race", "--epochs", "2", "--hidden", "8", "--methods", "dense,BINGO-grad", "--no-progress"]) == 0
    table = capsys.readouterr().out
    assert "bingo_grad" in table and "imp" not in table


def test_missing_dataset_is_one_plain_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("BINGO_KIT_CACHE", str(tmp_path))
    monkeypatch.delenv("BINGO_KIT_DATA", raising=False)
    monkeypatch.setattr(data_module, "DEBIAN_FASHION_MNIST_DIRS", [])
    assert main(["race", "--dataset", "fashion-mnist", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bingo-kit race: The fashion-mnist dataset was not found")
    assert "apt-get install dataset-fashion-mnist" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "bad, says",
    [(["--drop", "7"], "between 0 and 1"), (["--hidden", "a,b"], "like 32 or 128,64"), (["--p", "1.5"], "between 0")],
)
def test_bad_arguments_are_rejected_with_a_hint(bad, says, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["race", *bad])
    assert exited.value.code == 2 and says in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "race"])
@pytest.mark.parametrize(
    "bad", [["--epochs", "0"], ["--epochs", "-1"], ["--epochs", "two"], ["--train-limit", "0"], ["--tickets", "0"]]
)
def test_counts_below_one_are_rejected_before_anything_runs(command, bad, capsys, tmp_path):
    if command == "train" and bad[0] == "--tickets":
        bad = ["--train-limit", "-5"]  # train has no --tickets
    with pytest.raises(SystemExit) as exited:
        main([command, *bad, "-o" if command == "train" else "--json", str(tmp_path / "out"), "--no-progress"])
    assert exited.value.code == 2 and "at least 1" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_library_refuses_zero_epochs_and_an_empty_training_set():
    from bingo_kit.models import make_mlp
    from bingo_kit.race import run_race
    from bingo_kit.training import train

    data = data_module.load_dataset("digits", train_limit=100, test_limit=50)
    with pytest.raises(KitError, match="epochs must be at least 1"):
        train(make_mlp((64, 8, 10)), data, epochs=0, progress=False)
    with pytest.raises(KitError, match="epochs must be at least 1"):
        run_race(data, epochs=0, progress=False)  # 0 is not "use the default"
    empty = data_module.load_dataset("digits", train_limit=0)
    with pytest.raises(KitError, match="training set is empty"):
        train(make_mlp((64, 8, 10)), empty, epochs=1, progress=False)


def test_train_prunes_to_the_floor_with_the_chosen_method(tmp_path, capsys):
    out = tmp_path / "model.pt"
    code = main(["train", "--epochs", "5", "--hidden", "16", "--method", "Magnitude", "--prune-to-floor",
                 "--drop", "0.05", "-o", str(out), "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    floor = float(printed.split("(floor ")[1].split("%")[0]) / 100
    model = load_model(out)
    weights = torch.cat([w.reshape(-1) for w in model.current_weights()])
    pruned = (weights == 0).float().mean().item()
    assert pruned > 0.2, "a 5-point drop allows pruning a good part of a 64-16-10 network by magnitude"
    # the floor was checked on the seeded validation split carved out of the training set (seed 0)
    data = data_module.with_validation(data_module.load_dataset("digits"), 0.2, seed=0)
    assert accuracy(model, data.x_val, data.y_val) >= floor - 0.0006  # printed to 0.1 %
    assert f"test accuracy {100 * accuracy(model, data.x_test, data.y_test):.1f}%" in printed.splitlines()[1]


def test_bingo_grad_prunes_a_64_16_10_network_until_an_uno_accepts_it(tmp_path, capsys):
    model, blob = tmp_path / "model.pt", tmp_path / "model.bingo"
    assert main(["train", "--dataset", "digits", "--hidden", "16", "--method", "bingo_grad", "--prune-to-floor",
                 "-o", str(model), "--no-progress"]) == 0
    assert main(["export", str(model), "--board", "uno", "-o", str(blob)]) == 0
    printed = capsys.readouterr().out
    assert "fits on Arduino Uno" in printed and blob.stat().st_size <= 1020


def test_gradual_needs_the_floor(tmp_path, capsys):
    assert main(["train", "--method", "gradual", "-o", str(tmp_path / "m.pt"), "--no-progress"]) == 1
    assert "--prune-to-floor" in capsys.readouterr().err


def test_train_with_bingo_prunes_an_exact_fraction(tmp_path, capsys):
    out = tmp_path / "model.pt"
    assert main(["train", "--epochs", "2", "--hidden", "16", "--method", "bingo", "--prune", "0.5",
                 "-o", str(out), "--no-progress"]) == 0
    weights = torch.cat([w.reshape(-1) for w in load_model(out).current_weights()])
    assert (weights == 0).sum().item() == round(0.5 * weights.numel())
    assert "pruned 50.0%" in capsys.readouterr().out


def test_pruning_without_a_method_says_which_to_add(tmp_path, capsys):
    assert main(["train", "--prune-to-floor", "-o", str(tmp_path / "m.pt"), "--no-progress"]) == 1
    assert "--method magnitude, random, bingo, bingo_classic, bingo_paper, bingo_grad or gradual" in \
        capsys.readouterr().err
