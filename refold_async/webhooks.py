"""Verifying and reading the webhooks Refold sends (DESIGN §1).

Refold POSTs JSON events with the header `x-cobalt-signature`: the hex HMAC-SHA256 of
the raw body, keyed with the environment's API key. Verify against the raw bytes, before
parsing, and compare in constant time.

Example:
    ```python
    from refold_async.webhooks import parse_event


    @app.post("/refold/webhook")
    async def webhook(request: Request) -> Response:
        event = parse_event(
            await request.body(), request.headers.get("x-cobalt-signature"), api_key=KEY
        )
        if event.type == "Workflow Completed":
            ...
    ```
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, Final, cast

import attrs

from ._errors import WebhookSignatureError

__all__ = [
    "KNOWN_EVENT_TYPES",
    "SIGNATURE_HEADER",
    "WebhookEvent",
    "parse_event",
    "sign",
    "verify_signature",
]

SIGNATURE_HEADER: Final = "x-cobalt-signature"
KNOWN_EVENT_TYPES: Final = frozenset(
    {
        "Connection Created",
        "Connection Deleted",
        "Connection Expired",
        "Workflow Completed",
        "Workflow Errored",
    }
)


@attrs.frozen(kw_only=True)
class WebhookEvent:
    """One verified webhook event.

    Attributes:
        type: The event's name, e.g. `"Workflow Completed"`; new names may appear, so
            handle unknown ones gracefully (see `is_known`).
        linked_account_id: The linked account it concerns, if the payload says.
        data: The whole decoded payload.
    """

    type: str
    linked_account_id: str | None = None
    data: dict[str, Any] = attrs.field(factory=dict[str, Any], repr=False)

    @property
    def is_known(self) -> bool:
        """Whether this SDK version knows the event's type."""
        return self.type in KNOWN_EVENT_TYPES


def sign(payload: bytes, api_key: str) -> str:
    """The signature Refold would send for `payload`: useful to test your own handler."""
    return hmac.new(api_key.encode(), payload, hashlib.sha256).hexdigest()


def verify_signature(payload: bytes, signature: str | None, *, api_key: str) -> None:
    """Raise `WebhookSignatureError` unless `signature` is `payload`'s, keyed by `api_key`.

    The error never contains the expected or the received signature.
    """
    if not signature:
        raise WebhookSignatureError(f"the {SIGNATURE_HEADER} header is missing")
    # Bytes, not str: compare_digest raises TypeError on non-ASCII text, and anyone can
    # send this header.
    received = signature.strip().lower().encode("utf-8", errors="replace")
    if not hmac.compare_digest(sign(payload, api_key).encode(), received):
        raise WebhookSignatureError("the webhook signature does not match its body")


def parse_event(payload: bytes, signature: str | None, *, api_key: str) -> WebhookEvent:
    """Verify the signature, then decode the payload into a `WebhookEvent`."""
    verify_signature(payload, signature, api_key=api_key)
    try:
        parsed: object = json.loads(payload)
    except ValueError:
        raise WebhookSignatureError("the webhook body is not JSON") from None
    if not isinstance(parsed, dict):
        raise WebhookSignatureError("the webhook body is not a JSON object")
    data = cast("dict[str, Any]", parsed)
    kind = data.get("event") or data.get("type") or data.get("event_type") or ""
    linked = data.get("linked_account_id") or data.get("linkedAccountId")
    return WebhookEvent(
        type=str(kind), linked_account_id=str(linked) if linked else None, data=data
    )
