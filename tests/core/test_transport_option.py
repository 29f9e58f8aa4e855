"""`transport=`: the client's own pool sends through a transport the caller gives."""

from __future__ import annotations

import httpx
import pytest

from refold_async import AsyncRefold, InvalidArgumentError
from refold_sync import Refold

KEY = "tk_transport_option_key"


def _answering(seen: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    return httpx.MockTransport(handler)


async def test_the_own_pool_sends_through_the_given_transport() -> None:
    """No connection is opened: the mock answers, with the credential on the request."""
    seen: list[httpx.Request] = []
    async with AsyncRefold(api_key=KEY, rate_limit=None, transport=_answering(seen)) as client:
        assert await client.webhooks.list() == []
    assert [(r.method, r.url.path) for r in seen] == [("GET", "/api/v2/public/webhook")]
    assert KEY in {seen[0].headers.get("x-api-key"), seen[0].headers.get("authorization")}


async def test_http_client_and_transport_together_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="not both"):
        AsyncRefold(api_key=KEY, http_client=httpx.AsyncClient(), transport=_answering([]))


def test_a_transport_that_is_not_one_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"httpx\.AsyncBaseTransport"):
        AsyncRefold(api_key=KEY, transport="https://proxy.invalid")  # type: ignore[arg-type]


def test_the_blocking_client_takes_a_transport() -> None:
    seen: list[httpx.Request] = []
    with Refold(api_key=KEY, rate_limit=None, transport=_answering(seen)) as client:
        client.webhooks.list()
    assert [r.method for r in seen] == ["GET"]
