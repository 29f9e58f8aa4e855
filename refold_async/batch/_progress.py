"""Progress of a batch: the `BatchProgress` snapshot and where it is shown (docs/architecture.md §11).

- a callback (`progress=callable`): given a snapshot at most five times a second, and once
  more at the end, for dashboards and logs;
- a live bar on a terminal (`progress=True`, or by default when stderr is one), drawn by
  `tqdm` when the `progress` extra is installed (`pip install 'refold[progress]'`); the
  core never imports it otherwise;
- plain lines (`progress=True` without a terminal or without tqdm): one per tenth of the
  job, or every 10 s when its size is unknown.

The ETA is the later of two estimates: the observed pace, and the floor the rate budget
allows for the requests still to come (the limiter knows that floor, so it is shown).
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO

import attrs

__all__ = ["BatchProgress", "ProgressSink", "TextProgress", "make_sink"]

CALLBACK_INTERVAL = 0.2
LINE_INTERVAL = 10.0


@attrs.frozen(kw_only=True)
class BatchProgress:
    """A snapshot of a running batch.

    Attributes:
        succeeded: Items that succeeded so far in this run.
        failed: Items that failed.
        unknown: Items left unknown.
        skipped: Items skipped because an earlier run did them.
        duplicates: Items whose key came before.
        in_flight: Items running now.
        total: Items expected in all (from `len()` or a length hint; a shard's share is
            estimated), or `None` when unknown.
        elapsed: Seconds since the run started.
        requests: HTTP requests sent so far.
        rate_limited: 429s among them.
        items_per_second: The observed pace.
        eta: Seconds left by the later of the observed pace and the budget's floor.
        eta_floor: Seconds left at the very least, by the rate budget alone.
        done: Whether this is the final snapshot.
    """

    succeeded: int
    failed: int
    unknown: int
    skipped: int
    duplicates: int
    in_flight: int
    total: int | None
    elapsed: float
    requests: int
    rate_limited: int
    items_per_second: float
    eta: float | None
    eta_floor: float | None
    done: bool = False

    @property
    def finished(self) -> int:
        """Items accounted for: ended in any state."""
        return self.succeeded + self.failed + self.unknown + self.skipped + self.duplicates

    def line(self) -> str:
        """One line of text: counts, pace, ETA."""
        total = f"/{self.total}" if self.total is not None else ""
        percent = f"{min(100, self.finished * 100 // self.total):3d}%  " if self.total else ""
        return (
            f"{percent}{self.finished}{total} items: {self.succeeded} ok, {self.failed} failed, "
            f"{self.unknown} unknown, {self.skipped} skipped  {self.elapsed:.1f} s  "
            f"{self.requests / self.elapsed if self.elapsed > 0 else 0.0:.1f} req/s{self._eta()}"
        )

    def _eta(self) -> str:
        if self.done or self.eta is None:
            return ""
        floor = f" (budget floor {self.eta_floor:.0f} s)" if self.eta_floor is not None else ""
        return f"  ETA {self.eta:.0f} s{floor}"

    def postfix(self) -> str:
        """The counts, pace and ETA as short parts joined by " · " (the bar's postfix):
        only the parts that have something to say, so no separator stands alone."""
        parts = [f"ok {self.succeeded}"]
        for count, name in (
            (self.failed, "failed"),
            (self.unknown, "unknown"),
            (self.skipped, "skipped"),
            (self.duplicates, "duplicate"),
        ):
            if count:
                parts.append(f"{name} {count}")
        parts.append(f"{self.items_per_second:.1f} items/s")
        eta = self._eta().strip()
        if eta:
            parts.append(eta)
        return " · ".join(parts)


class ProgressSink(Protocol):
    """Where snapshots go."""

    def update(self, snapshot: BatchProgress) -> None:
        """A new snapshot, after an item ended (a sink may skip some)."""
        ...

    def close(self, snapshot: BatchProgress) -> None:
        """The final snapshot: show it and let go of the terminal."""
        ...


class _Callback:
    def __init__(self, callback: Callable[[BatchProgress], object]) -> None:
        self._callback = callback
        self._last = 0.0

    def update(self, snapshot: BatchProgress) -> None:
        now = time.monotonic()
        if now - self._last >= CALLBACK_INTERVAL:
            self._last = now
            self._callback(snapshot)

    def close(self, snapshot: BatchProgress) -> None:
        self._callback(snapshot)


class TextProgress:
    """Plain progress lines on a stream: one per tenth of the job (every 10 s if its size
    is unknown), and a last one at the end. Suits logs and pipes."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._decile = 0
        self._last = time.monotonic()
        self._written = -1

    def __call__(self, snapshot: BatchProgress) -> None:
        if snapshot.done:
            if snapshot.finished != self._written:
                self._write(snapshot)
        elif snapshot.total:
            decile = snapshot.finished * 10 // snapshot.total
            if decile > self._decile:
                self._decile = decile
                self._write(snapshot)
        elif time.monotonic() - self._last >= LINE_INTERVAL:
            self._write(snapshot)

    def _write(self, snapshot: BatchProgress) -> None:
        self._last = time.monotonic()
        self._written = snapshot.finished
        self._stream.write(snapshot.line() + "\n")
        self._stream.flush()


class _Bar:
    """A tqdm bar on stderr: done/total, the counts and the budget-aware ETA as postfix."""

    def __init__(self, total: int | None, stream: TextIO) -> None:
        # The `progress` extra, imported only when a bar is wanted (and untyped: Any).
        tqdm: Any = importlib.import_module("tqdm").tqdm
        # Our text goes in `desc`, placed at the end: tqdm puts ", " before a postfix
        # and ": " after a leading desc, separators with nothing on one side.
        shape = "{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}" if total else "{n_fmt} items"
        self._bar: Any = tqdm(
            total=total,
            file=stream,
            unit="item",
            dynamic_ncols=True,
            bar_format=shape + "  {desc}",
        )
        self._last = 0.0

    def update(self, snapshot: BatchProgress) -> None:
        now = time.monotonic()
        if now - self._last < CALLBACK_INTERVAL:
            return
        self._last = now
        self._draw(snapshot)

    def _draw(self, snapshot: BatchProgress) -> None:
        self._bar.n = snapshot.finished
        self._bar.set_description_str(snapshot.postfix(), refresh=True)

    def close(self, snapshot: BatchProgress) -> None:
        self._draw(snapshot)
        self._bar.close()


def _has_tqdm() -> bool:
    return importlib.util.find_spec("tqdm") is not None


def make_sink(
    progress: bool | Callable[[BatchProgress], object] | None, total: int | None
) -> ProgressSink | None:
    """The sink for the `progress=` option (`None`: a bar only if stderr is a terminal)."""
    if progress is None or progress is False:
        if progress is None and sys.stderr.isatty() and _has_tqdm():
            return _Bar(total, sys.stderr)
        return None
    if progress is True:
        if sys.stderr.isatty() and _has_tqdm():
            return _Bar(total, sys.stderr)
        return _Callback(TextProgress(sys.stderr))
    if not callable(progress):
        raise TypeError(f"progress must be True, False, None or a callable, not {progress!r}")
    return _Callback(progress)
