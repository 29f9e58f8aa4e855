"""The batch runner's pace against the rate budget's floor, and its memory (docs/architecture.md §11).

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

    python benchmarks/bench_batch.py fsync [--items 2000] [--dir /dev/shm --dir /work]
        The journal's cost per item under each `journal_fsync` policy, in each folder
        (default: /dev/shm, a tmpfs, and the system temp folder): per item, the write-ahead
        `in_flight` record and the `succeeded` record, as the runner writes them, timed
        with nothing else going on; then the same N items of one POST each through
        `client.batch()` on the in-process emulator without a rate limit.

    python benchmarks/bench_batch.py pace [--items 120]
        N POSTs at 20/s (burst 5) on the loopback emulator, which enforces that budget:
        a child process runs the job and is killed (`kill -9`) after a third succeeded;
        5 s later this process resumes it on the same journal. Prints the pace the
        journal's report (`refold batch report`) gives, and the emulator's 429s.

Prints one markdown table row per run for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from refold_async import AsyncRefold, BatchReport, ItemState, RateLimit
from refold_async.testing import DEFAULT_API_KEY, Emulator


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


def _fsync_journal(folder: Path, policy: str, items: int) -> float:
    """Microseconds per item of the journal's own writes (in_flight + succeeded)."""
    from refold_async.batch._journal import Journal, LockedFile

    with tempfile.TemporaryDirectory(dir=folder) as where:
        path = Path(where) / "job.jsonl"
        journal = Journal(
            path, {"fn": "bench", "input": "x", "shard": None},
            LockedFile.try_acquire(path), policy,  # type: ignore[arg-type]
        )  # fmt: skip
        journal.start_run([20.0, 5])
        started = time.perf_counter()
        for index in range(items):
            key = f"acct-{index:06d}"
            journal.in_flight(
                key, 1, "createLinkedAccount", "POST", "/api/v2/public/linked-account"
            )
            journal.item(key, "succeeded", attempt=1, requests=1, seconds=0.05)
        elapsed = time.perf_counter() - started
        journal.end_run()
        journal.close()
    return elapsed / items * 1e6


async def _fsync_batch(folder: Path, policy: str, items: int) -> float:
    """Seconds for `items` POSTs through client.batch() with this journal policy."""
    emulator = Emulator(rate_limit=None)

    async def create(client: AsyncRefold, key: str) -> None:
        await client.linked_accounts.create(linked_account_id=key, name=key)

    with tempfile.TemporaryDirectory(dir=folder) as where:
        async with emulator.client(rate_limit=None) as client:
            keys = [f"{policy}-{index:06d}" for index in range(items)]
            started = time.perf_counter()
            report = await client.batch(
                keys, create, journal=Path(where) / "job.jsonl", progress=False,
                keep_values=False, journal_fsync=policy,  # type: ignore[arg-type]
            )  # fmt: skip
            elapsed = time.perf_counter() - started
    assert report.counts[ItemState.SUCCEEDED] == items
    return elapsed


def _fsync(items: int, folders: list[str]) -> None:
    print(
        "| folder (file system) | journal_fsync | journal µs/item | batch of N POSTs, s | µs/item |"
    )
    print("|---|---|---:|---:|---:|")
    for name in folders:
        folder = Path(name)
        kind = _fs_type(folder)
        for policy in ("never", "end", "write_ahead", "always"):
            per_item = _fsync_journal(folder, policy, items)
            seconds = asyncio.run(_fsync_batch(folder, policy, items))
            print(
                f"| {folder} ({kind}) | {policy} | {per_item:.1f} | {seconds:.2f} "
                f"| {seconds / items * 1e6:.0f} |"
            )


def _fs_type(folder: Path) -> str:
    from refold_async.batch._journal import filesystem_type

    return filesystem_type(folder) or "?"


async def _pace_child(url: str, journal: str, items: int) -> None:
    async def create(client: AsyncRefold, key: str) -> None:
        await client.linked_accounts.create(linked_account_id=key, name=key)

    async with AsyncRefold(
        api_key=DEFAULT_API_KEY, base_url=url, rate_limit=RateLimit(per_second=20, burst=5)
    ) as client:
        keys = [f"acct-{index:05d}" for index in range(items)]
        await client.batch(keys, create, journal=journal, progress=False)


def _succeeded(journal: Path) -> int:
    if not journal.exists():
        return 0
    lines = journal.read_text().splitlines()
    return sum('"state":"succeeded"' in line for line in lines)


async def _pace(items: int) -> None:
    emulator = Emulator(rate_limit=(20.0, 5))
    with tempfile.TemporaryDirectory() as folder:
        journal = Path(folder) / "job.jsonl"
        async with emulator.server() as server:
            command = [sys.executable, __file__, "_pace", str(items), str(journal), server.url]
            child = subprocess.Popen(command)  # noqa: S603, ASYNC220 - this script; returns at once
            while _succeeded(journal) < items // 3:  # noqa: ASYNC110 - another process writes
                await asyncio.sleep(0.05)
            child.send_signal(signal.SIGKILL)
            child.wait()
            await asyncio.sleep(5.0)  # the gap between the runs
            await _pace_child(server.url, str(journal), items)
        report = BatchReport.from_journal(journal)
    print(f"| {items} | {report.requests} | {report.elapsed:.2f} | {report.achieved_rate:.1f} "
          f"| {emulator.stats.rate_limited} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["floor", "memory", "fsync", "pace", "_child", "_pace"])
    parser.add_argument("items", nargs="?", type=int)
    parser.add_argument("journal", nargs="?")
    parser.add_argument("--items", dest="count", type=int)
    parser.add_argument("--calls", action="store_true")
    parser.add_argument("--keep-values", action="store_true")
    parser.add_argument("--dir", action="append", dest="dirs")
    parser.add_argument("url", nargs="?")
    args = parser.parse_args()
    if args.mode == "_child":
        asyncio.run(_memory_child(args.items, args.calls, args.keep_values, args.journal))
    elif args.mode == "_pace":
        asyncio.run(_pace_child(args.url, args.journal, args.items))
    elif args.mode == "pace":
        print("| items | requests | report elapsed s | report req/s | 429s |")
        print("|---:|---:|---:|---:|---:|")
        asyncio.run(_pace(args.count or 120))
    elif args.mode == "fsync":
        folders = args.dirs or ["/dev/shm", tempfile.gettempdir()]  # noqa: S108 - a tmpfs to time
        _fsync(args.count or 2000, folders)
    elif args.mode == "floor":
        asyncio.run(_floor(args.count or 1000))
    else:
        _memory(args.count or 100_000, args.calls, args.keep_values)


if __name__ == "__main__":
    main()
