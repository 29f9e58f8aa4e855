"""A Django-style management command on the blocking client, fanned out over a thread pool.

In a Django project this class lives in `yourapp/management/commands/sync_customers.py`
and subclasses `django.core.management.BaseCommand` (run it with
`python manage.py sync_customers`); here it stands alone, with the same shape
(`help`, `add_arguments`, `handle`) and only the standard library, so it runs anywhere:

    REFOLD_API_KEY=tk_... python examples/sync_script.py --workers 8

For each customer (in Django, a queryset; here a generated list) it upserts the linked
account with the customer's plan and fires `customer.synced` for it. One `Refold` client
serves every worker thread: its calls share one connection pool and one rate budget, so
eight threads never exceed the API's limit. A failed customer is reported, not fatal.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TextIO

from refold_async import RefoldError
from refold_sync import Refold

EVENT = "customer.synced"


def customers(count: int) -> list[dict[str, str]]:
    """Stand-in for `Customer.objects.values("id", "name", "plan")`."""
    plans = ("free", "team", "enterprise")
    return [
        {"id": f"cust-{n:04d}", "name": f"Customer {n}", "plan": plans[n % 3]}
        for n in range(1, count + 1)
    ]


class Command:
    """`manage.py sync_customers`: push every customer to Refold."""

    help = "Upsert every customer as a Refold linked account and fire customer.synced."

    def __init__(self, stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--customers", type=int, default=20, help="how many to sync")
        parser.add_argument("--workers", type=int, default=8, help="threads sharing the client")

    def handle(self, *args: Any, **options: Any) -> int:
        rows = customers(options["customers"])
        # One client for every thread; REFOLD_API_KEY / REFOLD_BASE_URL from the environment.
        with Refold() as client:
            if not any(event.name == EVENT for event in client.events.list()):
                client.events.create(name=EVENT, response="ok")
            with ThreadPoolExecutor(max_workers=options["workers"]) as pool:
                outcomes = list(pool.map(partial(self.sync_one, client), rows))
        failed = [row["id"] for row, error in zip(rows, outcomes, strict=True) if error]
        self.stdout.write(f"synced {len(rows) - len(failed)} customers, {len(failed)} failed\n")
        for row, error in zip(rows, outcomes, strict=True):
            if error:
                self.stderr.write(f"  {row['id']}: {error}\n")
        return 1 if failed else 0

    def sync_one(self, client: Refold, row: dict[str, str]) -> str | None:
        """Sync one customer; the error's text if it failed (the others go on)."""
        try:
            client.linked_accounts.upsert(
                linked_account_id=row["id"], name=row["name"], udf={"plan": row["plan"]}
            )
            client.events.trigger(
                event=EVENT, linked_account_id=row["id"], payload={"plan": row["plan"]}
            )
        except RefoldError as error:
            return f"{type(error).__name__}: {error}"
        return None


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None) -> int:
    """What `manage.py` does for this command: parse its options, then `handle()`."""
    command = Command(stdout=stdout)
    parser = argparse.ArgumentParser(prog="sync_customers", description=command.help)
    command.add_arguments(parser)
    return command.handle(**vars(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
