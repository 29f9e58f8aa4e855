"""The async client under `trio.run`: the whole user flow, in-process and on loopback.

anyio promises a library that runs on either of its backends; these tests hold the SDK to
it on trio, the backend that is not asyncio. Each flow runs under a plain `trio.run()`,
as a trio user's program would, not through a test plugin.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from refold_async import AsyncRefold
from refold_async.testing import Emulator
from refold_async.webhooks import ConnectionCreated, parse_event

trio = pytest.importorskip("trio")

HOOK = "https://hooks.example.test/refold"
ACCOUNTS = [f"acct-{n}" for n in range(7)]


class Inbox:
    """An in-process webhook receiver: keeps each body and its headers."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []

    def __call__(self, body: bytes, headers: Mapping[str, str]) -> int:
        self.received.append((body, dict(headers)))
        return 200


async def user_flow(client: AsyncRefold, emulator: Emulator, journal: Path) -> None:
    """Create linked accounts, paginate, trigger, batch, raw response, raw request, close."""
    inbox = Inbox()
    emulator.route_webhooks(HOOK, inbox)
    await client.webhooks.create(webhook_url=HOOK, webhook_events=["Connection Created"])
    async with client:
        for account in ACCOUNTS:
            await client.linked_accounts.upsert(linked_account_id=account, name=account.title())
        listed = [a.account_id async for a in client.linked_accounts.list(limit=3)]
        assert sorted(listed) == ACCOUNTS  # three pages walked

        await client.events.create(name="tick", response="ok")
        fired = await client.events.trigger(event="tick", linked_account_id="acct-0")
        assert fired is not None

        async def trigger(c: AsyncRefold, account: str) -> str:
            await c.events.trigger(event="tick", linked_account_id=account)
            return account

        report = await client.batch(ACCOUNTS, trigger, journal=journal, progress=True)
        assert len(report.succeeded) == len(ACCOUNTS)
        assert (await anyio.Path(journal).read_text()).count("acct-") >= len(ACCOUNTS)

        raw = await client.linked_accounts.with_raw_response.list(limit=2)
        assert raw.status_code == 200
        assert len(raw.parse()) == 2

        answer = await client.request("GET", "/api/v2/public/linked-account", query={"limit": 1})
        assert answer["docs"][0]["account_id"] in ACCOUNTS

    assert len(inbox.received) == len(ACCOUNTS)  # a signed delivery per new account
    body, headers = inbox.received[0]
    event = parse_event(body, headers["x-cobalt-signature"], api_key=emulator.api_key)
    assert isinstance(event, ConnectionCreated)


def run_under_trio(flow: Callable[[], Awaitable[None]]) -> None:
    trio.run(flow)


def in_process(tmp_path: Path, **options: Any) -> Callable[[], Awaitable[None]]:
    async def flow() -> None:
        emulator = Emulator(rate_limit=None)
        await user_flow(emulator.client(**options), emulator, tmp_path / "in-process.jsonl")

    return flow


def on_loopback(
    tmp_path: Path, *, user_pool: bool, **options: Any
) -> Callable[[], Awaitable[None]]:
    async def flow() -> None:
        emulator = Emulator(rate_limit=None)
        async with emulator.server() as server:
            journal = tmp_path / "loopback.jsonl"
            if not user_pool:
                client = AsyncRefold(api_key=emulator.api_key, base_url=server.url, **options)
                await user_flow(client, emulator, journal)
                return
            async with httpx.AsyncClient() as http:
                client = AsyncRefold(
                    api_key=emulator.api_key, base_url=server.url, http_client=http, **options
                )
                await user_flow(client, emulator, journal)

    return flow


def test_the_user_flow_runs_under_trio_with_default_options(tmp_path: Path) -> None:
    """Default options (the host-wide limiter, the SDK's own pool), in-process and on loopback."""
    run_under_trio(in_process(tmp_path))
    run_under_trio(on_loopback(tmp_path, user_pool=False))


def test_the_user_flow_runs_under_trio_without_the_pool_and_limiter(tmp_path: Path) -> None:
    """Everything but the SDK's pool and limiter: `rate_limit=None` and a user's httpx client.

    Tracing is on, so the span code runs under trio too.
    """
    run_under_trio(in_process(tmp_path, rate_limit=None, tracing=True))
    run_under_trio(on_loopback(tmp_path, user_pool=True, rate_limit=None, tracing=True))
