"""Every operation, called through the async and the sync client: the exact request it sends.

Driven by `refold_async.operations.OPERATIONS`; the expectations (wire names, locations,
shapes) come from the spec, through `samples.py`.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from refold_async import AuthScope, Operation
from refold_async._convert import structure
from refold_async.operations import OPERATIONS
from refold_sync import Refold
from tests.generated.samples import LINKED_ACCOUNT, answer, build_call, spec_params
from tests.helpers import API_KEY, BASE_URL, TOKEN, mock_client

CASES = [pytest.param(op, id=op.id) for op in sorted(OPERATIONS.values(), key=lambda o: o.id)]


def _credentials(op: Operation[Any]) -> dict[str, Any]:
    if op.auth is AuthScope.SESSION_TOKEN:
        # The token's account is told, so that calls may name it (the samples do).
        return {"api_key": None, "session_token": TOKEN, "linked_account_id": LINKED_ACCOUNT}
    return {"api_key": API_KEY}


def _respond(router: respx.Router, op: Operation[Any]) -> respx.Route:
    body = answer(op)
    response = httpx.Response(204) if body is None else httpx.Response(200, json=body)
    return router.route().mock(return_value=response)


def _check_request(op: Operation[Any], request: httpx.Request) -> None:
    call = build_call(op)
    assert request.method == op.method
    assert request.url.raw_path.split(b"?")[0].decode() == call.path
    assert sorted(request.url.params.multi_items()) == call.query
    for name, value in call.headers.items():
        assert request.headers[name] == value
    _check_auth(op, request.headers)
    if call.has_json:
        assert json.loads(request.content) == call.json
    else:
        assert request.content == b""


def _check_auth(op: Operation[Any], headers: httpx.Headers) -> None:
    if op.auth is AuthScope.NONE:
        assert "x-api-key" not in headers
        assert "authorization" not in headers
    elif op.auth is AuthScope.SESSION_TOKEN:
        assert headers["authorization"] == f"Bearer {TOKEN}"
        assert "x-api-key" not in headers
    else:
        assert headers["x-api-key"] == API_KEY
        assert "authorization" not in headers


def _expected_result(op: Operation[Any]) -> Any:
    body = answer(op)
    return None if body is None else structure(body, op.returns)


def test_every_spec_parameter_is_an_argument() -> None:
    """Each operation declares exactly the parameters and body fields the spec does."""
    for op in OPERATIONS.values():
        declared = {(p.location, p.wire_name) for p in op.params}
        assert declared == spec_params(op.id), op.id


@pytest.mark.parametrize("op", CASES)
async def test_async_request(
    op: Operation[Any], router: respx.Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The async method sends the spec's method, path, query, headers, credentials and body."""
    monkeypatch.delenv("REFOLD_API_KEY", raising=False)
    route = _respond(router, op)
    client = mock_client(router, **_credentials(op))
    call = build_call(op)
    method = getattr(getattr(client, op.resource), op.name)
    result = await method(*call.args, **call.kwargs)
    assert route.call_count == 1
    _check_request(op, route.calls.last.request)
    assert result == _expected_result(op)


@pytest.mark.parametrize("op", CASES)
def test_sync_request(
    op: Operation[Any], router: respx.Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The blocking twin sends the same request and answers the same value."""
    monkeypatch.delenv("REFOLD_API_KEY", raising=False)
    route = _respond(router, op)
    http = httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler))
    call = build_call(op)
    with Refold(base_url=BASE_URL, http_client=http, rate_limit=None, **_credentials(op)) as client:
        method = getattr(getattr(client, op.resource), op.name)
        result = method(*call.args, **call.kwargs)
        if op.paginated:
            result = result.first_page()
    assert route.call_count == 1
    _check_request(op, route.calls.last.request)
    assert result == _expected_result(op)
