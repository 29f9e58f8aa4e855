"""The scrubber knows every form of a credential, and a credential is never taken for an id.

A secret shows up escaped (`repr()` of a token with CR/LF), percent-encoded (a proxy's or
a server's echo of a URL), JSON-escaped or as a `bytes` repr; `scrub()` redacts each. An
API key or session token passed where an id belongs is refused before anything is sent,
and appears in no error text, repr, pickle, nor `refold` log record.
"""

from __future__ import annotations

import logging
import pickle
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
import respx

from refold_async import AuthenticationError, InvalidArgumentError, RefoldError
from refold_async._auth import Secret
from refold_async._payload import scrub
from refold_async._redact import forms_of, redact_headers
from refold_sync import Refold
from tests.core import ops
from tests.helpers import API_KEY, BASE_URL, mock_client

ODD_KEY = "tk_test_a+b/c=d'e\"f_0123456789"  # visible ASCII, changed by every escaping
TOKEN = "sess_tok_forms_0123456789"


@pytest.mark.parametrize(
    "shown",
    [
        pytest.param(lambda s: s, id="raw"),
        pytest.param(lambda s: repr(s), id="repr"),
        pytest.param(lambda s: repr(s.encode()), id="bytes-repr"),
        pytest.param(lambda s: quote(s, safe=""), id="percent"),
        pytest.param(lambda s: quote(s), id="percent-path"),
        pytest.param(lambda s: quote_plus(s), id="percent-form"),
        pytest.param(lambda s: __import__("json").dumps(s), id="json"),
        pytest.param(lambda s: repr([s]), id="repr-in-a-list"),
    ],
)
@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(ODD_KEY, id="odd-key"),
        pytest.param("tok_crlf_0123456789\r\nX-Injected: 1", id="crlf-token"),
        pytest.param("tok_tab\t_nul\x00_é_0123456789", id="control-token"),
    ],
)
def test_scrub_redacts_every_form_of_a_secret(shown: Any, secret: str) -> None:
    """Raw, repr-escaped, percent-encoded, JSON and bytes forms are all redacted."""
    text = f"LocalProtocolError: Illegal header value {shown(secret)} (attempt 1)"
    clean = scrub(text, [Secret(secret)])
    assert "[redacted]" in clean
    assert not any(form in clean for form in forms_of(secret))


def test_credential_header_values_are_redacted_in_every_layout() -> None:
    """httpcore's bytes tuples and plain header lines lose their credential values."""
    text = (
        "[(b'X-Api-Key', b'tk_abc'), (b'authorization', b'Bearer xyz')] "
        "authorization: Bearer qqq\nx-api-key=www"
    )
    clean = redact_headers(text)
    for value in ("tk_abc", "xyz", "qqq", "www"):
        assert value not in clean
    assert clean.count("[redacted]") == 4


async def test_a_percent_encoded_echo_of_the_key_is_scrubbed(router: respx.Router) -> None:
    """A server echoing the key percent-encoded (and escaped) leaves it in no error output."""
    echoed = f"key {quote(ODD_KEY, safe='')} or {quote_plus(ODD_KEY)} or {ODD_KEY!r} is unknown"
    router.get("/api/v2/public/linked-account").mock(
        return_value=httpx.Response(
            401,
            json={"message": echoed, "error": quote(ODD_KEY)},
            headers={"x-request-id": f"req-{quote(ODD_KEY, safe='')}"},
        )
    )
    client = mock_client(router, api_key=ODD_KEY)
    with pytest.raises(AuthenticationError) as info:
        await client.linked_accounts.list()
    error = info.value
    assert "[redacted]" in str(error)
    shown = str(error) + repr(error) + repr(vars(error))
    pickled = pickle.dumps(error)
    for form in forms_of(ODD_KEY):
        assert form not in shown
        assert form.encode() not in pickled


# --- a credential where an id belongs ---------------------------------------------------


def _calls(face: str, client: Any) -> dict[str, Any]:
    """Calls that put `value` in a path, a header and a query parameter.

    A sync list is lazy: its first page is fetched when iterated.
    """
    first: Any = (lambda pages: next(iter(pages), None)) if face == "sync" else (lambda p: p)
    return {
        "path": lambda value: client.linked_accounts.retrieve(linked_account_id=value),
        "header": lambda value: first(client.executions.list(linked_account_id=value)),
        "query": lambda value: first(
            client.executions.list(execution_id=value, linked_account_id="a")
        ),
    }


def _assert_refused(
    error: InvalidArgumentError, which: str, secret: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert f"this client's own {which}" in str(error)
    shown = str(error) + repr(error) + repr(error.args) + repr(vars(error))
    pickled = pickle.dumps(error)
    for form in forms_of(secret):
        assert form not in shown
        assert form.encode() not in pickled
    refold_lines = [r.getMessage() for r in caplog.records if r.name.startswith("refold")]
    assert not [line for line in refold_lines if secret in line]


def _own_argument_frames(guard: Any) -> None:
    """Forget the guard's findings of the argument itself, in the frames it was passed to.

    The caller handed the key to the method as an argument: the SDK frames it went
    through hold it as their parameters (Python keeps a frame's arguments), and no SDK
    code can take it back. What the SDK controls, its error and logs, is asserted above.
    """
    names = ("linked_account_id", "execution_id", "path", "query", "page_query", "headers")
    forwarded = ("args", "kwargs", "options")  # forwarded as they are (sync face, headers)
    allowed = tuple(f"local {name!r}" for name in (*names, *forwarded))
    stray = [finding for finding in guard.findings if not finding.startswith(allowed)]
    assert not stray, stray
    guard.findings.clear()


@pytest.mark.parametrize("where", ["path", "header", "query"])
async def test_the_api_key_as_an_id_is_refused_before_sending(
    router: respx.Router, where: str, caplog: pytest.LogCaptureFixture, secret_guard: Any
) -> None:
    """The client's own API key where an id belongs: refused, unsent, and not echoed."""
    route = router.route().mock(return_value=httpx.Response(404, json={"message": "no"}))
    client = mock_client(router)
    key = API_KEY
    with pytest.raises(InvalidArgumentError) as info:
        await _calls("async", client)[where](key)
    assert not route.called
    _assert_refused(info.value, "API key", key, caplog)
    _own_argument_frames(secret_guard)


async def test_the_session_token_as_an_id_is_refused_before_sending(
    router: respx.Router,
    caplog: pytest.LogCaptureFixture,
    secret_guard: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A session-token client's own token where an id belongs: refused the same way."""
    monkeypatch.delenv("REFOLD_API_KEY", raising=False)
    route = router.route().mock(return_value=httpx.Response(404, json={"message": "no"}))
    client = mock_client(router, api_key=None, session_token=TOKEN)
    with pytest.raises(InvalidArgumentError) as info:
        await client._transport.send(ops.KEY_OR_TOKEN, path={"execution_id": TOKEN})
    assert not route.called
    _assert_refused(info.value, "session token", TOKEN, caplog)
    _own_argument_frames(secret_guard)


@pytest.mark.parametrize("where", ["path", "header", "query"])
def test_the_sync_face_refuses_the_key_as_an_id(
    router: respx.Router, where: str, caplog: pytest.LogCaptureFixture, secret_guard: Any
) -> None:
    """`Refold`: the same refusal, before sending, crossing the loop thread clean."""
    route = router.route().mock(return_value=httpx.Response(404, json={"message": "no"}))
    key = "tk_test_sync_forms_0123456789"
    with (
        Refold(
            api_key=key,
            base_url=BASE_URL,
            rate_limit=None,
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler)),
        ) as client,
        pytest.raises(InvalidArgumentError) as info,
    ):
        _calls("sync", client)[where](key)
    assert not route.called
    _assert_refused(info.value, "API key", key, caplog)
    _own_argument_frames(secret_guard)


async def test_an_id_that_only_looks_like_a_credential_is_sent(router: respx.Router) -> None:
    """Only the client's own credentials are refused: another value of the same length goes."""
    route = router.route().mock(return_value=httpx.Response(200, json={"_id": "x"}))
    client = mock_client(router)
    key = API_KEY
    lookalike = key[:-1] + ("0" if key[-1] != "0" else "1")
    await client.linked_accounts.retrieve(linked_account_id=lookalike)
    assert route.called
    caplog_level = logging.getLogger("refold").level
    assert caplog_level <= logging.DEBUG  # the guard's caplog saw the call's lines


def test_refusals_are_refold_errors() -> None:
    """The refusal is an `InvalidArgumentError`: a `RefoldError` and a `ValueError`."""
    assert issubclass(InvalidArgumentError, RefoldError)
    assert issubclass(InvalidArgumentError, ValueError)


async def test_the_key_among_repeated_query_values_is_refused(
    router: respx.Router, secret_guard: Any
) -> None:
    """A list value (a repeated query parameter) holding the key is refused too."""
    route = router.route().mock(return_value=httpx.Response(200, json={}))
    client = mock_client(router)
    with pytest.raises(InvalidArgumentError, match="'ids' is this client's own API key"):
        await client.request("GET", "/api/v2/public/anything", query={"ids": ["a", API_KEY]})
    with pytest.raises(InvalidArgumentError, match="'x-trace' is this client's own API key"):
        await client.request("GET", "/api/v2/public/anything", headers={"x-trace": API_KEY})
    assert not route.called
    _own_argument_frames(secret_guard)
