"""A raw HTTP/1.1 server on 127.0.0.1 that misbehaves on purpose (docs/architecture.md §12).

No HTTP library on the server side: each test gives `FaultServer.answer` a coroutine that
writes bytes to the socket (or resets it), so the client meets faults an HTTP server
would never produce. Bodies are generated as they are written, never held whole: a
gigabyte costs the server a chunk of memory. Runnable as a script too (the RSS probe in
`test_memory.py` starts the client in another process).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import zlib
from collections.abc import Awaitable, Callable

import attrs

CHUNK = 64 * 1024
GiB = 1024**3


@attrs.define
class Received:
    """One request as the server read it; header names lower-cased."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes


class Connection:
    """The server's side of one connection, for an answer coroutine to write on."""

    def __init__(self, writer: asyncio.StreamWriter, request: Received) -> None:
        self.writer = writer
        self.request = request

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def head(self, status: int, *headers: tuple[str, str]) -> None:
        lines = [f"HTTP/1.1 {status} Whatever", *(f"{k}: {v}" for k, v in headers)]
        await self.send(("\r\n".join([*lines, "Connection: close", "", ""])).encode())

    def reset(self) -> None:
        """Close with a TCP RST instead of a FIN (SO_LINGER with a zero timeout)."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


Answer = Callable[[Connection], Awaitable[None]]


class FaultServer:
    """Serves one answer per connection; records what every request carried."""

    def __init__(self) -> None:
        self.answer: Answer = json_ok
        self.received: list[Received] = []
        self.connections = 0
        self.request_seen = asyncio.Event()
        self.hung_up = asyncio.Event()  # a client closed a connection while it was answered
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FaultServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            # Answers still holding a connection (a `hold(30)`) end now: since 3.12,
            # wait_closed() waits for every connection's handler.
            for task in self._handlers:
                task.cancel()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            request = await _read_request(reader)
            self.received.append(request)
            self.request_seen.set()
            await self.answer(Connection(writer, request))
        except (ConnectionError, asyncio.IncompleteReadError):
            self.hung_up.set()  # the client hung up: what these tests want it to do
        finally:
            writer.close()
            if task is not None:
                self._handlers.discard(task)


async def _read_request(reader: asyncio.StreamReader) -> Received:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    method, target, _ = head[0].split(" ", 2)
    headers = {}
    for line in head[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Received(method, target, headers, body)


# Answers. Each takes the connection; the factories below make parametrised ones.


async def json_ok(conn: Connection) -> None:
    body = b'{"ok": true}'
    await conn.head(200, ("Content-Type", "application/json"), ("Content-Length", str(len(body))))
    await conn.send(body)


async def echo_headers(conn: Connection) -> None:
    """200 with the request's headers as the JSON body."""
    import json

    body = json.dumps(conn.request.headers).encode()
    await conn.head(200, ("Content-Type", "application/json"), ("Content-Length", str(len(body))))
    await conn.send(body)


def trickle(declared: int, every: float) -> Answer:
    """Headers declaring `declared` bytes, then one byte each `every` seconds."""

    async def answer(conn: Connection) -> None:
        await conn.head(200, ("Content-Length", str(declared)))
        for _ in range(declared):
            await conn.send(b" ")
            await asyncio.sleep(every)

    return answer


def gzip_bomb(total: int) -> Answer:
    """A gzip body inflating to `total` zero bytes (~1/1000 of that on the wire),
    compressed as it is sent and delimited by closing the connection."""

    async def answer(conn: Connection) -> None:
        await conn.head(200, ("Content-Type", "application/json"), ("Content-Encoding", "gzip"))
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
        zeros = bytes(1024 * 1024)
        for _ in range(total // len(zeros)):
            data = compressor.compress(zeros)
            if data:
                await conn.send(data)
        await conn.send(compressor.flush())

    return answer


def plain_body(total: int, *, declare: bool) -> Answer:
    """`total` bytes of plain body, with a Content-Length or delimited by the close."""

    async def answer(conn: Connection) -> None:
        headers = [("Content-Length", str(total))] if declare else []
        await conn.head(200, ("Content-Type", "application/json"), *headers)
        chunk = b" " * CHUNK
        for _ in range(total // CHUNK):
            await conn.send(chunk)

    return answer


async def close_after_headers(conn: Connection) -> None:
    await conn.head(200, ("Content-Length", "100"))


async def close_without_answer(conn: Connection) -> None:
    return None


async def reset_mid_body(conn: Connection) -> None:
    await conn.head(200, ("Content-Length", "1000"))
    await conn.send(b"[" * 100)
    await asyncio.sleep(0.05)
    conn.reset()


def redirect(status: int, location: str) -> Answer:
    async def answer(conn: Connection) -> None:
        await conn.head(status, ("Location", location), ("Content-Length", "0"))

    return answer


def slow_503(after: float) -> Answer:
    """503, its headers after `after` seconds (the server is busy, and slow to say so)."""

    async def answer(conn: Connection) -> None:
        await asyncio.sleep(after)
        await conn.head(503, ("Content-Length", "0"))

    return answer


def hold(seconds: float) -> Answer:
    """Read the request, then say nothing for `seconds`."""

    async def answer(conn: Connection) -> None:
        await asyncio.sleep(seconds)

    return answer
