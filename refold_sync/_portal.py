"""The process's one event-loop thread, on which every sync client's calls run (docs/architecture.md §8).

This module owns that thread: starting it lazily, handing it coroutines, cancelling them
when the waiting caller gives up, stopping it at interpreter exit and replacing it after
`fork`. Every sync client shares it, so they share one rate-limit bucket and one
connection pool per credential, whichever thread they are called from (docs/architecture.md §4).

- **The loop** is anyio's, on its asyncio backend, run by a daemon thread of this module
  (`anyio.run`), and the way in is an anyio `BlockingPortal` opened on it. The thread is
  this module's, not `start_blocking_portal()`'s, because leaving that context manager
  joins its thread without a bound, and interpreter exit must never wait unboundedly.
- **Dispatch** is `BlockingPortal.start_task_soon`: the task starts in the portal's task
  group and the caller blocks on the `concurrent.futures.Future` it returns.
- **Cancellation**: if the caller's wait ends with an exception of its own (Ctrl-C, an
  alarm-based timeout), the call's task is cancelled before the exception propagates,
  which releases the request, its limiter slot and its connection; an interruption that
  lands before the future exists is caught by the task itself (it starts cancelled).
- **Exit**: an `atexit` hook stops the portal (cancelling what is still running), closes
  registered clients and ends the loop, with a bounded wait, so interpreter exit never
  hangs. The thread is a daemon: should a task refuse to finish, exit proceeds anyway.
  Every call cut off this way raises `ClientClosedError`, in flight (`sent=None`) or
  made afterwards (`sent=False`): a stopping loop closes its gate first, so no call is
  ever queued on a loop that will not run it.
- **Fork**: `os.register_at_fork` and a pid check make a forked child start its own loop
  thread on its first call. The parent's thread does not exist in the child; the loop
  and async clients it left behind are kept referenced there and never used, so that
  nothing of the parent's is finalized (or its sockets shut) from the child.
- **Inside a running event loop** (a coroutine, a Jupyter cell, asyncio's or trio's) a
  call *works*: it runs on this module's loop thread while the caller's thread, and so
  the caller's loop, blocks for its duration. The first such call of the process warns
  (`RuntimeWarning`, pointing at the caller's line): async code should use
  `refold_async.AsyncRefold`.
- **On the loop thread itself** a call would wait for the thread it blocks: it raises
  `RefoldUsageError` instead of deadlocking.
"""

from __future__ import annotations

import atexit
import os
import threading
import warnings
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import CancelledError, Future
from contextlib import suppress
from types import FrameType
from typing import Any, Generic, Protocol, TypeVar, cast

import anyio
import anyio.abc
from anyio.from_thread import BlockingPortal
from typing_extensions import ParamSpec

from refold_async._errors import ClientClosedError, RefoldUsageError
from refold_async._native import Soon, loop_identity, running_loop_kind, soon_from_anywhere

__all__ = ["is_loop_thread", "is_open_loop", "keep_alive", "run", "shutdown", "spawn", "track"]

T = TypeVar("T")
P = ParamSpec("P")

STAGE_TIMEOUT = 2.0
"""Seconds the loop waits, when stopping, for registered clients to close."""

EXIT_TIMEOUT = 2 * STAGE_TIMEOUT + 1.0
"""Seconds `shutdown()` waits for the loop thread to end: interpreter exit never waits longer."""

START_TIMEOUT = 30.0
"""Seconds a first call waits for a new loop thread to open its portal."""


class AsyncClosable(Protocol):
    """Something with an async `aclose()`, closed on the loop when it stops."""

    async def aclose(self) -> None: ...


class _LoopThread:
    """One anyio loop, with a blocking portal into it, run by one daemon thread."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.closables: weakref.WeakSet[AsyncClosable] = weakref.WeakSet()
        self.accepting = True  # the gate: calls may still start on the loop
        self.closed = False  # the loop has ended (set on the loop thread, last)
        self.portal: BlockingPortal | None = None
        self.spawned: deque[Callable[[], Coroutine[Any, Any, object]]] = deque()
        self.spawn_wanted: anyio.Event | None = None  # set (on the loop) when `spawned` grew
        self.identity: object = None  # `loop_identity()` of the loop, once it runs
        self.soon: Soon | None = None  # queues a plain function on the loop, without blocking
        self.stopping: anyio.Event | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._main, name="refold-sync-loop", daemon=True)
        try:
            self.thread.start()
        except RuntimeError:  # no new threads once the interpreter is finalizing
            raise _exit_error(sent=False) from None
        if not self.ready.wait(START_TIMEOUT) or self.portal is None:
            self.accepting = False
            raise _exit_error(sent=False)

    def _main(self) -> None:
        try:
            anyio.run(self._serve)
        finally:
            self.accepting = False
            self.closed = True
            self.ready.set()  # a loop that failed to start releases its first caller

    async def _serve(self) -> None:
        self.soon = soon_from_anywhere()
        self.identity = loop_identity()
        self.stopping = anyio.Event()
        self.spawn_wanted = anyio.Event()
        async with anyio.create_task_group() as background:
            background.start_soon(self._start_spawned, background)
            async with BlockingPortal() as portal:
                self.portal = portal
                self.ready.set()
                await self.stopping.wait()
                self.accepting = False
                # Cancel in-flight calls first, so closing a pool never waits for a request.
                await portal.stop(cancel_remaining=True)
            with anyio.move_on_after(STAGE_TIMEOUT):
                async with anyio.create_task_group() as closing:
                    for client in list(self.closables):
                        closing.start_soon(_close_quietly, client)
            background.cancel_scope.cancel()

    async def _start_spawned(self, background: anyio.abc.TaskGroup) -> None:
        """Start what `spawn()` queued: a task must start tasks, a plain callback cannot."""
        while True:
            await cast(anyio.Event, self.spawn_wanted).wait()  # made before this task started
            self.spawn_wanted = anyio.Event()
            while self.spawned:
                background.start_soon(_quietly, self.spawned.popleft())

    def want_spawn(self) -> None:
        """On the loop: wake `_start_spawned()`."""
        if self.spawn_wanted is not None:
            self.spawn_wanted.set()

    def submit(self, fn: Callable[..., Awaitable[T]], *args: object) -> Future[T]:
        """Start `fn(*args)` on the loop; `ClientClosedError` if the loop is stopping."""
        portal = self.portal
        if not self.accepting or portal is None:
            raise _exit_error(sent=False)
        try:
            return portal.start_task_soon(fn, *args)
        except RuntimeError:  # the portal stopped between the check and the call
            raise _exit_error(sent=False) from None

    def stop(self, timeout: float) -> None:
        """Stop the loop from another thread and wait up to `timeout` for it to end."""
        self.accepting = False
        soon, stopping = self.soon, self.stopping
        if soon is not None and stopping is not None:
            soon(stopping.set)  # never blocks: a wedged loop cannot hold exit up
        self.thread.join(timeout)


async def _close_quietly(client: AsyncClosable) -> None:
    with suppress(Exception):  # at exit, one client's failure must not keep the others open
        await client.aclose()


def _exit_error(*, sent: bool | None) -> ClientClosedError:
    if sent is None:
        return ClientClosedError(
            "the call was cut off: refold_sync's event loop stopped (interpreter exit) "
            "while it was in flight, so its request may have reached the server",
            sent=None,
        )
    return ClientClosedError(
        "the call was not made: refold_sync's event loop has stopped (the interpreter is "
        "exiting); nothing was sent",
        sent=False,
    )


_lock = threading.Lock()
_current: _LoopThread | None = None
_exiting = False
"""Set by the `atexit` hook: from then on calls fail instead of starting a new loop."""
_inherited: list[object] = []
"""What a forked child inherited from its parent's loop thread, kept so it is never finalized."""


_warned_in_a_loop = False
"""Set once a call from inside a running event loop has warned: the warning comes once."""

IN_A_LOOP_WARNING = (
    "refold_sync.Refold was called inside a running event loop: each call blocks that "
    "loop until it returns. In async code use refold_async.AsyncRefold and await its calls"
)


def _warn_if_in_a_loop() -> None:
    """Warn, once per process, when the calling thread is running an event loop."""
    global _warned_in_a_loop
    if running_loop_kind() is None:
        return  # the usual case: a plain thread
    _warned_in_a_loop = True
    warnings.warn(IN_A_LOOP_WARNING, RuntimeWarning, stacklevel=_callers_level())


def _callers_level() -> int:
    """The `stacklevel` of the first frame outside the SDK: the user's line."""
    import inspect  # only on the warning's path: it costs an import

    here = inspect.currentframe()
    frame: FrameType | None = here.f_back if here is not None else None  # stacklevel 1
    level = 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("refold_"):
        frame, level = frame.f_back, level + 1
    return level


def _loop_thread() -> _LoopThread:
    """The current process's loop thread, started on first use."""
    current = _current
    if current is None or current.pid != os.getpid():
        if _exiting:
            raise _exit_error(sent=False)
        current = _start_loop_thread()
    if current.thread.ident == threading.get_ident():
        raise RefoldUsageError(
            "a refold_sync call was made on the SDK's own event-loop thread, where it "
            "would wait for itself forever; from async code use refold_async.AsyncRefold"
        )
    return current


def _start_loop_thread() -> _LoopThread:
    global _current
    with _lock:
        if _current is not None and _current.pid != os.getpid():
            _inherited.append(_current)  # fork without the at-fork hook (e.g. a C extension)
            _current = None
        if _current is None:
            _current = _LoopThread()
        return _current


def run(fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Await `fn(*args, **kwargs)` on the loop thread and return its result here.

    `fn` itself is called on the loop thread, so whatever it creates lives there. Its
    exceptions are re-raised as they are, with the async frames in their traceback. If
    the wait is interrupted (Ctrl-C, or any exception a signal handler raises), the task
    is cancelled and the interruption propagates.

    Raises:
        RefoldUsageError: When called on the loop thread itself.
        ClientClosedError: When the loop stopped (interpreter exit) before the call
            completed, or had stopped before it was made.
    """
    current = _loop_thread()
    if not _warned_in_a_loop:
        _warn_if_in_a_loop()
    call: _Call[T] = _Call(current, fn, args, kwargs)
    # The call exists before anything is scheduled, so an interruption at any point
    # below (even inside `start_task_soon`, once the task already started) still finds
    # what to cancel: the task checks `abandoned` when it starts.
    try:
        call.future = current.submit(call.body)
        return call.future.result()
    except CancelledError:  # only the loop's wind-down cancels a task the caller awaits
        raise _exit_error(sent=None) from None
    except ClientClosedError:
        raise
    except BaseException:
        call.abandon()
        raise


class _Call(Generic[T]):
    """One blocking call: its task's body (on the loop) and its cancellation (from the caller).

    `body()` runs on the loop thread; `abandon()` runs in the caller's thread and queues
    the cancellation on the loop, so the two never race over the cancel scope.
    """

    __slots__ = ("abandoned", "args", "fn", "future", "kwargs", "loop", "scope")

    def __init__(
        self,
        loop: _LoopThread,
        fn: Callable[..., Awaitable[T]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self.loop = loop
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.abandoned = False
        self.future: Future[T] | None = None
        self.scope: anyio.CancelScope | None = None

    async def body(self) -> T:
        # Queued just as the loop began to stop, or its caller already gave up (and nobody
        # reads this error): `fn` is never called, so nothing is sent.
        if not self.loop.accepting or self.abandoned:
            raise _exit_error(sent=False)
        with anyio.CancelScope() as scope:
            self.scope = scope
            return await self.fn(*self.args, **self.kwargs)
        raise _exit_error(sent=None)  # cancelled by `abandon()`: nobody waits for this

    def abandon(self) -> None:
        self.abandoned = True
        future = self.future
        if future is not None:
            future.cancel()  # the portal cancels the task's scope on the loop
            return
        soon = self.loop.soon
        if soon is not None:
            soon(self._cancel)

    def _cancel(self) -> None:
        if self.scope is not None:
            self.scope.cancel()


def spawn(fn: Callable[[], Coroutine[Any, Any, object]], /) -> None:
    """Start `fn()` on the loop thread without waiting for it; safe from any thread.

    Does nothing when this process has no loop thread (for example in a forked child),
    so it suits cleanup from `finally` blocks and finalizers. Never blocks, even on the
    loop thread itself; what `fn()` raises is dropped.
    """
    current = _current
    if current is None or current.pid != os.getpid() or not current.accepting:
        return
    soon = current.soon
    if soon is None:
        return
    current.spawned.append(fn)  # a deque's append is atomic: safe from any thread
    soon(current.want_spawn)


async def _quietly(fn: Callable[[], Coroutine[Any, Any, object]]) -> None:
    with suppress(Exception):  # cleanup: a failure has nobody to go to
        await fn()


def is_loop_thread() -> bool:
    """Whether the calling thread is this process's loop thread."""
    current = _current
    return (
        current is not None
        and current.pid == os.getpid()
        and current.thread.ident == threading.get_ident()
    )


def is_open_loop(identity: object) -> bool:
    """Whether `identity` (a `loop_identity()`) is this process's loop, still running."""
    current = _current
    return (
        current is not None
        and current.pid == os.getpid()
        and not current.closed
        and current.identity is identity
    )


def track(client: AsyncClosable) -> None:
    """Have `client.aclose()` awaited on the loop when it stops at interpreter exit.

    Held weakly: tracking never keeps a client alive. Call on the loop thread.
    """
    current = _current
    if current is not None and current.pid == os.getpid():
        current.closables.add(client)


def keep_alive(obj: object) -> None:
    """Keep `obj` referenced for the life of the process.

    For async clients a forked child inherited: finalizing them there could shut sockets
    that the parent still uses.
    """
    _inherited.append(obj)


def shutdown(timeout: float = EXIT_TIMEOUT) -> None:
    """Stop this process's loop thread; the next call starts a new one.

    Runs at interpreter exit. In-flight calls are cancelled and tracked clients closed
    first; waits at most `timeout` seconds for all of it.
    """
    global _current
    with _lock:
        current, _current = _current, None
    if current is not None and current.pid == os.getpid() and current.thread.is_alive():
        current.stop(timeout)


def _before_fork() -> None:
    _lock.acquire()


def _after_fork_in_parent() -> None:
    _lock.release()


def _after_fork_in_child() -> None:
    global _lock, _current
    _lock = threading.Lock()  # the inherited one is held by the parent's forking thread
    if _current is not None:
        _inherited.append(_current)
        _current = None


def _at_exit() -> None:
    global _exiting
    _exiting = True
    shutdown()


atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):  # POSIX only
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
