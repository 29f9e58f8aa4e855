"""The one send loop (docs/architecture.md §2): every call of every operation goes through `Transport`.

`send()` reads as a chain of small steps:
1. `plan_auth()` picks the credentials for the operation's scope, or raises first;
2. `build_request()` checks and assembles the request (pure);
3. per attempt: resolve the credential (minting a session token if needed), wait for the
   rate limiter's slot, send once through httpx;
4. classify the outcome: decode a 2xx; otherwise ask the retry policy for a delay (a 429
   pauses the whole bucket) or raise the typed error.

Only this module (with `_client.py` and `testing/`) imports httpx, logs requests, sleeps
and touches the limiter. Secrets appear in logs only as fingerprints.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import anyio
import attrs
import httpx
from typing_extensions import override

from ._api_response import APIResponse, ResponseInfo
from ._arguments import where
from ._auth import AuthPlan, Secret, SessionTokenCache, check_accounts, plan_auth
from ._context import observe_call
from ._errors import (
    APIConnectionError,
    APIDecodeError,
    APIStatusError,
    APITimeoutError,
    InvalidArgumentError,
    RateLimitError,
    RateLimitQueueTimeout,
    RefoldUsageError,
    stale_loop_error,
)
from ._exchange import (
    DEFAULT_MAX_RESPONSE_BYTES,
    exchange,
    has_cookies,
    request_sent,
    with_accepted_encodings,
)
from ._mint import read_mint_answer
from ._operation import AuthScope, Operation
from ._pacing import Departure
from ._pagination import AsyncPaginator, Page
from ._ratelimit import SlotTooFar
from ._record import CallRecord, log_call
from ._redact import SENDING, forms_of, install_log_redaction
from ._request import LINKED_ACCOUNT_HEADER, RequestParts, build_request, query_string
from ._reservation import in_reservation, reserved_block
from ._response import decode_body, error_from_response, request_id_of, scrub
from ._retry import Failure, FailureKind, RetryPolicy, parse_retry_after
from ._types import NOT_GIVEN, CallOptions, NotGiven
from ._uploads import opened_uploads
from ._url import merged_query, url_maker
from ._useragent import current_user_agent, join_user_agent

if TYPE_CHECKING:
    from ._ratelimit import RateLimiter
    from ._tracing import CallTracer

__all__ = ["Transport", "TransportConfig"]

T = TypeVar("T")
logger = logging.getLogger("refold")

_NOTABLE_WAIT = 0.5  # a wait for a slot at least this long is logged
_LONGEST_PAUSE = 900.0  # a 429 never pauses a bucket for longer than this
_MAX_PLANS = 1024  # auth plans kept per transport, by operation and linked account
# Header names (as the request builder writes them, in lower case) that change ours.
_HEADERS_OF_OURS = frozenset({"user-agent", "accept-encoding"})

_MINT: Operation[Any] = Operation(
    id="generateSessionTokenForLinkedAccount",
    method="POST",
    path="/api/v2/public/session-token",
    auth=AuthScope.ORG_KEY,
    returns=Any,
)


@attrs.frozen(kw_only=True)
class TransportConfig:
    """What a transport needs; `with_options()` derives new ones with `attrs.evolve`."""

    base_url: str
    api_key: Secret | None
    session_token: Secret | None
    linked_account_id: str | None
    default_headers: Mapping[str, str]
    timeout: float | None
    retry: RetryPolicy
    limiter: RateLimiter
    max_queue_wait: float | None = None
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    user_agent: str | None = None  # with the client's own app_info; else the process's
    tracer: CallTracer | None = None  # OpenTelemetry spans, when the client asked for them


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


@attrs.frozen
class _Attempt:
    """The outcome of one attempt: a response, or the exception that replaced it."""

    response: httpx.Response | None
    error: httpx.HTTPError | None = None


class Transport:
    """Sends operations: credentials, rate limit, retries, errors and decoding."""

    def __init__(
        self,
        config: TransportConfig,
        *,
        http: httpx.AsyncClient,
        tokens: SessionTokenCache,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self.http = http
        self.tokens = tokens
        self._sleep = sleep
        self._clock = clock
        self._rand = rand
        # Constant per operation (and linked account) for this transport's config.
        self._plans: dict[tuple[int, str | None], tuple[Operation[Any], AuthPlan]] = {}
        self._base_headers: tuple[str, dict[str, str]] | None = None
        self._urls = url_maker(config.base_url)  # `config` is frozen, and never replaced
        # A session token, or a pinned linked account: each call's accounts are checked.
        self._scoped = config.session_token is not None or config.linked_account_id is not None
        self._lazy_secrets = _LazySecrets(self)
        # The lengths of the client's own credentials: an argument of another length
        # cannot be one of them, and costs one set lookup to rule out.
        self._own_lengths = frozenset(
            len(secret.reveal()) for secret in (config.api_key, config.session_token) if secret
        )
        install_log_redaction()  # once per process: httpx's and httpcore's records

    def derive(
        self, config: TransportConfig, *, tokens: SessionTokenCache | None = None
    ) -> Transport:
        """A transport with other settings, sharing the pool (and tokens unless given)."""
        return Transport(
            config,
            http=self.http,
            tokens=tokens or self.tokens,
            sleep=self._sleep,
            clock=self._clock,
            rand=self._rand,
        )

    def raw(self) -> Transport:
        """This transport, its pool, tokens and limiter, answering `APIResponse`s.

        Its `send()` returns an `APIResponse[T]` where the signature says `T`: only the
        `with_raw_response` proxies (`_raw_response.py`), which retype what they return, use it.
        """
        return _RawTransport(
            self.config,
            http=self.http,
            tokens=self.tokens,
            sleep=self._sleep,
            clock=self._clock,
            rand=self._rand,
        )

    async def send(
        self,
        op: Operation[T],
        *,
        path: Mapping[str, object] | None = None,
        query: Mapping[str, object] | None = None,
        headers: Mapping[str, object] | None = None,
        body: object = NOT_GIVEN,
        options: CallOptions | None = None,
        files: object = None,
    ) -> T:
        """Send `op` with the caller's arguments and return the decoded response.

        `files` (operations that take uploads) sends the body as `multipart/form-data`.
        """
        parts, plan = self._prepare(op, path, query, headers, body, options, files)
        return await self._answer(op, parts, plan)

    async def _answer(self, op: Operation[T], parts: RequestParts, plan: AuthPlan) -> T:
        """Send the checked request and return the decoded response."""
        record = CallRecord(op, parts.path, self._clock())
        response = await self._call(op, parts, plan, record)
        if op.paginated:  # each page carries its response's metadata
            return self.decode_answer(
                op, parts.path, response.content, self._info(record, response)
            )
        result: T = decode_body(
            op,
            status=response.status_code,
            content=response.content,
            path=parts.path,
            headers=response.headers,
            secrets=_LazySecrets(self),  # gathered only for an error's text
        )
        return result

    async def send_raw(
        self,
        op: Operation[T],
        *,
        path: Mapping[str, object] | None = None,
        query: Mapping[str, object] | None = None,
        headers: Mapping[str, object] | None = None,
        body: object = NOT_GIVEN,
        options: CallOptions | None = None,
        files: object = None,
    ) -> APIResponse[T]:
        """Send `op` like `send()`, and return the response with its metadata, undecoded."""
        parts, plan = self._prepare(op, path, query, headers, body, options, files)
        record = CallRecord(op, parts.path, self._clock())
        response = await self._call(op, parts, plan, record)
        info = self._info(record, response)
        decode = _Decoder(self, op, parts.path, response.content, info)
        return APIResponse(info, decode)

    def _prepare(
        self,
        op: Operation[Any],
        path: Mapping[str, object] | None,
        query: Mapping[str, object] | None,
        headers: Mapping[str, object] | None,
        body: object,
        options: CallOptions | None,
        files: object = None,
        *,
        raw_path: str | None = None,
    ) -> tuple[RequestParts, AuthPlan]:
        """The checked request and its credentials plan; raises before anything is sent.

        `raw_path`: the caller's own path (`client.request()`), sent as given, on the base
        URL's origin only.
        """
        if self._own_lengths:
            self._refuse_own_secret(op, (path, query, headers, *_extras(options)))
        # Arguments first: a misspelled `linked_account_id=` is a typo to name, not a
        # missing linked account.
        parts = build_request(
            op,
            path=path,
            query=query,
            headers=headers,
            body=body,
            options=options or {},
            files=files,
        )
        if raw_path is not None:
            parts = attrs.evolve(parts, path=raw_path, raw_path=True)
            self._check_origin(raw_path)
        plan = self._plan(op, headers, query)
        if self._scoped:
            config = self.config
            check_accounts(
                op,
                _named_accounts(op, path, parts),
                allowed=config.linked_account_id,
                session_token=config.session_token,
                secrets=[s for s in (config.api_key, config.session_token) if s is not None],
            )
        if plan.linked_account_id is not None:
            parts.headers["linked_account_id"] = plan.linked_account_id
        return parts, plan

    def _refuse_own_secret(
        self, op: Operation[Any], arguments: tuple[Mapping[str, object] | None, ...]
    ) -> None:
        """Refuse a path, query or header value that is this client's own key or token.

        An API key pasted where an id belongs would otherwise travel in the URL, into
        server and proxy logs, the error's path and the `refold` log lines. The error
        names the argument, never the value. Runs for every call: a value whose length
        is no credential's costs one set lookup.
        """
        lengths = self._own_lengths
        error: InvalidArgumentError | None = None
        for mapping in arguments:
            if not mapping:
                continue
            for name, value in mapping.items():
                if type(value) is str:
                    if len(value) in lengths:
                        error = self._own_error(op, name, value)
                elif isinstance(value, list | tuple):
                    error = self._own_error_among(op, name, cast("Sequence[object]", value))
                if error is not None:
                    del arguments, mapping, value  # the values stay out of this frame
                    raise error

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
        config = self.config
        if config.api_key is not None and value == config.api_key.reveal():
            return "API key"
        if config.session_token is not None and value == config.session_token.reveal():
            return "session token"
        return None

    def _info(self, record: CallRecord, response: httpx.Response) -> ResponseInfo:
        """The public metadata of a call that succeeded, scrubbed of its secrets."""
        secrets = self._all_secrets()
        headers = response.headers  # the response's only: never the request's credentials
        items = headers.multi_items()  # decoded once, names in lower case
        if _echoes(items, secrets):  # a proxy echoing a credential: a scrubbed copy
            items = [(name, scrub(value, secrets)) for name, value in items]
            headers = httpx.Headers(items)
        return ResponseInfo(
            operation_id=record.op.id,
            method=record.op.method,
            path=record.path,
            status_code=response.status_code,
            headers=headers,
            request_id=request_id_of(dict(items), ()),
            elapsed=record.elapsed,
            attempts=record.attempts,
            rate_limit_wait=record.rate_limit_wait,
            http_version=response.http_version,
        )

    def decode_answer(self, op: Operation[T], path: str, content: bytes, info: ResponseInfo) -> T:
        """The body decoded as `op` says; a page also gets the response's metadata."""
        try:
            result: Any = decode_body(
                op,
                status=info.status_code,
                content=content,
                path=path,
                headers=info.headers,
                secrets=_LazySecrets(self),
            )
        except APIDecodeError:
            # The body may echo a credential, and this frame outlives it (architecture §12).
            del content
            raise
        if isinstance(result, Page):
            # Just decoded, seen by no one yet: set in place, not copied (`attrs.evolve`
            # would run every field through `__init__` again).
            object.__setattr__(cast("object", result), "response", info)
        return cast("T", result)

    def paginate(
        self,
        op: Operation[Page[T]],
        *,
        path: Mapping[str, object] | None = None,
        query: Mapping[str, object] | None = None,
        headers: Mapping[str, object] | None = None,
        body: object = NOT_GIVEN,
        options: CallOptions | None = None,
    ) -> AsyncPaginator[T]:
        """A lazy paginator over `op`; each page is one `send()` with `page` set."""
        query = dict(query or {})
        first = query.pop("page", None)

        async def fetch(page: int | None) -> Page[T]:
            page_query = query if page is None else {**query, "page": page}
            return await self.send(
                op, path=path, query=page_query, headers=headers, body=body, options=options
            )

        return AsyncPaginator(fetch, _page_number(first))

    async def send_to(
        self,
        op: Operation[T],
        raw_path: str,
        *,
        query: Mapping[str, object] | None = None,
        headers: Mapping[str, object] | None = None,
        body: object = NOT_GIVEN,
        options: CallOptions | None = None,
    ) -> T:
        """Like `send()`, to `raw_path` as given (`client.request()`), on the base URL's origin.

        Kept apart from `send()` so that generated calls pay nothing for it.
        """
        parts, plan = self._prepare(op, None, query, headers, body, options, raw_path=raw_path)
        return await self._answer(op, parts, plan)

    def _check_origin(self, raw_path: str) -> None:
        """Refuse a path that would take the request (and its credential) off the base URL."""
        base = httpx.URL(self.config.base_url)
        try:
            url = httpx.URL(self.config.base_url + raw_path)
        except httpx.InvalidURL:
            raise InvalidArgumentError("the path does not make a valid URL") from None
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            raise InvalidArgumentError(
                "the path would leave the client's base URL; credentials are only ever sent "
                "to its origin"
            )

    def _plan(
        self,
        op: Operation[Any],
        headers: Mapping[str, object] | None,
        query: Mapping[str, object] | None,
    ) -> AuthPlan:
        in_header = _account((headers or {}).get("linked_account_id"))
        # Some operations name their linked account in the query too (or instead).
        in_query = _account((query or {}).get("linked_account_id"))
        if in_header and in_query and in_header != in_query:
            raise InvalidArgumentError(
                f"{op.id} names two linked accounts ({in_header!r} in the header, "
                f"{in_query!r} in the query): pass one"
            )
        linked = in_header or in_query or self.config.linked_account_id
        cached = self._plans.get((id(op), linked))
        if cached is not None and cached[0] is op:
            return cached[1]
        plan = plan_auth(
            op,
            api_key=self.config.api_key,
            session_token=self.config.session_token,
            linked_account_id=linked,
        )
        if len(self._plans) >= _MAX_PLANS:
            self._plans.clear()  # many linked accounts: start over rather than grow
        self._plans[(id(op), linked)] = (op, plan)
        return plan

    async def _credential(self, plan: AuthPlan, *, force_mint: bool) -> _Credential:
        """The credential for this attempt: the key, a token, a minted token, or none."""
        if plan.key is not None:
            return _Credential("x-api-key", plan.key)
        token = plan.token
        if plan.mint_for is not None:
            token = await self.tokens.get(plan.mint_for, self._mint, force=force_mint)
        if token is not None:
            return _Credential("authorization", token)
        return _Credential("", None)

    async def _mint(self, linked_account_id: str, force: bool) -> tuple[str, float | None]:
        # force_refresh: after a 401 the server's current token is the one it refused.
        # `Transport.send_raw`, not `self.send`: a raw view's mint still wants the token.
        # The answer is checked (`_mint.py`) before it becomes a `Secret`; no local here
        # holds the decoded body, whose token a refusal must not show.
        raw = await Transport.send_raw(
            self,
            _MINT,
            query={"force_refresh": "true" if force else NOT_GIVEN},
            body={"linked_account_id": linked_account_id},
        )
        return read_mint_answer(raw.parse(), status=raw.status_code, path=_MINT.path)

    async def _call(
        self, op: Operation[Any], parts: RequestParts, plan: AuthPlan, record: CallRecord
    ) -> httpx.Response:
        """The call's attempts, inside its span when tracing is on."""
        tracer = self.config.tracer
        if tracer is None:
            return await self._logged(op, parts, plan, record)
        return await tracer.traced(
            record, parts.headers, partial(self._logged, op, parts, plan, record)
        )

    async def _logged(
        self, op: Operation[Any], parts: RequestParts, plan: AuthPlan, record: CallRecord
    ) -> httpx.Response:
        """The call's attempts; its record completed, and its line logged, as it ends."""
        try:
            response = await self._send_with_retries(op, parts, plan, record)
        except Exception as exc:
            record.elapsed = self._clock() - record.started
            record.error_type = type(exc).__name__
            status = getattr(exc, "status", None)
            record.status_code = status if isinstance(status, int) else None
            if logger.isEnabledFor(logging.INFO):
                log_call(record, getattr(exc, "request_id", None))
            raise
        record.elapsed = self._clock() - record.started
        record.status_code = response.status_code
        if logger.isEnabledFor(logging.INFO):
            log_call(record, request_id_of(response.headers, self._all_secrets()))
        return response

    async def _send_with_retries(
        self, op: Operation[Any], parts: RequestParts, plan: AuthPlan, record: CallRecord
    ) -> httpx.Response:
        policy = self.config.retry
        queue_bound = _given(parts.max_queue_wait, self.config.max_queue_wait)
        timeout = _given(parts.timeout, self.config.timeout)
        started: float | None = None  # the first slot's time: queueing for it is not counted
        attempt = 0
        reminted = False
        observer = observe_call(op)  # batch hooks (refold_async._context); None otherwise
        while True:
            attempt += 1
            if plan.key is not None:  # the API key: nothing to wait for
                credential = _Credential("x-api-key", plan.key)
            else:
                credential = await self._credential(plan, force_mint=reminted)
            bucket = f"{self.config.base_url}#{credential.fingerprint}"
            elapsed = 0.0 if started is None else self._clock() - started
            remaining = None if policy.deadline is None else policy.deadline - elapsed
            record.rate_limit_wait += await self._take_slot(
                op, parts, bucket, attempt, queue_bound, remaining
            )
            record.attempts = attempt
            if started is None:
                started = self._clock()
            attempt_timeout = _cut(timeout, remaining)
            pacing = Departure(self.config.limiter, bucket, self._clock)
            if observer is not None:
                observer.before_send(attempt)
            outcome = await self._send_once(op, parts, credential, attempt, attempt_timeout, pacing)
            if observer is not None:
                observer.after_attempt(_status_of(outcome), outcome.error)
            response = outcome.response
            if response is not None and response.is_success:
                return response
            if (
                _is_unauthorized(response)
                and plan.mint_for
                and credential.secret
                and not reminted
                and parts.resendable
            ):
                # docs/architecture.md §1: a minted token may have been revoked: mint a fresh one, once.
                self.tokens.invalidate(plan.mint_for, credential.secret)
                reminted = True
                continue
            failure = self._failure(outcome)
            delay = policy.delay_for(
                failure,
                attempt=attempt,
                elapsed=self._clock() - started,
                idempotent=op.is_idempotent,
                rand=self._rand,
            )
            if failure.kind is FailureKind.RATE_LIMITED:
                # docs/architecture.md §4: every 429 pauses the whole bucket, retried or not.
                await self.config.limiter.penalize(bucket, self._pause_for(failure, delay, attempt))
            unsendable = delay is not None and not parts.resendable
            if unsendable:
                delay = None  # a file object read once cannot be sent again (`_uploads`)
            if delay is None:
                error = self._error(op, parts, outcome, failure, attempt, credential)
                if unsendable:
                    error.message += _NOT_RESENT
                # The raised error's traceback keeps this frame: drop httpx's objects,
                # whose request carries the credential header (docs/architecture.md §6).
                del outcome, response
                raise error
            record.retrying(attempt, _reason(outcome), delay)
            logger.info(
                "retrying %s %s in %.2fs after %s (%s, attempt %d of %s), ahead of queued calls",
                op.method,
                parts.path,
                delay,
                _reason(outcome),
                op.id,
                attempt + 1,
                "the deadline"
                if failure.kind is FailureKind.RATE_LIMITED and policy.deadline is not None
                else policy.max_attempts,
            )
            await self._sleep(delay)

    async def _take_slot(
        self,
        op: Operation[Any],
        parts: RequestParts,
        bucket: str,
        attempt: int,
        queue_bound: float | None,
        remaining: float | None,
    ) -> float:
        """Wait for the bucket's slot and return the seconds waited.

        Retries go first; the wait is bounded by the queue and the deadline.
        """
        asked = self._clock()
        limiter = self.config.limiter
        if in_reservation(limiter, bucket):
            # Work admitted by `client.reserve()`: take its next reserved slot that is not
            # stale (a slot left unused for more than half an interval would bunch with
            # the slots after it), else wait for a fresh one without the queue bound: the
            # work is under way and must not be shed between its calls.
            slack = limiter.rate.interval / 2 if limiter.rate is not None else 0.0
            block = reserved_block(limiter, bucket)
            while block is not None and (slot := block.take()) is not None:
                if (delay := slot - block.clock()) >= -slack:
                    if delay > 0:
                        await self._sleep(delay)
                    return self._clock() - asked
            queue_bound = None
        try:
            await self.config.limiter.acquire(
                bucket, priority=attempt > 1, max_wait=queue_bound, max_pause=remaining
            )
        except SlotTooFar as exc:
            raise _slot_error(op, parts.path, exc, attempt - 1, queue_bound) from None
        waited = self._clock() - asked
        if waited >= _NOTABLE_WAIT:
            logger.debug(
                "%s %s %s waited %.2fs for a rate-limit slot (attempt %d)",
                op.id,
                op.method,
                parts.path,
                waited,
                attempt,
            )
        return waited

    def bucket_of_client(self) -> str:
        """The bucket of the client's own credential (the API key, else the session token).

        Calls that authenticate with a token minted for a linked account use that
        token's bucket instead.
        """
        secret = self.config.api_key or self.config.session_token
        return f"{self.config.base_url}#{_Credential('', secret).fingerprint}"

    def _pause_for(self, failure: Failure, delay: float | None, attempt: int) -> float:
        """How long a 429 pauses the bucket: the wait, else Retry-After or a backoff.

        A `Retry-After` past `max_retry_after` pauses the bucket for as long as the
        server said (up to `_LONGEST_PAUSE`), so that every other call on the key fails
        at once with `RateLimitError` instead of waiting for its deadline.
        """
        if delay is not None:
            return delay
        wanted = (
            failure.retry_after
            if failure.retry_after is not None
            else self.config.retry.backoff(attempt, self._rand)
        )
        return min(wanted, _LONGEST_PAUSE)

    async def _send_once(
        self,
        op: Operation[Any],
        parts: RequestParts,
        credential: _Credential,
        attempt: int,
        attempt_timeout: float | None,
        pacing: Departure,
    ) -> _Attempt:
        """One attempt, bounded in time and size (`_exchange`), paced by its departure.

        Uploads are opened for the attempt only, and streamed by httpx (`_uploads`).
        """
        if not parts.uploads:  # nearly every call: no files to open
            return await self._send_built(
                op, parts, credential, attempt, attempt_timeout, pacing, []
            )
        with opened_uploads(parts.uploads) as files:
            return await self._send_built(
                op, parts, credential, attempt, attempt_timeout, pacing, files
            )

    async def _send_built(
        self,
        op: Operation[Any],
        parts: RequestParts,
        credential: _Credential,
        attempt: int,
        attempt_timeout: float | None,
        pacing: Departure,
        files: list[Any],
    ) -> _Attempt:
        try:
            request = self._request(parts, files, attempt_timeout)
        except (TypeError, ValueError) as exc:  # a body json cannot encode (a set, bytes, ...)
            raise InvalidArgumentError(f"the request body cannot be sent as JSON: {exc}") from None
        _authorize(request, credential)
        started = time.perf_counter()
        # While this attempt runs, httpx's and httpcore's log records are redacted of
        # this client's credentials (`_redact.RedactingFilter`), a server's echo included.
        sending = SENDING.set(self._lazy_secrets)
        try:
            outcome = await exchange(
                self.http,
                request,
                within=attempt_timeout,
                max_bytes=parts.max_response_bytes or self.config.max_response_bytes,
                path=parts.path,
                attempt=attempt,
                listeners=pacing.listeners(),
            )
        except RuntimeError as exc:
            if self.http.is_closed:
                raise RefoldUsageError(
                    "this client's connection pool is closed (aclose() was called)"
                ) from None
            if (usage := stale_loop_error(exc)) is not None:  # a RefoldError
                raise usage from None
            raise exc
        finally:
            SENDING.reset(sending)
        if isinstance(outcome, httpx.HTTPError):
            logger.debug(
                "%s %s %s failed: %s (attempt %d)",
                op.id,
                parts.method,
                parts.path,
                type(outcome).__name__,
                attempt,
            )
            return _Attempt(None, outcome)
        logger.debug(
            "%s %s %s -> %d in %.3fs (attempt %d)",
            op.id,
            parts.method,
            parts.path,
            outcome.status_code,
            time.perf_counter() - started,
            attempt,
        )
        return _Attempt(outcome)

    def _request(
        self, parts: RequestParts, files: list[Any], attempt_timeout: float | None
    ) -> httpx.Request:
        """The attempt's `httpx.Request`, less its credential: what `build_request()` makes.

        Built here when the client has no cookies or query parameters of its own to merge
        in (it nearly never has), at a third of the cost: the query is encoded once, not
        parsed back and merged, and the client's headers are merged as a list.
        """
        http = self.http
        headers = self._headers(parts.headers)
        if http.params or has_cookies(http):
            request = http.build_request(
                parts.method,
                self.config.base_url + parts.path,
                headers=headers,
                json=parts.json if parts.has_json else None,
                data=dict(parts.form) if files else None,
                files=files or None,
                timeout=attempt_timeout,
            )  # its query encoded as on every other path (httpx's `params=` varies by version)
            query = query_string(merged_query(http.params.multi_items(), parts.params))
            request.url = self._urls.url(parts.path, query)
            return request
        if parts.raw_path:  # client.request(): the caller's text, which httpx must check
            url: httpx.URL | str = self.config.base_url + parts.path
            if parts.params:
                url = f"{url}?{query_string(parts.params)}"
        else:
            url = self._urls.url(parts.path, query_string(parts.params) if parts.params else "")
        return httpx.Request(
            parts.method,
            url,
            headers=[
                *(
                    (name, value)
                    for name, value in http.headers.multi_items()
                    if name not in headers
                ),
                *headers.items(),
            ],
            json=parts.json if parts.has_json else None,
            data=dict(parts.form) if files else None,
            files=files or None,
            extensions={"timeout": _timeouts(attempt_timeout)},
        )

    def _failure(self, outcome: _Attempt) -> Failure:
        response = outcome.response
        if response is None:
            return Failure(kind=_failure_kind(outcome.error))
        status = response.status_code
        retry_after = parse_retry_after(
            response.headers.get("retry-after"), date=response.headers.get("date"), now=time.time()
        )
        kind = FailureKind.RATE_LIMITED if status == 429 else FailureKind.STATUS
        return Failure(kind=kind, status=status, retry_after=retry_after)

    def _error(
        self,
        op: Operation[Any],
        parts: RequestParts,
        outcome: _Attempt,
        failure: Failure,
        attempts: int,
        credential: _Credential,
    ) -> APIConnectionError | APIStatusError:
        secrets = self._secrets(credential)
        response = outcome.response
        if response is None:
            return _connection_error(op, parts.path, outcome.error, attempts, secrets)
        return error_from_response(
            status=response.status_code,
            headers=response.headers,
            content=response.content,
            method=op.method,
            path=parts.path,
            attempts=attempts,
            retry_after=failure.retry_after,
            secrets=secrets,
        )

    def _headers(self, own: Mapping[str, str]) -> dict[str, str]:
        """The request's headers: the client's defaults, then the call's, and ours."""
        ours = self.config.user_agent or current_user_agent()
        if own.keys().isdisjoint(_HEADERS_OF_OURS):
            # The common case: the defaults with ours are the same for every call.
            base = self._base_headers
            if base is None or base[0] != ours:
                base = self._base_headers = (ours, self._merged_headers({}, ours))
            return {**base[1], **own}
        return self._merged_headers(own, ours)

    def _merged_headers(self, own: Mapping[str, str], ours: str) -> dict[str, str]:
        headers = {**self.config.default_headers, **own}
        headers["user-agent"] = join_user_agent(headers.get("user-agent"), ours)
        return with_accepted_encodings(headers)

    def _all_secrets(self) -> tuple[Secret | None, ...]:
        """Every credential this transport may have used, for scrubbing."""
        return (self.config.api_key, self.config.session_token, *self.tokens.secrets())

    def _secrets(self, used: _Credential) -> list[str]:
        candidates = (used.secret, self.config.api_key, self.config.session_token)
        return [secret.reveal() for secret in candidates if secret is not None]


class _Decoder(Generic[T]):
    """Decodes one response's body when `APIResponse.parse()` asks.

    Its repr never shows the body, which may echo a credential (docs/architecture.md §12).
    """

    __slots__ = ("_content", "_info", "_op", "_path", "_transport")

    def __init__(
        self,
        transport: Transport,
        op: Operation[T],
        path: str,
        content: bytes,
        info: ResponseInfo,
    ) -> None:
        self._transport = transport
        self._op = op
        self._path = path
        self._content = content
        self._info = info

    def __call__(self) -> T:
        return self._transport.decode_answer(self._op, self._path, self._content, self._info)

    @override
    def __repr__(self) -> str:
        return f"<decoder of {self._op.id}>"


class _RawTransport(Transport):
    """A transport whose `send()` answers `APIResponse`s (see `Transport.raw()`)."""

    @override
    async def send(
        self,
        op: Operation[T],
        *,
        path: Mapping[str, object] | None = None,
        query: Mapping[str, object] | None = None,
        headers: Mapping[str, object] | None = None,
        body: object = NOT_GIVEN,
        options: CallOptions | None = None,
        files: object = None,
    ) -> T:
        raw = await self.send_raw(
            op, path=path, query=query, headers=headers, body=body, options=options, files=files
        )
        return cast("T", raw)

    @override
    def raw(self) -> Transport:
        return self


class _LazySecrets:
    """Every credential of a transport, gathered when iterated (only for an error's text)."""

    __slots__ = ("_transport",)

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def __iter__(self) -> Iterator[Secret | None]:
        return iter(self._transport._all_secrets())  # pyright: ignore[reportPrivateUsage]


class _Credential:
    """The credential of one attempt. The secret is revealed only into the request's header,
    so frames that outlive the attempt (a raised error's traceback) never hold it."""

    __slots__ = ("header", "secret")

    def __init__(self, header: str, secret: Secret | None) -> None:
        self.header = header
        self.secret = secret

    @property
    def fingerprint(self) -> str:
        return self.secret.fingerprint if self.secret is not None else "anonymous"

    def header_value(self) -> str:
        assert self.secret is not None  # noqa: S101 - callers check first
        value = self.secret.reveal()
        return f"Bearer {value}" if self.header == "authorization" else value


def _extras(options: CallOptions | None) -> tuple[Mapping[str, object] | None, ...]:
    """The call's `extra_query` and `extra_headers`, when given as mappings."""
    if not options:
        return ()
    found = (options.get("extra_query"), options.get("extra_headers"))
    return tuple(extra for extra in found if isinstance(extra, Mapping))


def _timeouts(seconds: float | None) -> dict[str, float | None]:
    """httpx's per-phase timeouts for an attempt of `seconds` (the request's extension)."""
    found = _TIMEOUTS.get(seconds)
    if found is None:
        found = httpx.Timeout(seconds).as_dict()
        if len(_TIMEOUTS) < 64:  # the client's timeout, and the last attempts' cut ones
            _TIMEOUTS[seconds] = found
    return dict(found)


_TIMEOUTS: dict[float | None, dict[str, float | None]] = {}


def _authorize(request: httpx.Request, credential: _Credential) -> None:
    """Put the credential on the request: the one place its value is revealed (docs/architecture.md §12).

    No frame that an exception can pass through holds the value: the request's repr
    shows no headers, and this frame ends before anything is sent.
    """
    if credential.secret is not None:
        request.headers[credential.header] = credential.header_value()


_NOT_RESENT = (
    " (not retried: an upload is a file object that cannot seek back to its start; pass a "
    "pathlib.Path, bytes or a seekable file to let the SDK retry)"
)

# Raised before anything was sent and bound to fail again: never worth a retry.
_INVALID_REQUEST = (httpx.LocalProtocolError, httpx.UnsupportedProtocol)


def _echoes(items: list[tuple[str, str]], secrets: tuple[Secret | None, ...]) -> bool:
    """Whether any header value holds any form of one of `secrets` (raw, escaped,
    percent-encoded); the secrets stay in their frames."""
    return any(
        form in value
        for secret in secrets
        if secret is not None
        for form in forms_of(secret.reveal())
        for _, value in items
    )


def _failure_kind(error: httpx.HTTPError | None) -> FailureKind:
    if isinstance(error, _INVALID_REQUEST):
        return FailureKind.INVALID
    if error is not None and request_sent(error) is False:
        return FailureKind.NOT_SENT
    return FailureKind.MAYBE_SENT


def _status_of(outcome: _Attempt) -> int | None:
    return outcome.response.status_code if outcome.response is not None else None


def _account(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _page_number(value: object) -> int | None:
    """The first page asked for: an int, or digits (a web query string's value)."""
    if value is None or isinstance(value, NotGiven):
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidArgumentError(f"page must be a positive integer, got {value!r}")
    return value


def _is_unauthorized(response: httpx.Response | None) -> bool:
    return response is not None and response.status_code == 401


def _connection_error(
    op: Operation[Any], path: str, cause: httpx.HTTPError | None, attempts: int, secrets: list[str]
) -> APIConnectionError:
    """Our error for a failed exchange, caused by a copy of httpx's that holds no request.

    httpx exceptions keep the request, credential headers included (docs/architecture.md §6): the copy
    keeps only the class and the message, scrubbed of the call's secrets. The message
    names the host, the reason and whether the request left (`sent`), which decide on
    a retry.
    """
    cls = APITimeoutError if isinstance(cause, httpx.TimeoutException) else APIConnectionError
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    host = _host_of(cause)
    reason = "" if cause is None else scrub(_describe(cause), secrets)
    sent = request_sent(cause) if cause is not None else None
    error = cls(
        f"{op.method} {path}{' to ' + host if host else ''} failed{tries}: "
        f"{reason or 'no response'} ({_SENT_TEXT[sent]})",
        method=op.method,
        path=path,
        attempts=attempts,
        host=host,
        reason=reason,
        sent=sent,
    )
    if cause is not None:
        error.__cause__ = _detached(cause, secrets)
    return error


_REASON_CHARS = 300
_SENT_TEXT = {
    True: "the request was sent",
    False: "the request was not sent",
    None: "the request may have been sent",
}


def _describe(cause: httpx.HTTPError) -> str:
    """httpx's class and message, on one line and not too long."""
    name = type(cause).__name__
    text = " ".join(str(cause).split())
    if len(text) > _REASON_CHARS:
        text = text[: _REASON_CHARS - 1] + "…"
    return f"{name}: {text}" if text else name


def _host_of(cause: httpx.HTTPError | None) -> str | None:
    if not isinstance(cause, httpx.RequestError):
        return None
    try:
        return cause.request.url.host or None
    except RuntimeError:  # raised by httpx when no request is attached
        return None


def _detached(cause: httpx.HTTPError, secrets: list[str]) -> BaseException:
    message = scrub(str(cause), secrets)
    try:
        copy: BaseException = type(cause)(message)
    except TypeError:  # an exception class with another constructor
        copy = httpx.TransportError(message)
    copy.__suppress_context__ = True
    return copy


def _reason(outcome: _Attempt) -> str:
    if outcome.response is not None:
        return f"HTTP {outcome.response.status_code}"
    return type(outcome.error).__name__


def _given(value: float | NotGiven | None, default: float | None) -> float | None:
    return default if isinstance(value, NotGiven) else value


def _cut(timeout: float | None, remaining: float | None) -> float | None:
    """The attempt's timeout, cut to what is left of the call's deadline."""
    if remaining is None:
        return timeout
    left = max(remaining, 0.0)
    return left if timeout is None else min(timeout, left)


def _slot_error(
    op: Operation[Any], path: str, exc: SlotTooFar, attempts: int, queue_bound: float | None
) -> RateLimitError:
    """The typed error for a slot further away than the call may wait."""
    fields: dict[str, Any] = {
        "status": 429,
        "method": op.method,
        "path": path,
        "attempts": max(attempts, 1),
        "retry_after": exc.wait,
    }
    if exc.paused:
        return RateLimitError(
            f"the rate-limit bucket is paused for {exc.wait:.2f}s more after a 429, longer "
            "than this call's retry deadline allows; not sent",
            **fields,
        )
    return RateLimitQueueTimeout(
        f"the next rate-limit slot is {exc.wait:.2f}s away, past max_queue_wait="
        f"{queue_bound}s; not sent",
        slot_at=time.time() + exc.wait,
        **fields,
    )
