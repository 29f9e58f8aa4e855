"""The emulator refuses values that do not fit the spec with the SDK's own checks."""

from __future__ import annotations

from typing import Any

import httpx

from refold_async.testing import Emulator
from tests.emulator.conftest import TEST_KEY

BASE = "https://emulator.invalid"


async def _raw(
    emulator: Emulator,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    async with httpx.AsyncClient(transport=emulator.transport(), base_url=BASE) as http:
        sent = {"x-api-key": TEST_KEY, **(headers or {})}
        return await http.request(method, path, headers=sent, **kwargs)


async def test_a_query_value_below_its_bound_is_refused(emulator: Emulator) -> None:
    """`limit=0` on the wire is a 400 naming the parameter, as the SDK would refuse it."""
    response = await _raw(emulator, "GET", "/api/v2/public/linked-account", params={"limit": "0"})
    assert response.status_code == 400
    assert "'limit' must be at least 1" in response.json()["message"]
    ok = await _raw(emulator, "GET", "/api/v2/public/linked-account", params={"limit": "2"})
    assert ok.status_code == 200


async def test_a_webhook_url_that_is_no_uri_is_refused(emulator: Emulator) -> None:
    """A body field with `format: uri` that is not an absolute URI is a 400."""
    body = {"webhook_url": "https://", "webhook_events": ["Connection Created"]}
    response = await _raw(emulator, "POST", "/api/v2/public/webhook", json=body)
    assert response.status_code == 400
    assert "'webhook_url' must be an absolute URI" in response.json()["message"]


async def test_add_records_takes_one_record_or_a_list(emulator: Emulator) -> None:
    """Both branches of the `data` union reach the emulator's table; a number does not."""
    async with emulator.client(rate_limit=None, linked_account_id="acme") as client:
        await client.linked_accounts.upsert(linked_account_id="acme", name="Acme")
        table = await client.tables.create(table_name="t", columns=[{"column_name": "a"}])
        assert table.table_id is not None
        await client.tables.add_records(table.table_id, data={"a": "1"})
        await client.tables.add_records(table.table_id, data=[{"a": "2"}, {"a": "3"}])
        page = await client.tables.list_records(table.table_id)
        assert sorted(r["a"] for r in page.items) == ["1", "2", "3"]
    response = await _raw(
        emulator,
        "PATCH",
        f"/api/v2/public/tables/{table.table_id}",
        json={"data": 3},
        headers={"linked_account_id": "acme"},
    )
    assert response.status_code == 400
