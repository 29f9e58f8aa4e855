"""Scheduled workflow triggers of a linked account: register, list, update, pause,
resume, delete. Schedules are kept, not run: nothing fires on the clock.
"""

from __future__ import annotations

from typing import Any

from refold_async.testing._http import ApiError
from refold_async.testing._state import Document

from ._base import Call, handles, paginate

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
    return doc


@handles("deleteSchedule")
def delete(call: Call) -> object:
    doc = _schedule(call)
    del call.world.schedules[doc["_id"]]
    return {"message": "schedule deleted"}


@handles("pauseSchedule")
def pause(call: Call) -> object:
    doc = _schedule(call)
    doc.update(status="paused", inactive=True)
    return doc


@handles("resumeSchedule")
def resume(call: Call) -> object:
    doc = _schedule(call)
    doc.update(status="running", inactive=False)
    return doc
