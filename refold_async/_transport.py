"""The send loop (docs/architecture.md §2): every call of every operation goes through `Transport`.

From the public entry to the wire, five named steps:

1. `send()` (or `send_to()` for `client.request()`): refuse a pasted credential, assemble
   the checked request (`_assemble`) and pick its credentials plan (`_credentials`);
   nothing is sent if any of them refuses;
2. `_answer()`: the call's record; the decoded model, or with `raw=True` (the
   `with_raw_response` view and the session-token mint) an `APIResponse`;
3. `_logged()`: the call's attempts, inside its span when tracing is on; its record
   completed and its one log line written as it ends;
4. `_retrying()`: the loop. Per attempt: the credential (minting a session token if
   needed), a rate-limit slot (`_pacing.take_slot`), one attempt; then the outcome (`_outcome`):
   a 2xx is returned, a 401 on a minted token mints once more, a 429 pauses the whole
   bucket, and the retry policy gives a delay or the typed error is raised;
5. `_send_once()`: one attempt: uploads opened, the request built and authorized, and
   `_exchange.exchange()` sends it, bounded in time and bytes, paced by its departure.

Only this module (with `_assemble.py`, `_outcome.py`, `_exchange.py`, `_client.py` and
`testing/`) imports httpx; only this one sleeps between attempts. Secrets
appear in logs only as fingerprints.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast, overload

import anyio
import attrs
import httpx

from ._api_response import APIResponse
from ._assemble import Assembler
from ._auth import AuthPlan, Secret, SessionTokenCache
from ._context import observe_call
from ._credentials import Credential, Credentials, authorize
from ._errors import InvalidArgumentError, RefoldUsageError, stale_loop_error
from ._exchange import DEFAULT_MAX_RESPONSE_BYTES, exchange
from ._mint import MINT, read_mint_answer
from ._operation import Operation
from ._outcome import (
    NOT_RESENT,
    Attempt,
    Decoder,
    decode_answer,
    error_of,
    failure_of,
    reason_of,
    response_info,
    slot_error,
)
from ._pacing import Departure, take_slot
from ._pagination import AsyncPaginator, Page
from ._payload import decode_body, request_id_of
from ._ratelimit import SlotTooFar
from ._record import CallRecord, log_call
from ._redact import SENDING, install_log_redaction
from ._request import RequestParts
from ._retry import Failure, FailureKind, RetryPolicy
from ._types import NOT_GIVEN, CallOptions, NotGiven
from ._uploads import opened_uploads

if TYPE_CHECKING:
    from ._ratelimit import RateLimiter
    from ._tracing import CallTracer

__all__ = ["Transport", "TransportConfig"]

T = TypeVar("T")
logger = logging.getLogger("refold")

_NOTABLE_WAIT = 0.5  # a wait for a slot at least this long is logged
_LONGEST_PAUSE = 900.0  # a 429 never pauses a bucket for longer than this


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


class Transport:
    """Sends operations: credentials, rate limit, retries, errors and decoding.

    `raw=True` makes the `with_raw_response` view (`raw()`): the same transport, whose
    `send()` answers an `APIResponse` where the generated signature says `T`.
    """

    def __init__(
        self,
        config: TransportConfig,
        *,
        http: httpx.AsyncClient,
        tokens: SessionTokenCache,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        raw: bool = False,
    ) -> None:
        self.config = config
        self.http = http
        self.tokens = tokens
        self.answers_raw = raw
        self._sleep = sleep
        self._clock = clock
        self._rand = rand
        self.credentials: Credentials = Credentials(
            api_key=config.api_key,
            session_token=config.session_token,
            linked_account_id=config.linked_account_id,
            tokens=tokens,
            mint=self._mint,
        )
        self.assembler: Assembler = Assembler(
            http,
            base_url=config.base_url,
            default_headers=config.default_headers,
            user_agent=config.user_agent,
        )
        install_log_redaction()  # once per process: httpx's and httpcore's records

    def derive(
        self, config: TransportConfig, *, tokens: SessionTokenCache | None = None, raw: bool = False
    ) -> Transport:
        """A transport with other settings, sharing the pool (and tokens unless given)."""
        return Transport(
            config,
            http=self.http,
            tokens=tokens or self.tokens,
            sleep=self._sleep,
            clock=self._clock,
            rand=self._rand,
            raw=raw,
        )

    def raw(self) -> Transport:
        """This transport's `with_raw_response` view: its pool, tokens and limiter, answering
        `APIResponse`s. Only the proxies of `_raw_resource.py`, which retype what they
        return, use it."""
        return self if self.answers_raw else self.derive(self.config, raw=True)

    def bucket_of_client(self) -> str:
        """The bucket of the client's own credential (the API key, else the session token).

        Calls that authenticate with a token minted for a linked account use that
        token's bucket instead.
        """
        secret = self.config.api_key or self.config.session_token
        return f"{self.config.base_url}#{Credential('', secret).fingerprint}"

    # -- step 1: the entries ---------------------------------------------------------------

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
        if self.answers_raw:  # the raw view: `_raw_resource.py` retypes what it answers
            return cast("T", await self._answer(op, parts, plan, raw=True))
        return await self._answer(op, parts, plan, raw=False)

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
        return await self._answer(op, parts, plan, raw=False)

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
        """The checked request and its credentials plan; raises before anything is sent."""
        credentials = self.credentials
        credentials.refuse_own(op, path, query, headers, options)
        # Arguments first: a misspelled `linked_account_id=` is a typo to name, not a
        # missing linked account.
        parts = self.assembler.parts(
            op,
            path=path,
            query=query,
            headers=headers,
            body=body,
            options=options,
            files=files,
            raw_path=raw_path,
        )
        plan = credentials.plan(op, headers, query)
        if credentials.scoped:  # a session token, or a pinned linked account
            credentials.check_scope(op, path, parts)
        if plan.linked_account_id is not None:
            parts.headers["linked_account_id"] = plan.linked_account_id
        return parts, plan

    # -- step 2: the answer ----------------------------------------------------------------

    @overload
    async def _answer(
        self, op: Operation[T], parts: RequestParts, plan: AuthPlan, *, raw: Literal[False]
    ) -> T: ...

    @overload
    async def _answer(
        self, op: Operation[T], parts: RequestParts, plan: AuthPlan, *, raw: Literal[True]
    ) -> APIResponse[T]: ...

    async def _answer(
        self, op: Operation[T], parts: RequestParts, plan: AuthPlan, *, raw: bool
    ) -> T | APIResponse[T]:
        """Send the checked request; the decoded response, or (`raw`) its `APIResponse`."""
        record = CallRecord(op, parts.path, self._clock())
        tracer = self.config.tracer
        if tracer is None:
            response = await self._logged(op, parts, plan, record)
        else:
            run = partial(self._logged, op, parts, plan, record)
            response = await tracer.traced(record, parts.headers, run)
        secrets = self.credentials.lazy  # gathered only for an error's text
        if raw:
            info = response_info(record, response, self.credentials.all_secrets())
            return APIResponse(info, Decoder(op, parts.path, response.content, info, secrets))
        if op.paginated:  # each page carries its response's metadata
            info = response_info(record, response, self.credentials.all_secrets())
            return decode_answer(op, parts.path, response.content, info, secrets)
        result: T = decode_body(
            op,
            status=response.status_code,
            content=response.content,
            path=parts.path,
            headers=response.headers,
            secrets=secrets,
        )
        return result

    async def _mint(self, linked_account_id: str, force: bool) -> tuple[str, float | None]:
        """A session token for `linked_account_id`, minted with the API key.

        `raw=True` whatever this transport's view: the mint wants the token, not the view's
        answer. The answer is checked (`_mint.py`) before it becomes a `Secret`; no local
        here holds the decoded body, whose token a refusal must not show.
        """
        # force_refresh: after a 401 the server's current token is the one it refused.
        query = {"force_refresh": "true" if force else NOT_GIVEN}
        parts, plan = self._prepare(
            MINT, None, query, None, {"linked_account_id": linked_account_id}, None
        )
        raw = await self._answer(MINT, parts, plan, raw=True)
        return read_mint_answer(raw.parse(), status=raw.status_code, path=MINT.path)

    # -- step 3: the record and its log line -----------------------------------------------

    async def _logged(
        self, op: Operation[Any], parts: RequestParts, plan: AuthPlan, record: CallRecord
    ) -> httpx.Response:
        """The call's attempts; its record completed, and its line logged, as it ends."""
        try:
            response = await self._retrying(op, parts, plan, record)
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
            log_call(record, request_id_of(response.headers, self.credentials.all_secrets()))
        return response

    # -- step 4: the loop ------------------------------------------------------------------

    async def _retrying(
        self, op: Operation[Any], parts: RequestParts, plan: AuthPlan, record: CallRecord
    ) -> httpx.Response:
        """Attempts until a 2xx, or the typed error once the retry policy says stop."""
        config = self.config
        policy = config.retry
        queue_bound = _given(parts.max_queue_wait, config.max_queue_wait)
        timeout = _given(parts.timeout, config.timeout)
        started: float | None = None  # the first slot's time: queueing for it is not counted
        attempt = 0
        reminted = False
        observer = observe_call(op)  # batch hooks (refold_async._context); None otherwise
        while True:
            attempt += 1
            if plan.key is not None:  # the API key: nothing to wait for
                credential = Credential("x-api-key", plan.key)
            else:
                credential = await self.credentials.for_attempt(plan, force_mint=reminted)
            bucket = f"{config.base_url}#{credential.fingerprint}"
            elapsed = 0.0 if started is None else self._clock() - started
            remaining = None if policy.deadline is None else policy.deadline - elapsed
            try:
                waited = await take_slot(
                    config.limiter,
                    bucket,
                    priority=attempt > 1,
                    max_wait=queue_bound,
                    max_pause=remaining,
                    sleep=self._sleep,
                    clock=self._clock,
                )
            except SlotTooFar as exc:
                raise slot_error(op, parts.path, exc, attempt - 1, queue_bound) from None
            if waited >= _NOTABLE_WAIT:
                logger.debug(
                    "%s %s %s waited %.2fs for a rate-limit slot (attempt %d)",
                    op.id,
                    op.method,
                    parts.path,
                    waited,
                    attempt,
                )
            record.rate_limit_wait += waited
            record.attempts = attempt
            if started is None:
                started = self._clock()
            attempt_timeout = _cut(timeout, remaining)
            pacing = Departure(config.limiter, bucket, self._clock)
            if observer is not None:
                observer.before_send(attempt)
            outcome = await self._send_once(op, parts, credential, attempt, attempt_timeout, pacing)
            if observer is not None:
                observer.after_attempt(outcome.status, outcome.error)
            response = outcome.response
            if response is not None and response.is_success:
                return response
            if (
                outcome.status == 401
                and plan.mint_for
                and credential.secret
                and not reminted
                and parts.resendable
            ):
                # docs/architecture.md §1: a minted token may have been revoked: mint a fresh one, once.
                self.tokens.invalidate(plan.mint_for, credential.secret)
                reminted = True
                continue
            failure = failure_of(outcome)
            delay = policy.delay_for(
                failure,
                attempt=attempt,
                elapsed=self._clock() - started,
                idempotent=op.is_idempotent,
                rand=self._rand,
            )
            if failure.kind is FailureKind.RATE_LIMITED:
                # docs/architecture.md §4: every 429 pauses the whole bucket, retried or not.
                await config.limiter.penalize(bucket, self._pause_for(failure, delay, attempt))
            unsendable = delay is not None and not parts.resendable
            if unsendable:
                delay = None  # a file object read once cannot be sent again (`_uploads`)
            if delay is None:
                secrets = self.credentials.revealed(credential)
                error = error_of(op, parts.path, outcome, failure, attempt, secrets)
                if unsendable:
                    error.message += NOT_RESENT
                # The raised error's traceback keeps this frame: drop httpx's objects,
                # whose request carries the credential header (docs/architecture.md §6).
                del outcome, response, secrets
                raise error
            record.retrying(attempt, reason_of(outcome), delay)
            logger.info(
                "retrying %s %s in %.2fs after %s (%s, attempt %d of %s), ahead of queued calls",
                op.method,
                parts.path,
                delay,
                reason_of(outcome),
                op.id,
                attempt + 1,
                "the deadline"
                if failure.kind is FailureKind.RATE_LIMITED and policy.deadline is not None
                else policy.max_attempts,
            )
            await self._sleep(delay)

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

    # -- step 5: one attempt -----------------------------------------------------------------

    async def _send_once(
        self,
        op: Operation[Any],
        parts: RequestParts,
        credential: Credential,
        attempt: int,
        attempt_timeout: float | None,
        pacing: Departure,
    ) -> Attempt:
        """One attempt, bounded in time and size (`_exchange`), paced by its departure.

        Uploads are opened for the attempt only, and streamed by httpx (`_uploads`).
        """
        uploads = opened_uploads(parts.uploads) if parts.uploads else _NO_UPLOADS
        with uploads as files:  # nearly every call has none: nothing is opened
            request = self.assembler.request(parts, files, attempt_timeout)
            authorize(request.headers, credential)
            started = time.perf_counter()
            # While this attempt runs, httpx's and httpcore's log records are redacted of
            # this client's credentials (`_redact.RedactingFilter`), a server's echo included.
            sending = SENDING.set(self.credentials.lazy)
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
            return Attempt(None, outcome)
        logger.debug(
            "%s %s %s -> %d in %.3fs (attempt %d)",
            op.id,
            parts.method,
            parts.path,
            outcome.status_code,
            time.perf_counter() - started,
            attempt,
        )
        return Attempt(outcome)


_NO_UPLOADS: AbstractContextManager[list[Any]] = nullcontext([])


def _given(value: float | NotGiven | None, default: float | None) -> float | None:
    return default if isinstance(value, NotGiven) else value


def _cut(timeout: float | None, remaining: float | None) -> float | None:
    """The attempt's timeout, cut to what is left of the call's deadline."""
    if remaining is None:
        return timeout
    left = max(remaining, 0.0)
    return left if timeout is None else min(timeout, left)


def _page_number(value: object) -> int | None:
    """The first page asked for: an int, or digits (a web query string's value)."""
    if value is None or isinstance(value, NotGiven):
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidArgumentError(f"page must be a positive integer, got {value!r}")
    return value
