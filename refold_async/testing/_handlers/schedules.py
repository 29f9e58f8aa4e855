"""Scheduled workflow triggers of a linked account: register, list, update, pause,
resume, delete, and firing them on the emulator's clock.

A running schedule fires at its next time: a `cron` schedule by its five-field expression
(minute, hour, day of month, month, day of week; `*`, numbers, `a-b`, `*/n`, lists), an
`interval` schedule at each of its dates. Both are read in the schedule's `tz` (an IANA
name such as `America/New_York`; UTC by default), on the emulator's wall clock, and only
between `startDate` and `endDate` (`YYYY-MM-DD`, whole days in that zone) when given. As
cron does: a local time that a daylight-saving change skips does not fire, and one it
repeats fires once. Each firing starts one execution for the schedule's linked account,
of the workflow named by `workflow_id_alias` at registration.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from refold_async.testing._http import ApiError
from refold_async.testing._state import Backend, Document, World

from ._base import Call, as_object, handles, objects, paginate
from .executions import launch

_TRIGGERS = ("cron", "interval")


def _schedule(call: Call) -> Document:
    doc = call.world.schedules.get(call.path["schedule_id"])
    if doc is None or doc["linked_account_id"] != call.linked_account_id:
        raise ApiError(
            404, f"schedule {call.path['schedule_id']!r} not found", "SCHEDULE_NOT_FOUND"
        )
    return doc


def _timing(fields: dict[str, Any]) -> dict[str, Any]:
    trigger = fields.get("trigger_type")
    if trigger is not None and trigger not in _TRIGGERS:
        raise ApiError(400, "trigger_type must be 'cron' or 'interval'", "VALIDATION_ERROR")
    timing: dict[str, Any] = {}
    if trigger is not None:
        timing["trigger_type"] = trigger
    if "regex" in fields:
        timing["cron_patten"] = fields["regex"]
    if "interval_dates" in fields:
        timing["trigger_interval"] = fields["interval_dates"]
    if "payload" in fields:
        timing["payload"] = fields["payload"]
    return timing


def _options(fields: dict[str, Any]) -> dict[str, Any]:
    """The timing options given, checked: a known time zone, dates as `YYYY-MM-DD`."""
    options: dict[str, Any] = {k: fields[k] for k in ("tz", "startDate", "endDate") if k in fields}
    if "tz" in options:
        zone_of(options["tz"])
    for key in ("startDate", "endDate"):
        if key in options:
            _day(options[key], key)
    return options


def zone_of(name: object) -> dt.tzinfo:
    """The time zone named `name` (`None` or `"UTC"`: UTC), or 400 for one not known here."""
    if name is None or name in ("UTC", "Etc/UTC", "Z"):
        return dt.timezone.utc
    try:
        return zoneinfo.ZoneInfo(str(name))
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise ApiError(
            400,
            f"tz {name!r} is not a time zone the emulator knows (an IANA name such as "
            "'America/New_York'; without the system's tz database, pip install tzdata)",
            "VALIDATION_ERROR",
        ) from None


def _day(value: object, key: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ApiError(400, f"{key} must be a date, YYYY-MM-DD", "VALIDATION_ERROR") from None


@handles("registerSchedule")
def register(call: Call) -> object:
    fields = call.fields()
    if fields.get("trigger_type") not in _TRIGGERS:
        raise ApiError(400, "trigger_type must be 'cron' or 'interval'", "VALIDATION_ERROR")
    doc: Document = {
        "_id": call.world.new_id(),
        "event_id": call.world.new_id(),
        "workflow": call.headers.get("workflow_id_alias", ""),
        "config_id": call.headers.get("config_id", ""),
        "linked_account_id": call.linked_account_id,
        "trigger_interval": [],
        "status": "running",
        "inactive": False,
        "registered_by_api": True,
        "options": _options(fields),
        "payload": {},
        **_timing(fields),
    }
    plan(call.world, doc, now=call.now, wall=call.wall)  # a bad cron expression: 400 here
    call.world.schedules[doc["_id"]] = doc
    return doc


@handles("listSchedules")
def list_schedules(call: Call) -> object:
    mine = [
        d for d in call.world.schedules.values() if d["linked_account_id"] == call.linked_account_id
    ]
    return paginate(call, mine)


@handles("updateSchedule")
def update(call: Call) -> object:
    doc = _schedule(call)
    fields = call.fields()
    doc.update(_timing(fields))
    doc["options"].update(_options(fields))
    plan(call.world, doc, now=call.now, wall=call.wall)
    return doc


@handles("deleteSchedule")
def delete(call: Call) -> object:
    doc = _schedule(call)
    del call.world.schedules[doc["_id"]]
    call.world.schedule_due.pop(doc["_id"], None)
    return {"message": "schedule deleted"}


@handles("pauseSchedule")
def pause(call: Call) -> object:
    doc = _schedule(call)
    doc.update(status="paused", inactive=True)
    call.world.schedule_due.pop(doc["_id"], None)
    return doc


@handles("resumeSchedule")
def resume(call: Call) -> object:
    doc = _schedule(call)
    doc.update(status="running", inactive=False)
    plan(call.world, doc, now=call.now, wall=call.wall)
    return doc


# -- firing on the clock ------------------------------------------------------------------

_FIELDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_HORIZON = dt.timedelta(days=366 * 4)


def _parse_field(text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        spec, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if spec == "*":
            start, stop = low, high
        elif "-" in spec:
            first, _, last = spec.partition("-")
            start, stop = int(first), int(last)
        else:
            start = stop = int(spec)
            if step_text:
                stop = high
        if step < 1 or start < low or stop > high or start > stop:
            raise ValueError(part)
        values.update(range(start, stop + 1, step))
    return frozenset(values)


def cron_fields(expression: str) -> tuple[frozenset[int], ...]:
    """The allowed values of each of the five fields, or 400 for an expression we cannot read."""
    parts = expression.split()
    try:
        if len(parts) != 5:
            raise ValueError(expression)
        fields = [_parse_field(p, lo, hi) for p, (lo, hi) in zip(parts, _FIELDS, strict=True)]
    except ValueError:
        raise ApiError(
            400, f"{expression!r} is not a five-field cron expression", "VALIDATION_ERROR"
        ) from None
    fields[4] = frozenset(7 if d == 0 else d for d in fields[4]) | fields[4]  # 0 and 7: Sunday
    return tuple(fields)


def next_cron(
    expression: str, after: dt.datetime, zone: dt.tzinfo = dt.timezone.utc
) -> dt.datetime | None:
    """The first minute strictly after `after` that `expression` matches in `zone` (UTC).

    Matching is on `zone`'s wall clock: a minute that a daylight-saving change skips does
    not exist there, and one it repeats matches once (its first occurrence).
    """
    minutes, hours, days, months, weekdays = cron_fields(expression)
    local = after.astimezone(zone).replace(tzinfo=None)
    moment = local.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    end = local + _HORIZON
    while moment < end:
        if moment.month not in months:
            moment = (moment.replace(day=1, hour=0, minute=0) + dt.timedelta(days=32)).replace(
                day=1
            )
        elif moment.day not in days or moment.isoweekday() % 7 not in weekdays:
            moment = moment.replace(hour=0, minute=0) + dt.timedelta(days=1)
        elif moment.hour not in hours:
            moment = moment.replace(minute=0) + dt.timedelta(hours=1)
        elif moment.minute not in minutes:
            moment += dt.timedelta(minutes=1)
        else:
            found = _instant(moment, zone)
            if found is not None and found > after:
                return found
            moment += dt.timedelta(minutes=1)
    return None


def _instant(local: dt.datetime, zone: dt.tzinfo) -> dt.datetime | None:
    """The UTC instant of wall-clock time `local` in `zone`: its first occurrence, or
    `None` where a daylight-saving change skips it."""
    aware = local.replace(tzinfo=zone, fold=0)
    instant = aware.astimezone(dt.timezone.utc)
    if instant.astimezone(zone).replace(tzinfo=None) != local:
        return None
    return instant


def _interval_times(doc: Document, zone: dt.tzinfo) -> list[dt.datetime]:
    times: list[dt.datetime] = []
    for item in objects(doc.get("trigger_interval")):
        try:
            local = dt.datetime(  # noqa: DTZ001 - wall-clock time in the zone: see _instant()
                int(item["year"]),
                int(item["month"]),
                int(item["day"]),
                int(item.get("hour", 0)),
                int(item.get("minute", 0)),
            )
        except (KeyError, TypeError, ValueError):
            raise ApiError(
                400, f"{item!r} is not a date of the schedule", "VALIDATION_ERROR"
            ) from None
        instant = _instant(local, zone)
        if instant is not None:
            times.append(instant)
    return sorted(times)


def next_time(doc: Document, after_wall: float) -> float | None:
    """The schedule's next firing strictly after `after_wall` (epoch seconds), if any,
    within its date window."""
    options: dict[str, Any] = as_object(doc.get("options")) or {}
    zone = zone_of(options.get("tz"))
    after = dt.datetime.fromtimestamp(after_wall, tz=dt.timezone.utc)
    if "startDate" in options:
        first = _instant(
            dt.datetime.combine(_day(options["startDate"], "startDate"), dt.time()), zone
        )
        if first is not None and first - dt.timedelta(microseconds=1) > after:
            after = first - dt.timedelta(microseconds=1)
    last = None
    if "endDate" in options:
        day_after = _day(options["endDate"], "endDate") + dt.timedelta(days=1)
        last = dt.datetime.combine(day_after, dt.time()).replace(tzinfo=zone)
    if doc.get("trigger_type") == "cron" and doc.get("cron_patten"):
        found = next_cron(str(doc["cron_patten"]), after, zone)
    else:
        found = next((t for t in _interval_times(doc, zone) if t > after), None)
    if found is None or (last is not None and found >= last):
        return None
    return found.timestamp()


def plan(world: World, doc: Document, *, now: float, wall: float) -> None:
    """Set (or clear) when the schedule fires next, on the emulator clock."""
    world.schedule_due.pop(doc["_id"], None)
    if doc.get("status") != "running":
        return
    upcoming = next_time(doc, wall)
    if upcoming is not None:
        world.schedule_due[doc["_id"]] = now + (upcoming - wall)


def next_firing(backend: Backend) -> float | None:
    """When (emulator clock) the earliest schedule of any world fires next."""
    return min((t for w in backend.worlds.values() for t in w.schedule_due.values()), default=None)


def fire_due(backend: Backend, now: float, wall: float) -> int:
    """Fire every schedule due by `now`, each as often as it fell due; returns the firings."""
    fired = 0
    for world in backend.worlds.values():
        while True:
            due = [(t, sid) for sid, t in world.schedule_due.items() if t <= now]
            if not due:
                break
            at, schedule_id = min(due)
            doc = world.schedules[schedule_id]
            at_wall = wall - (now - at)
            _fire(world, backend, doc, at=at, at_wall=at_wall)
            fired += 1
            plan(world, doc, now=at, wall=at_wall)
    return fired


def _fire(world: World, backend: Backend, doc: Document, *, at: float, at_wall: float) -> None:
    linked = str(doc["linked_account_id"])
    if linked not in world.linked_accounts:
        return
    workflow = world.workflows.get(str(doc.get("workflow") or "")) or {
        "_id": doc.get("workflow") or doc["event_id"],
        "name": "Scheduled run",
    }
    launch(
        world, backend, workflow, linked_account_id=linked, now=at, wall=at_wall,
        source="Schedule", event_id=str(doc["event_id"]),
        payload=as_object(doc.get("payload")) or {}, config_id=doc.get("config_id") or None,
    )  # fmt: skip
