"""The journal under misuse and damage, in one process: one run per journal (or a wait),
network file systems refused, torn records skipped, foreign files refused, unknown items
reconciled (both faces) or resolved by hand, and reports that add up."""

from __future__ import annotations

import json
import os
import re
import socket
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from refold_async import (
    AsyncRefold,
    BatchReport,
    ItemState,
    JournalLockedError,
    JournalMismatchError,
    RefoldUsageError,
    UnknownItem,
)
from refold_async._cli import main
from refold_async.batch import BatchProgress, check_linked_account, check_webhook, first_answer
from refold_async.batch import _journal as journal_module
from refold_async.batch._journal import LockedFile, filesystem_type
from refold_async.batch._progress import _Bar
from refold_async.batch._reconcile import Reconcile
from refold_async.batch._report import busy_time
from refold_async.testing import BASE_URL
from refold_sync import Refold

from .support import (
    NO_BACKOFF,
    RecordingEmulator,
    create_account,
    journal_records,
    last_states,
    make_client,
    upsert_account,
)

KEYS = [f"k{i}" for i in range(6)]
BATCH_GUIDE = Path(__file__).resolve().parents[2] / "docs" / "batch.md"


def _created(emulator: RecordingEmulator) -> dict[str, int]:
    """How many POSTs creating each key the server handled."""
    return {
        name.removeprefix("name of "): n
        for name, n in emulator.effects("POST", "name of k").items()
    }


# -- one writer per journal -------------------------------------------------------------


async def test_a_second_run_on_a_held_journal_fails_at_once_naming_the_holder(
    tmp_path: Path,
) -> None:
    """While a run holds the journal, another is refused before it reads or sends
    anything, with the holder's pid and host."""
    emulator = RecordingEmulator(rate_limit=None)
    journal = tmp_path / "job.jsonl"
    lock = LockedFile.try_acquire(journal)
    try:
        async with make_client(emulator) as client:
            with pytest.raises(JournalLockedError) as caught:
                await client.batch(KEYS, upsert_account, journal=journal)
    finally:
        lock.release()
    assert caught.value.pid == os.getpid()
    assert caught.value.host == socket.gethostname()
    assert f"pid {os.getpid()}" in str(caught.value)
    assert emulator.stats.requests == 0
    assert not journal.exists()


async def test_two_runs_at_once_in_one_process_cannot_share_a_journal(tmp_path: Path) -> None:
    """The lock is per run, not per process: a second batch on the same journal while the
    first runs is refused, and the first completes with every key created once."""
    emulator = RecordingEmulator(rate_limit=None)
    emulator.faults.add(delay=0.05, count=None, method="POST")
    journal = tmp_path / "job.jsonl"
    started = anyio.Event()
    outcomes: list[object] = []

    async def first(client: AsyncRefold) -> None:
        def mark(snapshot: BatchProgress) -> None:
            started.set()

        outcomes.append(await client.batch(KEYS, create_account, journal=journal, progress=mark))

    async with make_client(emulator) as client, anyio.create_task_group() as group:
        group.start_soon(first, client)
        await started.wait()
        with pytest.raises(JournalLockedError):
            await client.batch(KEYS, create_account, journal=journal)
    (report,) = outcomes
    assert isinstance(report, BatchReport)
    assert report.counts[ItemState.SUCCEEDED] == len(KEYS)
    assert set(_created(emulator).values()) == {1}


async def test_wait_for_journal_waits_for_the_holder_then_runs(tmp_path: Path) -> None:
    """`wait_for_journal=` polls until the other run lets go; nothing is sent before."""
    emulator = RecordingEmulator(rate_limit=None)
    journal = tmp_path / "job.jsonl"
    lock = LockedFile.try_acquire(journal)
    sent_while_held: list[int] = []

    async def release_later() -> None:
        await anyio.sleep(0.2)
        sent_while_held.append(emulator.stats.requests)
        lock.release()

    async with make_client(emulator) as client, anyio.create_task_group() as group:
        group.start_soon(release_later)
        report = await client.batch(KEYS, upsert_account, journal=journal, wait_for_journal=30)
    assert sent_while_held == [0]
    assert report.counts[ItemState.SUCCEEDED] == len(KEYS)


async def test_wait_for_journal_gives_up_after_its_time(tmp_path: Path) -> None:
    """A holder that does not let go within `wait_for_journal` seconds: JournalLockedError."""
    emulator = RecordingEmulator(rate_limit=None)
    journal = tmp_path / "job.jsonl"
    lock = LockedFile.try_acquire(journal)
    try:
        async with make_client(emulator) as client:
            with pytest.raises(JournalLockedError):
                await client.batch(KEYS, upsert_account, journal=journal, wait_for_journal=0.1)
            with pytest.raises(ValueError, match="wait_for_journal"):
                await client.batch(KEYS, upsert_account, journal=journal, wait_for_journal=-1)
    finally:
        lock.release()
    assert emulator.stats.requests == 0


def test_sync_face_refuses_a_held_journal(tmp_path: Path) -> None:
    """`Refold.batch()` holds the same rule."""
    emulator = RecordingEmulator(rate_limit=None)
    journal = tmp_path / "job.jsonl"
    lock = LockedFile.try_acquire(journal)
    try:
        with (
            Refold(
                api_key=emulator.api_key, base_url=BASE_URL, http_client=emulator.http_client(),
                rate_limit=None, retry=NO_BACKOFF,
            ) as client,
            pytest.raises(JournalLockedError),
        ):  # fmt: skip
            client.batch(KEYS, lambda c, k: None, journal=journal)
    finally:
        lock.release()


def test_filesystem_type_finds_the_closest_mount(tmp_path: Path) -> None:
    """The journal's file system is read from /proc/mounts (the longest mount point)."""
    if filesystem_type(Path("/")) is None:
        pytest.skip("no /proc/mounts here")
    assert filesystem_type(Path("/proc/self")) == "proc"
    assert filesystem_type(tmp_path) is not None


async def test_a_journal_on_an_unreliable_file_system_is_refused_unless_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where locks cannot be trusted (NFS, SMB...), the run refuses before anything, naming
    the opt-in; `allow_unreliable_locks=True` runs."""
    kind = filesystem_type(tmp_path)
    if kind is None:
        pytest.skip("no /proc/mounts here")
    # Treat the test folder's own file system as one whose locks are not kept.
    monkeypatch.setattr(journal_module, "UNRELIABLE_LOCK_FILESYSTEMS", frozenset({kind}))
    emulator = RecordingEmulator(rate_limit=None)
    journal = tmp_path / "job.jsonl"
    async with make_client(emulator) as client:
        with pytest.raises(RefoldUsageError, match="allow_unreliable_locks=True"):
            await client.batch(KEYS, upsert_account, journal=journal)
        assert emulator.stats.requests == 0
        report = await client.batch(
            KEYS, upsert_account, journal=journal, allow_unreliable_locks=True
        )
    assert report.counts[ItemState.SUCCEEDED] == len(KEYS)


# -- reading: torn records and foreign files ---------------------------------------------


async def test_a_torn_record_in_the_middle_is_skipped_and_the_file_stays_readable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Half a record followed by more (a full disk, then space again): the reader
    resynchronises on the next record, even on the same line, and its item is unknown."""
    emulator = RecordingEmulator(rate_limit=None)
    journal = tmp_path / "job.jsonl"
    keys = KEYS[:4]
    async with make_client(emulator) as client:
        await client.batch(keys, create_account, journal=journal, max_in_flight=1)
        lines = [
            line for line in journal.read_bytes().splitlines(keepends=True)
            if b'"key":"k3"' not in line
        ]  # fmt: skip
        # a torn in-flight record of k3, glued to the record written after it
        torn = b'{"type":"item","key":"k3","state":"in_fl'
        journal.write_bytes(b"".join(lines[:3]) + torn + b"".join(lines[3:]))
        report = await client.batch(keys, create_account, journal=journal)
        again = await client.batch(keys, create_account, journal=journal)
    assert "torn record of item 'k3'" in caplog.text
    assert report.counts[ItemState.SKIPPED] == 3  # k1's records came right after the tear
    assert [r.key for r in report.unknown] == ["k3"]
    assert again.counts[ItemState.UNKNOWN] == 1
    assert _created(emulator) == dict.fromkeys(keys, 1)  # k3 counted in flight: not resent
    rebuilt = BatchReport.from_journal(journal)
    assert (rebuilt.counts[ItemState.SUCCEEDED], rebuilt.counts[ItemState.UNKNOWN]) == (3, 1)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b'{"type":"item","key":"k0","state":"succeeded"}\n', id="no-header"),
        pytest.param(b'{"id":1,"name":"a"}\n{"id":2,"name":"b"}\n', id="other-jsonl"),
        pytest.param(b"key,state\nk0,succeeded\n", id="csv"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00", id="binary"),
    ],
)
async def test_a_file_that_is_not_this_jobs_journal_is_refused(
    content: bytes, tmp_path: Path
) -> None:
    """No job header, not a journal at all: refused, the file untouched, nothing sent and
    no key taken as done."""
    emulator = RecordingEmulator(rate_limit=None)
    journal = tmp_path / "job.jsonl"
    journal.write_bytes(content)
    async with make_client(emulator) as client:
        with pytest.raises(JournalMismatchError, match="not a batch journal"):
            await client.batch(KEYS, upsert_account, journal=journal)
    assert journal.read_bytes() == content
    assert emulator.stats.requests == 0
    assert main(["batch", "report", str(journal)]) == 2


async def test_an_empty_file_or_a_torn_header_starts_afresh(tmp_path: Path) -> None:
    """An empty file (a mkstemp) or a header cut short by a kill: nothing ran, so the job
    starts from the beginning."""
    emulator = RecordingEmulator(rate_limit=None)
    empty, torn = tmp_path / "empty.jsonl", tmp_path / "torn.jsonl"
    empty.write_bytes(b"")
    torn.write_bytes(b'{"type":"job","version":1,"fn":"x')
    async with make_client(emulator) as client:
        for journal in (empty, torn):
            report = await client.batch(KEYS, upsert_account, journal=journal)
            assert report.counts[ItemState.SUCCEEDED] == len(KEYS)
            assert journal_records(journal)[0]["type"] == "job"


# -- reconcile ---------------------------------------------------------------------------


async def _leave_two_unknown(emulator: RecordingEmulator, journal: Path) -> set[str]:
    """A first run where one POST took effect and lost its answer, and one was refused
    by a 500 before the handler (both unknown)."""
    emulator.faults.add(drop="disconnect", count=1, method="POST")
    emulator.faults.add(status=500, body="empty", count=1, method="POST")
    async with make_client(emulator) as client:
        first = await client.batch(KEYS, create_account, journal=journal, max_in_flight=1)
    emulator.faults.clear()
    unknown = {r.key for r in first.unknown}
    assert len(unknown) == 2
    assert sorted(_created(emulator).get(k, 0) for k in unknown) == [0, 1]
    return unknown


async def test_reconcile_settles_unknown_items_before_anything_runs(tmp_path: Path) -> None:
    """`reconcile=` is asked about each unknown item first: the created account counts
    as succeeded, the other runs again; every account exists exactly once."""
    emulator = RecordingEmulator(rate_limit=None)
    journal = tmp_path / "job.jsonl"
    unknown = await _leave_two_unknown(emulator, journal)
    asked: list[UnknownItem[Any]] = []
    order: list[str] = []
    checker = check_linked_account()

    async def reconcile(client: AsyncRefold, item: UnknownItem[Any]) -> bool | None:
        asked.append(item)
        order.append(f"reconcile {item.key}")
        return await checker(client, item)

    async def job(client: AsyncRefold, key: str) -> str:
        order.append(f"run {key}")
        return await create_account(client, key)

    job.__qualname__ = create_account.__qualname__  # the same job: its journal applies
    job.__module__ = create_account.__module__

    async with make_client(emulator) as client:
        report = await client.batch(KEYS, job, journal=journal, reconcile=reconcile)
    assert {a.key for a in asked} == unknown
    assert len(order) == 3
    assert all(step.startswith("reconcile") for step in order[:2])
    assert {(a.operation, a.method, a.path) for a in asked} == {
        ("createLinkedAccount", "POST", "/api/v2/public/linked-account")
    }
    assert all(a.item == a.key for a in asked)
    assert report.counts[ItemState.SKIPPED] == len(KEYS) - 2
    assert report.counts[ItemState.SUCCEEDED] == 2
    assert report.counts[ItemState.UNKNOWN] == 0
    assert [r.reconciled for r in report.succeeded].count(True) == 1
    assert _created(emulator) == dict.fromkeys(KEYS, 1)
    assert last_states(journal) == dict.fromkeys(KEYS, "succeeded")


async def test_reconcile_none_or_an_error_leaves_items_unknown(tmp_path: Path) -> None:
    """`None` (cannot tell) and a reconciler that raises both leave the item unknown, the
    error kept; a reconciler answering something else is a TypeError."""
    emulator = RecordingEmulator(rate_limit=None)
    journal = tmp_path / "job.jsonl"
    unknown = await _leave_two_unknown(emulator, journal)
    first, second = sorted(unknown)

    async def unsure(client: AsyncRefold, item: UnknownItem[Any]) -> bool | None:
        if item.key == first:
            raise RuntimeError("the check failed")
        return None

    async with make_client(emulator) as client:
        report = await client.batch(KEYS, create_account, journal=journal, reconcile=unsure)
        with pytest.raises(TypeError, match="True, False or None"):
            await client.batch(
                KEYS, create_account, journal=journal,
                reconcile=lambda c, u: "yes",  # type: ignore[arg-type, return-value]
            )  # fmt: skip
    assert {r.key for r in report.unknown} == unknown
    errors = {r.key: r.error for r in report.unknown}
    assert isinstance(errors[first], RuntimeError)
    assert errors[second] is None
    assert report.requests == 0


async def test_shipped_reconcilers_answer_only_for_their_operation(tmp_path: Path) -> None:
    """`check_linked_account()` and `check_webhook()` say None for other operations;
    `first_answer()` asks each in turn."""
    emulator = RecordingEmulator(rate_limit=None)
    async with make_client(emulator) as client:
        await client.linked_accounts.create(linked_account_id="acct-1", name="a")
        await client.webhooks.create(
            webhook_url="https://hooks.example/a", webhook_events=["workflow.completed"]
        )
        accounts, hooks = check_linked_account(), check_webhook()
        both = first_answer(accounts, hooks)
        account = UnknownItem[str](key="acct-1", operation="createLinkedAccount")
        missing = UnknownItem[str](key="acct-2", operation="createLinkedAccount")
        hook = UnknownItem[str](key="https://hooks.example/a", operation="registerWebhook")
        other = UnknownItem[str](key="https://hooks.example/b", operation="registerWebhook")
        assert await accounts(client, account) is True
        assert await accounts(client, missing) is False
        assert await accounts(client, hook) is None
        assert await hooks(client, hook) is True
        assert await hooks(client, other) is False
        assert [await both(client, u) for u in (account, missing, hook, other)] == [
            True, False, True, False,
        ]  # fmt: skip
        assert await both(client, UnknownItem[str](key="x", operation="triggerEvent")) is None


def test_reconcile_on_the_sync_face(tmp_path: Path) -> None:
    """`Refold.batch(reconcile=)`: a plain function on a worker thread with the sync
    client, or a shipped reconciler; each created account exists exactly once."""
    emulator = RecordingEmulator(rate_limit=None)
    seen: list[tuple[str, bool]] = []

    def create(client: Refold, key: str) -> None:
        client.linked_accounts.create(linked_account_id=key, name=f"name of {key}")

    def by_hand(client: Refold, item: UnknownItem[Any]) -> bool | None:
        seen.append((item.key, isinstance(client, Refold)))
        try:
            client.linked_accounts.retrieve(item.key)
        except Exception:
            return False
        return True

    with Refold(
        api_key=emulator.api_key, base_url=BASE_URL, http_client=emulator.http_client(),
        rate_limit=None, retry=NO_BACKOFF,
    ) as client:  # fmt: skip
        reconcilers: tuple[Reconcile, ...] = (by_hand, check_linked_account())
        for index, reconcile in enumerate(reconcilers):
            journal = tmp_path / f"job-{index}.jsonl"
            keys = [f"{k}-{index}" for k in KEYS]
            emulator.faults.add(drop="disconnect", count=1, method="POST")
            emulator.faults.add(status=500, body="empty", count=1, method="POST")
            first = client.batch(keys, create, journal=journal, max_in_flight=1)
            assert first.counts[ItemState.UNKNOWN] == 2
            emulator.faults.clear()
            report = client.batch(keys, create, journal=journal, reconcile=reconcile)
            assert report.counts[ItemState.SUCCEEDED] == 2
            assert report.counts[ItemState.UNKNOWN] == 0
    assert [ok for _, ok in seen] == [True, True]
    assert set(_created(emulator).values()) == {1}
    assert len(_created(emulator)) == 2 * len(KEYS)


async def test_resolve_by_hand_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`refold batch resolve JOURNAL KEY --as succeeded|failed`: the first is skipped on
    resume, the second runs again; keys that are not unknown are refused, nothing written."""
    emulator = RecordingEmulator(rate_limit=None)
    journal = tmp_path / "job.jsonl"
    unknown = await _leave_two_unknown(emulator, journal)
    done = next(k for k in unknown if _created(emulator).get(k))
    not_done = next(k for k in unknown if k != done)
    settled = next(k for k in KEYS if k not in unknown)
    before = journal.read_bytes()
    assert main(["batch", "resolve", str(journal), done, settled, "--as", "succeeded"]) == 2
    assert f"{settled}" in capsys.readouterr().err
    assert journal.read_bytes() == before
    assert main(["batch", "resolve", str(journal), done, "--as", "succeeded"]) == 0
    assert main(["batch", "resolve", str(journal), not_done, "--as", "failed"]) == 0
    lock = LockedFile.try_acquire(journal)
    try:
        assert main(["batch", "resolve", str(journal), not_done, "--as", "failed"]) == 2
    finally:
        lock.release()
    async with make_client(emulator) as client:
        report = await client.batch(KEYS, create_account, journal=journal)
    assert report.counts[ItemState.SKIPPED] == len(KEYS) - 1
    assert [r.key for r in report.succeeded] == [not_done]
    assert _created(emulator) == dict.fromkeys(KEYS, 1)


# -- reports -----------------------------------------------------------------------------


async def test_summary_names_every_unknown_item_or_how_many_more(tmp_path: Path) -> None:
    """Up to ten unknown items by key, then "... and N more": none is left unsaid."""
    emulator = RecordingEmulator(rate_limit=None)
    emulator.faults.add(drop="disconnect", count=None, method="POST")
    keys = [f"k{i:02d}" for i in range(14)]
    async with make_client(emulator) as client:
        few = await client.batch(keys[:6], create_account, progress=False)
        many = await client.batch(keys, create_account, journal=tmp_path / "j", progress=False)
    for result in few.unknown:
        assert f" {result.key}  " in few.summary()
    assert "more" not in few.summary()
    text = many.summary()
    assert sum(f" {k}  " in text for k in keys) == 10
    assert "unknown           ... and 4 more" in text
    assert "... and 4 more" in BatchReport.from_journal(tmp_path / "j").summary()


def test_report_pace_counts_only_the_time_items_ran(tmp_path: Path) -> None:
    """A journal of two runs an hour apart reports requests over the time items were
    running, not over the last run alone or the hour between."""
    journal = tmp_path / "job.jsonl"
    start = time.time() - 7200
    records: list[dict[str, Any]] = [
        {"type": "job", "version": 1, "fn": "f", "input": "x", "shard": None},
        {"type": "run", "run": 1, "rate": [20.0, 5]},
    ]
    # run 1: 40 items, one request each, over 2 s; killed (no end record)
    records += [
        {"type": "item", "key": f"a{i}", "state": "succeeded", "requests": 1,
         "seconds": 0.1, "t": start + 0.05 * (i + 1) + 0.05}
        for i in range(40)
    ]  # fmt: skip
    records.append({"type": "run", "run": 2, "rate": [20.0, 5]})
    records += [
        {"type": "item", "key": f"b{i}", "state": "succeeded", "requests": 1,
         "seconds": 0.1, "t": start + 3600 + 0.05 * (i + 1) + 0.05}
        for i in range(20)
    ]  # fmt: skip
    records.append({"type": "end", "run": 2, "elapsed": 1.0})
    journal.write_text("".join(json.dumps(r) + "\n" for r in records))
    report = BatchReport.from_journal(journal)
    assert report.requests == 60
    assert report.elapsed == pytest.approx(2.05 + 1.05, abs=0.01)
    assert 19.0 <= report.achieved_rate <= 20.0
    assert busy_time([(0.0, 1.0), (0.5, 2.0), (3.0, 4.0)]) == pytest.approx(3.0)


def test_the_bar_shows_skipped_items_and_no_stray_separators(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bar's text: skipped and duplicate counts when there are some, parts joined by
    one separator each, none dangling (tqdm's ", " before a postfix included)."""
    pytest.importorskip("tqdm")
    import io

    for total in (20, None):
        stream = io.StringIO()
        bar = _Bar(total, stream)
        snapshot = BatchProgress(
            succeeded=3, failed=0, unknown=0, skipped=12, duplicates=1, in_flight=1,
            total=total, elapsed=1.0, requests=3, rate_limited=0, items_per_second=3.0,
            eta=None, eta_floor=None, done=True,
        )  # fmt: skip
        bar.close(snapshot)
        last = stream.getvalue().strip().split("\r")[-1]
        assert "skipped 12" in last
        assert "duplicate 1" in last
        assert ", ok" not in last
        assert "·  " not in last
        assert not last.rstrip().endswith("·")
        assert "failed" not in last


async def test_readme_reconcile_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The batch guide's reconcile example, run twice around a lost answer: the account whose
    POST took effect is reconciled, none is created twice."""
    blocks = re.findall(r"```python\n(.*?)```", BATCH_GUIDE.read_text(), flags=re.DOTALL)
    namespace: dict[str, Any] = {}
    exec(next(b for b in blocks if "def create_accounts(" in b), namespace)  # noqa: S102 - our docs
    monkeypatch.chdir(tmp_path)  # the example's journal is relative
    emulator = RecordingEmulator(rate_limit=None)
    ids = [f"acct-{i}" for i in range(5)]
    async with make_client(emulator) as client:
        emulator.faults.add(drop="disconnect", count=1, method="POST")
        await namespace["create_accounts"](client, ids)
        assert "1 unknown" in capsys.readouterr().out
        emulator.faults.clear()
        await namespace["create_accounts"](client, ids)
    assert "1 succeeded, 0 failed, 0 unknown, 4 skipped" in capsys.readouterr().out
    posted = [
        json.loads(body)["linked_account_id"] for m, _, body in emulator.handled if m == "POST"
    ]
    assert sorted(posted) == ids  # each account created once


def test_a_journal_report_counts_interrupted_items(tmp_path: Path) -> None:
    """An item whose last record is `interrupted` (stopped with its calls answered) is
    counted as interrupted by `from_journal()`, which the report then calls not ok."""
    journal = tmp_path / "job.jsonl"
    records = [
        {"type": "job", "version": 1, "fn": "f", "input": "x", "shard": None},
        {"type": "item", "key": "a", "state": "succeeded", "requests": 1, "t": 2.0},
        {"type": "item", "key": "b", "state": "in_flight", "attempt": 1, "t": 2.0},
        {"type": "item", "key": "b", "state": "interrupted", "attempt": 1, "t": 3.0},
    ]
    journal.write_text("".join(json.dumps(r) + "\n" for r in records))
    report = BatchReport.from_journal(journal)
    assert report.interrupted == 1
    assert report.counts[ItemState.SUCCEEDED] == 1
    assert not report.ok


@pytest.mark.parametrize(
    ("policy", "syncs"),
    [
        pytest.param("write_ahead", [0, 1, 2, 3], id="write-ahead"),
        pytest.param("always", [0, 0, 0, 1, 1, 2, 2, 3, 3], id="always"),
        pytest.param("end", [3], id="end"),
        pytest.param("never", [], id="never"),
    ],
)
async def test_journal_fsync_policy_syncs_each_write_ahead_record_before_its_post(
    policy: str, syncs: list[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`journal_fsync="write_ahead"` forces each in-flight record to disk before its POST
    reaches the server (the server had seen 0, 1, 2 POSTs at the syncs), and the file at
    the end; "always" every record; "end" once; "never" not at all."""
    emulator = RecordingEmulator(rate_limit=None)
    seen: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        seen.append(len(emulator.handled))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    async with make_client(emulator) as client:
        report = await client.batch(
            KEYS[:3], create_account, journal=tmp_path / "j", max_in_flight=1,
            journal_fsync=policy,  # type: ignore[arg-type]
        )  # fmt: skip
        with pytest.raises(ValueError, match="journal_fsync"):
            await client.batch(KEYS, create_account, journal_fsync="sometimes")  # type: ignore[arg-type]
    assert report.counts[ItemState.SUCCEEDED] == 3
    assert seen == syncs


async def test_reconcile_gets_the_item_when_the_job_journals_items(tmp_path: Path) -> None:
    """With `key=` and `journal_items=True`, the in-flight record carries the item, so a
    reconciler sees it even after a kill left nothing else (simulated: the outcome
    records removed)."""
    emulator = RecordingEmulator(rate_limit=None)
    journal = tmp_path / "job.jsonl"
    items = [{"id": f"acct-{i}", "url": f"https://hooks.example/{i}"} for i in range(3)]

    async def create(client: AsyncRefold, item: dict[str, str]) -> None:
        await client.linked_accounts.create(linked_account_id=item["id"], name=item["url"])

    seen: list[object] = []

    def remember(client: AsyncRefold, unknown: UnknownItem[Any]) -> None:
        seen.append(unknown.item)

    options: dict[str, Any] = {"key": lambda i: i["id"], "journal": journal}
    async with make_client(emulator) as client:
        emulator.faults.add(drop="disconnect", count=1, method="POST")
        first = await client.batch(items, create, journal_items=True, max_in_flight=1, **options)
        (lost,) = first.unknown
        kept = [
            line for line in journal.read_text().splitlines(keepends=True)
            if f'"{lost.key}"' not in line or '"in_flight"' in line
        ]  # fmt: skip
        journal.write_text("".join(kept))  # as if killed with the POST in flight
        await client.batch(items, create, reconcile=remember, **options)
    assert seen == [next(i for i in items if i["id"] == lost.key)]
