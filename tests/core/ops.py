"""Hand-declared operations that exercise the transport without generated code."""

from __future__ import annotations

from typing import Any

import attrs

from refold_async._operation import AuthScope, Operation
from refold_async._pagination import Page


@attrs.frozen(kw_only=True)
class Thing:
    """A small model for decoding tests."""

    id: str
    name: str | None = None
    extra_fields: dict[str, Any] = attrs.field(factory=dict, repr=False)


ORG: Operation[Any] = Operation(
    id="listWebhooks",
    method="GET",
    path="/api/v2/public/webhook",
    auth=AuthScope.ORG_KEY,
    returns=Any,
)
ORG_POST: Operation[Any] = Operation(
    id="createEvent",
    method="POST",
    path="/api/v2/public/application/event",
    auth=AuthScope.ORG_KEY,
    returns=Any,
)
LINKED: Operation[Thing] = Operation(
    id="getExecutionById",
    method="GET",
    path="/api/v2/public/execution/{execution_id}",
    auth=AuthScope.KEY_OR_TOKEN,
    linked_account=True,
    returns=Thing,
)
ORG_LINKED: Operation[Any] = Operation(
    id="createDataref",
    method="POST",
    path="/api/v2/public/dataref",
    auth=AuthScope.ORG_KEY,
    linked_account=True,
    returns=Any,
)
KEY_OR_TOKEN: Operation[Any] = Operation(
    id="upsertLinkedAccount",
    method="PUT",
    path="/api/v2/public/linked-account",
    auth=AuthScope.KEY_OR_TOKEN,
    returns=Any,
)
TOKEN_ONLY: Operation[Any] = Operation(
    id="getHostedProperties",
    method="GET",
    path="/api/v2/public/hosted-properties",
    auth=AuthScope.SESSION_TOKEN,
    returns=Any,
)
TOKEN_ONLY_POST: Operation[Any] = Operation(
    id="createConnectUrl",
    method="POST",
    path="/api/v2/public/connect-url",
    auth=AuthScope.SESSION_TOKEN,
    returns=Any,
)
NO_AUTH: Operation[Any] = Operation(
    id="getAuthStructureForApp",
    method="GET",
    path="/api/v2/public/auth-structure/{slug}",
    auth=AuthScope.NONE,
    returns=Any,
)
DELETE: Operation[None] = Operation(
    id="deleteWebhook",
    method="DELETE",
    path="/api/v2/public/webhook/{id}",
    auth=AuthScope.ORG_KEY,
    returns=None,
)
PAGED: Operation[Page[Thing]] = Operation(
    id="listLinkedAccounts",
    method="GET",
    path="/api/v2/public/linked-account",
    auth=AuthScope.ORG_KEY,
    returns=Page[Thing],
    paginated=True,
)
