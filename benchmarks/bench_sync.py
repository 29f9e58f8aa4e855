"""Wall time per call: the sync face (`Refold`) against the async face (`AsyncRefold`).

Both make the same generated call, `linked_accounts.retrieve("acct_1")`, through an
`httpx.MockTransport` answering the same JSON, with the limiter off (`rate_limit=None`),
in the same run, rounds alternating. The async face awaits in the main thread's loop;
the sync face blocks the main thread while its loop thread does the same work, so the
difference is the cross-thread hop (DESIGN §8; target: sync <= 1.5 x async). Wall time,
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


def handler(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=BODY)


def mock_http() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def sync_us_per_call(call: Callable[[], object], calls: int) -> float:
    for _ in range(WARM_UP):
        call()
    start = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - start) / calls * 1e6


async def async_us_per_call(call: Callable[[], Awaitable[object]], calls: int) -> float:
    for _ in range(WARM_UP):
        await call()
    start = time.perf_counter()
    for _ in range(calls):
        await call()
    return (time.perf_counter() - start) / calls * 1e6


async def measure_async(calls: int) -> float:
    async with AsyncRefold(
        api_key=KEY, base_url=BASE, rate_limit=None, http_client=mock_http()
    ) as client:
        return await async_us_per_call(lambda: client.linked_accounts.retrieve("acct_1"), calls)


def main(calls: int, rounds: int) -> None:
    ratios: list[float] = []
    with Refold(api_key=KEY, base_url=BASE, rate_limit=None, http_client=mock_http()) as client:
        for _ in range(rounds):
            async_us = asyncio.run(measure_async(calls))
            sync_us = sync_us_per_call(lambda: client.linked_accounts.retrieve("acct_1"), calls)
            ratios.append(sync_us / async_us)
            print(
                f"AsyncRefold {async_us:7.1f} µs/call   Refold {sync_us:7.1f} µs/call   "
                f"ratio {sync_us / async_us:.2f}"
            )
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
