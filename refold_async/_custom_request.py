"""`client.request()`: calls to endpoints the spec does not list, through the one send loop.

An undocumented call gets everything a generated method gets (docs/architecture.md §2): its auth scope
checked before anything is sent, the rate budget, retries by method (docs/architecture.md §5) and typed
errors. This module only turns the caller's arguments into an `Operation` and a checked
path; `Transport.send_to()` does the rest. Both faces call `send_request()`: the blocking
`Refold.request()` runs the async one on the loop thread.

The path is the caller's, sent as given (an already percent-encoded segment stays so),
but it must be a path on the client's base URL: a credential never leaves that origin.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, cast

from ._errors import InvalidArgumentError
from ._operation import AuthScope, HTTPMethod, Operation
from ._request import MAX_PATH_LENGTH
from ._types import NOT_GIVEN, CallOptions, NotGiven

if TYPE_CHECKING:
    from ._transport import Transport

__all__ = ["RAW_OPERATION_ID", "RequestAuth", "check_raw_path", "send_request"]

RAW_OPERATION_ID = "request"
"""The operation id of `client.request()` calls (no generated operation is named so)."""

RequestAuth = Literal["api_key", "session_token", "key_or_token", "none"] | AuthScope
"""Which credential a `client.request()` call sends.

- `"key_or_token"` (the default): the API key when the client has one (with the linked
  account's header when one is named or bound), else its session token;
- `"api_key"`: only the API key (an org-level endpoint);
- `"session_token"`: only a session token: the client's, or one minted with the API key
  for the named (or bound) linked account;
- `"none"`: no credential at all.

An `AuthScope` member says the same.
"""

_SCOPES: dict[str, AuthScope] = {
    "api_key": AuthScope.ORG_KEY,
    "org_key": AuthScope.ORG_KEY,
    "session_token": AuthScope.SESSION_TOKEN,
    "key_or_token": AuthScope.KEY_OR_TOKEN,
    "none": AuthScope.NONE,
}
_METHODS: frozenset[str] = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"})
# Whitespace and control characters would split the request line; a backslash is a
# slash to some URL parsers (another origin); a fragment is never sent; braces would read
# as a path template's placeholders.
_REFUSED = re.compile(r"[\x00-\x20\x7f\\#{}]")

# One descriptor per (method, scope, type): few in any program, so the argument checks
# compiled per operation (`_arguments`) stay bounded however many paths are called.
_OPERATIONS: dict[tuple[str, AuthScope, object], Operation[Any]] = {}


def check_raw_path(path: object) -> str:
    """`path` if it is a path on the base URL: one leading `/`, nothing that could leave it.

    Raises:
        TypeError: `path` is not a str.
        InvalidArgumentError: it is a URL, a protocol-relative `//host`, or holds a
            character a request path cannot carry as is.
    """
    if not isinstance(path, str):
        raise TypeError(f"path must be a str, got {type(path).__name__}")
    # The path is not echoed: it is free text, and may carry a token in a query string.
    if not path.startswith("/") or path.startswith("//"):
        kind = "an absolute URL" if "://" in path else "not a path starting with a single '/'"
        raise InvalidArgumentError(
            f"client.request() takes a path on the client's base URL, and this is {kind}: "
            "credentials are only ever sent to the base URL's origin"
        )
    if _REFUSED.search(path):
        raise InvalidArgumentError(
            "the path has whitespace, a control character, a backslash, '#', '{' or '}': "
            "percent-encode them (e.g. %20 for a space, %7B for '{')"
        )
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidArgumentError(
            f"the request path is {len(path)} characters long; it may have at most "
            f"{MAX_PATH_LENGTH}"
        )
    return path


def _scope(auth: object) -> AuthScope:
    if isinstance(auth, AuthScope):
        return auth
    scope = _SCOPES.get(auth) if isinstance(auth, str) else None
    if scope is None:
        raise InvalidArgumentError(
            f"auth must be one of 'key_or_token', 'api_key', 'session_token', 'none' "
            f"(or an AuthScope), got {auth!r}"
        )
    return scope


def _method(method: object) -> HTTPMethod:
    if not isinstance(method, str):
        raise TypeError(f"method must be a str, got {type(method).__name__}")
    upper = method.upper()
    if upper not in _METHODS:
        raise InvalidArgumentError(
            f"method must be one of {', '.join(sorted(_METHODS))}, got {method!r}"
        )
    return upper  # type: ignore[return-value]  # checked against the literal's values


def _operation(method: HTTPMethod, scope: AuthScope, cast_to: object) -> Operation[Any]:
    returns: object = Any if cast_to is None else cast_to
    try:
        key = (method, scope, returns)
        op = _OPERATIONS.get(key)
    except TypeError:  # an unhashable cast_to
        raise TypeError(f"cast_to must be a type, such as a model class, got {cast_to!r}") from None
    if op is None:
        op = _OPERATIONS[key] = Operation(
            id=RAW_OPERATION_ID,
            method=method,
            path="/",  # the descriptor's template is unused: `send_to` takes the path
            auth=scope,
            # Every scope but "none" may name a linked account (header, or a minted
            # token's owner); none needs one: org-level calls go without.
            linked_account=scope is not AuthScope.NONE,
            org_level=True,
            returns=returns,
            name="request",
        )
    return op


def _query(query: object) -> Mapping[str, object] | None:
    if query is None or isinstance(query, Mapping):
        return cast("Mapping[str, object] | None", query)
    raise TypeError(f"query must be a mapping, got {type(query).__name__}")


async def send_request(
    transport: Transport,
    method: str,
    path: str,
    *,
    query: Mapping[str, object] | None,
    body: object,
    headers: Mapping[str, str] | None,
    auth: RequestAuth,
    cast_to: object,
    linked_account_id: str | NotGiven,
    timeout: float | NotGiven | None,
    max_queue_wait: float | NotGiven | None,
    max_response_bytes: int | NotGiven = NOT_GIVEN,
) -> Any:
    """Check the arguments, then send through `transport` like any operation."""
    op = _operation(_method(method), _scope(auth), cast_to)
    raw_path = check_raw_path(path)
    if query and "?" in raw_path:
        # httpx would replace the path's query string with `query`, dropping it silently.
        raise InvalidArgumentError(
            "the path already has a query string: pass all of it in the path, or all in query="
        )
    options: CallOptions = {}
    if headers:
        options["extra_headers"] = headers  # checked there: no credential, no CR/LF
    if not isinstance(timeout, NotGiven):
        options["timeout"] = timeout
    if not isinstance(max_queue_wait, NotGiven):
        options["max_queue_wait"] = max_queue_wait
    if not isinstance(max_response_bytes, NotGiven):
        options["max_response_bytes"] = max_response_bytes
    account = {"linked_account_id": linked_account_id}
    return await transport.send_to(
        op,
        raw_path,
        query=_query(query),
        headers=account,
        body=NOT_GIVEN if body is None else body,
        options=options,
    )
