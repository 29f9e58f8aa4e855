"""Faults on demand: error statuses, latency, dropped connections and broken bodies.

A `Fault` says what goes wrong; `Faults.add()` arms one for the next `count` matching
requests (by operation id, path prefix or method), `Faults.random()` arms a seeded
random mode. The emulator asks `Faults.pick()` once per request, before anything else
happens to it, the way a gateway in front of the API would fail.

A fault with a `status` answers at once and the request never reaches the API. A fault
without one lets the request be handled, then spoils the exchange: `delay` first, and
afterwards a broken `body` or a `drop` (the caller cannot tell whether it took effect).
"""

from __future__ import annotations

import enum
import random
import threading
from collections.abc import Sequence

import attrs

from ._http import Drop

__all__ = ["Body", "Drop", "Fault", "Faults"]


class Body(str, enum.Enum):
    """What a faulted response carries."""

    ENVELOPE = "envelope"
    """The API's JSON error envelope (for a status fault) or the real body."""

    MALFORMED = "malformed"
    """Truncated JSON."""

    HTML = "html"
    """An HTML page, as gateways answer."""

    EMPTY = "empty"
    """No body at all."""


@attrs.frozen(kw_only=True)
class Fault:
    """One kind of failure.

    Attributes:
        status: Answer this status instead of handling the request (`None`: handle it).
        delay: Seconds of latency before anything else (on the emulator's clock).
        body: The response body's shape.
        drop: End with a dropped connection, a failed connect or a read timeout.
        retry_after: A `Retry-After` header value to send with the status.
    """

    status: int | None = None
    delay: float = 0.0
    body: Body = Body.ENVELOPE
    drop: Drop | None = None
    retry_after: str | None = None

    @property
    def label(self) -> str:
        """A short name for reports: `503`, `drop:connect`, `body:html`, `delay:0.5`."""
        if self.drop is not None:
            return f"drop:{self.drop.value}"
        if self.status is not None:
            return (
                str(self.status)
                if self.body is Body.ENVELOPE
                else f"{self.status}:{self.body.value}"
            )
        if self.body is not Body.ENVELOPE:
            return f"body:{self.body.value}"
        return f"delay:{self.delay:g}"


@attrs.define(kw_only=True)
class _Armed:
    fault: Fault
    remaining: int | None
    operation: str | None
    path: str | None
    method: str | None

    def matches(self, operation: str | None, path: str, method: str) -> bool:
        return (
            (self.operation is None or self.operation == operation)
            and (self.path is None or path.startswith(self.path))
            and (self.method is None or self.method == method)
        )


DEFAULT_RANDOM_FAULTS: tuple[Fault, ...] = (
    Fault(status=503),
    Fault(status=502, body=Body.HTML),
    Fault(status=500, body=Body.EMPTY),
    Fault(status=429, retry_after="0"),
    Fault(drop=Drop.CONNECT),
    Fault(drop=Drop.DISCONNECT),
)
"""What `Faults.random()` draws from unless told otherwise: all retryable by GETs."""


class Faults:
    """The fault plan of one emulator.

    Example:
        ```python
        emulator.faults.add(status=503, count=2, operation="listLinkedAccounts")
        emulator.faults.add(drop="disconnect", method="POST")
        emulator.faults.add(status=200, body="malformed", path="/api/v2/public/webhook")
        emulator.faults.random(rate=0.1, seed=1)
        ```
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[_Armed] = []
        self._random: tuple[float, random.Random, tuple[Fault, ...]] | None = None
        self.injected: list[tuple[str, str]] = []
        """(operation id or path, fault label) for every fault injected, in order."""

    def add(
        self,
        *,
        status: int | None = None,
        count: int | None = 1,
        operation: str | None = None,
        path: str | None = None,
        method: str | None = None,
        delay: float = 0.0,
        body: Body | str = Body.ENVELOPE,
        drop: Drop | str | None = None,
        retry_after: float | str | None = None,
    ) -> Fault:
        """Arm a fault for the next `count` matching requests (`None`: every one).

        Args:
            status: Answer this status instead of handling the request.
            count: How many requests it hits; `None` keeps it armed until `clear()`.
            operation: Only requests routed to this operation id.
            path: Only requests whose path starts with this.
            method: Only requests with this HTTP method.
            delay: Seconds of latency first.
            body: `"envelope"`, `"malformed"`, `"html"` or `"empty"`.
            drop: `"connect"`, `"disconnect"` or `"timeout"`.
            retry_after: A `Retry-After` value to send with `status`.
        """
        fault = Fault(
            status=status,
            delay=delay,
            body=Body(body),
            drop=Drop(drop) if drop is not None else None,
            retry_after=None if retry_after is None else str(retry_after),
        )
        if fault == Fault():
            raise ValueError("a fault needs a status, a delay, a body or a drop")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1 (or None for every request)")
        armed = _Armed(
            fault=fault,
            remaining=count,
            operation=operation,
            path=path,
            method=method.upper() if method else None,
        )
        with self._lock:
            self._armed.append(armed)
        return fault

    def random(
        self, *, rate: float = 0.1, seed: int = 0, faults: Sequence[Fault] = DEFAULT_RANDOM_FAULTS
    ) -> None:
        """Fault each request with probability `rate`, drawn from `faults` by a seeded RNG."""
        if not 0.0 <= rate <= 1.0 or not faults:
            raise ValueError("rate must be within [0, 1] and faults may not be empty")
        with self._lock:
            # Not cryptography: a seeded, reproducible fault sequence.
            self._random = (rate, random.Random(seed), tuple(faults))  # noqa: S311

    def clear(self) -> None:
        """Disarm everything, the random mode included."""
        with self._lock:
            self._armed.clear()
            self._random = None

    @property
    def pending(self) -> int:
        """How many armed faults still have requests to hit (unbounded ones count once)."""
        with self._lock:
            return len(self._armed)

    def pick(self, operation: str | None, path: str, method: str) -> Fault | None:
        """The fault for this request, if any; consumes one use of it."""
        with self._lock:
            fault = self._take_armed(operation, path, method) or self._draw()
            if fault is not None:
                self.injected.append((operation or path, fault.label))
            return fault

    def _take_armed(self, operation: str | None, path: str, method: str) -> Fault | None:
        for armed in self._armed:
            if not armed.matches(operation, path, method):
                continue
            if armed.remaining is not None:
                armed.remaining -= 1
                if armed.remaining <= 0:
                    self._armed.remove(armed)
            return armed.fault
        return None

    def _draw(self) -> Fault | None:
        if self._random is None:
            return None
        rate, rng, choices = self._random
        if rng.random() >= rate:
            return None
        return rng.choice(choices)
