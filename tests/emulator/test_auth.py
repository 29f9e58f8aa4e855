"""Auth on the emulator is docs/architecture.md §1: keys, environments, session-token scoping."""

from __future__ import annotations

import json

import pytest

from refold_async import (
    AsyncRefold,
    AuthenticationError,
    BadRequestError,
    LinkedAccountScopeError,
    NotFoundError,
)
from refold_async.testing import EmulatedRequest, Emulator, FakeClock

from .conftest import ACCOUNT, LIVE_KEY, TEST_KEY, make_client


async def _token(client: AsyncRefold, account: str = ACCOUNT) -> str:
    minted = await client.session_tokens.create(linked_account_id=account)
    assert minted.token
    return minted.token


async def test_an_unknown_key_is_refused_with_401(emulator: Emulator) -> None:
    """A key the emulator was not given answers 401, whatever the operation."""
    async with make_client(emulator, api_key="tk_test_unknown") as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.webhooks.list()
    assert caught.value.status == 401
    assert caught.value.code == "INVALID_API_KEY"


async def test_test_and_live_keys_see_separate_worlds(
    emulator: Emulator, client: AsyncRefold
) -> None:
    """An account made with the `tk` key does not exist for the `pk` key, and vice versa."""
    async with make_client(emulator, api_key=LIVE_KEY) as live:
        assert (await live.linked_accounts.list()).total_docs == 0
        with pytest.raises(NotFoundError):
            await live.linked_accounts.retrieve(linked_account_id=ACCOUNT)
        made = await live.linked_accounts.upsert(linked_account_id="live-only")
    assert made.environment == "production"
    assert [a.account_id for a in await client.linked_accounts.list()] == [ACCOUNT]
    assert emulator.world(LIVE_KEY).environment == "production"
    assert emulator.world(TEST_KEY).environment == "test"


async def test_a_token_acts_for_its_own_account_only(
    emulator: Emulator, client: AsyncRefold
) -> None:
    """A session token reads its account; the server refuses another account's data (403),
    and the client refuses to ask for it."""
    await client.linked_accounts.upsert(linked_account_id="globex")
    token = await _token(client)
    async with make_client(emulator, session_token=token, linked_account_id=ACCOUNT) as scoped:
        assert (await scoped.linked_accounts.retrieve_current()).account_id == ACCOUNT
        assert (
            await scoped.linked_accounts.retrieve(linked_account_id=ACCOUNT)
        ).account_id == ACCOUNT
        with pytest.raises(LinkedAccountScopeError):
            await scoped.linked_accounts.retrieve(linked_account_id="globex")
        with pytest.raises(LinkedAccountScopeError):
            await scoped.executions.list(linked_account_id="globex")
    for path in ("/api/v2/public/linked-account/globex", "/api/v2/public/execution"):
        request = EmulatedRequest(
            method="GET",
            path=path,
            headers={"authorization": f"Bearer {token}", "linked_account_id": "globex"},
        )
        assert emulator.dispatch(request).status == 403, path


async def test_org_level_operations_refuse_a_session_token_with_403(
    emulator: Emulator, client: AsyncRefold
) -> None:
    """A valid token on an org-key-only operation is 403 (known caller, wrong credential)."""
    token = await _token(client)
    request = EmulatedRequest(
        method="GET",
        path="/api/v2/public/linked-account",
        headers={"authorization": f"Bearer {token}"},
    )
    answer = emulator.dispatch(request)
    assert answer.status == 403
    assert answer.json()["error"] == "FORBIDDEN_FOR_TOKEN"


async def test_token_only_operations_refuse_the_key_with_401(emulator: Emulator) -> None:
    """The session-token-only operations answer 401 to a bare API key."""
    request = EmulatedRequest(
        method="GET", path="/api/v2/public/hosted-properties", headers={"x-api-key": TEST_KEY}
    )
    answer = emulator.dispatch(request)
    assert answer.status == 401
    assert answer.json()["error"] == "TOKEN_REQUIRED"


async def test_linked_account_operations_with_the_key_need_the_header(
    emulator: Emulator, client: AsyncRefold
) -> None:
    """With the key, a linked-account operation needs `linked_account_id` (400), naming a real account (404)."""
    bare = EmulatedRequest(
        method="GET", path="/api/v2/public/execution", headers={"x-api-key": TEST_KEY}
    )
    answer = emulator.dispatch(bare)
    assert (answer.status, answer.json()["error"]) == (400, "LINKED_ACCOUNT_ID_REQUIRED")
    with pytest.raises(NotFoundError):
        await client.executions.list(linked_account_id="nobody")


async def test_revoked_tokens_are_refused_with_401(emulator: Emulator, client: AsyncRefold) -> None:
    """After `revoke`, the same token answers 401 everywhere."""
    token = await _token(client)
    async with make_client(emulator, session_token=token) as scoped:
        assert (await scoped.session_tokens.revoke()).revoked_count == 1
        with pytest.raises(AuthenticationError) as caught:
            await scoped.linked_accounts.retrieve_current()
    assert caught.value.code == "INVALID_TOKEN"


async def test_expired_tokens_are_refused_with_401(
    emulator: Emulator, client: AsyncRefold, clock: FakeClock
) -> None:
    """A token stops working once `expires_in` seconds of the emulator clock have passed."""
    minted = await client.session_tokens.create(linked_account_id=ACCOUNT)
    async with make_client(emulator, session_token=minted.token) as scoped:
        await scoped.linked_accounts.retrieve_current()
        clock.advance(float(minted.expires_in or 0))
        with pytest.raises(AuthenticationError) as caught:
            await scoped.linked_accounts.retrieve_current()
    assert caught.value.code == "TOKEN_EXPIRED"


async def test_deleting_an_account_kills_its_tokens(
    emulator: Emulator, client: AsyncRefold
) -> None:
    """Tokens of a deleted linked account answer 401."""
    token = await _token(client)
    await client.linked_accounts.delete(linked_account_id=ACCOUNT)
    async with make_client(emulator, session_token=token) as scoped:
        with pytest.raises(AuthenticationError):
            await scoped.linked_accounts.retrieve_current()


async def test_operations_without_security_need_no_credentials(emulator: Emulator) -> None:
    """Auth structures and human tasks answer without any credential."""
    task = emulator.add_human_task(name="Approve refund")
    for path in (
        "/api/v2/public/auth-structure/stripe",
        f"/api/v2/public/human-tasks/{task['_id']}",
    ):
        answer = emulator.dispatch(EmulatedRequest(method="GET", path=path))
        assert answer.status == 200, answer.json()


async def test_a_revoked_minted_token_is_reminted_by_the_client(
    emulator: Emulator, client: AsyncRefold
) -> None:
    """The SDK's own minted token, once revoked, draws a 401 and a fresh mint, then succeeds."""
    bound = client.for_linked_account(ACCOUNT)
    await bound.session_tokens.revoke()
    # The revoked token would answer 401: success means a fresh token was minted.
    assert (await bound.hosted_properties.retrieve())["linked_account_id"] == ACCOUNT


def test_error_bodies_use_error_code_on_config_and_workflow_routes(emulator: Emulator) -> None:
    """The config and workflow services name the code `error_code`; the others `error`."""
    headers = {"x-api-key": TEST_KEY}
    for path, field in (
        ("/api/v2/public/workflow/enabled", "error_code"),
        ("/api/v2/public/slug/slack/configs", "error_code"),
        ("/api/v1/workflow/public/scheduled", "error_code"),
        ("/api/v2/public/execution", "error"),
    ):
        body = emulator.dispatch(EmulatedRequest(method="GET", path=path, headers=headers)).json()
        assert set(body) == {"status_code", "http_error_type", "message", field}, path


async def test_bad_json_is_a_400(emulator: Emulator) -> None:
    """A body that is not JSON answers 400 in the envelope."""
    request = EmulatedRequest(
        method="POST",
        path="/api/v2/public/webhook",
        headers={"x-api-key": TEST_KEY},
        body=b"{not json",
    )
    answer = emulator.dispatch(request)
    assert (answer.status, answer.json()["error"]) == (400, "INVALID_JSON")
    assert json.loads(answer.body)["status_code"] == 400


async def test_missing_body_fields_raise_the_typed_error(client: AsyncRefold) -> None:
    """A 400 from a handler's own check reaches the caller as `BadRequestError`."""
    with pytest.raises(BadRequestError):
        # The SDK refuses "ftp://" itself; extra_body slips it past to reach the handler.
        await client.webhooks.create(
            webhook_url="https://ok.invalid",
            webhook_events=["Connection Created"],
            extra_body={"webhook_url": "ftp://nope"},
        )
