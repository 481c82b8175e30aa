"""A conversation with a board, run in the thread where its answers can arrive.

The Simulated Uno in the notebook page (bingo_kit.board.page) answers through comm messages, which the kernel
handles only while its main thread is free: a conversation with it runs in a thread of its own, one per board,
one conversation at a time, and returns at once. Every other board (a USB port, simavr's pty) answers whatever
the main thread does, so its conversations run at once in the caller's thread: a button pressed from code has
finished when click() returns, as it always had.

Either way the caller gets a BoardJob: `await job` in a notebook cell (ipykernel ≥ 7.4 handles comm messages
while a cell awaits), or `job.result()` where blocking is harmless. A job that failed holds its error; awaiting it
raises that error (one sentence, a KitError) in the cell.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, Callable

from bingo_kit.board.page import PageNeedsAwaitError

_LINES: dict[str, concurrent.futures.ThreadPoolExecutor] = {}  # port -> the one thread that talks to it
_LINES_LOCK = threading.Lock()


def needs_own_thread(port: str) -> bool:
    """Whether talking to `port` must leave the kernel's main thread free (the page's board)."""
    return port in ("page", "web-serial") or str(port).startswith("page://")


class BoardJob:
    """A conversation with a board: done already, or running in the board's thread. `await job` for its result."""

    def __init__(self, future: concurrent.futures.Future, port: str):
        self._future = future
        self.port = port

    @classmethod
    def finished(cls, value: Any = None, port: str = "") -> BoardJob:
        """A job with nothing left to do (no board to ask): awaiting it gives `value` at once."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        future.set_result(value)
        return cls(future, port)

    def done(self) -> bool:
        return self._future.done()

    def result(self, timeout: float | None = None) -> Any:
        """The job's result (or its error, raised). On the kernel's main thread a job for the page's board must be
        awaited instead: its answers could only arrive after this call returned."""
        if not self._future.done() and threading.current_thread() is threading.main_thread():
            raise PageNeedsAwaitError(
                "The Simulated Uno in the page answers only while the notebook waits for it: write `await` in "
                "front of this call, e.g. `await flasher.flash()`.")
        return self._future.result(timeout)

    def exception(self) -> BaseException | None:
        return self._future.exception() if self._future.done() else None

    def add_done_callback(self, callback: Callable[[BoardJob], None]) -> None:
        self._future.add_done_callback(lambda _: callback(self))

    def __await__(self):
        return asyncio.wrap_future(self._future).__await__()

    def __repr__(self) -> str:
        if not self._future.done():
            return f"<{self.port}: the board is still working; `await` this to wait for it>"
        error = self._future.exception()
        return f"<{self.port}: failed: {error}>" if error else f"<{self.port}: done>"


def run_on_board(port: str, work: Callable[..., Any], *args, **kwargs) -> BoardJob:
    """Run `work(*args, **kwargs)` as one conversation with the board at `port` (see the module docstring)."""
    future: concurrent.futures.Future = concurrent.futures.Future()
    if not needs_own_thread(port):
        try:
            future.set_result(work(*args, **kwargs))
        except Exception as error:  # noqa: BLE001 - kept in the job: `await` raises it, a button shows it
            future.set_exception(error)
        return BoardJob(future, port)
    with _LINES_LOCK:
        line = _LINES.get(port)
        if line is None:
            line = _LINES[port] = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"board {port}")
    return BoardJob(line.submit(work, *args, **kwargs), port)
