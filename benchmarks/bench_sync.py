"""Wall time per call: the sync face (`Refold`) against the async face (`AsyncRefold`).

Both make the same generated call, `linked_accounts.retrieve("acct_1")`, through an
`httpx.MockTransport` answering the same JSON, with the limiter off (`rate_limit=None`),
in the same run, rounds alternating. The async face awaits in the main thread's loop;
the sync face blocks the main thread while its loop thread does the same work, so the
difference is the cross-thread hop (docs/architecture.md §8; target: sync <= 1.5 x async). Wall time,
not CPU time: the hop costs latency, and CPU time would add both threads together.

Run: `python benchmarks/bench_sync.py [--calls N] [--rounds N]` or `nox -s bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from refold_async import AsyncRefold
from refold_sync import Refold

KEY = "tk_bench_0000000000000000"
BASE = "https://bench.refold.invalid"
BODY = {
    "_id": "acct_1",
    "account_id": "acct_1",
    "name": "Acme",
    "environment": "test",
    "createdAt": "2026-01-01T00:00:00Z",
    "udf": [],
}
WARM_UP = 200
CHUNK = 250
"""Calls per timed block. The faces' blocks alternate and each ratio compares adjacent
blocks, so load from elsewhere on the machine hits both alike; medians drop spikes."""


def handler(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=BODY)


def mock_http() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def time_sync(call: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        call()
    return time.perf_counter() - start


async def time_async(call: Callable[[], Awaitable[object]], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        await call()
    return time.perf_counter() - start


def paired_blocks(
    loop: asyncio.AbstractEventLoop, sdk: AsyncRefold, client: Refold, calls: int
) -> list[tuple[float, float]]:
    """Microseconds per call of each face, block by block, the faces' blocks alternating."""
    pairs: list[tuple[float, float]] = []
    for _ in range(max(1, calls // CHUNK)):
        async_s = loop.run_until_complete(
            time_async(lambda: sdk.linked_accounts.retrieve("acct_1"), CHUNK)
        )
        sync_s = time_sync(lambda: client.linked_accounts.retrieve("acct_1"), CHUNK)
        pairs.append((async_s / CHUNK * 1e6, sync_s / CHUNK * 1e6))
    return pairs


def main(calls: int, rounds: int) -> None:
    loop = asyncio.new_event_loop()
    sdk = AsyncRefold(api_key=KEY, base_url=BASE, rate_limit=None, http_client=mock_http())
    ratios: list[float] = []
    with Refold(api_key=KEY, base_url=BASE, rate_limit=None, http_client=mock_http()) as client:
        loop.run_until_complete(time_async(lambda: sdk.linked_accounts.retrieve("acct_1"), WARM_UP))
        time_sync(lambda: client.linked_accounts.retrieve("acct_1"), WARM_UP)
        for _ in range(rounds):
            pairs = paired_blocks(loop, sdk, client, calls)
            async_us = statistics.median(a for a, _ in pairs)
            sync_us = statistics.median(s for _, s in pairs)
            ratio = statistics.median(s / a for a, s in pairs)  # adjacent blocks: drift cancels
            ratios.append(ratio)
            print(
                f"AsyncRefold {async_us:7.1f} µs/call   Refold {sync_us:7.1f} µs/call   ratio {ratio:.2f}"
            )
    loop.run_until_complete(sdk.aclose())
    loop.close()
    print(
        f"| Wall time per call, Refold vs AsyncRefold | {calls} calls x {rounds} rounds | "
        f"median ratio {statistics.median(ratios):.2f} (target <= 1.50) |"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    main(args.calls, args.rounds)
