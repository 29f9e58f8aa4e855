"""The SDK's error tree (DESIGN §6). Every exception the SDK raises is a `RefoldError`.

```
RefoldError
├── RefoldUsageError            raised before anything is sent
│   ├── MissingCredentialError
│   ├── MissingLinkedAccountError
│   ├── InvalidArgumentError    (also a ValueError)
│   └── EnvironmentMismatchError
├── APIConnectionError          no usable response (.attempts)
│   └── APITimeoutError
├── APIDecodeError              a 2xx body that does not fit its model (.problems)
├── APIStatusError              .status .code .message .method .path .request_id .attempts
│   ├── BadRequestError 400, AuthenticationError 401, PermissionDeniedError 403,
│   │   NotFoundError 404, ConflictError 409, UnprocessableEntityError 422
│   ├── RateLimitError 429 (.retry_after)
│   └── ServerError 5xx
└── WebhookSignatureError       (also a ValueError)
    └── WebhookReplayError      a verified event the replay guard refuses (.reason)
```

Errors hold plain values only, never live httpx requests or responses (their headers
carry credentials), so no secret can reach a message, a repr or a pickle.
"""

from __future__ import annotations

from typing import Any, Literal

from typing_extensions import override

__all__ = [
    "APIConnectionError",
    "APIDecodeError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "EnvironmentMismatchError",
    "InvalidArgumentError",
    "MissingCredentialError",
    "MissingLinkedAccountError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RefoldError",
    "RefoldUsageError",
    "ServerError",
    "UnprocessableEntityError",
    "WebhookReplayError",
    "WebhookSignatureError",
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
    """The client holds no credential that the operation accepts."""

    __module__ = "refold_async"


class MissingLinkedAccountError(RefoldUsageError):
    """The operation acts on one linked account, and none was named."""

    __module__ = "refold_async"


class InvalidArgumentError(RefoldUsageError, ValueError):
    """An argument cannot be sent as given (a control character in a header, say)."""

    __module__ = "refold_async"


class EnvironmentMismatchError(RefoldUsageError):
    """The API key belongs to another environment than the client expects."""

    __module__ = "refold_async"


class APIConnectionError(RefoldError):
    """No usable response arrived: the connection failed or was dropped.

    Attributes:
        method: The request's HTTP method.
        path: The request's path.
        attempts: How many times the request was tried.
    """

    __module__ = "refold_async"

    def __init__(
        self, message: str, *, method: str = "", path: str = "", attempts: int = 1
    ) -> None:
        super().__init__(message)
        self.method = method
        self.path = path
        self.attempts = attempts


class APITimeoutError(APIConnectionError):
    """The request timed out."""

    __module__ = "refold_async"


class APIDecodeError(RefoldError):
    """A successful response's body does not fit the operation's model.

    Attributes:
        problems: Where and why decoding failed, one line per problem.
        status: The response's HTTP status.
        method: The request's HTTP method.
        path: The request's path.
    """

    __module__ = "refold_async"

    def __init__(
        self, message: str, *, problems: list[str], status: int, method: str, path: str
    ) -> None:
        super().__init__(message)
        self.problems = problems
        self.status = status
        self.method = method
        self.path = path


class APIStatusError(RefoldError):
    """The API answered with an error status.

    Attributes:
        status: The HTTP status code.
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
