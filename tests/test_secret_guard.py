"""The suite-wide guard against secrets in logs and in exceptions can actually fail."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

import refold_async
import refold_async.testing
from refold_async import AsyncRefold, RefoldError
from tests.conftest import SecretGuard, exception_leaks, leaked_secrets


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
    AsyncRefold(api_key="tk_guard_registered_01")
    AsyncRefold(session_token="tok_guard_registered_02")
    assert {"tk_guard_registered_01", "tok_guard_registered_02"} <= secret_guard


_PROBE = """
def hold(secret, then):
    held = secret
    then()

def call(fn, *args):
    fn(*args)

def fail(message):
    raise RuntimeError(message)

def hold_and_raise(secret):
    held = secret
    raise RuntimeError("boom")

class Broken:
    def __repr__(self):
        raise AttributeError("half-built")

def hold_broken():
    obj = Broken()
    raise RuntimeError("boom")
"""


def _probe(directory: Path) -> dict[str, Any]:
    """Functions whose frames read as living in `directory` (the SDK, or the emulator)."""
    namespace: dict[str, Any] = {}
    exec(compile(_PROBE, str(directory / "_guard_probe.py"), "exec"), namespace)  # noqa: S102
    return namespace


SDK = Path(refold_async.__file__).parent
EMULATOR = Path(refold_async.testing.__file__).parent
SECRET = "tk_guard_frames_0123456789"


def _raised(fn: Any, *args: Any) -> BaseException:
    try:
        fn(*args)
    except BaseException as error:
        return error
    raise AssertionError("did not raise")


def test_guard_flags_a_secret_held_by_an_sdk_frame() -> None:
    """A secret in a local of an SDK frame is found, with the frame named."""
    leaks = exception_leaks(_raised(_probe(SDK)["hold_and_raise"], SECRET), {SECRET})
    assert any("'held'" in leak and "hold_and_raise" in leak for leak in leaks)


def test_guard_flags_library_frames_the_sdk_calls() -> None:
    """Frames below an SDK frame (httpx, json, ...) are checked too; the SDK called them."""
    library = Path(json.__file__).parent
    error = _raised(_probe(SDK)["call"], _probe(library)["fail"], f"key {SECRET}")
    assert any(str(library) in leak for leak in exception_leaks(error, {SECRET}))


def test_guard_exempts_the_server_side_and_the_test_itself() -> None:
    """The emulator's frames (and frames it calls) and the test's own frames may hold keys."""
    held = SECRET  # the test's own frame holds it
    sdk, emulator = _probe(SDK), _probe(EMULATOR)
    error = _raised(sdk["hold"], "no secret here", lambda: emulator["hold_and_raise"](held))
    assert exception_leaks(error, {SECRET}) == []


def test_guard_flags_a_failing_repr_and_a_secret_in_the_text() -> None:
    """A local whose repr fails (it breaks renderers) and a message naming a key are found."""
    sdk = _probe(SDK)
    assert exception_leaks(_raised(sdk["hold_broken"]), {SECRET})
    leaks = exception_leaks(_raised(sdk["fail"], f"key {SECRET} refused"), {SECRET})
    assert any("text of an exception shows a secret" in leak for leak in leaks)
    assert any("repr or attributes" in leak for leak in leaks)


def test_guard_flags_a_secret_in_a_cause_or_a_pickle() -> None:
    """Chained exceptions are rendered too; a RefoldError's pickle is searched."""
    sdk = _probe(SDK)
    error = RefoldError("clean")
    error.__cause__ = _raised(sdk["fail"], f"key {SECRET}")
    assert exception_leaks(_raised(_reraise, error), {SECRET})
    dirty = RefoldError("clean")
    dirty.detail = SECRET  # type: ignore[attr-defined]
    assert any(
        "pickle" in leak for leak in exception_leaks(_raised(_reraise_in_sdk, dirty), {SECRET})
    )


def _reraise(error: BaseException) -> None:
    raise error


def _reraise_in_sdk(error: BaseException) -> None:
    _probe(SDK)["hold"]("nothing", lambda: _reraise(error))


def test_guard_ignores_exceptions_that_never_entered_the_sdk() -> None:
    """A test's own exception, whatever it says, is not the SDK's to answer for."""
    assert exception_leaks(_raised(_reraise, RuntimeError(SECRET)), {SECRET}) == []


def test_guard_sees_what_pytest_catches(secret_guard: SecretGuard) -> None:
    """`pytest.raises` (both forms) and a failing test's exception reach the guard."""
    secret_guard.add(SECRET)
    hold_and_raise = _probe(SDK)["hold_and_raise"]
    with pytest.raises(RuntimeError):
        hold_and_raise(SECRET)
    assert any("'held'" in finding for finding in secret_guard.findings)
    secret_guard.findings.clear()
    pytest.raises(RuntimeError, hold_and_raise, SECRET)  # noqa: RUF061 - the form under test
    assert any("'held'" in finding for finding in secret_guard.findings)
    secret_guard.findings.clear()
    try:
        hold_and_raise(SECRET)
    except RuntimeError:
        pytest.ExceptionInfo.from_current()  # what pytest's runner does with a failure
    assert any("'held'" in finding for finding in secret_guard.findings)
    secret_guard.findings.clear()  # seen: let this test pass


def test_guard_finds_every_form_of_a_secret() -> None:
    """Escaped and percent-encoded forms count: a token with CR/LF shows as `\\r\\n`."""
    token = "tok_guard_crlf_0123\r\nX: 1"
    sdk = _probe(SDK)
    escaped = _raised(sdk["fail"], f"Illegal header value {token.encode()!r}")
    assert any("text of an exception" in leak for leak in exception_leaks(escaped, {token}))
    encoded = _raised(sdk["hold_and_raise"], "key=tk%2Fguard%2Bpercent_0123")
    assert any("'held'" in leak for leak in exception_leaks(encoded, {"tk/guard+percent_0123"}))
    assert leaked_secrets([_record("sent %r", token)], {token})


def test_guard_knows_refused_credentials(secret_guard: SecretGuard) -> None:
    """A key refused for its newline never becomes a `Secret`; the guard knows it anyway."""
    with pytest.raises(RefoldError):
        AsyncRefold(api_key="tk_guard_refused_0123\n")
    assert "tk_guard_refused_0123\n" in secret_guard


async def test_guard_knows_every_minted_token(secret_guard: SecretGuard) -> None:
    """Tokens a server answered the mint with, used or refused, are searched for too."""
    import httpx
    import respx

    from tests.core import ops
    from tests.helpers import BASE_URL, mock_client

    router = respx.Router(base_url=BASE_URL, assert_all_called=False)
    router.post("/api/v2/public/session-token").mock(
        return_value=httpx.Response(200, json={"token": "tok_guard_minted bad", "expires_in": 9})
    )
    client = mock_client(router, linked_account_id="acct_1")
    with pytest.raises(RefoldError):
        await client._transport.send(ops.TOKEN_ONLY)
    assert "tok_guard_minted bad" in secret_guard
