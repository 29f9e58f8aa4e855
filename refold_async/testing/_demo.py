"""`refold demo`: a real batch job through the SDK's public API, `client.batch()`.

For each of N linked accounts, through one `AsyncRefold` with the default rate limit
(20/s, burst 5) and its batch runner (which sizes the work in flight from that budget):
upsert the account, mint a session token for it, fire an event for it, then poll its
executions until the run completes. Progress is the runner's: a live bar on a terminal
(with the `progress` extra), else one line per tenth of the job. Against the in-process
emulator by default (which enforces the server's limit with 429s), or against
`--base-url` with a test key. The summary compares the wall time with the floor the
rate limit allows, `(calls - 5) / 20` seconds. No key or token is ever printed.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

import anyio
import attrs
import httpx
from typing_extensions import override

from refold_async import AsyncRefold, RateLimit
from refold_async.batch import BatchReport, ItemState
from refold_async.batch._progress import TextProgress

from ._emulator import BASE_URL, Emulator

__all__ = ["DemoReport", "run_demo"]

EVENT = "refold.demo.sync"
POLL_SECONDS = 0.5
WAIT_SECONDS = 120.0
DEFAULT_LIMIT = RateLimit()


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts requests and 429 answers on their way through another transport."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests = 0
        self.rate_limited = 0

    @override
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        response = await self.inner.handle_async_request(request)
        if response.status_code == 429:
            self.rate_limited += 1
        return response

    @override
    async def aclose(self) -> None:
        await self.inner.aclose()


@attrs.frozen(kw_only=True)
class DemoReport:
    """What the demo did and how fast."""

    accounts: int
    ok: int
    failed: int
    calls: int
    rate_limited: int
    seconds: float
    target: str
    batch: BatchReport[int, None]
    server_max_per_second: int | None = None
    server_max_per_instant: int | None = None

    @property
    def floor(self) -> float:
        """The least time the server's budget allows for this many calls."""
        return max(0.0, (self.calls - DEFAULT_LIMIT.burst) / DEFAULT_LIMIT.per_second)

    def render(self) -> str:
        """The summary, one fact per line."""
        rate = self.calls / self.seconds if self.seconds > 0 else 0.0
        over = (self.seconds / self.floor - 1) * 100 if self.floor > 0 else 0.0
        lines = [
            f"refold demo: {self.accounts} linked accounts against {self.target}",
            self.batch.summary(),
            f"  calls made        {self.calls} (with the job's setup)",
            f"  wall time         {self.seconds:.2f} s  (floor ({self.calls} - 5) / 20 = {self.floor:.2f} s, {over:+.1f}%)",
            f"  throughput        {rate:.1f} requests/s  (limit {DEFAULT_LIMIT.per_second:g}/s, burst {DEFAULT_LIMIT.burst})",
            f"  429s seen         {self.rate_limited}  (expected 0)",
            f"  accounts          {self.ok} ok / {self.failed} failed",
        ]
        if self.server_max_per_second is not None:
            lines.append(
                f"  server saw        at most {self.server_max_per_second} requests in any 1 s, "
                f"{self.server_max_per_instant} at one instant"
            )
        return "\n".join(lines)


async def _wait_for_completion(client: AsyncRefold, account: str) -> None:
    with anyio.fail_after(WAIT_SECONDS):
        while True:
            page = await client.executions.list(linked_account_id=account, limit=1)
            status = page.items[0].status if page.items else None
            if status == "Completed":
                return
            if status in ("Errored", "Stopped", "Failed"):
                raise RuntimeError(f"execution ended {status}")
            await anyio.sleep(POLL_SECONDS)


def account_name(index: int) -> str:
    """The demo's linked account for item `index`: the item's key in the batch."""
    return f"demo-account-{index:05d}"


async def one_account(client: AsyncRefold, index: int) -> None:
    """The work for one item: upsert, mint a token, fire the event, wait for its run."""
    account = account_name(index)
    await client.linked_accounts.upsert(linked_account_id=account, name=f"Demo customer {index}")
    await client.session_tokens.create(linked_account_id=account)  # minted, never shown
    await client.events.trigger(event=EVENT, linked_account_id=account, payload={"customer": index})
    await _wait_for_completion(client, account)


async def _ensure_event(client: AsyncRefold) -> None:
    if not any(event.name == EVENT for event in await client.events.list()):
        await client.events.create(name=EVENT, response="accepted")


def _progress(stream: TextIO) -> bool | TextProgress:
    # A live bar on a terminal (tqdm, the `progress` extra), else one line per tenth.
    if stream is sys.stderr and stream.isatty():
        return True
    return TextProgress(stream)


async def run_demo(
    *,
    accounts: int,
    base_url: str | None = None,
    api_key: str | None = None,
    stream: TextIO = sys.stderr,
    emulator: Emulator | None = None,
) -> DemoReport:
    """Run the batch job and report.

    Args:
        accounts: How many linked accounts to process.
        base_url: An API to run against; without it, an in-process emulator.
        api_key: The test (`tk…`) key for `base_url`; any other raises
            `EnvironmentMismatchError` before a request is sent.
        stream: Where the progress bar goes.
        emulator: The emulator to use when there is no `base_url` (a fresh one by default).
    """
    emulator = (emulator or Emulator(execution_delay=1.0)) if base_url is None else None
    inner: httpx.AsyncBaseTransport = (
        emulator.transport() if emulator else httpx.AsyncHTTPTransport()
    )
    counter = CountingTransport(inner)
    started = time.monotonic()
    async with httpx.AsyncClient(transport=counter, timeout=30.0) as http:
        key = emulator.api_key if emulator else api_key
        # The demo writes data: against a real API the client itself refuses any key but a
        # test one (EnvironmentMismatchError, before a request is sent).
        client = AsyncRefold(
            api_key=key, base_url=base_url or BASE_URL, http_client=http, rate_limit=DEFAULT_LIMIT,
            expect_environment="test" if base_url is not None else None,
        )  # fmt: skip
        await _ensure_event(client)
        batch = await client.batch(
            range(1, accounts + 1),
            one_account,
            key=account_name,
            progress=_progress(stream),
            keep_values=False,
        )
    stats = emulator.stats.total if emulator else None
    failed = accounts - batch.counts[ItemState.SUCCEEDED]
    return DemoReport(
        accounts=accounts, ok=accounts - failed, failed=failed, calls=counter.requests, batch=batch,
        rate_limited=counter.rate_limited, seconds=time.monotonic() - started,
        target="the in-process emulator" if emulator else "the API at the given base URL",
        server_max_per_second=stats.max_per_second if stats else None,
        server_max_per_instant=stats.max_per_instant if stats else None,
    )  # fmt: skip
