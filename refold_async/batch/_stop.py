"""Stopping a batch gracefully: Ctrl-C and SIGTERM, from whichever thread they arrive on.

The first signal asks the run to stop taking items and to wait (a bounded time) for
those in flight; a second one stops waiting. `Stopper.request()` is safe from any thread
and from signal handlers: it hands the news to the runner's loop, asyncio's or trio's, through
`refold_async._native.soon_from_anywhere()`. Handlers are installed only on the main thread (the only one
Python delivers signals to), and the previous ones are put back when the run ends.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Generator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from refold_async._native import Soon, soon_from_anywhere

__all__ = ["Stopper", "stop_on_signals"]

SIGNALS = tuple(
    s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)) if s is not None
)


class Stopper:
    """Carries stop requests to a running batch.

    Attributes:
        reason: The first request's reason (a signal's name), once one came.
        hurried: Whether a second request came: stop waiting for items in flight.
        on_change: Called on the loop after each request (the runner's wake-up).
    """

    def __init__(self) -> None:
        self.reason: str | None = None
        self.hurried = False
        self.on_change: Callable[[], None] | None = None
        self._soon: Soon | None = None

    def bind(self) -> None:
        """Attach to the running loop (call there, before the run starts)."""
        self._soon = soon_from_anywhere()
        self._wake()  # a request that came before binding

    def request(self, reason: str) -> None:
        """Stop taking items (the first time), or stop waiting for those in flight."""
        if self.reason is None:
            self.reason = reason
        else:
            self.hurried = True
        self._wake()

    def stopping(self) -> bool:
        """Whether a stop was requested."""
        return self.reason is not None

    def _wake(self) -> None:
        soon = self._soon
        if soon is not None:  # once the loop is gone, the run is over anyway
            soon(self._changed)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()


@contextmanager
def stop_on_signals(stopper: Stopper, *, enabled: bool) -> Generator[None, None, None]:
    """While the block runs, SIGINT and SIGTERM ask `stopper` to stop (main thread only)."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        stopper.request(signal.Signals(signum).name)

    previous: dict[int, Any] = {}
    try:
        for sig in SIGNALS:
            previous[sig] = signal.signal(sig, handler)
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
