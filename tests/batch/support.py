"""Helpers for batch tests: an emulator that records what it handled, clients, jobs.

`RecordingEmulator` notes every request that reached the API's handlers (faults that
answer first, or fail the connection, never get there), so a test can count how many
times a POST actually took effect per item. The job functions live here, at module
level, so that a child process and the test name them alike (the journal checks `fn`).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from refold_async import AsyncRefold, RetryPolicy
from refold_async.testing import BASE_URL, Emulator
from refold_async.testing._http import EmulatedRequest, EmulatedResponse

TEST_KEY = "tk_test_batch_suite_0001"
ACCOUNT = "acme"
NO_BACKOFF = RetryPolicy(backoff_base=0.0, backoff_cap=0.0, max_attempts=4)


class RecordingEmulator(Emulator):
    """An emulator that records each request its handlers saw: (method, path, body)."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("api_keys", [TEST_KEY])
        super().__init__(**options)
        self.handled: list[tuple[str, str, bytes]] = []

    def dispatch(self, request: EmulatedRequest) -> EmulatedResponse:
        self.handled.append((request.method, request.path, request.body))
        return super().dispatch(request)

    def effects(self, method: str, marker: str) -> Counter[str]:
        """How many `method` requests naming `marker...` keys in their body took effect."""
        seen: Counter[str] = Counter()
        for handled_method, _path, body in self.handled:
            if handled_method != method or not body:
                continue
            for word in _strings(json.loads(body)):
                if word.startswith(marker):
                    seen[word] += 1
        return seen


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def make_client(emulator: Emulator, **options: Any) -> AsyncRefold:
    """An in-process client: no rate limit and no backoff unless `options` say so."""
    options.setdefault("rate_limit", None)
    options.setdefault("retry", NO_BACKOFF)
    options.setdefault("api_key", emulator.api_key)
    return AsyncRefold(
        base_url=BASE_URL, http_client=httpx.AsyncClient(transport=emulator.transport()), **options
    )


def journal_records(path: Path) -> list[dict[str, Any]]:
    """The journal's records (every line JSON)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def last_states(path: Path) -> dict[str, str]:
    """Each key's last state in a journal."""
    return {r["key"]: r["state"] for r in journal_records(path) if r["type"] == "item"}


# -- jobs: module level, so that child processes and tests share their names ----------


async def create_account(client: AsyncRefold, key: str) -> str:
    """A POST per item: create a linked account named by the key."""
    await client.linked_accounts.create(linked_account_id=key, name=f"name of {key}")
    return key


async def upsert_account(client: AsyncRefold, key: str) -> None:
    """A PUT per item."""
    await client.linked_accounts.upsert(linked_account_id=key, name=f"name of {key}")
