"""`Refold`: the blocking client, a thin face over an `AsyncRefold` (docs/architecture.md §8).

This module owns the link between a `Refold` and the `AsyncRefold` it wraps. The async
client is made *on* the process's loop thread (`_portal`), because an
`httpx.AsyncClient` and the local rate limiter belong to the loop that first uses them,
and it is remade there whenever that loop changes: in a forked child, which starts a
loop thread of its own, or after the loop was stopped at interpreter exit. Generated
resource methods reach it through `_LiveAttribute`, which resolves `client.<resource>.
<method>` on the loop thread at call time, so a resource object taken before a `fork`
keeps working after it.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

import httpx
from typing_extensions import Self, Unpack, override

from refold_async import AsyncRefold, ClientOptions, InvalidArgumentError, RefoldUsageError
from refold_async._auth import client_credentials, credential, take_credentials
from refold_async._client import DEFAULT_RATE_LIMIT, DEFAULT_TIMEOUT, Environment
from refold_async._custom_request import RequestAuth
from refold_async._exchange import DEFAULT_MAX_RESPONSE_BYTES
from refold_async._native import loop_identity
from refold_async._options import check_base_url, check_client_options
from refold_async._request import KeywordsChecked
from refold_async._types import NOT_GIVEN, NotGiven
from refold_async._useragent import AppInfo

from . import _portal
from ._reservation import SyncReservation
from .resources import ResourceNamespaces

if TYPE_CHECKING:
    from refold_async import RateLimit, RateLimiter, RetryPolicy
    from refold_async._tracing import TracerProviderLike
    from refold_async.batch import BatchOptions, BatchReport
    from refold_async.resources import AsyncResourceNamespaces

__all__ = ["Refold"]

T = TypeVar("T")
R = TypeVar("R")


class Refold(KeywordsChecked, ResourceNamespaces):
    """The blocking Refold client; same options, resources and methods as `AsyncRefold`.

    Every `Refold` in the process runs its calls on one shared event-loop thread, so
    one object may be used from many threads at once, and all of them draw on one
    rate-limit bucket and one connection pool per credential. Errors are the same
    classes as on the async face. A `Refold` also works after `os.fork` (the child
    starts its own loop thread), at interpreter exit without `close()`, and inside a
    running event loop (a Jupyter cell): there the call blocks that loop until it
    returns, so async code should prefer `AsyncRefold`. List methods return a
    `SyncPaginator`: iterate it for items, or call `.pages()` or `.first_page()`.

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
            `https://app.refold.ai`.
        timeout: Seconds per request (connect, read, write and pool each).
        retry: The retry policy (`RetryPolicy()` by default).
        rate_limit: The server's budget to stay within, shared by every client of this
            host that uses the key (`HostRateLimiter`); `None` turns limiting off.
        rate_limiter: A limiter of your own, replacing `rate_limit`'s host-wide one:
            `LocalRateLimiter` (one budget per process) or `RedisRateLimiter` (one
            budget across machines).
        max_queue_wait: Seconds a call may wait for its rate-limit slot; a slot further
            away raises `RateLimitQueueTimeout` without sending (`None`: wait).
        http_client: An `httpx.AsyncClient` of your own, used only on the loop thread;
            you keep the job of closing it. Such a client cannot cross a `fork`.
        transport: An `httpx.AsyncBaseTransport` for the client's own pool to send through
            (`httpx.MockTransport` in tests, for example), used only on the loop thread.
            Not with `http_client`.
        default_headers: Headers sent with every request.
        expect_environment: `"test"` or `"live"`: refuse a key of the other environment.
        max_response_bytes: The largest response body accepted, counted decoded (32 MiB
            by default); a larger one raises `APIResponseTooLargeError`.
        app_info: Your application, added to the `User-Agent` of this client's requests
            (instead of the process's `set_app_info()`).
        tracing: `True` for an OpenTelemetry span per call through the global tracer
            provider, or a `TracerProvider` to use instead; needs `refold[otel]`.

    Raises:
        RefoldUsageError: For options `AsyncRefold` refuses, at construction.

    Example:
        ```python
        from refold_sync import Refold

        with Refold(api_key="tk_...") as client:
            for account in client.linked_accounts.list(limit=100):
                print(account.id)
            scoped = client.for_linked_account("acct_1")
        ```
    """

    _async_client: AsyncResourceNamespaces
    _make: Callable[[], AsyncRefold]
    _pins_http_client: bool
    _live_client: tuple[object, int, AsyncRefold] | None
    _closed: bool
    _finalizer: weakref.finalize[..., Any]

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
        # docs/architecture.md §12: only `Secret`s (fingerprint reprs) stay in this frame and the recipe;
        # `AsyncRefold` takes them as they are.
        try:
            key, token = client_credentials(api_key, session_token)
        finally:
            del api_key, session_token
        try:
            check_client_options(locals())
            if base_url is not None:
                check_base_url(base_url)
        except Exception:
            del base_url  # it may hold a password: not left in this frame
            raise
        make = _Recipe(
            partial(
                AsyncRefold,
                api_key=cast("str | None", key),
                session_token=cast("str | None", token),
                linked_account_id=linked_account_id,
                base_url=base_url,
                timeout=timeout,
                retry=retry,
                rate_limit=rate_limit,
                rate_limiter=rate_limiter,
                max_queue_wait=max_queue_wait,
                http_client=http_client,
                transport=transport,
                default_headers=default_headers,
                expect_environment=expect_environment,
                max_response_bytes=max_response_bytes,
                app_info=app_info,
                tracing=tracing,
            )
        )
        self._bind(make, pins_http_client=http_client is not None or transport is not None)

    def _bind(self, make: Callable[[], AsyncRefold], *, pins_http_client: bool) -> None:
        self._make = make
        self._pins_http_client = pins_http_client
        self._live_client = None
        self._closed = False
        self._async_client = cast("AsyncResourceNamespaces", _LiveAttribute(self._live, ()))
        self._live()  # make the async client now, so bad options fail here and not later

    def _live(self) -> AsyncRefold:
        """This client's `AsyncRefold` for the current loop thread, made there if needed."""
        if not _portal.is_loop_thread():
            return _portal.run(self._alive)
        live = self._live_client
        if live is not None and live[0] is loop_identity() and not self._closed:
            return live[2]
        return self._revive()

    async def _alive(self) -> AsyncRefold:
        return self._live()

    def _revive(self) -> AsyncRefold:
        """Make the async client on this loop: first use, after a fork, or after exit."""
        if self._closed:
            raise RefoldUsageError(f"this {type(self).__name__} client is closed")
        previous = self._live_client
        if previous is not None:
            if self._pins_http_client:
                raise RefoldUsageError(
                    "this client was given http_client=, whose connections belong to the "
                    "event loop that first used them, and that loop is gone (the process "
                    "forked, or the SDK's loop thread stopped at exit); make a new client, "
                    "with a new httpx.AsyncClient, where it is needed"
                )
            if previous[1] != os.getpid():
                _portal.keep_alive(previous[2])  # the parent's pool: never finalize it here
        client = self._make()
        _portal.track(client)
        self._live_client = (loop_identity(), os.getpid(), client)
        # A Refold dropped without close() still closes its pool, on the loop, via aclose().
        self._finalizer = weakref.finalize(self, _close_dropped, os.getpid(), client)
        return client

    def _derive(self, derive: Callable[[AsyncRefold], AsyncRefold]) -> Self:
        clone = object.__new__(type(self))
        clone._bind(_Derived(self._live, derive), pins_http_client=self._pins_http_client)
        return clone

    def _scope(self, derive: Callable[[AsyncRefold], AsyncRefold]) -> Self:
        """A scoped client, derived here rather than on the loop thread when it can be.

        `for_linked_account()` and `for_session_token()` only copy settings (no limiter
        lookup, no pool), which is safe from any thread: deriving from the parent's live
        client here saves the hop to the loop thread, most of the cost of a derivation.
        The clone owns no pool, so it needs no tracking or finalizer for its own; should
        the loop change (a fork, exit), it re-derives on the loop like any other.
        """
        live = self._live_client
        if (
            live is None
            or self._closed
            or live[1] != os.getpid()
            or not _portal.is_open_loop(live[0])
            or _portal.is_loop_thread()
        ):
            return self._derive(derive)
        scoped = derive(live[2])
        clone = object.__new__(type(self))
        clone._make = _Derived(self._live, derive)
        clone._pins_http_client = self._pins_http_client
        clone._live_client = (live[0], live[1], scoped)
        clone._closed = False
        clone._async_client = cast("AsyncResourceNamespaces", _LiveAttribute(clone._live, ()))
        return clone

    def with_options(self, **changes: Unpack[ClientOptions]) -> Self:
        """A client with some settings changed, sharing this one's pool and bucket.

        Passing `api_key` or `session_token` replaces the credential whole (a client holds
        one: the other is dropped). A client pinned to a linked account stays pinned to it.

        Example:
            ```python
            patient = client.with_options(timeout=120, retry=RetryPolicy(max_attempts=8))
            ```
        """
        # Raw credentials become `Secret`s and a base URL is checked first: neither this
        # frame nor the closure below keeps a credential, or a refused URL's password.
        options = cast("dict[str, Any]", changes)
        options.update(take_credentials(options))
        url = options.get("base_url")
        try:
            if isinstance(url, str):
                check_base_url(url)
        except InvalidArgumentError:
            options.clear()
            del url, changes, options
            raise
        return self._derive(lambda parent: parent.with_options(**changes))

    def for_linked_account(self, linked_account_id: str) -> Self:
        """A client pinned to one linked account; blocking `AsyncRefold.for_linked_account()`.

        Shares this client's pool and bucket; a call naming another account raises
        `LinkedAccountScopeError` before sending.
        """
        return self._scope(lambda parent: parent.for_linked_account(linked_account_id))

    def for_session_token(
        self, session_token: str, *, linked_account_id: str | None = None
    ) -> Self:
        """A client on a linked account's session token; `AsyncRefold.for_session_token()`.

        Shares this client's pool and rate limiter, sends only the bearer token, and
        refuses org-level operations and other accounts' ids before sending.
        """
        try:
            token = credential("session_token", session_token) if session_token else None
        finally:
            del session_token  # a traceback rendered with its locals shows the Secret only
        if token is None:
            raise InvalidArgumentError("session_token may not be empty")
        return self._scope(
            lambda parent: parent.for_session_token(
                cast("str", token), linked_account_id=linked_account_id
            )
        )

    def _snapshot(self) -> AsyncRefold:
        # The most recent async client, for its settings only: reading them is safe
        # from any thread, and never needs the loop.
        live = self._live_client
        if live is None:  # pragma: no cover - only while __init__ is still running
            raise RefoldUsageError(f"this {type(self).__name__} client is not initialised")
        return live[2]

    @property
    def environment(self) -> Environment | None:
        """`"live"` for a `pk…` key, `"test"` for a `tk…` key, `None` without a key."""
        return self._snapshot().environment

    @property
    def base_url(self) -> str:
        """The API's address."""
        return self._snapshot().base_url

    @property
    def linked_account_id(self) -> str | None:
        """The linked account bound to this client, if any."""
        return self._snapshot().linked_account_id

    def batch(
        self, items: Iterable[T], fn: Callable[[Self, T], R], **options: Unpack[BatchOptions]
    ) -> BatchReport[T, R]:
        """Run `fn(client, item)` for every item on worker threads, within the rate budget.

        The same runner as `AsyncRefold.batch()` (see `BatchOptions` and docs/architecture.md §11):
        items taken lazily and in order, each ending `succeeded`, `failed` or `unknown`,
        an optional journal to resume from, progress, shards. `fn` is a plain function,
        and so is `reconcile=` (the shipped `Reconciler`s run on the SDK's loop).

        Raises:
            BatchInterrupted: After Ctrl-C or SIGTERM, carrying the partial report.
            JournalMismatchError: `journal` belongs to another job, or is not a journal.
            JournalLockedError: Another run holds `journal`.
            JournalWriteError: The journal could not be written (a full disk): the run
                stopped, sending nothing it could not record; carries the partial report.

        Example:
            ```python
            def onboard(client: Refold, account_id: str) -> None:
                client.linked_accounts.upsert(linked_account_id=account_id)


            report = client.batch(ids, onboard, journal="onboard.jsonl")
            print(report.summary())
            ```
        """
        from ._batch import run_sync_batch  # loaded on first use

        return run_sync_batch(self, items, fn, options)

    def reserve(
        self, count: int, *, max_wait: float | NotGiven | None = NOT_GIVEN
    ) -> SyncReservation:
        """Reserve `count` rate-limit slots up front: blocking `AsyncRefold.reserve()`.

        `with client.reserve(k):` reserves k slots or raises `RateLimitQueueTimeout`
        before the first call; calls made inside the block (from this thread) take them.

        Example:
            ```python
            with client.reserve(2, max_wait=5):
                account = client.linked_accounts.retrieve(account_id)
                client.executions.list(linked_account_id=account.id)
            ```
        """
        return SyncReservation(self._live().reserve(count, max_wait=max_wait))

    @overload
    def request(
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
    def request(
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
    def request(
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
        **unknown: object,  # not in the overloads; the async method refuses it with a hint
    ) -> Any:
        """Call an endpoint the SDK has no method for; blocking `AsyncRefold.request()`.

        Same arguments, checks, auth, rate budget, retries and typed errors: the call is
        the async client's, run on the loop thread.

        Example:
            ```python
            hook = client.request("GET", "/api/v2/public/webhook/wh_1", cast_to=Webhook)
            ```
        """
        # The async method, looked up on the loop thread at call time (`_LiveAttribute`).
        request = cast("Callable[..., Awaitable[Any]]", cast("Any", self._async_client).request)
        return _portal.run(
            request,
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
            **unknown,
        )

    def close(self) -> None:
        """Close the connection pool, unless it was passed in or is shared from a parent.

        Calls made after `close()` raise `RefoldUsageError`. Closing twice is harmless.
        """
        if not self._closed:
            _portal.run(self._aclose)

    async def _aclose(self) -> None:
        self._closed = True
        finalizer = getattr(self, "_finalizer", None)  # a scoped client may have none
        if finalizer is not None:
            finalizer.detach()
        live = self._live_client
        if live is not None and live[0] is loop_identity():
            await live[2].aclose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @override
    def __repr__(self) -> str:
        live = getattr(self, "_live_client", None)
        if live is None:  # __init__ raised half-way: a repr must still not fail
            return f"<{type(self).__name__} (not initialised)>"
        _, bracket, rest = repr(live[2]).partition("(")
        return f"{type(self).__name__}{bracket}{rest}"

    def __reduce__(self) -> Any:
        raise TypeError(f"{type(self).__name__} holds credentials and cannot be pickled")


def _close_dropped(pid: int, client: AsyncRefold) -> None:
    # Only in the process that made it: a forked child must never close the parent's pool.
    if os.getpid() == pid:
        _portal.spawn(client.aclose)


class _Recipe:
    """Makes a fresh `AsyncRefold` from the constructor's options; its repr hides them."""

    __slots__ = ("_make",)

    def __init__(self, make: Callable[[], AsyncRefold]) -> None:
        self._make = make

    def __call__(self) -> AsyncRefold:
        return self._make()

    @override
    def __repr__(self) -> str:
        return "<AsyncRefold recipe>"


class _Derived:
    """Makes an `AsyncRefold` derived from a parent `Refold`'s live one, sharing its pool."""

    __slots__ = ("_derive", "_parent")

    def __init__(
        self, parent: Callable[[], AsyncRefold], derive: Callable[[AsyncRefold], AsyncRefold]
    ) -> None:
        self._parent = parent
        self._derive = derive

    def __call__(self) -> AsyncRefold:
        return self._derive(self._parent())


class _LiveAttribute:
    """An attribute path on a `Refold`'s live `AsyncRefold`, resolved when called.

    `client._async_client.executions.retrieve` is such a path; calling it, on the loop
    thread, calls `live.executions.retrieve` on whichever async client is live there.
    """

    __slots__ = ("_children", "_live", "_path")

    def __init__(self, live: Callable[[], AsyncRefold], path: tuple[str, ...]) -> None:
        self._live = live
        self._path = path
        self._children: dict[str, _LiveAttribute] = {}

    def __getattr__(self, name: str) -> _LiveAttribute:
        if name.startswith("__"):
            raise AttributeError(name)  # keep copy, pickle and friends off the path
        child = self._children.get(name)
        if child is None:
            child = self._children[name] = _LiveAttribute(self._live, (*self._path, name))
        return child

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        target: Any = self._live()
        for name in self._path:
            target = getattr(target, name)
        return target(*args, **kwargs)

    @override
    def __repr__(self) -> str:
        return f"<live {'.'.join(('AsyncRefold', *self._path))}>"


Refold.__module__ = "refold_sync"
