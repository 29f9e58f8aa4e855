"""Org webhooks: register, read, update, delete, and move between groups."""

from __future__ import annotations

import re
from typing import Any

from refold_async.testing._http import ApiError
from refold_async.testing._state import Document

from ._base import Call, find, handles

_URL = re.compile(r"^https?://\S+$")
_METHODS = ("POST", "PUT", "PATCH")
_TYPES = ("default", "slack", "custom")
_UPDATABLE = (
    "webhook_events", "webhook_url", "is_enabled", "webhook_type", "webhook_headers",
    "webhook_body", "slug", "workflow_ids", "method",
)  # fmt: skip


def _check(fields: dict[str, Any], *, creating: bool) -> None:
    if creating or "webhook_url" in fields:
        url = fields.get("webhook_url")
        if not isinstance(url, str) or not _URL.match(url):
            raise ApiError(400, "webhook_url must be an http(s) URL", "VALIDATION_ERROR")
    if creating or "webhook_events" in fields:
        events = fields.get("webhook_events")
        if not isinstance(events, list) or not events:
            raise ApiError(400, "webhook_events needs at least one event", "VALIDATION_ERROR")
    if fields.get("method", "POST") not in _METHODS:
        raise ApiError(400, f"method must be one of {', '.join(_METHODS)}", "VALIDATION_ERROR")
    if fields.get("webhook_type", "default") not in _TYPES:
        raise ApiError(400, f"webhook_type must be one of {', '.join(_TYPES)}", "VALIDATION_ERROR")


@handles("listWebhooks")
def list_webhooks(call: Call) -> object:
    return list(call.world.webhooks.values())


@handles("registerWebhook")
def register(call: Call) -> object:
    fields = call.fields()
    _check(fields, creating=True)
    doc: Document = {
        "_id": call.world.new_id(),
        "org_id": call.world.org_id,
        "environment": call.world.environment,
        "is_enabled": fields.get("is_enabled", True),
        "webhook_events": list(fields["webhook_events"]),
        "webhook_url": fields["webhook_url"],
        "webhook_description": fields.get("webhook_description", ""),
        "webhook_headers": fields.get("webhook_headers") or {},
        "method": fields.get("method", "POST"),
        "webhook_type": fields.get("webhook_type", "default"),
        "workflow_ids": fields.get("workflow_ids") or [],
    }
    for optional in ("webhook_body", "slug", "group"):
        if optional in fields:
            doc[optional] = fields[optional]
    call.world.webhooks[doc["_id"]] = call.world.stamp(doc, created=True)
    return doc


@handles("getWebhookById")
def get_webhook(call: Call) -> object:
    return find(call.world.webhooks, call.path["id"], "webhook")


@handles("updateWebhook")
def update(call: Call) -> object:
    doc = find(call.world.webhooks, call.path["id"], "webhook")
    fields = call.fields()
    _check(fields, creating=False)
    doc.update({name: fields[name] for name in _UPDATABLE if name in fields})
    return call.world.stamp(doc)


@handles("deleteWebhook")
def delete(call: Call) -> object:
    find(call.world.webhooks, call.path["id"], "webhook")
    del call.world.webhooks[call.path["id"]]
    return list(call.world.webhooks.values())


@handles("updateWebhooksGroup")
def edit_group(call: Call) -> object:
    ids = call.need("webhookIds", list)
    docs = [find(call.world.webhooks, str(webhook_id), "webhook") for webhook_id in ids]
    for doc in docs:
        doc["group"] = call.fields().get("group", "")
        call.world.stamp(doc)
    return docs
