"""Settling `unknown` items: `UnknownItem`, the `reconcile=` protocol, shipped checks.

An item is `unknown` when a POST or PATCH of it may have reached the server and its
answer was lost (or the process died with it in flight). The API has no idempotency
keys, so sending it again may do the work twice. On resume, before any item runs, the
runner asks `reconcile(client, unknown)` about each such item: `True` means the work
took effect (the item is recorded `succeeded`), `False` that it did not (`failed`: it
runs again now), `None` that it is still unknown (it stays so). A reconciler that raises
leaves its item unknown, with the error in the report.

The API lets some creations be checked afterwards, and `Reconciler`s for them ship here;
each says `None` for operations it does not know, and `first_answer()` chains them:

- `check_linked_account()`: `createLinkedAccount`, by the account's id;
- `check_webhook()`: `registerWebhook`, by the webhook's URL.

They run on the SDK's loop with the async client, on either face.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import anyio
import attrs

from refold_async._errors import NotFoundError

if TYPE_CHECKING:
    from refold_async._client import AsyncRefold

__all__ = [
    "Reconcile",
    "Reconciler",
    "UnknownItem",
    "check_linked_account",
    "check_webhook",
    "first_answer",
    "reconcile_all",
]

T = TypeVar("T")

Reconcile = Callable[[Any, "UnknownItem[Any]"], "Awaitable[bool | None] | bool | None"]
"""`reconcile(client, unknown) -> True | False | None`, awaited if it returns an awaitable."""


@attrs.frozen(kw_only=True)
class UnknownItem(Generic[T]):
    """An item an earlier run left `unknown` or in flight, as `reconcile=` receives it.

    Attributes:
        key: The item's key.
        item: The item: itself when items are their own keys (strings without `key=`),
            as journaled with `journal_items=True`, else `None`.
        operation: The id of the operation that was in flight (`"createLinkedAccount"`).
        method: Its HTTP method (`"POST"`), when the journal recorded it.
        path: Its path template (`"/api/v2/public/linked-account"`), likewise.
        attempt: Which run of the item left it open.
        error_type: How its call ended (`"APIConnectionError"`), or `"Interrupted"`
            when the process died with it in flight.
    """

    key: str
    item: T | None = attrs.field(default=None, repr=False)
    operation: str | None = None
    method: str | None = None
    path: str | None = None
    attempt: int = 1
    error_type: str | None = None

    @staticmethod
    def of(record: dict[str, Any], *, item_is_key: bool) -> UnknownItem[Any]:
        """From the journal's last record of the item."""
        key = str(record.get("key"))
        in_flight = record.get("state") == "in_flight"
        return UnknownItem[Any](
            key=key,
            item=key if item_is_key else record.get("item"),
            operation=record.get("operation"),
            method=record.get("method"),
            path=record.get("path"),
            attempt=int(record.get("attempt") or 1),
            error_type=record.get("error_type") or ("Interrupted" if in_flight else None),
        )


async def reconcile_all(
    call: Callable[[UnknownItem[Any]], Awaitable[object]],
    unknown: Sequence[UnknownItem[Any]],
    limit: int,
) -> list[bool | BaseException | None]:
    """Each item's answer (or the exception its check raised), `limit` checks at a time.

    Raises:
        TypeError: A reconciler answered something other than `True`, `False` or `None`.
    """
    answers: list[object] = [None] * len(unknown)
    slots = anyio.Semaphore(max(1, limit))

    async def one(index: int) -> None:
        async with slots:
            try:
                answers[index] = await call(unknown[index])
            except Exception as exc:  # the check failed: the item stays unknown
                answers[index] = exc

    async with anyio.create_task_group() as group:
        for index in range(len(unknown)):
            group.start_soon(one, index)
    for entry, answer in zip(unknown, answers, strict=True):
        if answer is not None and not isinstance(answer, bool | BaseException):
            raise TypeError(
                f"reconcile must return True, False or None; it returned {answer!r} "
                f"for {entry.key!r}"
            )
    return cast("list[bool | BaseException | None]", answers)


class Reconciler:
    """A shipped check for one kind of operation; `None` for any other.

    Instances are called as `await reconciler(client, unknown)` with an `AsyncRefold`;
    `Refold.batch()` runs them on its loop with its async client, so they serve both faces.
    """

    operations: frozenset[str] = frozenset()

    async def __call__(self, client: AsyncRefold, unknown: UnknownItem[Any]) -> bool | None:
        if unknown.operation not in self.operations:
            return None
        return await self.check(client, unknown)

    async def check(self, client: AsyncRefold, unknown: UnknownItem[Any]) -> bool | None:
        """Whether the work took effect (`None`: cannot tell)."""
        raise NotImplementedError


Pick = Callable[[UnknownItem[Any]], "str | None"]


def _key(unknown: UnknownItem[Any]) -> str | None:
    return unknown.key


class _LinkedAccount(Reconciler):
    operations = frozenset({"createLinkedAccount"})

    def __init__(self, id_of: Pick) -> None:
        self._id_of = id_of

    async def check(self, client: AsyncRefold, unknown: UnknownItem[Any]) -> bool | None:
        account_id = self._id_of(unknown)
        if not account_id:
            return None
        try:
            # The resources are generated; the core reaches them only dynamically, so it
            # type-checks against any generated tree (the generator's tests build small ones).
            await cast("Any", client).linked_accounts.retrieve(account_id)
        except NotFoundError:
            return False
        return True


class _Webhook(Reconciler):
    operations = frozenset({"registerWebhook"})

    def __init__(self, url_of: Pick) -> None:
        self._url_of = url_of

    async def check(self, client: AsyncRefold, unknown: UnknownItem[Any]) -> bool | None:
        url = self._url_of(unknown)
        if not url:
            return None
        webhooks = await cast("Any", client).webhooks.list()  # generated: see _LinkedAccount
        return any(hook.webhook_url == url for hook in webhooks)


class _FirstAnswer(Reconciler):
    def __init__(self, reconcilers: Sequence[Reconciler]) -> None:
        self._reconcilers = tuple(reconcilers)
        self.operations = frozenset().union(*(r.operations for r in reconcilers))

    async def check(self, client: AsyncRefold, unknown: UnknownItem[Any]) -> bool | None:
        for reconciler in self._reconcilers:
            answer = await reconciler(client, unknown)
            if answer is not None:
                return answer
        return None


def check_linked_account(id_of: Pick = _key) -> Reconciler:
    """A reconciler for `createLinkedAccount`: did the account get created?

    Args:
        id_of: The account's `linked_account_id` for an unknown item (default: its key).

    Example:
        ```python
        report = await client.batch(
            ids, create_account, journal="create.jsonl", reconcile=check_linked_account()
        )
        ```
    """
    return _LinkedAccount(id_of)


def check_webhook(url_of: Pick = _key) -> Reconciler:
    """A reconciler for `registerWebhook`: is a webhook with this URL registered?

    Args:
        url_of: The webhook's URL for an unknown item (default: its key).
    """
    return _Webhook(url_of)


def first_answer(*reconcilers: Reconciler) -> Reconciler:
    """One reconciler from several: the first that does not answer `None` decides."""
    return _FirstAnswer(reconcilers)
