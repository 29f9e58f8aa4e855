"""One budget per key for the whole host (docs/architecture.md §4), tested as users deploy.

Real processes and threads, real sockets and real time: the loopback emulator enforces
the API's bucket (20/s, burst 5) and counts every 429 it answers. Each test also runs a
control with per-process budgets, which must draw 429s: that shows the test can fail.
"""

from __future__ import annotations

import asyncio
import os
import struct
import sys
import textwrap
import time
from pathlib import Path

import pytest

from refold_async import AsyncRefold, HostRateLimiter, LocalRateLimiter, RateLimit
from refold_async._ratelimit import default_state_dir
from refold_async.testing import Emulator
from refold_sync import Refold

KEY = "tk_host_budget_test_key_0123456789"
CALLS = 30  # per side
# The clients keep to 15/s against the emulator's 20/s: a loaded test machine delays how
# the in-loop server reads requests, and the margin keeps that from showing as 429s. One
# shared budget stays under the server's; two budgets (30/s) overshoot it.
CLIENT_RATE = RateLimit(per_second=15, burst=5)

CHILD = textwrap.dedent(
    """
    import asyncio, sys, time
    from refold_async import AsyncRefold, LocalRateLimiter, RateLimit

    async def main(url, start, calls, scope):
        rate = RateLimit(per_second=15, burst=5)
        limiter = LocalRateLimiter(rate) if scope == "process" else None
        async with AsyncRefold(
            api_key=sys.argv[5], base_url=url, rate_limit=rate, rate_limiter=limiter
        ) as client:
            await asyncio.sleep(max(start - time.monotonic(), 0))
            results = await asyncio.gather(
                *(client.webhooks.list() for _ in range(calls)), return_exceptions=True
            )
        print(sum(not isinstance(r, BaseException) for r in results))

    asyncio.run(main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]))
    """
)


async def run_children(url: str, scope: str, processes: int) -> list[int]:
    """Start `processes` children that fire their calls at the same instant."""
    start = time.monotonic() + 1.5  # CLOCK_MONOTONIC: one clock for every process here
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHILD,
            url,
            str(start),
            str(CALLS),
            scope,
            KEY,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(processes)
    ]
    outputs = await asyncio.wait_for(asyncio.gather(*(c.communicate() for c in children)), 60)
    return [int(out.decode().strip()) for out, _ in outputs]


@pytest.mark.parametrize(("scope", "shared"), [("host", True), ("process", False)])
async def test_processes_with_one_key_share_one_budget(scope: str, shared: bool) -> None:
    """Two processes, one key, default limiter: one budget, no 429 (per-process: 429s)."""
    emulator = Emulator(api_keys=[KEY])
    async with emulator.server() as server:
        done = await run_children(server.url, scope, processes=2)
    assert done == [CALLS, CALLS]  # every call succeeded (429s, if any, were retried)
    stats = emulator.stats
    if shared:
        assert stats.rate_limited == 0
        assert stats.total.max_per_instant <= 5
    else:
        assert stats.rate_limited > 0  # the control: two budgets overshoot the server's


@pytest.mark.parametrize(("scope", "shared"), [("host", True), ("process", False)])
async def test_a_sync_and_an_async_client_in_one_process_share_one_budget(
    scope: str, shared: bool
) -> None:
    """`Refold` (its loop thread, 4 caller threads) and `AsyncRefold` (this loop), one key."""
    emulator = Emulator(api_keys=[KEY])
    limiter = HostRateLimiter(CLIENT_RATE) if shared else LocalRateLimiter(CLIENT_RATE)
    async with emulator.server() as server:
        sync = Refold(api_key=KEY, base_url=server.url, rate_limiter=limiter)
        try:
            async with AsyncRefold(
                api_key=KEY, base_url=server.url, rate_limiter=limiter
            ) as client:
                # One call each first: the first call imports the models, and an import
                # on the sync loop thread holds the GIL long enough to stall this loop's
                # server, which then reads a bunch of requests at once. Warm, the server
                # sees the requests when they leave.
                await asyncio.to_thread(sync.webhooks.list)
                await client.webhooks.list()
                sync_calls = [asyncio.to_thread(sync.webhooks.list) for _ in range(CALLS)]
                async_calls = [client.webhooks.list() for _ in range(CALLS)]
                results = await asyncio.gather(*sync_calls, *async_calls, return_exceptions=True)
        finally:
            await asyncio.to_thread(sync.close)
    assert [r for r in results if isinstance(r, BaseException)] == []
    if shared:
        assert emulator.stats.rate_limited == 0
    else:
        assert emulator.stats.rate_limited > 0


def test_bucket_files_are_private_and_not_named_after_the_secret(tmp_path: Path) -> None:
    """Mode 0700 directory, 0600 files, names that are hashes: never the key."""
    directory = tmp_path / "buckets"
    limiter = HostRateLimiter(RateLimit(), directory=directory)
    bucket = f"https://app.refold.ai#{KEY}"  # even a key in the bucket name stays hidden
    asyncio.run(limiter.acquire(bucket))
    assert directory.stat().st_mode & 0o777 == 0o700
    (state,) = directory.iterdir()
    assert state.stat().st_mode & 0o777 == 0o600
    assert KEY not in state.name
    assert KEY.encode() not in state.read_bytes()
    assert limiter.scope == "host"


def test_an_unusable_directory_falls_back_to_process_scope_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A read-only or foreign directory: one warning, then a working per-process budget."""
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    limiter = HostRateLimiter(RateLimit(per_second=1000, burst=5), directory=blocked / "sub")

    async def main() -> None:
        for _ in range(10):
            await limiter.acquire("k")

    with caplog.at_level("WARNING", logger="refold.ratelimit"):
        asyncio.run(main())
    assert limiter.scope == "process"
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1


def test_the_default_directory_is_per_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """`REFOLD_RATE_LIMIT_DIR` wins; else the runtime dir; names carry the uid, not the key."""
    monkeypatch.setenv("REFOLD_RATE_LIMIT_DIR", "/somewhere/else")
    assert default_state_dir() == Path("/somewhere/else")
    monkeypatch.delenv("REFOLD_RATE_LIMIT_DIR")
    monkeypatch.setenv("XDG_RUNTIME_DIR", os.getcwd())
    assert default_state_dir() == Path(os.getcwd()) / "refold-ratelimit"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert str(os.getuid()) in default_state_dir().name


def test_a_stale_file_from_before_a_reboot_is_read_as_empty(tmp_path: Path) -> None:
    """A TAT far in the future (the monotonic clock restarted) does not stall the host."""
    limiter = HostRateLimiter(RateLimit(), directory=tmp_path)

    async def main() -> float:
        await limiter.acquire("k")
        (state,) = tmp_path.iterdir()  # noqa: ASYNC240 - a test, one tiny directory
        state.write_bytes(struct.pack("<ddQ", time.monotonic() + 10**7, 0.0, 1))
        began = time.monotonic()
        await limiter.acquire("k")
        return time.monotonic() - began

    assert asyncio.run(main()) < 1.0
