"""httpx's and httpcore's log records hold no credential while the SDK sends.

httpcore logs every response header at DEBUG: a server (or proxy) that echoes the key
in a header would put it in the application's logs. The SDK's `RedactingFilter` on those
loggers redacts the client's credentials (in every form) and the values of credential
headers, only in records logged while the SDK sends. Tested over real loopback sockets,
so that httpcore really logs the headers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from refold_async import AsyncRefold
from refold_async._redact import (
    REDACTED,
    SENDING,
    RedactingFilter,
    forms_of,
    install_log_redaction,
)
from refold_sync import Refold
from tests.core.loopback import EchoServer, serving

KEY = "tk_test_logs_echo_0123456789"
TOKEN = "sess_logs_minted_0123456789"
LOGGERS = ("httpx", "httpcore")


class Records(logging.Handler):
    """Keeps every record that reaches the root logger, as a log file's handler would."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> list[str]:
        """Each record as a handler may read it: formatted, and its raw msg and args."""
        return [f"{r.getMessage()} {r.msg} {r.args!r}" for r in self.records]

    def leaks(self, *secrets: str) -> list[str]:
        forms = [form for secret in secrets for form in forms_of(secret)]
        return [text[:200] for text in self.texts() if any(form in text for form in forms)]


@pytest.fixture
def records() -> Iterator[Records]:
    """httpx and httpcore at DEBUG into one capture on the root logger, restored afterwards."""
    capture = Records()
    loggers = [logging.getLogger(name) for name in LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(capture)
    yield capture
    logging.getLogger().removeHandler(capture)
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    """A loopback API that echoes the credentials it receives in its response headers."""
    server = EchoServer(TOKEN)
    with serving(server):
        yield server


def _check(records: Records, echo: EchoServer, *, httpcore: bool) -> None:
    """No record holds a secret; through httpcore (a caller's httpx client), the response
    headers it logs are there, redacted. The SDK's own transport logs no headers."""
    assert [seen[2:] for seen in echo.seen] == [(KEY, ""), (KEY, ""), ("", f"Bearer {TOKEN}")]
    headers = [text for text in records.texts() if "x-echo-key" in text]
    if httpcore:
        assert headers, "httpcore logged no response headers: the test proves nothing"
    assert all(REDACTED in text for text in headers)
    assert not records.leaks(KEY, TOKEN)


@pytest.mark.parametrize("given", [False, True], ids=["own-pool", "httpx-client"])
async def test_an_echoed_key_and_token_never_reach_a_handler(
    records: Records, echo: EchoServer, given: bool
) -> None:
    """Key and minted token echoed in response headers are redacted in every record."""
    http = httpx.AsyncClient() if given else None
    async with AsyncRefold(
        api_key=KEY, base_url=echo.url, rate_limit=None, http_client=http
    ) as client:
        await client.request("GET", "/api/v2/public/echo")
        await client.request(
            "GET", "/api/v2/public/echo", auth="session_token", linked_account_id="acct_1"
        )
    if http is not None:
        await http.aclose()
    _check(records, echo, httpcore=given)


def test_the_sync_face_logs_no_echoed_secret(records: Records, echo: EchoServer) -> None:
    """The same through `Refold`: its calls run on the loop thread, under the same filter."""
    with Refold(api_key=KEY, base_url=echo.url, rate_limit=None) as client:
        client.request("GET", "/api/v2/public/echo")
        client.request(
            "GET", "/api/v2/public/echo", auth="session_token", linked_account_id="acct_1"
        )
    _check(records, echo, httpcore=False)


def _record(name: str, message: str, *args: object) -> logging.LogRecord:
    return logging.getLogger(name).makeRecord(name, logging.DEBUG, __file__, 1, message, args, None)


def test_the_filter_only_redacts_while_the_sdk_sends() -> None:
    """Outside the SDK's sends a record passes untouched; inside, it is redacted, never dropped."""
    redacting = RedactingFilter()
    text = "receive_response_headers.complete [(b'x-api-key', b'%s'), (b'authorization', b'%s')]"
    outside = _record("httpcore.http11", text, KEY, "Bearer other")
    assert redacting.filter(outside) is True
    assert outside.getMessage() == text % (KEY, "Bearer other")
    inside = _record("httpcore.http11", text, KEY, "Bearer other")
    reset = SENDING.set(())  # a send by a client with no credential: headers still redacted
    try:
        assert redacting.filter(inside) is True
        once = inside.getMessage()
        assert redacting.filter(inside) is True  # idempotent
    finally:
        SENDING.reset(reset)
    assert KEY not in once
    assert "Bearer other" not in once
    assert once == inside.getMessage()
    assert once.count(REDACTED) == 2


def test_the_filter_is_installed_once_on_every_httpx_and_httpcore_logger() -> None:
    """Making clients (and installing again) leaves exactly one filter on each logger."""
    AsyncRefold(api_key=KEY, rate_limit=None)
    AsyncRefold(api_key=KEY, rate_limit=None)
    install_log_redaction()
    for name in ("httpx", "httpcore", "httpcore.http11", "httpcore.connection", "httpcore.proxy"):
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, RedactingFilter) for f in filters) == 1, name
