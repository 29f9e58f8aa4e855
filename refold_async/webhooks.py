"""Verifying and reading the webhooks Refold sends (docs/architecture.md §1).

Refold POSTs JSON events with the header `x-cobalt-signature`: the hex HMAC-SHA256 of
the raw body, keyed with the environment's API key. `parse_event` verifies the raw
bytes before decoding them (in constant time, against one key or several during a key
rotation) and returns a typed event: `WorkflowCompleted`, `ConnectionExpired`, ... or an
`UnknownEvent` for a type this SDK does not know yet.

What the signature covers: the body, and only the body. A valid signature proves the
body came from Refold (or anyone else holding the key) unchanged; it does not prove the
delivery is fresh, since there is no signed timestamp. A captured delivery verifies
again when it is replayed. Pass a `ReplayGuard` to refuse events already seen or older
than its window; it judges by the event's own fields (`dedup_key`, `occurred_at`).

Example:
    ```python
    from refold_async.webhooks import ReplayGuard, WorkflowErrored, parse_event

    guard = ReplayGuard()


    @app.post("/refold/webhook")
    async def webhook(request: Request) -> Response:
        event = parse_event(
            await request.body(),
            request.headers.get("x-cobalt-signature"),
            api_key=KEY,
            replay_guard=guard,
        )
        if isinstance(event, WorkflowErrored):
            ...
    ```
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, cast

from ._auth import Secret
from ._errors import WebhookReplayError, WebhookSignatureError
from ._webhooks._events import (
    KNOWN_EVENT_TYPES,
    ConnectionCreated,
    ConnectionDeleted,
    ConnectionEvent,
    ConnectionExpired,
    UnknownEvent,
    WebhookEvent,
    WorkflowCompleted,
    WorkflowErrored,
    WorkflowEvent,
    event_from_dict,
)
from ._webhooks._replay import DEFAULT_REPLAY_WINDOW, MemoryReplayStore, ReplayGuard, ReplayStore
from ._webhooks._signature import (
    SIGNATURE_HEADER,
    Problem,
    body_bytes,
    check_signature,
    hex_digest,
    raise_problem,
    wrap_keys,
    wrap_signature,
)

__all__ = [
    "DEFAULT_REPLAY_WINDOW",
    "KNOWN_EVENT_TYPES",
    "SIGNATURE_HEADER",
    "ConnectionCreated",
    "ConnectionDeleted",
    "ConnectionEvent",
    "ConnectionExpired",
    "MemoryReplayStore",
    "ReplayGuard",
    "ReplayStore",
    "UnknownEvent",
    "WebhookEvent",
    "WebhookReplayError",
    "WebhookSignatureError",
    "WorkflowCompleted",
    "WorkflowErrored",
    "WorkflowEvent",
    "parse_event",
    "sign",
    "verify_signature",
]

Body = bytes | bytearray | memoryview
Signature = str | bytes | bytearray | memoryview | None
Keys = str | Sequence[str]

# docs/architecture.md §12: each public function first turns its key and signature arguments into
# `Secret`s (repr: a fingerprint) without raising, then deletes the raw arguments; only
# then may anything raise. So a traceback rendered with its frames' locals (Sentry,
# rich) shows neither the key nor a signature.


def sign(payload: Body, api_key: str) -> str:
    """The signature Refold would send for `payload`: useful to test your own handler.

    Raises:
        MissingCredentialError: `api_key` is empty.
        TypeError: `payload` is not bytes (or a bytes-like buffer).
    """
    keys = wrap_keys(api_key)
    del api_key
    if isinstance(keys, Problem):
        raise_problem(keys)
    if len(keys) != 1:
        raise TypeError("sign() takes one API key, a str")
    return hex_digest(keys[0], body_bytes(payload)).decode()


def verify_signature(payload: Body, signature: Signature, *, api_key: Keys) -> None:
    """Raise unless `signature` is `payload`'s, keyed by `api_key` (or one of several).

    Args:
        payload: The raw request body, exactly as received.
        signature: The `x-cobalt-signature` header's value (hex, as str or bytes), or
            `None` when the request has none.
        api_key: The environment's API key, or several (old and new during a rotation):
            any one of them verifying is enough. Every key is tried, in constant time.

    Raises:
        WebhookSignatureError: The header is missing, malformed or does not match. The
            error never contains the expected or the received signature.
        MissingCredentialError: No key, or an empty one, was given.
        InvalidArgumentError: A key holds whitespace or a non-ASCII character.
        TypeError: An argument has the wrong type (a `str` body: pass the raw bytes).
    """
    keys = wrap_keys(api_key)
    received = wrap_signature(signature)
    del api_key, signature
    _verified_body(payload, received, keys)


def parse_event(
    payload: Body,
    signature: Signature,
    *,
    api_key: Keys,
    replay_guard: ReplayGuard | None = None,
) -> WebhookEvent:
    """Verify the signature, decode the body, and return its typed event.

    Args:
        payload: The raw request body, exactly as received.
        signature: The `x-cobalt-signature` header's value, or `None`.
        api_key: The environment's API key, or several during a key rotation.
        replay_guard: If given, refuses an event it has already seen or whose time is
            outside its window (see `ReplayGuard`). Checked after the signature.

    Returns:
        A `WebhookEvent` subclass: one per documented type, `UnknownEvent` otherwise
        (a new type is never an error).

    Raises:
        WebhookSignatureError: As `verify_signature`, or the verified body is not a
            JSON object.
        WebhookReplayError: `replay_guard` refused the event.
        MissingCredentialError: No key, or an empty one, was given.
        InvalidArgumentError: A key holds whitespace or a non-ASCII character.
        TypeError: An argument has the wrong type.
    """
    keys = wrap_keys(api_key)
    received = wrap_signature(signature)
    del api_key, signature
    guard = _guard(replay_guard)
    body = _verified_body(payload, received, keys)
    event = event_from_dict(_decode(body), body_sha256=hashlib.sha256(body).hexdigest())
    if guard is not None:
        guard.check(event)
    return event


def _guard(value: object) -> ReplayGuard | None:
    if value is None or isinstance(value, ReplayGuard):
        return value
    hint = " (wrap a store: ReplayGuard(store=...))" if isinstance(value, ReplayStore) else ""
    raise TypeError(f"replay_guard must be a ReplayGuard, not {type(value).__name__}{hint}")


def _verified_body(
    payload: object, received: Secret | Problem, keys: list[Secret] | Problem
) -> bytes:
    """The body's bytes once verified; misuse is raised before a bad header is."""
    if isinstance(keys, Problem):
        raise_problem(keys)
    body = body_bytes(payload)
    if isinstance(received, Problem):
        raise_problem(received)
    check_signature(body, received, keys)
    return body


def _decode(body: bytes) -> dict[str, Any]:
    try:
        parsed: object = json.loads(body)
    except (ValueError, RecursionError):
        raise WebhookSignatureError("the webhook body is signed but is not JSON") from None
    if not isinstance(parsed, dict):
        raise WebhookSignatureError("the webhook body is signed but is not a JSON object")
    return cast("dict[str, Any]", parsed)
