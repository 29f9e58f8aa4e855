"""CPU per call: `AsyncRefold` against raw `httpx.AsyncClient`, same in-process transport.

Both sides send the same GET with the same credential header to an `httpx.MockTransport`
answering the same JSON; the SDK also checks auth, builds the request through its send
loop and decodes the body into a model. Limiter off (`rate_limit=None`) so only CPU is
compared. Run: `python benchmarks/bench_cpu.py [--calls N]` or `nox -s bench`.
"""

from __future__ import annotations

import argparse
import datetime
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import httpx

from refold_async import AsyncRefold
from refold_async._convert import register_wire_names
from refold_async._operation import AuthScope, Operation

KEY = "tk_bench_0000000000000000"
BASE = "https://bench.refold.invalid"
BODY = {"_id": "acct_1", "name": "Acme", "environment": "test", "createdAt": "2026-01-01T00:00:00Z", "udf": {"a": 1}}


@attrs.frozen(kw_only=True)
class Account:
    id: str
    name: str | None = None
    environment: str | None = None
    created_at: datetime.datetime | None = None
    udf: dict[str, Any] | None = None
    extra_fields: dict[str, Any] = attrs.field(factory=dict, repr=False)


register_wire_names({Account: {"id": "_id", "created_at": "createdAt"}})

GET_ACCOUNT: Operation[Account] = Operation(
    id="getLinkedAccountById",
    method="GET",
    path="/api/v2/public/linked-account/{linked_account_id}",
    auth=AuthScope.KEY_OR_TOKEN,
    returns=Account,
)


def handler(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=BODY)


async def cpu_per_call(call: Callable[[], Awaitable[object]], calls: int) -> float:
    for _ in range(200):  # warm up pools, caches and converters
        await call()
    start = time.process_time()
    for _ in range(calls):
        await call()
    return (time.process_time() - start) / calls * 1e6


async def main(calls: int, rounds: int) -> None:
    raw = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url=BASE)
    sdk = AsyncRefold(
        api_key=KEY, base_url=BASE, rate_limit=None, http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler))
    )

    async def raw_call() -> object:
        response = await raw.get("/api/v2/public/linked-account/acct_1", headers={"x-api-key": KEY})
        response.raise_for_status()
        return response.json()

    async def sdk_call() -> object:
        return await sdk._transport.send(GET_ACCOUNT, path={"linked_account_id": "acct_1"})

    ratios: list[float] = []
    for _ in range(rounds):
        raw_us = await cpu_per_call(raw_call, calls)
        sdk_us = await cpu_per_call(sdk_call, calls)
        ratios.append(sdk_us / raw_us)
        print(f"raw httpx {raw_us:7.1f} µs/call   AsyncRefold {sdk_us:7.1f} µs/call   ratio {sdk_us / raw_us:.2f}")
    print(f"| CPU per call, AsyncRefold vs raw httpx | {calls} calls x {rounds} rounds | median ratio {statistics.median(ratios):.2f} (target <= 1.30) |")
    await raw.aclose()
    await sdk.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.rounds))
