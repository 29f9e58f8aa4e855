"""The loopback way in: a small HTTP/1.1 server (anyio sockets and h11) for an emulator.

For tests that span processes, and for `refold emulator --port N`. h11 is already
installed with httpx (through httpcore), so the server needs no new dependency. It runs
on whichever event loop anyio runs on, asyncio's or trio's. It speaks keep-alive
HTTP/1.1, one request at a time per connection. Dropped-connection faults close the
socket without an answer; a `timeout` fault holds the connection silent for
`hold_seconds` first. On a real clock the server also pumps the emulator every
`PUMP_EVERY` seconds, so schedules fire, runs end and webhooks are delivered (and
retried) without waiting for the next request; on a `FakeClock` the test moves time.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import TYPE_CHECKING

import anyio
import anyio.abc
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

_log = logging.getLogger("refold.emulator")

_CLOSED = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)
"""What a connection the peer (or the server's own closing) ended raises."""


class EmulatorServer:
    """Serves an emulator on a loopback address.

    `start()` and `aclose()` must be awaited by the same task (`async with` does that):
    the server's connections run in a task group that `start()` opens and `aclose()`
    closes.

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
        self._tasks: anyio.abc.TaskGroup | None = None
        self._closing: anyio.Event | None = None

    @property
    def url(self) -> str:
        """The base URL to give clients, e.g. `http://127.0.0.1:8787`."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen (on a free port when `port` is 0)."""
        if self._tasks is not None:
            return
        listener = await anyio.create_tcp_listener(local_host=self.host, local_port=self.port)
        self.port = int(listener.extra(anyio.abc.SocketAttribute.local_port))  # noqa: S610 (anyio, not Django)
        self._closing = anyio.Event()
        tasks = anyio.create_task_group()
        await tasks.__aenter__()
        self._tasks = tasks
        tasks.start_soon(self._accept, listener, tasks)
        if not isinstance(self.emulator.clock, FakeClock):
            tasks.start_soon(self._tick, self._closing)

    async def _accept(
        self, listener: anyio.abc.Listener[anyio.abc.SocketStream], tasks: anyio.abc.TaskGroup
    ) -> None:
        async with listener:
            await listener.serve(self._serve_connection, task_group=tasks)

    async def _tick(self, closing: anyio.Event) -> None:
        """On real time, nobody advances the clock: pump it, so runs end and webhooks go out."""
        while not closing.is_set():
            with anyio.move_on_after(PUMP_EVERY):
                await closing.wait()
            if not closing.is_set():
                await self.emulator.pump()

    async def serve_forever(self) -> None:
        """Run until cancelled (listening first if `start()` was not called)."""
        await self.start()
        await anyio.sleep_forever()

    async def aclose(self) -> None:
        """Stop listening and close open connections."""
        tasks, self._tasks = self._tasks, None
        if tasks is None:
            return
        if self._closing is not None:
            self._closing.set()
        tasks.cancel_scope.cancel()
        await tasks.__aexit__(None, None, None)

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

    async def _serve_connection(self, stream: anyio.abc.SocketStream) -> None:
        try:
            await self._exchange_all(h11.Connection(h11.SERVER), stream)
        except (h11.RemoteProtocolError, *_CLOSED):
            pass
        except Exception:  # one connection's failure must not stop the server (its task group)
            _log.exception("the emulator's loopback server dropped a connection")
        finally:
            await anyio.aclose_forcefully(stream)

    async def _hold(self) -> None:
        """Stay silent for `hold_seconds`, or until the server closes."""
        closing = self._closing
        with anyio.move_on_after(self.hold_seconds):
            if closing is not None:
                await closing.wait()

    async def _exchange_all(self, conn: h11.Connection, stream: anyio.abc.SocketStream) -> None:
        while True:
            request = await _read_request(conn, stream)
            if request is None:
                return
            answer = await self.emulator.handle(request)
            if answer.drop is not None:
                if answer.drop is Drop.TIMEOUT:
                    await self._hold()
                return
            await _write_response(conn, stream, answer)
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()


async def _read_request(
    conn: h11.Connection, stream: anyio.abc.SocketStream
) -> EmulatedRequest | None:
    head: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            try:
                data = await stream.receive(READ_CHUNK)
            except anyio.EndOfStream:
                data = b""
            conn.receive_data(data)
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
    conn: h11.Connection, stream: anyio.abc.SocketStream, answer: EmulatedResponse
) -> None:
    headers = [(name.encode(), value.encode()) for name, value in answer.headers]
    if answer.status != 204:
        headers.append((b"content-length", str(len(answer.body)).encode()))
    data = conn.send(h11.Response(status_code=answer.status, headers=headers)) or b""
    if answer.body and answer.status != 204:
        data += conn.send(h11.Data(data=answer.body)) or b""
    data += conn.send(h11.EndOfMessage()) or b""
    await stream.send(data)
