"""Batches across real processes, against the loopback emulator with scaled-up limits:
resume after a `kill -9` duplicates nothing, and shards share one budget."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from refold_async import AsyncRefold, BatchReport, ItemState, RateLimit

from .support import TEST_KEY, RecordingEmulator, create_account, journal_records, last_states

ROOT = Path(__file__).resolve().parents[2]
KEY_COUNT = 90


def _child(url: str, journal: Path, *extra: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "tests.batch.child", url, str(journal), str(KEY_COUNT), *extra]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # noqa: S603 - our own module


async def _wait_for(condition: Any, seconds: float = 30.0) -> None:
    with anyio.fail_after(seconds):
        while not condition():  # noqa: ASYNC110 - another process writes the file: poll it
            await anyio.sleep(0.02)


def _succeeded(journal: Path) -> int:
    if not journal.exists():
        return 0
    return sum(1 for state in last_states(journal).values() if state == "succeeded")


async def test_resume_after_kill_9_sends_no_post_twice(tmp_path: Path) -> None:
    """Killed mid-run with POSTs in flight, the job resumes: the rest succeed, the POSTs
    that were in flight are `unknown` (not sent again), and no POST took effect twice."""
    emulator = RecordingEmulator(rate_limit=None)
    emulator.faults.add(delay=0.05, count=None, method="POST")  # POSTs stay in flight a while
    journal = tmp_path / "job.jsonl"
    async with emulator.server() as server:
        child = _child(server.url, journal)
        try:
            await _wait_for(lambda: _succeeded(journal) >= 20)
            os.kill(child.pid, signal.SIGKILL)
        finally:
            await anyio.to_thread.run_sync(child.communicate)
        assert child.returncode == -signal.SIGKILL
        states = last_states(journal)
        in_flight = {k for k, s in states.items() if s == "in_flight"}
        done = {k for k, s in states.items() if s == "succeeded"}
        assert in_flight, "the kill found no POST in flight: nothing tested"
        assert not any(r["type"] == "end" for r in journal_records(journal))

        emulator.faults.clear()
        async with AsyncRefold(
            api_key=TEST_KEY, base_url=server.url, rate_limit=RateLimit(per_second=500, burst=10)
        ) as client:
            keys = [f"k{i:05d}" for i in range(KEY_COUNT)]
            report = await client.batch(keys, create_account, journal=journal)
    assert {r.key for r in report.unknown} == in_flight
    assert report.counts[ItemState.SKIPPED] == len(done)
    assert report.counts[ItemState.SUCCEEDED] == KEY_COUNT - len(done) - len(in_flight)
    effects = emulator.effects("POST", "name of k")
    assert max(effects.values()) == 1, "a POST took effect twice"
    assert set(effects) >= {f"name of {k}" for k in done}
    assert BatchReport.from_journal(journal).counts[ItemState.UNKNOWN] == len(in_flight)


def _redis_or_skip() -> None:
    redis = pytest.importorskip("redis", reason="the `redis` extra is not installed")
    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=0.5).ping()
    except Exception as exc:
        if os.environ.get("REFOLD_REQUIRE_REDIS"):
            raise
        pytest.skip(f"no Redis server on 127.0.0.1:6379: {exc!r}")


async def test_four_shard_processes_share_one_budget(tmp_path: Path) -> None:
    """Four processes, one key, `shard=(i, 4)` and a Redis limiter: every item runs in
    exactly one shard, and together they stay inside the budget the emulator enforces."""
    _redis_or_skip()
    per_second, burst = 30.0, 6
    emulator = RecordingEmulator(rate_limit=(per_second, burst))
    prefix = f"refold:test:shards:{os.getpid()}:{id(tmp_path)}:"
    journals = [tmp_path / f"shard-{i}.jsonl" for i in range(4)]
    async with emulator.server() as server:
        children = [
            _child(
                server.url, journal, "--shard", str(i), "4", "--redis", prefix,
                "--rate", str(per_second), str(burst), "--upsert",
            )
            for i, journal in enumerate(journals)
        ]  # fmt: skip
        for child in children:
            _, errors = await anyio.to_thread.run_sync(child.communicate)
            assert child.returncode == 0, errors.decode()
    reports = [BatchReport.from_journal(j) for j in journals]
    merged = BatchReport.merge(*reports)
    assert merged.counts[ItemState.SUCCEEDED] == KEY_COUNT
    assert all(r.counts[ItemState.SUCCEEDED] > 0 for r in reports)
    # Four per-process budgets would send 4 x 30/s at a 30/s server: about 3 in 4 refused.
    # One shared budget draws at most a few 429s, from departures bunched by scheduling
    # jitter on a loaded machine (docs/architecture.md §4, "pace by departure"), each retried: every
    # item's PUT was admitted exactly once.
    assert emulator.stats.rate_limited <= KEY_COUNT // 20
    assert emulator.stats.requests == KEY_COUNT + emulator.stats.rate_limited
