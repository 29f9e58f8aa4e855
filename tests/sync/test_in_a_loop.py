"""A blocking client used inside a running event loop warns, once, pointing at the caller."""

from __future__ import annotations

import threading
import warnings

import pytest

from refold_async.testing import Emulator
from refold_sync import _portal
from refold_sync.testing import sync_client


@pytest.fixture
def fresh_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether the process already warned is reset for the test."""
    monkeypatch.setattr(_portal, "_warned_in_a_loop", False)


@pytest.mark.anyio  # inside asyncio's loop and inside trio's (a trio notebook, a trio app)
@pytest.mark.usefixtures("fresh_warning")
async def test_a_sync_call_inside_a_running_loop_warns_once() -> None:
    """A `RuntimeWarning` naming `AsyncRefold`, at the caller's line, and only the first time."""
    emulator = Emulator(rate_limit=None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with sync_client(emulator, rate_limit=None) as client:
            for n in range(3):
                client.linked_accounts.upsert(linked_account_id=f"a{n}", name="A")
    found = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(found) == 1
    assert "AsyncRefold" in str(found[0].message)
    assert found[0].filename == __file__  # the user's line, not the SDK's
    assert len(emulator.world().linked_accounts) == 3  # the calls still work


@pytest.mark.usefixtures("fresh_warning")
def test_a_sync_call_from_a_plain_thread_does_not_warn() -> None:
    """No loop runs on the calling thread: no warning, from the main thread or another."""
    emulator = Emulator(rate_limit=None)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            with sync_client(emulator, rate_limit=None) as client:
                client.linked_accounts.upsert(linked_account_id="t", name="T")
        except BaseException as error:  # handed to the test below
            errors.append(error)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        call()
        thread = threading.Thread(target=call)
        thread.start()
        thread.join()
    assert errors == []
    assert _portal._warned_in_a_loop is False
