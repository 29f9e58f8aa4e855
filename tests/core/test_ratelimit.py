"""The rate limiters (docs/architecture.md §4): server conformance, FIFO, cancellation, pauses.

Arrival patterns are replayed on a virtual clock (`virtual_time`, tests/core/conftest.py)
and every grant is checked against a model of the server's bucket: capacity `burst`,
refilling at `per_second`, a request accepted iff the bucket's level + 1 <= capacity.
Grant times are also compared, exactly, with an ideal FIFO bucket of the client's size,
which is what shows that nobody is held up and no capacity is lost. No real sleeps, no
timed assertions.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import tempfile
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from functools import partial
from typing import Any

import attrs
import pytest
from aiolimiter import AsyncLimiter
from hypothesis import example, given, settings
from hypothesis import strategies as st

from refold_async._ratelimit import (
    HostRateLimiter,
    LocalRateLimiter,
    RateLimit,
    RateLimiter,
    RedisRateLimiter,
    RedisScriptClient,
    UnlimitedRateLimiter,
    _base,
    _redis,
    shared_local_limiter,
)
from refold_async.testing import audit_send_times
from refold_async.testing._ratelimit import most_within

Runner = Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any]

DEFAULT = RateLimit()
SCALED = [
    DEFAULT,
    RateLimit(per_second=100, burst=10),
    RateLimit(per_second=7.5, burst=2),
    RateLimit(per_second=3, burst=1),
]
EXACT = 1e-6  # grant times agree with the ideal bucket to a microsecond (the clock ticks 1 ns)
PROPERTY = settings(max_examples=150, deadline=None)
SATURATED = [0.0] * 200  # always tried: 200 at one instant
SPREAD = [k / 1000 for k in range(0, 4000, 20)]  # always tried: 200 over 4 s, 50/s


def host_limiter(rate: RateLimit = DEFAULT) -> HostRateLimiter:
    """A host-scope limiter on bucket files of its own (each replay starts the clock at 0)."""
    return HostRateLimiter(rate, directory=tempfile.mkdtemp(prefix="refold-rl-test-"))


# The process-scope and host-scope limiters promise the same grants on one loop.
LIMITERS: dict[str, Callable[..., RateLimiter]] = {
    "process": LocalRateLimiter,
    "host": host_limiter,
}
SCOPES = pytest.mark.parametrize("scope", sorted(LIMITERS))


# --- the server model ---------------------------------------------------------------


@attrs.frozen
class ServerBucket:
    """The server's bucket of `capacity` refilling at `per_second` (the emulator's model)."""

    capacity: int
    per_second: float

    @classmethod
    def of(cls, rate: RateLimit) -> ServerBucket:
        return cls(capacity=rate.burst, per_second=rate.per_second)

    def refusals(self, times: Iterable[float]) -> list[float]:
        """The send times the server would answer with 429."""
        return list(
            audit_send_times(times, per_second=self.per_second, burst=self.capacity).refused
        )


def assert_server_accepts(times: Sequence[float], rate: RateLimit = DEFAULT) -> None:
    """Every send conforms: no 429, <= burst at one instant, <= burst + rate·w in w s."""
    assert ServerBucket.of(rate).refusals(times) == []
    assert most_within(times, 0.0) <= rate.burst
    assert most_within(times, 1.0) <= rate.burst + rate.per_second


def ideal_grants(arrivals: Iterable[float], capacity: int, per_second: float) -> list[float]:
    """Grant times of an ideal FIFO bucket of `capacity` draining at `per_second`."""
    level, last, grants = 0.0, 0.0, []
    for arrival in arrivals:
        t = max(arrival, last)
        level = max(0.0, level - (t - last) * per_second)
        if level + 1 > capacity:
            t += (level + 1 - capacity) / per_second
            level = capacity - 1.0
        level, last = level + 1, t
        grants.append(t)
    return grants


def client_capacity(rate: RateLimit) -> int:
    return max(rate.burst - 1, 1)


# --- replaying arrivals -------------------------------------------------------------


@attrs.define
class Waiter:
    """One request: when it asked, in which order, and when it was let through."""

    arrival: float
    key: str = "k"
    cancel_after: float | None = None
    asked_at: float = -1.0
    turn: int = -1
    granted_at: float | None = None


@attrs.define
class Trace:
    waiters: list[Waiter]
    finished: list[int]  # turns, in the order acquire() returned

    @property
    def granted(self) -> list[Waiter]:
        return sorted((w for w in self.waiters if w.granted_at is not None), key=lambda w: w.turn)

    def grant_times(self, key: str | None = None) -> list[float]:
        return [
            w.granted_at for w in self.granted if key in (None, w.key) and w.granted_at is not None
        ]


async def replay(
    limiter: RateLimiter,
    waiters: list[Waiter],
    penalties: Sequence[tuple[float, str, float]] = (),
) -> Trace:
    """Send `waiters` into `limiter` at their arrival times; apply `penalties` (t, key, s)."""
    loop = asyncio.get_running_loop()
    turns, finished = itertools.count(), []
    tasks: list[asyncio.Task[None]] = []

    async def ask(waiter: Waiter) -> None:
        waiter.asked_at, waiter.turn = loop.time(), next(turns)
        await limiter.acquire(waiter.key)
        waiter.granted_at = loop.time()
        finished.append(waiter.turn)

    def start(waiter: Waiter) -> None:
        task = loop.create_task(ask(waiter))
        if waiter.cancel_after is not None:
            loop.call_later(waiter.cancel_after, task.cancel)
        tasks.append(task)

    events: list[tuple[float, int, Callable[[], Awaitable[None] | None]]] = []
    for i, waiter in enumerate(waiters):
        events.append((waiter.arrival, i, partial(start, waiter)))
    for i, (at, key, seconds) in enumerate(penalties):
        events.append((at, len(waiters) + i, partial(limiter.penalize, key, seconds)))

    for at, _, act in sorted(events, key=lambda e: (e[0], e[1])):
        if at > loop.time():
            await asyncio.sleep(at - loop.time())
        outcome = act()
        if outcome is not None:
            await outcome
    await asyncio.gather(*tasks, return_exceptions=True)
    return Trace(waiters, finished)


def run_replay(
    virtual_time: Runner,
    limiter_factory: Callable[[], RateLimiter],
    waiters: list[Waiter],
    penalties: Sequence[tuple[float, str, float]] = (),
) -> Trace:
    trace: Trace = virtual_time(lambda: replay(limiter_factory(), waiters, penalties))
    return trace


def assert_fifo(trace: Trace, key: str | None = None) -> None:
    """Granted waiters (for `key`, or all) came through in the order they asked."""
    keys = {w.turn: w.key for w in trace.waiters}
    finished = [turn for turn in trace.finished if key in (None, keys[turn])]
    assert finished == sorted(finished)


def assert_ideal(trace: Trace, rate: RateLimit, key: str | None = None) -> None:
    """Each grant came exactly when an ideal FIFO bucket of the client's size allows."""
    granted = [w for w in trace.granted if key in (None, w.key)]
    expected = ideal_grants([w.asked_at for w in granted], client_capacity(rate), rate.per_second)
    actual = [w.granted_at for w in granted]
    assert actual == pytest.approx(expected, abs=EXACT)


def arrivals(max_size: int = 200) -> st.SearchStrategy[list[float]]:
    """Arrival times: bunches on a millisecond grid, or anywhere, over about 4 s."""
    on_grid = st.integers(0, 4000).map(lambda ms: ms / 1000)
    anywhere = st.floats(0, 4, allow_nan=False)
    bunch = st.tuples(st.one_of(on_grid, anywhere), st.integers(1, 40))
    return st.lists(bunch, min_size=1, max_size=20).map(
        lambda bunches: sorted(t for t, n in bunches for _ in range(n))[:max_size]
    )


# --- RateLimit ----------------------------------------------------------------------


def test_rate_limit_defaults_describe_the_server_budget() -> None:
    """The default budget is the API's: 20 per second, 5 at one instant."""
    assert (DEFAULT.per_second, DEFAULT.burst) == (20, 5)
    assert RateLimit(per_second=20) == DEFAULT
    assert hash(RateLimit(per_second=20.0, burst=5)) == hash(DEFAULT)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        pytest.param(
            {"per_second": 0}, ValueError, "per_second must be a positive", id="zero-rate"
        ),
        pytest.param(
            {"per_second": -1.5}, ValueError, "per_second must be a positive", id="negative-rate"
        ),
        pytest.param({"per_second": math.nan}, ValueError, "finite", id="nan-rate"),
        pytest.param({"per_second": math.inf}, ValueError, "finite", id="infinite-rate"),
        pytest.param(
            {"per_second": "20"}, TypeError, "number of requests per second", id="text-rate"
        ),
        pytest.param({"burst": 0}, ValueError, "burst must be at least 1", id="zero-burst"),
        pytest.param({"burst": -3}, ValueError, "burst must be at least 1", id="negative-burst"),
        pytest.param({"burst": 2.5}, TypeError, "whole number", id="fractional-burst"),
        pytest.param({"burst": True}, TypeError, "whole number", id="bool-burst"),
    ],
)
def test_rate_limit_refuses_impossible_budgets(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    """A budget that cannot be kept is refused with a message naming the field."""
    with pytest.raises(error, match=message):
        RateLimit(**kwargs)


def test_rate_limit_is_frozen_and_keyword_only() -> None:
    """RateLimit is a value: immutable, and spelled out at the call site."""
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        DEFAULT.burst = 6  # type: ignore[misc]
    with pytest.raises(TypeError):
        RateLimit(20, 5)  # type: ignore[call-arg]


# --- the server model itself --------------------------------------------------------


def test_model_accepts_a_full_burst_then_the_steady_rate() -> None:
    """5 at once then one every 50 ms is exactly what the server allows."""
    times = [0.0] * 5 + [k / 20 for k in range(1, 40)]
    assert_server_accepts(times)


def test_model_refuses_one_request_a_millisecond_early() -> None:
    """With a full server bucket, a send 1 ms early is refused: why the client keeps headroom."""
    times = [0.0] * 5 + [k / 20 for k in range(1, 10)]
    times[7] -= 0.001
    assert ServerBucket.of(DEFAULT).refusals(times) == [times[7]]


def test_model_catches_a_limiter_of_twenty_per_second_in_one_go(virtual_time: Runner) -> None:
    """`AsyncLimiter(20, 1)` (20 at once, 39 in a second) fails the model: the test can fail."""

    class NaiveLimiter:
        def __init__(self) -> None:
            self._limiter = AsyncLimiter(20, 1)

        async def acquire(self, key: str) -> None:
            await self._limiter.acquire()

        async def penalize(self, key: str, retry_after: float) -> None:
            pass

    trace = run_replay(virtual_time, NaiveLimiter, [Waiter(0.0) for _ in range(60)])
    times = trace.grant_times()
    assert len(ServerBucket.of(DEFAULT).refusals(times)) >= 15
    assert most_within(times, 1.0) == 40
    with pytest.raises(AssertionError):
        assert_server_accepts(times)


# --- process and host limiters: properties -----------------------------------------------------


@PROPERTY
@given(times=arrivals(), rate=st.sampled_from(SCALED))
@example(times=SATURATED, rate=DEFAULT)
@example(times=SPREAD, rate=DEFAULT)
# burst=1 leaves no headroom, so these catch a grant off its slot by a nanosecond. Early:
# asyncio runs a timer due within one clock tick, so the arrival at 1.0 woke the waiter
# whose slot is 1.000000001. Late: what is left of a wait (2e-16 s) must not be rounded
# up to a tick, or the next grant (one interval after the slot) comes too soon after it.
@example(times=[1e-9] * 4 + [1.0], rate=RateLimit(per_second=3, burst=1))
@example(times=[0.0] * 6 + [1.9999999999999996] * 2, rate=RateLimit(per_second=3, burst=1))
@example(times=[0.0] * 7 + [1.9999999999999996], rate=RateLimit(per_second=3, burst=1))
@SCOPES
def test_every_grant_conforms_and_comes_as_early_as_allowed(
    scope: str, virtual_time: Runner, times: list[float], rate: RateLimit
) -> None:
    """For any arrivals: the server accepts every send, FIFO, and none is held up needlessly."""
    trace = run_replay(virtual_time, lambda: LIMITERS[scope](rate), [Waiter(t) for t in times])
    assert len(trace.granted) == len(times)
    assert_server_accepts(trace.grant_times(), rate)
    assert_fifo(trace)
    assert_ideal(trace, rate)


@PROPERTY
@given(
    requests=arrivals(150).flatmap(
        lambda times: st.lists(
            st.one_of(st.none(), st.floats(0, 1.5, allow_nan=False)),
            min_size=len(times),
            max_size=len(times),
        ).map(lambda cancels: list(zip(times, cancels, strict=True)))
    )
)
@SCOPES
def test_cancelled_waiters_neither_block_nor_use_capacity(
    scope: str, virtual_time: Runner, requests: list[tuple[float, float | None]]
) -> None:
    """The others are granted exactly as if the cancelled waiters had never asked."""
    waiters = [Waiter(t, cancel_after=c) for t, c in requests]
    trace = run_replay(virtual_time, LIMITERS[scope], waiters)
    assert_server_accepts(trace.grant_times())
    assert_fifo(trace)
    assert_ideal(trace, DEFAULT)


@PROPERTY
@given(
    times=arrivals(150),
    penalties=st.lists(
        st.tuples(
            st.integers(0, 3000).map(lambda ms: ms / 1000 + 0.0003),
            st.floats(-0.5, 2, allow_nan=False),
        ),
        min_size=1,
        max_size=3,
    ),
)
@SCOPES
def test_a_penalty_pauses_everyone_then_resumes_without_a_burst(
    scope: str, virtual_time: Runner, times: list[float], penalties: list[tuple[float, float]]
) -> None:
    """After penalize(key, d) at p, nothing is granted before p + d, then one per interval."""
    trace = run_replay(
        virtual_time,
        LIMITERS[scope],
        [Waiter(t) for t in times],
        [(p, "k", d) for p, d in penalties],
    )
    grants = trace.grant_times()
    assert len(grants) == len(times)
    assert_server_accepts(grants)
    assert_fifo(trace)
    for p, d in penalties:
        after = sorted(t for t in grants if t > p + 1e-9)
        for k, t in enumerate(after, start=1):
            assert t >= p + max(d, 0.0) + k / DEFAULT.per_second - EXACT


@PROPERTY
@given(times=arrivals(), keys=st.lists(st.sampled_from(["a", "b"]), min_size=200, max_size=200))
@example(times=SATURATED, keys=["a", "b"] * 100)
@SCOPES
def test_keys_have_independent_buckets(
    scope: str, virtual_time: Runner, times: list[float], keys: list[str]
) -> None:
    """Each key is granted exactly as if it were alone."""
    waiters = [Waiter(t, key=k) for t, k in zip(times, keys, strict=False)]
    trace = run_replay(virtual_time, LIMITERS[scope], waiters)
    for key in ("a", "b"):
        assert_server_accepts(trace.grant_times(key))
        assert_ideal(trace, DEFAULT, key=key)
        assert_fifo(trace, key)


# --- process and host limiters: examples -----------------------------------------------------


@SCOPES
def test_default_bucket_keeps_one_slot_of_headroom(
    scope: str,
    virtual_time: Runner,
) -> None:
    """Defaults behave as AsyncLimiter(4, 0.2): 4 at once, then one every 50 ms."""
    trace = run_replay(virtual_time, LIMITERS[scope], [Waiter(0.0) for _ in range(10)])
    assert trace.grant_times() == pytest.approx(
        [0, 0, 0, 0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3], abs=EXACT
    )


@pytest.mark.parametrize("burst", [pytest.param(1, id="burst-1"), pytest.param(2, id="burst-2")])
@SCOPES
def test_smallest_buckets_still_hold_one(scope: str, virtual_time: Runner, burst: int) -> None:
    """A burst of 1 or 2 leaves a client bucket of 1: one at a time, at the steady rate."""
    rate = RateLimit(per_second=10, burst=burst)
    trace = run_replay(virtual_time, lambda: LIMITERS[scope](rate), [Waiter(0.0) for _ in range(4)])
    assert trace.grant_times() == pytest.approx([0, 0.1, 0.2, 0.3], abs=EXACT)


@SCOPES
def test_cancelled_head_of_queue_hands_its_turn_on(
    scope: str,
    virtual_time: Runner,
) -> None:
    """The first waiter behind the burst is cancelled: the next one takes its slot."""
    waiters = [Waiter(0.0) for _ in range(4)] + [
        Waiter(0.0, cancel_after=0.01),
        Waiter(0.0),
        Waiter(0.0),
    ]
    trace = run_replay(virtual_time, LIMITERS[scope], waiters)
    assert trace.grant_times() == pytest.approx([0, 0, 0, 0, 0.05, 0.1], abs=EXACT)
    assert waiters[4].granted_at is None


@SCOPES
def test_pause_resumes_at_the_steady_rate(
    scope: str,
    virtual_time: Runner,
) -> None:
    """During a pause nothing goes out; after it, grants are spaced one interval apart."""
    waiters = [Waiter(0.0) for _ in range(12)]
    trace = run_replay(virtual_time, LIMITERS[scope], waiters, [(0.06, "k", 1.0)])
    expected = [0, 0, 0, 0, 0.05] + [1.06 + k * 0.05 for k in range(1, 8)]
    assert trace.grant_times() == pytest.approx(expected, abs=EXACT)


@SCOPES
def test_overlapping_penalties_extend_and_never_shorten(
    scope: str,
    virtual_time: Runner,
) -> None:
    """A shorter pause during a longer one changes nothing; a later end extends it."""
    waiters = [Waiter(0.0) for _ in range(7)]
    penalties = [(0.01, "k", 2.0), (0.5, "k", 0.1), (1.0, "k", 1.5)]
    trace = run_replay(virtual_time, LIMITERS[scope], waiters, penalties)
    assert trace.grant_times() == pytest.approx([0, 0, 0, 0, 2.55, 2.6, 2.65], abs=EXACT)


@SCOPES
def test_penalty_with_no_pause_still_leaves_the_bucket_full(
    scope: str,
    virtual_time: Runner,
) -> None:
    """A 429 with retry_after <= 0 means the server's bucket is full: no burst follows."""
    trace = run_replay(
        virtual_time, LIMITERS[scope], [Waiter(1.0) for _ in range(3)], [(0.5, "k", -2.0)]
    )
    assert trace.grant_times() == pytest.approx([1.0, 1.0, 1.0], abs=EXACT)  # drained by then
    trace = run_replay(
        virtual_time, LIMITERS[scope], [Waiter(0.5) for _ in range(3)], [(0.5, "k", 0.0)]
    )
    assert trace.grant_times() == pytest.approx([0.55, 0.6, 0.65], abs=EXACT)


@SCOPES
def test_penalty_on_one_key_leaves_others_alone(
    scope: str,
    virtual_time: Runner,
) -> None:
    """Pausing key "a" does not delay key "b"."""
    waiters = [
        Waiter(0.0, key="a"),
        Waiter(0.0, key="b"),
        Waiter(0.2, key="a"),
        Waiter(0.2, key="b"),
    ]
    run_replay(virtual_time, LIMITERS[scope], waiters, [(0.1, "a", 1.0)])
    assert [w.granted_at for w in waiters] == pytest.approx([0.0, 0.0, 1.15, 0.2], abs=EXACT)


@pytest.mark.parametrize(
    "retry_after", [pytest.param(math.nan, id="nan"), pytest.param(math.inf, id="inf")]
)
@SCOPES
def test_penalize_refuses_non_finite_pauses(
    scope: str, virtual_time: Runner, retry_after: float
) -> None:
    """A NaN or infinite Retry-After is a bug upstream, not a pause forever."""
    with pytest.raises(ValueError, match="finite"):
        virtual_time(lambda: LIMITERS[scope]().penalize("k", retry_after))


def test_shared_local_limiter_is_one_per_rate() -> None:
    """Equal budgets share one limiter (so one bucket per key); other budgets get their own."""
    assert shared_local_limiter() is shared_local_limiter(RateLimit(per_second=20.0, burst=5))
    assert shared_local_limiter(RateLimit(burst=3)) is not shared_local_limiter()
    assert shared_local_limiter().rate == DEFAULT


def test_clients_on_one_loop_share_the_bucket(virtual_time: Runner) -> None:
    """Two callers using the shared limiter and one key draw on one budget."""
    rate = RateLimit(per_second=19, burst=5)  # a rate no other test shares

    async def main() -> list[float]:
        first, second = shared_local_limiter(rate), shared_local_limiter(rate)
        loop = asyncio.get_running_loop()
        times: list[float] = []

        async def call(limiter: LocalRateLimiter) -> None:
            await limiter.acquire("shared-key")
            times.append(loop.time())

        await asyncio.gather(*(call(first if i % 2 else second) for i in range(6)))
        return times

    assert virtual_time(main) == pytest.approx([0, 0, 0, 0, 1 / 19, 2 / 19], abs=EXACT)


def test_key_on_two_live_loops_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    """Two live loops using one key get two budgets: one warning says so, naming Redis."""
    limiter = LocalRateLimiter()
    other = asyncio.new_event_loop()
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(other)
        other.call_soon(started.set)
        other.run_forever()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        started.wait()
        asyncio.run_coroutine_threadsafe(limiter.acquire("fp:1"), other).result()
        for _ in range(3):
            asyncio.run(limiter.acquire("fp:1"))
        asyncio.run(limiter.acquire("fp:2"))
    finally:
        other.call_soon_threadsafe(other.stop)
        thread.join()
        other.close()
    warnings = [
        r for r in caplog.records if r.name == "refold.ratelimit" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 1
    assert "fp:1" in warnings[0].getMessage()
    assert "RedisRateLimiter" in warnings[0].getMessage()


def test_loops_run_one_after_another_do_not_warn(
    virtual_time: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    """A closed loop's bucket is forgotten, so sequential `asyncio.run` calls are fine."""
    limiter = LocalRateLimiter()
    for _ in range(3):
        virtual_time(lambda: limiter.acquire("fp:1"))
    assert not [r for r in caplog.records if r.name == "refold.ratelimit"]
    assert len(limiter._buckets._loops) == 1


def test_idle_buckets_are_pruned_busy_ones_kept(virtual_time: Runner) -> None:
    """Many keys do not pile up: drained, unused buckets are dropped as new keys come."""
    limiter = LocalRateLimiter()

    async def main() -> list[str]:
        for i in range(_base._PRUNE_FROM - 1):
            await limiter.acquire(f"idle-{i}")
        await asyncio.sleep(1.0)  # every bucket drains
        await limiter.acquire("busy")  # the 64th key, not drained
        await limiter.acquire("new")  # the 65th triggers pruning
        (values,) = limiter._buckets._loops.values()
        return sorted(values)

    assert virtual_time(main) == ["busy", "new"]


def test_after_fork_the_child_starts_with_empty_buckets(virtual_time: Runner) -> None:
    """The fork hook forgets the parent's loops, so the child neither warns nor shares."""
    limiter = LocalRateLimiter()
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(limiter.acquire("fp:1"))
        _base._reset_after_fork()
        assert len(limiter._buckets._loops) == 0
        virtual_time(lambda: limiter.acquire("fp:1"))
    finally:
        loop.close()


def test_limiters_fit_the_protocol() -> None:
    """Every implementation is a RateLimiter (checked by mypy) with a readable repr."""
    limiters: list[RateLimiter] = [LocalRateLimiter(), UnlimitedRateLimiter()]
    assert [repr(limiter) for limiter in limiters] == [
        "LocalRateLimiter(RateLimit(per_second=20.0, burst=5))",
        "UnlimitedRateLimiter()",
    ]


# --- UnlimitedRateLimiter -----------------------------------------------------------


def test_unlimited_never_waits(virtual_time: Runner) -> None:
    """No limit: any number of grants at one instant, and a 429 pauses nothing."""
    trace = run_replay(
        virtual_time, UnlimitedRateLimiter, [Waiter(0.0) for _ in range(100)], [(0.0, "k", 5.0)]
    )
    assert set(trace.grant_times()) == {0.0}


# --- RedisRateLimiter without a server ------------------------------------------------


class ScriptedRedis:
    """A stand-in Redis client: the first `evalsha` misses the script cache."""

    def __init__(self, replies: list[Any]) -> None:
        self.replies = replies
        self.calls: list[tuple[str, str, int, tuple[str, ...]]] = []
        self.cached: set[str] = set()

    async def evalsha(self, sha: str, numkeys: int, /, *keys_and_args: str) -> Any:
        if keys_and_args[0].endswith(":members"):
            return 1  # the membership heartbeat: one host
        self.calls.append(("evalsha", sha, numkeys, keys_and_args))
        if sha not in self.cached:
            raise RuntimeError("NOSCRIPT No matching script. Please use EVAL.")
        return self.replies.pop(0)

    async def eval(self, script: str, numkeys: int, /, *keys_and_args: str) -> Any:
        if keys_and_args[0].endswith(":members"):
            return 1
        self.calls.append(("eval", script, numkeys, keys_and_args))
        self.cached.add(_redis._Script(script).sha)
        return self.replies.pop(0)


def test_redis_limiter_sends_the_script_once_then_by_sha(virtual_time: Runner) -> None:
    """A NOSCRIPT miss falls back to EVAL; later grants go by EVALSHA, one call each."""
    client = ScriptedRedis(
        [
            [0, 1_000_050_000, 1, 1_000_000_000, 0],
            [50_000, 1_000_100_000, 2, 1_000_000_000, 0],
        ]
    )
    typed: RedisScriptClient = client
    limiter = RedisRateLimiter(typed, prefix="p:")

    async def main() -> float:
        await limiter.acquire("fp:1")
        await limiter.acquire("fp:1")
        return asyncio.get_running_loop().time()

    assert virtual_time(main) == pytest.approx(0.05, abs=EXACT)
    assert [(name, numkeys, args) for name, _, numkeys, args in client.calls] == [
        ("evalsha", 1, ("p:fp:1", "50000.000", "150000.000", "-1.000", "-1.000")),
        ("eval", 1, ("p:fp:1", "50000.000", "150000.000", "-1.000", "-1.000")),
        ("evalsha", 1, ("p:fp:1", "50000.000", "150000.000", "-1.000", "-1.000")),
    ]


def test_redis_errors_fall_back_to_the_host_budget(
    virtual_time: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    """A Redis error never reaches the caller: the grant comes from the fallback, once warned."""

    class Down:
        calls = 0

        async def evalsha(self, sha: str, numkeys: int, /, *keys_and_args: str) -> Any:
            Down.calls += 1
            raise ConnectionError("Redis is down")

        async def eval(self, script: str, numkeys: int, /, *keys_and_args: str) -> Any:
            raise AssertionError("not reached")

    fallback = LocalRateLimiter()
    limiter = RedisRateLimiter(Down(), fallback=fallback, probe_interval=1.0)

    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        times = []
        for _ in range(30):
            await limiter.acquire("fp:1")
            times.append(loop.time())
        return times

    with caplog.at_level(logging.WARNING, logger="refold.ratelimit"):
        times = virtual_time(main)
    assert_server_accepts(times)
    assert times[:5] == pytest.approx([0, 0, 0, 0, 0.05], abs=EXACT)  # the fallback's pace
    warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(warnings) == 1  # one per outage, not one per grant
    assert not limiter.redis_available
    # Redis is probed about once a second, not on every grant: 30 grants over 1.3 s.
    assert 2 <= Down.calls <= 3


class SlowFirstRedis(ScriptedRedis):
    """Answers the first call after 1 s (connecting, loading the script), then at once."""

    answered = False

    async def evalsha(self, sha: str, numkeys: int, /, *keys_and_args: str) -> Any:
        if not self.answered:  # the first call of any script (the hosts' count first)
            await asyncio.sleep(1.0)
            self.answered = True
        return await super().evalsha(sha, numkeys, *keys_and_args)


def test_redis_limiter_gives_the_first_answer_more_time(virtual_time: Runner) -> None:
    """A cold process's first script call may take longer than `timeout` (it connects
    and loads the script): that is not an outage, which would cost the host's share."""
    client = SlowFirstRedis([[0, 1_000_050_000, 1, 1_000_000_000, 0]])
    client.cached.add(_redis._RESERVE.sha)
    limiter = RedisRateLimiter(client, timeout=0.5)

    async def main() -> bool:
        await limiter.acquire("fp:1")
        return limiter.redis_available

    assert virtual_time(main) is True


# --- RedisRateLimiter in an outage, on a virtual clock -------------------------------------


class FakeRedis:
    """Answers the limiter's scripts (hosts' count, reservation, seeding); fails when told.

    Reservations are granted at once with the bucket booked `ahead_us` past Redis's now;
    `hosts` are the counts the heartbeats get, one per call (the last one repeats).
    """

    SERVER_NOW = 1_000_000_000

    def __init__(self, hosts: list[int], ahead_us: int = 0, answer_after: float = 0.0) -> None:
        self.hosts = hosts
        self.ahead_us = ahead_us
        self.answer_after = answer_after
        self.down = False

    async def evalsha(self, sha: str, numkeys: int, /, *keys_and_args: str) -> Any:
        if self.answer_after:
            await asyncio.sleep(self.answer_after)
        if self.down:
            raise ConnectionError("Redis is down")
        if keys_and_args[0].endswith(":members"):
            return self.hosts.pop(0) if len(self.hosts) > 1 else self.hosts[0]
        if sha == _redis._RESERVE.sha:
            return [0, self.SERVER_NOW + self.ahead_us, 1, self.SERVER_NOW, 0]
        return 1  # seeding, penalties

    async def eval(self, script: str, numkeys: int, /, *keys_and_args: str) -> Any:
        return await self.evalsha(_redis._Script(script).sha, numkeys, *keys_and_args)


def test_a_fallback_waits_until_what_redis_granted_has_left(virtual_time: Runner) -> None:
    """Redis had booked the bucket 0.5 s ahead when it was killed (noticed at once, not
    after a timeout): the requests it granted leave until then, so this host's share
    (10/s of 2 hosts, starting empty) grants only after them. Before, its first grant
    came 0.1 s after the outage, on top of Redis's."""
    fake = FakeRedis(hosts=[2], ahead_us=500_000)
    limiter = RedisRateLimiter(fake, state_dir=tempfile.mkdtemp(prefix="refold-rl-test-"))

    async def main() -> float:
        loop = asyncio.get_running_loop()
        await limiter.acquire("k")
        await asyncio.sleep(0.01)  # the heartbeat has counted 2 hosts
        fake.down = True
        await limiter.acquire("k")
        return loop.time()

    granted = virtual_time(main)
    assert not limiter.redis_available
    # Redis's bookings end at 0.5; the share is full then and frees a slot an interval on.
    assert granted == pytest.approx(0.5 + 0.1, abs=EXACT)


def test_the_hosts_are_counted_before_the_first_grant(
    virtual_time: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis fails right after a process's first grant: it still knows there are 4 hosts
    and takes a quarter of the budget. Before, the count came after the first grant and
    was lost with Redis: the process took the whole budget as if alone."""
    fake = FakeRedis(hosts=[4])
    limiter = RedisRateLimiter(fake, state_dir=tempfile.mkdtemp(prefix="refold-rl-test-"))

    async def main() -> None:
        await limiter.acquire("k")
        fake.down = True
        await limiter.acquire("k")

    with caplog.at_level(logging.WARNING, logger="refold.ratelimit"):
        virtual_time(main)
    (warning,) = [r.getMessage() for r in caplog.records if "unavailable" in r.getMessage()]
    assert "1/4" in warning


def test_fewer_hosts_count_only_after_a_whole_ttl(virtual_time: Runner) -> None:
    """A Redis restarted empty counts one host at first: the limiter keeps the count it
    knew until the lower one has held for `member_ttl`, so an outage in between still
    takes a quarter. Before, one heartbeat after the restart made it 1."""
    fake = FakeRedis(hosts=[4, 1])
    limiter = RedisRateLimiter(
        fake, heartbeat=0.1, member_ttl=1.0, state_dir=tempfile.mkdtemp(prefix="refold-rl-")
    )

    async def main() -> list[tuple[float, int]]:
        loop = asyncio.get_running_loop()
        seen = []
        for _ in range(16):
            await limiter.acquire("k")
            await asyncio.sleep(0.2)
            seen.append((round(loop.time(), 1), limiter._members["k"]))
        return seen

    seen = virtual_time(main)
    assert [count for at, count in seen if at <= 1.0] == [4] * 5
    assert seen[-1][1] == 1  # it does count once the lower count has held a TTL


def test_an_answer_due_with_the_timeout_is_not_an_outage(virtual_time: Runner) -> None:
    """The reply and the timer fall due in the same turn of the loop (a process that was
    not scheduled for a while finds both): the reply is read, Redis is not down. Before,
    the timer won and the process fell back as if Redis were gone."""
    fake = FakeRedis(hosts=[1])
    limiter = RedisRateLimiter(fake, timeout=0.5)

    async def main() -> None:
        await limiter.acquire("k")  # connects: the first answers have 2 s
        fake.answer_after = 0.5  # exactly the timeout
        await limiter.acquire("k")

    virtual_time(main)
    assert limiter.redis_available


def test_back_from_an_outage_the_other_hosts_shares_are_kept_free(virtual_time: Runner) -> None:
    """The first host to find Redis back marks the bucket in use also for what the other
    hosts, still on their shares until their own probe finds Redis, may send meanwhile:
    (N - 1) / N of a probe interval and a timeout. Before, only its own share was."""
    fake = FakeRedis(hosts=[4])
    seeds: list[float] = []
    answer = fake.evalsha

    async def recording(sha: str, numkeys: int, /, *keys_and_args: str) -> Any:
        if sha == _redis._SEED.sha and not fake.down:
            seeds.append(float(keys_and_args[1]) / 1e6)
        return await answer(sha, numkeys, *keys_and_args)

    fake.evalsha = recording  # type: ignore[method-assign]
    limiter = RedisRateLimiter(
        fake, timeout=0.5, probe_interval=1.0, state_dir=tempfile.mkdtemp(prefix="refold-rl-")
    )

    async def main() -> None:
        await limiter.acquire("k")
        fake.down = True
        await limiter.acquire("k")  # from this host's quarter
        fake.down = False
        await asyncio.sleep(1.0)
        await limiter.acquire("k")  # probes: seeds, then back to Redis

    virtual_time(main)
    assert limiter.redis_available
    (seeded,) = seeds
    own = 0.2  # at least a full bucket of this host's (its share reserved less)
    assert seeded == pytest.approx(own + 3 / 4 * (1.0 + 0.5), abs=1e-3)
