"""Interpreter exit never hangs on the loop thread, with or without `close()`."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRELUDE = """
import asyncio, threading, httpx
from refold_sync import Refold
from tests.sync.support import InProcessAPI, probe
"""


def run_script(body: str) -> subprocess.CompletedProcess[str]:
    """Run `body` in a fresh interpreter; `timeout` turns a hang into a test failure."""
    script = PRELUDE + textwrap.dedent(body)
    return subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-W", "error::ResourceWarning", "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            """
            client = InProcessAPI().client()
            assert probe(client).ping("x") == {"pong": "x"}
            """,
            id="in-process-transport",
        ),
        pytest.param(
            """
            import atexit
            from tests.sync.support import LoopbackAPI
            api = LoopbackAPI()
            threading.Thread(target=api.server.serve_forever, daemon=True).start()
            # Registered after refold_sync's own hook, so this runs first: the server
            # stops accepting, and the SDK then closes its pooled connection itself.
            atexit.register(lambda: (api.server.shutdown(), api.server.server_close()))
            client = api.client()
            assert probe(client).ping("x") == {"pong": "x"}
            """,
            id="real-pool",
        ),
        pytest.param(
            """
            from refold_sync import _portal
            async def noop(): return None
            _portal.run(noop)
            """,
            id="loop-only",
        ),
    ],
)
def test_exit_without_close_returns_promptly_and_quietly(body: str) -> None:
    """A script that makes a call and exits without `close()` ends cleanly."""
    result = run_script(body)
    assert (result.returncode, result.stderr) == (0, "")


def test_exit_cancels_a_call_still_in_flight() -> None:
    """At exit, a call still running in a daemon thread is cancelled, not waited for."""
    result = run_script(
        """
        class Reporting(InProcessAPI):
            async def _block(self):
                try:
                    return await super()._block()
                except asyncio.CancelledError:
                    print("server saw cancel", flush=True)
                    raise

        import atexit
        from refold_async import RefoldError
        from refold_sync import _portal

        answered = threading.Event()

        def call():
            try:
                probe(client).ping("block")
            except BaseException as error:
                print("caller got", type(error).__name__, flush=True)
                print("a RefoldError:", isinstance(error, RefoldError), error.sent, flush=True)
            answered.set()

        # Let the caller report before the interpreter ends: a hook that runs after the
        # SDK's (atexit runs hooks last-in first-out).
        atexit.unregister(_portal._at_exit)
        atexit.register(lambda: answered.wait(10))
        atexit.register(_portal._at_exit)

        api = Reporting()
        client = api.client()
        threading.Thread(target=call, daemon=True).start()
        assert api.entered.wait(10)
        """
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert "server saw cancel" in result.stdout
    # not concurrent.futures.CancelledError; `sent=None`: it may have left.
    assert "caller got ClientClosedError" in result.stdout
    assert "a RefoldError: True None" in result.stdout


def test_a_call_after_exit_began_is_refused_with_a_refold_error() -> None:
    """A call from an `atexit` hook that runs after the SDK's raises `ClientClosedError`.

    It fails at once (`sent=False`), instead of starting a loop that nobody would stop.
    """
    result = run_script(
        """
        import atexit
        from refold_async import ClientClosedError
        from refold_sync import _portal

        def late():
            try:
                probe(client).ping("x")
            except ClientClosedError as error:
                print("late call:", type(error).__name__, error.sent, flush=True)
            print("loop restarted:", _portal._current is not None, flush=True)

        client = InProcessAPI().client()
        assert probe(client).ping("x") == {"pong": "x"}
        # atexit runs hooks last-in first-out: the SDK's own hook now runs first.
        atexit.unregister(_portal._at_exit)
        atexit.register(late)
        atexit.register(_portal._at_exit)
        """
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert "late call: ClientClosedError False" in result.stdout
    assert "loop restarted: False" in result.stdout


def test_a_call_queued_as_the_loop_stops_is_refused_not_lost() -> None:
    """Once the loop is stopping, a call is refused at once; it is never queued and lost."""
    result = run_script(
        """
        from refold_async import ClientClosedError
        from refold_sync import _portal

        client = InProcessAPI().client()
        assert probe(client).ping("x") == {"pong": "x"}
        current = _portal._current
        current.stop(10)  # as at exit: the loop winds down and closes
        assert not current.thread.is_alive()
        try:
            current.submit(print, "never")
        except ClientClosedError as error:
            print("refused:", error.sent, flush=True)
        """
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert "refused: False" in result.stdout
