"""The host scope against an untidy world: locks held, files planted, clocks apart.

Each test plants what a crashed process, another user or another time namespace could
leave behind, then checks that the limiter neither stalls, nor turns the limit off, nor
lets a built-in exception reach its caller, and that it heals: a reset with a warning,
or process scope with one warning and a way back. Time runs on a virtual clock
(`virtual_time`), so a stall of minutes shows as minutes without taking them; the lock
holder is a real process.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st

from refold_async import RateLimitQueueTimeout
from refold_async._ratelimit import HostRateLimiter, RateLimit, SlotTooFar, _host
from tests.core import ops
from tests.core.conftest import VirtualClockLoop, run_virtual
from tests.helpers import mock_client

Runner = Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any]

RATE = RateLimit()  # 20/s, burst 5: the client lets 4 out at once, then one per 50 ms
KEY = "https://api.invalid#fp-0123"
STATE = struct.Struct("<ddQ")
GIVE_UP = 60.0  # virtual seconds: a wait this long is a stall


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "refold.ratelimit" and r.levelno == logging.WARNING
    ]


def bucket_file(directory: Path) -> Path:
    (state,) = directory.iterdir()
    return state


def first_use(directory: Path, run: Runner) -> Path:
    """Make the bucket's state file with one grant (virtual time 0), and return its path."""

    async def once() -> None:
        await HostRateLimiter(RATE, directory=directory).acquire(KEY)

    run(once)
    return bucket_file(directory)


def bucket_name(key: str = KEY, rate: RateLimit = RATE) -> str:
    """The state file's name for `key`: a hash, never the key."""
    digest = hashlib.sha256(f"{key}|{rate.per_second!r}|{rate.burst}".encode())
    return f"{digest.hexdigest()[:32]}.bucket"


async def grant_times(
    limiter: HostRateLimiter, count: int, give_up: float = GIVE_UP, **bounds: Any
) -> list[float]:
    """Loop times at which `count` calls in a row got their slots (bounded: no hang)."""
    loop = asyncio.get_running_loop()
    times = []
    for _ in range(count):
        await asyncio.wait_for(limiter.acquire(KEY, **bounds), give_up)
        times.append(loop.time())
    return times


def assert_paced(times: list[float]) -> None:
    """At most 4 at once, then one interval apart: the limit is on."""
    for before, after in zip(times, times[4:], strict=False):
        assert after - before >= RATE.interval - 1e-6
    assert times[-1] - times[0] >= (len(times) - 4) * RATE.interval - 1e-6


# --- the lock: bounded and cheap waits ------------------------------------------------

HOLDER = (
    "import fcntl, os, sys\n"
    "fd = os.open(sys.argv[1], os.O_RDWR)\n"
    "fcntl.flock(fd, fcntl.LOCK_EX)\n"
    "print('locked', flush=True)\n"
    "sys.stdin.read()\n"
)


@contextmanager
def lock_held_by_another_process(path: Path) -> Iterator[Callable[[], None]]:
    """A child process holds `path`'s flock until released (or the block ends)."""
    child = subprocess.Popen(  # noqa: S603 - our interpreter, our script
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdin is not None
    stdin = child.stdin

    def release() -> None:
        if not stdin.closed:
            stdin.close()
        child.wait(10)

    try:
        assert child.stdout.readline().strip() == "locked"
        yield release
    finally:
        release()
        child.stdout.close()


@pytest.fixture
def tries(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts every try of a state file's lock."""
    counted = [0]
    transact = _host._StateFile.transact

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        counted[0] += 1
        return transact(self, *args, **kwargs)

    monkeypatch.setattr(_host._StateFile, "transact", counting)
    return counted


def test_a_held_lock_honours_max_wait_and_backs_off(
    tmp_path: Path, virtual_time: Runner, tries: list[int]
) -> None:
    """Another process holds the lock: `max_wait` ends the wait, after a few dozen tries."""
    path = first_use(tmp_path, virtual_time)
    limiter = HostRateLimiter(RATE, directory=tmp_path)

    async def main() -> tuple[float, SlotTooFar]:
        loop = asyncio.get_running_loop()
        with pytest.raises(SlotTooFar) as info:
            await asyncio.wait_for(limiter.acquire(KEY, max_wait=0.3), GIVE_UP)
        return loop.time(), info.value

    tries[0] = 0
    with lock_held_by_another_process(path):
        waited, refusal = virtual_time(main)
    assert waited <= 0.3
    assert refusal.wait >= 0.3
    assert not refusal.paused
    assert tries[0] <= 15  # 1, 2, 4, ... 50 ms apart: no tight polling
    assert limiter.scope == "host"  # the caller's bound, not the scope's


def test_a_lock_held_for_over_a_second_means_process_scope_then_a_way_back(
    tmp_path: Path, virtual_time: Runner, tries: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    """Past the lock bound: process scope, one warning; re-probed, the host scope returns."""
    path = first_use(tmp_path, virtual_time)
    limiter = HostRateLimiter(RATE, directory=tmp_path)

    async def held() -> tuple[float, list[float]]:
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(limiter.acquire(KEY), GIVE_UP)
        fell_back = loop.time()
        return fell_back, await grant_times(limiter, 12)

    tries[0] = 0
    with lock_held_by_another_process(path) as release:
        fell_back, times = virtual_time(held)
        assert limiter.scope == "process"
        release()

    assert _host._LOCK_WAIT <= fell_back <= _host._LOCK_WAIT + 0.1
    assert tries[0] <= 30  # about 25 tries in the second of waiting; none after it
    assert_paced(times)  # process scope still keeps the budget
    [warning] = warnings_of(caplog)
    assert "stayed locked by another process" in warning

    async def later() -> None:
        # A new loop's virtual clock starts at 0 again: sleep past the old loop's probe time.
        await asyncio.sleep(_host._REPROBE_AFTER + 5)
        await grant_times(limiter, 3)

    virtual_time(later)
    assert limiter.scope == "host"
    assert len(warnings_of(caplog)) == 1


# --- what a state file holds: validated, and reset with a warning ----------------------


@pytest.mark.parametrize(
    "planted",
    [
        pytest.param(STATE.pack(math.nan, -math.inf, 1), id="nan-tat"),
        pytest.param(STATE.pack(0.0, math.nan, 1), id="nan-pause"),
        pytest.param(STATE.pack(math.inf, -math.inf, 1), id="inf-tat"),
        pytest.param(STATE.pack(0.0, -math.inf, 2**64 - 1), id="counter-at-its-limit"),
        pytest.param(os.urandom(100), id="random-bytes"),
        pytest.param(b"\x00" * 7, id="short"),
        pytest.param(STATE.pack(0.0, -math.inf, 1) + b"tail", id="long"),
    ],
)
def test_a_damaged_state_is_reset_with_a_warning_and_the_limit_holds(
    tmp_path: Path, virtual_time: Runner, caplog: pytest.LogCaptureFixture, planted: bytes
) -> None:
    """NaN, a counter at 2**64-1, random bytes, a wrong size: reset once, limit still on."""
    path = first_use(tmp_path, virtual_time)
    path.write_bytes(planted)
    limiter = HostRateLimiter(RATE, directory=tmp_path)

    async def main() -> list[float]:
        return await grant_times(limiter, 12)

    times = virtual_time(main)
    assert_paced(times)
    assert times[-1] <= 1.0  # and nothing stalled
    assert limiter.scope == "host"
    [warning] = warnings_of(caplog)
    assert "it was reset" in warning
    assert len(path.read_bytes()) == STATE.size
    tat, _paused, seq = STATE.unpack(path.read_bytes())
    assert math.isfinite(tat)
    assert seq < 2**63


@pytest.mark.parametrize(
    ("tat_ahead", "pause_ahead"),
    [
        pytest.param(3000.0, None, id="tat-3000s-ahead"),
        pytest.param(3000.0, 2999.0, id="pause-3000s-ahead"),
        pytest.param(10.0**7, None, id="before-a-reboot"),
        pytest.param(1000.0, None, id="tat-1000s-ahead"),
    ],
)
def test_a_time_ahead_of_any_live_state_does_not_stall(
    tmp_path: Path,
    virtual_time: Runner,
    caplog: pytest.LogCaptureFixture,
    tat_ahead: float,
    pause_ahead: float | None,
) -> None:
    """A TAT or pause further ahead than a full bucket plus the longest pause is reset."""
    path = first_use(tmp_path, virtual_time)
    path.write_bytes(STATE.pack(tat_ahead, -math.inf if pause_ahead is None else pause_ahead, 5))
    limiter = HostRateLimiter(RATE, directory=tmp_path)

    async def main() -> list[float]:
        return await grant_times(limiter, 8)

    times = virtual_time(main)
    assert times[-1] < 1.0
    assert_paced(times)
    assert "further ahead than any live state" in warnings_of(caplog)[0]


def test_a_live_pause_is_still_honoured(tmp_path: Path, virtual_time: Runner) -> None:
    """A pause within the longest a 429 sets is kept: validation does not void real pauses."""
    path = first_use(tmp_path, virtual_time)
    path.write_bytes(STATE.pack(600.0 + RATE.interval * 4, 600.0, 5))
    limiter = HostRateLimiter(RATE, directory=tmp_path)

    async def main() -> list[float]:
        return await grant_times(limiter, 1, give_up=1000)

    assert virtual_time(main)[0] >= 600.0


@pytest.mark.parametrize("offset", [5.0, 40.0, 600.0, 3000.0])
def test_a_process_whose_clock_is_ahead_cannot_stall_the_others(
    tmp_path: Path, virtual_time: Runner, offset: float
) -> None:
    """Two "processes" on one key, one with its monotonic clock `offset` s ahead.

    The one ahead takes slots and pauses the bucket after a 429, on its own clock; the
    other, starting later on the true clock, waits no longer than live state allows (the
    longest pause plus a full bucket), and not at all when the clocks are further apart.
    """
    ahead = HostRateLimiter(RATE, directory=tmp_path)
    behind = HostRateLimiter(RATE, directory=tmp_path)
    # The most live state can ask anyone to wait: the longest pause and a full bucket.
    bound = _host.LONGEST_PAUSE + RATE.burst * RATE.interval + _host._CLOCK_SLACK

    async def in_the_other_namespace() -> None:
        await grant_times(ahead, 10)
        await ahead.penalize(KEY, 30.0)  # a 429, on its clock

    async def here() -> list[float]:
        return await grant_times(behind, 10, give_up=GIVE_UP + bound)

    loop = _virtual_loop_at(offset)
    try:
        loop.run_until_complete(in_the_other_namespace())
    finally:
        loop.close()
    times = virtual_time(here)
    assert times[-1] <= bound + 10 * RATE.interval
    if offset + 30 > bound:
        assert times[-1] <= 10 * RATE.interval  # read as stale, and reset


def _virtual_loop_at(start: float) -> asyncio.AbstractEventLoop:
    return VirtualClockLoop(start)


# --- what is on the file system: opened by descriptor, trusted by nothing -------------


def test_the_directory_deleted_mid_run_is_made_again(
    tmp_path: Path, virtual_time: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    """A removed directory (a cleaner, a logout) is re-created: host scope, no warning."""
    directory = tmp_path / "buckets"
    limiter = HostRateLimiter(RATE, directory=directory)

    async def main() -> None:
        await grant_times(limiter, 2)
        shutil.rmtree(directory)
        await grant_times(limiter, 2)

    virtual_time(main)
    assert limiter.scope == "host"
    assert len(list(directory.iterdir())) == 1
    assert warnings_of(caplog) == []


def test_an_unusable_directory_is_tried_again_later(
    tmp_path: Path, virtual_time: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    """A file where the directory should be: process scope, one warning; once gone, host."""
    directory = tmp_path / "buckets"
    directory.write_text("in the way")
    limiter = HostRateLimiter(RATE, directory=directory)

    async def blocked() -> list[float]:
        times = await grant_times(limiter, 10)
        await asyncio.sleep(_host._REPROBE_AFTER)
        await grant_times(limiter, 1)  # tried again: still in the way
        return times

    assert_paced(virtual_time(blocked))
    assert limiter.scope == "process"
    assert len(warnings_of(caplog)) == 1
    directory.unlink()

    async def cleared() -> None:
        await asyncio.sleep(_host._REPROBE_AFTER * 3)  # past the old loop's probe times
        await grant_times(limiter, 2)

    virtual_time(cleared)
    assert limiter.scope == "host"
    assert directory.is_dir()


@pytest.mark.parametrize("kind", ["fifo", "symlink", "directory", "mode-0644"])
def test_a_state_file_that_is_not_a_private_regular_file_is_not_used(
    tmp_path: Path, virtual_time: Runner, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    """A FIFO, a link, a directory or a readable file: process scope, typed, one warning."""
    path = first_use(tmp_path, virtual_time)
    path.unlink()
    target = tmp_path.parent / f"{tmp_path.name}-target"
    target.write_bytes(b"")
    if kind == "fifo":
        os.mkfifo(path, 0o600)
    elif kind == "symlink":
        path.symlink_to(target)
    elif kind == "directory":
        path.mkdir()
    else:
        path.write_bytes(STATE.pack(0.0, -math.inf, 1))
        path.chmod(0o644)
    limiter = HostRateLimiter(RATE, directory=tmp_path)

    async def main() -> list[float]:
        return await grant_times(limiter, 10)

    try:
        assert_paced(virtual_time(main))
        assert limiter.scope == "process"
        assert len(warnings_of(caplog)) == 1
        assert target.read_bytes() == b""  # nothing written where a link pointed
    finally:
        target.unlink()


# --- another local user ---------------------------------------------------------------

OTHER_UID = 65534  # "nobody": exists on every Linux, owns nothing of ours
# The other user runs the system's interpreter: this virtualenv's may sit in a home
# directory that user cannot enter. The scripts use the standard library only.
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or "/usr/bin/python3"
needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or not os.access(SYSTEM_PYTHON, os.X_OK),
    reason="acting as another local user needs root (to switch uid in a child) and a "
    "system python3 that user can run",
)


def as_other_user(script: str, *args: str) -> None:
    """Run `script` as another local user (uid and gid 65534), in a child process."""
    subprocess.run(  # noqa: S603 - the system's interpreter, our script
        [SYSTEM_PYTHON, "-I", "-c", script, *args],
        user=OTHER_UID,
        group=OTHER_UID,
        extra_groups=[],
        check=True,
        timeout=30,
        cwd="/",
    )


@pytest.fixture
def shared_parent() -> Iterator[Path]:
    """A directory every local user can reach (a test's own tmp_path is root's, 0700)."""
    parent = Path(tempfile.mkdtemp(prefix="refold-shared-"))
    try:
        yield parent
    finally:
        shutil.rmtree(parent, ignore_errors=True)


SWAP = (
    "import os, struct, sys, time\n"
    "parent, name = sys.argv[1], sys.argv[2]\n"
    "evil = os.path.join(parent, 'evil')\n"
    "os.mkdir(evil, 0o777)\n"
    "with open(os.path.join(evil, name), 'wb') as f:\n"
    "    f.write(struct.pack('<ddQ', time.monotonic() + 3000, -float('inf'), 1))\n"
    "os.chmod(os.path.join(evil, name), 0o666)\n"
    "if os.path.lexists(os.path.join(parent, 'rl')):\n"
    "    os.rename(os.path.join(parent, 'rl'), os.path.join(parent, 'moved'))\n"
    "os.symlink(evil, os.path.join(parent, 'rl'))\n"
)


@needs_root
def test_a_parent_that_others_can_write_is_refused(
    shared_parent: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another user swaps the directory for a link to theirs: never followed, no stall."""
    monkeypatch.setattr(_host, "_REPROBE_AFTER", 0.0)  # every call tries the host scope
    shared_parent.chmod(0o777)  # writable by all, not sticky
    directory = shared_parent / "rl"
    limiter = HostRateLimiter(RATE, directory=directory)

    async def before() -> None:
        await asyncio.wait_for(limiter.acquire(KEY), GIVE_UP)

    asyncio.run(before())
    assert limiter.scope == "process"
    assert "can be written by other users" in warnings_of(caplog)[0]
    as_other_user(SWAP, str(shared_parent), bucket_name())
    planted = (shared_parent / "evil" / bucket_name()).read_bytes()

    async def after() -> None:
        await grant_times(limiter, 6)  # a stall would take 3000 s: wait_for stops it

    asyncio.run(after())
    assert limiter.scope == "process"
    assert (shared_parent / "evil" / bucket_name()).read_bytes() == planted
    assert len(warnings_of(caplog)) == 1


@needs_root
def test_a_directory_pre_created_by_another_user_is_not_used(
    shared_parent: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """In a sticky shared directory (as /tmp), someone else's directory or link is refused."""
    shared_parent.chmod(0o1777)
    plant = (
        "import os, sys\n"
        "parent = sys.argv[1]\n"
        "os.mkdir(os.path.join(parent, 'theirs'), 0o777)\n"
        "os.mkdir(os.path.join(parent, 'target'), 0o777)\n"
        "os.symlink(os.path.join(parent, 'target'), os.path.join(parent, 'link'))\n"
    )
    as_other_user(plant, str(shared_parent))
    for name in ("theirs", "link"):
        limiter = HostRateLimiter(RATE, directory=shared_parent / name)

        async def main(limiter: HostRateLimiter = limiter) -> None:
            await grant_times(limiter, 3)

        asyncio.run(main())
        assert limiter.scope == "process"
    assert list((shared_parent / "theirs").iterdir()) == []
    assert list((shared_parent / "target").iterdir()) == []
    messages = warnings_of(caplog)
    assert "belongs to another user" in messages[0]
    assert "not a directory" in messages[1]
    # The same parent with a directory of our own making is fine (sticky: nobody can swap it).
    mine = HostRateLimiter(RATE, directory=shared_parent / "mine")
    asyncio.run(mine.acquire(KEY))
    assert mine.scope == "host"


# --- what a caller sees ---------------------------------------------------------------


async def test_a_caller_sees_a_typed_refusal_or_a_call_that_goes_through(
    tmp_path: Path, router: respx.Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lock held elsewhere: `max_queue_wait` gives RateLimitQueueTimeout; else the call goes."""
    monkeypatch.setattr(_host, "_LOCK_WAIT", 0.2)  # the bound, scaled down
    router.route().mock(return_value=httpx.Response(200, json=[]))
    limiter = HostRateLimiter(RATE, directory=tmp_path)
    client = mock_client(router, rate_limiter=limiter)
    await client._transport.send(ops.ORG)
    with lock_held_by_another_process(bucket_file(tmp_path)):
        with pytest.raises(RateLimitQueueTimeout) as info:
            await client._transport.send(ops.ORG, options={"max_queue_wait": 0.05})
        assert info.value.retry_after is not None
        assert info.value.retry_after > 0
        assert limiter.scope == "host"
        await client._transport.send(ops.ORG)  # past the bound: on process scope
        assert limiter.scope == "process"
    assert router.calls.call_count == 2


@settings(max_examples=60, deadline=None)
@given(
    state=st.one_of(
        st.binary(max_size=64),
        st.tuples(
            st.floats(allow_nan=True, allow_infinity=True),
            st.floats(allow_nan=True, allow_infinity=True),
            st.integers(0, 2**64 - 1),
        ).map(lambda values: STATE.pack(*values)),
    )
)
def test_whatever_a_state_file_holds_the_limiter_neither_raises_nor_stalls(state: bytes) -> None:
    """Any bytes in the state file: grants come, paced, within live state's horizon."""
    with tempfile.TemporaryDirectory(prefix="refold-rl-fuzz-") as where:
        directory = Path(where)
        first_use(directory, run_virtual)
        bucket_file(directory).write_bytes(state)
        limiter = HostRateLimiter(RATE, directory=directory)

        async def main() -> list[float]:
            return await grant_times(limiter, 6, give_up=_host.LONGEST_PAUSE + 60)

        times = run_virtual(main)
    assert limiter.scope == "host"
    assert_paced(times)
    assert times[0] <= _host.LONGEST_PAUSE + RATE.burst * RATE.interval + _host._CLOCK_SLACK


AHEAD = (
    "import asyncio, sys\n"
    "from refold_async._ratelimit import HostRateLimiter, RateLimit\n"
    "async def main():\n"
    "    limiter = HostRateLimiter(RateLimit(), directory=sys.argv[1])\n"
    "    for _ in range(10):\n"
    "        await limiter.acquire(sys.argv[2])\n"
    "    await limiter.penalize(sys.argv[2], 30.0)\n"
    "asyncio.run(main())\n"
)


def _time_namespaces() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False
    probe = subprocess.run(  # noqa: S603 - a fixed command
        [unshare, "--time", "--monotonic", "3000", "--fork", "true"],
        capture_output=True,
        timeout=10,
        check=False,
    )
    return probe.returncode == 0


@pytest.mark.skipif(
    not _time_namespaces(), reason="needs root and `unshare --time` (Linux 5.6+ time namespaces)"
)
async def test_a_real_process_in_a_time_namespace_3000s_ahead_stalls_nobody(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A process whose CLOCK_MONOTONIC runs 3000 s ahead writes its TATs and a 429's pause."""
    unshare = shutil.which("unshare")
    assert unshare is not None
    child = await asyncio.create_subprocess_exec(
        unshare, "--time", "--monotonic", "3000", "--fork",
        sys.executable, "-c", AHEAD, str(tmp_path), KEY,
        cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert await asyncio.wait_for(child.wait(), 60) == 0
    limiter = HostRateLimiter(RATE, directory=tmp_path)
    await grant_times(limiter, 10, give_up=30)  # the old limiter waited 3000 s here
    assert limiter.scope == "host"
    assert any("further ahead than any live state" in w for w in warnings_of(caplog))
