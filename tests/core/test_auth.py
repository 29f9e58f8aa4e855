"""Auth scopes, checked before the network, and session-token minting."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
import respx

from refold_async import (
    AuthenticationError,
    LinkedAccountScopeError,
    MissingCredentialError,
    MissingLinkedAccountError,
)
from refold_async._operation import AuthScope, Operation
from tests.core import ops
from tests.helpers import API_KEY, TOKEN, mock_client


def _ok(router: respx.Router) -> None:
    router.route().mock(return_value=httpx.Response(200, json={"ok": True, "id": "x"}))


@pytest.mark.parametrize(
    ("op", "client_options", "error"),
    [
        pytest.param(
            ops.ORG,
            {"api_key": None, "session_token": TOKEN},
            MissingCredentialError,
            id="org-with-token",
        ),
        pytest.param(ops.ORG, {"api_key": None}, MissingCredentialError, id="org-with-nothing"),
        pytest.param(ops.LINKED, {}, MissingLinkedAccountError, id="linked-without-account"),
        pytest.param(
            ops.ORG_LINKED,
            {"session_token": TOKEN},
            MissingCredentialError,
            id="org-linked-token",
        ),
        pytest.param(ops.TOKEN_ONLY, {}, MissingCredentialError, id="token-only-key-no-account"),
        pytest.param(
            ops.TOKEN_ONLY, {"api_key": None}, MissingCredentialError, id="token-only-nothing"
        ),
        pytest.param(
            ops.KEY_OR_TOKEN, {"api_key": None}, MissingCredentialError, id="key-or-token-nothing"
        ),
    ],
)
async def test_missing_credentials_raise_before_sending(
    router: respx.Router,
    monkeypatch: pytest.MonkeyPatch,
    op: Operation[Any],
    client_options: dict[str, Any],
    error: type[Exception],
) -> None:
    """A client whose credentials cannot make the call gets a typed error and sends nothing."""
    monkeypatch.delenv("REFOLD_API_KEY", raising=False)
    _ok(router)
    client = mock_client(router, **client_options)
    with pytest.raises(error) as info:
        await client._transport.send(op, path={"execution_id": "e1"})
    assert op.id in str(info.value)
    assert router.calls.call_count == 0


@pytest.mark.parametrize(
    ("op", "client_options", "expected"),
    [
        pytest.param(ops.ORG, {}, {"x-api-key": API_KEY}, id="org-key"),
        pytest.param(
            ops.LINKED,
            {"linked_account_id": "acct 1"},
            {"x-api-key": API_KEY, "linked_account_id": "acct 1"},
            id="linked-key",
        ),
        pytest.param(
            ops.LINKED,
            {"api_key": None, "session_token": TOKEN},
            {"authorization": f"Bearer {TOKEN}"},
            id="linked-token",
        ),
        pytest.param(ops.KEY_OR_TOKEN, {}, {"x-api-key": API_KEY}, id="key-or-token-key"),
        pytest.param(
            ops.KEY_OR_TOKEN,
            {"api_key": None, "session_token": TOKEN},
            {"authorization": f"Bearer {TOKEN}"},
            id="key-or-token-token",
        ),
        pytest.param(
            ops.TOKEN_ONLY,
            {"session_token": TOKEN},
            {"authorization": f"Bearer {TOKEN}"},
            id="token-only",
        ),
        pytest.param(ops.NO_AUTH, {}, {}, id="no-auth"),
    ],
)
async def test_credentials_sent_per_scope(
    router: respx.Router,
    op: Operation[Any],
    client_options: dict[str, Any],
    expected: dict[str, str],
) -> None:
    """Each scope sends exactly the credential headers it accepts."""
    _ok(router)
    client = mock_client(router, **client_options)
    await client._transport.send(op, path={"execution_id": "e1", "slug": "hubspot"})
    sent = router.calls.last.request.headers
    for name in ("x-api-key", "authorization", "linked_account_id"):
        assert sent.get(name) == expected.get(name), name


async def test_call_level_linked_account_must_match_a_pinned_client(router: respx.Router) -> None:
    """A client made with `linked_account_id` is pinned: a call naming another is refused."""
    _ok(router)
    client = mock_client(router, linked_account_id="bound")
    with pytest.raises(LinkedAccountScopeError):
        await client._transport.send(
            ops.LINKED, path={"execution_id": "e"}, headers={"linked_account_id": "other"}
        )
    assert router.calls.call_count == 0
    await client._transport.send(
        ops.LINKED, path={"execution_id": "e"}, headers={"linked_account_id": "bound"}
    )
    assert router.calls.last.request.headers["linked_account_id"] == "bound"


def _mint_route(router: respx.Router, tokens: list[str], expires_in: int = 3600) -> respx.Route:
    responses = iter(tokens)

    def mint(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"token": next(responses), "expires_in": expires_in})

    return router.post("/api/v2/public/session-token").mock(side_effect=mint)


async def test_token_only_op_mints_once_for_concurrent_calls(router: respx.Router) -> None:
    """Many concurrent token-only calls share one minted token."""
    mint = _mint_route(router, ["tok_minted_1", "tok_minted_2"])
    hosted = router.get("/api/v2/public/hosted-properties").mock(
        return_value=httpx.Response(200, json={})
    )
    client = mock_client(router, linked_account_id="acct-1")
    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(client._transport.send, ops.TOKEN_ONLY)
    assert mint.call_count == 1
    assert hosted.call_count == 20
    assert {c.request.headers["authorization"] for c in hosted.calls} == {"Bearer tok_minted_1"}
    assert mint.calls.last.request.headers["x-api-key"] == API_KEY


async def test_minted_token_is_reminted_near_expiry(router: respx.Router) -> None:
    """A cached token is replaced shortly before it expires."""
    mint = _mint_route(router, ["tok_minted_1", "tok_minted_2"], expires_in=600)
    router.get("/api/v2/public/hosted-properties").mock(return_value=httpx.Response(200, json={}))
    client = mock_client(router, linked_account_id="acct-1")
    now = [0.0]
    client._transport.tokens._clock = lambda: now[0]
    await client._transport.send(ops.TOKEN_ONLY)
    now[0] = 500.0
    await client._transport.send(ops.TOKEN_ONLY)
    assert mint.call_count == 1
    now[0] = 560.0
    await client._transport.send(ops.TOKEN_ONLY)
    assert mint.call_count == 2


async def test_tokens_are_per_linked_account(router: respx.Router) -> None:
    """Each linked account gets its own token."""
    mint = _mint_route(router, ["tok_minted_1", "tok_minted_2"])
    router.get("/api/v2/public/hosted-properties").mock(return_value=httpx.Response(200, json={}))
    client = mock_client(router)
    await client.for_linked_account("acct-1")._transport.send(ops.TOKEN_ONLY)
    await client.for_linked_account("acct-2")._transport.send(ops.TOKEN_ONLY)
    await client.for_linked_account("acct-1")._transport.send(ops.TOKEN_ONLY)
    assert mint.call_count == 2
    assert [c.request.content for c in mint.calls] == [
        b'{"linked_account_id":"acct-1"}',
        b'{"linked_account_id":"acct-2"}',
    ]


async def test_minted_token_is_reminted_once_on_401(router: respx.Router) -> None:
    """A 401 for a minted token mints a new one and retries once."""
    mint = _mint_route(router, ["tok_revoked_1", "tok_minted_2", "tok_minted_3"])
    seen: list[str] = []

    def hosted(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(401 if len(seen) == 1 else 200, json={})

    router.get("/api/v2/public/hosted-properties").mock(side_effect=hosted)
    client = mock_client(router, linked_account_id="acct-1")
    await client._transport.send(ops.TOKEN_ONLY)
    assert seen == ["Bearer tok_revoked_1", "Bearer tok_minted_2"]
    assert mint.call_count == 2


async def test_persistent_401_is_raised_after_one_remint(router: respx.Router) -> None:
    """If the fresh token is refused too, the 401 is raised (no loop)."""
    mint = _mint_route(router, ["tok_a_123456", "tok_b_123456", "tok_c_123456"])
    route = router.get("/api/v2/public/hosted-properties").mock(
        return_value=httpx.Response(401, json={"message": "no"})
    )
    client = mock_client(router, linked_account_id="acct-1")
    with pytest.raises(AuthenticationError):
        await client._transport.send(ops.TOKEN_ONLY)
    assert mint.call_count == 2
    assert route.call_count == 2


async def test_token_only_op_reads_linked_account_from_query(router: respx.Router) -> None:
    """A token-only operation naming its account in the query mints for that account."""
    mint = _mint_route(router, ["tok_minted_q1"])
    router.post("/api/v2/public/connect-url").mock(return_value=httpx.Response(200, json={}))
    client = mock_client(router)
    await client._transport.send(ops.TOKEN_ONLY_POST, query={"linked_account_id": "acct-q"})
    assert mint.calls.last.request.content == b'{"linked_account_id":"acct-q"}'


DELETE_INTEGRATION: Operation[Any] = Operation(
    id="deleteIntegration",
    method="DELETE",
    path="/api/v2/public/linked-account/integration/{slug}",
    auth=AuthScope.ORG_KEY,
    linked_account=True,
    returns=Any,
)


async def test_query_named_account_is_the_one_in_the_header(router: respx.Router) -> None:
    """An account named in the query is also sent in the header."""
    _ok(router)
    client = mock_client(router)
    await client._transport.send(
        DELETE_INTEGRATION, path={"slug": "hubspot"}, query={"linked_account_id": "acct-B"}
    )
    request = router.calls.last.request
    assert request.headers["linked_account_id"] == "acct-B"
    assert request.url.params["linked_account_id"] == "acct-B"


async def test_two_different_accounts_in_one_call_are_refused(router: respx.Router) -> None:
    """Header and query naming different accounts raise before sending."""
    from refold_async import InvalidArgumentError

    client = mock_client(router)
    with pytest.raises(InvalidArgumentError, match="two linked accounts"):
        await client._transport.send(
            DELETE_INTEGRATION,
            path={"slug": "hubspot"},
            headers={"linked_account_id": "acct-A"},
            query={"linked_account_id": "acct-B"},
        )
    assert router.calls.call_count == 0
