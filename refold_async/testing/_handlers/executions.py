"""Workflow executions: started by events, workflow runs and reruns; listed, read,
stopped. An execution runs until `execution_delay` seconds of the emulator clock have
passed since it started, then reads `Completed` (or `Errored`, see
`Emulator.fail_executions`): its status is brought up to date lazily, whenever it is read
or the emulator's pump runs, which also announces the end to webhooks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from refold_async.testing._http import ApiError
from refold_async.testing._state import Backend, Document, ExecutionRecord, World, iso

from ._base import Call, handles, paginate

RUNNING = "Running"
COMPLETED = "Completed"
ERRORED = "Errored"
STOPPED = "Stopped"


def start(
    call: Call,
    workflow: dict[str, Any],
    *,
    source: str,
    event_id: str | None = None,
    payload: object = None,
    run_now: bool = False,
) -> ExecutionRecord:
    """Create an execution of `workflow` for the caller's linked account."""
    return launch(
        call.world, call.backend, workflow, linked_account_id=call.linked_account_id,
        now=call.now, wall=call.wall, source=source, event_id=event_id, payload=payload,
        run_now=run_now, config_id=call.headers.get("config_id"),
        instance_tag=call.headers.get("instance_tag"),
    )  # fmt: skip


def launch(
    world: World,
    backend: Backend,
    workflow: dict[str, Any],
    *,
    linked_account_id: str,
    now: float,
    wall: float,
    source: str,
    event_id: str | None = None,
    payload: object = None,
    run_now: bool = False,
    config_id: str | None = None,
    instance_tag: str | None = None,
) -> ExecutionRecord:
    """Create an execution of `workflow` for a linked account, at `now` (clock) / `wall`."""
    delay = 0.0 if run_now else backend.settings.execution_delay
    doc: Document = {
        "_id": world.new_id(),
        "name": workflow.get("name", ""),
        "status": RUNNING,
        "associated_workflow": {k: workflow[k] for k in ("_id", "name", "icon") if k in workflow},
        "linked_account_id": linked_account_id,
        "config_id": config_id or linked_account_id,
        "environment": world.environment,
        "org_id": world.org_id,
        "type_of_execution": source,
        "is_child_instance": False,
        "is_seed": False,
        "executed_by_thanos": False,
        "store_variables": {},
        "custom_field_values": {},
        "payload": payload,
    }
    if event_id is not None:
        doc["associated_event_id"] = event_id
        doc["custom_trigger_id"] = event_id
    if instance_tag:
        doc["instance_tag"] = instance_tag
    stamp = iso(wall)
    doc["createdAt"] = doc["updatedAt"] = stamp
    record = ExecutionRecord(
        doc=doc,
        linked_account_id=linked_account_id,
        started_at=now,
        started_wall=wall,
        finish_at=now + delay,
    )
    if backend.failing > 0:
        backend.failing -= 1
        record.final_status = ERRORED
    world.executions[doc["_id"]] = record
    backend.running[doc["_id"]] = (world, record)
    refresh(record, now)
    return record


def announce_finished(backend: Backend, now: float) -> None:
    """Emit `Workflow Completed` / `Workflow Errored` for executions that ended by `now`."""
    for execution_id, (world, record) in list(backend.running.items()):
        doc = refresh(record, now)
        if doc["status"] == RUNNING:
            continue
        del backend.running[execution_id]
        kind = {COMPLETED: "Workflow Completed", ERRORED: "Workflow Errored"}.get(doc["status"])
        if kind is None:  # stopped: no event
            continue
        workflow: dict[str, Any] = doc.get("associated_workflow", {})
        backend.emit(world, kind, {
            "org_id": world.org_id, "environment": world.environment,
            "linked_account_id": record.linked_account_id, "instance_id": doc["_id"],
            "workflow_id": workflow.get("_id"), "workflow_name": workflow.get("name"),
            "config_id": doc.get("config_id"), "status": str(doc["status"]).upper(),
        })  # fmt: skip


def next_finish(backend: Backend) -> float | None:
    """When the earliest running execution ends (emulator clock), if any runs."""
    ends = [
        record.finish_at
        for _, record in backend.running.values()
        if record.finish_at is not None and record.doc["status"] == RUNNING
    ]
    return min(ends, default=None)


def refresh(record: ExecutionRecord, now: float) -> Document:
    """Bring the execution's status up to date with the clock; returns its document."""
    if record.doc["status"] == RUNNING and record.finish_at is not None and now >= record.finish_at:
        finished_wall = record.started_wall + (record.finish_at - record.started_at)
        record.doc["status"] = record.final_status
        record.doc["completion_time"] = iso(finished_wall)
        record.doc["updatedAt"] = iso(finished_wall)
        record.doc["instance_execution_time"] = round(
            (finished_wall - record.started_wall) * 1000, 3
        )
    return record.doc


def _record(call: Call, execution_id: str) -> ExecutionRecord:
    record = call.world.executions.get(execution_id)
    if record is None or record.linked_account_id != call.linked_account_id:
        raise ApiError(404, f"execution {execution_id!r} not found", "EXECUTION_NOT_FOUND")
    refresh(record, call.now)
    return record


def _parse_date(text: str) -> str:
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"{text!r} is not an ISO 8601 date-time", "VALIDATION_ERROR") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return iso(parsed.timestamp())


def _matches(doc: Document, query: dict[str, str], world: World) -> bool:
    workflow: dict[str, Any] = doc.get("associated_workflow", {})
    slug = world.workflows.get(str(workflow.get("_id", "")), {}).get("slug")
    checks: dict[str, Callable[[str], bool]] = {
        "status": lambda v: str(doc["status"]).lower() == v.lower(),
        "workflow_id": lambda v: workflow.get("_id") == v,
        "workflow_name": lambda v: v.lower() in str(workflow.get("name", "")).lower(),
        "execution_id": lambda v: doc["_id"] == v,
        "execution_type": lambda v: doc["type_of_execution"] == v,
        "execution_source": lambda v: doc["type_of_execution"] == v,
        "start_date": lambda v: str(doc["createdAt"]) >= _parse_date(v),
        "end_date": lambda v: str(doc["createdAt"]) <= _parse_date(v),
        "slug": lambda v: slug in v.split(","),
    }
    return all(check(query[name]) for name, check in checks.items() if query.get(name))


def _docs(call: Call, records: Iterable[ExecutionRecord]) -> list[Document]:
    docs = [refresh(record, call.now) for record in records]
    query = dict(call.query)
    docs = [doc for doc in docs if _matches(doc, query, call.world)]
    newest_first = call.query.get("sortAsc", "false").lower() != "true"
    return sorted(docs, key=lambda d: (d["createdAt"], d["_id"]), reverse=newest_first)


@handles("listExecutions")
def list_executions(call: Call) -> object:
    return paginate(call, _docs(call, call.world.executions_of(call.linked_account_id)))


@handles("getExecutionById")
def get_execution(call: Call) -> object:
    return _record(call, call.path["execution_id"]).doc


@handles("listExecutionNodeBatches")
def node_batches(call: Call) -> object:
    record = _record(call, call.path["execution_id"])
    done = record.doc["status"] != RUNNING
    batches: list[dict[str, Any]] = [
        {"_id": f"{record.doc['_id']}-{call.path['node_id']}-{n}", "node_id": call.path["node_id"], "batch": n,
         "status": COMPLETED if done else RUNNING}
        for n in (1, 2)
    ]  # fmt: skip
    wanted = call.query.get("status")
    return paginate(
        call, [b for b in batches if not wanted or b["status"].lower() == wanted.lower()]
    )


@handles("stopExecution")
def stop(call: Call) -> object:
    record = _record(call, call.path["instanceId"])
    if record.doc["status"] != RUNNING:
        raise ApiError(409, f"execution is already {record.doc['status']}", "EXECUTION_NOT_RUNNING")
    record.doc["status"] = STOPPED
    record.doc["completion_time"] = call.timestamp
    call.world.stamp(record.doc)
    return {"message": "execution stopped"}


@handles("rerunExecution")
def rerun(call: Call) -> object:
    old = _record(call, call.path["instanceId"])
    if old.doc["status"] == RUNNING:
        raise ApiError(409, "a running execution cannot be rerun", "EXECUTION_RUNNING")
    workflow = dict(old.doc.get("associated_workflow", {}))
    new = start(call, workflow, source=old.doc["type_of_execution"], event_id=old.doc.get("associated_event_id"),
                payload=old.doc.get("payload"))  # fmt: skip
    return {"status": new.doc["status"], "id": new.doc["_id"]}
