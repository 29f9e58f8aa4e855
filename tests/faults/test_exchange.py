"""`_exchange` against a real socket: trace listeners, redirects' methods, odd encodings."""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from typing import Any

import anyio
import httpx
import pytest

from refold_async import (
    APIConnectionError,
    APIDecodeError,
    AsyncRefold,
    RetryPolicy,
)
from refold_async._exchange import exchange
from tests.core import ops
from tests.faults import server as faults
from tests.faults.server import Connection, FaultServer
from tests.helpers import API_KEY


def _client(server: FaultServer, **options: Any) -> AsyncRefold:
    options.setdefault("retry", RetryPolicy(max_attempts=1))
    return AsyncRefold(api_key=API_KEY, base_url=server.url, rate_limit=None, timeout=1, **options)


async def test_listeners_see_every_event_in_order_and_their_wait_is_not_counted(
    server: FaultServer,
) -> None:
    """Two listeners get each trace event; a listener pausing past the timeout costs nothing."""
    server.answer = faults.json_ok
    seen: list[tuple[str, str]] = []

    async def first(name: str, info: Mapping[str, Any]) -> None:
        seen.append(("first", name))
        if name == "http11.send_request_headers.started":
            await anyio.sleep(1.5)  # a pacing hook's wait, longer than the 1 s timeout

    async def second(name: str, info: Mapping[str, Any]) -> None:
        seen.append(("second", name))

    async with httpx.AsyncClient() as http:
        request = http.build_request("GET", server.url + "/x")
        response = await exchange(
            http, request, within=1.0, max_bytes=1000, path="/x", listeners=[first, second]
        )
    assert isinstance(response, httpx.Response)
    assert response.json() == {"ok": True}
    names = [name for who, name in seen if who == "first"]
    assert names == [name for who, name in seen if who == "second"]
    assert names.index("http11.send_request_headers.started") < names.index(
        "http11.send_request_headers.complete"
    )
    assert seen[0:2] == [("first", names[0]), ("second", names[0])]


async def test_a_303_after_a_post_is_followed_as_a_get_without_body(server: FaultServer) -> None:
    """Same-origin 303: the method becomes GET and the body and its headers are dropped."""

    async def answer(conn: Connection) -> None:
        if conn.request.target == "/done":
            await faults.echo_headers(conn)
        else:
            await faults.redirect(303, "/done")(conn)

    server.answer = answer
    async with httpx.AsyncClient(follow_redirects=True) as http:
        client = _client(server, http_client=http)
        echoed = await client._transport.send(ops.ORG_POST, body={"a": 1})
    done = server.received[1]
    assert (done.method, done.body) == ("GET", b"")
    assert "content-length" not in echoed
    assert "content-type" not in echoed
    assert echoed["x-api-key"] == API_KEY


async def test_gzip_response_is_decoded(server: FaultServer) -> None:
    """An ordinary gzip body arrives decoded; the stored response has no encoding left."""
    packed = gzip.compress(b'{"ok": "zipped"}')

    async def answer(conn: Connection) -> None:
        await conn.head(200, ("Content-Encoding", "gzip"), ("Content-Length", str(len(packed))))
        await conn.send(packed)

    server.answer = answer
    async with _client(server) as client:
        assert await client._transport.send(ops.ORG) == {"ok": "zipped"}


async def test_corrupt_gzip_is_a_connection_error(server: FaultServer) -> None:
    """A body that is not the gzip it claims fails as a DecodingError, typed."""

    async def answer(conn: Connection) -> None:
        await conn.head(200, ("Content-Encoding", "gzip"), ("Content-Length", "12"))
        await conn.send(b"not gzip at!")

    server.answer = answer
    async with _client(server) as client:
        with pytest.raises(APIConnectionError) as info:
            await client._transport.send(ops.ORG)
    assert info.value.reason.startswith("DecodingError")


async def test_an_encoding_not_decoded_here_is_refused_typed(server: FaultServer) -> None:
    """An encoding the SDK does not decode is refused (APIDecodeError), never handed on."""

    async def answer(conn: Connection) -> None:
        await conn.head(200, ("Content-Encoding", "compress"))
        for _ in range(4):
            await conn.send(b" " * faults.CHUNK)

    server.answer = answer
    async with _client(server, max_response_bytes=faults.CHUNK) as client:
        with pytest.raises(APIDecodeError) as info:
            await client._transport.send(ops.ORG)
    assert "compress" in str(info.value)
    assert info.value.status == 200


async def test_a_head_answer_in_an_unknown_encoding_is_not_refused(server: FaultServer) -> None:
    """A HEAD's Content-Encoding describes a body that never comes: nothing to decode."""

    async def answer(conn: Connection) -> None:
        await conn.head(200, ("Content-Encoding", "compress"), ("Content-Length", "100"))

    server.answer = answer
    async with httpx.AsyncClient() as http:
        request = http.build_request("HEAD", server.url + "/x")
        response = await exchange(http, request, within=1.0, max_bytes=1000, path="/x")
    assert isinstance(response, httpx.Response)
    assert response.status_code == 200


async def test_a_head_answer_may_declare_a_large_body(server: FaultServer) -> None:
    """A HEAD's Content-Length names a body that never comes: it is not refused."""

    async def answer(conn: Connection) -> None:
        await conn.head(200, ("Content-Length", str(faults.GiB)))

    server.answer = answer
    async with httpx.AsyncClient() as http:
        request = http.build_request("HEAD", server.url + "/x")
        response = await exchange(http, request, within=1.0, max_bytes=1000, path="/x")
    assert isinstance(response, httpx.Response)
    assert response.status_code == 200
