"""Rate-limiter accuracy at saturation, on the real clock (docs/architecture.md §4, §10).

N tasks ask one bucket for a slot at the same moment; the script records when each is let
through and reports the finish time against the floor (the first `burst - 1` at once,
then one per interval), the most grants in any 1 s window and at one instant (grants
less than 1 ms apart), and how many sends a model of the server's bucket would refuse
with 429 (0 expected).

    python benchmarks/bench_ratelimit.py                 # process and host scopes
    python benchmarks/bench_ratelimit.py --redis redis://127.0.0.1:6379/0

Prints one markdown table row per limiter, for BENCHMARKS.md, then the cost of one
grant when no wait is due (a budget too large to ever wait): the limiter's own work.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from typing import Any

from refold_async._ratelimit import (
    HostRateLimiter,
    LocalRateLimiter,
    RateLimit,
    RateLimiter,
    RedisRateLimiter,
)
from refold_async.testing import audit_send_times
from refold_async.testing._ratelimit import most_within

INSTANT = 0.001  # grants closer than this count as one instant


async def saturate(limiter: RateLimiter, n: int) -> tuple[float, list[float]]:
    """Start `n` acquisitions at once; return the start time and every grant time."""
    loop = asyncio.get_running_loop()
    key = f"bench#{uuid.uuid4().hex[:12]}"
    grants: list[float] = []

    async def one() -> None:
        await limiter.acquire(key)
        grants.append(loop.time())

    start = loop.time()
    await asyncio.gather(*(one() for _ in range(n)))
    return start, grants


def row(name: str, rate: RateLimit, start: float, grants: list[float]) -> str:
    capacity = max(rate.burst - 1, 1)
    floor = (len(grants) - capacity) / rate.per_second
    wall = max(grants) - start
    audit = audit_send_times(grants, per_second=rate.per_second, burst=rate.burst)
    return (
        f"| {name} | {len(grants)} | {wall:.3f} s | {floor:.3f} s | {wall - floor:+.3f} s "
        f"| {audit.most_in_one_second} (≤ {rate.burst + rate.per_second:g}) "
        f"| {most_within(grants, INSTANT)} (≤ {rate.burst}) | {len(audit.refused)} |"
    )


async def main(args: argparse.Namespace) -> None:
    rate = RateLimit(per_second=args.per_second, burst=args.burst)
    print(
        "| limiter | N | wall | floor | over floor | max in 1 s | max at one instant | 429s (model) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print(row("LocalRateLimiter", rate, *await saturate(LocalRateLimiter(rate), args.n)))
    with tempfile.TemporaryDirectory() as directory:
        host = HostRateLimiter(rate, directory=directory)
        print(row("HostRateLimiter", rate, *await saturate(host, args.n)))
    if args.redis:
        print(row("RedisRateLimiter", rate, *await saturate_redis(args.redis, rate, args.n)))
    print()
    print("| limiter | cost of one grant (median of 5 rounds of 2,000, no wait due) |")
    print("|---|---|")
    unbounded = RateLimit(per_second=1e9, burst=10**6)
    print(f"| LocalRateLimiter | {await grant_cost(LocalRateLimiter(unbounded)):.1f} µs |")
    with tempfile.TemporaryDirectory() as directory:
        host = HostRateLimiter(unbounded, directory=directory)
        print(f"| HostRateLimiter | {await grant_cost(host):.1f} µs |")


async def grant_cost(limiter: RateLimiter, n: int = 2000) -> float:
    """Microseconds of CPU per `acquire()` that never has to wait, median of 5 rounds."""
    rounds = []
    for _ in range(5):
        began = time.process_time()
        for _ in range(n):
            await limiter.acquire("bench#cost")
        rounds.append((time.process_time() - began) / n * 1e6)
    return sorted(rounds)[2]


async def saturate_redis(url: str, rate: RateLimit, n: int) -> tuple[float, list[float]]:
    import redis.asyncio as redis_asyncio  # the optional extra

    client: Any = redis_asyncio.from_url(url)
    try:
        return await saturate(RedisRateLimiter(client, rate, prefix="refold-bench:rl:"), n)
    finally:
        await client.aclose()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="acquisitions (default 200)")
    parser.add_argument("--per-second", type=float, default=20.0, help="server refill rate")
    parser.add_argument("--burst", type=int, default=5, help="server bucket size")
    parser.add_argument(
        "--redis", metavar="URL", help="also measure RedisRateLimiter on this server"
    )
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
