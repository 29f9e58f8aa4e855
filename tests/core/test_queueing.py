"""Waiting is not failing (docs/architecture.md §4, §5): queue time, retry priority, deadlines, bounds.

Each test runs whole calls through the transport on a virtual-clock loop, with the
transport's clock and sleep bound to that loop, so that the deadline, the limiter and
the backoff all read one clock and the timings are exact.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest
import respx

from refold_async import (
    AsyncRefold,
    HostRateLimiter,
    RateLimit,
    RateLimitError,
    RateLimitQueueTimeout,
    RetryPolicy,
)
from refold_async._ratelimit import LocalRateLimiter, RateLimiter
from refold_async.testing import audit_send_times

from . import ops
from .conftest import run_virtual

API_KEY = "tk_queueing_test_key_0123456789"
BASE_URL = "https://api.refold.invalid"
Runner = Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any]


def host_limiter(rate: RateLimit | None = None) -> HostRateLimiter:
    return HostRateLimiter(rate or RateLimit(), directory=tempfile.mkdtemp(prefix="refold-q-"))


SCOPES = pytest.mark.parametrize(
    "make_limiter",
    [pytest.param(LocalRateLimiter, id="process"), pytest.param(host_limiter, id="host")],
)


class Server:
    """A scripted API on the virtual clock: records when each request arrived."""

    def __init__(self, answer: Callable[[httpx.Request, int], httpx.Response]) -> None:
        self.answer = answer
        self.arrivals: list[float] = []
        self.router = respx.Router(assert_all_called=False)
        self.router.route().mock(side_effect=self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.arrivals.append(asyncio.get_running_loop().time())
        return self.answer(request, len(self.arrivals))


def client_for(server: Server, limiter: RateLimiter, **options: Any) -> AsyncRefold:
    client = AsyncRefold(
        api_key=API_KEY,
        base_url=BASE_URL,
        rate_limiter=limiter,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(server.router.async_handler)),
        **options,
    )
    loop = asyncio.get_running_loop()
    client._transport._clock = loop.time
    client._transport._sleep = asyncio.sleep
    client._transport._rand = lambda: 0.5
    return client


def ok(_request: httpx.Request, _n: int) -> httpx.Response:
    return httpx.Response(200, json={})


def n_of(request: httpx.Request) -> int:
    return int(request.url.params["n"])


async def call(client: AsyncRefold, n: int, **options: Any) -> Any:
    return await client._transport.send(ops.ORG, options={"extra_query": {"n": n}, **options})


@SCOPES
def test_a_retry_goes_ahead_of_the_backlog_and_queueing_does_not_eat_the_deadline(
    make_limiter: Callable[[], RateLimiter],
) -> None:
    """200 calls queued (10 s of backlog) with a 3 s deadline; two fail once with a 503.

    Every call succeeds: the first slot's wait is not counted against the deadline, and
    each retry takes the next slot ahead of the queued first attempts, so it is answered
    within its backoff plus two intervals (the slot being served, then its own), not
    behind the backlog.
    """
    failing = {30, 150}
    failed_at: dict[int, float] = {}
    retried_at: dict[int, float] = {}

    def answer(request: httpx.Request, _count: int) -> httpx.Response:
        now = asyncio.get_running_loop().time()
        n = n_of(request)
        if n in failing and n not in failed_at:
            failed_at[n] = now
            return httpx.Response(503)
        if n in failed_at:
            retried_at[n] = now
        return httpx.Response(200, json={})

    server = Server(answer)

    async def main() -> list[Any]:
        client = client_for(server, make_limiter(), retry=RetryPolicy(deadline=3.0))
        return await asyncio.gather(*(call(client, n) for n in range(200)), return_exceptions=True)

    results = run_virtual(main)
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert failed_at[150] > 3.0  # its first attempt left long after the deadline's length
    backoff = RetryPolicy().backoff(1, lambda: 0.5)  # the fixed jitter: 0.25 s
    for n in failing:
        assert retried_at[n] - failed_at[n] <= backoff + 2 * 0.05 + 1e-6
    assert audit_send_times(server.arrivals).conforms


@SCOPES
def test_a_429_is_retried_until_the_deadline_not_an_attempt_count(
    make_limiter: Callable[[], RateLimiter],
) -> None:
    """Six 429s then a 200, with max_attempts=4: the call succeeds on its 7th attempt."""

    def answer(_request: httpx.Request, count: int) -> httpx.Response:
        if count <= 6:
            return httpx.Response(429, headers={"retry-after": "0.5"})
        return httpx.Response(200, json={"ok": True})

    server = Server(answer)

    async def main() -> Any:
        client = client_for(server, make_limiter(), retry=RetryPolicy(max_attempts=4))
        return await call(client, 0)

    assert run_virtual(main) == {"ok": True}
    assert len(server.arrivals) == 7


@SCOPES
def test_a_429_without_a_deadline_still_stops_at_max_attempts(
    make_limiter: Callable[[], RateLimiter],
) -> None:
    """With `deadline=None`, the attempt count is the only bound left, 429s included."""
    server = Server(lambda _r, _n: httpx.Response(429, headers={"retry-after": "0.1"}))

    async def main() -> None:
        client = client_for(
            server, make_limiter(), retry=RetryPolicy(max_attempts=3, deadline=None)
        )
        await call(client, 0)

    with pytest.raises(RateLimitError) as caught:
        run_virtual(main)
    assert caught.value.attempts == 3
    assert len(server.arrivals) == 3


@SCOPES
def test_a_pause_past_the_deadline_fails_the_others_at_once(
    make_limiter: Callable[[], RateLimiter],
) -> None:
    """One 429 with `Retry-After: 999999`: every call queued behind it fails at once.

    Not after waiting a minute each (the 0.1 behaviour): the bucket is paused for longer
    than their deadline allows, so they raise `RateLimitError` with `retry_after`, unsent.
    """

    def answer(_request: httpx.Request, count: int) -> httpx.Response:
        if count == 1:
            return httpx.Response(429, headers={"retry-after": "999999"})
        return httpx.Response(200, json={})

    server = Server(answer)

    async def main() -> tuple[list[Any], float]:
        client = client_for(server, make_limiter())
        first = await asyncio.gather(call(client, 0), return_exceptions=True)
        others = await asyncio.gather(
            *(call(client, n) for n in range(1, 20)), return_exceptions=True
        )
        return [*first, *others], asyncio.get_running_loop().time()

    results, finished = run_virtual(main)
    assert all(isinstance(r, RateLimitError) for r in results)
    assert not any(isinstance(r, RateLimitQueueTimeout) for r in results)
    assert all(r.retry_after is not None and r.retry_after > 60 for r in results)
    assert len(server.arrivals) == 1  # the others were never sent
    assert finished < 0.01  # at once, on the virtual clock


@SCOPES
def test_max_queue_wait_refuses_a_slot_too_far_away_before_sending(
    make_limiter: Callable[[], RateLimiter],
) -> None:
    """A web handler's bound: past `max_queue_wait`, `RateLimitQueueTimeout`, nothing sent.

    50 calls at once with a 0.5 s bound (client option): the first 4 go at once and then
    one per 50 ms, so about 14 make it and the rest fail fast. A per-call option wins.
    """
    server = Server(ok)

    async def main() -> tuple[list[Any], list[Any], float]:
        client = client_for(server, make_limiter(), max_queue_wait=0.5)
        bounded = await asyncio.gather(
            *(call(client, n) for n in range(50)), return_exceptions=True
        )
        patient = await asyncio.gather(
            *(call(client, n, max_queue_wait=None) for n in range(50, 60)), return_exceptions=True
        )
        return bounded, patient, asyncio.get_running_loop().time()

    bounded, patient, _ = run_virtual(main)
    refused = [r for r in bounded if isinstance(r, RateLimitQueueTimeout)]
    served = [r for r in bounded if r == {}]
    assert len(refused) + len(served) == 50
    assert 12 <= len(served) <= 15
    assert all(r.retry_after is not None and r.retry_after >= 0.5 for r in refused)
    assert "max_queue_wait" in str(refused[0])
    assert all(r == {} for r in patient)
    assert len(server.arrivals) == len(served) + 10
    assert audit_send_times(server.arrivals).conforms


def test_max_queue_wait_is_checked_as_an_option() -> None:
    """A bad bound is refused at construction, naming the option."""
    with pytest.raises(ValueError, match="max_queue_wait"):
        AsyncRefold(api_key=API_KEY, max_queue_wait=-1)
    with pytest.raises(TypeError, match="max_queue_wait"):
        AsyncRefold(api_key=API_KEY, max_queue_wait="soon")  # type: ignore[arg-type]


def test_each_retry_timeout_is_cut_to_what_is_left_of_the_deadline() -> None:
    """A 503 that took 9.7 s of a 10 s deadline: the retry gets what is left, not 5 s."""
    timeouts: list[float | None] = []
    skew = [0.0]

    def answer(request: httpx.Request, count: int) -> httpx.Response:
        timeouts.append(request.extensions["timeout"]["read"])
        if count == 1:
            skew[0] = 9.7  # the first attempt took 9.7 s
            return httpx.Response(503)
        return httpx.Response(200, json={})

    server = Server(answer)

    async def main() -> Any:
        client = client_for(server, LocalRateLimiter(), timeout=5.0, retry=RetryPolicy(deadline=10))
        loop = asyncio.get_running_loop()
        client._transport._clock = lambda: loop.time() + skew[0]
        return await call(client, 0)

    assert run_virtual(main) == {}
    assert timeouts[0] == 5.0
    assert timeouts[1] is not None
    assert 0 < timeouts[1] <= 0.05 + 1e-6


def test_the_retry_log_line_says_it_goes_ahead_of_the_queue(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The INFO line names the real wait and that the retry does not queue again."""
    server = Server(lambda _r, n: httpx.Response(503 if n == 1 else 200, json={}))

    async def main() -> Any:
        return await call(client_for(server, LocalRateLimiter()), 0)

    with caplog.at_level(logging.INFO, logger="refold"):
        run_virtual(main)
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retrying")]
    assert "in 0.25s" in line
    assert "ahead of queued calls" in line
