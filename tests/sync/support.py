"""Helpers for the sync facade's tests: an in-process API, a probe resource, a bucket model.

The probe declares one operation by hand and reaches the transport through the
`SyncResource` machinery, so these tests do not depend on generated resources.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
from typing_extensions import Unpack

from refold_async import CallOptions
from refold_async._operation import AuthScope, Operation
from refold_async.testing._ratelimit import ServerRateLimit
from refold_sync import Refold
from refold_sync._resource import SyncResource
from tests.helpers import API_KEY, BASE_URL

PING: Operation[Any] = Operation(
    id="ping", method="GET", path="/ping/{name}", auth=AuthScope.ORG_KEY, returns=Any
)


class Probe(SyncResource[Any]):
    """A hand-made sync resource over any client's transport."""

    def ping(self, name: str, **options: Unpack[CallOptions]) -> Any:
        return self._call(self._async._transport.send, PING, path={"name": name}, options=options)


def probe(client: Refold) -> Probe:
    """The probe resource of `client`, built the way generated namespaces are."""
    return Probe(client._async_client)


class InProcessAPI:
    """An httpx transport handler that plays the API on the client's own loop.

    `/ping/block` waits until cancelled and records that it was; `/ping/missing`
    answers 404; any other `/ping/<name>` answers `{"pong": name}`. Every arrival time
    is recorded (the handler runs on one loop thread, so no lock is needed).
    """

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.entered = threading.Event()
        self.cancelled = threading.Event()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.arrivals.append(time.monotonic())
        name = request.url.path.rsplit("/", 1)[-1]
        if name == "block":
            return await self._block()
        if name == "missing":
            return httpx.Response(404, json={"message": "no such thing", "error": "not_found"})
        return httpx.Response(200, json={"pong": name})

    async def _block(self) -> httpx.Response:
        self.entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    def client(self, **options: Any) -> Refold:
        """A `Refold` whose requests reach this handler; no rate limit unless asked."""
        options.setdefault("api_key", API_KEY)
        options.setdefault("base_url", BASE_URL)
        options.setdefault("rate_limit", None)
        http = httpx.AsyncClient(transport=httpx.MockTransport(self))
        return Refold(http_client=http, **options)


def outcome_within(seconds: float, fn: Callable[[], object]) -> BaseException | object:
    """Run `fn` in a helper thread: its result or exception, or fail if it hangs.

    For tests of deadlock guards: a regression fails the test instead of hanging it.
    """
    box: list[BaseException | object] = []

    def target() -> None:
        try:
            box.append(fn())
        except BaseException as error:
            box.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise AssertionError(f"still blocked after {seconds} s: a deadlock")
    return box[0]


def refusals(arrivals: Sequence[float], *, per_second: float, burst: int) -> list[int]:
    """Which arrivals (by index, in time order) the server's bucket would refuse."""
    bucket = ServerRateLimit(per_second, burst)  # the emulator's own bucket
    return [i for i, at in enumerate(sorted(arrivals)) if bucket.take("audit", now=at) is not None]


class _QuietServer(http.server.ThreadingHTTPServer):
    """Says nothing when a client drops a kept-alive connection (a closed pool does)."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class LoopbackAPI:
    """A real HTTP/1.1 server on 127.0.0.1 for tests that need sockets and a pool.

    Records each request's path with the client's address, which tells connections
    apart. `/ping/block` holds its connection until `release` is set.
    """

    def __init__(self) -> None:
        self.seen: list[tuple[str, tuple[str, int]]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _handler_class(self) -> type[http.server.BaseHTTPRequestHandler]:
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                api.seen.append((self.path, self.client_address))
                if self.path.endswith("/block"):
                    api.entered.set()
                    api.release.wait(30)
                body = json.dumps({"pong": self.path.rsplit("/", 1)[-1]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler

    def client(self, **options: Any) -> Refold:
        """A `Refold` with its own pool (no `http_client=`) pointed at this server."""
        options.setdefault("api_key", API_KEY)
        options.setdefault("rate_limit", None)
        return Refold(base_url=self.base_url, **options)


@contextmanager
def serving() -> Iterator[LoopbackAPI]:
    """Run a `LoopbackAPI` for the duration of the block."""
    api = LoopbackAPI()
    thread = threading.Thread(target=api.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield api
    finally:
        api.release.set()
        api.server.shutdown()
        api.server.server_close()
        thread.join(10)
