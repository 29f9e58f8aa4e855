"""What every handler works with: the `Call` it answers and small shared helpers.

A handler is a plain function `(Call) -> JSON | Reply`, registered for one operation id
with `@handles("operationId")`. It raises `ApiError` to answer with the error envelope.
Handlers are called with the emulator's lock held: they may read and change state
freely, and must not block or await.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, cast

import attrs

from refold_async._operation import Operation
from refold_async.testing._auth import Principal
from refold_async.testing._http import ApiError, Reply, masked_headers
from refold_async.testing._state import Backend, Document, World, iso

__all__ = [
    "HANDLERS",
    "Call",
    "Handler",
    "as_list",
    "as_object",
    "handles",
    "paginate",
]

Handler = Callable[["Call"], object]
HANDLERS: dict[str, Handler] = {}
"""Hand-written handlers by operation id; the rest answer samples."""

F = TypeVar("F", bound=Handler)


def handles(*operation_ids: str) -> Callable[[F], F]:
    """Register the decorated function as the handler of these operations."""

    def register(fn: F) -> F:
        for operation_id in operation_ids:
            HANDLERS[operation_id] = fn
        return fn

    return register


@attrs.frozen(kw_only=True)
class Call:
    """One authenticated, validated request, as a handler sees it.

    Attributes:
        op: The operation it was routed to.
        principal: Who is calling.
        path: Decoded path values by placeholder name.
        query: Query values by name (the first, when one repeats).
        headers: Header values by lower-case name.
        body: The decoded JSON body (`None` without one).
        backend: All of the emulator's state.
        now: The emulator clock's reading for this request.
        wall: The matching wall time (epoch seconds), for timestamps.
    """

    op: Operation[Any]
    principal: Principal
    path: Mapping[str, str]
    query: Mapping[str, str]
    headers: Mapping[str, str] = attrs.field(repr=masked_headers)
    body: Any = attrs.field(repr=False)  # may hold credentials
    backend: Backend
    now: float
    wall: float

    @property
    def world(self) -> World:
        """The caller's world (operations without auth have none)."""
        if self.principal.world is None:
            raise ApiError(401, "this operation needs credentials", "UNAUTHORIZED")
        return self.principal.world

    @property
    def linked_account_id(self) -> str:
        """The linked account acted on: the token's, the header's, or the query's."""
        linked = self.principal.linked_account_id or self.query.get("linked_account_id")
        if not linked:
            raise ApiError(
                400,
                "name a linked account with the linked_account_id header",
                "LINKED_ACCOUNT_ID_REQUIRED",
            )
        return linked

    @property
    def timestamp(self) -> str:
        """Now, as an ISO 8601 timestamp."""
        return iso(self.wall)

    def fields(self) -> dict[str, Any]:
        """The body as a JSON object (400 if it is something else)."""
        if self.body is None:
            return {}
        body = as_object(self.body)
        if body is None:
            raise ApiError(400, "the request body must be a JSON object", "INVALID_BODY")
        return dict(body)

    def need(self, name: str, kind: type | tuple[type, ...] = str) -> Any:
        """A required body field of the given JSON type, or 400."""
        value = self.fields().get(name)
        if value is None or value == "" or not isinstance(value, kind):
            raise ApiError(400, f"body field {name!r} is required", "VALIDATION_ERROR")
        return value

    def flag(self, name: str) -> bool:
        """A `"true"`/`"false"` header or query value, as a boolean."""
        value = self.headers.get(name) or self.query.get(name) or ""
        return value.lower() == "true"

    def int_query(self, name: str, default: int) -> int:
        """A positive integer query value, or 400."""
        raw = self.query.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ApiError(
                400, f"query parameter {name!r} must be an integer", "VALIDATION_ERROR"
            ) from None
        if value < 1:
            raise ApiError(400, f"query parameter {name!r} must be at least 1", "VALIDATION_ERROR")
        return value


def as_object(value: object) -> dict[str, Any] | None:
    """`value` if it is a JSON object, else `None`."""
    return cast("dict[str, Any]", value) if isinstance(value, dict) else None


def as_list(value: object) -> list[Any]:
    """`value` if it is a JSON array, else an empty list."""
    if not isinstance(value, list):
        return []
    items: list[Any] = value  # pyright: ignore[reportUnknownVariableType]
    return items


def objects(value: object) -> list[dict[str, Any]]:
    """The JSON objects among the items of a JSON array (nothing for a non-array)."""
    return [item for item in map(as_object, as_list(value)) if item is not None]


def find(table: Mapping[str, Document], key: str, what: str) -> Document:
    """The document stored under `key`, or 404 naming `what`."""
    doc = table.get(key)
    if doc is None:
        raise ApiError(
            404, f"{what} {key!r} not found", f"{what.upper().replace(' ', '_')}_NOT_FOUND"
        )
    return doc


def paginate(call: Call, docs: Iterable[object], *, default_limit: int = 10) -> dict[str, Any]:
    """The pagination envelope for `docs`, honouring the `page` and `limit` query values."""
    items = list(docs)
    page = call.int_query("page", 1)
    limit = call.int_query("limit", default_limit)
    total_pages = max(1, math.ceil(len(items) / limit))
    start = (page - 1) * limit
    return {
        "docs": items[start : start + limit],
        "totalDocs": len(items),
        "limit": limit,
        "page": page,
        "totalPages": total_pages,
        "hasNextPage": page < total_pages,
        "hasPrevPage": page > 1,
        "nextPage": page + 1 if page < total_pages else None,
        "prevPage": page - 1 if page > 1 else None,
        "pagingCounter": start + 1,
    }


def created(data: object) -> Reply:
    """A 201 answer."""
    return Reply(data, 201)


def opaque_token(prefix: str) -> str:
    """An unguessable credential-like string."""
    return f"{prefix}_{secrets.token_urlsafe(24)}"
