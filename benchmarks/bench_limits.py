"""The rate budget against a limiter that is not ours: nginx `limit_req`.

nginx (20 r/s, `burst=4 nodelay`, keyed on `x-api-key`, 429 past it: the API's bucket of
5 refilling at 20/s) stands in front of `refold emulator --no-rate-limit`. Every run is
a fresh Python process (or four) whose clients start cold with default options, pointed
at nginx; they make cheap GETs (`linked_accounts.list(limit=1)`) as fast as they are let.

Scenarios:
- `async`: one `AsyncRefold`, 200 calls at concurrency 50;
- `sync`: one `Refold`, 200 calls from 32 threads;
- `processes`: 4 processes x 50 calls (async, all in flight), one key, started together;
- `mixed`: one process, a `Refold` on 32 threads and an `AsyncRefold` on its own loop,
  100 calls each, one key.

`--multihost NAME` runs the multi-host scenarios instead (`limits/multihost.py`): hosts
simulated as process groups with state directories of their own, a `uvicorn` app with
4 workers offered 50 requests/s, and Redis killed or frozen under 2 and 4 hosts;
`--runs` runs of each.

For each run: the 429s in nginx's access log (the source of truth), the same arrivals
replayed through `refold_async.testing.audit_send_times()` (a second opinion), failed
calls in the client, the floor `(N - 5) / 20` s, the most requests nginx saw in any
second, and two wall times: the client's, from the moment its calls are let go (the
first call's lazy imports included) to the last answer, and nginx's, from the first
arrival to the last answer sent. "First request after go" is the gap between the two
starts: the cold start's latency. `--warm-imports` makes the workers import those
modules before the start, to tell import time from pacing.

    python benchmarks/bench_limits.py                    # 20 runs async and sync, 5 others
    python benchmarks/bench_limits.py --quick            # 2 runs of each, for development
    python benchmarks/bench_limits.py --runs 10 --markdown --json runs.json
    nox -s bench_limits -- --runs 5 --markdown           # installs nginx first if missing
    python benchmarks/bench_limits.py --multihost neighbours --runs 3 --markdown

The default takes about 10 minutes (50 runs of about 11 s). The exit status is 0 whatever
the figures (this is a measurement), 2 if the harness itself failed (no nginx, a server
or a worker that would not start, a log line it cannot read).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import httpx
from limits import multihost
from limits.access_log import LogFormatError, RunLog, parse_lines, summarize
from limits.servers import HarnessError, Servers, find_nginx

from refold_async.testing import DEFAULT_API_KEY

PER_SECOND = 20.0
BURST = 5
SETTLE = 0.5  # s after a run: nginx has logged it and its bucket is full again (5 / 20 s)
READY_TIMEOUT = 60.0  # s for workers to import and build their clients
WORKER = Path(__file__).parent / "limits" / "worker.py"
ROOT = Path(__file__).parent.parent
NAN = float("nan")


@attrs.frozen(kw_only=True)
class Scenario:
    """One kind of run: `processes` workers, each making `calls` with `face`."""

    name: str
    face: str
    processes: int
    calls: int  # per process (per face for "mixed")
    description: str

    @property
    def total_calls(self) -> int:
        return self.processes * self.calls * (2 if self.face == "mixed" else 1)

    @property
    def floor(self) -> float:
        """The server's floor: `burst` at once, then one per 1/20 s."""
        return (self.total_calls - BURST) / PER_SECOND


SCENARIOS = {
    s.name: s
    for s in (
        Scenario(name="async", face="async", processes=1, calls=200,
                 description="AsyncRefold, 200 calls, concurrency 50"),
        Scenario(name="sync", face="sync", processes=1, calls=200,
                 description="Refold, 200 calls, 32 threads"),
        Scenario(name="processes", face="async", processes=4, calls=50,
                 description="4 processes x 50 calls, one key"),
        Scenario(name="mixed", face="mixed", processes=1, calls=100,
                 description="Refold (32 threads) + AsyncRefold, 100 calls each"),
    )
}  # fmt: skip
SHARED = ("processes", "mixed")  # scenarios that default to --runs-shared


@attrs.frozen(kw_only=True)
class Run:
    """One run's figures: nginx's and the client's."""

    scenario: str
    index: int
    log: RunLog
    ok: int
    failed: int
    errors: dict[str, int]
    client_wall: float
    first_arrival_after_go: float
    timed_out: bool


def run_once(
    scenario: Scenario, index: int, servers: Servers, timeout: float, *, warm: bool = False
) -> Run:
    """Start the scenario's workers cold, let them go at once, and read nginx's log."""
    run_dir = servers.workdir / f"{scenario.name}-{index}"
    run_dir.mkdir()
    offset = servers.access_log.stat().st_size
    env = {**os.environ, "REFOLD_API_KEY": DEFAULT_API_KEY, "REFOLD_BASE_URL": servers.url}
    workers = [_spawn(scenario, run_dir, i, env, warm) for i in range(scenario.processes)]
    try:
        _wait_ready(workers, run_dir)
        _go(workers)
        timed_out = _wait_done(workers, timeout)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    time.sleep(SETTLE)
    with servers.access_log.open("rb") as log:
        log.seek(offset)
        figures = summarize(
            parse_lines(log.read().decode().splitlines()), per_second=PER_SECOND, burst=BURST
        )
    return _run(
        scenario,
        index,
        figures,
        [_result(run_dir, i, timed_out) for i in range(len(workers))],
        timed_out,
    )


def _run(
    scenario: Scenario,
    index: int,
    log: RunLog,
    results: list[dict[str, Any]],
    timed_out: bool,
) -> Run:
    """One run's figures from nginx's log and the workers' results."""
    errors: Counter[str] = Counter()
    for result in results:
        errors.update(result.get("errors", {}))
    ok = sum(result.get("ok", 0) for result in results)
    start = min((result["start"] for result in results if "start" in result), default=NAN)
    end = max((result["last_end"] for result in results if result.get("last_end")), default=NAN)
    return Run(
        scenario=scenario.name,
        index=index,
        log=log,
        ok=ok,
        failed=scenario.total_calls - ok,  # a call cut short by a timeout counts as failed
        errors=dict(errors),
        client_wall=round(end - start, 3),
        first_arrival_after_go=round(log.first_arrival - start, 3) if log.requests else NAN,
        timed_out=timed_out,
    )


def _go(workers: list[subprocess.Popen[bytes]]) -> None:
    """The barrier: every worker is blocked reading stdin; one line each lets them go."""
    try:
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
            worker.stdin.close()
    except BrokenPipeError as error:
        raise HarnessError("a worker exited while waiting to start") from error


def _spawn(
    scenario: Scenario, run_dir: Path, i: int, env: dict[str, str], warm: bool
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, str(WORKER), "--face", scenario.face, "--calls", str(scenario.calls),
        "--concurrency", "50", "--threads", "32",
        "--ready", str(run_dir / f"ready-{i}"), "--result", str(run_dir / f"result-{i}.json"),
        *(["--warm-imports"] if warm else []),
    ]  # fmt: skip
    with (run_dir / f"worker-{i}.log").open("wb") as out:
        return subprocess.Popen(  # noqa: S603 - our own worker script
            command, stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, env=env
        )


def _wait_ready(workers: list[subprocess.Popen[bytes]], run_dir: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while not all((run_dir / f"ready-{i}").exists() for i in range(len(workers))):
        for i, worker in enumerate(workers):
            if worker.poll() is not None:
                raise HarnessError(f"a worker exited before starting:\n{_tail(run_dir, i)}")
        if time.monotonic() > deadline:
            raise HarnessError(f"workers not ready within {READY_TIMEOUT:g} s")
        time.sleep(0.01)


def _wait_done(workers: list[subprocess.Popen[bytes]], timeout: float) -> bool:
    """Wait for every worker; True if the run had to be cut short."""
    deadline = time.monotonic() + timeout
    for worker in workers:
        try:
            worker.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return True
    return False


def _result(run_dir: Path, i: int, timed_out: bool) -> dict[str, Any]:
    path = run_dir / f"result-{i}.json"
    if path.exists():
        result: dict[str, Any] = json.loads(path.read_text())
        return result
    if timed_out:
        return {}
    raise HarnessError(f"a worker wrote no result:\n{_tail(run_dir, i)}")


def _tail(run_dir: Path, i: int) -> str:
    return (run_dir / f"worker-{i}.log").read_text(errors="replace")[-3000:]


# --- the report ----------------------------------------------------------------------


def over_floor(wall: float, floor: float) -> float:
    """Percent of `wall` above `floor`."""
    return (wall - floor) / floor * 100


def _pct(value: float) -> str:
    return f"{value:+.1f} %"


def _median_worst(values: list[float], text: Any) -> str:
    return f"{text(statistics.median(values))} ({text(max(values))})"


def summary_row(scenario: Scenario, runs: list[Run]) -> list[str]:
    floor = scenario.floor
    rate_limited = [run.log.rate_limited for run in runs]
    clean = sum(1 for run in runs if run.log.rate_limited == 0 and run.failed == 0)
    seconds = "{:.3f} s".format
    return [
        scenario.description,
        f"{clean} / {len(runs)}",
        f"{sum(rate_limited)} ({max(rate_limited)})",
        str(sum(run.log.model_refused for run in runs)),
        str(sum(run.failed for run in runs)),
        _median_worst([run.client_wall for run in runs], seconds),
        _median_worst([run.log.wall for run in runs], seconds),
        f"{floor:.2f} s",
        _median_worst([over_floor(run.client_wall, floor) for run in runs], _pct),
        _median_worst([over_floor(run.log.wall, floor) for run in runs], _pct),
        str(max(run.log.most_in_one_second for run in runs)),
        seconds(statistics.median(run.first_arrival_after_go for run in runs)),
    ]


HEADERS = [
    "scenario",
    "runs with 0 x 429, 0 failed",
    "429s, nginx: total (worst run)",
    "429s, model",
    "failed calls",
    "wall, client: median (worst)",
    "wall, nginx: median (worst)",
    "floor (N - 5)/20",
    "client over floor",
    "nginx over floor",
    "max in 1 s",
    "first request after go",
]


def render(rows: list[list[str]], *, markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(r[c]) for r in [HEADERS, *rows]) for c in range(len(HEADERS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [HEADERS, *rows]
    )


def progress_line(scenario: Scenario, run: Run, of: int) -> str:
    log = run.log
    first_429 = (
        f", first 429 at {log.first_429_after:.3f} s" if log.first_429_after is not None else ""
    )
    errors = f" {run.errors}" if run.errors else ""
    cut = " TIMED OUT" if run.timed_out else ""
    return (
        f"{scenario.name} {run.index + 1}/{of}: 429s {log.rate_limited} (model {log.model_refused})"
        f"{first_429}, failed {run.failed}{errors}, wall client {run.client_wall:.3f} s "
        f"({_pct(over_floor(run.client_wall, scenario.floor))} over floor), nginx {log.wall:.3f} s "
        f"({_pct(over_floor(log.wall, scenario.floor))}), "
        f"requests {log.requests}, max in 1 s {log.most_in_one_second}, "
        f"connections {log.connections}, "
        f"first request at nginx {run.first_arrival_after_go:.3f} s after go{cut}"
    )


def describe_setup() -> str:
    commit = subprocess.run(  # noqa: S603 - git, for the report
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],  # noqa: S607
        capture_output=True, text=True, check=False,
    ).stdout.strip() or "unknown"  # fmt: skip
    nginx = (
        subprocess.run(  # noqa: S603 - nginx -v, for the report
            [find_nginx(), "-v"], capture_output=True, text=True, check=False
        )
        .stderr.strip()
        .removeprefix("nginx version: ")
    )
    return (
        f"commit {commit}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"Python {platform.python_version()}, {nginx}, {os.cpu_count()} cores, "
        f"load average {_load()}"
    )


def _load() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


# --- main ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of async and sync (20)")
    parser.add_argument(
        "--runs-shared", type=int, default=5, help="runs of processes and mixed (5)"
    )
    parser.add_argument("--quick", action="store_true", help="2 runs of each scenario")
    parser.add_argument(
        "--scenario", action="append", choices=sorted(SCENARIOS), help="only these (repeatable)"
    )
    parser.add_argument(
        "--warm-imports",
        action="store_true",
        help="workers import the SDK's lazily imported modules before the start",
    )
    parser.add_argument(
        "--multihost",
        action="append",
        choices=multihost.NAMES,
        help="run these multi-host scenarios instead (repeatable; see limits/multihost.py)",
    )
    parser.add_argument("--markdown", action="store_true", help="a BENCHMARKS.md table")
    parser.add_argument("--json", type=Path, help="also write every run's figures here")
    parser.add_argument(
        "--run-timeout", type=float, default=120.0, help="seconds before a run is cut (120)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = args.runs_shared = 2
    if min(args.runs, args.runs_shared) < 1:
        parser.error("--runs and --runs-shared must be at least 1")
    return args


def measure_multihost(args: argparse.Namespace) -> None:
    """The multi-host scenarios: hosts as process groups, a web app, Redis outages."""
    setup = describe_setup()
    print(f"bench_limits: {setup}", file=sys.stderr)
    with Servers(DEFAULT_API_KEY) as servers:
        _check_path(servers)
        tables, runs = multihost.measure(args.multihost, args.runs, servers)
    setup += f"; load average at the end {_load()}"
    print(f"`python benchmarks/bench_limits.py {' '.join(sys.argv[1:])}`: {setup}.\n")
    print(tables)
    if args.json:
        args.json.write_text(json.dumps({"setup": setup, "runs": runs}, indent=1))


def measure(args: argparse.Namespace) -> None:
    if args.multihost:
        measure_multihost(args)
        return
    setup = describe_setup() + (", warm imports" if args.warm_imports else "")
    print(f"bench_limits: {setup}", file=sys.stderr)
    names = args.scenario or list(SCENARIOS)
    all_runs: dict[str, list[Run]] = {}
    with Servers(DEFAULT_API_KEY) as servers:
        _check_path(servers)
        for name in names:
            scenario = SCENARIOS[name]
            count = args.runs_shared if name in SHARED else args.runs
            runs = all_runs[name] = []
            for index in range(count):
                run = run_once(scenario, index, servers, args.run_timeout, warm=args.warm_imports)
                runs.append(run)
                print(progress_line(scenario, run, count), file=sys.stderr, flush=True)
    rows = [summary_row(SCENARIOS[name], runs) for name, runs in all_runs.items()]
    setup += f"; load average at the end {_load()}"
    if args.markdown:
        print(f"`python benchmarks/bench_limits.py {' '.join(sys.argv[1:])}`: {setup}.\n")
    print(render(rows, markdown=args.markdown))
    errors = Counter[str]()
    for runs in all_runs.values():
        for run in runs:
            errors.update(run.errors)
    if errors:
        print(f"\nfailed calls by exception: {dict(errors)}")
    if args.json:
        args.json.write_text(
            json.dumps({"setup": setup, "runs": [attrs.asdict(run) for runs in all_runs.values()
                                                 for run in runs]}, indent=1)
        )  # fmt: skip


def _check_path(servers: Servers) -> None:
    """One request through nginx to the emulator, so a broken chain fails here, not later."""
    answer = httpx.get(
        f"{servers.url}/api/v2/public/linked-account",
        headers={"x-api-key": DEFAULT_API_KEY},
        timeout=10,
        trust_env=False,  # loopback: no proxy from the environment
    )
    if answer.status_code != 200:
        raise HarnessError(f"nginx -> emulator answered {answer.status_code}: {answer.text[:300]}")
    time.sleep(SETTLE)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        measure(args)
    except (HarnessError, LogFormatError) as error:
        print(f"bench_limits: the harness failed: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
