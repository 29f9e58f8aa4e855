"""Nothing twice, nothing lost, across real processes and a misbehaving disk; the loopback
emulator counts server-side every POST that took effect.

- two processes on one journal: the second is refused at once (or waits, if asked);
- a full disk (a 16 KiB tmpfs, where this machine lets us mount one) and a file size
  limit (RLIMIT_FSIZE in a child): the run stops with `JournalWriteError` and its partial
  report, the item whose write-ahead record failed unsent; resumed once there is room,
  no account is created twice;
- `kill -9` at random points, 50 times over one job whose runs reconcile what the last
  one left unknown: in the end every account exists, each created exactly once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from refold_async import AsyncRefold, ItemState, JournalWriteError, RateLimit
from refold_async.batch import check_linked_account

from .support import TEST_KEY, RecordingEmulator, create_account, journal_records, make_client

ROOT = Path(__file__).resolve().parents[2]


def _child(url: str, journal: Path, count: int, *extra: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "tests.batch.child", url, str(journal), str(count), *extra]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # noqa: S603 - our own module


async def _wait_for(condition: Any, seconds: float = 60.0) -> None:
    with anyio.fail_after(seconds):
        while not condition():  # noqa: ASYNC110 - another process writes the file: poll it
            await anyio.sleep(0.01)


def _runs(journal: Path) -> int:
    try:
        return sum(1 for r in journal_records(journal) if r["type"] == "run")
    except (OSError, ValueError):  # not there yet, or a record being written
        return 0


def _created(emulator: RecordingEmulator) -> dict[str, int]:
    return {
        name.removeprefix("name of "): n
        for name, n in emulator.effects("POST", "name of k").items()
    }


def _keys(count: int) -> list[str]:
    return [f"k{i:05d}" for i in range(count)]


async def _finish(url: str, journal: Path, count: int) -> Any:
    """The job run to its end in this process, reconciling what earlier runs left."""
    async with AsyncRefold(
        api_key=TEST_KEY, base_url=url, rate_limit=RateLimit(per_second=1000, burst=20)
    ) as client:
        return await client.batch(
            _keys(count), create_account, journal=journal, reconcile=check_linked_account()
        )


# -- two processes, one journal ---------------------------------------------------------


async def test_a_second_process_on_the_same_journal_is_refused_or_waits(tmp_path: Path) -> None:
    """While one process runs the job, a second on its journal exits at once with
    `JournalLockedError` naming the first's pid; a third, told to wait, runs after it
    and skips everything. Each account was created exactly once."""
    count = 60
    emulator = RecordingEmulator(rate_limit=None)
    # The first run's POSTs are held 3 s by the server: it is still running while the
    # others start, however slowly this machine starts a process.
    emulator.faults.add(delay=3.0, count=None, method="POST")
    journal = tmp_path / "job.jsonl"
    async with emulator.server() as server:
        first = _child(server.url, journal, count, "--rate", "400", "10")
        try:
            await _wait_for(lambda: _runs(journal) >= 1)
            second = _child(server.url, journal, count)
            waiter = _child(server.url, journal, count, "--wait", "120")
            _, refused = await anyio.to_thread.run_sync(second.communicate)
            assert second.returncode == 4, refused.decode()
            assert f"pid={first.pid}" in refused.decode()
            assert first.poll() is None
            emulator.faults.clear()
        finally:
            out, errors = await anyio.to_thread.run_sync(first.communicate)
        assert first.returncode == 0, errors.decode()
        assert f"{count} succeeded" in out.decode()
        out, errors = await anyio.to_thread.run_sync(waiter.communicate)
        assert waiter.returncode == 0, errors.decode()
        assert f"{count} skipped" in out.decode()
    assert _created(emulator) == dict.fromkeys(_keys(count), 1)


# -- a full disk ------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 KiB tmpfs, unmounted afterwards (skips where mounting is not allowed)."""
    point = tmp_path / "disk"
    point.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(point)]
    try:
        mounted = subprocess.run(command, capture_output=True, check=False)  # noqa: S603 - fixed arguments
    except FileNotFoundError:
        pytest.skip("no mount command here")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)  # noqa: S603, S607


def _grow(point: Path) -> None:
    command = ["mount", "-o", "remount,size=4m", str(point)]
    subprocess.run(command, check=True)  # noqa: S603 - fixed arguments


async def test_a_full_disk_stops_the_run_and_resume_sends_nothing_twice(
    small_disk: Path,
) -> None:
    """The journal's disk fills: `JournalWriteError` with the partial report, the item
    whose in-flight record failed not sent, no half record left behind; with room again,
    the job resumes and every account ends created exactly once."""
    emulator = RecordingEmulator(rate_limit=None)
    journal = small_disk / "job.jsonl"
    keys = _keys(400)
    async with make_client(emulator) as client:
        with pytest.raises(JournalWriteError) as caught:
            await client.batch(keys, create_account, journal=journal, progress=False)
        error = caught.value
        assert error.errno == 28  # ENOSPC
        assert error.report is not None
        partial = error.report
        assert 0 < partial.counts[ItemState.SUCCEEDED] < len(keys)
        created = _created(emulator)
        assert len(created) == partial.counts[ItemState.SUCCEEDED] + len(partial.unknown)
        assert journal.read_bytes().endswith(b"\n")  # the torn record was cut back off
        _grow(small_disk)
        report = await client.batch(
            keys, create_account, journal=journal, reconcile=check_linked_account()
        )
    assert report.counts[ItemState.UNKNOWN] == report.counts[ItemState.FAILED] == 0
    assert _created(emulator) == dict.fromkeys(keys, 1)


async def test_a_file_size_limit_stops_a_child_and_resume_sends_nothing_twice(
    tmp_path: Path,
) -> None:
    """RLIMIT_FSIZE in a child (EFBIG, short writes): it exits with `JournalWriteError`
    and its partial report; resumed without the limit, no account is created twice."""
    count = 300
    emulator = RecordingEmulator(rate_limit=None)
    journal = tmp_path / "job.jsonl"
    async with emulator.server() as server:
        child = _child(server.url, journal, count, "--file-size-limit", "12000")
        out, errors = await anyio.to_thread.run_sync(child.communicate)
        assert child.returncode == 3, errors.decode()
        assert f"errno={27}" in errors.decode()  # EFBIG
        assert "succeeded" in out.decode()
        assert journal.stat().st_size <= 12000
        assert journal.read_bytes().endswith(b"\n")
        before = _created(emulator)
        assert 0 < len(before) < count
        report = await _finish(server.url, journal, count)
    assert report.counts[ItemState.UNKNOWN] == report.counts[ItemState.FAILED] == 0
    assert _created(emulator) == dict.fromkeys(_keys(count), 1)


# -- kill -9 at random points -----------------------------------------------------------


async def test_fifty_kills_at_random_points_lose_nothing_and_duplicate_nothing(
    tmp_path: Path,
) -> None:
    """50 times: start the job (which first reconciles what the last run left unknown),
    `kill -9` it at a random moment of its run. Then finish it: every account exists,
    created exactly once, by the server's count."""
    # At 50/s (burst 10), a run killed within 1 s of starting settles at most 60 items:
    # 50 runs cannot finish 3,500, so every run is still going when its kill comes.
    trials, count = 50, 3500
    seed = int(os.environ.get("REFOLD_KILL_SEED", uuid.uuid4().int % 10_000))
    draw = random.Random(seed)
    emulator = RecordingEmulator(rate_limit=None)
    emulator.faults.add(delay=0.01, count=None, method="POST")  # POSTs stay in flight a bit
    journal = tmp_path / "job.jsonl"
    kills = 0
    async with emulator.server() as server:
        # Each run is a process forked from one that imported the SDK once: a new
        # interpreter per run would take seconds to start on a loaded machine.
        command = [
            sys.executable, "-m", "tests.batch.child", server.url, str(journal), str(count),
            "--reconcile", "--rate", "50", "10", "--fork-server",
        ]  # fmt: skip
        runs = subprocess.Popen(  # noqa: S603, ASYNC220 - our own module; returns at once
            command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert runs.stdin is not None
        assert runs.stdout is not None
        try:
            for _ in range(trials):
                started = _runs(journal)
                runs.stdin.write(b"go\n")
                runs.stdin.flush()
                line = await anyio.to_thread.run_sync(runs.stdout.readline)
                pid = int(line.split()[1])
                await _wait_for(lambda: _runs(journal) > started)  # noqa: B023
                # The first ~0.3 s of a run are its start (client, journal, reconcile):
                # the kills land there as well as among items in flight.
                await anyio.sleep(draw.uniform(0.0, 1.0))
                try:
                    os.kill(pid, signal.SIGKILL)
                    kills += 1
                except ProcessLookupError:  # it finished first
                    pass
                line = await anyio.to_thread.run_sync(runs.stdout.readline)
                assert line.split()[2] in (b"0", b"-9"), f"seed {seed}: {line!r}"
        finally:
            runs.stdin.close()
            await anyio.to_thread.run_sync(runs.wait)
            runs.stdout.close()
        killed_runs = journal_records(journal)
        report = await _finish(server.url, journal, count)
    assert kills == trials, f"seed {seed}: a run ended before it was killed"
    # The kills found POSTs in flight, which the next run reconciled, and the runs got on.
    assert sum(1 for r in killed_runs if r.get("reconciled")) >= trials // 5, f"seed {seed}"
    assert report.counts[ItemState.SKIPPED] >= count // 10, f"seed {seed}"
    created = _created(emulator)
    twice = sorted(k for k, n in created.items() if n > 1)
    lost = sorted(set(_keys(count)) - set(created))
    assert (twice, lost) == ([], []), f"seed {seed}"
    assert report.counts[ItemState.UNKNOWN] == report.counts[ItemState.FAILED] == 0
