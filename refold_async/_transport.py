"""The one send loop (DESIGN §2): every call of every operation goes through `Transport`.

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
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

import anyio
import attrs
import httpx

from ._auth import AuthPlan, Secret, SessionTokenCache, plan_auth
from ._errors import APIConnectionError, APIStatusError, APITimeoutError
from ._operation import AuthScope, Operation
from ._pagination import AsyncPaginator, Page
from ._request import RequestParts, build_request
from ._response import decode_body, error_from_response
from ._retry import Failure, FailureKind, RetryPolicy, parse_retry_after
from ._types import NOT_GIVEN, CallOptions, NotGiven

if TYPE_CHECKING:
    from ._ratelimit import RateLimiter

__all__ = ["Transport", "TransportConfig"]

T = TypeVar("T")
logger = logging.getLogger("refold")

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

    async def send(
        self,
        op: Operation[T],
        *,
        path: Mapping[str, object] | None = None,
        query: Mapping[str, object] | None = None,
        headers: Mapping[str, object] | None = None,
        body: object = NOT_GIVEN,
        options: CallOptions | None = None,
    ) -> T:
        """Send `op` with the caller's arguments and return the decoded response."""
        options = options or {}
        plan = self._plan(op, headers, query)
        parts = build_request(
            op, path=path, query=query, headers=headers, body=body, options=options
        )
        if plan.linked_account_id is not None:
            parts.headers["linked_account_id"] = plan.linked_account_id
        response = await self._send_with_retries(op, parts, plan)
        result: T = decode_body(
            op, status=response.status_code, content=response.content, path=parts.path
        )
        return result

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

        return AsyncPaginator(fetch, first if isinstance(first, int) else None)

    def _plan(
        self,
        op: Operation[Any],
        headers: Mapping[str, object] | None,
        query: Mapping[str, object] | None,
    ) -> AuthPlan:
        given = (headers or {}).get("linked_account_id")
        if not (isinstance(given, str) and given) and op.auth is AuthScope.SESSION_TOKEN:
            # Some token-only operations name their linked account in the query instead.
            given = (query or {}).get("linked_account_id")
        linked = given if isinstance(given, str) and given else self.config.linked_account_id
        return plan_auth(
            op,
            api_key=self.config.api_key,
            session_token=self.config.session_token,
            linked_account_id=linked,
        )

    async def _credential(self, plan: AuthPlan) -> tuple[str, str, Secret | None]:
        """The auth header's name and value for this attempt, and the credential used."""
        if plan.key is not None:
            return "x-api-key", plan.key.reveal(), plan.key
        token = plan.token
        if plan.mint_for is not None:
            token = await self.tokens.get(plan.mint_for, self._mint)
        if token is not None:
            return "authorization", f"Bearer {token.reveal()}", token
        return "", "", None

    async def _mint(self, linked_account_id: str) -> tuple[str, float | None]:
        answer: object = await self.send(_MINT, body={"linked_account_id": linked_account_id})
        data = cast("dict[str, Any]", answer) if isinstance(answer, dict) else {}
        token = data.get("token")
        if not isinstance(token, str) or not token:
            raise APIConnectionError(
                "the session-token endpoint answered without a token",
                method="POST",
                path=_MINT.path,
            )
        lifetime = data.get("expires_in")
        return token, float(lifetime) if isinstance(lifetime, int | float) else None

    async def _send_with_retries(
        self, op: Operation[Any], parts: RequestParts, plan: AuthPlan
    ) -> httpx.Response:
        started = self._clock()
        attempt = 0
        reminted = False
        while True:
            attempt += 1
            header, value, credential = await self._credential(plan)
            bucket = (
                f"{self.config.base_url}#{credential.fingerprint if credential else 'anonymous'}"
            )
            await self.config.limiter.acquire(bucket)
            outcome = await self._send_once(parts, header, value, attempt)
            response = outcome.response
            if response is not None and response.is_success:
                return response
            if (
                response is not None
                and response.status_code == 401
                and plan.mint_for
                and credential
                and not reminted
            ):
                # DESIGN §1: a minted token may have been revoked: mint once more.
                self.tokens.invalidate(plan.mint_for, credential)
                reminted = True
                continue
            failure = self._failure(outcome)
            delay = self.config.retry.delay_for(
                failure,
                attempt=attempt,
                elapsed=self._clock() - started,
                idempotent=op.is_idempotent,
                rand=self._rand,
            )
            if delay is None:
                raise self._error(op, parts, outcome, failure, attempt, value)
            if failure.kind is FailureKind.RATE_LIMITED:
                await self.config.limiter.penalize(bucket, delay)
            logger.info(
                "retrying %s %s in %.2fs after %s (attempt %d of %d)",
                op.method,
                parts.path,
                delay,
                _reason(outcome, failure),
                attempt + 1,
                self.config.retry.max_attempts,
            )
            await self._sleep(delay)

    async def _send_once(
        self, parts: RequestParts, header: str, value: str, attempt: int
    ) -> _Attempt:
        headers = {**self.config.default_headers, **parts.headers}
        if header:
            headers[header] = value
        timeout = self.config.timeout if isinstance(parts.timeout, NotGiven) else parts.timeout
        request = self.http.build_request(
            parts.method,
            self.config.base_url + parts.path,
            params=list(parts.params) or None,
            headers=headers,
            json=parts.json if parts.has_json else None,
            timeout=timeout,
        )
        started = time.perf_counter()
        try:
            response = await self.http.send(request)
            await response.aread()
        except httpx.HTTPError as exc:
            logger.debug(
                "%s %s failed: %s (attempt %d)",
                parts.method,
                parts.path,
                type(exc).__name__,
                attempt,
            )
            return _Attempt(None, exc)
        logger.debug(
            "%s %s -> %d in %.1f ms (attempt %d)",
            parts.method,
            parts.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
            attempt,
        )
        return _Attempt(response)

    def _failure(self, outcome: _Attempt) -> Failure:
        response = outcome.response
        if response is None:
            not_sent = isinstance(
                outcome.error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout
            )
            return Failure(kind=FailureKind.NOT_SENT if not_sent else FailureKind.MAYBE_SENT)
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
        secret: str,
    ) -> APIConnectionError | APIStatusError:
        response = outcome.response
        if response is None:
            cls = (
                APITimeoutError
                if isinstance(outcome.error, httpx.TimeoutException)
                else APIConnectionError
            )
            tries = f" after {attempts} attempts" if attempts > 1 else ""
            error = cls(
                f"{op.method} {parts.path} failed{tries}: {type(outcome.error).__name__}",
                method=op.method,
                path=parts.path,
                attempts=attempts,
            )
            error.__cause__ = outcome.error
            return error
        return error_from_response(
            status=response.status_code,
            headers=response.headers,
            content=response.content,
            method=op.method,
            path=parts.path,
            attempts=attempts,
            retry_after=failure.retry_after,
            secrets=self._secrets(secret),
        )

    def _secrets(self, used: str) -> list[str]:
        secrets = [used, used.removeprefix("Bearer ")]
        for secret in (self.config.api_key, self.config.session_token):
            if secret is not None:
                secrets.append(secret.reveal())
        return secrets


def _reason(outcome: _Attempt, failure: Failure) -> str:
    if outcome.response is not None:
        return f"HTTP {outcome.response.status_code}"
    return type(outcome.error).__name__
