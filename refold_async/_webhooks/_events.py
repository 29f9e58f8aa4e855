"""Typed webhook events: one frozen class per documented event type (docs/architecture.md §1, §7).

Refold documents five event types, each a flat JSON object naming its type in `event`.
The connection events carry the account, the app's slug and a `createdAt` time; the
workflow events carry the run's instance id and the workflow, but no time. Decoding is
tolerant: a field of an unexpected type becomes `None` (the raw value stays in `data`),
and a type this SDK does not know becomes an `UnknownEvent`, never an error.
"""

from __future__ import annotations

import datetime
import email.utils
import hashlib
import json
from typing import Any, ClassVar, Final

import attrs

__all__ = [
    "KNOWN_EVENT_TYPES",
    "ConnectionCreated",
    "ConnectionDeleted",
    "ConnectionEvent",
    "ConnectionExpired",
    "UnknownEvent",
    "WebhookEvent",
    "WorkflowCompleted",
    "WorkflowErrored",
    "WorkflowEvent",
    "event_from_dict",
]


@attrs.frozen(kw_only=True)
class WebhookEvent:
    """One verified webhook event; `parse_event` returns one of its subclasses.

    Example:
        ```python
        match parse_event(body, signature, api_key=KEY):
            case WorkflowErrored(instance_id=run, workflow_name=name):
                alert(f"{name} failed (run {run})")
            case ConnectionExpired(linked_account_id=account, slug=app):
                ask_to_reconnect(account, app)
            case other:
                log.info("webhook %s ignored", other.type)
        ```

    Attributes:
        type: The event's name as sent (its `event` field), e.g. `"Workflow Completed"`;
            `""` when the body names none. New names may appear: see `is_known`.
        linked_account_id: The linked account it concerns, if the body says.
        occurred_at: When the event happened, from its `createdAt` field, if it has a
            readable one (an aware datetime).
        data: The whole decoded body, including fields this SDK does not model.
        body_sha256: The SHA-256 of the raw body, hex.
    """

    type: str
    linked_account_id: str | None = None
    occurred_at: datetime.datetime | None = None
    data: dict[str, Any] = attrs.field(factory=dict[str, Any], repr=False)
    body_sha256: str = attrs.field(default="", repr=False)

    @property
    def is_known(self) -> bool:
        """Whether this SDK version knows the event's type."""
        return self.type in KNOWN_EVENT_TYPES

    @property
    def dedup_key(self) -> str:
        """A stable identity for this event, the same for every delivery of it.

        Built from the event's own fields where they identify it (the run's instance id
        for workflow events; account, app and time for connection events), else from the
        body's SHA-256. The replay guard remembers these; use it as an idempotency key.
        """
        identity = self._identity()
        if identity is None:
            return "sha256:" + (self.body_sha256 or _canonical_sha256(self.data))
        return json.dumps([self.type, *identity], ensure_ascii=False, separators=(",", ":"))

    def _identity(self) -> tuple[str, ...] | None:
        return None


@attrs.frozen(kw_only=True)
class UnknownEvent(WebhookEvent):
    """An event whose type this SDK version does not know: read it through `data`."""


@attrs.frozen(kw_only=True)
class ConnectionEvent(WebhookEvent):
    """A linked account's connection to an app changed.

    Attributes:
        org_id: The organization the event belongs to.
        environment: The environment it happened in (`"test"` or production).
        slug: The app's slug, e.g. `"hubspot"`.
    """

    org_id: str | None = None
    environment: str | None = None
    slug: str | None = None

    _WIRE: ClassVar[dict[str, str]] = {
        "org_id": "org_id",
        "environment": "environment",
        "slug": "slug",
    }

    def _identity(self) -> tuple[str, ...] | None:
        created = self.data.get("createdAt")
        if self.linked_account_id is None or self.slug is None or not isinstance(created, str):
            return None
        return (self.linked_account_id, self.slug, created)


@attrs.frozen(kw_only=True)
class ConnectionCreated(ConnectionEvent):
    """A linked account connected an app (`"Connection Created"`)."""


@attrs.frozen(kw_only=True)
class ConnectionDeleted(ConnectionEvent):
    """A linked account's connection to an app was removed (`"Connection Deleted"`)."""


@attrs.frozen(kw_only=True)
class ConnectionExpired(ConnectionEvent):
    """A connection's authorization no longer works: ask to reconnect (`"Connection Expired"`)."""


@attrs.frozen(kw_only=True)
class WorkflowEvent(WebhookEvent):
    """A workflow run ended.

    Attributes:
        instance_id: The run's id: the same for every delivery of this event.
        workflow_id: The workflow that ran.
        workflow_name: The workflow's name.
        config_id: The config the run used.
        status: The run's final status as sent, e.g. `"COMPLETED"` or `"ERRORED"`.
    """

    instance_id: str | None = None
    workflow_id: str | None = None
    workflow_name: str | None = None
    config_id: str | None = None
    status: str | None = None

    _WIRE: ClassVar[dict[str, str]] = {
        "instance_id": "instance_id",
        "workflow_id": "workflow_id",
        "workflow_name": "workflow_name",
        "config_id": "config_id",
        "status": "status",
    }

    def _identity(self) -> tuple[str, ...] | None:
        return None if self.instance_id is None else (self.instance_id,)


@attrs.frozen(kw_only=True)
class WorkflowCompleted(WorkflowEvent):
    """A workflow run succeeded (`"Workflow Completed"`)."""


@attrs.frozen(kw_only=True)
class WorkflowErrored(WorkflowEvent):
    """A workflow run stopped on an error (`"Workflow Errored"`)."""


_CLASSES: Final[dict[str, type[WebhookEvent]]] = {
    "Connection Created": ConnectionCreated,
    "Connection Deleted": ConnectionDeleted,
    "Connection Expired": ConnectionExpired,
    "Workflow Completed": WorkflowCompleted,
    "Workflow Errored": WorkflowErrored,
}
KNOWN_EVENT_TYPES: Final = frozenset(_CLASSES)


def event_from_dict(data: dict[str, Any], *, body_sha256: str = "") -> WebhookEvent:
    """The typed event for a decoded body; an `UnknownEvent` for a type not listed above."""
    kind = data.get("event")
    kind = kind if isinstance(kind, str) else ""
    cls = _CLASSES.get(kind, UnknownEvent)
    wire: dict[str, str] = getattr(cls, "_WIRE", {})
    fields = {name: _text(data.get(key)) for name, key in wire.items()}
    linked = data.get("linked_account_id", data.get("linkedAccountId"))
    return cls(
        type=kind,
        linked_account_id=_text(linked),
        occurred_at=_time(data.get("createdAt")),
        data=data,
        body_sha256=body_sha256,
        **fields,
    )


def _text(value: object) -> str | None:
    """A string field; ids sent as numbers become text; anything else is `None`."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _time(value: object) -> datetime.datetime | None:
    """An aware datetime from an HTTP date (as documented) or an ISO 8601 string."""
    if not isinstance(value, str) or not value.strip():
        return None
    # docs/architecture.md §5: parsedate_tz + mktime_tz, not parsedate_to_datetime (naive for "-0000").
    parts = email.utils.parsedate_tz(value)
    try:
        if parts is not None:
            stamp = email.utils.mktime_tz(parts)
            return datetime.datetime.fromtimestamp(stamp, tz=datetime.timezone.utc)
        parsed = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)


def _canonical_sha256(data: dict[str, Any]) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()
