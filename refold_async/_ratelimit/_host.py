"""Host scope, the default: one budget per key for every loop, thread and process.

Each bucket is a 24-byte state file, named by a hash of the bucket key and the budget
(never by the secret), in a per-user directory of mode 0700. A grant is a GCRA
reservation made under an exclusive `flock` of that file: read the theoretical arrival
time (TAT), take the earliest conformant slot, advance the TAT by one interval, write it
back. The lock is held for a read and a write, never across a sleep: the waiter then
sleeps on its own loop until its slot. `time.monotonic()` is one clock for every
process of a Linux host (CLOCK_MONOTONIC), so the TATs of all processes agree.

Within a process, each loop queues its waiters for a key in a `Turnstile` and holds at
most one reservation at a time, so a cancelled waiter can usually hand its slot back
(if nobody reserved after it), and otherwise burns one interval at most.

Where no such lock works (no `fcntl`, a read-only or network file system, a directory
we do not own) the limiter falls back to process scope (`LocalRateLimiter`), with one
warning. A file is opened per transaction, so no descriptor (and so no lock) is ever
shared with a forked child.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import math
import os
import stat
import struct
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from ._base import (
    DEFAULT_RATE_LIMIT,
    PerLoop,
    PerRate,
    RateLimit,
    SlotBlock,
    SlotTooFar,
    Turnstile,
    client_capacity,
    loop_clock,
    pause_length,
)
from ._process import LocalRateLimiter, shared_local_limiter

if sys.platform != "win32":
    import fcntl

__all__ = ["HostRateLimiter", "default_state_dir", "shared_host_limiter"]

logger = logging.getLogger("refold.ratelimit")

_STATE = struct.Struct("<ddQ")  # TAT, paused until (host clock, seconds), write count
_EMPTY = (-math.inf, -math.inf, 0)
# A TAT or pause this far ahead cannot be live state (every loop holds one interval at
# most, and pauses are capped at a minute): a file that survived a reboot, whose
# monotonic clock restarted. It is read as empty.
_HORIZON = 3600.0
_BUSY_RETRY = 0.0002  # seconds between two tries of a lock another process holds
_HANDBACK_TRIES = 50
_NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre"}
)


@attrs.frozen
class _Reservation:
    slot: float  # host clock: when the request may leave
    tat: float  # what this reservation wrote: proof that it is still the last write
    seq: int
    paused: float  # the latest pause's end when the slot was reserved


class _Unavailable(Exception):
    """The host lock does not work here; the reason is the message."""


def default_state_dir() -> Path:
    """Where bucket files live: `$REFOLD_RATE_LIMIT_DIR`, else a per-user runtime directory.

    The runtime directory is `$XDG_RUNTIME_DIR/refold-ratelimit` where the session has
    one (a per-user tmpfs on most Linux systems), else `/dev/shm/refold-ratelimit-<uid>`,
    else `<tempdir>/refold-ratelimit-<uid>`.
    """
    explicit = os.environ.get("REFOLD_RATE_LIMIT_DIR")
    if explicit:
        return Path(explicit)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "refold-ratelimit"
    uid = os.getuid() if hasattr(os, "getuid") else 0
    shm = "/dev/shm"  # noqa: S108 - a per-user 0700 directory, ownership checked before use
    if os.path.isdir(shm):
        return Path(shm) / f"refold-ratelimit-{uid}"
    return Path(tempfile.gettempdir()) / f"refold-ratelimit-{uid}"


def _prepare_dir(path: Path) -> None:
    """Create `path` as a private directory, or say why it cannot be used."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(path)
    except OSError as exc:
        raise _Unavailable(f"cannot create {path}: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise _Unavailable(f"{path} is not a directory")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise _Unavailable(f"{path} belongs to another user")
    if info.st_mode & 0o077:
        try:
            os.chmod(path, 0o700)
        except OSError:
            raise _Unavailable(f"{path} is open to other users") from None
    if not os.access(path, os.W_OK):
        raise _Unavailable(f"{path} is read-only")
    kind = _filesystem_of(path)
    if kind in _NETWORK_FILESYSTEMS:
        raise _Unavailable(f"{path} is on a network file system ({kind})")


def _filesystem_of(path: Path) -> str | None:
    """The file system type of `path` from /proc/self/mounts (Linux), else None."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return None
    target = str(path.resolve())
    best, kind = "", None
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


class _StateFile:
    """One bucket's state file; every transaction opens, locks, reads, writes, closes."""

    __slots__ = ("path",)

    def __init__(self, path: Path) -> None:
        self.path = path

    def transact(
        self,
        update: Callable[[tuple[float, float, int]], tuple[tuple[float, float, int] | None, Any]],
        *,
        shared: bool = False,
    ) -> tuple[bool, Any]:
        """Run `update` on the state under the lock; (False, None) if another holds it.

        `update` returns the new state (or None to leave it) and a result.

        Raises:
            _Unavailable: the file or its lock does not work here.
        """
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError as exc:
            raise _Unavailable(f"cannot open {self.path}: {exc.strerror}") from None
        try:
            try:
                fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            except BlockingIOError:
                return False, None
            except OSError as exc:
                raise _Unavailable(f"cannot lock {self.path}: {exc.strerror}") from None
            data = os.pread(fd, _STATE.size, 0)
            state = _STATE.unpack(data) if len(data) == _STATE.size else _EMPTY
            new_state, result = update(state)
            if new_state is not None and not shared:
                os.pwrite(fd, _STATE.pack(*new_state), 0)
            return True, result
        except OSError as exc:
            if exc.errno in (errno.EROFS, errno.ENOSPC, errno.EIO):
                raise _Unavailable(f"cannot write {self.path}: {exc.strerror}") from None
            raise
        finally:
            os.close(fd)  # closing the descriptor releases the lock


class HostRateLimiter:
    """Rate limits shared by every loop, thread and process of this machine: the default.

    Every `AsyncRefold` and `Refold` that uses the same key and base URL on this host
    draws from one bucket, whatever process it runs in, with nothing to run beside it.
    Waiters on a loop are served in arrival order (retries first); processes are served
    in the order their reservations take the lock. Each grant costs one locked read and
    write of a small file in a per-user directory.

    Where the host lock cannot work, this limiter logs one warning and behaves as
    `LocalRateLimiter` (process scope).

    Example:
        ```python
        client = AsyncRefold(api_key=key)  # host scope by default
        same = AsyncRefold(api_key=key, rate_limiter=HostRateLimiter(RateLimit()))
        ```

    Args:
        rate: The server's budget; as everywhere, one slot of headroom is kept.
        directory: Where bucket files live (default: `default_state_dir()`, read when a
            bucket is first used, so `REFOLD_RATE_LIMIT_DIR` may be set later).
    """

    def __init__(
        self,
        rate: RateLimit = DEFAULT_RATE_LIMIT,
        *,
        directory: str | os.PathLike[str] | None = None,
    ) -> None:
        self._rate = rate
        capacity = client_capacity(rate)
        self._interval = rate.interval
        self._tolerance = (capacity - 1) * self._interval
        self._full = capacity * self._interval
        self._directory = Path(directory) if directory is not None else None
        self._turnstiles = PerLoop(Turnstile, Turnstile.is_idle)
        self._files: dict[tuple[Path, str], _StateFile] = {}
        self._ready_dirs: set[Path] = set()
        self._lock = threading.Lock()
        self._fallback: LocalRateLimiter | None = None
        if sys.platform == "win32":  # pragma: no cover - no flock there
            self._fall_back("this platform has no flock")

    @property
    def rate(self) -> RateLimit:
        """The server budget this limiter keeps under."""
        return self._rate

    @property
    def scope(self) -> str:
        """`"host"`, or `"process"` after falling back."""
        return "process" if self._fallback is not None else "host"

    async def acquire(
        self,
        key: str,
        *,
        priority: bool = False,
        max_wait: float | None = None,
        max_pause: float | None = None,
    ) -> None:
        """Wait for the next slot of bucket `key`, shared with every process of the host.

        Args:
            key: The bucket: base URL plus credential fingerprint, never a secret.
            priority: Go ahead of this loop's waiters without priority (retries do).
            max_wait: Raise `SlotTooFar` rather than wait longer than this, in seconds.
            max_pause: Raise `SlotTooFar` at once if a pause lasts longer than this.
        """
        if self._fallback is not None:
            await self._fallback.acquire(
                key, priority=priority, max_wait=max_wait, max_pause=max_pause
            )
            return
        try:
            state = self._state_file(key)
            await self._acquire(key, state, priority, max_wait, max_pause)
        except _Unavailable as exc:
            self._fall_back(str(exc))
            await self.acquire(key, priority=priority, max_wait=max_wait, max_pause=max_pause)

    async def penalize(self, key: str, retry_after: float) -> None:
        """Pause bucket `key` for every process; when it ends, the bucket is full.

        Args:
            key: The bucket the 429 came from.
            retry_after: Seconds to pause (negative means 0); a longer pause under way
                is kept.

        Raises:
            ValueError: `retry_after` is NaN or infinite.
        """
        seconds = pause_length(retry_after)
        if self._fallback is not None:
            await self._fallback.penalize(key, seconds)
            return
        clock = loop_clock()
        full = self._full

        def pause(state: tuple[float, float, int]) -> tuple[tuple[float, float, int], None]:
            now = clock()
            tat, paused, seq = _fresh(state, now)
            end = now + seconds
            return (max(tat, end + full), max(paused, end), seq + 1), None

        try:
            await _transact(self._state_file(key), pause)
        except _Unavailable as exc:
            self._fall_back(str(exc))
            await self.penalize(key, seconds)

    async def _acquire(
        self,
        key: str,
        state: _StateFile,
        priority: bool,
        max_wait: float | None,
        max_pause: float | None,
    ) -> None:
        turnstile, _ = self._turnstiles.get(key)
        clock = loop_clock()
        deadline = None if max_wait is None else clock() + max_wait
        if deadline is not None and not priority:
            await self._acquire_bounded(state, clock, deadline, max_pause)
            return
        turnstile.users += 1
        try:
            await turnstile.enter(priority=priority, timeout=max_wait)
            try:
                while True:
                    remaining = None if deadline is None else deadline - clock()
                    reservation = await self._reserve(state, clock, remaining, max_pause)
                    if await self._sleep_until(state, reservation, clock):
                        return
            finally:
                turnstile.leave()
        finally:
            turnstile.users -= 1

    async def _reserve(
        self,
        state: _StateFile,
        clock: Callable[[], float],
        max_wait: float | None,
        max_pause: float | None,
    ) -> _Reservation:
        interval, tolerance = self._interval, self._tolerance

        def reserve(
            current: tuple[float, float, int],
        ) -> tuple[tuple[float, float, int] | None, _Reservation | SlotTooFar]:
            now = clock()
            tat, paused, seq = _fresh(current, now)
            if max_pause is not None and paused - now > max_pause:
                return None, SlotTooFar(paused - now, paused=True)
            slot = max(now, tat - tolerance)
            if max_wait is not None and slot - now > max_wait:
                return None, SlotTooFar(slot - now, paused=False)
            new_tat = max(tat, now) + interval
            return (new_tat, paused, seq + 1), _Reservation(slot, new_tat, seq + 1, paused)

        result = await _transact(state, reserve)
        if isinstance(result, SlotTooFar):
            raise result
        reservation: _Reservation = result
        return reservation

    async def _sleep_until(
        self, state: _StateFile, reservation: _Reservation, clock: Callable[[], float]
    ) -> bool:
        """Sleep until the slot; False if a 429 paused the bucket meanwhile.

        A pause that began after the reservation voids the slot unless the slot still
        comes at least one interval after the pause ends (no burst after a pause).
        """
        delay = reservation.slot - clock()
        if delay <= 0:
            return True  # due now: no time for a pause to have landed since the reservation
        try:
            await asyncio.sleep(delay)
            paused = await _transact(state, _read_pause, shared=True)
        except BaseException:
            self._hand_back(state, reservation)
            raise
        new_pause = bool(paused > reservation.paused)
        return not (new_pause and reservation.slot < paused + self._interval - 1e-9)

    # --- reserving at once: bounded waits and `reserve()` -------------------------------
    # Kept apart from the queue above. A caller with a bound on its wait reserves its
    # slot in the file at once instead of queueing on its loop, so the file's TAT counts
    # every bounded caller of every process, and "no slot within the bound" is read from
    # the host's whole queue in one locked read (a refusal takes microseconds, not the
    # bound). Such a caller is not served in arrival order with the unbounded ones.

    async def _acquire_bounded(
        self,
        state: _StateFile,
        clock: Callable[[], float],
        deadline: float,
        max_pause: float | None,
    ) -> None:
        while True:
            reservation = await self._reserve(state, clock, deadline - clock(), max_pause)
            if await self._sleep_until(state, reservation, clock):
                return

    async def reserve(self, key: str, count: int, *, max_wait: float | None = None) -> SlotBlock:
        """Reserve the next `count` slots of bucket `key` at once, host-wide, or none.

        Args:
            key: The bucket: base URL plus credential fingerprint, never a secret.
            count: How many slots (at least 1).
            max_wait: Raise `SlotTooFar` if the last slot is further away than this.

        Returns:
            The slots' times on `loop_clock()`; those not taken can be handed back.
        """
        if self._fallback is not None:
            return await self._fallback.reserve(key, count, max_wait=max_wait)
        try:
            state = self._state_file(key)
            return await self._reserve_block(state, count, max_wait)
        except _Unavailable as exc:
            self._fall_back(str(exc))
            return await self.reserve(key, count, max_wait=max_wait)

    async def _reserve_block(
        self, state: _StateFile, count: int, max_wait: float | None
    ) -> SlotBlock:
        clock = loop_clock()
        interval, tolerance = self._interval, self._tolerance

        def book(
            current: tuple[float, float, int],
        ) -> tuple[tuple[float, float, int] | None, tuple[list[float], float, int] | SlotTooFar]:
            now = clock()
            tat, paused, seq = _fresh(current, now)
            times: list[float] = []
            for _ in range(count):
                times.append(max(now, tat - tolerance))
                tat = max(tat, now) + interval
            if max_wait is not None and times[-1] - now > max_wait:
                return None, SlotTooFar(times[-1] - now, paused=False)
            return (tat, paused, seq + 1), (times, tat, seq + 1)

        result = await _transact(state, book)
        if isinstance(result, SlotTooFar):
            raise result
        times, tat, seq = result

        async def hand_back(unused: int) -> None:
            def undo(
                current: tuple[float, float, int],
            ) -> tuple[tuple[float, float, int] | None, None]:
                if current[0] != tat or current[2] != seq:
                    return None, None  # reserved after us: our slots lapse
                return (tat - unused * interval, current[1], seq + 1), None

            await _transact(state, undo)

        return SlotBlock(times, clock, hand_back)

    # --- for RedisRateLimiter's return from an outage, kept apart --------------------------

    async def busy_for(self, key: str) -> float:
        """Seconds from now until bucket `key` has drained (0: idle, or scope unusable).

        One shared-lock read of the file: how far ahead this host has reserved.
        """
        if self._fallback is not None:
            return 0.0
        try:
            state = self._state_file(key)
            clock = loop_clock()

            def read(current: tuple[float, float, int]) -> tuple[None, float]:
                now = clock()
                return None, max(_fresh(current, now)[0] - now, 0.0)

            busy: float = await _transact(state, read, shared=True)
        except (_Unavailable, OSError):
            return 0.0
        return busy

    def _hand_back(self, state: _StateFile, reservation: _Reservation) -> None:
        """Undo a reservation if nothing was reserved after it; else it lapses."""
        interval = self._interval

        def undo(current: tuple[float, float, int]) -> tuple[tuple[float, float, int] | None, None]:
            tat, paused, seq = current
            if tat != reservation.tat or seq != reservation.seq:
                return None, None
            return (reservation.tat - interval, paused, seq + 1), None

        for _ in range(_HANDBACK_TRIES):
            try:
                done, _ = state.transact(undo)
            except (_Unavailable, OSError):
                return
            if done:
                return

    def _state_file(self, key: str) -> _StateFile:
        directory = self._directory or default_state_dir()
        rate = self._rate
        with self._lock:
            found = self._files.get((directory, key))
            if found is not None:
                return found
            if directory not in self._ready_dirs:
                _prepare_dir(directory)
                self._ready_dirs.add(directory)
            name = hashlib.sha256(f"{key}|{rate.per_second!r}|{rate.burst}".encode()).hexdigest()
            found = self._files[(directory, key)] = _StateFile(directory / f"{name[:32]}.bucket")
            if len(self._files) > 4096:  # one per key in use; forget the oldest
                del self._files[next(iter(self._files))]
            return found

    def _fall_back(self, reason: str) -> None:
        with self._lock:
            if self._fallback is not None:
                return
            self._fallback = shared_local_limiter(self._rate)
        logger.warning(
            "the host-wide rate limiter is unavailable (%s); falling back to one budget per "
            "process, so several processes using one key can exceed the API's limit. Use "
            "RedisRateLimiter to share one budget",
            reason,
        )

    def __repr__(self) -> str:
        return f"HostRateLimiter({self._rate!r}, scope={self.scope!r})"


def _fresh(state: tuple[float, float, int], now: float) -> tuple[float, float, int]:
    tat, paused, seq = state
    if tat > now + _HORIZON or paused > now + _HORIZON:
        return -math.inf, -math.inf, seq
    return tat, paused, seq


def _read_pause(state: tuple[float, float, int]) -> tuple[None, float]:
    return None, state[1]


async def _transact(state: _StateFile, update: Callable[..., Any], *, shared: bool = False) -> Any:
    while True:
        done, result = state.transact(update, shared=shared)
        if done:
            return result
        await asyncio.sleep(_BUSY_RETRY)


_SHARED: PerRate[HostRateLimiter] = PerRate(HostRateLimiter)


def shared_host_limiter(rate: RateLimit = DEFAULT_RATE_LIMIT) -> HostRateLimiter:
    """The process's one `HostRateLimiter` for `rate`, which clients use by default.

    Args:
        rate: The server's budget.

    Returns:
        The same instance for every equal `rate`, for the life of the process.
    """
    return _SHARED.get(rate)
