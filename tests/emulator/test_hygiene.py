"""The emulator keeps keys and tokens out of reprs, closes the pools it makes, and the demo
refuses every key but a test one."""

from __future__ import annotations

import json

import pytest

from refold_async import AsyncRefold, EnvironmentMismatchError
from refold_async._cli import main
from refold_async.testing import EmulatedRequest, Emulator
from refold_async.testing._demo import run_demo
from tests.emulator.conftest import ACCOUNT, LIVE_KEY, TEST_KEY

from .conftest import make_client


def _mint_request(key: str) -> EmulatedRequest:
    return EmulatedRequest(
        method="POST",
        path="/api/v2/public/session-token",
        headers={
            "x-api-key": key,
            "linked_account_id": ACCOUNT,
            "content-type": "application/json",
        },
        body=json.dumps({"linked_account_id": ACCOUNT}).encode(),
    )


async def test_emulator_reprs_never_show_a_key_or_a_minted_token(
    emulator: Emulator, client: AsyncRefold
) -> None:
    """World, backend, token records, stats, server, requests and responses all hide secrets."""
    minted = await client.session_tokens.create(linked_account_id=ACCOUNT)
    assert minted.token
    backend = emulator._backend
    records = list(backend.tokens.values())
    assert records, "a token was minted"
    secrets = {TEST_KEY, LIVE_KEY, minted.token}
    secrets |= {r.token for r in records} | {r.refresh_token for r in records}
    request = _mint_request(TEST_KEY)
    response = emulator.dispatch(request)
    assert response.status in (200, 201)
    secrets |= {response.json()["token"]}
    bearer = EmulatedRequest(
        method="GET", path="/x", headers={"authorization": f"Bearer {minted.token}"}
    )
    objects: list[object] = [
        emulator,
        emulator.world(),
        emulator.world(LIVE_KEY),
        backend,
        *records,
        emulator.stats,
        emulator.server(),
        emulator.transport(),
        request,
        response,
        bearer,
        minted,
    ]
    for obj in objects:
        text = repr(obj)
        leaked = sorted(s for s in secrets if s in text)
        assert not leaked, f"{type(obj).__name__} repr shows a secret"
    assert "x-api-key" in repr(request)  # the header's name stays, its value is masked


async def test_emulator_client_closes_its_pool(emulator: Emulator) -> None:
    """`async with emulator.client()` closes the httpx client that it made."""
    async with make_client(emulator) as client:
        await client.webhooks.list()
        http = client._transport.http
        assert not http.is_closed
    assert http.is_closed


async def test_emulator_client_pool_closes_on_aclose(emulator: Emulator) -> None:
    """`aclose()` without `async with` closes it too; derived clients leave it alone."""
    client = make_client(emulator)
    derived = client.for_linked_account(ACCOUNT)
    await derived.aclose()
    assert not client._transport.http.is_closed
    await client.aclose()
    assert client._transport.http.is_closed


async def test_the_demo_client_refuses_a_non_test_key() -> None:
    """Given a base URL, run_demo's client refuses a live key before sending anything."""
    emulator = Emulator(api_keys=[LIVE_KEY], rate_limit=None, execution_delay=0.0)
    async with emulator.server() as server:
        with pytest.raises(EnvironmentMismatchError) as caught:
            await run_demo(accounts=1, base_url=server.url, api_key=LIVE_KEY)
    assert LIVE_KEY not in str(caught.value)
    assert emulator.stats.requests == 0


@pytest.mark.parametrize("key", ["xk_unknown_secret_value", "sk_other_secret_value"])
def test_the_demo_command_refuses_a_key_of_no_known_environment(
    key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key that passes the `pk` check but is no test key exits 2 without being printed."""
    # Nothing listens on port 9: were the key let through, every account would fail (exit 1).
    code = main(["demo", "--accounts", "1", "--base-url", "http://127.0.0.1:9", "--api-key", key])
    captured = capsys.readouterr()
    assert code == 2
    assert "test (tk...) key" in captured.err
    assert key not in captured.err + captured.out


async def test_the_demo_client_accepts_a_test_key() -> None:
    """The same path with a `tk` key runs the job through the loopback server."""
    emulator = Emulator(api_keys=[TEST_KEY], execution_delay=0.0)
    async with emulator.server() as server:
        report = await run_demo(accounts=1, base_url=server.url, api_key=TEST_KEY)
    assert (report.ok, report.failed) == (1, 0)
    assert emulator.stats.requests == report.calls
