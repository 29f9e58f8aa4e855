"""The outcome of an attempt, and what the send loop makes of it.

- `Attempt`: the response of one attempt, or the httpx exception that replaced it;
- `failure_of()`: what the retry policy needs to know of a failed attempt;
- `error_of()`: the typed error the caller gets once no retry is left
  (docs/architecture.md §6): a status error from the body (`_payload`), or a connection
  error that keeps no httpx object (whose request holds the credential header);
- `slot_error()`: the typed error for a rate-limit slot further away than the call waits;
- `response_info()` and `decode_answer()`: a success's metadata, scrubbed of the client's
  secrets, and its body decoded into the operation's model (a page carries the metadata).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Generic, TypeVar, cast

import attrs
import httpx
from typing_extensions import override

from ._api_response import ResponseInfo
from ._auth import Secret
from ._errors import (
    APIConnectionError,
    APIDecodeError,
    APIStatusError,
    APITimeoutError,
    RateLimitError,
    RateLimitQueueTimeout,
)
from ._exchange import request_sent
from ._operation import Operation
from ._pagination import Page
from ._payload import decode_body, error_from_response, request_id_of, scrub
from ._ratelimit import SlotTooFar
from ._record import CallRecord
from ._redact import forms_of
from ._retry import Failure, FailureKind, parse_retry_after

__all__ = [
    "NOT_RESENT",
    "Attempt",
    "Decoder",
    "decode_answer",
    "error_of",
    "failure_of",
    "reason_of",
    "response_info",
    "slot_error",
]

T = TypeVar("T")

NOT_RESENT = (
    " (not retried: an upload is a file object that cannot seek back to its start; pass a "
    "pathlib.Path, bytes or a seekable file to let the SDK retry)"
)

# Raised before anything was sent and bound to fail again: never worth a retry.
_INVALID_REQUEST = (httpx.LocalProtocolError, httpx.UnsupportedProtocol)


@attrs.frozen
class Attempt:
    """The outcome of one attempt: a response, or the exception that replaced it."""

    response: httpx.Response | None
    error: httpx.HTTPError | None = None

    @property
    def status(self) -> int | None:
        return self.response.status_code if self.response is not None else None


def failure_of(outcome: Attempt) -> Failure:
    """What the retry policy weighs: the kind of failure, its status and `Retry-After`."""
    response = outcome.response
    if response is None:
        return Failure(kind=_failure_kind(outcome.error))
    status = response.status_code
    retry_after = parse_retry_after(
        response.headers.get("retry-after"), date=response.headers.get("date"), now=time.time()
    )
    kind = FailureKind.RATE_LIMITED if status == 429 else FailureKind.STATUS
    return Failure(kind=kind, status=status, retry_after=retry_after)


def reason_of(outcome: Attempt) -> str:
    """The failed attempt in a few words, for the log: `HTTP 503`, `ConnectTimeout`."""
    if outcome.response is not None:
        return f"HTTP {outcome.response.status_code}"
    return type(outcome.error).__name__


def error_of(
    op: Operation[Any],
    path: str,
    outcome: Attempt,
    failure: Failure,
    attempts: int,
    secrets: list[str],
) -> APIConnectionError | APIStatusError:
    """The typed error of the call's last attempt, its text scrubbed of `secrets`."""
    response = outcome.response
    if response is None:
        return _connection_error(op, path, outcome.error, attempts, secrets)
    return error_from_response(
        status=response.status_code,
        headers=response.headers,
        content=response.content,
        method=op.method,
        path=path,
        attempts=attempts,
        retry_after=failure.retry_after,
        secrets=secrets,
    )


def slot_error(
    op: Operation[Any], path: str, exc: SlotTooFar, attempts: int, queue_bound: float | None
) -> RateLimitError:
    """The typed error for a slot further away than the call may wait."""
    fields: dict[str, Any] = {
        "status": 429,
        "method": op.method,
        "path": path,
        "attempts": max(attempts, 1),
        "retry_after": exc.wait,
    }
    if exc.paused:
        return RateLimitError(
            f"the rate-limit bucket is paused for {exc.wait:.2f}s more after a 429, longer "
            "than this call's retry deadline allows; not sent",
            **fields,
        )
    return RateLimitQueueTimeout(
        f"the next rate-limit slot is {exc.wait:.2f}s away, past max_queue_wait="
        f"{queue_bound}s; not sent",
        slot_at=time.time() + exc.wait,
        **fields,
    )


def response_info(
    record: CallRecord, response: httpx.Response, secrets: tuple[Secret | None, ...]
) -> ResponseInfo:
    """The public metadata of a call that succeeded, scrubbed of its secrets."""
    headers = response.headers  # the response's only: never the request's credentials
    items = headers.multi_items()  # decoded once, names in lower case
    if _echoes(items, secrets):  # a proxy echoing a credential: a scrubbed copy
        items = [(name, scrub(value, secrets)) for name, value in items]
        headers = httpx.Headers(items)
    return ResponseInfo(
        operation_id=record.op.id,
        method=record.op.method,
        path=record.path,
        status_code=response.status_code,
        headers=headers,
        request_id=request_id_of(dict(items), ()),
        elapsed=record.elapsed,
        attempts=record.attempts,
        rate_limit_wait=record.rate_limit_wait,
        http_version=response.http_version,
    )


def decode_answer(
    op: Operation[T],
    path: str,
    content: bytes,
    info: ResponseInfo,
    secrets: Iterable[Secret | None],
) -> T:
    """The body decoded as `op` says; a page also gets the response's metadata."""
    try:
        result: Any = decode_body(
            op,
            status=info.status_code,
            content=content,
            path=path,
            headers=info.headers,
            secrets=secrets,
        )
    except APIDecodeError:
        # The body may echo a credential, and this frame outlives it (architecture §12).
        del content
        raise
    if isinstance(result, Page):
        # Just decoded, seen by no one yet: set in place, not copied (`attrs.evolve`
        # would run every field through `__init__` again).
        object.__setattr__(cast("object", result), "response", info)
    return cast("T", result)


class Decoder(Generic[T]):
    """Decodes one response's body when `APIResponse.parse()` asks.

    Its repr never shows the body, which may echo a credential (docs/architecture.md §12).
    """

    __slots__ = ("_content", "_info", "_op", "_path", "_secrets")

    def __init__(
        self,
        op: Operation[T],
        path: str,
        content: bytes,
        info: ResponseInfo,
        secrets: Iterable[Secret | None],
    ) -> None:
        self._op = op
        self._path = path
        self._content = content
        self._info = info
        self._secrets = secrets

    def __call__(self) -> T:
        return decode_answer(self._op, self._path, self._content, self._info, self._secrets)

    @override
    def __repr__(self) -> str:
        return f"<decoder of {self._op.id}>"


def _echoes(items: list[tuple[str, str]], secrets: tuple[Secret | None, ...]) -> bool:
    """Whether any header value holds any form of one of `secrets` (raw, escaped,
    percent-encoded); the secrets stay in their frames."""
    return any(
        form in value
        for secret in secrets
        if secret is not None
        for form in forms_of(secret.reveal())
        for _, value in items
    )


def _failure_kind(error: httpx.HTTPError | None) -> FailureKind:
    if isinstance(error, _INVALID_REQUEST):
        return FailureKind.INVALID
    if error is not None and request_sent(error) is False:
        return FailureKind.NOT_SENT
    return FailureKind.MAYBE_SENT


def _connection_error(
    op: Operation[Any], path: str, cause: httpx.HTTPError | None, attempts: int, secrets: list[str]
) -> APIConnectionError:
    """Our error for a failed exchange, caused by a copy of httpx's that holds no request.

    httpx exceptions keep the request, credential headers included (docs/architecture.md §6): the copy
    keeps only the class and the message, scrubbed of the call's secrets. The message
    names the host, the reason and whether the request left (`sent`), which decide on
    a retry.
    """
    cls = APITimeoutError if isinstance(cause, httpx.TimeoutException) else APIConnectionError
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    host = _host_of(cause)
    reason = "" if cause is None else scrub(_describe(cause), secrets)
    sent = request_sent(cause) if cause is not None else None
    error = cls(
        f"{op.method} {path}{' to ' + host if host else ''} failed{tries}: "
        f"{reason or 'no response'} ({_SENT_TEXT[sent]})",
        method=op.method,
        path=path,
        attempts=attempts,
        host=host,
        reason=reason,
        sent=sent,
    )
    if cause is not None:
        error.__cause__ = _detached(cause, secrets)
    return error


_REASON_CHARS = 300
_SENT_TEXT = {
    True: "the request was sent",
    False: "the request was not sent",
    None: "the request may have been sent",
}


def _describe(cause: httpx.HTTPError) -> str:
    """httpx's class and message, on one line and not too long."""
    name = type(cause).__name__
    text = " ".join(str(cause).split())
    if len(text) > _REASON_CHARS:
        text = text[: _REASON_CHARS - 1] + "…"
    return f"{name}: {text}" if text else name


def _host_of(cause: httpx.HTTPError | None) -> str | None:
    if not isinstance(cause, httpx.RequestError):
        return None
    try:
        return cause.request.url.host or None
    except RuntimeError:  # raised by httpx when no request is attached
        return None


def _detached(cause: httpx.HTTPError, secrets: list[str]) -> BaseException:
    message = scrub(str(cause), secrets)
    try:
        copy: BaseException = type(cause)(message)
    except TypeError:  # an exception class with another constructor
        copy = httpx.TransportError(message)
    copy.__suppress_context__ = True
    return copy
