"""Webhook signature verification and event parsing."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from refold_async import MissingCredentialError, WebhookSignatureError
from refold_async.webhooks import WebhookEvent, parse_event, sign, verify_signature

KEY = "tk_webhook_key_0123456789"
BODY = json.dumps(
    {"event": "Workflow Completed", "linked_account_id": "acct-1", "execution_id": "ex"}
).encode()


def test_valid_signature_parses_the_event() -> None:
    """A body signed with the key verifies and decodes."""
    event = parse_event(BODY, sign(BODY, KEY), api_key=KEY)
    assert event.type == "Workflow Completed"
    assert event.is_known
    assert event.linked_account_id == "acct-1"
    assert event.data["execution_id"] == "ex"


@pytest.mark.parametrize(
    ("body", "signature"),
    [
        pytest.param(BODY + b" ", sign(BODY, KEY), id="body-changed"),
        pytest.param(BODY, sign(BODY, "tk_other_key_000000"), id="other-key"),
        pytest.param(BODY, "", id="empty"),
        pytest.param(BODY, None, id="missing"),
        pytest.param(BODY, "zz", id="garbage"),
    ],
)
def test_bad_signatures_are_refused_without_leaking(body: bytes, signature: str | None) -> None:
    """A wrong or missing signature raises, and the error holds neither signature nor key."""
    with pytest.raises(WebhookSignatureError) as info:
        verify_signature(body, signature, api_key=KEY)
    text = str(info.value) + repr(info.value)
    assert KEY not in text
    assert sign(body, KEY) not in text


def test_unknown_event_types_are_kept() -> None:
    """A new event type parses, marked unknown, instead of failing."""
    body = b'{"event": "Something New"}'
    event = parse_event(body, sign(body, KEY), api_key=KEY)
    assert event.type == "Something New"
    assert not event.is_known


def test_non_ascii_signature_is_a_typed_error() -> None:
    """A signature header with non-ASCII text raises our error, not a TypeError."""
    with pytest.raises(WebhookSignatureError):
        verify_signature(BODY, "é" * 64, api_key=KEY)


def test_the_issue_11_empty_key_case_is_refused() -> None:
    """An empty key, which anyone can sign with, is refused by parse_event and sign."""
    forged = hmac.new(b"", BODY, hashlib.sha256).hexdigest()
    with pytest.raises(MissingCredentialError):
        parse_event(BODY, forged, api_key="")
    with pytest.raises(MissingCredentialError):
        sign(BODY, "")


def test_the_old_event_attributes_still_work() -> None:
    """`type`, `linked_account_id`, `data` and `is_known` read as before the typed events."""
    event = parse_event(BODY, sign(BODY, KEY), api_key=KEY)
    assert isinstance(event, WebhookEvent)
    assert (event.type, event.linked_account_id, event.data["execution_id"]) == (
        "Workflow Completed",
        "acct-1",
        "ex",
    )
