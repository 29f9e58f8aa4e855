"""One cold client process of the `bench_limits` harness: make calls, report what happened.

Run by `benchmarks/bench_limits.py`, never by hand. The client is built with default
options from the environment (`REFOLD_API_KEY`, `REFOLD_BASE_URL`: the key never appears
in a command line), then the worker touches `--ready` and blocks until the harness
writes a line to its stdin, so several workers start their calls at one moment. Each
call is a cheap GET (`linked_accounts.list(limit=1)`, first page only). At the end it
writes a JSON summary to `--result`: calls, failures by exception class, and the wall
clock (`time.time()`, comparable with nginx's `$msec`) at the start and at the last
answer.

    python benchmarks/limits/worker.py --face async --calls 200 --concurrency 50 \
        --ready R --result J

`--warm-imports` imports the modules the first call would import lazily before saying
ready (the client stays cold: no connection, no limiter state).

Faces: `async` (one `AsyncRefold`, `--concurrency` calls in flight), `sync` (one
`Refold`, `--threads` threads), `mixed` (both in one process, `--calls` each: the sync
client on threads, the async one on its own event loop in the main thread).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs

from refold_async import AsyncRefold
from refold_sync import Refold


@attrs.define
class Tally:
    """What one face's calls came to (thread-safe: the sync face records from threads)."""

    ok: int = 0
    errors: Counter[str] = attrs.field(factory=Counter[str])
    last_end: float = 0.0
    lock: threading.Lock = attrs.field(factory=threading.Lock)

    def record(self, error: BaseException | None) -> None:
        now = time.time()
        with self.lock:
            if error is None:
                self.ok += 1
            else:
                self.errors[type(error).__name__] += 1
            self.last_end = max(self.last_end, now)


async def run_async(client: AsyncRefold, calls: int, concurrency: int, tally: Tally) -> None:
    """`calls` GETs through `client`, at most `concurrency` in flight."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            try:
                await client.linked_accounts.list(limit=1)
            except Exception as error:  # a measurement: every failure is counted, none raised
                tally.record(error)
            else:
                tally.record(None)

    await asyncio.gather(*(one() for _ in range(calls)))


def run_sync(client: Refold, calls: int, threads: int, tally: Tally) -> None:
    """`calls` GETs through `client` from `threads` threads."""

    def one(_: int) -> None:
        try:
            client.linked_accounts.list(limit=1).first_page()
        except Exception as error:  # counted, as in run_async
            tally.record(error)
        else:
            tally.record(None)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, range(calls)))


def warm_imports() -> None:
    """Import now what the first call would import (models, anyio's asyncio backend).

    Only modules: no connection is opened and no limiter state is made, so the client
    still starts cold; this takes import time out of the first call's latency.
    """
    for module in (
        "refold_async.models",
        "refold_async.resources.linked_accounts",
        "refold_sync.resources.linked_accounts",
        "anyio._backends._asyncio",
    ):
        importlib.import_module(module)


def wait_for_go(ready: Path) -> float:
    """Say we are ready, block until the harness says go; return the wall clock then."""
    ready.touch()
    sys.stdin.readline()
    return time.time()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--face", choices=("async", "sync", "mixed"), required=True)
    parser.add_argument("--calls", type=int, required=True, help="calls (per face if mixed)")
    parser.add_argument("--concurrency", type=int, default=50, help="async calls in flight")
    parser.add_argument("--threads", type=int, default=32, help="threads of the sync face")
    parser.add_argument("--warm-imports", action="store_true", help="see warm_imports()")
    parser.add_argument("--ready", type=Path, required=True)
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args()

    if args.warm_imports:
        warm_imports()
    tally = Tally()
    if args.face == "async":
        start = asyncio.run(_async_face(args, tally))
    elif args.face == "sync":
        with Refold() as client:
            start = wait_for_go(args.ready)
            run_sync(client, args.calls, args.threads, tally)
    else:
        start = _mixed(args, tally)
    result: dict[str, Any] = {
        "face": args.face,
        "calls": args.calls * (2 if args.face == "mixed" else 1),
        "ok": tally.ok,
        "failed": sum(tally.errors.values()),
        "errors": dict(tally.errors),
        "start": start,
        "last_end": tally.last_end,
    }
    args.result.write_text(json.dumps(result))


async def _async_face(args: argparse.Namespace, tally: Tally) -> float:
    async with AsyncRefold() as client:
        start = await asyncio.get_running_loop().run_in_executor(None, wait_for_go, args.ready)
        await run_async(client, args.calls, args.concurrency, tally)
    return start


def _mixed(args: argparse.Namespace, tally: Tally) -> float:
    """A `Refold` on threads and an `AsyncRefold` on this thread's loop, same key, at once."""
    sync_client = Refold()
    async_client = AsyncRefold()  # binds to the loop of its first call, below
    sync_part = threading.Thread(
        target=run_sync, args=(sync_client, args.calls, args.threads, tally)
    )
    start = wait_for_go(args.ready)
    sync_part.start()
    try:
        asyncio.run(
            _close_after(async_client, run_async(async_client, args.calls, args.concurrency, tally))
        )
    finally:
        sync_part.join()
        sync_client.close()
    return start


async def _close_after(client: AsyncRefold, work: Any) -> None:
    try:
        await work
    finally:
        await client.aclose()


if __name__ == "__main__":
    main()
