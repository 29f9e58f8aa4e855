"""What a batch job did: `ItemState`, `ItemResult`, `BatchReport` (docs/architecture.md §11).

A report is built when a run ends, from the results the runner kept (every failed,
unknown and duplicate item; succeeded ones unless `keep_values=False`), its counts and
totals. `BatchReport.from_journal()` rebuilds one from a journal file (what
`refold batch report` prints), and `merge()` sums shards.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

import attrs

from refold_async._ratelimit import RateLimit

from ._journal import FINAL_STATES, read_records

__all__ = ["BatchReport", "ItemResult", "ItemState"]

SUMMARY_PROBLEMS = 10
"""Unknown (and failed) items `summary()` names one by one before "... and N more"."""

T = TypeVar("T")
R = TypeVar("R")


class ItemState(str, enum.Enum):
    """Where one item of a batch ended."""

    SUCCEEDED = "succeeded"
    """`fn` returned; the result holds its value."""

    FAILED = "failed"
    """`fn` raised, and the server did not do the work (or the call was safe to repeat)."""

    UNKNOWN = "unknown"
    """A POST or PATCH may have reached the server and its answer was lost: reconcile it."""

    SKIPPED = "skipped"
    """The journal says it already succeeded in an earlier run."""

    DUPLICATE = "duplicate"
    """Its key came earlier in the input: not run twice."""


@attrs.frozen(kw_only=True)
class ItemResult(Generic[T, R]):
    """One item's outcome.

    Attributes:
        key: The item's key.
        state: Where it ended.
        item: The item itself (`None` when rebuilt from a journal).
        value: What `fn` returned, for `SUCCEEDED`.
        error: The exception `fn` raised (`None` when rebuilt from a journal).
        error_type: The error's class name, e.g. `"ServerError"`.
        status: The HTTP status of the error, if it had one.
        code: The API's error code, if it sent one.
        operation: The operation whose call decided a `FAILED` or `UNKNOWN` state.
        attempt: Which run of this item this was (1 the first time; resumes count up).
        requests: HTTP requests the item sent in this run, retries included.
        seconds: How long the item ran.
        reconciled: Whether `reconcile=` (or `refold batch resolve`) settled its state.
    """

    key: str
    state: ItemState
    item: T | None = attrs.field(default=None, repr=False)
    value: R | None = attrs.field(default=None, repr=False)
    error: BaseException | None = None
    error_type: str | None = None
    status: int | None = None
    code: str | None = None
    operation: str | None = None
    attempt: int = 1
    requests: int = 0
    seconds: float = 0.0
    reconciled: bool = False

    def record(self) -> dict[str, Any]:
        """The journal's fields for this result (no value, no item, no message)."""
        fields: dict[str, Any] = {"attempt": self.attempt, "requests": self.requests}
        fields["seconds"] = round(self.seconds, 3)
        for name in ("error_type", "status", "code", "operation"):
            value = getattr(self, name)
            if value is not None:
                fields[name] = value
        if self.reconciled:
            fields["reconciled"] = True
        return fields


_COUNTED = (
    ItemState.SUCCEEDED,
    ItemState.FAILED,
    ItemState.UNKNOWN,
    ItemState.SKIPPED,
    ItemState.DUPLICATE,
)


@attrs.frozen(kw_only=True)
class BatchReport(Generic[T, R]):
    """The outcome of a batch job: counts per state, the results kept, and the pace.

    Attributes:
        counts: Items per state (every state present, zeros included).
        results: The kept results in the order the items finished.
        interrupted: Items started or taken but not finished when the run was stopped.
        elapsed: Seconds the run took.
        requests: HTTP requests sent by the items, retries included.
        rate_limited: 429 answers among them.
        rate: The rate budget the client ran under, if it had one.
        stopped_by: The signal that stopped the run (`"SIGINT"`, `"SIGTERM"`), if any.

    Example:
        ```python
        report = await client.batch(account_ids, sync_account, journal="sync.jsonl")
        print(report.summary())
        for result in report.unknown:
            print("check by hand:", result.key, result.error_type)
        ```
    """

    counts: Mapping[ItemState, int]
    results: tuple[ItemResult[T, R], ...] = attrs.field(default=(), repr=False)
    interrupted: int = 0
    elapsed: float = 0.0
    requests: int = 0
    rate_limited: int = 0
    rate: RateLimit | None = None
    stopped_by: str | None = None

    def __iter__(self) -> Iterator[ItemResult[T, R]]:
        return iter(self.results)

    def of(self, state: ItemState) -> tuple[ItemResult[T, R], ...]:
        """The kept results in one state."""
        return tuple(result for result in self.results if result.state is state)

    @property
    def succeeded(self) -> tuple[ItemResult[T, R], ...]:
        """Results of the items that succeeded (empty with `keep_values=False`)."""
        return self.of(ItemState.SUCCEEDED)

    @property
    def failed(self) -> tuple[ItemResult[T, R], ...]:
        """Results of the items that failed: safe to run again."""
        return self.of(ItemState.FAILED)

    @property
    def unknown(self) -> tuple[ItemResult[T, R], ...]:
        """Results of the items whose POST or PATCH may or may not have taken effect."""
        return self.of(ItemState.UNKNOWN)

    @property
    def duplicates(self) -> tuple[ItemResult[T, R], ...]:
        """Items whose key came earlier in the input."""
        return self.of(ItemState.DUPLICATE)

    @property
    def ok(self) -> bool:
        """Whether every item succeeded (or had already), and none was left unfinished."""
        counts = self.counts
        return not (counts[ItemState.FAILED] or counts[ItemState.UNKNOWN] or self.interrupted)

    @property
    def floor(self) -> float | None:
        """The least time the rate budget allows for this many requests, in seconds."""
        if self.rate is None:
            return None
        return max(0.0, (self.requests - self.rate.burst) / self.rate.per_second)

    @property
    def achieved_rate(self) -> float:
        """Requests per second over the run."""
        return self.requests / self.elapsed if self.elapsed > 0 else 0.0

    def summary(self) -> str:
        """A few lines for a terminal or a log: counts, pace against the budget, problems."""
        c = self.counts
        lines = [
            f"batch: {c[ItemState.SUCCEEDED]} succeeded, {c[ItemState.FAILED]} failed, "
            f"{c[ItemState.UNKNOWN]} unknown, {c[ItemState.SKIPPED]} skipped (done before), "
            f"{c[ItemState.DUPLICATE]} duplicate",
            f"  requests          {self.requests} ({self.rate_limited} answered 429)",
            f"  elapsed           {self.elapsed:.2f} s  {self._pace()}",
        ]
        if self.interrupted or self.stopped_by:
            lines.append(
                f"  stopped           by {self.stopped_by or 'cancellation'}: {self.interrupted} "
                "items unfinished; run again with the same journal to resume"
            )
        if c[ItemState.UNKNOWN]:
            lines.append(
                "  unknown items may or may not have taken effect (no answer came back): "
                "rerun with reconcile= to check them, or check by hand and mark them with "
                "`refold batch resolve JOURNAL KEY... --as succeeded|failed`"
            )
        lines.extend(self._problem_lines(SUMMARY_PROBLEMS))
        return "\n".join(lines)

    def _problem_lines(self, limit: int) -> list[str]:
        """Unknown items first (they need a decision), then failed ones; each list shows
        up to `limit` and says how many more the counts hold."""
        lines: list[str] = []
        for state in (ItemState.UNKNOWN, ItemState.FAILED):
            kept = self.of(state)
            lines.extend(f"  {state.value:<17} {r.key}  {_problem(r)}" for r in kept[:limit])
            more = self.counts[state] - min(limit, len(kept))
            if more > 0:
                lines.append(f"  {state.value:<17} ... and {more} more")
        return lines

    def _pace(self) -> str:
        rate = f"{self.achieved_rate:.1f} req/s"
        floor = self.floor
        if floor is None or self.rate is None:
            return f"({rate}, no rate budget)"
        budget = f"budget {self.rate.per_second:g}/s, burst {self.rate.burst}"
        over = f", {(self.elapsed / floor - 1) * 100:+.1f}%" if floor > 0 else ""
        return f"({rate}; {budget}: floor {floor:.2f} s{over})"

    def to_jsonl(self, path: str | Path) -> None:
        """Write the kept results, one JSON object per line (the journal's item fields)."""
        with Path(path).open("w", encoding="utf-8") as handle:
            for result in self.results:
                line = {"key": result.key, "state": result.state.value, **result.record()}
                handle.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")

    @classmethod
    def merge(cls, *reports: BatchReport[Any, Any]) -> BatchReport[Any, Any]:
        """One report for shards that ran side by side: counts and requests add up,
        elapsed is the longest shard's."""
        counts = {state: sum(r.counts[state] for r in reports) for state in _COUNTED}
        rates = {r.rate for r in reports if r.rate is not None}
        return BatchReport(
            counts=counts,
            results=tuple(result for r in reports for result in r.results),
            interrupted=sum(r.interrupted for r in reports),
            elapsed=max((r.elapsed for r in reports), default=0.0),
            requests=sum(r.requests for r in reports),
            rate_limited=sum(r.rate_limited for r in reports),
            rate=rates.pop() if len(rates) == 1 else None,
            stopped_by=next((r.stopped_by for r in reports if r.stopped_by), None),
        )

    @classmethod
    def from_journal(cls, path: str | Path) -> BatchReport[Any, Any]:
        """Rebuild a report from a journal: each key's last state, every run's requests,
        and as `elapsed` the time items were running (gaps between runs left out)."""
        return _JournalSummary.read(Path(path)).report()


def _problem(result: ItemResult[Any, Any]) -> str:
    parts = [result.error_type or "", str(result.status or ""), result.code or ""]
    where = f" in {result.operation}" if result.operation else ""
    return " ".join(p for p in parts if p) + where or "-"


_JOURNAL_STATES = {
    "succeeded": ItemState.SUCCEEDED,
    "failed": ItemState.FAILED,
    "unknown": ItemState.UNKNOWN,
    "in_flight": ItemState.UNKNOWN,  # the run died with it in flight
}


@attrs.define
class _JournalSummary:
    last: dict[str, dict[str, Any]] = attrs.field(factory=dict[str, dict[str, Any]])
    requests: int = 0
    rate_limited: int = 0
    rate: RateLimit | None = None
    busy: list[tuple[float, float]] = attrs.field(factory=list[tuple[float, float]])

    @classmethod
    def read(cls, path: Path) -> _JournalSummary:
        summary = cls()
        for record in read_records(path):
            summary.add(record)
        return summary

    def add(self, record: dict[str, Any]) -> None:
        kind = record.get("type")
        if kind == "run" and isinstance(record.get("rate"), list):
            per_second, burst = record["rate"]
            self.rate = RateLimit(per_second=float(per_second), burst=int(burst))
        elif kind == "item":
            self._item(record)

    def _item(self, record: dict[str, Any]) -> None:
        self.last[str(record.get("key"))] = record
        if record.get("state") in FINAL_STATES:
            self.requests += int(record.get("requests") or 0)
            self.rate_limited += int(record.get("rate_limited") or 0)
            seconds = float(record.get("seconds") or 0.0)
            stamp = float(record.get("t") or 0.0)
            if seconds > 0 and stamp > 0:
                self.busy.append((stamp - seconds, stamp))

    def report(self) -> BatchReport[Any, Any]:
        counts = dict.fromkeys(_COUNTED, 0)
        results: list[ItemResult[Any, Any]] = []
        interrupted = 0
        for key, record in self.last.items():
            written = str(record.get("state"))
            if written not in _JOURNAL_STATES:  # stopped with its calls answered: reruns
                interrupted += 1
                continue
            state = _JOURNAL_STATES[written]
            counts[state] += 1
            if state is not ItemState.SUCCEEDED:
                results.append(_result_from(key, state, record))
        return BatchReport(
            counts=counts,
            results=tuple(results),
            interrupted=interrupted,
            elapsed=busy_time(self.busy),
            requests=self.requests,
            rate_limited=self.rate_limited,
            rate=self.rate,
        )


def _result_from(key: str, state: ItemState, record: Mapping[str, Any]) -> ItemResult[Any, Any]:
    return ItemResult(
        key=key,
        state=state,
        error_type=record.get("error_type"),
        status=record.get("status"),
        code=record.get("code"),
        operation=record.get("operation"),
        attempt=int(record.get("attempt") or 1),
        requests=int(record.get("requests") or 0),
        seconds=float(record.get("seconds") or 0.0),
        reconciled=bool(record.get("reconciled")),
    )


def busy_time(spans: list[tuple[float, float]]) -> float:
    """Seconds covered by at least one of the (start, end) spans: the time items were
    running, so the gaps between runs of a resumed job (or a dead process) do not count."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total


def counts_of(results: Iterable[ItemState]) -> dict[ItemState, int]:
    """Items per state, every state present."""
    counts = dict.fromkeys(_COUNTED, 0)
    for state in results:
        counts[state] += 1
    return counts
