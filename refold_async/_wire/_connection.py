"""One HTTP/1.1 connection: h11 over an anyio byte stream.

A connection sends one request at a time and hands back the response's headers and a
stream of its raw body bytes (decoding is the caller's). It may be used again only if
the exchange ended cleanly on both sides with not one byte left over: a response
followed by bytes past its `Content-Length` (a smuggled second answer, or junk) closes
the connection, so those bytes can never be read as the answer to the next request.
Errors are httpx's public exception types, so callers classify them as they would
httpx's own transport's.
"""

from __future__ import annotations

import contextlib
import math
import select
import ssl
import time
from collections.abc import AsyncIterator, Generator, Mapping
from typing import Any

import anyio
import anyio.abc
import h11
import httpx
from anyio.streams.tls import TLSStream

from ._tls import ssl_context
from ._trace import Trace

__all__ = ["Connection", "Timeouts", "connect"]

_READ_SIZE = 64 * 1024


class Timeouts:
    """The per-phase timeouts of one request (`request.extensions["timeout"]`)."""

    __slots__ = ("connect", "pool", "read", "write")

    def __init__(self, request: httpx.Request) -> None:
        given: Mapping[str, float | None] = request.extensions.get("timeout") or {}
        self.connect = _seconds(given.get("connect"))
        self.read = _seconds(given.get("read"))
        self.write = _seconds(given.get("write"))
        self.pool = _seconds(given.get("pool"))


def _seconds(value: float | None) -> float:
    return math.inf if value is None else value


@contextlib.contextmanager
def _mapped(
    request: httpx.Request,
    timeout: type[httpx.TimeoutException],
    failure: type[httpx.TransportError],
) -> Generator[None, None, None]:
    """Turn what anyio, the socket and h11 raise into httpx's public errors."""
    try:
        yield
    except TimeoutError as exc:
        raise timeout(str(exc) or "timed out", request=request) from exc
    except h11.RemoteProtocolError as exc:
        raise httpx.RemoteProtocolError(str(exc), request=request) from exc
    except h11.LocalProtocolError as exc:
        raise httpx.LocalProtocolError(str(exc), request=request) from exc
    except (OSError, ssl.SSLError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
        raise failure(str(exc) or type(exc).__name__, request=request) from exc


async def connect(
    request: httpx.Request, timeouts: Timeouts, trace: Trace, origin: tuple[str, str, int]
) -> Connection:
    """A new connection to `origin` (`(scheme, host, port)`), TLS for https."""
    scheme, host, port = origin
    with _mapped(request, httpx.ConnectTimeout, httpx.ConnectError):
        async with trace.step("connection.connect_tcp", host=host, port=port) as step:
            with anyio.fail_after(timeouts.connect):
                stream: anyio.abc.ByteStream = await anyio.connect_tcp(host, port)
            step["return_value"] = stream
        if scheme == "https":
            try:
                async with trace.step("connection.start_tls", server_hostname=host) as step:
                    with anyio.fail_after(timeouts.connect):
                        stream = await TLSStream.wrap(
                            stream,
                            hostname=host,
                            ssl_context=ssl_context(),
                            standard_compatible=False,
                        )
                    step["return_value"] = stream
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await stream.aclose()
                raise
    return Connection(stream, origin)


class Connection:
    """An open HTTP/1.1 connection, idle or serving one request."""

    __slots__ = ("h11", "idle_since", "origin", "stream")

    def __init__(self, stream: anyio.abc.ByteStream, origin: tuple[str, str, int]) -> None:
        self.stream = stream
        self.origin = origin
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = time.monotonic()

    def readable_while_idle(self) -> bool:
        """Whether the server sent anything (data or its close) while no request was out.

        An idle HTTP/1.1 connection has nothing to read: whatever is there is a close, or
        bytes that would be taken as the answer to the next request. Either way the
        connection is not used again.
        """
        # The stream reads only when asked (anyio pauses reading between receives), so
        # what the server sent meanwhile waits in the socket.
        sock = self.stream.extra(anyio.abc.SocketAttribute.raw_socket, None)  # noqa: S610
        if sock is None:
            return False
        try:
            if hasattr(select, "poll"):  # any descriptor number (select() stops at 1024)
                poller = select.poll()
                poller.register(sock, select.POLLIN)
                return bool(poller.poll(0))
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True  # closed under us
        return bool(readable)

    async def send(self, request: httpx.Request, timeouts: Timeouts, trace: Trace) -> None:
        """Write the request line, its headers and its body."""
        with _mapped(request, httpx.WriteTimeout, httpx.WriteError):
            async with trace.step("http11.send_request_headers"):
                event = h11.Request(
                    method=request.method,
                    target=request.url.raw_path,
                    headers=request.headers.raw,
                )
                await self._write(self.h11.send(event), timeouts.write)
            async with trace.step("http11.send_request_body"):
                stream: Any = request.stream
                async for chunk in stream:
                    await self._write(self.h11.send(h11.Data(data=chunk)), timeouts.write)
                await self._write(self.h11.send(h11.EndOfMessage()), timeouts.write)

    async def receive_head(
        self, request: httpx.Request, timeouts: Timeouts, trace: Trace
    ) -> h11.Response:
        """Read up to the end of the (final) response's headers."""
        with _mapped(request, httpx.ReadTimeout, httpx.ReadError):
            async with trace.step("http11.receive_response_headers") as step:
                while True:
                    event = await self._next(timeouts.read)
                    if isinstance(event, h11.Response):
                        break
                    if isinstance(event, h11.InformationalResponse):
                        continue  # a 100 Continue, say: the real answer follows
                    raise h11.RemoteProtocolError(f"unexpected {type(event).__name__}")
                step["return_value"] = (event.status_code, event.reason, event.headers)
        return event

    async def body(self, request: httpx.Request, timeouts: Timeouts) -> AsyncIterator[bytes]:
        """The raw body bytes, as they arrive, to the end of the message."""
        with _mapped(request, httpx.ReadTimeout, httpx.ReadError):
            while True:
                event = await self._next(timeouts.read)
                if isinstance(event, h11.Data):
                    yield bytes(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    return
                else:
                    raise h11.RemoteProtocolError(f"unexpected {type(event).__name__} in a body")

    def reusable(self) -> bool:
        """After a whole exchange: ready for the next request, with nothing left over.

        Bytes past the response (h11's `trailing_data`) mean the server answered more
        than was asked: the connection is closed, not reused.
        """
        conn = self.h11
        if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
            return False
        left, closed = conn.trailing_data
        if left or closed:
            return False
        conn.start_next_cycle()
        self.idle_since = time.monotonic()
        return True

    async def aclose(self) -> None:
        with contextlib.suppress(Exception), anyio.CancelScope(shield=True):
            await self.stream.aclose()

    async def _next(self, seconds: float) -> Any:
        conn = self.h11
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                if event is h11.PAUSED:
                    raise h11.RemoteProtocolError("the server sent more than one answer")
                if isinstance(event, h11.ConnectionClosed):
                    raise h11.RemoteProtocolError(
                        "Server disconnected without sending a complete response."
                    )
                return event
            try:
                if seconds == math.inf:
                    data = await self.stream.receive(_READ_SIZE)
                else:
                    with anyio.fail_after(seconds):
                        data = await self.stream.receive(_READ_SIZE)
            except anyio.EndOfStream:
                data = b""
            if not data and conn.their_state is h11.SEND_RESPONSE:
                raise h11.RemoteProtocolError("Server disconnected without sending a response.")
            conn.receive_data(data)

    async def _write(self, data: bytes | None, seconds: float) -> None:
        if not data:
            return
        if seconds == math.inf:
            await self.stream.send(data)
            return
        with anyio.fail_after(seconds):
            await self.stream.send(data)
