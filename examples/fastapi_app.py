"""A FastAPI backend on the Refold SDK: one shared client, models returned as they are.

Run it (any Refold base URL; `refold emulator --port 8787` serves a local fake one):

    REFOLD_API_KEY=tk_... REFOLD_BASE_URL=http://127.0.0.1:8787 \\
        uvicorn examples.fastapi_app:app --port 8000

- `POST /session-token`: a session token for the logged-in user's linked account (the
  user's id is the linked account's), creating the account on first use;
- `POST /events/{event}`: fire a custom event for the user, the JSON body as payload;
- `GET /executions?page=1&limit=20`: one page of the user's workflow executions.

Who the user is comes from the `X-User-Id` header here; put your own authentication in
`current_user`. Each handler works through `for_linked_account(user)`: a client pinned to
the user's own linked account (a few microseconds to make; the app's pool and rate
budget), so no handler can reach another customer's data, even by mistake: a call naming
another account raises `LinkedAccountScopeError` before sending. SDK errors become HTTP
answers in one exception handler (`http_answer`).
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse

from refold_async import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncRefold,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InvalidArgumentError,
    MissingCredentialError,
    NotFoundError,
    Page,
    PermissionDeniedError,
    RateLimitError,
    RefoldError,
    RetryPolicy,
    UnprocessableEntityError,
)
from refold_async.models import Execution, SessionTokenResponse, WebhookFiredResponse


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncGenerator[None, None]:
    """One client for the whole app: one connection pool and one rate budget.

    It reads `REFOLD_API_KEY` and `REFOLD_BASE_URL`, and is closed at shutdown. A web
    handler should fail fast rather than hold its caller: `max_queue_wait` bounds the wait
    for a rate-limit slot, `max_retry_after` refuses to sleep out a long `Retry-After`,
    and `deadline` bounds the retries. Either way a `RateLimitError` (503 below) comes
    instead, so a handler waits at most about `max_queue_wait + deadline` seconds.
    """
    retry = RetryPolicy(deadline=10.0, max_retry_after=2.0)
    async with AsyncRefold(max_queue_wait=2.0, timeout=10.0, retry=retry) as client:
        app.state.refold = client
        yield


app = FastAPI(title="Refold SDK example", lifespan=lifespan)


def refold(request: Request) -> AsyncRefold:
    """The app's shared client."""
    client: AsyncRefold = request.app.state.refold
    return client


def current_user(x_user_id: Annotated[str, Header(min_length=1, max_length=128)]) -> str:
    """The logged-in user's id; here a header, in your app your session or JWT."""
    return x_user_id


UserId = Annotated[str, Depends(current_user)]


def user_client(request: Request, user: UserId) -> AsyncRefold:
    """The app's client pinned to the user's linked account (the user's id is its id)."""
    return refold(request).for_linked_account(user)


UserClient = Annotated[AsyncRefold, Depends(user_client)]


@app.post("/session-token")
async def session_token(user: UserId, client: UserClient) -> SessionTokenResponse:
    """A session token for the user's linked account, made on first use."""
    try:
        return await client.session_tokens.create(linked_account_id=user)
    except NotFoundError:  # no linked account yet: create it, then mint
        await client.linked_accounts.upsert(linked_account_id=user, name=user)
        return await client.session_tokens.create(linked_account_id=user)


@app.post("/events/{event}")
async def fire_event(
    event: str,
    client: UserClient,
    payload: Annotated[dict[str, Any] | None, Body()] = None,
) -> WebhookFiredResponse:
    """Fire a custom event for the user; the workflows listening to it start."""
    return await client.events.trigger(event=event, payload=payload or {})


@app.get("/executions")
async def list_executions(client: UserClient, page: int = 1, limit: int = 20) -> Page[Execution]:
    """One page of the user's executions, with the pagination metadata.

    `page` and `limit` go to the SDK as they are: it refuses values below 1 before
    sending (`InvalidArgumentError`, answered 422).
    """
    return await client.executions.list(page=page, limit=limit)


def http_answer(error: RefoldError) -> tuple[int, dict[str, str]]:
    """The HTTP status (and headers) to answer for an SDK error.

    - the thing asked for does not exist: 404; it already exists (or clashes): 409;
    - the API's rate limit, or a slot too far away: 503 with `Retry-After`;
    - bad input (refused by the SDK before sending, or by the API): 422;
    - the API refused *our* credentials, or it failed or could not be reached: 502
      (504 for a timeout); a credential missing from our configuration, or a call
      naming another user's account (`LinkedAccountScopeError`, a bug here): 500.
    """
    if isinstance(error, NotFoundError):
        return 404, {}
    if isinstance(error, ConflictError):
        return 409, {}
    if isinstance(error, RateLimitError):
        wait = error.retry_after if error.retry_after is not None else 1.0
        return 503, {"Retry-After": str(max(1, math.ceil(wait)))}
    if isinstance(error, InvalidArgumentError | BadRequestError | UnprocessableEntityError):
        return 422, {}
    if isinstance(error, MissingCredentialError):
        return 500, {}
    if isinstance(error, APITimeoutError):
        return 504, {}
    if isinstance(
        error, AuthenticationError | PermissionDeniedError | APIStatusError | APIConnectionError
    ):
        return 502, {}
    return 500, {}


@app.exception_handler(RefoldError)
async def refold_error(request: Request, error: Exception) -> JSONResponse:
    """Every SDK error as JSON. The SDK's messages never hold a credential, but only
    the user's own mistakes (4xx) are explained; upstream trouble stays generic."""
    assert isinstance(error, RefoldError)  # noqa: S101 - registered for RefoldError only
    status, headers = http_answer(error)
    message = str(error) if status in (404, 409, 422) else "the integration service is unavailable"
    body = {"error": type(error).__name__, "message": message}
    return JSONResponse(body, status_code=status, headers=headers)
