"""Who is calling, and may they call this operation (docs/architecture.md §1), as the API decides.

- `x-api-key`: an unknown key is 401. Each key opens its own `World`, so test (`tk…`)
  and production (`pk…`) keys never see each other's data.
- `Authorization: Bearer <session token>`: unknown, revoked or expired tokens are 401.
  A token acts for the one linked account it was minted for; naming another account in
  the `linked_account_id` header is 403.
- Org-level operations (`AuthScope.ORG_KEY`) refuse a valid session token with **403**:
  the caller is known but this credential may not do that. A missing or unusable
  credential is 401.
- Linked-account operations called with the key need the `linked_account_id` header
  (400 without it) naming an existing account (404 otherwise).
- Operations that take only a session token answer 401 to a bare API key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import attrs

from refold_async._operation import AuthScope, Operation

from ._http import ApiError
from ._state import TokenRecord, World, fingerprint

__all__ = ["ANONYMOUS", "Principal", "authenticate", "credential_of"]

ANONYMOUS = "anonymous"
LINKED_ACCOUNT_HEADER = "linked_account_id"


@attrs.frozen(kw_only=True)
class Principal:
    """The authenticated caller of one request.

    Attributes:
        world: The state the caller sees (`None` for operations without auth).
        via: Which credential authenticated the call.
        linked_account_id: The linked account acted on: the token's, or the header's.
        token: The session token record, when one was used.
    """

    world: World | None
    via: Literal["key", "token", "none"]
    linked_account_id: str | None = None
    token: TokenRecord | None = None


def bearer_of(headers: Mapping[str, str]) -> str | None:
    """The bearer token in the `Authorization` header, if any."""
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def credential_of(headers: Mapping[str, str]) -> str:
    """The presented credential's fingerprint (the rate-limit bucket), else `anonymous`."""
    secret = headers.get("x-api-key") or bearer_of(headers)
    return fingerprint(secret) if secret else ANONYMOUS


def authenticate(
    op: Operation[Any],
    headers: Mapping[str, str],
    *,
    worlds: Mapping[str, World],
    tokens: Mapping[str, TokenRecord],
    now: float,
) -> Principal:
    """Authenticate the request for `op`, or raise the `ApiError` the API would answer."""
    if op.auth is AuthScope.NONE:
        return Principal(world=None, via="none")
    key = headers.get("x-api-key")
    bearer = bearer_of(headers)
    if op.auth is AuthScope.SESSION_TOKEN or (key is None and bearer is not None):
        if bearer is None:
            raise ApiError(
                401,
                f"{op.id} needs a linked account session token (Authorization: Bearer)",
                "TOKEN_REQUIRED",
            )
        principal = _token_principal(bearer, headers, worlds=worlds, tokens=tokens, now=now)
        if op.auth is AuthScope.ORG_KEY:
            raise ApiError(
                403,
                f"{op.id} is an org-level operation: session tokens are refused",
                "FORBIDDEN_FOR_TOKEN",
            )
        return principal
    if key is None:
        raise ApiError(401, "missing credentials: send the x-api-key header", "UNAUTHORIZED")
    world = worlds.get(key)
    if world is None:
        raise ApiError(401, "invalid API key", "INVALID_API_KEY")
    return _key_principal(op, world, headers)


def _key_principal(op: Operation[Any], world: World, headers: Mapping[str, str]) -> Principal:
    if not op.linked_account:
        return Principal(
            world=world, via="key", linked_account_id=headers.get(LINKED_ACCOUNT_HEADER) or None
        )
    linked = headers.get(LINKED_ACCOUNT_HEADER)
    if not linked and op.org_level:
        return Principal(world=world, via="key", linked_account_id=None)
    if not linked:
        raise ApiError(
            400,
            f"{op.id} with an API key needs the linked_account_id header",
            "LINKED_ACCOUNT_ID_REQUIRED",
        )
    world.linked_account(linked)
    return Principal(world=world, via="key", linked_account_id=linked)


def _token_principal(
    bearer: str,
    headers: Mapping[str, str],
    *,
    worlds: Mapping[str, World],
    tokens: Mapping[str, TokenRecord],
    now: float,
) -> Principal:
    record = tokens.get(bearer)
    if record is None or record.revoked:
        raise ApiError(401, "invalid or revoked session token", "INVALID_TOKEN")
    if not record.usable(now):
        raise ApiError(401, "session token expired", "TOKEN_EXPIRED")
    world = worlds[record.world_key]
    if record.linked_account_id not in world.linked_accounts:
        raise ApiError(401, "the token's linked account no longer exists", "INVALID_TOKEN")
    named = headers.get(LINKED_ACCOUNT_HEADER)
    if named and named != record.linked_account_id:
        raise ApiError(
            403, "this session token belongs to another linked account", "LINKED_ACCOUNT_MISMATCH"
        )
    return Principal(
        world=world, via="token", linked_account_id=record.linked_account_id, token=record
    )
