"""Workflows: create, read, draft, publish (as numbered versions), delete, list, and
execute, synchronously (completed in the answer) or not (running on the clock).
"""

from __future__ import annotations

import copy
from typing import Any

from refold_async.testing._http import ApiError
from refold_async.testing._state import Document

from ._base import Call, as_object, handles, paginate
from .executions import start

_FREE_FIELDS = ("name", "icon", "slug", "nodes", "edges", "settings", "json_schema", "manual_execution_payload",
                "autoEnable", "group", "when_to_use")  # fmt: skip


def _visible(call: Call, doc: Document) -> bool:
    linked = call.principal.linked_account_id
    return linked is None or doc.get("linked_account_id") in (None, linked)


def _workflow(call: Call, workflow_id: str) -> Document:
    doc = call.world.workflows.get(workflow_id)
    if doc is None or not _visible(call, doc):
        raise ApiError(404, f"workflow {workflow_id!r} not found", "WORKFLOW_NOT_FOUND")
    return doc


@handles("createWorkflow")
def create(call: Call) -> object:
    fields = call.fields()
    doc: Document = {
        "_id": call.world.new_id(),
        "name": "Untitled workflow",
        "org_id": call.world.org_id,
        "environment": call.world.environment,
        "linked_account_id": call.principal.linked_account_id,
        "published": False,
        "autoEnable": False,
        "is_v2": True,
        "version": 0,
        "current_version": 0,
        "nodes": [],
        "edges": [],
        "settings": {},
    }
    doc.update({name: fields[name] for name in _FREE_FIELDS if name in fields})
    call.world.workflows[doc["_id"]] = call.world.stamp(doc, created=True)
    call.world.drafts[doc["_id"]] = copy.deepcopy(doc)
    return {"workflow": doc}


@handles("getWorkflowById")
def get_workflow(call: Call) -> object:
    return _workflow(call, call.path["workflowId"])


@handles("getDraftWorkflow")
def draft(call: Call) -> object:
    doc = _workflow(call, call.path["workflowId"])
    return call.world.drafts.setdefault(doc["_id"], copy.deepcopy(doc))


@handles("deleteWorkflow")
def delete(call: Call) -> object:
    doc = _workflow(call, call.path["workflowId"])
    for table in (call.world.workflows, call.world.drafts, call.world.versions):
        table.pop(doc["_id"], None)
    return {"message": "workflow deleted", "successfullyDeletedTriggers": True}


@handles("publishWorkflow")
def publish(call: Call) -> object:
    doc = _workflow(call, call.path["workflowId"])
    if not call.need("published", bool):
        doc["published"] = False
        return call.world.stamp(doc)
    version = call.fields().get("version")
    number = version if isinstance(version, int) and version > 0 else doc["current_version"] + 1
    source = call.world.drafts.get(doc["_id"], doc)
    doc.update({k: copy.deepcopy(v) for k, v in source.items() if k in _FREE_FIELDS})
    doc.update(published=True, version=number, current_version=max(number, doc["current_version"]))
    call.world.stamp(doc)
    call.world.versions.setdefault(doc["_id"], []).append(copy.deepcopy(doc))
    return doc


@handles("executeWorkflow")
def execute(call: Call) -> object:
    doc = _workflow(call, call.path["workflowId"])
    if not doc.get("published"):
        raise ApiError(400, "the workflow is not published", "WORKFLOW_NOT_PUBLISHED")
    sync = call.flag("sync_execution")
    payload: object = call.body if call.body is not None else {}
    record = start(call, doc, source="API_CALL", payload=payload, run_now=sync)
    return {
        "execution_id": record.doc["_id"],
        "return_value": payload if sync else None,
        "errored": False,
        "status_code": 200,
        "executed_by_thanos": False,
    }


def _filtered(call: Call) -> list[Document]:
    docs = [d for d in call.world.workflows.values() if _visible(call, d)]
    query = call.query
    if query.get("slug"):
        docs = [d for d in docs if d.get("slug") == query["slug"]]
    if query.get("name"):
        docs = [d for d in docs if query["name"].lower() in str(d.get("name", "")).lower()]
    if query.get("published"):
        docs = [
            d for d in docs if bool(d.get("published")) == (query["published"].lower() == "true")
        ]
    return sorted(docs, key=lambda d: (d["createdAt"], d["_id"]), reverse=True)


@handles("listWorkflows")
def list_workflows(call: Call) -> object:
    return paginate(call, _filtered(call))


@handles("listWorkflowVersions")
def versions(call: Call) -> object:
    doc = _workflow(call, call.path["workflowId"])
    return paginate(call, list(reversed(call.world.versions.get(doc["_id"], []))))


@handles("listEnabledWorkflows")
def enabled(call: Call) -> object:
    linked = call.linked_account_id
    answer: list[dict[str, Any]] = []
    for (account, slug, config_id), config in call.world.configs.items():
        if account != linked:
            continue
        for item in config["workflows"]:
            doc = call.world.workflows.get(item["id"])
            if item["enabled"] and doc is not None:
                answer.append({
                    "id": doc["_id"], "name": doc["name"], "icon": doc.get("icon", ""),
                    "createdAt": doc["createdAt"], "updatedAt": doc["updatedAt"],
                    "config_id": config_id, "application": {"slug": slug},
                })  # fmt: skip
    return answer


@handles("getWorkflowRequestStructure")
def request_structure(call: Call) -> object:
    doc = _workflow(call, call.path["workflowId"])
    payload: object = doc.get("manual_execution_payload") or {}
    return {
        "payload": payload,
        "schema": doc.get("json_schema"),
        "schema_interpreted": {k: type(v).__name__ for k, v in (as_object(payload) or {}).items()},
    }
