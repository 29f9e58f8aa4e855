"""The keep-alive pool of one event loop: connections by origin, bounded by `httpx.Limits`.

At most `max_connections` are open at once (idle ones included; an idle connection to
another origin is closed to make room), waiting at most the request's `pool` timeout
for one (`httpx.PoolTimeout`). At most `max_keepalive_connections` stay idle, each for
at most `keepalive_expiry` seconds. An idle connection the server wrote to, or closed,
is never used again. A connection goes back to the pool only when its exchange ended
cleanly with nothing read past the response (`Connection.reusable`).
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator

import anyio
import httpx

from ._connection import Connection, Timeouts, connect
from ._trace import Trace

__all__ = ["LoopPool"]


class LoopPool:
    """The connections of one event loop, opened and kept for reuse."""

    def __init__(self, limits: httpx.Limits) -> None:
        most = limits.max_connections
        self._slots = anyio.Semaphore(most if most is not None else 2**31)
        keep = limits.max_keepalive_connections
        self._keep = keep if keep is not None else 2**31
        expiry = limits.keepalive_expiry
        self._expiry = math.inf if expiry is None else expiry
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._busy: set[Connection] = set()
        self.closed = False

    async def handle(self, request: httpx.Request) -> httpx.Response:
        """Send `request` on a pooled connection; the response streams its raw body."""
        if self.closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        url = request.url
        scheme = url.scheme
        origin = (scheme, url.host, url.port or (443 if scheme == "https" else 80))
        timeouts = Timeouts(request)
        trace = Trace(request)
        connection = await self._idle_connection(origin)
        if connection is None:
            await self._take_slot(request, timeouts)
            try:
                connection = await connect(request, timeouts, trace, origin)
            except BaseException:
                self._slots.release()
                raise
        self._busy.add(connection)
        try:
            await connection.send(request, timeouts, trace)
            head = await connection.receive_head(request, timeouts, trace)
        except BaseException:
            await self._drop(connection)
            raise
        return httpx.Response(
            head.status_code,
            headers=head.headers,
            stream=_Body(self, connection, request, timeouts, trace),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": head.reason},
        )

    async def _idle_connection(self, origin: tuple[str, str, int]) -> Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if now - connection.idle_since < self._expiry and not connection.readable_while_idle():
                return connection
            await self._discard(connection)
        return None

    async def _take_slot(self, request: httpx.Request, timeouts: Timeouts) -> None:
        if self._slots.value == 0:
            await self._close_one_idle()
        try:
            if timeouts.pool == math.inf:
                await self._slots.acquire()
            else:
                with anyio.fail_after(timeouts.pool):
                    await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout(
                "no connection of the pool became free in time", request=request
            ) from None

    async def _close_one_idle(self) -> None:
        for idle in self._idle.values():
            if idle:
                await self._discard(idle.pop(0))
                return

    async def _discard(self, connection: Connection) -> None:
        self._slots.release()
        await connection.aclose()

    async def _drop(self, connection: Connection) -> None:
        self._busy.discard(connection)
        self._slots.release()
        await connection.aclose()

    async def release(self, connection: Connection, whole: bool) -> None:
        """Take `connection` back after its exchange: kept if clean and wanted, else closed."""
        self._busy.discard(connection)
        if not whole or self.closed or not connection.reusable():
            self._slots.release()
            await connection.aclose()
            return
        idle = self._idle.setdefault(connection.origin, [])
        idle.append(connection)
        if sum(len(each) for each in self._idle.values()) > self._keep:
            await self._close_one_idle()

    async def aclose(self) -> None:
        """Close every connection, idle or busy; later requests are refused."""
        self.closed = True
        connections = [c for idle in self._idle.values() for c in idle] + list(self._busy)
        self._idle.clear()
        self._busy.clear()
        for connection in connections:
            await connection.aclose()


class _Body(httpx.AsyncByteStream):
    """A response's raw body, read from its connection; closing it settles the connection."""

    def __init__(
        self,
        pool: LoopPool,
        connection: Connection,
        request: httpx.Request,
        timeouts: Timeouts,
        trace: Trace,
    ) -> None:
        self.pool = pool
        self.connection: Connection | None = connection
        self.request = request
        self.timeouts = timeouts
        self.trace = trace
        self.whole = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self.connection
        if connection is None:
            raise httpx.StreamClosed()
        async with self.trace.step("http11.receive_response_body"):
            async for chunk in connection.body(self.request, self.timeouts):
                yield chunk
        self.whole = True
        await self.aclose()

    async def aclose(self) -> None:
        connection, self.connection = self.connection, None
        if connection is None:
            return
        async with self.trace.step("http11.response_closed"):
            await self.pool.release(connection, self.whole)
