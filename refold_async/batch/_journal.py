"""The batch journal: an append-only JSONL file that makes a job resumable (DESIGN §11).

Each line is one JSON object with a `type`:

- `job`, the first line: what job this is (`fn`, a fingerprint of the input's first
  keys, the shard), so that another job's journal is refused rather than mixed in;
- `run`, at the start of each run: its number, start time and the rate budget;
- `item`: one item's state. `in_flight` is written and flushed *before* the first POST
  or PATCH of an item is sent (write-ahead); `succeeded`, `failed` or `unknown` when the
  item ends, with the error's class, status and code, the item's attempt number and
  requests, never the value, a secret, or the item itself unless asked;
- `end`, when a run ends: its totals (absent after a `kill -9`).

Every record is written with one `write()` and flushed at once, so a killed process
loses at most the items in flight (which the write-ahead records cover). A torn last
line, left by a kill in mid-write, is ignored on reading and cut off before appending.
Records reach the OS at once (a killed process loses nothing written); the file is
fsynced when a run ends, not per record, so an OS crash may lose the latest records.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import attrs

from refold_async._errors import RefoldUsageError

__all__ = ["Journal", "JournalMismatchError", "JournalState", "read_records"]

VERSION = 1
FINAL_STATES = frozenset({"succeeded", "failed", "unknown"})


class JournalMismatchError(RefoldUsageError):
    """The journal was written by another job (another `fn`, input or shard); nothing ran."""

    __module__ = "refold_async"


def digest(key: str) -> int:
    """A compact, stable 64-bit stand-in for a key (memory: a million keys, not their text)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The journal's records in order; a torn last line is skipped, other damage raises."""
    with path.open("rb") as handle:
        pending: bytes | None = None
        number = 0
        for line in handle:
            if pending is not None:
                yield _decode(pending, number, path)
            pending, number = line, number + 1
        if pending is not None and pending.endswith(b"\n"):
            yield _decode(pending, number, path)
        elif pending is not None:
            try:
                yield json.loads(pending)
            except ValueError:
                return  # torn by a kill in mid-write: that record never happened


def _decode(line: bytes, number: int, path: Path) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError:
        raise RefoldUsageError(
            f"{path} is not a batch journal (line {number} is not JSON)"
        ) from None
    if not isinstance(record, dict):
        raise RefoldUsageError(f"{path} is not a batch journal (line {number})")
    return record  # pyright: ignore[reportUnknownVariableType]


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
            if state in ("in_flight", "unknown"):
                self.open_records[code] = dict(record)
            else:
                self.open_records.pop(code, None)


class Journal:
    """One job's journal file, opened for appending.

    Args:
        path: The file; created (0600) with its `job` line if it does not exist.
        job: What identifies the job: `fn`, `input` (a fingerprint) and `shard`.
    """

    def __init__(self, path: Path, job: Mapping[str, Any]) -> None:
        self.path = path
        self.state = JournalState()
        if path.exists():
            for record in read_records(path):
                self.state.add(record)
        if self.state.job is not None:
            _check_same_job(path, self.state.job, job)
        self._handle = self._open()
        if self.state.job is None:
            self._write({"type": "job", "version": VERSION, **job, "created": _now()})
        self.run = self.state.runs + 1

    def _open(self) -> IO[bytes]:
        if self.path.exists():
            _cut_torn_tail(self.path)  # the torn record never happened: drop it
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return os.fdopen(fd, "ab", buffering=0)

    def start_run(self, rate: list[float] | None) -> None:
        """Record the start of this run."""
        self._write({"type": "run", "run": self.run, "started": _now(), "rate": rate})

    def item(self, key: str, state: str, **fields: Any) -> None:
        """Record one item's state (write-ahead `in_flight`, or how it ended)."""
        self._write(
            {"type": "item", "key": key, "state": state, **fields, "t": round(time.time(), 3)}
        )

    def end_run(self, **totals: Any) -> None:
        """Record this run's totals, and make the file durable."""
        self._write({"type": "end", "run": self.run, **totals, "ended": _now()})
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        """Close the file (every record is already written)."""
        self._handle.close()

    def _write(self, record: Mapping[str, Any]) -> None:
        # One unbuffered write per record: a killed process never leaves half of an
        # earlier record behind, and what was written survives the process.
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False, default=str)
        self._handle.write((line + "\n").encode())


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


def _cut_torn_tail(path: Path) -> None:
    """Truncate a last line without its newline (a kill in mid-write left it)."""
    with path.open("r+b") as handle:
        size = handle.seek(0, os.SEEK_END)
        end = size
        while end > 0:
            start = max(0, end - 4096)
            handle.seek(start)
            chunk = handle.read(end - start)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                end = start + cut + 1
                break
            end = start
        if end != size:
            handle.truncate(end)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
