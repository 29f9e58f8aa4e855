"""Configs (an application installed for a linked account) and their fields.

A config is kept by (linked account, application slug, config id) in the wire shape of
`GetApplicationConfigDTO`. Without a `config_id` the account's default config is meant,
whose id is the linked account's id. Its workflows are the world's workflows for the
application's slug.
"""

from __future__ import annotations

from typing import Any

from refold_async.testing._http import ApiError
from refold_async.testing._state import Document

from ._base import Call, handles, objects
from .catalogue import application


def _key(call: Call, slug: str, config_id: str | None) -> tuple[str, str, str]:
    linked = call.linked_account_id
    return (linked, slug, config_id or linked)


def _workflows_for(call: Call, slug: str) -> list[dict[str, Any]]:
    return [
        {
            "id": wf["_id"],
            "name": wf["name"],
            "icon": wf.get("icon", ""),
            "enabled": bool(wf.get("autoEnable")),
            "fields": [],
        }
        for wf in call.world.workflows.values()
        if wf.get("slug") == slug and wf.get("linked_account_id") in (None, call.linked_account_id)
    ]


def _find(call: Call, slug: str, config_id: str | None) -> Document:
    config = call.world.configs.get(_key(call, slug, config_id))
    if config is None:
        raise ApiError(404, f"no config for {slug!r} on this linked account", "CONFIG_NOT_FOUND")
    known = {wf["id"] for wf in config["workflows"]}
    config["workflows"].extend(wf for wf in _workflows_for(call, slug) if wf["id"] not in known)
    return config


def _apply(config: Document, fields: dict[str, Any]) -> Document:
    values = {f.get("id"): f.get("value") for f in objects(fields.get("fields"))}
    for field in config["fields"]:
        if field["id"] in values:
            field["value"] = values[field["id"]]
    toggles = {w.get("id"): w.get("enabled") for w in objects(fields.get("workflows"))}
    for workflow in config["workflows"]:
        if isinstance(toggles.get(workflow["id"]), bool):
            workflow["enabled"] = toggles[workflow["id"]]
    return config


@handles("getOrCreateConfig")
def get_or_create(call: Call) -> object:
    slug = call.need("slug")
    key = _key(call, slug, call.fields().get("config_id"))
    if key not in call.world.configs:
        call.world.configs[key] = {
            "slug": application(slug).slug,
            "config_id": key[2],
            "fields": application(slug).fields(),
            "workflows": _workflows_for(call, slug),
            "field_errors": [],
        }
    return _apply(_find(call, slug, key[2]), call.fields())


@handles("updateConfig")
def update(call: Call) -> object:
    config = _find(call, call.need("slug"), call.fields().get("config_id"))
    return _apply(config, call.fields())


@handles("getInstalledConfigDefault", "getInstalledConfig")
def get_config(call: Call) -> object:
    return _find(call, call.path["slug"], call.path.get("configId"))


@handles("deleteConfigDefault", "deleteConfig")
def delete_config(call: Call) -> object:
    _find(call, call.path["slug"], call.path.get("configId"))
    del call.world.configs[_key(call, call.path["slug"], call.path.get("configId"))]
    return {"message": "config deleted"}


@handles("toggleConfigWorkflow")
def toggle_workflow(call: Call) -> object:
    config = _find(call, call.path["slug"], call.path["configId"])
    enabled = call.need("enabled", bool)
    for workflow in config["workflows"]:
        if workflow["id"] == call.path["workflowId"]:
            workflow["enabled"] = enabled
            toggled: list[dict[str, Any]] = [
                {"id": w["id"], "enabled": w["enabled"], "data_slots": []}
                for w in config["workflows"]
            ]
            return {"workflows": toggled}
    raise ApiError(
        404,
        f"workflow {call.path['workflowId']!r} is not part of this config",
        "WORKFLOW_NOT_FOUND",
    )


@handles("listConfigsForApplication")
def list_configs(call: Call) -> object:
    slug = application(call.path["slug"]).slug
    return [
        {"config_id": config_id, "tenant_config": False}
        for (linked, app_slug, config_id) in call.world.configs
        if linked == call.linked_account_id and app_slug == slug
    ]


def _slug_header(call: Call) -> str:
    slug = call.headers.get("slug")
    if not slug:
        raise ApiError(400, "the slug header is required", "VALIDATION_ERROR")
    return slug


@handles("getConfigFields")
def config_fields(call: Call) -> object:
    return _find(call, _slug_header(call), call.query.get("config_id"))


def _field(call: Call) -> dict[str, Any]:
    config = _find(call, _slug_header(call), call.query.get("config_id"))
    fields = list(config["fields"])
    for workflow in config["workflows"]:
        if workflow["id"] == call.query.get("workflow_id"):
            fields.extend(workflow["fields"])
    for field in fields:
        if field["id"] == call.path["fieldId"]:
            found: dict[str, Any] = field
            return found
    raise ApiError(404, f"config field {call.path['fieldId']!r} not found", "FIELD_NOT_FOUND")


@handles("getConfigFieldOptions")
def field_options(call: Call) -> object:
    field = _field(call)
    options = [{"label": f"Option {n}", "value": f"option_{n}"} for n in (1, 2, 3)]
    return {**field, "options": [] if call.flag("disable_field_options") else options}


@handles("updateConfigField")
def update_field(call: Call) -> object:
    field = _field(call)
    field["value"] = call.fields().get("value")
    return field


@handles("deleteConfigField")
def delete_field(call: Call) -> object:
    field = _field(call)
    field["value"] = None
    return field


@handles("getRuleEngineOptions")
def rule_engine(call: Call) -> object:
    field = _field(call)
    column = call.need("rule_column", dict)
    return {
        "field": field["id"],
        "rule_column": column,
        "options": [{"label": "equals", "value": "eq"}],
    }
