"""hardware/bingo_receiver/protocol.h and bingo_kit/board/protocol.py are twins: same names, same numbers.

The header is parsed as text (its #defines, `enum Status` and the per-microcontroller #if blocks), so a
constant changed, added or removed on one side only fails here, in either direction.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from bingo_kit.board import protocol

HEADER = Path(__file__).resolve().parent.parent / "hardware" / "bingo_receiver" / "protocol.h"
MCU_MACRO = re.compile(r"defined\(__AVR_(\w+)__\)")


def _value(text: str):
    text = text.strip()
    if re.fullmatch(r"0[xX][0-9a-fA-F]+|\d+", text):
        return int(text, 0)
    if re.fullmatch(r'"[^"\\]*"', text):
        return text[1:-1].encode("ascii")
    return text   # an expression (only the #else block's capacity has one)


def parse_header(text: str) -> tuple[dict, dict, dict]:
    """(shared constants incl. enum Status, {mcu: board #defines}, the #else block's #defines)."""
    text = re.sub(r"//[^\n]*", "", text)
    shared, boards, other = {}, {}, {}
    block = None   # None: outside the board #if; an MCU name; or "other" for #else
    for line in text.splitlines():
        line = line.strip()
        if match := re.match(r"#(?:el)?if\s+(.*)", line):
            mcu = MCU_MACRO.search(match.group(1))
            block = mcu.group(1) if mcu else block
            if mcu:
                boards[block] = {}
        elif line == "#else" and block is not None:
            block = "other"
        elif line == "#endif":
            block = None
        elif match := re.match(r"#define\s+(\w+)\s*(.*)", line):
            name, value = match.group(1), match.group(2)
            if not value:
                continue  # the include guard
            target = shared if block is None else other if block == "other" else boards[block]
            target[name] = _value(value)
    enum = re.search(r"enum\s+Status\s*:\s*uint8_t\s*\{(.*?)\}", text, re.DOTALL)
    for name, value in re.findall(r"(\w+)\s*=\s*(\w+)", enum.group(1)):
        shared[name] = int(value, 0)
    return shared, boards, other


def python_constants() -> dict:
    """protocol.py's twin constants: module-level UPPER_CASE ints and bytes, plus the Status members."""
    found = {name: value for name, value in vars(protocol).items()
             if name.isupper() and isinstance(value, (int, bytes)) and not isinstance(value, bool)
             and name not in protocol.HOST_ONLY and name != "OTHER_BOARD_CODE"}
    found.update({status.name: int(status) for status in protocol.Status})
    return found


def differences(header_text: str) -> list[str]:
    """Every way the header and protocol.py disagree, as readable lines (empty when they are twins)."""
    shared, boards, other = parse_header(header_text)
    python = python_constants()
    problems = [f"{name} only in protocol.h" for name in sorted(shared.keys() - python.keys())]
    problems += [f"{name} only in protocol.py" for name in sorted(python.keys() - shared.keys())]
    problems += [f"{name}: protocol.h {shared[name]!r}, protocol.py {python[name]!r}"
                 for name in sorted(shared.keys() & python.keys()) if shared[name] != python[name]]
    header_boards = {mcu: protocol.BoardLimits(d.get("BOARD_CODE"), d.get("MODEL_CAPACITY"), d.get("WIDEST_LAYER"))
                     for mcu, d in boards.items()}
    if header_boards != protocol.BOARD_LIMITS:
        problems.append(f"board limits: protocol.h {header_boards}, protocol.py {protocol.BOARD_LIMITS}")
    if other.get("BOARD_CODE") != protocol.OTHER_BOARD_CODE:
        problems.append(f"other boards' code: protocol.h {other.get('BOARD_CODE')}, "
                        f"protocol.py {protocol.OTHER_BOARD_CODE}")
    return problems


def test_protocol_h_and_protocol_py_agree():
    assert differences(HEADER.read_text()) == []


def test_the_status_codes_are_the_same_list_in_the_same_order():
    shared, _, _ = parse_header(HEADER.read_text())
    enum = [(name, value) for name, value in shared.items() if name == "OK" or name.startswith("E_")]
    assert enum == [(status.name, int(status)) for status in protocol.Status]


@pytest.mark.parametrize("edit, expected", [
    (("#define MAX_REQUEST_PAYLOAD 59", "#define MAX_REQUEST_PAYLOAD 60"), "MAX_REQUEST_PAYLOAD: protocol.h 60"),
    (("#define UPLOAD_IDLE_TIMEOUT_MS 2000", ""), "UPLOAD_IDLE_TIMEOUT_MS only in protocol.py"),
    (("#define CMD_PREDICT 0x50", "#define CMD_PREDICT 0x50\n#define CMD_RESET 0x52"), "CMD_RESET only in protocol.h"),
    (("E_EEPROM = 0x10,", "E_EEPROM = 0x10,\n  E_BUSY = 0x11,"), "E_BUSY only in protocol.h"),
    (("E_TOO_BIG = 0x06", "E_TOO_BIG = 0x16"), "E_TOO_BIG: protocol.h 22, protocol.py 6"),
    (('#define BLOB_MAGIC "BNGO"', '#define BLOB_MAGIC "BING"'), "BLOB_MAGIC: protocol.h b'BING'"),
    (("#define MODEL_CAPACITY 1020", "#define MODEL_CAPACITY 1000"), "board limits"),
])
def test_a_drift_on_either_side_is_caught(edit, expected):
    """The comparison itself has teeth: each edit of the header is reported."""
    old, new = edit
    text = HEADER.read_text()
    assert old in text
    assert any(line.startswith(expected) for line in differences(text.replace(old, new))), expected


def test_host_only_rules_have_no_twin():
    shared, _, _ = parse_header(HEADER.read_text())
    floats = {name for name, value in vars(protocol).items() if name.isupper() and isinstance(value, float)}
    assert floats <= set(protocol.HOST_ONLY)
    assert all(hasattr(protocol, name) and name not in shared for name in protocol.HOST_ONLY)


def test_every_error_status_has_one_exception_with_its_code():
    assert set(protocol.STATUS_ERRORS) == set(protocol.Status) - {protocol.Status.OK}
    assert len(set(protocol.STATUS_ERRORS.values())) == len(protocol.STATUS_ERRORS)
    for status, error in protocol.STATUS_ERRORS.items():
        assert error.code == status and issubclass(error, protocol.BoardError)


def test_crc_and_identify_layout_follow_the_spec():
    assert protocol.crc16(b"123456789") == 0x29B1   # §1 check value
    assert protocol.IDENTIFY_ANSWER.size == protocol.IDENTIFY_ANSWER_BYTES
    assert protocol.request_frame(protocol.CMD_IDENTIFY) == bytes([0xA5, 0x49, 0x00]) + \
        protocol.crc16(b"\x49\x00").to_bytes(2, "little")
