"""Credential modes never mix, and scoped clients act for one linked account only.

A client holds the org key, the org key pinned to one linked account, or a session
token. With `REFOLD_API_KEY` set (as on every backend), a session-token client must not
pick up the key, must send only the bearer token, and must refuse org-level calls and
other accounts' ids before anything is sent; on both faces. `for_linked_account()` and
`for_session_token()` derive such clients cheaply, on the parent's pool and limiter.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
import respx

from refold_async import (
    AsyncRefold,
    InvalidArgumentError,
    LinkedAccountScopeError,
    MissingCredentialError,
    RefoldUsageError,
)
from refold_async._auth import Secret, check_accounts
from refold_async.operations import OPERATIONS
from refold_async.testing import BASE_URL as EMULATOR_URL
from refold_async.testing import Emulator
from refold_sync import Refold
from refold_sync.testing import sync_client
from tests.helpers import API_KEY, BASE_URL, TOKEN, mock_client

ALICE, BOB = "alice", "bob"
OTHER_TOKEN = "sess_tok_other_0123456789"
# Made at import, before the suite's secret guard watches `Secret`: the check below passes
# it where an id belongs, through frames the guard would otherwise (rightly) flag.
_MODULE_KEY = "tk_credential_modes_module_key"
_MODULE_SECRET = Secret(_MODULE_KEY)


@pytest.fixture
def key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """`REFOLD_API_KEY` is set, as on every backend."""
    monkeypatch.setenv("REFOLD_API_KEY", API_KEY)


def _answer_everything(router: respx.Router) -> None:
    router.route().mock(return_value=httpx.Response(200, json={"docs": [], "totalDocs": 0}))


def _sync(router: respx.Router, **options: Any) -> Refold:
    http = httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler))
    return Refold(base_url=BASE_URL, http_client=http, rate_limit=None, **options)


# --- what the client sends, and what it refuses, per mode -------------------------------

TOKEN_MODES = [
    pytest.param({"session_token": TOKEN}, id="token-only"),
    pytest.param({"session_token": TOKEN, "api_key": None}, id="token-and-api-key-None"),
]


@pytest.mark.usefixtures("key_in_env")
@pytest.mark.parametrize("options", TOKEN_MODES)
async def test_a_token_client_never_sends_the_environments_key(
    router: respx.Router, options: dict[str, Any]
) -> None:
    """With REFOLD_API_KEY set, a session-token client sends only `Authorization: Bearer`."""
    _answer_everything(router)
    client = mock_client(router, **options)
    assert client._transport.config.api_key is None
    await client.executions.list()
    await client.hosted_properties.retrieve()
    for call in router.calls:
        assert "x-api-key" not in call.request.headers
        assert call.request.headers["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.usefixtures("key_in_env")
@pytest.mark.parametrize("options", TOKEN_MODES)
async def test_a_token_client_refuses_org_level_calls_before_sending(
    router: respx.Router, options: dict[str, Any]
) -> None:
    """`linked_accounts.list()` needs the org key: refused, saying so, nothing sent."""
    _answer_everything(router)
    client = mock_client(router, **options)
    with pytest.raises(MissingCredentialError) as info:
        await client.linked_accounts.list()
    assert info.value.needs == "api_key"
    assert "org API key" in str(info.value)
    assert "session token" in str(info.value)
    assert router.calls.call_count == 0


@pytest.mark.usefixtures("key_in_env")
@pytest.mark.parametrize("options", TOKEN_MODES)
async def test_a_token_client_refuses_another_accounts_id_before_sending(
    router: respx.Router, options: dict[str, Any]
) -> None:
    """`executions.list(linked_account_id="bob")` on alice's token: refused, nothing sent."""
    _answer_everything(router)
    client = mock_client(router, **options, linked_account_id=ALICE)
    with pytest.raises(LinkedAccountScopeError) as info:
        await client.executions.list(linked_account_id=BOB)
    assert info.value.allowed == ALICE
    assert "'bob'" in str(info.value)
    unknown = mock_client(router, **options)  # the token's account not told: name none
    with pytest.raises(LinkedAccountScopeError) as info:
        await unknown.executions.list(linked_account_id=BOB)
    assert info.value.allowed is None
    assert router.calls.call_count == 0
    await client.executions.list(linked_account_id=ALICE)  # its own account may be named
    assert router.calls.call_count == 1


@pytest.mark.usefixtures("key_in_env")
def test_api_key_none_means_no_key(router: respx.Router) -> None:
    """`api_key=None` is "no key", not "read the environment"; no argument at all reads it."""
    assert AsyncRefold(api_key=None)._transport.config.api_key is None
    assert AsyncRefold(session_token=None)._transport.config.api_key is None
    assert AsyncRefold(api_key="")._transport.config.api_key is None
    from_env = AsyncRefold()._transport.config.api_key
    assert from_env is not None
    assert from_env.reveal() == API_KEY
    with _sync(router, api_key=None) as sync:
        assert sync._snapshot()._transport.config.api_key is None
    with _sync(router) as sync:
        assert sync._snapshot()._transport.config.api_key is not None


@pytest.mark.parametrize("face", [AsyncRefold, Refold])
def test_both_credentials_are_refused(face: Callable[..., Any]) -> None:
    """A client holds one credential: passing both raises, before anything else."""
    with pytest.raises(InvalidArgumentError, match="not both") as info:
        face(api_key=API_KEY, session_token=TOKEN)
    assert API_KEY not in str(info.value)
    assert TOKEN not in str(info.value)
    with pytest.raises(InvalidArgumentError, match="not both"):
        AsyncRefold(api_key=API_KEY).with_options(api_key=API_KEY, session_token=TOKEN)


async def test_with_options_switches_the_mode_whole(router: respx.Router) -> None:
    """`with_options(session_token=...)` drops the key; `with_options(api_key=...)` the token."""
    _answer_everything(router)
    keyed = mock_client(router)
    token_client = keyed.with_options(session_token=TOKEN)
    assert token_client._transport.config.api_key is None
    await token_client.executions.list()
    assert "x-api-key" not in router.calls.last.request.headers
    back = token_client.with_options(api_key=API_KEY)
    assert back._transport.config.session_token is None
    await back.linked_accounts.list()
    assert router.calls.last.request.headers["x-api-key"] == API_KEY
    assert "authorization" not in router.calls.last.request.headers


@pytest.mark.usefixtures("key_in_env")
@pytest.mark.parametrize("options", TOKEN_MODES)
def test_the_sync_face_keeps_the_modes_apart(router: respx.Router, options: dict[str, Any]) -> None:
    """`Refold(session_token=...)`: bearer only, org calls and other ids refused unsent."""
    _answer_everything(router)
    with _sync(router, **options, linked_account_id=ALICE) as client:
        client.executions.list().first_page()
        sent = router.calls.last.request.headers
        assert "x-api-key" not in sent
        assert sent["authorization"] == f"Bearer {TOKEN}"
        with pytest.raises(MissingCredentialError):
            client.linked_accounts.list().first_page()
        with pytest.raises(LinkedAccountScopeError):
            client.executions.list(linked_account_id=BOB).first_page()
    assert router.calls.call_count == 1


# --- against the emulator: the headers that actually went out ------------------------


class _Sent:
    """An httpx request hook recording the credential headers of every request."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []

    async def __call__(self, request: httpx.Request) -> None:
        names = ("x-api-key", "authorization", "linked_account_id")
        self.headers.append({n: request.headers[n] for n in names if n in request.headers})

    def __iter__(self) -> Iterator[dict[str, str]]:
        return iter(self.headers)


async def test_on_the_emulator_alices_token_cannot_reach_bob(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The issue's first row, end to end: the key in the environment, alice's token in hand."""
    emulator = Emulator(rate_limit=None)
    async with emulator.client(rate_limit=None) as admin:
        for account in (ALICE, BOB):
            await admin.linked_accounts.upsert(linked_account_id=account)
        token = (await admin.session_tokens.create(linked_account_id=ALICE)).token
    assert token is not None
    monkeypatch.setenv("REFOLD_API_KEY", emulator.api_key)
    sent = _Sent()
    http = httpx.AsyncClient(transport=emulator.transport(), event_hooks={"request": [sent]})
    async with AsyncRefold(
        session_token=token, base_url=EMULATOR_URL, http_client=http, rate_limit=None
    ) as client:
        assert (await client.linked_accounts.retrieve_current()).account_id == ALICE
        await client.executions.list()
        with pytest.raises(MissingCredentialError):
            await client.linked_accounts.list()
        with pytest.raises(LinkedAccountScopeError):
            await client.executions.list(linked_account_id=BOB)
    await http.aclose()
    assert len(sent.headers) == 2
    for headers in sent:
        assert headers == {"authorization": f"Bearer {token}"}


def test_on_the_emulator_the_blocking_face_keeps_alice_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same on `Refold`: alice's token, the key in the environment, bob out of reach."""
    emulator = Emulator(rate_limit=None)
    with sync_client(emulator, rate_limit=None) as admin:
        for account in (ALICE, BOB):
            admin.linked_accounts.upsert(linked_account_id=account)
        token = admin.session_tokens.create(linked_account_id=ALICE).token
        assert token is not None
        monkeypatch.setenv("REFOLD_API_KEY", emulator.api_key)
        with Refold(session_token=token, base_url=EMULATOR_URL, rate_limit=None) as plain:
            assert plain._snapshot()._transport.config.api_key is None
        scoped = admin.for_session_token(token)
        assert scoped.linked_accounts.retrieve_current().account_id == ALICE
        with pytest.raises(MissingCredentialError):
            scoped.linked_accounts.list().first_page()
        with pytest.raises(LinkedAccountScopeError):
            scoped.executions.list(linked_account_id=BOB).first_page()
        pinned = admin.for_linked_account(ALICE)
        assert pinned.linked_accounts.retrieve(ALICE).account_id == ALICE
        with pytest.raises(LinkedAccountScopeError):
            pinned.linked_accounts.retrieve(BOB)


# --- scoped clients ------------------------------------------------------------------


def test_scoped_clients_share_the_pool_and_the_limiter() -> None:
    """`for_linked_account()` shares pool, limiter, token cache and bucket; a token one pool
    and limiter (its bucket is the token's own)."""
    client = AsyncRefold(api_key=API_KEY, base_url=BASE_URL)
    parent = client._transport
    pinned = client.for_linked_account(ALICE)._transport
    assert pinned.http is parent.http
    assert pinned.config.limiter is parent.config.limiter
    assert pinned.tokens is parent.tokens
    assert pinned.config.api_key is parent.config.api_key  # the same bucket: same credential
    assert pinned.config.linked_account_id == ALICE
    token = client.for_session_token(TOKEN, linked_account_id=ALICE)._transport
    assert token.http is parent.http
    assert token.config.limiter is parent.config.limiter
    assert token.tokens is not parent.tokens  # it holds none of the key's minted tokens
    assert token.config.api_key is None
    assert token.config.session_token is not None
    assert token.config.session_token.reveal() == TOKEN


def test_sync_scoped_clients_share_the_pool_and_the_limiter(router: respx.Router) -> None:
    """The blocking face derives through the async one: same pool and limiter."""
    with _sync(router, api_key=API_KEY) as client:
        parent = client._live()._transport
        for scoped in (client.for_linked_account(ALICE), client.for_session_token(TOKEN)):
            derived = scoped._live()._transport
            assert derived.http is parent.http
            assert derived.config.limiter is parent.config.limiter
        assert client.for_linked_account(ALICE).linked_account_id == ALICE


CallOn = Callable[[AsyncRefold, str], Awaitable[Any]]

NAMING_CALLS: list[Any] = [
    pytest.param(lambda c, a: c.executions.list(linked_account_id=a), id="header"),
    pytest.param(lambda c, a: c.linked_accounts.retrieve(linked_account_id=a), id="path"),
    pytest.param(lambda c, a: c.linked_accounts.upsert(linked_account_id=a), id="body"),
    pytest.param(lambda c, a: c.linked_accounts.upsert(account_id=a), id="body-account_id"),
    pytest.param(
        lambda c, a: c.credentials.delete_default("k", query_linked_account_id=a), id="query"
    ),
    pytest.param(
        lambda c, a: c.connect_urls.create(linked_account_id=a, body={}), id="token-op-query"
    ),
    pytest.param(
        lambda c, a: c.request("GET", "/api/v2/beta/x", linked_account_id=a), id="raw-request"
    ),
]


@pytest.mark.parametrize("call", NAMING_CALLS)
@pytest.mark.parametrize(
    "scope",
    [
        pytest.param(lambda c: c.for_linked_account(ALICE), id="for_linked_account"),
        pytest.param(
            lambda c: c.for_session_token(TOKEN, linked_account_id=ALICE), id="for_session_token"
        ),
    ],
)
async def test_a_scoped_client_refuses_other_accounts_wherever_named(
    router: respx.Router, call: CallOn, scope: Callable[[AsyncRefold], AsyncRefold]
) -> None:
    """A call naming another account, in any place, is refused before sending; its own passes."""
    router.post("/api/v2/public/session-token").mock(
        return_value=httpx.Response(200, json={"token": OTHER_TOKEN, "expires_in": 600})
    )
    _answer_everything(router)
    scoped = scope(mock_client(router))
    with pytest.raises(LinkedAccountScopeError) as info:
        await call(scoped, BOB)
    assert info.value.allowed == ALICE
    assert router.calls.call_count == 0
    await call(scoped, ALICE)
    assert router.calls.call_count >= 1


@pytest.mark.parametrize("face", ["async", "sync"])
def test_a_pinned_client_cannot_be_repinned(router: respx.Router, face: str) -> None:
    """No client derived from a pinned one may act for another account, or for none."""
    client: Any = (
        AsyncRefold(api_key=API_KEY) if face == "async" else _sync(router, api_key=API_KEY)
    )
    pinned = client.for_linked_account(ALICE)
    for derive in (
        lambda: pinned.for_linked_account(BOB),
        lambda: pinned.with_options(linked_account_id=None),
        lambda: pinned.with_options(linked_account_id=BOB),
        lambda: pinned.for_session_token(TOKEN, linked_account_id=BOB),
    ):
        with pytest.raises(LinkedAccountScopeError):
            derive()
    assert pinned.for_linked_account(ALICE).linked_account_id == ALICE
    assert pinned.for_session_token(TOKEN).linked_account_id == ALICE  # keeps its account
    if face == "sync":
        client.close()


def test_sync_scoped_clients_refuse_other_accounts(router: respx.Router) -> None:
    """Both scoped clients of the blocking face refuse bob before sending, and serve alice."""
    _answer_everything(router)
    with _sync(router, api_key=API_KEY) as client:
        for scoped in (
            client.for_linked_account(ALICE),
            client.for_session_token(TOKEN, linked_account_id=ALICE),
        ):
            with pytest.raises(LinkedAccountScopeError):
                scoped.executions.list(linked_account_id=BOB).first_page()
            with pytest.raises(LinkedAccountScopeError):
                scoped.linked_accounts.retrieve(linked_account_id=BOB)
        assert router.calls.call_count == 0
        client.for_linked_account(ALICE).executions.list().first_page()
        assert router.calls.last.request.headers["linked_account_id"] == ALICE
        scoped = client.for_session_token(TOKEN)
        scoped.executions.list().first_page()
        sent = router.calls.last.request.headers
        assert "x-api-key" not in sent
        assert sent["authorization"] == f"Bearer {TOKEN}"
        scoped.close()  # a scoped client closes alone: the parent's pool stays open
        with pytest.raises(RefoldUsageError, match="closed"):
            scoped.executions.list().first_page()
        client.executions.list(linked_account_id=ALICE).first_page()


def test_a_scoped_refusal_never_shows_a_credential() -> None:
    """An id equal to one of the client's credentials is refused without being echoed."""
    with pytest.raises(LinkedAccountScopeError) as info:
        check_accounts(
            OPERATIONS["getExecutionById"],
            [_MODULE_KEY],
            allowed=ALICE,
            session_token=None,
            secrets=[_MODULE_SECRET],
        )
    assert _MODULE_KEY not in str(info.value)
    assert "not shown" in str(info.value)


def test_scoped_arguments_are_checked() -> None:
    """Empty or non-string ids and tokens are refused at once, typed."""
    client = AsyncRefold(api_key=API_KEY)
    with pytest.raises(InvalidArgumentError):
        client.for_linked_account("")
    with pytest.raises(TypeError):
        client.for_linked_account(42)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        client.for_session_token("")
    with pytest.raises(InvalidArgumentError):
        client.for_session_token("tok with space")


async def test_refusals_say_which_credential_the_call_needs(router: respx.Router) -> None:
    """`MissingCredentialError.needs` names the credential; the message says how to get it."""
    keyed = mock_client(router)
    with pytest.raises(MissingCredentialError) as info:
        await keyed.hosted_properties.retrieve()  # token-only, and no account to mint for
    assert info.value.needs == "session_token"
    assert "linked_account_id=" in str(info.value)
    bare = mock_client(router, api_key=None)
    with pytest.raises(MissingCredentialError) as info:
        await bare.executions.list()
    assert info.value.needs == "api_key or session_token"
    assert router.calls.call_count == 0
