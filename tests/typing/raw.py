"""What type checkers see of `with_raw_response`: checked by pyright and mypy, never run."""

from __future__ import annotations

from typing_extensions import assert_type

from refold_async import APIResponse, AsyncRefold, Page, ResponseInfo
from refold_async.models import Execution, Webhook
from refold_sync import Refold


async def async_face(client: AsyncRefold) -> None:
    """Each raw method keeps its parameters and answers `APIResponse[<its return type>]`."""
    response = await client.webhooks.with_raw_response.retrieve("wh_1")
    assert_type(response, APIResponse[Webhook])
    assert_type(response.parse(), Webhook)
    assert_type(response.status_code, int)
    assert_type(response.request_id, str | None)
    assert_type(await client.webhooks.with_raw_response.list(), APIResponse[list[Webhook]])
    pages = await client.executions.with_raw_response.list(limit=5)
    assert_type(pages, APIResponse[Page[Execution]])
    page = await client.executions.list(limit=5)
    assert_type(page.response, ResponseInfo | None)
    await client.webhooks.with_raw_response.retrieve(1)  # type: ignore[arg-type]
    await client.webhooks.with_raw_response.retrieve("wh_1", nope=1)  # type: ignore[call-arg]


def sync_face(client: Refold) -> None:
    """The same on the blocking face, without awaiting."""
    response = client.webhooks.with_raw_response.retrieve("wh_1", timeout=3.0)
    assert_type(response, APIResponse[Webhook])
    assert_type(response.parse(), Webhook)
    assert_type(client.executions.with_raw_response.list(limit=5), APIResponse[Page[Execution]])
    assert_type(client.executions.with_raw_response.retrieve("e_1").parse(), Execution)
    client.webhooks.with_raw_response.retrieve(1)  # type: ignore[arg-type]
