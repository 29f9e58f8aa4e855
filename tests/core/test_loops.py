"""One client, several event loops: successive `asyncio.run()` calls.

An httpx connection belongs to the loop that opened it. The pool a client makes for
itself keeps one pool per loop and closes each as its loop shuts down; a caller's own
`http_client=` bound to a closed loop raises `RefoldUsageError`, never asyncio's
`RuntimeError`.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

from refold_async import AsyncRefold, RefoldUsageError
from refold_async._client import PerLoopPool
from refold_async.testing import Emulator, FakeClock
from tests.emulator.conftest import ACCOUNT, TEST_KEY, make_client
from tests.helpers import API_KEY
from tests.sync.support import PING, LoopbackAPI, serving


@pytest.fixture
def api() -> Iterator[LoopbackAPI]:
    """A real HTTP server on loopback, so that connections (and their loops) exist."""
    with serving() as api:
        yield api


def _ping(client: AsyncRefold, name: str) -> Any:
    async def main() -> Any:
        return await client._transport.send(PING, path={"name": name})

    return asyncio.run(main())


def test_a_module_level_client_serves_successive_asyncio_runs(api: LoopbackAPI) -> None:
    """Two `asyncio.run()` calls on one client both succeed, each on its own connection."""
    client = AsyncRefold(api_key=API_KEY, base_url=api.base_url)
    assert _ping(client, "first") == {"pong": "first"}
    assert _ping(client, "second") == {"pong": "second"}
    (_, first), (_, second) = api.seen
    assert first != second  # the first loop's connection was not reused on the second


def test_each_loops_pool_is_closed_as_that_loop_shuts_down(api: LoopbackAPI) -> None:
    """After `asyncio.run()` returns, the pool it used is closed and forgotten."""
    client = AsyncRefold(api_key=API_KEY, base_url=api.base_url)
    pool = client._transport.http
    assert isinstance(pool, PerLoopPool)
    seen: list[Any] = []

    async def main() -> None:
        await client._transport.send(PING, path={"name": "x"})
        seen.append(pool.wire.loops.peek())

    asyncio.run(main())
    assert seen[0] is not None
    assert seen[0].pool.closed
    assert len(pool.wire.loops) == 0
    gc.collect()  # a socket left open would warn (ResourceWarning is an error here)


def test_derived_clients_share_the_per_loop_pool(api: LoopbackAPI) -> None:
    """A `with_options()` clone uses the parent's pool on a later loop, and aclose works."""
    client = AsyncRefold(api_key=API_KEY, base_url=api.base_url)
    clone = client.with_options(timeout=5)
    assert _ping(client, "a") == {"pong": "a"}
    assert _ping(clone, "b") == {"pong": "b"}
    assert clone._transport.http is client._transport.http

    async def close_then_call() -> None:
        await client.aclose()
        with pytest.raises(RefoldUsageError, match="closed"):
            await clone._transport.send(PING, path={"name": "c"})

    asyncio.run(close_then_call())


# The caller's pool keeps sockets of the dead loop, which nothing can close any more:
# collecting them warns. That is the caller's pool; the test lets them go here.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_callers_http_client_on_a_closed_loop_is_a_usage_error(api: LoopbackAPI) -> None:
    """The caller's own pool, bound to a loop that closed, raises a `RefoldUsageError`."""
    client = AsyncRefold(api_key=API_KEY, base_url=api.base_url, http_client=httpx.AsyncClient())
    assert _ping(client, "first") == {"pong": "first"}
    with pytest.raises(RefoldUsageError, match="http_client="):
        _ping(client, "second")
    del client
    gc.collect()


def test_minted_session_tokens_survive_a_new_loop() -> None:
    """The session-token cache is shared across loops: the second run reuses the token."""
    emulator = Emulator(api_keys=[TEST_KEY], clock=FakeClock(), rate_limit=None)
    client = make_client(emulator).for_linked_account(ACCOUNT)

    async def setup() -> None:
        await client.linked_accounts.upsert(linked_account_id=ACCOUNT, name="Acme")

    async def token_call() -> object:
        return await client.hosted_properties.retrieve()

    asyncio.run(setup())
    asyncio.run(token_call())
    minted = client._transport.tokens.secrets()
    asyncio.run(token_call())
    assert client._transport.tokens.secrets() == minted
    assert len(minted) == 1


def test_threads_each_running_a_loop_get_their_own_pools(api: LoopbackAPI) -> None:
    """Two threads, each with its own loop: each gets a pool of its own, closed as its loop ends."""
    client = AsyncRefold(api_key=API_KEY, base_url=api.base_url)
    pool = client._transport.http
    assert isinstance(pool, PerLoopPool)
    loop_pools: list[Any] = []
    answers: list[Any] = []

    async def main(name: str) -> None:
        answers.append(await client._transport.send(PING, path={"name": name}))
        loop_pools.append(pool.wire.loops.peek())

    threads = [threading.Thread(target=asyncio.run, args=(main(n),)) for n in ("t1", "t2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(a["pong"] for a in answers) == ["t1", "t2"]
    assert len(loop_pools) == 2
    assert loop_pools[0] is not loop_pools[1]
    assert all(each.pool.closed for each in loop_pools)
    assert len(pool.wire.loops) == 0


def test_aclose_closes_a_live_other_loops_pool(api: LoopbackAPI) -> None:
    """`aclose()` on one loop closes the pool of a loop still running in another thread."""
    client = AsyncRefold(api_key=API_KEY, base_url=api.base_url)
    pool = client._transport.http
    assert isinstance(pool, PerLoopPool)
    opened = threading.Event()
    seen: list[bool] = []

    async def other() -> None:
        await client._transport.send(PING, path={"name": "other"})
        mine = pool.wire.loops.peek()
        assert mine is not None
        closed = asyncio.Event()
        close = mine.pool.aclose

        async def closing() -> None:
            await close()
            closed.set()

        mine.pool.aclose = closing  # type: ignore[method-assign]
        opened.set()
        with anyio.fail_after(10):  # the close arrives on this loop, run by it
            await closed.wait()
        seen.append(mine.pool.closed)

    thread = threading.Thread(target=asyncio.run, args=(other(),))
    thread.start()
    assert opened.wait(timeout=10)
    asyncio.run(client.aclose())
    thread.join(timeout=15)
    assert seen == [True]
