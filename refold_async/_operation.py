"""Operation descriptors: what one API operation is, as plain data.

Generated resource methods declare an `Operation` per API operation and hand it, with the
caller's arguments, to the transport. The transport reads the descriptor to pick
credentials (docs/architecture.md §1), build the request and decode the answer. The public registry
`refold_async.operations.OPERATIONS` lists every descriptor.
"""

from __future__ import annotations

import enum
from typing import Any, Generic, Literal, TypeVar

import attrs

__all__ = [
    "AuthScope",
    "HTTPMethod",
    "Operation",
    "Param",
    "ParamLocation",
    "Shape",
    "ValueFormat",
    "ValueKind",
]

T = TypeVar("T")

HTTPMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
ParamLocation = Literal["path", "query", "header", "body"]
ValueKind = Literal[
    "any", "str", "int", "float", "bool", "datetime", "enum", "object", "list", "union"
]
"""What a parameter's value must be, as generated from its schema (`"any"`: not checked).

`"enum"` is a string among `Param.choices`; `"object"` a mapping or a model instance;
`"list"` a list or tuple, whose items are of `Param.items`; `"union"` any one of
`Param.variants` (a `oneOf`/`anyOf` of the spec).
"""

ValueFormat = Literal["uri", "email", "uuid"]
"""A string format the SDK checks (the spec's `format`): an absolute URI, an email
address, a UUID. Formats the spec states beyond these are not checked."""


@attrs.frozen(kw_only=True)
class Shape:
    """One form the value of a `kind="union"` parameter may take: one `oneOf` branch.

    Attributes:
        kind: What the value must be, as `Param.kind`.
        items: For a list, what each item must be; for an object, each value.
        choices: The allowed strings of an enum (of the value, or of each item).
        minimum: The smallest number allowed (inclusive).
        maximum: The largest number allowed (inclusive).
        min_items: The fewest items a list may have.
        max_items: The most items a list may have.
        pattern: A regular expression a string must match (searched).
        format: A string format the value (or each string item) must have.
        min_length: The fewest characters a string may have.
        max_length: The most characters a string may have.

    Example:
        ```python
        Param(
            name="data",
            wire_name="data",
            location="body",
            kind="union",
            variants=(Shape(kind="object"), Shape(kind="list", items="object")),
        )
        ```
    """

    kind: ValueKind = "any"
    items: ValueKind = "any"
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    min_items: int | None = None
    max_items: int | None = None
    pattern: str | None = None
    format: ValueFormat | None = None
    min_length: int | None = None
    max_length: int | None = None


class AuthScope(str, enum.Enum):
    """Which credentials an operation accepts (derived from the spec's `security`).

    Orthogonal to it, `Operation.linked_account` says whether a call made with the API key
    must also name a linked account in the `linked_account_id` header.
    """

    NONE = "none"
    """The operation takes no credentials at all (auth structures, human tasks)."""

    ORG_KEY = "org_key"
    """Only the org API key (`x-api-key`); a session token is refused."""

    KEY_OR_TOKEN = "key_or_token"  # noqa: S105 - a scope name, not a password
    """The org API key, or a linked account's session token (`Authorization: Bearer`)."""

    SESSION_TOKEN = "session_token"  # noqa: S105 - a scope name, not a password
    """Only a linked account's session token; a client with a key mints one."""


@attrs.frozen(kw_only=True)
class Param:
    """One declared parameter of an operation.

    Attributes:
        name: The Python keyword argument name.
        wire_name: The name on the wire (header name, query key, path placeholder, JSON key).
        location: Where the value travels.
        required: Whether the spec requires it.
        kind: What the value must be; `"any"` leaves it unchecked.
        items: For a list, what each item must be; for an object, what each value must be.
        choices: The allowed strings of an enum (of the value, or of each item).
        minimum: The smallest number allowed (inclusive).
        maximum: The largest number allowed (inclusive).
        min_items: The fewest items a list may have.
        max_items: The most items a list may have.
        pattern: A regular expression a string must match (searched, as in JSON Schema).
        format: A string format the value (or each string item) must have.
        min_length: The fewest characters a string may have.
        max_length: The most characters a string may have.
        variants: For `kind="union"`, the forms the value may take; it must fit one.
    """

    name: str
    wire_name: str
    location: ParamLocation
    required: bool = False
    kind: ValueKind = "any"
    items: ValueKind = "any"
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    min_items: int | None = None
    max_items: int | None = None
    pattern: str | None = None
    format: ValueFormat | None = None
    min_length: int | None = None
    max_length: int | None = None
    variants: tuple[Shape, ...] = ()


@attrs.frozen(kw_only=True)
class Operation(Generic[T]):
    """Everything the transport needs to know about one API operation.

    Attributes:
        id: The spec's `operationId`, e.g. `"getExecutionById"`.
        method: The HTTP method.
        path: The path template, with `{name}` placeholders.
        auth: The credentials the operation accepts.
        linked_account: With the API key, the call names a linked account in the
            `linked_account_id` header (the call's, else the client's).
        org_level: With the API key, the call may also go without a linked account and
            then acts at org level (the spec says so for a few operations); otherwise a
            missing linked account is an error raised before sending.
        returns: The type the 2xx body decodes into (`None` for no body, `typing.Any`
            to keep raw JSON). For paginated lists, `refold_async.Page[Item]`.
        resource: The client attribute of the resource, e.g. `"executions"`.
        name: The method name on the resource, e.g. `"retrieve"`.
        paginated: The operation answers a `page`/`limit` envelope.
        params: The declared parameters, for validation and tooling.
        has_body: The operation declares a JSON request body.
        multipart: The body may also be sent as `multipart/form-data`, with file uploads
            (the method's `files=` argument); JSON stays the default.
        body_required: That body is required.

    Example:
        ```python
        GET_EXECUTION: Operation[Execution] = Operation(
            id="getExecutionById",
            method="GET",
            path="/api/v2/public/execution/{execution_id}",
            auth=AuthScope.KEY_OR_TOKEN,
            linked_account=True,
            returns=Execution,
        )
        ```
    """

    id: str
    method: HTTPMethod
    path: str
    auth: AuthScope
    linked_account: bool = False
    org_level: bool = False
    returns: Any = None
    resource: str = ""
    name: str = ""
    paginated: bool = False
    params: tuple[Param, ...] = ()
    has_body: bool = False
    multipart: bool = False
    body_required: bool = False

    @property
    def is_idempotent(self) -> bool:
        """Whether the HTTP method is idempotent, and so retried on more failures (docs/architecture.md §5)."""
        return self.method in ("GET", "PUT", "DELETE", "HEAD")
