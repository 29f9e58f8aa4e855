"""Shared type aliases, the `NOT_GIVEN` sentinel and per-call options; no logic lives here."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import IO, Any, Final, Literal, TypeAlias, TypeVar

from typing_extensions import TypedDict, override

__all__ = [
    "NOT_GIVEN",
    "CallOptions",
    "Headers",
    "JSONObject",
    "NotGiven",
    "NotGivenOr",
    "Query",
    "UploadContent",
    "UploadFile",
    "Uploads",
]

_T = TypeVar("_T")


class NotGiven:
    """Marks an argument the caller did not pass, as distinct from an explicit `None`.

    Generated methods default every optional argument to `NOT_GIVEN`; the transport drops
    such values before building the request, so the server sees only what the caller said.

    ```python
    await client.executions.list(status=NOT_GIVEN)  # same as leaving `status` out
    ```
    """

    __slots__ = ()
    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> Literal[False]:
        return False

    @override
    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __reduce__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()

NotGivenOr: TypeAlias = "_T | NotGiven"
"""An argument of type `_T` that may also be left out."""

JSONObject = dict[str, Any]
"""A free-form JSON object, as the API sends it."""

Headers = Mapping[str, str]
Query = Mapping[str, object]


class CallOptions(TypedDict, total=False):
    """Per-call options accepted by every generated method as keyword arguments.

    Attributes:
        extra_headers: Headers merged over the request's own (credentials excepted).
        extra_query: Query parameters merged over the request's own.
        extra_body: JSON fields merged over the request's own body.
        timeout: Seconds for this call, overriding the client's timeout.
        max_queue_wait: Seconds this call may wait for a rate-limit slot before it
            fails with `RateLimitQueueTimeout`, overriding the client's bound.
        max_response_bytes: The largest body (decoded) this call accepts.
    """

    extra_headers: Mapping[str, str]
    extra_query: Mapping[str, object]
    extra_body: Mapping[str, object]
    timeout: float | None
    max_queue_wait: float | None
    max_response_bytes: int


UploadContent: TypeAlias = bytes | os.PathLike[str] | IO[bytes]
"""What a file upload carries: bytes, a path (`pathlib.Path`, opened and streamed at send
time), or a file object opened in binary mode (streamed from its first byte)."""

UploadFile: TypeAlias = UploadContent | tuple[str, UploadContent] | tuple[str, UploadContent, str]
"""One upload: its content, or `(filename, content)`, or `(filename, content, content_type)`."""

Uploads: TypeAlias = Mapping[str, UploadFile]
"""The `files=` argument of operations that take uploads: form field name -> file."""
