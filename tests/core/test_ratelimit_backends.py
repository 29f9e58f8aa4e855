"""The process and host scopes on both of anyio's backends: asyncio and trio.

The same tests run under each (`anyio.run` with the backend as a parameter: the suite's
pytest-asyncio auto mode would claim `async def` tests for asyncio). The process
scope runs on virtual clocks (asyncio: `VirtualClockLoop`; trio: its `MockClock` with
autojump), so its grant times are asserted exactly. The host scope reads the host's
monotonic clock under trio (its file is shared with processes on other loops), so it
runs in real time at a scaled-up budget and is judged by the server's bucket, never by
how long it took. The Redis scope needs asyncio: under trio it is refused with a usage
error that names what works there.
"""

from __future__ import annotations

import ast
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import refold_async._ratelimit as ratelimit_package
from refold_async import RefoldUsageError
from refold_async._ratelimit import (
    HostRateLimiter,
    LocalRateLimiter,
    RateLimit,
    RedisRateLimiter,
    SlotTooFar,
)
from refold_async.testing import audit_send_times

from .conftest import VirtualClockLoop

trio = pytest.importorskip("trio")
trio_testing = pytest.importorskip("trio.testing")

RATE = RateLimit(per_second=20, burst=5)  # the client lets 4 out at once, then one per 50 ms
FAST = RateLimit(per_second=200, burst=5)  # real time: a run takes a fraction of a second
EXACT = 1e-6


Runner = Callable[[Callable[[], Awaitable[Any]]], Any]
BACKENDS = ["asyncio", "trio"]


@pytest.fixture(params=BACKENDS)
def virtual(request: pytest.FixtureRequest) -> Runner:
    """Runs a coroutine function on each backend, on a virtual clock."""
    if request.param == "asyncio":
        options: dict[str, Any] = {"loop_factory": VirtualClockLoop}
    else:
        options = {"clock": trio_testing.MockClock(autojump_threshold=0)}
    return lambda main: anyio.run(main, backend=request.param, backend_options=options)


@pytest.fixture(params=BACKENDS)
def real(request: pytest.FixtureRequest) -> Runner:
    """Runs a coroutine function on each backend, in real time."""
    return lambda main: anyio.run(main, backend=request.param)


async def grant_times(limiter: Any, count: int, key: str = "k") -> list[float]:
    """`count` waiters asking at once; when each was let through, in arrival order."""
    times: list[float | None] = [None] * count
    order: list[int] = []

    async def one(i: int) -> None:
        await limiter.acquire(key)
        times[i] = anyio.current_time()
        order.append(i)

    async with anyio.create_task_group() as group:
        for i in range(count):
            group.start_soon(one, i)
            await anyio.lowlevel.checkpoint()  # they arrive in this order
    assert order == sorted(order)  # first come, first served
    return [t for t in times if t is not None]


def from_start(times: list[float]) -> list[float]:
    return [t - times[0] for t in times]


# --- process scope, virtual clocks --------------------------------------------------------


def test_the_process_scope_lets_a_burst_out_then_the_steady_rate(virtual: Runner) -> None:
    """4 at once (one slot of headroom below the burst), then one per 50 ms, in order."""

    async def main() -> None:
        times = await grant_times(LocalRateLimiter(RATE), 8)
        expected = [0, 0, 0, 0, 0.05, 0.10, 0.15, 0.20]
        assert from_start(times) == pytest.approx(expected, abs=EXACT)

    virtual(main)


def test_a_pause_reaches_a_waiter_already_asleep(virtual: Runner) -> None:
    """A 429's pause lands while the next waiter sleeps for its slot: it waits for the
    pause, then one interval more (the bucket is full when the pause ends: no burst)."""

    async def main() -> None:
        limiter = LocalRateLimiter(RATE)
        start = anyio.current_time()
        for _ in range(4):
            await limiter.acquire("k")
        granted: list[float] = []

        async def sleeper() -> None:
            await limiter.acquire("k")
            granted.append(anyio.current_time() - start)

        async with anyio.create_task_group() as group:
            group.start_soon(sleeper)
            await anyio.sleep(0.01)  # the sleeper waits for its slot at 0.05
            await limiter.penalize("k", 1.0)
        assert granted == pytest.approx([0.01 + 1.0 + 0.05], abs=EXACT)

    virtual(main)


def test_a_bounded_caller_is_refused_at_once_with_the_wait(virtual: Runner) -> None:
    """The queue already holds more than the bound: refused before any wait."""

    async def main() -> None:
        limiter = LocalRateLimiter(RATE)
        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(limiter.acquire, "k")
            for _ in range(3):  # every waiter has queued (trio runs a batch in any order)
                await anyio.lowlevel.checkpoint()
            asked = anyio.current_time()
            with pytest.raises(SlotTooFar) as refused:
                await limiter.acquire("k", max_wait=0.2)
            assert anyio.current_time() == asked  # at once, not after the bound
            assert refused.value.wait > 0.2
            assert not refused.value.paused

    virtual(main)


def test_a_cancelled_waiter_holds_up_nobody_and_uses_no_slot(virtual: Runner) -> None:
    """Of three waiters behind a burst, the middle one is cancelled: the third gets its
    slot, which is the one the second would have had."""

    async def main() -> None:
        limiter = LocalRateLimiter(RATE)
        for _ in range(4):
            await limiter.acquire("k")
        start = anyio.current_time()
        granted: dict[str, float] = {}

        async def wait(name: str) -> None:
            await limiter.acquire("k")
            granted[name] = anyio.current_time() - start

        async with anyio.create_task_group() as group:
            group.start_soon(wait, "first")
            await anyio.lowlevel.checkpoint()
            middle = anyio.CancelScope()
            group.start_soon(_cancelled_waiter, limiter, middle)
            await anyio.lowlevel.checkpoint()
            group.start_soon(wait, "third")
            await anyio.sleep(0.01)
            middle.cancel()
        assert granted == pytest.approx({"first": 0.05, "third": 0.10}, abs=EXACT)

    virtual(main)


async def _cancelled_waiter(limiter: LocalRateLimiter, scope: anyio.CancelScope) -> None:
    with scope:
        await limiter.acquire("k")
        pytest.fail("a cancelled waiter was granted")


def test_reserve_books_slots_ahead_of_the_queue_and_hands_back_the_unused(virtual: Runner) -> None:
    """Three slots at once: the burst's; handing two back frees them for the next caller."""

    async def main() -> None:
        limiter = LocalRateLimiter(RATE)
        now = anyio.current_time()
        block = await limiter.reserve("k", 3, max_wait=1)
        assert [block.take() for _ in range(1)] == pytest.approx([now], abs=EXACT)
        await block.hand_back()
        times = await grant_times(limiter, 4)
        assert from_start([now, *times]) == pytest.approx([0, 0, 0, 0, 0.05], abs=EXACT)
        with pytest.raises(SlotTooFar):
            await limiter.reserve("k", 40, max_wait=1)

    virtual(main)


# --- host scope, real time ---------------------------------------------------------------


def test_the_host_scope_conforms_on_both_backends(real: Runner) -> None:
    """Two "processes" (limiters on one directory) sharing one key: together they keep
    inside the server's bucket, each in arrival order."""

    async def main() -> None:
        directory = tempfile.mkdtemp(prefix="refold-backends-")
        one, other = (HostRateLimiter(FAST, directory=directory) for _ in range(2))
        sent: list[float] = []

        async def run(limiter: HostRateLimiter) -> None:
            for t in await grant_times(limiter, 20):
                sent.append(t)

        async with anyio.create_task_group() as group:
            group.start_soon(run, one)
            group.start_soon(run, other)
        assert len(sent) == 40
        # `sent` holds when each task resumed, not when its slot came: on a loaded
        # machine two may resume together, so two requests of slack. Two budgets (the
        # bug) would send 8 at once and twice the rate.
        audit = audit_send_times(sent, per_second=FAST.per_second, burst=FAST.burst + 2)
        assert audit.conforms
        assert one.scope == other.scope == "host"

    real(main)


def test_a_host_pause_holds_every_waiter_on_both_backends(real: Runner) -> None:

    async def main() -> None:
        limiter = HostRateLimiter(FAST, directory=tempfile.mkdtemp(prefix="refold-backends-"))
        await limiter.acquire("k")
        await limiter.penalize("k", 0.2)
        began = anyio.current_time()
        await limiter.acquire("k")
        assert anyio.current_time() - began >= 0.2 - 0.005  # at least the pause (timer slack)
        await limiter.penalize("k", 5.0)
        with pytest.raises(SlotTooFar) as refused:  # a pause past the caller's bound
            await limiter.acquire("k", max_pause=1.0)
        assert refused.value.paused
        assert refused.value.wait > 1.0

    real(main)


def test_host_bounded_waits_and_reserve_on_both_backends(real: Runner) -> None:

    async def main() -> None:
        limiter = HostRateLimiter(FAST, directory=tempfile.mkdtemp(prefix="refold-backends-"))
        block = await limiter.reserve("k", 4, max_wait=1)
        assert block.remaining == 4
        with pytest.raises(SlotTooFar):
            await limiter.reserve("k", 10_000, max_wait=1)  # 25 s away: nothing reserved
        await block.hand_back()
        await limiter.acquire("k", max_wait=1)

    real(main)


# --- Redis scope: asyncio only ------------------------------------------------------------


class _NeverCalled:
    def evalsha(self, sha: str, numkeys: int, /, *keys_and_args: str) -> Any:
        raise AssertionError("Redis was called under trio")

    def eval(self, script: str, numkeys: int, /, *keys_and_args: str) -> Any:
        raise AssertionError("Redis was called under trio")


def test_the_redis_scope_under_trio_is_a_usage_error_naming_what_works() -> None:
    """No bare RuntimeError from inside asyncio: a typed error before anything is sent."""

    async def main() -> None:
        limiter = RedisRateLimiter(_NeverCalled(), RATE)
        for attempt in (limiter.acquire("k"), limiter.penalize("k", 1.0), limiter.reserve("k", 2)):
            with pytest.raises(RefoldUsageError, match="asyncio") as refused:
                await attempt
            assert "LocalRateLimiter" in str(refused.value)
            assert "host" in str(refused.value)

    anyio.run(main, backend="trio")


def test_the_limiters_import_no_asyncio() -> None:
    """Every scope's module is backend-neutral: asyncio is reached, where Redis needs
    it, through the running loop object only."""
    package = Path(ratelimit_package.__file__).parent
    for module in sorted(package.glob("*.py")):
        tree = ast.parse(module.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not [n for n in names if n.split(".")[0] == "asyncio"], module.name
