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

Nothing on the file system is trusted by its path. The directory is opened once
(`O_DIRECTORY | O_NOFOLLOW`, its parent writable by nobody else unless sticky) and each
state file relative to it (`O_NOFOLLOW | O_NONBLOCK`); owner, type and mode are checked
on the open descriptor. What a file holds is checked too: a value that is not a time, a
counter at its limit, a wrong size, or a time further ahead than live state can be
(another process's clock in another time namespace, a file from before a reboot) is
reset with a warning, so no file can switch the limit off or stall the host.

Where the host lock does not work (no `fcntl`, a read-only or network file system, a
directory or file that is not ours, a lock another process holds for over a second)
the limiter falls back to process scope (`LocalRateLimiter`), warns once per reason,
and tries the host scope again every half minute. A file is opened per transaction,
so no descriptor (and so no lock) is ever shared with a forked child.

Longer than most modules (about 700 lines): the file layer (`_StateDir`, `_StateFile`)
and the limiter that reads it are kept together, because each check on one side
exists for a transaction on the other.
"""

from __future__ import annotations

import contextlib
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
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import anyio
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
    wake_at,
)
from ._process import LocalRateLimiter, shared_local_limiter

if sys.platform != "win32":
    import fcntl

__all__ = ["HostRateLimiter", "default_state_dir", "shared_host_limiter"]

logger = logging.getLogger("refold.ratelimit")

State = tuple[float, float, int]  # TAT, paused until (host clock, seconds), write count
_STATE = struct.Struct("<ddQ")
_EMPTY: State = (-math.inf, -math.inf, 0)
_SEQ_LIMIT = 2**63  # a write count this high was not written by a live limiter
# The longest pause a 429 sets (the transport never asks for more). No live state has
# its pause further ahead than this, nor its TAT further than this plus a full bucket
# (and `_CLOCK_SLACK`): a longer queue of reservations would have been refused by the
# callers' own bounds first. Anything further ahead is reset, so a process whose clock
# runs ahead (another time namespace) or a file from before a reboot stalls nobody for
# longer than that.
LONGEST_PAUSE = 900.0
_CLOCK_SLACK = 1.0
# Seconds a transaction may wait for a lock that another process holds. A transaction
# takes microseconds, so a lock held this long means the host scope is unusable (a
# stopped process holding it, a file system whose locks hang): process scope instead.
_LOCK_WAIT = 1.0
_PROBE_LOCK_WAIT = 0.1  # the same, when trying the host scope again after a fallback
_FIRST_BACKOFF = 0.001  # seconds between tries of a busy lock: doubling, up to ...
_LONGEST_BACKOFF = 0.05  # ... this, so a wait costs a few dozen tries a second at most
_REPROBE_AFTER = 30.0  # seconds on process scope before trying the host scope again
_RECHECK_DIR_AFTER = 5.0  # seconds between checks that the directory is still at its path
_HANDBACK_TRIES = 50
_MAX_NOTED = 256  # warnings remembered, so that each is logged once
_NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre"}
)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


@attrs.frozen
class _Reservation:
    slot: float  # host clock: when the request may leave
    tat: float  # what this reservation wrote: proof that it is still the last write
    seq: int
    paused: float  # the latest pause's end when the slot was reserved


class _Unavailable(Exception):
    """The host lock does not work here; the reason is the message."""


class _Gone(Exception):
    """The state directory was removed while open: open it again by its path."""


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


def _uid() -> int:
    return os.getuid() if hasattr(os, "getuid") else 0


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


class _StateDir:
    """The state directory, opened once; every file is opened relative to it.

    The descriptor is closed when the last user lets go of it (a replaced directory may
    still be in use by another thread's transaction).
    """

    __slots__ = ("__weakref__", "checked", "fd", "path")

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd
        self.checked = time.monotonic()
        weakref.finalize(self, _close, fd)

    @classmethod
    def open(cls, path: Path) -> _StateDir:
        """Open (creating if needed) `path` as a private directory, or say why not.

        Raises:
            _Unavailable: the directory, or its parent, is not safe or not usable.
        """
        if os.open not in os.supports_dir_fd or not _O_NOFOLLOW or not _O_DIRECTORY:
            raise _Unavailable("this platform cannot open files relative to a directory")
        parent = path.parent
        try:
            if not parent.is_dir():
                os.makedirs(parent, mode=0o700, exist_ok=True)
            parent_fd = os.open(parent, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
        except OSError as exc:
            raise _Unavailable(f"cannot open {parent}: {_why(exc)}") from None
        try:
            _check_parent(parent, os.fstat(parent_fd))
            with contextlib.suppress(FileExistsError):
                os.mkdir(path.name, 0o700, dir_fd=parent_fd)
            fd = os.open(
                path.name, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=parent_fd
            )
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise _Unavailable(f"{path} is not a directory (a link, or a file)") from None
            raise _Unavailable(f"cannot open {path}: {_why(exc)}") from None
        finally:
            os.close(parent_fd)
        directory = cls(path, fd)  # closes `fd` when dropped, also if a check fails
        directory.check()
        return directory

    def check(self) -> None:
        """Check the open directory: ours, private (made so if it is not), local."""
        try:
            info = os.fstat(self.fd)
            if info.st_uid != _uid():
                raise _Unavailable(f"{self.path} belongs to another user")
            if stat.S_IMODE(info.st_mode) & 0o077:
                os.fchmod(self.fd, 0o700)  # ours: nobody else may have a way in
        except OSError as exc:
            raise _Unavailable(f"cannot use {self.path}: {_why(exc)}") from None
        kind = _filesystem_of(self.path)
        if kind in _NETWORK_FILESYSTEMS:
            raise _Unavailable(f"{self.path} is on a network file system ({kind})")

    def is_current(self) -> bool:
        """Whether the path still names this directory (not removed, nor replaced)."""
        try:
            here = os.fstat(self.fd)
            there = os.stat(self.path, follow_symlinks=False)
        except OSError:
            return False
        return here.st_nlink > 0 and (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def _check_parent(parent: Path, info: os.stat_result) -> None:
    """Refuse a parent through which another user could swap the directory."""
    if info.st_uid not in (_uid(), 0):
        raise _Unavailable(f"{parent} belongs to another user, who could replace what is in it")
    if stat.S_IMODE(info.st_mode) & 0o022 and not info.st_mode & stat.S_ISVTX:
        raise _Unavailable(f"{parent} can be written by other users and is not sticky")


def _filesystem_of(path: Path) -> str | None:
    """The file system type of `path` from /proc/self/mounts (Linux), else None."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
        target = str(path.resolve())
    except (OSError, RuntimeError):
        return None
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
    """One bucket's state file; every transaction opens, checks, locks, reads, writes, closes."""

    __slots__ = ("directory", "name")

    def __init__(self, directory: _StateDir, name: str) -> None:
        self.directory = directory
        self.name = name

    @property
    def path(self) -> Path:
        """Where the file is, for messages only: it is never opened by this path."""
        return self.directory.path / self.name

    def transact(
        self, update: Callable[[State | None], tuple[State | None, Any]], *, shared: bool = False
    ) -> tuple[bool, Any]:
        """Run `update` on the state under the lock; (False, None) if another holds it.

        `update` gets the state as read (`None`: the file has the wrong size) and returns
        the new state (or None to leave it) and a result.

        Raises:
            _Unavailable: the file or its lock does not work here, or is not ours.
            _Gone: the directory was removed.
        """
        fd = self._open()
        try:
            try:
                fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            except BlockingIOError:
                return False, None
            data = os.pread(fd, _STATE.size + 1, 0)
            state = _STATE.unpack(data) if len(data) == _STATE.size else None
            new_state, result = update(_EMPTY if not data else state)
            if new_state is not None and not shared:
                os.pwrite(fd, _STATE.pack(*new_state), 0)
                if len(data) > _STATE.size:
                    os.ftruncate(fd, _STATE.size)
            return True, result
        except OSError as exc:
            raise _Unavailable(f"cannot use {self.path}: {_why(exc)}") from None
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _open(self) -> int:
        flags = os.O_RDWR | os.O_CREAT | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC
        try:
            fd = os.open(self.name, flags, 0o600, dir_fd=self.directory.fd)
        except FileNotFoundError:
            raise _Gone from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _Unavailable(f"{self.path} is a symbolic link") from None
            raise _Unavailable(f"cannot open {self.path}: {_why(exc)}") from None
        try:
            info = os.fstat(fd)
            problem = None
            if not stat.S_ISREG(info.st_mode):
                problem = "is not a regular file"
            elif info.st_uid != _uid():
                problem = "belongs to another user"
            elif stat.S_IMODE(info.st_mode) & 0o077:
                problem = f"is open to other users (mode {stat.S_IMODE(info.st_mode):o})"
        except OSError as exc:
            problem = f"cannot be checked: {_why(exc)}"
        if problem is not None:
            os.close(fd)
            raise _Unavailable(f"{self.path} {problem}")
        return fd


class HostRateLimiter:
    """Rate limits shared by every loop, thread and process of this machine: the default.

    Every `AsyncRefold` and `Refold` that uses the same key and base URL on this host
    draws from one bucket, whatever process it runs in, with nothing to run beside it.
    Waiters on a loop are served in arrival order (retries first); processes are served
    in the order their reservations take the lock. Each grant costs one locked read and
    write of a small file in a per-user directory.

    Where the host lock cannot work, this limiter logs a warning (once per reason),
    behaves as `LocalRateLimiter` (process scope), and tries the host scope again every
    half minute.

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
        self._horizon = LONGEST_PAUSE + self._full + _CLOCK_SLACK  # see LONGEST_PAUSE
        self._directory = Path(directory) if directory is not None else None
        self._turnstiles = PerLoop(Turnstile, Turnstile.is_idle)
        self._dirs: dict[Path, _StateDir] = {}
        self._names: dict[str, str] = {}
        self._lock = threading.Lock()
        self._fallback: LocalRateLimiter | None = None
        self._probe_at = math.inf
        self._noted: set[str] = set()
        if sys.platform == "win32":  # pragma: no cover - no flock there
            self._fall_back("this platform has no flock", math.inf)

    @property
    def rate(self) -> RateLimit:
        """The server budget this limiter keeps under."""
        return self._rate

    @property
    def scope(self) -> str:
        """`"host"`, or `"process"` while fallen back."""
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
            max_wait: Raise `SlotTooFar` rather than wait longer than this, in seconds
                (waiting for another process's lock included).
            max_pause: Raise `SlotTooFar` at once if a pause lasts longer than this.
        """
        clock = loop_clock()
        fallback = self._fallback
        if fallback is not None and not self._probe_due(clock()):
            await fallback.acquire(key, priority=priority, max_wait=max_wait, max_pause=max_pause)
            return
        started = clock()
        lock_wait = _LOCK_WAIT if fallback is None else _PROBE_LOCK_WAIT
        try:
            await self._acquire(key, clock, priority, max_wait, max_pause, lock_wait)
        except _Unavailable as exc:
            fallback = self._fall_back(str(exc), clock())
            left = None if max_wait is None else max(max_wait - (clock() - started), 0.0)
            await fallback.acquire(key, priority=priority, max_wait=left, max_pause=max_pause)
            return
        if fallback is not None:
            self._recovered()

    async def penalize(self, key: str, retry_after: float) -> None:
        """Pause bucket `key` for every process; when it ends, the bucket is full.

        Args:
            key: The bucket the 429 came from.
            retry_after: Seconds to pause (negative means 0, more than 15 minutes means
                15 minutes); a longer pause under way is kept.

        Raises:
            ValueError: `retry_after` is NaN or infinite.
        """
        seconds = min(pause_length(retry_after), LONGEST_PAUSE)
        fallback = self._fallback
        if fallback is not None:
            await fallback.penalize(key, seconds)
            return
        clock = loop_clock()
        full = self._full

        def pause(state: State, now: float) -> tuple[State, None]:
            tat, paused, seq = state
            end = now + seconds
            return (max(tat, end + full), max(paused, end), seq + 1), None

        try:
            await self._transact(key, pause, clock, lock_wait=_LOCK_WAIT)
        except _Unavailable as exc:
            await self._fall_back(str(exc), clock()).penalize(key, seconds)

    async def _acquire(
        self,
        key: str,
        clock: Callable[[], float],
        priority: bool,
        max_wait: float | None,
        max_pause: float | None,
        lock_wait: float,
    ) -> None:
        turnstile, _ = self._turnstiles.get(key)
        deadline = None if max_wait is None else clock() + max_wait
        if deadline is not None and not priority:
            await self._acquire_bounded(key, clock, deadline, max_pause, lock_wait)
            return
        turnstile.users += 1
        try:
            await turnstile.enter(priority=priority, max_wait=max_wait)
            try:
                while True:
                    remaining = None if deadline is None else deadline - clock()
                    reservation = await self._reserve(key, clock, remaining, max_pause, lock_wait)
                    if await self._sleep_until(key, reservation, clock, lock_wait):
                        return
            finally:
                turnstile.leave()
        finally:
            turnstile.users -= 1

    async def _reserve(
        self,
        key: str,
        clock: Callable[[], float],
        max_wait: float | None,
        max_pause: float | None,
        lock_wait: float,
    ) -> _Reservation:
        interval, tolerance = self._interval, self._tolerance

        def reserve(state: State, now: float) -> tuple[State | None, _Reservation | SlotTooFar]:
            tat, paused, seq = state
            if max_pause is not None and paused - now > max_pause:
                return None, SlotTooFar(paused - now, paused=True)
            slot = max(now, tat - tolerance)
            if max_wait is not None and slot - now > max_wait:
                return None, SlotTooFar(slot - now, paused=False)
            new_tat = max(tat, now) + interval
            return (new_tat, paused, seq + 1), _Reservation(slot, new_tat, seq + 1, paused)

        result = await self._transact(
            key, reserve, clock, lock_wait=lock_wait, max_wait=max_wait, max_pause=max_pause
        )
        if isinstance(result, SlotTooFar):
            raise result
        reservation: _Reservation = result
        return reservation

    async def _sleep_until(
        self, key: str, reservation: _Reservation, clock: Callable[[], float], lock_wait: float
    ) -> bool:
        """Sleep until the slot; False if a 429 paused the bucket meanwhile.

        A pause that began after the reservation voids the slot unless the slot still
        comes at least one interval after the pause ends (no burst after a pause).
        """
        if reservation.slot <= clock():
            return True  # due now: no time for a pause to have landed since the reservation
        try:
            await wake_at(reservation.slot, clock)
            paused = await self._transact(key, _read_pause, clock, shared=True, lock_wait=lock_wait)
        except BaseException:
            self._hand_back(key, reservation)
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
        key: str,
        clock: Callable[[], float],
        deadline: float,
        max_pause: float | None,
        lock_wait: float,
    ) -> None:
        while True:
            reservation = await self._reserve(key, clock, deadline - clock(), max_pause, lock_wait)
            if await self._sleep_until(key, reservation, clock, lock_wait):
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
        clock = loop_clock()
        fallback = self._fallback
        if fallback is not None and not self._probe_due(clock()):
            return await fallback.reserve(key, count, max_wait=max_wait)
        lock_wait = _LOCK_WAIT if fallback is None else _PROBE_LOCK_WAIT
        try:
            block = await self._reserve_block(key, clock, count, max_wait, lock_wait)
        except _Unavailable as exc:
            return await self._fall_back(str(exc), clock()).reserve(key, count, max_wait=max_wait)
        if fallback is not None:
            self._recovered()
        return block

    async def _reserve_block(
        self,
        key: str,
        clock: Callable[[], float],
        count: int,
        max_wait: float | None,
        lock_wait: float,
    ) -> SlotBlock:
        interval, tolerance = self._interval, self._tolerance

        def book(
            state: State, now: float
        ) -> tuple[State | None, tuple[list[float], float, int] | SlotTooFar]:
            tat, paused, seq = state
            times: list[float] = []
            for _ in range(count):
                times.append(max(now, tat - tolerance))
                tat = max(tat, now) + interval
            if max_wait is not None and times[-1] - now > max_wait:
                return None, SlotTooFar(times[-1] - now, paused=False)
            return (tat, paused, seq + 1), (times, tat, seq + 1)

        result = await self._transact(key, book, clock, lock_wait=lock_wait, max_wait=max_wait)
        if isinstance(result, SlotTooFar):
            raise result
        times, booked_tat, booked_seq = cast("tuple[list[float], float, int]", result)

        async def hand_back(unused: int) -> None:
            def undo(state: State, now: float) -> tuple[State | None, None]:
                tat, paused, seq = state
                if tat != booked_tat or seq != booked_seq:
                    return None, None  # reserved after us: our slots lapse
                return (booked_tat - unused * interval, paused, seq + 1), None

            try:
                await self._transact(key, undo, clock, lock_wait=lock_wait)
            except (_Unavailable, SlotTooFar):
                return  # the slots lapse: they cost time, never the budget

        return SlotBlock(times, clock, hand_back)

    # --- for RedisRateLimiter's return from an outage, kept apart --------------------------

    async def busy_for(self, key: str) -> float:
        """Seconds from now until bucket `key` has drained (0: idle, or scope unusable).

        One shared-lock read of the file: how far ahead this host has reserved.
        """
        if self._fallback is not None:
            return 0.0
        clock = loop_clock()

        def read(state: State, now: float) -> tuple[None, float]:
            return None, max(state[0] - now, 0.0)

        try:
            busy = await self._transact(key, read, clock, shared=True, lock_wait=_PROBE_LOCK_WAIT)
        except (_Unavailable, SlotTooFar, OSError):
            return 0.0
        return float(busy)

    def _hand_back(self, key: str, reservation: _Reservation) -> None:
        """Undo a reservation if nothing was reserved after it; else it lapses."""
        interval = self._interval

        def undo(current: State | None) -> tuple[State | None, None]:
            if current is None:
                return None, None
            tat, paused, seq = current
            if tat != reservation.tat or seq != reservation.seq:
                return None, None
            return (reservation.tat - interval, paused, seq + 1), None

        for _ in range(_HANDBACK_TRIES):
            try:
                done, _ = self._state_file(key).transact(undo)
            except (_Unavailable, _Gone):
                return
            if done:
                return

    async def _transact(
        self,
        key: str,
        update: Callable[[State, float], tuple[State | None, Any]],
        clock: Callable[[], float],
        *,
        shared: bool = False,
        lock_wait: float,
        max_wait: float | None = None,
        max_pause: float | None = None,
    ) -> Any:
        """Run `update(state, now)` on bucket `key`'s checked state, under its lock.

        A lock another process holds is tried again after a backoff (1 ms doubling to
        50 ms): within the caller's bounds (else `SlotTooFar`) and `lock_wait` (else the
        host scope is unusable: `_Unavailable`). A removed directory is made again once.
        """
        started = clock()
        backoff = _FIRST_BACKOFF
        problems: list[str] = []
        reopened = False

        def checked(raw: State | None) -> tuple[State | None, Any]:
            now = clock()
            state, problem = self._check(raw, now)
            if problem is not None:
                problems.append(problem)
            return update(state, now)

        while True:
            file = self._state_file(key)
            try:
                done, result = file.transact(checked, shared=shared)
            except _Gone:
                if reopened:
                    raise _Unavailable(f"{file.directory.path} keeps disappearing") from None
                self._forget(file.directory)
                reopened = True
                continue
            if done:
                for problem in problems:
                    self._note(f"rate-limit state file {file.path} {problem}; it was reset")
                return result
            waited = clock() - started
            if waited >= lock_wait:
                raise _Unavailable(
                    f"{file.path} stayed locked by another process for over {lock_wait:g}s"
                )
            for bound, paused in ((max_wait, False), (max_pause, True)):
                if bound is not None and waited + backoff > bound:
                    raise SlotTooFar(max(bound, 0.0), paused=paused)
            await anyio.sleep(backoff)
            backoff = min(backoff * 2, _LONGEST_BACKOFF)

    def _check(self, raw: State | None, now: float) -> tuple[State, str | None]:
        """The state if it can be live, else an empty one and what was wrong with it."""
        if raw is None:
            return _EMPTY, "had the wrong size"
        tat, paused, seq = raw
        if math.isnan(tat) or math.isnan(paused) or math.inf in (tat, paused):
            return _EMPTY, "held a time that is not a number"
        if seq >= _SEQ_LIMIT:
            return _EMPTY, "held a write count at its limit"
        if paused > now + LONGEST_PAUSE + _CLOCK_SLACK or tat > now + self._horizon:
            return (-math.inf, -math.inf, seq), (
                "held a time further ahead than any live state can be (a process whose "
                "monotonic clock differs, or a file from before a reboot)"
            )
        return raw, None

    def _state_file(self, key: str) -> _StateFile:
        directory = self._directory or default_state_dir()
        with self._lock:
            handle = self._dirs.get(directory)
            now = time.monotonic()
            if handle is not None and now - handle.checked > _RECHECK_DIR_AFTER:
                if handle.is_current():
                    handle.checked = now
                else:
                    handle = None  # removed or replaced: open what the path names now
            if handle is None:
                handle = self._dirs[directory] = _StateDir.open(directory)
            name = self._names.get(key)
            if name is None:
                rate = self._rate
                digest = hashlib.sha256(f"{key}|{rate.per_second!r}|{rate.burst}".encode())
                name = self._names[key] = f"{digest.hexdigest()[:32]}.bucket"
                if len(self._names) > 4096:  # one per key in use; forget the oldest
                    del self._names[next(iter(self._names))]
            return _StateFile(handle, name)

    def _forget(self, directory: _StateDir) -> None:
        with self._lock:
            if self._dirs.get(directory.path) is directory:
                del self._dirs[directory.path]

    def _probe_due(self, now: float) -> bool:
        """Whether this caller should try the host scope again (one caller per period)."""
        with self._lock:
            if now < self._probe_at:
                return False
            self._probe_at = now + _REPROBE_AFTER
            return True

    def _fall_back(self, reason: str, now: float) -> LocalRateLimiter:
        with self._lock:
            self._probe_at = now + _REPROBE_AFTER
            self._dirs.clear()  # open everything afresh when trying again
            fallback = self._fallback
            if fallback is None:
                fallback = self._fallback = shared_local_limiter(self._rate)
        self._note(
            f"the host-wide rate limiter is unavailable ({reason}); falling back to one "
            "budget per process, so several processes using one key can exceed the API's "
            "limit, and trying again every "
            f"{_REPROBE_AFTER:g}s. Use RedisRateLimiter to share one budget"
        )
        return fallback

    def _recovered(self) -> None:
        with self._lock:
            if self._fallback is None:
                return
            self._fallback = None
            self._probe_at = math.inf
        logger.info("the host-wide rate limiter works again: one budget for the host")

    def _note(self, message: str) -> None:
        """Log `message` as a warning the first time, at debug level after that."""
        with self._lock:
            first = message not in self._noted
            if first and len(self._noted) < _MAX_NOTED:
                self._noted.add(message)
        logger.log(logging.WARNING if first else logging.DEBUG, "%s", message)

    def __repr__(self) -> str:
        return f"HostRateLimiter({self._rate!r}, scope={self.scope!r})"


def _read_pause(state: State, _now: float) -> tuple[None, float]:
    return None, state[1]


_SHARED: PerRate[HostRateLimiter] = PerRate(HostRateLimiter)


def shared_host_limiter(rate: RateLimit = DEFAULT_RATE_LIMIT) -> HostRateLimiter:
    """The process's one `HostRateLimiter` for `rate`, which clients use by default.

    Args:
        rate: The server's budget.

    Returns:
        The same instance for every equal `rate`, for the life of the process.
    """
    return _SHARED.get(rate)
