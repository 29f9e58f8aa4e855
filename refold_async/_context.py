"""Per-call observation: hooks that code around a call (the batch runner) sets for it.

This module owns one `ContextVar`, holding the `CallHooks` of whatever unit of work is
running (a batch item). The transport asks `observe_call(op)` once per call and, if it
gets an observer back, tells it right before each attempt is sent and right after each
attempt ends. ContextVars follow tasks created inside the context and anyio's worker
threads, and the sync facade starts each call's task in a copy of the calling thread's
context, so a batch item's calls are observed on either face.

A hook may raise before an attempt is sent (the batch runner does so once it has
stopped): the call then fails with that error, and nothing is sent.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ._operation import Operation

__all__ = ["CallHooks", "CallObserver", "observe_call", "observing"]


class CallObserver(Protocol):
    """Watches the attempts of one call."""

    def before_send(self, attempt: int) -> None:
        """Attempt number `attempt` (from 1) is about to be sent; may raise to stop it."""
        ...

    def after_attempt(self, status: int | None, error: BaseException | None) -> None:
        """The attempt ended: the response's status, or the exception that replaced it."""
        ...


class CallHooks(Protocol):
    """What is told about every call made in a context."""

    def observe(self, op: Operation[Any]) -> CallObserver:
        """A new call of `op` starts: return the observer of its attempts."""
        ...


_hooks: ContextVar[CallHooks | None] = ContextVar("refold_call_hooks", default=None)


def observe_call(op: Operation[Any]) -> CallObserver | None:
    """The observer for a call of `op` in the current context, or `None` (the usual case)."""
    hooks = _hooks.get()
    return None if hooks is None else hooks.observe(op)


@contextmanager
def observing(hooks: CallHooks) -> Generator[None, None, None]:
    """Have `hooks` told about every call made in this context until the block ends."""
    token = _hooks.set(hooks)
    try:
        yield
    finally:
        _hooks.reset(token)
