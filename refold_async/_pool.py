"""`PerLoopPool`: the connection pool a client makes for itself, one per event loop.

It is an `httpx.AsyncClient` (the client's settings, `build_request()`, headers) whose
transport is the SDK's own `WireTransport`: a keep-alive pool per event loop, each
closed as its loop ends, under asyncio or trio.
"""

from __future__ import annotations

import httpx

from ._wire import WireTransport

__all__ = ["PerLoopPool"]


class PerLoopPool(httpx.AsyncClient):
    """The connection pool a client makes for itself: one keep-alive pool per event loop.

    A connection belongs to the event loop that opened it, so the transport (`wire`)
    keeps one pool per running loop, opened on first use and closed as that loop shuts
    down: a client made at module level serves successive `asyncio.run()` calls, and
    threads each running a loop. `aclose()` closes every loop's pool. The SDK sends
    through `wire.handle_async_request()`; `send()` works too, as for any httpx client.
    """

    def __init__(
        self,
        *,
        timeout: float | None,
        limits: httpx.Limits,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        # A caller's transport (`transport=`, a mock in tests) takes the place of the SDK's.
        self.wire: httpx.AsyncBaseTransport = transport or WireTransport(limits)
        # trust_env=False: the environment's proxies are the transport's to apply (never to
        # plain http); httpx would otherwise mount its own transports for them.
        super().__init__(
            timeout=timeout, follow_redirects=False, transport=self.wire, trust_env=False
        )

    async def aclose(self) -> None:
        """Close every loop's pool: this loop's now, a live other loop's on that loop."""
        await super().aclose()  # closes `wire`
