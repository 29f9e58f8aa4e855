"""Credentials, their fingerprints, and which one an operation gets (docs/architecture.md §1).

Secrets live only in `Secret` objects, whose repr shows a fingerprint. Anything that
must name a credential (a rate-limit bucket, a log line, a cache) uses the fingerprint:
the first 12 hex digits of the secret's SHA-256.

A client holds exactly one credential, which fixes its mode: the org API key; the org
key pinned to one linked account; or a linked account's session token.
`client_credentials()` resolves it (the environment only when no credential is passed
at all), `plan_auth()` is pure: from the operation's scope and the client's credential it
picks how to authenticate, or raises a `RefoldUsageError` before anything is sent, and
`check_accounts()` refuses a scoped client's call that names another linked account.
`SessionTokenCache` mints session tokens for token-only operations: one mint per linked
account however many calls wait for it, reused until shortly before expiry.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal

import anyio
import attrs
from typing_extensions import override

from ._errors import (
    InvalidArgumentError,
    LinkedAccountScopeError,
    MissingCredentialError,
    MissingLinkedAccountError,
)
from ._native import loop_identity
from ._operation import AuthScope, Operation
from ._types import NotGiven

__all__ = [
    "AuthPlan",
    "Secret",
    "SessionTokenCache",
    "check_accounts",
    "client_credentials",
    "credential",
    "environment_of",
    "plan_auth",
    "take_credentials",
]

Environment = Literal["live", "test"]


class Secret:
    """A credential: its value is reachable only through `reveal()`.

    Example:
        ```python
        key = Secret("tk_...")
        repr(key)  # "Secret(fingerprint='3f2a...')"
        ```
    """

    __slots__ = ("_value", "fingerprint")

    def __init__(self, value: str) -> None:
        self._value = value
        self.fingerprint: str = hashlib.sha256(value.encode()).hexdigest()[:12]

    def reveal(self) -> str:
        """The secret's value, for the one header that carries it."""
        return self._value

    @override
    def __repr__(self) -> str:
        return f"Secret(fingerprint={self.fingerprint!r})"

    @override
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    @override
    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("credentials cannot be pickled")


_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")
_CREDENTIAL_NAMES = ("api_key", "session_token")


def credential(name: str, value: object) -> Secret:
    """Wrap a caller's credential, refusing one that no HTTP header could carry.

    The error never shows the value, and this frame drops it before raising: a key read
    from a file with its trailing newline would otherwise end up in a traceback, or in a
    `capture_locals=True` rendering of one (docs/architecture.md §12). A `Secret` passes through.
    """
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str):
        kind = type(value).__name__
        del value
        raise TypeError(f"{name} must be a str, not {kind}; the value is not shown")
    if not _VISIBLE_ASCII.fullmatch(value):
        del value
        raise InvalidArgumentError(
            f"{name} contains whitespace, a control or a non-ASCII character (a newline "
            "read from a file?); strip it before passing it. The value is not shown."
        )
    return Secret(value)


def client_credentials(
    api_key: str | Secret | NotGiven | None, session_token: str | Secret | NotGiven | None
) -> tuple[Secret | None, Secret | None]:
    """A client's one credential, as a `Secret`: `(key, None)`, `(None, token)` or neither.

    `REFOLD_API_KEY` is read only when neither credential is passed at all: `None` (or
    `""`) passed explicitly means "no such credential", so a client made for a session
    token never picks up the org key from the environment. Passing both is refused: a
    client's calls would otherwise go out with either, depending on the operation. The
    raw values leave this frame before any error passes through it.
    """
    try:
        if isinstance(api_key, NotGiven) and isinstance(session_token, NotGiven):
            api_key = os.environ.get("REFOLD_API_KEY")
        key = credential("api_key", api_key) if api_key else None
        token = credential("session_token", session_token) if session_token else None
    finally:
        del api_key, session_token
    if key is not None and token is not None:
        raise _both_credentials()
    return key, token


def take_credentials(changes: dict[str, Any]) -> dict[str, Secret | None]:
    """Pop `api_key` and `session_token` out of `changes`, as `Secret`s (`None`: drop it).

    For `with_options(**changes)`: called first, so that no frame keeps a raw credential
    in `changes` while the other options are checked. Passing either one switches the
    client's mode, so the answer then has both names: the one not passed becomes `None`.
    """
    raw = {name: changes.pop(name) for name in _CREDENTIAL_NAMES if name in changes}
    taken: dict[str, Secret | None] = {}
    try:
        for name in list(raw):
            taken[name] = credential(name, raw[name]) if raw[name] else None
            del raw[name]
    finally:
        raw.clear()
    if taken:
        for name in _CREDENTIAL_NAMES:
            taken.setdefault(name, None)
        if taken["api_key"] is not None and taken["session_token"] is not None:
            raise _both_credentials()
    return taken


def _both_credentials() -> InvalidArgumentError:
    return InvalidArgumentError(
        "pass api_key or session_token, not both: a client holds one credential. Keep the "
        "org-key client, and derive a session-token one with client.for_session_token(token) "
        "(it shares the connection pool)."
    )


def environment_of(api_key: Secret | None) -> Environment | None:
    """`"live"` for `pk…` keys, `"test"` for `tk…` keys, else `None`."""
    if api_key is None:
        return None
    prefix = api_key.reveal()[:2]
    return "live" if prefix == "pk" else "test" if prefix == "tk" else None


@attrs.frozen(kw_only=True)
class AuthPlan:
    """How one call authenticates.

    Attributes:
        key: The API key to send in `x-api-key`, if any.
        token: The session token to send as a bearer token, if any.
        linked_account_id: The linked account to name in the header, if any.
        mint_for: A linked account whose session token must be minted (or taken from
            the cache) before sending.
    """

    key: Secret | None = None
    token: Secret | None = None
    linked_account_id: str | None = None
    mint_for: str | None = None


def plan_auth(
    op: Operation[object],
    *,
    api_key: Secret | None,
    session_token: Secret | None,
    linked_account_id: str | None,
) -> AuthPlan:
    """Choose the credentials for `op`, or raise before anything is sent.

    Args:
        op: The operation.
        api_key: The client's org API key.
        session_token: The client's session token.
        linked_account_id: The linked account named by the call or bound to the client.
    """
    scope = op.auth
    if scope is AuthScope.NONE:
        return AuthPlan()
    if scope is AuthScope.SESSION_TOKEN:
        if session_token is not None:
            return AuthPlan(token=session_token)
        if api_key is not None and linked_account_id:
            return AuthPlan(mint_for=linked_account_id)
        if api_key is not None:
            raise MissingCredentialError(
                f"{_call_name(op)} needs a linked account's session token; this client has "
                "the API key but no linked account to mint one for: pass linked_account_id=... "
                "to the call, or use client.for_linked_account(...). Nothing was sent.",
                needs="session_token",
            )
        raise _missing(op, session_token, needs="session_token")
    key_plan = _key_plan(op, api_key, linked_account_id)
    if key_plan is not None:
        return key_plan
    if scope is AuthScope.KEY_OR_TOKEN and session_token is not None:
        return AuthPlan(token=session_token)
    if api_key is not None:
        raise MissingLinkedAccountError(
            f"{_call_name(op)} acts on one linked account: pass linked_account_id=... to the "
            "call, or bind one with client.for_linked_account(...)"
        )
    needs = "api_key" if scope is AuthScope.ORG_KEY else "api_key or session_token"
    raise _missing(op, session_token, needs=needs)


def _key_plan(op: Operation[object], api_key: Secret | None, linked: str | None) -> AuthPlan | None:
    if api_key is None:
        return None
    if op.linked_account and not linked and not op.org_level:
        return None
    return AuthPlan(key=api_key, linked_account_id=linked if op.linked_account else None)


_NEEDS = {
    "api_key": "the org API key",
    "session_token": "a session token, or an API key plus a linked account to mint one for",
    "api_key or session_token": "the org API key or a session token",
}


def _missing(
    op: Operation[object], session_token: Secret | None, *, needs: str
) -> MissingCredentialError:
    """The refusal of a call this client holds no credential for, saying which it needs."""
    if session_token is not None:  # only an org-key operation refuses a token
        return MissingCredentialError(
            f"{_call_name(op)} accepts only the org API key; this client holds a session "
            "token, which acts for one linked account only and never sends the key. Make "
            "the call from a client created with api_key=... instead. Nothing was sent.",
            needs=needs,
        )
    # Advise only what can work for this operation's scope.
    advice = {
        AuthScope.ORG_KEY: "Pass api_key=... (or set REFOLD_API_KEY)",
        AuthScope.SESSION_TOKEN: "Pass session_token=..., or api_key=... with a linked account",
    }.get(op.auth, "Pass api_key=... (or set REFOLD_API_KEY) or session_token=...")
    return MissingCredentialError(
        f"{_call_name(op)} needs {_NEEDS[needs]}; this client has none. {advice} when "
        "creating the client.",
        needs=needs,
    )


def _call_name(op: Operation[object]) -> str:
    """How a message names the operation: the method the caller used, and its id."""
    if op.resource and op.name:
        return f"{op.resource}.{op.name}() ({op.id})"
    return op.id


def check_accounts(
    op: Operation[object],
    named: Iterable[str],
    *,
    allowed: str | None,
    session_token: Secret | None,
    secrets: Iterable[Secret],
) -> None:
    """Refuse a scoped client's call that names a linked account other than its own.

    A client is scoped when it holds a session token (which the server ties to one linked
    account) or is pinned to a linked account. Every account the call names, wherever it
    travels, must be `allowed`; a session-token client not told its account may name none.

    Args:
        op: The operation.
        named: The linked account ids the call names.
        allowed: The account the client is pinned to, if any.
        session_token: The client's session token, if it holds one.
        secrets: The client's credentials: an id equal to one is never shown.
    """
    for account in named:
        if account == allowed:
            continue
        shown = _shown_id(account, secrets)
        if allowed is None:
            message = (
                f"{_call_name(op)} names linked account {shown}, but this client holds a "
                "session token, which acts for its own linked account only, and was not told "
                "which one that is. Leave the account out (the token names it), or create "
                "the client with linked_account_id=... (or for_session_token(token, "
                "linked_account_id=...)) to name that one account in calls."
            )
        else:
            held = "a session token for" if session_token is not None else "the org key, pinned to"
            message = (
                f"{_call_name(op)} names linked account {shown}, but this client holds {held} "
                f"linked account {allowed!r} and acts for it only. Call it from an unpinned "
                "org-key client, or with that account's session token. Nothing was sent."
            )
        raise LinkedAccountScopeError(message, needs="api_key or session_token", allowed=allowed)


def _shown_id(account: str, secrets: Iterable[Secret]) -> str:
    """The id as an error may show it: never a value equal to one of the client's secrets."""
    # By fingerprint: the id is the caller's text, not a credential to wrap.
    fingerprint = hashlib.sha256(account.encode()).hexdigest()[:12]
    if any(secret.fingerprint == fingerprint for secret in secrets):
        return "(a value equal to one of this client's credentials, not shown)"
    return repr(account)


@attrs.frozen
class _Minted:
    token: Secret
    refresh_at: float


Mint = Callable[[str, bool], Awaitable[tuple[str, float | None]]]
"""Mints a token for a linked account (forcing a new one if told): the token and its
lifetime in seconds."""


class SessionTokenCache:
    """Session tokens minted with the API key, one per linked account.

    Concurrent calls for the same account wait for a single mint (per event loop). A token
    is reused until `refresh_margin` seconds before it expires, whichever loop asks;
    `invalidate()` drops one after a 401.
    """

    def __init__(
        self,
        *,
        refresh_margin: float = 60.0,
        default_lifetime: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tokens: dict[str, _Minted] = {}
        # Locks per event loop: a lock (its waiters) belongs to one loop, and a client may
        # outlive its loop (successive asyncio.run() or trio.run() calls) or serve two.
        self._locks: weakref.WeakKeyDictionary[object, dict[str, anyio.Lock]]
        self._locks = weakref.WeakKeyDictionary()
        self._refresh_margin = refresh_margin
        self._default_lifetime = default_lifetime
        self._clock = clock

    async def get(self, linked_account_id: str, mint: Mint, *, force: bool = False) -> Secret:
        """The cached token for the account, minting one if there is none or it is stale.

        With `force`, a mint (if one is needed) asks the server for a new token rather
        than the one it holds.
        """
        fresh = self._fresh(linked_account_id)
        if fresh is not None:
            return fresh
        locks = self._locks.setdefault(loop_identity(), {})
        lock = locks.setdefault(linked_account_id, anyio.Lock())
        async with lock:
            fresh = self._fresh(linked_account_id)
            if fresh is not None:
                return fresh
            value, lifetime = await mint(linked_account_id, force)
            token = Secret(value)
            del value  # docs/architecture.md §12: only the Secret stays in this frame
            lifetime = self._default_lifetime if lifetime is None else lifetime
            # Refresh early, but never so early that a short-lived token is never reused.
            margin = min(self._refresh_margin, lifetime / 2)
            minted = _Minted(token, self._clock() + lifetime - margin)
            self._tokens[linked_account_id] = minted
            return minted.token

    def invalidate(self, linked_account_id: str, token: Secret) -> None:
        """Forget the account's token if it is still `token` (a 401 came back for it)."""
        current = self._tokens.get(linked_account_id)
        if current is not None and current.token == token:
            del self._tokens[linked_account_id]

    def secrets(self) -> list[Secret]:
        """Every token held, for scrubbing them out of error text."""
        return [minted.token for minted in list(self._tokens.values())]

    def _fresh(self, linked_account_id: str) -> Secret | None:
        minted = self._tokens.get(linked_account_id)
        if minted is None or self._clock() >= minted.refresh_at:
            return None
        return minted.token
