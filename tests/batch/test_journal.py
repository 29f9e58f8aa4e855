"""The journal: resume skips what succeeded, refuses another job's file, survives a torn
line, holds no secret and no item unless asked; duplicates and keys; the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from refold_async import (
    AsyncRefold,
    BatchReport,
    ItemState,
    JournalMismatchError,
)
from refold_async._cli import main
from refold_async.batch import shard_of

from .support import (
    TEST_KEY,
    RecordingEmulator,
    create_account,
    journal_records,
    make_client,
    upsert_account,
)

KEYS = [f"k{i}" for i in range(10)]


async def test_resume_skips_succeeded_and_retries_failed(tmp_path: Path) -> None:
    """A second run skips what succeeded and runs only what failed, attempt 2."""
    emulator = RecordingEmulator(rate_limit=None)
    journal = tmp_path / "job.jsonl"
    async with make_client(emulator) as client:
        emulator.faults.add(status=404, count=3, method="PUT")
        first = await client.batch(KEYS, upsert_account, journal=journal)
        second = await client.batch(KEYS, upsert_account, journal=journal)
    assert (first.counts[ItemState.SUCCEEDED], first.counts[ItemState.FAILED]) == (7, 3)
    assert first.failed[0].error_type == "NotFoundError"
    assert first.failed[0].status == 404
    assert second.counts[ItemState.SKIPPED] == 7
    assert second.counts[ItemState.SUCCEEDED] == 3
    assert {r.attempt for r in second.succeeded} == {2}
    assert second.requests == 3
    runs = [r for r in journal_records(journal) if r["type"] == "run"]
    assert [r["run"] for r in runs] == [1, 2]


@pytest.mark.parametrize(
    ("change", "what"),
    [
        pytest.param({"fn": create_account}, "function", id="other-fn"),
        pytest.param({"items": [*reversed(KEYS)]}, "input", id="other-input"),
        pytest.param({"shard": (0, 2)}, "shard", id="other-shard"),
    ],
)
async def test_another_jobs_journal_is_refused(
    change: dict[str, object], what: str, tmp_path: Path
) -> None:
    """Another `fn`, input or shard on the same journal is refused before anything runs."""
    emulator = RecordingEmulator(rate_limit=None)
    journal = tmp_path / "job.jsonl"
    async with make_client(emulator) as client:
        await client.batch(KEYS, upsert_account, journal=journal)
        before = journal.read_bytes()
        sent = emulator.stats.requests
        with pytest.raises(JournalMismatchError, match=what):
            await client.batch(
                change.get("items", KEYS),  # type: ignore[arg-type]
                change.get("fn", upsert_account),  # type: ignore[arg-type]
                journal=journal,
                shard=change.get("shard"),  # type: ignore[arg-type]
            )
    assert journal.read_bytes() == before
    assert emulator.stats.requests == sent


async def test_a_torn_last_line_is_skipped_its_item_unknown_and_the_next_record_whole(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A kill in mid-write leaves half a line: reading skips it with a warning and counts
    its item in flight (unknown, not sent); appending starts on a fresh line."""
    emulator = RecordingEmulator(rate_limit=None)
    journal = tmp_path / "job.jsonl"
    async with make_client(emulator) as client:
        await client.batch(KEYS[:5], upsert_account, journal=journal)
        with journal.open("ab") as handle:
            handle.write(b'{"type":"item","key":"k5","sta')
        report = await client.batch(KEYS[:5], upsert_account, journal=journal)
    assert report.counts[ItemState.SKIPPED] == 5
    assert "torn record of item 'k5'" in caplog.text
    lines = journal.read_bytes().split(b"\n")
    assert b'{"type":"item","key":"k5","sta' in lines  # kept, ended, on its own line
    rebuilt = BatchReport.from_journal(journal)
    assert (rebuilt.counts[ItemState.SUCCEEDED], rebuilt.counts[ItemState.UNKNOWN]) == (5, 1)


async def test_journal_holds_no_secret_no_value_and_no_item_unless_asked(tmp_path: Path) -> None:
    """Session tokens minted by items, the API key and item payloads stay out of it."""
    emulator = RecordingEmulator(rate_limit=None)

    async def mint(client: AsyncRefold, item: dict[str, str]) -> str:
        await client.linked_accounts.upsert(linked_account_id=item["id"], name=item["secret"])
        token = await client.session_tokens.create(linked_account_id=item["id"])
        return str(token.token)

    items = [{"id": f"acct-{i}", "secret": f"payload-{i}"} for i in range(3)]
    async with make_client(emulator) as client:
        plain = await client.batch(items, mint, key=lambda i: i["id"], journal=tmp_path / "a")
        asked = await client.batch(
            items, mint, key=lambda i: i["id"], journal=tmp_path / "b", journal_items=True
        )
    tokens = [str(r.value) for r in plain.succeeded]
    assert len(tokens) == 3
    assert asked.counts[ItemState.SUCCEEDED] == 3
    text = (tmp_path / "a").read_text()
    for secret in [*tokens, TEST_KEY, "payload-"]:
        assert secret not in text
    assert "payload-1" in (tmp_path / "b").read_text()
    assert TEST_KEY not in (tmp_path / "b").read_text()
    assert oct((tmp_path / "a").stat().st_mode & 0o777) == "0o600"


async def test_duplicates_are_reported_not_run_twice() -> None:
    """A key seen before in the input is `duplicate`, and its item never runs."""
    emulator = RecordingEmulator(rate_limit=None)
    async with make_client(emulator) as client:
        report = await client.batch(["a", "b", "a", "c", "b"], upsert_account)
    assert report.counts[ItemState.SUCCEEDED] == 3
    assert [r.key for r in report.duplicates] == ["a", "b"]
    assert emulator.stats.requests == 3


async def test_non_string_items_need_a_key() -> None:
    """Items that are not strings without `key=`: a TypeError naming the fix."""
    emulator = RecordingEmulator(rate_limit=None)
    async with make_client(emulator) as client:
        with pytest.raises(TypeError, match="key="):
            await client.batch([1, 2], upsert_account)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="non-empty string"):
            await client.batch([1, 2], upsert_account, key=lambda i: "")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="shard"):
            await client.batch(["a"], upsert_account, shard=(2, 2))
        with pytest.raises(ValueError, match="max_in_flight"):
            await client.batch(["a"], upsert_account, max_in_flight=0)
        with pytest.raises(TypeError, match="unexpected"):
            await client.batch(["a"], upsert_account, jornal="x")  # type: ignore[call-arg]
    assert emulator.stats.requests == 0


def test_shards_are_stable_and_cover_every_key() -> None:
    """`shard_of` is sha256-based: fixed values, and every key in exactly one shard."""
    assert [shard_of(k, 4) for k in ("a", "b", "c", "d")] == [
        shard_of(k, 4) for k in ("a", "b", "c", "d")
    ]
    assert (
        shard_of("k00000", 4)
        == int.from_bytes(__import__("hashlib").sha256(b"k00000").digest()[:8], "big") % 4
    )
    counts = [0] * 4
    for i in range(4000):
        counts[shard_of(f"k{i}", 4)] += 1
    assert sum(counts) == 4000
    assert min(counts) > 800


async def test_report_to_jsonl_merge_and_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Shards' journals merge into one report; `refold batch report` prints and exits 1
    when something failed."""
    emulator = RecordingEmulator(rate_limit=None)
    paths = [tmp_path / f"shard-{i}.jsonl" for i in range(2)]
    async with make_client(emulator) as client:
        emulator.faults.add(status=409, count=1, method="PUT")
        reports = [
            await client.batch(KEYS, upsert_account, journal=path, shard=(i, 2))
            for i, path in enumerate(paths)
        ]
    merged = BatchReport.merge(*reports)
    assert merged.counts[ItemState.SUCCEEDED] + merged.counts[ItemState.FAILED] == len(KEYS)
    assert merged.counts[ItemState.FAILED] == 1
    rebuilt = BatchReport.merge(*(BatchReport.from_journal(p) for p in paths))
    assert rebuilt.counts == merged.counts
    assert rebuilt.requests == merged.requests == len(KEYS)
    out = tmp_path / "problems.jsonl"
    merged.to_jsonl(out)
    (line,) = [json.loads(x) for x in out.read_text().splitlines() if '"failed"' in x]
    assert line["error_type"] == "ConflictError"

    assert main(["batch", "report", *map(str, paths)]) == 1
    printed = capsys.readouterr().out
    assert "9 succeeded, 1 failed" in printed
    assert "ConflictError 409" in printed
    assert main(["batch", "report", str(tmp_path / "missing.jsonl")]) == 2
