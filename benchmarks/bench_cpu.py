"""CPU per call: `AsyncRefold` against raw `httpx.AsyncClient`, same in-process transport.

Both sides send the same GET with the same credential header to an `httpx.MockTransport`
answering the same JSON. The SDK side is the generated `client.linked_accounts.retrieve()`:
auth check, request building, the send loop, and decoding into the `LinkedAccount` model.
The raw side only parses the JSON. Limiter off (`rate_limit=None`), so only CPU is
compared. Run: `python benchmarks/bench_cpu.py [--calls N --rounds R]` or `nox -s bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import httpx

from refold_async import AsyncRefold

KEY = "tk_bench_0000000000000000"
BASE = "https://bench.refold.invalid"
BODY = {
    "_id": "acct_1",
    "account_id": "acct_1",
    "name": "Acme",
    "environment": "test",
    "udf": [{"key": "plan", "value": "pro"}],
    "createdAt": "2026-01-01T00:00:00Z",
    "updatedAt": "2026-01-02T00:00:00Z",
}


def handler(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=BODY)


async def cpu_per_call(call: Callable[[], Awaitable[object]], calls: int) -> float:
    for _ in range(200):  # warm up pools, caches and converter hooks
        await call()
    start = time.process_time()
    for _ in range(calls):
        await call()
    return (time.process_time() - start) / calls * 1e6


async def main(calls: int, rounds: int) -> None:
    raw = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url=BASE)
    sdk = AsyncRefold(
        api_key=KEY,
        base_url=BASE,
        rate_limit=None,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )

    async def raw_call() -> object:
        response = await raw.get("/api/v2/public/linked-account/acct_1", headers={"x-api-key": KEY})
        response.raise_for_status()
        return response.json()

    async def sdk_call() -> object:
        return await sdk.linked_accounts.retrieve("acct_1")

    ratios: list[float] = []
    for _ in range(rounds):
        raw_us = await cpu_per_call(raw_call, calls)
        sdk_us = await cpu_per_call(sdk_call, calls)
        ratios.append(sdk_us / raw_us)
        print(
            f"raw httpx {raw_us:7.1f} µs/call   AsyncRefold {sdk_us:7.1f} µs/call   ratio {sdk_us / raw_us:.2f}"
        )
    print(
        f"| CPU per call, AsyncRefold vs raw httpx | {calls} calls x {rounds} rounds "
        f"| median ratio {statistics.median(ratios):.2f} (target <= 1.30) |"
    )
    await raw.aclose()
    await sdk.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.rounds))
