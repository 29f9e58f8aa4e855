"""The suite-wide guard against secrets in logs can actually fail."""

from __future__ import annotations

import logging

from refold_async import AsyncRefold
from tests.conftest import leaked_secrets


def _record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    return logging.LogRecord(
        "refold", logging.INFO, __file__, 1, message, args, (type(exc), exc, None) if exc else None
    )


def test_guard_flags_a_secret_in_a_message_or_its_arguments() -> None:
    """A key in the message, its arguments or an attached exception is caught."""
    secret = "tk_guard_0123456789"
    assert leaked_secrets([_record("key=%s", secret)], {secret})
    assert leaked_secrets([_record(f"key={secret}")], {secret})
    assert leaked_secrets([_record("failed", exc=RuntimeError(secret))], {secret})
    assert not leaked_secrets([_record("fingerprint=%s", "3f2a9c")], {secret})


def test_guard_sees_every_credential_a_test_creates(secret_guard: set[str]) -> None:
    """Credentials handed to a client are registered with the guard."""
    AsyncRefold(api_key="tk_guard_registered_01", session_token="tok_guard_registered_02")
    assert {"tk_guard_registered_01", "tok_guard_registered_02"} <= secret_guard
