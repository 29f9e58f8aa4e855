"""The options of a batch: `BatchOptions` as the caller gives them, `Settings` checked.

Every option is checked before anything runs: a wrong type or value is a `TypeError` or
`ValueError` naming the option, and an unknown keyword is refused rather than ignored.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeGuard, cast

import attrs
from typing_extensions import TypedDict

from refold_async._request import refuse_unknown

from ._journal import FSYNC_POLICIES, FsyncPolicy
from ._progress import BatchProgress
from ._reconcile import Reconcile

__all__ = ["DRAIN_TIMEOUT", "BatchOptions", "Settings"]

DRAIN_TIMEOUT = 10.0


class BatchOptions(TypedDict, total=False):
    """The options of `AsyncRefold.batch()` and `Refold.batch()`.

    Attributes:
        key: A stable string key per item (default: the item, when it is a string).
        journal: A JSONL file that makes the job resumable; the same file resumes it.
        progress: `True` for a bar (or plain lines off a terminal), `False` for none,
            a callable for `BatchProgress` snapshots; default: a bar if stderr is a
            terminal and the `progress` extra is installed.
        max_in_flight: Items run at once; default sized from the client's rate budget.
        shard: `(i, n)`: run only the items whose key hashes to shard `i` of `n`.
        retry_unknown: Run again items an earlier run left `unknown` that `reconcile`
            could not settle. This MAY DUPLICATE THEM: their POST or PATCH may have taken
            effect already, and the API has no idempotency keys. Prefer `reconcile=`, or
            `refold batch resolve` after checking by hand.
        reconcile: Called on resume, before any item runs, for each item an earlier run
            left `unknown` or in flight, as `reconcile(client, unknown)` with an
            `UnknownItem` (key, item, the operation that was in flight); awaited on the
            async face. It returns `True` (the work took effect: the item succeeded),
            `False` (it did not: safe to run again) or `None` (still unknown). See
            `check_linked_account()` and `check_webhook()` for ready-made ones.
        wait_for_journal: Seconds to wait for another run to release the journal;
            default `None`: raise `JournalLockedError` at once.
        allow_unreliable_locks: Use a journal on a network file system (NFS, SMB, ...),
            whose locks may not keep two runs apart: you make sure only one runs.
        journal_fsync: When the journal is forced to disk: `"write_ahead"` (default:
            each record written before a POST or PATCH leaves, and at the end),
            `"always"` (every record), `"end"` (when the run ends) or `"never"`. Every
            record reaches the OS before the run goes on, which survives a `kill -9`;
            fsync is what survives a power cut or an OS crash.
        keep_values: Keep succeeded items' results in the report (default `True`; turn
            it off for millions of items: the journal and the counts remain).
        journal_items: Write each item itself into the journal (it must be JSON-able).
        drain_timeout: Seconds to wait for items in flight after Ctrl-C or SIGTERM.
        handle_signals: Stop gracefully on SIGINT and SIGTERM (main thread only).
    """

    key: Callable[[Any], str] | None
    journal: str | os.PathLike[str] | None
    progress: bool | Callable[[BatchProgress], object] | None
    max_in_flight: int | None
    shard: tuple[int, int] | None
    retry_unknown: bool
    keep_values: bool
    journal_items: bool
    drain_timeout: float
    handle_signals: bool
    reconcile: Reconcile | None
    wait_for_journal: float | None
    allow_unreliable_locks: bool
    journal_fsync: FsyncPolicy


@attrs.frozen(kw_only=True)
class Settings:
    key: Callable[[Any], str] | None
    journal: Path | None
    progress: bool | Callable[[BatchProgress], object] | None
    max_in_flight: int | None
    shard: tuple[int, int] | None
    retry_unknown: bool
    keep_values: bool
    journal_items: bool
    drain_timeout: float
    handle_signals: bool
    reconcile: Reconcile | None
    wait_for_journal: float | None
    allow_unreliable_locks: bool
    journal_fsync: FsyncPolicy

    @classmethod
    def of(cls, options: BatchOptions) -> Settings:
        refuse_unknown("batch()", options, BatchOptions.__annotations__)
        journal = options.get("journal")
        return cls(
            key=options.get("key"),
            journal=Path(journal) if journal is not None else None,
            progress=options.get("progress"),
            max_in_flight=_check_in_flight(options.get("max_in_flight")),
            shard=_check_shard(options.get("shard")),
            retry_unknown=bool(options.get("retry_unknown", False)),
            keep_values=bool(options.get("keep_values", True)),
            journal_items=bool(options.get("journal_items", False)),
            drain_timeout=float(options.get("drain_timeout", DRAIN_TIMEOUT)),
            handle_signals=bool(options.get("handle_signals", True)),
            reconcile=_check_reconcile(options.get("reconcile")),
            wait_for_journal=_check_wait(options.get("wait_for_journal")),
            allow_unreliable_locks=bool(options.get("allow_unreliable_locks", False)),
            journal_fsync=_check_fsync(options.get("journal_fsync", "write_ahead")),
        )


def _check_reconcile(value: object) -> Reconcile | None:
    if value is not None and not callable(value):
        raise TypeError(f"reconcile must be a callable (client, unknown) or None, not {value!r}")
    return cast("Reconcile | None", value)


def _check_wait(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(f"wait_for_journal must be seconds (>= 0) or None, not {value!r}")
    return float(value)


def _check_fsync(value: object) -> FsyncPolicy:
    if value not in FSYNC_POLICIES:
        raise ValueError(f"journal_fsync must be one of {', '.join(FSYNC_POLICIES)}; not {value!r}")
    return cast("FsyncPolicy", value)


def _check_in_flight(value: object) -> int | None:
    if value is None:
        return None
    if not _is_int(value) or value < 1:
        raise ValueError(f"max_in_flight must be a positive integer or None, not {value!r}")
    return value


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_shard(value: object) -> tuple[int, int] | None:
    if value is None:
        return None
    if not isinstance(value, tuple | list) or len(value) != 2:  # pyright: ignore[reportUnknownArgumentType]
        raise ValueError(f"shard must be a pair (i, n), not {value!r}")
    index, count = cast("tuple[object, object]", tuple(value))  # pyright: ignore[reportUnknownArgumentType]
    if not (_is_int(index) and _is_int(count)):
        raise ValueError(f"shard must be two integers (i, n), not {value!r}")
    if not 0 <= index < count:
        raise ValueError(f"shard (i, n) needs 0 <= i < n, not {value!r}")
    return (index, count)
