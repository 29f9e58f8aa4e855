"""`examples/sync_script.py`: the management command, its threads, against the emulator's server."""

from __future__ import annotations

import importlib.util
import io
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from refold_async.testing import BackgroundServer, Emulator

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sync_script.py"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sync_script_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[BackgroundServer]:
    """The emulator on loopback, found by the script through its environment variables."""
    emulator = Emulator(rate_limit=(20.0, 5), execution_delay=0.0)
    with emulator.serve_in_background() as server:
        monkeypatch.setenv("REFOLD_BASE_URL", server.url)
        monkeypatch.setenv("REFOLD_API_KEY", emulator.api_key)
        yield server


def test_every_customer_is_synced_from_eight_threads(served: BackgroundServer) -> None:
    """12 customers over 8 threads: each account upserted with its plan, one event each, no 429."""
    out = io.StringIO()
    assert _example().main(["--customers", "12", "--workers", "8"], stdout=out) == 0
    assert out.getvalue() == "synced 12 customers, 0 failed\n"
    world = served.emulator.world()
    assert len(world.linked_accounts) == 12
    assert world.linked_accounts["cust-0003"]["udf"] == [{"key_name": "plan", "key_value": "free"}]
    fired = Counter(r.linked_account_id for r in world.executions.values())
    assert fired == {f"cust-{n:04d}": 1 for n in range(1, 13)}
    assert served.emulator.stats.rate_limited == 0  # one shared budget for all threads


def test_a_failing_customer_is_reported_and_the_rest_go_on(
    served: BackgroundServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refused trigger fails one customer: exit 1, the summary and the error line say so."""
    served.emulator.faults.add(status=422, count=1, operation="triggerEvent")
    out = io.StringIO()
    assert _example().main(["--customers", "6", "--workers", "3"], stdout=out) == 1
    assert out.getvalue() == "synced 5 customers, 1 failed\n"
    assert "UnprocessableEntityError" in capsys.readouterr().err
    assert len(served.emulator.world().linked_accounts) == 6
