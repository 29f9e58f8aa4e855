"""`WireTransport`: the SDK's own `httpx.AsyncBaseTransport`, one keep-alive pool per loop.

The direct path (every request, unless the environment names a proxy for an https URL)
is the SDK's own HTTP/1.1 client (h11 over anyio, so it runs under asyncio and trio),
which guarantees what httpx's default transport does not promise:

- a connection that received bytes past a response's `Content-Length`, or that the
  server wrote to while it was idle, is closed, never reused: such bytes are never
  taken for the answer to a later request;
- one pool per event loop, each closed as its loop ends (a module-level client serves
  successive `asyncio.run()` calls, and threads each running their own loop);
- plain http (allowed only to this machine) never goes through an environment proxy:
  `HTTP_PROXY` or `ALL_PROXY` would otherwise receive the API key in clear.

When a test has patched httpx's or httpcore's transport (respx does, to mock requests),
requests go to an `httpx.AsyncHTTPTransport` of the loop instead, so the mock sees them.

An https URL the environment sends through a proxy (`HTTPS_PROXY`/`ALL_PROXY`, less
`NO_PROXY`: httpx's `trust_env` rules, read when a loop's pool opens) goes to an
`httpx.AsyncHTTPTransport(proxy=...)` of that loop instead: a CONNECT tunnel through
httpcore, which does not give the guarantee on bytes past a response.
"""

from __future__ import annotations

import sys
import urllib.request

import httpx

from ._loops import PerLoop
from ._pool import LoopPool

__all__ = ["WireTransport"]


class WireTransport(httpx.AsyncBaseTransport):
    """The SDK's own transport: a keep-alive pool per event loop, within `limits`."""

    def __init__(self, limits: httpx.Limits) -> None:
        self.limits = limits
        self.loops: PerLoop[_Loop] = PerLoop(lambda: _Loop(limits))
        self.closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        loop = await self.loops.current()
        if request.url.scheme == "https" and loop.proxied(request.url.host):
            return await loop.httpx_transport(loop.proxy).handle_async_request(request)
        if _mocked():
            return await loop.httpx_transport(None).handle_async_request(request)
        return await loop.pool.handle(request)

    async def aclose(self) -> None:
        """Close every loop's pool (another loop's on that loop); later requests fail."""
        self.closed = True
        await self.loops.aclose_all()


class _Loop:
    """What one event loop uses: its pool, and its proxy's transport if it needs one."""

    def __init__(self, limits: httpx.Limits) -> None:
        self.limits = limits
        self.pool = LoopPool(limits)
        proxies = urllib.request.getproxies()
        self.proxy = proxies.get("https") or proxies.get("all")
        self.proxies = proxies
        self._httpx: dict[str | None, httpx.AsyncHTTPTransport] = {}
        self._bypass: dict[str, bool] = {}

    def proxied(self, host: str) -> bool:
        if not self.proxy:
            return False
        bypass = self._bypass.get(host)
        if bypass is None:
            bypass = self._bypass[host] = _no_proxy(host, self.proxies)
        return not bypass

    def httpx_transport(self, proxy: str | None) -> httpx.AsyncHTTPTransport:
        """This loop's `httpx.AsyncHTTPTransport` through `proxy` (`None`: direct)."""
        transport = self._httpx.get(proxy)
        if transport is None:
            transport = self._httpx[proxy] = httpx.AsyncHTTPTransport(
                proxy=proxy, limits=self.limits
            )
        return transport

    async def aclose(self) -> None:
        try:
            await self.pool.aclose()
        finally:
            for transport in self._httpx.values():
                await transport.aclose()


def _mocked() -> bool:
    """Whether a test patched httpx's or httpcore's transport (respx does, to mock).

    A method defined outside the library's own package is a patch. httpcore is looked
    at only once something imported it: nothing can have patched it before, and
    importing it here would cost every `import refold_async` httpcore's own imports.
    """
    if not _own(httpx.AsyncHTTPTransport):
        return True
    httpcore = sys.modules.get("httpcore")
    return httpcore is not None and not _own(httpcore.AsyncConnectionPool)


def _own(cls: type) -> bool:
    method = getattr(cls, "handle_async_request", None)
    if method is not None and _KNOWN_OWN.get(cls) is method:
        return True  # the method judged the library's own last time: no patch since
    module = getattr(method, "__module__", None) or ""
    own = module.partition(".")[0] == cls.__module__.partition(".")[0]
    if own:
        _KNOWN_OWN[cls] = method
    return own


# Per class, the `handle_async_request` last found to be the library's own: each request
# asks, and an identity check answers while nothing patches it.
_KNOWN_OWN: dict[type, object] = {}


def _no_proxy(host: str, proxies: dict[str, str]) -> bool:
    """Whether `NO_PROXY` exempts `host`: `*`, the host itself, or a domain it is under."""
    host = host.lower().strip("[]")
    for entry in proxies.get("no", "").split(","):
        entry = entry.strip().lower()
        if entry == "*":
            return True
        entry = entry.partition("://")[2] or entry  # a scheme in the entry: the host counts
        entry = entry.lstrip("*").lstrip(".").strip("[]")
        if entry and (host == entry or host.endswith("." + entry)):
            return True
    return False
