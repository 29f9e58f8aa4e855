"""The SDK's User-Agent, and the application info that extends it."""

from __future__ import annotations

import platform
import re
from collections.abc import Iterator
from importlib import metadata

import httpx
import pytest
import respx

import refold_async
import refold_sync
from refold_async import AppInfo, AsyncRefold, InvalidArgumentError, _useragent, set_app_info
from tests.helpers import API_KEY, BASE_URL, mock_client

from . import ops

EXPECTED = (
    f"refold-python/{metadata.version('refold')} "
    f"(Python {platform.python_version()}; httpx {metadata.version('httpx')})"
)


@pytest.fixture(autouse=True)
def _reset_app_info() -> Iterator[None]:
    saved = _useragent._current
    yield
    _useragent._current = saved


def _agents(router: respx.Router) -> list[str]:
    return [call.request.headers["user-agent"] for call in router.calls]


async def test_every_request_names_the_sdk_python_and_httpx(router: respx.Router) -> None:
    router.route().mock(return_value=httpx.Response(200, json={}))
    client = mock_client(router)
    await client._transport.send(ops.ORG)
    assert _agents(router) == [EXPECTED]
    assert re.fullmatch(r"refold-python/\S+ \(Python \d+\.\d+\.\d+; httpx \S+\)", EXPECTED)


async def test_a_users_http_client_with_its_own_agent_still_sends_ours(
    router: respx.Router,
) -> None:
    """Whoever owns the httpx client, the request carries the SDK's agent."""
    router.route().mock(return_value=httpx.Response(200, json={}))
    http = httpx.AsyncClient(
        transport=httpx.MockTransport(router.async_handler),
        headers={"User-Agent": "python-httpx/custom"},
    )
    client = AsyncRefold(api_key=API_KEY, base_url=BASE_URL, rate_limit=None, http_client=http)
    await client._transport.send(ops.ORG)
    assert _agents(router) == [EXPECTED]


async def test_a_callers_agent_comes_first_and_ours_follows(router: respx.Router) -> None:
    router.route().mock(return_value=httpx.Response(200, json={}))
    client = mock_client(router, default_headers={"User-Agent": "acme-gateway/7"})
    await client._transport.send(ops.ORG)
    await client._transport.send(ops.ORG, options={"extra_headers": {"user-agent": "cron/1"}})
    assert _agents(router) == [f"acme-gateway/7 {EXPECTED}", f"cron/1 {EXPECTED}"]


async def test_set_app_info_extends_every_clients_agent_at_once(router: respx.Router) -> None:
    router.route().mock(return_value=httpx.Response(200, json={}))
    client = mock_client(router)  # made before: it follows the process's setting
    set_app_info("acme-sync", version="2.3.0", url="https://acme.test/sdk")
    await client._transport.send(ops.ORG)
    assert _agents(router) == [f"{EXPECTED} acme-sync/2.3.0 (+https://acme.test/sdk)"]


async def test_a_clients_own_app_info_wins_over_the_process_one(router: respx.Router) -> None:
    router.route().mock(return_value=httpx.Response(200, json={}))
    set_app_info("process-wide")
    client = mock_client(router, app_info=AppInfo("billing", "1.0"))
    derived = client.with_options(app_info=AppInfo("reports"))
    await client._transport.send(ops.ORG)
    await derived._transport.send(ops.ORG)
    await client.with_options(app_info=None)._transport.send(ops.ORG)
    assert _agents(router) == [
        f"{EXPECTED} billing/1.0",
        f"{EXPECTED} reports",
        f"{EXPECTED} process-wide",
    ]


@pytest.mark.parametrize(
    ("name", "version", "url"),
    [
        ("acme\r\nX-Api-Key: x", None, None),
        ("acme", "1.0\n", None),
        ("acme", None, "https://acme.test/\r\nInjected: 1"),
        ("acme app", None, None),
        ("", None, None),
        ("acmé", None, None),
    ],
)
def test_app_info_refuses_text_that_could_forge_headers(
    name: str, version: str | None, url: str | None
) -> None:
    with pytest.raises(InvalidArgumentError):
        AppInfo(name, version, url)
    with pytest.raises(InvalidArgumentError):
        set_app_info(name, version, url)
    assert _useragent.current_user_agent() == EXPECTED  # a refused call changes nothing


def test_app_info_of_the_wrong_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="name must be a str"):
        AppInfo(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="app_info must be an AppInfo"):
        AsyncRefold(api_key=API_KEY, app_info="acme/1")  # type: ignore[arg-type]


def test_both_faces_export_the_same_helpers() -> None:
    assert refold_sync.AppInfo is refold_async.AppInfo
    assert refold_sync.set_app_info is refold_async.set_app_info


def test_the_sync_client_takes_app_info() -> None:
    with refold_sync.Refold(api_key=API_KEY, app_info=AppInfo("sync-app", "3")) as client:
        live = client._snapshot()
        assert live._transport.config.user_agent == f"{EXPECTED} sync-app/3"
