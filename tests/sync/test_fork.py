"""After `os.fork`, a child's calls run on a loop thread and a pool of its own."""

from __future__ import annotations

import multiprocessing
import os
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from refold_async import RefoldUsageError
from refold_sync import Refold, _portal
from tests.sync.support import InProcessAPI, probe, serving

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def in_forked_child(target: Callable[..., None], *args: Any) -> int | None:
    """Run `target(*args)` in a forked child and return its exit code (0: it returned)."""
    context = multiprocessing.get_context("fork")
    with warnings.catch_warnings():
        # Python 3.12+ warns that forking a process with threads may deadlock the child;
        # surviving exactly that fork is what these tests check.
        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
        process = context.Process(target=target, args=args)
        process.start()
    process.join(30)
    if process.exitcode is None:  # hung: the failure these tests guard against
        process.kill()
        process.join()
    return process.exitcode


def _child_calls(client: Refold, parent_loop_thread: object) -> None:
    assert probe(client).ping("child") == {"pong": "child"}
    current = _portal._current
    assert current is not None
    assert current is not parent_loop_thread
    assert current.pid == os.getpid()


def test_a_forked_child_calls_through_its_own_loop_and_pool() -> None:
    """The child's call works on a fresh loop thread and connection; the parent's are intact."""
    with serving() as server, server.client() as client:
        assert probe(client).ping("parent-1") == {"pong": "parent-1"}
        loop_thread = _portal._current
        assert in_forked_child(_child_calls, client, loop_thread) == 0
        assert probe(client).ping("parent-2") == {"pong": "parent-2"}
        assert _portal._current is loop_thread
        peers = {path.rsplit("/", 1)[-1]: peer for path, peer in server.seen}
    assert peers["child"] != peers["parent-1"]  # the child did not reuse the parent's socket
    assert peers["parent-2"] == peers["parent-1"]  # and left the parent's connection alone


def _child_calls_derived(client: Refold) -> None:
    assert client.linked_account_id == "acct-7"
    assert probe(client).ping("derived") == {"pong": "derived"}


def test_a_derived_client_works_in_a_forked_child() -> None:
    """A `for_linked_account()` client made in the parent is remade in the child."""
    with serving() as server, server.client() as client:
        scoped = client.for_linked_account("acct-7")
        assert in_forked_child(_child_calls_derived, scoped) == 0
        assert probe(scoped).ping("parent") == {"pong": "parent"}


def _child_expects_refusal(client: Refold) -> None:
    with pytest.raises(RefoldUsageError, match="http_client"):
        probe(client).ping("child")


def test_a_given_http_client_is_refused_in_a_forked_child() -> None:
    """A pool passed in with `http_client=` is never reused across a fork."""
    api = InProcessAPI()
    with api.client() as client:
        assert in_forked_child(_child_expects_refusal, client) == 0
        assert probe(client).ping("parent") == {"pong": "parent"}


def _child_uses_portal() -> None:
    async def pid() -> int:
        return os.getpid()

    assert _portal.run(pid) == os.getpid()


def test_the_portal_restarts_in_a_child_forked_before_any_call() -> None:
    """A child forked from a parent with a running loop thread gets a working one."""

    async def noop() -> None:
        return None

    _portal.run(noop)
    assert in_forked_child(_child_uses_portal) == 0
