"""Requests handed straight to the SDK's own transport, and when they are not (`_exchange._hop`).

The pool the client makes for itself skips httpx's `send()` (its cookie jar, auth flow
and redirect loop): the request goes to its transport's `handle_async_request()`. A
caller's `http_client=` always goes through its public `send()`, with whatever it adds
(event hooks, auth, cookies, a `send()` of its own, instrumentation patched in).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st

from refold_async import APIConnectionError, AsyncRefold, RetryPolicy
from refold_async._exchange import _hop, is_httpx_own
from refold_async._operation import AuthScope, Operation
from refold_async._request import query_string
from refold_async._types import NOT_GIVEN
from tests.sync.support import PING, serving

BASE = "https://api.refold.invalid"
KEY = "tk_test_0123456789abcdef"


class Counting(httpx.AsyncBaseTransport):
    """Answers `{"pong": ...}` and counts requests; sets a cookie on every answer."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(
            200,
            headers={"set-cookie": "lb=node-7; Path=/"},
            json={"pong": request.url.path.rsplit("/", 1)[-1]},
        )


def _client(http: httpx.AsyncClient) -> AsyncRefold:
    return AsyncRefold(api_key=KEY, base_url=BASE, rate_limit=None, http_client=http)


async def _ping(client: AsyncRefold, name: str = "x") -> Any:
    return await client._transport.send(PING, path={"name": name})


def _spy_on_send(monkeypatch: pytest.MonkeyPatch) -> list[httpx.Request]:
    """Record every request that goes through `httpx.AsyncClient.send` (as Sentry would)."""
    seen: list[httpx.Request] = []
    original = httpx.AsyncClient.send

    async def send(self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> Any:
        seen.append(request)
        return await original(self, request, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "send", send)
    return seen


async def test_a_plain_client_hands_the_request_to_its_transport() -> None:
    """The answer comes back whole; the request reached the transport once."""
    transport = Counting()
    client = _client(httpx.AsyncClient(transport=transport))
    assert await _ping(client, "direct") == {"pong": "direct"}
    assert [r.url.path for r in transport.requests] == ["/ping/direct"]
    assert await _hop(client._transport.http, httpx.Request("GET", BASE + "/ping/y")) is not None


async def test_a_callers_client_keeps_and_sends_cookies_as_httpx_does() -> None:
    """A caller's client goes through its `send()`: a `Set-Cookie` answer reaches its jar,
    and the next request carries it."""
    transport = Counting()
    http = httpx.AsyncClient(transport=transport)
    client = _client(http)
    await _ping(client)
    await _ping(client)
    assert http.cookies.get("lb") == "node-7"
    assert "cookie" not in transport.requests[0].headers
    assert transport.requests[1].headers["cookie"] == "lb=node-7"


async def test_a_client_with_cookies_goes_through_send() -> None:
    """Cookies the caller put in its client are sent, and new ones kept, as httpx does."""
    transport = Counting()
    http = httpx.AsyncClient(transport=transport, cookies={"tenant": "acme"})
    await _ping(_client(http))
    await _ping(_client(http))
    assert transport.requests[0].headers["cookie"] == "tenant=acme"
    assert "lb=node-7" in transport.requests[1].headers["cookie"]


async def test_event_hooks_are_called() -> None:
    """Request and response hooks of the caller's client see every request."""
    seen: list[str] = []

    async def on_request(request: httpx.Request) -> None:
        seen.append(f"request {request.url.path}")

    async def on_response(response: httpx.Response) -> None:
        seen.append(f"response {response.status_code}")

    http = httpx.AsyncClient(
        transport=Counting(), event_hooks={"request": [on_request], "response": [on_response]}
    )
    await _ping(_client(http), "hooked")
    assert seen == ["request /ping/hooked", "response 200"]


async def test_client_auth_is_applied() -> None:
    """An `auth=` on the caller's client (say, for a proxy in front) still runs."""
    transport = Counting()

    def auth(request: httpx.Request) -> httpx.Request:
        request.headers["proxy-authorization"] = "Basic cHJveHk6cHJveHk="
        return request

    await _ping(_client(httpx.AsyncClient(transport=transport, auth=auth)))
    assert "proxy-authorization" in transport.requests[0].headers


async def test_a_subclass_send_is_used() -> None:
    """A client class with a `send()` of its own gets every request."""
    sent: list[str] = []

    class Audited(httpx.AsyncClient):
        async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
            sent.append(request.url.path)
            return await super().send(request, **kwargs)

    await _ping(_client(Audited(transport=Counting())), "audited")
    assert sent == ["/ping/audited"]


async def test_send_patched_after_import_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """Instrumentation that wraps `httpx.AsyncClient.send` (Sentry, ddtrace) sees the calls."""
    seen = _spy_on_send(monkeypatch)
    await _ping(_client(httpx.AsyncClient(transport=Counting())), "traced")
    assert [r.url.path for r in seen] == ["/ping/traced"]


async def test_mounts_pick_the_transport() -> None:
    """A mount for the API's origin (a proxy, say) carries its requests, as with `send()`."""
    fallback, mounted = Counting(), Counting()
    http = httpx.AsyncClient(transport=fallback, mounts={BASE: mounted})
    await _ping(_client(http))
    assert (len(fallback.requests), len(mounted.requests)) == (0, 1)


async def test_the_httpx_log_line_is_kept(caplog: pytest.LogCaptureFixture) -> None:
    """httpx's INFO line per request still appears for those who read it."""
    with caplog.at_level(logging.INFO, logger="httpx"):
        await _ping(_client(httpx.AsyncClient(transport=Counting())), "logged")
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert lines == [f'HTTP Request: GET {BASE}/ping/logged "HTTP/1.1 200 OK"']


async def test_a_transport_error_names_its_request() -> None:
    """A connection error raised by the transport carries the request, as `send()` sets it."""
    attached: list[bool] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    http = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    request = httpx.Request("GET", BASE + "/ping/x")
    try:
        await _hop(http, request)
    except httpx.ConnectError as exc:
        attached.append(exc.request is request)
    assert attached == [True]
    client = AsyncRefold(
        api_key=KEY,
        base_url=BASE,
        rate_limit=None,
        http_client=http,
        retry=RetryPolicy(max_attempts=1),
    )
    with pytest.raises(APIConnectionError):
        await _ping(client)


async def test_a_closed_client_is_refused() -> None:
    """A closed client's requests fail as `send()` fails them (then mapped by the transport)."""
    http = httpx.AsyncClient(transport=Counting())
    await http.aclose()
    with pytest.raises(RuntimeError, match="client has been closed"):
        await _hop(http, httpx.Request("GET", BASE + "/ping/x"))


def _count_client_sends(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record requests that pass httpx's client layer: its last step keeps cookies."""
    seen: list[str] = []
    original = httpx.Cookies.extract_cookies

    def extract(self: httpx.Cookies, response: httpx.Response) -> None:
        seen.append(response.request.url.path)
        original(self, response)

    monkeypatch.setattr(httpx.Cookies, "extract_cookies", extract)
    return seen


@pytest.mark.parametrize("given", [False, True], ids=["own-pool", "given-client"])
def test_real_sockets_skip_the_client_layer(given: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a real server, the SDK's own pool skips httpx's `send()` and still reuses one
    connection; a given client (plain, or with a cookie) goes through it."""
    seen = _count_client_sends(monkeypatch)

    async def main(base_url: str, http: httpx.AsyncClient | None) -> list[Any]:
        client = AsyncRefold(api_key=KEY, base_url=base_url, rate_limit=None, http_client=http)
        answers = [await _ping(client, "a"), await _ping(client, "b")]
        if http is not None:
            await http.aclose()
        return answers

    with serving() as api:
        answers = asyncio.run(main(api.base_url, httpx.AsyncClient() if given else None))
        assert seen == (["/ping/a", "/ping/b"] if given else [])
        seen.clear()
        asyncio.run(main(api.base_url, httpx.AsyncClient(cookies={"tenant": "acme"})))
    assert answers == [{"pong": "a"}, {"pong": "b"}]
    assert seen == ["/ping/a", "/ping/b"]
    assert len({address for _, address in api.seen[:2]}) == 1  # one connection, reused


# The request itself: built by the transport, equal to what httpx's `build_request()` makes.

LIST_HOOKS: Operation[Any] = Operation(
    id="listHooks", method="GET", path="/hooks", auth=AuthScope.ORG_KEY, returns=Any
)
CREATE_HOOK: Operation[Any] = Operation(
    id="createHook", method="POST", path="/hooks", auth=AuthScope.ORG_KEY, returns=Any
)
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=200, deadline=None)
@given(params=st.lists(st.tuples(st.sampled_from(["a", "b", "x y", "ä"]), _text), max_size=6))
def test_the_query_string_holds_httpx_own_params(params: list[tuple[str, str]]) -> None:
    """`query_string()` holds the parameters httpx makes of the same `params=` (repeats
    grouped, in order), percent-encoded: a space is `%20`, never `+`."""
    ours = httpx.Request(
        "GET", f"{BASE}/hooks?{query_string(params)}" if params else f"{BASE}/hooks"
    )
    theirs = httpx.Request("GET", f"{BASE}/hooks", params=params or None)
    assert ours.url.params.multi_items() == theirs.url.params.multi_items()
    assert b"+" not in ours.url.query
    assert ours.url.copy_with(query=None) == theirs.url.copy_with(query=None)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="plain"),
        pytest.param({"headers": {"X-Team": "billing", "User-Agent": "mine/1"}}, id="headers"),
        pytest.param({"params": {"tenant": "acme"}}, id="client-params"),
        pytest.param({"cookies": {"lb": "node-7"}}, id="cookies"),
    ],
)
@pytest.mark.parametrize(
    ("op", "arguments"),
    [
        pytest.param(LIST_HOOKS, {"query": {"limit": 5, "tag": ["a b", "c/d"]}}, id="get"),
        pytest.param(CREATE_HOOK, {"body": {"url": "https://x.example/é", "n": 1}}, id="post"),
    ],
)
def test_the_request_is_what_build_request_makes(
    options: dict[str, Any], op: Operation[Any], arguments: dict[str, Any]
) -> None:
    """URL, headers (order included), body and timeouts match httpx's `build_request()`."""
    http = httpx.AsyncClient(transport=Counting(), **options)
    client = _client(http)
    parts, _ = client._transport._prepare(
        op, None, arguments.get("query"), None, arguments.get("body", NOT_GIVEN), None
    )
    ours = client._transport.assembler.request(parts, [], 7.5)
    theirs = http.build_request(
        parts.method,
        BASE + parts.path,
        params=list(parts.params) or None,
        headers=client._transport.assembler.headers(parts.headers),
        json=parts.json if parts.has_json else None,
        timeout=7.5,
    )
    assert ours.url.params == theirs.url.params
    assert ours.url.copy_with(query=None) == theirs.url.copy_with(query=None)
    assert b"+" not in ours.url.query  # a space is %20 on every path
    assert ours.headers.multi_items() == theirs.headers.multi_items()
    assert ours.content == theirs.content
    assert ours.extensions == theirs.extensions


async def test_respx_mock_still_intercepts_the_sdks_own_pool() -> None:
    """`respx.mock` (patching httpcore, its default) sees requests of a client with its own
    pool: the SDK's transport hands them to httpx's while the patch is on. (respx's
    `using="httpx"` patches a private step of `AsyncClient.send()`, which only a caller's
    `http_client=` goes through.)"""
    with respx.mock(assert_all_called=True) as router:
        route = router.get(f"{BASE}/ping/mocked").respond(json={"pong": "mocked"})
        client = AsyncRefold(api_key=KEY, base_url=BASE, rate_limit=None)
        assert await _ping(client, "mocked") == {"pong": "mocked"}
        await client.aclose()
    assert route.call_count == 1


def test_a_send_patched_before_import_is_recognised() -> None:
    """Instrumentation patched in before the SDK was imported is recognised as such:
    a wrapper (`functools.wraps`, wrapt) or a plain replacement defined elsewhere."""
    import functools

    original = httpx.AsyncClient.send

    @functools.wraps(original)
    async def wrapped(self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> Any:
        return await original(self, request, **kwargs)

    async def replaced(self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> Any:
        return await original(self, request, **kwargs)

    assert is_httpx_own(original)
    assert not is_httpx_own(wrapped)
    assert not is_httpx_own(replaced)


@pytest.mark.parametrize(
    "step", ["send", "_send_handling_auth", "_send_handling_redirects", "_send_single_request"]
)
async def test_a_patched_step_of_the_client_layer_sees_every_request(
    step: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A recorder patching any step `send()` goes through (vcrpy patches
    `_send_single_request`, Sentry `send`) sees the SDK's requests."""
    seen: list[str] = []
    original = getattr(httpx.AsyncClient, step)

    async def patched(
        self: httpx.AsyncClient, request: httpx.Request, *args: Any, **kwargs: Any
    ) -> Any:
        seen.append(request.url.path)
        return await original(self, request, *args, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, step, patched)
    await _ping(_client(httpx.AsyncClient(transport=Counting())), "recorded")
    assert seen == ["/ping/recorded"]
