"""Environment variables (definitions are seeded: the API cannot create them), MCP
servers, and human tasks (which need no credentials, so they live outside the worlds).
"""

from __future__ import annotations

from refold_async.testing._http import NO_CONTENT, ApiError
from refold_async.testing._state import Document, World

from ._base import Call, created, find, handles, paginate

SEEDED_VARIABLES = (
    ("API_BASE_URL", "org", "url", False),
    ("MAX_RETRIES", "linked_account", "number", False),
    ("SIGNING_SECRET", "workflow", "string", True),
)


def seed_variables(world: World) -> None:
    """Give a new world its variable definitions."""
    for name, scope, var_format, encrypted in SEEDED_VARIABLES:
        doc: Document = {
            "_id": world.new_id(), "org_id": world.org_id, "name": name, "scope": scope,
            "var_format": var_format, "encrypted": encrypted, "created_by": "emulator", "updated_by": "emulator",
        }  # fmt: skip
        world.variables[doc["_id"]] = world.stamp(doc, created=True)


@handles("listVariableDefinitions")
def list_definitions(call: Call) -> object:
    docs = list(call.world.variables.values())
    for name in ("scope", "var_format", "name"):
        if call.query.get(name):
            docs = [d for d in docs if d[name] == call.query[name]]
    return paginate(call, docs)


@handles("getVariableDefinition")
def get_definition(call: Call) -> object:
    return {"definition": find(call.world.variables, call.path["id"], "variable definition")}


def _value_matches(doc: Document, linked: str | None, workflow: str | None) -> bool:
    return doc.get("linked_account_id") == linked and doc.get("workflow_id") == workflow


@handles("setVariableValue")
def set_value(call: Call) -> object:
    definition = find(
        call.world.variables, call.need("variable_definition_id"), "variable definition"
    )
    value = call.need("value")
    linked = call.principal.linked_account_id or call.fields().get("linked_account_id")
    workflow = call.fields().get("workflow_id")
    for existing in call.world.values.values():
        if existing["variable_definition_id"] == definition["_id"] and _value_matches(
            existing, linked, workflow
        ):
            existing["value"] = value
            return call.world.stamp(existing)
    doc: Document = {
        "_id": call.world.new_id(), "variable_definition_id": definition["_id"], "org_id": call.world.org_id,
        "environment": call.world.environment, "value": value, "created_by": "api", "updated_by": "api",
    }  # fmt: skip
    doc.update({k: v for k, v in (("linked_account_id", linked), ("workflow_id", workflow)) if v})
    call.world.values[doc["_id"]] = call.world.stamp(doc, created=True)
    return doc


@handles("getVariableValue")
def get_value(call: Call) -> object:
    definition = find(call.world.variables, call.path["definition_id"], "variable definition")
    linked = call.principal.linked_account_id or call.query.get("linked_account_id")
    workflow = call.query.get("workflow_id")
    for doc in call.world.values.values():
        if doc["variable_definition_id"] == definition["_id"] and _value_matches(
            doc, linked, workflow
        ):
            return {
                "value": "********" if definition["encrypted"] else doc["value"],
                "encrypted": definition["encrypted"], "name": definition["name"],
                "scope": definition["scope"], "variable_definition_id": definition["_id"],
            }  # fmt: skip
    raise ApiError(404, f"no value set for {definition['name']}", "VALUE_NOT_FOUND")


@handles("listVariableValuesByScope")
def list_values(call: Call) -> object:
    scope = call.path["scope"]
    definitions = {d["_id"] for d in call.world.variables.values() if d["scope"] == scope}
    docs = [d for d in call.world.values.values() if d["variable_definition_id"] in definitions]
    for name in ("variable_definition_id", "workflow_id", "linked_account_id"):
        if call.query.get(name):
            docs = [d for d in docs if d.get(name) == call.query[name]]
    return {"status": "success", **paginate(call, docs)}


@handles("deleteVariableValue")
def delete_value(call: Call) -> object:
    find(call.world.values, call.path["value_id"], "variable value")
    del call.world.values[call.path["value_id"]]
    return {"status": "success", "message": "value deleted"}


_MCP_FIELDS = ("name", "associated_apps", "suggestions", "agent_name", "primary_color", "secondary_color",
               "chains", "base_prompt", "safe_mode", "description")  # fmt: skip


@handles("listMcpServers")
def list_mcp(call: Call) -> object:
    return paginate(call, list(call.world.mcp_servers.values()))


@handles("createMcpServer")
def create_mcp(call: Call) -> object:
    name = call.need("name")
    call.need("description")
    doc: Document = {
        "_id": call.world.new_id(), "associated_org_id": call.world.org_id, "environment": call.world.environment,
        "safe_mode": True, "suggestions": [], "associated_apps": [], "chains": [], "notebooks": [],
    }  # fmt: skip
    doc.update({k: v for k, v in call.fields().items() if k in _MCP_FIELDS})
    call.world.mcp_servers[doc["_id"]] = call.world.stamp(doc, created=True)
    return created({"_id": doc["_id"], "name": name})


@handles("getMcpServer")
def get_mcp(call: Call) -> object:
    return find(call.world.mcp_servers, call.path["mcp_server_id"], "MCP server")


@handles("updateMcpServer")
def update_mcp(call: Call) -> object:
    doc = find(call.world.mcp_servers, call.path["mcp_server_id"], "MCP server")
    doc.update({k: v for k, v in call.fields().items() if k in _MCP_FIELDS})
    return call.world.stamp(doc)


@handles("deleteMcpServer")
def delete_mcp(call: Call) -> object:
    find(call.world.mcp_servers, call.path["mcp_server_id"], "MCP server")
    del call.world.mcp_servers[call.path["mcp_server_id"]]
    return NO_CONTENT


def _task(call: Call) -> Document:
    task = find(call.backend.human_tasks, call.path["id"], "human task")
    if task["status"] == "WAITING" and task["expire_in"] <= call.timestamp:
        task["status"] = "TIMEOUT"
    return task


@handles("getHumanTask")
def get_task(call: Call) -> object:
    return _task(call)


@handles("submitHumanTask")
def submit_task(call: Call) -> object:
    task = _task(call)
    data = call.need("data", dict)
    if task["status"] != "WAITING":
        raise ApiError(409, f"the task is {task['status']}, not waiting", "TASK_NOT_WAITING")
    task.update(status="SUBMITTED", data=data, updatedAt=call.timestamp)
    return {"success": True, "task_id": task["_id"], "status": "SUBMITTED"}
