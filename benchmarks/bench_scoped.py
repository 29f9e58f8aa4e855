"""What a scoped client costs: to make one, and per call.

A request handler derives a client per request (`client.for_linked_account(user)` or
`client.for_session_token(token)`), so making one must cost microseconds, not a new
pool: both copy the parent's settings and share its pool and limiter. Measured here with
`timeit` (best of the rounds, per derivation), next to a new client for contrast, on
both faces. Then CPU per call of `linked_accounts.retrieve("acct_1")` over an in-process
`httpx.MockTransport` (limiter off), for an unscoped key client against the two scoped
ones, rounds interleaved: the check that a scoped call names no other account is the
only per-call work scoping adds.

Run: `python benchmarks/bench_scoped.py [--number N] [--rounds N] [--calls N]` or
`nox -s bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from refold_async import AsyncRefold
from refold_sync import Refold

KEY = "tk_bench_0000000000000000"
TOKEN = "sess_bench_000000000000000"  # a placeholder the mock transport never checks
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


def _per_op(fn: Callable[[], object], number: int, rounds: int) -> float:
    """Microseconds per call of `fn`: the best of `rounds` timings of `number` calls."""
    return min(timeit.repeat(fn, number=number, repeat=rounds)) / number * 1e6


def construction(number: int, rounds: int) -> None:
    client = AsyncRefold(api_key=KEY, base_url=BASE)
    rows: list[tuple[str, float]] = [
        (
            "AsyncRefold(api_key=...) (a new client)",
            _per_op(lambda: AsyncRefold(api_key=KEY, base_url=BASE), max(1, number // 10), rounds),
        ),
        (
            "async with_options(timeout=5)",
            _per_op(lambda: client.with_options(timeout=5), number, rounds),
        ),
        (
            "async for_linked_account(id)",
            _per_op(lambda: client.for_linked_account("acct_1"), number, rounds),
        ),
        (
            "async for_session_token(token)",
            _per_op(lambda: client.for_session_token(TOKEN), number, rounds),
        ),
    ]
    with Refold(api_key=KEY, base_url=BASE) as sync:
        rows += [
            (
                "sync for_linked_account(id)",
                _per_op(lambda: sync.for_linked_account("acct_1"), number, rounds),
            ),
            (
                "sync for_session_token(token)",
                _per_op(lambda: sync.for_session_token(TOKEN), number, rounds),
            ),
        ]
    print(f"making a client, best of {rounds} x {number}:")
    for name, micros in rows:
        print(f"  {name:<42} {micros:8.1f} µs")


async def per_call(calls: int, rounds: int) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=BODY)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    parent = AsyncRefold(api_key=KEY, base_url=BASE, http_client=http, rate_limit=None)
    clients = {
        "unscoped key client": parent,
        "for_linked_account": parent.for_linked_account("acct_1"),
        "for_session_token": parent.for_session_token(TOKEN, linked_account_id="acct_1"),
    }
    for client in clients.values():
        for _ in range(WARM_UP):
            await client.linked_accounts.retrieve("acct_1")
    results: dict[str, list[float]] = {name: [] for name in clients}
    for _ in range(rounds):
        for name, client in clients.items():
            started = time.process_time()
            for _ in range(calls):
                await client.linked_accounts.retrieve("acct_1")
            results[name].append((time.process_time() - started) / calls * 1e6)
    await http.aclose()
    print(f"CPU per call, linked_accounts.retrieve, median of {rounds} rounds x {calls}:")
    for name, values in results.items():
        print(f"  {name:<42} {statistics.median(values):8.1f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=2000, help="derivations per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=2000, help="calls per round and client")
    args, _ = parser.parse_known_args()  # `nox -s bench -- ...` passes every script the same
    construction(args.number, args.rounds)
    asyncio.run(per_call(args.calls, args.rounds))


if __name__ == "__main__":
    main()
