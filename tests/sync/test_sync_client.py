"""`refold_sync.testing.sync_client(emulator)`: the blocking client on the in-process emulator."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from refold_async import AsyncRefold, RefoldUsageError
from refold_async.testing import Emulator
from refold_sync import Refold
from refold_sync import _portal as portal
from refold_sync.testing import sync_client


def test_one_line_reaches_the_emulator_in_process() -> None:
    """Calls land in the emulator's state, with its first key and no sockets."""
    emulator = Emulator(rate_limit=None)
    with sync_client(emulator, rate_limit=None) as client:
        assert isinstance(client, Refold)
        client.linked_accounts.upsert(linked_account_id="acme", name="Acme")
        assert client.linked_accounts.retrieve("acme").name == "Acme"
        assert client.environment == "test"
    assert "acme" in emulator.world().linked_accounts
    assert emulator.stats.of(emulator.api_key).requests == 2


def test_the_async_client_and_its_pool_are_made_and_closed_on_the_loop_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`emulator.client()` runs on the SDK's loop thread; `close()` closes the pool it made."""
    emulator = Emulator(rate_limit=None)
    made: list[tuple[bool, AsyncRefold]] = []
    original = emulator.client

    def recording(**options: Any) -> AsyncRefold:
        client = original(**options)
        made.append((portal.is_loop_thread(), client))
        return client

    monkeypatch.setattr(emulator, "client", recording)
    client = sync_client(emulator, rate_limit=None)
    client.events.list()
    assert [on_loop for on_loop, _ in made] == [True]
    http = made[0][1]._transport.http  # pyright: ignore[reportPrivateUsage]
    assert not http.is_closed
    client.close()
    assert http.is_closed
    with pytest.raises(RefoldUsageError):
        client.events.list()


def test_options_pass_through_to_the_client() -> None:
    """`linked_account_id=` binds the client to one account, as with `Refold(...)`."""
    emulator = Emulator(rate_limit=None)
    with sync_client(emulator, rate_limit=None) as admin:
        admin.linked_accounts.upsert(linked_account_id="acme", name="Acme")
    with sync_client(emulator, rate_limit=None, linked_account_id="acme") as client:
        assert client.linked_account_id == "acme"
        assert client.executions.list().first_page().total_docs == 0


def test_many_threads_share_one_sync_client() -> None:
    """The blocking client on the emulator serves a thread pool, each call answered once."""
    emulator = Emulator(rate_limit=None)
    with sync_client(emulator, rate_limit=None) as client, ThreadPoolExecutor(8) as pool:
        names = list(
            pool.map(
                lambda n: (
                    client.linked_accounts.upsert(
                        linked_account_id=f"acct-{n}", name=f"Account {n}"
                    ).name
                ),
                range(24),
            )
        )
    assert names == [f"Account {n}" for n in range(24)]
    assert len(emulator.world().linked_accounts) == 24


def test_misuse_is_refused_at_the_call() -> None:
    """Not an emulator, a second http client, or an option the client refuses: clear errors."""
    emulator = Emulator(rate_limit=None)
    with pytest.raises(TypeError, match="takes an Emulator"):
        sync_client("http://127.0.0.1:8787")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="drop http_client"):
        sync_client(emulator, http_client=None)
    with pytest.raises(RefoldUsageError, match="timeout"):
        sync_client(emulator, timeout=-1)


def test_the_readme_one_liner_runs() -> None:
    """The testing guide's blocking-client example runs as written."""
    readme = (Path(__file__).resolve().parents[2] / "docs" / "testing.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    block = next(b for b in blocks if "sync_client(emulator" in b)
    namespace: dict[str, Any] = {}
    exec(block, namespace)  # noqa: S102 - our docs
    assert "acct_1" in namespace["emulator"].world().linked_accounts
