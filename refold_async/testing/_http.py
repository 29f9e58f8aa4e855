"""The emulator's own request and response values, independent of how they travel.

Both ways in (the in-process httpx transport and the loopback HTTP server) turn what
they receive into an `EmulatedRequest` and send back an `EmulatedResponse`, so routing,
auth, rate limiting, faults and handlers never see httpx or sockets. `ApiError` is how
any stage answers with the API's error envelope (docs/architecture.md §1).
"""

from __future__ import annotations

import enum
import http
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import attrs

__all__ = [
    "NO_CONTENT",
    "ApiError",
    "Drop",
    "EmulatedRequest",
    "EmulatedResponse",
    "Reply",
    "byte_count",
    "error_body",
    "json_response",
    "masked_headers",
    "parse_query",
]


# Headers that carry the caller's API key or session token.
SECRET_HEADERS = frozenset({"authorization", "x-api-key"})


def masked_headers(headers: Mapping[str, str]) -> str:
    """A repr of `headers` with the key and the token replaced by `***`."""
    shown = {
        name: "***" if name.lower() in SECRET_HEADERS else value for name, value in headers.items()
    }
    return repr(shown)


def byte_count(body: bytes) -> str:
    """A body's repr: its size only, as it may hold tokens or credentials."""
    return f"<{len(body)} bytes>"


@attrs.frozen(kw_only=True)
class EmulatedRequest:
    """One HTTP request as the emulator sees it.

    Attributes:
        method: The upper-case HTTP method.
        path: The raw (still percent-encoded) path, without the query string.
        query: Query parameters in order; a name may repeat.
        headers: Header values by lower-case name.
        body: The raw request body.
    """

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    headers: Mapping[str, str] = attrs.field(factory=dict[str, str], repr=masked_headers)
    body: bytes = attrs.field(default=b"", repr=byte_count)


def parse_query(raw: str) -> tuple[tuple[str, str], ...]:
    """Split a raw query string into decoded name/value pairs, blanks kept."""
    return tuple(parse_qsl(raw, keep_blank_values=True))


class Drop(str, enum.Enum):
    """How a fault ends the exchange instead of (or after) answering."""

    CONNECT = "connect"
    """The connection fails before the request is sent (`httpx.ConnectError`)."""

    DISCONNECT = "disconnect"
    """The request is handled, then the connection drops before the response
    (`httpx.RemoteProtocolError`): the caller cannot know whether it took effect."""

    TIMEOUT = "timeout"
    """The request is handled, then no response arrives in time (`httpx.ReadTimeout`)."""


@attrs.frozen(kw_only=True)
class EmulatedResponse:
    """The emulator's answer: a status, headers and body, or a dropped connection."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = attrs.field(default=b"", repr=byte_count)  # may hold a minted token
    drop: Drop | None = None

    def json(self) -> Any:
        """The body decoded as JSON (for tests and tooling)."""
        return json.loads(self.body)


@attrs.frozen
class Reply:
    """A handler's answer when it is not a plain 200 with a JSON body."""

    data: object = attrs.field(default=None, repr=False)  # may hold a minted token
    status: int = 200


NO_CONTENT = Reply(None, 204)
"""The answer of operations that return nothing."""


class ApiError(Exception):
    """Raised anywhere in the pipeline to answer with the API's error envelope.

    Attributes:
        status: The HTTP status.
        message: Human-readable text.
        code: The internal code (`error` or `error_code` in the body).
        headers: Extra response headers (e.g. `Retry-After`).
    """

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _default_code(status)
        self.headers = headers


def _default_code(status: int) -> str:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP_{status}"
    return phrase.upper().replace(" ", "_").replace("-", "_")


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_body(error: ApiError, *, code_field: str) -> dict[str, object]:
    """The error envelope; `code_field` is `"error"` or `"error_code"` by service."""
    return {
        "status_code": error.status,
        "http_error_type": _phrase(error.status),
        code_field: error.code,
        "message": error.message,
    }


def json_response(
    status: int, data: object, headers: tuple[tuple[str, str], ...] = ()
) -> EmulatedResponse:
    """A response carrying `data` as JSON (no body at all for 204)."""
    if status == 204:
        return EmulatedResponse(status=204, headers=headers)
    body = json.dumps(data, separators=(",", ":")).encode()
    return EmulatedResponse(
        status=status,
        headers=(("content-type", "application/json; charset=utf-8"), *headers),
        body=body,
    )
