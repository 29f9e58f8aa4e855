"""The batch runner's pace against the rate budget's floor, and its memory (DESIGN §11).

    python benchmarks/bench_batch.py floor [--items 1000]
        N items of one call each through `client.batch()` at the default budget
        (20/s, burst 5) against the in-process emulator, which enforces that budget
        with 429s. Reports wall time against the (N - 5) / 20 s floor, 429s, when the
        first item finished, and how far items finished out of their arrival order.

    python benchmarks/bench_batch.py memory [--items 100000] [--calls] [--keep-values]
        Peak RSS of a process that runs N items (a no-op `fn`, or with --calls one GET
        each on the emulator without a rate limit), with a journal; items come from a
        generator, so none is held by the caller. Also runs the same with 0 items to
        show the baseline.

Prints one markdown table row per run for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from refold_async import AsyncRefold, ItemState, RateLimit
from refold_async.testing import Emulator


async def _floor(items: int) -> None:
    emulator = Emulator(rate_limit=(20.0, 5), execution_delay=0.0)
    finished: list[int] = []
    first_done: float | None = None
    started = time.monotonic()

    async def one(client: AsyncRefold, index: int) -> None:
        nonlocal first_done
        await client.linked_accounts.upsert(linked_account_id=f"acct-{index:05d}")
        finished.append(index)
        if first_done is None:
            first_done = time.monotonic() - started

    async with emulator.client(rate_limit=RateLimit()) as client:
        report = await client.batch(
            range(items), one, key=lambda i: f"acct-{i:05d}", progress=False, keep_values=False
        )
    floor = (report.requests - 5) / 20
    displacement = max(abs(position - index) for position, index in enumerate(finished))
    print(report.summary())
    print()
    print(
        "| items | requests | wall s | floor (N - 5)/20 s | over | 429s | first done s | max out of order |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {items} | {report.requests} | {report.elapsed:.2f} | {floor:.2f} "
        f"| {(report.elapsed / floor - 1) * 100:+.2f}% | {emulator.stats.rate_limited} "
        f"| {first_done:.2f} | {displacement} |"
    )
    assert report.counts[ItemState.SUCCEEDED] == items


async def _memory_child(items: int, calls: bool, keep_values: bool, journal: str) -> None:
    emulator = Emulator(rate_limit=None)

    async def noop(client: AsyncRefold, key: str) -> str:
        return key

    async def get(client: AsyncRefold, key: str) -> str:
        await client.linked_accounts.retrieve("acme")
        return key

    async with emulator.client(rate_limit=None) as client:
        await client.linked_accounts.upsert(linked_account_id="acme", name="Acme")
        keys = (f"item-{i:07d}" for i in range(items))
        started = time.monotonic()
        report = await client.batch(
            keys, get if calls else noop, journal=journal, progress=False, keep_values=keep_values
        )
        elapsed = time.monotonic() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{items} {report.counts[ItemState.SUCCEEDED]} {elapsed:.1f} {peak_mib:.1f}")


def _memory(items: int, calls: bool, keep_values: bool) -> None:
    print("| items | fn | keep_values | succeeded | seconds | peak RSS MiB |")
    print("|---:|---|---|---:|---:|---:|")
    for count in (0, items):
        with tempfile.TemporaryDirectory() as folder:
            journal = str(Path(folder) / "job.jsonl")
            command = [sys.executable, __file__, "_child", str(count), journal]
            command += ["--calls"] if calls else []
            command += ["--keep-values"] if keep_values else []
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603
            n, ok, seconds, peak = out.split()
            fn = "one GET" if calls else "no-op"
            print(f"| {n} | {fn} | {keep_values} | {ok} | {seconds} | {peak} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["floor", "memory", "_child"])
    parser.add_argument("items", nargs="?", type=int)
    parser.add_argument("journal", nargs="?")
    parser.add_argument("--items", dest="count", type=int)
    parser.add_argument("--calls", action="store_true")
    parser.add_argument("--keep-values", action="store_true")
    args = parser.parse_args()
    if args.mode == "_child":
        asyncio.run(_memory_child(args.items, args.calls, args.keep_values, args.journal))
    elif args.mode == "floor":
        asyncio.run(_floor(args.count or 1000))
    else:
        _memory(args.count or 100_000, args.calls, args.keep_values)


if __name__ == "__main__":
    main()
