"""Linked accounts, their integrations and credentials, and session tokens.

Creating a linked account, or connecting an app to one, announces `Connection Created`
to the world's webhooks (with the app's `slug` for an app); deleting either announces
`Connection Deleted`.
"""

from __future__ import annotations

from email.utils import formatdate
from typing import Any

from refold_async.testing._http import ApiError
from refold_async.testing._state import Backend, Document, TokenRecord, World

from ._base import Call, as_object, handles, opaque_token, paginate
from .catalogue import application


def _udf(value: object) -> list[dict[str, str]]:
    fields = as_object(value) or {}
    return [{"key_name": str(k), "key_value": str(v)} for k, v in fields.items()]


def new_account(world: World, linked_account_id: str, fields: dict[str, Any]) -> Document:
    """Create and store a linked account document."""
    doc: Document = {
        "_id": world.new_id(),
        "associated_org": world.org_id,
        "account_id": linked_account_id,
        "name": fields.get("name") or linked_account_id,
        "environment": world.environment,
        "udf": _udf(fields.get("udf")),
        "is_seed": False,
        "tenant_account_id": None,
        "integrations": [],
    }
    world.linked_accounts[linked_account_id] = world.stamp(doc, created=True)
    return doc


def announce(call: Call, event: str, linked_account_id: str, slug: str | None = None) -> None:
    """Record a connection event of the caller's world for its webhooks."""
    announce_for(call.backend, call.world, event, linked_account_id, slug, call.wall)


def announce_for(
    backend: Backend, world: World, event: str, linked_account_id: str, slug: str | None,
    wall: float,
) -> None:  # fmt: skip
    """Record a connection event (dated `wall`, as an HTTP date) for the world's webhooks."""
    payload: Document = {
        "org_id": world.org_id,
        "environment": world.environment,
        "linked_account_id": linked_account_id,
        "createdAt": formatdate(wall, usegmt=True),
    }
    if slug is not None:
        payload["slug"] = slug
    backend.emit(world, event, payload)


def _account_id_of(call: Call) -> str:
    fields = call.fields()
    value = fields.get("linked_account_id") or fields.get("account_id")
    if not isinstance(value, str) or not value:
        raise ApiError(400, "body field 'linked_account_id' is required", "VALIDATION_ERROR")
    return value


def _with_variable(world: World, name: str, value: str | None) -> set[str]:
    """The linked accounts holding a value of the variable `name` (equal to `value`, if given)."""
    definitions = {d["_id"] for d in world.variables.values() if d["name"] == name}
    return {
        str(v.get("linked_account_id"))
        for v in world.values.values()
        if v["variable_definition_id"] in definitions and (value is None or v["value"] == value)
    }


@handles("listLinkedAccounts")
def list_accounts(call: Call) -> object:
    accounts = list(call.world.linked_accounts.values())
    name = call.query.get("env_variable_name")
    if name:
        holders = _with_variable(call.world, name, call.query.get("env_variable_value"))
        accounts = [a for a in accounts if a["account_id"] in holders]
    return paginate(call, accounts)


@handles("createLinkedAccount")
def create_account(call: Call) -> object:
    linked = _account_id_of(call)
    if linked in call.world.linked_accounts:
        raise ApiError(409, f"linked account {linked!r} already exists", "LINKED_ACCOUNT_EXISTS")
    doc = new_account(call.world, linked, call.fields())
    announce(call, "Connection Created", linked)
    return doc


@handles("upsertLinkedAccount")
def upsert_account(call: Call) -> object:
    token_account = call.principal.linked_account_id if call.principal.via == "token" else None
    linked = token_account or _account_id_of(call)
    fields = {**call.fields(), **(as_object(call.fields().get("payload")) or {})}
    doc = call.world.linked_accounts.get(linked)
    if doc is None:
        doc = new_account(call.world, linked, fields)
        announce(call, "Connection Created", linked)
        return doc
    if fields.get("name"):
        doc["name"] = fields["name"]
    if "udf" in fields:
        doc["udf"] = _udf(fields["udf"])
    return call.world.stamp(doc)


def _own_account(call: Call, linked: str) -> Document:
    if call.principal.via == "token" and linked != call.principal.linked_account_id:
        raise ApiError(
            403, "this session token belongs to another linked account", "LINKED_ACCOUNT_MISMATCH"
        )
    return call.world.linked_account(linked)


@handles("getLinkedAccountById")
def get_account(call: Call) -> object:
    return _own_account(call, call.path["linked_account_id"])


@handles("getLinkedAccountBySessionToken")
def account_of_token(call: Call) -> object:
    return call.world.linked_account(call.linked_account_id)


@handles("deleteLinkedAccount")
def delete_account(call: Call) -> object:
    linked = call.path["linked_account_id"]
    call.world.linked_account(linked)
    del call.world.linked_accounts[linked]
    announce(call, "Connection Deleted", linked)
    for record in call.backend.tokens.values():
        if record.world_key == call.world.api_key and record.linked_account_id == linked:
            record.revoked = True
    return {"message": f"linked account {linked} deleted"}


def connect(call: Call, account: Document, slug: str, credentials: dict[str, Any]) -> Document:
    """Add (or refresh) the account's integration with the application `slug`."""
    app = application(slug)
    account["integrations"] = [i for i in account["integrations"] if i["type"] != slug]
    integration = {
        "_id": call.world.new_id(),
        "type": slug,
        "name": app.name,
        "icon": None,
        "identifier": account["account_id"],
        "app_id": app.app_id,
        "credentials": dict.fromkeys(credentials, "********"),
        "refresh_token_expired": False,
        "reauth_required": False,
        "connections": {},
    }
    account["integrations"].append(call.world.stamp(integration, created=True))
    call.world.stamp(account)
    announce(call, "Connection Created", account["account_id"], slug)
    return integration


@handles("deleteIntegration")
def delete_integration(call: Call) -> object:
    account = call.world.linked_account(
        call.query.get("linked_account_id") or call.linked_account_id
    )
    slug = call.path["slug"]
    before = len(account["integrations"])
    account["integrations"] = [i for i in account["integrations"] if i["type"] != slug]
    if len(account["integrations"]) == before:
        raise ApiError(
            404, f"no {slug!r} integration on this linked account", "INTEGRATION_NOT_FOUND"
        )
    announce(call, "Connection Deleted", account["account_id"], slug)
    return call.world.stamp(account)


@handles("saveKeyBasedAppCredentials")
def save_key_credentials(call: Call) -> object:
    account = call.world.linked_account(call.linked_account_id)
    integration = connect(call, account, call.path["slug"], call.fields())
    return {"success": True, "integration_id": integration["_id"]}


@handles("migrateTokenForLinkedAccount")
def migrate_token(call: Call) -> object:
    account = call.world.linked_account(call.linked_account_id)
    auth_object = call.need("auth_object", dict)
    connect(call, account, call.need("slug"), auth_object)
    return {"success": True, "message": "token migrated"}


@handles("upsertDefaultAppAuthCredential")
def upsert_default_credential(call: Call) -> object:
    key = (call.linked_account_id, call.path["key"])
    if "value" not in call.fields():
        raise ApiError(400, "body field 'value' is required", "VALIDATION_ERROR")
    action = "updated" if key in call.world.default_credentials else "added"
    call.world.default_credentials[key] = call.fields()["value"]
    return {"success": True, "message": f"credential {action}", "action": action}


@handles("deleteDefaultAppAuthCredential")
def delete_default_credential(call: Call) -> object:
    key = (call.linked_account_id, call.path["key"])
    if call.world.default_credentials.pop(key, None) is None:
        raise ApiError(
            404, f"no credential {key[1]!r} for this linked account", "CREDENTIAL_NOT_FOUND"
        )
    return {"success": True, "message": "credential deleted"}


def mint(call: Call, linked: str) -> TokenRecord:
    """Store and return a fresh session token for the linked account."""
    settings = call.backend.settings
    record = TokenRecord(
        token=opaque_token("emu_sess"),
        refresh_token=opaque_token("emu_refresh"),
        world_key=call.world.api_key,
        linked_account_id=linked,
        expires_at=call.now + settings.token_ttl,
        refresh_expires_at=call.now + settings.refresh_ttl,
    )
    call.backend.tokens[record.token] = record
    return record


@handles("generateSessionTokenForLinkedAccount")
def session_token(call: Call) -> object:
    linked = call.fields().get("linked_account_id") or call.query.get("linked_account_id")
    if not isinstance(linked, str) or not linked:
        raise ApiError(400, "body field 'linked_account_id' is required", "VALIDATION_ERROR")
    call.world.linked_account(linked)
    record = (
        None
        if call.flag("force_refresh")
        else call.backend.live_token_for(call.world.api_key, linked, call.now)
    )
    record = record or mint(call, linked)
    return {
        "token": record.token,
        "refresh_token": record.refresh_token,
        "expires_in": max(0, int(record.expires_at - call.now)),
        "refresh_expires_in": max(0, int(record.refresh_expires_at - call.now)),
        "is_api_token": False,
    }


@handles("revokeLinkedAccountSessionToken")
def revoke_token(call: Call) -> object:
    record = call.principal.token
    if record is None:
        raise ApiError(401, "revoking needs the session token itself", "TOKEN_REQUIRED")
    record.revoked = True
    return {"success": True, "revoked_count": 1}
