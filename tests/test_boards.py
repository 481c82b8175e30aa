"""bingo_kit.boards: capacities follow PROTOCOL.md §3, names are forgiving, USB ids are recognised."""
import pytest

from bingo_kit.boards import BOARDS, board_for_identify_code, get_board, guess_board
from bingo_kit.errors import KitError


def test_capacity_is_eeprom_minus_the_record_header():
    assert {key: b.model_capacity for key, b in BOARDS.items()} == {"uno": 1020, "nano": 1020, "mega": 4092}
    assert all(b.model_capacity == b.eeprom_bytes - 4 for b in BOARDS.values())


@pytest.mark.parametrize("name, key", [("uno", "uno"), ("UNO", "uno"), (" Nano ", "nano"), ("Mega 2560", "mega"),
                                       ("atmega2560", "mega"), ("Arduino Uno", "uno")])
def test_get_board_accepts_common_spellings(name, key):
    assert get_board(name).key == key


def test_unknown_board_lists_the_known_ones():
    with pytest.raises(KitError, match="Unknown board 'esp32'.*uno, nano, mega"):
        get_board("esp32")


@pytest.mark.parametrize("vid, pid, words", [
    (0x2341, 0x0043, "Uno"), (0x2A03, 0x0043, "Uno"), (0x2341, 0x0042, "Mega"), (0x2341, 0x8036, "Arduino"),
    (0x1A86, 0x7523, "CH340"), (0x0403, 0x6001, "FTDI"), (0x10C4, 0xEA60, "CP210x"),
])
def test_known_usb_ids(vid, pid, words):
    assert words in guess_board(vid, pid)


def test_unknown_usb_ids_are_not_guessed():
    assert guess_board(0x046D, 0xC52B) is None and guess_board(None, None) is None
    assert guess_board(0x1A86, 0x5523) is None   # another CH34x product, not a known Arduino clone


def test_identify_board_codes():
    assert board_for_identify_code(1).mcu == "ATmega328P"
    assert board_for_identify_code(2).key == "mega"
    assert board_for_identify_code(0) is None
