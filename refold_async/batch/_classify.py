"""Which state a finished item ends in: the rules of `unknown` (docs/architecture.md §11).

The API has no idempotency keys, so a POST or PATCH whose answer was lost may or may not
have taken effect. A call *ends unknown* when it is not safe to repeat and its last
attempt may have reached the server without a usable answer:

- a dropped connection or a timeout after the request may have left (a failure to
  connect, or an error raised before sending, is not: nothing left);
- a 500, 502 or 504: a gateway that lost the upstream's answer (502, 504), or a server
  error after the work may have been partly done (500);
- a 2xx whose body could not be read (`APIDecodeError`): the work was done, the answer lost;
- an attempt still in flight when the item was cancelled.

A 503 (the server refused the request: overloaded or down), a 408 and every 4xx end
`failed`: the server says it did not do the work, so running the item again is safe.
Idempotent methods (GET, PUT, DELETE, HEAD) never end unknown: repeating them is safe.
Minting a session token is treated as safe to repeat too (it only issues a fresh token).
"""

from __future__ import annotations

import enum

from refold_async._errors import (
    APIConnectionError,
    APIDecodeError,
    RefoldUsageError,
    ServerError,
)

__all__ = [
    "SAFE_TO_REPEAT",
    "UNKNOWN_STATUSES",
    "AttemptEnd",
    "attempt_end",
    "error_is_unknown",
]

UNKNOWN_STATUSES = frozenset({500, 502, 504})
"""Answers to a POST or PATCH after which the work may or may not have been done."""

SAFE_TO_REPEAT = frozenset({"generateSessionTokenForLinkedAccount"})
"""Non-idempotent operations that are harmless to send twice."""

NON_IDEMPOTENT = frozenset({"POST", "PATCH"})

# httpx's exceptions raised before a byte of the request left (docs/architecture.md §5). Named, not
# imported: only the transport imports httpx.
_NOT_SENT_ERRORS = frozenset(
    {"ConnectError", "ConnectTimeout", "PoolTimeout", "LocalProtocolError", "UnsupportedProtocol"}
)


class AttemptEnd(str, enum.Enum):
    """How one attempt of a call ended, as far as repeating it is concerned."""

    ANSWERED = "answered"
    """A response that says whether the work was done (2xx, 4xx, 503, ...)."""

    NOT_SENT = "not_sent"
    """Nothing reached the server."""

    MAYBE_DONE = "maybe_done"
    """The request may have reached the server, and its answer was lost."""


def is_repeatable(method: str, operation_id: str) -> bool:
    """Whether sending this operation twice is harmless."""
    return method not in NON_IDEMPOTENT or operation_id in SAFE_TO_REPEAT


def attempt_end(status: int | None, error: BaseException | None) -> AttemptEnd:
    """Classify one attempt from the transport's view of it."""
    if status is not None:
        return AttemptEnd.MAYBE_DONE if status in UNKNOWN_STATUSES else AttemptEnd.ANSWERED
    if error is not None and any(cls.__name__ in _NOT_SENT_ERRORS for cls in type(error).__mro__):
        return AttemptEnd.NOT_SENT
    return AttemptEnd.MAYBE_DONE


def error_is_unknown(error: BaseException) -> bool:
    """Whether `error`, raised by a call, leaves its work undetermined.

    Used for errors raised by calls no observer watched; the observer's view wins when
    there is one. A connection error that says it was not sent (`sent is False`) is not.
    """
    if isinstance(error, RefoldUsageError):
        return False
    method = getattr(error, "method", "")
    if method not in NON_IDEMPOTENT:
        return False
    if isinstance(error, APIConnectionError):
        return getattr(error, "sent", None) is not False
    if isinstance(error, ServerError):
        return error.status in UNKNOWN_STATUSES
    return isinstance(error, APIDecodeError)
