"""The README is a PyPI page: it keeps the two set-up commands, a quickstart that runs,
and links to guides that exist. Its examples run in tests/test_docs_examples.py, with
the guides' ones; the checks of examples that moved to the guides are here too."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest

from refold_async.testing import Emulator

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def _blocks(page: Path, fence: str = "python") -> list[str]:
    return re.findall(rf"```{fence}\n(.*?)```", page.read_text(), flags=re.DOTALL)


def _block_defining(page: Path, name: str) -> str:
    return next(block for block in _blocks(page) if f"def {name}(" in block)


def test_the_readme_keeps_the_two_set_up_commands() -> None:
    """The demo command and the gate command, exactly as CI runs them."""
    commands = [block.strip() for block in _blocks(README, "sh")]
    assert len(commands) == 2, commands  # exactly the two: nothing else to copy and paste
    assert (
        "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/refold demo"
        in commands
    )
    assert "python3 -m venv .venv && .venv/bin/pip install -q nox uv && .venv/bin/nox" in commands
    assert "refold demo" in README.read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 -m venv .venv && .venv/bin/pip install -q nox uv && .venv/bin/nox" in ci


def test_the_readme_is_a_short_page_linking_guides_that_exist() -> None:
    """Short enough for PyPI, and every relative link names a file of the repository."""
    text = README.read_text()
    assert len(text.splitlines()) < 150
    links = re.findall(r"\]\(((?!https?:)[^)#]+)(?:#[^)]*)?\)", text)
    assert any(link.startswith("docs/") for link in links)
    for link in links:
        assert (ROOT / link).exists(), link
    for guide in ("quickstart", "web-backends", "batch", "testing", "errors", "security"):
        assert f"docs/{guide}.md" in links


def test_the_quickstarts_print_the_id_to_pass_back() -> None:
    """`account.account_id` (yours, taken back by every call), not the server's `account.id`."""
    for page in (README, DOCS / "quickstart.md"):
        quickstart = next(block for block in _blocks(page) if "linked_accounts.list" in block)
        assert "print(account.account_id" in quickstart
        assert "account.id)" not in quickstart


async def test_the_emulator_example_runs() -> None:
    """The example test of the testing guide passes."""
    namespace: dict[str, Any] = {}
    example = _block_defining(DOCS / "testing.md", "test_sync_job_survives_an_outage")
    exec(example, namespace)  # noqa: S102 - our docs
    test = cast("Callable[[], Awaitable[None]]", namespace["test_sync_job_survives_an_outage"])
    await test()


async def test_the_upload_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The `files=` example of 'Uploading files' sends its report and logo as uploads."""
    monkeypatch.chdir(tmp_path)  # the example names report.csv relative to the working directory
    (tmp_path / "report.csv").write_bytes(b"month,total\n2026-11,42\n")
    namespace: dict[str, Any] = {}
    exec(_block_defining(DOCS / "calls.md", "send_report"), namespace)  # noqa: S102 - our docs
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


def test_the_async_batch_example_creates_its_event_first() -> None:
    """The batch guide's async job creates the event it fires (else EVENT_NOT_FOUND)."""
    job = next(b for b in _blocks(DOCS / "batch.md") if "async def main" in b)
    assert job.index("events.create(") < job.index("client.batch(")


def test_the_fastapi_recipe_maps_409_and_bounds_the_wait() -> None:
    """The recipe answers ConflictError with 409 and sets the three bounds of a handler's wait."""
    recipe = next(b for b in _blocks(DOCS / "web-backends.md") if "FastAPI(" in b)
    assert "ConflictError" in recipe
    assert "409" in recipe
    for bound in ("max_queue_wait=", "deadline=", "max_retry_after="):
        assert bound in recipe
    assert "max_retry_after" in (DOCS / "rate-limits.md").read_text()
