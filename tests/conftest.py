"""Suite-wide fixtures: a guard against leaked secrets and against real network access."""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from refold_async import _auth

_real_connect = socket.socket.connect


def _is_local(address: Any) -> bool:
    if isinstance(address, str):  # a unix socket path
        return True
    host = address[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse any socket connection that leaves this machine's loopback."""

    def guarded(self: socket.socket, address: Any) -> Any:
        if not _is_local(address):
            raise RuntimeError(f"test tried to reach the network: {address!r}")
        return _real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(autouse=True)
def secret_guard(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Iterator[set[str]]:
    """Fail any test whose log records contain a credential created during that test."""
    seen: set[str] = set()
    original = _auth.Secret.__init__

    def recording_init(self: _auth.Secret, value: str) -> None:
        seen.add(value)
        original(self, value)

    monkeypatch.setattr(_auth.Secret, "__init__", recording_init)
    caplog.set_level(logging.DEBUG, logger="refold")
    yield seen
    leaks = leaked_secrets(caplog.records, seen)
    assert not leaks, f"a secret appeared in a log record: {leaks[:3]}"


def leaked_secrets(records: list[logging.LogRecord], secrets: set[str]) -> list[str]:
    """The messages of `records` that contain any of `secrets` (exceptions included)."""
    return [
        record.getMessage()
        for record in records
        for secret in secrets
        if len(secret) >= 6 and secret in _record_text(record)
    ]


def _record_text(record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
        text += repr(record.exc_info[1]) + str(record.exc_info[1])
    return text


@pytest.fixture
def router() -> Any:
    """A respx router for the test base URL; clients reach it through `mock_client`."""
    import respx

    from tests.helpers import BASE_URL

    return respx.Router(base_url=BASE_URL, assert_all_called=False)


@pytest.fixture(autouse=True)
def _private_rate_limit_state(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Give each test its own host-wide bucket files, as a fresh machine would have.

    Host-scope buckets live in files keyed by base URL and credential; tests reuse keys
    and virtual clocks, so a shared directory would carry one test's schedule into the
    next. Subprocesses a test starts inherit the variable and so share its buckets.
    """
    monkeypatch.setenv("REFOLD_RATE_LIMIT_DIR", str(tmp_path_factory.mktemp("buckets")))
