"""CPU per call of the observability hooks: tracing off and on, raw, logging.

One process measures, for the same generated call (`client.linked_accounts.retrieve()`
against an in-process `httpx.MockTransport`, limiter off), the CPU time per call of:

- `plain`: the usual call, tracing off, `refold` logger at WARNING (the default);
- `log-info`: the `refold` logger at INFO into a `NullHandler` (`REFOLD_LOG=info` without
  the terminal);
- `raw`: `client.linked_accounts.with_raw_response.retrieve()` then `.parse()`;
- `otel-noop`: `tracing=True` with no SDK configured (OpenTelemetry's no-op provider);
- `otel-sdk`: `tracing=` an SDK `TracerProvider` with a batch processor over an exporter
  that drops the spans (recording, not exporting, is measured).

`--trees DIR...` instead runs `plain` in a child process per source tree (a directory
holding `refold_async/` and `refold_sync/`, e.g. from `git archive`), interleaving the
trees round by round, so code before and after a change is compared under the same
load. Medians are reported.

Run: `python benchmarks/bench_hooks.py [--calls N --rounds R]`
or:  `python benchmarks/bench_hooks.py --trees /tmp/before /tmp/after --calls N --rounds R`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

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
MODES = ("plain", "log-info", "raw", "otel-noop", "otel-sdk")


def handler(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=BODY)


async def cpu_per_call(call: Callable[[], Awaitable[object]], calls: int) -> float:
    for _ in range(200):  # warm up pools, caches and converter hooks
        await call()
    start = time.process_time()
    for _ in range(calls):
        await call()
    return (time.process_time() - start) / calls * 1e6


def _client(tracing: Any = False) -> Any:
    from refold_async import AsyncRefold

    options: dict[str, Any] = {} if tracing is False else {"tracing": tracing}
    return AsyncRefold(
        api_key=KEY,
        base_url=BASE,
        rate_limit=None,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        **options,
    )


def _sdk_provider() -> Any:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop()))
    return provider


async def measure(mode: str, calls: int) -> float:
    logger = logging.getLogger("refold")
    logger.setLevel(logging.WARNING)
    if mode == "otel-noop":
        client = _client(tracing=True)
    elif mode == "otel-sdk":
        client = _client(tracing=_sdk_provider())
    else:
        client = _client()

    async def call() -> object:
        return await client.linked_accounts.retrieve("acct_1")

    async def raw_call() -> object:
        response = await client.linked_accounts.with_raw_response.retrieve("acct_1")
        return response.parse()

    if mode == "log-info":
        logger.setLevel(logging.INFO)
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
    try:
        return await cpu_per_call(raw_call if mode == "raw" else call, calls)
    finally:
        logger.setLevel(logging.WARNING)
        logger.propagate = True
        await client.aclose()


async def run_modes(modes: list[str], calls: int, rounds: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(rounds):
        for mode in modes:  # interleaved: each round measures every mode once
            results[mode].append(await measure(mode, calls))
    return results


def run_trees(trees: list[str], calls: int, rounds: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {tree: [] for tree in trees}
    for _ in range(rounds):
        for tree in trees:
            env = {**os.environ, "PYTHONPATH": tree}
            out = subprocess.run(  # noqa: S603 - our interpreter, our script
                [
                    sys.executable,
                    __file__,
                    "--modes",
                    "plain",
                    "--calls",
                    str(calls),
                    "--rounds",
                    "1",
                    "--json",
                ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            results[tree].append(json.loads(out)["plain"][0])
    return results


def report(results: dict[str, list[float]], calls: int, rounds: int) -> None:
    base = statistics.median(next(iter(results.values())))
    for name, values in results.items():
        median = statistics.median(values)
        print(
            f"| {name} | {median:7.1f} µs/call | {median - base:+6.1f} µs vs first "
            f"| {calls} calls x {rounds} rounds, median |"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--modes", nargs="*", default=list(MODES))
    parser.add_argument("--trees", nargs="*")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()}", file=sys.stderr)
    if args.trees:
        results = run_trees(args.trees, args.calls, args.rounds)
    else:
        results = asyncio.run(run_modes(args.modes, args.calls, args.rounds))
    if args.json:
        print(json.dumps(results))
    else:
        report(results, args.calls, args.rounds)
    print(f"load average: {os.getloadavg()}", file=sys.stderr)


if __name__ == "__main__":
    main()
