"""Progress snapshots, text lines and the bar; in-flight sizing; a 10,000-item run."""

from __future__ import annotations

import io
import sys

import pytest

from refold_async import AsyncRefold, BatchProgress, ItemState, RateLimit
from refold_async.batch._progress import TextProgress, make_sink
from refold_async.batch._sizing import MAX_IN_FLIGHT, InFlightSizer

from .support import RecordingEmulator, make_client, upsert_account


async def test_progress_callback_sees_counts_budget_eta_and_a_final_snapshot() -> None:
    """Snapshots count up, carry the budget's ETA floor, and the last one says done."""
    emulator = RecordingEmulator(rate_limit=None)
    seen: list[BatchProgress] = []
    async with make_client(emulator, rate_limit=RateLimit(per_second=400, burst=10)) as client:
        emulator.faults.add(status=404, count=2, method="PUT")
        report = await client.batch(
            [f"k{i}" for i in range(300)], upsert_account, progress=seen.append
        )
    final = seen[-1]
    assert final.done
    assert (final.succeeded, final.failed, final.total) == (298, 2, 300)
    assert final.requests == report.requests == 300
    assert all(s.eta_floor is not None for s in seen)
    assert max(s.in_flight for s in seen) <= 10 + 400 // 4 + 1
    assert "300/300" in final.line()


def test_text_progress_writes_a_line_per_tenth() -> None:
    """Plain lines for logs: one per tenth of the job, and no repeat at the end."""
    stream = io.StringIO()
    lines = TextProgress(stream)
    for done in range(1, 21):
        lines(_snapshot(done, total=20))
    lines(_snapshot(20, total=20, done=True))
    text = stream.getvalue().splitlines()
    assert len(text) == 10
    assert text[-1].startswith("100%")


def _snapshot(succeeded: int, *, total: int | None, done: bool = False) -> BatchProgress:
    return BatchProgress(
        succeeded=succeeded, failed=0, unknown=0, skipped=0, duplicates=0, in_flight=1,
        total=total, elapsed=1.0, requests=succeeded, rate_limited=0,
        items_per_second=float(succeeded), eta=1.0, eta_floor=0.5, done=done,
    )  # fmt: skip


def test_progress_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off by default without a terminal; `True` gives lines then, a tqdm bar on one."""
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert make_sink(None, 10) is None
    assert make_sink(False, 10) is None
    assert type(make_sink(True, 10)).__name__ == "_Callback"
    with pytest.raises(TypeError, match="progress"):
        make_sink(3, 10)  # type: ignore[arg-type]
    pytest.importorskip("tqdm")
    terminal = io.StringIO()
    terminal.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr(sys, "stderr", terminal)
    bar = make_sink(None, 10)
    assert type(bar).__name__ == "_Bar"
    assert bar is not None
    bar.close(_snapshot(10, total=10, done=True))
    assert "ok 10" in terminal.getvalue()


def test_sizer_starts_from_the_budget_and_follows_the_items() -> None:
    """In flight: burst + a quarter second of the rate at first, then what keeps the
    limiter busy given each item's time outside the limiter and its requests."""
    sizer = InFlightSizer(RateLimit(per_second=20, burst=5))
    assert sizer.limit == 10
    sizer.observe(seconds=1.5, queued=0.5, requests=2)  # 1 s of service for 2 calls
    assert sizer.limit == 13 + 5  # ceil(20 * 1.0 / 2 * 1.25) + burst
    sizer.observe(seconds=30.0, queued=29.9, requests=1)  # queueing does not inflate it
    assert sizer.limit < 18
    assert InFlightSizer(None).limit == 32
    assert InFlightSizer(RateLimit(per_second=20, burst=5), fixed=3).limit == 3
    huge = InFlightSizer(RateLimit(per_second=100_000, burst=5))
    assert huge.limit == MAX_IN_FLIGHT


async def test_ten_thousand_items_on_a_scaled_up_limit() -> None:
    """10,000 items at 4,000/s: every one succeeds once, inside the budget the emulator
    enforces, with a bounded number in flight."""
    emulator = RecordingEmulator(rate_limit=(4000.0, 40))
    peak = 0

    def watch(snapshot: BatchProgress) -> None:
        nonlocal peak
        peak = max(peak, snapshot.in_flight)

    async def touch(client: AsyncRefold, key: str) -> None:
        await client.linked_accounts.upsert(linked_account_id=key)

    keys = (f"acct-{i:05d}" for i in range(10_000))  # a generator: no len(), taken lazily
    async with make_client(emulator, rate_limit=RateLimit(per_second=4000, burst=40)) as client:
        report = await client.batch(keys, touch, progress=watch, keep_values=False)
    assert report.counts[ItemState.SUCCEEDED] == 10_000
    assert report.results == ()
    assert emulator.stats.requests == 10_000 + emulator.stats.rate_limited
    assert emulator.stats.rate_limited <= 10
    assert peak <= MAX_IN_FLIGHT
