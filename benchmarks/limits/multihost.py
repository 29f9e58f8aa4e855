"""The multi-host scenarios of `bench_limits`: neighbours, a web app, Redis outages.

Hosts are simulated as groups of processes (`host_worker.py`), each group with a
`REFOLD_RATE_LIMIT_DIR` of its own, so the host scope shares a budget inside a group and
knows nothing of the others; all go through the harness's nginx (`limit_req`, the API's
bucket: 20/s, burst 5), whose access log counts the 429s.

- `neighbours`: 2 hosts x 2 processes, host scope only (no Redis), 240 calls in all;
- `neighbours-75s`: the same for 75 s, to see how the budget splits between the hosts;
- `web`: `uvicorn --workers 4` serving a handler that makes 2 calls with
  `max_queue_wait=5` (and `client.reserve(2)`), offered 50 requests/s for 20 s;
- `redis-kill-5s`, `redis-freeze-5s`, `redis-kill-70s`, `redis-freeze-70s` (2 hosts) and
  `redis4-...` (4 hosts): 2 processes per host on `RedisRateLimiter` over a Redis of the
  harness's own, killed (SIGKILL, then restarted empty) or frozen (SIGSTOP, SIGCONT) 3 s
  after every process has made its first call (on a loaded machine cold processes can
  take seconds to get there; an outage before a process has ever reached Redis is
  another scenario), for 5 s (a 15 s run) or 70 s (an 80 s run).

With `BENCH_TRACE=DIR` the workers log the limiter's debug trace (outage noticed, the
share, the bucket when falling back and when seeding Redis, each 429) and each run's
logs and access-log times (epoch ms, status) are kept in `DIR`.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import attrs
import httpx

from refold_async.testing._redis_server import RedisServer, RedisServerError

from .access_log import parse_lines, summarize
from .servers import HarnessError, Servers, free_port

PER_SECOND = 20.0
BURST = 5
HERE = Path(__file__).parent
READY_TIMEOUT = 60.0


@attrs.frozen(kw_only=True)
class HostScenario:
    name: str
    hosts: int
    per_host: int = 2
    calls: int = 0  # per process; 0: run for `duration`
    duration: float = 0.0
    outage: str | None = None  # "kill" or "freeze"
    outage_at: float = 3.0
    outage_for: float = 0.0
    description: str


HOST_SCENARIOS = {
    s.name: s
    for s in (
        HostScenario(name="neighbours", hosts=2, calls=60,
                     description="2 hosts x 2 processes, host scope only, 240 calls"),
        HostScenario(name="neighbours-75s", hosts=2, duration=75,
                     description="2 hosts x 2 processes, host scope only, 75 s"),
        HostScenario(name="redis-kill-5s", hosts=2, duration=15, outage="kill", outage_for=5,
                     description="2 hosts x 2 processes on Redis, Redis killed for 5 s"),
        HostScenario(name="redis-freeze-5s", hosts=2, duration=15, outage="freeze",
                     outage_for=5,
                     description="2 hosts x 2 processes on Redis, Redis frozen for 5 s"),
        HostScenario(name="redis4-kill-5s", hosts=4, duration=15, outage="kill", outage_for=5,
                     description="4 hosts x 2 processes on Redis, Redis killed for 5 s"),
        HostScenario(name="redis4-freeze-5s", hosts=4, duration=15, outage="freeze",
                     outage_for=5,
                     description="4 hosts x 2 processes on Redis, Redis frozen for 5 s"),
        HostScenario(name="redis-kill-70s", hosts=2, duration=80, outage="kill", outage_for=70,
                     description="2 hosts x 2 processes on Redis, Redis killed for 70 s"),
        HostScenario(name="redis-freeze-70s", hosts=2, duration=80, outage="freeze",
                     outage_for=70,
                     description="2 hosts x 2 processes on Redis, Redis frozen for 70 s"),
        HostScenario(name="redis4-kill-70s", hosts=4, duration=80, outage="kill",
                     outage_for=70,
                     description="4 hosts x 2 processes on Redis, Redis killed for 70 s"),
        HostScenario(name="redis4-freeze-70s", hosts=4, duration=80, outage="freeze",
                     outage_for=70,
                     description="4 hosts x 2 processes on Redis, Redis frozen for 70 s"),
    )
}  # fmt: skip
WEB = "web"
NAMES = [*HOST_SCENARIOS, WEB]


def _own_redis(workdir: Path) -> RedisServer:
    """A `redis-server` of the harness's own on a free port (killed, frozen, restarted)."""
    try:
        server = RedisServer(workdir)
        server.start()
    except RedisServerError as error:
        raise HarnessError(f"{error}: the Redis scenarios need one") from None
    return server


def run_hosts(scenario: HostScenario, index: int, servers: Servers) -> dict[str, Any]:
    """One run: start every host's processes, let them go, break Redis if asked."""
    run_dir = servers.workdir / f"{scenario.name}-{index}"
    run_dir.mkdir()
    redis = None
    if scenario.outage:
        redis = _own_redis(run_dir)
    offset = servers.access_log.stat().st_size
    workers: list[tuple[int, subprocess.Popen[bytes]]] = []
    try:
        for host in range(scenario.hosts):
            state = run_dir / f"host-{host}"
            state.mkdir(mode=0o700)
            env = {
                **os.environ,
                "REFOLD_API_KEY": servers.api_key,
                "REFOLD_BASE_URL": servers.url,
                "REFOLD_RATE_LIMIT_DIR": str(state),
            }
            for proc in range(scenario.per_host):
                tag = f"{host}-{proc}"
                command = [
                    sys.executable, str(HERE / "host_worker.py"), "--host", str(host),
                    "--member", f"host-{host}", "--calls", str(scenario.calls),
                    "--duration", str(scenario.duration), "--concurrency", "8",
                    "--ready", str(run_dir / f"ready-{tag}"),
                    "--started", str(run_dir / f"started-{tag}"),
                    "--result", str(run_dir / f"result-{tag}.json"),
                    *(["--redis", redis.url] if redis is not None else []),
                ]  # fmt: skip
                with (run_dir / f"worker-{tag}.log").open("wb") as out:
                    workers.append(
                        (host, subprocess.Popen(  # noqa: S603 - our own worker
                            command, stdin=subprocess.PIPE, stdout=out,
                            stderr=subprocess.STDOUT, env=env,
                        ))
                    )  # fmt: skip
        _wait_ready(run_dir, len(workers), [w for _, w in workers])
        for _, worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
            worker.stdin.close()
        outage = None
        if redis is not None:
            outage = threading.Thread(
                target=_break, args=(redis, scenario, run_dir, len(workers)), daemon=True
            )
            outage.start()
        limit = (scenario.duration or 60) + 60
        for _, worker in workers:
            worker.wait(timeout=limit)
        if outage is not None:
            outage.join(timeout=READY_TIMEOUT + scenario.outage_at + scenario.outage_for + 10)
    finally:
        for _, worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        if redis is not None:
            redis.stop()
    time.sleep(0.5)
    with servers.access_log.open("rb") as log:
        log.seek(offset)
        entries = parse_lines(log.read().decode().splitlines())
    figures = summarize(entries, per_second=PER_SECOND, burst=BURST)
    if os.environ.get("BENCH_TRACE"):
        keep = Path(os.environ["BENCH_TRACE"]) / run_dir.name
        shutil.copytree(run_dir, keep, ignore=shutil.ignore_patterns("host-*"))
        (keep / "access.log").write_text("\n".join(f"{e.arrived_ms} {e.status}" for e in entries))
    first = min((e.arrived_ms for e in entries), default=0)
    refused_at = [round((e.arrived_ms - first) / 1000, 2) for e in entries if e.status == 429]
    marked = run_dir / "outage-at"
    outage_at = (
        round(float(marked.read_text()) - first / 1000, 2) if marked.exists() and entries else None
    )
    results = [
        json.loads((run_dir / f"result-{h}-{p}.json").read_text())
        for h in range(scenario.hosts)
        for p in range(scenario.per_host)
    ]
    ok_by_host = Counter[int]()
    errors = Counter[str]()
    for result in results:
        ok_by_host[int(result["host"])] += result["ok"]
        errors.update(result["errors"])
    total_ok = sum(ok_by_host.values())
    fair = total_ok / scenario.hosts if total_ok else 0.0
    return {
        "scenario": scenario.name,
        "index": index,
        "requests": figures.requests,
        "rate_limited": figures.rate_limited,
        "ok": total_ok,
        "failed": sum(errors.values()),
        "errors": dict(errors),
        "by_host": [ok_by_host[h] for h in range(scenario.hosts)],
        "lowest_share_of_budget": min(ok_by_host[h] for h in range(scenario.hosts))
        / max(total_ok, 1),
        "lowest_vs_fair": min(ok_by_host[h] for h in range(scenario.hosts)) / fair if fair else 0.0,
        "most_in_one_second": figures.most_in_one_second,
        "wall": figures.wall,
        "429s_at": refused_at,
        "outage_at": outage_at,
    }


def _break(redis: RedisServer, scenario: HostScenario, run_dir: Path, workers: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while len(list(run_dir.glob("started-*"))) < workers and time.monotonic() < deadline:
        time.sleep(0.02)
    (run_dir / "outage-at").write_text(f"{time.time() + scenario.outage_at:.3f}")
    time.sleep(scenario.outage_at)
    if scenario.outage == "kill":
        redis.stop()
        time.sleep(scenario.outage_for)
        redis.start()
    else:
        redis.freeze()
        time.sleep(scenario.outage_for)
        redis.thaw()


def _wait_ready(run_dir: Path, count: int, workers: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while len(list(run_dir.glob("ready-*"))) < count:
        for worker in workers:
            if worker.poll() is not None:
                logs = "\n".join(p.read_text()[-1500:] for p in run_dir.glob("worker-*.log"))
                raise HarnessError(f"a worker exited before starting:\n{logs}")
        if time.monotonic() > deadline:
            raise HarnessError("workers not ready in time")
        time.sleep(0.02)


# --- the web scenario ------------------------------------------------------------------


def run_web(
    index: int, servers: Servers, *, reserve: bool, seconds: float = 20.0
) -> dict[str, Any]:
    """uvicorn with 4 workers, offered 50 requests/s for `seconds`, 2 calls each."""
    run_dir = servers.workdir / f"web-{index}-{'reserve' if reserve else 'plain'}"
    run_dir.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "REFOLD_API_KEY": servers.api_key,
        "REFOLD_BASE_URL": servers.url,
        "REFOLD_RATE_LIMIT_DIR": str(run_dir / "state"),
        "BENCH_MAX_QUEUE_WAIT": "5",
        "BENCH_RESERVE": "1" if reserve else "0",
        "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]),
    }
    with (run_dir / "uvicorn.log").open("wb") as out:
        app = subprocess.Popen(  # noqa: S603 - uvicorn on our own app
            [sys.executable, "-m", "uvicorn", "limits.webapp:app", "--workers", "4",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
             "--no-access-log"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=str(HERE.parent),
        )  # fmt: skip
    try:
        _wait_listening(port, app, run_dir)
        offset = servers.access_log.stat().st_size
        answers = asyncio.run(_offer(f"http://127.0.0.1:{port}/", seconds))
    finally:
        app.terminate()
        try:
            app.wait(10)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()
    time.sleep(0.5)
    with servers.access_log.open("rb") as log:
        log.seek(offset)
        figures = summarize(
            parse_lines(log.read().decode().splitlines()), per_second=PER_SECOND, burst=BURST
        )
    refused = [a for a in answers if a["status"] == 503]
    served = [a for a in answers if a["status"] == 200]
    return {
        "scenario": "web-reserve" if reserve else "web",
        "index": index,
        "offered": len(answers),
        "served": len(served),
        "refused": len(refused),
        "timed_out": sum(1 for a in answers if a["status"] == 0),
        "other": sum(1 for a in answers if a["status"] not in (0, 200, 503)),
        "shed_between_calls": sum(1 for a in refused if a["calls"] == 1),
        "refusal_p50_ms": round(statistics.median(a["latency"] for a in refused) * 1000, 1)
        if refused
        else None,
        "refusal_p90_ms": round(
            statistics.quantiles([a["latency"] for a in refused], n=10)[-1] * 1000, 1
        )
        if len(refused) >= 2
        else None,
        "served_p50_ms": round(statistics.median(a["latency"] for a in served) * 1000, 1)
        if served
        else None,
        "rate_limited": figures.rate_limited,
        "api_calls": figures.requests,
    }


def _wait_listening(port: int, app: subprocess.Popen[bytes], run_dir: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if app.poll() is not None:
            raise HarnessError((run_dir / "uvicorn.log").read_text()[-2000:])
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            time.sleep(2.0)  # every worker has started (they share the socket)
            return
        except OSError:
            time.sleep(0.05)
    raise HarnessError("uvicorn did not listen in time")


async def _offer(url: str, seconds: float) -> list[dict[str, Any]]:
    """50 requests a second for `seconds`, each with a 30 s timeout; what each got."""
    answers: list[dict[str, Any]] = []
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=200)
    async with httpx.AsyncClient(timeout=30, limits=limits, trust_env=False) as http:

        async def one() -> None:
            began = time.perf_counter()
            try:
                response = await http.get(url)
                calls = response.json().get("calls", 0)
                answers.append(
                    {"status": response.status_code, "calls": calls,
                     "latency": time.perf_counter() - began}
                )  # fmt: skip
            except httpx.HTTPError:
                answers.append({"status": 0, "calls": -1, "latency": time.perf_counter() - began})

        loop = asyncio.get_running_loop()
        start = loop.time()
        tasks = []
        for i in range(int(seconds * 50)):
            delay = start + i / 50 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one()))
        await asyncio.gather(*tasks)
    return answers


# --- reporting ---------------------------------------------------------------------------


def host_table(runs: dict[str, list[dict[str, Any]]]) -> str:
    head = ("| scenario | runs | 429s per run (nginx) | failed calls | calls ok per host, "
            "each run | lowest host / fair share | lowest host / calls that went through |")  # fmt: skip
    lines = [head, "|---|---|---|---|---|---|---|"]
    for name, results in runs.items():
        scenario = HOST_SCENARIOS[name]
        lines.append(
            f"| {scenario.description} | {len(results)} | "
            f"{', '.join(str(r['rate_limited']) for r in results)} | "
            f"{', '.join(str(r['failed']) for r in results)} | "
            f"{'; '.join('/'.join(map(str, r['by_host'])) for r in results)} | "
            f"{', '.join(format(r['lowest_vs_fair'], '.2f') for r in results)} | "
            f"{', '.join(format(r['lowest_share_of_budget'], '.0%') for r in results)} |"
        )
    return "\n".join(lines)


def web_table(results: list[dict[str, Any]]) -> str:
    head = ("| handler | offered | served | refused (503) | timed out | shed between calls | "
            "refusal p50 / p90 | served p50 | 429s (nginx) |")  # fmt: skip
    lines = [head, "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r['scenario']} | {r['offered']} | {r['served']} | {r['refused']} | "
            f"{r['timed_out']} | {r['shed_between_calls']} | {r['refusal_p50_ms']} ms / "
            f"{r['refusal_p90_ms']} ms | {r['served_p50_ms']} ms | {r['rate_limited']} |"
        )
    return "\n".join(lines)


def measure(names: list[str], runs: int, servers: Servers) -> tuple[str, list[dict[str, Any]]]:
    """Run the named scenarios `runs` times each; the markdown tables and every run."""
    everything: list[dict[str, Any]] = []
    host_runs: dict[str, list[dict[str, Any]]] = {}
    web_runs: list[dict[str, Any]] = []
    for name in names:
        for index in range(runs):
            if name == WEB:
                for reserve in (False, True):
                    result = run_web(index, servers, reserve=reserve)
                    web_runs.append(result)
                    everything.append(result)
                    print(f"{result}", file=sys.stderr, flush=True)
                continue
            result = run_hosts(HOST_SCENARIOS[name], index, servers)
            host_runs.setdefault(name, []).append(result)
            everything.append(result)
            shown = {k: v for k, v in result.items() if k != "ok_times"}
            print(f"{shown}", file=sys.stderr, flush=True)
    tables = []
    if host_runs:
        tables.append(host_table(host_runs))
    if web_runs:
        tables.append(web_table(web_runs))
    return "\n\n".join(tables), everything
