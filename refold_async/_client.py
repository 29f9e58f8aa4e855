"""`AsyncRefold`: the client's options, credentials and resource namespaces.

The client holds settings; every request goes through its `Transport`. Clients derived
with `with_options()` or `for_linked_account()` share the connection pool, the session
token cache and (through the process-wide limiter) the rate-limit bucket;
`for_session_token()` shares the pool and the limiter (the token has its own bucket).

A client holds one credential, which fixes what it may call (see `_auth`): the org key;
the org key pinned to one linked account; or a session token. A pinned client, and every
client derived from it, acts for its account only.

The pool the client makes for itself (`PerLoopPool`, on the SDK's own transport) keeps
one keep-alive pool per event loop, because connections belong to the loop that opened
them: a client made at module level works across successive `asyncio.run()` calls, and
each loop's connections are closed when that loop shuts down.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast, overload

import attrs
import httpx
from typing_extensions import Self, TypedDict, Unpack, override

from ._auth import (
    Secret,
    SessionTokenCache,
    client_credentials,
    credential,
    environment_of,
    take_credentials,
)
from ._custom_request import RequestAuth, send_request
from ._errors import EnvironmentMismatchError, InvalidArgumentError, LinkedAccountScopeError
from ._exchange import DEFAULT_MAX_RESPONSE_BYTES
from ._logs import configure_from_env
from ._options import check_base_url, check_client_options, check_default_headers
from ._pool import PerLoopPool
from ._ratelimit import RateLimit, RateLimiter, UnlimitedRateLimiter, shared_host_limiter
from ._ratelimit._adaptive import adaptive
from ._request import (
    KeywordsChecked,
    check_header_value,
    check_max_response_bytes,
    refuse_unknown,
)
from ._reservation import Reservation
from ._retry import RetryPolicy
from ._transport import Transport, TransportConfig
from ._types import NOT_GIVEN, NotGiven
from ._url import never_leaves_machine
from ._useragent import AppInfo, user_agent
from .resources import AsyncResourceNamespaces

if TYPE_CHECKING:
    from ._tracing import CallTracer, TracerProviderLike
    from .batch import BatchOptions, BatchReport

__all__ = ["DEFAULT_BASE_URL", "AsyncRefold", "ClientOptions", "PerLoopPool"]

DEFAULT_BASE_URL = "https://app.refold.ai"
DEFAULT_TIMEOUT = 60.0
DEFAULT_RATE_LIMIT = RateLimit()
_REQUEST_KEYWORDS = (
    "query", "body", "headers", "auth", "cast_to", "linked_account_id", "timeout",
    "max_queue_wait", "max_response_bytes",
)  # fmt: skip
Environment = Literal["live", "test"]
T = TypeVar("T")
R = TypeVar("R")


class ClientOptions(TypedDict, total=False):
    """Settings `with_options()` can change (see `AsyncRefold` for their meaning)."""

    api_key: str | None
    session_token: str | None
    linked_account_id: str | None
    base_url: str
    timeout: float | None
    retry: RetryPolicy
    rate_limit: RateLimit | None
    rate_limiter: RateLimiter | None
    max_queue_wait: float | None
    default_headers: Mapping[str, str]
    expect_environment: Environment | None
    max_response_bytes: int
    app_info: AppInfo | None
    tracing: bool | TracerProviderLike


class AsyncRefold(KeywordsChecked, AsyncResourceNamespaces):
    """The asynchronous Refold client.

    Args:
        api_key: The org API key (`pk…` live, `tk…` test). Read from `REFOLD_API_KEY`
            only when neither `api_key` nor `session_token` is passed; `None` means no key.
        session_token: A linked account's session token instead of the key: the client
            then sends only `Authorization: Bearer`, and refuses org-level operations and
            other accounts' ids before sending. Pass one of `api_key` and `session_token`.
        linked_account_id: Pin the client to this linked account: linked-account
            operations act on it, and a call naming another account is refused before
            sending (`LinkedAccountScopeError`).
        base_url: The API's address. Defaults to `REFOLD_BASE_URL`, else
            `https://app.refold.ai`. Plain `http` is refused except for loopback hosts.
        timeout: Seconds per request (connect, read, write and pool each).
        retry: The retry policy (`RetryPolicy()` by default).
        rate_limit: The server's budget to stay within, shared by every client of this
            host that uses the key (`HostRateLimiter`); `None` turns limiting off.
        rate_limiter: A limiter of your own, replacing `rate_limit`'s host-wide one:
            `LocalRateLimiter` (one budget per process) or `RedisRateLimiter` (one
            budget across machines).
        max_queue_wait: Seconds a call may wait for its rate-limit slot; a slot further
            away raises `RateLimitQueueTimeout` without sending (`None`: wait).
        http_client: An `httpx.AsyncClient` of your own; you keep the job of closing it.
            Every request goes through its `send()` (its hooks, auth and cookies apply).
        transport: An `httpx.AsyncBaseTransport` for the client's own pool to send through
            instead of its connections (`httpx.MockTransport` in tests, for example); it
            is called directly, and closed with the client. Not with `http_client`.
        default_headers: Headers sent with every request.
        expect_environment: `"test"` or `"live"`: refuse a key of the other environment.
        max_response_bytes: The largest response body accepted, counted decoded (32 MiB
            by default); a larger one raises `APIResponseTooLargeError`.
        app_info: Your application, added to the `User-Agent` of this client's requests
            (instead of the process's `set_app_info()`).
        tracing: `True` for an OpenTelemetry span per call through the global tracer
            provider, or a `TracerProvider` to use instead; needs `refold[otel]`.
            Off by default.

    The `REFOLD_LOG` environment variable (`info` or `debug`), read when a client is
    made, sends the `refold` logger's records to stderr (see the logging guide).

    Example:
        ```python
        async with AsyncRefold(api_key="tk_...") as client:
            async for account in client.linked_accounts.list(limit=100):
                print(account.id)
        ```
    """

    def __init__(
        self,
        *,
        api_key: str | NotGiven | None = NOT_GIVEN,
        session_token: str | NotGiven | None = NOT_GIVEN,
        linked_account_id: str | None = None,
        base_url: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        rate_limit: RateLimit | None = DEFAULT_RATE_LIMIT,
        rate_limiter: RateLimiter | None = None,
        max_queue_wait: float | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        default_headers: Mapping[str, str] | None = None,
        expect_environment: Environment | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        app_info: AppInfo | None = None,
        tracing: bool | TracerProviderLike = False,
    ) -> None:
        # docs/architecture.md §12: the raw credentials leave this frame before any check can raise,
        # so a traceback rendered with capture_locals=True shows fingerprints only.
        try:
            key, token = client_credentials(api_key, session_token)
        finally:
            del api_key, session_token
        try:
            check_client_options(locals())
            url = _check_base_url(base_url or os.environ.get("REFOLD_BASE_URL") or DEFAULT_BASE_URL)
        finally:
            del base_url  # a refused one may hold a password: not left in this frame
        config = TransportConfig(
            base_url=url,
            api_key=key,
            session_token=token,
            linked_account_id=_linked_account(linked_account_id),
            default_headers=_check_headers(default_headers or {}),
            timeout=timeout,
            retry=retry or RetryPolicy(),
            limiter=_limiter(rate_limit, rate_limiter),
            max_queue_wait=_check_queue_wait(max_queue_wait),
            max_response_bytes=check_max_response_bytes(max_response_bytes),
            user_agent=_user_agent(app_info),
            tracer=_tracer(tracing, url),
        )
        configure_from_env()
        self._options = _Settings(
            rate_limit=rate_limit, rate_limiter=rate_limiter, expect=expect_environment
        )
        _check_environment(config.api_key, expect_environment)
        self._owns_http = http_client is None
        if http_client is not None and transport is not None:
            raise InvalidArgumentError(
                "pass http_client= or transport=, not both: a client of yours has its own transport"
            )
        http = http_client or PerLoopPool(
            timeout=timeout,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            transport=transport,
        )
        self._transport = Transport(config, http=http, tokens=SessionTokenCache())

    @property
    def environment(self) -> Environment | None:
        """`"live"` for a `pk…` key, `"test"` for a `tk…` key, `None` without a key."""
        return environment_of(self._transport.config.api_key)

    @property
    def base_url(self) -> str:
        """The API's address."""
        return self._transport.config.base_url

    @property
    def linked_account_id(self) -> str | None:
        """The linked account this client is pinned to, if any."""
        return self._transport.config.linked_account_id

    def with_options(self, **changes: Unpack[ClientOptions]) -> Self:
        """A client with some settings changed, sharing this one's pool and bucket.

        Passing `api_key` or `session_token` replaces the credential whole (a client holds
        one: the other is dropped). A client pinned to a linked account stays pinned to it.

        Example:
            ```python
            patient = client.with_options(timeout=120, retry=RetryPolicy(max_attempts=8))
            ```
        """
        secrets = take_credentials(cast("dict[str, Any]", changes))  # first (architecture §12)
        new_url = _take_base_url(cast("dict[str, Any]", changes))  # it may hold a password
        refuse_unknown("with_options()", changes, ClientOptions.__annotations__)
        check_client_options(changes, derived=True)
        config = self._transport.config
        settings = attrs.evolve(
            self._options,
            rate_limit=changes.get("rate_limit", self._options.rate_limit),
            rate_limiter=changes.get("rate_limiter", self._options.rate_limiter),
            expect=changes.get("expect_environment", self._options.expect),
        )
        new_config = attrs.evolve(
            config,
            base_url=config.base_url if new_url is None else new_url,
            api_key=secrets.get("api_key", config.api_key),
            session_token=secrets.get("session_token", config.session_token),
            linked_account_id=_pin(config.linked_account_id, changes["linked_account_id"])
            if "linked_account_id" in changes
            else config.linked_account_id,
            default_headers={
                **config.default_headers,
                **_check_headers(changes.get("default_headers", {})),
            },
            timeout=changes.get("timeout", config.timeout),
            retry=changes.get("retry", config.retry),
            limiter=_limiter(settings.rate_limit, settings.rate_limiter),
            max_queue_wait=_check_queue_wait(changes["max_queue_wait"])
            if "max_queue_wait" in changes
            else config.max_queue_wait,
            max_response_bytes=check_max_response_bytes(
                changes.get("max_response_bytes", config.max_response_bytes)
            ),
            user_agent=_user_agent(changes["app_info"])
            if "app_info" in changes
            else config.user_agent,
        )
        new_config = attrs.evolve(
            new_config,
            tracer=_tracer(changes["tracing"], new_config.base_url)
            if "tracing" in changes
            else None
            if config.tracer is None
            else config.tracer.for_base_url(new_config.base_url),
        )
        _check_environment(new_config.api_key, settings.expect)
        same_identity = (
            new_config.api_key == config.api_key and new_config.base_url == config.base_url
        )
        return self._derived(
            new_config, settings, tokens=None if same_identity else SessionTokenCache()
        )

    def for_linked_account(self, linked_account_id: str) -> Self:
        """A client pinned to one linked account, sharing this one's pool and bucket.

        Made for a request handler: derive it from the app's shared client for the
        authenticated user's account. It costs a few microseconds (no new pool, no new
        limiter). Its calls act on that account, and a call naming another one (an
        argument, the path, the query or the body) raises `LinkedAccountScopeError`
        before sending; so does deriving a client for another account from it.

        Example:
            ```python
            scoped = client.for_linked_account(user.account_id)
            page = await scoped.executions.list()  # this account's executions only
            ```
        """
        if not isinstance(cast("object", linked_account_id), str):
            raise TypeError(
                f"linked_account_id must be a str, not {type(linked_account_id).__name__}"
            )
        if not linked_account_id:
            raise InvalidArgumentError("linked_account_id may not be empty")
        config = self._transport.config
        pinned = _pin(config.linked_account_id, linked_account_id)
        return self._derived(attrs.evolve(config, linked_account_id=pinned), self._options)

    def for_session_token(
        self, session_token: str, *, linked_account_id: str | None = None
    ) -> Self:
        """A client that authenticates with a linked account's session token only.

        For a token your frontend minted, used server-side for that user: the client
        shares this one's pool and rate limiter, sends only `Authorization: Bearer` (never
        this client's API key), and refuses org-level operations and other accounts' ids
        before sending. `linked_account_id` names the token's account, so that calls may
        name it too (a client pinned already keeps its account). Costs microseconds.

        Example:
            ```python
            scoped = client.for_session_token(token, linked_account_id=user.account_id)
            await scoped.linked_accounts.retrieve_current()
            ```
        """
        try:
            if session_token == "":
                raise InvalidArgumentError("session_token may not be empty")
            token = credential("session_token", session_token)
        finally:
            del session_token  # a traceback rendered with its locals shows the Secret only
        config = self._transport.config
        pinned = config.linked_account_id
        if linked_account_id is not None:
            pinned = _pin(pinned, linked_account_id)
        new_config = attrs.evolve(
            config, api_key=None, session_token=token, linked_account_id=pinned
        )
        # Its own token cache: it mints nothing, and holds none of this client's tokens.
        return self._derived(new_config, self._options, tokens=SessionTokenCache())

    def _derived(
        self,
        config: TransportConfig,
        settings: _Settings,
        *,
        tokens: SessionTokenCache | None = None,
    ) -> Self:
        """A client on `config`, sharing this one's pool (and token cache unless given)."""
        clone = object.__new__(type(self))
        clone._options = settings
        clone._owns_http = False
        clone._transport = self._transport.derive(config, tokens=tokens)
        return clone

    async def batch(
        self,
        items: Iterable[T] | AsyncIterable[T],
        fn: Callable[[Self, T], Awaitable[R]],
        **options: Unpack[BatchOptions],
    ) -> BatchReport[T, R]:
        """Run `await fn(client, item)` for every item, within the rate budget.

        Items are taken lazily and in order, as many in flight as keep the rate limiter
        busy. Each ends `succeeded`, `failed` or `unknown` (a POST or PATCH whose answer
        was lost: never sent again unless `retry_unknown=True`). See `BatchOptions` for
        the journal, progress, shards and the rest, and docs/architecture.md §11.

        Raises:
            BatchInterrupted: After Ctrl-C or SIGTERM, carrying the partial report.
            JournalMismatchError: `journal` belongs to another job, or is not a journal.
            JournalLockedError: Another run holds `journal`.
            JournalWriteError: The journal could not be written (a full disk): the run
                stopped, sending nothing it could not record; carries the partial report.

        Example:
            ```python
            async def onboard(client: AsyncRefold, account_id: str) -> None:
                await client.linked_accounts.upsert(linked_account_id=account_id)


            report = await client.batch(ids, onboard, journal="onboard.jsonl")
            print(report.summary())
            ```
        """
        from .batch._runner import bind_reconcile, rate_of, run_batch  # loaded on first use

        invoke = partial(fn, self)
        reconcile = bind_reconcile(options, self)
        return await run_batch(
            items, invoke, options, fn=fn, rate=rate_of(self), reconcile=reconcile
        )

    def reserve(self, count: int, *, max_wait: float | NotGiven | None = NOT_GIVEN) -> Reservation:
        """Reserve `count` rate-limit slots up front, for a unit of work that needs them all.

        `async with client.reserve(k):` either reserves k slots in the limiter's shared
        state (host-wide by default, or in Redis) within `max_wait`, or raises
        `RateLimitQueueTimeout` before the first call, so a handler is refused whole
        rather than shed between its calls. Calls inside the block take the reserved
        slots in order; calls past k wait for the limiter as usual. Slots not taken
        are handed back on exit when nothing was reserved after them.

        Args:
            count: Calls the work will make (at least 1).
            max_wait: Seconds the last slot may be away (default: the client's
                `max_queue_wait`; None: no bound).

        Example:
            ```python
            async with client.reserve(2, max_wait=5):
                account = await client.linked_accounts.retrieve(account_id)
                await client.executions.list(linked_account_id=account.id)
            ```
        """
        bound = self._transport.config.max_queue_wait
        if not isinstance(max_wait, NotGiven):
            bound = _check_queue_wait(max_wait)
        transport = self._transport
        return Reservation(transport.config.limiter, transport.bucket_of_client(), count, bound)

    @overload
    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, object] | None = None,
        body: object = None,
        headers: Mapping[str, str] | None = None,
        auth: RequestAuth = "key_or_token",
        cast_to: type[T],
        linked_account_id: str | NotGiven = NOT_GIVEN,
        timeout: float | NotGiven | None = NOT_GIVEN,
        max_queue_wait: float | NotGiven | None = NOT_GIVEN,
        max_response_bytes: int | NotGiven = NOT_GIVEN,
    ) -> T: ...
    @overload
    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, object] | None = None,
        body: object = None,
        headers: Mapping[str, str] | None = None,
        auth: RequestAuth = "key_or_token",
        cast_to: None = None,
        linked_account_id: str | NotGiven = NOT_GIVEN,
        timeout: float | NotGiven | None = NOT_GIVEN,
        max_queue_wait: float | NotGiven | None = NOT_GIVEN,
        max_response_bytes: int | NotGiven = NOT_GIVEN,
    ) -> Any: ...
    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, object] | None = None,
        body: object = None,
        headers: Mapping[str, str] | None = None,
        auth: RequestAuth = "key_or_token",
        cast_to: type[Any] | None = None,
        linked_account_id: str | NotGiven = NOT_GIVEN,
        timeout: float | NotGiven | None = NOT_GIVEN,
        max_queue_wait: float | NotGiven | None = NOT_GIVEN,
        max_response_bytes: int | NotGiven = NOT_GIVEN,
        **unknown: object,  # not in the overloads: type checkers refuse it; here a hint
    ) -> Any:
        """Call an endpoint the SDK has no method for, with the client's auth, budget and retries.

        The call goes through the same send loop as every generated method: the
        credential for `auth` is chosen (or the call refused) before anything is sent,
        the request waits for the rate budget, GET, PUT, DELETE and HEAD are retried on
        5xx and timeouts (POST and PATCH only when surely unsent, and on 429), and errors
        are the usual typed ones.

        Args:
            method: `GET`, `POST`, `PUT`, `PATCH`, `DELETE` or `HEAD` (any case).
            path: A path on the base URL, starting with `/`, sent as given: percent-encode
                what needs it (an encoded `%2F` stays encoded). URLs are refused.
            query: Query parameters; a list value repeats the key.
            body: A JSON body (a dict, a list, a model), or `None` for none.
            headers: Extra headers (never credentials: those come from the client).
            auth: `"key_or_token"`, `"api_key"`, `"session_token"` or `"none"` (see
                `RequestAuth`).
            cast_to: Decode the answer into this type (`Webhook`, `list[Webhook]`);
                by default the parsed JSON is returned (`None` for an empty body).
            linked_account_id: The linked account the call acts for, overriding the
                client's bound one.
            timeout: Seconds for each attempt, overriding the client's.
            max_queue_wait: Seconds the call may wait for its rate-limit slot.
            max_response_bytes: The largest (decoded) body this call accepts, overriding
                the client's; a larger one raises `APIResponseTooLargeError`.

        Raises:
            InvalidArgumentError: A bad method, path, `auth` or header; nothing sent.
            MissingCredentialError: The client has no credential for `auth`.
            APIStatusError: The API answered an error (a subclass per status).

        Example:
            ```python
            hook = await client.request("GET", "/api/v2/public/webhook/wh_1", cast_to=Webhook)
            raw = await client.request("POST", "/api/v2/public/beta/thing", body={"a": 1})
            ```
        """
        if unknown:
            names = list(unknown)
            unknown.clear()  # a value given by a wrong name may be a credential: not kept
            refuse_unknown("request()", names, _REQUEST_KEYWORDS)
        return await send_request(
            self._transport,
            method,
            path,
            query=query,
            body=body,
            headers=headers,
            auth=auth,
            cast_to=cast_to,
            linked_account_id=linked_account_id,
            timeout=timeout,
            max_queue_wait=max_queue_wait,
            max_response_bytes=max_response_bytes,
        )

    async def aclose(self) -> None:
        """Close the connection pool, unless it was passed in or is shared from a parent."""
        if self._owns_http:
            await self._transport.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @override
    def __repr__(self) -> str:
        # Never fails, even on a client whose __init__ raised half-way: a traceback
        # rendered with capture_locals=True calls it (on Python 3.10 and 3.11 a failing
        # repr aborts the whole rendering).
        transport: Transport | None = getattr(self, "_transport", None)
        if transport is None:
            return f"<{type(self).__name__} (not initialised)>"
        config = transport.config
        return (
            f"{type(self).__name__}(base_url={config.base_url!r}, environment={self.environment!r}, "
            f"api_key={config.api_key!r}, session_token={config.session_token!r}, "
            f"linked_account_id={config.linked_account_id!r})"
        )

    def __reduce__(self) -> Any:
        raise TypeError(f"{type(self).__name__} holds credentials and cannot be pickled")


AsyncRefold.__module__ = "refold_async"


@attrs.frozen
class _Settings:
    """The options that are not part of the transport's configuration."""

    rate_limit: RateLimit | None
    rate_limiter: RateLimiter | None
    expect: Environment | None


def _tracer(tracing: bool | TracerProviderLike, base_url: str) -> CallTracer | None:
    if tracing is False:
        return None
    from ._tracing import CallTracer  # imports OpenTelemetry: only when asked

    return CallTracer(None if tracing is True else tracing, base_url)


def _user_agent(app_info: AppInfo | None) -> str | None:
    return None if app_info is None else user_agent(app_info)


def _linked_account(value: str | None) -> str | None:
    # It travels in a header: refuse CR, LF and the like here, not at the first call.
    return check_header_value("linked_account_id", value) if value else None


def _pin(current: str | None, wanted: str | None) -> str | None:
    """The linked account of a derived client: a pinned client's stays pinned to its own."""
    account = _linked_account(wanted)
    if current is None or account == current:
        return account
    raise LinkedAccountScopeError(
        f"this client acts for linked account {current!r} only, so no client derived "
        "from it may act for another (or for none); derive one from an unpinned org-key "
        "client instead. Nothing was changed.",
        needs="api_key or session_token",
        allowed=current,
    )


def _limiter(rate_limit: RateLimit | None, rate_limiter: RateLimiter | None) -> RateLimiter:
    # Every paced limiter gets the layer that backs off when a neighbour spends the key.
    if rate_limiter is not None:
        return adaptive(rate_limiter)
    if rate_limit is None:
        return UnlimitedRateLimiter()
    return adaptive(shared_host_limiter(rate_limit))


def _check_queue_wait(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"max_queue_wait must be a number of seconds or None, not {value!r}")
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"max_queue_wait must be a finite number of seconds >= 0, not {value!r}")
    return float(value)


def _check_environment(api_key: Secret | None, expected: Environment | None) -> None:
    if expected is None or api_key is None:
        return
    actual = environment_of(api_key)
    if actual != expected:
        raise EnvironmentMismatchError(
            f"this client expects a {expected} key, but the API key is "
            f"{'a ' + actual if actual else 'of no known'} environment key"
        )


def _check_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return check_default_headers(headers)


def _take_base_url(changes: dict[str, Any]) -> str | None:
    """Pop `base_url` out of `with_options()` changes, checked (`None`: not changed).

    Popped first, so no frame keeps a refused URL (it may hold a password) in `changes`.
    """
    if "base_url" not in changes:
        return None
    value = changes.pop("base_url")
    try:
        if not isinstance(value, str):
            raise TypeError(f"base_url must be a str, got {type(value).__name__}")
        return _check_base_url(value)
    finally:
        del value


def _check_base_url(base_url: str) -> str:
    try:
        check_base_url(base_url)
    except InvalidArgumentError:
        del base_url  # it may hold a password: not left in this frame
        raise
    url = httpx.URL(base_url)
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidArgumentError(f"base_url must be an http(s) URL, got {base_url!r}")
    if url.scheme == "http" and not never_leaves_machine(url.host):
        raise InvalidArgumentError(
            "base_url uses plain http, which would send credentials in the clear; "
            "use https (plain http is allowed only for loopback hosts)"
        )
    return str(url).rstrip("/")
