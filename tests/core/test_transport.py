"""The send loop: request building, decoding, retries, errors and logging."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refold_async import (
    APIConnectionError,
    APIDecodeError,
    APITimeoutError,
    InvalidArgumentError,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
    ServerError,
)
from refold_async._request import expand_path
from refold_async._types import NOT_GIVEN
from tests.core import ops
from tests.helpers import API_KEY, RecordingSleep, mock_client

# --- request building -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        pytest.param("a/b c", "a%2Fb%20c", id="slash-space"),
        pytest.param("..", "%2E%2E", id="dotdot"),
        pytest.param(".", "%2E", id="dot"),
        pytest.param("../../admin", "..%2F..%2Fadmin", id="traversal"),
        pytest.param("50%", "50%25", id="percent"),
        pytest.param("é?#", "%C3%A9%3F%23", id="unicode-query-fragment"),
    ],
)
async def test_path_parameters_stay_in_their_segment(
    router: respx.Router, value: str, encoded: str
) -> None:
    """Path values are percent-encoded as one segment, so they cannot change the route."""
    router.route().mock(return_value=httpx.Response(200, json={"id": "x"}))
    client = mock_client(router, linked_account_id="acct")
    await client._transport.send(ops.LINKED, path={"execution_id": value})
    assert router.calls.last.request.url.raw_path.decode() == f"/api/v2/public/execution/{encoded}"


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(value=st.text(min_size=1))
def test_any_path_value_is_one_segment(value: str) -> None:
    """Whatever the value, the expanded path keeps exactly its segment count."""
    path = expand_path("/api/v2/public/execution/{execution_id}/stop", {"execution_id": value})
    segments = path.split("/")
    assert len(segments) == 7
    assert segments[5] not in {".", ".."}
    assert httpx.URL("https://h.invalid" + path).raw_path.count(b"/") == 6


@pytest.mark.parametrize("value", ["", None, NOT_GIVEN])
async def test_missing_path_value_is_refused(router: respx.Router, value: object) -> None:
    """An empty or missing path value raises before sending."""
    client = mock_client(router, linked_account_id="acct")
    with pytest.raises(InvalidArgumentError):
        await client._transport.send(ops.LINKED, path={"execution_id": value})
    assert router.calls.call_count == 0


@pytest.mark.parametrize("bad", ["a\r\nX-Evil: 1", "a\nb", "a\rb", "a\x00b", "a\x7fb"])
async def test_control_characters_in_headers_are_refused(router: respx.Router, bad: str) -> None:
    """CR, LF and other control characters in header values raise a typed error."""
    client = mock_client(router)
    with pytest.raises(InvalidArgumentError):
        await client._transport.send(
            ops.LINKED, path={"execution_id": "e"}, headers={"linked_account_id": bad}
        )
    with pytest.raises(InvalidArgumentError):
        await client._transport.send(ops.ORG, options={"extra_headers": {"x-trace": bad}})
    assert router.calls.call_count == 0


async def test_none_and_not_given_are_omitted(router: respx.Router) -> None:
    """`None` and `NOT_GIVEN` arguments do not reach the request."""
    router.route().mock(return_value=httpx.Response(200, json={}))
    client = mock_client(router)
    await client._transport.send(
        ops.ORG_POST,
        query={"a": None, "b": NOT_GIVEN, "c": 1, "d": True, "e": ["x", "y"]},
        headers={"h1": None, "h2": NOT_GIVEN, "h3": False},
        body={"name": "n", "skip": None, "also": NOT_GIVEN, "nested": {"k": None}},
    )
    request = router.calls.last.request
    assert request.url.query == b"c=1&d=true&e=x&e=y"
    assert "h1" not in request.headers
    assert "h2" not in request.headers
    assert request.headers["h3"] == "false"
    assert request.content == b'{"name":"n","nested":{"k":null}}'


async def test_call_options_are_merged(router: respx.Router) -> None:
    """`extra_headers`, `extra_query` and `extra_body` merge over the request's own."""
    router.route().mock(return_value=httpx.Response(200, json={}))
    client = mock_client(router, default_headers={"x-app": "demo"})
    await client._transport.send(
        ops.ORG_POST,
        query={"a": "1"},
        body={"name": "n"},
        options={
            "extra_headers": {"x-trace": "t"},
            "extra_query": {"b": "2"},
            "extra_body": {"more": 1},
        },
    )
    request = router.calls.last.request
    assert request.headers["x-trace"] == "t"
    assert request.headers["x-app"] == "demo"
    assert request.url.query == b"a=1&b=2"
    assert request.content == b'{"name":"n","more":1}'


@pytest.mark.parametrize("name", ["x-api-key", "Authorization"])
async def test_extra_headers_cannot_replace_credentials(router: respx.Router, name: str) -> None:
    """Credentials come only from the client."""
    client = mock_client(router)
    with pytest.raises(InvalidArgumentError):
        await client._transport.send(ops.ORG, options={"extra_headers": {name: "x"}})


async def test_per_call_timeout_reaches_httpx(router: respx.Router) -> None:
    """`timeout=` on a call sets that request's timeouts."""
    router.route().mock(return_value=httpx.Response(200, json={}))
    client = mock_client(router, timeout=30)
    await client._transport.send(ops.ORG, options={"timeout": 2.5})
    assert router.calls.last.request.extensions["timeout"]["read"] == 2.5
    await client._transport.send(ops.ORG)
    assert router.calls.last.request.extensions["timeout"]["read"] == 30


# --- decoding ----------------------------------------------------------------------


async def test_2xx_decodes_into_the_model_keeping_unknown_fields(router: respx.Router) -> None:
    """A 2xx body becomes the operation's model; unknown keys are kept."""
    router.route().mock(
        return_value=httpx.Response(200, json={"id": "e1", "name": "n", "brandNew": 1})
    )
    client = mock_client(router, linked_account_id="acct")
    thing = await client._transport.send(ops.LINKED, path={"execution_id": "e1"})
    assert thing == ops.Thing(id="e1", name="n", extra_fields={"brandNew": 1})


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"name": "no id"}', id="missing-field"),
        pytest.param(b"<html>oops</html>", id="html"),
        pytest.param(b"", id="empty"),
        pytest.param(b"[1, 2]", id="wrong-shape"),
    ],
)
async def test_2xx_misfit_raises_decode_error(router: respx.Router, body: bytes) -> None:
    """A 2xx body that does not fit raises APIDecodeError naming the problem."""
    router.route().mock(return_value=httpx.Response(200, content=body))
    client = mock_client(router, linked_account_id="acct")
    with pytest.raises(APIDecodeError) as info:
        await client._transport.send(ops.LINKED, path={"execution_id": "e1"})
    assert info.value.problems
    assert info.value.status == 200


async def test_no_content_operation_returns_none(router: respx.Router) -> None:
    """Operations without a response body return None, whatever the server sends."""
    router.route().mock(return_value=httpx.Response(204))
    client = mock_client(router)
    assert await client._transport.send(ops.DELETE, path={"id": "w"}) is None


# --- pagination --------------------------------------------------------------------


async def test_paginator_walks_every_page(router: respx.Router) -> None:
    """`async for` follows hasNextPage/nextPage; `await` gives the first page only."""

    def page(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params.get("page", "1"))
        docs = [{"id": f"{number}-{i}"} for i in range(2)]
        meta = {
            "page": number,
            "totalPages": 3,
            "totalDocs": 6,
            "hasNextPage": number < 3,
            "nextPage": number + 1 if number < 3 else None,
        }
        return httpx.Response(200, json={"docs": docs, **meta})

    router.get("/api/v2/public/linked-account").mock(side_effect=page)
    client = mock_client(router)
    first = await client._transport.paginate(ops.PAGED, query={"limit": 2})
    assert [t.id for t in first] == ["1-0", "1-1"]
    assert first.total_docs == 6
    assert router.calls.call_count == 1
    ids = [t.id async for t in client._transport.paginate(ops.PAGED, query={"limit": 2})]
    assert ids == ["1-0", "1-1", "2-0", "2-1", "3-0", "3-1"]
    assert [c.request.url.params.get("page") for c in router.calls][1:] == [None, "2", "3"]


async def test_paginator_stops_on_repeated_page(router: respx.Router) -> None:
    """A server that keeps pointing at the same page does not loop forever."""
    router.get("/api/v2/public/linked-account").mock(
        return_value=httpx.Response(
            200, json={"docs": [{"id": "a"}], "hasNextPage": True, "nextPage": 2}
        )
    )
    client = mock_client(router)
    items = [t async for t in client._transport.paginate(ops.PAGED)]
    assert len(items) == 2


# --- retries -----------------------------------------------------------------------


def _sequence(*responses: httpx.Response | Exception) -> Any:
    remaining = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        item = remaining.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return handler


async def test_429_is_retried_after_retry_after_and_pauses_the_bucket(router: respx.Router) -> None:
    """A 429 waits Retry-After, tells the limiter to pause the bucket, then succeeds."""
    router.route().mock(
        side_effect=_sequence(
            httpx.Response(429, headers={"retry-after": "2"}), httpx.Response(200, json={})
        )
    )
    sleep = RecordingSleep()
    paused: list[tuple[str, float]] = []

    class Limiter:
        rate = None

        async def acquire(self, key: str, **bounds: object) -> None:
            return None

        async def penalize(self, key: str, retry_after: float) -> None:
            paused.append((key, retry_after))

    client = mock_client(router, sleep=sleep, rate_limiter=Limiter())
    await client._transport.send(ops.ORG_POST, body={})
    assert sleep.calls == [2.0]
    assert len(paused) == 1
    assert paused[0][1] == 2.0
    assert API_KEY not in paused[0][0]


@pytest.mark.parametrize(
    ("op", "failure", "retried"),
    [
        pytest.param(ops.ORG, httpx.Response(503), True, id="get-503"),
        pytest.param(ops.ORG_POST, httpx.Response(503), False, id="post-503"),
        pytest.param(ops.ORG, httpx.ReadTimeout("slow"), True, id="get-timeout"),
        pytest.param(ops.ORG_POST, httpx.ReadTimeout("slow"), False, id="post-timeout"),
        pytest.param(ops.ORG_POST, httpx.ConnectError("refused"), True, id="post-connect-error"),
        pytest.param(ops.ORG, httpx.RemoteProtocolError("dropped"), True, id="get-dropped"),
        pytest.param(ops.ORG_POST, httpx.RemoteProtocolError("dropped"), False, id="post-dropped"),
        pytest.param(ops.ORG, httpx.Response(404), False, id="get-404"),
    ],
)
async def test_retry_table_end_to_end(
    router: respx.Router, op: Any, failure: Any, retried: bool
) -> None:
    """The transport retries exactly what the policy allows."""
    router.route().mock(side_effect=_sequence(failure, httpx.Response(200, json={})))
    client = mock_client(router)
    if retried:
        await client._transport.send(op, body={})
        assert router.calls.call_count == 2
    else:
        with pytest.raises((APIConnectionError, NotFoundError, ServerError)):
            await client._transport.send(op, body={})
        assert router.calls.call_count == 1


async def test_final_error_counts_attempts(router: respx.Router) -> None:
    """After the last attempt the error says how many were made."""
    router.route().mock(return_value=httpx.Response(503, json={"message": "down"}))
    client = mock_client(router, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(ServerError) as info:
        await client._transport.send(ops.ORG)
    assert info.value.attempts == 3
    assert "after 3 attempts" in str(info.value)
    assert router.calls.call_count == 3


async def test_long_retry_after_raises_rate_limit_error(router: respx.Router) -> None:
    """A Retry-After past the cap raises RateLimitError carrying it, without sleeping."""
    router.route().mock(return_value=httpx.Response(429, headers={"retry-after": "3600"}))
    sleep = RecordingSleep()
    client = mock_client(router, sleep=sleep)
    with pytest.raises(RateLimitError) as info:
        await client._transport.send(ops.ORG)
    assert info.value.retry_after == 3600
    assert sleep.calls == []


async def test_timeouts_and_connection_errors_are_wrapped(router: respx.Router) -> None:
    """httpx exceptions become ours, with the httpx exception as cause."""
    router.route().mock(side_effect=httpx.ReadTimeout("slow"))
    client = mock_client(router, retry=RetryPolicy(max_attempts=2))
    with pytest.raises(APITimeoutError) as info:
        await client._transport.send(ops.ORG)
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert info.value.attempts == 2
    router.route().mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(APIConnectionError) as info2:
        await client._transport.send(ops.ORG)
    assert isinstance(info2.value.__cause__, httpx.ConnectError)


async def test_each_retry_logs_one_info_line(
    router: respx.Router, caplog: pytest.LogCaptureFixture
) -> None:
    """Every retry is logged at INFO with the reason and the wait."""
    router.route().mock(
        side_effect=_sequence(
            httpx.Response(503), httpx.Response(502), httpx.Response(200, json={})
        )
    )
    client = mock_client(router)
    await client._transport.send(ops.ORG)
    lines = [r for r in caplog.records if r.levelno == logging.INFO and r.name == "refold"]
    retries = [r for r in lines if "retrying" in r.getMessage()]
    assert len(retries) == 2
    assert len(lines) == 3  # and one line for the call as a whole
    assert "HTTP 503" in retries[0].getMessage()
    assert "0.25s" in retries[0].getMessage()  # rand()=0.5 of a 0.5 s ceiling


async def test_debug_log_has_method_path_status_attempt(
    router: respx.Router, caplog: pytest.LogCaptureFixture
) -> None:
    """A DEBUG line per attempt names method, path, status, elapsed and attempt, no secret."""
    router.route().mock(return_value=httpx.Response(200, json={}))
    client = mock_client(router)
    await client._transport.send(ops.ORG)
    [line] = [
        r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG and r.name == "refold"
    ]
    assert line.startswith("listWebhooks GET /api/v2/public/webhook -> 200 in ")
    assert line.endswith("(attempt 1)")
    assert API_KEY not in line


async def test_deadline_bounds_total_retry_time(router: respx.Router) -> None:
    """Retries stop once the next wait would pass the deadline."""
    router.route().mock(return_value=httpx.Response(429, headers={"retry-after": "4"}))
    sleep = RecordingSleep()
    client = mock_client(router, sleep=sleep, retry=RetryPolicy(max_attempts=100, deadline=10))
    with pytest.raises(RateLimitError):
        await client._transport.send(ops.ORG)
    assert sleep.calls == [4.0, 4.0]


async def test_optional_body_left_out_entirely_is_not_sent(router: respx.Router) -> None:
    """An optional body whose fields were all left out sends no body at all."""
    router.route().mock(return_value=httpx.Response(200, json={}))
    client = mock_client(router)
    await client._transport.send(ops.ORG, body={"a": NOT_GIVEN, "b": None})
    assert router.calls.last.request.content == b""
    assert "content-type" not in router.calls.last.request.headers


async def test_datetime_query_values_are_iso_8601(router: respx.Router) -> None:
    """Datetimes in the query go out as ISO 8601, UTC as `Z`."""
    import datetime as dt

    router.route().mock(return_value=httpx.Response(200, json={}))
    client = mock_client(router)
    moment = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc)
    await client._transport.send(ops.ORG, query={"start_date": moment})
    assert router.calls.last.request.url.params["start_date"] == "2024-05-06T07:08:09Z"
