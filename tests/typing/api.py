"""What type checkers see of the generated API: checked by pyright and mypy, never run.

Each `assert_type` pins the type a call produces; each `type: ignore` pins a mistake the
checkers must catch (pyright honours it too; mypy fails on an ignore that is not needed).
"""

from __future__ import annotations

from typing import Any

from typing_extensions import assert_type

from refold_async import AsyncPaginator, AsyncRefold, Page
from refold_async.models import (
    ApplicationConfig,
    Execution,
    LinkedAccount,
    SessionTokenResponse,
    Webhook,
    WorkflowExecutionResult,
)
from refold_sync import Refold
from refold_sync._resource import SyncPaginator


async def async_face(client: AsyncRefold) -> None:
    """Awaited methods give models; paginated lists give paginators, awaited to a page."""
    assert_type(await client.executions.retrieve("exec_1"), Execution)
    assert_type(client.executions.list(limit=10), AsyncPaginator[Execution])
    assert_type(await client.executions.list(status="running"), Page[Execution])
    async for execution in client.executions.list():
        assert_type(execution, Execution)
    assert_type(await client.webhooks.list(), list[Webhook])
    assert_type(await client.tables.delete("table_1"), bool)
    assert_type(await client.human_tasks.submit("task_1", data={"ok": True}), dict[str, Any])
    token = await client.session_tokens.create(linked_account_id="acct_1", force_refresh=True)
    assert_type(token, SessionTokenResponse)
    run = await client.workflows.execute("wf_1", slug="hubspot", body={"a": 1}, sync_execution=True)
    assert_type(run, WorkflowExecutionResult)
    assert_type(await client.configs.install(slug="hubspot", timeout=5.0), ApplicationConfig)


async def async_mistakes(client: AsyncRefold) -> None:
    """Enum arguments are literals, required arguments are required, options are typed."""
    url = "https://example.com/hook"
    await client.webhooks.create(webhook_url=url, webhook_events=[], method="GET")  # type: ignore[arg-type]
    await client.webhooks.create(webhook_url=url)  # type: ignore[call-arg]
    await client.executions.retrieve("exec_1", timeout="soon")  # type: ignore[arg-type]


def sync_face(client: Refold) -> None:
    """The blocking twins return the same models; paginated lists iterate plainly."""
    assert_type(client.executions.retrieve("exec_1"), Execution)
    assert_type(client.executions.list(), SyncPaginator[Execution])
    for account in client.linked_accounts.list(limit=50):
        assert_type(account, LinkedAccount)
    assert_type(client.linked_accounts.list().first_page(), Page[LinkedAccount])
    assert_type(client.webhooks.list(), list[Webhook])


async def raw_requests(client: AsyncRefold, blocking: Refold) -> None:
    """`request()` gives `Any` without `cast_to`, and the cast type with it, on both faces."""
    assert_type(await client.request("GET", "/api/v2/beta/x"), Any)
    assert_type(await client.request("GET", "/x", cast_to=Webhook), Webhook)
    assert_type(await client.request("GET", "/x", cast_to=list[Webhook]), list[Webhook])
    assert_type(blocking.request("GET", "/x", cast_to=Webhook), Webhook)
    assert_type(blocking.request("POST", "/x", body={"a": 1}, auth="api_key"), Any)
    await client.request("GET", "/x", auth="cookie")  # type: ignore[call-overload]
    assert_type(Webhook.from_dict({}).to_dict(), dict[str, Any])
    assert_type(Webhook.from_dict({}), Webhook)


def scoped_clients(client: AsyncRefold, blocking: Refold) -> None:
    """Scoped clients keep their face's type; credentials are `str` or `None`."""
    assert_type(client.for_linked_account("acct_1"), AsyncRefold)
    assert_type(client.for_session_token("tok", linked_account_id="acct_1"), AsyncRefold)
    assert_type(blocking.for_linked_account("acct_1"), Refold)
    assert_type(blocking.for_session_token("tok"), Refold)
    AsyncRefold(api_key=None, session_token="tok")
    Refold(session_token=None)
    client.for_session_token(None)  # type: ignore[arg-type]
