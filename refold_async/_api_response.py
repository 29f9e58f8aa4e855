"""`APIResponse` and `ResponseInfo`: a call's HTTP response and what it cost, on request.

`client.<resource>.with_raw_response.<method>(...)` returns an `APIResponse[T]` instead of
the decoded value: status, headers, request id, timings and attempts, and `parse()` for
the value itself. Each `Page` carries the same metadata as `page.response`. Both are built
by the send loop from its `CallRecord` (`_outcome.response_info`); neither holds a
credential (headers are the response's, scrubbed of the call's secrets) nor any httpx
object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Generic, TypeVar, cast

from typing_extensions import override

__all__ = ["APIResponse", "ResponseInfo"]

T = TypeVar("T")


class ResponseInfo:
    """What one call's response said and what the call cost.

    Attributes:
        operation_id: The operation called, e.g. `"getWebhookById"`.
        method: The HTTP method.
        path: The path requested (no query string).
        status_code: The HTTP status of the answer.
        headers: The response's headers (case-insensitive names). The request's headers,
            credentials among them, are not here.
        request_id: The server's request id header, if it sent one.
        elapsed: Seconds the whole call took: limiter waits, every attempt and the
            backoffs between them.
        attempts: How many attempts were sent (1 without retries).
        rate_limit_wait: Seconds of `elapsed` spent waiting for rate-limit slots.
        http_version: The HTTP version of the answer, e.g. `"HTTP/1.1"`.
    """

    __slots__ = (
        "attempts",
        "elapsed",
        "headers",
        "http_version",
        "method",
        "operation_id",
        "path",
        "rate_limit_wait",
        "request_id",
        "status_code",
    )

    operation_id: str
    method: str
    path: str
    status_code: int
    headers: Mapping[str, str]
    request_id: str | None
    elapsed: float
    attempts: int
    rate_limit_wait: float
    http_version: str | None

    def __init__(
        self,
        *,
        operation_id: str,
        method: str,
        path: str,
        status_code: int,
        headers: Mapping[str, str],
        request_id: str | None,
        elapsed: float,
        attempts: int,
        rate_limit_wait: float,
        http_version: str | None,
    ) -> None:
        self.operation_id = operation_id
        self.method = method
        self.path = path
        self.status_code = status_code
        self.headers = headers
        self.request_id = request_id
        self.elapsed = elapsed
        self.attempts = attempts
        self.rate_limit_wait = rate_limit_wait
        self.http_version = http_version

    @override
    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.operation_id} {self.status_code} "
            f"request_id={self.request_id!r} attempts={self.attempts} "
            f"elapsed={self.elapsed:.3f}s rate_limit_wait={self.rate_limit_wait:.3f}s>"
        )


class APIResponse(ResponseInfo, Generic[T]):
    """A call's response with its metadata; `parse()` gives the value the method returns.

    Returned by `client.<resource>.with_raw_response.<method>(...)`, on both faces. For
    a list method it holds the first requested page (`parse()` returns a `Page`).

    Example:
        ```python
        response = await client.webhooks.with_raw_response.retrieve("wh_1")
        print(response.status_code, response.request_id, response.attempts)
        webhook = response.parse()  # a Webhook, decoded once
        ```
    """

    __slots__ = ("_decode", "_parsed")

    def __init__(self, info: ResponseInfo, decode: Callable[[], T]) -> None:
        super().__init__(
            operation_id=info.operation_id,
            method=info.method,
            path=info.path,
            status_code=info.status_code,
            headers=info.headers,
            request_id=info.request_id,
            elapsed=info.elapsed,
            attempts=info.attempts,
            rate_limit_wait=info.rate_limit_wait,
            http_version=info.http_version,
        )
        self._decode: Callable[[], T] | None = decode
        self._parsed: T | None = None

    def parse(self) -> T:
        """The body decoded as the method's usual return value; decoded once, then cached.

        Raises:
            APIDecodeError: The body does not fit the operation's declared answer.
        """
        decode = self._decode
        if decode is not None:
            self._parsed = decode()
            self._decode = None  # the body and its decoder are dropped once decoded
        return cast("T", self._parsed)  # set above on first use
