"""A resumable batch job: onboard a list of customers as linked accounts, then fire an event.

For each customer id: upsert the linked account (safe to repeat) and fire the
`customer.onboarded` event for it (a POST: never repeated blindly). `client.batch()` runs
the items within the key's rate budget, writes every step to a JSONL journal, and shows
progress; run the same command again after a crash or Ctrl-C and it resumes: items that
succeeded are skipped, failed ones are retried, and items whose POST may have reached the
server are left `unknown` for you to reconcile (`--retry-unknown` sends them again).

    REFOLD_API_KEY=tk_... python examples/batch_job.py customers.txt --journal onboard.jsonl
    python examples/batch_job.py --emulator --demo 50      # no account needed

`customers.txt` holds one customer id per line. Exit status: 0 when every item
succeeded, 1 otherwise (the summary says which); `refold batch report onboard.jsonl`
summarizes the journal later.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from refold_async import AsyncRefold, BatchProgress, BatchReport

EVENT = "customer.onboarded"


async def onboard(client: AsyncRefold, customer_id: str) -> str:
    """One item: the linked account, then the event. Returns the account's id."""
    account = await client.linked_accounts.upsert(
        linked_account_id=customer_id, name=f"Customer {customer_id}"
    )
    await client.events.trigger(
        event=EVENT, linked_account_id=customer_id, payload={"customer": customer_id}
    )
    return account.account_id or customer_id


async def ensure_event(client: AsyncRefold) -> None:
    """Create the event once, so firing it works on a fresh environment too."""
    if not any(event.name == EVENT for event in await client.events.list()):
        await client.events.create(name=EVENT, response="accepted")


def progress_lines(stream: TextIO) -> Callable[[BatchProgress], None]:
    """A progress callback writing one line per tenth of the job (logs, CI)."""
    shown: set[int] = set()

    def show(progress: BatchProgress) -> None:
        if not progress.total:
            return
        done = progress.succeeded + progress.failed + progress.unknown + progress.skipped
        tenth = done * 10 // progress.total
        if tenth not in shown:
            shown.add(tenth)
            stream.write(f"{done}/{progress.total} done, {progress.failed} failed\n")

    return show


async def run(
    client: AsyncRefold,
    customers: Sequence[str],
    *,
    journal: str | Path,
    progress: bool | Callable[[BatchProgress], object] = True,
    retry_unknown: bool = False,
) -> BatchReport[str, str]:
    """Onboard every customer through `client.batch()`, journaled; returns the report."""
    await ensure_event(client)
    return await client.batch(
        customers,
        onboard,
        journal=journal,
        progress=progress,
        retry_unknown=retry_unknown,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Onboard customers as linked accounts.")
    parser.add_argument("customers", nargs="?", help="a file of customer ids, one per line")
    parser.add_argument("--journal", default="onboard.jsonl", help="the job's journal file")
    parser.add_argument("--retry-unknown", action="store_true", help="resend unknown items")
    parser.add_argument("--emulator", action="store_true", help="use an in-process emulator")
    parser.add_argument("--demo", type=int, metavar="N", help="N made-up customer ids")
    return parser


def _customers(args: argparse.Namespace) -> list[str]:
    if args.demo:
        return [f"customer-{n:04d}" for n in range(1, args.demo + 1)]
    if not args.customers:
        raise SystemExit("name a file of customer ids, or pass --demo N")
    lines = Path(args.customers).read_text().splitlines()
    return [line.strip() for line in lines if line.strip()]


async def _main(args: argparse.Namespace, out: TextIO) -> int:
    customers = _customers(args)
    progress: bool | Callable[[BatchProgress], object] = (
        True if out.isatty() else progress_lines(sys.stderr)
    )
    if args.emulator:
        from refold_async.testing import Emulator

        client = Emulator(execution_delay=0.0).client()
    else:
        client = AsyncRefold()  # REFOLD_API_KEY and REFOLD_BASE_URL from the environment
    async with client:
        report = await run(
            client, customers, journal=args.journal, progress=progress,
            retry_unknown=args.retry_unknown,
        )  # fmt: skip
    out.write(report.summary() + "\n")
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    """Run the job from the command line; returns the exit status."""
    return asyncio.run(_main(_parser().parse_args(argv), out))


if __name__ == "__main__":
    raise SystemExit(main())
