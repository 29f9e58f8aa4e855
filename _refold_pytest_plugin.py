"""pytest fixtures for testing code against the Refold emulator.

Installed with the `refold` distribution and registered under the `pytest11` entry point
`refold`, so every pytest session loads this module. It is inert until a test asks for
one of its fixtures: it defines four fixtures and nothing else (no hooks, no options, no
autouse fixture), and imports only pytest when loaded. The SDK and the emulator are
imported by the fixtures, on first use. It lives outside `refold_async` and `refold_sync`
because importing either package would load the SDK into every pytest session.

Fixtures (each fresh per test):

- `refold_emulator`: an `Emulator` on a `FakeClock` (`refold_emulator.clock`), without a
  rate limit. Override it in a `conftest.py` to configure another one; the other
  fixtures build on whichever `refold_emulator` is in scope.
- `refold_client`: an `AsyncRefold` answered in-process by `refold_emulator` (no rate
  limit), closed after the test.
- `refold_sync_client`: a `refold_sync.Refold` likewise, closed after the test.
- `refold_emulator_server`: `refold_emulator` served on loopback from a background thread;
  `REFOLD_BASE_URL` and `REFOLD_API_KEY` are set for the test (restored after), so code
  that builds its own client finds it. Yields the `BackgroundServer` (`.url`, `.emulator`).

The fixtures are plain (synchronous) ones, so they work with any async test runner and
in any mode; an `async def` test still needs its runner's mark: `@pytest.mark.asyncio`
in pytest-asyncio's default strict mode (none in its auto mode), or `@pytest.mark.anyio`
(with anyio's `anyio_backend` on "asyncio" or "trio": the clients run on both).

Example:
    ```python
    @pytest.mark.asyncio
    async def test_onboarding(refold_client, refold_emulator):
        await onboard(refold_client, "acme")
        assert "acme" in refold_emulator.world().linked_accounts
    ```
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from refold_async import AsyncRefold
    from refold_async.testing import BackgroundServer, Emulator
    from refold_sync import Refold

__all__ = ["refold_client", "refold_emulator", "refold_emulator_server", "refold_sync_client"]


@pytest.fixture
def refold_emulator() -> Emulator:
    """A fresh in-process emulator on a fake clock (`.clock.advance()`), without rate limit."""
    from refold_async.testing import Emulator, FakeClock

    return Emulator(clock=FakeClock(), rate_limit=None)


@pytest.fixture
def refold_client(refold_emulator: Emulator) -> Iterator[AsyncRefold]:
    """An `AsyncRefold` on `refold_emulator`, in-process, with its key; closed after the test."""
    client = refold_emulator.client(rate_limit=None)
    yield client
    # Sync teardown, so the fixture needs no async plugin: the in-process pool holds no
    # socket, and closing it needs a loop only to await the close itself.
    _run_elsewhere(client.aclose())


@pytest.fixture
def refold_sync_client(refold_emulator: Emulator) -> Iterator[Refold]:
    """A blocking `refold_sync.Refold` on `refold_emulator`, in-process; closed after the test."""
    from refold_sync.testing import sync_client

    with sync_client(refold_emulator, rate_limit=None) as client:
        yield client


@pytest.fixture
def refold_emulator_server(
    refold_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BackgroundServer]:
    """`refold_emulator` on loopback, with `REFOLD_BASE_URL` and `REFOLD_API_KEY` set to reach it."""
    with refold_emulator.serve_in_background() as server:
        monkeypatch.setenv("REFOLD_BASE_URL", server.url)
        monkeypatch.setenv("REFOLD_API_KEY", refold_emulator.api_key)
        yield server


def _run_elsewhere(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run `coroutine` to completion on a loop of its own, whatever runs on this thread.

    Whichever loop the test ran on (asyncio's or trio's), the in-process pool closes on a
    fresh anyio loop of its own on another thread.
    """
    import threading  # here, not at load: loading the plugin stays almost free

    import anyio

    failure: list[BaseException] = []

    async def close() -> None:
        await coroutine

    def main() -> None:
        try:
            anyio.run(close)
        except BaseException as error:  # handed to the caller below
            failure.append(error)

    thread = threading.Thread(target=main, name="refold-fixture-teardown")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
