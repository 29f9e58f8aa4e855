"""Scheduled workflow triggers of a linked account: register, list, update, pause,
resume, delete, and firing them on the emulator's clock.

A running schedule fires at its next time: a `cron` schedule by its five-field expression
(minute, hour, day of month, month, day of week; `*`, numbers, `a-b`, `*/n`, lists), an
`interval` schedule at each of its dates. Times are read in UTC (`tz` is kept, not
applied) on the emulator's wall clock. Each firing starts one execution for the
schedule's linked account, of the workflow named by `workflow_id_alias` at registration.
"""

from __future__ import annotations

import datetime as dt
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
        "options": {k: fields[k] for k in ("tz", "startDate", "endDate") if k in fields},
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
    doc["options"].update({k: fields[k] for k in ("tz", "startDate", "endDate") if k in fields})
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


def next_cron(expression: str, after: dt.datetime) -> dt.datetime | None:
    """The first minute strictly after `after` that `expression` matches (UTC)."""
    minutes, hours, days, months, weekdays = cron_fields(expression)
    moment = after.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    end = after + _HORIZON
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
            return moment
    return None


def _interval_times(doc: Document) -> list[dt.datetime]:
    times: list[dt.datetime] = []
    for item in objects(doc.get("trigger_interval")):
        try:
            times.append(
                dt.datetime(
                    int(item["year"]),
                    int(item["month"]),
                    int(item["day"]),
                    int(item.get("hour", 0)),
                    int(item.get("minute", 0)),
                    tzinfo=dt.timezone.utc,
                )
            )
        except (KeyError, TypeError, ValueError):
            raise ApiError(
                400, f"{item!r} is not a date of the schedule", "VALIDATION_ERROR"
            ) from None
    return sorted(times)


def next_time(doc: Document, after_wall: float) -> float | None:
    """The schedule's next firing strictly after `after_wall` (epoch seconds), if any."""
    after = dt.datetime.fromtimestamp(after_wall, tz=dt.timezone.utc)
    if doc.get("trigger_type") == "cron" and doc.get("cron_patten"):
        found = next_cron(str(doc["cron_patten"]), after)
    else:
        found = next((t for t in _interval_times(doc) if t > after), None)
    return None if found is None else found.timestamp()


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
