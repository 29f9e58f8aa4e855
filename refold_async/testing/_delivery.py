"""Webhook deliveries: what the emulator POSTs to registered webhooks, signed, with retries.

Handlers record events (`Backend.emit`) while they hold the emulator's lock; the
emulator's pump then turns each into one delivery per enabled webhook of that world that
subscribes to its type, and sends the deliveries that are due, outside the lock:

- the body is the event as JSON, signed in `x-cobalt-signature` with
  `refold_async.webhooks.sign` keyed by the world's API key, as Refold signs them;
- a URL routed to an in-process receiver (`Emulator.route_webhooks`) is answered by that
  callable; any other URL must be on loopback, where it is sent over HTTP; anything else
  is refused and recorded as failed, never sent (tests must not reach the network);
- an answer other than 2xx, an exception or a connection failure is retried after each of
  `retry_delays` seconds of the emulator's clock, then given up;
- every attempt is kept in `Outbox.deliveries` (a `Delivery`), with the exact body and
  signature, so a test can verify it as a receiver would.
"""

from __future__ import annotations

import heapq
import inspect
import ipaddress
import itertools
import json
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import attrs
import httpx

from ._http import byte_count
from ._state import Document, World

__all__ = ["Delivery", "Outbox", "WebhookReceiver"]

WebhookReceiver = Callable[[bytes, Mapping[str, str]], "int | Awaitable[int | None] | None"]
"""An in-process webhook endpoint: `(body, headers) -> status` (`None` means 200); may be async."""

DEFAULT_RETRY_DELAYS = (1.0, 10.0, 60.0)
"""Seconds (emulator clock) before each retry of a failed delivery: 4 attempts in all."""

SEND_TIMEOUT = 10.0
"""Seconds a loopback receiver has to answer one delivery (real time)."""


@attrs.frozen(kw_only=True)
class Delivery:
    """One attempt to deliver one event to one webhook.

    Attributes:
        event: The event's type, e.g. `"Workflow Completed"`.
        webhook_id: The webhook's `_id`.
        url: Where it went (or was refused).
        attempt: 1 for the first try, 2 for the first retry, ...
        status: The receiver's HTTP status, `None` when there was no answer.
        ok: Whether the receiver took it (a 2xx).
        error: Why it failed without a status (refused, connection error, exception).
        body: The exact bytes sent: verify them with `parse_event(body, signature, ...)`.
        signature: The `x-cobalt-signature` header sent with them.
        at: When (emulator clock, `now()`) the attempt was made.
        final: Whether no further attempt follows this one.
    """

    event: str
    webhook_id: str
    url: str
    attempt: int
    status: int | None
    ok: bool
    error: str | None
    body: bytes = attrs.field(repr=byte_count)
    signature: str = attrs.field(repr=False)
    at: float
    final: bool

    @property
    def payload(self) -> dict[str, Any]:
        """The body decoded (for assertions)."""
        decoded: dict[str, Any] = json.loads(self.body)
        return decoded


@attrs.define(kw_only=True)
class _Pending:
    event: str
    webhook: Document
    body: bytes
    signature: str = attrs.field(repr=False)
    attempt: int = 1


class Outbox:
    """Deliveries waiting to be sent, and every attempt made so far."""

    def __init__(self, retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS) -> None:
        if any(not delay >= 0 for delay in retry_delays):
            raise ValueError("retry delays are seconds, not negative")
        self.retry_delays = tuple(retry_delays)
        self.deliveries: list[Delivery] = []
        self._receivers: dict[str, WebhookReceiver] = {}
        self._queue: list[tuple[float, int, _Pending]] = []
        self._order = itertools.count()
        self._lock = threading.Lock()

    def route(self, url: str, receiver: WebhookReceiver) -> None:
        """Deliver what goes to `url` to `receiver`, in-process, instead of over HTTP."""
        if not callable(receiver):
            raise TypeError("a webhook receiver is a callable (body, headers) -> status")
        self._receivers[url] = receiver

    def enqueue(self, world: World, event: str, payload: Mapping[str, Any], now: float) -> None:
        """Queue `event` for every enabled webhook of `world` subscribed to it."""
        from refold_async.webhooks import sign

        targets = [hook for hook in world.webhooks.values() if _subscribed(hook, event, payload)]
        if not targets:
            return
        body = json.dumps(dict(payload), separators=(",", ":")).encode()
        signature = sign(body, world.api_key)
        with self._lock:
            for hook in targets:
                pending = _Pending(event=event, webhook=hook, body=body, signature=signature)
                heapq.heappush(self._queue, (now, next(self._order), pending))

    def next_due(self) -> float | None:
        """When the earliest waiting delivery is due, if any."""
        with self._lock:
            return self._queue[0][0] if self._queue else None

    def _take_due(self, now: float) -> list[_Pending]:
        with self._lock:
            due: list[_Pending] = []
            while self._queue and self._queue[0][0] <= now:
                due.append(heapq.heappop(self._queue)[2])
            return due

    async def send_due(self, now: float) -> list[Delivery]:
        """Send every delivery due by `now`; returns the attempts made."""
        made: list[Delivery] = []
        for pending in self._take_due(now):
            status, error, retry = await self._send(pending)
            ok = status is not None and 200 <= status < 300
            final = ok or not retry or pending.attempt > len(self.retry_delays)
            delivery = Delivery(
                event=pending.event, webhook_id=str(pending.webhook.get("_id", "")),
                url=str(pending.webhook.get("webhook_url", "")), attempt=pending.attempt,
                status=status, ok=ok, error=error, body=pending.body,
                signature=pending.signature, at=now, final=final,
            )  # fmt: skip
            made.append(delivery)
            if not final:
                delay = self.retry_delays[pending.attempt - 1]
                pending.attempt += 1
                with self._lock:
                    heapq.heappush(self._queue, (now + delay, next(self._order), pending))
        with self._lock:
            self.deliveries.extend(made)
        return made

    async def _send(self, pending: _Pending) -> tuple[int | None, str | None, bool]:
        """`(status, error, worth retrying)` for one attempt."""
        hook = pending.webhook
        url = str(hook.get("webhook_url", ""))
        headers = {
            **{str(k): str(v) for k, v in dict(hook.get("webhook_headers") or {}).items()},
            "content-type": "application/json",
            "user-agent": "refold-emulator",
            "x-cobalt-signature": pending.signature,
        }
        receiver = self._receivers.get(url)
        if receiver is not None:
            try:
                answer = receiver(pending.body, headers)
                if inspect.isawaitable(answer):
                    answer = await answer
            except Exception as error:  # the receiver's failure is the delivery's
                return None, f"the receiver raised {type(error).__name__}", True
            return (200 if answer is None else int(answer)), None, True
        if not _on_loopback(url):
            return None, "refused: the emulator delivers only to loopback or routed URLs", False
        try:
            async with httpx.AsyncClient(timeout=SEND_TIMEOUT) as http:
                response = await http.request(
                    str(hook.get("method") or "POST"), url, content=pending.body, headers=headers
                )
        except httpx.HTTPError as error:
            return None, f"{type(error).__name__}", True
        return response.status_code, None, True


def _subscribed(hook: Document, event: str, payload: Mapping[str, Any]) -> bool:
    if not hook.get("is_enabled", True) or event not in (hook.get("webhook_events") or ()):
        return False
    workflows: list[Any] = hook.get("workflow_ids") or []
    return not workflows or "workflow_id" not in payload or payload["workflow_id"] in workflows


def _on_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
