"""Custom events (the triggers of the org's default custom application) and firing them.

Firing an event starts one execution per published workflow with a trigger node naming
the event (a node `{"type": "trigger", "event": <name or id>}`), or, when none has one, one execution attributed to the event itself, for
the caller's linked account. The answer does not name the executions: callers find them
with `listExecutions`, as with the real API.
"""

from __future__ import annotations

from typing import Any

from refold_async.testing._http import ApiError
from refold_async.testing._state import Document

from ._base import Call, find, handles, objects
from .executions import start


def _event_fields(call: Call) -> dict[str, Any]:
    fields = {"name": call.need("name"), "response": call.need("response")}
    if isinstance(call.fields().get("json_schema"), dict):
        fields["json_schema"] = call.fields()["json_schema"]
    return fields


def _by_name(call: Call, name: str) -> Document | None:
    return next((e for e in call.world.events.values() if e["name"] == name), None)


@handles("listEvents")
def list_events(call: Call) -> object:
    return list(call.world.events.values())


@handles("createEvent")
def create(call: Call) -> object:
    fields = _event_fields(call)
    if _by_name(call, fields["name"]) is not None:
        raise ApiError(409, f"an event named {fields['name']!r} already exists", "EVENT_EXISTS")
    doc: Document = {"_id": call.world.new_id(), "json_schema": {}, **fields}
    call.world.events[doc["_id"]] = doc
    return list(call.world.events.values())


@handles("getEvent")
def get_event(call: Call) -> object:
    return find(call.world.events, call.path["event_id"], "event")


@handles("updateEvent")
def update(call: Call) -> object:
    doc = find(call.world.events, call.path["event_id"], "event")
    fields = _event_fields(call)
    other = _by_name(call, fields["name"])
    if other is not None and other is not doc:
        raise ApiError(409, f"an event named {fields['name']!r} already exists", "EVENT_EXISTS")
    doc.update(fields)
    return list(call.world.events.values())


@handles("deleteEvent")
def delete(call: Call) -> object:
    find(call.world.events, call.path["event_id"], "event")
    del call.world.events[call.path["event_id"]]
    return list(call.world.events.values())


def _event_to_fire(call: Call) -> Document:
    fields = call.fields()
    wanted = fields.get("event") or fields.get("trigger")
    if not isinstance(wanted, str) or not wanted:
        raise ApiError(400, "name the event to fire in 'event' (or 'trigger')", "VALIDATION_ERROR")
    event = call.world.events.get(wanted) or _by_name(call, wanted)
    if event is None:
        raise ApiError(404, f"event {wanted!r} not found", "EVENT_NOT_FOUND")
    return event


def _listens(workflow: Document, event: Document) -> bool:
    return any(
        node.get("type") == "trigger" and node.get("event") in (event["_id"], event["name"])
        for node in objects(workflow.get("nodes"))
    )


@handles("triggerEvent", "triggerEventBySlug")
def fire(call: Call) -> object:
    event = _event_to_fire(call)
    call.world.linked_account(call.linked_account_id)
    slug = call.path.get("slug") or call.headers.get("slug")
    workflows = [
        wf
        for wf in call.world.workflows.values()
        if wf.get("published") and _listens(wf, event) and (not slug or wf.get("slug") == slug)
    ]
    targets = workflows or [{"_id": event["_id"], "name": event["name"], "icon": ""}]
    for workflow in targets:
        start(
            call,
            workflow,
            source="Event",
            event_id=event["_id"],
            payload=call.fields().get("payload"),
        )
    return {"message": "Webhook Fired Success"}
