"""Fixtures for tests that run the real bingo_receiver sketch in simavr (and anyone else who needs a board).

`simulated_board`  a started SimulatedBoard (Uno, fresh erased EEPROM); stopped after the test.
`raw_link`         a RawLink (tests/firmware_helpers.py) on that board: frames built straight from the spec, so the
                   firmware is tested against the spec, not against the host code.
`digits`, `trained_mlp`, `pruned_q`, `pruned_blob`, `digit_bytes`: one trained 64-16-10 digits model per
                   worker, its int8 version pruned to fit an Uno, its blob, and the test split as u8 inputs.
`clothes`          lesson 8's challenge data (8×8 Fashion-MNIST: train, validation, test; never the hidden split).
When the AVR toolchain or simavr is missing the firmware fixtures skip with the install command (under
CI=true the root conftest turns any skip into a failure).
"""
from __future__ import annotations

import copy

import pytest
import torch

from firmware_helpers import RawLink, start_simulator


# One torch thread for the whole test process (the kit's own training already uses one): two busy-waiting
# threads per xdist worker on a 2-core machine slow everything down, and every module then runs alike.
torch.set_num_threads(1)

# --- fixtures ---------------------------------------------------------------------------------------

@pytest.fixture
def simulated_board(tmp_path):
    """A running simulated Uno with an erased EEPROM in tmp_path/eeprom.bin."""
    board = start_simulator(tmp_path / "eeprom.bin")
    yield board
    board.stop()


@pytest.fixture
def raw_link(simulated_board):
    link = RawLink(simulated_board.port)
    yield link
    link.close()


@pytest.fixture(scope="session")
def digits():
    from bingo_kit.data import load_dataset

    return load_dataset("digits")


@pytest.fixture(scope="session")
def clothes():
    from bingo_kit.leaderboard import challenge_data

    return challenge_data()


@pytest.fixture(scope="session")
def trained_mlp(digits):
    import torch

    from bingo_kit.models import make_mlp
    from bingo_kit.training import train

    torch.manual_seed(0)
    model = make_mlp((64, 16, 10), seed=0)
    train(model, digits, epochs=12, seed=0, progress=False)
    return model


@pytest.fixture(scope="session")
def pruned_q(trained_mlp, digits):
    """The default model with 60 % of its weights pruned (magnitude), quantised: fits an Uno."""
    from bingo_kit.export import quantize
    from bingo_kit.pruning import prune_fraction

    model = copy.deepcopy(trained_mlp)
    prune_fraction(model, 0.6, method="magnitude")
    return quantize(model, digits.x_train)


@pytest.fixture(scope="session")
def pruned_blob(pruned_q):
    from bingo_kit.export import encode_blob

    blob = encode_blob(pruned_q)
    assert len(blob) <= 1020
    return blob


@pytest.fixture(scope="session")
def other_blob(trained_mlp, digits, pruned_blob):
    """A second valid model that fits the Uno and differs from pruned_blob (pruned 80 % by magnitude)."""
    from bingo_kit.export import encode_blob, quantize
    from bingo_kit.pruning import prune_fraction

    model = copy.deepcopy(trained_mlp)
    prune_fraction(model, 0.8, method="magnitude")
    blob = encode_blob(quantize(model, digits.x_train))
    assert blob != pruned_blob
    return blob


@pytest.fixture(scope="session")
def digit_bytes(digits):
    """The digits test split as the board's u8 inputs (§2.3 step 1)."""
    from bingo_kit.export import inputs_to_bytes

    return inputs_to_bytes(digits.x_test)
