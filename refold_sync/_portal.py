"""The process's one event-loop thread, on which every sync client's calls run (docs/architecture.md §8).

This module owns that thread: starting it lazily, handing it coroutines, cancelling them
when the waiting caller gives up, stopping it at interpreter exit and replacing it after
`fork`. Every sync client shares it, so they share one rate-limit bucket and one
connection pool per credential, whichever thread they are called from (docs/architecture.md §4).

- **Dispatch** takes one cross-thread hop: `call_soon_threadsafe` starts the task on the
  loop, and the caller blocks on a lock that the task's completion releases. anyio's
  `BlockingPortal.call` costs two hops (docs/architecture.md §8) and its task group would only be
  bypassed, so the loop thread here is a plain asyncio loop run by a daemon thread.
- **Cancellation**: if the caller's wait ends with an exception of its own (Ctrl-C, an
  alarm-based timeout), the task is cancelled before the exception propagates, which
  releases the request, its limiter slot and its connection.
- **Exit**: an `atexit` hook cancels what is still running, closes registered clients
  and stops the loop, with a bounded wait, so interpreter exit never hangs. The thread
  is a daemon: should a task refuse to finish, exit proceeds anyway. Every call cut off
  this way raises `ClientClosedError`, in flight (`sent=None`) or made afterwards
  (`sent=False`): a stopping loop closes its gate first, so no call is ever queued on a
  loop that will not run it.
- **Fork**: `os.register_at_fork` and a pid check make a forked child start its own loop
  thread on its first call. The parent's thread does not exist in the child; the loop
  and async clients it left behind are kept referenced there and never used, so that
  nothing of the parent's is finalized (or its sockets shut) from the child.
- **Inside a running event loop** (a coroutine, a Jupyter cell) a call *works*: it runs
  on this module's loop thread while the caller's thread, and so the caller's loop,
  blocks for its duration. The first such call of the process warns (`RuntimeWarning`,
  pointing at the caller's line): async code should use `refold_async.AsyncRefold`.
- **On the loop thread itself** a call would wait for the thread it blocks: it raises
  `RefoldUsageError` instead of deadlocking.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
import warnings
import weakref
from collections.abc import Awaitable, Callable, Collection, Coroutine
from contextlib import suppress
from types import FrameType
from typing import Any, Generic, Protocol, TypeVar, cast

from typing_extensions import ParamSpec

from refold_async._errors import ClientClosedError, RefoldUsageError

__all__ = ["is_loop_thread", "keep_alive", "run", "shutdown", "spawn", "track"]

T = TypeVar("T")
P = ParamSpec("P")

STAGE_TIMEOUT = 2.0
"""Seconds the loop waits, when stopping, for in-flight calls to cancel, then for clients to close."""

EXIT_TIMEOUT = 2 * STAGE_TIMEOUT + 1.0
"""Seconds `shutdown()` waits for the loop thread to end: interpreter exit never waits longer."""


class AsyncClosable(Protocol):
    """Something with an async `aclose()`, closed on the loop when it stops."""

    async def aclose(self) -> None: ...


class _LoopThread:
    """One asyncio loop run forever by one daemon thread, in the process that made it."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.closables: weakref.WeakSet[AsyncClosable] = weakref.WeakSet()
        self.background: set[asyncio.Task[object]] = set()  # asyncio holds tasks weakly
        self.gate = threading.Lock()
        self.accepting = True  # under `gate`: calls may still be queued on the loop
        self.thread = threading.Thread(target=self._main, name="refold-sync-loop", daemon=True)
        try:
            self.thread.start()
        except RuntimeError:  # no new threads once the interpreter is finalizing
            self.loop.close()
            raise _exit_error(sent=False) from None

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
            with self.gate:
                self.accepting = False
            # Calls queued before the gate closed start first, then are cancelled.
            self.loop.run_until_complete(self._wind_down())
        finally:
            with self.gate:
                self.accepting = False
            self.loop.close()

    def submit(self, callback: Callable[..., object], *args: object) -> None:
        """Queue `callback` on the loop, or raise `ClientClosedError` if it is stopping."""
        with self.gate:
            if not self.accepting:
                raise _exit_error(sent=False)
            self.loop.call_soon_threadsafe(callback, *args)

    async def _wind_down(self) -> None:
        # Cancel in-flight calls first, so closing a pool never waits for a request.
        tasks = asyncio.all_tasks() - {asyncio.current_task()}
        for task in tasks:
            task.cancel()
        await _wait(tasks)
        await _wait({asyncio.ensure_future(client.aclose()) for client in list(self.closables)})
        await self.loop.shutdown_asyncgens()
        await self.loop.shutdown_default_executor()

    def stop(self, timeout: float) -> None:
        """Stop the loop from another thread and wait up to `timeout` for it to end."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)


async def _wait(tasks: Collection[asyncio.Future[Any]]) -> None:
    if tasks:
        await asyncio.wait(tasks, timeout=STAGE_TIMEOUT)


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
    try:
        asyncio.get_running_loop()
    except RuntimeError:
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
    loop = current.loop
    call: _Call[T] = _Call()
    # The call exists before anything is scheduled, so an interruption at any point
    # below (even inside `call_soon_threadsafe`, after the task already started) still
    # finds what to cancel. `run_coroutine_threadsafe` would leave that gap.
    try:
        current.submit(call.start, fn, args, kwargs)
        call.done.acquire()
    except ClientClosedError:
        raise
    except BaseException:
        call.abandoned = True
        with suppress(RuntimeError):  # the loop already closed: nothing left to cancel
            loop.call_soon_threadsafe(call.cancel)
        raise
    return call.outcome()


class _Call(Generic[T]):
    """One blocking call in flight: the caller waits on `done`, the loop thread fills it in.

    A bare lock is cheaper to wait on than a `concurrent.futures.Future` (docs/architecture.md §8: the
    hop is the cost to beat). `start()`, `settle()` and `cancel()` run on the loop
    thread, so they never race, and `cancel()` is always queued after `start()`.
    """

    __slots__ = ("abandoned", "done", "error", "result", "task")

    def __init__(self) -> None:
        self.done = threading.Lock()
        self.done.acquire()
        self.abandoned = False
        self.task: asyncio.Future[T] | None = None
        self.result: T | None = None
        self.error: BaseException | None = None

    def start(
        self, fn: Callable[..., Awaitable[T]], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        if self.abandoned:
            return
        try:
            self.task = asyncio.ensure_future(fn(*args, **kwargs))
        except Exception as error:  # `fn` failed before returning an awaitable
            self.error = error
            self.done.release()
            return
        self.task.add_done_callback(self.settle)

    def settle(self, task: asyncio.Future[T]) -> None:
        if task.cancelled():  # only the loop's wind-down cancels a task the caller awaits
            self.error = _exit_error(sent=None)
        elif (error := task.exception()) is not None:  # always retrieved: no "never retrieved" log
            self.error = error
        else:
            self.result = task.result()
        self.done.release()

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def outcome(self) -> T:
        """In the caller's thread, once `done`: the result, or the error raised."""
        error, self.error = self.error, None
        if error is None:
            return cast(T, self.result)
        try:
            raise error
        finally:
            del error  # no reference cycle through this frame


def spawn(fn: Callable[[], Coroutine[Any, Any, object]], /) -> None:
    """Start `fn()` on the loop thread without waiting for it; safe from any thread.

    Does nothing when this process has no loop thread (for example in a forked child),
    so it suits cleanup from `finally` blocks and finalizers.
    """
    current = _current
    if current is None or current.pid != os.getpid() or current.loop.is_closed():
        return

    def start() -> None:
        task = current.loop.create_task(fn())
        current.background.add(task)
        task.add_done_callback(current.background.discard)

    try:
        current.loop.call_soon_threadsafe(start)
    except RuntimeError:  # the loop closed between the check and the call
        return


def is_loop_thread() -> bool:
    """Whether the calling thread is this process's loop thread."""
    current = _current
    return (
        current is not None
        and current.pid == os.getpid()
        and current.thread.ident == threading.get_ident()
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
