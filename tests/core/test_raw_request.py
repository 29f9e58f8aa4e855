"""`client.request()`: undocumented endpoints through the one send loop, on both faces."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
import respx

from refold_async import (
    APIResponseTooLargeError,
    AsyncRefold,
    AuthenticationError,
    AuthScope,
    InvalidArgumentError,
    MissingCredentialError,
    NotFoundError,
    RetryPolicy,
    ServerError,
)
from refold_async.models import LinkedAccount, Webhook
from refold_async.testing import Emulator, FakeClock
from refold_sync import Refold
from tests.helpers import API_KEY, BASE_URL, RecordingSleep, mock_client

pytestmark = pytest.mark.anyio  # the backend matrix: asyncio and trio (tests/conftest.py)

HOOK = {
    "_id": "wh_1",
    "webhook_url": "https://hooks.example.invalid/x",
    "createdAt": "2024-05-06T07:08:09Z",
}
TOKEN = "st_secret_session_token_value"


async def test_json_back_and_cast_to_a_model_or_list(router: respx.Router) -> None:
    """Without `cast_to` the parsed JSON comes back; with it, the decoded model or list."""
    router.get("/api/v2/beta/hooks/wh_1").mock(return_value=httpx.Response(200, json=HOOK))
    router.get("/api/v2/beta/hooks").mock(return_value=httpx.Response(200, json=[HOOK]))
    router.delete("/api/v2/beta/hooks/wh_1").mock(return_value=httpx.Response(204))
    client = mock_client(router)
    assert await client.request("GET", "/api/v2/beta/hooks/wh_1") == HOOK
    hook = await client.request("get", "/api/v2/beta/hooks/wh_1", cast_to=Webhook)
    assert hook == Webhook.from_dict(HOOK)
    hooks = await client.request("GET", "/api/v2/beta/hooks", cast_to=list[Webhook])
    assert hooks == [Webhook.from_dict(HOOK)]
    assert await client.request("DELETE", "/api/v2/beta/hooks/wh_1") is None


async def test_request_carries_query_body_headers_and_key(router: respx.Router) -> None:
    """Query, JSON body (models as wire JSON), extra headers and the API key all go out."""
    route = router.post("/api/v2/beta/things").mock(return_value=httpx.Response(200, json={}))
    client = mock_client(router)
    await client.request(
        "POST",
        "/api/v2/beta/things",
        query={"tag": ["a", "b"], "skip": None},
        body={"hook": Webhook.from_dict(HOOK), "n": 1},
        headers={"X-Trace": "t-1"},
        linked_account_id="acct_7",
    )
    sent = route.calls.last.request
    assert sent.url.params.get_list("tag") == ["a", "b"]
    assert "skip" not in sent.url.params
    assert sent.headers["x-api-key"] == API_KEY
    assert sent.headers["x-trace"] == "t-1"
    assert sent.headers["linked_account_id"] == "acct_7"
    assert httpx.Response(200, content=sent.content).json() == {"hook": HOOK, "n": 1}


async def test_encoded_path_is_sent_as_given(router: respx.Router) -> None:
    """An already percent-encoded segment is not encoded again (%2F stays %2F)."""
    router.route().mock(return_value=httpx.Response(200, json={}))
    client = mock_client(router)
    await client.request("GET", "/api/v2/beta/files/a%2Fb%20c?x=1%2B1")
    url = router.calls.last.request.url
    assert url.raw_path == b"/api/v2/beta/files/a%2Fb%20c?x=1%2B1"
    assert url.host == httpx.URL(BASE_URL).host
    await client.request("GET", "/api/v2/beta/files/%C3%A9", query={"y": "a b"})
    assert router.calls.last.request.url.raw_path == b"/api/v2/beta/files/%C3%A9?y=a%20b"
    with pytest.raises(InvalidArgumentError, match="query string"):
        await client.request("GET", "/api/v2/beta/files?x=1", query={"y": "2"})
    assert router.calls.call_count == 2


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("https://evil.example/steal", id="absolute-url"),
        pytest.param("//evil.example/steal", id="protocol-relative"),
        pytest.param("api/v2/x", id="no-leading-slash"),
        pytest.param("/\\evil.example", id="backslash"),
        pytest.param("/a b", id="space"),
        pytest.param("/a\r\nX-Evil: 1", id="crlf"),
        pytest.param("/a#frag", id="fragment"),
        pytest.param("/a/{id}", id="braces"),
        pytest.param("/" + "a" * 9000, id="too-long"),
    ],
)
async def test_paths_off_the_origin_are_refused_unsent(router: respx.Router, path: str) -> None:
    """Anything but a plain path on the base URL raises before sending, without echoing it."""
    client = mock_client(router)
    with pytest.raises(InvalidArgumentError) as info:
        await client.request("GET", path)
    assert router.calls.call_count == 0
    assert "evil" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        pytest.param({"method": "TRACE"}, InvalidArgumentError, id="method"),
        pytest.param({"auth": "cookie"}, InvalidArgumentError, id="auth"),
        pytest.param(
            {"headers": {"x-api-key": "other"}}, InvalidArgumentError, id="credential-header"
        ),
        pytest.param(
            {"headers": {"Authorization": "Bearer x"}}, InvalidArgumentError, id="authorization"
        ),
        pytest.param(
            {"headers": {"x-a": "1\r\nX-Evil: 1"}}, InvalidArgumentError, id="header-crlf"
        ),
        pytest.param({"query": ["a", "b"]}, TypeError, id="query-not-mapping"),
        pytest.param({"path": b"/x"}, TypeError, id="path-bytes"),
        pytest.param({"cast_to": [Webhook]}, TypeError, id="cast-to-unhashable"),
    ],
)
async def test_bad_arguments_are_refused_unsent(
    router: respx.Router, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    """Bad methods, auth names, credential headers and such raise a typed error, unsent."""
    client = mock_client(router)
    args = {"method": "GET", "path": "/api/v2/beta/x", **kwargs}
    with pytest.raises(error):
        await client.request(args.pop("method"), args.pop("path"), **args)
    assert router.calls.call_count == 0


async def test_auth_scope_is_checked_before_sending(router: respx.Router) -> None:
    """A scope the client has no credential for raises MissingCredentialError, nothing sent."""
    token_client = mock_client(router, api_key=None, session_token=TOKEN)
    with pytest.raises(MissingCredentialError):
        await token_client.request("GET", "/api/v2/beta/org-thing", auth="api_key")
    with pytest.raises(MissingCredentialError):
        await token_client.request("GET", "/api/v2/beta/org-thing", auth=AuthScope.ORG_KEY)
    key_client = mock_client(router)
    with pytest.raises(MissingCredentialError):  # a session token, but no account to mint for
        await key_client.request("GET", "/api/v2/beta/mine", auth="session_token")
    assert router.calls.call_count == 0


async def test_auth_choices_pick_the_credential(router: respx.Router) -> None:
    """`session_token` sends the bearer token, `none` sends no credential at all."""
    router.route().mock(return_value=httpx.Response(200, json={}))
    both = mock_client(router, session_token=TOKEN)
    await both.request("GET", "/api/v2/beta/mine", auth="session_token")
    first = router.calls[0].request.headers
    assert first["authorization"] == f"Bearer {TOKEN}"
    assert "x-api-key" not in first
    await both.request("GET", "/api/v2/beta/public", auth="none")
    last = router.calls.last.request.headers
    assert "authorization" not in last
    assert "x-api-key" not in last


@pytest.mark.parametrize(
    ("method", "retried"),
    [pytest.param("GET", True, id="get"), pytest.param("POST", False, id="post")],
)
async def test_503_retried_for_get_but_not_post(
    router: respx.Router, method: str, retried: bool
) -> None:
    """Retries follow the method: a GET is retried on 503, a POST is not."""
    router.route().mock(side_effect=[httpx.Response(503), httpx.Response(200, json={"ok": 1})])
    client = mock_client(router)
    if retried:
        assert await client.request(method, "/api/v2/beta/x") == {"ok": 1}
        assert router.calls.call_count == 2
    else:
        with pytest.raises(ServerError):
            await client.request(method, "/api/v2/beta/x", body={})
        assert router.calls.call_count == 1


async def test_429_waits_retry_after_even_for_post(router: respx.Router) -> None:
    """A 429 is always safe to retry: the call waits Retry-After and goes again."""
    router.route().mock(
        side_effect=[
            httpx.Response(429, headers={"retry-after": "2"}),
            httpx.Response(200, json={}),
        ]
    )
    sleep = RecordingSleep()
    client = mock_client(router, sleep=sleep)
    assert await client.request("POST", "/api/v2/beta/x", body={"a": 1}) == {}
    assert sleep.calls == [2.0]
    assert router.calls.call_count == 2


async def test_errors_are_typed_and_never_hold_the_secret(
    router: respx.Router, caplog: pytest.LogCaptureFixture
) -> None:
    """Error answers become the usual typed errors, scrubbed of the key even when echoed."""
    router.get("/api/v2/beta/missing").mock(
        return_value=httpx.Response(404, json={"message": f"no such thing for {API_KEY}"})
    )
    router.get("/api/v2/beta/denied").mock(return_value=httpx.Response(401, text=API_KEY))
    caplog.set_level(logging.DEBUG)
    client = mock_client(router, retry=RetryPolicy(max_attempts=1))
    with pytest.raises(NotFoundError) as missing:
        await client.request("GET", "/api/v2/beta/missing")
    with pytest.raises(AuthenticationError) as denied:
        await client.request("GET", "/api/v2/beta/denied")
    for error in (missing.value, denied.value):
        assert API_KEY not in str(error)
        assert API_KEY not in repr(error)
        assert API_KEY not in repr(vars(error))
    assert missing.value.path == "/api/v2/beta/missing"
    assert API_KEY not in caplog.text


async def test_decode_misfit_is_an_api_decode_error(router: respx.Router) -> None:
    """A 2xx that does not fit `cast_to` raises APIDecodeError naming the call."""
    from refold_async import APIDecodeError

    router.route().mock(return_value=httpx.Response(200, json={"createdAt": "never"}))
    client = mock_client(router)
    with pytest.raises(APIDecodeError, match="request answered 200"):
        await client.request("GET", "/api/v2/beta/x", cast_to=Webhook)


async def test_on_the_emulator_typed_errors_and_paced_429() -> None:
    """Against the emulator: request() decodes, a 429 waits its Retry-After, a 404 is typed."""
    emulator = Emulator(clock=FakeClock(), rate_limit=None)
    sleep = RecordingSleep()
    async with emulator.client(rate_limit=None) as client:
        client._transport._sleep = sleep
        client._transport._clock = sleep.clock
        await client.linked_accounts.upsert(linked_account_id="acct_1", name="Acme")
        path = "/api/v2/public/linked-account/acct_1"
        account = await client.request("GET", path, cast_to=LinkedAccount)
        assert account.name == "Acme"
        assert (await client.request("GET", path))["name"] == "Acme"
        before = emulator.stats.requests
        emulator.faults.add(status=429, count=1, retry_after=2)
        assert await client.request("GET", path, cast_to=LinkedAccount) == account
        assert sleep.calls == [2.0]
        assert emulator.stats.requests == before + 2
        with pytest.raises(NotFoundError):
            await client.request("GET", "/api/v2/public/linked-account/nobody")


async def test_on_the_emulator_org_scope_refuses_a_session_token() -> None:
    """A session-token client asking for the API-key scope is refused before the emulator sees it."""
    emulator = Emulator(clock=FakeClock(), rate_limit=None)
    async with emulator.client(rate_limit=None) as client:
        await client.linked_accounts.upsert(linked_account_id="acct_1", name="Acme")
        minted = await client.session_tokens.create(linked_account_id="acct_1")
    async with emulator.client(rate_limit=None, session_token=minted.token) as scoped:
        before = emulator.stats.requests
        with pytest.raises(MissingCredentialError):
            await scoped.request("GET", "/api/v2/public/linked-account", auth="api_key")
        assert emulator.stats.requests == before
        mine = await scoped.request(
            "GET", "/api/v2/public/session/active-linked-account", auth="session_token"
        )
        assert emulator.stats.requests == before + 1
        assert isinstance(mine, dict)


def test_sync_face_reuses_the_async_call(router: respx.Router) -> None:
    """`Refold.request()` runs the async implementation: same checks, same decoding."""
    router.get("/api/v2/beta/hooks/wh_1").mock(return_value=httpx.Response(200, json=HOOK))
    with Refold(
        api_key=API_KEY,
        base_url=BASE_URL,
        rate_limit=None,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler)),
    ) as client:
        assert client.request(
            "GET", "/api/v2/beta/hooks/wh_1", cast_to=Webhook
        ) == Webhook.from_dict(HOOK)
        assert client.request("GET", "/api/v2/beta/hooks/wh_1") == HOOK
        with pytest.raises(InvalidArgumentError):
            client.request("GET", "https://evil.example/x")
    assert router.calls.call_count == 2


def test_sync_and_async_signatures_match() -> None:
    """Both faces take the same parameters."""
    import inspect

    assert inspect.signature(Refold.request).parameters.keys() == (
        inspect.signature(AsyncRefold.request).parameters.keys()
    )


async def test_request_takes_a_rate_budget_slot_per_attempt(router: respx.Router) -> None:
    """Each attempt waits for the limiter's slot on the key's bucket (by fingerprint), like any call."""
    router.route().mock(side_effect=[httpx.Response(503), httpx.Response(200, json={})])
    slots: list[tuple[str, bool]] = []

    class Limiter:
        rate = None

        async def acquire(self, key: str, *, priority: bool = False, **bounds: object) -> None:
            slots.append((key, priority))

        async def penalize(self, key: str, retry_after: float) -> None:
            return None

    client = mock_client(router, rate_limiter=Limiter())
    await client.request("GET", "/api/v2/beta/x")
    assert [priority for _, priority in slots] == [False, True]  # the retry goes first
    assert all(API_KEY not in key for key, _ in slots)
    assert slots[0][0] == slots[1][0]


async def test_session_token_scope_mints_for_the_linked_account() -> None:
    """With an API key, `auth="session_token"` mints the account's token and sends it."""
    emulator = Emulator(clock=FakeClock(), rate_limit=None)
    async with emulator.client(rate_limit=None) as client:
        await client.linked_accounts.upsert(linked_account_id="acct_1", name="Acme")
        mine = await client.request(
            "GET",
            "/api/v2/public/session/active-linked-account",
            auth="session_token",
            linked_account_id="acct_1",
            cast_to=LinkedAccount,
        )
        assert mine.name == "Acme"
        with pytest.raises(MissingCredentialError):  # no account named, none bound
            await client.request(
                "GET", "/api/v2/public/session/active-linked-account", auth="session_token"
            )


async def test_max_response_bytes_per_call(router: respx.Router) -> None:
    """`max_response_bytes=` bounds this call's body, under or over the client's limit."""
    big = {"blob": "x" * 2000}
    router.get("/api/v2/beta/blob").mock(return_value=httpx.Response(200, json=big))
    client = mock_client(router, max_response_bytes=100_000)
    assert await client.request("GET", "/api/v2/beta/blob") == big
    with pytest.raises(APIResponseTooLargeError) as caught:
        await client.request("GET", "/api/v2/beta/blob", max_response_bytes=1000)
    assert caught.value.limit == 1000
    with pytest.raises(InvalidArgumentError):
        await client.request("GET", "/api/v2/beta/blob", max_response_bytes=-1)
    assert router.calls.call_count == 2  # the bad limit was refused unsent
    small = mock_client(router, max_response_bytes=1000)
    assert await small.request("GET", "/api/v2/beta/blob", max_response_bytes=4000) == big


def test_max_response_bytes_on_the_sync_face(router: respx.Router) -> None:
    """The blocking `request()` passes the limit through."""
    router.get("/api/v2/beta/blob").mock(
        return_value=httpx.Response(200, json={"blob": "x" * 2000})
    )
    with (
        Refold(
            api_key=API_KEY,
            base_url=BASE_URL,
            rate_limit=None,
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler)),
        ) as client,
        pytest.raises(APIResponseTooLargeError),
    ):
        client.request("GET", "/api/v2/beta/blob", max_response_bytes=1000)
