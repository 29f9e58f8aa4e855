"""The application catalogue as linked accounts see it: applications, auth structures,
OAuth and hosted-connect URLs, hosted properties, actions and config datastores.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from refold_async.testing._http import ApiError
from refold_async.testing._state import Document

from ._base import Call, handles
from .catalogue import APPLICATIONS, Application, application

HOSTED = "https://connect.emulator.invalid"


def _with_status(app: Application, account: Document | None) -> dict[str, Any]:
    item = app.item()
    if account is None:
        return item
    connected = [i for i in account["integrations"] if i["type"] == app.slug]
    item["connected"] = bool(connected)
    item["connected_accounts"] = [
        {
            "identifier": i["identifier"],
            "auth_type": app.auth_type,
            "connectedAt": i["createdAt"],
            "status": "active",
        }
        for i in connected
    ]
    return item


def _account(call: Call) -> Document | None:
    linked = call.principal.linked_account_id or call.query.get("linked_account_id")
    return call.world.linked_account(linked) if linked else None


@handles("listApplicationsForLinkedAccount")
def list_applications(call: Call) -> object:
    account = _account(call)
    apps = list(APPLICATIONS.values())
    if call.query.get("slug"):
        apps = [a for a in apps if a.slug == call.query["slug"]]
    if call.query.get("auth_type"):
        apps = [a for a in apps if a.auth_type == call.query["auth_type"]]
    return [_with_status(app, account) for app in apps]


@handles("getApplicationBySlug")
def get_application(call: Call) -> object:
    return _with_status(application(call.path["slug"]), _account(call))


@handles("getAuthStructureForApp")
def auth_structure(call: Call) -> object:
    return application(call.path["slug"]).auth_structure()


@handles("getOAuthUrlForLinkedAccount")
def oauth_url(call: Call) -> object:
    app = application(call.path["slug"])
    if app.auth_type != "oauth2":
        raise ApiError(400, f"{app.name} does not use OAuth", "NOT_AN_OAUTH_APP")
    linked = quote(call.linked_account_id, safe="")
    return {"auth_url": f"{HOSTED}/oauth/{app.slug}?linked_account_id={linked}"}


@handles("createConnectUrl")
def connect_url(call: Call) -> object:
    linked = quote(call.linked_account_id, safe="")
    return {"hosted_url": f"{HOSTED}/hosted/{linked}?session={call.world.new_id()}"}


@handles("getHostedProperties")
def hosted_properties(call: Call) -> object:
    return {
        "linked_account_id": call.linked_account_id,
        "org_name": "Emulated Org",
        "primary_color": "#1f6feb",
        "applications": sorted(APPLICATIONS),
    }


@handles("listActions")
def list_actions(call: Call) -> object:
    app = application(call.path["slug"])
    return [
        {"action_id": action_id, "name": name, "tag": tag} for action_id, name, tag in app.actions
    ]


def _action(app: Application, action_id: str) -> tuple[str, str, str]:
    for action in app.actions:
        if action[0] == action_id:
            return action
    raise ApiError(404, f"action {action_id!r} not found for {app.slug}", "ACTION_NOT_FOUND")


@handles("getActionSchema")
def action_schema(call: Call) -> object:
    _action(application(call.path["slug"]), call.path["action_id"])
    return [
        {"name": "input", "label": "Input", "required": True, "type": "string"},
        {"name": "dry_run", "label": "Dry run", "required": False, "type": "boolean"},
    ]


@handles("executeAction")
def execute_action(call: Call) -> object:
    app = application(call.path["slug"])
    action_id, _, _ = _action(app, call.path["action_id"])
    return {"node_status": "Completed", "data": {"action": action_id, "input": call.fields()}}


def _datastore_records(app: Application, name: str) -> list[dict[str, Any]]:
    if name not in app.datastores:
        raise ApiError(404, f"datastore {name!r} not found for {app.slug}", "DATASTORE_NOT_FOUND")
    return [{"_id": f"{name}-{n}", "name": f"{name} {n}", "index": n} for n in range(1, 4)]


@handles("listConfigDatastores")
def list_datastores(call: Call) -> object:
    return list(application(call.path["slug"]).datastores)


@handles("listConfigDatastoreRecords")
def datastore_records(call: Call) -> object:
    return _datastore_records(application(call.path["slug"]), call.path["datastore_name"])


@handles("searchConfigDatastoreRecords")
def search_datastore(call: Call) -> object:
    records = _datastore_records(application(call.path["slug"]), call.path["datastore_name"])
    wanted = call.fields()
    return [r for r in records if all(r.get(k) == v for k, v in wanted.items())]
