"""`examples/batch_job.py` against the emulator: a journaled batch, its progress, a resume."""

from __future__ import annotations

import importlib.util
import io
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

from refold_async import BatchReport, ItemState
from refold_async.testing import Emulator

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "batch_job.py"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("batch_job_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_command_runs_a_demo_job_on_the_emulator(tmp_path: Path) -> None:
    """`--emulator --demo 12`: exit 0, every item succeeded, the journal says so too."""
    journal = tmp_path / "onboard.jsonl"
    out = io.StringIO()
    code = _example().main(["--emulator", "--demo", "12", "--journal", str(journal)], out=out)
    assert code == 0
    assert "12" in out.getvalue()
    report = BatchReport.from_journal(journal)
    assert report.counts[ItemState.SUCCEEDED] == 12
    assert report.ok


async def test_a_failed_item_is_retried_on_resume_and_nothing_is_sent_twice(tmp_path: Path) -> None:
    """One event trigger refused: that item fails; the rerun skips the rest and finishes it."""
    example = _example()
    emulator = Emulator(rate_limit=None, execution_delay=0.0)
    customers = [f"c{n}" for n in range(5)]
    journal = tmp_path / "job.jsonl"
    seen: list[Any] = []
    emulator.faults.add(status=400, count=1, operation="triggerEvent")
    async with emulator.client(rate_limit=None) as client:
        first = await example.run(client, customers, journal=journal, progress=seen.append)
        assert (first.counts[ItemState.SUCCEEDED], first.counts[ItemState.FAILED]) == (4, 1)
        assert not first.ok
        assert seen
        assert seen[-1].succeeded == 4
        assert seen[-1].failed == 1
        second = await example.run(client, customers, journal=journal, progress=False)
    assert second.counts[ItemState.SKIPPED] == 4
    assert second.counts[ItemState.SUCCEEDED] == 1
    per_account = Counter(r.linked_account_id for r in emulator.world().executions.values())
    assert per_account == dict.fromkeys(customers, 1)  # each event fired exactly once
    assert set(emulator.world().linked_accounts) == set(customers)


def test_the_progress_lines_callback_writes_tenths() -> None:
    """The plain progress callback writes a line as each tenth of the job completes."""
    from refold_async import BatchProgress

    stream = io.StringIO()
    show = _example().progress_lines(stream)
    for done in range(11):
        show(
            BatchProgress(
                succeeded=done,
                failed=0,
                unknown=0,
                skipped=0,
                duplicates=0,
                in_flight=0,
                total=10,
                elapsed=0.0,
                requests=done,
                rate_limited=0,
                items_per_second=1.0,
                eta=None,
                eta_floor=None,
            )
        )
    assert stream.getvalue().splitlines()[-1] == "10/10 done, 0 failed"
    assert len(stream.getvalue().splitlines()) == 11
