"""In-memory state: one `World` per API key, plus what spans worlds (session tokens).

docs/architecture.md §1: the environment is encoded in the key, so a `tk…` key and a `pk…` key see
disjoint worlds; here every accepted key gets its own. Documents are stored in their
wire shape (`_id`, `createdAt`, ...) so handlers answer them as they are; the few
facts that never go on the wire (when an execution finishes, who a token belongs to)
live beside them in small records.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Callable, Iterator
from typing import Any, Literal

import attrs

from ._http import ApiError

__all__ = [
    "Document",
    "ExecutionRecord",
    "IdFactory",
    "TableRecord",
    "TokenRecord",
    "World",
    "environment_of_key",
    "fingerprint",
    "iso",
]

Document = dict[str, Any]
Environment = Literal["test", "production"]


def fingerprint(secret: str) -> str:
    """The first 12 hex digits of the secret's SHA-256: how stats and buckets name it."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def environment_of_key(api_key: str) -> Environment:
    """`"production"` for `pk…` keys, `"test"` for everything else (`tk…`)."""
    return "production" if api_key.startswith("pk") else "test"


def iso(epoch_seconds: float) -> str:
    """An ISO 8601 UTC timestamp with milliseconds, as the API writes them."""
    stamp = dt.datetime.fromtimestamp(epoch_seconds, tz=dt.timezone.utc)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class IdFactory:
    """Mongo-style 24-hex-digit ids, unique across the emulator and deterministic."""

    def __init__(self, namespace: int) -> None:
        self._prefix = f"{namespace & 0xFFFFFFFF:08x}"
        self._counter = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


@attrs.define(kw_only=True)
class TokenRecord:
    """A minted session token: whose it is and until when it works."""

    token: str = attrs.field(repr=False)
    refresh_token: str = attrs.field(repr=False)
    world_key: str = attrs.field(repr=False)  # the API key of the world it acts in
    linked_account_id: str
    expires_at: float
    refresh_expires_at: float
    revoked: bool = False

    def usable(self, now: float) -> bool:
        return not self.revoked and now < self.expires_at


@attrs.define(kw_only=True)
class ExecutionRecord:
    """An execution document and when (on the emulator clock) it stops running."""

    doc: Document
    linked_account_id: str
    started_at: float
    started_wall: float
    finish_at: float | None
    final_status: str = "Completed"


@attrs.define(kw_only=True)
class TableRecord:
    """A persistent table: its metadata document, column names and records."""

    doc: Document
    columns: list[str]
    records: list[Document] = attrs.field(factory=list[Document])


@attrs.define(kw_only=True)
class World:
    """Everything one API key can see.

    Attributes:
        api_key: The key this world belongs to (never exposed on the wire, nor in repr()).
        environment: `"test"` or `"production"`, from the key's prefix.
        org_id: The organization's id in documents.
        new_id: Makes fresh document ids.
        wall: The emulator's wall clock (epoch seconds), for timestamps.
    """

    api_key: str = attrs.field(repr=False)
    environment: Environment
    org_id: str
    new_id: IdFactory
    wall: Callable[[], float]
    linked_accounts: dict[str, Document] = attrs.field(factory=dict[str, Document])
    configs: dict[tuple[str, str, str], Document] = attrs.field(
        factory=dict[tuple[str, str, str], Document]
    )
    webhooks: dict[str, Document] = attrs.field(factory=dict[str, Document])
    events: dict[str, Document] = attrs.field(factory=dict[str, Document])
    workflows: dict[str, Document] = attrs.field(factory=dict[str, Document])
    drafts: dict[str, Document] = attrs.field(factory=dict[str, Document])
    versions: dict[str, list[Document]] = attrs.field(factory=dict[str, list[Document]])
    executions: dict[str, ExecutionRecord] = attrs.field(factory=dict[str, ExecutionRecord])
    schedules: dict[str, Document] = attrs.field(factory=dict[str, Document])
    datarefs: dict[tuple[str, str], Document] = attrs.field(factory=dict[tuple[str, str], Document])
    tables: dict[str, TableRecord] = attrs.field(factory=dict[str, TableRecord])
    variables: dict[str, Document] = attrs.field(factory=dict[str, Document])
    values: dict[str, Document] = attrs.field(factory=dict[str, Document])
    mcp_servers: dict[str, Document] = attrs.field(factory=dict[str, Document])
    default_credentials: dict[tuple[str, str], object] = attrs.field(
        factory=dict[tuple[str, str], object], repr=False
    )
    schedule_due: dict[str, float] = attrs.field(factory=dict[str, float])
    """When (emulator clock) each running schedule fires next; none once it has no next time."""

    def stamp(self, doc: Document, *, created: bool = False) -> Document:
        """Set `updatedAt` (and `createdAt` when `created`) to now; returns `doc`."""
        now = iso(self.wall())
        if created:
            doc["createdAt"] = now
        doc["updatedAt"] = now
        return doc

    def linked_account(self, linked_account_id: str) -> Document:
        """The linked account's document, or 404."""
        account = self.linked_accounts.get(linked_account_id)
        if account is None:
            raise ApiError(
                404, f"linked account {linked_account_id!r} not found", "LINKED_ACCOUNT_NOT_FOUND"
            )
        return account

    def executions_of(self, linked_account_id: str | None) -> Iterator[ExecutionRecord]:
        """The executions visible to a linked account (all of them for `None`)."""
        for record in self.executions.values():
            if linked_account_id is None or record.linked_account_id == linked_account_id:
                yield record


@attrs.define(kw_only=True)
class Settings:
    """Tunable behaviour of the emulated API.

    Attributes:
        token_ttl: Seconds a session token lives (`expires_in`).
        refresh_ttl: Seconds its refresh token lives (`refresh_expires_in`).
        execution_delay: Seconds (emulator clock) an async execution runs before it
            completes; 0 completes at once.
    """

    token_ttl: float = 3600.0
    refresh_ttl: float = 86400.0
    execution_delay: float = 1.0


@attrs.define(kw_only=True)
class Backend:
    """All of the emulator's state: the worlds, the session tokens, the human tasks."""

    settings: Settings
    # Keyed by API key and by session token: neither may show in a repr.
    worlds: dict[str, World] = attrs.field(factory=dict[str, World], repr=False)
    tokens: dict[str, TokenRecord] = attrs.field(factory=dict[str, TokenRecord], repr=False)
    human_tasks: dict[str, Document] = attrs.field(factory=dict[str, Document])
    emitted: list[tuple[World, str, Document]] = attrs.field(
        factory=list[tuple[World, str, Document]], repr=False
    )
    """Webhook events recorded by handlers, for the emulator's pump to queue for delivery."""
    running: dict[str, tuple[World, ExecutionRecord]] = attrs.field(
        factory=dict[str, tuple[World, ExecutionRecord]], repr=False
    )
    """Executions whose end has not been announced yet, by id."""
    failing: int = 0
    """How many of the next executions started end `Errored`."""

    def emit(self, world: World, event: str, payload: Document) -> None:
        """Record a webhook event (`{"event": event, **payload}`) for delivery."""
        self.emitted.append((world, event, {"event": event, **payload}))

    def live_token_for(
        self, world_key: str, linked_account_id: str, now: float
    ) -> TokenRecord | None:
        """A usable token already minted for the account, if there is one."""
        for record in self.tokens.values():
            if (
                record.world_key == world_key
                and record.linked_account_id == linked_account_id
                and record.usable(now)
            ):
                return record
        return None
