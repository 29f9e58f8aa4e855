"""Socket-level faults: each ends in its typed error, within its time bound (docs/architecture.md §12).

The bounds are the point of these tests (a hang is the failure they guard against), so
each call runs under `anyio.fail_after(bound)`: past it the test fails instead of waiting.
"""

from __future__ import annotations

import asyncio
import socket
import time
import traceback
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import anyio
import httpx
import pytest

from refold_async import (
    APIConnectionError,
    APIRedirectError,
    APIResponseTooLargeError,
    APIStatusError,
    APITimeoutError,
    AsyncRefold,
    RefoldError,
    RetryPolicy,
)
from refold_async._exchange import DEFAULT_MAX_RESPONSE_BYTES, accepted_encodings
from tests.core import ops
from tests.faults import server as faults
from tests.faults.server import Connection, FaultServer, GiB
from tests.helpers import API_KEY

MiB = 1024 * 1024
TIMEOUT = 1.0


@pytest.fixture
async def clients() -> AsyncIterator[list[AsyncRefold]]:
    made: list[AsyncRefold] = []
    yield made
    for client in made:
        await client.aclose()


@pytest.fixture
def client_for(clients: list[AsyncRefold]) -> Any:
    """Makes a client for a fault server: one attempt, `TIMEOUT`, no rate limit."""

    def make(server: FaultServer, **options: Any) -> AsyncRefold:
        options.setdefault("retry", RetryPolicy(max_attempts=1))
        options.setdefault("timeout", TIMEOUT)
        client = AsyncRefold(api_key=API_KEY, base_url=server.url, rate_limit=None, **options)
        clients.append(client)
        return client

    return make


async def fails_within(bound: float, call: Awaitable[object]) -> tuple[RefoldError, float]:
    """The `RefoldError` that `call` raises, and how long it took; a failure past `bound`."""
    started = time.monotonic()
    try:
        with anyio.fail_after(bound):
            await call
    except RefoldError as error:
        return error, time.monotonic() - started
    except TimeoutError:
        pytest.fail(f"the call was still running after {bound} s")
    pytest.fail("the call did not raise")


# Time


async def test_trickle_with_a_huge_length_is_refused_at_once(
    server: FaultServer, client_for: Any
) -> None:
    """`Content-Length: 2147483648` past the size limit fails at once, unread."""
    server.answer = faults.trickle(2 * GiB, every=0.1)
    error, _ = await fails_within(TIMEOUT, client_for(server)._transport.send(ops.ORG))
    assert isinstance(error, APIResponseTooLargeError)
    assert error.limit == DEFAULT_MAX_RESPONSE_BYTES
    assert "2147483648" in str(error)


@pytest.mark.parametrize(
    ("client_timeout", "call_timeout"),
    [
        pytest.param(TIMEOUT, None, id="client-timeout"),
        pytest.param(30.0, TIMEOUT, id="call-timeout"),
    ],
)
async def test_trickling_body_fails_within_the_timeout(
    server: FaultServer, client_for: Any, client_timeout: float, call_timeout: float | None
) -> None:
    """A byte every 0.1 s (each read quick) fails as APITimeoutError within timeout + 1 s."""
    server.answer = faults.trickle(2 * GiB, every=0.1)
    client = client_for(server, timeout=client_timeout, max_response_bytes=4 * GiB)
    options = {} if call_timeout is None else {"timeout": call_timeout}
    error, _ = await fails_within(TIMEOUT + 1, client._transport.send(ops.ORG, options=options))
    assert isinstance(error, APITimeoutError)
    assert error.sent is True
    assert error.host == "127.0.0.1"
    assert "127.0.0.1" in str(error)
    assert "timeout" in error.reason
    with anyio.fail_after(2):  # the timed-out attempt closed its connection
        await server.hung_up.wait()


async def test_slow_503_fails_each_attempt_within_the_timeout(
    server: FaultServer, client_for: Any
) -> None:
    """A 503 whose body trickles ends every attempt at its timeout; retries are counted."""

    async def answer(conn: Connection) -> None:
        await conn.head(503, ("Content-Length", "1000"))
        for _ in range(1000):
            await conn.send(b" ")
            await asyncio.sleep(0.1)

    server.answer = answer
    client = client_for(server, retry=RetryPolicy(max_attempts=2, backoff_base=0.01))
    error, _ = await fails_within(2 * TIMEOUT + 1, client._transport.send(ops.ORG))
    assert isinstance(error, APITimeoutError)
    assert error.attempts == 2
    assert server.connections == 2


async def test_silent_server_times_out_in_time(server: FaultServer, client_for: Any) -> None:
    """A server that reads the request and never answers: APITimeoutError, request sent."""
    server.answer = faults.hold(30)
    error, _ = await fails_within(TIMEOUT + 1, client_for(server)._transport.send(ops.ORG))
    assert isinstance(error, APITimeoutError)
    assert error.sent is True


# Size


async def test_gzip_bomb_stops_at_the_limit(server: FaultServer, client_for: Any) -> None:
    """A gzip body inflating to 1 GiB stops once the decoded bytes pass the limit."""
    server.answer = faults.gzip_bomb(GiB)
    client = client_for(server, timeout=10.0, max_response_bytes=4 * MiB)
    error, _ = await fails_within(10, client._transport.send(ops.ORG))
    assert isinstance(error, APIResponseTooLargeError)
    assert (error.limit, error.status, error.attempts) == (4 * MiB, 200, 1)


async def test_undeclared_plain_body_stops_at_the_limit(
    server: FaultServer, client_for: Any
) -> None:
    """A 1 GiB body without Content-Length is dropped once it passes the limit."""
    server.answer = faults.plain_body(GiB, declare=False)
    client = client_for(server, timeout=10.0)
    error, _ = await fails_within(
        10, client._transport.send(ops.ORG, options={"max_response_bytes": 2 * MiB})
    )
    assert isinstance(error, APIResponseTooLargeError)
    assert error.limit == 2 * MiB


async def test_declared_plain_body_past_the_limit_is_refused_unread(
    server: FaultServer, client_for: Any
) -> None:
    """A 1 GiB Content-Length fails before the body is read, and is not retried."""
    server.answer = faults.plain_body(GiB, declare=True)
    client = client_for(server, retry=RetryPolicy(max_attempts=3))
    error, _ = await fails_within(TIMEOUT, client._transport.send(ops.ORG))
    assert isinstance(error, APIResponseTooLargeError)
    assert server.connections == 1


async def test_a_body_within_the_limit_is_read_whole(server: FaultServer, client_for: Any) -> None:
    """The limit is on the decoded size: a body of exactly the limit is accepted."""
    body = b'{"pad": "' + b"x" * 1000 + b'"}'

    async def answer(conn: Connection) -> None:
        await conn.head(200, ("Content-Type", "application/json"))
        await conn.send(body)

    server.answer = answer
    client = client_for(server, max_response_bytes=len(body))
    assert await client._transport.send(ops.ORG) == {"pad": "x" * 1000}


# Dropped connections


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        pytest.param(faults.close_after_headers, "RemoteProtocolError", id="close-after-headers"),
        pytest.param(faults.close_without_answer, "RemoteProtocolError", id="close-no-answer"),
        pytest.param(faults.reset_mid_body, "ReadError", id="reset-mid-body"),
    ],
)
async def test_dropped_connection_says_host_reason_and_sent(
    server: FaultServer, client_for: Any, answer: Any, reason: str
) -> None:
    """A connection lost after the request left: host, reason and `sent=True` in the error."""
    server.answer = answer
    error, _ = await fails_within(TIMEOUT + 1, client_for(server)._transport.send(ops.ORG_POST))
    assert type(error) is APIConnectionError
    assert (error.host, error.sent) == ("127.0.0.1", True)
    assert error.reason.startswith(reason)
    assert "127.0.0.1" in str(error)
    assert reason in str(error)
    assert "was sent" in str(error)


async def test_refused_connection_says_not_sent(client_for: Any) -> None:
    """Nothing listening: `sent=False`, which makes the retry of a POST safe."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = AsyncRefold(
        api_key=API_KEY,
        base_url=f"http://127.0.0.1:{port}",
        rate_limit=None,
        retry=RetryPolicy(max_attempts=1),
    )
    try:
        error, _ = await fails_within(TIMEOUT + 1, client._transport.send(ops.ORG_POST))
    finally:
        await client.aclose()
    assert type(error) is APIConnectionError
    assert (error.host, error.sent) == ("127.0.0.1", False)
    assert error.reason.startswith("ConnectError")
    assert "was not sent" in str(error)


# Redirects


def _following() -> httpx.AsyncClient:
    return httpx.AsyncClient(follow_redirects=True, max_redirects=3)


@pytest.mark.parametrize("status", [302, 307])
async def test_redirect_to_another_origin_is_refused(
    server: FaultServer, other_server: FaultServer, client_for: Any, status: int
) -> None:
    """Even when the user's client follows redirects, the key never reaches another origin."""
    other_server.answer = faults.echo_headers
    server.answer = faults.redirect(status, other_server.url + "/steal?token=abc")
    async with _following() as http:
        client = client_for(server, http_client=http)
        error, _ = await fails_within(TIMEOUT, client._transport.send(ops.ORG))
    assert isinstance(error, APIRedirectError)
    assert error.status == status
    assert error.location == other_server.url
    assert "token" not in str(error)
    assert other_server.received == []


async def test_redirect_to_plain_http_off_loopback_is_refused_before_connecting(
    server: FaultServer, client_for: Any
) -> None:
    """A redirect to `http://` on a public name is refused; no connection is tried."""
    server.answer = faults.redirect(302, "http://example.com/api")
    async with _following() as http:
        client = client_for(server, http_client=http)
        error, _ = await fails_within(TIMEOUT, client._transport.send(ops.ORG))
    assert isinstance(error, APIRedirectError)
    assert "plain http" in str(error)
    assert error.location == "http://example.com:80"


async def test_same_origin_redirect_is_followed_with_the_credential(
    server: FaultServer, client_for: Any
) -> None:
    """A 307 within the origin is resent whole: method, body and credential."""

    async def answer(conn: Connection) -> None:
        if conn.request.target == "/moved":
            await faults.echo_headers(conn)
        else:
            await faults.redirect(307, "/moved")(conn)

    server.answer = answer
    async with _following() as http:
        client = client_for(server, http_client=http)
        echoed = await client._transport.send(ops.ORG_POST, body={"a": 1})
    assert echoed["x-api-key"] == API_KEY
    moved = server.received[1]
    assert (moved.method, moved.body) == ("POST", b'{"a":1}')


async def test_redirect_loop_is_bounded(server: FaultServer, client_for: Any) -> None:
    """Same-origin redirects stop after the client's `max_redirects` hops."""
    server.answer = faults.redirect(302, "/again")
    async with _following() as http:
        client = client_for(server, http_client=http)
        error, _ = await fails_within(TIMEOUT + 1, client._transport.send(ops.ORG))
    assert isinstance(error, APIRedirectError)
    assert "more than 3 redirects" in str(error)
    assert server.connections == 4


async def test_redirect_is_not_followed_unless_the_client_asks(
    server: FaultServer, other_server: FaultServer, client_for: Any
) -> None:
    """With the SDK's own pool (no `follow_redirects`), a 302 is an APIStatusError."""
    other_server.answer = faults.echo_headers
    server.answer = faults.redirect(302, other_server.url)
    error, _ = await fails_within(TIMEOUT, client_for(server)._transport.send(ops.ORG))
    assert isinstance(error, APIStatusError)
    assert error.status == 302
    assert other_server.received == []


async def test_request_headers_reach_the_server(server: FaultServer, client_for: Any) -> None:
    """The echo check itself: the key arrives, and only encodings decoded in bounded steps are asked for."""
    server.answer = faults.echo_headers
    echoed = await client_for(server)._transport.send(ops.ORG)
    assert echoed["x-api-key"] == API_KEY
    assert echoed["accept-encoding"] == accepted_encodings()  # what this installation decodes


# Secrets in frames (docs/architecture.md §12): rendered as Sentry or rich would, with every local.


def _rendered(error: BaseException) -> str:
    return "".join(traceback.TracebackException.from_exception(error, capture_locals=True).format())


async def test_no_frame_holds_the_key_after_a_timeout(server: FaultServer, client_for: Any) -> None:
    """A timeout's traceback, with locals, shows no key."""
    server.answer = faults.hold(30)
    error, _ = await fails_within(TIMEOUT + 1, client_for(server)._transport.send(ops.ORG))
    assert isinstance(error, APITimeoutError)
    text = _rendered(error)
    assert "_transport.py" in text
    assert API_KEY not in text


async def test_no_frame_holds_the_key_after_a_cancellation(
    server: FaultServer, client_for: Any
) -> None:
    """A call cancelled while it waits for the answer leaves no key in any frame's locals."""
    server.answer = faults.hold(30)
    client = client_for(server, timeout=30.0)
    task = asyncio.ensure_future(client._transport.send(ops.ORG))
    with anyio.fail_after(5):
        await server.request_seen.wait()
    task.cancel()
    with anyio.fail_after(5), pytest.raises(asyncio.CancelledError) as info:
        await task
    text = _rendered(info.value)
    assert "_send_once" in text
    assert API_KEY not in text
