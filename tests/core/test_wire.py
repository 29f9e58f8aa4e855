"""The SDK's own transport (`_wire.WireTransport`) on real sockets, under asyncio and trio.

A raw-socket server in a thread of the test process plays the server: it records the
bytes of every request and every connection, and answers as each test tells it to.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from refold_async import AsyncRefold, RetryPolicy
from refold_async._client import PerLoopPool
from refold_async._wire import WireTransport
from refold_async._wire._tls import ssl_context
from tests.helpers import API_KEY

Handler = Callable[[socket.socket, bytes, int], bool]
"""Answers one request (its head) on a connection, the connection's number given; returns
whether to keep the connection for another request."""


def _ok(body: bytes = b'{"ok": 1}') -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )


def answer_ok(conn: socket.socket, head: bytes, number: int) -> bool:
    conn.sendall(_ok(b'{"connection": %d}' % number))
    return True


class RawServer:
    """A keep-alive HTTP/1.1 server on loopback, one thread per connection."""

    def __init__(self, handler: Handler = answer_ok) -> None:
        self.handler = handler
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.heads: list[bytes] = []
        self.connections = 0
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.open: list[socket.socket] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def __enter__(self) -> RawServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self.threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for sock in [self.listener, *self.open]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked on it
        self.listener.close()
        for thread in self.threads:
            thread.join(timeout=10)

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            self.open.append(conn)
            thread = threading.Thread(
                target=self._serve, args=(conn, self.connections), daemon=True
            )
            thread.start()
            self.threads.append(thread)

    def _serve(self, conn: socket.socket, number: int) -> None:
        conn.settimeout(10)
        with conn, contextlib.suppress(OSError):
            data = b""
            while not self.stop.is_set():
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, data = data.partition(b"\r\n\r\n")
                self.heads.append(head)
                if not self.handler(conn, head, number):
                    return


@pytest.fixture
def server() -> Iterator[RawServer]:
    with RawServer() as running:
        yield running


def _client(url: str, **options: Any) -> AsyncRefold:
    options.setdefault("retry", RetryPolicy(max_attempts=1))
    return AsyncRefold(api_key=API_KEY, base_url=url, rate_limit=None, **options)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_calls_on_either_backend_reuse_one_connection(server: RawServer, backend: str) -> None:
    """Under asyncio and trio alike: answers come back, the connection is kept and reused,
    and the loop's pool is closed when the run ends."""
    pytest.importorskip(backend)
    client = _client(server.url)
    pool = client._transport.http
    assert isinstance(pool, PerLoopPool)

    async def main() -> list[Any]:
        return [await client.request("GET", "/api/v2/public/x") for _ in range(3)]

    answers = anyio.run(main, backend=backend)
    assert answers == [{"connection": 1}] * 3
    assert server.connections == 1
    assert len(pool.wire.loops) == 0  # closed with the run


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_aclose_under_either_backend_refuses_later_calls(server: RawServer, backend: str) -> None:
    pytest.importorskip(backend)

    async def main() -> None:
        client = _client(server.url)
        await client.request("GET", "/api/v2/public/x")
        await client.aclose()
        with pytest.raises(Exception, match="closed"):
            await client.request("GET", "/api/v2/public/x")

    anyio.run(main, backend=backend)


async def test_the_query_on_the_wire_is_the_same_whatever_the_client(server: RawServer) -> None:
    """A space in a query is `%20` on the wire: through the SDK's own transport, a plain
    `http_client=`, and one holding a cookie (which httpx's `build_request()` serves)."""
    plain = httpx.AsyncClient()
    cookied = httpx.AsyncClient(cookies={"tenant": "acme"})
    for http in (None, plain, cookied):
        async with _client(server.url, http_client=http) as client:
            await client.request("GET", "/api/v2/public/x", query={"q": "a b/c+d", "n": ["1", "2"]})
    await plain.aclose()
    await cookied.aclose()
    lines = {head.split(b"\r\n", 1)[0] for head in server.heads}
    assert lines == {b"GET /api/v2/public/x?q=a%20b%2Fc%2Bd&n=1&n=2 HTTP/1.1"}
    assert len(server.heads) == 3


async def test_trace_events_are_httpcores_names(server: RawServer) -> None:
    """The transport emits httpcore's event names, in order, to `extensions["trace"]`."""
    names: list[str] = []

    async def trace(name: str, info: dict[str, Any]) -> None:
        names.append(name)

    transport = WireTransport(httpx.Limits())
    for _ in range(2):
        request = httpx.Request("GET", server.url + "/x", extensions={"trace": trace})
        response = await transport.handle_async_request(request)
        await response.aread()
        await response.aclose()
    await transport.aclose()
    steps = [
        "http11.send_request_headers",
        "http11.send_request_body",
        "http11.receive_response_headers",
        "http11.receive_response_body",
        "http11.response_closed",
    ]
    events = [f"{step}.{end}" for step in steps for end in ("started", "complete")]
    assert names == ["connection.connect_tcp.started", "connection.connect_tcp.complete"] + (
        events * 2
    )


async def test_the_body_streams_raw_bytes() -> None:
    """A gzip body comes back as it was sent: decoding is the caller's."""
    import gzip

    body = gzip.compress(b'{"a": 1}')

    def gzipped(conn: socket.socket, head: bytes, number: int) -> bool:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
            % (len(body), body)
        )
        return True

    with RawServer(gzipped) as server:
        transport = WireTransport(httpx.Limits())
        response = await transport.handle_async_request(httpx.Request("GET", server.url))
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
        await transport.aclose()
    assert raw == body


def _silent(conn: socket.socket, head: bytes, number: int) -> bool:
    with contextlib.suppress(OSError):
        conn.recv(1)  # never answers: waits for the client to hang up
    return False


def _timeouts(**given: float | None) -> dict[str, float | None]:
    return {"connect": None, "read": None, "write": None, "pool": None, **given}


async def test_a_read_timeout_is_httpx_read_timeout() -> None:
    with RawServer(_silent) as server:
        transport = WireTransport(httpx.Limits())
        request = httpx.Request("GET", server.url, extensions={"timeout": _timeouts(read=0.05)})
        with pytest.raises(httpx.ReadTimeout) as info:
            await transport.handle_async_request(request)
        await transport.aclose()
    assert info.value.request is request


async def test_a_full_pool_is_httpx_pool_timeout(server: RawServer) -> None:
    """`max_connections` open, none free within the pool timeout: `PoolTimeout`."""
    transport = WireTransport(httpx.Limits(max_connections=1))
    held = await transport.handle_async_request(httpx.Request("GET", server.url))
    request = httpx.Request("GET", server.url, extensions={"timeout": _timeouts(pool=0.05)})
    with pytest.raises(httpx.PoolTimeout):
        await transport.handle_async_request(request)
    await held.aread()
    await held.aclose()  # now free: the next request gets the kept connection
    again = await transport.handle_async_request(httpx.Request("GET", server.url))
    await again.aread()
    await again.aclose()
    await transport.aclose()
    assert server.connections == 1


async def test_an_idle_connection_to_another_origin_makes_room(server: RawServer) -> None:
    """At `max_connections`, an idle connection is closed for a request to another origin."""
    with RawServer() as other:
        transport = WireTransport(httpx.Limits(max_connections=1))
        for url in (server.url, other.url, server.url):
            request = httpx.Request("GET", url, extensions={"timeout": _timeouts(pool=1)})
            response = await transport.handle_async_request(request)
            await response.aread()
            await response.aclose()
        await transport.aclose()
    assert (server.connections, other.connections) == (2, 1)


async def test_keepalive_expiry_drops_idle_connections(server: RawServer) -> None:
    transport = WireTransport(httpx.Limits(keepalive_expiry=0))
    for _ in range(2):
        response = await transport.handle_async_request(httpx.Request("GET", server.url))
        await response.aread()
        await response.aclose()
    await transport.aclose()
    assert server.connections == 2


async def test_an_unread_body_closes_its_connection(server: RawServer) -> None:
    """A response closed before its end is not reused (its rest would be the next answer)."""
    transport = WireTransport(httpx.Limits())
    for _ in range(2):
        response = await transport.handle_async_request(httpx.Request("GET", server.url))
        await response.aclose()
    await transport.aclose()
    assert server.connections == 2


async def test_connection_refused_is_httpx_connect_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    transport = WireTransport(httpx.Limits())
    with pytest.raises(httpx.ConnectError):
        await transport.handle_async_request(httpx.Request("GET", f"http://127.0.0.1:{port}/"))
    await transport.aclose()


async def test_garbage_is_httpx_remote_protocol_error() -> None:
    def garbage(conn: socket.socket, head: bytes, number: int) -> bool:
        conn.sendall(b"SPEAKING SOMETHING ELSE\r\n\r\n")
        return False

    with RawServer(garbage) as server:
        transport = WireTransport(httpx.Limits())
        with pytest.raises(httpx.RemoteProtocolError):
            await transport.handle_async_request(httpx.Request("GET", server.url))
        await transport.aclose()


async def test_a_close_before_the_answer_is_remote_protocol_error() -> None:
    """The server hangs up instead of answering: httpx's words, so retries classify it."""

    def hang_up(conn: socket.socket, head: bytes, number: int) -> bool:
        return False

    with RawServer(hang_up) as server:
        transport = WireTransport(httpx.Limits())
        with pytest.raises(httpx.RemoteProtocolError, match="Server disconnected"):
            await transport.handle_async_request(httpx.Request("GET", server.url))
        await transport.aclose()


def test_tls_trusts_certifi_or_the_environments_bundle(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """certifi's bundle by default; `SSL_CERT_DIR` (an empty one here) when it names one."""
    certifi = pytest.importorskip("certifi")
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    ssl_context.cache_clear()
    try:
        default = ssl_context()
        assert default.verify_mode == ssl.CERT_REQUIRED
        assert default.check_hostname
        assert len(default.get_ca_certs()) > 50
        monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
        ssl_context.cache_clear()
        assert len(ssl_context().get_ca_certs()) == len(default.get_ca_certs())
        monkeypatch.delenv("SSL_CERT_FILE")
        monkeypatch.setenv("SSL_CERT_DIR", os.fspath(tmp_path))
        ssl_context.cache_clear()
        assert ssl_context().get_ca_certs() == []  # nothing from certifi
    finally:
        ssl_context.cache_clear()


async def test_request_sent_reads_the_transports_trace() -> None:
    """`request_sent()` tells, from this transport's trace, whether the headers left:
    yes when the server hung up after reading them, no when nothing connected."""
    from refold_async._exchange import exchange, request_sent

    def hang_up(conn: socket.socket, head: bytes, number: int) -> bool:
        return False

    pool = PerLoopPool(timeout=5, limits=httpx.Limits())
    with RawServer(hang_up) as server:
        outcome = await exchange(
            pool, httpx.Request("GET", server.url), within=5, max_bytes=1000, path="/"
        )
    assert isinstance(outcome, httpx.RemoteProtocolError)
    assert request_sent(outcome) is True
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    refused = await exchange(
        pool, httpx.Request("GET", f"http://127.0.0.1:{port}/"), within=5, max_bytes=1000, path="/"
    )
    assert isinstance(refused, httpx.ConnectError)
    assert request_sent(refused) is False
    await pool.aclose()


@pytest.mark.parametrize(
    ("no_proxy", "host", "bypassed"),
    [
        ("", "api.refold.ai", False),
        ("*", "api.refold.ai", True),
        ("refold.ai", "api.refold.ai", True),
        (".refold.ai", "api.refold.ai", True),
        ("refold.ai", "notrefold.ai", False),
        ("other.example, api.refold.ai", "api.refold.ai", True),
        ("https://api.refold.ai", "api.refold.ai", True),
    ],
)
def test_no_proxy_exempts_hosts_and_domains(no_proxy: str, host: str, bypassed: bool) -> None:
    from refold_async._wire._transport import _no_proxy

    assert _no_proxy(host, {"https": "http://proxy:3128", "no": no_proxy}) is bypassed


async def test_instrumentation_wrapping_send_sees_the_own_pools_requests(
    server: RawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `httpx.AsyncClient.send` wrapped (Sentry, ddtrace), the pool the client makes
    for itself goes through `send()` too, so the wrapper sees every request."""
    seen: list[str] = []
    original = httpx.AsyncClient.send

    async def send(self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> Any:
        seen.append(request.url.path)
        return await original(self, request, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "send", send)
    async with _client(server.url) as client:
        assert await client.request("GET", "/api/v2/public/seen") == {"connection": 1}
    assert seen == ["/api/v2/public/seen"]
