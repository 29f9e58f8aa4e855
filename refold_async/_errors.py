"""The SDK's error tree (docs/architecture.md §6). Every exception the SDK raises is a `RefoldError`.

```
RefoldError
├── RefoldUsageError            raised before anything is sent
│   ├── MissingCredentialError  (.needs: the credential the call needs)
│   │   └── LinkedAccountScopeError  a scoped client, another account's id (.allowed)
│   ├── MissingLinkedAccountError
│   ├── InvalidArgumentError    (also a ValueError)
│   │   └── UnknownArgumentError  a misspelled keyword (also a TypeError)
│   └── EnvironmentMismatchError
├── ClientClosedError           the call was cut off by interpreter exit (.sent)
├── APIConnectionError          no usable response (.host .reason .sent .attempts)
│   └── APITimeoutError
├── APIResponseTooLargeError    a body past max_response_bytes (.limit .status_code)
├── APIRedirectError            a redirect the SDK will not follow (.location .status_code)
├── APIDecodeError              a 2xx body that does not fit its model (.problems)
├── APIStatusError              .status_code .code .message .method .path .request_id .attempts
│   ├── BadRequestError 400, AuthenticationError 401, PermissionDeniedError 403,
│   │   NotFoundError 404, ConflictError 409, UnprocessableEntityError 422
│   ├── RateLimitError 429 (.retry_after)
│   │   └── RateLimitQueueTimeout   the slot is further away than max_queue_wait
│   └── ServerError 5xx
└── WebhookSignatureError       (also a ValueError)
    └── WebhookReplayError      a verified event the replay guard refuses (.reason)
```

Errors hold plain values only, never live httpx requests or responses (their headers
carry credentials), so no secret can reach a message, a repr or a pickle. An error that
carries an HTTP status has it as `status_code` (and as `status`, its older name).
"""

from __future__ import annotations

from typing import Any, Literal

from typing_extensions import override

__all__ = [
    "APIConnectionError",
    "APIDecodeError",
    "APIRedirectError",
    "APIResponseTooLargeError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConflictError",
    "EnvironmentMismatchError",
    "InvalidArgumentError",
    "LinkedAccountScopeError",
    "MissingCredentialError",
    "MissingLinkedAccountError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimitQueueTimeout",
    "RefoldError",
    "RefoldUsageError",
    "ServerError",
    "UnknownArgumentError",
    "UnprocessableEntityError",
    "WebhookReplayError",
    "WebhookSignatureError",
    "stale_loop_error",
    "status_error_class",
]

BODY_EXCERPT_CHARS = 200


class RefoldError(Exception):
    """The root of every error the SDK raises."""

    __module__ = "refold_async"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @override
    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild from the instance dict so subclasses with keyword-only state pickle.
        return (_rebuild, (type(self), self.__dict__))


def _rebuild(cls: type[RefoldError], state: dict[str, Any]) -> RefoldError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    return error


class RefoldUsageError(RefoldError):
    """The call cannot be made as asked; nothing was sent."""

    __module__ = "refold_async"


class MissingCredentialError(RefoldUsageError):
    """The client holds no credential that the operation accepts; nothing was sent.

    Attributes:
        needs: The credential the call needs: `"api_key"`, `"session_token"`,
            `"api_key or session_token"`, or `None` when not said.
    """

    __module__ = "refold_async"

    def __init__(self, message: str, *, needs: str | None = None) -> None:
        super().__init__(message)
        self.needs = needs


class LinkedAccountScopeError(MissingCredentialError):
    """A scoped client was asked to act for another linked account; nothing was sent.

    A client made with a session token, or pinned to one linked account (`linked_account_id=`,
    `for_linked_account()`, `for_session_token()`), acts for that account only: a call
    naming another one (in an argument, a header, the query, the path or the body) is
    refused before sending.

    Attributes:
        allowed: The one linked account the client may act for, or `None` for a session
            token whose account the client was not told (it may then name none).
    """

    __module__ = "refold_async"

    def __init__(
        self, message: str, *, needs: str | None = None, allowed: str | None = None
    ) -> None:
        super().__init__(message, needs=needs)
        self.allowed = allowed


class MissingLinkedAccountError(RefoldUsageError):
    """The operation acts on one linked account, and none was named."""

    __module__ = "refold_async"


class InvalidArgumentError(RefoldUsageError, ValueError):
    """An argument cannot be sent as given (a control character in a header, say)."""

    __module__ = "refold_async"


class UnknownArgumentError(InvalidArgumentError, TypeError):
    """A keyword argument that the constructor or method does not take (a misspelling, say).

    A `TypeError`, as Python raises for an unexpected keyword, and an
    `InvalidArgumentError`; the message names the nearest known keyword.
    """

    __module__ = "refold_async"


class _HasHTTPStatus:
    """The HTTP status an error carries, as `status_code` (openai's and httpx's name)."""

    status: int

    @property
    def status_code(self) -> int:
        """The response's HTTP status; `status` is the same value under its older name."""
        return self.status


class EnvironmentMismatchError(RefoldUsageError):
    """The API key belongs to another environment than the client expects."""

    __module__ = "refold_async"


class ClientClosedError(RefoldError):
    """The call could not finish: the SDK's event loop stopped, at interpreter exit.

    Raised by the blocking client (`refold_sync`) for a call still in flight when the
    interpreter began to exit, and for a call made after that (from a daemon thread, or
    an `atexit` hook that runs after the SDK's own). Not a `RefoldUsageError`: a call in
    flight may have reached the server.

    Attributes:
        sent: `False` when the call never started (nothing was sent), `None` when it was
            in flight and its request may have been sent.
    """

    __module__ = "refold_async"

    def __init__(self, message: str, *, sent: bool | None = None) -> None:
        super().__init__(message)
        self.sent = sent


class APIConnectionError(RefoldError):
    """No usable response arrived: the connection failed or was dropped.

    Attributes:
        method: The request's HTTP method.
        path: The request's path.
        attempts: How many times the request was tried.
        host: The host the last attempt went to, if known.
        reason: What went wrong, in httpx's words (scrubbed of the call's secrets).
        sent: Whether the last attempt's request left this machine: `False` when it
            surely did not (a refused connection: safe to send again), `True` when its
            headers were written, `None` when that is not known.
    """

    __module__ = "refold_async"

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        path: str = "",
        attempts: int = 1,
        host: str | None = None,
        reason: str = "",
        sent: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.path = path
        self.attempts = attempts
        self.host = host
        self.reason = reason
        self.sent = sent


class APITimeoutError(APIConnectionError):
    """The request timed out: one attempt outlived `timeout` (or one of its phases did)."""

    __module__ = "refold_async"


class APIResponseTooLargeError(_HasHTTPStatus, RefoldError):
    """The response body grew past `max_response_bytes`; it was dropped unread. Not retried.

    The size is counted on the decoded bytes as they arrive, so a compressed body that
    would inflate past the limit stops there.

    Attributes:
        method: The request's HTTP method.
        path: The request's path.
        status_code: The response's HTTP status (also `status`).
        limit: The limit in bytes that the body passed.
        attempts: How many times the request was tried.
    """

    __module__ = "refold_async"

    def __init__(
        self, message: str, *, method: str, path: str, status: int, limit: int, attempts: int = 1
    ) -> None:
        super().__init__(message)
        self.method = method
        self.path = path
        self.status = status
        self.limit = limit
        self.attempts = attempts


class APIRedirectError(_HasHTTPStatus, RefoldError):
    """The server redirected the request somewhere the SDK will not follow. Not retried.

    A redirect is followed only when the `httpx.AsyncClient` asks for it
    (`follow_redirects=True`), only to the same origin (so credentials never reach
    another host), and never to plain `http` off loopback.

    Attributes:
        method: The request's HTTP method.
        path: The request's path.
        status_code: The redirect's HTTP status (also `status`).
        location: The target's origin (`scheme://host:port`), no path or query.
        attempts: How many times the request was tried.
    """

    __module__ = "refold_async"

    def __init__(
        self,
        message: str,
        *,
        method: str,
        path: str,
        status: int,
        location: str,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.path = path
        self.status = status
        self.location = location
        self.attempts = attempts


class APIDecodeError(_HasHTTPStatus, RefoldError):
    """A successful response's body does not fit the operation's model.

    Attributes:
        problems: Where and why decoding failed, one line per problem.
        status_code: The response's HTTP status (also `status`).
        method: The request's HTTP method.
        path: The request's path.
        request_id: The server's request id header, if it sent one.

    The message and problems are scrubbed of the call's credentials, like a status
    error's: a gateway page that echoes the key does not carry it here.
    """

    __module__ = "refold_async"

    def __init__(
        self,
        message: str,
        *,
        problems: list[str],
        status: int,
        method: str,
        path: str,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.problems = problems
        self.status = status
        self.method = method
        self.path = path
        self.request_id = request_id


class APIStatusError(_HasHTTPStatus, RefoldError):
    """The API answered with an error status.

    Attributes:
        status_code: The HTTP status code (also `status`).
        code: The API's internal error code (`error` or `error_code` in the body).
        message: The API's message, or a short excerpt of a non-JSON body.
        method: The request's HTTP method.
        path: The request's path (no query string).
        request_id: The server's request id header, if it sent one.
        body: The decoded JSON body, or the raw text excerpt.
        attempts: How many times the request was tried.
    """

    __module__ = "refold_async"

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        method: str = "",
        path: str = "",
        request_id: str | None = None,
        body: object = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.method = method
        self.path = path
        self.request_id = request_id
        self.body = body
        self.attempts = attempts

    @override
    def __str__(self) -> str:
        code = f" [{self.code}]" if self.code else ""
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        return f"{self.status}{code} on {self.method} {self.path}{tries}: {self.message}"

    @override
    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"method={self.method!r}, path={self.path!r}, message={self.message!r})"
        )


class BadRequestError(APIStatusError):
    """400: the API rejected the request's content."""

    __module__ = "refold_async"


class AuthenticationError(APIStatusError):
    """401: the credential is unknown, revoked or expired."""

    __module__ = "refold_async"


class PermissionDeniedError(APIStatusError):
    """403: the credential may not perform this operation."""

    __module__ = "refold_async"


class NotFoundError(APIStatusError):
    """404: no such resource."""

    __module__ = "refold_async"


class ConflictError(APIStatusError):
    """409: the request conflicts with the resource's current state."""

    __module__ = "refold_async"


class UnprocessableEntityError(APIStatusError):
    """422: the request was well-formed but its values were refused."""

    __module__ = "refold_async"


class RateLimitError(APIStatusError):
    """429: the rate limit was exceeded and retrying was not possible or allowed.

    Attributes:
        retry_after: Seconds the server asked to wait, if it said.
    """

    __module__ = "refold_async"

    def __init__(self, message: str, *, retry_after: float | None = None, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.retry_after = retry_after


class RateLimitQueueTimeout(RateLimitError):
    """The next rate-limit slot is further away than `max_queue_wait` allowed.

    Raised by the client, not the server: the request was not sent (this time), and the
    bucket's budget was not used. The refusal is judged against the limiter's shared
    state (the host's bucket file, or Redis), so it comes at once, not after the bound.

    Attributes:
        retry_after: Seconds from the refusal until the slot would have come.
        slot_at: When that was, as a Unix time (`time.time()`); None if not known.
    """

    __module__ = "refold_async"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        slot_at: float | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(message, retry_after=retry_after, **fields)
        self.slot_at = slot_at


class ServerError(APIStatusError):
    """5xx: the API failed to handle the request."""

    __module__ = "refold_async"


class WebhookSignatureError(RefoldError, ValueError):
    """A webhook's `x-cobalt-signature` does not match its body."""

    __module__ = "refold_async"


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status: int) -> type[APIStatusError]:
    """The error class for an HTTP status (`ServerError` for any 5xx)."""
    if status >= 500:
        return ServerError
    return _STATUS_ERRORS.get(status, APIStatusError)


def stale_loop_error(error: RuntimeError) -> RefoldUsageError | None:
    """The usage error for asyncio's "Event loop is closed" raised by a caller's pool.

    A pool the client made itself never raises it (`PerLoopPool`); an `http_client=` of
    the caller's does once the loop that opened its connections has closed.
    """
    if str(error) != "Event loop is closed":
        return None
    return RefoldUsageError(
        "the http_client= given to this client holds connections of an event loop that "
        "has closed (an earlier asyncio.run()?); an httpx.AsyncClient belongs to the loop "
        "that first used it: make one per loop (async with httpx.AsyncClient() ... inside "
        "it), or leave http_client= out and the client keeps a pool per loop itself"
    )


class WebhookReplayError(WebhookSignatureError):
    """A correctly signed webhook event that the replay guard refuses.

    The signature covers only the body, so a captured delivery verifies again when it is
    re-sent; the guard refuses an event it has already seen or one too old to judge.

    Attributes:
        reason: `"duplicate"` (seen before: a redelivery or a replay), `"stale"` (older
            than the guard's window) or `"future"` (dated further ahead than the window).
        dedup_key: The event's identity, as the guard's store knows it.
    """

    __module__ = "refold_async"

    def __init__(
        self, message: str, *, reason: Literal["duplicate", "stale", "future"], dedup_key: str
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.dedup_key = dedup_key
