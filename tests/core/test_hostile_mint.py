"""Hostile answers to the session-token mint: clamped or refused typed, never shown.

The SDK mints a session token with the API key for token-only operations. Whatever the
mint answers (a 400-digit lifetime, NaN, a string, a token with CR/LF), the caller gets
a working call or an `APIDecodeError` (a `RefoldError`), never `OverflowError`; a
refused token appears in no error text, repr, pickle or frame local, in any form.
"""

from __future__ import annotations

import json
import pickle
from typing import Any

import httpx
import pytest
import respx

from refold_async import APIDecodeError, RefoldError
from refold_async._mint import MAX_TOKEN_LIFETIME
from refold_async._redact import forms_of
from refold_sync import Refold
from tests.conftest import exception_leaks
from tests.core import ops
from tests.helpers import API_KEY, BASE_URL, mock_client

MINT = "/api/v2/public/session-token"
HOSTED = "/api/v2/public/hosted-properties"
GOOD_TOKEN = "tok_hostile_good_0123456789"
HUGE = "1" + "0" * 399  # a 400-digit integer: float() of it raises OverflowError


def _mint(router: respx.Router, body: bytes) -> respx.Route:
    return router.post(MINT).mock(
        return_value=httpx.Response(200, content=body, headers={"content-type": "application/json"})
    )


def _answer(token: str = GOOD_TOKEN, **fields: str) -> bytes:
    """A mint answer whose lifetimes are raw JSON text (`NaN`, 400 digits, ...)."""
    extra = "".join(f',"{name}":{text}' for name, text in fields.items())
    return ('{"token":' + json.dumps(token) + extra + "}").encode()


def _hosted(router: respx.Router) -> respx.Route:
    return router.get(HOSTED).mock(return_value=httpx.Response(200, json={}))


@pytest.mark.parametrize(
    ("lifetime", "reused_until"),
    [
        pytest.param(HUGE, MAX_TOKEN_LIFETIME - 60, id="400-digit-int"),
        pytest.param("1e400", MAX_TOKEN_LIFETIME - 60, id="infinity"),
        pytest.param("86400.5", MAX_TOKEN_LIFETIME - 60, id="just-past-a-day"),
        pytest.param("-5", None, id="negative"),
        pytest.param("-1e400", None, id="minus-infinity"),
        pytest.param("0", None, id="zero"),
        pytest.param("null", 300 - 60, id="null-means-the-default"),
    ],
)
async def test_a_hostile_lifetime_is_clamped(
    router: respx.Router, lifetime: str, reused_until: float | None
) -> None:
    """A huge lifetime is read as a day, a negative one as zero (the token serves one call)."""
    mint = _mint(router, _answer(expires_in=lifetime, refresh_expires_in=lifetime))
    hosted = _hosted(router)
    client = mock_client(router, linked_account_id="acct_1")
    now = [0.0]
    client._transport.tokens._clock = lambda: now[0]
    await client._transport.send(ops.TOKEN_ONLY)
    assert hosted.calls.last.request.headers["authorization"] == f"Bearer {GOOD_TOKEN}"
    if reused_until is None:
        await client._transport.send(ops.TOKEN_ONLY)
        assert mint.call_count == 2  # not reused: a mint per call
        return
    now[0] = reused_until - 1
    await client._transport.send(ops.TOKEN_ONLY)
    assert mint.call_count == 1
    now[0] = reused_until + 1
    await client._transport.send(ops.TOKEN_ONLY)
    assert mint.call_count == 2


@pytest.mark.parametrize("field", ["expires_in", "refresh_expires_in"])
@pytest.mark.parametrize(
    ("text", "kind"),
    [
        pytest.param("NaN", "float (NaN)", id="nan"),
        pytest.param('"3600"', "str", id="string"),
        pytest.param("true", "bool", id="bool"),
        pytest.param("[3600]", "list", id="list"),
        pytest.param('{"s":1}', "dict", id="object"),
    ],
)
async def test_a_lifetime_that_is_not_a_number_is_refused_typed(
    router: respx.Router, field: str, text: str, kind: str
) -> None:
    """NaN, a string, a boolean: `APIDecodeError` naming the field, and the token is not used."""
    _mint(router, _answer(**{field: text}))
    hosted = _hosted(router)
    client = mock_client(router, linked_account_id="acct_1")
    with pytest.raises(APIDecodeError) as info:
        await client._transport.send(ops.TOKEN_ONLY)
    assert f"{field} of type {kind}" in str(info.value)
    assert info.value.status == 200
    assert info.value.path == MINT
    assert not hosted.called


BAD_TOKENS = [
    pytest.param("tok_crlf_0123456789\r\nX-Injected: 1", id="cr-lf"),
    pytest.param("tok_lf_only_0123456789\n", id="trailing-lf"),
    pytest.param("tok_nul_0123456789\x00abc", id="nul"),
    pytest.param("tok with spaces 0123456789", id="spaces"),
    pytest.param("\ttok_tab_0123456789", id="tab"),
    pytest.param("tok_del_0123456789\x7f", id="del"),
    pytest.param("tok_non_ascii_é_0123456789", id="non-ascii"),
    pytest.param("tok_long_" + "x" * 9000, id="longer-than-a-header"),
]


def _shown(error: BaseException) -> str:
    return (
        str(error)
        + repr(error)
        + repr(error.args)
        + repr(vars(error))
        + repr(pickle.loads(pickle.dumps(error)))
    )


def _assert_never_shown(error: RefoldError, token: str) -> None:
    shown = _shown(error)
    pickled = pickle.dumps(error)
    for form in forms_of(token):
        assert form not in shown
        assert form.encode() not in pickled
    assert not exception_leaks(error, {token}, tolerate=False)


@pytest.mark.parametrize("token", BAD_TOKENS)
async def test_a_token_no_header_can_carry_is_refused_and_never_shown(
    router: respx.Router, token: str
) -> None:
    """Control characters or whitespace in a minted token: `APIDecodeError`, token not shown."""
    _mint(router, _answer(token, expires_in="3600"))
    hosted = _hosted(router)
    client = mock_client(router, linked_account_id="acct_1")
    with pytest.raises(APIDecodeError) as info:
        await client._transport.send(ops.TOKEN_ONLY)
    assert "the token is not shown" in str(info.value)
    assert not hosted.called
    _assert_never_shown(info.value, token)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        pytest.param(b'{"expires_in":3600}', "no token", id="missing"),
        pytest.param(b'{"token":""}', "no token", id="empty"),
        pytest.param(b'{"token":12345678}', "a token of type int", id="number"),
        pytest.param(b'["tok_in_a_list_0123"]', "not a JSON object (list)", id="not-an-object"),
    ],
)
async def test_an_answer_without_a_usable_token_is_a_decode_error(
    router: respx.Router, body: bytes, problem: str
) -> None:
    """No token, an empty one or one of another type: `APIDecodeError` saying so."""
    _mint(router, body)
    client = mock_client(router, linked_account_id="acct_1")
    with pytest.raises(APIDecodeError) as info:
        await client._transport.send(ops.TOKEN_ONLY)
    assert problem in str(info.value)


def _sync_client(router: respx.Router) -> Refold:
    return Refold(
        api_key=API_KEY,
        base_url=BASE_URL,
        linked_account_id="acct_1",
        rate_limit=None,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler)),
    )


def test_the_sync_face_clamps_a_huge_lifetime(router: respx.Router) -> None:
    """`Refold`: a 400-digit `expires_in` gives a working call, not `OverflowError`."""
    mint = _mint(router, _answer(expires_in=HUGE))
    hosted = _hosted(router)
    with _sync_client(router) as client:
        client.hosted_properties.retrieve()
        client.hosted_properties.retrieve()
    assert mint.call_count == 1
    assert hosted.call_count == 2


@pytest.mark.parametrize("token", BAD_TOKENS[:3])
def test_the_sync_face_refuses_a_bad_token_unseen(router: respx.Router, token: str) -> None:
    """`Refold`: the same `APIDecodeError`, crossing the loop thread without the token."""
    _mint(router, _answer(token))
    hosted = _hosted(router)
    with _sync_client(router) as client, pytest.raises(APIDecodeError) as info:
        client.hosted_properties.retrieve()
    assert not hosted.called
    _assert_never_shown(info.value, token)


def test_lifetimes_are_compared_before_any_conversion() -> None:
    """The clamp compares ints as ints: no float() of a 400-digit number anywhere."""
    from refold_async._mint import read_mint_answer

    answer: dict[str, Any] = {"token": GOOD_TOKEN, "expires_in": int(HUGE)}
    assert read_mint_answer(answer, status=200, path=MINT) == (GOOD_TOKEN, MAX_TOKEN_LIFETIME)
    answer["expires_in"] = -int(HUGE)
    assert read_mint_answer(answer, status=200, path=MINT) == (GOOD_TOKEN, 0.0)
    answer["expires_in"] = 90
    assert read_mint_answer(answer, status=201, path=MINT) == (GOOD_TOKEN, 90.0)
