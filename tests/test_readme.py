"""The README's examples run as written."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest

from refold_async.testing import Emulator

README = Path(__file__).resolve().parent.parent / "README.md"


def _block_defining(name: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    return next(block for block in blocks if f"def {name}(" in block)


async def test_readme_emulator_example_runs() -> None:
    """The example test in 'Testing your code against the emulator' passes."""
    namespace: dict[str, Any] = {}
    exec(_block_defining("test_sync_job_survives_an_outage"), namespace)  # noqa: S102 - our README
    example = cast("Callable[[], Awaitable[None]]", namespace["test_sync_job_survives_an_outage"])
    await example()


async def test_readme_upload_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The `files=` example of 'Uploading files' sends its report and logo as uploads."""
    monkeypatch.chdir(tmp_path)  # the example names report.csv relative to the working directory
    (tmp_path / "report.csv").write_bytes(b"month,total\n2026-11,42\n")
    namespace: dict[str, Any] = {}
    exec(_block_defining("send_report"), namespace)  # noqa: S102 - our README
    send_report = cast("Callable[[Any, bytes], Awaitable[None]]", namespace["send_report"])
    emulator = Emulator(rate_limit=None)
    async with emulator.client() as client:
        await client.linked_accounts.upsert(linked_account_id="acct_1", name="Acme")
        await client.events.create(name="report_ready", response="ok")
        await send_report(client, b"\x89PNG")
        page = await client.executions.list(linked_account_id="acct_1")
    payload = page.items[0].extra_fields["payload"]
    assert payload["month"] == "2026-11"
    assert payload["report"]["size"] == 23
    assert payload["logo"]["content_type"] == "image/png"
