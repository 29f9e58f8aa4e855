"""Batch jobs: run a function over many items within the rate budget (docs/architecture.md §11).

`AsyncRefold.batch()` and `Refold.batch()` are the way in; this module holds what they
return and raise:

- `BatchReport`: counts per state, the results kept, requests, 429s, the pace against
  the budget's floor, `summary()`, `to_jsonl()`, `merge()` of shards and
  `from_journal()`;
- `ItemResult` and `ItemState`: one item's outcome (`succeeded`, `failed`, `unknown`,
  `skipped`, `duplicate`);
- `BatchProgress`: the snapshot a `progress=` callback receives;
- `BatchInterrupted`: raised, with the partial report, after Ctrl-C or SIGTERM;
- `JournalMismatchError`: the journal belongs to another job (or is not a journal);
- `JournalLockedError`: another run holds the journal;
- `JournalWriteError`: a record could not be written (full disk), with the partial report;
- `UnknownItem`, `Reconciler`, `check_linked_account()`, `check_webhook()`,
  `first_answer()`: settling `unknown` items on resume (`reconcile=`);
- `resolve()`: mark unknown items by hand (`refold batch resolve`);
- `shard_of()`: which shard a key belongs to.

Example:
    ```python
    async def sync_account(client: AsyncRefold, account_id: str) -> str:
        account = await client.linked_accounts.retrieve(account_id)
        await client.events.trigger(event="sync", linked_account_id=account.id, payload={})
        return account.id


    report = await client.batch(account_ids, sync_account, journal="sync.jsonl")
    print(report.summary())
    ```
"""

from ._journal import JournalLockedError as JournalLockedError
from ._journal import JournalMismatchError as JournalMismatchError
from ._journal import JournalWriteError as JournalWriteError
from ._journal import resolve as resolve
from ._progress import BatchProgress as BatchProgress
from ._reconcile import Reconciler as Reconciler
from ._reconcile import UnknownItem as UnknownItem
from ._reconcile import check_linked_account as check_linked_account
from ._reconcile import check_webhook as check_webhook
from ._reconcile import first_answer as first_answer
from ._report import BatchReport as BatchReport
from ._report import ItemResult as ItemResult
from ._report import ItemState as ItemState
from ._runner import BatchInterrupted as BatchInterrupted
from ._runner import shard_of as shard_of
from ._settings import BatchOptions as BatchOptions

__all__ = [
    "BatchInterrupted",
    "BatchOptions",
    "BatchProgress",
    "BatchReport",
    "ItemResult",
    "ItemState",
    "JournalLockedError",
    "JournalMismatchError",
    "JournalWriteError",
    "Reconciler",
    "UnknownItem",
    "check_linked_account",
    "check_webhook",
    "first_answer",
    "resolve",
    "shard_of",
]

ItemState.__module__ = __name__  # reprs and tracebacks name the public module
