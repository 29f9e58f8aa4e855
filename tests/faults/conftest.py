"""Fixtures for the socket-level fault suite: raw servers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.faults.server import FaultServer


@pytest.fixture
async def server() -> AsyncIterator[FaultServer]:
    """A misbehaving server; set `.answer` before calling it."""
    started = await FaultServer().start()
    yield started
    await started.close()


@pytest.fixture
async def other_server() -> AsyncIterator[FaultServer]:
    """A second server, another origin (another port), answering with its request's headers."""
    started = await FaultServer().start()
    yield started
    await started.close()
