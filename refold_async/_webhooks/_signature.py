"""The `x-cobalt-signature` check: keys, raw bodies, constant-time comparison (docs/architecture.md §1).

A webhook's signature is the hex HMAC-SHA256 of the raw body keyed with the
environment's API key. This module owns turning the caller's arguments into checked
values and comparing digests; it never parses the body.

docs/architecture.md §12: no frame here keeps the raw key, the received signature or the expected
digest in a local where an exception can pass. The public functions hand their raw
arguments to `wrap_keys` / `wrap_signature`, which never raise: they return `Secret`s
(whose repr is a fingerprint) or a `Problem` to raise later. The raw parameters are
deleted before anything is raised. Expected digests exist only as call arguments.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence, Set
from typing import Any, Final, NoReturn, cast

import attrs

from refold_async._auth import Secret
from refold_async._errors import InvalidArgumentError, MissingCredentialError, WebhookSignatureError

__all__ = [
    "SIGNATURE_HEADER",
    "Problem",
    "body_bytes",
    "check_signature",
    "hex_digest",
    "raise_problem",
    "wrap_keys",
    "wrap_signature",
]

SIGNATURE_HEADER: Final = "x-cobalt-signature"

_VISIBLE_ASCII: Final = re.compile(r"[\x21-\x7e]+")
_HEX_SHA256: Final = re.compile(rb"[0-9a-f]{64}")
_TEXT_BODY: Final = (
    "pass the raw request body bytes (e.g. `await request.body()`), not text: the "
    "signature covers the exact bytes Refold sent, and decoding then re-encoding them "
    "can verify a different byte string than the one received"
)


@attrs.frozen
class Problem:
    """A misuse found without raising: the exception to raise once the raw values are gone."""

    error: type[Exception]
    message: str


def raise_problem(problem: Problem) -> NoReturn:
    """Raise `problem` (from no context: there is none worth showing)."""
    raise problem.error(problem.message) from None


def wrap_keys(api_key: object) -> list[Secret] | Problem:
    """The caller's key or keys as `Secret`s, or the problem with them. Never raises."""
    kind: type[object] = type(api_key)
    try:
        if isinstance(api_key, str):
            values: list[object] = [api_key]
            names = ["api_key"]
        elif isinstance(api_key, (Sequence, Set)) and not isinstance(
            api_key, (bytes, bytearray, memoryview)
        ):
            values = list(api_key)  # pyright: ignore[reportUnknownArgumentType]
            names = [f"api_key[{index}]" for index in range(len(values))]
        elif api_key is None:
            return _missing("it is None")
        else:
            return _key_type(kind)
        if not values:
            return _missing("the sequence of keys is empty")
        keys: list[Secret] = []
        for name, value in zip(names, values, strict=True):
            key = _key(name, value)
            if isinstance(key, Problem):
                return key
            keys.append(key)
        return keys
    except Exception:  # an exotic container failed while iterating: keep its frames away
        return _key_type(kind)


def _key(name: str, value: object) -> Secret | Problem:
    if not isinstance(value, str):
        return _key_type(type(value), name)
    if not value:
        return _missing(f"{name} is empty")
    if not _VISIBLE_ASCII.fullmatch(value):
        return Problem(
            InvalidArgumentError,
            f"{name} contains whitespace, a control or a non-ASCII character (a newline read "
            "from a file?), so no signature could match it; strip it before passing it. "
            "The value is not shown.",
        )
    return Secret(value)


def _missing(why: str) -> Problem:
    return Problem(
        MissingCredentialError,
        f"verifying a webhook needs the environment's API key as api_key=..., but {why}. "
        "An empty key would accept a signature anyone can compute, so it is refused.",
    )


def _key_type(kind: type, name: str = "api_key") -> Problem:
    return Problem(
        TypeError,
        f"{name} must be the API key as a str, or a sequence of str keys (during a key "
        f"rotation), not {kind.__name__}",
    )


def wrap_signature(signature: object) -> Secret | Problem:
    """The header's hex digest, normalized, as a `Secret`; or the problem. Never raises.

    `None`, an empty or a malformed value is a `WebhookSignatureError` problem (anyone
    can send this header); a value that is neither text nor bytes is a `TypeError`.
    """
    try:
        if isinstance(signature, str):
            raw = signature.strip().lower().encode("ascii", errors="replace")
        elif (copied := _buffer_bytes(signature)) is not None:
            raw = copied.strip().lower()
        elif signature is None:
            raw = b""
        else:
            return Problem(
                TypeError,
                f"signature must be the {SIGNATURE_HEADER} header's value as str or bytes "
                f"(or None when the header is absent), not {type(signature).__name__}",
            )
        if not raw:
            return Problem(
                WebhookSignatureError, f"the {SIGNATURE_HEADER} header is missing or empty"
            )
        if not _HEX_SHA256.fullmatch(raw):
            return Problem(
                WebhookSignatureError,
                f"the {SIGNATURE_HEADER} header is not a hex HMAC-SHA256 (64 hex digits)",
            )
        return Secret(raw.decode("ascii"))
    except Exception:  # e.g. a memoryview that cannot be copied: junk from the sender
        return Problem(WebhookSignatureError, f"the {SIGNATURE_HEADER} header is unreadable")


def body_bytes(payload: object) -> bytes:
    """The raw body as `bytes`; text and other types are a `TypeError` saying what to pass."""
    copied = _buffer_bytes(payload)
    if copied is not None:
        return copied
    if isinstance(payload, str):
        raise TypeError(_TEXT_BODY)
    raise TypeError(
        f"the webhook body must be the raw request body as bytes, bytearray or memoryview, "
        f"not {type(payload).__name__}"
    )


def _buffer_bytes(value: object) -> bytes | None:
    """The bytes of a bytes, bytearray or memoryview value (copied); `None` for other types."""
    if isinstance(value, bytes):
        return value
    if not isinstance(value, (bytearray, memoryview)):
        return None
    return bytes(cast("memoryview[Any]", value))


def hex_digest(key: Secret, body: bytes) -> bytes:
    """The hex HMAC-SHA256 of `body` keyed by `key`, as ASCII bytes."""
    return hmac.new(key.reveal().encode(), body, hashlib.sha256).hexdigest().encode()


def check_signature(body: bytes, received: Secret, keys: Sequence[Secret]) -> None:
    """Raise `WebhookSignatureError` unless one of `keys` signed `body` as `received`.

    Every key is compared, in constant time, whichever matches: the time taken says how
    many keys there are, never which one matched or how much of a signature was right.
    """
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(hex_digest(key, body), received.reveal().encode())
    if not matched:
        raise WebhookSignatureError("the webhook signature does not match its body")
