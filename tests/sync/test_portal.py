"""The loop thread of `refold_sync._portal`: dispatch, errors, cancellation, guards."""

from __future__ import annotations

import asyncio
import signal
import threading
import traceback
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from refold_async import NotFoundError, RefoldUsageError
from refold_sync import _portal
from tests.sync.support import outcome_within


class CallerTimeout(Exception):
    """What a caller-side (signal-based) timeout raises in the waiting thread."""


async def double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


async def loop_thread_name() -> str:
    return threading.current_thread().name


async def not_found() -> None:
    await asyncio.sleep(0)
    raise NotFoundError("gone", status=404, method="GET", path="/x")


def test_run_returns_the_coroutine_result() -> None:
    """`run()` awaits on the loop thread and returns the value in the caller's thread."""
    assert _portal.run(double, 21) == 42


def test_every_thread_shares_one_loop_thread() -> None:
    """Calls from many threads all run on the one loop thread of the process."""
    with ThreadPoolExecutor(8) as pool:
        names = set(pool.map(lambda _: _portal.run(loop_thread_name), range(32)))
    assert names == {"refold-sync-loop"}


def test_errors_keep_their_class_and_async_frames() -> None:
    """An exception from the coroutine is re-raised as itself, async frames included."""
    with pytest.raises(NotFoundError) as info:
        _portal.run(not_found)
    assert type(info.value) is NotFoundError
    assert info.value.__cause__ is None
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "not_found" in frames
    assert frames.index("test_errors_keep_their_class_and_async_frames") < frames.index("not_found")


async def test_works_inside_a_running_event_loop() -> None:
    """From a coroutine, a call runs on the loop thread, not on the caller's loop."""
    assert _portal.run(double, 4) == 8
    callers_loop = asyncio.get_running_loop()

    async def which_loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    assert _portal.run(which_loop) is not callers_loop


def test_a_call_on_the_loop_thread_raises_instead_of_deadlocking() -> None:
    """Calling the facade from the loop thread itself is refused with a clear error."""

    async def reenter() -> int:
        return _portal.run(double, 1)

    error = outcome_within(10, lambda: _portal.run(reenter))
    assert isinstance(error, RefoldUsageError)
    assert "own event-loop thread" in str(error)


@pytest.fixture
def blocker() -> Iterator[tuple[threading.Event, threading.Event]]:
    """A coroutine that waits forever; events tell when it started and when it was cancelled."""
    entered, cancelled = threading.Event(), threading.Event()
    yield entered, cancelled
    assert _portal.run(double, 1) == 2  # the loop is still usable afterwards


def _wait_forever(
    entered: threading.Event, cancelled: threading.Event
) -> Callable[[], Coroutine[Any, Any, None]]:
    async def wait() -> None:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    return wait


def _signal_main_when(entered: threading.Event, signum: int) -> threading.Thread:
    """Deliver `signum` to the main thread once `entered` is set."""
    main = threading.main_thread().ident
    assert main is not None

    def fire() -> None:
        if entered.wait(10):
            signal.pthread_kill(main, signum)

    thread = threading.Thread(target=fire, daemon=True)
    thread.start()
    return thread


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals")
def test_ctrl_c_while_waiting_cancels_the_task(
    blocker: tuple[threading.Event, threading.Event],
) -> None:
    """Ctrl-C in the waiting caller cancels the coroutine on the loop thread."""
    entered, cancelled = blocker
    helper = _signal_main_when(entered, signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        _portal.run(_wait_forever(entered, cancelled))
    helper.join(10)
    assert cancelled.wait(10)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals")
def test_a_caller_side_timeout_cancels_the_task(
    blocker: tuple[threading.Event, threading.Event],
) -> None:
    """Any exception raised in the waiting caller (a signal-based timeout) cancels the task."""
    entered, cancelled = blocker

    def on_alarm(signum: int, frame: object) -> None:
        raise CallerTimeout

    previous = signal.signal(signal.SIGUSR1, on_alarm)
    try:
        helper = _signal_main_when(entered, signal.SIGUSR1)
        with pytest.raises(CallerTimeout):
            _portal.run(_wait_forever(entered, cancelled))
        helper.join(10)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert cancelled.wait(10)


def test_spawn_runs_without_waiting() -> None:
    """`spawn()` starts a coroutine on the loop thread and returns at once."""
    ran = threading.Event()

    async def mark() -> None:
        ran.set()

    _portal.spawn(mark)
    assert ran.wait(10)


def test_shutdown_cancels_in_flight_calls_and_a_new_loop_starts_on_demand() -> None:
    """Stopping the loop (as at exit) cancels running calls; the next call starts afresh."""
    entered, cancelled = threading.Event(), threading.Event()
    results: list[BaseException] = []

    def call() -> None:
        try:
            _portal.run(_wait_forever(entered, cancelled))
        except BaseException as exc:
            results.append(exc)

    _portal.run(double, 1)
    old = _portal._current
    caller = threading.Thread(target=call)
    caller.start()
    assert entered.wait(10)
    _portal.shutdown()
    caller.join(10)
    assert cancelled.is_set()
    assert len(results) == 1
    assert old is not None
    assert not old.thread.is_alive()
    assert old.closed  # its loop ended
    assert old.portal is not None
    with pytest.raises(RuntimeError):  # and its portal takes nothing more
        old.portal.start_task_soon(double, 1)
    assert _portal.run(double, 2) == 4
    assert _portal._current is not old


def test_an_interrupt_before_the_future_exists_still_cancels_the_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C landing inside the dispatch (the task queued, its future not yet returned):
    the call either never starts or is cancelled; it never runs on unattended."""
    entered, cancelled = threading.Event(), threading.Event()
    current = _portal._loop_thread()
    real_submit = type(current).submit

    def interrupted(self: Any, fn: Any, *args: Any) -> Any:
        real_submit(self, fn, *args)  # the task is queued on the loop ...
        raise KeyboardInterrupt  # ... and the caller is interrupted before its future

    monkeypatch.setattr(type(current), "submit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _portal.run(_wait_forever(entered, cancelled))
    monkeypatch.undo()
    for _ in range(3):  # a few loop turns: whatever was queued before has run
        assert _portal.run(double, 1) == 2
    assert not entered.is_set() or cancelled.is_set()
