"""`refold_async._native`: the running loop's identity and the way back onto it, per backend."""

from __future__ import annotations

import threading

import anyio
import anyio.to_thread
import pytest

from refold_async import RefoldUsageError
from refold_async._native import loop_identity, running_loop_kind, soon_from_anywhere

pytestmark = pytest.mark.anyio  # the backend matrix: asyncio and trio (tests/conftest.py)


async def test_the_running_loop_is_named_and_has_one_identity(anyio_backend: str) -> None:
    """The kind is the backend's name; the identity is stable within a run."""
    assert running_loop_kind() == anyio_backend
    assert loop_identity() is loop_identity()


async def test_a_plain_function_reaches_the_loop_from_another_thread() -> None:
    """`soon_from_anywhere()` queues onto the loop from a worker thread, without blocking it."""
    soon = soon_from_anywhere()
    arrived = anyio.Event()
    ran_on: list[int] = []

    def on_the_loop() -> None:
        ran_on.append(threading.get_ident())
        arrived.set()

    await anyio.to_thread.run_sync(soon, on_the_loop)
    with anyio.fail_after(10):
        await arrived.wait()
    assert ran_on == [threading.get_ident()]  # it ran on the loop's thread


def test_outside_a_loop_the_error_says_what_to_do() -> None:
    """No asyncio or trio loop in this thread: a usage error, not a bare RuntimeError."""
    assert running_loop_kind() is None
    with pytest.raises(RefoldUsageError, match=r"trio\.run"):
        loop_identity()
    with pytest.raises(RefoldUsageError, match="asyncio"):
        soon_from_anywhere()
