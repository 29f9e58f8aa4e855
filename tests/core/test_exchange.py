"""One attempt (`_exchange`): bounded decoding, the new errors' fields, the size option."""

from __future__ import annotations

import pickle
import zlib
from typing import Any

import httpx
import pytest
import respx

from refold_async import (
    APIConnectionError,
    APIRedirectError,
    APIResponseTooLargeError,
    APITimeoutError,
    AsyncRefold,
    InvalidArgumentError,
    RefoldError,
    RetryPolicy,
)
from refold_async._decoding import Inflater as _Inflater
from refold_async._exchange import _STEP, DEFAULT_MAX_RESPONSE_BYTES
from refold_sync import Refold
from tests.core import ops
from tests.helpers import API_KEY, BASE_URL, mock_client

MiB = 1024 * 1024


def _compressed(data: bytes, wbits: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("wbits", "gzip"),
    [
        pytest.param(31, True, id="gzip"),
        pytest.param(15, False, id="deflate-zlib"),
        pytest.param(-15, False, id="deflate-raw"),
    ],
)
def test_inflater_never_produces_more_than_a_step(wbits: int, gzip: bool) -> None:
    """One small compressed read of 8 MiB of zeros inflates in steps of at most `_STEP`."""
    data = bytes(8 * MiB)
    packed = _compressed(data, wbits)
    assert len(packed) < 64 * 1024  # one network read's worth
    steps = list(_Inflater(gzip=gzip).feed(packed))
    assert max(map(len, steps)) <= _STEP
    assert b"".join(steps) == data


def test_inflater_keeps_state_across_reads() -> None:
    """Compressed data split at arbitrary points decodes to the same bytes."""
    data = bytes(range(256)) * 5000
    packed = _compressed(data, 31)
    inflater = _Inflater(gzip=True)
    out = b"".join(
        chunk for i in range(0, len(packed), 7) for chunk in inflater.feed(packed[i : i + 7])
    )
    assert out == data


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(
            APIConnectionError(
                "x", method="GET", path="/p", attempts=2, host="h", reason="r", sent=True
            ),
            id="connection",
        ),
        pytest.param(APITimeoutError("x", host="h", reason="r", sent=None), id="timeout"),
        pytest.param(
            APIResponseTooLargeError("x", method="GET", path="/p", status=200, limit=5),
            id="too-large",
        ),
        pytest.param(
            APIRedirectError("x", method="GET", path="/p", status=302, location="https://o:443"),
            id="redirect",
        ),
    ],
)
def test_new_error_fields_survive_pickle(error: RefoldError) -> None:
    """Batch jobs move errors between processes: every field comes back."""
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert copy.__dict__ == error.__dict__


async def test_without_trace_events_sent_is_unknown(router: respx.Router) -> None:
    """A transport that emits no trace (a mock) leaves `sent` unknown, and says so."""
    router.route().mock(side_effect=httpx.ReadTimeout("timed out"))
    client = mock_client(router, retry=RetryPolicy(max_attempts=1))
    with pytest.raises(APITimeoutError) as info:
        await client._transport.send(ops.ORG)
    assert info.value.sent is None
    assert info.value.host == "api.refold.invalid"
    assert info.value.reason == "ReadTimeout: timed out"
    assert "may have been sent" in str(info.value)


async def test_connect_error_is_not_sent_and_scrubbed(router: respx.Router) -> None:
    """A refused connection is `sent=False`; its reason is scrubbed of the key."""
    router.route().mock(side_effect=httpx.ConnectError(f"refused {API_KEY}"))
    client = mock_client(router, retry=RetryPolicy(max_attempts=1))
    with pytest.raises(APIConnectionError) as info:
        await client._transport.send(ops.ORG_POST)
    assert info.value.sent is False
    assert API_KEY not in info.value.reason
    assert API_KEY not in str(info.value)


async def test_a_too_large_error_response_is_not_retried(router: respx.Router) -> None:
    """A 503 with a body past the limit is the size error, raised once."""
    route = router.route().mock(return_value=httpx.Response(503, content=b"x" * 2000))
    client = mock_client(router, max_response_bytes=1000)
    with pytest.raises(APIResponseTooLargeError) as info:
        await client._transport.send(ops.ORG)
    assert (info.value.status, info.value.limit) == (503, 1000)
    assert route.call_count == 1


async def test_per_call_limit_overrides_the_clients(router: respx.Router) -> None:
    """`max_response_bytes` per call wins over the client's, up or down."""
    router.route().mock(return_value=httpx.Response(200, json={"pad": "x" * 100}))
    small = mock_client(router, max_response_bytes=10)
    assert await small._transport.send(ops.ORG, options={"max_response_bytes": 1000})
    roomy = mock_client(router)
    with pytest.raises(APIResponseTooLargeError):
        await roomy._transport.send(ops.ORG, options={"max_response_bytes": 10})


@pytest.mark.parametrize("value", [0, -1, True, "1000", 1.5, None])
async def test_bad_limits_are_refused_before_sending(router: respx.Router, value: Any) -> None:
    """A limit that is not a positive int fails at construction, in with_options, per call."""
    with pytest.raises(InvalidArgumentError):
        AsyncRefold(api_key=API_KEY, base_url=BASE_URL, max_response_bytes=value)
    client = mock_client(router)
    with pytest.raises(InvalidArgumentError):
        client.with_options(max_response_bytes=value)
    with pytest.raises(InvalidArgumentError):
        await client._transport.send(ops.ORG, options={"max_response_bytes": value})
    assert router.calls.call_count == 0


def test_limit_options_reach_the_transport() -> None:
    """The default is 32 MiB; with_options and the sync face set it."""
    client = AsyncRefold(api_key=API_KEY, base_url=BASE_URL)
    assert client._transport.config.max_response_bytes == DEFAULT_MAX_RESPONSE_BYTES == 32 * MiB
    assert client.with_options(max_response_bytes=5)._transport.config.max_response_bytes == 5
    with Refold(api_key=API_KEY, base_url=BASE_URL, max_response_bytes=7) as sync:
        assert sync._live()._transport.config.max_response_bytes == 7


async def test_generated_methods_take_the_limit_per_call(router: respx.Router) -> None:
    """`max_response_bytes` is a call option of every generated method (and its pages)."""
    router.route().mock(return_value=httpx.Response(200, json=[{"_id": "x" * 100}]))
    client = mock_client(router, linked_account_id="acct-1")
    with pytest.raises(APIResponseTooLargeError) as info:
        await client.applications.list(max_response_bytes=10)
    assert info.value.limit == 10
