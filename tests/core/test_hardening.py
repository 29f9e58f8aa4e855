"""Review findings, pinned: secrets stay out of tracebacks and causes, bad input fails early."""

from __future__ import annotations

import traceback
from typing import Any

import httpx
import pytest
import respx

from refold_async import (
    APIConnectionError,
    AsyncRefold,
    AuthenticationError,
    InvalidArgumentError,
    RateLimitError,
    RefoldUsageError,
    RetryPolicy,
)
from tests.core import ops
from tests.helpers import API_KEY, BASE_URL, mock_client


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"api_key": API_KEY + "\n"}, id="key-trailing-newline"),
        pytest.param({"api_key": " " + API_KEY}, id="key-leading-space"),
        pytest.param({"api_key": API_KEY + "é"}, id="key-non-ascii"),
        pytest.param({"session_token": "tok_abc\r\nx-evil: 1"}, id="token-crlf"),
        pytest.param({"linked_account_id": "acme\r\nx-evil: 1"}, id="linked-account-crlf"),
    ],
)
def test_credentials_and_bound_account_are_checked_at_construction(options: dict[str, Any]) -> None:
    """A credential or bound account no header could carry fails at once, value unshown."""
    with pytest.raises(InvalidArgumentError) as info:
        AsyncRefold(base_url=BASE_URL, **{"api_key": API_KEY, **options})
    assert API_KEY not in str(info.value)
    client = AsyncRefold(api_key=API_KEY, base_url=BASE_URL)
    with pytest.raises(InvalidArgumentError):
        client.with_options(**options)


def test_for_linked_account_refuses_header_injection() -> None:
    """`for_linked_account()` checks the id as the header value it becomes."""
    with pytest.raises(InvalidArgumentError):
        AsyncRefold(api_key=API_KEY, base_url=BASE_URL).for_linked_account("acme\r\nx-evil: 1")


async def test_non_ascii_header_is_a_typed_error(router: respx.Router) -> None:
    """Non-ASCII header values raise InvalidArgumentError before sending."""
    client = mock_client(router)
    with pytest.raises(InvalidArgumentError):
        await client._transport.send(
            ops.LINKED, path={"execution_id": "e"}, headers={"linked_account_id": "café"}
        )
    assert router.calls.call_count == 0


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


async def test_connection_error_cause_holds_no_request_and_no_secret(router: respx.Router) -> None:
    """The httpx cause is a detached copy: no request (and so no key header), no key in text."""
    router.route().mock(side_effect=httpx.ConnectError(f"refused while sending {API_KEY}"))
    client = mock_client(router, retry=RetryPolicy(max_attempts=2))
    with pytest.raises(APIConnectionError) as info:
        await client._transport.send(ops.ORG)
    chain = _chain(info.value)
    assert isinstance(chain[1], httpx.ConnectError)
    for error in chain:
        assert API_KEY not in str(error)
        assert API_KEY not in repr(error)
        if isinstance(error, httpx.HTTPError):
            with pytest.raises(RuntimeError):
                _ = error.request  # httpx raises when no request is attached
    text = "".join(traceback.format_exception(info.value))
    assert API_KEY not in text
    frame_values = [
        repr(value)
        for frame, _ in traceback.walk_tb(info.value.__traceback__)
        for value in frame.f_locals.values()
    ]
    assert not [v for v in frame_values if API_KEY in v]


async def test_local_protocol_errors_are_not_retried(router: respx.Router) -> None:
    """A request that cannot be sent as built fails once, without retries."""
    router.route().mock(side_effect=httpx.LocalProtocolError("illegal header value"))
    client = mock_client(router)
    with pytest.raises(APIConnectionError) as info:
        await client._transport.send(ops.ORG)
    assert info.value.attempts == 1
    assert router.calls.call_count == 1


async def test_closed_client_raises_a_usage_error(router: respx.Router) -> None:
    """Calling after `aclose()` (from a derived client too) is a RefoldUsageError."""
    router.route().mock(return_value=httpx.Response(200, json={}))
    client = mock_client(router)
    client._owns_http = True
    derived = client.for_linked_account("acct")
    await client.aclose()
    with pytest.raises(RefoldUsageError):
        await derived._transport.send(ops.ORG)


class _RecordingLimiter:
    def __init__(self) -> None:
        self.pauses: list[float] = []

    rate = None

    async def acquire(self, key: str, **bounds: object) -> None:
        return None

    async def penalize(self, key: str, retry_after: float) -> None:
        self.pauses.append(retry_after)


async def test_a_429_that_is_not_retried_still_pauses_the_bucket(router: respx.Router) -> None:
    """Giving up on a 429 still pauses the shared bucket for as long as the server said.

    Capped at 15 minutes; every other call whose deadline ends sooner then fails at once.
    """
    router.route().mock(return_value=httpx.Response(429, headers={"retry-after": "3600"}))
    limiter = _RecordingLimiter()
    client = mock_client(router, rate_limiter=limiter, retry=RetryPolicy(max_retry_after=30))
    with pytest.raises(RateLimitError):
        await client._transport.send(ops.ORG)
    assert limiter.pauses == [900]


async def test_remint_after_401_forces_a_new_token(router: respx.Router) -> None:
    """The second mint asks for a new token (`force_refresh=true`), not the refused one."""
    tokens = iter(["tok_refused_123456", "tok_fresh_1234567"])
    mint = router.post("/api/v2/public/session-token").mock(
        side_effect=lambda request: httpx.Response(
            200, json={"token": next(tokens), "expires_in": 3600}
        )
    )
    answers = iter([httpx.Response(401, json={}), httpx.Response(200, json={})])
    router.get("/api/v2/public/hosted-properties").mock(side_effect=lambda request: next(answers))
    client = mock_client(router, linked_account_id="acct-1")
    await client._transport.send(ops.TOKEN_ONLY)
    assert [c.request.url.params.get("force_refresh") for c in mint.calls] == [None, "true"]


async def test_persistent_401_after_forced_remint_is_raised(router: respx.Router) -> None:
    """A refused fresh token ends in AuthenticationError, after exactly one forced mint."""
    router.post("/api/v2/public/session-token").mock(
        return_value=httpx.Response(200, json={"token": "tok_same_1234567", "expires_in": 3600})
    )
    router.get("/api/v2/public/hosted-properties").mock(return_value=httpx.Response(401, json={}))
    client = mock_client(router, linked_account_id="acct-1")
    with pytest.raises(AuthenticationError):
        await client._transport.send(ops.TOKEN_ONLY)
