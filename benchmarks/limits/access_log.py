"""nginx's access log, the source of truth of the `bench_limits` harness: format and reading.

Pure: no I/O beyond the text handed in. nginx writes one line per request in
`LOG_FORMAT` (no key, no header value: only times, the status and the connection):

    $msec $request_time $status $connection $connection_requests

`$msec` is when nginx wrote the line (end of the request) and `$request_time` how long
the request took since its first byte was read, both with millisecond resolution, so
`$msec - $request_time` is when the request arrived, the moment nginx's `limit_req` judged
it. Times are kept in whole milliseconds: epoch seconds as floats carry rounding errors
(~1e-7 s) large enough to tip the bucket model's decision at a refill boundary.
`summarize()` turns the lines of one run into the figures the harness reports.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import attrs

from refold_async.testing import audit_send_times

__all__ = ["LOG_FORMAT", "LogEntry", "LogFormatError", "RunLog", "parse_lines", "summarize"]

LOG_FORMAT = "$msec $request_time $status $connection $connection_requests"
FIELDS = len(LOG_FORMAT.split())


class LogFormatError(ValueError):
    """A line that is not in `LOG_FORMAT`: the harness, not the client, is broken."""


@attrs.frozen(kw_only=True)
class LogEntry:
    """One request as nginx saw it.

    Attributes:
        arrived_ms: When its first byte was read (epoch milliseconds).
        done_ms: When nginx finished it and wrote the line (epoch milliseconds).
        status: The status nginx answered (429 from `limit_req`, else the emulator's).
        connection: nginx's serial number of the client connection it came on.
    """

    arrived_ms: int
    done_ms: int
    status: int
    connection: int


def parse_lines(lines: Iterable[str]) -> list[LogEntry]:
    """Parse access-log lines (blank ones skipped), in the order given.

    Raises:
        LogFormatError: A line has the wrong number of fields or a field is not a number.
    """
    entries: list[LogEntry] = []
    for line in lines:
        fields = line.split()
        if not fields:
            continue
        if len(fields) != FIELDS:
            raise LogFormatError(f"expected {FIELDS} fields in an access-log line: {line!r}")
        try:
            done, took = _millis(fields[0]), _millis(fields[1])
            status, connection = int(fields[2]), int(fields[3])
        except ValueError as error:
            raise LogFormatError(f"not an access-log line: {line!r}") from error
        entries.append(
            LogEntry(arrived_ms=done - took, done_ms=done, status=status, connection=connection)
        )
    return entries


def _millis(text: str) -> int:
    """`"1764700000.012"` (nginx's seconds with 3 decimals) as whole milliseconds."""
    whole, _, fraction = text.partition(".")
    if not (whole.isdigit() and len(fraction) == 3 and fraction.isdigit()):
        raise ValueError(f"not seconds with milliseconds: {text!r}")
    return int(whole) * 1000 + int(fraction)


@attrs.frozen(kw_only=True)
class RunLog:
    """One run's figures, as nginx saw them.

    Attributes:
        requests: Requests nginx received, retries included.
        statuses: How many of each status.
        rate_limited: How many nginx refused with 429.
        wall: Seconds from the first arrival to the last line written.
        first_arrival: Epoch seconds of the first arrival (0.0 for an empty run).
        first_429_after: Seconds from the first arrival to the first 429, if any.
        most_in_one_second: The most arrivals in any one-second window (429s included).
        model_refused: How many arrivals a model of the server's bucket would refuse
            (`audit_send_times`, fed nginx's arrival times): a second opinion.
        connections: Distinct client connections the requests came on.
    """

    requests: int
    statuses: dict[int, int]
    rate_limited: int
    wall: float
    first_arrival: float
    first_429_after: float | None
    most_in_one_second: int
    model_refused: int
    connections: int


def summarize(entries: list[LogEntry], *, per_second: float = 20.0, burst: int = 5) -> RunLog:
    """The figures of one run's entries against a bucket of `burst` refilling at `per_second`."""
    if not entries:
        return RunLog(
            requests=0,
            statuses={},
            rate_limited=0,
            wall=0.0,
            first_arrival=0.0,
            first_429_after=None,
            most_in_one_second=0,
            model_refused=0,
            connections=0,
        )
    first = min(entry.arrived_ms for entry in entries)
    # Seconds from the first arrival: small numbers, exact enough for the bucket model.
    arrivals = [(entry.arrived_ms - first) / 1000 for entry in entries]
    refused_at = [(e.arrived_ms - first) / 1000 for e in entries if e.status == 429]
    audit = audit_send_times(arrivals, per_second=per_second, burst=burst)
    statuses = Counter(entry.status for entry in entries)
    return RunLog(
        requests=len(entries),
        statuses=dict(sorted(statuses.items())),
        rate_limited=statuses[429],
        wall=(max(entry.done_ms for entry in entries) - first) / 1000,
        first_arrival=first / 1000,
        first_429_after=min(refused_at) if refused_at else None,
        most_in_one_second=audit.most_in_one_second,
        model_refused=len(audit.refused),
        connections=len({entry.connection for entry in entries}),
    )
