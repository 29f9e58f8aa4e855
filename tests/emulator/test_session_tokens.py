"""Session tokens on the emulator: minting, reuse, `force_refresh`, expiry, binding."""

from __future__ import annotations

import pytest

from refold_async import AsyncRefold, NotFoundError
from refold_async.testing import Emulator, FakeClock

from .conftest import ACCOUNT, make_client


async def test_minting_answers_the_token_fields(client: AsyncRefold) -> None:
    """A mint answers `token`, `refresh_token`, `expires_in` and `refresh_expires_in`."""
    minted = await client.session_tokens.create(linked_account_id=ACCOUNT)
    assert minted.token
    assert minted.refresh_token
    assert minted.token != minted.refresh_token
    assert minted.expires_in == 3600
    assert minted.refresh_expires_in == 86400


async def test_a_live_token_is_reused_unless_force_refresh(
    client: AsyncRefold, clock: FakeClock
) -> None:
    """A second mint answers the same token (with less time left); `force_refresh` mints anew."""
    first = await client.session_tokens.create(linked_account_id=ACCOUNT)
    clock.advance(600)
    again = await client.session_tokens.create(linked_account_id=ACCOUNT)
    assert again.token == first.token
    assert again.expires_in == 3000
    fresh = await client.session_tokens.create(linked_account_id=ACCOUNT, force_refresh=True)
    assert fresh.token != first.token
    assert fresh.expires_in == 3600


async def test_an_expired_token_is_not_reused(client: AsyncRefold, clock: FakeClock) -> None:
    """Past its lifetime a token is replaced by the next mint."""
    first = await client.session_tokens.create(linked_account_id=ACCOUNT)
    clock.advance(3600)
    assert (await client.session_tokens.create(linked_account_id=ACCOUNT)).token != first.token


async def test_each_account_gets_its_own_token(emulator: Emulator, client: AsyncRefold) -> None:
    """Tokens are bound to the account they were minted for."""
    await client.linked_accounts.upsert(linked_account_id="globex")
    acme = await client.session_tokens.create(linked_account_id=ACCOUNT)
    globex = await client.session_tokens.create(linked_account_id="globex")
    assert acme.token != globex.token
    async with make_client(emulator, session_token=globex.token) as scoped:
        assert (await scoped.linked_accounts.retrieve_current()).account_id == "globex"


async def test_minting_for_an_unknown_account_is_404(client: AsyncRefold) -> None:
    """There is no token for an account that does not exist."""
    with pytest.raises(NotFoundError):
        await client.session_tokens.create(linked_account_id="nobody")


async def test_token_ttl_is_configurable(clock: FakeClock) -> None:
    """`Emulator(token_ttl=...)` sets `expires_in`."""
    emulator = Emulator(clock=clock, rate_limit=None, token_ttl=90)
    async with make_client(emulator) as client:
        await client.linked_accounts.upsert(linked_account_id=ACCOUNT)
        assert (await client.session_tokens.create(linked_account_id=ACCOUNT)).expires_in == 90
