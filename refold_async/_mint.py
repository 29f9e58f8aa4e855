"""Reading the answer of the session-token mint, whatever the server (or a proxy) sends.

The SDK mints session tokens with the API key for token-only operations, and sends each
in an `Authorization` header. An answer that does not fit is refused with
`APIDecodeError`, a `RefoldError`, never a built-in exception:

- `token` must be text of visible ASCII (no whitespace, CR, LF, NUL or other control
  character: a header could not carry it, and a CR/LF would forge headers), at most
  `MAX_TOKEN_CHARS` long;
- `expires_in` and `refresh_expires_in`, when present, must be numbers (not booleans,
  strings or NaN). A lifetime is clamped to `[0, MAX_TOKEN_LIFETIME]` seconds: a
  negative one means the token serves its own call only, and a huge one (a 400-digit
  integer, infinity) a day.

Refusals name the field and its type, never a value: the token is a credential. The frame
that raises holds no reference to the answer (tracebacks rendered with
`capture_locals=True` show no token).
"""

from __future__ import annotations

import math
import re
from typing import Any, cast

from ._errors import APIDecodeError
from ._operation import AuthScope, Operation

__all__ = ["MAX_TOKEN_CHARS", "MAX_TOKEN_LIFETIME", "MINT", "read_mint_answer"]

MINT: Operation[Any] = Operation(
    id="generateSessionTokenForLinkedAccount",
    method="POST",
    path="/api/v2/public/session-token",
    auth=AuthScope.ORG_KEY,
    returns=Any,
)
"""The session-token mint, sent through the send loop like any call (with the API key)."""

MAX_TOKEN_CHARS = 8192  # what common servers accept as one header line
MAX_TOKEN_LIFETIME = 86400.0  # seconds: a token is minted again a day later at the latest
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")
_LIFETIMES = ("expires_in", "refresh_expires_in")


def read_mint_answer(answer: object, *, status: int, path: str) -> tuple[str, float | None]:
    """The minted token and its lifetime in seconds (`None`: not given), or `APIDecodeError`.

    Args:
        answer: The decoded JSON body of the mint's 2xx answer.
        status: Its HTTP status, for the error.
        path: The mint's path, for the error.
    """
    problem = _problem(answer)
    if problem is not None:
        del answer  # the token must not stay in this frame's locals
        raise APIDecodeError(
            f"the session-token endpoint answered {status} with {problem} (the token is not shown)",
            problems=[problem],
            status=status,
            method="POST",
            path=path,
        )
    data = cast("dict[str, Any]", answer)
    return data["token"], _lifetime(data.get("expires_in"))


def _problem(answer: object) -> str | None:
    """What makes `answer` unusable, in words that never show the token; `None` if usable."""
    if not isinstance(answer, dict):
        return f"a body that is not a JSON object ({type(answer).__name__})"
    data = cast("dict[str, object]", answer)
    token = data.get("token")
    if not isinstance(token, str) or not token:
        return "no token" if token is None or token == "" else f"a token of type {_kind(token)}"
    if len(token) > MAX_TOKEN_CHARS:
        return f"a token of {len(token)} characters (at most {MAX_TOKEN_CHARS} are accepted)"
    if not _VISIBLE_ASCII.fullmatch(token):
        return (
            "a token holding whitespace, a control character (CR, LF, NUL, ...) or a "
            "non-ASCII character, which no header can carry"
        )
    for name in _LIFETIMES:
        value = data.get(name)
        if value is not None and not _is_number(value):
            return f"{name} of type {_kind(value)}, not a number of seconds"
    return None


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True  # any size: clamped, never converted to float first
    return isinstance(value, float) and not math.isnan(value)


def _kind(value: object) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "float (NaN)"
    return type(value).__name__


def _lifetime(value: object) -> float | None:
    """A checked lifetime (see `_is_number`), clamped to `[0, MAX_TOKEN_LIFETIME]`."""
    if value is None:
        return None
    number = cast("int | float", value)
    # Compared before any conversion: float() of a 400-digit int raises OverflowError.
    if number <= 0:
        return 0.0
    if number >= MAX_TOKEN_LIFETIME:
        return MAX_TOKEN_LIFETIME
    return float(number)
