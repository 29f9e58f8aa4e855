"""`refold_sync.Refold`: options, lifecycle, threads, errors, cancellation."""

from __future__ import annotations

import asyncio
import inspect
import pickle
import signal
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

import refold_sync._client
from refold_async import (
    AsyncRefold,
    EnvironmentMismatchError,
    InvalidArgumentError,
    NotFoundError,
    RateLimit,
    RefoldUsageError,
)
from refold_sync import Refold, _portal
from tests.helpers import API_KEY, BASE_URL, LIVE_KEY
from tests.sync.support import InProcessAPI, outcome_within, probe, refusals, serving


@pytest.fixture
def api() -> InProcessAPI:
    return InProcessAPI()


@pytest.fixture
def client(api: InProcessAPI) -> Any:
    with api.client() as client:
        yield client


def test_constructor_takes_exactly_the_async_clients_options() -> None:
    """`Refold()` has the same keyword options, defaults and annotations as `AsyncRefold()`."""
    sync = inspect.signature(Refold.__init__).parameters
    async_ = inspect.signature(AsyncRefold.__init__).parameters
    assert [(p.name, p.kind, p.default, p.annotation) for p in sync.values()] == [
        (p.name, p.kind, p.default, p.annotation) for p in async_.values()
    ]


def test_options_pass_through_to_the_async_client() -> None:
    """Options reach the wrapped client; its settings show through the sync one."""
    with Refold(
        api_key=API_KEY, base_url=BASE_URL, linked_account_id="acct-1", rate_limit=None
    ) as client:
        assert client.environment == "test"
        assert client.base_url == BASE_URL
        assert client.linked_account_id == "acct-1"


def test_the_async_client_is_made_on_the_loop_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wrapped `AsyncRefold` (and its httpx client) is created on the loop thread."""
    made_on: list[str] = []

    class Recording(AsyncRefold):
        def __init__(self, **options: Any) -> None:
            made_on.append(threading.current_thread().name)
            super().__init__(**options)

    monkeypatch.setattr(refold_sync._client, "AsyncRefold", Recording)
    with Refold(api_key=API_KEY, rate_limit=None):
        pass
    assert made_on == ["refold-sync-loop"]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        pytest.param({"base_url": "ftp://example.com"}, InvalidArgumentError, id="bad-url"),
        pytest.param(
            {"api_key": LIVE_KEY, "expect_environment": "test"},
            EnvironmentMismatchError,
            id="wrong-environment",
        ),
    ],
)
def test_bad_options_fail_at_construction_with_the_async_error(
    options: dict[str, Any], error: type[Exception]
) -> None:
    """Options the async client refuses raise its own error class, from the constructor."""
    with pytest.raises(error):
        Refold(**options)


def test_repr_shows_no_secret(client: Refold) -> None:
    """The repr is the async client's safe one, under the sync name."""
    text = repr(client)
    assert text.startswith("Refold(")
    assert API_KEY not in text
    assert "environment='test'" in text
    probe(client).ping("x")
    assert API_KEY not in repr(vars(client))  # nor do the reprs of its parts


def test_a_client_cannot_be_pickled(client: Refold) -> None:
    """Pickling is refused: a client holds credentials."""
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(client)


def test_derived_clients_share_the_pool_and_bind_the_account(client: Refold) -> None:
    """`with_options()` and `for_linked_account()` share the parent's connection pool."""
    scoped = client.for_linked_account("acct-9")
    slower = client.with_options(timeout=120)
    assert isinstance(scoped, Refold)
    assert scoped.linked_account_id == "acct-9"
    assert client.linked_account_id is None
    http = client._snapshot()._transport.http
    assert scoped._snapshot()._transport.http is http
    assert slower._snapshot()._transport.http is http
    assert probe(scoped).ping("x") == {"pong": "x"}


def test_derived_client_validation_uses_the_async_errors(client: Refold) -> None:
    """A derived client with bad settings raises the async face's error class."""
    with pytest.raises(InvalidArgumentError):
        client.for_linked_account("")
    with pytest.raises(InvalidArgumentError):
        client.with_options(base_url="ftp://example.com")


def test_close_closes_an_owned_pool_and_later_calls_are_refused() -> None:
    """Leaving `with` closes the client's own pool; a closed client refuses calls."""
    with Refold(api_key=API_KEY, rate_limit=None) as client:
        http = client._snapshot()._transport.http
        closed = [http.is_closed]
    closed.append(http.is_closed)
    assert closed == [False, True]
    client.close()  # twice is harmless
    with pytest.raises(RefoldUsageError, match="closed"):
        probe(client).ping("x")


def test_close_leaves_a_given_http_client_open(api: InProcessAPI) -> None:
    """A pool passed in with `http_client=` stays the caller's to close."""
    client = api.client()
    http = client._snapshot()._transport.http
    client.close()
    assert not http.is_closed
    _portal.run(http.aclose)


def test_errors_are_the_async_classes_with_async_frames(client: Refold) -> None:
    """An API error arrives as the async face's class, with the transport's frames."""
    with pytest.raises(NotFoundError) as info:
        probe(client).ping("missing")
    assert type(info.value) is NotFoundError
    assert info.value.status == 404
    files = {frame.filename for frame in traceback.extract_tb(info.value.__traceback__)}
    assert any(name.endswith("refold_async/_transport.py") for name in files)


def test_many_threads_share_one_client_and_one_budget(api: InProcessAPI) -> None:
    """32 threads over two clients of one key all succeed and stay within one budget."""
    limit = RateLimit(per_second=200, burst=5)
    first, second = api.client(rate_limit=limit), api.client(rate_limit=limit)
    start = threading.Barrier(32)

    def work(n: int) -> list[Any]:
        resource = probe(first if n % 2 else second)
        start.wait()
        return [resource.ping(f"{n}-{i}") for i in range(5)]

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(work, range(32)))
    assert [r for thread in results for r in thread] == [
        {"pong": f"{n}-{i}"} for n in range(32) for i in range(5)
    ]
    assert len(api.arrivals) == 160
    assert refusals(api.arrivals, per_second=200, burst=5) == []
    first.close()
    second.close()


def test_the_bucket_model_catches_a_burst() -> None:
    """The server model used above does refuse a burst past its size."""
    assert refusals([0.0] * 6, per_second=200, burst=5) == [5]
    assert refusals([0.0] * 5 + [0.005], per_second=200, burst=5) == []


async def test_works_from_inside_a_running_event_loop(client: Refold) -> None:
    """From a coroutine (a Jupyter cell), a call completes, blocking the caller's loop."""
    assert asyncio.get_running_loop().is_running()
    assert probe(client).ping("in-loop") == {"pong": "in-loop"}


def test_a_call_from_the_loop_thread_is_refused(client: Refold) -> None:
    """A sync call made on the loop thread raises instead of deadlocking."""

    async def reenter() -> Any:
        return probe(client).ping("x")

    error = outcome_within(10, lambda: _portal.run(reenter))
    assert isinstance(error, RefoldUsageError)
    assert "own event-loop thread" in str(error)


def _interrupt_main_when(entered: threading.Event) -> threading.Thread:
    main = threading.main_thread().ident
    assert main is not None

    def fire() -> None:
        if entered.wait(10):
            signal.pthread_kill(main, signal.SIGINT)

    thread = threading.Thread(target=fire, daemon=True)
    thread.start()
    return thread


def test_ctrl_c_cancels_the_request_and_the_limiter_stays_usable(api: InProcessAPI) -> None:
    """Ctrl-C during a call cancels the request on the loop; the next call succeeds."""
    with api.client(rate_limit=RateLimit(per_second=200, burst=2)) as client:
        helper = _interrupt_main_when(api.entered)
        with pytest.raises(KeyboardInterrupt):
            probe(client).ping("block")
        helper.join(10)
        assert api.cancelled.wait(10)
        assert [probe(client).ping(f"after-{n}") for n in range(3)] == [
            {"pong": f"after-{n}"} for n in range(3)
        ]


def test_ctrl_c_releases_the_pooled_connection() -> None:
    """With a pool of one connection, the call after a Ctrl-C still gets a connection."""
    with serving() as server:
        http = httpx.AsyncClient(limits=httpx.Limits(max_connections=1), timeout=5)
        client = Refold(
            api_key=API_KEY, base_url=server.base_url, rate_limit=None, http_client=http
        )
        helper = _interrupt_main_when(server.entered)
        with pytest.raises(KeyboardInterrupt):
            probe(client).ping("block")
        helper.join(10)
        # Were the first request still holding the only connection, this would time out.
        assert probe(client).ping("next") == {"pong": "next"}
        client.close()
        _portal.run(http.aclose)


def test_resources_survive_a_loop_restart() -> None:
    """A resource taken before the loop thread was replaced works on the new one."""
    with serving() as server, server.client() as client:
        resource = probe(client)
        assert resource.ping("before") == {"pong": "before"}
        old = client._snapshot()
        _portal.shutdown()
        assert resource.ping("after") == {"pong": "after"}
        assert client._snapshot() is not old


def test_a_dropped_client_closes_its_pool() -> None:
    """A Refold dropped without close() has its pool closed by aclose() on the loop."""
    import gc

    from refold_sync import _portal

    async def settle() -> None:
        await asyncio.sleep(0)

    with serving() as server:
        client = server.client()
        assert probe(client).ping("x") == {"pong": "x"}
        pool = client._live_client[2]._transport.http  # type: ignore[index]
        del client
        gc.collect()
        for _ in range(100):  # bounded: a few loop turns run the spawned aclose()
            if pool.is_closed:
                break
            _portal.run(settle)
        assert pool.is_closed
