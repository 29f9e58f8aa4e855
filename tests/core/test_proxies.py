"""Environment proxies and the SDK's own connection pool.

A plain-`http` base URL is allowed only for this machine (loopback), where a proxy has
no business: `HTTP_PROXY` or `ALL_PROXY` would get every request, the API key in clear.
So the pool the client makes for itself never sends plain http through an environment
proxy. For https it follows httpx's `trust_env` (environment proxies and `NO_PROXY`), as
any httpx client does. Tested with a fake proxy on loopback that records what it gets.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from refold_async import APIConnectionError, AsyncRefold, RetryPolicy
from refold_sync import Refold
from tests.core.loopback import EchoServer, FakeProxy, serving

KEY = "tk_test_proxies_0123456789"
ONCE = RetryPolicy(max_attempts=1)  # a proxy's 502 must not be retried with real sleeps


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProxy]:
    """A fake proxy on loopback, named by every proxy variable of the environment."""
    server = FakeProxy()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, server.url)
        monkeypatch.setenv(name.lower(), server.url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with serving(server):
        yield server


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer("tok_proxies_unused_0123")
    with serving(server):
        yield server


async def test_a_loopback_http_base_url_never_goes_through_an_env_proxy(
    proxy: FakeProxy, echo: EchoServer
) -> None:
    """`HTTP_PROXY`/`ALL_PROXY` set: the request goes straight to 127.0.0.1, the key with it."""
    async with AsyncRefold(api_key=KEY, base_url=echo.url, rate_limit=None, retry=ONCE) as client:
        assert await client.request("GET", "/api/v2/public/echo") == {"ok": True}
        derived = client.with_options(timeout=5)
        assert await derived.request("POST", "/api/v2/public/echo", body={"a": 1}) == {"ok": True}
    assert proxy.requests == []
    assert [seen[2] for seen in echo.seen] == [KEY, KEY]


def test_the_sync_face_never_sends_loopback_http_to_a_proxy(
    proxy: FakeProxy, echo: EchoServer
) -> None:
    """`Refold` uses the same pool: no request reaches the proxy."""
    with Refold(api_key=KEY, base_url=echo.url, rate_limit=None, retry=ONCE) as client:
        assert client.request("GET", "/api/v2/public/echo") == {"ok": True}
    assert proxy.requests == []
    assert len(echo.seen) == 1


async def test_https_follows_the_environment_like_any_httpx_client(proxy: FakeProxy) -> None:
    """An https base URL goes through `HTTPS_PROXY` (a CONNECT tunnel, no key in it)."""
    async with AsyncRefold(
        api_key=KEY, base_url="https://api.refold.invalid", rate_limit=None, retry=ONCE
    ) as client:
        with pytest.raises(APIConnectionError):
            await client.request("GET", "/api/v2/public/echo")
    assert len(proxy.requests) == 1
    assert proxy.requests[0].startswith(b"CONNECT api.refold.invalid:443 ")
    assert KEY.encode() not in proxy.requests[0]


async def test_no_proxy_in_the_environment_means_no_mount(
    monkeypatch: pytest.MonkeyPatch, echo: EchoServer
) -> None:
    """Without proxy variables the pool is httpx's default: plain http still goes direct."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    async with AsyncRefold(api_key=KEY, base_url=echo.url, rate_limit=None, retry=ONCE) as client:
        assert await client.request("GET", "/api/v2/public/echo") == {"ok": True}
    assert len(echo.seen) == 1
