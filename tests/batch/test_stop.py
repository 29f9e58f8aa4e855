"""Stopping a batch: cancellation, Ctrl-C and SIGTERM (graceful, bounded), and resume."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from refold_async import AsyncRefold, BatchInterrupted, ItemState, RateLimit
from refold_async.testing import BASE_URL
from refold_sync import Refold

from .support import NO_BACKOFF, RecordingEmulator, create_account, last_states, make_client

pytestmark = pytest.mark.anyio  # the backend matrix: asyncio and trio (tests/conftest.py)

KEYS = [f"k{i:03d}" for i in range(40)]


def _slow_posts(seconds: float = 0.05) -> RecordingEmulator:
    emulator = RecordingEmulator(rate_limit=None)
    emulator.faults.add(delay=seconds, count=None, method="POST")
    return emulator


async def job(client: AsyncRefold, key: str) -> str:
    """The job of these tests: one POST per item; a hook may act before it."""
    before = HOOK.get(key)
    if before is not None:
        before()
    return await create_account(client, key)


HOOK: dict[str, Callable[[], object]] = {}


@pytest.fixture(autouse=True)
def _no_hooks() -> None:
    HOOK.clear()


async def _resume_and_check(
    emulator: RecordingEmulator, journal: Path, in_flight: set[str]
) -> None:
    emulator.faults.clear()
    HOOK.clear()
    async with make_client(emulator) as client:
        report = await client.batch(KEYS, job, journal=journal)
    assert {r.key for r in report.unknown} == in_flight
    done = report.counts[ItemState.SKIPPED] + report.counts[ItemState.SUCCEEDED]
    assert done + len(in_flight) == len(KEYS)
    assert max(emulator.effects("POST", "name of k").values()) == 1, "a POST took effect twice"


async def test_cancelling_the_batch_propagates_and_resume_sends_nothing_twice(
    tmp_path: Path,
) -> None:
    """A cancelled batch cancels its items, records their in-flight POSTs as unknown and
    re-raises the cancellation; a resume finishes the rest."""
    # POSTs of 0.2 s: the 29 items after the cancel would need 1.5 s, far more than a
    # loaded machine takes to deliver the cancellation.
    emulator = _slow_posts(seconds=0.2)
    journal = tmp_path / "job.jsonl"
    with anyio.CancelScope() as scope:
        HOOK["k010"] = scope.cancel
        async with make_client(emulator) as client:
            await client.batch(KEYS, job, journal=journal, max_in_flight=4, progress=False)
    assert scope.cancelled_caught
    states = last_states(journal)
    unknown = {k for k, s in states.items() if s == "unknown"}
    assert unknown, "nothing was in flight at the cancellation: nothing tested"
    assert "in_flight" not in states.values()
    assert len(states) < len(KEYS)
    await _resume_and_check(emulator, journal, unknown)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_a_signal_stops_taking_items_and_drains(signum: int, tmp_path: Path) -> None:
    """The first signal: no new items, those in flight finish, `BatchInterrupted` carries
    the report, the old handler is back; a resume does the rest."""
    emulator = _slow_posts()
    journal = tmp_path / "job.jsonl"
    before = signal.getsignal(signum)
    HOOK["k005"] = lambda: signal.raise_signal(signum)
    async with make_client(emulator) as client:
        with pytest.raises(BatchInterrupted) as caught:
            await client.batch(KEYS, job, journal=journal, max_in_flight=4, progress=False)
    report = caught.value.report
    assert report.stopped_by == signal.Signals(signum).name
    assert report.interrupted == 0  # every item in flight was waited for
    assert 6 <= report.counts[ItemState.SUCCEEDED] < len(KEYS)
    assert report.counts[ItemState.SUCCEEDED] == len(last_states(journal))
    assert "stopped" in report.summary()
    assert signal.getsignal(signum) is before
    await _resume_and_check(emulator, journal, set())


async def test_in_flight_posts_past_the_drain_timeout_end_unknown(tmp_path: Path) -> None:
    """With no time to drain, items still in flight are cancelled: their POSTs are unknown."""
    emulator = _slow_posts(seconds=5.0)
    journal = tmp_path / "job.jsonl"
    HOOK["k003"] = lambda: signal.raise_signal(signal.SIGINT)

    with anyio.fail_after(4.0):  # the 5 s POSTs are not waited for
        async with make_client(emulator) as client:
            with pytest.raises(BatchInterrupted) as caught:
                await client.batch(KEYS, job, journal=journal, max_in_flight=4, drain_timeout=0.0)
    unknown = {r.key for r in caught.value.report.unknown}
    assert unknown == {"k000", "k001", "k002", "k003"}
    await _resume_and_check(emulator, journal, unknown)


async def test_a_second_signal_stops_waiting(tmp_path: Path) -> None:
    """Ctrl-C twice: the drain is cut short at once, whatever `drain_timeout` says."""
    emulator = _slow_posts(seconds=5.0)
    HOOK["k001"] = lambda: (signal.raise_signal(signal.SIGINT), signal.raise_signal(signal.SIGINT))

    with anyio.fail_after(4.0):
        async with make_client(emulator) as client:
            with pytest.raises(BatchInterrupted) as caught:
                await client.batch(KEYS, job, max_in_flight=2, drain_timeout=60.0)
    assert caught.value.report.counts[ItemState.UNKNOWN] == 2


def test_ctrl_c_stops_a_sync_batch_gracefully(tmp_path: Path) -> None:
    """On the blocking face the caller's thread gets the signal; the loop drains."""
    emulator = _slow_posts()
    journal = tmp_path / "job.jsonl"

    def sync_job(client: Refold, key: str) -> None:
        if key == "k005":  # process-directed, as a terminal's Ctrl-C: the main thread gets it
            os.kill(os.getpid(), signal.SIGINT)
        client.linked_accounts.create(linked_account_id=key, name=f"name of {key}")

    client = Refold(
        api_key=emulator.api_key, base_url=BASE_URL, http_client=emulator.http_client(),
        rate_limit=RateLimit(per_second=1000, burst=20), retry=NO_BACKOFF,
    )  # fmt: skip
    with client, pytest.raises(BatchInterrupted) as caught:
        client.batch(KEYS, sync_job, journal=journal, max_in_flight=3)
    report = caught.value.report
    assert report.stopped_by == "SIGINT"
    assert 6 <= report.counts[ItemState.SUCCEEDED] < len(KEYS)
    assert report.interrupted == 0


async def test_a_cancelled_batch_takes_no_more_items_when_room_frees_at_once() -> None:
    """Items that end without waiting free room at once, so the producer never waits on
    a room that is not free: it must still see the cancel before taking the next item.
    (Without that check, 5 items started after the cancel here, in every run.)"""
    started: list[str] = []

    async def instant(client: AsyncRefold, key: str) -> str:
        started.append(key)
        if key == "k010":
            scope.cancel()
        return key

    with anyio.CancelScope() as scope:
        async with make_client(RecordingEmulator(rate_limit=None)) as client:
            await client.batch(KEYS, instant, max_in_flight=4, progress=False)
    assert scope.cancelled_caught
    after_cancel = started[started.index("k010") + 1 :]
    assert len(after_cancel) < 4, after_cancel  # only items already handed over, if any
