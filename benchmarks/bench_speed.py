"""CPU per call against raw httpx for four shapes, the import cost, and the sync facade.

One command measures the figures:

- (a) GET one object (`linked_accounts.retrieve`), (b) GET a list of 10
  (`webhooks.list`), (c) GET one page of 100 linked accounts (`linked_accounts.list`),
  (d) POST a JSON body (`webhooks.create`): CPU time per call of `AsyncRefold` against
  raw `httpx.AsyncClient` doing the same request plus `json.loads` of the same bytes,
  both on an `httpx.MockTransport` answering prepared bytes (the SDK's own pool sends
  through it: `transport=`, with `rate_limit=None`). The two sides run in
  alternating blocks (so load from elsewhere hits both alike); a round's ratio is the
  median of the adjacent blocks' ratios, and the figure is the median of the rounds.
  With `openai` installed, `AsyncOpenAI` makes the same shapes on the same transport
  (models.retrieve, models.list of 10 and of 100, a POST) as a reference row.
- loopback: (a) again over real sockets (HTTP/1.1 on 127.0.0.1, `refold emulator` in
  another process answering both sides), CPU of this thread per call.
- import: wall time of a fresh process that imports `refold_async` and `refold_sync`
  and builds `AsyncRefold` and `Refold`, against one that imports the dependencies
  (httpx, attrs, cattrs, anyio, aiolimiter); median of 9, the two kinds interleaved. Both
  sides load compiled bytecode, as installed packages do (the SDK's is written first).
- sync facade: wall time per call of `Refold` against `AsyncRefold` (the same GET),
  unpinned and pinned to one CPU (a child process under `os.sched_setaffinity`), and
  the hop alone (`refold_sync._portal.run()` of a coroutine that only returns, through
  the anyio portal's `start_task_soon`), next to the same hop through asyncio's
  `run_coroutine_threadsafe` on a loop thread of its own, in the same run.
- `--backend trio` (or `both`): (a) to (d) also under trio, next to asyncio, with the
  same client as the CPU rows.

Run: `python benchmarks/bench_speed.py [--rounds N] [--backend trio] [--markdown]` or
`nox -s bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout

from refold_async import AsyncRefold  # noqa: E402
from refold_sync import Refold, _portal  # noqa: E402

KEY = "tk_bench_0000000000000000"
BASE = "https://bench.refold.invalid"
BLOCK = 100  # calls per timed block; the sides' blocks alternate
BLOCKS = 8  # blocks of each side per round
WARM_UP = 300

Call = Callable[[], Awaitable[object]]


def account(i: int) -> dict[str, Any]:
    return {
        "_id": f"65f0c0ffee{i:014d}",
        "account_id": f"acct_{i}",
        "associated_org": "org_1",
        "name": f"Acme {i}",
        "environment": "test",
        "udf": [{"key_name": "plan", "key_value": "pro"}],
        "is_seed": False,
        "createdAt": "2026-01-01T00:00:00.000Z",
        "updatedAt": "2026-01-02T00:00:00.000Z",
    }


def webhook(i: int) -> dict[str, Any]:
    return {
        "_id": f"wh_{i}",
        "org_id": "org_1",
        "environment": "test",
        "is_enabled": True,
        "webhook_events": ["execution.completed", "execution.failed"],
        "slug": f"hook-{i}",
        "description": "notify the billing service",
        "workflow_ids": ["wf_1", "wf_2"],
        "webhook_url": f"https://hooks.example.com/{i}",
        "webhook_headers": {"x-team": "billing"},
        "method": "POST",
        "webhook_type": "default",
        "createdAt": "2026-01-01T00:00:00.000Z",
        "updatedAt": "2026-01-02T00:00:00.000Z",
    }


def page_of(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "docs": items,
        "totalDocs": 1000,
        "limit": len(items),
        "page": 1,
        "totalPages": 10,
        "pagingCounter": 1,
        "hasPrevPage": False,
        "hasNextPage": True,
        "prevPage": None,
        "nextPage": 2,
    }


def openai_model(i: int) -> dict[str, Any]:
    return {"id": f"model-{i}", "object": "model", "created": 1700000000, "owned_by": "org_1"}


BODIES: dict[str, bytes] = {
    "a": json.dumps(account(1)).encode(),
    "b": json.dumps([webhook(i) for i in range(10)]).encode(),
    "c": json.dumps(page_of([account(i) for i in range(100)])).encode(),
    "d": json.dumps(webhook(1)).encode(),
    "oa": json.dumps(openai_model(1)).encode(),
    "ob": json.dumps({"object": "list", "data": [openai_model(i) for i in range(10)]}).encode(),
    "oc": json.dumps({"object": "list", "data": [openai_model(i) for i in range(100)]}).encode(),
    "od": json.dumps(
        {
            "id": "file-1",
            "object": "vector_store",
            "created_at": 1700000000,
            "name": "billing",
            "usage_bytes": 0,
            "file_counts": {
                "in_progress": 0,
                "completed": 0,
                "failed": 0,
                "cancelled": 0,
                "total": 0,
            },
            "status": "completed",
            "last_active_at": None,
            "metadata": {},
        }
    ).encode(),
}
ROUTES: dict[tuple[str, str], bytes] = {
    ("GET", "/api/v2/public/linked-account/acct_1"): BODIES["a"],
    ("GET", "/api/v2/public/webhook"): BODIES["b"],
    ("GET", "/api/v2/public/linked-account"): BODIES["c"],
    ("POST", "/api/v2/public/webhook"): BODIES["d"],
    ("GET", "/v1/models/model-1"): BODIES["oa"],
    ("GET", "/v1/models"): BODIES["ob"],
    ("GET", "/v1/models?limit=100"): BODIES["oc"],
    ("POST", "/v1/vector_stores"): BODIES["od"],
}
HEADERS = {"content-type": "application/json"}


def handler(request: httpx.Request) -> httpx.Response:
    path = request.url.raw_path.decode()
    content = ROUTES.get((request.method, path)) or ROUTES[(request.method, request.url.path)]
    return httpx.Response(200, headers=HEADERS, content=content)


def mock_http(**kwargs: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler), **kwargs)


SHAPES = {
    "a": "(a) GET one object",
    "b": "(b) GET a list of 10 (`webhooks.list`)",
    "c": "(c) GET one page of 100 linked accounts",
    "d": "(d) POST a JSON body",
}
TARGETS = {"a": 1.10, "b": 1.30, "c": 2.0, "d": 1.10}
WEBHOOK_BODY = {
    "webhook_url": "https://hooks.example.com/1",
    "webhook_events": ["execution.completed", "execution.failed"],
    "description": "notify the billing service",
}


def raw_calls(raw: httpx.AsyncClient) -> dict[str, Call]:
    headers = {"x-api-key": KEY}

    async def get(url: str, params: dict[str, Any] | None = None) -> object:
        response = await raw.get(url, params=params, headers=headers)
        response.raise_for_status()
        return json.loads(response.content)

    async def post(url: str, body: dict[str, Any]) -> object:
        response = await raw.post(url, json=body, headers=headers)
        response.raise_for_status()
        return json.loads(response.content)

    return {
        "a": lambda: get("/api/v2/public/linked-account/acct_1"),
        "b": lambda: get("/api/v2/public/webhook"),
        "c": lambda: get("/api/v2/public/linked-account", {"limit": 100}),
        "d": lambda: post("/api/v2/public/webhook", WEBHOOK_BODY),
    }


def sdk_calls(sdk: AsyncRefold) -> dict[str, Call]:
    async def page() -> object:
        return await sdk.linked_accounts.list(limit=100)

    return {
        "a": lambda: sdk.linked_accounts.retrieve("acct_1"),
        "b": lambda: sdk.webhooks.list(),
        "c": page,
        "d": lambda: sdk.webhooks.create(**WEBHOOK_BODY),
    }


def openai_calls() -> dict[str, Call] | None:
    try:
        import openai
    except ImportError:
        return None
    client = openai.AsyncOpenAI(
        api_key="sk-bench", base_url="https://bench.openai.invalid/v1", http_client=mock_http()
    )

    async def listed(limit: int | None) -> object:
        if limit is None:
            page = await client.models.list()
        else:
            page = await client.models.list(extra_query={"limit": limit})
        return page.data

    return {
        "a": lambda: client.models.retrieve("model-1"),
        "b": lambda: listed(None),
        "c": lambda: listed(100),
        "d": lambda: client.vector_stores.create(name="billing"),
    }


async def cpu_block(call: Call, calls: int) -> float:
    """CPU microseconds per call over `calls` calls (this thread's time)."""
    start = time.thread_time()
    for _ in range(calls):
        await call()
    return (time.thread_time() - start) / calls * 1e6


async def concurrent_block(call: Call, calls: int, concurrency: int) -> float:
    """CPU microseconds per call over `calls` calls made by `concurrency` tasks at once."""
    if concurrency <= 1:
        return await cpu_block(call, calls)
    each = max(calls // concurrency, 1)

    async def worker() -> None:
        for _ in range(each):
            await call()

    start = time.thread_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (time.thread_time() - start) / (each * concurrency) * 1e6


async def compare(raw: Call, other: Call, rounds: int) -> tuple[list[float], float, float]:
    """Ratios per round (other / raw), and the median µs per call of each side."""
    for _ in range(WARM_UP):
        await raw()
        await other()
    ratios: list[float] = []
    raw_all: list[float] = []
    other_all: list[float] = []
    for _ in range(rounds):
        pairs: list[float] = []
        for _ in range(BLOCKS):
            r = await cpu_block(raw, BLOCK)
            o = await cpu_block(other, BLOCK)
            raw_all.append(r)
            other_all.append(o)
            pairs.append(o / r)
        ratios.append(statistics.median(pairs))
    return ratios, statistics.median(raw_all), statistics.median(other_all)


async def cpu_section(rounds: int, results: dict[str, Any], backend: str = "asyncio") -> None:
    raw = mock_http(base_url=BASE)
    # The SDK's own pool over the same mock transport raw httpx uses (`transport=`):
    # what a default client does per call, less the sockets.
    sdk = AsyncRefold(
        api_key=KEY, base_url=BASE, rate_limit=None, transport=httpx.MockTransport(handler)
    )
    raws, ours, theirs = raw_calls(raw), sdk_calls(sdk), openai_calls()
    if backend != "asyncio":
        theirs = None  # the reference row is asyncio's
    results = (
        results.setdefault("backends", {}).setdefault(backend, {})
        if backend != "asyncio"
        else results
    )
    for shape, title in SHAPES.items():
        ratios, raw_us, sdk_us = await compare(raws[shape], ours[shape], rounds)
        median = statistics.median(ratios)
        row: dict[str, Any] = {
            "title": title,
            "raw_us": raw_us,
            "sdk_us": sdk_us,
            "ratios": ratios,
            "median": median,
            "target": TARGETS[shape],
        }
        if theirs is not None:
            o_ratios, _, o_us = await compare(raws[shape], theirs[shape], max(1, rounds // 2))
            row["openai"] = statistics.median(o_ratios)
            row["openai_us"] = o_us
        results.setdefault("cpu", {})[shape] = row
        verdict = "ok" if median <= TARGETS[shape] else "MISSED"
        extra = f"   openai {row['openai']:.2f} x" if "openai" in row else ""
        print(
            f"[{backend}] {title:42s} raw {raw_us:7.1f} µs  refold {sdk_us:7.1f} µs  rounds "
            f"{', '.join(f'{r:.2f}' for r in ratios)}  median {median:.2f} x "
            f"(target <= {TARGETS[shape]:.2f}: {verdict}){extra}",
            flush=True,
        )
    await raw.aclose()
    await sdk.aclose()


DEPS = "import httpx, attrs, cattrs, anyio, aiolimiter"
SDK = (
    "import refold_async, refold_sync\n"
    "a = refold_async.AsyncRefold(api_key='tk_bench_import')\n"
    "s = refold_sync.Refold(api_key='tk_bench_import')\n"
    "s.close()\n"
)


def process_wall(code: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout, as in this process
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env)  # noqa: S603 - our code
    return time.perf_counter() - start


def compile_bytecode() -> None:
    """Write this checkout's bytecode, as installing a wheel does (pip compiles at install).

    The dependencies come from site-packages with theirs; without ours (an editable
    install, or `PYTHONDONTWRITEBYTECODE=1` as on CI machines) every fresh process would
    compile the SDK's sources again, and the figure would time the compiler (about 35 ms).
    """
    for package in ("refold_async", "refold_sync"):
        compileall.compile_dir(ROOT / package, quiet=1)


def import_section(runs: int, results: dict[str, Any]) -> None:
    compile_bytecode()
    deps: list[float] = []
    sdk: list[float] = []
    for _ in range(runs):  # interleaved: load from elsewhere hits both alike
        deps.append(process_wall(DEPS))
        sdk.append(process_wall(SDK))
    ratio = statistics.median(sdk) / statistics.median(deps)
    results["import"] = {
        "deps_ms": statistics.median(deps) * 1e3,
        "sdk_ms": statistics.median(sdk) * 1e3,
        "ratio": ratio,
    }
    print(
        f"import + construct both clients: {statistics.median(sdk) * 1e3:.0f} ms against the "
        f"dependencies' {statistics.median(deps) * 1e3:.0f} ms (median of {runs} fresh processes): "
        f"{ratio:.2f} x (target <= 1.30: {'ok' if ratio <= 1.3 else 'MISSED'})",
        flush=True,
    )


SYNC_BLOCK = 250


def sync_ratio(rounds: int) -> tuple[float, float, float]:
    """Median wall µs per call of the async face, the sync face, and their median ratio."""
    loop = asyncio.new_event_loop()
    sdk = AsyncRefold(api_key=KEY, base_url=BASE, rate_limit=None, http_client=mock_http())
    client = Refold(api_key=KEY, base_url=BASE, rate_limit=None, http_client=mock_http())

    async def run_async(calls: int) -> float:
        start = time.perf_counter()
        for _ in range(calls):
            await sdk.linked_accounts.retrieve("acct_1")
        return time.perf_counter() - start

    def run_sync(calls: int) -> float:
        start = time.perf_counter()
        for _ in range(calls):
            client.linked_accounts.retrieve("acct_1")
        return time.perf_counter() - start

    loop.run_until_complete(run_async(WARM_UP))
    run_sync(WARM_UP)
    pairs: list[tuple[float, float]] = []
    for _ in range(rounds * 8):
        a = loop.run_until_complete(run_async(SYNC_BLOCK)) / SYNC_BLOCK * 1e6
        s = run_sync(SYNC_BLOCK) / SYNC_BLOCK * 1e6
        pairs.append((a, s))
    client.close()
    loop.run_until_complete(sdk.aclose())
    loop.close()
    return (
        statistics.median(a for a, _ in pairs),
        statistics.median(s for _, s in pairs),
        statistics.median(s / a for a, s in pairs),
    )


async def loopback_cpu(
    base: str, key: str, rounds: int, concurrency: int = 1
) -> tuple[float, float, float]:
    """CPU µs per GET of one linked account over real sockets (raw httpx, refold; medians
    of blocks), `concurrency` calls in flight, and the median ratio of adjacent blocks."""
    sdk = AsyncRefold(api_key=key, base_url=base, rate_limit=None)
    await sdk.linked_accounts.create(account_id="acct_bench", name="Bench")
    raw = httpx.AsyncClient(base_url=base)
    headers = {"x-api-key": key}

    async def raw_get() -> object:
        response = await raw.get("/api/v2/public/linked-account/acct_bench", headers=headers)
        response.raise_for_status()
        return json.loads(response.content)

    async def sdk_get() -> object:
        return await sdk.linked_accounts.retrieve("acct_bench")

    for _ in range(WARM_UP):
        await raw_get()
        await sdk_get()
    raws: list[float] = []
    ours: list[float] = []
    calls = BLOCK * max(1, concurrency // 10)  # every task makes a few calls per block
    for _ in range(rounds * 4):
        raws.append(await concurrent_block(raw_get, calls, concurrency))
        ours.append(await concurrent_block(sdk_get, calls, concurrency))
    await raw.aclose()
    await sdk.aclose()
    ratio = statistics.median(o / r for r, o in zip(raws, ours, strict=True))
    return statistics.median(raws), statistics.median(ours), ratio


def loopback_section(rounds: int, results: dict[str, Any], concurrency: int = 1) -> None:
    """(a) over HTTP/1.1 on 127.0.0.1: `refold emulator` in its own process answers both."""
    command = [sys.executable, "-m", "refold_async._cli", "emulator", "--port", "0"]
    server = subprocess.Popen(  # noqa: S603 - our own CLI
        [*command, "--no-rate-limit"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        base = line.split(" listening on ", 1)[1].split()[0]
        from refold_async.testing import DEFAULT_API_KEY

        raw, ours, ratio = asyncio.run(loopback_cpu(base, DEFAULT_API_KEY, rounds, concurrency))
    finally:
        server.terminate()
        server.wait(10)
    results["loopback"] = {
        "raw_us": raw,
        "sdk_us": ours,
        "ratio": ratio,
        "concurrency": concurrency,
    }
    print(
        f"(a) over loopback HTTP/1.1 (the emulator in another process), {concurrency} in "
        f"flight: raw {raw:.1f} µs, refold {ours:.1f} µs CPU per call: {ratio:.2f} x",
        flush=True,
    )


async def _nothing() -> None:
    return None


def portal_hop(rounds: int) -> tuple[float, float]:
    """Median wall µs of one hop: the sync face's (`_portal.run()`, anyio's portal) and
    asyncio's `run_coroutine_threadsafe` to a loop thread of its own, in alternating
    blocks of a coroutine that only returns."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="bench-threadsafe", daemon=True)
    thread.start()

    def threadsafe() -> None:
        asyncio.run_coroutine_threadsafe(_nothing(), loop).result()

    for _ in range(WARM_UP):
        _portal.run(_nothing)
        threadsafe()
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(rounds * 8):
        start = time.perf_counter()
        for _ in range(SYNC_BLOCK):
            _portal.run(_nothing)
        ours.append((time.perf_counter() - start) / SYNC_BLOCK * 1e6)
        start = time.perf_counter()
        for _ in range(SYNC_BLOCK):
            threadsafe()
        theirs.append((time.perf_counter() - start) / SYNC_BLOCK * 1e6)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()
    return statistics.median(ours), statistics.median(theirs)


def sync_section(rounds: int, results: dict[str, Any]) -> None:
    a, s, ratio = sync_ratio(rounds)
    hop, threadsafe = portal_hop(rounds)
    results["sync"] = {
        "unpinned": {
            "async_us": a,
            "sync_us": s,
            "ratio": ratio,
            "hop_us": hop,
            "threadsafe_hop_us": threadsafe,
        }
    }
    print(
        f"sync facade, unpinned: AsyncRefold {a:.1f} µs, Refold {s:.1f} µs: {ratio:.2f} x "
        f"(the hop alone: {hop:.1f} µs through the anyio portal, {threadsafe:.1f} µs "
        f"through run_coroutine_threadsafe)"
    )
    if hasattr(os, "sched_setaffinity"):
        out = subprocess.run(  # noqa: S603 - our own script
            [sys.executable, __file__, "--pinned-sync", "--rounds", str(rounds)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        pinned = json.loads(out)
        results["sync"]["pinned"] = pinned
        print(
            f"sync facade, pinned to CPU 0: AsyncRefold {pinned['async_us']:.1f} µs, "
            f"Refold {pinned['sync_us']:.1f} µs: {pinned['ratio']:.2f} x "
            f"(the hop alone: {pinned['hop_us']:.1f} µs through the anyio portal, "
            f"{pinned['threadsafe_hop_us']:.1f} µs through run_coroutine_threadsafe)"
        )


def markdown(results: dict[str, Any]) -> str:
    lines = ["| shape | raw httpx µs | refold µs | refold per round | refold median | openai |"]
    lines.append("| --- | ---: | ---: | --- | ---: | ---: |")
    rows = [("", row) for row in results["cpu"].values()]
    for backend, figures in results.get("backends", {}).items():
        rows += [(f" ({backend})", row) for row in figures["cpu"].values()]
    for where, row in rows:
        openai = f"{row['openai']:.2f} x" if "openai" in row else "—"
        lines.append(
            f"| {row['title']}{where} | {row['raw_us']:.1f} | {row['sdk_us']:.1f} | "
            f"{', '.join(f'{r:.2f}' for r in row['ratios'])} | **{row['median']:.2f} x** | {openai} |"
        )
    if "loopback" in results:
        loop = results["loopback"]
        lines.append(
            f"| (a) over loopback HTTP/1.1 | {loop['raw_us']:.1f} | {loop['sdk_us']:.1f} | | "
            f"**{loop['ratio']:.2f} x** | |"
        )
    if "import" in results:
        imp = results["import"]
        lines.append(
            f"| import both + construct both | {imp['deps_ms']:.0f} ms (deps) | "
            f"{imp['sdk_ms']:.0f} ms | | **{imp['ratio']:.2f} x** | |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--imports", type=int, default=9, help="fresh processes of each kind")
    parser.add_argument("--only", choices=["cpu", "loopback", "import", "sync"], action="append")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--concurrency", type=int, default=1, help="loopback: calls in flight at once"
    )
    parser.add_argument(
        "--backend",
        choices=["asyncio", "trio", "both"],
        default="asyncio",
        help="the CPU rows' event loop; trio and both also run them under asyncio",
    )
    parser.add_argument("--pinned-sync", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pinned_sync:
        os.sched_setaffinity(0, {0})  # before the sync client starts its loop thread
        a, s, ratio = sync_ratio(args.rounds)
        hop, threadsafe = portal_hop(args.rounds)
        print(
            json.dumps(
                {
                    "async_us": a,
                    "sync_us": s,
                    "ratio": ratio,
                    "hop_us": hop,
                    "threadsafe_hop_us": threadsafe,
                }
            )
        )
        return
    sections = args.only or ["cpu", "loopback", "import", "sync"]
    results: dict[str, Any] = {"cpu": {}, "load_average_start": os.getloadavg()}
    print(
        f"Python {sys.version.split()[0]}, httpx {httpx.__version__}, load average "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    if "cpu" in sections:
        anyio.run(cpu_section, args.rounds, results, "asyncio", backend="asyncio")
        if args.backend != "asyncio":
            anyio.run(cpu_section, args.rounds, results, "trio", backend="trio")
    if "loopback" in sections:
        loopback_section(args.rounds, results, args.concurrency)
    if "import" in sections:
        import_section(args.imports, results)
    if "sync" in sections:
        sync_section(args.rounds, results)
    results["load_average_end"] = os.getloadavg()
    print(f"load average at the end {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.markdown:
        print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
