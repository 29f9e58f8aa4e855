"""The emulator takes the trigger operations' form bodies, with uploads merged into the payload."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx

from refold_async import AsyncRefold
from refold_async.testing import Emulator
from refold_sync import Refold
from tests.emulator.conftest import ACCOUNT, TEST_KEY

BASE = "https://emulator.invalid"


async def _payloads(client: AsyncRefold) -> list[Any]:
    page = await client.executions.list(linked_account_id=ACCOUNT)
    return [execution.extra_fields["payload"] for execution in page.items]


async def test_uploads_reach_the_started_execution(
    emulator: Emulator, client: AsyncRefold, tmp_path: Path
) -> None:
    """Each upload lands in the execution's payload under its field name, with its digest."""
    await client.events.create(name="import", response="ok")
    report = tmp_path / "report.csv"
    report.write_bytes(b"id,name\n1,Acme\n")
    answer = await client.events.trigger(
        event="import",
        linked_account_id=ACCOUNT,
        payload={"batch": 7},
        files={"report": report, "logo": ("logo.png", b"\x89PNG\r\n\x1a\n", "image/png")},
    )
    assert answer.message
    (payload,) = await _payloads(client)
    assert payload["batch"] == 7
    assert payload["report"] == {
        "filename": "report.csv",
        "content_type": "text/csv",
        "size": 15,
        "sha256": hashlib.sha256(b"id,name\n1,Acme\n").hexdigest(),
    }
    assert payload["logo"]["sha256"] == hashlib.sha256(b"\x89PNG\r\n\x1a\n").hexdigest()


async def test_the_blocking_client_uploads_too(emulator: Emulator, client: AsyncRefold) -> None:
    """`Refold` takes `files=` with the same signature."""
    await client.events.create(name="import", response="ok")
    with Refold(
        api_key=emulator.api_key,
        base_url=BASE,
        http_client=emulator.http_client(),
        rate_limit=None,
        linked_account_id=ACCOUNT,
    ) as sync:
        sync.events.trigger_for_app("hubspot", event="import", files={"notes": b"hello"})
    (payload,) = await _payloads(client)
    assert payload["notes"]["size"] == 5


async def _raw(emulator: Emulator, path: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(transport=emulator.transport(), base_url=BASE) as http:
        headers = {"x-api-key": TEST_KEY, "linked_account_id": ACCOUNT}
        return await http.post(path, headers=headers, **kwargs)


async def test_a_form_is_refused_where_the_spec_takes_json_only(emulator: Emulator) -> None:
    """Operations without a multipart body answer 415 to a form."""
    response = await _raw(emulator, "/api/v2/public/linked-account", files={"a": b"x"})
    assert response.status_code == 415


async def test_a_payload_that_is_not_json_text_is_refused(
    emulator: Emulator, client: AsyncRefold
) -> None:
    """The form's `payload` must be JSON text, and an object when files merge into it."""
    await client.events.create(name="import", response="ok")
    bad = await _raw(
        emulator,
        "/api/v2/public/event/trigger",
        data={"event": "import", "payload": "{nope"},
        files={"a": b"x"},
    )
    assert bad.status_code == 400
    assert "'payload' must be JSON text" in bad.json()["message"]
    listed = await _raw(
        emulator,
        "/api/v2/public/event/trigger",
        data={"event": "import", "payload": "[1]"},
        files={"a": b"x"},
    )
    assert listed.status_code == 400
    assert "must then be a JSON object" in listed.json()["message"]
