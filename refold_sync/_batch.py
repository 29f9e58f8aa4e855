"""`Refold.batch()`: the batch runner of `refold_async.batch`, with blocking `fn`s.

The runner itself runs on the SDK's loop thread (`_portal`), as every sync call does;
each item's `fn(client, item)` runs on a worker thread, and its blocking calls hop back
to the loop. The item's call hooks travel with it: anyio starts the worker in a copy of
the item task's context, and `_portal.run` starts each call's task in a copy of the
worker's. Items are pulled on a worker thread too, so an iterator that itself calls the
client (`client.linked_accounts.list()`) works. Signals are caught on the caller's
thread (the main one, if it is) and handed to the runner's loop.
"""

from __future__ import annotations

from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
)
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread

from refold_async.batch import BatchOptions, BatchReport, Reconciler, UnknownItem
from refold_async.batch._runner import bind_reconcile, rate_of, run_batch
from refold_async.batch._sizing import MAX_IN_FLIGHT
from refold_async.batch._stop import Stopper, stop_on_signals

from . import _portal

if TYPE_CHECKING:
    from refold_async import AsyncRefold

    from ._client import Refold

__all__ = ["run_sync_batch"]

T = TypeVar("T")
R = TypeVar("R")
C = TypeVar("C", bound="Refold")


def run_sync_batch(
    client: C, items: Iterable[T], fn: Callable[[C, T], R], options: BatchOptions
) -> BatchReport[T, R]:
    """Run the batch on the loop thread; block here until it ends."""
    if isinstance(items, AsyncIterable):
        raise TypeError("Refold.batch() takes a plain iterable; use AsyncRefold for async ones")
    stopper = Stopper()
    with stop_on_signals(stopper, enabled=options.get("handle_signals", True)):
        return _portal.run(_run, client, items, fn, options, stopper)


async def _run(
    client: C, items: Iterable[T], fn: Callable[[C, T], R], options: BatchOptions, stopper: Stopper
) -> BatchReport[T, R]:
    workers = anyio.CapacityLimiter(MAX_IN_FLIGHT + 1)

    async def invoke(item: T) -> R:
        return await anyio.to_thread.run_sync(
            fn, client, item, limiter=workers, abandon_on_cancel=True
        )

    live = client._live()  # pyright: ignore[reportPrivateUsage]
    return await run_batch(
        items, invoke, options, fn=fn, rate=rate_of(live), source=_pulled(items),
        stopper=stopper, reconcile=_reconcile_call(options, client, live, workers),
    )  # fmt: skip


def _reconcile_call(
    options: BatchOptions, client: Refold, live: AsyncRefold, workers: anyio.CapacityLimiter
) -> Callable[[UnknownItem[Any]], Awaitable[object]] | None:
    """`reconcile=` on this face: a plain function on a worker thread, given this client;
    a shipped `Reconciler` on the loop, given the async client behind it."""
    reconcile = options.get("reconcile")
    if reconcile is None:
        return None
    if isinstance(reconcile, Reconciler):
        return bind_reconcile(options, live)

    async def call(unknown: UnknownItem[Any]) -> object:
        return await anyio.to_thread.run_sync(
            reconcile, client, unknown, limiter=workers, abandon_on_cancel=True
        )

    return call


async def _pulled(items: Iterable[T]) -> AsyncIterator[T]:
    """The items, each taken on a worker thread: never on the loop thread itself."""
    puller = anyio.CapacityLimiter(1)
    iterator = await anyio.to_thread.run_sync(iter, items, limiter=puller)
    while True:
        more, item = await anyio.to_thread.run_sync(_next, iterator, limiter=puller)
        if not more:
            return
        yield item  # type: ignore[misc]  # `more` says it is a T


def _next(iterator: Iterator[T]) -> tuple[bool, T | None]:
    for item in iterator:
        return True, item
    return False, None
