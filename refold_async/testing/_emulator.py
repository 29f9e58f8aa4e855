"""`Emulator`: a stateful, in-memory fake of the Refold API (docs/architecture.md §9).

One request goes through these stages, each owned by its module:

1. stats: the arrival is counted for its credential (`_stats`);
2. faults: an armed fault may delay, answer, drop or spoil the exchange (`_faults`);
3. rate limit: the credential's bucket admits it or it is answered 429 (`_ratelimit`);
4. routing: the operation registry's path templates find the operation (`_router`);
5. auth: the credential must be accepted for the operation's scope (`_auth`);
6. validation: required parameters and bodies must be there, values must fit the spec,
   and a form body is read into fields (`_validate`, `_multipart`);
7. the operation's handler answers from state (`_handlers`), or a sample is built
   from its response model (`_samples`).

Stages 3 to 7 run under one lock, so the emulator may be shared by threads (the sync
facade's loop thread, a test's own) and answers as if requests were serialized.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import attrs
import httpx

from refold_async._operation import Operation

from ._auth import authenticate, credential_of
from ._background import BackgroundServer
from ._clock import Clock, FakeClock, MonotonicClock
from ._delivery import DEFAULT_RETRY_DELAYS, Delivery, Outbox, WebhookReceiver
from ._faults import Body, Drop, Fault, Faults
from ._handlers import HANDLERS, Call, seed_variables
from ._handlers.accounts import announce_for
from ._handlers.executions import announce_finished, next_finish
from ._handlers.schedules import fire_due, next_firing
from ._http import ApiError, EmulatedRequest, EmulatedResponse, Reply, error_body, json_response
from ._multipart import decode_request_body
from ._ratelimit import DEFAULT_RATE_LIMIT, ServerRateLimit, format_retry_after
from ._router import Router
from ._samples import sample_json
from ._server import EmulatorServer
from ._state import (
    Backend,
    Document,
    IdFactory,
    Settings,
    World,
    environment_of_key,
    fingerprint,
    iso,
)
from ._stats import EmulatorStats, StatsRecorder
from ._transport import EmulatorTransport
from ._validate import validate

if TYPE_CHECKING:
    from refold_async import AsyncRefold

__all__ = ["BASE_URL", "DEFAULT_API_KEY", "Emulator"]

DEFAULT_API_KEY = "tk_emulator_0123456789abcdef"
"""The one test key an `Emulator()` accepts unless given others. Not a secret."""

BASE_URL = "http://emulator.invalid"
"""The base URL clients use with the in-process transport (`.invalid` never resolves)."""

# docs/architecture.md §1: some services name the internal code `error_code`, the rest `error`.
_ERROR_CODE_PREFIXES = (
    "/api/v2/public/config",
    "/api/v2/public/slug/",
    "/api/v2/public/workflow",
    "/api/v1/workflow/",
)
_HTML = b"<html><head><title>%d</title></head><body><h1>%d Gateway Error</h1></body></html>"


def error_field_for(path: str) -> str:
    """`"error_code"` for the config and workflow services, `"error"` elsewhere."""
    return "error_code" if path.startswith(_ERROR_CODE_PREFIXES) else "error"


class Emulator:
    """A fake Refold API that keeps state in memory; see the package docs.

    Auth answers as docs/architecture.md §1 says: 401 for a missing, unknown, revoked or expired
    credential (and for a bare key on a session-token-only operation); 403 for a session
    token on an org-level operation or naming another linked account; 400 for a key on a
    linked-account operation without the `linked_account_id` header.

    Everything timed follows `clock`: token expiry, executions, latency faults and the
    rate-limit buckets, which with a `FakeClock` refill only as the test advances it
    (tests that are not about the limit usually pass `rate_limit=None`).

    Args:
        api_keys: The API keys it accepts; each sees its own world (`tk…` test,
            `pk…` production). Defaults to one test key, `DEFAULT_API_KEY`.
        clock: Its time source; `FakeClock()` lets a test decide when time moves.
        rate_limit: `(per_second, burst)` per credential, or `None` for no limit.
        execution_delay: Seconds an async execution runs before it completes.
        token_ttl: Seconds a session token lives.
        operations: The operation registry to answer (the SDK's by default).
        send_retry_after: Whether 429s carry `Retry-After` (the API may or may not).
        latency: Seconds (on `clock`) every answer waits before it is worked out.
        webhook_retry_delays: Seconds (on `clock`) before each retry of a failed webhook
            delivery; one attempt more than there are delays.

    Example:
        ```python
        emulator = Emulator(api_keys=["tk_test_123"], clock=FakeClock())
        async with emulator.client() as client:
            await client.linked_accounts.upsert(linked_account_id="acme", name="Acme")
        ```
    """

    def __init__(
        self,
        *,
        api_keys: Iterable[str] = (DEFAULT_API_KEY,),
        clock: Clock | None = None,
        rate_limit: tuple[float, int] | None = DEFAULT_RATE_LIMIT,
        execution_delay: float = 1.0,
        token_ttl: float = 3600.0,
        operations: Mapping[str, Operation[Any]] | None = None,
        send_retry_after: bool = True,
        latency: float = 0.0,
        webhook_retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
    ) -> None:
        if not latency >= 0:
            raise ValueError("latency must be seconds, not negative")
        self.clock: Clock = clock or MonotonicClock()
        self.faults: Faults = Faults()
        self.settings: Settings = Settings(token_ttl=token_ttl, execution_delay=execution_delay)
        self.operations: Mapping[str, Operation[Any]] = (
            operations if operations is not None else _registry()
        )
        self._router = Router(self.operations.values())
        self._limit = ServerRateLimit(*rate_limit) if rate_limit is not None else None
        self.rate_limit: tuple[float, int] | None = rate_limit
        """`(per_second, burst)` per credential, or `None`: as given (read-only)."""
        self.latency: float = latency
        """Seconds every answer waits (on the emulator's clock) before it is worked out."""
        self._send_retry_after = send_retry_after
        self._stats = StatsRecorder()
        self._request_ids = itertools.count(1)  # answers carry x-request-id, as the API's do
        self._lock = threading.RLock()
        self._backend = Backend(settings=self.settings)
        self._outbox = Outbox(webhook_retry_delays)
        self._keys: list[str] = []
        for key in api_keys:
            self.add_api_key(key)
        if not self._keys:
            raise ValueError("an emulator needs at least one API key")

    # -- configuration and state -------------------------------------------------

    @property
    def api_key(self) -> str:
        """The first accepted API key."""
        return self._keys[0]

    @property
    def api_keys(self) -> tuple[str, ...]:
        """Every accepted API key."""
        return tuple(self._keys)

    def add_api_key(self, api_key: str) -> World:
        """Accept one more key, opening an empty world for it."""
        if not api_key or api_key in self._backend.worlds:
            raise ValueError("API keys must be non-empty and distinct")
        namespace = int(fingerprint(api_key)[:8], 16)
        world = World(
            api_key=api_key,
            environment=environment_of_key(api_key),
            org_id=f"{namespace:08x}{'0' * 16}",
            new_id=IdFactory(namespace),
            wall=self.clock.wall,
        )
        seed_variables(world)
        with self._lock:
            self._backend.worlds[api_key] = world
            self._keys.append(api_key)
        return world

    def world(self, api_key: str | None = None) -> World:
        """The state one key sees (the first key's by default), for tests to arrange or inspect."""
        return self._backend.worlds[api_key or self.api_key]

    def add_human_task(
        self, *, name: str = "Approve", expires_in: float = 3600.0, **fields: Any
    ) -> Document:
        """Create a waiting human task (the API has no operation for it); returns it."""
        with self._lock:
            task: Document = {
                "_id": self.world().new_id(),
                "name": name,
                "form_structure": {"fields": [{"name": "approved", "type": "boolean"}]},
                "ui_structure": {},
                "data": {},
                "receiver_emails": [],
                "status": "WAITING",
                "expire_in": iso(self.clock.wall() + expires_in),
                "createdAt": iso(self.clock.wall()),
                "updatedAt": iso(self.clock.wall()),
                **fields,
            }
            self._backend.human_tasks[task["_id"]] = task
            return task

    @property
    def stats(self) -> EmulatorStats:
        """Traffic so far: requests, 429s, densest second and instant, per credential."""
        with self._lock:
            return self._stats.snapshot()

    def reset_stats(self) -> None:
        """Start counting afresh (the rate-limit buckets refill too)."""
        with self._lock:
            self._stats.reset()
            if self._limit is not None:
                self._limit.reset()

    # -- webhooks, executions and schedules over time ------------------------------------

    @property
    def deliveries(self) -> list[Delivery]:
        """Every webhook delivery attempt so far, oldest first (a copy)."""
        return list(self._outbox.deliveries)

    def route_webhooks(self, url: str, receiver: WebhookReceiver) -> None:
        """Answer deliveries to `url` with `receiver(body, headers) -> status`, in-process.

        Register webhooks with any URL (your production one, say) and route it here; the
        receiver may be async, returns the HTTP status (`None`: 200), and a raised
        exception counts as a failed attempt. Unrouted URLs must be on loopback.
        """
        self._outbox.route(url, receiver)

    def fail_executions(self, count: int = 1) -> None:
        """Make the next `count` executions started end `Errored` (`Workflow Errored`)."""
        if count < 0:
            raise ValueError("count must not be negative")
        with self._lock:
            self._backend.failing = count

    def expire_connection(self, linked_account_id: str, slug: str) -> None:
        """Mark the account's app connection as needing re-authorization (`Connection Expired`)."""
        with self._lock:
            world = self.world()
            account = world.linked_account(linked_account_id)
            for integration in account["integrations"]:
                if integration["type"] == slug:
                    integration["reauth_required"] = True
                    integration["refresh_token_expired"] = True
            announce_for(
                self._backend,
                world,
                "Connection Expired",
                linked_account_id,
                slug,
                self.clock.wall(),
            )

    async def pump(self) -> list[Delivery]:
        """Bring time-driven state up to the clock and send the webhooks that are due.

        Fires due schedules, ends due executions, queues their events and connection
        events, then delivers what is due (outside the lock). Runs after every request;
        call it after moving a clock by hand. Returns the delivery attempts it made.
        """
        with self._lock:
            now, wall = self.clock.now(), self.clock.wall()
            fire_due(self._backend, now, wall)
            announce_finished(self._backend, now)
            emitted, self._backend.emitted = self._backend.emitted, []
            for world, event, payload in emitted:
                self._outbox.enqueue(world, event, payload, now)
        return await self._outbox.send_due(now)

    async def advance(self, seconds: float) -> list[Delivery]:
        """Move the `FakeClock` on by `seconds`, stopping at every moment something is due.

        Schedules fire, executions end and webhooks are delivered (and retried) at their
        own times on the way, in order. Returns the delivery attempts made.

        Raises:
            TypeError: The emulator's clock is not a `FakeClock`.
        """
        clock = self.clock
        if not isinstance(clock, FakeClock):
            raise TypeError("advance() needs an Emulator(clock=FakeClock())")
        if not seconds >= 0:
            raise ValueError("a clock cannot go backwards")
        target = clock.now() + seconds
        made = await self.pump()
        while True:
            with self._lock:
                moments = [
                    t
                    for t in (
                        next_firing(self._backend),
                        next_finish(self._backend),
                        self._outbox.next_due(),
                    )
                    if t is not None
                ]
            upcoming = min(moments, default=None)
            if upcoming is None or upcoming > target:
                break
            clock.advance(max(0.0, upcoming - clock.now()))
            made += await self.pump()
        clock.advance(max(0.0, target - clock.now()))
        return made + await self.pump()

    def advance_blocking(self, seconds: float) -> list[Delivery]:
        """`advance()` for blocking tests: runs it on a loop of its own, on another thread."""
        box: list[list[Delivery] | BaseException] = []

        def main() -> None:
            try:
                box.append(anyio.run(self.advance, seconds))
            except BaseException as error:  # re-raised on the caller's thread
                box.append(error)

        thread = threading.Thread(target=main, name="refold-emulator-advance")
        thread.start()
        thread.join()
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]

    # -- ways in --------------------------------------------------------------------

    def transport(self) -> EmulatorTransport:
        """An in-process `httpx.AsyncBaseTransport` answering from this emulator."""
        return EmulatorTransport(self)

    @property
    def async_transport(self) -> EmulatorTransport:
        """Same as `transport()`."""
        return self.transport()

    def client(self, **options: Any) -> AsyncRefold:
        """An `AsyncRefold` wired to this emulator in-process (first key, no sockets).

        `options` are `AsyncRefold`'s; `api_key` defaults to the first accepted key and
        `base_url` to `BASE_URL`. The client owns its pool: `async with` it, or `aclose()` it.
        """
        from refold_async import AsyncRefold  # the client is not needed to emulate

        if "session_token" not in options:
            options.setdefault("api_key", self.api_key)
        options.setdefault("base_url", BASE_URL)
        client = AsyncRefold(http_client=self.http_client(), **options)
        # Nobody else holds this pool, so the client's `aclose()` must close it.
        client._owns_http = True  # pyright: ignore[reportPrivateUsage]
        return client

    def http_client(self) -> httpx.AsyncClient:
        """An `httpx.AsyncClient` on the in-process transport, for any client to use.

        For the blocking client, prefer `refold_sync.testing.sync_client(emulator)`, which
        makes its pool on the SDK's loop thread and closes it with the client.
        """
        return httpx.AsyncClient(transport=self.transport())

    def server(self, host: str = "127.0.0.1", port: int = 0) -> EmulatorServer:
        """A loopback HTTP/1.1 server for this emulator; `async with` it to run it."""
        return EmulatorServer(self, host=host, port=port)

    def serve_in_background(self, host: str = "127.0.0.1", port: int = 0) -> BackgroundServer:
        """The loopback server on a daemon thread, for blocking code; `with` it to run it."""
        return BackgroundServer(self, host=host, port=port)

    # -- the pipeline -----------------------------------------------------------------

    async def handle(self, request: EmulatedRequest) -> EmulatedResponse:
        """Answer one request: faults, rate limit, routing, auth, validation, handler."""
        credential = credential_of(request.headers)
        with self._lock:
            self._stats.arrive(credential, self.clock.now())
        try:
            if self.latency > 0:
                await self.clock.sleep(self.latency)
            fault = self.faults.pick(self._operation_id(request), request.path, request.method)
            if fault is None:
                response = self.dispatch(request)
            else:
                response = await self._with_fault(request, fault)
            await self.pump()
            return self._with_request_id(response)
        finally:
            with self._lock:
                self._stats.depart(credential)

    def dispatch(self, request: EmulatedRequest) -> EmulatedResponse:
        """Answer one request without faults or stats (synchronous; holds the lock)."""
        try:
            with self._lock:
                return self._answer(request)
        except ApiError as error:
            body = error_body(error, code_field=error_field_for(request.path))
            return json_response(error.status, body, error.headers)

    def _with_request_id(self, response: EmulatedResponse) -> EmulatedResponse:
        """`response` with an `x-request-id` header (`req_` and a counter), unless dropped."""
        if response.drop is not None:
            return response
        with self._lock:
            number = next(self._request_ids)
        header = ("x-request-id", f"req_emu_{number:08d}")
        return attrs.evolve(response, headers=(*response.headers, header))

    def _operation_id(self, request: EmulatedRequest) -> str | None:
        try:
            op, _ = self._router.match(request.method, request.path)
        except ApiError:
            return None
        return op.id

    async def _with_fault(self, request: EmulatedRequest, fault: Fault) -> EmulatedResponse:
        if fault.delay > 0:
            await self.clock.sleep(fault.delay)
        if fault.drop is Drop.CONNECT:
            return EmulatedResponse(drop=Drop.CONNECT)
        if fault.status is not None:
            response = self._fault_response(request, fault)
        else:
            response = self.dispatch(request)
        return _spoil(response, fault)

    def _fault_response(self, request: EmulatedRequest, fault: Fault) -> EmulatedResponse:
        status = fault.status or 500
        headers = (("retry-after", fault.retry_after),) if fault.retry_after is not None else ()
        if fault.body is Body.ENVELOPE:
            error = ApiError(status, "injected fault", "EMULATED_FAULT")
            return json_response(
                status, error_body(error, code_field=error_field_for(request.path)), headers
            )
        return EmulatedResponse(status=status, headers=headers)

    def _answer(self, request: EmulatedRequest) -> EmulatedResponse:
        self._take_slot(request)
        op, path = self._router.match(request.method, request.path)
        body = decode_request_body(op, request.headers, request.body)
        query = dict(reversed(request.query))  # the first value wins when a name repeats
        now = self.clock.now()
        principal = authenticate(
            op, request.headers, worlds=self._backend.worlds, tokens=self._backend.tokens, now=now
        )
        validate(
            op, query=query, headers=request.headers, body=body, principal=principal, path=path
        )
        call = Call(
            op=op, principal=principal, path=path, query=query, headers=request.headers,
            body=body, backend=self._backend, now=now, wall=self.clock.wall(),
        )  # fmt: skip
        handler = HANDLERS.get(op.id)
        result = handler(call) if handler is not None else _sample_reply(op)
        reply = result if isinstance(result, Reply) else Reply(result)
        return json_response(reply.status, reply.data)

    def _take_slot(self, request: EmulatedRequest) -> None:
        if self._limit is None:
            return
        credential = credential_of(request.headers)
        wait = self._limit.take(credential, now=self.clock.now())
        if wait is None:
            return
        self._stats.rate_limited(credential)
        headers = (("retry-after", format_retry_after(wait)),) if self._send_retry_after else ()
        raise ApiError(429, "rate limit exceeded: slow down", "RATE_LIMIT_EXCEEDED", headers)


def _sample_reply(op: Operation[Any]) -> Reply:
    if op.returns is None:
        return Reply(None, 204)
    return Reply(sample_json(op.returns))


def _spoil(response: EmulatedResponse, fault: Fault) -> EmulatedResponse:
    if fault.drop is not None:
        return attrs.evolve(response, drop=fault.drop)
    if fault.body is Body.MALFORMED:
        text = response.body or b'{"status_code": 500, "message": "broken'
        return attrs.evolve(
            response, body=text[: max(1, len(text) // 2)], headers=_typed("application/json")
        )
    if fault.body is Body.HTML:
        page = _HTML % (response.status, response.status)
        return attrs.evolve(response, body=page, headers=_typed("text/html", response.headers))
    if fault.body is Body.EMPTY:
        return attrs.evolve(
            response, body=b"", headers=tuple(h for h in response.headers if h[0] != "content-type")
        )
    return response


def _typed(
    content_type: str, headers: tuple[tuple[str, str], ...] = ()
) -> tuple[tuple[str, str], ...]:
    kept = tuple(h for h in headers if h[0] != "content-type")
    return (("content-type", content_type), *kept)


def _registry() -> Mapping[str, Operation[Any]]:
    from refold_async.operations import OPERATIONS

    return OPERATIONS
