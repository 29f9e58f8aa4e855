"""`examples/fastapi_app.py` served by uvicorn on loopback, the emulator's server behind it."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import anyio
import httpx
import pytest
import uvicorn

from refold_async import (
    APITimeoutError,
    AsyncRefold,
    ConflictError,
    InvalidArgumentError,
    LinkedAccountScopeError,
    MissingCredentialError,
    NotFoundError,
    RateLimitError,
    RefoldError,
    RefoldUsageError,
    ServerError,
)
from refold_async.testing import Emulator

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_app.py"
USER = {"X-User-Id": "user_42"}


def _load_example() -> ModuleType:
    """A fresh copy of the example module (its app holds per-run state)."""
    spec = importlib.util.spec_from_file_location("fastapi_app_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # FastAPI resolves the annotations through it
    spec.loader.exec_module(module)
    return module


@contextlib.asynccontextmanager
async def _served(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Emulator, Any, str]]:
    """The emulator on loopback, and the example app under uvicorn on a free loopback port."""
    emulator = Emulator(rate_limit=None)
    async with emulator.server() as api:
        monkeypatch.setenv("REFOLD_API_KEY", emulator.api_key)
        monkeypatch.setenv("REFOLD_BASE_URL", api.url)
        module = _load_example()
        config = uvicorn.Config(
            module.app, lifespan="on", log_level="warning", ws="none", http="h11"
        )
        server = uvicorn.Server(config)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        task = asyncio.create_task(server.serve(sockets=[listener]))
        try:
            # uvicorn's own flag: the lifespan has started and it listens. Bounded by the
            # suite's faulthandler_timeout should startup hang.
            while not server.started:
                if task.done():
                    task.result()  # startup failed: raise its error here
                await asyncio.sleep(0.01)
            yield emulator, module, f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await task
            listener.close()
            sys.modules.pop("fastapi_app_example", None)


async def test_the_app_answers_over_http(monkeypatch: pytest.MonkeyPatch) -> None:
    """Session token (account made on first use), an event, a page of executions, as JSON."""
    async with _served(monkeypatch) as (emulator, _, url), httpx.AsyncClient(base_url=url) as http:
        assert "user_42" not in emulator.world().linked_accounts
        first = await http.post("/session-token", headers=USER)
        assert first.status_code == 200, first.text
        token = first.json()
        assert token["token"]
        assert token["expires_in"] > 0
        assert emulator.world().linked_accounts["user_42"]["name"] == "user_42"
        again = await http.post("/session-token", headers=USER)
        assert again.status_code == 200
        assert again.json()["token"] == token["token"]  # the account's live token

        async with emulator.client(rate_limit=None) as admin:  # the org defines an event
            await admin.events.create(name="signup", response="ok")
        for n in range(3):
            fired = await http.post("/events/signup", headers=USER, json={"n": n})
            assert fired.status_code == 200, fired.text
            assert isinstance(fired.json(), dict)

        page = await http.get("/executions", params={"page": 1, "limit": 2}, headers=USER)
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) == 2
        assert body["total_docs"] == 3
        assert body["has_next_page"] is True
        assert all(item["id"] for item in body["items"])
        last = await http.get("/executions", params={"page": 2, "limit": 2}, headers=USER)
        assert len(last.json()["items"]) == 1
        assert last.json()["has_next_page"] is False

        schema = await http.get("/openapi.json")
        assert schema.status_code == 200


async def test_sdk_errors_become_http_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """404 -> 404, bad input -> 422, refused credentials -> 502, 429 -> 503 with Retry-After."""
    async with _served(monkeypatch) as (emulator, _, url), httpx.AsyncClient(base_url=url) as http:
        assert (await http.post("/session-token", headers=USER)).status_code == 200

        missing = await http.post("/events/no-such-event", headers=USER, json={})
        assert missing.status_code == 404
        assert missing.json()["error"] == "NotFoundError"

        bad = await http.get("/executions", params={"limit": 0}, headers=USER)
        assert bad.status_code == 422
        assert bad.json()["error"] == "InvalidArgumentError"
        assert (await http.get("/executions")).status_code == 422  # no X-User-Id

        emulator.faults.add(status=401, count=1)
        refused = await http.get("/executions", headers=USER)
        assert refused.status_code == 502
        assert refused.json() == {
            "error": "AuthenticationError",
            "message": "the integration service is unavailable",
        }
        assert emulator.api_key not in refused.text

        emulator.faults.add(status=429, count=1, retry_after=600)
        limited = await http.get("/executions", headers=USER)
        assert limited.status_code == 503
        assert limited.headers["retry-after"] == "600"


async def test_a_long_retry_after_is_answered_at_once_not_waited_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 429 asking for 30 s is not slept out inside a handler: 503 at once, one request."""
    async with _served(monkeypatch) as (emulator, _, url), httpx.AsyncClient(base_url=url) as http:
        assert (await http.post("/session-token", headers=USER)).status_code == 200
        emulator.reset_stats()
        emulator.faults.add(status=429, count=1, retry_after=30)
        with anyio.fail_after(20):  # a hang guard: the old recipe held the handler 30 s
            limited = await http.get("/executions", headers=USER)
        assert limited.status_code == 503
        assert limited.headers["retry-after"] == "30"
        assert emulator.stats.requests == 1  # not retried after the wait


async def test_a_conflict_is_answered_409(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 409 from the API reaches the caller as 409 with the SDK's message, not 502."""
    async with _served(monkeypatch) as (emulator, _, url), httpx.AsyncClient(base_url=url) as http:
        emulator.faults.add(status=409, count=1)
        conflict = await http.post("/session-token", headers=USER)
        assert conflict.status_code == 409
        assert conflict.json()["error"] == "ConflictError"


async def test_lifespan_closes_the_shared_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """One client is made at startup, used by every request, and closed at shutdown."""
    async with _served(monkeypatch) as (_, module, url):
        client = module.app.state.refold
        assert isinstance(client, AsyncRefold)
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.post("/session-token", headers=USER)).status_code == 200
        assert module.app.state.refold is client
    with pytest.raises(RefoldUsageError, match="closed"):
        await client.linked_accounts.list()


async def test_handlers_use_a_client_pinned_to_the_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each request's client is the app's, pinned to the user's account: same pool, and
    another account's id is refused before sending."""
    async with _served(monkeypatch) as (_, module, _url):
        app_client = module.app.state.refold
        request = SimpleNamespace(app=module.app)
        scoped = module.user_client(request, "user_42")
        assert scoped.linked_account_id == "user_42"
        assert scoped._transport.http is app_client._transport.http
        assert scoped._transport.config.limiter is app_client._transport.config.limiter
        with pytest.raises(LinkedAccountScopeError):
            await scoped.executions.list(linked_account_id="user_43")


@pytest.mark.parametrize(
    ("error", "status", "retry_after"),
    [
        pytest.param(NotFoundError("x", status=404), 404, None, id="404"),
        pytest.param(ConflictError("x", status=409), 409, None, id="409"),
        pytest.param(RateLimitError("x", status=429, retry_after=2.5), 503, "3", id="429"),
        pytest.param(RateLimitError("x", status=429), 503, "1", id="429-no-retry-after"),
        pytest.param(InvalidArgumentError("x"), 422, None, id="invalid-argument"),
        pytest.param(MissingCredentialError("x"), 500, None, id="missing-credential"),
        pytest.param(LinkedAccountScopeError("x"), 500, None, id="another-account"),
        pytest.param(APITimeoutError("x"), 504, None, id="timeout"),
        pytest.param(ServerError("x", status=503), 502, None, id="5xx"),
        pytest.param(RefoldError("x"), 500, None, id="other"),
    ],
)
def test_error_mapping_table(error: RefoldError, status: int, retry_after: str | None) -> None:
    """`http_answer` maps each kind of SDK error to its HTTP status (and Retry-After)."""
    module = _load_example()
    try:
        got_status, headers = module.http_answer(error)
    finally:
        sys.modules.pop("fastapi_app_example", None)
    assert got_status == status
    assert headers.get("Retry-After") == retry_after
