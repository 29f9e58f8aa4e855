"""`PerLoopPool`: the connection pool a client makes for itself, one per event loop.

An httpx connection belongs to the event loop that opened it, so a client made at module
level keeps one `httpx.AsyncClient` per loop, and each loop's connections are closed when
that loop shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import urllib.request
import weakref
from collections.abc import AsyncGenerator, Callable
from typing import Any

import attrs
import httpx

__all__ = ["PerLoopPool"]


class PerLoopPool(httpx.AsyncClient):
    """The connection pool a client makes for itself: one `httpx.AsyncClient` per event loop.

    An httpx connection belongs to the event loop that opened it; used from another loop
    it fails (`RuntimeError: Event loop is closed` once `asyncio.run()` has returned). So
    `send()` picks the running loop's own pool, opening one on first use, and that pool
    is closed as its loop shuts down (`asyncio.run()` closes async generators last, and a
    small one here awaits the pool's `aclose()` then). This object itself only builds
    requests; it never opens a connection. Thread-safe: loops in other threads get their
    own pools.
    """

    def __init__(self, *, timeout: float | None, limits: httpx.Limits) -> None:
        super().__init__(timeout=timeout, follow_redirects=False, transport=_NoTransport())
        self._timeout_setting = timeout
        self._limits = limits
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopPool]
        self._pools = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    async def send(self, request: httpx.Request, *args: Any, **kwargs: Any) -> httpx.Response:
        """Send on the running loop's own pool (httpx's `send()`, same arguments)."""
        return await (await self.current()).send(request, *args, **kwargs)

    async def current(self) -> httpx.AsyncClient:
        """The running loop's own pool, opened on its first use."""
        if self.is_closed:  # httpx's own words: the transport maps them to RefoldUsageError
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = await self._open(loop)
        return pool.http

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _LoopPool:
        http = httpx.AsyncClient(
            timeout=self._timeout_setting,
            limits=self._limits,
            follow_redirects=False,
            cookies=self.cookies.jar,  # one cookie jar, as with a single client
            mounts=_direct_plain_http(self._limits),
        )
        pool = _LoopPool(http, _close_with_loop(http, lambda: self._forget(loop)))
        with self._lock:
            for stale in [other for other in self._pools if other.is_closed()]:
                del self._pools[stale]  # closed without shutting down: nothing to await
            self._pools[loop] = pool
        await pool.watcher.asend(None)  # the loop now closes it when it shuts down
        return pool

    def _forget(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            self._pools.pop(loop, None)

    async def aclose(self) -> None:
        """Close every loop's pool: this loop's now, a live other loop's on that loop."""
        await super().aclose()
        with self._lock:
            pools = list(self._pools.items())
            self._pools.clear()
        running = asyncio.get_running_loop()
        for loop, pool in pools:
            if loop is running:
                await pool.watcher.aclose()
            elif not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # it closed meanwhile
                    asyncio.run_coroutine_threadsafe(pool.watcher.aclose(), loop)


def _direct_plain_http(limits: httpx.Limits) -> dict[str, httpx.AsyncBaseTransport] | None:
    """A proxy-free transport for plain-http URLs, when the environment names a proxy for them.

    The client sends plain http only to this machine (loopback hosts: it refuses any
    other `http://` base URL), where a proxy has no business: `HTTP_PROXY` or
    `ALL_PROXY` would otherwise receive every request, its API key in clear, and send
    `localhost` to the proxy's own machine. https follows httpx's `trust_env` (the
    environment's proxies and `NO_PROXY`), as any httpx client does. httpx reads the
    environment the same way (`urllib.request.getproxies()`) when the pool is opened.
    """
    proxies = urllib.request.getproxies()
    if not (proxies.get("http") or proxies.get("all")):
        return None  # nothing to bypass: no mount, no pattern to match per request
    return {"http://": httpx.AsyncHTTPTransport(limits=limits)}


@attrs.frozen
class _LoopPool:
    http: httpx.AsyncClient
    watcher: AsyncGenerator[None, None]


async def _close_with_loop(
    http: httpx.AsyncClient, forget: Callable[[], None]
) -> AsyncGenerator[None, None]:
    """Suspended while the pool serves its loop; finishing it closes the pool.

    The loop finishes it at shutdown (`shutdown_asyncgens()`), or if it is dropped;
    `PerLoopPool.aclose()` finishes it too.
    """
    try:
        yield
    finally:
        forget()
        await http.aclose()


class _NoTransport(httpx.AsyncBaseTransport):
    """`PerLoopPool`'s own transport, which is never used: its loops' pools send."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise RuntimeError("PerLoopPool sends through its per-loop pools")  # pragma: no cover
