"""One process of a simulated host in the multi-host `bench_limits` scenarios.

Run by `benchmarks/limits/multihost.py`, never by hand. A "host" is a group of these
processes sharing one `REFOLD_RATE_LIMIT_DIR` (set by the harness): the host scope
shares a budget inside the group and knows nothing of the other groups. With `--redis`
the client uses `RedisRateLimiter` on that server instead (its fallback: the group's
share, in the group's directory). The worker touches `--ready`, blocks until a line on
stdin, then keeps `--concurrency` calls in flight (cheap GETs) until it has made
`--calls` or `--duration` seconds have passed, and writes a JSON summary to `--result`:
calls, failures by exception class, and the wall-clock end time of every call that
succeeded (to split the budget by host over time). With `BENCH_TRACE` set, the
limiter's debug trace goes to stdout (the harness keeps it in `worker-*.log`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from refold_async import AsyncRefold


async def run(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    redis_client = None
    if args.redis:
        import redis.asyncio as redis

        from refold_async import RedisRateLimiter

        redis_client = redis.from_url(args.redis, socket_timeout=1, socket_connect_timeout=0.5)
        options["rate_limiter"] = RedisRateLimiter(redis_client, member=args.member)
    ok_times: list[float] = []
    errors: Counter[str] = Counter()
    async with AsyncRefold(**options) as client:
        loop = asyncio.get_running_loop()
        start = await loop.run_in_executor(None, _wait_for_go, Path(args.ready))
        stop_at = start + args.duration if args.duration else None
        left = [args.calls if args.calls else -1]

        async def one_worker() -> None:
            while True:
                if left[0] == 0 or (stop_at is not None and time.time() >= stop_at):
                    return
                left[0] -= 1
                try:
                    await client.linked_accounts.list(limit=1)
                except Exception as error:  # a measurement: every failure is counted
                    errors[type(error).__name__] += 1
                else:
                    if not ok_times and args.started:
                        _touch(args.started)  # the harness times outages from here
                    ok_times.append(time.time())

        await asyncio.gather(*(one_worker() for _ in range(args.concurrency)))
    if redis_client is not None:
        await redis_client.aclose()
    return {
        "host": args.host,
        "ok": len(ok_times),
        "failed": sum(errors.values()),
        "errors": dict(errors),
        "start": start,
        "ok_times": ok_times,
    }


def _touch(path: str) -> None:
    """Create `path` (an empty marker file: microseconds, once per process)."""
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _wait_for_go(ready: Path) -> float:
    ready.touch()
    sys.stdin.readline()
    return time.time()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--host", required=True, help="the host's label, for the report")
    parser.add_argument("--member", help="the host's name in Redis' membership record")
    parser.add_argument("--calls", type=int, default=0)
    parser.add_argument("--duration", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--redis", help="redis://... : use RedisRateLimiter")
    parser.add_argument("--ready", required=True)
    parser.add_argument("--started", help="touched once the first call has gone through")
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args()
    if os.environ.get("BENCH_TRACE"):
        # The limiter's trace (outage noticed, share, bucket levels, seeding, 429s), with
        # wall-clock times to set beside nginx's access log.
        logging.basicConfig(format="%(created).3f %(message)s", stream=sys.stdout)
        logging.getLogger("refold.ratelimit").setLevel(logging.DEBUG)
    result = asyncio.run(run(args))
    args.result.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
