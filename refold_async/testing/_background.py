"""The loopback server on a thread of its own, for blocking code and for other processes.

`EmulatorServer` runs on an event loop; code under test that is blocking (a Django view,
a script, a `refold_sync.Refold`) has none to lend it. `BackgroundServer` runs one on a
daemon thread: `start()` returns once it listens, `close()` stops it and waits.
"""

from __future__ import annotations

import contextlib
import threading
from types import TracebackType
from typing import TYPE_CHECKING

import anyio
from anyio.from_thread import BlockingPortal

from ._server import EmulatorServer

if TYPE_CHECKING:
    from ._emulator import Emulator

__all__ = ["BackgroundServer"]

START_TIMEOUT = 30.0
"""Seconds `start()` waits for the server to listen."""


class BackgroundServer:
    """An `EmulatorServer` served from a daemon thread; use it as a context manager.

    Example:
        ```python
        with emulator.serve_in_background() as server:
            os.environ["REFOLD_BASE_URL"] = server.url
            run_my_script()
        ```
    """

    def __init__(self, emulator: Emulator, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator: Emulator = emulator
        self.server: EmulatorServer = EmulatorServer(emulator, host=host, port=port)
        self._portal: BlockingPortal | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="refold-emulator", daemon=True)

    @property
    def url(self) -> str:
        """The base URL to give clients, e.g. `http://127.0.0.1:49152`."""
        return self.server.url

    def start(self) -> BackgroundServer:
        """Start listening; returns once the server accepts connections."""
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise RuntimeError("the emulator's loopback server did not start")
        if self._failure is not None:
            raise RuntimeError(f"the emulator's loopback server failed: {self._failure!r}")
        return self

    def close(self) -> None:
        """Stop the server and its thread (harmless if it is not running)."""
        portal = self._portal
        if portal is not None:
            with contextlib.suppress(RuntimeError):  # the portal stopped in between
                portal.call(portal.stop)
        if self._thread.is_alive():
            self._thread.join(START_TIMEOUT)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _main(self) -> None:
        try:
            anyio.run(self._serve)
        except BaseException as error:  # reported by start(); a thread has nowhere to raise
            self._failure = error
            self._ready.set()

    async def _serve(self) -> None:
        # The portal is how `close()`, on another thread, reaches this loop.
        async with BlockingPortal() as portal, self.server:
            self._portal = portal
            self._ready.set()
            await portal.sleep_until_stopped()
