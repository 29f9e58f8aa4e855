"""AsyncRefold: options, environments, derived clients, and no secret in sight."""

from __future__ import annotations

import pickle

import httpx
import pytest
import respx

from refold_async import (
    AsyncRefold,
    EnvironmentMismatchError,
    InvalidArgumentError,
    RateLimit,
)
from tests.core import ops
from tests.helpers import API_KEY, BASE_URL, LIVE_KEY, TOKEN, mock_client

pytestmark = pytest.mark.anyio  # the backend matrix: asyncio and trio (tests/conftest.py)


def test_api_key_and_base_url_default_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """REFOLD_API_KEY and REFOLD_BASE_URL fill in what the caller leaves out."""
    monkeypatch.setenv("REFOLD_API_KEY", API_KEY)
    monkeypatch.setenv("REFOLD_BASE_URL", "https://eu.refold.invalid/")
    client = AsyncRefold()
    assert client.environment == "test"
    assert client.base_url == "https://eu.refold.invalid"
    monkeypatch.delenv("REFOLD_BASE_URL")
    assert AsyncRefold().base_url == "https://app.refold.ai"


@pytest.mark.parametrize(
    ("key", "env"), [(API_KEY, "test"), (LIVE_KEY, "live"), ("xx_other_key", None)]
)
def test_environment_follows_the_key(key: str, env: str | None) -> None:
    """`pk…` keys are live, `tk…` keys are test."""
    assert AsyncRefold(api_key=key).environment == env


def test_expect_environment_refuses_the_other_key() -> None:
    """`expect_environment="test"` refuses a live key before anything is sent."""
    with pytest.raises(EnvironmentMismatchError):
        AsyncRefold(api_key=LIVE_KEY, expect_environment="test")
    client = AsyncRefold(api_key=API_KEY, expect_environment="test")
    with pytest.raises(EnvironmentMismatchError):
        client.with_options(api_key=LIVE_KEY)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://app.refold.ai", True),
        ("http://127.0.0.1:8080", True),
        ("http://localhost:9000", True),
        ("http://[::1]:9000", True),
        ("http://emulator.invalid", True),
        ("http://app.refold.ai", False),
        ("http://10.0.0.5", False),
        ("ftp://app.refold.ai", False),
        ("not a url", False),
    ],
)
def test_plain_http_only_for_loopback(url: str, allowed: bool) -> None:
    """Plain http would expose the key, so only loopback hosts may use it."""
    if allowed:
        AsyncRefold(api_key=API_KEY, base_url=url)
    else:
        with pytest.raises(InvalidArgumentError):
            AsyncRefold(api_key=API_KEY, base_url=url)


def test_no_secret_in_repr_str_or_pickle() -> None:
    """Credentials never show in repr or str, and the client refuses to pickle."""
    keyed = AsyncRefold(api_key=API_KEY, linked_account_id="acct")
    for client in (keyed, keyed.for_session_token(TOKEN)):
        for text in (repr(client), str(client), repr(client._transport.config)):
            assert API_KEY not in text
            assert TOKEN not in text
        assert "fingerprint" in repr(client)
        with pytest.raises(TypeError):
            pickle.dumps(client)


async def test_with_options_shares_pool_and_bucket(router: respx.Router) -> None:
    """Derived clients share the httpx pool and the limiter, and change only what was asked."""
    client = AsyncRefold(api_key=API_KEY, base_url=BASE_URL)
    derived = client.with_options(timeout=5, linked_account_id="acct")
    assert derived._transport.http is client._transport.http
    assert derived._transport.config.limiter is client._transport.config.limiter
    assert derived._transport.tokens is client._transport.tokens
    assert derived._transport.config.timeout == 5
    assert client._transport.config.timeout == 60
    assert derived.linked_account_id == "acct"
    assert client.linked_account_id is None
    other_key = client.with_options(api_key="tk_other_0123456789")
    assert other_key._transport.tokens is not client._transport.tokens
    await client.aclose()


def test_same_rate_limit_shares_one_limiter_across_clients() -> None:
    """Every client with the same budget shares the process's limiter (docs/architecture.md §4)."""
    a = AsyncRefold(api_key=API_KEY)
    b = AsyncRefold(api_key=API_KEY)
    c = AsyncRefold(api_key=API_KEY, rate_limit=RateLimit(per_second=100, burst=10))
    assert a._transport.config.limiter is b._transport.config.limiter
    assert c._transport.config.limiter is not a._transport.config.limiter


async def test_for_linked_account_binds_the_account(router: respx.Router) -> None:
    """`for_linked_account()` names the account on linked-account calls."""
    router.route().mock(return_value=httpx.Response(200, json={"id": "e"}))
    client = mock_client(router).for_linked_account("acct-9")
    await client._transport.send(ops.LINKED, path={"execution_id": "e"})
    assert router.calls.last.request.headers["linked_account_id"] == "acct-9"
    with pytest.raises(InvalidArgumentError):
        client.for_linked_account("")


async def test_async_with_closes_owned_pool_only() -> None:
    """`async with` closes the client's own pool, never a caller's."""
    async with AsyncRefold(api_key=API_KEY) as client:
        pool = client._transport.http
    assert pool.is_closed
    theirs = httpx.AsyncClient()
    async with AsyncRefold(api_key=API_KEY, http_client=theirs):
        pass
    assert not theirs.is_closed
    await theirs.aclose()


def test_default_headers_are_checked() -> None:
    """Default headers with control characters are refused at construction."""
    with pytest.raises(InvalidArgumentError):
        AsyncRefold(api_key=API_KEY, default_headers={"x-a": "b\r\nc"})
