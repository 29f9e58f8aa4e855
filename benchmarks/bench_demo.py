"""End-to-end throughput of a batch job through the SDK, on the emulator (docs/architecture.md §4, §10).

Runs `refold demo`'s job (upsert, mint a token, fire an event and wait for the run, per
linked account, all concurrent through one client with the default limit) against the
in-process emulator, which enforces the server's 20/s, burst 5 with 429s. Reports the
calls made, wall time against the `(calls - 5) / 20` s floor, 429s seen (0 expected),
and the densest second and instant the emulator saw.

    python benchmarks/bench_demo.py                  # 100 accounts
    python benchmarks/bench_demo.py --accounts 300

Prints the demo's summary, then one markdown table row for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import io

from refold_async.testing._demo import run_demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100)
    args = parser.parse_args()
    report = asyncio.run(run_demo(accounts=args.accounts, stream=io.StringIO()))
    print(report.render())
    print()
    print(
        "| accounts | calls | wall s | floor s | req/s | 429s | max in 1 s | max at once | ok / failed |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {report.accounts} | {report.calls} | {report.seconds:.2f} | {report.floor:.2f} "
        f"| {report.calls / report.seconds:.1f} | {report.rate_limited} | {report.server_max_per_second} "
        f"| {report.server_max_per_instant} | {report.ok} / {report.failed} |"
    )
    assert report.rate_limited == 0, "the client drew 429s from the emulator"


if __name__ == "__main__":
    main()
