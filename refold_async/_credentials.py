"""The credentials of one transport: which one each call sends, and the one each attempt sends.

Before anything is sent (docs/architecture.md §1 and §12):

- `refuse_own()` refuses a path, query or header value that is the client's own key or
  token (it would travel in the URL, into logs);
- `plan()` picks the credentials for the operation's scope (`_auth.plan_auth`), cached per
  operation and linked account;
- `check_scope()` refuses, on a scoped client, a call naming another linked account.

Per attempt, `for_attempt()` gives the `Credential` to send: the API key, the client's
session token, or one minted for the linked account (`_mint.mint_session_token`) and
cached in the `SessionTokenCache`. `authorize()` is the one place a secret's value is
written, into the request's headers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any, cast

from ._arguments import where
from ._auth import AuthPlan, Secret, SessionTokenCache, check_accounts, plan_auth
from ._errors import InvalidArgumentError
from ._operation import Operation
from ._request import LINKED_ACCOUNT_HEADER, RequestParts
from ._types import CallOptions

__all__ = ["Credential", "Credentials", "Mint", "authorize"]

Mint = Callable[[str, bool], Awaitable[tuple[str, float | None]]]
"""Mints a session token for a linked account (`force`: not the server's cached one)."""

_MAX_PLANS = 1024  # auth plans kept per transport, by operation and linked account


class Credential:
    """The credential of one attempt. The secret is revealed only into the request's header,
    so frames that outlive the attempt (a raised error's traceback) never hold it."""

    __slots__ = ("header", "secret")

    def __init__(self, header: str, secret: Secret | None) -> None:
        self.header: str = header
        self.secret: Secret | None = secret

    @property
    def fingerprint(self) -> str:
        return self.secret.fingerprint if self.secret is not None else "anonymous"

    def header_value(self) -> str:
        assert self.secret is not None  # noqa: S101 - callers check first
        value = self.secret.reveal()
        return f"Bearer {value}" if self.header == "authorization" else value


def authorize(headers: MutableMapping[str, str], credential: Credential) -> None:
    """Put the credential on the request: the one place its value is revealed (docs/architecture.md §12).

    No frame that an exception can pass through holds the value: the request's repr
    shows no headers, and this frame ends before anything is sent.
    """
    if credential.secret is not None:
        headers[credential.header] = credential.header_value()


class Credentials:
    """A transport's credentials, its plans per operation, and the session-token cache."""

    def __init__(
        self,
        *,
        api_key: Secret | None,
        session_token: Secret | None,
        linked_account_id: str | None,
        tokens: SessionTokenCache,
        mint: Mint,
    ) -> None:
        self.api_key = api_key
        self.session_token = session_token
        self.linked_account_id = linked_account_id
        self.tokens = tokens
        self._mint = mint
        # Constant per operation (and linked account) for these credentials.
        self._plans: dict[tuple[int, str | None], tuple[Operation[Any], AuthPlan]] = {}
        # A session token, or a pinned linked account: each call's accounts are checked.
        self.scoped: bool = session_token is not None or linked_account_id is not None
        # The lengths of the client's own credentials: an argument of another length
        # cannot be one of them, and costs one set lookup to rule out.
        self._own_lengths = frozenset(
            len(secret.reveal()) for secret in (api_key, session_token) if secret
        )
        self.lazy: LazySecrets = LazySecrets(self)

    # -- before sending ------------------------------------------------------------------

    def refuse_own(
        self,
        op: Operation[Any],
        path: Mapping[str, object] | None,
        query: Mapping[str, object] | None,
        headers: Mapping[str, object] | None,
        options: CallOptions | None,
    ) -> None:
        """Refuse a path, query or header value that is this client's own key or token.

        An API key pasted where an id belongs would otherwise travel in the URL, into
        server and proxy logs, the error's path and the `refold` log lines. The error
        names the argument, never the value. Runs for every call: a value whose length
        is no credential's costs one set lookup.
        """
        lengths = self._own_lengths
        if not lengths:
            return
        error: InvalidArgumentError | None = None
        for mapping in (path, query, headers, *_extras(options)):
            if not mapping:
                continue
            for name, value in mapping.items():
                if type(value) is str:
                    if len(value) in lengths:
                        error = self._own_error(op, name, value)
                elif isinstance(value, list | tuple):
                    error = self._own_error_among(op, name, cast("Sequence[object]", value))
                if error is not None:
                    del path, query, headers, options, mapping, value  # out of this frame
                    raise error

    def plan(
        self,
        op: Operation[Any],
        headers: Mapping[str, object] | None,
        query: Mapping[str, object] | None,
    ) -> AuthPlan:
        """The credentials plan of a call of `op` naming the accounts in `headers`/`query`."""
        in_header = _account((headers or {}).get("linked_account_id"))
        # Some operations name their linked account in the query too (or instead).
        in_query = _account((query or {}).get("linked_account_id"))
        if in_header and in_query and in_header != in_query:
            raise InvalidArgumentError(
                f"{op.id} names two linked accounts ({in_header!r} in the header, "
                f"{in_query!r} in the query): pass one"
            )
        linked = in_header or in_query or self.linked_account_id
        cached = self._plans.get((id(op), linked))
        if cached is not None and cached[0] is op:
            return cached[1]
        plan = plan_auth(
            op,
            api_key=self.api_key,
            session_token=self.session_token,
            linked_account_id=linked,
        )
        if len(self._plans) >= _MAX_PLANS:
            self._plans.clear()  # many linked accounts: start over rather than grow
        self._plans[(id(op), linked)] = (op, plan)
        return plan

    def check_scope(
        self, op: Operation[Any], path: Mapping[str, object] | None, parts: RequestParts
    ) -> None:
        """On a scoped client (`scoped`), refuse a call that names a linked account not its own."""
        check_accounts(
            op,
            _named_accounts(op, path, parts),
            allowed=self.linked_account_id,
            session_token=self.session_token,
            secrets=[s for s in (self.api_key, self.session_token) if s is not None],
        )

    # -- per attempt -----------------------------------------------------------------------

    async def for_attempt(self, plan: AuthPlan, *, force_mint: bool) -> Credential:
        """The credential for this attempt: the key, a token, a minted token, or none."""
        if plan.key is not None:
            return Credential("x-api-key", plan.key)
        token = plan.token
        if plan.mint_for is not None:
            token = await self.tokens.get(plan.mint_for, self._mint, force=force_mint)
        if token is not None:
            return Credential("authorization", token)
        return Credential("", None)

    # -- for scrubbing -----------------------------------------------------------------------

    def all_secrets(self) -> tuple[Secret | None, ...]:
        """Every credential this transport may have used, for scrubbing."""
        return (self.api_key, self.session_token, *self.tokens.secrets())

    def revealed(self, used: Credential) -> list[str]:
        """The values of the attempt's credential and the client's own, for scrubbing."""
        candidates = (used.secret, self.api_key, self.session_token)
        return [secret.reveal() for secret in candidates if secret is not None]

    def _own_error_among(
        self, op: Operation[Any], name: str, values: Sequence[object]
    ) -> InvalidArgumentError | None:
        """The refusal of the first of `values` (a repeated query value) that is a credential."""
        lengths = self._own_lengths
        for item in values:
            if type(item) is str and len(item) in lengths:
                error = self._own_error(op, name, item)
                if error is not None:
                    return error
        return None

    def _own_error(self, op: Operation[Any], name: str, value: str) -> InvalidArgumentError | None:
        """The refusal of `value` if it is this client's own credential (naming `name`)."""
        which = self._own_secret(value)
        if which is None:
            return None
        return InvalidArgumentError(
            f"{where(op)}: {name!r} is this client's own {which}; pass an id there, never a "
            "credential (the value is not shown, nor sent)"
        )

    def _own_secret(self, value: str) -> str | None:
        """`"API key"` or `"session token"` if `value` is that credential of the client."""
        if self.api_key is not None and value == self.api_key.reveal():
            return "API key"
        if self.session_token is not None and value == self.session_token.reveal():
            return "session token"
        return None


class LazySecrets:
    """Every credential of a transport, gathered when iterated (only for an error's text)."""

    __slots__ = ("_credentials",)

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def __iter__(self) -> Iterator[Secret | None]:
        return iter(self._credentials.all_secrets())


def _named_accounts(
    op: Operation[Any], path: Mapping[str, object] | None, parts: RequestParts
) -> list[str]:
    """Every linked account id the request names: header, query, path, body or form."""
    named = [value for name, value in parts.params if name == LINKED_ACCOUNT_HEADER and value]
    header = parts.headers.get(LINKED_ACCOUNT_HEADER)
    if header:
        named.append(header)
    if path and "{linked_account_id}" in op.path:
        named.append(str(path.get("linked_account_id", "")))
    body = parts.json
    if isinstance(body, Mapping):
        fields = cast("Mapping[str, object]", body)
        # `account_id` is another spelling of the id in the linked-account bodies only.
        keys = (
            ("linked_account_id", "account_id") if _names_account_id(op) else ("linked_account_id",)
        )
        named += [str(fields[key]) for key in keys if fields.get(key)]
    named += [value for name, value in parts.form if name == LINKED_ACCOUNT_HEADER and value]
    return named


def _names_account_id(op: Operation[Any]) -> bool:
    return any(p.location == "body" and p.wire_name == "account_id" for p in op.params)


def _account(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _extras(options: CallOptions | None) -> tuple[Mapping[str, object] | None, ...]:
    """The call's `extra_query` and `extra_headers`, when given as mappings."""
    if not options:
        return ()
    found = (options.get("extra_query"), options.get("extra_headers"))
    return tuple(extra for extra in found if isinstance(extra, Mapping))
