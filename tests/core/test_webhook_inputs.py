"""Webhook inputs: keys (empty, missing, several), body and signature types, frame locals."""

from __future__ import annotations

import hashlib
import hmac
import json
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refold_async import InvalidArgumentError, MissingCredentialError, WebhookSignatureError
from refold_async.webhooks import parse_event, sign, verify_signature

KEY = "tk_webhook_inputs_0123456789"
OLD_KEY = "tk_webhook_inputs_previous_42"
BODY = json.dumps({"event": "Workflow Completed", "instance_id": "inst-1"}).encode()


def _hmac(body: bytes, key: str) -> str:
    # Computed here, not with `sign`, so the tests do not depend on what `sign` accepts.
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


# Keys: empty or missing keys are refused; several keys verify with any one of them.


@pytest.mark.parametrize(
    "api_key",
    [
        pytest.param("", id="empty"),
        pytest.param(None, id="none"),
        pytest.param([], id="empty-list"),
        pytest.param((), id="empty-tuple"),
    ],
)
def test_an_empty_or_missing_key_is_refused(api_key: Any) -> None:
    """No key, or an empty one, is a configuration error, even with a matching signature."""
    with pytest.raises(MissingCredentialError, match="api_key"):
        parse_event(BODY, _hmac(BODY, ""), api_key=api_key)
    with pytest.raises(MissingCredentialError):
        verify_signature(BODY, _hmac(BODY, ""), api_key=api_key)


def test_an_empty_key_among_several_is_refused() -> None:
    """Rotation cannot smuggle in an empty key that anyone could sign with."""
    with pytest.raises(MissingCredentialError, match=r"api_key\[1\]"):
        parse_event(BODY, _hmac(BODY, ""), api_key=[KEY, ""])


@pytest.mark.parametrize(
    "api_key",
    [
        pytest.param(KEY + "\n", id="trailing-newline"),
        pytest.param(" " + KEY, id="leading-space"),
        pytest.param("   ", id="blank"),
        pytest.param("tk_\u00e9t\u00e9", id="non-ascii"),
        pytest.param("tk_\ud800", id="lone-surrogate"),
    ],
)
def test_a_key_no_header_could_carry_is_refused_without_showing_it(api_key: str) -> None:
    """A key read from a file with its newline would never verify: say so, hide the value."""
    with pytest.raises(InvalidArgumentError) as info:
        parse_event(BODY, _hmac(BODY, KEY), api_key=api_key)
    shown = str(info.value) + repr(info.value)
    assert not api_key.strip() or api_key.strip() not in shown


@pytest.mark.parametrize(
    "api_key",
    [
        pytest.param(b"tk_bytes_key_0123", id="bytes"),
        pytest.param(42, id="int"),
        pytest.param([KEY, 42], id="list-with-int"),
        pytest.param({"key": KEY}, id="dict"),
    ],
)
def test_a_key_of_the_wrong_type_is_a_clear_type_error(api_key: Any) -> None:
    """Keys are text: anything else says what was expected."""
    with pytest.raises(TypeError, match="api_key"):
        parse_event(BODY, _hmac(BODY, KEY), api_key=api_key)


@pytest.mark.parametrize(
    "keys",
    [
        pytest.param([KEY, OLD_KEY], id="new-first"),
        pytest.param((OLD_KEY, KEY), id="old-first"),
        pytest.param(frozenset({KEY, OLD_KEY}), id="set"),
    ],
)
def test_any_one_of_several_keys_verifies(keys: Any) -> None:
    """During a key rotation, a body signed with either the old or the new key verifies."""
    for signer in (KEY, OLD_KEY):
        event = parse_event(BODY, _hmac(BODY, signer), api_key=keys)
        assert event.type == "Workflow Completed"


def test_several_keys_still_refuse_a_foreign_signature() -> None:
    """A signature made with none of the keys is refused."""
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify_signature(BODY, _hmac(BODY, "tk_foreign_key_000"), api_key=[KEY, OLD_KEY])


def test_every_key_is_compared_no_early_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each key costs one constant-time comparison, whichever matches (no early exit)."""
    calls: list[int] = []
    real = hmac.compare_digest

    def counting(a: Any, b: Any) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    keys = [KEY, OLD_KEY, "tk_third_key_00000"]
    for signer in keys:
        calls.clear()
        verify_signature(BODY, _hmac(BODY, signer), api_key=keys)
        assert len(calls) == 3, signer


# Bodies: raw bytes in any buffer; text is refused with advice.


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(bytes, id="bytes"),
        pytest.param(bytearray, id="bytearray"),
        pytest.param(memoryview, id="memoryview"),
        pytest.param(lambda b: memoryview(b"xx" + b + b"yy")[2:-2], id="memoryview-slice"),
    ],
)
def test_bodies_in_any_byte_buffer_verify_and_parse(wrap: Callable[[bytes], Any]) -> None:
    """bytes, bytearray and memoryview bodies are the same raw bytes."""
    event = parse_event(wrap(BODY), _hmac(BODY, KEY), api_key=KEY)
    assert event.type == "Workflow Completed"
    verify_signature(wrap(BODY), _hmac(BODY, KEY), api_key=KEY)
    assert sign(wrap(BODY), KEY) == _hmac(BODY, KEY)


def test_a_text_body_is_refused_with_advice() -> None:
    """A str body is a TypeError asking for the raw bytes, even if its UTF-8 would verify."""
    with pytest.raises(TypeError, match="raw request body"):
        parse_event(BODY.decode(), _hmac(BODY, KEY), api_key=KEY)
    with pytest.raises(TypeError, match="raw request body"):
        verify_signature(BODY.decode(), _hmac(BODY, KEY), api_key=KEY)
    with pytest.raises(TypeError, match="raw request body"):
        sign(BODY.decode(), KEY)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "body",
    [pytest.param(None, id="none"), pytest.param(123, id="int"), pytest.param({}, id="dict")],
)
def test_a_body_of_another_type_is_a_clear_type_error(body: Any) -> None:
    """Anything but a byte buffer names the type it got."""
    with pytest.raises(TypeError, match=type(body).__name__):
        parse_event(body, _hmac(BODY, KEY), api_key=KEY)


# Signatures: hex as str or bytes; other types are misuse; junk is a signature error.


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(str, id="str"),
        pytest.param(str.upper, id="upper-hex"),
        pytest.param(lambda s: f"  {s}\t", id="padded"),
        pytest.param(str.encode, id="bytes"),
        pytest.param(lambda s: bytearray(s.encode()), id="bytearray"),
        pytest.param(lambda s: memoryview(s.encode()), id="memoryview"),
    ],
)
def test_hex_signatures_as_text_or_bytes_verify(wrap: Callable[[str], Any]) -> None:
    """The header's hex digest verifies whether the framework hands it over as str or bytes."""
    verify_signature(BODY, wrap(_hmac(BODY, KEY)), api_key=KEY)


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(b"", id="empty-bytes"),
        pytest.param("   ", id="blank"),
        pytest.param(b"\xff" * 64, id="non-ascii-bytes"),
        pytest.param("g" * 64, id="not-hex"),
        pytest.param("ab" * 31, id="too-short"),
        pytest.param("ab" * 33, id="too-long"),
        pytest.param("sha256=" + "ab" * 32, id="prefixed"),
    ],
)
def test_malformed_signatures_are_signature_errors(signature: Any) -> None:
    """Whatever a sender puts in the header, a bad one is our typed error, never a crash."""
    with pytest.raises(WebhookSignatureError):
        verify_signature(BODY, signature, api_key=KEY)


@given(
    st.one_of(
        st.text(),
        st.binary(),
        st.text(alphabet="0123456789abcdefABCDEF \t", min_size=60, max_size=70),
        st.binary().map(bytearray),
        st.binary().map(memoryview),
    )
)
def test_no_header_value_crashes_verification(signature: Any) -> None:
    """Any text or bytes a sender puts in the header is either the match or our error."""
    try:
        verify_signature(BODY, signature, api_key=KEY)
    except WebhookSignatureError:
        return
    assert bytes(
        signature.encode() if isinstance(signature, str) else signature
    ).strip().lower() == (_hmac(BODY, KEY).encode())


@pytest.mark.parametrize(
    "signature",
    [pytest.param(123, id="int"), pytest.param(["ab" * 32], id="list")],
)
def test_a_signature_of_another_type_is_a_clear_type_error(signature: Any) -> None:
    """A signature that is neither text nor bytes is misuse, said plainly."""
    with pytest.raises(TypeError, match="signature"):
        verify_signature(BODY, signature, api_key=KEY)


# Frame locals: a traceback rendered with capture_locals shows neither key nor signature.

TAMPERED = BODY.replace(b"inst-1", b"inst-2")
ATTACKER_SIGNATURE = _hmac(TAMPERED, "tk_attacker_guess_00")


def _rendered(exc: BaseException) -> str:
    """The exception as Sentry or rich would show it: every frame's locals, but this file's."""
    here = str(Path(__file__).resolve())
    te = traceback.TracebackException.from_exception(exc, capture_locals=True)
    text = str(exc) + repr(exc)
    for chained in _chain(te):
        for frame in chained.stack:
            if str(Path(frame.filename).resolve()) != here:
                text += f"\n{frame.filename}:{frame.name} {frame.locals!r}"
    return text


def _chain(te: traceback.TracebackException) -> list[traceback.TracebackException]:
    found = [te]
    for nested in (te.__cause__, te.__context__):
        if nested is not None:
            found += _chain(nested)
    return found


SECRETS = (KEY, OLD_KEY, ATTACKER_SIGNATURE, _hmac(TAMPERED, KEY), _hmac(TAMPERED, OLD_KEY))


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: parse_event(TAMPERED, ATTACKER_SIGNATURE, api_key=KEY), id="parse"),
        pytest.param(
            lambda: verify_signature(TAMPERED, ATTACKER_SIGNATURE, api_key=[KEY, OLD_KEY]),
            id="verify-rotation",
        ),
        pytest.param(
            lambda: parse_event(TAMPERED, ATTACKER_SIGNATURE.encode(), api_key=KEY),
            id="bytes-signature",
        ),
        pytest.param(
            lambda: parse_event(TAMPERED.decode(), ATTACKER_SIGNATURE, api_key=KEY),
            id="text-body",
        ),
        pytest.param(lambda: parse_event(None, ATTACKER_SIGNATURE, api_key=KEY), id="none-body"),
        pytest.param(lambda: parse_event(TAMPERED, 12, api_key=KEY), id="int-signature"),
        pytest.param(
            lambda: parse_event(TAMPERED, ATTACKER_SIGNATURE, api_key=[KEY, 42]),
            id="bad-key-in-list",
        ),
        pytest.param(
            lambda: parse_event(TAMPERED, ATTACKER_SIGNATURE, api_key=[KEY, ""]),
            id="empty-key-in-list",
        ),
        pytest.param(
            lambda: parse_event(TAMPERED, ATTACKER_SIGNATURE, api_key=[OLD_KEY, KEY + "\n"]),
            id="newline-key-in-list",
        ),
        pytest.param(lambda: sign(TAMPERED.decode(), KEY), id="sign-text-body"),  # type: ignore[arg-type]
        pytest.param(
            lambda: parse_event(b"not json", _hmac(b"not json", KEY), api_key=[KEY, OLD_KEY]),
            id="verified-not-json",
        ),
    ],
)
def test_no_frame_shows_the_key_or_a_signature(call: Callable[[], object]) -> None:
    """A failed call rendered with capture_locals=True holds no key and no signature."""
    with pytest.raises(
        (WebhookSignatureError, TypeError, ValueError, MissingCredentialError)
    ) as info:
        call()
    text = _rendered(info.value)
    leaked = [secret for secret in SECRETS if secret in text]
    assert not leaked, text
    # The key is not shown in its UTF-8 bytes' repr either.
    assert repr(KEY.encode())[2:-1] not in text


def test_the_rendering_would_show_a_key_held_in_a_local() -> None:
    """The check above can fail: a frame elsewhere that holds the key in a local is caught."""
    namespace: dict[str, Any] = {}
    source = "def careless(api_key):\n    raise ValueError('no')\n"
    exec(compile(source, "/elsewhere/careless.py", "exec"), namespace)  # noqa: S102 - fixed text
    with pytest.raises(ValueError, match="no") as info:
        namespace["careless"](KEY)
    assert KEY in _rendered(info.value)
