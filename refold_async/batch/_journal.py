"""The batch journal: an append-only JSONL file that makes a job resumable (docs/architecture.md §11).

Each line is one JSON object with a `type` (always its first field):

- `job`, the first line: what job this is (`fn`, a fingerprint of the input's first
  keys, the shard), so that another job's journal is refused rather than mixed in;
- `run`, at the start of each run: its number, start time and the rate budget;
- `item`: one item's state. `in_flight` is written *before* each POST or PATCH of an
  item is sent (write-ahead), naming the operation (id, method, path template);
  `succeeded`, `failed` or `unknown` when the item ends, with the error's class, status
  and code, the item's attempt number and requests, never the value, a secret, or the
  item itself unless asked;
- `end`, when a run ends: its totals (absent after a `kill -9`).

Writing. One run at a time: a run holds an exclusive `flock` on `JOURNAL.lock` (which
names the holder's pid and host) for its whole life; the lock dies with the process.
Network file systems do not keep such locks reliably, so a journal there is refused
unless the caller opts in. Every record is written whole, by one `write()` where the OS
allows, before the code that depends on it goes on: a write-ahead record that cannot be
written (full disk, file size limit, I/O error, short write) is cut back off the file
and raises `JournalWriteError`, and its request is not sent. `fsync` follows the
`journal_fsync` policy: each write-ahead record (`"write_ahead"`, the default: durable
before its request leaves, even through a power cut), or only when a run ends.

Reading is forgiving where that is safe and strict where it is not: a record torn by a
kill or a full disk (the last one, or one in the middle, followed by others) is skipped
with a warning, resynchronising on the next record, and if its item's key can be read,
that item counts as in flight (so `unknown`, never silently done or sent again). A file
that does not start with a job header is not this job's journal: refused, nothing sent.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import socket
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs

from refold_async._errors import RefoldError, RefoldUsageError

if TYPE_CHECKING:
    from ._report import BatchReport

if sys.platform != "win32":  # Windows has no flock(): no lock is taken there
    import fcntl

__all__ = [
    "Journal",
    "JournalLockedError",
    "JournalMismatchError",
    "JournalState",
    "JournalWriteError",
    "LockedFile",
    "read_records",
    "resolve",
]

logger = logging.getLogger("refold.batch")

VERSION = 1
FINAL_STATES = frozenset({"succeeded", "failed", "unknown"})
OPEN_STATES = frozenset({"in_flight", "unknown"})
LOCK_SUFFIX = ".lock"

FsyncPolicy = Literal["write_ahead", "always", "end", "never"]
FSYNC_POLICIES: tuple[str, ...] = ("write_ahead", "always", "end", "never")

# File systems whose flock() is not kept across machines (or at all): two runs there
# could both believe they hold the journal.
UNRELIABLE_LOCK_FILESYSTEMS = frozenset(
    {
        "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre",
        "gpfs", "davfs", "fuse.sshfs", "fuse.glusterfs", "fuse.s3fs", "fuse.gcsfuse",
    }
)  # fmt: skip

_RECORD_START = b'{"type":"'
_KEY_FIELD = re.compile(rb'"key":("(?:[^"\\\n]|\\.)*")')


class JournalMismatchError(RefoldUsageError):
    """The journal was written by another job (another `fn`, input or shard), or is not a
    batch journal at all; nothing ran."""

    __module__ = "refold_async"


class JournalLockedError(RefoldUsageError):
    """Another run holds the journal; nothing ran.

    Attributes:
        path: The journal.
        pid: The holder's process id, when its lock file says.
        host: The holder's host name, when its lock file says.
    """

    __module__ = "refold_async"

    def __init__(
        self, message: str, *, path: str, pid: int | None = None, host: str | None = None
    ) -> None:
        super().__init__(message)
        self.path = path
        self.pid = pid
        self.host = host


class JournalWriteError(RefoldError):
    """A journal record could not be written (full disk, file size limit, I/O error).

    The item whose write-ahead record failed was not sent; the run took no more items,
    let those in flight end, and stopped. Free space and run the job again with the same
    journal: nothing is sent twice.

    Attributes:
        path: The journal.
        errno: The OS error number (`errno.ENOSPC`, `errno.EFBIG`, ...), if there was one.
        report: The partial `BatchReport` (`None` on the error an item's call raised).
    """

    __module__ = "refold_async"

    def __init__(
        self,
        message: str,
        *,
        path: str,
        errno: int | None = None,
        report: BatchReport[Any, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.errno = errno
        self.report = report


def digest(key: str) -> int:
    """A compact, stable 64-bit stand-in for a key (memory: a million keys, not their text)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")


# -- reading ----------------------------------------------------------------------------


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The journal's records in order.

    A torn record is skipped with a warning; when its item's key can be read, a record
    that marks the item in flight (`"torn": true`) takes its place. An empty file has no
    records; a file whose first record is not a job header raises `JournalMismatchError`.
    """
    with path.open("rb") as handle:
        first = True
        for number, line in enumerate(handle, 1):
            for record in _records_of(line, number, path):
                if first and record.get("type") != "job":
                    raise JournalMismatchError(
                        f"{path} is not a batch journal (it does not start with a job "
                        "header); use another journal file, or delete this one to start afresh"
                    )
                first = False
                yield record


def _records_of(line: bytes, number: int, path: Path) -> Iterator[dict[str, Any]]:
    record = _parse(line)
    if record is not None:
        yield record
        return
    if number == 1 and not line.startswith(_RECORD_START):
        raise JournalMismatchError(f"{path} is not a batch journal (line 1 is not a record)")
    # A torn record, maybe followed on the same line by whole ones written after it:
    # resynchronise on each place a record starts.
    starts = [m.start() for m in re.finditer(re.escape(_RECORD_START), line)] or [0]
    if starts[0] != 0:
        starts.insert(0, 0)
    for start, end in zip(starts, [*starts[1:], len(line)], strict=True):
        piece = line[start:end]
        record = _parse(piece)
        if record is not None:
            yield record
            continue
        key = _key_of(piece)
        logger.warning(
            "batch journal %s: line %d holds a torn record%s; skipped", path, number,
            f" of item {key!r}, which counts as in flight" if key is not None else "",
        )  # fmt: skip
        if key is not None:
            yield {"type": "item", "key": key, "state": "in_flight", "torn": True}


def _parse(data: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(data)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None  # pyright: ignore[reportUnknownVariableType]


def _key_of(piece: bytes) -> str | None:
    if not piece.startswith(b'{"type":"item"'):
        return None
    match = _KEY_FIELD.search(piece)
    if match is None:
        return None
    try:
        key = json.loads(match.group(1))
    except ValueError:
        return None
    return key if isinstance(key, str) and key else None


@attrs.define
class JournalState:
    """What earlier runs left: each key's last state and attempt, by digest."""

    job: dict[str, Any] | None = None
    runs: int = 0
    states: dict[int, tuple[str, int]] = attrs.field(factory=dict[int, tuple[str, int]])
    open_records: dict[int, dict[str, Any]] = attrs.field(factory=dict[int, dict[str, Any]])
    """The last record of keys left `in_flight` or `unknown` (few), for the report."""

    def add(self, record: Mapping[str, Any]) -> None:
        kind = record.get("type")
        if kind == "job" and self.job is None:
            self.job = dict(record)
        elif kind == "run":
            self.runs += 1
        elif kind == "item":
            key, state = str(record.get("key")), str(record.get("state"))
            code = digest(key)
            attempt = int(record.get("attempt") or self.states.get(code, ("", 0))[1])
            self.states[code] = (state, attempt)
            if state in OPEN_STATES:
                # An `unknown` after `in_flight` keeps the in-flight operation's details.
                self.open_records[code] = {**self.open_records.get(code, {}), **record}
            else:
                self.open_records.pop(code, None)


# -- the lock ---------------------------------------------------------------------------


class LockedFile:
    """An exclusive `flock` on `JOURNAL.lock`, held until `release()` or the process ends.

    The lock file is left in place afterwards (removing it would let a waiting run lock
    a file another run is about to replace); it holds the last holder's pid and host.
    """

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path

    @classmethod
    def try_acquire(cls, journal: Path) -> LockedFile:
        """The lock, or `JournalLockedError` naming the holder if another run has it."""
        path = journal.with_name(journal.name + LOCK_SUFFIX)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if sys.platform == "win32":  # pragma: no cover - no flock() to take
            return cls(fd, path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_holder(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            pid, host = holder.get("pid"), holder.get("host")
            who = f" (pid {pid} on {host})" if pid is not None else ""
            raise JournalLockedError(
                f"{journal} is in use by another batch run{who}: one run per journal at a "
                "time; wait for it (wait_for_journal=seconds), or give this run its own journal",
                path=str(journal),
                pid=pid if isinstance(pid, int) else None,
                host=host if isinstance(host, str) else None,
            ) from None
        holder_info = {"pid": os.getpid(), "host": socket.gethostname(), "since": _now()}
        try:  # who holds it is for the message of a run refused; the lock is what counts
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(holder_info).encode() + b"\n", 0)
        except OSError:
            logger.warning("batch journal %s: could not name this run in its lock file", path)
        return cls(fd, path)

    def release(self) -> None:
        """Let go of the lock (closing the descriptor releases the flock)."""
        os.close(self.fd)


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        found = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}  # pyright: ignore[reportUnknownVariableType]


def filesystem_type(path: Path) -> str | None:
    """The type of the file system `path` is on (Linux: from /proc/mounts), or `None`."""
    try:
        mounts = Path("/proc/mounts").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    target = os.path.realpath(path)
    best, kind = "", None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def check_lockable(journal: Path) -> None:
    """Refuse a journal on a file system whose locks do not keep runs apart."""
    kind = filesystem_type(journal.parent)
    if kind is not None and kind in UNRELIABLE_LOCK_FILESYSTEMS:
        raise RefoldUsageError(
            f"{journal} is on a {kind} file system, whose file locks do not reliably keep "
            "two batch runs apart (both could send the same items); put the journal on a "
            "local disk, or pass allow_unreliable_locks=True if you make sure yourself "
            "that only one run uses it at a time"
        )


# -- writing ----------------------------------------------------------------------------


class Journal:
    """One job's journal file, locked and opened for appending.

    Args:
        path: The file; created (0600) with its `job` line if it does not exist.
        job: What identifies the job: `fn`, `input` (a fingerprint) and `shard`.
        lock: The run's lock on it, taken before reading (released by `close()`).
        fsync: When records are made durable (`FsyncPolicy`).
    """

    def __init__(
        self, path: Path, job: Mapping[str, Any] | None, lock: LockedFile, fsync: FsyncPolicy
    ) -> None:
        self.path = path
        self.fsync = fsync
        self.failed: JournalWriteError | None = None
        self._lock = lock
        self.state = JournalState()
        size = path.stat().st_size if path.exists() else 0
        if size:
            for record in read_records(path):
                self.state.add(record)
        if job is None and self.state.job is None:
            raise JournalMismatchError(f"{path} is not a batch journal (it has no records)")
        if self.state.job is not None and job is not None:
            _check_same_job(path, self.state.job, job)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            self._start(job)
        except BaseException:
            os.close(self._fd)
            raise
        self.run = self.state.runs + 1

    def _start(self, job: Mapping[str, Any] | None) -> None:
        """Ready the file for appending: a torn tail ended, a new job's header written."""
        self._size = os.fstat(self._fd).st_size
        if self.state.job is None and self._size:
            # Only a torn job header (a kill as the first run began): nothing ran.
            os.ftruncate(self._fd, 0)
            self._size = 0
        elif self._size:
            self._end_torn_line()
        if self.state.job is None and job is not None:
            self._write({"type": "job", "version": VERSION, **job, "created": _now()})

    def _end_torn_line(self) -> None:
        """Finish a torn last line with a newline: readers skip it, the next record is whole."""
        with self.path.open("rb") as handle:
            handle.seek(self._size - 1)
            last = handle.read(1)
        if last != b"\n":
            self._write_bytes(b"\n", durable=False)

    def start_run(self, rate: list[float] | None) -> None:
        """Record the start of this run."""
        self._write({"type": "run", "run": self.run, "started": _now(), "rate": rate})

    def in_flight(
        self, key: str, attempt: int, op_id: str, method: str, path: str, **extra: Any
    ) -> None:
        """Write-ahead: record that a POST or PATCH of `key` is about to be sent (`extra`:
        the item itself, when the job journals items).

        Raises:
            JournalWriteError: The record could not be written whole (it was cut off
                again): the request must not be sent.
        """
        durable = self.fsync in ("write_ahead", "always")
        record: dict[str, Any] = {"type": "item", "key": key, "state": "in_flight"}
        record["attempt"] = attempt
        record.update(operation=op_id, method=method, path=path, **extra)
        record["t"] = round(time.time(), 3)
        self._write(record, durable=durable)

    def item(self, key: str, state: str, **fields: Any) -> None:
        """Record one item's state (how it ended, or how it was resolved)."""
        record = {"type": "item", "key": key, "state": state, **fields}
        record["t"] = round(time.time(), 3)
        self._write(record)

    def end_run(self, **totals: Any) -> None:
        """Record this run's totals, and make the file durable (unless `fsync="never"`)."""
        self._write(
            {"type": "end", "run": self.run, **totals, "ended": _now()},
            durable=self.fsync != "never",
        )

    def close(self) -> None:
        """Close the file and release the run's lock."""
        try:
            os.close(self._fd)
        finally:
            self._lock.release()

    def _write(self, record: Mapping[str, Any], *, durable: bool | None = None) -> None:
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False, default=str)
        if durable is None:
            durable = self.fsync == "always"
        self._write_bytes((line + "\n").encode(), durable=durable)

    def _write_bytes(self, data: bytes, *, durable: bool) -> None:
        # One write() per record where the OS takes it whole: a killed process leaves at
        # most the record being written torn, and what was written survives the process.
        start = self._size
        try:
            done = 0
            while done < len(data):
                written = os.write(self._fd, data[done:])
                if written <= 0:
                    raise OSError(errno.EIO, "the file took no bytes")
                done += written
            if durable:
                os.fsync(self._fd)
        except OSError as exc:
            self._cut_back(start)
            raise self._failure(exc) from None
        self._size = start + len(data)

    def _cut_back(self, size: int) -> None:
        """Remove a record written in part: it never happened (truncating needs no space)."""
        try:
            os.ftruncate(self._fd, size)
        except OSError:
            logger.warning("batch journal %s: could not cut off a torn record", self.path)

    def _failure(self, exc: OSError) -> JournalWriteError:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        error = JournalWriteError(
            f"could not write to the batch journal {self.path}: {reason}; the run stopped "
            "without sending the item it was about to send. Free space (or fix the disk) "
            "and run the job again with the same journal: nothing is sent twice",
            path=str(self.path),
            errno=exc.errno,
        )
        self.failed = self.failed or error
        return error


def resolve(path: Path, keys: Sequence[str], state: str) -> None:
    """Mark items a run left `unknown` (or in flight) as `succeeded` or `failed`, by hand.

    For when you checked yourself whether their work took effect: `succeeded` items are
    skipped when the job runs again, `failed` ones run again. Nothing is written unless
    every key is open.

    Args:
        path: The job's journal (no run may hold it).
        keys: The items' keys.
        state: `"succeeded"` or `"failed"`.

    Raises:
        JournalLockedError: A run holds the journal.
        JournalMismatchError: The file is not a batch journal.
        RefoldUsageError: A key is not open in it (unknown, settled, or not there).
    """
    if state not in ("succeeded", "failed"):
        raise ValueError(f"state must be 'succeeded' or 'failed', not {state!r}")
    if not path.is_file():
        raise RefoldUsageError(f"{path} does not exist")
    journal = Journal(path, None, LockedFile.try_acquire(path), "always")
    try:
        found = journal.state.states
        attempts = {key: found.get(digest(key), ("", 0)) for key in keys}
        closed = [key for key, (was, _) in attempts.items() if was not in OPEN_STATES]
        if closed:
            raise RefoldUsageError(
                f"not unknown in {path}, so left as they are: {', '.join(closed)} (only "
                "items a run left unknown or in flight can be resolved)"
            )
        for key, (_, attempt) in attempts.items():
            journal.item(key, state, attempt=attempt, reconciled=True, resolved="by hand")
    finally:
        journal.close()


def _check_same_job(path: Path, found: Mapping[str, Any], wanted: Mapping[str, Any]) -> None:
    for field, what in (("fn", "function"), ("shard", "shard"), ("input", "input")):
        if found.get(field) != wanted.get(field):
            hint = (
                " (its first keys differ: iterate the input in a stable order, e.g. sorted)"
                if field == "input"
                else ""
            )
            raise JournalMismatchError(
                f"{path} is the journal of another job: its {what} was {found.get(field)!r}, "
                f"this job's is {wanted.get(field)!r}{hint}; use another journal file, or "
                "delete this one to start afresh"
            )


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
