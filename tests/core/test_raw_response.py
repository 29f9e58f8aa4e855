"""`with_raw_response` and `Page.response`: a call's response and what it cost."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
from typing import Any

import attrs
import httpx
import pytest
import respx

import refold_async.resources as async_resources
import refold_sync.resources as sync_resources
from refold_async import (
    APIDecodeError,
    APIResponse,
    AsyncRefold,
    Page,
    RateLimit,
    ResponseInfo,
)
from refold_async._convert import unstructure
from refold_async.models import LinkedAccount, Webhook
from refold_async.testing import BASE_URL as EMULATOR_URL
from refold_async.testing import Emulator
from refold_sync import Refold
from tests.helpers import API_KEY, RecordingSleep, mock_client

pytestmark = pytest.mark.anyio  # the backend matrix: asyncio and trio (tests/conftest.py)

WEBHOOK = {"_id": "wh_1", "webhook_url": "https://hooks.test/in", "is_enabled": True}


def _page(n: int, pages: int) -> dict[str, Any]:
    return {
        "docs": [{"_id": f"e{n}"}],
        "page": n,
        "totalPages": pages,
        "hasNextPage": n < pages,
        "totalDocs": pages,
    }


class SlowLimiter:
    """A limiter whose every slot is `wait` seconds away on the test's fake clock."""

    def __init__(self, sleep: RecordingSleep, wait: float) -> None:
        self.sleep = sleep
        self.wait = wait

    @property
    def rate(self) -> RateLimit | None:
        return None

    async def acquire(self, key: str, **_: Any) -> None:
        self.sleep.now += self.wait

    async def penalize(self, key: str, retry_after: float) -> None:
        return None


async def test_raw_retrieve_gives_status_headers_timings_and_the_typed_value(
    router: respx.Router,
) -> None:
    answers = iter(
        [
            httpx.Response(503),
            httpx.Response(200, json=WEBHOOK, headers={"x-request-id": "req_7", "x-extra": "1"}),
        ]
    )
    router.get("https://api.refold.invalid/api/v2/public/webhook/wh_1").mock(
        side_effect=lambda request: next(answers)
    )
    sleep = RecordingSleep()
    client = mock_client(router, sleep=sleep, rate_limiter=SlowLimiter(sleep, 0.5))
    response = await client.webhooks.with_raw_response.retrieve("wh_1")
    assert isinstance(response, APIResponse)
    assert response.status_code == 200
    assert response.request_id == "req_7"
    assert response.headers["X-Extra"] == "1"  # case-insensitive
    assert "x-api-key" not in response.headers  # the response's headers only
    assert response.attempts == 2
    assert response.rate_limit_wait == pytest.approx(1.0)  # two slots, 0.5 s each
    # the whole call: two limiter waits and the 0.25 s backoff (rand() = 0.5)
    assert response.elapsed == pytest.approx(1.25)
    assert response.http_version == "HTTP/1.1"
    assert (response.operation_id, response.method, response.path) == (
        "getWebhookById",
        "GET",
        "/api/v2/public/webhook/wh_1",
    )
    webhook = response.parse()
    assert isinstance(webhook, Webhook)
    assert webhook.id == "wh_1"
    assert response.parse() is webhook  # decoded once


async def test_the_usual_method_still_returns_the_value(router: respx.Router) -> None:
    router.get(url__regex=r".*/webhook/wh_1$").mock(return_value=httpx.Response(200, json=WEBHOOK))
    client = mock_client(router)
    raw = client.webhooks.with_raw_response
    assert isinstance(await client.webhooks.retrieve("wh_1"), Webhook)
    assert isinstance(await raw.retrieve("wh_1"), APIResponse)
    assert isinstance(await client.webhooks.retrieve("wh_1"), Webhook)  # untouched by raw


async def test_a_body_that_does_not_fit_fails_at_parse_not_at_the_call(
    router: respx.Router,
) -> None:
    router.get(url__regex=r".*/webhook/wh_1$").mock(
        return_value=httpx.Response(200, text="<html>maintenance</html>")
    )
    client = mock_client(router)
    response = await client.webhooks.with_raw_response.retrieve("wh_1")
    assert response.status_code == 200
    with pytest.raises(APIDecodeError):
        response.parse()


async def test_a_body_echoing_the_key_that_does_not_fit_shows_no_key(
    router: respx.Router,
) -> None:
    """parse()'s error, rendered with its frames' locals (the guard does), holds no key."""
    router.get(url__regex=r".*/webhook/wh_1$").mock(
        return_value=httpx.Response(200, text=f"<html>bad key {API_KEY}</html>")
    )
    client = mock_client(router)
    response = await client.webhooks.with_raw_response.retrieve("wh_1")
    for _ in range(2):  # a second parse() fails the same way
        with pytest.raises(APIDecodeError) as info:
            response.parse()
        assert API_KEY not in str(info.value)


async def test_no_secret_in_headers_or_repr(router: respx.Router) -> None:
    """A proxy echoing the key in a header shows `[redacted]`; the repr holds no secret."""
    router.get(url__regex=r".*/webhook/wh_1$").mock(
        return_value=httpx.Response(
            200, json=WEBHOOK, headers={"x-echo": f"key={API_KEY}", "x-request-id": API_KEY}
        )
    )
    client = mock_client(router)
    response = await client.webhooks.with_raw_response.retrieve("wh_1")
    assert response.headers["x-echo"] == "key=[redacted]"
    assert response.request_id == "[redacted]"
    shown = repr(response) + repr(dict(response.headers)) + repr(client.webhooks.with_raw_response)
    assert API_KEY not in shown
    assert "getWebhookById 200" in repr(response)


async def test_each_page_carries_its_own_response(router: respx.Router) -> None:
    router.get(path="/api/v2/public/execution").mock(
        side_effect=lambda request: httpx.Response(
            200,
            json=_page(int(request.url.params.get("page", "1")), 2),
            headers={"x-request-id": f"req_p{request.url.params.get('page', '1')}"},
        )
    )
    client = mock_client(router, linked_account_id="acct_1")
    first = await client.executions.list()
    assert isinstance(first.response, ResponseInfo)
    assert (first.response.status_code, first.response.request_id) == (200, "req_p1")
    pages = [page async for page in client.executions.list().pages()]
    assert [page.response.request_id for page in pages if page.response] == ["req_p1", "req_p2"]
    assert [page.response.attempts for page in pages if page.response] == [1, 1]
    # Metadata, not data: it neither travels nor changes equality.
    assert "response" not in unstructure(first)
    assert "response" not in first.to_dict()
    assert json.loads(first.to_json())["page"] == 1
    assert first == attrs.evolve(first, response=None)


async def test_raw_list_answers_the_first_page(router: respx.Router) -> None:
    route = router.get(path="/api/v2/public/execution").mock(
        return_value=httpx.Response(200, json=_page(3, 5), headers={"x-request-id": "r3"})
    )
    client = mock_client(router, linked_account_id="acct_1")
    response = await client.executions.with_raw_response.list(page=3, limit=1)
    assert route.call_count == 1
    assert response.request_id == "r3"
    page = response.parse()
    assert isinstance(page, Page)
    assert [execution.id for execution in page] == ["e3"]
    assert page.response is not None
    assert page.response.request_id == "r3"


async def test_a_minted_token_still_works_through_the_raw_view(router: respx.Router) -> None:
    """The session-token mint inside a raw call answers a token, not an APIResponse."""
    router.post(url__regex=r".*/session-token").mock(
        return_value=httpx.Response(200, json={"token": "minted_token_123456", "expires_in": 600})
    )
    account = router.get(url__regex=r".*/active-linked-account$").mock(
        return_value=httpx.Response(200, json={"_id": "la_1", "linked_account_id": "acct_1"})
    )
    client = mock_client(router, linked_account_id="acct_1")
    response = await client.linked_accounts.with_raw_response.retrieve_current()
    assert account.calls.last.request.headers["authorization"] == "Bearer minted_token_123456"
    assert isinstance(response.parse(), LinkedAccount)
    assert response.attempts == 1


async def test_the_raw_view_is_the_same_send_loop_told_to_answer_raw(
    router: respx.Router,
) -> None:
    """`with_raw_response` is a parameter of the one send path, not a transport subclass:
    the view shares the pool and the session tokens, and its view is itself."""
    route = router.get(url__regex=r".*/public/webhook/wh_1$").mock(
        return_value=httpx.Response(200, json=WEBHOOK)
    )
    client = mock_client(router)
    transport = client._transport
    view = transport.raw()
    assert type(view) is type(transport)
    assert (view.answers_raw, transport.answers_raw) == (True, False)
    assert view.http is transport.http
    assert view.tokens is transport.tokens
    assert view.raw() is view
    raw = await client.webhooks.with_raw_response.retrieve("wh_1")
    value = await client.webhooks.retrieve("wh_1")
    assert isinstance(raw, APIResponse)
    assert raw.parse() == value
    assert route.call_count == 2


def _public_methods(cls: type) -> set[str]:
    return {
        name
        for name, member in vars(cls).items()
        if inspect.isfunction(member) and not name.startswith("_")
    }


def _resource_pairs(package: Any) -> list[tuple[type, type]]:
    """Each generated resource class with its `...WithRawResponse` twin."""
    pairs: list[tuple[type, type]] = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for name in module.__all__:
            if name.endswith("WithRawResponse"):
                pairs.append(
                    (getattr(module, name.removesuffix("WithRawResponse")), getattr(module, name))
                )
    return pairs


@pytest.mark.parametrize("package", [async_resources, sync_resources], ids=["async", "sync"])
def test_every_operation_of_every_resource_has_a_raw_twin(package: Any) -> None:
    """Generated for every operation, with the same parameters, reached by the property."""
    pairs = _resource_pairs(package)
    assert len(pairs) == 22
    checked = 0
    for resource, raw in pairs:
        assert inspect.signature(resource.with_raw_response.fget).return_annotation in (
            raw.__name__,
            raw,
        )
        assert _public_methods(raw) == _public_methods(resource), resource.__name__
        for name in _public_methods(resource):
            ours = inspect.signature(getattr(resource, name)).parameters
            twin = inspect.signature(getattr(raw, name)).parameters
            assert list(ours) == list(twin), f"{resource.__name__}.{name}"
            checked += 1
    assert checked >= 80


# --- both faces, end to end over the emulator ----------------------------------------------


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(rate_limit=None)


async def test_async_face_over_the_emulator(emulator: Emulator) -> None:
    async with AsyncRefold(
        api_key=emulator.api_key,
        base_url=EMULATOR_URL,
        http_client=emulator.http_client(),
        rate_limit=None,
    ) as client:
        created = await client.webhooks.with_raw_response.create(
            webhook_url="https://hooks.test/a", webhook_events=["connection.created"]
        )
        assert 200 <= created.status_code < 300
        webhook = created.parse()
        assert isinstance(webhook, Webhook)
        listed = await client.webhooks.with_raw_response.list()
        assert [hook.id for hook in listed.parse()] == [webhook.id]


def test_sync_face_over_the_emulator(emulator: Emulator) -> None:
    with Refold(
        api_key=emulator.api_key,
        base_url=EMULATOR_URL,
        http_client=emulator.http_client(),
        rate_limit=None,
    ) as client:
        for n in range(3):
            client.linked_accounts.upsert(linked_account_id=f"acct-{n}", name=f"Acme {n}")
        created = client.webhooks.with_raw_response.create(
            webhook_url="https://hooks.test/a", webhook_events=["connection.created"]
        )
        assert isinstance(created, APIResponse)
        assert isinstance(created.parse(), Webhook)
        assert created.attempts == 1
        first = client.linked_accounts.with_raw_response.list(limit=2)
        assert isinstance(first, APIResponse)
        page = first.parse()
        assert isinstance(page, Page)
        assert [account.account_id for account in page] == ["acct-0", "acct-1"]
        walked = list(client.linked_accounts.list(limit=2).pages())
        assert [p.response.status_code for p in walked if p.response] == [200, 200]
        assert json.dumps(repr(created))  # a plain, printable repr
