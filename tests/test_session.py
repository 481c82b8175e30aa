"""Board jobs and the page transport without a browser: which thread a conversation runs in, what `await` and
result() do, and that the page's board refuses the kernel's main thread at once instead of hanging.

The page's Uno itself (avr8js in Chromium) is proven in tests/test_browser_page_uno.py; here its page side is
played by calls to the handler that comm messages reach (PageUno._from_page).
"""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from bingo_kit.board.page import NoPageError, PageNeedsAwaitError, PageUno
from bingo_kit.board.session import BoardJob, needs_own_thread, run_on_board
from bingo_kit.errors import KitError


def test_a_usb_or_simavr_board_job_has_finished_when_the_call_returns():
    threads = []
    job = run_on_board("sim", lambda: threads.append(threading.current_thread()) or 42)
    assert job.done() and job.result() == 42 and threads == [threading.main_thread()]


def test_a_failed_job_keeps_its_error_for_await_and_never_raises_into_a_button_click():
    def fails():
        raise KitError("the board said no")

    job = run_on_board("/dev/ttyACM0", fails)   # a click handler calling this must not see an exception
    assert job.done() and str(job.exception()) == "the board said no"
    with pytest.raises(KitError, match="the board said no"):
        asyncio.run(_await(job))


async def _await(job):
    return await job


def test_a_page_board_job_runs_in_the_boards_own_thread_one_at_a_time():
    assert needs_own_thread("page") and needs_own_thread("page://uno") and not needs_own_thread("sim")
    names, order = [], []
    release = threading.Event()

    def first():
        names.append(threading.current_thread().name)
        release.wait(5)
        order.append("first")

    def second():
        order.append("second")
        return "done"

    one, two = run_on_board("page", first), run_on_board("page", second)
    assert not one.done()                      # returned at once: the kernel's main thread stays free
    with pytest.raises(PageNeedsAwaitError, match="await"):
        two.result()                           # waiting here would keep the page's answers out
    release.set()
    assert asyncio.run(_await(two)) == "done"
    assert order == ["first", "second"] and names[0].startswith("board page")


def test_a_finished_job_can_be_awaited_for_its_value():
    assert asyncio.run(_await(BoardJob.finished(7))) == 7


@pytest.fixture
def page_uno(monkeypatch):
    monkeypatch.setattr("bingo_kit.board.page.receiver_hex", lambda board="uno": ":00000001FF\n")
    board = PageUno("test")
    board.sent = []
    monkeypatch.setattr(board, "send", lambda content, buffers=None: board.sent.append((content, buffers)))
    yield board
    board.close()


def _in_thread(work):
    result = {}

    def run():
        try:
            result["value"] = work()
        except BaseException as error:  # noqa: BLE001 - handed back to the test
            result["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_reading_the_page_board_on_the_main_thread_refuses_at_once(page_uno):
    started = time.monotonic()
    with pytest.raises(PageNeedsAwaitError, match="await"):
        page_uno.read(6, timeout=10.0)
    assert time.monotonic() - started < 0.5    # no waiting for bytes that could never come


def test_without_a_page_the_board_says_to_open_the_notebook_in_a_browser(page_uno):
    thread, result = _in_thread(lambda: page_uno.wait_for_page(seconds=1.5))
    thread.join(5)
    assert isinstance(result.get("error"), NoPageError)
    assert "open in JupyterLab" in str(result["error"])
    assert {"type": "ping"} in [content for content, _ in page_uno.sent]   # it asked a page that loaded earlier


def test_bytes_from_the_page_reach_a_reader_in_the_boards_thread(page_uno):
    page_uno._from_page(page_uno, {"type": "hello", "boot": "a"}, [])
    thread, result = _in_thread(lambda: page_uno.read(4, timeout=5.0))
    time.sleep(0.1)
    page_uno._from_page(page_uno, {"type": "bytes"}, [b"\x5a\x49"])
    page_uno._from_page(page_uno, {"type": "bytes"}, [b"\x00\x16\xff"])
    thread.join(5)
    assert result == {"value": b"\x5a\x49\x00\x16"} and page_uno.waiting() == 1


def test_a_new_power_on_forgets_the_bytes_of_the_old_one(page_uno):
    page_uno._from_page(page_uno, {"type": "hello", "boot": "a"}, [])
    page_uno._from_page(page_uno, {"type": "bytes"}, [b"\x5a\x49"])
    page_uno._from_page(page_uno, {"type": "hello", "boot": "b"}, [])   # the page was reloaded
    assert page_uno.waiting() == 0 and page_uno.boot == "b"


def test_time_outs_stretch_when_the_pages_simulation_runs_slow(page_uno):
    assert page_uno.time_scale == 1.0                       # not reported yet: a real Uno's
    page_uno._from_page(page_uno, {"type": "speed", "mhz": 4.0}, [])
    assert page_uno.time_scale == pytest.approx(4.0)        # 16 MHz ÷ 4
    page_uno._from_page(page_uno, {"type": "speed", "mhz": 40.0}, [])
    assert page_uno.time_scale == 1.0                       # never shorter than a real board's
