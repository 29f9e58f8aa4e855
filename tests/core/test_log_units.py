"""Every duration in the SDK's log lines is in seconds, written `1.234s`: no `ms` beside `s`."""

from __future__ import annotations

import logging
import re

import pytest

from refold_async import RetryPolicy
from refold_async.testing import Emulator

DURATION = re.compile(r"\d+(?:\.\d+)?\s*(ms|s|µs)\b")


async def test_log_lines_write_durations_in_seconds(caplog: pytest.LogCaptureFixture) -> None:
    """The per-attempt, retry and per-call lines all use seconds with an `s` suffix."""
    emulator = Emulator(rate_limit=None)
    emulator.faults.add(status=503, count=1)
    retry = RetryPolicy(backoff_base=0.001, backoff_cap=0.001)
    with caplog.at_level(logging.DEBUG, logger="refold"):
        async with emulator.client(retry=retry) as client:
            await client.webhooks.list()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("refold")]
    units = [match.group(1) for line in lines for match in DURATION.finditer(line)]
    assert any("-> 503" in line for line in lines)  # the attempt line is there
    assert any(line.startswith("retrying") for line in lines)
    assert units
    assert set(units) == {"s"}, lines
