"""The batch runner: takes items in order, runs `fn` on each, ends each in one state.

`run_batch()` is the engine behind `AsyncRefold.batch()` and `Refold.batch()`; the two
faces differ only in how one item is invoked (awaited, or run on a worker thread) and
how items are pulled (directly, or on a worker thread). One run:

1. opens the journal (refusing another job's) and reads what earlier runs left;
2. takes items from the iterator one at a time, in order: skips what is not in this
   shard, what already succeeded (`skipped`), what came before (`duplicate`), and what
   was left `unknown` (unless `retry_unknown`); waits until fewer than the sizer's
   number are in flight; starts the item;
3. each item runs with `_ItemTracker` installed as its call hooks (`refold_async.
   _context`): it counts requests and 429s, writes the write-ahead `in_flight` record
   before an item's first POST or PATCH is sent, and knows afterwards whether a call
   ended unknown (`_classify`);
4. on a stop request (a signal) it takes no more items, waits up to `drain_timeout`
   for those in flight, cancels the rest, and raises `BatchInterrupted` with the report;
   when the journal cannot be written, it takes no more items, lets those in flight
   end, and raises `JournalWriteError` with the report.

Before taking items, a resumed run asks `reconcile=` about what earlier runs left open
(`_reconcile`). The module runs past 600 lines because `_Runner` is one run's state and
every step above reads and updates it; the options live in `_settings`.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import math
import operator
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
)
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import anyio
import anyio.lowlevel

from refold_async._context import observing
from refold_async._errors import APIDecodeError, RefoldError, RefoldUsageError
from refold_async._ratelimit import RateLimit

from ._classify import AttemptEnd, attempt_end, error_is_unknown, is_repeatable
from ._journal import (
    Journal,
    JournalLockedError,
    JournalState,
    JournalWriteError,
    LockedFile,
    check_lockable,
    digest,
)
from ._progress import BatchProgress, ProgressSink, make_sink
from ._reconcile import UnknownItem, reconcile_all
from ._report import BatchReport, ItemResult, ItemState, counts_of
from ._settings import BatchOptions, Settings
from ._sizing import InFlightSizer
from ._stop import Stopper, stop_on_signals

if TYPE_CHECKING:
    from refold_async._client import AsyncRefold
    from refold_async._operation import Operation

__all__ = ["BatchInterrupted", "bind_reconcile", "rate_of", "run_batch", "shard_of"]

T = TypeVar("T")
R = TypeVar("R")

FINGERPRINT_KEYS = 64
"""How many first keys identify a job's input in its journal."""

LOCK_POLL = 0.05
"""Seconds between tries for a journal another run holds (`wait_for_journal=`)."""


class BatchInterrupted(RefoldError):
    """A batch stopped early (Ctrl-C, SIGTERM); `report` says what was done.

    Items that were not finished are not in the journal as done, so running the job
    again with the same journal picks up where it stopped.

    Attributes:
        report: The partial `BatchReport`.
    """

    __module__ = "refold_async"

    def __init__(self, report: BatchReport[Any, Any]) -> None:
        super().__init__(
            f"the batch was stopped by {report.stopped_by or 'a signal'} with "
            f"{report.interrupted} items unfinished"
        )
        self.report = report


def shard_of(key: str, shards: int) -> int:
    """The shard (0 to `shards - 1`) that `key` belongs to: stable across processes,
    machines and Python versions (sha256, not `hash()`)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % shards


class _Call:
    """Watches one call of an item (a `refold_async._context.CallObserver`)."""

    __slots__ = ("_tracker", "last", "op", "pending", "repeatable", "started", "status")

    def __init__(self, tracker: _ItemTracker, op: Operation[Any]) -> None:
        self._tracker = tracker
        self.op = op
        self.repeatable = is_repeatable(op.method, op.id)
        self.started = time.monotonic()
        self.pending = False
        self.last: AttemptEnd | None = None
        self.status: int | None = None

    def before_send(self, attempt: int) -> None:
        tracker = self._tracker
        if tracker.runner.refusing:
            raise RefoldUsageError("the batch has stopped: this call was not sent")
        if attempt == 1:
            tracker.queued += time.monotonic() - self.started
            if not self.repeatable:
                tracker.announce(self.op)  # may raise: then this call is not sent
        self.pending = True

    def after_attempt(self, status: int | None, error: BaseException | None) -> None:
        # Counted here, not before sending: an attempt that failed to build sent nothing.
        self._tracker.requests += 1
        self._tracker.runner.requests += 1
        self.pending = False
        self.status = status
        self.last = attempt_end(status, error)
        if status == 429:
            self._tracker.rate_limited += 1
            self._tracker.runner.rate_limited += 1

    def ended_unknown(self, *, in_flight_counts: bool) -> bool:
        """Whether this call leaves its work undetermined."""
        if self.repeatable:
            return False
        return (self.pending and in_flight_counts) or self.last is AttemptEnd.MAYBE_DONE


class _ItemTracker:
    """The call hooks of one item (a `refold_async._context.CallHooks`)."""

    def __init__(self, runner: _Runner[Any, Any], key: str, attempt: int, item: object) -> None:
        self.item = item
        self.runner = runner
        self.key = key
        self.attempt = attempt
        self.calls: list[_Call] = []
        self.requests = 0
        self.rate_limited = 0
        self.queued = 0.0
        self.announced = False

    def observe(self, op: Operation[Any]) -> _Call:
        call = _Call(self, op)
        self.calls.append(call)
        return call

    def announce(self, op: Operation[Any]) -> None:
        # Write-ahead: each POST or PATCH of the item is recorded, whole, before it
        # leaves, naming the operation a reconciler would check. A record that cannot
        # be written raises here, and the call is not sent.
        journal = self.runner.journal
        if journal is not None:
            try:
                extra = {"item": self.item} if self.runner.settings.journal_items else {}
                journal.in_flight(self.key, self.attempt, op.id, op.method, op.path, **extra)
            except JournalWriteError:
                self.runner.wake()  # the producer stops taking items
                raise
        self.announced = True

    def sent_unrepeatable(self) -> bool:
        """Whether a POST or PATCH of this item was sent (an attempt of it ended)."""
        return any(not c.repeatable and c.last is not None for c in self.calls)

    def first_unknown(self, *, in_flight_counts: bool) -> _Call | None:
        return next(
            (c for c in self.calls if c.ended_unknown(in_flight_counts=in_flight_counts)), None
        )


Invoke = Callable[[T], Awaitable[R]]


class _Runner(Generic[T, R]):
    """One run of one batch."""

    def __init__(
        self,
        invoke: Invoke[T, R],
        settings: Settings,
        *,
        rate: RateLimit | None,
        stopper: Stopper,
        total: int | None,
        reconcile: Callable[[UnknownItem[T]], Awaitable[object]] | None = None,
    ) -> None:
        self.invoke = invoke
        self.reconcile = reconcile
        self.reconciled: dict[int, bool | BaseException | None] = {}
        self.settings = settings
        self.rate = rate
        self.stopper = stopper
        self.sizer = InFlightSizer(rate, settings.max_in_flight)
        self.journal: Journal | None = None
        self.previous = JournalState()
        self.total = total
        self.requests = 0
        self.finished_requests = 0
        self.rate_limited = 0
        self.refusing = False
        self.in_flight = 0
        self.interrupted = 0
        self.counts = counts_of(())
        self.results: list[ItemResult[T, R]] = []
        self.seen: set[int] = set()
        self.started = time.monotonic()
        self.sink: ProgressSink | None = None
        self._room = anyio.Event()

    # -- the run ---------------------------------------------------------------------

    async def run(self, source: AsyncIterator[T], fn_name: str) -> BatchReport[T, R]:
        head, keys = await self._head(source)
        try:
            await self._open_journal(fn_name, keys)
        except JournalWriteError as error:  # a full disk before the first item
            error.report = self.report()
            raise
        self.sink = make_sink(self.settings.progress, self.total)
        try:
            await self._reconcile_unknown()
            await self._run_all(head, keys, source)
        finally:
            report = self.report()
            if self.journal is not None:
                self._end_journal(self.journal, report)
            if self.sink is not None:
                self.sink.close(self.snapshot(done=True))
        failed = self.journal.failed if self.journal is not None else None
        if failed is not None:
            raise JournalWriteError(
                failed.message, path=failed.path, errno=failed.errno, report=report
            ) from failed
        if self.stopper.stopping():
            raise BatchInterrupted(report)
        return report

    def _end_journal(self, journal: Journal, report: BatchReport[T, R]) -> None:
        try:
            with contextlib.suppress(JournalWriteError):  # kept in journal.failed
                journal.end_run(
                    elapsed=round(report.elapsed, 3),
                    requests=self.requests,
                    rate_limited=self.rate_limited,
                    interrupted=self.interrupted,
                    stopped_by=self.stopper.reason,
                )
        finally:
            journal.close()

    def halted(self) -> bool:
        """Whether to take no more items: a stop request, or a journal that failed."""
        return self.stopper.stopping() or (
            self.journal is not None and self.journal.failed is not None
        )

    def record(self, key: str, state: str, **fields: Any) -> None:
        """Journal an item's state; a failed write stops the run (see `halted()`)."""
        if self.journal is None:
            return
        try:
            self.journal.item(key, state, **fields)
        except JournalWriteError:
            self.wake()

    async def _head(self, source: AsyncIterator[T]) -> tuple[list[T], list[str]]:
        """The first items and their keys: they identify the input in the journal."""
        head: list[T] = []
        if self.settings.journal is not None:
            async for item in source:
                head.append(item)
                if len(head) >= FINGERPRINT_KEYS:
                    break
        return head, [self.key_of(item) for item in head]

    async def _open_journal(self, fn_name: str, keys: list[str]) -> None:
        settings = self.settings
        path = settings.journal
        if path is None:
            return
        if not settings.allow_unreliable_locks:
            check_lockable(path)
        fingerprint = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]
        shard = list(settings.shard) if settings.shard else None
        lock = await _lock(path, settings.wait_for_journal)
        try:
            journal = Journal(
                path, {"fn": fn_name, "input": fingerprint, "shard": shard}, lock,
                settings.journal_fsync,
            )  # fmt: skip
        except BaseException:
            lock.release()
            raise
        self.journal = journal
        self.previous = journal.state
        rate = [self.rate.per_second, self.rate.burst] if self.rate is not None else None
        try:
            journal.start_run(rate)
        except JournalWriteError:
            journal.close()
            raise

    async def _reconcile_unknown(self) -> None:
        """Ask `reconcile` about every item earlier runs left open, before any item runs."""
        if self.reconcile is None or not self.previous.open_records:
            return
        strings = self.settings.key is None  # then each item is its own key
        unknown = [
            UnknownItem.of(record, item_is_key=strings)
            for record in self.previous.open_records.values()
        ]
        outcomes = await reconcile_all(self.reconcile, unknown, self.sizer.limit)
        for entry, outcome in zip(unknown, outcomes, strict=True):
            self.reconciled[digest(entry.key)] = outcome
            if outcome is True:
                self.record(entry.key, "succeeded", attempt=entry.attempt, reconciled=True)
            elif outcome is False:
                self.record(entry.key, "failed", attempt=entry.attempt, reconciled=True)

    async def _run_all(self, head: list[T], keys: list[str], source: AsyncIterator[T]) -> None:
        failure: BaseException | None = None
        async with anyio.create_task_group() as group:
            try:
                await self._produce(group, head, keys, source)
                if self.stopper.stopping():
                    await self._drain()
                    self.refusing = True
                    group.cancel_scope.cancel()
            except Exception as error:  # the iterator or key= failed: stop everything
                failure = error
                self.refusing = True
                group.cancel_scope.cancel()
        if failure is not None:
            raise failure

    async def _produce(
        self,
        group: anyio.abc.TaskGroup,
        head: list[T],
        keys: list[str],
        source: AsyncIterator[T],
    ) -> None:
        for item, key in zip(head, keys, strict=True):
            if not await self._offer(group, item, key):
                return
        if len(head) < FINGERPRINT_KEYS and self.settings.journal is not None:
            return  # the head drained the source
        async for item in source:
            if not await self._offer(group, item, self.key_of(item)):
                return

    async def _offer(self, group: anyio.abc.TaskGroup, item: T, key: str) -> bool:
        """Start `item` unless it is settled already; `False` once the run is stopping."""
        if self.halted():
            return False
        shard = self.settings.shard
        if shard is not None and shard_of(key, shard[1]) != shard[0]:
            return True
        attempt = self._admit(item, key)
        if attempt is None:
            return True
        while self.in_flight >= self.sizer.limit and not self.halted():
            await self._wait_for_room()
        if self.halted():
            return False
        # A cancelled batch takes no more items, even when room is free at once (the
        # cancelled items' own ends free it): starting a task is not a checkpoint.
        await anyio.lowlevel.checkpoint_if_cancelled()
        self.in_flight += 1
        group.start_soon(self._item, item, key, attempt)
        return True

    def _admit(self, item: T, key: str) -> int | None:
        """This item's attempt number, or `None` when it is settled without running."""
        code = digest(key)
        if code in self.seen:
            self._settle(ItemResult(key=key, state=ItemState.DUPLICATE, item=item))
            return None
        self.seen.add(code)
        state, attempt = self.previous.states.get(code, ("", 0))
        outcome = self.reconciled.get(code)
        if outcome is True:
            result: ItemResult[T, R] = ItemResult(
                key=key, state=ItemState.SUCCEEDED, item=item, attempt=attempt, reconciled=True
            )
            self._settle(result, journal=False)
            return None
        if outcome is False:
            return attempt + 1
        if state == "succeeded":
            self.counts[ItemState.SKIPPED] += 1
            self._progress()
            return None
        if state in ("in_flight", "unknown") and not self.settings.retry_unknown:
            record = self.previous.open_records.get(code, {})
            self._left_unknown(item, key, record, attempt, outcome)
            return None
        return attempt + 1

    def _left_unknown(
        self, item: T, key: str, record: dict[str, Any], attempt: int, outcome: object
    ) -> None:
        error = outcome if isinstance(outcome, BaseException) else None
        result: ItemResult[T, R] = ItemResult(
            key=key,
            state=ItemState.UNKNOWN,
            item=item,
            error=error,
            error_type=record.get("error_type") or _interrupted_type(record),
            status=record.get("status"),
            code=record.get("code"),
            operation=record.get("operation"),
            attempt=attempt,
        )
        if record.get("state") == "in_flight":
            # A run died with this item's POST or PATCH in flight: say so, once.
            self.record(key, "unknown", **result.record(), **_where(record))
        self._settle(result, journal=False)

    async def _wait_for_room(self) -> None:
        """Until an item finishes, or a stop request comes (the stopper wakes us too)."""
        room = self._room = anyio.Event()
        await room.wait()

    def wake(self) -> None:
        self._room.set()

    async def _drain(self) -> None:
        """Wait a bounded time for the items in flight, or until told to hurry."""
        with anyio.move_on_after(self.settings.drain_timeout):
            while self.in_flight and not self.stopper.hurried:
                await self._wait_for_room()

    # -- one item --------------------------------------------------------------------

    async def _item(self, item: T, key: str, attempt: int) -> None:
        tracker = _ItemTracker(self, key, attempt, item)
        started = time.monotonic()
        value: R | None = None
        error: Exception | None = None
        cancelled = True
        try:
            with observing(tracker):
                value = await self.invoke(item)
            cancelled = False
        except Exception as exc:  # fn's failure is the item's, never the batch's
            error, cancelled = exc, False
        finally:
            self.in_flight -= 1
            self._room.set()
            seconds = time.monotonic() - started
            self.sizer.observe(seconds, tracker.queued, tracker.requests)
            self.finished_requests += tracker.requests
            self._finish(tracker, item, value, error, cancelled, seconds)

    def _finish(
        self,
        tracker: _ItemTracker,
        item: T,
        value: R | None,
        error: Exception | None,
        cancelled: bool,
        seconds: float,
    ) -> None:
        # An attempt left in flight counts, unless the item's error says nothing was sent.
        in_flight_counts = cancelled or not isinstance(error, RefoldUsageError)
        unknown = tracker.first_unknown(in_flight_counts=in_flight_counts)
        fields: dict[str, Any] = {
            "key": tracker.key,
            "item": item,
            "attempt": tracker.attempt,
            "requests": tracker.requests,
            "seconds": seconds,
        }
        if unknown is not None:
            state = ItemState.UNKNOWN
            fields.update(operation=unknown.op.id, status=unknown.status)
        elif cancelled:
            self._interrupted(tracker)
            return
        elif error is None:
            state = ItemState.SUCCEEDED
            fields["value"] = value
        else:
            # The observers saw every call made in the item's context; the error alone
            # decides for a 2xx that could not be read, or a call they did not see.
            decides = isinstance(error, APIDecodeError) or not tracker.calls
            unknown_error = decides and error_is_unknown(error)
            # Stopped by the journal after an earlier POST or PATCH of it went out: part
            # of its work may be done, so running it again is not safe.
            partly_done = isinstance(error, JournalWriteError) and tracker.sent_unrepeatable()
            state = ItemState.UNKNOWN if unknown_error or partly_done else ItemState.FAILED
        if error is not None:
            fields.update(_error_fields(error))
        elif cancelled:
            fields["error_type"] = "Interrupted"
        self._settle(ItemResult(state=state, **fields), rate_limited=tracker.rate_limited)

    def _interrupted(self, tracker: _ItemTracker) -> None:
        self.interrupted += 1
        if tracker.announced:
            # Its POSTs were all answered: running it again from the start is the user's
            # call to make, as for a failed item, so resume does run it again.
            self.record(tracker.key, "interrupted", attempt=tracker.attempt)

    def _settle(
        self, result: ItemResult[T, R], *, journal: bool = True, rate_limited: int = 0
    ) -> None:
        self.counts[result.state] += 1
        final = result.state in (ItemState.SUCCEEDED, ItemState.FAILED, ItemState.UNKNOWN)
        if journal and final and self.journal is not None:
            extra: dict[str, Any] = {"rate_limited": rate_limited} if rate_limited else {}
            if self.settings.journal_items:
                extra["item"] = result.item
            self.record(result.key, result.state.value, **result.record(), **extra)
        if result.state is not ItemState.SUCCEEDED or self.settings.keep_values:
            self.results.append(result)
        self._progress()

    # -- reporting -------------------------------------------------------------------

    def key_of(self, item: T) -> str:
        key_fn = self.settings.key
        if key_fn is None:
            if not isinstance(item, str):
                raise TypeError(
                    f"batch items must be strings unless key= is given; got "
                    f"{type(item).__name__}: pass key=lambda item: ... (a stable string per item)"
                )
            return item
        key = cast(object, key_fn(item))
        if not isinstance(key, str) or not key:
            raise TypeError(f"key= must return a non-empty string, got {key!r}")
        return key

    def _progress(self) -> None:
        if self.sink is not None:
            self.sink.update(self.snapshot())

    def snapshot(self, *, done: bool = False) -> BatchProgress:
        c = self.counts
        elapsed = time.monotonic() - self.started
        ran = c[ItemState.SUCCEEDED] + c[ItemState.FAILED] + c[ItemState.UNKNOWN]
        finished = ran + c[ItemState.SKIPPED] + c[ItemState.DUPLICATE]
        pace = ran / elapsed if elapsed > 0 else 0.0
        eta, floor = self._eta(finished, ran, pace)
        return BatchProgress(
            succeeded=c[ItemState.SUCCEEDED], failed=c[ItemState.FAILED],
            unknown=c[ItemState.UNKNOWN], skipped=c[ItemState.SKIPPED],
            duplicates=c[ItemState.DUPLICATE], in_flight=self.in_flight, total=self.total,
            elapsed=elapsed, requests=self.requests, rate_limited=self.rate_limited,
            items_per_second=pace, eta=eta, eta_floor=floor, done=done,
        )  # fmt: skip

    def _eta(self, finished: int, ran: int, pace: float) -> tuple[float | None, float | None]:
        if self.total is None:
            return None, None
        remaining = max(0, self.total - finished)
        floor = None
        if self.rate is not None:
            # Requests still to come: the finished items' mean for each remaining item,
            # less what the items in flight have sent already.
            per_item = self.finished_requests / ran if ran else 1.0
            to_come = remaining * per_item - (self.requests - self.finished_requests)
            floor = max(0.0, to_come - self.rate.burst) / self.rate.per_second
        observed = remaining / pace if pace > 0 else None
        candidates = [v for v in (floor, observed) if v is not None]
        return (max(candidates) if candidates else None), floor

    def report(self) -> BatchReport[T, R]:
        return BatchReport(
            counts=dict(self.counts),
            results=tuple(self.results),
            interrupted=self.interrupted,
            elapsed=time.monotonic() - self.started,
            requests=self.requests,
            rate_limited=self.rate_limited,
            rate=self.rate,
            stopped_by=self.stopper.reason,
        )


async def _lock(path: Path, wait: float | None) -> LockedFile:
    """The journal's lock; polled for up to `wait` seconds while another run holds it."""
    deadline = None if wait is None else time.monotonic() + wait
    while True:
        try:
            return LockedFile.try_acquire(path)
        except JournalLockedError:
            if deadline is None or time.monotonic() >= deadline:
                raise
        await anyio.sleep(min(LOCK_POLL, max(0.0, deadline - time.monotonic())))


def _where(record: dict[str, Any]) -> dict[str, Any]:
    """The in-flight operation's method and path, carried into the `unknown` record."""
    return {name: record[name] for name in ("method", "path") if record.get(name)}


def _interrupted_type(record: dict[str, Any]) -> str | None:
    return "Interrupted" if record.get("state") == "in_flight" else None


def _error_fields(error: BaseException) -> dict[str, Any]:
    fields: dict[str, Any] = {"error": error, "error_type": type(error).__name__}
    status = getattr(error, "status", None)
    if isinstance(status, int):
        fields["status"] = status
    code = getattr(error, "code", None)
    if isinstance(code, str):
        fields["code"] = code
    return fields


def rate_of(client: AsyncRefold) -> RateLimit | None:
    """The rate budget of `client`'s limiter, if it has one (`.rate`, as ours do)."""
    limiter = client._transport.config.limiter  # pyright: ignore[reportPrivateUsage]
    rate = getattr(limiter, "rate", None)
    return rate if isinstance(rate, RateLimit) else None


def fn_name(fn: object) -> str:
    """A stable name for `fn`, which identifies the job in its journal."""
    target = getattr(fn, "func", fn)  # functools.partial
    module = getattr(target, "__module__", None) or type(target).__module__
    name = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}:{name}"


def expected_total(items: object, shard: tuple[int, int] | None) -> int | None:
    """How many items to expect, from `len()` or a length hint (a shard's share estimated)."""
    hint = operator.length_hint(items, -1) if not isinstance(items, AsyncIterable) else -1
    if hint < 0:
        return None
    return math.ceil(hint / shard[1]) if shard else hint


async def aiterate(items: Iterable[T] | AsyncIterable[T]) -> AsyncGenerator[T, None]:
    """Items one at a time, from a plain or an async iterable."""
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


async def run_batch(
    items: Iterable[T] | AsyncIterable[T],
    invoke: Invoke[T, R],
    options: BatchOptions,
    *,
    fn: object,
    rate: RateLimit | None,
    source: AsyncIterator[T] | None = None,
    stopper: Stopper | None = None,
    reconcile: Callable[[UnknownItem[T]], Awaitable[object]] | None = None,
) -> BatchReport[T, R]:
    """Run one batch on the current loop (see the module's docs).

    Args:
        items: The items (consumed lazily).
        invoke: Runs one item: `fn(client, item)`, awaited or on a worker thread.
        options: `BatchOptions`.
        fn: The user's function, for the job's name in the journal.
        rate: The client's rate budget, for sizing, the ETA and the report's floor.
        source: How to pull items, if not straight from `items`.
        stopper: Where stop requests arrive (signals are handled here when not given).
        reconcile: Calls the `reconcile=` option with the face's client (`bind_reconcile`).
    """
    settings = Settings.of(options)
    own_stopper = stopper is None
    stopper = stopper or Stopper()
    stopper.bind()
    total = expected_total(items, settings.shard)
    runner = _Runner(invoke, settings, rate=rate, stopper=stopper, total=total, reconcile=reconcile)
    stopper.on_change = runner.wake
    pulled = aiterate(items) if source is None else None
    try:
        with stop_on_signals(stopper, enabled=own_stopper and settings.handle_signals):
            return await runner.run(pulled or source or aiterate(()), fn_name(fn))
    finally:
        # Closed here, not left to the garbage collector: trio has no hook that would
        # finalize an abandoned async generator (asyncio's does), and warns.
        if pulled is not None:
            await pulled.aclose()


def bind_reconcile(
    options: BatchOptions, client: object
) -> Callable[[UnknownItem[Any]], Awaitable[object]] | None:
    """The async face's `reconcile=` option, called with `client` and awaited if need be."""
    reconcile = options.get("reconcile")
    if reconcile is None:
        return None

    async def call(unknown: UnknownItem[Any]) -> object:
        outcome = reconcile(client, unknown)
        return await outcome if inspect.isawaitable(outcome) else outcome

    return call
