"""The loopback way in: a small HTTP/1.1 server (asyncio streams and h11) for an emulator.

For tests that span processes, and for `refold emulator --port N`. h11 is already
installed with httpx (through httpcore), so the server needs no new dependency. It
speaks keep-alive HTTP/1.1, one request at a time per connection. Dropped-connection
faults close the socket without an answer; a `timeout` fault holds the connection
silent for `hold_seconds` first. On a real clock the server also pumps the emulator
every `PUMP_EVERY` seconds, so schedules fire, runs end and webhooks are delivered (and
retried) without waiting for the next request; on a `FakeClock` the test moves time.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import TYPE_CHECKING

import h11

from ._clock import FakeClock
from ._http import Drop, EmulatedRequest, EmulatedResponse, parse_query

if TYPE_CHECKING:
    from ._emulator import Emulator

__all__ = ["EmulatorServer"]

PUMP_EVERY = 0.2
"""Seconds between pumps of an emulator on a real clock: schedules, run ends, webhooks."""
READ_CHUNK = 65536
MAX_BODY = 16 * 1024 * 1024


class EmulatorServer:
    """Serves an emulator on a loopback address.

    Example:
        ```python
        async with emulator.server(port=0) as server:
            client = AsyncRefold(api_key=emulator.api_key, base_url=server.url)
        ```
    """

    def __init__(
        self,
        emulator: Emulator,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        hold_seconds: float = 10.0,
    ) -> None:
        self.emulator = emulator
        self.host = host
        self.port: int = port
        self.hold_seconds = hold_seconds
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.StreamWriter, asyncio.Task[None] | None] = {}
        self._closing = asyncio.Event()
        self._ticker: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The base URL to give clients, e.g. `http://127.0.0.1:8787`."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen (on a free port when `port` is 0)."""
        await self._listen()

    async def _listen(self) -> asyncio.Server:
        self._closing = asyncio.Event()
        server = await asyncio.start_server(self._serve_connection, self.host, self.port)
        self.port = int(server.sockets[0].getsockname()[1])
        self._server = server
        if not isinstance(self.emulator.clock, FakeClock):
            self._ticker = asyncio.get_running_loop().create_task(self._tick())
        return server

    async def _tick(self) -> None:
        """On real time, nobody advances the clock: pump it, so runs end and webhooks go out."""
        while not self._closing.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._closing.wait(), PUMP_EVERY)
            if not self._closing.is_set():
                await self.emulator.pump()

    async def serve_forever(self) -> None:
        """Run until cancelled (listening first if `start()` was not called)."""
        server = self._server or await self._listen()
        await server.serve_forever()

    async def aclose(self) -> None:
        """Stop listening and close open connections."""
        if self._server is None:
            return
        self._server.close()
        self._closing.set()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        # Closing each transport ends its handler with EOF; cancelling the handler tasks
        # instead would make Python 3.11's asyncio log the CancelledError.
        for writer in list(self._connections):
            writer.close()
        tasks = [
            t
            for t in self._connections.values()
            if t is not None and t is not asyncio.current_task()
        ]
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> EmulatorServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._connections[writer] = asyncio.current_task()
        try:
            await self._exchange_all(h11.Connection(h11.SERVER), reader, writer)
        except (h11.RemoteProtocolError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.pop(writer, None)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _hold(self) -> None:
        """Stay silent for `hold_seconds`, or until the server closes."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._closing.wait(), self.hold_seconds)

    async def _exchange_all(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            request = await _read_request(conn, reader)
            if request is None:
                return
            answer = await self.emulator.handle(request)
            if answer.drop is not None:
                if answer.drop is Drop.TIMEOUT:
                    await self._hold()
                return
            await _write_response(conn, writer, answer)
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()


async def _read_request(
    conn: h11.Connection, reader: asyncio.StreamReader
) -> EmulatedRequest | None:
    head: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(READ_CHUNK))
        elif isinstance(event, h11.Request):
            head = event
        elif isinstance(event, h11.Data):
            body.extend(event.data)
            if len(body) > MAX_BODY:
                return None
        elif isinstance(event, h11.EndOfMessage) and head is not None:
            return _emulated(head, bytes(body))
        else:  # ConnectionClosed, PAUSED or anything unexpected: stop here
            return None


def _emulated(head: h11.Request, body: bytes) -> EmulatedRequest:
    raw_path, _, raw_query = head.target.decode("ascii").partition("?")
    return EmulatedRequest(
        method=head.method.decode("ascii").upper(),
        path=raw_path,
        query=parse_query(raw_query),
        headers={
            name.decode("latin-1").lower(): value.decode("latin-1") for name, value in head.headers
        },
        body=body,
    )


async def _write_response(
    conn: h11.Connection, writer: asyncio.StreamWriter, answer: EmulatedResponse
) -> None:
    headers = [(name.encode(), value.encode()) for name, value in answer.headers]
    if answer.status != 204:
        headers.append((b"content-length", str(len(answer.body)).encode()))
    data = conn.send(h11.Response(status_code=answer.status, headers=headers)) or b""
    if answer.body and answer.status != 204:
        data += conn.send(h11.Data(data=answer.body)) or b""
    data += conn.send(h11.EndOfMessage()) or b""
    writer.write(data)
    await writer.drain()
