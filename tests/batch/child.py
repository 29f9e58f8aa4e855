"""A batch job in a child process, for the kill -9 and shard tests.

    python -m tests.batch.child URL JOURNAL COUNT [--shard I N] [--redis PREFIX]
        [--rate PER_SECOND BURST]

Runs `support.create_account` (one POST per item) over keys `k00000...` against the
loopback emulator at URL, with the journal at JOURNAL; prints the summary at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from refold_async import AsyncRefold, RateLimit

from .support import TEST_KEY, create_account, upsert_account


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("journal")
    parser.add_argument("count", type=int)
    parser.add_argument("--shard", type=int, nargs=2)
    parser.add_argument("--redis")
    parser.add_argument("--rate", type=float, nargs=2, default=(200.0, 10))
    parser.add_argument("--upsert", action="store_true")
    args = parser.parse_args()
    rate = RateLimit(per_second=args.rate[0], burst=int(args.rate[1]))
    options: dict[str, object] = {"rate_limit": rate}
    if args.redis:
        import redis.asyncio as redis

        from refold_async import RedisRateLimiter

        options["rate_limiter"] = RedisRateLimiter(
            redis.from_url("redis://127.0.0.1:6379/0"), rate, prefix=args.redis
        )
    async with AsyncRefold(api_key=TEST_KEY, base_url=args.url, **options) as client:  # type: ignore[arg-type]
        keys = [f"k{i:05d}" for i in range(args.count)]
        fn = upsert_account if args.upsert else create_account
        report = await client.batch(
            keys, fn, journal=args.journal, shard=tuple(args.shard) if args.shard else None
        )
    sys.stdout.write(report.summary() + "\n")


if __name__ == "__main__":
    asyncio.run(main())
