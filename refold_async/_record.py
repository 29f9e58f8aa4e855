"""What the transport measures of one call, written once and read by logs, traces and raw responses.

A `CallRecord` is made when a call starts and filled in as it goes: one object per call,
whether anyone reads it or not, so the send loop stays the only place that measures.
The `refold` logger's per-call line, the OpenTelemetry span and `APIResponse` all read the
same record. It holds no secret and no httpx object.
"""

from __future__ import annotations

import logging
import time
from typing import Any, NamedTuple

from ._operation import Operation

__all__ = ["CallRecord", "Retry", "log_call"]

logger = logging.getLogger("refold")


class Retry(NamedTuple):
    """A retry decided during a call: which attempt failed, why, and the wait before the next."""

    attempt: int
    reason: str  # "HTTP 503", or the error's class name ("ConnectTimeout")
    delay: float
    at_ns: int  # wall clock (`time.time_ns()`), for a span event's timestamp


class CallRecord:
    """One call's measurements.

    Attributes:
        op: The operation called.
        path: The filled path (no query string).
        started: The clock's reading when the call started (before its limiter wait).
        attempts: The attempts sent so far.
        rate_limit_wait: Seconds spent waiting for rate-limit slots, over all attempts.
        elapsed: Seconds the whole call took, once it ended.
        status_code: The last attempt's HTTP status, if one answered.
        http_version: That answer's HTTP version (`"HTTP/1.1"`, `"HTTP/2"`).
        error_type: The class name of the error the call raised, if it failed.
        retries: One `Retry` per retry decided, in order (`None` before the first).
    """

    __slots__ = (
        "attempts",
        "elapsed",
        "error_type",
        "http_version",
        "op",
        "path",
        "rate_limit_wait",
        "retries",
        "started",
        "status_code",
    )

    op: Operation[Any]
    path: str
    started: float
    attempts: int
    rate_limit_wait: float
    elapsed: float
    status_code: int | None
    http_version: str | None
    error_type: str | None
    retries: list[Retry] | None

    def __init__(self, op: Operation[Any], path: str, started: float) -> None:
        self.op = op
        self.path = path
        self.started = started
        self.attempts = 0
        self.rate_limit_wait = 0.0
        self.elapsed = 0.0
        self.status_code = None
        self.http_version = None
        self.error_type = None
        self.retries = None

    def retrying(self, attempt: int, reason: str, delay: float) -> None:
        """Note that attempt `attempt` failed for `reason` and is retried in `delay` s."""
        if self.retries is None:
            self.retries = []
        self.retries.append(Retry(attempt, reason, delay, time.time_ns()))

    def __repr__(self) -> str:
        return (
            f"<CallRecord {self.op.id} status={self.status_code} attempts={self.attempts} "
            f"elapsed={self.elapsed:.3f}s rate_limit_wait={self.rate_limit_wait:.3f}s>"
        )


def log_call(record: CallRecord, request_id: str | None) -> None:
    """The call's one INFO line: operation, outcome, attempts, time and limiter wait."""
    op = record.op
    outcome = (
        f"{record.status_code}"
        if record.error_type is None
        else f"{record.error_type}"
        f"{'' if record.status_code is None else f' (HTTP {record.status_code})'}"
    )
    logger.info(
        "%s %s %s -> %s in %.3fs (attempts %d, rate-limit wait %.3fs, request id %s)",
        op.id,
        op.method,
        record.path,
        outcome,
        record.elapsed,
        record.attempts,
        record.rate_limit_wait,
        request_id or "-",
    )
