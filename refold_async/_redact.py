"""Redaction: every form a credential can take in text, and the log filter that uses them.

A credential rarely shows up only as itself. An exception's message holds `repr()`s (a
token with a CR shows as `\\r`), httpcore's DEBUG records hold `bytes` reprs of header
lists, a URL or a proxy's echo holds it percent-encoded, a JSON body holds it escaped.
`forms_of()` lists them all and `redact()` replaces each with `[redacted]`.

`RedactingFilter` is a `logging.Filter` on the `httpx` and `httpcore` loggers (those
libraries log headers, a server's echo of a key among them, at DEBUG). It acts only on
records logged while the SDK sends a request (the transport marks that span, per task,
with the `SENDING` context variable): it replaces the credentials of that request's
client, and the values of credential headers (`authorization`, `x-api-key`), with
`[redacted]`. Any other record, your own httpx clients' included, passes untouched; no
record is ever dropped.
It costs nothing unless those loggers are enabled at the record's level (httpx and
httpcore build no record otherwise), and installing it twice adds it once.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus

from typing_extensions import override

if TYPE_CHECKING:
    from ._auth import Secret

__all__ = [
    "REDACTED",
    "SENDING",
    "RedactingFilter",
    "forms_of",
    "install_log_redaction",
    "redact",
    "redact_headers",
]

REDACTED = "[redacted]"

# Header values as httpcore logs them (`(b'x-api-key', b'...')`), in a dict's repr, and
# as header lines (`authorization: ...`).
_CREDENTIAL_HEADER = re.compile(
    r"""(?ix)
    (b?['"](?:authorization|proxy-authorization|x-api-key)['"]\s*[,:]\s*b?)
    ('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    |
    ((?:^|[\s,{])(?:authorization|proxy-authorization|x-api-key)\s*[:=]\s*)
    ([^\s,}]+(?:\ [^\s,}]+)?)
    """
)
# Characters that no escaping or percent-encoding changes.
_PLAIN = re.compile(r"[A-Za-z0-9_.~-]+")
# The loggers httpx and httpcore log on: a filter applies to its own logger's records only.
_LOGGER_PREFIXES = ("httpx", "httpcore")
_LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


def forms_of(value: str) -> list[str]:
    """Every way `value` may be written in text, longest first (so each is replaced whole).

    Raw; as `repr()` and JSON escape it (a CR as `\\r`); as a `bytes` repr shows it; and
    percent-encoded (path style, and form style with `+` for a space).
    """
    if not value:
        return []
    if _PLAIN.fullmatch(value):
        return [value]  # every form is the value itself (any API key the SDK accepts)
    encoded = value.encode("utf-8", "surrogatepass")
    forms = {
        value,
        repr(value)[1:-1],
        value.encode("unicode_escape").decode("ascii"),
        json.dumps(value)[1:-1],
        repr(encoded)[2:-1],
        quote(value, safe="", errors="surrogatepass"),
        quote(value, errors="surrogatepass"),
        quote_plus(value, safe="", errors="surrogatepass"),
    }
    forms.discard("")
    return sorted(forms, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str | Secret | None]) -> str:
    """`text` with every form of each of `secrets` replaced by `[redacted]`."""
    for secret in secrets:
        if secret is None:
            continue
        value = secret if isinstance(secret, str) else secret.reveal()
        for form in forms_of(value):
            if form in text:
                text = text.replace(form, REDACTED)
    return text


def redact_headers(text: str) -> str:
    """`text` with the values of credential headers replaced by `[redacted]`."""
    lowered = text.lower()
    if "authorization" not in lowered and "x-api-key" not in lowered:
        return text  # the common case, at a fraction of the pattern's cost
    return _CREDENTIAL_HEADER.sub(_redacted_header, text)


def _redacted_header(match: re.Match[str]) -> str:
    if match.group(1) is not None:
        quote_char = match.group(2)[0]
        return f"{match.group(1)}{quote_char}{REDACTED}{quote_char}"
    return f"{match.group(3)}{REDACTED}"


SENDING: contextvars.ContextVar[Iterable[Secret | None] | None] = contextvars.ContextVar(
    "refold_sending", default=None
)
"""Set by the transport around each attempt to the client's credentials (iterated only
when a record is to be redacted); `None` outside the SDK's sends."""


class RedactingFilter(logging.Filter):
    """Redacts credentials from httpx's and httpcore's records while the SDK sends.

    Only redacts: every record passes (`filter()` returns `True`), changed only when it
    held a credential, in which case its text is stored formatted (`msg`) without
    arguments (`args`). Redacting a redacted record changes nothing.
    """

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        secrets = SENDING.get()
        if secrets is None:
            return True  # not a request of the SDK's: not ours to touch
        try:
            text = record.getMessage()
        except Exception:  # arguments that do not fit the message: leave it to the handler
            return True
        clean = redact_headers(redact(text, secrets))
        if clean != text:
            record.msg = clean
            record.args = ()
        return True


_FILTER = RedactingFilter()
_installed = False


def install_log_redaction() -> None:
    """Add the one `RedactingFilter` to httpx's and httpcore's loggers, once per process.

    Called when a client's transport is made. Idempotent: a logger never gets it twice.
    """
    global _installed
    if _installed:
        return
    _installed = True
    names: set[str] = set(_LOGGERS)
    names.update(
        name
        for name in list(logging.root.manager.loggerDict)
        if name.split(".", 1)[0] in _LOGGER_PREFIXES
    )
    for name in names:
        logging.getLogger(name).addFilter(_FILTER)  # addFilter() skips a filter it has
